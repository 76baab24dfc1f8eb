// The Open OnDemand app (ood/apps/batch_container): its ERB files rendered with real Ruby ERB
// and parsed with Ruby's YAML, through test/fixtures/ood/ood.rb, a stand-in for the dashboard
// (form values as strings, staged_root, the session id as the staged root's name).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, listDir, ROOT, runBin, tempDir, writeYaml } from '../helpers';

const APP = join(ROOT, 'ood', 'apps', 'batch_container');
const OOD_RB = join(ROOT, 'test', 'fixtures', 'ood', 'ood.rb');
const SESSION = '3f1c2a9e-5b7d-4e8f-9a01-23456789abcd';
const TOKEN = 'tok-$(id)-"q"-\'s\'-%s-`x`';

// OodCore::BatchConnect::Template context options and OodCore::Job::Script attributes: what a
// submit.yml may hold under batch_connect: and script: (ood_core template.rb and job/script.rb).
const BATCH_CONNECT_KEYS = new Set([
  'template', 'work_dir', 'conn_file', 'conn_params', 'bash_helpers', 'min_port', 'max_port', 'passwd_size', 'header', 'footer',
  'script_wrapper', 'set_host', 'before_script', 'before_file', 'run_script', 'script_file', 'timeout', 'after_script', 'after_file',
  'clean_script', 'clean_file',
]);
const SCRIPT_KEYS = new Set([
  'content', 'args', 'submit_as_hold', 'rerunnable', 'job_environment', 'workdir', 'email', 'email_on_started', 'email_on_terminated',
  'job_name', 'shell_path', 'input_path', 'output_path', 'error_path', 'reservation_id', 'queue_name', 'priority', 'start_time',
  'wall_time', 'accounting_id', 'job_array_request', 'qos', 'gpus_per_node', 'cores', 'native', 'copy_environment',
]);

const site = {
  registries: [{ host: '127.0.0.1:5000', insecure: true }, { host: 'ghcr.io' }],
  safeDataRoot: '/safe_data',
  defaultRuntime: 'podman',
  maxTime: '06:00:00',
  partition: 'debug',
  signalGraceSeconds: 30,
};

const form = (values: Record<string, string> = {}): Record<string, string> => ({
  cluster: 'tre',
  image: '127.0.0.1:5000/tre/probe:1.0',
  registry_username: 'treuser',
  registry_token: TOKEN,
  runner: 'podman',
  reuse_sif: '0',
  container_name: '',
  cpus: '2',
  memory_gib: '8',
  use_gpu: '0',
  runner_args: '--tz=UTC',
  env_vars: 'GREETING=hello from ${USER}\r\nNOTE=quotes \' " and $(date) stay literal\r\n',
  container_args: '-d 5\n-n "two words" ${USER}',
  ...values,
});

interface Rendered {
  submit: { batch_connect: Record<string, unknown>; script: Record<string, unknown> } & Record<string, unknown>;
  context: Record<string, string>;
}

let tmp: { path: string; remove: () => void };
let siteDir: string;
let env: NodeJS.ProcessEnv;
let count = 0;

beforeAll(() => {
  tmp = tempDir('tre-ood-app-');
  siteDir = join(tmp.path, 'site');
  mkdirSync(join(siteDir, 'clusters'), { recursive: true });
  writeYaml(join(siteDir, 'clusters'), 'tre.yaml', site);
  writeYaml(join(siteDir, 'clusters'), 'gpu01.yaml', { ...site, gpuGres: 'gpu:1', maxTime: '02:30:00' });
  // HOME: tre-job lists each session in $HOME/.tre-job/ (jobs and credentials indexes).
  env = { ...process.env, HOME: join(tmp.path, 'home'), TRE_JOB_BIN: BIN, TRE_JOB_SITE_DIR: siteDir, TRE_JOB_REGISTRY_TOKEN: 'from-the-pun-environment' };
});
afterAll(() => tmp.remove());

