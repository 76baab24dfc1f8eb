// Following a job array (issue 17, slice 4): scontrol's array lines as measured on Slurm 22.05
// (docs/design/arrays.md §1) parsed into tasks; `status A` summing the tasks up (and the list's
// one row per array); `status A_T` and `logs A_T` as for a single job; `logs A` with a header per
// task; `submit --wait`'s counts and exit status. Slurm is a fake scontrol printing the lines of a
// file; each task's log is written as the job script writes it.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os = require('node:os');
import { join } from 'node:path';
import { arrayOf, arrayStatus, JobStatus, taskList } from '../../src/jobs';
import { run } from '../../src/main';
import { arrayProgress, waitForJob } from '../../src/commands/logs';
import type { SubmittedJob } from '../../src/record';
import { SlurmClient } from '../../src/slurm/client';
import { arrayTaskIds, isArrayTask, parseJobLine } from '../../src/slurm/scontrol';
import { tempDir, writeYaml } from '../helpers';

const UID = process.getuid?.() ?? 1000;
const IMAGE = '127.0.0.1:5000/tre/probe:1.0';
const A = '3589';

let dir: { path: string; remove: () => void };
let site: string;
let scontrol: string;
const home = () => join(dir.path, 'home');
const jobDir = () => join(home(), 'tre-jobs', 'job-array');
const linesFile = () => join(dir.path, 'lines');
const calls = () => (existsSync(join(dir.path, 'calls')) ? readFileSync(join(dir.path, 'calls'), 'utf8').trim().split('\n') : []);

beforeEach(() => {
  dir = tempDir();
  mkdirSync(jobDir(), { recursive: true });
  jest.spyOn(os, 'homedir').mockReturnValue(home());
  writeFileSync(linesFile(), '');
  // Like Slurm: `show job -o ID` prints every line of array ID (ID_T: the same lines here, so
  // that the client must pick the task's own), and fails for an id it does not know.
  scontrol = join(dir.path, 'scontrol');
  writeFileSync(
    scontrol,
    `#!/bin/bash\necho "$*" >>${JSON.stringify(join(dir.path, 'calls'))}\n[[ -z \${4-} ]] && exec cat ${JSON.stringify(linesFile())}\ngrep -E "(^JobId=\${4%_*} | ArrayJobId=\${4%_*} )" ${JSON.stringify(linesFile())} || { echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1; }\n`,
  );
  chmodSync(scontrol, 0o755);
  site = writeYaml(dir.path, 'site.yaml', { scontrol, sbatch: '/bin/false', scancel: '/bin/false' });
});
afterEach(() => {
  jest.restoreAllMocks();
  dir.remove();
});

/** A line of `scontrol show job -o A` as Slurm 22.05 printed it (the fields tre-job reads, in Slurm's order). */
function line(jobId: string, taskId: string, state: string, exitCode = '0:0', reason = 'None', where = jobDir()): string {
  const stdOut = /^[0-9]+$/.test(taskId) ? `output-${taskId}.log` : 'output-4294967294.log'; // the pending rest's %a is NO_VAL
  const throttle = taskId.includes('%') ? ` ArrayTaskThrottle=${taskId.split('%')[1]}` : '';
  return `JobId=${jobId} ArrayJobId=${A} ArrayTaskId=${taskId}${throttle} JobName=probe:1.0 UserId=alice(${UID}) GroupId=alice(${UID}) JobState=${state} Reason=${reason} Dependency=(null) ExitCode=${exitCode} RunTime=00:00:02 NodeList=${state === 'PENDING' ? '(null)' : 'vm'} WorkDir=${where} StdOut=${where}/${stdOut}`;
}
const setLines = (...lines: string[]) => writeFileSync(linesFile(), lines.map((l) => `${l}\n`).join(''));

