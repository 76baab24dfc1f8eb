// Apptainer jobs on the real stack with real Apptainer 1.4.5 (installed unprivileged by
// test/e2e/stack/setup.sh from Debian's sid archive into a private prefix): pull with the token
// in the pull's environment only, run with the safe-haven binds, values byte-exact, exit status,
// reuseSif, and scancel clean-up. The recording shim (test/fixtures/bin/apptainer) is left for
// what cannot run here (GPU flags), in the unit tests.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { BIN, ROOT } from '../helpers';
import { expandModel, hostileArbitraries } from '../fixtures/hostile';
import { describeE2E, homeOf, jobInfo, readNulList, readToken, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, homeDirs, killJobProcesses, probeSpec, processesOf, processesOfUid, removeSpecs, submitAs, treJobAs, until, waitUntilSleeping } from './lib/tre';

jest.setTimeout(180000);

const gidOf = (group: string) => Number(readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`))?.split(':')[2]);

/** The registry's digest of IMAGE (HOST/PATH:TAG), asked with the test token as a client would. */
async function registryDigest(stack: StackEnv, image: string): Promise<string> {
  const [, host, path, tag] = /^([^/]+)\/(.+):([^:/]+)$/.exec(image) ?? [];
  const auth = Buffer.from(`${stack.registryUser}:${readToken(stack)}`).toString('base64');
  const reply = await fetch(`http://${host}/v2/${path}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Authorization: `Basic ${auth}`, Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  const digest = reply.headers.get('docker-content-digest');
  if (!reply.ok || !digest) throw new Error(`registry HEAD ${image}: ${reply.status}, no digest`);
  return digest;
}

