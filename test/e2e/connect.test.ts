// `tre-job connect` on the real stack, as alice: a real Jupyter service job while it starts, once
// it answers (the printed URL and password log in), and after scancel; and a batch job.
import { describeE2E, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, probeSpec, removeSpecs, submitAs, treJobAs, until } from './lib/tre';

jest.setTimeout(300000);

interface Info {
  jobId: string;
  state: string;
  ready: boolean;
  ended: boolean;
  url: string | null;
  loginUrl: string | null;
  host: string | null;
  port: number | null;
  password: string | null;
  service: string;
  tunnel: unknown;
}

describeE2E('tre-job connect on the real stack', () => {
  let stack: StackEnv;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    expect(stack.vars.TRE_TEST_JUPYTER_IMAGE ?? '').not.toBe('');
  });
  // A failed expectation leaves no service running.
  const cancelAfter: string[] = [];
  afterAll(() => {
    for (const jobId of cancelAfter) runAs('alice', `scancel ${jobId}`);
    removeSpecs();
  });

  it('Jupyter: starting, then the URL (with its base URL) and password that log in; after scancel, ended and no password', async () => {
    const spec = probeSpec(stack, { image: stack.vars.TRE_TEST_JUPYTER_IMAGE, service: 'jupyter', safeData: 'none', env: { TRE_BASE_URL: '/node/${HOSTNAME}/${TRE_PORT}/' } });
    const submitted = submitAs('alice', stack, spec);
    const { jobId } = submitted;
    cancelAfter.push(jobId);

    // At once: still starting (exit 3), or already ready (exit 0); nothing else.
    const early = treJobAs('alice', ['connect', jobId]);
    if (early.status === 3) {
      expect(early.stdout).toBe('');
      expect(early.stderr).toMatch(new RegExp(`^job ${jobId}: the jupyter service is still starting \\((pending( \\(\\w+\\))?|running on \\S+: [A-Za-z ,]+)\\); try again in a moment or run \`tre-job logs ${jobId} --follow\`\\n$`));
    } else {
      expect(early.status).toBe(0);
      expect(early.stdout).toMatch(new RegExp(`^job ${jobId}: the jupyter service is ready on `));
    }

    let ready = treJobAs('alice', ['connect', jobId, '--json']);
    await until(() => (ready = treJobAs('alice', ['connect', jobId, '--json'])).status !== 3, 240000, `job ${jobId}'s service`, 1000);
    expect(ready.status).toBe(0);
    const info = JSON.parse(ready.stdout) as Info;
    expect(info).toMatchObject({ jobId, state: 'RUNNING', ready: true, ended: false, service: 'jupyter', tunnel: null });
    expect(info.password).toMatch(/^[0-9a-f]{36}$/);
    expect(info.url).toBe(`http://${info.host}:${info.port}/node/${info.host}/${info.port}/`);
    expect(info.loginUrl).toBe(`${info.url}?token=${info.password}`);

    // The printed URL with the token reaches Jupyter's authenticated UI; without it, the login page.
    const loggedIn = await fetch(info.loginUrl as string);
    expect(loggedIn.status).toBe(200);
    expect(await loggedIn.text()).toContain('Home Page');
    expect(loggedIn.url).toContain(`/node/${info.host}/${info.port}/tree`);
    const anonymous = await fetch(info.url as string);
    expect(anonymous.url).toContain(`/node/${info.host}/${info.port}/login`);

    // The words: the URL, the token URL and the password; no tunnel line (the node answers from here).
    const text = treJobAs('alice', ['connect', jobId]);
    expect(text.status).toBe(0);
    expect(text.stdout).toBe(`job ${jobId}: the jupyter service is ready on ${info.host}\nurl:      ${info.url}\nlogin:    ${info.loginUrl}\npassword: ${info.password}\n`);

    expect(runAs('alice', `scancel ${jobId}`).status).toBe(0);
    await finished(submitted);
    const gone = treJobAs('alice', ['connect', jobId]);
    expect(gone.status).toBe(1);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toBe(`job ${jobId} has ended (CANCELLED, exit status 143): its jupyter service is no longer running; see \`tre-job logs ${jobId}\`\n`);
    const goneJson = treJobAs('alice', ['connect', jobId, '--json']);
    expect(goneJson.status).toBe(1);
    expect(JSON.parse(goneJson.stdout)).toMatchObject({ ready: false, ended: true, password: null, url: null });
    expect(gone.stdout + gone.stderr + goneJson.stdout).not.toContain(info.password as string);
  });

  it('a batch job is not a service: exit 2, one line naming JOBID', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack));
    const result = treJobAs('alice', ['connect', submitted.jobId]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`tre-job: JOBID: job ${submitted.jobId} is not a service job (its spec has no service: jupyter, rstudio or http)\n`);
    await finished(submitted);
  });
});
