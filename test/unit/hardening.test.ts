// The hardening change (after 2029db1): reserved service env names, warnings for back-end
// expansion and short time limits, usage on no command, the job-side mount check, the summary,
// private and removed-when-empty outputs, registry error messages, service base URL and exit,
// and exit statuses of jobs that did not complete.
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDir, runBin, runCliUnchecked, SHIM_BIN } from '../helpers';
import { call, calls, ended, Fixture, fixture, IMAGE, outputs, render, runScript, scratches, siteFile, specFile, start, TOKEN, until } from '../fixtures/shims';
import { jobStatus } from '../../src/jobs';
import type { JobRecord } from '../../src/record';
import { parseJobLine, shellStatus } from '../../src/slurm/scontrol';

const runs = (f: Fixture, name = 'podman') => calls(f).filter((c) => c.startsWith(`${name} run `));
const modeBits = (path: string) => statSync(path).mode & 0o777;
/** The messages of the log's lines at LEVEL. */
const lines = (output: string, level: string) => output.split('\n').filter((l) => l.includes(` tre-job ${level}: `)).map((l) => l.slice(l.indexOf(`${level}: `) + level.length + 2));

// Services wait up to 10 s for their HTTP answer (two node servers start on a loaded machine).
jest.setTimeout(20000);
let f: Fixture;
beforeEach(() => (f = fixture()));
afterEach(() => f.remove());

