// `tre-job site` (what the site allows, in words and as JSON) and `tre-job init` (a starter spec
// that validates as written, written new and private).
import { existsSync, lstatSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { checkStarter } from '../../src/commands/init';
import { checkRunnerArgs } from '../../src/policy';
import { deniedOptions, RUNNER_OPTIONS, Runtime } from '../../src/runtimes/options';
import { BUILT_IN_SITE } from '../../src/site/schema';
import { runCli, runCliUnchecked, tempDir, writeYaml } from '../helpers';

const RUNTIMES: Runtime[] = ['podman', 'apptainer'];

/** A site unlike the built-in one in every way `site` and `init` read. */
const CUSTOM = {
  registries: [{ host: 'gitlab.example.org', pullHost: 'gitlab.example.org:5050' }, { host: '127.0.0.1:5000', insecure: true }],
  defaultRuntime: 'apptainer',
  maxTime: '00:30:00',
  maxCpus: 1,
  maxMemoryGiB: 2,
  gpuGres: 'gpu:a100:1',
  partition: 'batch',
  projectGroupPrefix: 'tre',
  runnerArgs: { mode: 'allow', allow: ['--workdir', '-v'], deny: ['--entrypoint'] },
  forcedRunnerArgs: { podman: ['--read-only'] },
  forcedMounts: [{ source: '/opt/tools', target: '/tools' }],
  servicePorts: { min: 30000, max: 30099 },
  serviceTimeoutSeconds: 90,
  signalGraceSeconds: 30,
  jobsDir: '/scratch/jobs',
};

let dir: { path: string; remove: () => void };
let custom: string;
beforeEach(() => {
  dir = tempDir();
  custom = writeYaml(dir.path, 'site.yaml', CUSTOM);
});
afterEach(() => dir.remove());

/** An argv for `flag` as the runtime takes it (with a value when it needs one). */
function argsFor(runtime: Runtime, flag: string): string[] {
  const option = RUNNER_OPTIONS[runtime].find((o) => o.long === flag);
  return option?.takesValue ? [flag, '/data/x:/x'] : [flag];
}

describe('tre-job site', () => {
  it('says in words what the built-in site allows', () => {
    const { stdout } = runCli(['site']);
    expect(stdout).toMatch(/^Site: built-in defaults/);
    expect(stdout).toMatch(/^ {2}ghcr\.io: +pulled as written$/m);
    expect(stdout).toContain('git.ecdf.ed.ac.uk: pulled from git.ecdf.ed.ac.uk:5050 (the port is added for you; write images without it)');
    expect(stdout).toMatch(/^ {2}podman: +podman run \(default\)$/m);
    expect(stdout).toMatch(/^ {2}apptainer: +apptainer run$/m);
    expect(stdout).toMatch(/^ {2}time: +at most 06:00:00, which is also the default/m);
    expect(stdout).toMatch(/^ {2}cpus: +no site limit \(the partition's\)$/m);
    expect(stdout).toMatch(/^ {2}memoryGiB: +no site limit \(the partition's\)$/m);
    expect(stdout).toMatch(/^ {2}gpu: +no GPUs$/m);
    expect(stdout).toMatch(/^ {2}mode: +deny: any documented option of podman run \/ apptainer run/m);
    expect(stdout).toMatch(/^ {2}project: +\$HOME\/safe_data if it exists, else \/safe_data\/X where you are in group X or any group ending in -X$/m);
    expect(stdout).toMatch(/^ {2}safeData: +auto: .*; required: .*; none: /m);
    expect(stdout).toMatch(/^ {2}ports: +20000-60999$/m);
    expect(stdout).toMatch(/^ {2}start-up: +the service must answer HTTP within 180 s$/m);
    expect(stdout).toMatch(/^ {2}clean-up: +starts 60 s before the time limit$/m);
    expect(stdout).toMatch(/^ {2}job dirs: +\$HOME\/tre-jobs$/m);
    // Every flag refused by default, on the line of its reason, under its runtime.
    for (const runtime of RUNTIMES) {
      const block = stdout.split(`Refused ${runtime} run options, and why\n`)[1]?.split('\n\n')[0] ?? '';
      for (const [flag, why] of Object.entries(deniedOptions(runtime))) {
        expect(block.split('\n').find((line) => line.startsWith(`  ${why}:`))?.split(/ +/)).toContain(flag);
      }
    }
  });

  it('keeps each section\'s values in one column', () => {
    const { stdout } = runCli(['site']);
    // Where a value may start in a line: after ': ' and any padding (a key may hold ': ' itself).
    const starts = (line: string) => [...line.matchAll(/: +(?=\S)/g)].map((m) => (m.index ?? 0) + m[0].length);
    const blocks = stdout.split('\n\n').map((block) => block.split('\n').slice(1).filter(Boolean)).filter((rows) => rows.length > 1);
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    for (const rows of blocks) {
      const shared = rows.map(starts).reduce((a, b) => a.filter((p) => b.includes(p)));
      expect([rows, shared.length]).toEqual([rows, 1]);
    }
  });

  it('prints the built-in site as JSON, refusals grouped by reason as the policy applies them', () => {
    const site = JSON.parse(runCli(['site', '--json']).stdout);
    expect(Object.keys(site)).toEqual(['source', 'registries', 'runtimes', 'defaultRuntime', 'limits', 'runnerArgs', 'safeData', 'services', 'signalGraceSeconds', 'jobsDir', 'home']);
    expect(site.source).toBe('built-in');
    expect(site.registries).toEqual([
      { host: 'ghcr.io', pullHost: null, insecure: false },
      { host: 'git.ecdf.ed.ac.uk', pullHost: 'git.ecdf.ed.ac.uk:5050', insecure: false },
    ]);
    expect(site.runtimes).toEqual(RUNTIMES);
    expect(site.limits).toEqual({ maxTime: '06:00:00', defaultTime: '06:00:00', maxCpus: null, maxMemoryGiB: null, maxArrayTasks: 1000, gpuGres: null, partition: null });
    expect(site.safeData).toEqual({ root: '/safe_data', projectGroupPrefix: '', modes: ['auto', 'required', 'none'], defaultMode: 'auto' });
    expect(site.services).toEqual({ kinds: ['jupyter', 'rstudio', 'http'], ports: { min: 20000, max: 60999 }, timeoutSeconds: 180 });
    for (const runtime of RUNTIMES) {
      const listed = (site.runnerArgs.refused[runtime] as { reason: string; flags: string[] }[]).flatMap(({ reason, flags }) => flags.map((flag) => [flag, reason]));
      expect(Object.fromEntries(listed)).toEqual(deniedOptions(runtime));
      // What it lists is what the policy refuses, for the reason it gives.
      for (const [flag, reason] of listed) {
        expect(() => checkRunnerArgs(runtime, argsFor(runtime, flag as string), BUILT_IN_SITE)).toThrow(`${flag} is not allowed here: it ${reason}`);
      }
    }
  });

  it('describes a site file: pull host, allow mode, forced args and mounts, limits, GPU, group prefix', () => {
    const { stdout } = runCli(['site', '--site', custom]);
    expect(stdout).toMatch(new RegExp(`^Site: ${custom}$`, 'm'));
    expect(stdout).toContain('gitlab.example.org: pulled from gitlab.example.org:5050 (the port is added for you; write images without it)');
    expect(stdout).toMatch(/^ {2}127\.0\.0\.1:5000: +pulled as written; plain HTTP/m);
    expect(stdout).toMatch(/^ {2}apptainer: +apptainer run \(default\)$/m);
    expect(stdout).toMatch(/^ {2}time: +at most 00:30:00/m);
    expect(stdout).toMatch(/^ {2}cpus: +at most 1$/m);
    expect(stdout).toMatch(/^ {2}memoryGiB: +at most 2$/m);
    expect(stdout).toMatch(/^ {2}gpu: +gpu: true asks for --gres=gpu:a100:1$/m);
    expect(stdout).toMatch(/^ {2}partition: +batch unless the spec names another$/m);
    expect(stdout).toMatch(/^ {2}mode: +allow: only these options of podman run \/ apptainer run \(long or short form\): --workdir -v$/m);
    expect(stdout).toMatch(/^ {2}refused by the site: +--entrypoint$/m);
    expect(stdout).toMatch(/^ {2}mounts: +.* or over \/safe_data, \/tools; /m);
    expect(stdout).toMatch(/^ {2}forced, podman: +--read-only \(after yours\)$/m);
    expect(stdout).toMatch(/^ {2}forced, apptainer: +none$/m);
    expect(stdout).toMatch(/^ {2}forced mounts: +\/opt\/tools at \/tools \(read-only\)$/m);
    expect(stdout).toMatch(/where you are in group X or tre-X$/m);
    expect(stdout).toMatch(/^ {2}ports: +30000-30099$/m);
    expect(stdout).toMatch(/^ {2}job dirs: +\/scratch\/jobs$/m);
    // In allow mode the built-in list does not apply (the allow list is the rule): none is shown.
    expect(stdout).not.toContain('Refused podman run options');

    const site = JSON.parse(runCli(['site', '--site', custom, '--json']).stdout);
    expect(site.source).toBe(custom);
    expect(site.registries[0]).toEqual({ host: 'gitlab.example.org', pullHost: 'gitlab.example.org:5050', insecure: false });
    expect(site.defaultRuntime).toBe('apptainer');
    expect(site.limits).toEqual({ maxTime: '00:30:00', defaultTime: '00:30:00', maxCpus: 1, maxMemoryGiB: 2, maxArrayTasks: 1000, gpuGres: 'gpu:a100:1', partition: 'batch' });
    expect(site.runnerArgs).toMatchObject({
      mode: 'allow',
      allow: ['--workdir', '-v'],
      deny: ['--entrypoint'],
      refused: { podman: [], apptainer: [] },
      forced: { podman: ['--read-only'], apptainer: [] },
      forcedMounts: [{ source: '/opt/tools', target: '/tools', readOnly: true }],
    });
    expect(site.services).toMatchObject({ ports: { min: 30000, max: 30099 }, timeoutSeconds: 90 });
    expect(site.signalGraceSeconds).toBe(30);
  });

  it('reads $TRE_JOB_SITE as loadSite does, and names it', () => {
    process.env.TRE_JOB_SITE = custom;
    try {
      expect(JSON.parse(runCli(['site', '--json']).stdout).source).toBe(custom);
    } finally {
      delete process.env.TRE_JOB_SITE;
    }
  });

  it('refuses a bad site file with one line, exit 2', () => {
    const result = runCliUnchecked(['site', '--site', writeYaml(dir.path, 'bad.yaml', { maxTime: '6 hours' })]);
    expect(result.status).toBe(2);
    // (The line is added where the loader knows it.)
    expect(result.stderr).toMatch(/^tre-job: site\.maxTime: must be HH:MM:SS( \(line 1\))?\n$/);
  });
});

describe('tre-job init', () => {
  const services = [undefined, 'jupyter', 'rstudio', 'http'];
  const combos = services.flatMap((service) => RUNTIMES.flatMap((runtime) => ['built-in', 'custom'].map((site) => [service ?? 'batch', runtime, site] as const)));

  it.each(combos)('%s job, %s, %s site: written as it validates', (service, runtime, which) => {
    const file = join(dir.path, 'job.yaml');
    const siteArgs = which === 'custom' ? ['--site', custom] : [];
    const serviceArgs = service === 'batch' ? [] : ['--service', service];
    const result = runCli(['init', file, '--runtime', runtime, ...serviceArgs, ...siteArgs]);
    expect(result.stdout).toBe(`Wrote ${file} (put your image in its image line). Next: tre-job validate ${file}${siteArgs.length ? ` --site ${custom}` : ''}, then tre-job submit ${file}${siteArgs.length ? ` --site ${custom}` : ''} --token-file FILE\n`);
    expect(runCli(['validate', file, ...siteArgs]).stdout).toMatch(new RegExp(`^${file}: ok \\(${runtime}, `));

    const text = readFileSync(file, 'utf8');
    const spec = parse(text);
    const host = which === 'custom' ? CUSTOM.registries[0]?.host : BUILT_IN_SITE.registries[0]?.host;
    expect(spec.image).toBe(`${host}/your-org/your-image:1.0`);
    expect(spec.runtime).toBe(runtime);
    expect(spec.service).toBe(service === 'batch' ? undefined : service);
    expect('reuseSif' in spec).toBe(runtime === 'apptainer');
    // Within the limits, and the comments name them.
    if (which === 'custom') {
      expect(spec).toMatchObject({ cpus: 1, memoryGiB: 2, time: '00:30:00' });
      expect(text).toMatch(/^time: "00:30:00" +# wall time HH:MM:SS; at most 00:30:00 here/m);
      expect(text).toMatch(/^# gpu: true +# ask for a GPU \(sbatch --gres=gpu:a100:1\)$/m);
      expect(text).toMatch(/^# Extra (podman|apptainer) run options/m);
    } else {
      expect(spec).toMatchObject({ cpus: 2, memoryGiB: 4, time: '01:00:00' });
      expect(text).toMatch(/^time: "01:00:00" +# wall time HH:MM:SS; at most 06:00:00 here/m);
      expect(text).toContain('# gpu: this site has no GPUs');
    }
    if (service !== 'batch') {
      expect(text).toMatch(/^# An interactive service: the job picks a free port/m);
      expect(text).toContain(which === 'custom' ? '(30000-30099)' : '(20000-60999)');
    }
    // Every line is a comment, blank, or YAML a spec holds: each field has its one-line comment.
    for (const line of text.split('\n')) expect(line).toMatch(/^(#.*|)$|^[a-zA-Z ]+:( .*)?$/);
  });

  it('puts --image in the image line and the registry it names in the username hint', () => {
    const file = join(dir.path, 'probe.yaml');
    runCli(['init', file, '--image', '127.0.0.1:5000/tre/probe:1.0', '--site', custom]);
    const text = readFileSync(file, 'utf8');
    expect(parse(text).image).toBe('127.0.0.1:5000/tre/probe:1.0');
    expect(text).toContain('# Your username on 127.0.0.1:5000 ');
    expect(runCli(['validate', file, '--site', custom]).stdout).toContain('127.0.0.1:5000/tre/probe:1.0');
  });

  it('offers Jupyter\'s base URL for the OnDemand proxy, commented out', () => {
    const { stdout } = runCli(['init', '-', '--service', 'jupyter']);
    expect(stdout).toContain('#   - TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/ ');
    expect(stdout).toContain('# tre-job sets JUPYTER_TOKEN, TRE_PORT, HOME: do not set them in env.');
    expect(parse(stdout).env).toBeUndefined();
  });

  it('prints the spec for -, and writes nothing', () => {
    const result = runCli(['init', '-']);
    expect(result.stdout).toMatch(/^# A tre-job job spec/);
    expect(parse(result.stdout).image).toBe('ghcr.io/your-org/your-image:1.0');
  });

  it('writes ./job.yaml by default', () => {
    const cwd = process.cwd();
    process.chdir(dir.path);
    try {
      expect(runCli(['init']).stdout).toMatch(/^Wrote job\.yaml /);
      expect(existsSync(join(dir.path, 'job.yaml'))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses to overwrite a file (exit 2) and leaves it as it was', () => {
    const file = join(dir.path, 'job.yaml');
    writeFileSync(file, 'mine\n', { mode: 0o644 });
    const result = runCliUnchecked(['init', file]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`tre-job: ${file}: already exists: give another file name (tre-job init other.yaml) or remove it first\n`);
    expect(readFileSync(file, 'utf8')).toBe('mine\n');
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });

  it('refuses to write through a symlink, even a dangling one', () => {
    const link = join(dir.path, 'link.yaml');
    symlinkSync(join(dir.path, 'elsewhere.yaml'), link);
    expect(runCliUnchecked(['init', link]).status).toBe(2);
    expect(existsSync(join(dir.path, 'elsewhere.yaml'))).toBe(false);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('creates the file 0600 under umask 000', () => {
    const old = process.umask(0);
    try {
      runCli(['init', join(dir.path, 'job.yaml')]);
    } finally {
      process.umask(old);
    }
    expect(statSync(join(dir.path, 'job.yaml')).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['a registry the site does not allow', 'docker.io/library/ubuntu:22.04', 'tre-job: --image: registry docker.io is not allowed here (allowed: ghcr.io, git.ecdf.ed.ac.uk)\n'],
    ['an upper-case path', 'ghcr.io/My-Org/x:1', 'tre-job: --image: path part "My-Org" is not valid'],
    ['a space', 'ghcr.io/a/b:1 --privileged', 'tre-job: --image: must not contain spaces or newlines\n'],
  ])('refuses --image with %s: one line naming the flag, exit 2, nothing written', (_what, image, error) => {
    const file = join(dir.path, 'job.yaml');
    const result = runCliUnchecked(['init', file, '--image', image]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^tre-job: [^\n]+\n$/);
    expect(result.stderr.startsWith(error.replace(/\n$/, ''))).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it.each([
    ['--service', 'web', 'tre-job: --service: must be one of jupyter, rstudio, http, not "web"\n'],
    ['--runtime', 'docker', 'tre-job: --runtime: must be one of podman, apptainer, not "docker"\n'],
  ])('refuses %s %s with one line', (flag, value, error) => {
    const result = runCliUnchecked(['init', join(dir.path, 'job.yaml'), flag, value]);
    expect(result).toMatchObject({ status: 2, stderr: error });
    expect(existsSync(join(dir.path, 'job.yaml'))).toBe(false);
  });

  it('treats a starter that does not validate as its own bug, not the user\'s input', () => {
    const bad = 'image: ghcr.io/YOUR-ORG/x:1\n';
    expect(() => checkStarter(bad, BUILT_IN_SITE)).toThrow(/^init made a spec that does not validate \(a bug in tre-job; please report it\): image: path part "YOUR-ORG"/);
  });
});
