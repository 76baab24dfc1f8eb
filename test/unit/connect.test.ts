// `tre-job connect JOBID`, in process: a job directory made by `tre-job submit` (a fake sbatch),
// a fake scontrol that prints the lines of a file, and connection.yml and output.log written as
// the job writes them; last, a real rendered service script run with the shims, read by connect.
import { appendFileSync, chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { connectCommand } from '../../src/commands/connect';
import { run } from '../../src/main';
import { ended, fixture, render, start, until } from '../fixtures/shims';
import { CliResult, tempDir, writeYaml } from '../helpers';

const PASSWORD = '0123456789abcdef0123456789abcdef0123';
const JOB = '4242';

let dir: { path: string; remove: () => void };
let site: string;
const jobsFile = () => join(dir.path, 'slurm-jobs');
const servers: Server[] = [];

function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

beforeEach(() => {
  dir = tempDir();
  mkdirSync(join(dir.path, 'home'));
  // In process: os.homedir() (job directories, the jobs index) does not see a change of process.env.HOME under jest.
  jest.spyOn(require('node:os') as typeof import('node:os'), 'homedir').mockReturnValue(join(dir.path, 'home'));
  writeFileSync(jobsFile(), '');
  const sbatch = script(join(dir.path, 'sbatch'), `echo ${JOB}`);
  const scontrol = script(join(dir.path, 'scontrol'), `[[ -z \${4-} ]] && exec cat ${jobsFile()}\ngrep "^JobId=$4 " ${jobsFile()} || { echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1; }`);
  site = writeYaml(dir.path, 'site.yaml', { sbatch, scontrol, scancel: '/bin/false' });
});
afterEach(() => {
  jest.restoreAllMocks();
  for (const server of servers.splice(0)) server.close();
  dir.remove();
});

async function tre(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const status = await run(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { status, stdout, stderr };
}

/** `tre-job submit` of a spec (fake sbatch): the job directory, as a user's would be. */
async function submitted(spec: Record<string, unknown>): Promise<string> {
  const result = await tre(['submit', writeYaml(dir.path, 'spec.yaml', { image: 'ghcr.io/mikej888/hello-tre:1.0', safeData: 'none', ...spec }), '--site', site, '--json']);
  expect(result.stderr).toBe('');
  slurmJobDir = (JSON.parse(result.stdout) as { jobDir: string }).jobDir;
  return slurmJobDir;
}

/** Where Slurm says the job runs: the last submitted job's directory (Slurm's WorkDir). */
let slurmJobDir = '';

/** What Slurm says about the job (none: it has forgotten it). */
function slurmSays(state: string | null, reason = 'None', uid = userInfo().uid): void {
  const line = (jobDir: string) => `JobId=${JOB} JobName=hello-tre:1.0 UserId=someone(${uid}) JobState=${state} Reason=${reason} ExitCode=0:15 RunTime=00:00:05 NodeList=node1 WorkDir=${jobDir} StdOut=${jobDir}/output.log\n`;
  writeFileSync(jobsFile(), state === null ? '' : line(slurmJobDir));
}

const log = (jobDir: string, ...messages: string[]) =>
  writeFileSync(join(jobDir, 'output.log'), messages.map((m) => `2026-12-01 10:00:00 tre-job INFO: ${m}\n`).join(''));

/** connection.yml and the log's ready line, as service.hbs writes them. */
function ready(jobDir: string, port: number, service = 'jupyter', base = `/node/127.0.0.1/${port}/`): void {
  writeFileSync(join(jobDir, 'connection.yml'), `host: 127.0.0.1\nport: ${port}\npassword: ${PASSWORD}\nservice: ${service}\n`, { mode: 0o600 });
  log(
    jobDir,
    'Pulling ghcr.io/mikej888/hello-tre:1.0',
    `Starting the ${service} service on port ${port} (attempt 1)`,
    `The ${service} service is ready at http://127.0.0.1:${port}${base} (password in ${jobDir}/connection.yml)`,
    'Container hello-tre-4242 is now running. Please wait until the container completes.',
  );
}

/** A port that answers TCP, or (listening false) one that nothing listens on. */
async function port(listening = true): Promise<number> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: p } = server.address() as { port: number };
  if (listening) servers.push(server);
  else await new Promise((resolve) => server.close(resolve));
  return p;
}

