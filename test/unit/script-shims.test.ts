// The rendered scripts, run by bash with recording shims for podman and apptainer on PATH
// (test/fixtures/bin). Real Podman and Slurm are in test/e2e; Apptainer is only ever shimmed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDir, runBin, runCli, SHIM_BIN, writeYaml } from '../helpers';
import { HOSTILE, HOSTILE_ENV } from '../fixtures/hostile';
import { call, calls, ended, Fixture, fixture, outputs, render, runScript, scratches, SITE, start, TOKEN, until } from '../fixtures/shims';

const MY_GROUP = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();

function everyRecordedByte(f: Fixture, kinds: string[]): string {
  return readdirSync(f.log)
    .filter((x) => kinds.some((k) => x.endsWith(k)))
    .map((x) => readFileSync(join(f.log, x), 'utf8'))
    .join('\n');
}

// Services wait up to 10 s for their HTTP answer (two node servers start on a loaded machine).
jest.setTimeout(20000);
let f: Fixture;
beforeEach(() => (f = fixture()));
afterEach(() => f.remove());

describe('podman job script', () => {
  it('logs in from the credentials file, pulls, runs with the safe-haven mounts, and cleans up', async () => {
    mkdirSync(join(f.safeDataRoot, MY_GROUP));
    const script = render(f, { env: { GREETING: 'hello ${USER}', HOME_SEEN: '$HOME/x' }, args: ['-n', '${USER}'] });
    const result = await runScript(f, script);
    expect(result.status).toBe(0);

    const login = call(f, 'podman', 'login');
    expect(login.argv).toEqual(['login', '--authfile', join(f.jobDir, 'auth-42.json'), '--username', 'treuser', '--password-stdin', '--tls-verify=false', '127.0.0.1:5000']);
    expect(login.stdin).toBe(TOKEN);
    expect(call(f, 'podman', 'pull').argv).toEqual(['pull', '--quiet', '--authfile', join(f.jobDir, 'auth-42.json'), '--tls-verify=false', '127.0.0.1:5000/tre/probe:1.0']);

    const [number] = outputs(f).map((x) => x.slice('outputs-'.length));
    expect(number).toMatch(/^[0-9]{7}$/);
    const safe = join(f.safeDataRoot, MY_GROUP);
    expect(call(f, 'podman', 'run').argv).toEqual([
      'run', '--rm', '--init', '--pull=never', '--network=none', '--group-add', 'keep-groups',
      '--umask', `0${process.umask().toString(8).padStart(3, '0')}`,
      '--name', 'probe-42',
      '--volume', `${f.home}/outputs-${number}:/safe_outputs`,
      '--volume', `${f.home}/scratch-${number}:/scratch`,
      '--volume', `${safe}:${safe}`,
      '--env', 'GREETING=hello alice',
      '--env', `HOME_SEEN=${f.home}/x`,
      '127.0.0.1:5000/tre/probe:1.0',
      '-n', 'alice',
    ]);
    // The group-owned project dir needs crun's keep-groups, so the script asked podman.
    expect(calls(f)).toContain('podman info scratch=present');
    expect(readFileSync(join(f.home, `outputs-${number}`, 'from-container'), 'utf8')).toBe('done\n');
    expect(scratches(f)).toEqual([]);
    expect(listDir(f.jobDir)).toEqual(['job.sh', 'ledger', 'output.log']); // credentials and auth file are gone
    expect(result.output).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d tre-job INFO: Job 42 started on /m);
    expect(result.output).toContain('Container probe-42 is now running. Please wait until the container completes.');
  });

  it('never puts the token in the script, in any argv or in any environment', async () => {
    const script = render(f, {});
    expect(readFileSync(script, 'utf8')).not.toContain(TOKEN);
    expect((await runScript(f, script)).status).toBe(0);
    expect(everyRecordedByte(f, ['.argv', '.env'])).not.toContain(TOKEN);
  });

  it.each([0, 3, 125])('exits with the container exit status %i', async (code) => {
    const result = await runScript(f, render(f, {}), { SHIM_RUN_EXIT: String(code) });
    expect(result.status).toBe(code);
    expect(result.output).toContain(`Container exited with status ${code}`);
    expect(scratches(f)).toEqual([]);
    expect(outputs(f)).toHaveLength(1);
  });

  it('gives hostile strings to the container byte-exact and runs none of them', async () => {
    const pwned = join(f.root, 'pwned');
    const injections = [`$(touch ${pwned})`, `\`touch ${pwned}\``, `; touch ${pwned}`];
    const hostile = [...HOSTILE, ...injections];
    const hostileEnv = [...HOSTILE_ENV, ...injections];
    const env = Object.fromEntries(hostileEnv.map((value, i) => [`V${i}`, value]));
    const result = await runScript(f, render(f, { env, args: hostile }));
    expect(result.status).toBe(0);
    const run = call(f, 'podman', 'run');
    const image = run.argv.indexOf('127.0.0.1:5000/tre/probe:1.0');
    // ${...} forms that are not a plain ${NAME} stay literal; \\$ is an escaped $.
    const expected = hostile.map((s) => s.replace(/\\\$/g, '$'));
    expect(run.argv.slice(image + 1)).toEqual(expected);
    const envArgs = run.argv.filter((_, i) => run.argv[i - 1] === '--env');
    expect(envArgs).toEqual(hostileEnv.map((s, i) => `V${i}=${s.replace(/\\\$/g, '$')}`));
    expect(existsSync(pwned)).toBe(false);
  });

  it.each([
    ['TERM', 143, 'Job cancelled (SIGTERM)'],
    ['USR1', 124, 'Job is about to reach its time limit (SIGUSR1)'],
    ['INT', 130, 'Job interrupted (SIGINT)'],
  ] as const)('on SIG%s: removes scratch first, then kills and removes the container, keeps outputs, exits %i', async (signal, code, message) => {
    const child = start(f, render(f, {}), { SHIM_RUN_SLEEP: '30' });
    const done = ended(child);
    await until(() => existsSync(join(f.log, 'running')));
    child.kill(`SIG${signal}`);
    const result = await done;
    expect(result.status).toBe(code);
    expect(result.output).toContain(message);
    const after = calls(f).slice(calls(f).findIndex((c) => c.startsWith('podman run')) + 1);
    expect(after).toEqual(['podman kill scratch=none', 'podman rm scratch=none']);
    expect(call(f, 'podman', 'kill').argv).toEqual(['kill', '--signal', 'KILL', 'probe-42']);
    expect(call(f, 'podman', 'rm').argv).toEqual(['rm', '--force', '--time', '0', '--ignore', 'probe-42']);
    expect(scratches(f)).toEqual([]);
    expect(outputs(f)).toHaveLength(1);
    expect(listDir(f.jobDir)).toEqual(['job.sh', 'ledger', 'output.log']);
  });

  it('fails clearly when the pull fails, and cleans up', async () => {
    const result = await runScript(f, render(f, {}), { SHIM_PULL_EXIT: '125' });
    expect(result.status).toBe(1);
    expect(result.output).toContain('ERROR: Cannot pull 127.0.0.1:5000/tre/probe:1.0: the image or its tag is not in the registry (check the image URL)');
    expect(calls(f).some((c) => c.startsWith('podman run'))).toBe(false);
    expect(scratches(f)).toEqual([]);
    expect(listDir(f.jobDir)).toEqual(['job.sh', 'ledger', 'output.log']);
  });

  it('fails clearly when the login is refused, and deletes the credentials', async () => {
    const result = await runScript(f, render(f, {}), { SHIM_LOGIN_EXIT: '1' });
    expect(result.status).toBe(1);
    expect(result.output).toContain('ERROR: Cannot log in to 127.0.0.1:5000 as treuser: check the registry username and access token');
    expect(listDir(f.jobDir)).toEqual(['job.sh', 'ledger', 'output.log']);
  });

  it('reports a cancel, not a failed pull, when the signal killed the pull before the trap ran', async () => {
    const result = await runScript(f, render(f, {}), { SHIM_PULL_EXIT: '143' });
    expect(result.status).toBe(143);
    expect(result.output).toContain('ERROR: Job cancelled (SIGTERM): stopping the container and cleaning up');
    expect(result.output).toContain('Summary: exit status 143: cancelled (SIGTERM: scancel, or maintenance)');
    expect(result.output).not.toContain('Cannot pull');
  });

  it('refuses to start when a container with the given name already exists', async () => {
    const result = await runScript(f, render(f, { name: 'analysis' }), { SHIM_CONTAINER_EXISTS: '1' });
    expect(result.status).toBe(1);
    expect(result.output).toContain('ERROR: A container named analysis already exists');
    expect(calls(f).some((c) => c.startsWith('podman run'))).toBe(false);
  });

  it('refuses a group project directory when podman runs runc (it would drop the groups)', async () => {
    mkdirSync(join(f.safeDataRoot, MY_GROUP));
    const result = await runScript(f, render(f, {}), { SHIM_OCI_RUNTIME: 'runc' });
    expect(result.status).toBe(1);
    expect(result.output).toContain("ERROR: Podman's OCI runtime here is runc, which drops your groups");
  });

  it('prefers $HOME/safe_data over a project directory, and mounts it where asked', async () => {
    mkdirSync(join(f.safeDataRoot, MY_GROUP));
    mkdirSync(join(f.home, 'safe_data'));
    const result = await runScript(f, render(f, { safeDataMount: '/safe_data' }));
    expect(result.status).toBe(0);
    expect(call(f, 'podman', 'run').argv).toContain(`${f.home}/safe_data:/safe_data`);
    expect(calls(f).some((c) => c.startsWith('podman info'))).toBe(false);
  });

  it('warns (auto) or fails (required) when no project directory matches', async () => {
    const auto = await runScript(f, render(f, {}));
    expect(auto.status).toBe(0);
    expect(auto.output).toContain("WARNING: Cannot find a project directory corresponding to any of the user's groups");
    const required = await runScript(f, render(f, { safeData: 'required' }));
    expect(required.status).toBe(1);
    expect(required.output).toMatch(/tre-job ERROR: Cannot find a project directory corresponding to any of the user's groups\n/);
  });

  it('mounts no safe data with safeData: none', async () => {
    mkdirSync(join(f.safeDataRoot, MY_GROUP));
    expect((await runScript(f, render(f, { safeData: 'none' }))).status).toBe(0);
    expect(call(f, 'podman', 'run').argv.filter((a) => a.includes(f.safeDataRoot))).toEqual([]);
  });

  it('puts allowed runner arguments before the image and the site-forced ones after them', async () => {
    const script = render(f, { runnerArgs: ['-v', '${HOME}/in:/in:ro', '--workdir=/in', '--read-only=false'] }, { forcedRunnerArgs: { podman: ['--read-only'] }, forcedMounts: [{ source: '/opt/tools', target: '/tools' }] });
    expect((await runScript(f, script)).status).toBe(0);
    const argv = call(f, 'podman', 'run').argv;
    const image = argv.indexOf('127.0.0.1:5000/tre/probe:1.0');
    expect(argv.slice(image - 7, image)).toEqual(['-v', `${f.home}/in:/in:ro`, '--workdir=/in', '--read-only=false', '--read-only', '--volume', '/opt/tools:/tools:ro']);
  });

  it('asks Slurm for a GPU and passes the devices', async () => {
    const script = render(f, { gpu: true, cpus: 4, memoryGiB: 8, partition: 'gpu', time: '01:00:00' });
    const header = readFileSync(script, 'utf8').split('\n').filter((l) => l.startsWith('#SBATCH'));
    expect(header).toEqual([
      '#SBATCH --job-name=probe:1.0',
      `#SBATCH --output=${f.jobDir}/output.log`,
      '#SBATCH --time=01:00:00',
      '#SBATCH --signal=B:USR1@30',
      '#SBATCH --cpus-per-task=4',
      '#SBATCH --mem=8G',
      '#SBATCH --partition=gpu',
      '#SBATCH --gres=gpu:1',
    ]);
    expect((await runScript(f, script)).status).toBe(0);
    expect(call(f, 'podman', 'run').argv).toContain('nvidia.com/gpu=all');
  });
});