describeE2E('apptainer jobs with real Apptainer on the real stack', () => {
  let stack: StackEnv;
  const sif = () => join(homeOf('alice'), 'probe:1.0.sif');
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    rmSync(sif(), { force: true });
  });
  afterAll(removeSpecs);

  it('is real Apptainer 1.4.5, run by the user', () => {
    expect(runAs('alice', 'apptainer --version').stdout.trim()).toBe('apptainer version 1.4.5');
  });

  it('pulls to $HOME/NAME:TAG.sif, runs with the binds, gives env and args byte-exact, writes safe data with the project group, cleans up', async () => {
    const token = readToken(stack);
    const env = { A: 'x y', WHO: '${USER}', LIT: '$(id)', Q: `it's "q" \\$HOME`, PROBE_SAFE_DATA: '/safe_data/demo', PROBE_TAG: 'appt-${SLURM_JOB_ID}' };
    const args = ['a b', '$(id)', '${HOME}', '', '*', 'line1\nline2'];
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', env, args }));
    const { job, log, outputs } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    expect(log).toContain(`Pulling docker://${stack.probeImage} to ${sif()}`);
    expect(log).toContain(`Container ${sif()} is now running.`);
    expect(statSync(sif()).size).toBeGreaterThan(0);
    expect(readNulList(join(outputs, 'probe', 'argv'))).toEqual(['a b', '$(id)', homeOf('alice'), '', '*', 'line1\nline2']);
    const seen = readNulList(join(outputs, 'probe', 'env'));
    expect(seen).toEqual(expect.arrayContaining(['A=x y', 'WHO=alice', 'LIT=$(id)', `Q=it's "q" $HOME`]));
    expect(seen.join('\n')).not.toContain(token);
    // Apptainer keeps the user's uid; the project group shows as nogroup inside, and still works.
    expect(readFileSync(join(outputs, 'probe', 'id.txt'), 'utf8')).toMatch(/^uid=\d+\(alice\)/);
    const written = join('/safe_data/demo', `probe-wrote-appt-${submitted.jobId}`);
    expect(statSync(written).gid).toBe(gidOf('tre-demo'));
    rmSync(written);
    expect(existsSync(join(outputs, 'probe-wrote'))).toBe(true);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log', 'spec.yaml']);
    // The token went to the pull's environment only: no registry login file anywhere.
    expect(existsSync(join(homeOf('alice'), '.docker', 'config.json'))).toBe(false);
    expect(runAs('alice', `grep -rlF ${JSON.stringify(token)} ~/.apptainer ~/tre-jobs 2>/dev/null || true`).stdout).toBe('');
  });

  it('reuses the SIF with reuseSif (no pull, credentials still deleted) and exits with the container status', async () => {
    expect(existsSync(sif())).toBe(true);
    const before = statSync(sif()).mtimeMs;
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', reuseSif: true, safeData: 'none', env: { PROBE_EXIT: '7' } }));
    const { job, log } = await finished(submitted);
    expect(job.exitCode).toBe(7);
    expect(log).toContain(`Reusing ${sif()} (reuseSif)`);
    expect(log).not.toContain('Pulling');
    expect(log).toContain("Summary: exit status 7: the container's own exit status");
    expect(statSync(sif()).mtimeMs).toBe(before);
    expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log', 'spec.yaml']);
  });

  it.each(['podman', 'apptainer'])('a %s job of an image pinned by tag and digest runs exactly that image; a wrong digest fails the pull with what to do', async (runtime) => {
    const digest = await registryDigest(stack, stack.probeImage);
    const pinned = `${stack.probeImage}@${digest}`;
    const ok = await finished(submitAs('alice', stack, probeSpec(stack, { runtime, image: pinned, safeData: 'none' })));
    expect(ok.log).not.toContain('ERROR');
    expect(ok.job.exitCode).toBe(0);
    const wrongDigest = `sha256:${'0'.repeat(64)}`;
    const wrong = await finished(submitAs('alice', stack, probeSpec(stack, { runtime, image: `${stack.probeImage}@${wrongDigest}`, safeData: 'none' })));
    expect(wrong.job.exitCode).toBe(1);
    expect(wrong.log).toContain(`ERROR: Cannot pull ${stack.probeImage}@${wrongDigest}: the image or its tag is not in the registry`);
    expect(homeDirs('alice').scratch).toEqual([]);
  });

  it('mounts $HOME/safe_data rather than the project directory when it exists (bob): readable and writable inside', async () => {
    const submitted = submitAs('bob', stack, probeSpec(stack, { runtime: 'apptainer', env: { PROBE_SAFE_DATA: '${HOME}/safe_data', PROBE_TAG: 'bob-appt-${SLURM_JOB_ID}' } }));
    const { job, log } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    expect(log).toContain(`Safe data: ${homeOf('bob')}/safe_data (mounted at ${homeOf('bob')}/safe_data)`);
    const written = join(homeOf('bob'), 'safe_data', `probe-wrote-bob-appt-${submitted.jobId}`);
    expect(existsSync(written)).toBe(true);
    rmSync(written);
    expect(existsSync(join('/safe_data/demo', `probe-wrote-bob-appt-${submitted.jobId}`))).toBe(false);
    rmSync(join(homeOf('bob'), 'probe:1.0.sif'), { force: true });
  });

  it('reuseSif with a digest-pinned image reuses only a SIF Apptainer recorded as pulled by that digest', async () => {
    const digest = await registryDigest(stack, stack.probeImage);
    const pinnedBy = `${stack.probeImage.replace(/:[^:/]+$/, '')}@${digest}`;
    // Make the SIF one pulled by tag (as earlier jobs here did): a pinned job must not run it.
    const byTag = await finished(submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', safeData: 'none' })));
    expect(byTag.job.exitCode).toBe(0);
    const spec = probeSpec(stack, { runtime: 'apptainer', image: `${stack.probeImage}@${digest}`, reuseSif: true, safeData: 'none' });
    const first = await finished(submitAs('alice', stack, spec));
    expect(first.job.exitCode).toBe(0);
    expect(first.log).toContain(`Not reusing ${sif()}: it was not pulled as ${pinnedBy}`);
    expect(first.log).toContain(`Pulling docker://${pinnedBy} to ${sif()}`);
    expect(runAs('alice', `apptainer inspect --deffile ${sif()}`).stdout).toContain(`from: ${pinnedBy}\n`);
    const second = await finished(submitAs('alice', stack, spec));
    expect(second.job.exitCode).toBe(0);
    expect(second.log).toContain(`Reusing ${sif()} (reuseSif; it was pulled as ${pinnedBy})`);
    expect(second.log).not.toContain('Pulling');
  });

  it.each(['podman', 'apptainer'])("a %s batch container has no network and none of the host's environment", async (runtime) => {
    // /proc/self/net/dev_snmp6 lists the interfaces of the reader's network namespace.
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime, reuseSif: runtime === 'apptainer', safeData: 'none', env: { PROBE_LS: '/proc/self/net/dev_snmp6' } }));
    const { job, log, outputs } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    const listing = log.slice(log.indexOf('probe: ls -la /proc/self/net/dev_snmp6'), log.indexOf('probe: argc='));
    expect(listing).toMatch(/ lo\n/);
    expect(listing).not.toMatch(/ eth0\n/);
    const names = readNulList(join(outputs, 'probe', 'env')).map((e) => e.slice(0, e.indexOf('=')));
    // The job's own variables (Slurm's, the login's) stay on the back-end, as under Podman.
    expect(names.filter((n) => /^(SLURM_|USER_PATH$|MAIL$|SHELL$|LOGNAME$|OLDPWD$)/.test(n))).toEqual([]);
  });

  it.each(['tre-job gc', 'the Slurm Epilog'])("without FUSE the image is unpacked into the job's own APPTAINER_TMPDIR; after kill -9, %s removes it with scratch", async (by) => {
    const fuse = existsSync('/dev/fuse'); // a host without it is already the case under test
    if (fuse) chmodSync('/dev/fuse', 0o600); // a host where users cannot mount FUSE
    try {
      const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', reuseSif: true, safeData: 'none', env: { PROBE_SLEEP: '600' } }));
      const outputs = await waitUntilSleeping(submitted);
      const tmp = join(homeOf('alice'), '.tre-job', 'tmp', submitted.jobId);
      expect(readdirSync(tmp).length).toBeGreaterThan(0); // the unpacked image
      expect(killJobProcesses(submitted.jobId).length).toBeGreaterThan(0);
      await finished(submitted);
      expect(existsSync(tmp)).toBe(true); // no trap ran
      let said: string;
      if (by === 'tre-job gc') {
        said = treJobAs('alice', ['gc', '--site', stack.site]).stdout;
      } else {
        // As slurmd runs it: as root, with the job's id and user in the environment.
        const epilogLog = `/tmp/tre-e2e-epilog-apptainer-${submitted.jobId}.log`;
        spawnSync('bash', [join(ROOT, 'contrib', 'slurm-epilog.sh')], {
          env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', SLURM_JOB_ID: submitted.jobId, SLURM_JOB_USER: 'alice', TRE_JOB_BIN: `node ${BIN}`, TRE_JOB_EPILOG_LOG: epilogLog },
        });
        said = readFileSync(epilogLog, 'utf8');
      }
      expect(said).toMatch(new RegExp(`job ${submitted.jobId}: removed .*scratch-\\d{7}.*${tmp}`));
      expect(existsSync(tmp)).toBe(false);
      expect(homeDirs('alice').scratch).toEqual([]);
      expect(processesOf('alice', 'probe:1.0.sif')).toEqual([]);
      expect(existsSync(join(outputs, 'probe-sleeping'))).toBe(true);
    } finally {
      if (fuse) chmodSync('/dev/fuse', 0o666);
    }
  });

  it('gives a few hundred generated hostile strings to a real Apptainer container byte-exact, in env and args, and runs none', async () => {
    const canary = '/tmp/tre-e2e-canary-apptainer';
    rmSync(canary, { force: true });
    const seed = Number(process.env.TRE_PROPERTY_SEED ?? Date.now() % 2147483647);
    console.log(`apptainer hostile batch seed ${seed} (TRE_PROPERTY_SEED=${seed} repeats it)`);
    const values = fc.sample(hostileArbitraries(canary).shellish, { numRuns: 300, seed }).filter((v) => !v.includes('\r\n'));
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', reuseSif: true, safeData: 'none', env: values.map((v, i) => `G${i}=${v}`), args: values }));
    const { job, outputs } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    const env = { HOME: homeOf('alice'), USER: 'alice', SLURM_JOB_ID: submitted.jobId };
    expect(readNulList(join(outputs, 'probe', 'argv'))).toEqual(values.map((v) => expandModel(v, env)));
    const seen = new Map(readNulList(join(outputs, 'probe', 'env-exec')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    values.forEach((v, i) => expect([i, seen.get(`G${i}`)]).toEqual([i, expandModel(v, env)]));
    expect(existsSync(canary)).toBe(false);
  });

  it('a wrong token and a missing tag fail the pull with what to do, and leave nothing', async () => {
    const wrong = await finished(submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', safeData: 'none' }), { token: 'wrong-token' }));
    expect(wrong.job.exitCode).toBe(1);
    expect(wrong.log).toContain(`ERROR: Cannot pull ${stack.probeImage}: the registry refused access`);
    expect(wrong.log).toContain(`Next: create a new read-only access token for ${stack.registry}`);
    const tag = stack.probeImage.replace(/:[^:]+$/, ':no-such-tag');
    const missing = await finished(submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', safeData: 'none', image: tag })));
    expect(missing.job.exitCode).toBe(1);
    expect(missing.log).toContain(`ERROR: Cannot pull ${tag}: the image or its tag is not in the registry`);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(readdirSync(homeOf('alice')).filter((f) => f.includes('.sif.part-'))).toEqual([]);
    expect(readdirSync(join(homeOf('alice'), '.tre-job', 'tmp'))).toEqual([]);
  });

  it('Jupyter under Apptainer (the service\'s own runtime): the password logs in, a saved notebook stays in the home, scancel cleans up', async () => {
    const image = stack.vars.TRE_TEST_JUPYTER_IMAGE as string;
    const submitted = submitAs('alice', stack, probeSpec(stack, { image, runtime: 'apptainer', service: 'jupyter', safeData: 'none', env: ['TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/'] }));
    const file = join(submitted.jobDir, 'connection.yml');
    await until(() => existsSync(file) || !/PENDING|RUNNING|CONFIGURING/.test(jobInfo(submitted.jobId)?.state ?? ''), 240000, 'connection.yml', 200);
    const log = () => readFileSync(submitted.outputLog, 'utf8');
    if (!existsSync(file)) throw new Error(`no connection.yml; log:\n${log()}`);
    const c = Object.fromEntries(readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(': ') as [string, string]));
    const base = `http://127.0.0.1:${c.port}/node/${c.host}/${c.port}`;
    expect(log()).toContain(`The jupyter service is ready at http://${c.host}:${c.port}/node/${c.host}/${c.port}/ `);
    expect((await fetch(`${base}/tree`, { redirect: 'manual' })).status).toBe(302);
    expect((await fetch(`${base}/tree?token=${c.password}`, { redirect: 'manual' })).status).toBe(200);
    const saved = `tre-saved-apptainer-${submitted.jobId}.ipynb`;
    const put = await fetch(`${base}/api/contents/${saved}`, {
      method: 'PUT',
      headers: { authorization: `token ${c.password}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'notebook', content: { cells: [], metadata: {}, nbformat: 4, nbformat_minor: 4 } }),
    });
    expect(put.status).toBe(201);
    const uid = runAs('alice', 'id -u').stdout.trim();
    expect(processesOfUid(uid, c.password as string)).toEqual([]);
    expect(runAs('alice', `scancel ${submitted.jobId}`).status).toBe(0);
    const { log: ended } = await finished(submitted);
    expect(ended).toContain('Summary: exit status 143: cancelled');
    expect(existsSync(join(homeOf('alice'), saved))).toBe(true);
    rmSync(join(homeOf('alice'), saved));
    expect(existsSync(file)).toBe(false);
    await until(() => processesOf('alice', 'jupyter').length === 0, 10000, 'the Jupyter processes to end', 50);
    expect(homeDirs('alice').scratch).toEqual([]);
  });

  it('RStudio template (stand-in image) under Apptainer: password check, state dirs in $HOME/rstudio-tmp', async () => {
    const image = stack.vars.TRE_TEST_HTTP_IMAGE as string;
    const submitted = submitAs('alice', stack, probeSpec(stack, { image, runtime: 'apptainer', service: 'rstudio', safeData: 'none' }));
    const file = join(submitted.jobDir, 'connection.yml');
    await until(() => existsSync(file) || !/PENDING|RUNNING|CONFIGURING/.test(jobInfo(submitted.jobId)?.state ?? ''), 120000, 'connection.yml', 200);
    if (!existsSync(file)) throw new Error(`no connection.yml; log:\n${readFileSync(submitted.outputLog, 'utf8')}`);
    const c = Object.fromEntries(readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(': ') as [string, string]));
    const base = `http://127.0.0.1:${c.port}`;
    expect((await fetch(`${base}/`)).status).toBe(401);
    const state = await fetch(`${base}/state.txt`, { headers: { authorization: `Basic ${Buffer.from(`tre:${c.password}`).toString('base64')}` } });
    expect(state.status).toBe(200);
    expect(await state.text()).toMatch(/\/var\/lib\/rstudio-server .*written/);
    runAs('alice', `scancel ${submitted.jobId}`);
    await finished(submitted);
    expect(existsSync(join(homeOf('alice'), 'rstudio-tmp', 'var', 'lib', 'last-start'))).toBe(true);
    expect(homeDirs('alice').scratch).toEqual([]);
  });

  it('time limit: USR1 before the limit stops the container and cleans up, exit 124, outputs kept', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', reuseSif: true, safeData: 'none', time: '00:01:00', env: { PROBE_SLEEP: '600' } }));
    const outputs = await waitUntilSleeping(submitted);
    const { job, log } = await finished(submitted, 180000);
    expect(log).toContain('tre-job ERROR: Job is about to reach its time limit (SIGUSR1): stopping the container and cleaning up');
    expect(log).toContain('tre-job INFO: Summary: exit status 124: stopped at its time limit');
    expect(job.exitCode).toBe(124);
    await until(() => processesOf('alice', 'probe:1.0.sif').length === 0, 10000, 'the apptainer processes to end', 50);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(existsSync(join(outputs, 'probe-sleeping'))).toBe(true);
    expect(existsSync(join(homeOf('alice'), '.tre-job', 'tmp', submitted.jobId))).toBe(false);
  });

  it('several jobs pulling one image at once: one pull at a time, every job runs, the SIF is whole, no partial file is left', async () => {
    rmSync(sif(), { force: true });
    const jobs = [0, 1].map(() => submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', safeData: 'none' })));
    const results = await Promise.all(jobs.map((j) => finished(j)));
    expect(results.map((r) => r.job.exitCode)).toEqual([0, 0]);
    // Each pulled in turn (the lock), so neither saw the other's half-written SIF.
    for (const r of results) expect(r.log).toContain(`Pulling docker://${stack.probeImage} to ${sif()}`);
    expect(readdirSync(homeOf('alice')).filter((f) => f.includes('.sif.part-'))).toEqual([]);
    expect(runAs('alice', `apptainer -s inspect ${sif()}`).status).toBe(0);
  });

  it('scancel: the container processes and scratch are gone, outputs kept, exit 143', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', reuseSif: true, safeData: 'none', env: { PROBE_SLEEP: '600' } }));
    const outputs = await waitUntilSleeping(submitted);
    expect(processesOf('alice', 'probe:1.0.sif').length).toBeGreaterThan(0);
    expect(runAs('alice', `scancel ${submitted.jobId}`).status).toBe(0);
    const { log } = await finished(submitted);
    expect(log).toContain('Summary: exit status 143: cancelled');
    // Slurm's TERM reaches squashfuse too, and Apptainer then dies of SIGBUS: bash's report of
    // that (with tre_launch's source text and the spec's values) is not logged.
    expect(log).not.toMatch(/Bus error|Killed|APPTAINERENV_|exec "\$tre_runtime"/);
    await until(() => processesOf('alice', 'probe:1.0.sif').length === 0, 10000, 'the apptainer processes to end', 50);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(existsSync(join(outputs, 'probe-sleeping'))).toBe(true);
  });
});