describe('tre-job connect', () => {
  it('a pending service job: still starting, with the reason; exit 3, nothing on stdout', async () => {
    await submitted({ service: 'jupyter' });
    slurmSays('PENDING', 'Resources');
    const result = await tre(['connect', JOB, '--site', site]);
    expect(result).toEqual({
      status: 3,
      stdout: '',
      stderr: `job ${JOB}: the jupyter service is still starting (pending (Resources)); try again in a moment or run \`tre-job logs ${JOB} --follow\`\n`,
    });
  });

  it("a connection.yml of an earlier run (requeued, pending again; or running without this run's ready line) gives no password", async () => {
    const jobDir = await submitted({ service: 'jupyter' });
    ready(jobDir, 32849);
    slurmSays('PENDING', 'BeginTime');
    const pending = await tre(['connect', JOB, '--site', site, '--json']);
    expect(pending.status).toBe(3);
    expect(pending.stdout).not.toContain(PASSWORD);
    slurmSays('RUNNING');
    log(jobDir, `Job ${JOB} started on node1`, 'Pulling ghcr.io/mikej888/hello-tre:1.0');
    const running = await tre(['connect', JOB, '--site', site, '--json']);
    expect(running.status).toBe(3);
    expect(running.stdout).not.toContain(PASSWORD);
  });

  it('a host in connection.yml that is no host name is not used (it would reach the tunnel command line)', async () => {
    const jobDir = await submitted({ service: 'jupyter' });
    ready(jobDir, 32849);
    writeFileSync(join(jobDir, 'connection.yml'), `host: x;id\nport: 32849\npassword: ${PASSWORD}\nservice: jupyter\n`, { mode: 0o600 });
    slurmSays('RUNNING');
    const result = await tre(['connect', JOB, '--site', site]);
    expect(result.status).toBe(3);
    expect(result.stdout).toBe('');
  });

  it('a running service job before it answers: says what it is doing', async () => {
    const jobDir = await submitted({ service: 'jupyter' });
    slurmSays('RUNNING');
    log(jobDir, `Job ${JOB} started on node1`, 'Pulling ghcr.io/mikej888/hello-tre:1.0');
    expect((await tre(['connect', JOB, '--site', site])).stderr).toContain('still starting (running on node1: pulling the image)');
    log(jobDir, `Job ${JOB} started on node1`, 'Pulling ghcr.io/mikej888/hello-tre:1.0', 'Starting the jupyter service on port 41234 (attempt 1)');
    const result = await tre(['connect', JOB, '--site', site, '--json']);
    expect(result.status).toBe(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ jobId: JOB, state: 'RUNNING', ready: false, ended: false, detail: 'running on node1: started, waiting for it to answer HTTP', url: null, password: null });
  });

  it('a ready Jupyter job: the URL with its base URL, the token URL and the password; no tunnel when it answers', async () => {
    const jobDir = await submitted({ service: 'jupyter', env: ['TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/'] });
    const p = await port();
    ready(jobDir, p);
    slurmSays('RUNNING');
    const result = await tre(['connect', JOB, '--site', site]);
    const url = `http://127.0.0.1:${p}/node/127.0.0.1/${p}/`;
    expect(result).toEqual({
      status: 0,
      stdout: `job ${JOB}: the jupyter service is ready on 127.0.0.1\nurl:      ${url}\nlogin:    ${url}?token=${PASSWORD}\npassword: ${PASSWORD}\n`,
      stderr: '',
    });
    const json = JSON.parse((await tre(['connect', JOB, '--site', site, '--json'])).stdout);
    expect(json).toEqual({
      jobId: JOB, state: 'RUNNING', ready: true, ended: false, exitStatus: null, service: 'jupyter', detail: null,
      url, loginUrl: `${url}?token=${PASSWORD}`, host: '127.0.0.1', port: p, password: PASSWORD, user: null, tunnel: null,
    });
  });

  it('a node that does not answer from here: one ssh tunnel line from this host', async () => {
    const jobDir = await submitted({ service: 'jupyter' });
    const p = await port(false);
    ready(jobDir, p, 'jupyter', '/');
    slurmSays('RUNNING');
    const result = await tre(['connect', JOB, '--site', site]);
    expect(result.status).toBe(0);
    const tunnel = result.stdout.split('\n').filter((line) => line.startsWith('tunnel:'));
    expect(tunnel).toEqual([
      `tunnel:   127.0.0.1:${p} does not answer from here; on your own computer run \`ssh -N -L ${p}:127.0.0.1:${p} ${hostname()}\`, then open http://localhost:${p}/?token=${PASSWORD}`,
    ]);
    expect(JSON.parse((await tre(['connect', JOB, '--site', site, '--json'])).stdout).tunnel).toEqual({ command: `ssh -N -L ${p}:127.0.0.1:${p} ${hostname()}`, url: `http://localhost:${p}/?token=${PASSWORD}` });
  });

  it('RStudio: the user name is the login; no token URL; base / when the spec sets none', async () => {
    const jobDir = await submitted({ service: 'rstudio' });
    const p = await port();
    ready(jobDir, p, 'rstudio', '/');
    slurmSays('RUNNING');
    const result = await tre(['connect', JOB, '--site', site]);
    expect(result.stdout).toBe(`job ${JOB}: the rstudio service is ready on 127.0.0.1\nurl:      http://127.0.0.1:${p}/\nuser:     ${userInfo().username} (your login name)\npassword: ${PASSWORD}\n`);
  });

  it.each([
    ['CANCELLED', `has ended (CANCELLED, exit status 143)`],
    [null, 'has ended (FAILED, exit status 143)'],
  ])('an ended job (Slurm: %s): says so, exit 1, no password even if connection.yml was left behind', async (state, words) => {
    const jobDir = await submitted({ service: 'jupyter' });
    ready(jobDir, await port());
    writeFileSync(join(jobDir, 'output.log'), '2026-12-01 10:00:09 tre-job INFO: Job finished with exit status 143\n', { flag: 'a' });
    slurmSays(state);
    const result = await tre(['connect', JOB, '--site', site]);
    expect(result).toEqual({ status: 1, stdout: '', stderr: `job ${JOB} ${words}: its jupyter service is no longer running; see \`tre-job logs ${JOB}\`\n` });
    const json = await tre(['connect', JOB, '--site', site, '--json']);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ready: false, ended: true, password: null, url: null });
    expect(json.stdout + json.stderr).not.toContain(PASSWORD);
  });

  it('a running job that is cleaning up is ending, not starting', async () => {
    const jobDir = await submitted({ service: 'http' });
    log(jobDir, 'Pulling x', 'Cleaning up');
    slurmSays('RUNNING');
    expect(await tre(['connect', JOB, '--site', site])).toMatchObject({ status: 1, stderr: `job ${JOB} is ending (cleaning up): its http service is no longer running; see \`tre-job logs ${JOB}\`\n` });
  });

  it('a batch job is not a service: exit 2, the JOBID named', async () => {
    await submitted({});
    slurmSays('RUNNING');
    expect(await tre(['connect', JOB, '--site', site])).toEqual({ status: 2, stdout: '', stderr: `tre-job: JOBID: job ${JOB} is not a service job (its spec has no service: jupyter, rstudio or http)\n` });
  });

  it("a bad JOBID and another user's job are refused as findJob refuses them", async () => {
    expect((await tre(['connect', '12;x', '--site', site])).stderr).toBe('tre-job: JOBID: "12;x" is not a Slurm job id\n');
    jest.spyOn(process, 'getuid').mockReturnValue(1000); // root may read any job
    slurmSays('RUNNING', 'None', 1001);
    expect(await tre(['connect', JOB, '--site', site])).toMatchObject({ status: 2, stderr: `tre-job: JOBID: job ${JOB} is not yours: only its owner can read its log and status\n` });
  });

  it('--wait: asks again until the service answers, then prints it', async () => {
    const jobDir = await submitted({ service: 'jupyter' });
    slurmSays('PENDING', 'Priority');
    const p = await port();
    let stdout = '';
    let stderr = '';
    const waiting = connectCommand(JOB, { site, wait: true, pollMs: 20 }, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    await until(() => stderr !== '');
    slurmSays('RUNNING');
    ready(jobDir, p);
    expect(await waiting).toBe(0);
    expect(stderr).toBe(`job ${JOB}: the jupyter service is still starting (pending (Priority)); waiting\n`);
    expect(stdout).toContain(`password: ${PASSWORD}\n`);
  });

  it('--wait ends when the job ends before it is ready (exit 1)', async () => {
    await submitted({ service: 'jupyter' });
    slurmSays('PENDING', 'Priority');
    let stderr = '';
    const waiting = connectCommand(JOB, { site, wait: true, pollMs: 20 }, { stdout: () => undefined, stderr: (t) => (stderr += t) });
    await until(() => stderr !== '');
    slurmSays('CANCELLED');
    expect(await waiting).toBe(1);
    expect(stderr).toMatch(/still starting .*\n.*has ended \(CANCELLED, exit status 143\)/);
  });
});