function ruby(args: string[], input: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('ruby', args, { input, env: { ...env, ...extraEnv }, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function stagedRoot(): string {
  return join(tmp.path, `session-${++count}`, 'output', SESSION);
}

function render(values: Record<string, string>, root = stagedRoot(), extraEnv: NodeJS.ProcessEnv = {}): Rendered & { root: string } {
  const r = ruby([OOD_RB, 'render', APP, root], JSON.stringify(values), extraEnv);
  if (r.status !== 0) throw new Error(`render failed (${r.status}): ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as Rendered), root };
}

describe('submit.yml.erb', () => {
  it('renders YAML with only the keys of OnDemand submit.yml schema: basic template, job name NAME:TAG, wall time, native sbatch options', () => {
    const { submit } = render(form());
    expect(Object.keys(submit).sort()).toEqual(['batch_connect', 'script']);
    for (const key of Object.keys(submit.batch_connect)) expect(BATCH_CONNECT_KEYS).toContain(key);
    for (const key of Object.keys(submit.script)) expect(SCRIPT_KEYS).toContain(key);
    expect(submit.batch_connect.template).toBe('basic');
    expect(submit.script).toEqual({
      job_name: 'probe:1.0',
      wall_time: 6 * 3600,
      native: ['--signal=B:USR1@30', '--cpus-per-task=2', '--mem=8G', '--partition=debug'],
    });
  });

  it('puts the body of the job into OnDemand template: script_wrapper forwards signals and has exactly one %s', () => {
    const { submit } = render(form());
    const wrapper = submit.batch_connect.script_wrapper as string;
    expect(wrapper.match(/%/g)).toEqual(['%']);
    expect(wrapper).toContain('%s');
    expect(wrapper).toMatch(/trap 'tre_ood_forward USR1 124' USR1/);
    expect(wrapper).toMatch(/trap 'tre_ood_forward TERM 143' TERM/);
    // The whole job script, as OnDemand would build it, is valid bash.
    const script = ruby([OOD_RB, 'script', APP, stagedRoot()], JSON.stringify(form()));
    expect(script.status).toBe(0);
    expect(script.stdout).toMatch(/^tre_ood_forward\(\) \{/m);
    expect(script.stdout).toMatch(/^"[^"]+\/script\.sh" &$/m);
    expect(spawnSync('bash', ['-n'], { input: script.stdout }).status).toBe(0);
  });

  it('writes tre-job.sh (0700), credentials (0600) and the job record into the staged root, and names the container NAME-SESSION_ID', () => {
    const { root } = render(form());
    expect(listDir(root)).toEqual(['credentials', 'job.json', 'output.log', 'spec.yaml', 'tre-job.sh']);
    expect(statSync(join(root, 'tre-job.sh')).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, 'output.log')).mode & 0o777).toBe(0o600); // Slurm keeps the mode of a log that exists
    expect(statSync(join(root, 'credentials')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, 'credentials'), 'utf8')).toBe(TOKEN);
    // The record `tre-job submit` writes too; the job id is OnDemand's sbatch's, unknown yet.
    expect(statSync(join(root, 'job.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(root, 'job.json'), 'utf8'))).toEqual({
      jobId: null, cluster: null, jobName: 'probe:1.0', image: '127.0.0.1:5000/tre/probe:1.0', submittedAt: expect.any(String),
      jobDir: root, outputLog: join(root, 'output.log'), containerName: `probe-${SESSION}`, source: 'ood',
      spec: 'spec.yaml', site: join(siteDir, 'clusters', 'tre.yaml'), specSource: null, resubmitOf: null, service: null, runtime: 'podman', array: null, host: null,
    });
    expect(readFileSync(join(root, 'tre-job.sh'), 'utf8')).toContain(`tre_container_name='probe'-'${SESSION}'`);
  });

  it('keeps the token out of argv, the environment, the YAML and the form values OnDemand saves afterwards', () => {
    // A tre-job stand-in that records its argv, environment and stdin, then runs the real one.
    const record = join(tmp.path, 'record');
    mkdirSync(record);
    const shim = join(tmp.path, 'tre-job-shim');
    writeFileSync(shim, `#!/bin/bash\nprintf '%s\\0' "$@" > ${record}/argv\nenv -0 > ${record}/env\ntee ${record}/stdin | exec ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(shim, 0o755);
    const r = ruby([OOD_RB, 'render', APP, stagedRoot()], JSON.stringify(form()), { TRE_JOB_BIN: shim, TRE_JOB_OOD_LIB: join(ROOT, 'ood', 'lib', 'tre_job_ood.rb') });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain(TOKEN);
    const rendered = JSON.parse(r.stdout) as Rendered;
    expect(rendered.context.registry_token).toBe(''); // blanked in place before OnDemand writes user_defined_context.json
    const argv = readFileSync(join(record, 'argv'), 'utf8').split('\0');
    expect(argv.join(' ')).not.toContain(TOKEN);
    expect(argv).toContain('--token-stdin');
    expect(argv.slice(argv.indexOf('--session'), argv.indexOf('--session') + 2)).toEqual(['--session', SESSION]);
    expect(readFileSync(join(record, 'env'), 'utf8')).not.toContain('TRE_JOB_REGISTRY_TOKEN');
    expect(readFileSync(join(record, 'stdin'), 'utf8')).toBe(`${TOKEN}\n`);
  });

  it("an answer from tre-job that is not its contract's fails the render and removes what tre-job wrote", () => {
    // A tre-job stand-in that does the work but answers {} (its --contract is the real one).
    const shim = join(tmp.path, 'tre-job-bad-answer');
    writeFileSync(shim, `#!/bin/bash\nif [[ $2 == --contract ]]; then exec ${JSON.stringify(BIN)} "$@"; fi\n${JSON.stringify(BIN)} "$@" >/dev/null || exit\necho '{}'\n`);
    chmodSync(shim, 0o755);
    const root = stagedRoot();
    const r = ruby([OOD_RB, 'render', APP, root], JSON.stringify(form()), { TRE_JOB_BIN: shim, TRE_JOB_OOD_LIB: join(ROOT, 'ood', 'lib', 'tre_job_ood.rb') });
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe(`tre-job: unexpected answer from ${shim} (jobName is not string)`);
    expect(listDir(root)).toEqual(['output.log']);
  });

  it('without a token or username pulls anonymously: no credentials file, no --token-stdin', () => {
    const { root } = render(form({ registry_username: '', registry_token: '' }));
    expect(listDir(root)).toEqual(['job.json', 'output.log', 'spec.yaml', 'tre-job.sh']);
  });

  it.each([
    ['a newline in the container name', { container_name: 'a\nb' }, 'container_name'],
    ['a registry not allowed', { image: 'docker.io/library/busybox:1' }, 'image'],
    ['memory over the limit', { memory_gib: '65537' }, 'memory_gib'],
    ['an env line without =', { env_vars: 'OK=1\nNOEQUALS' }, 'env_vars line 2'],
    ['a GPU where the back-end has none', { use_gpu: '1' }, 'use_gpu'],
    ['a username without a token', { registry_token: '' }, 'token'],
    ['hours over the back-end maximum', { bc_num_hours: '7' }, 'bc_num_hours'],
    ['hours that are not whole', { bc_num_hours: '1.5' }, 'bc_num_hours'],
  ])('%s fails the render with tre-job one-line message, and nothing is staged', (_what, values, field) => {
    const root = stagedRoot();
    const values2 = form(values);
    const r = ruby([OOD_RB, 'render', APP, root], JSON.stringify(values2));
    expect(r.status).toBe(3);
    // What tre-job itself says for these values, as the hook calls it.
    const never = join(tmp.path, 'never', SESSION);
    const tokenArgs = values2.registry_token ? ['--token-stdin'] : [];
    const expected = runBin(['ood', '--form-json', JSON.stringify(values2), '--site', join(siteDir, 'clusters', 'tre.yaml'), '--job-dir', never, '--session', SESSION, ...tokenArgs], {
      env: { ...env, TRE_JOB_REGISTRY_TOKEN: '' },
      input: values2.registry_token ? `${values2.registry_token}\n` : '',
    });
    expect(existsSync(never)).toBe(false);
    expect(expected.status).toBe(2);
    expect(r.stderr.trim()).toBe(expected.stderr.trim());
    expect(r.stderr.trim()).toMatch(new RegExp(`^tre-job: ${field}: [^\\n]+$`));
    expect(r.stderr).not.toContain(TOKEN);
    expect(existsSync(root)).toBe(false);
  });

  it('refuses a cluster without a tre-job site file', () => {
    const r = ruby([OOD_RB, 'render', APP, stagedRoot()], JSON.stringify(form({ cluster: '../etc' })));
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe('tre-job: cluster: "../etc" is not a back-end of this app');
    const missing = ruby([OOD_RB, 'render', APP, stagedRoot()], JSON.stringify(form({ cluster: 'other' })));
    expect(missing.stderr.trim()).toBe(`tre-job: cluster: no tre-job site file for back-end other (${siteDir}/clusters/other.yaml)`);
  });

  it('offers the GPU where the back-end has one', () => {
    const { submit } = render(form({ cluster: 'gpu01', use_gpu: '1' }));
    expect(submit.script.native).toContain('--gres=gpu:1');
  });
});

describe('Number of hours (bc_num_hours)', () => {
  it("asks Slurm for the hours given: wall_time and the script's --time; empty is the site's maxTime, as before the field", () => {
    const one = render(form({ bc_num_hours: '1' }));
    expect(one.submit.script.wall_time).toBe(3600);
    expect(readFileSync(join(one.root, 'tre-job.sh'), 'utf8')).toMatch(/^#SBATCH --time=01:00:00$/m);
    expect(readFileSync(join(one.root, 'spec.yaml'), 'utf8')).toMatch(/^time: 01:00:00$/m); // kept for tre-job resubmit
    expect(one.submit.script.native).not.toContainEqual(expect.stringMatching(/^--time/)); // OnDemand sets it from wall_time
    expect(render(form({ bc_num_hours: '6' })).submit.script.wall_time).toBe(6 * 3600);
    expect(render(form({ bc_num_hours: '' })).submit.script.wall_time).toBe(6 * 3600);
  }, 30000);

  it("is bounded by the chosen back-end's own maxTime (gpu01: 02:30:00, so 2 hours)", () => {
    expect(render(form({ cluster: 'gpu01', bc_num_hours: '2' })).submit.script.wall_time).toBe(2 * 3600);
    expect(render(form({ cluster: 'gpu01', bc_num_hours: '' })).submit.script.wall_time).toBe(2.5 * 3600);
    const root = stagedRoot();
    const r = ruby([OOD_RB, 'render', APP, root], JSON.stringify(form({ cluster: 'gpu01', bc_num_hours: '3' })));
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe('tre-job: bc_num_hours: 3 is over the site maximum of 2 hours (maxTime 02:30:00)');
    expect(existsSync(root)).toBe(false);
  }, 30000);

  /** form.yml.erb rendered with the site files of `sites` (cluster id -> maxTime, or a file's text). */
  function formFor(sites: Record<string, string>) {
    const dir = join(tmp.path, `sites-${++count}`);
    mkdirSync(join(dir, 'clusters'), { recursive: true });
    for (const [id, maxTime] of Object.entries(sites)) {
      writeYaml(join(dir, 'clusters'), `${id}.yaml`, maxTime.includes(':') && !maxTime.includes('\n') ? { ...site, maxTime } : maxTime);
    }
    const code = 'require "erb"; require "yaml"; require "json"; puts JSON.generate(YAML.safe_load(ERB.new(File.read(ARGV[0]), trim_mode: "-").result))';
    const r = ruby(['-e', code, join(APP, 'form.yml.erb')], '', { TRE_JOB_SITE_DIR: dir });
    if (r.status !== 0) throw new Error(r.stderr);
    return { ...(JSON.parse(r.stdout) as { form: string[]; attributes: Record<string, any> }), dir };
  }

  it('hides the field on a back-end whose maxTime is under an hour, where tre-job does not read it: the job gets maxTime', () => {
    const { form: fields, attributes, dir } = formFor({ long: '04:00:00', short: '00:30:00' });
    expect(fields).toContain('bc_num_hours');
    expect(attributes.bc_num_hours).toMatchObject({ max: 4, value: 4 });
    expect(attributes.cluster.options).toEqual([
      ['long', 'long', { 'data-hide-use-gpu': true, 'data-max-bc-num-hours': 4 }],
      ['short', 'short', { 'data-hide-use-gpu': true, 'data-hide-bc-num-hours': true }],
    ]);
    const r = ruby([OOD_RB, 'render', APP, stagedRoot()], JSON.stringify(form({ cluster: 'short', bc_num_hours: '4' })), { TRE_JOB_SITE_DIR: dir });
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as Rendered).submit.script.wall_time).toBe(1800);
  }, 30000);

  it('is left out of the form where no back-end allows an hour; a site file tre-job refuses gives no maximum', () => {
    expect(formFor({ short: '00:59:59' }).form).not.toContain('bc_num_hours');
    const { form: fields, attributes } = formFor({ good: '03:00:00', broken: 'maxTime: 3h\n' });
    expect(fields).toContain('bc_num_hours');
    expect(attributes.bc_num_hours).toMatchObject({ max: 3, value: 3 });
    expect(attributes.cluster.options).toEqual([['broken', 'broken', { 'data-hide-use-gpu': true }], ['good', 'good', { 'data-hide-use-gpu': true, 'data-max-bc-num-hours': 3 }]]);
  }, 30000);
});