describe('1. env names a service sets are reserved', () => {
  const reserved = (kind: string, password: string) => `is set by tre-job for a ${kind} service (reserved: ${password}, TRE_PORT, HOME)`;

  it.each([
    ['a map', { JUPYTER_TOKEN: 'abc' }, 'env.JUPYTER_TOKEN: JUPYTER_TOKEN ', 6],
    ['a list', ['TRE_PORT=1'], 'env.0: TRE_PORT ', 6],
    ['a map (HOME)', { HOME: '/x' }, 'env.HOME: HOME ', 6],
  ])('validate and render refuse them for jupyter, written as %s; a batch job may set them', (_form, env, start, line) => {
    const site = siteFile(f);
    for (const command of ['validate', 'render']) {
      const result = runCliUnchecked([command, specFile(f, { service: 'jupyter', env }), '--site', site]);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`tre-job: ${start}${reserved('jupyter', 'JUPYTER_TOKEN')} (line ${line})\n`);
      const batch = runCliUnchecked([command, specFile(f, { env }), '--site', site]);
      expect([batch.status, batch.stderr]).toEqual([0, '']);
    }
  });

  it('names the list entry by its index', () => {
    const result = runCliUnchecked(['validate', specFile(f, { service: 'jupyter', env: ['OK=1', 'JUPYTER_TOKEN=abc'] }), '--site', siteFile(f)]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`tre-job: env.1: JUPYTER_TOKEN ${reserved('jupyter', 'JUPYTER_TOKEN')} (line 7)\n`);
  });

  it.each([
    ['rstudio', 'RSTUDIO_PASSWORD'],
    ['http', 'TRE_PASSWORD'],
  ])('%s reserves %s', (kind, password) => {
    const result = runCliUnchecked(['validate', specFile(f, { service: kind, env: { [password]: 'abc' } }), '--site', siteFile(f)]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^tre-job: env\\.${password}: ${password} is set by tre-job for a ${kind} service \\(reserved: ${password}, TRE_PORT, HOME\\) \\(line [0-9]+\\)\n$`));
    // jupyter's password name is no reserved name for another service
    expect(runCliUnchecked(['validate', specFile(f, { service: kind, env: { JUPYTER_TOKEN: 'abc' } }), '--site', siteFile(f)]).status).toBe(0);
  });
});

describe('2. warnings for ${NAME} that expands on the back-end', () => {
  const WARNING = "tre-job: warning: args.2: ${INPUT} expands on the back-end before the container starts, where INPUT (set in env) is not set; write \\$INPUT if the container's shell should expand it\n";
  const validate = (spec: Record<string, unknown>) => runCliUnchecked(['validate', specFile(f, spec), '--site', siteFile(f)]);

  it('validate warns once on stderr and still says ok; not for an escaped \\$INPUT, nor for PATH=${PATH}:/x', () => {
    const result = validate({ env: ['INPUT=/safe_data/x'], args: ['sh', '-c', 'cat $INPUT'] });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/: ok \(podman, 127\.0\.0\.1:5000\/tre\/probe:1\.0, time \S+\)\n$/);
    expect(result.stderr).toBe(WARNING);
    const literal = validate({ env: ['INPUT=/safe_data/x'], args: ['sh', '-c', 'cat \\$INPUT'] });
    expect([literal.status, literal.stderr]).toEqual([0, '']);
    const self = validate({ env: ['PATH=${PATH}:/x'], args: ['sh', '-c', 'echo \\$PATH'] });
    expect([self.status, self.stderr]).toEqual([0, '']);
  });

  it('warns for an env value that uses another env name (env.N in a list, env.NAME in a map)', () => {
    const list = validate({ env: ['A=1', 'B=${A}'] });
    expect(list.status).toBe(0);
    expect(list.stderr).toBe("tre-job: warning: env.1: ${A} expands on the back-end before the container starts, where A (set in env) is not set; write \\$A if the container's shell should expand it\n");
    const map = validate({ env: { A: '1', B: '${A}' } });
    expect(map.stderr).toBe("tre-job: warning: env.B: ${A} expands on the back-end before the container starts, where A (set in env) is not set; write \\$A if the container's shell should expand it\n");
  });

  it('render and submit --dry-run print the same warning', () => {
    const spec = specFile(f, { env: ['INPUT=/safe_data/x'], args: ['sh', '-c', 'cat $INPUT'] });
    const tokenFile = join(f.root, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const rendered = runCliUnchecked(['render', spec, '--site', siteFile(f)]);
    expect(rendered.status).toBe(0);
    expect(rendered.stdout).toMatch(/^#!/);
    expect(rendered.stderr).toBe(WARNING);
    const dry = runCliUnchecked(['submit', spec, '--site', siteFile(f), '--job-dir', f.jobDir, '--token-file', tokenFile, '--dry-run']);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toBe(`'sbatch' '--parsable' '${f.jobDir}/job.sh'\n`);
    expect(dry.stderr).toBe(WARNING);
  });
});

describe('3. the time limit and signalGraceSeconds', () => {
  it('validate warns when the grace leaves the container no time, not when it leaves enough', () => {
    const site = siteFile(f, { signalGraceSeconds: 60 });
    const short = runCliUnchecked(['validate', specFile(f, { time: '00:01:00' }), '--site', site]);
    expect(short.status).toBe(0);
    expect(short.stderr).toBe("tre-job: warning: time: the job starts cleaning up 60 s before its limit (the site's signalGraceSeconds), so 00:01:00 leaves the container about 0 s\n");
    const enough = runCliUnchecked(['validate', specFile(f, { time: '00:10:00' }), '--site', site]);
    expect([enough.status, enough.stderr]).toEqual([0, '']);
  });

  it('the job log says when clean-up starts', async () => {
    const result = await runScript(f, render(f, { time: '00:10:00', safeData: 'none' }));
    expect(result.status).toBe(0);
    expect(result.output).toContain('tre-job INFO: Time limit 00:10:00: clean-up starts 30 s before it (sbatch --signal)');
  });
});

describe('4. no command', () => {
  it('prints the usage on stderr and exits 2', () => {
    const result = runBin([]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.startsWith('Usage: tre-job [options] [command]')).toBe(true);
    expect(result.stderr).not.toContain('(outputHelp)');
  });
});

describe('5. the job checks mount sources again with symlinks resolved', () => {
  it('podman: a directory of your own is mounted; a symlink to / is refused before anything is mounted, and nothing is left', async () => {
    mkdirSync(join(f.home, 'data'));
    const good = await runScript(f, render(f, { safeData: 'none', runnerArgs: ['-v', '${HOME}/data:/data'] }));
    expect(good.status).toBe(0);
    expect(lines(good.output, 'ERROR')).toEqual([]);
    expect(call(f, 'podman', 'run').argv).toContain(`${f.home}/data:/data`);
    f.remove();
    f = fixture();
    symlinkSync('/', join(f.home, 'sysroot'));
    const result = await runScript(f, render(f, { safeData: 'none', runnerArgs: ['-v', '${HOME}/sysroot:/host'] }));
    expect(result.status).toBe(1);
    expect(lines(result.output, 'ERROR')).toEqual([`runnerArgs.0: the mount source ${f.home}/sysroot is /, which cannot be mounted: nothing was mounted`]);
    expect(runs(f)).toEqual([]);
    expect(scratches(f)).toEqual([]);
    expect(outputs(f)).toEqual([]);
  });

  it('apptainer: a symlink into /etc is refused', async () => {
    symlinkSync('/etc', join(f.home, 'etclink'));
    const result = await runScript(f, render(f, { runtime: 'apptainer', safeData: 'none', runnerArgs: ['-B', '${HOME}/etclink/ssl:/x'] }));
    expect(result.status).toBe(1);
    expect(lines(result.output, 'ERROR')).toEqual([`runnerArgs.0: the mount source ${f.home}/etclink/ssl resolves to /etc/ssl, under /etc, which cannot be mounted: nothing was mounted`]);
    expect(runs(f, 'apptainer')).toEqual([]);
    expect(scratches(f)).toEqual([]);
    expect(outputs(f)).toEqual([]);
  });
});

describe('6. the summary of a job that failed in the prologue', () => {
  it('gives the prologue its time, and lists the removed empty outputs', async () => {
    const result = await runScript(f, render(f, { safeData: 'required' }));
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/tre-job INFO: Summary: exit status 1: failed before the container ran: Cannot find a project directory/);
    expect(result.output).toMatch(/tre-job INFO: Summary: prologue \d+\.\d{3} s, pull -, run -, clean-up \d+\.\d{3} s\n/);
    expect(result.output).toMatch(/tre-job INFO: Summary: clean-up removed scratch-\d{7}, outputs-\d{7} \(empty\)\n/);
    expect(result.output).toContain('the container never ran and it was empty');
    expect(outputs(f)).toEqual([]);
  });
});

describe('7. outputs: removed when empty and unused, private otherwise', () => {
  it('a failed pull leaves no outputs directory; a container that ran keeps it', async () => {
    const failed = await runScript(f, render(f, { safeData: 'none' }), { SHIM_PULL_EXIT: '125' });
    expect(failed.status).toBe(1);
    expect(outputs(f)).toEqual([]);
    expect(failed.output).toMatch(/tre-job INFO: Removed \S+\/outputs-\d{7}: the container never ran and it was empty\n/);
    f.remove();
    f = fixture();
    const ran = await runScript(f, render(f, { safeData: 'none' }), { SHIM_RUN_EXIT: '3' });
    expect(ran.status).toBe(3);
    expect(outputs(f)).toHaveLength(1);
    expect(ran.output).not.toContain('the container never ran');
  });

  it.each([
    ['the default umask', undefined],
    ['umask 000', '000'],
    ['umask 022', '022'],
  ])('outputs, job dir and ledger are private when started under %s; the container keeps that umask', async (_label, umask) => {
    const result = await runScript(f, render(f, { safeData: 'none' }), {}, umask);
    expect(result.status).toBe(0);
    const [dir] = outputs(f);
    const out = join(f.home, dir as string);
    expect(listDir(out)).toEqual(['from-container']);
    for (const path of [out, join(out, 'from-container'), f.jobDir, join(f.jobDir, 'ledger')]) expect([path, modeBits(path) & 0o077]).toEqual([path, 0]);
    const argv = call(f, 'podman', 'run').argv;
    const expected = umask === undefined ? `0${process.umask().toString(8).padStart(3, '0')}` : `0${umask}`;
    expect(argv[argv.indexOf('--umask') + 1]).toBe(expected);
  });
});

describe('7b. a cancel while the workspace is being made', () => {
  it.each(['outputs', 'scratch'])('TERM as mkdir of %s-N returns (Slurm signals mkdir too): nothing is left, outputs or scratch', async (which) => {
    // A mkdir that makes its directory and then gets the cancel: the job shell has TERM pending
    // when mkdir returns (as when Slurm signals every process of the job).
    const bin = join(f.root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'mkdir'), `#!/bin/bash\n/bin/mkdir "$@" || exit\ncase "$*" in *${which}-*) kill -TERM "$PPID"; exit 143 ;; esac\n`, { mode: 0o755 });
    const r = await runScript(f, render(f, { safeData: 'none' }), { PATH: `${bin}:${SHIM_BIN}:/usr/bin:/bin` });
    expect(r.output).toContain('tre-job ERROR: Job cancelled (SIGTERM)');
    expect(r.status).toBe(143);
    expect(outputs(f)).toEqual([]);
    expect(scratches(f)).toEqual([]);
  });
});