/** Task T's log as the script writes it: started, outputs-N/T, running, and (with a status) its end. */
function taskLog(task: number, status: number | null): void {
  const at = '2026-12-01 10:00:0';
  const lines = [
    'Script starting...',
    `${at}0 tre-job INFO: Job ${A}_${task} started on vm as alice (tre-job 0.1.0)`,
    `${at}0 tre-job INFO: Outputs: /home/alice/outputs-1234567/${task} (mounted at /safe_outputs)`,
    `${at}1 tre-job INFO: Container probe-${A}_${task} is now running. Please wait until the container completes.`,
    ...(status === null ? [] : [`${at}2 tre-job INFO: Container exited with status ${status}`, `${at}3 tre-job INFO: Cleaning up`, `${at}3 tre-job INFO: Job finished with exit status ${status}`]),
  ];
  writeFileSync(join(jobDir(), `output-${task}.log`), `${lines.join('\n')}\n`);
}

/** job.json of an array of `tasks` tasks, as submit writes it. */
function arrayRecord(tasks = 4, parallel: number | null = null): SubmittedJob {
  const record = { jobId: A, cluster: null, jobName: 'probe:1.0', image: IMAGE, submittedAt: new Date(2026, 11, 1, 10).toISOString(), jobDir: jobDir(), outputLog: join(jobDir(), 'output-%a.log'), containerName: null, source: 'submit' as const, array: { tasks, parallel } };
  writeFileSync(join(jobDir(), 'job.json'), JSON.stringify(record));
  for (let task = 0; task < tasks; task++) writeFileSync(join(jobDir(), `output-${task}.log`), ''); // submit makes them, empty
  return record;
}

/** The ended array of the design's measurement: --array=0-3, odd tasks `exit 3`. */
function endedMixed(): SubmittedJob {
  const record = arrayRecord();
  [0, 1, 2, 3].forEach((task) => taskLog(task, task % 2 ? 3 : 0));
  setLines(line('3589', '3', 'FAILED', '3:0', 'NonZeroExitCode'), line('3592', '2', 'COMPLETED'), line('3591', '1', 'FAILED', '3:0', 'NonZeroExitCode'), line('3590', '0', 'COMPLETED'));
  return record;
}

async function cli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await run([...args, '--site', site], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { status, stdout, stderr };
}

