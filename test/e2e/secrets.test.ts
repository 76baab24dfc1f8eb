// The registry token appears nowhere but its 0600 file, which the job deletes once used:
// not in the script Slurm keeps, the job record, the environment Slurm stored, the log,
// any command line (sampled from /proc while the job runs) or any file left behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeE2E, homeOf, readToken, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, probeSpec, removeSpecs, submitAs, waitUntilSleeping } from './lib/tre';

jest.setTimeout(120000);

/**
 * Samples every process's command line and environment until stopped. A process environment
 * is readable only by its user and root; Apptainer's pull is given the token there by design
 * (APPTAINER_DOCKER_PASSWORD), so for it such a sighting is kept apart, with its command line.
 */
function sampleProcesses(token: string) {
  const state = { samples: 0, processesSeen: 0, sawRun: false, leaks: [] as string[], pullEnv: new Set<string>() };
  const timer = setInterval(() => {
    state.samples++;
    for (const pid of readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p))) {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
        state.processesSeen++;
        if (/^podman\0run\0|\0run\0--rm\0--init\0|\0run\0--no-eval\0/.test(cmdline)) state.sawRun = true;
        const shown = cmdline.replace(/\0/g, ' ').slice(0, 200);
        if (cmdline.includes(token)) state.leaks.push(`${pid}/cmdline: ${shown}`);
        if (environ.includes(token)) {
          const names = environ.split('\0').filter((e) => e.includes(token)).map((e) => e.slice(0, e.indexOf('=')));
          if (names.join() === 'APPTAINER_DOCKER_PASSWORD' && startedByPull(pid)) state.pullEnv.add(shown.split(' ').slice(0, 2).join(' '));
          else state.leaks.push(`${pid}/environ (${names.join()}): ${shown}`);
        }
      } catch {
        // gone already
      }
    }
  }, 10);
  return { state, stop: () => clearInterval(timer) };
}

/** Whether PID is an `apptainer pull`, or was started by one (it inspects and squashes what it pulled). */
function startedByPull(pid: string): boolean {
  for (let p = pid, depth = 0; p !== '0' && depth < 10; depth++) {
    if (/(^|\/)apptainer\0pull\0/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8'))) return true;
    p = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? '0';
  }
  return false;
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

  it.each(['podman', 'apptainer'])('%s: keeps the token out of every place Slurm, the node and the job dir keep', async (runtime) => {
    const token = readToken(stack);
    const uid = runAs('alice', 'id -u').stdout.trim();
    const places = () => [homeOf('alice'), `/run/user/${uid}`];
    // Files of alice's own that hold it already (a token file she keeps, as the README suggests) are hers, not the job's.
    const before = filesContaining(places(), token);
    const sampler = sampleProcesses(token);
    // The token reaches tre-job through $TRE_JOB_REGISTRY_TOKEN: the submit environment must not keep it.
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime, env: { PROBE_SLEEP: '3' } }), { tokenInEnv: true });
    try {
      await waitUntilSleeping(submitted);
      // The pull is done: the credentials file and podman's auth file are gone already.
      expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log', 'spec.yaml']);

      const script = runAs('alice', `scontrol write batch_script ${submitted.jobId} -`);
      expect(script.status).toBe(0);
      expect(script.stdout).toContain(`tre_credentials="$tre_job_dir/"'credentials'`);
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
      // Nothing the job left behind holds it: this job's dir, its outputs, the home (other jobs' dirs aside), the runtime dir.
      expect(filesContaining([submitted.jobDir, outputs], token)).toEqual([]);
      expect(filesContaining(places(), token)).toEqual(before);
      expect(job.exitCode).toBe(0);
      expect(log).not.toContain(token);
    }
    console.log(`/proc sampled ${sampler.state.samples} times (${sampler.state.processesSeen} processes read); ${runtime} run seen: ${sampler.state.sawRun}; token in the pull's environment: ${[...sampler.state.pullEnv].join(', ') || 'never seen'}`);
    expect(sampler.state.sawRun).toBe(true);
    expect(sampler.state.leaks).toEqual([]);
    // Only Apptainer's pull (and what it starts) is given the token, in its own environment.
    if (runtime === 'podman') expect([...sampler.state.pullEnv]).toEqual([]);
  });
});
