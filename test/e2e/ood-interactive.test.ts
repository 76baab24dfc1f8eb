// The Jupyter Open OnDemand app on the real stack, as user bob: test/fixtures/ood/ood.rb does what
// the dashboard does (render submit.yml.erb, stage, build the basic template's job script, sbatch).
// tre-job.sh starts the Debian Jupyter test image and writes connection.yml; the test then renders
// view.html.erb with it and sends exactly the POST that its Connect form makes (without OnDemand's
// /node/ proxy: the server's base URL is /node/HOST/PORT/, so the path is the same on the node).
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, ROOT } from '../helpers';
import { describeE2E, homeOf, jobInfo, podmanPsAll, readToken, requireStack, runAs, shq, StackEnv } from './lib/stack';
import { oodSiteDir, processesOf, until } from './lib/tre';

jest.setTimeout(240000);
const APP = join(ROOT, 'ood', 'apps', 'jupyter');
const OOD_RB = join(ROOT, 'test', 'fixtures', 'ood', 'ood.rb');
const USER = 'bob';

describeE2E('Open OnDemand Jupyter app on the real stack', () => {
  let stack: StackEnv;
  let siteDir: string;
  let jobId = '';

  beforeAll(() => {
    stack = requireStack() as StackEnv;
    siteDir = oodSiteDir(stack, 'ood-interactive');
  });
  afterAll(() => {
    if (jobId) spawnSync('scancel', [jobId]);
    rmSync(siteDir, { recursive: true, force: true });
  });

  it.each(['podman', 'apptainer'])('a Jupyter session with runner %s: connection.yml from tre-job.sh, and the view\'s POST logs bob in; scancel leaves nothing running', async (runner) => {
    const image = stack.vars.TRE_TEST_JUPYTER_IMAGE as string;
    const token = readToken(stack);
    const values = { cluster: 'tre', image, registry_username: stack.registryUser, registry_token: token, runner, cpus: '1', memory_gib: '2', use_gpu: '0', env_vars: '', container_args: '' };
    const dataroot = join(homeOf(USER), 'ondemand', 'data', 'sys', 'dashboard');
    const r = runAs(USER, ['ruby', OOD_RB, 'save', APP, dataroot].map(shq).join(' '), {
      input: JSON.stringify(values),
      env: { TRE_JOB_BIN: BIN, TRE_JOB_SITE_DIR: siteDir },
    });
    expect(r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
    const session = JSON.parse(r.stdout) as { stagedRoot: string; jobId: string };
    jobId = session.jobId;
    expect(session.stagedRoot).toContain('/batch_connect/sys/jupyter/output/');

    const conn = join(session.stagedRoot, 'connection.yml');
    await until(() => existsSync(conn) || !jobInfo(jobId)?.state.match(/PENDING|RUNNING|CONFIGURING/), 180000, 'connection.yml', 200);
    const log = () => (existsSync(join(session.stagedRoot, 'output.log')) ? readFileSync(join(session.stagedRoot, 'output.log'), 'utf8') : '');
    if (!existsSync(conn)) throw new Error(`no connection.yml; log:\n${log()}`);
    expect(statSync(conn).mode & 0o777).toBe(0o600);
    const c = Object.fromEntries(readFileSync(conn, 'utf8').trim().split('\n').map((l) => l.split(': ') as [string, string]));
    expect(c).toMatchObject({ service: 'jupyter', port: expect.stringMatching(/^[0-9]+$/), password: expect.stringMatching(/^[0-9a-f]{36}$/) });
    // OnDemand's own create_yml did not run (its file has no service line and an empty port).
    expect(log()).not.toContain('Generating connection YAML file');
    expect(log()).not.toContain(c.password);

    // view.html.erb, rendered with connection.yml as OnDemand does.
    const code = 'require "erb"; require "ostruct"; require "yaml"; o = OpenStruct.new(YAML.safe_load(File.read(ARGV[1]))); print ERB.new(File.read(ARGV[0]), trim_mode: "-").result(o.instance_eval { binding })';
    const html = spawnSync('ruby', ['-e', code, join(APP, 'view.html.erb'), conn], { encoding: 'utf8' }).stdout;
    const action = /<form action="([^"]+)" method="post"/.exec(html)?.[1] as string;
    const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]));
    expect(action).toBe(`/node/${c.host}/${c.port}/login`);
    expect(fields.password).toBe(c.password);

    const base = `http://127.0.0.1:${c.port}`;
    const tree = `/node/${c.host}/${c.port}/tree`;
    const anonymous = await fetch(base + tree, { redirect: 'manual' });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toContain('/login');
    const wrong = await fetch(base + action, { method: 'POST', body: new URLSearchParams({ ...fields, password: 'wrong' }), redirect: 'manual' });
    expect(wrong.status).toBe(401);
    const login = await fetch(base + action, { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' });
    expect(login.status).toBe(302);
    expect(login.headers.get('location')).toBe(tree);
    const cookie = login.headers.getSetCookie().map((s) => s.split(';')[0]).join('; ');
    const page = await fetch(base + tree, { headers: { cookie }, redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Home Page - Select or create a notebook');
    // The log's URL is the one the service answers at (its base URL included).
    expect(log()).toContain(`The jupyter service is ready at http://${c.host}:${c.port}/node/${c.host}/${c.port}/ `);

    // A notebook saved through the UI (Jupyter's contents API, as its Save button does) is kept in the home.
    const saved = `tre-saved-${session.stagedRoot.split('/').pop()}.ipynb`;
    const notebook = { type: 'notebook', content: { cells: [], metadata: {}, nbformat: 4, nbformat_minor: 4 } };
    const put = await fetch(`${base}/node/${c.host}/${c.port}/api/contents/${saved}`, { method: 'PUT', headers: { authorization: `token ${c.password}`, 'content-type': 'application/json' }, body: JSON.stringify(notebook) });
    expect(put.status).toBe(201);

    // The session directory and its log are the user's alone, whatever umask OnDemand staged them with.
    expect(statSync(session.stagedRoot).mode & 0o777).toBe(0o700);
    expect(statSync(join(session.stagedRoot, 'output.log')).mode & 0o777).toBe(0o600);

    // scancel: OnDemand's wrapper forwards TERM; tre-job.sh removes the container and connection.yml.
    spawnSync('scancel', [jobId]);
    await until(() => !jobInfo(jobId)?.state.match(/PENDING|RUNNING|CONFIGURING|COMPLETING/), 120000, 'the job to end', 200);
    jobId = '';
    expect(existsSync(conn)).toBe(false);
    expect(existsSync(join(session.stagedRoot, 'credentials'))).toBe(false);
    expect(statSync(join(homeOf(USER), saved)).uid).toBe(statSync(homeOf(USER)).uid); // survived the job, and is the user's
    rmSync(join(homeOf(USER), saved));
    expect(podmanPsAll(USER).join('\n')).not.toContain(`jupyter-${session.stagedRoot.split('/').pop()}`);
    expect(processesOf(USER, 'jupyter:1.0.sif')).toEqual([]);
  });
});
