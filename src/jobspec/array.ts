// Slurm job arrays: the spec's `array` resolved to the tasks the job runs. Each task runs the
// container once, with its index in TRE_TASK and its item in TRE_ITEM (docs/design/arrays.md).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Problems } from '../errors';
import { referencedVariables } from '../render/quote';
import type { Site } from '../site/schema';
import type { EnvVar } from './load';
import type { JobSpec } from './schema';

export const TASK_ENV = 'TRE_TASK';
export const ITEM_ENV = 'TRE_ITEM';
/** The variables a task gets, which a spec's env must not set. */
export const ARRAY_ENV_NAMES: readonly string[] = [TASK_ENV, ITEM_ENV];
/** The longest item (a path, a participant id, a parameter set). */
export const MAX_ITEM_LENGTH = 4096;

export interface JobArray {
  tasks: number;
  /** Most tasks running at once (sbatch --array=...%K); null: as many as Slurm can run. */
  parallel: number | null;
  /** The items, one per task; null for `count` (TRE_ITEM is then the index). */
  items: string[] | null;
}

const SOURCES = ['count', 'items', 'itemsFile'] as const;

/**
 * The array a spec asks for (null: a single job), every problem added to `problems`.
 * `baseDir`: where a relative itemsFile is (the spec file's directory).
 */
export function resolveArray(spec: JobSpec, site: Site, env: EnvVar[], problems: Problems, baseDir: string): JobArray | null {
  if (spec.array === undefined) {
    usedWithoutArray(spec, env, problems);
    return null;
  }
  const given = SOURCES.filter((key) => spec.array?.[key] !== undefined);
  if (given.length !== 1) {
    problems.add('array', given.length ? `give only one of count, items and itemsFile (got ${given.join(' and ')})` : 'give one of count, items or itemsFile, e.g. count: 10');
  }
  if (spec.service) problems.add('array', `cannot be used with service: a ${spec.service} service is one interactive session`);
  if (spec.name !== undefined) problems.add('name', "cannot be used with array: each task's container is named IMAGE-ARRAYID_TASK");
  for (const clash of env.filter((e) => ARRAY_ENV_NAMES.includes(e.name))) {
    problems.add(clash.field, `${clash.name} is set by tre-job in each task of an array (reserved: ${ARRAY_ENV_NAMES.join(', ')})`);
  }
  if (given.length !== 1) return null;
  const source = given[0] as (typeof SOURCES)[number];
  const items = source === 'count' ? null : source === 'items' ? (spec.array.items ?? []) : readItemsFile(resolve(baseDir, spec.array.itemsFile ?? ''), problems);
  if (items === undefined) return null;
  const tasks = items === null ? (spec.array.count ?? 0) : items.length;
  if (items !== null && tasks === 0) {
    problems.add(`array.${source}`, source === 'items' ? 'must list at least one item' : 'has no items (one per line; blank lines are skipped)');
  } else if (tasks > site.maxArrayTasks) {
    problems.add(`array.${source}`, `${tasks} tasks is over the site maximum ${site.maxArrayTasks}`);
  }
  return { tasks, parallel: spec.array.parallel ?? null, items };
}

/** The items of an itemsFile: one a line, blank lines skipped, a CR before the newline dropped; undefined if unreadable or bad. */
function readItemsFile(file: string, problems: Problems): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.add('array.itemsFile', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
  const items: string[] = [];
  let good = true;
  const bad = (line: number, problem: string) => {
    problems.add('array.itemsFile', `${file} line ${line} ${problem}`);
    good = false;
  };
  text.split('\n').forEach((raw, index) => {
    const item = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (item.trim() === '') return;
    if (item.includes('\0')) bad(index + 1, 'holds a NUL byte');
    else if (item.includes('\r')) bad(index + 1, 'holds a carriage return');
    else if (item.length > MAX_ITEM_LENGTH) bad(index + 1, `is longer than ${MAX_ITEM_LENGTH} characters`);
    else items.push(item);
  });
  return good ? items : undefined;
}

/** ${TRE_TASK} or ${TRE_ITEM} in a spec without `array` would expand to nothing: say so. */
function usedWithoutArray(spec: JobSpec, env: EnvVar[], problems: Problems): void {
  const values: [string, string][] = [...spec.args.map((value, i): [string, string] => [`args.${i}`, value]), ...env.map((e): [string, string] => [e.field, e.value])];
  for (const [field, value] of values) {
    for (const name of new Set(referencedVariables(value).filter((n) => ARRAY_ENV_NAMES.includes(n)))) {
      problems.add(field, `\${${name}} is set only in the tasks of an array job (add array:, e.g. array: {count: 10})`);
    }
  }
}