describe('parity with tre-job submit', () => {
  function paritySpec(values: Record<string, string>): { ood: string; submit: string; root: string; submitDir: string } {
    const { root } = render(values);
    const spec = runBin(['ood', '--form-json', JSON.stringify(values), '--spec', '--site', join(siteDir, 'clusters', 'tre.yaml')], { env });
    expect(spec.status).toBe(0);
    const specFile = join(tmp.path, `spec-${++count}.yaml`);
    writeFileSync(specFile, spec.stdout);
    const dry = runBin(['submit', specFile, '--site', join(siteDir, 'clusters', 'tre.yaml'), '--dry-run', '--json'], { env });
    expect(dry.status).toBe(0);
    const { script, jobDir } = JSON.parse(dry.stdout) as { script: string; jobDir: string };
    return { ood: readFileSync(join(root, 'tre-job.sh'), 'utf8'), submit: script, root, submitDir: jobDir };
  }
  const podmanRun = (script: string): string => (/^tre_run_options=[\s\S]*?\n\s*\) &$/m.exec(script) ?? [''])[0];

  it('renders the same script, apart from the job directory, and the same container argv', () => {
    const { ood, submit, root, submitDir } = paritySpec(form({ container_name: 'my-analysis' }));
    expect(ood.split(root).join('JOBDIR')).toBe(submit.split(submitDir).join('JOBDIR'));
    expect(podmanRun(ood)).not.toBe('');
    expect(podmanRun(ood)).toBe(podmanRun(submit));
  });

  it('with the default container name, differs only in the name: NAME-SESSION_ID rather than NAME-JOBID', () => {
    const { ood, submit, root, submitDir } = paritySpec(form());
    const a = ood.split(root).join('JOBDIR').split('\n');
    const b = submit.split(submitDir).join('JOBDIR').split('\n');
    expect(a.length).toBe(b.length);
    const differ = a.map((line, i) => [line, b[i]]).filter(([x, y]) => x !== y);
    expect(differ).toEqual([[`tre_container_name='probe'-'${SESSION}'`, "tre_container_name='probe'-$tre_task_id"]]);
    expect(podmanRun(ood)).toBe(podmanRun(submit));
  });
});

