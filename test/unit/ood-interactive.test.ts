// The interactive Open OnDemand apps (ood/apps/jupyter, ood/apps/rstudio): submit.yml.erb rendered
// with real Ruby ERB through test/fixtures/ood/ood.rb (the dashboard stand-in), and view.html.erb
// rendered with the values of a connection.yml, as OnDemand renders it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, listDir, ROOT, tempDir, writeYaml } from '../helpers';

const OOD_RB = join(ROOT, 'test', 'fixtures', 'ood', 'ood.rb');
const SESSION = '5b7d3f1c-2a9e-4e8f-9a01-23456789abcd';
const TOKEN = 'tok-$(id)-"q"';
const PASSWORD = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2';

const site = { registries: [{ host: '127.0.0.1:5000', insecure: true }], safeDataRoot: '/safe_data', defaultRuntime: 'podman', maxTime: '02:00:00', signalGraceSeconds: 30 };

const form = (values: Record<string, string> = {}): Record<string, string> => ({
  cluster: 'tre',
  image: '127.0.0.1:5000/tre/jupyter:1.0',
  registry_username: 'treuser',
  registry_token: TOKEN,
  runner: 'podman',
  cpus: '1',
  memory_gib: '2',
  use_gpu: '0',
  env_vars: 'A=1',
  container_args: '--debug',
  ...values,
});

let tmp: { path: string; remove: () => void };
let env: NodeJS.ProcessEnv;
let count = 0;
beforeAll(() => {
  tmp = tempDir('tre-ood-interactive-');
  const siteDir = join(tmp.path, 'site');
  mkdirSync(join(siteDir, 'clusters'), { recursive: true });
  writeYaml(join(siteDir, 'clusters'), 'tre.yaml', site);
  // HOME: tre-job lists each session in $HOME/.tre-job/ (jobs and credentials indexes).
  env = { ...process.env, HOME: join(tmp.path, 'home'), TRE_JOB_BIN: BIN, TRE_JOB_SITE_DIR: siteDir, TRE_JOB_REGISTRY_TOKEN: 'from-the-pun' };
});
afterAll(() => tmp.remove());

