// Errors that say where: every problem of a spec, one line each with its line in the file, in
// the file's order; syntax errors as FILE:LINE:COL; what to write for a wrong type; the nearest
// known key, value or command; and --json errors as one JSON object on stderr.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nearest } from '../../src/suggest';
import { runCliUnchecked, tempDir, writeYaml } from '../helpers';

let dir: { path: string; remove: () => void };
beforeEach(() => (dir = tempDir()));
afterEach(() => dir.remove());

/** Run tre-job with a spec written as TEXT; the temp dir is left out of messages. */
function withSpec(text: string, args: (spec: string) => string[]) {
  const spec = writeYaml(dir.path, 'job.yaml', text);
  const result = runCliUnchecked(args(spec));
  return { ...result, stderr: result.stderr.split(`${dir.path}/`).join('') };
}

const IMAGE = 'image: ghcr.io/mikej888/hello-tre:1.0\n';

describe('every problem, one line each, in the order of the file', () => {
  const spec = `${IMAGE}memoryGiB: 8G\ntime: "07:00:00"\nrunnerArgs: [--privileged]\nenv:\n  - NOEQUALS\nreuse_sif: true\n`;

  it('validate reports the schema and the site problems together, with their lines, and exits 2', () => {
    const result = withSpec(spec, (file) => ['validate', file]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        'tre-job: memoryGiB: must be a whole number of GiB, e.g. 8 (line 2)',
        'tre-job: time: 07:00:00 is over the site maximum 06:00:00 (line 3)',
        'tre-job: runnerArgs.0: --privileged is not allowed here: it grants privilege (line 4)',
        'tre-job: env.0: expected NAME=value, got "NOEQUALS" (line 6)',
        'tre-job: reuse_sif: unknown key (did you mean reuseSif?) (line 7)',
        '',
      ].join('\n'),
    );
  });

  it('render --job-dir writes nothing and says the same', () => {
    const out = join(dir.path, 'out');
    const result = withSpec(spec, (file) => ['render', file, '--job-dir', out]);
    expect(result.status).toBe(2);
    expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(5);
    expect(existsSync(out)).toBe(false);
  });

  it('site problems of a valid spec are all reported too', () => {
    const result = withSpec(`${IMAGE}time: "07:00:00"\ngpu: true\nrunnerArgs: ["--network=host"]\n`, (file) => ['validate', file]);
    expect(result.stderr).toBe(
      [
        'tre-job: time: 07:00:00 is over the site maximum 06:00:00 (line 2)',
        'tre-job: gpu: this site has no GPUs (line 3)',
        'tre-job: runnerArgs.0: --network is not allowed here: it shares host or other namespaces (line 4)',
        '',
      ].join('\n'),
    );
  });

  it('a mistyped runtime does not bring problems that are not there (reuseSif under the default runtime)', () => {
    const result = withSpec(`${IMAGE}runtime: apptaner\nreuseSif: true\n`, (file) => ['validate', file]);
    expect(result.stderr).toBe('tre-job: runtime: must be one of podman, apptainer (did you mean apptainer?) (line 2)\n');
  });

  it('one line per field, even when a value breaks several rules', () => {
    const result = withSpec(`${IMAGE}name: "a b\\nc"\n`, (file) => ['validate', file]);
    expect(result.stderr).toBe('tre-job: name: must not contain a newline (line 2)\n');
  });

  it('the site limits on CPUs and memory', () => {
    const site = writeYaml(dir.path, 'site.yaml', { maxCpus: 4, maxMemoryGiB: 16 });
    const result = withSpec(`${IMAGE}cpus: 8\nmemoryGiB: 32\n`, (file) => ['validate', file, '--site', site]);
    expect(result.stderr).toBe('tre-job: cpus: 8 is over the site maximum 4 (line 2)\ntre-job: memoryGiB: 32 is over the site maximum 16 (line 3)\n');
    expect(withSpec(`${IMAGE}cpus: 4\nmemoryGiB: 16\n`, (file) => ['validate', file, '--site', site]).status).toBe(0);
  });
});

