// Interactive services on the real stack: a real Jupyter server (Debian's notebook package,
// built offline by the stack) and, because RStudio Server is not in Debian's archive, a
// stand-in HTTP service with a password check for the RStudio template's lifecycle.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describeE2E, homeOf, podmanPsAll, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, homeDirs, probeSpec, processesOf, processesOfUid, removeSpecs, submitAs, Submitted, until } from './lib/tre';

jest.setTimeout(240000);

interface Connection {
  host: string;
  port: number;
  password: string;
  service: string;
}

async function connectionOf(submitted: Submitted): Promise<Connection> {
  const file = join(submitted.jobDir, 'connection.yml');
  await until(() => existsSync(file), 180000, `${file}`, 100);
  const text = readFileSync(file, 'utf8');
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(text)?.[1] ?? '';
  return { host: field('host'), port: Number(field('port')), password: field('password'), service: field('service') };
}

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { redirect: 'manual', headers });

function cancel(submitted: Submitted): void {
  expect(runAs('alice', `scancel ${submitted.jobId}`).status).toBe(0);
}

describeE2E('interactive services on the real stack', () => {
  let stack: StackEnv;
  let jupyter: string;
  let http: string;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    jupyter = stack.vars.TRE_TEST_JUPYTER_IMAGE ?? '';
    http = stack.vars.TRE_TEST_HTTP_IMAGE ?? '';
    expect(jupyter).not.toBe('');
  });
  afterAll(removeSpecs);

  it('Jupyter: the password reaches the authenticated UI, no password does not; it is in no command line; scancel cleans up', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { image: jupyter, service: 'jupyter', safeData: 'none' }));
    const connection = await connectionOf(submitted);
    expect(connection.service).toBe('jupyter');
    expect(connection.password).toMatch(/^[0-9a-f]{36}$/);
    const base = `http://127.0.0.1:${connection.port}`;

    const anonymous = await get(`${base}/tree`);
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toContain('/login');
    expect((await get(`${base}/api/status`)).status).toBe(403);
    const authenticated = await get(`${base}/tree?token=${connection.password}`);
    expect(authenticated.status).toBe(200);
    expect(await authenticated.text()).toContain('Home Page');

    const uid = runAs('alice', 'id -u').stdout.trim();
    expect(processesOfUid(uid, connection.password)).toEqual([]); // no argv holds it
    expect(runAs('alice', `scontrol write batch_script ${submitted.jobId} -`).stdout).not.toContain(connection.password);
    expect(readFileSync(submitted.outputLog, 'utf8')).not.toContain(connection.password);
    expect((statSync(join(submitted.jobDir, 'connection.yml')).mode & 0o777).toString(8)).toBe('600');

    cancel(submitted);
    const { log, outputs } = await finished(submitted);
    expect(log).toContain('Summary: exit status 143: cancelled');
    expect(podmanPsAll('alice')).toEqual([]);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(existsSync(outputs)).toBe(true);
    expect(existsSync(join(submitted.jobDir, 'connection.yml'))).toBe(false);
  });

  it('RStudio template (stand-in image): password check without root, state dirs in $HOME/rstudio-tmp reused across runs', async () => {
    const starts: number[] = [];
    for (let run = 0; run < 2; run++) {
      const submitted = submitAs('alice', stack, probeSpec(stack, { image: http, service: 'rstudio', safeData: 'none' }));
      const connection = await connectionOf(submitted);
      const base = `http://127.0.0.1:${connection.port}`;
      expect((await get(`${base}/`)).status).toBe(401);
      const auth = { authorization: `Basic ${Buffer.from(`tre:${connection.password}`).toString('base64')}` };
      const state = await get(`${base}/state.txt`, auth);
      expect(state.status).toBe(200);
      const text = await state.text();
      expect(text).toMatch(/\/var\/lib\/rstudio-server .*written/);
      starts.push(Number(/\/var\/lib\/rstudio-server .*starts=(\d+)/.exec(text)?.[1]));
      cancel(submitted);
      await finished(submitted);
      expect(podmanPsAll('alice')).toEqual([]);
    }
    expect(starts[1]).toBe((starts[0] as number) + 1); // the same state dir, reused
    expect(existsSync(join(homeOf('alice'), 'rstudio-tmp', 'var', 'lib', 'last-start'))).toBe(true);
  });

  it.each(['podman', 'apptainer'])('a %s service that never answers: the job ends after the timeout, non-zero, with nothing left behind', async (runtime) => {
    const site = '/tmp/tre-e2e-site-short-timeout.yaml';
    const base = readFileSync(stack.site, 'utf8');
    writeFileSync(site, `${base}\n${stringify({ serviceTimeoutSeconds: 8 })}`, { mode: 0o644 });
    const t0 = Date.now();
    const submitted = submitAs('alice', stack, probeSpec(stack, { image: http, runtime, service: 'http', safeData: 'none', env: { TRE_HTTP_NEVER_ANSWER: '1' } }), { site });
    const { job, log } = await finished(submitted);
    console.log(`never-answering service: job ended ${Date.now() - t0} ms after submission (timeout 8 s)`);
    expect(job.exitCode).toBe(1);
    expect(log).toMatch(/ERROR: The http service started but did not answer HTTP on port \d+ within 8 s/);
    expect(podmanPsAll('alice')).toEqual([]);
    expect(processesOf('alice', 'http:1.0.sif')).toEqual([]);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(existsSync(join(submitted.jobDir, 'connection.yml'))).toBe(false);
  });
});
