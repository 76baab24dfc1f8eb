// Faults on the real stack. After each: no scratch dir, no container, outputs intact, a
// clear reason in output.log, and a non-zero exit where the job failed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers';
import { describeE2E, homeOf, jobInfo, podmanPsAll, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, homeDirs, killJobProcesses, logSoFar, probeSpec, processesOf, removeSpecs, submitAs, Submitted, treJobAs, until, waitUntilSleeping } from './lib/tre';

jest.setTimeout(600000);

const KILL_WAIT_MS = 5000;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function expectNothingLeft(user: string): void {
  expect(homeDirs(user).scratch).toEqual([]);
  expect(podmanPsAll(user)).toEqual([]);
}

describeE2E('faults on the real stack', () => {
  let stack: StackEnv;
  beforeAll(() => (stack = requireStack() as StackEnv));
  afterAll(removeSpecs);

  it('kill -9 of the job processes leaves scratch and the container; tre-job gc removes them (twice at once is safe), outputs kept', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { safeData: 'none', env: { PROBE_SLEEP: '600' } }));
    const outputs = await waitUntilSleeping(submitted);
    expect(killJobProcesses(submitted.jobId).length).toBeGreaterThan(0);
    const job = await finished(submitted);
    expect(job.job.state).toBe('FAILED');
    // No trap ran: this is what the ledger is for.
    expect(homeDirs('alice').scratch).toHaveLength(1);
    expect(podmanPsAll('alice')).toEqual([`probe-${submitted.jobId}`]);

    const cmd = ['node', join(ROOT, 'bin', 'tre-job'), 'gc', '--site', stack.site].map((a) => `'${a}'`).join(' ');
    const both = runAs('alice', `${cmd} & ${cmd}; wait`);
    expect(both.status).toBe(0);
    expect(both.stdout.match(/removed/g)).toHaveLength(1); // one run claimed the job, the other found nothing
    expect(both.stdout).toMatch(new RegExp(`job ${submitted.jobId}: removed ${homeOf('alice')}/scratch-\\d{7}, container probe-${submitted.jobId}`));
    expectNothingLeft('alice');
    expect(existsSync(join(outputs, 'probe-sleeping'))).toBe(true);
    expect(treJobAs('alice', ['gc', '--site', stack.site]).stdout).toBe('nothing to reclaim\n');
  });

  it('the shipped Slurm Epilog (contrib/slurm-epilog.sh) reclaims a killed job as its user', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { safeData: 'none', env: { PROBE_SLEEP: '600' } }));
    const outputs = await waitUntilSleeping(submitted);
    killJobProcesses(submitted.jobId);
    await finished(submitted);
    const log = '/tmp/tre-e2e-epilog.log';
    // As slurmd runs it: as root, with the job's id and user in the environment.
    const result = spawnSync('bash', [join(ROOT, 'contrib', 'slurm-epilog.sh')], {
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', SLURM_JOB_ID: submitted.jobId, SLURM_JOB_USER: 'alice', TRE_JOB_BIN: `node ${join(ROOT, 'bin', 'tre-job')}`, TRE_JOB_EPILOG_LOG: log },
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(readFileSync(log, 'utf8')).toMatch(new RegExp(`job ${submitted.jobId} user alice: job ${submitted.jobId}: removed .*scratch-\\d{7}, container probe-${submitted.jobId}`));
    expectNothingLeft('alice');
    expect(existsSync(join(outputs, 'probe-wrote'))).toBe(true);
  });

  it('a missing image tag fails the pull with a clear reason and what to do next', async () => {
    const { job, log } = await finished(submitAs('alice', stack, probeSpec(stack, { image: stack.probeImage.replace(/:[^:]+$/, ':no-such-tag') })));
    expect(job.exitCode).toBe(1);
    expect(log).toContain(`ERROR: Cannot pull ${stack.probeImage.replace(/:[^:]+$/, ':no-such-tag')}`);
    expect(log).toContain('tre-job INFO: Next: check that the image and tag exist in the registry');
    expectNothingLeft('alice');
  });

  // Podman logs in first; Apptainer's pull is its first contact with the registry.
  it.each([
    ['podman', 'login'],
    ['apptainer', 'pull'],
  ])('the registry being down fails a %s job with a clear reason, and nothing is left', async (runtime, step) => {
    execFileSync('pkill', ['-u', 'docker-registry', '-f', 'docker-registry serve']);
    // Wait until it has really gone: setup.sh must not find a dying registry still answering.
    await until(() => spawnSync('pgrep', ['-u', 'docker-registry', '-f', 'docker-registry serve']).status !== 0, 10000, 'the registry to stop', 50);
    try {
      const { job, log } = await finished(submitAs('alice', stack, probeSpec(stack, { runtime })));
      expect(job.exitCode).toBe(1);
      // Unreachable, not a bad token: the Next: line must not send the user to make a new token.
      expect(log).toContain(`tre-job ERROR: Cannot reach the registry 127.0.0.1:5000 (the ${step} failed before it could check the token or the image)`);
      expect(log).toMatch(/tre-job INFO: The runtime said: .*connection refused/);
      expect(log).toContain('tre-job INFO: Next: the registry may be down, or this back-end may not reach it');
      expect(log).not.toMatch(/Next: .*token/);
      expect(log).toContain('Summary: exit status 1: failed before the container ran');
      expectNothingLeft('alice');
    } finally {
      const setup = spawnSync('bash', [join(ROOT, 'test', 'e2e', 'stack', 'setup.sh')], { encoding: 'utf8' });
      if (setup.status !== 0) throw new Error(`setup.sh could not restart the stack: ${setup.stdout.slice(-2000)}${setup.stderr.slice(-2000)}`);
    }
  });

  it('disk full on scratch (a 48 MiB tmpfs home): the job fails with its reason, scratch is removed, outputs written before are kept', async () => {
    // The job dir is outside the full filesystem, so that the log keeps every line.
    const site = '/tmp/tre-e2e-site-frank.yaml';
    writeFileSync(site, `${readFileSync(stack.site, 'utf8')}\njobsDir: /tmp/tre-e2e-frank-jobs\n`, { mode: 0o644 });
    const spec = probeSpec(stack, {
      safeData: 'none',
      runnerArgs: ['--entrypoint=/bin/sh'],
      args: ['-c', 'echo kept >/safe_outputs/before-the-disk-filled; dd if=/dev/zero of=/scratch/fill bs=1M count=200'],
    });
    const { job, log, outputs } = await finished(submitAs('frank', stack, spec, { site }));
    expect(job.state).toBe('FAILED');
    expect(job.exitCode).toBe(1);
    expect(log).toContain('No space left on device');
    expect(log).toContain("Summary: exit status 1: the container's own exit status");
    expectNothingLeft('frank');
    expect(readFileSync(join(outputs, 'before-the-disk-filled'), 'utf8')).toBe('kept\n');
    // The space is back once scratch is gone.
    const free = Number(execFileSync('df', ['--output=avail', '-k', homeOf('frank')], { encoding: 'utf8' }).split('\n')[1]);
    expect(free).toBeGreaterThan(30 * 1024);
  });

  it.each([
    ['podman', 20],
    ['apptainer', 10],
  ])('%s: scancel at %i random moments (pending, prologue, pull, run, clean-up): nothing left behind each time', async (runtime, trials) => {
    const seed = Number(process.env.TRE_FAULT_SEED ?? Date.now() % 100000);
    console.log(`${runtime} scancel fault seed ${seed} (TRE_FAULT_SEED=${seed} repeats it)`);
    let state = seed;
    const random = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
    const phases: Record<string, number> = {};
    const jobDirs: string[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const submitted: Submitted = submitAs('alice', stack, probeSpec(stack, { runtime, env: { PROBE_SLEEP: '1' } }));
      jobDirs.push(submitted.jobDir);
      await pause(Math.floor(random() * 2500));
      const phaseAtCancel = logSoFar(submitted).match(/Cleaning up|is now running|Pulling|Logging in|started/g)?.pop() ?? 'not started';
      runAs('alice', `scancel ${submitted.jobId}`);
      const { job, log, outputs } = await finished(submitted);
      phases[phaseAtCancel] = (phases[phaseAtCancel] ?? 0) + 1;
      expectNothingLeft('alice');
      await until(() => processesOf('alice', '.sif').length === 0, KILL_WAIT_MS, 'no apptainer process left', 20);
      if (log.includes('Job cancelled (SIGTERM)')) {
        expect(log).toContain('Summary: exit status 143: cancelled');
        expect(job.state).toBe('CANCELLED');
      } else if (/ tre-job /.test(log)) {
        // The job ended by itself before the cancel reached it. (A log with no tre-job line at
        // all, only slurmstepd's "CANCELLED", is a job killed before its script's first line.)
        expect(log).toMatch(/Job finished with exit status (0|143)\n/);
      }
      // Outputs are kept, unless the container never ran and they were empty (then the log says so).
      if (outputs) expect(existsSync(outputs)).toBe(!log.includes(`Removed ${outputs}: the container never ran and it was empty`));
      expect(existsSync(join(homeOf('alice'), '.tre-job', 'active', submitted.jobId))).toBe(false);
      expect(jobInfo(submitted.jobId)?.state).not.toBe('RUNNING');
    }
    console.log(`scancel faults: phase at cancel -> trials ${JSON.stringify(phases)}`);
    // A job cancelled before it pulled left its token; one gc run removes every one of them.
    expect(treJobAs('alice', ['gc', '--site', stack.site]).status).toBe(0);
    expect(jobDirs.filter((dir) => existsSync(join(dir, 'credentials')))).toEqual([]);
    // Nor an Apptainer temporary dir or a half-pulled SIF.
    const tmp = join(homeOf('alice'), '.tre-job', 'tmp');
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
    expect(readdirSync(homeOf('alice')).filter((f) => f.includes('.sif.part-'))).toEqual([]);
  });
});
