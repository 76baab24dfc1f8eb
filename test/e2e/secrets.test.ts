// The registry token appears nowhere but its 0600 file, which the job deletes once used:
// not in the script Slurm keeps, the job record, the environment Slurm stored, the log,
// any command line (sampled from /proc while the job runs) or any file left behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeE2E, homeOf, readToken, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, probeSpec, removeSpecs, submitAs, waitUntilSleeping } from './lib/tre';

jest.setTimeout(120000);

/** Samples every process's command line and environment until stopped. */
function sampleProcesses(token: string) {
  const state = { samples: 0, processesSeen: 0, sawPodmanRun: false, leaks: [] as string[] };
  const timer = setInterval(() => {
    state.samples++;
    for (const pid of readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p))) {
      for (const file of ['cmdline', 'environ']) {
        try {
          const text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
          state.processesSeen++;
          if (file === 'cmdline' && text.startsWith('podman\0run\0') || text.includes('\0run\0--rm\0--init\0')) state.sawPodmanRun = true;
          if (text.includes(token)) state.leaks.push(`${pid}/${file}: ${text.replace(/\0/g, ' ').slice(0, 200)}`);
        } catch {
          // gone already
        }
      }
    }
  }, 10);
  return { state, stop: () => clearInterval(timer) };
}

function stateSaveLocation(): string {
  const config = execFileSync('scontrol', ['show', 'config'], { encoding: 'utf8' });
  return /^StateSaveLocation\s*=\s*(\S+)/m.exec(config)?.[1] ?? '';
}

/** Every file under `dir` that contains `needle` (as root; podman's image store skipped). */
function filesContaining(dirs: string[], needle: string): string[] {
  try {
    const found = execFileSync('grep', ['-rlF', '--exclude-dir=storage', '--exclude-dir=tre-jobs', '--', needle, ...dirs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return found.trim() ? found.trim().split('\n') : [];
  } catch {
    return []; // grep exits 1 when nothing matches
  }
}

describeE2E('registry token hygiene on the real stack', () => {
  let stack: StackEnv;
  beforeAll(() => (stack = requireStack() as StackEnv));
  afterAll(removeSpecs);

  it('keeps the token out of every place Slurm, the node and the job dir keep', async () => {
    const token = readToken(stack);
    const sampler = sampleProcesses(token);
    // The token reaches tre-job through $TRE_JOB_REGISTRY_TOKEN: the submit environment must not keep it.
    const submitted = submitAs('alice', stack, probeSpec(stack, { env: { PROBE_SLEEP: '3' } }), { tokenInEnv: true });
    try {
      await waitUntilSleeping(submitted);
      // The pull is done: the credentials file and podman's auth file are gone already.
      expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log']);

      const script = runAs('alice', `scontrol write batch_script ${submitted.jobId} -`);
      expect(script.status).toBe(0);
      expect(script.stdout).toContain('tre_credentials="$tre_job_dir/credentials"');
      expect(script.stdout).not.toContain(token);

      const record = runAs('alice', `scontrol show job -d ${submitted.jobId}`);
      expect(record.stdout).toContain(`JobId=${submitted.jobId}`);
      expect(record.stdout).not.toContain(token);

      const stored = join(stateSaveLocation(), `hash.${Number(submitted.jobId) % 10}`, `job.${submitted.jobId}`, 'environment');
      expect(existsSync(stored)).toBe(true);
      const environment = readFileSync(stored, 'latin1');
      expect(environment).toContain('HOME=');
      expect(environment).not.toContain(token);
      expect(environment).not.toContain('TRE_JOB_REGISTRY_TOKEN');
    } finally {
      const { job, log, outputs } = await finished(submitted);
      sampler.stop();
      // Nothing left behind holds it: this job's dir, its outputs, the home (other jobs' dirs aside), the runtime dir.
      const uid = runAs('alice', 'id -u').stdout.trim();
      expect(filesContaining([submitted.jobDir, outputs, homeOf('alice'), `/run/user/${uid}`], token)).toEqual([]);
      expect(job.exitCode).toBe(0);
      expect(log).not.toContain(token);
    }
    console.log(`/proc sampled ${sampler.state.samples} times (${sampler.state.processesSeen} cmdline/environ reads); podman run seen: ${sampler.state.sawPodmanRun}`);
    expect(sampler.state.sawPodmanRun).toBe(true);
    expect(sampler.state.leaks).toEqual([]);
  });
});