describe('the summary at the end of output.log', () => {
  const SUMMARY = /tre-job INFO: Summary: exit status (\d+): (.*)\n.*Summary: prologue ([0-9.]+ s|-), pull ([0-9.]+ s|-), run ([0-9.]+ s|-), clean-up ([0-9.]+ s|-)\n.*Summary: outputs (\S+)(?: \((\d+) files, (\d+) KiB, kept\))?\n.*Summary: clean-up removed (.*)\n/;

  it('gives the status, its meaning, the time of each phase, the outputs and what was removed', async () => {
    const result = await runScript(f, render(f, {}), { SHIM_RUN_EXIT: '3' });
    const [, status, reason, prologue, pull, run, cleanup, outputsDir, files, , removed] = SUMMARY.exec(result.output) ?? [];
    expect([status, reason]).toEqual(['3', "the container's own exit status"]);
    for (const span of [prologue, pull, run, cleanup]) expect(span).toMatch(/^\d+\.\d{3} s$/);
    expect(outputsDir).toBe(join(f.home, outputs(f)[0] as string));
    expect(files).toBe('1'); // the shim's from-container file
    expect(removed).toMatch(/^scratch-\d{7}$/);
    expect(result.output).toMatch(/Summary: clean-up removed .*\n.*tre-job INFO: Job finished with exit status 3\n$/);
  });

  it('says the job was cancelled, and what the clean-up removed, after SIGTERM', async () => {
    const child = start(f, render(f, {}), { SHIM_RUN_SLEEP: '30' });
    const done = ended(child);
    await until(() => existsSync(join(f.log, 'running')));
    child.kill('SIGTERM');
    const result = await done;
    const [, status, reason, , , run, , , , , removed] = SUMMARY.exec(result.output) ?? [];
    expect([status, reason]).toEqual(['143', 'cancelled (SIGTERM: scancel, or maintenance)']);
    expect(run).toMatch(/s$/);
    expect(removed).toMatch(/^scratch-\d{7}, container probe-42$/);
  });

  it('says what to do next when the pull fails, and shows the phases that did not run as -', async () => {
    const result = await runScript(f, render(f, {}), { SHIM_PULL_EXIT: '125' });
    const [, status, reason, , , run] = SUMMARY.exec(result.output) ?? [];
    expect(status).toBe('1');
    expect(reason).toContain('failed before the container ran: Cannot pull 127.0.0.1:5000/tre/probe:1.0');
    expect(run).toBe('-');
    expect(result.output).toContain('tre-job INFO: Summary: outputs none\n'); // the empty outputs dir was removed
    expect(result.output).toContain('tre-job INFO: Next: check that the image and tag exist in the registry');
  });

  it('adds one JSON line when the site asks for it', async () => {
    const result = await runScript(f, render(f, {}, { summaryJson: true }), { SHIM_RUN_EXIT: '2' });
    const line = result.output.split('\n').find((l) => l.startsWith('tre-job-summary '));
    const summary = JSON.parse((line as string).slice('tre-job-summary '.length));
    expect(summary).toMatchObject({ jobId: '42', exitStatus: 2, reason: "the container's own exit status", outputFiles: 1 });
    expect(summary.outputs).toBe(join(f.home, outputs(f)[0] as string));
    expect(Object.keys(summary.phasesSeconds)).toEqual(['prologue', 'pull', 'run', 'cleanup']);
  });
});