describe("scontrol's array lines", () => {
  it.each([
    ['3', [3]],
    ['2-4%2', [2, 3, 4]],
    ['1,3,5-7', [1, 3, 5, 6, 7]],
    ['0-9:2', [0, 2, 4, 6, 8]],
    ['1,4-10:3%5', [1, 4, 7, 10]],
    ['[2-4%2]', [2, 3, 4]],
    ['4294967294', [4294967294]],
    ['', []],
    ['2-x', []],
  ])('ArrayTaskId=%s stands for tasks %j', (text, ids) => {
    expect(arrayTaskIds(text)).toEqual(ids);
  });

  it('a range is cut at the array size, so a pending line cannot stand for more tasks than the array has', () => {
    expect(arrayTaskIds('2-4294967294', 5)).toEqual([2, 3, 4]);
  });

  it('parses ArrayJobId and ArrayTaskId (not ArrayTaskThrottle); a single job has neither', () => {
    expect(parseJobLine(line('3585', '2-4%2', 'PENDING', '0:0', 'JobArrayTaskLimit'))).toMatchObject({ jobId: '3585', arrayJobId: A, arrayTaskId: '2-4%2', state: 'PENDING', reason: 'JobArrayTaskLimit' });
    expect(parseJobLine(line('3591', '1', 'FAILED', '3:0'))).toMatchObject({ jobId: '3591', arrayJobId: A, arrayTaskId: '1', exitCode: 3, stdOut: `${jobDir()}/output-1.log` });
    expect(parseJobLine(`JobId=42 JobName=x JobState=RUNNING`)).toMatchObject({ arrayJobId: null, arrayTaskId: null });
    const pending = parseJobLine(line(A, '2-4%2', 'PENDING'));
    expect([2, 3, 4].map((t) => isArrayTask(pending, A, t))).toEqual([true, true, true]);
    expect([1, 5].map((t) => isArrayTask(pending, A, t))).toEqual([false, false]);
    expect(isArrayTask(pending, '3590', 2)).toBe(false);
  });

  it('showJob(A_T) is task T\'s own line, or the pending line that covers it; showArray(A) every line in one call', () => {
    // As measured: the pending rest first (JobId=A), then the tasks by descending id.
    setLines(line(A, '2-4%2', 'PENDING', '0:0', 'JobArrayTaskLimit'), line('3591', '1', 'RUNNING'), line('3590', '0', 'RUNNING'));
    const slurm = new SlurmClient({ scontrol, sbatch: '/bin/false', scancel: '/bin/false' });
    expect(slurm.showJob(`${A}_1`)).toMatchObject({ jobId: '3591', arrayTaskId: '1', state: 'RUNNING' });
    expect(slurm.showJob(`${A}_0`)).toMatchObject({ jobId: '3590', arrayTaskId: '0' });
    expect(slurm.showJob(`${A}_3`)).toMatchObject({ jobId: A, arrayTaskId: '2-4%2', state: 'PENDING' });
    expect(slurm.showJob(`${A}_5`)).toBeNull();
    expect(slurm.showJob('3591')).toMatchObject({ jobId: '3591', arrayTaskId: '1' }); // a task's own id (what gc --job gets)
    expect(slurm.showJob(A)).toMatchObject({ jobId: A, arrayTaskId: '2-4%2' });
    expect(slurm.showArray(A).map((j) => j.jobId)).toEqual([A, '3591', '3590']);
    expect(slurm.showArray('777')).toEqual([]);
    expect(calls()).toEqual([`show job -o ${A}_1`, `show job -o ${A}_0`, `show job -o ${A}_3`, `show job -o ${A}_5`, 'show job -o 3591', `show job -o ${A}`, `show job -o ${A}`, 'show job -o 777']);
  });

  it('reads an answer for 1,000 tasks (about 1.1 MB: more than spawnSync\'s default 1 MiB)', () => {
    const padding = ` Comment=${'x'.repeat(900)}`;
    setLines(...Array.from({ length: 1000 }, (_, i) => line(String(10000 + i), String(999 - i), 'COMPLETED') + padding));
    expect(readFileSync(linesFile()).length).toBeGreaterThan(1024 * 1024);
    expect(new SlurmClient({ scontrol, sbatch: '/bin/false', scancel: '/bin/false' }).showArray(A)).toHaveLength(1000);
  });
});

