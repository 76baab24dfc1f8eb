// The defects found by trying tre-job as a new user would, each reproduced on the real stack:
// policy bypasses (every spelling, symlinks), a token left by a job cancelled while pending,
// a cancelled job reported as exit 0, outputs readable by others, logs of other users' jobs,
// and failures explained only as "exit status 1".
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT } from '../helpers';
import { describeE2E, homeOf, jobInfo, podmanPsAll, readToken, requireStack, runAs, shq, StackEnv, waitForState } from './lib/stack';
import { clearOutputs, finished, homeDirs, probeSpec, removeSpecs, submitAs, Submitted, treJobAs, until, writeSpec } from './lib/tre';

jest.setTimeout(600000);

/** Paths under DIR (DIR included) whose mode gives anything to group or others. */
function openToOthers(dir: string): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    if (st.mode & 0o077) found.push(`${path} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return found;
}

/** The job directory of USER's tre-job job JOBID (from its job.json). */
function jobDirOf(user: string, jobId: string): string {
  const root = join(homeOf(user), 'tre-jobs');
  for (const name of readdirSync(root)) {
    const record = join(root, name, 'job.json');
    if (existsSync(record) && (JSON.parse(readFileSync(record, 'utf8')) as { jobId: string }).jobId === jobId) return join(root, name);
  }
  throw new Error(`no job dir of ${user} for job ${jobId}`);
}

/** The pid of USER's node process running tre-job with TEXT on its command line. */
function nodeProcess(user: string, text: string): number {
  const pids = spawnSync('pgrep', ['-u', user, '-f', text], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
  const pid = pids.find((p) => p > 0 && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node');
  if (pid === undefined) throw new Error(`no node process of ${user} running ${text}`);
  return pid;
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describeE2E('hardening on the real stack', () => {
  let stack: StackEnv;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    clearOutputs('alice');
  });
  afterAll(removeSpecs);

  /** Fill the node (its 2 CPUs) with a sleeping job of bob's, so that the next job stays PENDING. */
  async function blockNode(): Promise<{ release: () => Promise<void> }> {
    const cpus = Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim());
    const blocker = submitAs('bob', stack, probeSpec(stack, { safeData: 'none', cpus, env: { PROBE_SLEEP: '600' } }));
    await waitForState(blocker.jobId, 'RUNNING');
    return {
      release: async () => {
        runAs('bob', `scancel ${blocker.jobId}`);
        await finished(blocker);
      },
    };
  }

  it('refuses every spelling of a forbidden mount at submit: exit 2, one line, nothing submitted', () => {
    const forms: [string, string[]][] = [
      ['podman', ['-v/:/host']],
      ['podman', ['-v', '/./:/host']],
      ['podman', ['-v/etc:/e']],
      ['podman', ['-v/safe_data:/x']],
      ['podman', ['--mount=destination=/h,type=bind,source=/']],
      ['podman', ['-itv/:/host']],
      ['apptainer', ['-B/:/host']],
      ['apptainer', ['-B', '/./etc:/e']],
    ];
    const jobsRoot = join(homeOf('alice'), 'tre-jobs');
    const jobDirs = () => (existsSync(jobsRoot) ? readdirSync(jobsRoot).length : 0);
    const before = jobDirs();
    for (const [runtime, runnerArgs] of forms) {
      const result = treJobAs('alice', ['submit', writeSpec(probeSpec(stack, { runtime, runnerArgs })), '--site', stack.site, '--token-stdin'], { input: `${readToken(stack)}\n` });
      expect([runnerArgs, result.status]).toEqual([runnerArgs, 2]);
      expect(result.stderr).toMatch(/^tre-job: runnerArgs\.\d+: [^\n]*(system path|safe data is mounted)[^\n]*\n$/);
      expect(result.stdout).toBe('');
    }
    expect(jobDirs()).toBe(before);
  });

  it('a mount source that is a symlink to / fails the job before the container starts: one log line, nothing mounted, nothing left', async () => {
    runAs('alice', 'ln -sfn / "$HOME/sysroot"');
    try {
      const submitted = submitAs('alice', stack, probeSpec(stack, { safeData: 'none', runnerArgs: ['-v', '${HOME}/sysroot:/host'] }));
      const { job, log } = await finished(submitted);
      expect(job.exitCode).toBe(1);
      const errors = log.split('\n').filter((l) => l.includes(' tre-job ERROR: '));
      expect(errors).toEqual([expect.stringMatching(new RegExp(`tre-job ERROR: runnerArgs\\.0: the mount source ${homeOf('alice')}/sysroot is /, which cannot be mounted: nothing was mounted$`))]);
      expect(log).not.toContain('is now running');
      expect(log).toContain('Summary: exit status 1: failed before the container ran: runnerArgs.0');
      expect(homeDirs('alice')).toEqual({ scratch: [], outputs: [] }); // the empty outputs dir went too
      expect(podmanPsAll('alice')).toEqual([]);
    } finally {
      runAs('alice', 'rm -f "$HOME/sysroot"');
    }
  });

  it('a job cancelled while pending: status says non-zero, gc removes its token, and submit --wait cancel removes it at once', async () => {
    const node = await blockNode();
    try {
      const pending = submitAs('alice', stack, probeSpec(stack, { safeData: 'none' }));
      await waitForState(pending.jobId, 'PENDING');
      const credentials = join(pending.jobDir, 'credentials');
      expect(existsSync(credentials)).toBe(true);

      // logs of a pending job says so; another user's job is refused.
      const logs = treJobAs('alice', ['logs', pending.jobId, '--site', stack.site]);
      expect(logs.status).toBe(0);
      expect(logs.stderr).toMatch(new RegExp(`^job ${pending.jobId} is pending( \\(\\w+\\))?: its log starts when it runs`));
      const others = treJobAs('carol', ['logs', pending.jobId, '--site', stack.site]);
      expect(others.status).toBe(2);
      expect(others.stderr).toBe(`tre-job: JOBID: job ${pending.jobId} is not yours: only its owner can read its log and status\n`);

      expect(runAs('alice', `scancel ${pending.jobId}`).status).toBe(0);
      await until(() => jobInfo(pending.jobId)?.state === 'CANCELLED', 30000, 'the cancel');
      const status = JSON.parse(treJobAs('alice', ['status', pending.jobId, '--json', '--site', stack.site]).stdout) as { exitStatus: number; detail: string }[];
      expect(status[0]).toMatchObject({ exitStatus: 143, detail: 'cancelled before it started' });
      expect(existsSync(credentials)).toBe(true); // nothing ran: only gc can remove it

      const gc = treJobAs('alice', ['gc', '--site', stack.site]);
      expect(gc.status).toBe(0);
      expect(gc.stdout).toMatch(new RegExp(`^credentials of jobs that ended before they pulled: removed .*${credentials}`, 'm'));
      expect(existsSync(credentials)).toBe(false);

      // submit --wait: the cancel (here Ctrl-C with --cancel-on-interrupt) removes the token itself.
      const spec = writeSpec(probeSpec(stack, { safeData: 'none' }));
      const waiting = spawn('runuser', ['-l', 'alice', '-c', ['node', BIN, 'submit', spec, '--site', stack.site, '--token-stdin', '--wait', '--cancel-on-interrupt'].map(shq).join(' ')], { stdio: ['pipe', 'pipe', 'pipe'] });
      waiting.stdin.end(`${readToken(stack)}\n`);
      let stdout = '';
      let stderr = '';
      waiting.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      waiting.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number>((resolve) => waiting.on('exit', (code) => resolve(code ?? -1)));
      await until(() => /pending/.test(stderr), 30000, 'submit --wait to show the pending job', 50);
      const jobId = stdout.trim().split('\n')[0] as string;
      const jobDir = jobDirOf('alice', jobId);
      expect(existsSync(join(jobDir, 'credentials'))).toBe(true);
      // SIGINT to the node process (runuser passes no signal on): as Ctrl-C on a terminal would.
      process.kill(nodeProcess('alice', spec), 'SIGINT');
      const code = await exited;
      expect(stderr).toContain(`cancelling job ${jobId} (scancel)`);
      expect(stderr).toContain(`removed ${jobDir}/credentials`);
      expect(stderr).toMatch(new RegExp(`job ${jobId} CANCELLED, exit status 143`));
      expect(code).toBe(143);
      expect(existsSync(join(jobDir, 'credentials'))).toBe(false);

      // The site Epilog path sweeps too: a third job cancelled while pending, then the Epilog (as slurmd runs it).
      const third = submitAs('alice', stack, probeSpec(stack, { safeData: 'none' }));
      await waitForState(third.jobId, 'PENDING');
      runAs('alice', `scancel ${third.jobId}`);
      await until(() => jobInfo(third.jobId)?.state === 'CANCELLED', 30000, 'the cancel');
      const epilogLog = '/tmp/tre-e2e-epilog-sweep.log';
      const epilog = spawnSync('bash', [join(ROOT, 'contrib', 'slurm-epilog.sh')], {
        env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', SLURM_JOB_ID: third.jobId, SLURM_JOB_USER: 'alice', TRE_JOB_BIN: `node ${BIN}`, TRE_JOB_EPILOG_LOG: epilogLog },
        encoding: 'utf8',
      });
      expect(epilog.status).toBe(0);
      expect(existsSync(join(third.jobDir, 'credentials'))).toBe(false);
    } finally {
      await node.release();
    }
  });

  it.each(['podman', 'apptainer'])('%s: under umask 000 outputs, scratch, the job dir and its files give nothing to group or others; carol reads nothing', async (runtime) => {
    const spec = writeSpec(probeSpec(stack, { runtime, safeData: 'none', time: '00:02:00' }));
    const r = runAs('alice', `umask 000; ${['node', BIN, 'submit', spec, '--site', stack.site, '--token-stdin', '--json'].map(shq).join(' ')}`, { input: `${readToken(stack)}\n` });
    expect(r.status).toBe(0);
    const submitted = JSON.parse(r.stdout) as Submitted;
    const { job, log, outputs } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    expect(log).toContain('Time limit 00:02:00: clean-up starts 30 s before it (sbatch --signal), at about ');
    expect(existsSync(join(outputs, 'probe-wrote'))).toBe(true);
    expect(mode(outputs)).toBe('700');
    expect(openToOthers(outputs)).toEqual([]);
    expect(mode(submitted.jobDir)).toBe('700');
    expect(mode(submitted.outputLog)).toBe('600');
    expect(openToOthers(submitted.jobDir)).toEqual([]);
    // The token's entry in the credentials index went with it (the job removed both).
    expect(existsSync(join(homeOf('alice'), '.tre-job', 'credentials', submitted.jobDir.replace(/\//g, '%')))).toBe(false);
    expect(runAs('carol', `cat ${shq(join(outputs, 'probe-wrote'))}`).status).not.toBe(0);
    expect(runAs('carol', `cat ${shq(submitted.outputLog)}`).status).not.toBe(0);
  });

  it('submit --wait on a failed job prints the reason and what to do next', () => {
    const spec = writeSpec(probeSpec(stack, { image: stack.probeImage.replace(/:[^:]+$/, ':no-such-tag'), safeData: 'none' }));
    const result = treJobAs('alice', ['submit', spec, '--site', stack.site, '--token-stdin', '--wait'], { input: `${readToken(stack)}\n` });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/FAILED, exit status 1\n/);
    expect(result.stderr).toContain(`error: Cannot pull ${stack.probeImage.replace(/:[^:]+$/, ':no-such-tag')}: the image or its tag is not in the registry (check the image URL)\n`);
    expect(result.stderr).toContain('next: check that the image and tag exist in the registry');
  });
});