describe('8. registry errors say which it was, from the runtime message', () => {
  const NEXT = /tre-job INFO: Next: (.*)\n/;

  it("a runtime's own status above 192 is its failure, not a signal (Apptainer's FATAL is 255)", async () => {
    const result = await runScript(f, render(f, { runtime: 'apptainer', safeData: 'none' }), { SHIM_PULL_EXIT: '255' });
    expect(result.status).toBe(1);
    expect(result.output).toContain(`tre-job ERROR: Cannot pull ${IMAGE} (the runtime's message is above)`);
    expect(result.output).toContain(`Summary: exit status 1: failed before the container ran: Cannot pull ${IMAGE}`);
    expect(result.output).not.toContain('killed by signal');
  });

  it('unreachable registry (login)', async () => {
    const said = 'Error: authenticating creds for "127.0.0.1:5000": pinging container registry 127.0.0.1:5000: Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused';
    const result = await runScript(f, render(f, { safeData: 'none' }), { SHIM_LOGIN_EXIT: '125', SHIM_LOGIN_SAYS: said });
    expect(result.status).toBe(1);
    expect(lines(result.output, 'ERROR')).toEqual(['Cannot reach the registry 127.0.0.1:5000 (the login failed before it could check the token or the image)']);
    expect(lines(result.output, 'INFO')).toContain(`The runtime said: ${said}`);
    const next = NEXT.exec(result.output)?.[1];
    expect(next).toBeTruthy();
    expect(next).not.toMatch(/token/i);
  });

  it('wrong token (login)', async () => {
    const result = await runScript(f, render(f, { safeData: 'none' }), { SHIM_LOGIN_EXIT: '125' });
    expect(result.status).toBe(1);
    expect(lines(result.output, 'ERROR')).toEqual(['Cannot log in to 127.0.0.1:5000 as treuser: check the registry username and access token']);
    expect(lines(result.output, 'INFO')).toContain('The runtime said: Error: logging into "127.0.0.1:5000": invalid username/password');
    expect(NEXT.exec(result.output)?.[1]).toContain('access token');
  });

  it('missing image or tag (pull)', async () => {
    const result = await runScript(f, render(f, { safeData: 'none' }), { SHIM_PULL_EXIT: '125' });
    expect(result.status).toBe(1);
    expect(lines(result.output, 'ERROR')).toEqual([`Cannot pull ${IMAGE}: the image or its tag is not in the registry (check the image URL)`]);
    expect(lines(result.output, 'INFO')).toContain(
      'The runtime said: Error: initializing source docker://127.0.0.1:5000/tre/probe:1.0: reading manifest 1.0 in 127.0.0.1:5000/tre/probe: manifest unknown: manifest unknown',
    );
  });

  it('access refused (pull)', async () => {
    const said = `Error: initializing source docker://${IMAGE}: reading manifest 1.0 in 127.0.0.1:5000/tre/probe: unauthorized: authentication required`;
    const result = await runScript(f, render(f, { safeData: 'none' }), { SHIM_PULL_EXIT: '125', SHIM_PULL_SAYS: said });
    expect(result.status).toBe(1);
    const [error] = lines(result.output, 'ERROR');
    expect(error).toMatch(new RegExp(`^Cannot pull ${IMAGE.replace(/\./g, '\\.')}: the registry refused access`));
    expect(lines(result.output, 'INFO')).toContain(`The runtime said: ${said}`);
  });
});