describe('connect reads what the rendered service script writes', () => {
  it("the log's ready line gives the base URL, expanded on the node", async () => {
    const f = fixture();
    try {
      const jobScript = render(f, { service: 'jupyter', safeData: 'none', env: ['TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/'] }, { servicePorts: { min: 42000, max: 42999 }, serviceTimeoutSeconds: 10 });
      const child = start(f, jobScript, { SHIM_SERVICE: 'http', HOSTNAME: 'node7' });
      const done = ended(child);
      // What sbatch --output does: the script's output is output.log.
      for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => appendFileSync(join(f.jobDir, 'output.log'), d));
      writeFileSync(join(f.jobDir, 'job.json'), JSON.stringify({ jobId: JOB, cluster: null, jobName: 'probe:1.0', image: 'probe', submittedAt: '', jobDir: f.jobDir, outputLog: join(f.jobDir, 'output.log'), containerName: null, source: 'submit' }));
      const siteOfFixture = writeYaml(dir.path, 'site2.yaml', { sbatch: '/bin/false', scontrol: join(dir.path, 'scontrol'), scancel: '/bin/false', jobsDir: f.jobDir.replace(/\/[^/]+$/, '') });
      slurmJobDir = f.jobDir;
      slurmSays('RUNNING');
      let stdout = '';
      await until(() => existsSync(join(f.jobDir, 'connection.yml')), 10000);
      const status = await connectCommand(JOB, { site: siteOfFixture, json: true }, { stdout: (t) => (stdout += t), stderr: () => undefined });
      child.kill('SIGTERM');
      await done;
      expect(status).toBe(0);
      const info = JSON.parse(stdout) as { url: string; port: number; host: string; password: string };
      expect(info.host).toBe('node7');
      expect(info.url).toBe(`http://node7:${info.port}/node/node7/${info.port}/`);
      expect(info.password).toMatch(/^[0-9a-f]{36}$/);
    } finally {
      f.remove();
    }
  }, 20000);
});
