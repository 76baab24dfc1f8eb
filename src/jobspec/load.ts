// Spec pipeline: read (YAML/JSON) -> schema -> resolve against the site (jobspec/resolve.ts).
import { InputError, inputErrorFromIssues, Problems } from '../errors';
import { readYamlDocument, withLinesOf, YamlFile } from '../readfile';
import { keysAt } from '../zod';
import { dirname, resolve } from 'node:path';
import type { Site } from '../site/schema';
import { resolveJob } from './resolve';
import { ENV_NAME, JobSpec, jobSpecSchema } from './schema';

// Where each spec read from a file came from, so that a problem found later (resolve.ts) can
// name its line too. Keyed by the spec object: a spec built from OOD form values has none.
const specLines = new WeakMap<JobSpec, YamlFile['lineOf']>();
// And the directory its relative paths (array.itemsFile) are relative to.
const specBases = new WeakMap<JobSpec, string>();

/** Where a spec's relative paths start: its file's directory (or the one given), else the working directory. */
export function specBaseDir(spec: JobSpec): string {
  return specBases.get(spec) ?? process.cwd();
}

/**
 * Read and schema-check a spec file; every problem is reported, each with its line. With the
 * `site`, a spec that fails the schema is also checked against the site, so that the user sees
 * the site's problems (time over the maximum, a refused runner argument) in the same run.
 */
export function loadSpecFile(file: string, site?: Site): JobSpec {
  return readSpecFile(file, site).spec;
}

/**
 * loadSpecFile, with the bytes it parsed (submit keeps them in the job directory). `baseDir`:
 * where its relative paths start, when not beside `file` (a kept copy of a spec, see resubmit).
 */
export function readSpecFile(file: string, site?: Site, baseDir: string = dirname(resolve(file))): { spec: JobSpec; bytes: Buffer } {
  const { bytes, value, lineOf } = readYamlDocument(file, 'spec');
  let spec: JobSpec;
  try {
    spec = parseSpec(value);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    throw withLinesOf(site ? withSiteProblems(err, value, site) : err, lineOf);
  }
  specLines.set(spec, lineOf);
  specBases.set(spec, baseDir);
  return { spec, bytes };
}

// Fields other checks depend on: without a valid one, the site's checks would report
// problems that are not there (reuseSif "only applies to runtime apptainer" for a mistyped runtime).
// (Without a valid array, ${TRE_ITEM} in args would be "set only in an array job".)
const NEEDED_BY_OTHERS = new Set(['image', 'runtime', 'service', 'array', 'spec']);

/** `err` plus what the site says about the rest of the spec (the fields that passed the schema). */
function withSiteProblems(err: InputError, value: unknown, site: Site): InputError {
  const failed = new Set(err.problems.map((p) => p.field.split('.')[0] as string));
  if ([...failed].some((field) => NEEDED_BY_OTHERS.has(field))) return err;
  const rest = Object.fromEntries(Object.entries(value as object).filter(([key]) => !failed.has(key)));
  try {
    resolveJob(parseSpec(rest), site);
  } catch (more) {
    if (more instanceof InputError) return InputError.of([...err.problems, ...more.problems.filter((p) => !failed.has(p.field.split('.')[0] as string))]);
    throw more;
  }
  return err;
}

/** `err` with the line of each problem's field in the file `spec` was read from, if it was. */
export function withLines(err: InputError, spec: JobSpec): InputError {
  const lineOf = specLines.get(spec);
  return lineOf ? withLinesOf(err, lineOf) : err;
}

/** Schema-check a spec value (already parsed from YAML/JSON, or built from OOD form values). */
export function parseSpec(value: unknown): JobSpec {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InputError('spec', 'must be a mapping with at least an image');
  }
  // zod's record drops a key named __proto__ without a word: refuse it instead.
  const env = (value as { env?: unknown }).env;
  if (env !== null && typeof env === 'object' && Object.prototype.hasOwnProperty.call(env, '__proto__')) {
    throw new InputError('env.__proto__', 'cannot be a map key here: use the list form "__proto__=value"');
  }
  const result = jobSpecSchema.safeParse(value, { reportInput: true });
  if (!result.success) throw inputErrorFromIssues(result.error.issues, 'spec', (path) => keysAt(jobSpecSchema, path));
  return result.data;
}

export interface EnvVar {
  /** Where it was written: env.NAME (map) or env.N (list), for messages. */
  field: string;
  name: string;
  /** As written: ${VAR}/$VAR expand on the back-end, \$ is a literal $. */
  value: string;
}

/** Both env forms (map, or NAME=value lines) as one ordered list; names are checked here, each problem into `problems`. */
export function normalizeEnv(env: JobSpec['env'], problems: Problems): EnvVar[] {
  if (env === undefined) return [];
  const pairs: [string, string, string][] = Array.isArray(env)
    ? env.flatMap((line, index): [string, string, string][] => {
        const eq = line.indexOf('=');
        if (eq >= 0) return [[`env.${index}`, line.slice(0, eq), line.slice(eq + 1)]];
        problems.add(`env.${index}`, `expected NAME=value, got "${line.split('\n')[0]}"`);
        return [];
      })
    : Object.entries(env).map(([name, value]) => [`env.${name}`, name, String(value)]);
  const seen = new Set<string>();
  return pairs.filter(([field, name, value]) => {
    if (!ENV_NAME.test(name)) problems.add(field, `"${name}" is not a valid variable name (letters, digits, _; not starting with a digit)`);
    else if (seen.has(name)) problems.add(field, `${name} is set twice`);
    // Measured with Podman 4.3: `--env NAME=VALUE` turns CR LF into LF. Refuse rather than alter.
    else if (value.includes('\r\n')) problems.add(field, 'must not contain a CR LF line break (use LF)');
    else {
      seen.add(name);
      return true;
    }
    return false;
  }).map(([field, name, value]) => ({ field, name, value }));
}