describe('tre-job status of an array', () => {
  it('status A: counts, exit statuses, failed tasks with their reasons', async () => {
    endedMixed();
    const result = await cli('status', A);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      expect.stringMatching(/^JOBID +NAME +SUBMITTED +STATE +PHASE +ELAPSED +EXIT +OUTPUTS$/),
      expect.stringMatching(/^3589 +probe:1\.0 +\S+ \S+ +FAILED +4 tasks: 2 completed, 2 failed +- +3 +\/home\/alice\/outputs-1234567$/),
      '       tasks 1, 3 did not complete; task 1: the container exited with status 3',
      '',
      'job 3589: 4 tasks: 2 completed, 2 failed',
      'exit status 0: tasks 0, 2',
      'exit status 3: tasks 1, 3',
      "failed: tasks 1, 3 (a task's log: tre-job logs 3589_TASK)",
      expect.stringMatching(/^JOBID +NAME /),
      expect.stringMatching(/^3589_1 +probe:1\.0 +\S+ \S+ +FAILED +failed +00:00:02 +3 +\/home\/alice\/outputs-1234567\/1$/),
      '        the container exited with status 3',
      expect.stringMatching(/^3589_3 +probe:1\.0 .* FAILED +failed +00:00:02 +3 /),
      '        the container exited with status 3',
      '',
    ]);
    expect(calls()).toEqual([`show job -o ${A}`]);
  });

  it('status A --json: the summary and every task', async () => {
    endedMixed();
    const [status] = JSON.parse((await cli('status', A, '--json')).stdout) as JobStatus[];
    expect(status).toMatchObject({ jobId: A, state: 'FAILED', slurmState: null, exitStatus: 3, detail: '4 tasks: 2 completed, 2 failed', outputs: '/home/alice/outputs-1234567' });
    expect(status?.array).toMatchObject({ tasks: 4, parallel: null, counts: { COMPLETED: 2, FAILED: 2 }, failed: [1, 3], exitStatuses: { '0': [0, 2], '3': [1, 3] } });
    expect(status?.array?.statuses?.map((s) => [s.jobId, s.state, s.exitStatus])).toEqual([
      [`${A}_0`, 'COMPLETED', 0],
      [`${A}_1`, 'FAILED', 3],
      [`${A}_2`, 'COMPLETED', 0],
      [`${A}_3`, 'FAILED', 3],
    ]);
  });

  it('status A_T: that task as a single job', async () => {
    endedMixed();
    const [task] = JSON.parse((await cli('status', `${A}_3`, '--json')).stdout) as JobStatus[];
    expect(task).toMatchObject({ jobId: `${A}_3`, state: 'FAILED', slurmState: 'FAILED', exitStatus: 3, node: 'vm', reason: 'the container exited with status 3', outputs: '/home/alice/outputs-1234567/3' });
    expect(task?.array).toBeUndefined();
    expect(await cli('status', `${A}_4`)).toEqual({ status: 2, stdout: '', stderr: `tre-job: JOBID: job ${A} has tasks 0-3: there is no task 4\n` });
  });

  it('while it runs: pending tasks from the pending line, the list shows one row for the array, the state of its most advanced task', async () => {
    arrayRecord(5, 2);
    taskLog(0, 0);
    taskLog(1, null);
    setLines(line(A, '2-4%2', 'PENDING', '0:0', 'JobArrayTaskLimit'), line('3591', '1', 'RUNNING'), line('3590', '0', 'COMPLETED'));
    const [status] = JSON.parse((await cli('status', A, '--json')).stdout) as JobStatus[];
    expect(status).toMatchObject({ state: 'RUNNING', exitStatus: null, reason: null, detail: '5 tasks: 1 completed, 1 running, 3 pending' });
    expect(status?.array?.statuses?.map((s) => s.detail)).toEqual(['finished', 'running', 'pending (JobArrayTaskLimit)', 'pending (JobArrayTaskLimit)', 'pending (JobArrayTaskLimit)']);
    expect(arrayProgress(status as JobStatus)).toBe(`job ${A}: 1 done, 1 running, 3 pending, 0 failed`);
    // The list: one scontrol for everything, one row for the array.
    const list = await cli('status');
    expect(list.stdout.split('\n')).toEqual([expect.stringMatching(/^JOBID /), expect.stringMatching(/^3589 +probe:1\.0 .* RUNNING +5 tasks: 1 completed, 1 running, 3 pending +- +- +\/home\/alice\/outputs-1234567$/), '']);
    expect(calls()).toEqual([`show job -o ${A}`, 'show job -o']);
    expect((await cli('status', '--state', 'running', '--json')).stdout).toContain(`"jobId": "${A}"`);
  });

  it('after scancel A: the tasks that never ran are cancelled before they started (143), from the range line Slurm keeps', async () => {
    arrayRecord(5, 2);
    taskLog(0, 0);
    setLines(line(A, '3-4%2', 'CANCELLED'), line('3592', '2', 'CANCELLED', '0:15'), line('3591', '1', 'CANCELLED', '0:15'), line('3590', '0', 'COMPLETED'));
    const [status] = JSON.parse((await cli('status', A, '--json')).stdout) as JobStatus[];
    expect(status).toMatchObject({ state: 'CANCELLED', exitStatus: 143, detail: '5 tasks: 1 completed, 4 cancelled' });
    expect(status?.array?.failed).toEqual([1, 2, 3, 4]);
    expect(status?.array?.statuses?.[4]).toMatchObject({ state: 'CANCELLED', detail: 'cancelled before it started', exitStatus: 143 });
  });

  it('tasks Slurm has forgotten (MinJobAge) come from their logs: the finished line, else UNKNOWN', async () => {
    const record = arrayRecord(3);
    taskLog(0, 0);
    taskLog(1, 3);
    taskLog(2, null); // killed without its end
    const status = arrayStatus(record, []);
    expect(status).toMatchObject({ state: 'FAILED', exitStatus: 3, detail: '3 tasks: 1 completed, 1 failed, 1 unknown' });
    expect(status.array?.failed).toEqual([1, 2]);
    // All completed: the array too.
    taskLog(1, 0);
    taskLog(2, 0);
    expect(arrayStatus(record, [])).toMatchObject({ state: 'COMPLETED', exitStatus: 0, reason: null, detail: '3 tasks: 3 completed' });
  });

  it("a single job's status is unchanged (no array field)", async () => {
    const single = join(home(), 'tre-jobs', 'job-single');
    mkdirSync(single);
    writeFileSync(join(single, 'job.json'), JSON.stringify({ jobId: '42', cluster: null, jobName: 'probe:1.0', image: IMAGE, submittedAt: '', jobDir: single, outputLog: join(single, 'output.log'), containerName: 'probe-42', source: 'submit' }));
    setLines(`JobId=42 JobName=probe:1.0 UserId=alice(${UID}) JobState=RUNNING Reason=None ExitCode=0:0 RunTime=00:00:09 NodeList=node1 WorkDir=${single} StdOut=${single}/output.log`);
    const [status] = JSON.parse((await cli('status', '42', '--json')).stdout) as JobStatus[];
    expect(status).toMatchObject({ jobId: '42', state: 'RUNNING' });
    expect(status).not.toHaveProperty('array');
    expect(await cli('status', '42_1')).toEqual({ status: 2, stdout: '', stderr: 'tre-job: JOBID: job 42 is not an array: give 42 alone\n' });
  });

  it('task lists are written as Slurm writes ranges, and stay short', () => {
    expect(taskList([0, 1, 2, 4, 6, 7])).toBe('0-2, 4, 6-7');
    expect(taskList(Array.from({ length: 500 }, (_, i) => 2 * i + 1))).toMatch(/^1, 3, 5, .*, 39, \.\.\. \(500 in all\)$/);
  });
});