describe('the ledger and tre-job gc', () => {
  const ledger = () => readFileSync(join(f.jobDir, 'ledger'), 'utf8');
  const marker = () => join(f.home, '.tre-job', 'active', '42');
  const gc = (env: Record<string, string> = {}) =>
    runBin(['gc'], { env: { PATH: `${SHIM_BIN}:/usr/bin:/bin`, HOME: f.home, SHIM_LOG: f.log, ...env } });

  it('records what the job creates, and drops its marker once its own clean-up has run', async () => {
    expect((await runScript(f, render(f, {}))).status).toBe(0);
    const kinds = ledger().trim().split('\n').map((line) => line.split('\t')[0]);
    expect(kinds).toEqual(['job', 'runtime', 'credentials', 'authfile', 'scratch', 'container', 'done']);
    expect(ledger()).toContain(`credentials\t${f.jobDir}/credentials\n`);
    expect(existsSync(marker())).toBe(false);
    expect(gc().stdout).toBe('nothing to reclaim\n');
  });

  it('after SIGKILL (no trap), gc removes scratch, the container and the credentials, keeps outputs, and is idempotent', async () => {
    const child = start(f, render(f, { safeData: 'none' }), { SHIM_RUN_SLEEP: '30' });
    // 'exit', not 'close': the orphaned fake container still holds the output pipe.
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await until(() => existsSync(join(f.log, 'running')));
    writeFileSync(join(f.jobDir, 'credentials'), 'left over', { mode: 0o600 }); // as if killed before the pull
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(marker())).toBe(true);
    expect(scratches(f)).toHaveLength(1);

    const first = gc({ SHIM_CONTAINER_EXISTS: '1' });
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^job 42: removed ${f.jobDir}/credentials, ${f.home}/scratch-\\d{7}, container probe-42\n$`));
    expect(scratches(f)).toEqual([]);
    expect(outputs(f)).toHaveLength(1);
    expect(calls(f).filter((c) => /^podman (kill|rm) /.test(c))).toEqual(['podman kill scratch=none', 'podman rm scratch=none']);
    expect(existsSync(marker())).toBe(false);
    expect(gc().stdout).toBe('nothing to reclaim\n');
  });

  it('leaves a job that is still in the queue alone', async () => {
    const child = start(f, render(f, {}), { SHIM_RUN_SLEEP: '30' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await until(() => existsSync(join(f.log, 'running')));
    child.kill('SIGKILL');
    await exited;
    expect(gc({ SHIM_JOB_STATE: 'RUNNING' }).stdout).toBe('job 42: still running\n');
    expect(scratches(f)).toHaveLength(1);
    expect(runBin(['gc', '--job', '42'], { env: { PATH: `${SHIM_BIN}:/usr/bin:/bin`, HOME: f.home, SHIM_LOG: f.log, SHIM_JOB_STATE: 'COMPLETING' } }).stdout).toMatch(/^job 42: removed /);
    expect(scratches(f)).toEqual([]);
  });
});

describe('interactive services', () => {
  const connection = () => join(f.jobDir, 'connection.yml');
  const SERVICE_SITE = { servicePorts: { min: 41000, max: 41999 }, serviceTimeoutSeconds: 5 };

  it('picks a port, makes a password that is in no argv, waits for HTTP and writes connection.yml (0600)', async () => {
    const child = start(f, render(f, { service: 'jupyter', safeData: 'none' }, SERVICE_SITE), { SHIM_SERVICE: 'http' });
    const done = ended(child);
    await until(() => existsSync(connection()), 10000);
    const yml = readFileSync(connection(), 'utf8');
    const [, host, port, password] = /^host: (\S+)\nport: (\d+)\npassword: ([0-9a-f]{36})\nservice: jupyter\n$/.exec(yml) ?? [];
    expect(host).toBeTruthy();
    expect(Number(port)).toBeGreaterThanOrEqual(41000);
    expect(Number(port)).toBeLessThanOrEqual(41999);
    expect((statSync(connection()).mode & 0o777).toString(8)).toBe('600');
    const run = call(f, 'podman', 'run');
    expect(run.argv).toEqual(expect.arrayContaining(['--network=host', '--env', 'JUPYTER_TOKEN', '--env', 'TRE_PORT', '--volume', `${f.home}:${f.home}`]));
    expect(run.argv[run.argv.indexOf('127.0.0.1:5000/tre/probe:1.0') + 1]).toBe(port);
    expect(run.env).toContain(`JUPYTER_TOKEN=${password}`);
    expect(everyRecordedByte(f, ['.argv']) + readFileSync(join(f.jobDir, 'job.sh'), 'utf8')).not.toContain(password as string);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.status).toBe(143);
    expect(result.output).not.toContain(password as string);
    expect(existsSync(connection())).toBe(false);
    expect(scratches(f)).toEqual([]);
  });

  it('tries another port when the service ends before it answers (a lost race for the port)', async () => {
    const child = start(f, render(f, { service: 'http', safeData: 'none' }, SERVICE_SITE), { SHIM_SERVICE: 'race-then-http' });
    const done = ended(child);
    await until(() => existsSync(connection()), 10000);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.output).toMatch(/WARNING: The http service ended before it answered on port \d+, which another process holds; trying another port/);
    expect(result.output).toMatch(/Starting the http service on port \d+ \(attempt 2\)/);
    expect(calls(f).filter((c) => c.startsWith('podman run'))).toHaveLength(2);
    // Two node servers start (the port holder and the service): slow on a loaded machine.
  }, 20000);

  it('gives up after the timeout when the service never answers: non-zero, container removed, nothing left', async () => {
    const result = await runScript(f, render(f, { service: 'jupyter', safeData: 'none' }, SERVICE_SITE), { SHIM_SERVICE: 'never' });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/ERROR: The jupyter service started but did not answer HTTP on port \d+ within 5 s/);
    expect(calls(f).slice(-2)).toEqual(['podman kill scratch=none', 'podman rm scratch=none']);
    expect(existsSync(connection())).toBe(false);
    expect(scratches(f)).toEqual([]);
  }, 20000);

  it('rstudio: mounts its state dirs from $HOME/rstudio-tmp, created once and reused', async () => {
    const child = start(f, render(f, { service: 'rstudio', safeData: 'none' }, SERVICE_SITE), { SHIM_SERVICE: 'http' });
    const done = ended(child);
    await until(() => existsSync(connection()), 10000);
    child.kill('SIGTERM');
    await done;
    const argv = call(f, 'podman', 'run').argv;
    for (const [home, inside] of [['var/lib', '/var/lib/rstudio-server'], ['var/run', '/var/run/rstudio-server'], ['tmp', '/tmp']]) {
      expect(argv).toContain(`${f.home}/rstudio-tmp/${home}:${inside}`);
      expect(existsSync(join(f.home, 'rstudio-tmp', home as string))).toBe(true);
    }
    expect(call(f, 'podman', 'run').env.some((e) => /^RSTUDIO_PASSWORD=[0-9a-f]{36}$/.test(e))).toBe(true);
  });

  it('apptainer: the password and port reach the container as APPTAINERENV_*, the port as the first argument', async () => {
    const child = start(f, render(f, { service: 'jupyter', runtime: 'apptainer', safeData: 'none', args: ['--extra'] }, SERVICE_SITE), { SHIM_SERVICE: 'http' });
    const done = ended(child);
    await until(() => existsSync(connection()), 10000);
    const port = /port: (\d+)/.exec(readFileSync(connection(), 'utf8'))?.[1];
    child.kill('SIGTERM');
    expect((await done).status).toBe(143);
    const run = call(f, 'apptainer', 'run');
    expect(run.argv.slice(-2)).toEqual([port, '--extra']);
    expect(run.env.some((e) => /^APPTAINERENV_JUPYTER_TOKEN=[0-9a-f]{36}$/.test(e))).toBe(true);
  });
});

describe('apptainer job script', () => {
  const APPTAINER = { runtime: 'apptainer' };

  it('pulls to $HOME/NAME:TAG.sif with the token in the pull environment only, and runs with --no-eval', async () => {
    mkdirSync(join(f.safeDataRoot, MY_GROUP));
    const script = render(f, { ...APPTAINER, env: { A: 'x y', B: '${USER}', C: '$(id)' }, args: ['a b', '$(id)'], runnerArgs: ['--bind', '${HOME}/in:/in'] });
    const result = await runScript(f, script);
    expect(result.status).toBe(0);
    const sif = `${f.home}/probe:1.0.sif`;
    const pull = call(f, 'apptainer', 'pull');
    // Written beside its place, then renamed into it; no shared cache.
    expect(pull.argv).toEqual(['pull', '--force', '--disable-cache', '--no-https', `${sif}.part-42`, 'docker://127.0.0.1:5000/tre/probe:1.0']);
    expect(pull.env).toContain(`APPTAINER_TMPDIR=${f.home}/.tre-job/tmp/42`);
    expect(listDir(f.home).filter((x) => x.startsWith('probe:1.0.sif'))).toEqual(['probe:1.0.sif']);
    expect(pull.env).toContain(`APPTAINER_DOCKER_PASSWORD=${TOKEN}`);
    expect(pull.env).toContain('APPTAINER_DOCKER_USERNAME=treuser');
    const run = call(f, 'apptainer', 'run');
    const [number] = outputs(f).map((x) => x.slice('outputs-'.length));
    const safe = join(f.safeDataRoot, MY_GROUP);
    expect(run.argv).toEqual([
      'run', '--no-eval', '--cleanenv', '--contain', '--net', '--network', 'none',
      '--bind', `${f.home}/outputs-${number}:/safe_outputs`,
      '--bind', `${f.home}/scratch-${number}:/scratch`,
      '--bind', `${safe}:${safe}`,
      '--bind', `${f.home}/in:/in`,
      sif, 'a b', '$(id)',
    ]);
    expect(run.env).toEqual(expect.arrayContaining(['APPTAINERENV_A=x y', 'APPTAINERENV_B=alice', 'APPTAINERENV_C=$(id)']));
    expect(run.env.join('\n')).not.toContain(TOKEN);
    expect(run.argv.join('\n')).not.toContain(TOKEN);
    expect(scratches(f)).toEqual([]);
    expect(listDir(f.jobDir)).toEqual(['job.sh', 'ledger', 'output.log']);
    expect(listDir(join(f.home, '.tre-job', 'tmp'))).toEqual([]); // the job's APPTAINER_TMPDIR went with it
  });

  it('reuses an existing SIF with reuseSif, and pulls again (--force) without it', async () => {
    writeFileSync(join(f.home, 'probe:1.0.sif'), 'old');
    expect((await runScript(f, render(f, { ...APPTAINER, reuseSif: true }))).status).toBe(0);
    expect(calls(f).some((c) => c.startsWith('apptainer pull'))).toBe(false);
    expect(listDir(f.jobDir)).toEqual(['job.sh', 'ledger', 'output.log']);
    expect((await runScript(f, render(f, { ...APPTAINER }))).status).toBe(0);
    expect(call(f, 'apptainer', 'pull').argv[1]).toBe('--force');
  });

  it('on SIGTERM removes scratch, stops apptainer and exits 143', async () => {
    const child = start(f, render(f, APPTAINER), { SHIM_RUN_SLEEP: '30' });
    const done = ended(child);
    await until(() => existsSync(join(f.log, 'running')));
    const runPid = Number(readFileSync(join(f.log, 'run.pid'), 'utf8'));
    child.kill('SIGTERM');
    const result = await done;
    expect(result.status).toBe(143);
    expect(scratches(f)).toEqual([]);
    expect(outputs(f)).toHaveLength(1);
    expect(() => process.kill(runPid, 0)).toThrow();
  });

  it.each([0, 7])('exits with the container exit status %i', async (code) => {
    expect((await runScript(f, render(f, APPTAINER), { SHIM_RUN_EXIT: String(code) })).status).toBe(code);
  });

  it('the shim checks flags against the documented CLI: an unknown runner flag fails as Apptainer would', async () => {
    // tre-job refuses an unknown runner flag itself: a site-forced flag reaches the shim unchecked.
    const result = await runScript(f, render(f, APPTAINER, { forcedRunnerArgs: { podman: [], apptainer: ['--bogus-flag'] } }));
    expect(result.status).toBe(255);
    expect(result.output).toContain('FATAL:   unknown flag: --bogus-flag');
    expect(scratches(f)).toEqual([]);
  });
});

describe('a script rendered to stdout', () => {
  it('uses the directory sbatch ran in as its job directory', async () => {
    const specFile = writeYaml(f.root, 'spec.yaml', { image: '127.0.0.1:5000/tre/probe:1.0', registry: { username: 'treuser' } });
    const siteFile = writeYaml(f.root, 'site.yaml', SITE(f));
    const script = runCli(['render', specFile, '--site', siteFile]).stdout;
    expect(script).toContain('#SBATCH --output=output.log\n');
    mkdirSync(f.jobDir);
    writeFileSync(join(f.jobDir, 'job.sh'), script);
    writeFileSync(join(f.jobDir, 'credentials'), TOKEN, { mode: 0o600 });
    const result = await runScript(f, join(f.jobDir, 'job.sh'), { SLURM_SUBMIT_DIR: f.jobDir });
    expect(result.status).toBe(0);
    expect(call(f, 'podman', 'login').stdin).toBe(TOKEN);
    expect(listDir(f.jobDir)).toEqual(['job.sh', 'ledger']);
  });
});