function ruby(args: string[], input: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('ruby', args, { input, env: { ...env, ...extraEnv }, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const appDir = (app: string) => join(ROOT, 'ood', 'apps', app);
const stagedRoot = () => join(tmp.path, `s-${++count}`, 'output', SESSION);

function render(app: string, values = form()) {
  const root = stagedRoot();
  const r = ruby([OOD_RB, 'render', appDir(app), root], JSON.stringify(values));
  if (r.status !== 0) throw new Error(`render failed (${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { submit: { batch_connect: Record<string, string>; script: Record<string, unknown> }; context: Record<string, string> };
  return { ...out, root, script: readFileSync(join(root, 'tre-job.sh'), 'utf8') };
}

function view(app: string, conn: Record<string, string>, user = 'bob'): string {
  const code = [
    'require "erb"; require "ostruct"; require "yaml"',
    'conn = OpenStruct.new(YAML.safe_load(File.read(ARGV[1])))',
    'print ERB.new(File.read(ARGV[0]), trim_mode: "-").result(conn.instance_eval { binding })',
  ].join('\n');
  const file = join(tmp.path, `conn-${++count}.yml`);
  writeYaml(tmp.path, `conn-${count}.yml`, conn);
  const r = ruby(['-e', code, join(appDir(app), 'view.html.erb'), file], '', { USER: user });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

// Every <form> in the page: its method, action and hidden fields.
function forms(html: string) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)].map((m) => ({
    method: /method="([^"]*)"/.exec(m[1] as string)?.[1],
    action: /action="([^"]*)"/.exec(m[1] as string)?.[1] as string,
    fields: Object.fromEntries([...(m[2] as string).matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((f) => [f[1], f[2]])),
  }));
}

describe.each([
  ['jupyter', 'jupyter'],
  ['rstudio', 'rstudio'],
])('ood/apps/%s submit.yml.erb', (app, service) => {
  it('renders a service job with the batch app\'s signal wrapper, and turns off OnDemand\'s own connection.yml', () => {
    const { submit, root, script, context } = render(app);
    expect(Object.keys(submit).sort()).toEqual(['batch_connect', 'script']);
    expect(submit.batch_connect.template).toBe('basic');
    expect((submit.batch_connect.script_wrapper as string).match(/%/g)).toEqual(['%']);
    expect(submit.batch_connect.script_wrapper).toMatch(/trap 'tre_ood_forward USR1 124' USR1/);
    expect(submit.batch_connect.after_script).toMatch(/^create_yml \(\) \{/);
    expect(submit.script).toEqual({ job_name: 'jupyter:1.0', wall_time: 2 * 3600, native: ['--signal=B:USR1@30', '--cpus-per-task=1', '--mem=2G'] });
    expect(listDir(root)).toEqual(['credentials', 'job.json', 'output.log', 'spec.yaml', 'tre-job.sh']);
    expect(statSync(join(root, 'credentials')).mode & 0o777).toBe(0o600);
    expect(script).toContain(`tre_service='${service}'`);
    expect(script).not.toContain(TOKEN);
    expect(context.registry_token).toBe('');
  });

  it('the job script OnDemand would submit is valid bash, and its create_yml writes nothing (tre-job.sh writes connection.yml)', () => {
    const root = stagedRoot();
    const r = ruby([OOD_RB, 'script', appDir(app), root], JSON.stringify(form()));
    expect(r.status).toBe(0);
    expect(spawnSync('bash', ['-n'], { input: r.stdout }).status).toBe(0);
    const lines = r.stdout.split('\n');
    const redefined = lines.findIndex((l) => l.startsWith('create_yml () { echo "tre-job writes'));
    const called = lines.lastIndexOf('create_yml');
    expect(redefined).toBeGreaterThan(lines.findIndex((l) => l.startsWith('"') && l.endsWith('/script.sh" &')));
    expect(called).toBeGreaterThan(redefined);
  });

  it('asks for the hours the form gives (wall_time and --time); more than the back-end allows is refused, naming the field', () => {
    const { submit, script } = render(app, form({ bc_num_hours: '1' }));
    expect(submit.script.wall_time).toBe(3600);
    expect(script).toMatch(/^#SBATCH --time=01:00:00$/m);
    const root = stagedRoot();
    const r = ruby([OOD_RB, 'render', appDir(app), root], JSON.stringify(form({ bc_num_hours: '3' })));
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe('tre-job: bc_num_hours: 3 is over the site maximum of 2 hours (maxTime 02:00:00)');
    expect(listDir(root)).toEqual([]);
  }, 30000);

  it('a bad value fails the render with tre-job\'s one line; nothing is staged', () => {
    const root = stagedRoot();
    const r = ruby([OOD_RB, 'render', appDir(app), root], JSON.stringify(form({ image: 'docker.io/x/y:1' })));
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toMatch(/^tre-job: image: [^\n]+$/);
    expect(r.stderr).not.toContain(TOKEN);
  });

  it('a missing helper library is reported, not a Ruby backtrace', () => {
    const r = ruby([OOD_RB, 'render', appDir(app), stagedRoot()], JSON.stringify(form()), { TRE_JOB_OOD_LIB: '/nonexistent/tre_job_ood.rb' });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^tre-job: cannot load the OnDemand helper "\/nonexistent\/tre_job_ood.rb"/);
  });

  it('form.yml.erb lists the back-ends and the fields submit.yml.erb reads', () => {
    const code = `require "erb"; require "yaml"; require "json"; puts JSON.generate(YAML.safe_load(ERB.new(File.read(ARGV[0]), trim_mode: "-").result))`;
    const r = ruby(['-e', code, join(appDir(app), 'form.yml.erb')], '');
    expect(r.status).toBe(0);
    const f = JSON.parse(r.stdout) as { cluster: string[]; form: string[]; attributes: Record<string, Record<string, unknown>> };
    expect(f.cluster).toEqual(['tre']);
    expect(f.form).toEqual(['cluster', 'image', 'registry_username', 'registry_token', 'runner', 'cpus', 'memory_gib', 'bc_num_hours', 'use_gpu', 'env_vars', 'container_args']);
    expect(f.attributes.registry_token).toMatchObject({ widget: 'password_field', cacheable: false });
    // The session's hours, bounded by the back-end's maxTime (02:00:00 here) and starting there.
    expect(f.attributes.bc_num_hours).toMatchObject({ widget: 'number_field', min: 1, max: 2, step: 1, value: 2 });
    expect(f.attributes.cluster?.options).toEqual([['tre', 'tre', { 'data-hide-use-gpu': true, 'data-max-bc-num-hours': 2 }]]);
    expect(f.form).not.toContain('service'); // fixed by submit.yml.erb, not the user's to choose
    expect(statSync(join(appDir(app), 'template', 'script.sh')).mode & 0o111).toBe(0o111);
  });
});

describe('jupyter', () => {
  it('passes the base URL for OnDemand\'s /node/ proxy and turns off the XSRF check, before the user\'s own values', () => {
    const { script } = render('jupyter');
    expect(script).toContain(`'--env' 'TRE_BASE_URL=/node/'"\${HOSTNAME-}"'/'"\${TRE_PORT-}"'/'`);
    const run = /exec "\$tre_runtime" run [\s\S]*?\n\s*\) &$/m.exec(script)?.[0] ?? '';
    expect(run.indexOf("'--NotebookApp.disable_check_xsrf=True'")).toBeGreaterThan(0);
    expect(run.indexOf("'--NotebookApp.disable_check_xsrf=True'")).toBeLessThan(run.indexOf("'--debug'"));
  });

  it("an error in the user's env_vars names the user's own line, not one counted after the app's lines", () => {
    const r = ruby([OOD_RB, 'render', appDir('jupyter'), stagedRoot()], JSON.stringify(form({ env_vars: '1BAD=x' })));
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe('tre-job: env_vars line 1: "1BAD" is not a valid variable name (letters, digits, _; not starting with a digit)');
  });

  it('view.html.erb POSTs the password to /node/HOST/PORT/login and never puts it in a URL', () => {
    const html = view('jupyter', { host: 'node1', port: '41234', password: PASSWORD, service: 'jupyter' });
    expect(forms(html)).toEqual([{ method: 'post', action: '/node/node1/41234/login', fields: { password: PASSWORD, next: '/node/node1/41234/tree' } }]);
    expect(html.split(PASSWORD).length).toBe(2); // once, as the field's value
    for (const url of html.match(/(?:href|action|src)="[^"]*"/g) ?? []) expect(url).not.toContain(PASSWORD);
  });

  it('escapes values it puts in the page', () => {
    const html = view('jupyter', { host: 'node1', port: '41234', password: 'a"><script>x</script>' });
    expect(html).not.toContain('<script>');
    expect(html).toContain('value="a&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  });
});

describe('rstudio', () => {
  it('view.html.erb POSTs user and password to RStudio\'s sign-in through /rnode/, with a matching CSRF cookie', () => {
    const html = view('rstudio', { host: 'node1', port: '41235', password: PASSWORD, service: 'rstudio' }, 'bob');
    const [f] = forms(html);
    expect(forms(html)).toHaveLength(1);
    expect(f).toMatchObject({ method: 'post', action: '/rnode/node1/41235/auth-do-sign-in' });
    expect(f?.fields).toMatchObject({ username: 'bob', password: PASSWORD, staySignedIn: '1', appUri: '' });
    const csrf = f?.fields['csrf-token'] as string;
    expect(csrf).toMatch(/^[0-9a-f-]{36}$/);
    expect(f?.fields['rs-csrf-token']).toBe(csrf);
    expect(html).toContain(`document.cookie = name + "=${csrf};" + expires + ";" + path + ";secure"`);
    expect(html).toContain('path=/rnode/node1/41235/');
    expect(html.split(PASSWORD).length).toBe(2);
    for (const url of html.match(/(?:href|action|src)="[^"]*"/g) ?? []) expect(url).not.toContain(PASSWORD);
  });
});
