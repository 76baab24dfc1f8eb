// Following a job from the terminal on the real stack: submit --wait, status, logs, and the
// summary that ends output.log.
import { describeE2E, readToken, requireStack, runAs, shq, StackEnv } from './lib/stack';
import { BIN } from '../helpers';
import { finished, probeSpec, removeSpecs, submitAs, treJobAs, waitUntilSleeping, writeSpec } from './lib/tre';

jest.setTimeout(120000);

describeE2E('following jobs from the terminal', () => {
  let stack: StackEnv;
  beforeAll(() => (stack = requireStack() as StackEnv));
  afterAll(removeSpecs);

  it("submit --wait follows the job, prints its outputs dir and exits with the container's status", () => {
    const spec = writeSpec(probeSpec(stack, { env: { PROBE_EXIT: '3' } }));
    const result = treJobAs('alice', ['submit', spec, '--site', stack.site, '--token-stdin', '--wait'], { input: readToken(stack) });
    expect(result.status).toBe(3);
    const [jobId, outputs] = result.stdout.trim().split('\n');
    expect(jobId).toMatch(/^[0-9]+$/);
    expect(outputs).toMatch(/^\/home\/alice\/outputs-[0-9]{7}$/);
    // Plain lines when stderr is not a terminal, one per change.
    expect(result.stderr).toMatch(new RegExp(`^job ${jobId}: (pending|running)`, 'm'));
    expect(result.stderr).toContain(`job ${jobId} FAILED, exit status 3; outputs in ${outputs}\n`);
    expect(result.stderr).not.toContain('\r');
  });

  it('shows one updating line on a terminal', () => {
    const spec = writeSpec(probeSpec(stack, { env: { PROBE_SLEEP: '2' } }));
    const command = ['node', BIN, 'submit', spec, '--site', stack.site, '--token-file', '/dev/stdin', '--wait'].map(shq).join(' ');
    // `script` gives the command a pseudo-terminal; the token still arrives on stdin.
    const result = runAs('alice', `script -qec ${shq(command)} /dev/null`, { input: `${readToken(stack)}\n` });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('\r\x1b[K');
    expect(result.stdout).toMatch(/\r\x1b\[Kjob [0-9]+: running on \S+: container running/);
    expect(result.stdout).toMatch(/job [0-9]+ COMPLETED, exit status 0; outputs in \/home\/alice\/outputs-[0-9]+/);
  });

  it('status and logs work while the job runs and after it has ended', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { env: { PROBE_SLEEP: '4' } }));
    const outputs = await waitUntilSleeping(submitted);
    const running = JSON.parse(treJobAs('alice', ['status', submitted.jobId, '--json']).stdout);
    expect(running).toEqual([expect.objectContaining({ jobId: submitted.jobId, state: 'RUNNING', detail: 'running', image: stack.probeImage, outputs, exitStatus: null })]);
    expect(treJobAs('alice', ['logs', submitted.jobId]).stdout).toContain('is now running');

    const followed = treJobAs('alice', ['logs', submitted.jobId, '--follow']);
    expect(followed.status).toBe(0);
    expect(followed.stdout).toMatch(/tre-job INFO: Job finished with exit status 0\n$/);
    await finished(submitted);

    const table = treJobAs('alice', ['status']).stdout.split('\n');
    // alice's OOD sessions (test/e2e/ood.test.ts) add a last column to the table; her jobs' rows stay as they were.
    expect(table[0]).toMatch(/^JOBID +NAME +SUBMITTED +STATE +PHASE +ELAPSED +EXIT +OUTPUTS( +OOD_SESSION)?$/);
    const row = table.find((line) => line.startsWith(`${submitted.jobId} `));
    expect(row).toMatch(new RegExp(`^${submitted.jobId} +probe:1\\.0 +\\d\\d-\\d\\d \\d\\d:\\d\\d +COMPLETED +finished +00:00:\\d\\d +0 +${outputs.replace('/home/alice/', '~/')}$`));
  });

  it('ends output.log with a summary of a successful job', async () => {
    const { log, outputs } = await finished(submitAs('alice', stack, probeSpec(stack)));
    expect(log).toContain("tre-job INFO: Summary: exit status 0: the container's own exit status\n");
    expect(log).toMatch(/Summary: prologue \d+\.\d{3} s, pull \d+\.\d{3} s, run \d+\.\d{3} s, clean-up \d+\.\d{3} s\n/);
    expect(log).toMatch(new RegExp(`Summary: outputs ${outputs} \\((\\d+) files, \\d+ KiB, kept\\)`));
    expect(log).toMatch(/Summary: clean-up removed scratch-\d{7}\n/);
  });
});