describe('9. services: the ready URL, and a service that exits by itself', () => {
  const SERVICE_SITE = { servicePorts: { min: 41000, max: 41999 }, serviceTimeoutSeconds: 5 };
  const connection = () => join(f.jobDir, 'connection.yml');

  it.each(['podman', 'apptainer'])('%s: the ready URL ends with TRE_BASE_URL, expanded with the real port', async (runtime) => {
    const spec = { service: 'http', runtime, safeData: 'none', env: ['TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/'] };
    const child = start(f, render(f, spec, SERVICE_SITE), { SHIM_SERVICE: 'http', HOSTNAME: 'node7' });
    const done = ended(child);
    await until(() => existsSync(connection()), 10000);
    const port = /port: (\d+)/.exec(readFileSync(connection(), 'utf8'))?.[1] as string;
    child.kill('SIGTERM');
    const result = await done;
    expect(result.status).toBe(143);
    expect(result.output).toContain(`tre-job INFO: The http service is ready at http://node7:${port}/node/node7/${port}/ (password in `);
    if (runtime === 'apptainer') expect(call(f, 'apptainer', 'run').env).toContain(`APPTAINERENV_TRE_BASE_URL=/node/node7/${port}/`);
    else expect(call(f, 'podman', 'run').argv).toContain(`TRE_BASE_URL=/node/node7/${port}/`);
  });

  it('a service that exits without serving fails after one run, and is not retried', async () => {
    const result = await runScript(f, render(f, { service: 'http', safeData: 'none' }, SERVICE_SITE));
    expect(result.status).toBe(1);
    expect(runs(f)).toHaveLength(1);
    const errors = lines(result.output, 'ERROR');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^The http service started but exited with status 0 before it answered HTTP on port \d+$/);
    expect(result.output).toMatch(/Summary: exit status 1: failed after the container started: The http service started but exited with status 0/);
    expect(result.output).not.toContain('trying another port');
  }, 20000);
});

