// Property tests: generated strings for every user-controlled field go through the real
// pipeline (schema, site rules, rendering) and, when accepted, through bash with recording
// shims. Every accepted value must arrive byte-exact where it belongs (after the documented
// ${VAR} expansion); every rejected one must be an InputError of one line (exit 2); and no
// generated script may run anything a value contains (a canary file must never appear).
// Count: TRE_PROPERTY_RUNS per field (npm test: 1000; npm run test:property: 10000).
// Seed: TRE_PROPERTY_SEED (printed, so a failure reproduces).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expandModel, hostileArbitraries } from '../fixtures/hostile';
import { InputError } from '../../src/errors';
import { buildContext } from '../../src/render/context';
import { renderScript } from '../../src/render/render';
import { parseSite } from '../../src/site/load';
import { BUILT_IN_SITE } from '../../src/site/schema';
import { parseSpec } from '../../src/jobspec/load';
import { resolveJob } from '../../src/jobspec/resolve';
import { readNul, SHIM_BIN, tempDir } from '../helpers';

const RUNS = Number(process.env.TRE_PROPERTY_RUNS ?? 1000);
const SEED = Number(process.env.TRE_PROPERTY_SEED ?? Date.now() % 2147483647);
const BATCH = 250;
jest.setTimeout(1800000);

const dir = tempDir('tre-job-property-');
const HOME = join(dir.path, 'home');
const CANARY = join(dir.path, 'canary');
mkdirSync(join(HOME, 'safe_data'), { recursive: true });
const JOB_ENV = { HOME, USER: 'alice', SLURM_JOB_ID: '42' };
const site = parseSite({ ...BUILT_IN_SITE, registries: [{ host: '127.0.0.1:5000', insecure: true }, { host: 'ghcr.io' }], safeDataRoot: join(dir.path, 'safe_data') });
const IMAGE = '127.0.0.1:5000/tre/probe:1.0';
const report: string[] = [];

afterAll(() => {
  dir.remove();
  console.log(`property tests: ${RUNS} values per field, seed ${SEED} (TRE_PROPERTY_SEED=${SEED} repeats it)\n${report.join('\n')}`);
});

// ---- generators (test/fixtures/hostile.ts) ----
const { shellish, plain, anything } = hostileArbitraries(CANARY);
const expand = (value: string) => expandModel(value, JOB_ENV);

function sample<T>(arbitrary: fc.Arbitrary<T>, salt: number): T[] {
  return fc.sample(arbitrary, { numRuns: RUNS, seed: SEED + salt });
}

// ---- the pipeline under test ----
type Outcome = { script: string } | { error: InputError };

function render(spec: Record<string, unknown>): Outcome {
  try {
    const job = resolveJob(parseSpec({ image: IMAGE, safeData: 'none', ...spec }), site);
    return { script: renderScript(buildContext(job, site, { jobDir: join(dir.path, 'job') })) };
  } catch (err) {
    if (err instanceof InputError) return { error: err };
    throw err;
  }
}

function expectOneLineInputError(outcome: Outcome, value: unknown): void {
  if (!('error' in outcome)) throw new Error(`accepted a value that should be rejected: ${JSON.stringify(value)}`);
  expect(outcome.error.message).not.toMatch(/\n/);
}

/** Run a rendered script with the recording shims; returns the argv (and env) of `podman run` or `apptainer run`. */
function runWithShims(script: string, runtime: 'podman' | 'apptainer' = 'podman'): string[] {
  return runRecorded(script, runtime).argv;
}