describe('tre-job logs of an array', () => {
  it('logs A_T prints task T\'s log', async () => {
    endedMixed();
    const result = await cli('logs', `${A}_3`);
    expect(result).toEqual({ status: 0, stdout: readFileSync(join(jobDir(), 'output-3.log'), 'utf8'), stderr: '' });
    expect(result.stdout).toContain(`Job ${A}_3 started on vm`);
  });

  it('logs A_T of a pending task says so', async () => {
    arrayRecord(5, 2);
    setLines(line(A, '2-4%2', 'PENDING', '0:0', 'JobArrayTaskLimit'), line('3591', '1', 'RUNNING'), line('3590', '0', 'RUNNING'));
    expect(await cli('logs', `${A}_4`)).toEqual({ status: 0, stdout: '', stderr: `job ${A}_4 is pending (JobArrayTaskLimit): its log starts when it runs; follow it with --follow\n` });
  });

  it('logs A prints every task log that exists, each after a header, and says which have none', async () => {
    arrayRecord(4);
    taskLog(0, 0);
    taskLog(2, 3);
    setLines(line('3592', '2', 'FAILED', '3:0'), line('3591', '1', 'CANCELLED'), line('3590', '0', 'COMPLETED'), line(A, '3', 'CANCELLED'));
    const result = await cli('logs', A);
    expect(result.status).toBe(0);
    const log = (t: number) => readFileSync(join(jobDir(), `output-${t}.log`), 'utf8');
    expect(result.stdout).toBe(`==> ${A}_0 <==\n${log(0)}\n==> ${A}_2 <==\n${log(2)}`);
    expect(result.stderr).toBe(`job ${A} is an array of 4 tasks: each task's log follows a line ==> ${A}_TASK <== (one task's log alone: tre-job logs ${A}_TASK)\njob ${A}: no log from tasks 1, 3 (not started, or ended before it started)\n`);
  });
});

