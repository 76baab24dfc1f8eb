// Following a job array on the real stack (issue 17, slice 4): an array of 4 tasks whose odd
// tasks exit 3. `submit --wait` shows the counts and exits with the lowest failed task's status;
// `status A` sums the tasks up from Slurm's lines; `logs A_3` is task 3's own log.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../helpers';
import { describeE2E, readToken, requireStack, runAs, shq, StackEnv } from './lib/stack';
import { probeSpec, removeSpecs, treJobAs, writeSpec } from './lib/tre';

jest.setTimeout(300000);

describeE2E('following a job array', () => {
  let stack: StackEnv;
  beforeAll(() => (stack = requireStack() as StackEnv));
  afterAll(removeSpecs);

  it('4 tasks, odd ones exit 3: submit --wait exits 3; status A says 2 completed, 2 failed (1, 3); logs A_3 is task 3\'s log', () => {
    const spec = writeSpec(
      probeSpec(stack, {
        array: { count: 4 },
        // The probe's entrypoint takes no command: sh reads TRE_TASK from the container's environment.
        runnerArgs: ['--entrypoint=/bin/sh'],
        args: ['-c', 'exit $((TRE_TASK % 2 * 3))'],
      }),
    );
    const command = ['node', BIN, 'submit', spec, '--site', stack.site, '--token-stdin', '--wait'].map(shq).join(' ');
    const waited = runAs('alice', command, { input: `${readToken(stack)}\n`, timeoutMs: 240000 });
    const [arrayId, outputs] = waited.stdout.trim().split('\n');
    expect(arrayId).toMatch(/^[0-9]+$/);
    expect(outputs).toMatch(/^\/home\/alice\/outputs-[0-9]+$/);
    // Progress lines with the counts (only when they change), then the end.
    const progress = waited.stderr.split('\n').filter((line) => line.startsWith(`job ${arrayId}: `));
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line).toMatch(new RegExp(`^job ${arrayId}: \\d done, \\d running, \\d pending, \\d failed$`));
    expect(new Set(progress).size).toBe(progress.length);
    expect(progress[progress.length - 1]).toBe(`job ${arrayId}: 2 done, 0 running, 0 pending, 2 failed`);
    expect(waited.stderr).toContain(`job ${arrayId} FAILED, exit status 3 (task 1); 4 tasks: 2 completed, 2 failed; outputs in ${outputs}\n`);
    expect(waited.stderr).toContain(`failed tasks: 1, 3; a task's log: tre-job logs ${arrayId}_1\n`);
    expect(waited.status).toBe(3);

    const status = treJobAs('alice', ['status', arrayId as string, '--json']);
    expect(status.stderr).toBe('');
    const [array] = JSON.parse(status.stdout) as { jobDir: string; array: { statuses: { jobId: string; state: string; exitStatus: number }[] } }[];
    expect(array).toMatchObject({ jobId: arrayId, state: 'FAILED', exitStatus: 3, detail: '4 tasks: 2 completed, 2 failed', outputs, array: { tasks: 4, counts: { COMPLETED: 2, FAILED: 2 }, failed: [1, 3], exitStatuses: { '0': [0, 2], '3': [1, 3] } } });
    // Each task from Slurm's own line for it (a raw job id of its own, not the array's).
    expect(array?.array.statuses.map((task) => [task.jobId, task.state, task.exitStatus])).toEqual([0, 1, 2, 3].map((t) => [`${arrayId}_${t}`, t % 2 ? 'FAILED' : 'COMPLETED', t % 2 ? 3 : 0]));
    const table = treJobAs('alice', ['status', arrayId as string]).stdout;
    expect(table).toContain(`job ${arrayId}: 4 tasks: 2 completed, 2 failed\nexit status 0: tasks 0, 2\nexit status 3: tasks 1, 3\n`);
    expect(table).toMatch(new RegExp(`^${arrayId}_3 +probe:1\\.0 .* FAILED +failed +\\S+ +3 +${(outputs as string).replace('/home/alice/', '~/')}/3\n +the container exited with status 3$`, 'm'));

    const logs = treJobAs('alice', ['logs', `${arrayId}_3`]);
    expect(logs.status).toBe(0);
    expect(logs.stdout).toBe(readFileSync(join(array?.jobDir as string, 'output-3.log'), 'utf8'));
    expect(logs.stdout).toMatch(new RegExp(`tre-job INFO: Job ${arrayId}_3 started on `));
    expect(logs.stdout).toContain('tre-job INFO: Job finished with exit status 3\n');
  });
});
