// What ends a running job: scancel, and the time limit. After each: scratch gone, container
// gone, outputs kept, within KillWait (5 s on the test stack). Latencies are printed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeE2E, podmanPsAll, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, homeDirs, processesOf, probeSpec, removeSpecs, submitAs, Submitted, until, waitUntilSleeping } from './lib/tre';

jest.setTimeout(240000);
const KILL_WAIT_MS = 5000;

describeE2E('ending a running podman job', () => {
  let stack: StackEnv;
  let timeLimited: Submitted;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    // Started first: it needs a minute to reach its time limit while the other tests run.
    timeLimited = submitAs('bob', stack, probeSpec(stack, { time: '00:01:00', safeData: 'none', env: { PROBE_SLEEP: '600' } }));
  });
  afterAll(removeSpecs);

  it('scancel: scratch and container gone within KillWait, outputs kept, exit 143', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { env: { PROBE_SLEEP: '600' } }));
    const outputs = await waitUntilSleeping(submitted);
    const scratch = outputs.replace('/outputs-', '/scratch-');
    const container = `probe-${submitted.jobId}`;
    expect(existsSync(scratch)).toBe(true);
    expect(processesOf('alice', container).length).toBeGreaterThan(0); // conmon runs it

    const t0 = Date.now();
    expect(runAs('alice', `scancel ${submitted.jobId}`).status).toBe(0);
    const scratchMs = await until(() => !existsSync(scratch), KILL_WAIT_MS, 'scratch to go');
    const containerMs = (await until(() => processesOf('alice', container).length === 0, KILL_WAIT_MS, 'container processes to go', 10)) + scratchMs;
    const { job, log } = await finished(submitted);
    const endedMs = Date.now() - t0;
    console.log(`scancel latencies (KillWait ${KILL_WAIT_MS} ms): scratch gone ${scratchMs} ms, container processes gone <= ${containerMs} ms, job record ended ${endedMs} ms`);

    expect(job.state).toBe('CANCELLED');
    expect(log).toContain('tre-job ERROR: Job cancelled (SIGTERM): stopping the container and cleaning up');
    expect(log).toContain(`tre-job INFO: Removed ${scratch}`);
    expect(log).toContain(`tre-job INFO: Removed container ${container}`);
    expect(log).toContain('tre-job INFO: Job finished with exit status 143');
    expect(log).toContain('tre-job INFO: Summary: exit status 143: cancelled (SIGTERM: scancel, or maintenance)');
    expect(log).toMatch(new RegExp(`Summary: clean-up removed ${scratch.split('/').pop()}, container ${container}\n`));
    expect(containerMs).toBeLessThan(KILL_WAIT_MS);
    expect(podmanPsAll('alice')).toEqual([]);
    expect(existsSync(join(outputs, 'probe-sleeping'))).toBe(true);
    expect(existsSync(join(outputs, 'probe', 'argv'))).toBe(true);
    expect(homeDirs('alice').scratch).toEqual([]);
  });

  it('time limit: USR1 before the limit cleans up the same way, outputs kept', async () => {
    const outputs = await waitUntilSleeping(timeLimited);
    const t0 = Date.now();
    const { job, log } = await finished(timeLimited, 180000);
    console.log(`time limit: job ended ${Date.now() - t0} ms after its container was seen running; state ${job.state} ${job.exitCode}:${job.signal}`);
    expect(log).toContain('tre-job ERROR: Job is about to reach its time limit (SIGUSR1): stopping the container and cleaning up');
    expect(log).toContain('tre-job INFO: Job finished with exit status 124');
    expect(log).toContain('tre-job INFO: Summary: exit status 124: stopped at its time limit (SIGUSR1, sent shortly before the limit)');
    expect(job.exitCode).toBe(124);
    expect(podmanPsAll('bob')).toEqual([]);
    expect(homeDirs('bob').scratch).toEqual([]);
    expect(existsSync(join(outputs, 'probe-sleeping'))).toBe(true);
  });
});