function runRecorded(script: string, runtime: 'podman' | 'apptainer'): { argv: string[]; env: string[] } {
  const log = join(dir.path, `log-${Math.random().toString(36).slice(2)}`);
  mkdirSync(log);
  mkdirSync(join(dir.path, 'job'), { recursive: true });
  const file = join(dir.path, 'job', 'job.sh');
  writeFileSync(file, script);
  const result = spawnSync('bash', [file], { cwd: dir.path, env: { PATH: `${SHIM_BIN}:/usr/bin:/bin`, SHIM_LOG: log, ...JOB_ENV }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`script failed (${result.status}): ${result.stdout}${result.stderr}`);
  const run = readdirSync(log).find((f) => f.endsWith(`-${runtime}.argv`) && readNul(join(log, f))[0] === 'run');
  if (!run) throw new Error(`no ${runtime} run`);
  return { argv: readNul(join(log, run)), env: readNul(join(log, run.replace(/\.argv$/, '.env'))) };
}

/** Evaluate one assignment line per value in one bash and read the variable back. */
function evaluateAssignments(lines: string[], variable: string): string[] {
  const program = lines.map((line) => `${line}\nprintf '%s\\0' "$${variable}"`).join('\n');
  // On stdin: one argument may not exceed 128 KiB.
  const result = spawnSync('bash', [], { input: `tre_job_id=42\n${program}\n`, cwd: dir.path, env: { PATH: '/usr/bin:/bin', ...JOB_ENV }, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout.replace(/\0$/, '').split('\0');
}

function assignmentLine(script: string, variable: string): string {
  const line = script.split('\n').find((l) => l.startsWith(`${variable}=`));
  if (!line) throw new Error(`no ${variable}= line`);
  return line;
}

function timed(field: string, accepted: number, rejected: number, body: () => void): void {
  const start = Date.now();
  body();
  report.push(`  ${field}: ${accepted + rejected} tried (${accepted} accepted, ${rejected} rejected) in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  expect(existsSync(CANARY)).toBe(false);
}

function batches<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(items.slice(i, i + BATCH));
  return out;
}

describe(`generated values, ${RUNS} per field`, () => {
  it('args: accepted ones arrive byte-exact after the image; NUL is rejected', () => {
    const values = sample(fc.oneof(shellish, anything), 1);
    const accepted = values.filter((v) => !v.includes('\0'));
    timed('args', accepted.length, values.length - accepted.length, () => {
      for (const v of values.filter((x) => x.includes('\0'))) expectOneLineInputError(render({ args: [v] }), v);
      for (const batch of batches(accepted)) {
        const outcome = render({ args: batch });
        if (!('script' in outcome)) throw outcome.error;
        const argv = runWithShims(outcome.script);
        expect(argv.slice(argv.indexOf(IMAGE) + 1)).toEqual(batch.map((v) => expand(v)));
      }
    });
  });

  it('env values: accepted ones arrive byte-exact as NAME=value; NUL and CR LF are rejected', () => {
    const values = sample(fc.oneof(shellish, anything), 2);
    const ok = (v: string) => !v.includes('\0') && !v.includes('\r\n');
    const accepted = values.filter(ok);
    timed('env values', accepted.length, values.length - accepted.length, () => {
      for (const v of values.filter((x) => !ok(x))) expectOneLineInputError(render({ env: { V: v } }), v);
      for (const batch of batches(accepted)) {
        const outcome = render({ env: batch.map((v, i) => `V${i}=${v}`) });
        if (!('script' in outcome)) throw outcome.error;
        const argv = runWithShims(outcome.script);
        expect(argv.filter((_, i) => argv[i - 1] === '--env')).toEqual(batch.map((v, i) => `V${i}=${expand(v)}`));
      }
    });
  });

  it('apptainer: accepted args arrive after the SIF and env values as APPTAINERENV_NAME, byte-exact', () => {
    const values = sample(shellish, 8).filter((v) => !v.includes('\r\n'));
    timed('apptainer args + env', values.length, 0, () => {
      for (const batch of batches(values)) {
        const outcome = render({ runtime: 'apptainer', args: batch, env: batch.map((v, i) => `V${i}=${v}`) });
        if (!('script' in outcome)) throw outcome.error;
        const { argv, env } = runRecorded(outcome.script, 'apptainer');
        expect(argv.slice(argv.indexOf(`${HOME}/probe:1.0.sif`) + 1)).toEqual(batch.map((v) => expand(v)));
        const passed = new Map(env.filter((e) => e.startsWith('APPTAINERENV_V')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
        batch.forEach((v, i) => expect(passed.get(`APPTAINERENV_V${i}`)).toBe(expand(v)));
      }
    });
  });

  it('env names: valid names are accepted and arrive; anything else is rejected', () => {
    const values = sample(fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/), anything), 3);
    const valid = (v: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(v);
    const accepted = [...new Set(values.filter(valid))];
    timed('env names', accepted.length, values.filter((v) => !valid(v)).length, () => {
      for (const v of values.filter((x) => !valid(x))) expectOneLineInputError(render({ env: [`${v}=x`] }), v);
      for (const batch of batches(accepted)) {
        // The list form: a map key named __proto__ is refused (see the bad-input table).
        const outcome = render({ env: batch.map((name) => `${name}=x`) });
        if (!('script' in outcome)) throw outcome.error;
        const argv = runWithShims(outcome.script);
        expect(argv.filter((_, i) => argv[i - 1] === '--env')).toEqual(batch.map((name) => `${name}=x`));
      }
    });
  });

  it('runner args within the policy arrive byte-exact before the image; the rest are rejected', () => {
    const flagged = fc.oneof(
      shellish.map((v) => [`--workdir=/${v}`]),
      shellish.map((v) => ['--annotation', `X=${v}`]),
      plain.map((v) => [`-v\${HOME}/${v.replace(/[:,/]/g, '_')}:/in`]),
      plain.map((v) => [`--mount=dst=/in,type=bind,src=/data/${v.replace(/[:,"/]/g, '_')}`]),
      shellish.map((v) => ['--label', v]),
      shellish.map((v) => [`--hostname=${v}`]),
      fc.constantFrom(['--privileged'], ['--cap-add=ALL'], ['--network=host'], ['-v', '/etc:/x'], ['-v', '/data:/scratch'], ['--userns=host'], ['docker.io/evil:1'], ['-dv/:/x'], ['-v/:/x'], ['-e', 'X=1']),
      anything.map((v) => [v]),
    );
    const values = sample(flagged, 4);
    const outcomes = values.map((v) => ({ v, outcome: render({ runnerArgs: v }) }));
    const accepted = outcomes.filter((o) => 'script' in o.outcome).map((o) => o.v);
    timed('runnerArgs', accepted.length, values.length - accepted.length, () => {
      for (const { v, outcome } of outcomes.filter((o) => 'error' in o.outcome)) expectOneLineInputError(outcome, v);
      for (const batch of batches(accepted)) {
        const outcome = render({ runnerArgs: batch.flat() });
        if (!('script' in outcome)) throw outcome.error;
        const argv = runWithShims(outcome.script);
        const flat = batch.flat();
        expect(argv.slice(argv.indexOf(IMAGE) - flat.length, argv.indexOf(IMAGE))).toEqual(flat.map((v) => expand(v)));
      }
    });
  });

  it('mount flags: every spelling of a value is decided alike, and a forbidden path stays forbidden under any . .. // /', () => {
    // A path with noise that normalises away: /./, //, x/.., and a trailing slash.
    const noisy = (path: string) =>
      fc.array(fc.constantFrom('/.', '/', '/x/..', '/./', ''), { minLength: path.split('/').length, maxLength: path.split('/').length }).map((noise) => {
        const parts = path.split('/').filter(Boolean);
        return (parts.length ? parts.map((p, i) => `${noise[i] ?? ''}/${p}`).join('') : `${noise[0] ?? ''}/`) + (noise[parts.length] ?? '');
      });
    const FORBIDDEN = ['/', '/etc', '/usr/lib', '/proc/1', '/root/.ssh', '/home', site.safeDataRoot, `${site.safeDataRoot}/other-project`];
    const PROTECTED = ['/safe_data', '/safe_outputs', '/scratch', '/safe_data/x', '/scratch/sub', '/'];
    // A forbidden or protected path written with noise; the test knows it must be refused.
    const path = (paths: string[]) => fc.constantFrom(...paths).chain(noisy);
    const allowed = plain.map((v) => `/data/${v.replace(/[:,"/]/g, '_') || 'd'}`);
    // [runtime, source, target, what is wrong] -> every spelling, with every mount flag that can
    // express it, as runnerArgs. A flag's value is null where it cannot: tmpfs and scratch have no
    // source, overlay and workdir no target of the user's choosing.
    type Fault = 'source' | 'target' | 'none';
    type Mount = ['podman' | 'apptainer', string, string, Fault];
    const FLAGS: Record<'podman' | 'apptainer', { short: string | null; long: string; value: (src: string, dst: string, fault: Fault) => string | null }[]> = {
      podman: [
        { short: '-v', long: '--volume', value: (src, dst) => `${src}:${dst}` },
        { short: null, long: '--tmpfs', value: (_src, dst, fault) => (fault === 'source' ? null : dst) },
      ],
      apptainer: [
        { short: '-B', long: '--bind', value: (src, dst) => `${src}:${dst}` },
        { short: '-H', long: '--home', value: (src, dst) => `${src}:${dst}` },
        { short: '-o', long: '--overlay', value: (src, _dst, fault) => (fault === 'target' ? null : src) },
        { short: '-W', long: '--workdir', value: (src, _dst, fault) => (fault === 'target' ? null : src) },
        { short: '-S', long: '--scratch', value: (_src, dst, fault) => (fault === 'source' ? null : dst) },
      ],
    };
    // A switch each runtime has, to combine with a short option: podman -i, apptainer -c (--contain).
    const SWITCH = { podman: 'i', apptainer: 'c' };
    const spellings = ([runtime, src, dst, fault]: Mount): string[][] => {
      const mount = [`type=bind,src=${src},dst=${dst}`, `destination=${dst},source=${src},type=bind`, `target=${dst},type=bind,"src=${src}"`];
      const flagged = FLAGS[runtime].flatMap(({ short, long, value }) => {
        const v = value(src, dst, fault);
        if (v === null) return [];
        const longForms = [[long, v], [`${long}=${v}`]];
        return short === null ? longForms : [[short, v], [`${short}${v}`], [`${short}=${v}`], [`-${SWITCH[runtime]}${short.slice(1)}${v}`], ...longForms];
      });
      return [...flagged, ...mount.map((m) => ['--mount', m]), ...mount.map((m) => [`--mount=${m}`])];
    };
    const runtimes = fc.constantFrom<'podman' | 'apptainer'>('podman', 'apptainer');
    const mounts: fc.Arbitrary<Mount> = fc.oneof(
      fc.tuple(runtimes, path(FORBIDDEN), fc.constantFrom('/in', '/x/y'), fc.constant<Fault>('source')),
      fc.tuple(runtimes, allowed, path(PROTECTED), fc.constant<Fault>('target')),
      fc.tuple(runtimes, allowed, fc.constantFrom('/in', '/x/y'), fc.constant<Fault>('none')),
    );
    const values = sample(mounts, 8);
    let refused = 0;
    timed('mount spellings', values.filter((m) => m[3] === 'none').length, values.filter((m) => m[3] !== 'none').length, () => {
      for (const mount of values) {
        const [runtime, , , fault] = mount;
        for (const args of spellings(mount)) {
          const outcome = render({ runtime, runnerArgs: args });
          if (fault !== 'none') {
            expectOneLineInputError(outcome, args);
            refused++;
          } else if (!('script' in outcome)) {
            throw new Error(`${JSON.stringify(args)} was refused: ${outcome.error.message}`);
          }
        }
      }
    });
    expect(refused).toBeGreaterThan(0);
  });

  it('container names: valid names arrive as the podman name; anything else is rejected', () => {
    const values = sample(fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/), anything, shellish), 5);
    const valid = (v: string) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(v);
    const outcomes = values.map((v) => ({ v, outcome: render({ name: v }) }));
    const accepted = outcomes.filter((o) => 'script' in o.outcome) as { v: string; outcome: { script: string } }[];
    timed('container name', accepted.length, values.length - accepted.length, () => {
      for (const { v, outcome } of outcomes) if (!valid(v)) expectOneLineInputError(outcome, v);
      expect(accepted.every(({ v }) => valid(v))).toBe(true);
      const seen = evaluateAssignments(accepted.map((a) => assignmentLine(a.outcome.script, 'tre_container_name')), 'tre_container_name');
      expect(seen).toEqual(accepted.map((a) => a.v));
    });
  });

  it('image references: valid ones from allowed registries are pulled exactly; the rest are rejected', () => {
    const component = fc.oneof(fc.stringMatching(/^[a-z0-9]+([._-][a-z0-9]+)*$/), plain, fc.constantFrom('A', '..', '-x', '日本'));
    const reference = fc
      .tuple(fc.constantFrom('127.0.0.1:5000', 'ghcr.io', 'docker.io', 'evil.example', ''), fc.array(component, { minLength: 1, maxLength: 3 }), fc.oneof(fc.constant(''), fc.stringMatching(/^:[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/), plain.map((t) => `:${t}`)))
      .map(([host, path, tag]) => `${host ? `${host}/` : ''}${path.join('/')}${tag}`);
    const values = sample(fc.oneof(reference, anything, shellish), 6);
    const outcomes = values.map((v) => ({ v, outcome: render({ image: v }) }));
    const accepted = outcomes.filter((o) => 'script' in o.outcome) as { v: string; outcome: { script: string } }[];
    timed('image', accepted.length, values.length - accepted.length, () => {
      for (const { v, outcome } of outcomes) if ('error' in outcome) expectOneLineInputError(outcome, v);
      const pulled = evaluateAssignments(accepted.map((a) => assignmentLine(a.outcome.script, 'tre_image')), 'tre_image');
      expect(pulled).toEqual(accepted.map((a) => (/:[^/]*$/.test(a.v) ? a.v : `${a.v}:latest`)));
      expect(accepted.every((a) => /^(127\.0\.0\.1:5000|ghcr\.io)\//.test(a.v))).toBe(true);
    });
  });

  it('safeDataMount paths: absolute ones without : or , are mounted exactly; the rest are rejected', () => {
    const values = sample(fc.oneof(plain.map((p) => `/${p}`), shellish.map((p) => `/${p}`), anything), 7);
    const outcomes = values.map((v) => ({ v, outcome: render({ safeData: 'auto', safeDataMount: v }) }));
    const accepted = outcomes.filter((o) => 'script' in o.outcome) as { v: string; outcome: { script: string } }[];
    timed('safeDataMount', accepted.length, values.length - accepted.length, () => {
      for (const { v, outcome } of outcomes) if ('error' in outcome) expectOneLineInputError(outcome, v);
      // The assignment inside the safe-data section (the prologue first sets it to '').
      const lines = accepted.map((a) => a.outcome.script.split('\n').filter((l) => l.trim().startsWith('tre_safe_data_mount=')).pop() as string);
      expect(evaluateAssignments(lines.map((l) => l.trim()), 'tre_safe_data_mount')).toEqual(accepted.map((a) => a.v));
    });
  });
});
