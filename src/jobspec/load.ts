// Spec pipeline: read (YAML/JSON) -> schema -> resolve against the site (jobspec/resolve.ts).
import { InputError, inputErrorFromIssues } from '../errors';
import { readYamlFile } from '../readfile';
import { ENV_NAME, JobSpec, jobSpecSchema } from './schema';

/** Read and schema-check a spec file. */
export function loadSpecFile(file: string): JobSpec {
  return parseSpec(readYamlFile(file, 'spec'));
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
  const result = jobSpecSchema.safeParse(value);
  if (!result.success) throw inputErrorFromIssues(result.error.issues, 'spec');
  return result.data;
}

export interface EnvVar {
  /** Where it was written: env.NAME (map) or env.N (list), for messages. */
  field: string;
  name: string;
  /** As written: ${VAR}/$VAR expand on the back-end, \$ is a literal $. */
  value: string;
}

/** Both env forms (map, or NAME=value lines) as one ordered list; names are checked here. */
export function normalizeEnv(env: JobSpec['env']): EnvVar[] {
  if (env === undefined) return [];
  const pairs: [string, string, string][] = Array.isArray(env)
    ? env.map((line, index) => {
        const eq = line.indexOf('=');
        if (eq < 0) throw new InputError(`env.${index}`, `expected NAME=value, got "${line.split('\n')[0]}"`);
        return [`env.${index}`, line.slice(0, eq), line.slice(eq + 1)];
      })
    : Object.entries(env).map(([name, value]) => [`env.${name}`, name, String(value)]);
  const seen = new Set<string>();
  return pairs.map(([field, name, value]) => {
    if (!ENV_NAME.test(name)) throw new InputError(field, `"${name}" is not a valid variable name (letters, digits, _; not starting with a digit)`);
    if (seen.has(name)) throw new InputError(field, `${name} is set twice`);
    // Measured with Podman 4.3: `--env NAME=VALUE` turns CR LF into LF. Refuse rather than alter.
    if (value.includes('\r\n')) throw new InputError(field, 'must not contain a CR LF line break (use LF)');
    seen.add(name);
    return { field, name, value };
  });
}
