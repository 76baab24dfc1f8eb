// Issue 18: the core cases on each back-end of the stack (TRE_TEST_BACKENDS): shared1 shares this
// host's /home, private1 has a home of its own that tre-job reaches over ssh. A job must run on
// the back-end's node, keep its outputs in the home there, and leave nothing behind on either
// side (scratch, container, marker, token) however it ends.
import { chmodSync, chownSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../helpers';
import { describeE2E, homeOf, inBackend, isActiveState, jobInfo, podmanPsAll, requireStack, run, runAs, RunResult, shq, StackEnv, waitForJob } from './lib/stack';
import { killJobProcesses, outputsOf, probeSpec, removeSpecs, treJobAs, until, writeSpec } from './lib/tre';

jest.setTimeout(600000);
const REGISTRY_LOG = '/var/log/tre-registry.log';

interface Backend {
  id: string;
  site: string;
}

/** What `tre-job status ID --json` says of one job (the fields these tests read). */
interface Status {
  jobId: string;
  state: string;
  slurmState: string;
  node: string | null;
  outputs: string | null;
  exitStatus: number | null;
  reason: string | null;
  jobDir: string;
  error: string | null;
}

interface Job {
  user: string;
  be: Backend;
  jobId: string;
  jobDir: string;
}

describeE2E('core cases on each back-end (issue 18)', () => {
  const stack = requireStack() as StackEnv | null; // null only when describeE2E skips this block
  const backends: Backend[] = stack?.backends ?? [];
  const cleanups: (() => void)[] = [];
  const jobIds: string[] = [];
  afterAll(async () => {
    // A failed test may leave its job sleeping: end it (its own trap cleans up) before its dirs go.
    const active = jobIds.filter((id) => isActiveState(jobInfo(id)?.state ?? ''));
    if (active.length) run('scancel', active);
    await Promise.all(active.map((id) => waitForJob(id, 60000)));
    for (const cleanup of cleanups.reverse()) cleanup();
    removeSpecs();
  });

  if (!backends.length) {
    it('the stack has back-ends', () => {
      throw new Error('stack.env names no TRE_TEST_BACKENDS; run test/e2e/stack/setup.sh');
    });
    return;
  }
  const env = stack as StackEnv;
  const isPrivate = (be: Backend) => be.id === env.privateHomeBackend;
  // Users other e2e files use little; bob for the private home (the brief's choice).
  const userFor = (be: Backend) => (isPrivate(be) ? 'bob' : 'carol');

  /** USER's home on back-end BE, as root sees it from this host. */
  const homeThere = (be: Backend, user: string) => (isPrivate(be) ? join(env.privateHomeRoot as string, user) : homeOf(user));
  /** A path under USER's home, as the back-end sees it, translated to this host. */
  const onHost = (be: Backend, user: string, path: string) => join(homeThere(be, user), relative(homeOf(user), path));

  const uidOf = (user: string) => Number(run('id', ['-u', user]).stdout.trim());

  /** A 0600 file holding TOKEN in USER's portal home, removed after the file's tests. */
  function tokenFile(user: string, token?: string): string {
    const file = join(homeOf(user), `.tre-e2e-backends-token-${process.pid}${token === undefined ? '' : '-wrong'}`);
    if (token === undefined) copyFileSync(env.tokenFile, file);
    else writeFileSync(file, `${token}\n`);
    chownSync(file, uidOf(user), Number(run('id', ['-g', user]).stdout.trim()));
    chmodSync(file, 0o600);
    cleanups.push(() => rmSync(file, { force: true }));
    return file;
  }

  /** `tre-job submit SPEC --site BE --token-file FILE`, with --wait, --json (for the job's id and dir) or neither (for the user's one-line errors). */
  function submit(user: string, be: Backend, spec: Record<string, unknown>, options: { mode: 'wait' | 'json' | 'plain'; token?: string }): RunResult {
    const args = ['submit', writeSpec(spec), '--site', be.site, '--token-file', options.token ?? tokenFile(user)];
    if (options.mode !== 'plain') args.push(`--${options.mode}`);
    return treJobAs(user, args);
  }

  /** Submit without waiting; throws with tre-job's message if it fails. */
  function submitJob(user: string, be: Backend, spec: Record<string, unknown>): Job {
    const result = submit(user, be, spec, { mode: 'json' });
    if (result.status !== 0) throw new Error(`tre-job submit as ${user} to ${be.id} exited ${result.status}: ${result.stderr.trim()}`);
    const { jobId, jobDir } = JSON.parse(result.stdout) as { jobId: string; jobDir: string };
    jobIds.push(jobId);
    forget(user, be, jobDir);
    return { user, be, jobId, jobDir };
  }

  /** Remove a job dir on both sides after the file's tests (outputs are removed where they are made). */
  function forget(user: string, be: Backend, jobDir: string): void {
    cleanups.push(() => {
      rmSync(jobDir, { recursive: true, force: true });
      rmSync(onHost(be, user, jobDir), { recursive: true, force: true });
    });
  }

  function removeOutputs(be: Backend, user: string, outputs: string): void {
    if (/\/outputs-[0-9]+$/.test(outputs)) rmSync(onHost(be, user, outputs), { recursive: true, force: true });
  }

  function status(job: Pick<Job, 'user' | 'be' | 'jobId'>): Status {
    const result = treJobAs(job.user, ['status', job.jobId, '--site', job.be.site, '--json']);
    if (result.status !== 0) throw new Error(`tre-job status ${job.jobId} exited ${result.status}: ${result.stderr.trim()}`);
    const [one] = JSON.parse(result.stdout) as Status[];
    return one as Status;
  }

  /** The job's log, read where the job wrote it (the back-end's home). */
  const logOf = (job: Job, file = join(job.jobDir, 'output.log')) => {
    const path = onHost(job.be, job.user, file);
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  };

  /**
   * USER's containers on the back-end, asked inside its namespaces with a batch job's
   * environment (no XDG_RUNTIME_DIR), which is how the job's podman finds its storage.
   */
  function containersOn(be: Backend, user: string): string[] {
    const r = inBackend(be.id, `runuser -l ${shq(user)} -c ${shq(`podman ps -a --format '{{.Names}}'`)}`);
    if (r.status !== 0) throw new Error(`podman ps -a as ${user} on ${be.id} failed (${r.status}): ${r.stderr.trim()}`);
    return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  }

  const indexName = (dir: string) => dir.replace(/\//g, '%');
  /** Markers (~/.tre-job/active/JOBID, first line the job dir) naming this job, in HOME. */
  function markersIn(home: string, job: Job): string[] {
    const active = join(home, '.tre-job', 'active');
    if (!existsSync(active)) return [];
    return readdirSync(active).filter((name) => name === job.jobId || readFileSync(join(active, name), 'utf8').split('\n')[0] === job.jobDir);
  }

  /** What a job left on either side: its scratch dirs, containers, markers and its token (file and index entry). */
  function leftovers(job: Job, number: string) {
    const { user, be } = job;
    const homes = [...new Set([homeOf(user), homeThere(be, user)])];
    return {
      scratch: homes.flatMap((home) => readdirSync(home).filter((n) => n === `scratch-${number}` || n.startsWith(`scratch-${number}-`))),
      containers: containersOn(be, user).filter((name) => name.endsWith(`-${job.jobId}`) || name.includes(`-${job.jobId}_`)),
      markers: homes.flatMap((home) => markersIn(home, job)),
      credentials: [job.jobDir, onHost(be, user, job.jobDir)].filter((dir) => existsSync(join(dir, 'credentials'))),
      index: homes.map((home) => join(home, '.tre-job', 'credentials', indexName(job.jobDir))).filter((f) => existsSync(f)),
    };
  }
  const NOTHING_LEFT = { scratch: [], containers: [], markers: [], credentials: [], index: [] };

  /** Wait until the probe sleeps in its container on the back-end; returns its outputs dir (the back-end's path). */
  async function sleeping(job: Job): Promise<string> {
    let outputs = '';
    await until(() => {
      outputs = outputsOf(logOf(job)).outputs;
      return outputs !== '' && existsSync(join(onHost(job.be, job.user, outputs), 'probe-sleeping'));
    }, 90000, `job ${job.jobId} on ${job.be.id} to run its container`, 100);
    cleanups.push(() => removeOutputs(job.be, job.user, outputs));
    return outputs;
  }

  /** Modes of a tree (relative path -> octal), e.g. { '.': '700', 'probe/argv': '600' }. */
  function modes(root: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string) => {
      out[relative(root, dir) || '.'] = (statSync(dir).mode & 0o777).toString(8);
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else out[relative(root, path)] = (statSync(path).mode & 0o777).toString(8);
      }
    };
    walk(root);
    return out;
  }

  const sleepSpec = (spec: Record<string, unknown> = {}) => probeSpec(env, { safeData: 'none', env: { PROBE_SLEEP: '600' }, ...spec });

  describe.each(backends.map((be) => [be.id, be] as const))('%s', (id, be) => {
    const user = userFor(be);

    it('a batch job completes on the back-end, outputs in its home (0700/0600), logs and status read there, nothing left', () => {
      const before = readdirSync(join(homeOf(user), 'tre-jobs'));
      const result = submit(user, be, probeSpec(env, { safeData: 'none' }), { mode: 'wait' });
      expect(result.stderr).toMatch(/COMPLETED, exit status 0/);
      expect(result.status).toBe(0);
      const [jobId, shown] = result.stdout.trim().split('\n') as [string, string];
      const number = /\/outputs-([0-9]+)$/.exec(shown)?.[1] ?? 'none';
      const outputs = join(homeOf(user), `outputs-${number}`); // the path on the back-end
      cleanups.push(() => removeOutputs(be, user, outputs));
      expect(shown).toBe(isPrivate(be) ? `${id}:${outputs}` : outputs);

      const st = status({ user, be, jobId });
      forget(user, be, st.jobDir);
      const job: Job = { user, be, jobId, jobDir: st.jobDir };
      expect(st).toMatchObject({ jobId, state: 'COMPLETED', node: id, exitStatus: 0, outputs: shown, error: null });
      expect(readdirSync(join(homeOf(user), 'tre-jobs')).filter((d) => !before.includes(d))).toEqual([st.jobDir.split('/').pop()]);

      // The job ran on the back-end's node and wrote its log in the home there.
      const log = logOf(job);
      expect(log).toContain(`tre-job INFO: Job ${jobId} started on ${id} as ${user} `);
      expect(log).toContain(`tre-job INFO: Outputs: ${outputs} (mounted at /safe_outputs`);
      expect(log).toContain('tre-job INFO: Job finished with exit status 0');
      const logs = treJobAs(user, ['logs', jobId, '--site', be.site]);
      expect(logs.status).toBe(0);
      expect(logs.stdout).toBe(log);

      // Outputs in the back-end's home (for private1 not in the portal's), the user's alone.
      const outputsHere = onHost(be, user, outputs);
      expect(modes(outputsHere)).toEqual({
        '.': '700',
        probe: '700',
        'probe-wrote': '600',
        ...Object.fromEntries(['argv', 'env', 'env-exec', 'groups.txt', 'id.txt', 'writable.txt'].map((f) => [`probe/${f}`, '600'])),
      });
      expect(statSync(outputsHere).uid).toBe(uidOf(user));
      if (isPrivate(be)) {
        expect(outputsHere).toBe(join(env.privateHomeRoot as string, user, `outputs-${number}`));
        expect(existsSync(outputs)).toBe(false);
        // The job dir there: the same path, the files tre-job made, the user's alone.
        expect(modes(onHost(be, user, st.jobDir))).toEqual({ '.': '700', 'job.sh': '700', 'spec.yaml': '600', 'output.log': '600', ledger: '600' });
        expect(readFileSync(join(onHost(be, user, st.jobDir), 'job.sh'), 'utf8')).toBe(readFileSync(join(st.jobDir, 'job.sh'), 'utf8'));
        // As the README says: the user fetches outputs with scp (SFTP) from the back-end.
        const fetched = `/tmp/tre-e2e-backends-scp-${process.pid}`;
        cleanups.push(() => rmSync(fetched, { force: true }));
        const scp = runAs(user, `scp -q ${shq(`${id}:${outputs}/probe/argv`)} ${shq(fetched)}`);
        expect(scp.stderr).toBe('');
        expect(readFileSync(fetched)).toEqual(readFileSync(join(outputsHere, 'probe', 'argv')));
      }
      expect(leftovers(job, number)).toEqual(NOTHING_LEFT);
    });

    it('an Apptainer batch job completes there too: its SIF pull, outputs and log in that home, nothing left', () => {
      const result = submit(user, be, probeSpec(env, { safeData: 'none', runtime: 'apptainer', args: ['apptainer-on', id] }), { mode: 'wait' });
      expect(result.stderr).toMatch(/COMPLETED, exit status 0/);
      expect(result.status).toBe(0);
      const [jobId, shown] = result.stdout.trim().split('\n') as [string, string];
      const number = /\/outputs-([0-9]+)$/.exec(shown)?.[1] ?? 'none';
      const outputs = join(homeOf(user), `outputs-${number}`);
      cleanups.push(() => removeOutputs(be, user, outputs));
      expect(shown).toBe(isPrivate(be) ? `${id}:${outputs}` : outputs);
      const st = status({ user, be, jobId });
      forget(user, be, st.jobDir);
      const job: Job = { user, be, jobId, jobDir: st.jobDir };
      expect(st).toMatchObject({ jobId, state: 'COMPLETED', node: id, exitStatus: 0 });
      const log = logOf(job);
      expect(log).toContain(`tre-job INFO: Job ${jobId} started on ${id} as ${user} `);
      expect(readFileSync(join(onHost(be, user, outputs), 'probe', 'argv'), 'utf8')).toContain(`apptainer-on`);
      expect(modes(onHost(be, user, outputs))['.']).toBe('700');
      if (isPrivate(be)) expect(existsSync(outputs)).toBe(false);
      const tmp = join(homeThere(be, user), '.tre-job', 'tmp');
      expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
      expect(leftovers(job, number)).toEqual(NOTHING_LEFT);
    });

    it('scancel of a running job: scratch and container gone, outputs kept, marker gone, status CANCELLED', async () => {
      const job = submitJob(user, be, sleepSpec());
      const outputs = await sleeping(job);
      const number = /outputs-([0-9]+)$/.exec(outputs)?.[1] as string;
      const scratch = join(homeThere(be, user), `scratch-${number}`);
      // The checks below see the job while it runs, so their "gone" can be believed.
      expect(existsSync(scratch)).toBe(true);
      expect(containersOn(be, user)).toContain(`probe-${job.jobId}`);
      expect(markersIn(homeThere(be, user), job)).toEqual([job.jobId]);

      expect(runAs(user, `scancel ${job.jobId}`).status).toBe(0);
      const ended = await waitForJob(job.jobId);
      expect(ended.state).toBe('CANCELLED');
      const log = logOf(job);
      expect(log).toContain('tre-job ERROR: Job cancelled (SIGTERM): stopping the container and cleaning up');
      expect(log).toContain('tre-job INFO: Job finished with exit status 143');
      expect(leftovers(job, number)).toEqual(NOTHING_LEFT);
      expect(existsSync(join(onHost(be, user, outputs), 'probe-sleeping'))).toBe(true);
      expect(status(job)).toMatchObject({ state: 'CANCELLED', exitStatus: 143, outputs: isPrivate(be) ? `${id}:${outputs}` : outputs });
    });

    it('a wrong token: submit --wait fails with the registry\'s reason, the token gone on both sides', () => {
      const wrong = tokenFile(user, 'wrong-token');
      const result = submit(user, be, probeSpec(env, { safeData: 'none' }), { mode: 'wait', token: wrong });
      expect(result.status).toBe(1);
      const jobId = result.stdout.trim().split('\n')[0] as string;
      expect(jobId).toMatch(/^[0-9]+$/);
      const st = status({ user, be, jobId });
      forget(user, be, st.jobDir);
      const job: Job = { user, be, jobId, jobDir: st.jobDir };
      expect(st).toMatchObject({ state: 'FAILED', exitStatus: 1 });
      expect(st.error).toContain(`Cannot log in to ${env.registry} as ${env.registryUser}: check the registry username and access token`);
      const log = logOf(job);
      expect(log).toContain(`ERROR: Cannot log in to ${env.registry} as ${env.registryUser}: check the registry username and access token`);
      expect(treJobAs(user, ['logs', jobId, '--site', be.site]).stdout).toBe(log);
      const number = /Scratch: \S+\/scratch-([0-9]+) /.exec(log)?.[1] ?? 'none';
      expect(leftovers(job, number)).toEqual(NOTHING_LEFT);
      expect(readdirSync(onHost(be, user, st.jobDir)).sort()).toEqual(['job.sh', 'ledger', 'output.log', 'spec.yaml'].concat(isPrivate(be) ? [] : ['job.json']).sort());
      const outputs = outputsOf(log).outputs;
      if (outputs) removeOutputs(be, user, outputs);
    });

    if (isPrivate(be)) {
      it('a service is refused at submit (exit 2, one line), nothing written on either side', () => {
        const before = readdirSync(join(homeOf(user), 'tre-jobs'));
        const beforeThere = readdirSync(join(homeThere(be, user), 'tre-jobs'));
        const result = submit(user, be, probeSpec(env, { image: env.vars.TRE_TEST_HTTP_IMAGE, service: 'http', safeData: 'none' }), { mode: 'plain' });
        expect(result.status).toBe(2);
        expect(result.stderr).toMatch(new RegExp(`^tre-job: service: back-end ${id} has a home of its own [^\\n]*\\n$`));
        expect(result.stdout).toBe('');
        expect(readdirSync(join(homeOf(user), 'tre-jobs'))).toEqual(before);
        expect(readdirSync(join(homeThere(be, user), 'tre-jobs'))).toEqual(beforeThere);
      });
    } else {
      it('a service runs there and `connect --wait --json` answers ready', async () => {
        const job = submitJob(user, be, probeSpec(env, { image: env.vars.TRE_TEST_HTTP_IMAGE, service: 'http', safeData: 'none' }));
        const connect = treJobAs(user, ['connect', job.jobId, '--wait', '--json', '--site', be.site]);
        expect(connect.status).toBe(0);
        const info = JSON.parse(connect.stdout) as { ready: boolean; host: string; port: number; password: string; state: string };
        expect(info).toMatchObject({ jobId: job.jobId, state: 'RUNNING', ready: true, host: id, service: 'http' });
        expect(info.password).toMatch(/^[0-9a-f]{36}$/);
        expect((await fetch(`http://127.0.0.1:${info.port}/`, { redirect: 'manual' })).status).toBe(401); // it answers, and wants the password
        const outputs = outputsOf(logOf(job)).outputs;
        cleanups.push(() => removeOutputs(be, user, outputs));
        expect(runAs(user, `scancel ${job.jobId}`).status).toBe(0);
        expect((await waitForJob(job.jobId)).state).toBe('CANCELLED');
        expect(leftovers(job, /outputs-([0-9]+)$/.exec(outputs)?.[1] as string)).toEqual(NOTHING_LEFT);
        expect(existsSync(join(job.jobDir, 'connection.yml'))).toBe(false);
      });
    }
  });

  it('time limit on every back-end at once: TIMEOUT, exit status 124, nothing left', async () => {
    const jobs = backends.map((be) => submitJob(userFor(be), be, sleepSpec({ time: '00:01:00' })));
    const outputs = await Promise.all(jobs.map(sleeping));
    for (const [i, job] of jobs.entries()) {
      const ended = await waitForJob(job.jobId, 180000);
      expect([job.be.id, ended.exitCode]).toEqual([job.be.id, 124]);
      const log = logOf(job);
      expect(log).toContain(`started on ${job.be.id} `);
      expect(log).toContain('tre-job ERROR: Job is about to reach its time limit (SIGUSR1): stopping the container and cleaning up');
      expect(log).toContain('tre-job INFO: Job finished with exit status 124');
      expect(status(job)).toMatchObject({ state: 'TIMEOUT', exitStatus: 124 });
      expect(leftovers(job, /outputs-([0-9]+)$/.exec(outputs[i] as string)?.[1] as string)).toEqual(NOTHING_LEFT);
    }
  });

  it('no ssh key: submit to the private back-end fails in one line saying what to do, nothing left in the portal home', () => {
    const be = backends.find(isPrivate) as Backend;
    const user = env.noKeyUser as string;
    const home = homeOf(user);
    const jobsDir = join(home, 'tre-jobs');
    const index = join(home, '.tre-job', 'credentials');
    const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);
    const before = { jobs: list(jobsDir), index: list(index) }; // other e2e files leave entries of their own
    const result = submit(user, be, probeSpec(env, { safeData: 'none' }), { mode: 'plain' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^tre-job: back-end ${be.id} refused your ssh key \\([^\\n]*Permission denied[^\\n]*\\); set up your key: ssh-keygen -t ed25519 -N '' -f ~/\\.ssh/id_ed25519 && ssh-copy-id ${be.id}\\n$`),
    );
    expect(result.stdout).toBe('');
    expect({ jobs: list(jobsDir), index: list(index) }).toEqual(before);
  });

  it('an array spread over the two shared-home hosts: every task completes, one pull per host, nothing left', async () => {
    const be = backends.find((b) => !isPrivate(b)) as Backend;
    const user = 'dave';
    const image = runAs(user, `podman image inspect --format '{{.Id}}' ${shq(env.probeImage)}`).stdout.trim();
    if (image) expect(runAs(user, `podman rmi -f ${image}`).status).toBe(0);
    const from = statSync(REGISTRY_LOG).size;
    const job = submitJob(user, be, probeSpec(env, { partition: env.spreadPartition, array: { count: 6 }, safeData: 'none', env: { PROBE_SLEEP: '3' } }));
    const lines = () => run('scontrol', ['show', 'job', '-o', job.jobId]).stdout.split('\n').filter((l) => l.includes(`ArrayJobId=${job.jobId} `));
    let states: string[] = [];
    await until(() => {
      states = lines().map((l) => /JobState=(\S+)/.exec(l)?.[1] as string);
      return states.length === 6 && states.every((s) => s === 'COMPLETED');
    }, 240000, `array ${job.jobId} to complete`, 500);
    const logs = [0, 1, 2, 3, 4, 5].map((task) => logOf(job, join(job.jobDir, `output-${task}.log`)));
    const number = /Outputs: \S+\/outputs-([0-9]+)\/0 /.exec(logs[0] as string)?.[1] as string;
    cleanups.push(() => rmSync(join(homeOf(user), `outputs-${number}`), { recursive: true, force: true }));
    const hosts = logs.map((log) => new RegExp(`Job ${job.jobId}_[0-9]+ started on (\\S+) `).exec(log)?.[1]);
    expect([...new Set(hosts)].sort()).toEqual(['shared1', 'vm']);
    logs.forEach((log) => expect(log).toContain('tre-job INFO: Job finished with exit status 0'));
    const manifests = [...readFileSync(REGISTRY_LOG).subarray(from).toString('utf8').matchAll(/"GET \/v2\/tre\/probe\/manifests\/1\.0 HTTP\/[0-9.]+" 200 /g)];
    expect(manifests).toHaveLength(2);
    expect(readdirSync(job.jobDir).filter((n) => n.startsWith('pulled-')).sort()).toEqual(['pulled-shared1', 'pulled-vm']);
    expect(readdirSync(join(homeOf(user), `outputs-${number}`)).sort()).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(leftovers(job, number)).toEqual(NOTHING_LEFT); // containers as shared1 sees them
    expect(podmanPsAll(user).filter((name) => name.includes(`-${job.jobId}_`))).toEqual([]); // and as the main node does
  });

  it('private back-end: after kill -9, `tre-job gc --site` over ssh removes the scratch there; the Epilog inside the back-end does too', async () => {
    const be = backends.find(isPrivate) as Backend;
    const user = userFor(be);
    for (const how of ['gc', 'epilog'] as const) {
      const job = submitJob(user, be, sleepSpec());
      const outputs = await sleeping(job);
      const number = /outputs-([0-9]+)$/.exec(outputs)?.[1] as string;
      const scratch = join(homeOf(user), `scratch-${number}`); // its path on the back-end
      expect(killJobProcesses(job.jobId, be.id).length).toBeGreaterThan(0);
      await waitForJob(job.jobId, 60000);
      // No trap ran: the scratch, the container and the marker are still there.
      expect(existsSync(onHost(be, user, scratch))).toBe(true);
      expect(markersIn(homeThere(be, user), job)).toEqual([job.jobId]);
      let said: string;
      if (how === 'gc') {
        const gc = treJobAs(user, ['gc', '--site', be.site]);
        expect(gc.status).toBe(0);
        said = gc.stdout;
      } else {
        const log = `/tmp/tre-e2e-backends-epilog-${job.jobId}.log`;
        cleanups.push(() => rmSync(log, { force: true }));
        const command = [
          `SLURM_JOB_ID=${shq(job.jobId)}`,
          `SLURM_JOB_USER=${shq(user)}`,
          `TRE_JOB_BIN=${shq(`${process.execPath} ${join(ROOT, 'bin', 'tre-job')}`)}`,
          `TRE_JOB_EPILOG_LOG=${shq(log)}`,
          'bash',
          shq(join(ROOT, 'contrib', 'slurm-epilog.sh')),
        ].join(' ');
        const epilog = inBackend(be.id, `env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin ${command}`);
        expect(epilog.status).toBe(0);
        said = readFileSync(log, 'utf8');
      }
      expect(said).toContain(`job ${job.jobId}: removed ${scratch}, container probe-${job.jobId}`);
      expect(existsSync(onHost(be, user, scratch))).toBe(false);
      expect(existsSync(join(onHost(be, user, outputs), 'probe-sleeping'))).toBe(true);
      expect(leftovers(job, number)).toEqual(NOTHING_LEFT);
    }
  });
});