describe('10. exit status of a job that did not complete', () => {
  const line = (state: string, exit: string) => `JobId=7 JobName=probe:1.0 UserId=alice(1000) JobState=${state} Reason=None ExitCode=${exit} RunTime=00:00:00 NodeList=(null) WorkDir=${f.jobDir} StdOut=${f.jobDir}/output.log`;

  it('shellStatus never gives 0 for a job that did not complete', () => {
    const cases = [
      ['CANCELLED', '0:0', 143],
      ['TIMEOUT', '0:0', 124],
      ['FAILED', '0:0', 1],
      ['COMPLETED', '0:0', 0],
      ['CANCELLED', '0:15', 143],
      ['FAILED', '3:0', 3],
    ] as const;
    expect(cases.map(([state, exit]) => [state, exit, shellStatus(parseJobLine(line(state, exit)))])).toEqual(cases);
  });

  it('jobStatus: a job cancelled before it started (no log) is 143, with why', () => {
    const record: JobRecord = { jobId: '7', cluster: null, jobName: 'probe:1.0', image: IMAGE, submittedAt: '', jobDir: f.jobDir, outputLog: join(f.jobDir, 'output.log'), containerName: null, source: 'submit' };
    const status = jobStatus(record, parseJobLine(line('CANCELLED', '0:0')));
    expect(status).toMatchObject({ state: 'CANCELLED', exitStatus: 143, detail: 'cancelled before it started', error: 'the job ended (CANCELLED) before it started' });
  });
});