describe('tre-job logs ARRAYID --follow', () => {
  it("prints what each task adds, under the task's header again when the task changes, whole lines only, until every task has ended", async () => {
    arrayRecord(2);
    const log = (t: number) => join(jobDir(), `output-${t}.log`);
    writeFileSync(log(0), 'zero: first\nzero: half');
    setLines(line('3591', '1', 'PENDING'), line('3590', '0', 'RUNNING'));
    let stdout = '';
    const following = run(['logs', A, '--follow', '--site', site], { stdout: (t) => (stdout += t), stderr: () => undefined });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stdout).toBe(`==> ${A}_0 <==\nzero: first\n`);
    writeFileSync(log(1), 'one: first\n');
    writeFileSync(log(0), 'zero: first\nzero: half done\nzero: end\n');
    setLines(line('3591', '1', 'COMPLETED'), line('3590', '0', 'COMPLETED'));
    expect(await following).toBe(0);
    expect(stdout).toBe(`==> ${A}_0 <==\nzero: first\nzero: half done\nzero: end\n\n==> ${A}_1 <==\none: first\n`);
  }, 10000);
});

describe('submit --wait on an array', () => {
  const io = () => {
    const out = { stdout: '', stderr: '' };
    return { out, io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t), tty: false, interactive: false } };
  };

  it('ends with the failed tasks and the lowest failed task\'s status', async () => {
    const record = endedMixed();
    const { out, io: followIo } = io();
    const status = await waitForJob(record, new SlurmClient({ scontrol, sbatch: '/bin/false', scancel: '/bin/false' }), followIo);
    expect(status).toBe(3);
    expect(out.stderr).toBe(
      [
        `job ${A}: 2 done, 0 running, 0 pending, 2 failed`,
        `job ${A} FAILED, exit status 3 (task 1); 4 tasks: 2 completed, 2 failed; outputs in /home/alice/outputs-1234567`,
        `failed tasks: 1, 3; a task's log: tre-job logs ${A}_1`,
        '',
      ].join('\n'),
    );
    expect(out.stdout).toBe('/home/alice/outputs-1234567\n');
  });

  it('a line per change of the counts, at most every 2 s; exit 0 when every task completed with 0', async () => {
    const record = arrayRecord(3, 1);
    setLines(line(A, '0-2%1', 'PENDING', '0:0', 'None'));
    const { out, io: followIo } = io();
    const slurm = new SlurmClient({ scontrol, sbatch: '/bin/false', scancel: '/bin/false' });
    const waiting = waitForJob(record, slurm, followIo, { pollMs: 10 });
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls()).toHaveLength(1); // not at 10 ms: an array is polled every 2 s at least
    [0, 1, 2].forEach((task) => taskLog(task, 0));
    setLines(line('3592', '2', 'COMPLETED'), line('3591', '1', 'COMPLETED'), line('3590', '0', 'COMPLETED'));
    expect(await waiting).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(out.stderr.split('\n')).toEqual([`job ${A}: 0 done, 0 running, 3 pending, 0 failed`, `job ${A}: 3 done, 0 running, 0 pending, 0 failed`, `job ${A} COMPLETED, exit status 0; 3 tasks: 3 completed; outputs in /home/alice/outputs-1234567`, '']);
  }, 10000);

  it('a cancelled array exits 143, a timed-out task 124 (the lowest failed task decides)', async () => {
    const record = arrayRecord(3);
    taskLog(0, 0);
    setLines(line('3592', '2', 'CANCELLED', '0:15'), line('3591', '1', 'TIMEOUT', '0:15'), line('3590', '0', 'COMPLETED'));
    const { io: followIo } = io();
    const slurm = new SlurmClient({ scontrol, sbatch: '/bin/false', scancel: '/bin/false' });
    expect(await waitForJob(record, slurm, followIo)).toBe(124);
    setLines(line('3592', '2', 'TIMEOUT', '0:15'), line('3591', '1', 'CANCELLED', '0:15'), line('3590', '0', 'COMPLETED'));
    expect(await waitForJob(record, slurm, followIo)).toBe(143);
    expect(arrayOf(record)).toEqual({ tasks: 3, parallel: null });
  });
});