describe('a wrong type says what to write', () => {
  it.each([
    ['memoryGiB: 8G', 'memoryGiB: must be a whole number of GiB, e.g. 8'],
    ['cpus: two', 'cpus: must be a whole number of CPUs, e.g. 2'],
    ['cpus: 1.5', 'cpus: must be a whole number of CPUs, e.g. 2'],
    ['cpus: 0', 'cpus: must be from 1 to 4096 CPUs'],
    ['args: ["-n", 5]', 'args.1: must be text: quote it, e.g. "5"'],
    ['args: "-d 5"', 'args: must be a list (- item per line, or [a, b])'],
    ['gpu: yes', 'gpu: must be true or false'],
    ['registry: alice', 'registry: must be a mapping (key: value lines)'],
    ['safeData: maybe', 'safeData: must be one of auto, required, none'],
    ['service: jupiter', 'service: must be one of jupyter, rstudio, http (did you mean jupyter?)'],
  ])('%s', (line, message) => {
    const result = withSpec(`${IMAGE}${line}\n`, (file) => ['validate', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`tre-job: ${message} (line 2)\n`);
  });

  it('a missing image says what to write, with no line (it is not there)', () => {
    expect(withSpec('cpus: 2\n', (file) => ['validate', file]).stderr).toBe('tre-job: image: is required, e.g. image: ghcr.io/mikej888/hello-tre:1.0\n');
  });
});

describe('syntax errors name the file, line and column', () => {
  it('YAML', () => {
    const result = withSpec(`${IMAGE}cpus: 2\nargs: [unclosed\n`, (file) => ['validate', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^tre-job: job\.yaml:4:1: not valid YAML or JSON: [^\n]+\n$/);
  });

  it('JSON, every error', () => {
    const result = withSpec('{\n  "image": "ghcr.io/a/b:1",\n  "cpus": 2,,\n  "gpu": tru e\n}\n', (file) => ['validate', file]);
    expect(result.status).toBe(2);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) expect(line).toMatch(/^tre-job: job\.yaml:[34]:[0-9]+: not valid YAML or JSON: /);
  });

  it('a duplicate key', () => {
    expect(withSpec(`${IMAGE}cpus: 2\ncpus: 3\n`, (file) => ['validate', file]).stderr).toMatch(/^tre-job: job\.yaml:3:1: not valid YAML or JSON: Map keys must be unique\n$/);
  });

  it('the site file too', () => {
    const site = writeYaml(dir.path, 'site.yaml', 'maxTime: "06:00:00"\nmaxTime: x\n');
    const result = withSpec(IMAGE, (file) => ['validate', file, '--site', site]);
    expect(result.stderr).toMatch(/^tre-job: site\.yaml:2:1: not valid YAML or JSON: /);
  });
});

describe('the nearest known word', () => {
  it('for keys, nested keys and site keys', () => {
    expect(withSpec(`${IMAGE}registry:\n  usrname: alice\n`, (file) => ['validate', file]).stderr).toContain('tre-job: registry.usrname: unknown key (did you mean username?) (line 3)\n');
    expect(withSpec(`${IMAGE}memory: 8\n`, (file) => ['validate', file]).stderr).toBe('tre-job: memory: unknown key (line 2)\n');
    const site = writeYaml(dir.path, 'site.yaml', 'maxtime: "01:00:00"\n');
    expect(withSpec(IMAGE, (file) => ['validate', file, '--site', site]).stderr).toBe('tre-job: site.maxtime: unknown key (did you mean maxTime?) (line 1)\n');
  });

  it('for commands', () => {
    const result = runCliUnchecked(['stauts']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe("tre-job: unknown command 'stauts' (Did you mean status?)\n");
  });

  it('only when near: case, _ and - do not count; one edit in three letters does', () => {
    expect(nearest('reuse_sif', ['reuseSif', 'runtime'])).toBe('reuseSif');
    expect(nearest('MEMORYGIB', ['memoryGiB'])).toBe('memoryGiB');
    expect(nearest('imgae', ['image', 'name'])).toBe('image');
    expect(nearest('colour', ['image', 'cpus', 'gpu'])).toBeUndefined();
    expect(nearest('x', [])).toBeUndefined();
  });
});

describe('an OOD form', () => {
  it("every problem of the form's own fields, one line each", () => {
    const form = { image: 'ghcr.io/mikej888/hello-tre:1.0', cpus: 'x', memory_gib: 'y', bc_num_hours: '99' };
    const result = runCliUnchecked(['ood', '--form-json', JSON.stringify(form)]);
    expect(result.status).toBe(2);
    expect(result.stderr.split('\n').filter(Boolean).map((line) => line.split(':')[1]?.trim())).toEqual(['cpus', 'memory_gib', 'bc_num_hours']);
  });

  it("every spec-level problem, each named by the form field it came from", () => {
    const form = { image: 'ghcr.io/mikej888/hello-tre:1.0', runner_args: '--privileged', env_vars: 'OK=1\nNOEQUALS' };
    const result = runCliUnchecked(['ood', '--form-json', JSON.stringify(form)]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('tre-job: runner_args: --privileged is not allowed here: it grants privilege\ntre-job: env_vars line 2: expected NAME=value, got "NOEQUALS"\n');
  });
});

describe('--json: errors as one JSON object on stderr', () => {
  it('validate --json: problems with field, problem and line; exit 2; stdout empty', () => {
    const result = withSpec(`${IMAGE}memoryGiB: 8G\ncolour: red\n`, (file) => ['validate', file, '--json']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.endsWith('\n')).toBe(true);
    expect(JSON.parse(result.stderr)).toEqual({
      exitCode: 2,
      message: 'memoryGiB: must be a whole number of GiB, e.g. 8 (line 2); colour: unknown key (line 3)',
      problems: [
        { field: 'memoryGiB', problem: 'must be a whole number of GiB, e.g. 8', line: 2 },
        { field: 'colour', problem: 'unknown key', line: 3 },
      ],
    });
  });

  it('validate --json: the result on stdout', () => {
    const result = withSpec(`${IMAGE}time: "01:00:00"\n`, (file) => ['validate', file, '--json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ ok: true, spec: join(dir.path, 'job.yaml'), runtime: 'podman', image: 'ghcr.io/mikej888/hello-tre:1.0', time: '01:00:00', service: null, warnings: [] });
  });

  it('submit --json with a missing token: JSON on stderr, nothing submitted', () => {
    const result = withSpec(`${IMAGE}registry: {username: alice}\n`, (file) => ['submit', file, '--json', '--job-dir', join(dir.path, 'out')]);
    expect(result.status).toBe(2);
    expect(JSON.parse(result.stderr)).toMatchObject({ exitCode: 2, problems: [{ field: 'token' }] });
    expect(existsSync(join(dir.path, 'out'))).toBe(false);
  });

  it('a command without --json reports its errors as lines (--json there is an unknown option)', () => {
    const result = runCliUnchecked(['logs', '5', '--json']);
    expect([result.status, result.stderr]).toEqual([2, "tre-job: unknown option '--json'\n"]);
  });

  it('an argument after -- is not a --json flag', () => {
    const result = withSpec('cpus: 2\n', (file) => ['validate', file, '--', '--json']);
    expect(result.stderr.startsWith('tre-job: ')).toBe(true);
  });
});