describe('form.yml.erb, manifest, template and job card', () => {
  const rubyYaml = (file: string) => {
    const code = `require "erb"; require "yaml"; require "json"; t = File.read(ARGV[0]); t = ERB.new(t, trim_mode: "-").result if ARGV[0].end_with?(".erb"); puts JSON.generate(YAML.safe_load(t))`;
    const r = ruby(['-e', code, file], '');
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as Record<string, any>;
  };

  it('form.yml.erb parses and has the service fields; use GPU hidden on back-ends without GPUs', () => {
    const f = rubyYaml(join(APP, 'form.yml.erb'));
    expect(f.cluster).toEqual(['gpu01', 'tre']);
    expect(f.form).toEqual([
      'cluster', 'image', 'registry_username', 'registry_token', 'runner', 'reuse_sif', 'container_name', 'cpus', 'memory_gib', 'bc_num_hours',
      'use_gpu', 'runner_args', 'env_vars', 'container_args', 'array_items', 'array_parallel',
    ]);
    const a = f.attributes;
    // Each back-end bounds the hours by its site's maxTime (OnDemand's dynamic form: data-max-FIELD on the option).
    expect(a.cluster.options).toEqual([['gpu01', 'gpu01', { 'data-max-bc-num-hours': 2 }], ['tre', 'tre', { 'data-hide-use-gpu': true, 'data-max-bc-num-hours': 6 }]]);
    expect(a.bc_num_hours).toMatchObject({ widget: 'number_field', label: 'Number of hours', min: 1, max: 6, step: 1, value: 6 });
    expect(a.registry_token).toMatchObject({ widget: 'password_field', cacheable: false });
    expect(a.runner.options.map((o: string[]) => o[1])).toEqual(['podman', 'apptainer']);
    expect(a.runner.options[0][2]).toEqual({ 'data-hide-reuse-sif': true });
    expect(a.runner.options[1][2]).toEqual({ 'data-hide-container-name': true });
    expect(a.reuse_sif.widget).toBe('check_box');
    expect(a.use_gpu.widget).toBe('check_box');
    expect(a.cpus.widget).toBe('number_field');
    expect(a.memory_gib.widget).toBe('number_field');
    for (const k of ['runner_args', 'env_vars', 'container_args', 'array_items']) expect(a[k].widget).toBe('text_area');
    expect(a.array_items.label).toBe('Items (one per line, optional)');
    expect(a.array_items.help).toMatch(/one task of a Slurm job array.*\$\{TRE_ITEM\}.*\$\{TRE_TASK\}.*outputs-NUMBER\/TASK/s);
    expect(a.array_parallel).toMatchObject({ widget: 'number_field', label: 'Tasks at once', min: 1, step: 1 });
    expect(a.array_parallel).not.toHaveProperty('value'); // empty: as many as Slurm allows
    for (const k of ['image', 'registry_username', 'container_name']) expect(a[k].widget).toBe('text_field');
  });

  it('manifest.yml is a batch_connect app; template/script.sh is executable and execs tre-job.sh', () => {
    expect(rubyYaml(join(APP, 'manifest.yml'))).toMatchObject({ name: 'Run Batch Container', role: 'batch_connect' });
    const script = join(APP, 'template', 'script.sh');
    expect(statSync(script).mode & 0o111).toBe(0o111);
    expect(readFileSync(script, 'utf8')).toMatch(/^exec "\$\{BASH_SOURCE\[0\]%\/\*\}\/tre-job\.sh"$/m);
  });

  it('the job card says the container is running, with its name; the completed card gives the exit status', () => {
    const { root } = render(form());
    writeFileSync(join(root, 'output.log'), '2026-01-01 00:00:00 tre-job INFO: Job finished with exit status 3\n');
    const card = (file: string, state: string) => {
      const code = [
        'require "erb"; require "ostruct"',
        'Status = Struct.new(:state) do; def running?; state == "running"; end; def queued?; state == "queued"; end; end',
        'session = OpenStruct.new(staged_root: Pathname.new(ARGV[1]), id: File.basename(ARGV[1]), status: Status.new(ARGV[2]))',
        'require "pathname"',
        'print ERB.new(File.read(ARGV[0]), trim_mode: "-").result(session.instance_eval { binding })',
      ].join('\n');
      const r = ruby(['-rpathname', '-e', code, join(APP, file), root, state], '');
      if (r.status !== 0) throw new Error(r.stderr);
      return r.stdout;
    };
    expect(card('info.md.erb', 'running')).toContain(`Container probe-${SESSION} is now running. Please wait until the container completes.`);
    expect(card('info.md.erb', 'queued')).not.toContain('is now running');
    expect(card('completed.md.erb', 'completed')).toContain(`Container probe-${SESSION} has completed with exit status 3.`);
    expect(card('completed.md.erb', 'completed')).toContain('See `output.log` in this session');
    writeFileSync(join(root, 'output.log'), '2026-01-01 00:00:00 tre-job INFO: Cleaning up\n');
    expect(card('completed.md.erb', 'completed')).toContain(`Container probe-${SESSION} has completed.\n`);
  });

  // Renders the batch app's card file as OnDemand does: the session as self (staged_root, status,
  // and job_id when given: OnDemand's id of the job, what sbatch printed).
  const renderCard = (root: string, file: string, state: string, jobId?: string) => {
    const code = [
      'require "erb"; require "ostruct"',
      'Status = Struct.new(:state) do; def running?; state == "running"; end; def queued?; state == "queued"; end; end',
      'fields = { staged_root: Pathname.new(ARGV[1]), id: File.basename(ARGV[1]), status: Status.new(ARGV[2]) }',
      'fields[:job_id] = ARGV[3] if ARGV[3]',
      'print ERB.new(File.read(ARGV[0]), trim_mode: "-").result(OpenStruct.new(fields).instance_eval { binding })',
    ].join('\n');
    const r = ruby(['-rpathname', '-e', code, join(APP, file), root, state, ...(jobId ? [jobId] : [])], '');
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout;
  };
  const taskLog = (root: string, task: number, lines: string[]) =>
    writeFileSync(join(root, `output-${task}.log`), lines.map((l) => `2026-01-01 00:00:00 tre-job INFO: ${l}\n`).join(''));
  const taskLines = (task: number, status?: number) => [
    `Job 4242_${task} started on node1 (time limit 01:00:00)`,
    `Outputs: /home/u/outputs-17/${task} (mounted at /safe_outputs, kept after the job)`,
    `Container probe-${SESSION}_${task} is now running.`,
    ...(status === undefined ? [] : [`Job finished with exit status ${status}`]),
  ];

  it("a job array's card: N tasks (K at once), a task's log output-TASK.log and outputs-NUMBER/TASK, and the command that lists them", () => {
    const { root } = render(form({ array_items: 'a\r\nb\r\nc', array_parallel: '2' }));
    expect(JSON.parse(readFileSync(join(root, 'job.json'), 'utf8')).array).toEqual({ tasks: 3, parallel: 2 });
    // Queued: no task has a log yet, OnDemand knows the array's id.
    const queued = renderCard(root, 'info.md.erb', 'queued', '4242');
    expect(queued).toContain('Job array of 3 tasks (at most 2 at once) will start when the back-end has room for it.');
    expect(queued).toContain("Task TASK's log is `output-TASK.log` in this session's directory");
    expect(queued).toContain('kept in `$HOME/outputs-NUMBER/TASK` on the back-end. `tre-job status 4242` lists the tasks.');
    expect(queued).not.toContain('output.log');
    expect(renderCard(root, 'info.md.erb', 'queued')).toContain('`tre-job status ARRAYID` lists the tasks.');
    // Running: task 0's log names the array's id and its outputs-NUMBER.
    taskLog(root, 0, taskLines(0));
    const running = renderCard(root, 'info.md.erb', 'running');
    expect(running).toContain(`Job array of 3 tasks (at most 2 at once) is running; task TASK runs in container probe-${SESSION}\\_TASK.`);
    expect(running).toContain('kept in `$HOME/outputs-17/TASK` on the back-end. `tre-job status 4242` lists the tasks.');
    expect(running).not.toMatch(/output\.log|is now running|exit status/);
  });

  it("a job array's completed card counts the tasks that logged their exit status, and those with 0; no one exit status", () => {
    const { root } = render(form({ array_items: 'a\r\nb\r\nc\r\nd' }));
    writeFileSync(join(root, 'output.log'), '2026-01-01 00:00:00 tre-job INFO: Job finished with exit status 9\n'); // not an array's
    const completed = () => renderCard(root, 'completed.md.erb', 'completed');
    expect(completed()).toContain('Job array of 4 tasks has ended: 0 of 4 tasks finished, 0 with exit status 0.\n');
    taskLog(root, 0, taskLines(0, 0));
    // Task 1's finished line is followed by OnDemand's clean-up, and a long log before it.
    writeFileSync(join(root, 'output-1.log'), `${'container output\n'.repeat(20000)}2026-01-01 00:00:00 tre-job INFO: Job finished with exit status 3\nCleaning up...\n`);
    taskLog(root, 2, taskLines(2)); // still running, or cancelled before its end
    taskLog(root, 4, taskLines(4, 0)); // not a task of this array
    const text = completed();
    expect(text).toContain('Job array of 4 tasks has ended: 2 of 4 tasks finished, 1 with exit status 0.\n');
    expect(text).toContain("Task TASK's log is `output-TASK.log` in this session's directory; `tre-job status 4242` lists the tasks.");
    expect(text).toContain('kept in `$HOME/outputs-17/TASK` on the\nback-end; `/scratch` has been deleted.');
    expect(text).not.toMatch(/output\.log|has completed|exit status [1-9]/);
    taskLog(root, 2, taskLines(2, 0));
    taskLog(root, 3, taskLines(3, 0));
    expect(completed()).toContain('4 of 4 tasks finished, 3 with exit status 0.');
  });

  it("a job array's completed card reads each task's log only from its end (a thousand tasks may have long logs)", () => {
    const { root } = render(form({ array_items: 'a\r\nb' }));
    // A finished line far from the end (more than a few KiB before it) is not looked for.
    writeFileSync(join(root, 'output-0.log'), `2026-01-01 00:00:00 tre-job INFO: Job finished with exit status 0\n${'x'.repeat(65536)}\n`);
    taskLog(root, 1, taskLines(1, 0));
    expect(renderCard(root, 'completed.md.erb', 'completed')).toContain('1 of 2 tasks finished, 1 with exit status 0.');
  });

  it('the helper asks tre-job for its contract once per process (the dashboard is long-running)', () => {
    const calls = join(tmp.path, 'contract-calls');
    const shim = join(tmp.path, 'tre-job-counting');
    writeFileSync(shim, `#!/bin/bash\necho "$*" >> ${calls}\nexec ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(shim, 0o755);
    const code = 'require ARGV[0]; 3.times { TreJobOod.card(ARGV[1], ended: true) }; print TreJobOod.contract.fetch("files").fetch("record")';
    const r = ruby(['-e', code, join(ROOT, 'ood', 'lib', 'tre_job_ood.rb'), tmp.path], '', { TRE_JOB_BIN: shim });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('job.json');
    expect(readFileSync(calls, 'utf8')).toBe('ood --contract\n');
  });

  it('asks once per site file for its limits, and that answer serves the rest: a form, a submit and a card in one process', () => {
    const calls = join(tmp.path, 'contract-site-calls');
    const shim = join(tmp.path, 'tre-job-counting-sites');
    writeFileSync(shim, `#!/bin/bash\n[[ $2 == --contract ]] && echo "$*" >> ${calls}\nexec ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(shim, 0o755);
    const code = [
      'require ARGV[0]; require "ostruct"',
      'app = "form: [cluster, image, bc_num_hours]\\n"',
      '2.times { TreJobOod.form(app) }',
      'ctx = OpenStruct.new(cluster: "tre", image: "127.0.0.1:5000/tre/probe:1.0", bc_num_hours: "1", staged_root: ARGV[1])',
      'print TreJobOod.submit(ctx)[/wall_time: \\d+/]',
      'TreJobOod.card(ARGV[1])',
      'File.utime(Time.now + 60, Time.now + 60, File.join(ENV["TRE_JOB_SITE_DIR"], "clusters", "tre.yaml"))', // edited: asked again
      'TreJobOod.form(app)',
    ].join('\n');
    const r = ruby(['-e', code, join(ROOT, 'ood', 'lib', 'tre_job_ood.rb'), stagedRoot()], '', { TRE_JOB_BIN: shim });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('wall_time: 3600');
    const site = (id: string) => `ood --contract --site ${join(siteDir, 'clusters', `${id}.yaml`)}`;
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([site('gpu01'), site('tre'), site('tre')]);
  }, 30000);
});
