// Open OnDemand form values (all strings, as OOD passes them) -> a job spec for the same
// pipeline as `tre-job submit`, so that both paths render from one model.
import { InputError, Problems } from '../errors';
import { seconds } from '../jobspec/resolve';

/** The batch container app's form attributes (ood/apps/batch_container/form.yml). */
export interface OodForm {
  image?: string;
  registry_username?: string;
  runner?: string;
  reuse_sif?: string;
  container_name?: string;
  cpus?: string;
  memory_gib?: string;
  use_gpu?: string;
  runner_args?: string;
  env_vars?: string;
  container_args?: string;
  /** Batch app only: one item a line; each non-blank line is one task of a Slurm job array (spec array.items). */
  array_items?: string;
  /** With array_items: how many tasks may run at once (spec array.parallel); empty: as many as Slurm allows. */
  array_parallel?: string;
  /** Whole hours of wall time (OOD's bc_num_hours), 1 to the site's maxTime; empty: maxTime. */
  bc_num_hours?: string;
  /** Interactive apps (ood/apps/jupyter, ood/apps/rstudio): a hidden field, jupyter | rstudio | http. */
  service?: string;
  /** Lines the app itself sets before the user's env_vars / container_args (not form fields). */
  app_env_vars?: string;
  app_container_args?: string;
  [other: string]: unknown;
}

/** Form attributes that tre-job reads; others (cluster, the token field, OOD's own) are ignored. */
export const FIELDS = ['image', 'registry_username', 'runner', 'reuse_sif', 'container_name', 'cpus', 'memory_gib', 'use_gpu', 'runner_args', 'env_vars', 'container_args', 'array_items', 'array_parallel', 'bc_num_hours', 'service', 'app_env_vars', 'app_container_args'] as const;

/** The fields an app sets itself, never from the user's form: a service app's service, and its own lines. */
export const APP_FIELDS = { service: 'service', env: 'app_env_vars', args: 'app_container_args' } as const satisfies Record<string, (typeof FIELDS)[number]>;

/** Where a spec field came from on the form, for error messages users can act on. */
const FORM_FIELD: Record<string, string> = {
  image: 'image',
  'registry.username': 'registry_username',
  runtime: 'runner',
  reuseSif: 'reuse_sif',
  name: 'container_name',
  cpus: 'cpus',
  memoryGiB: 'memory_gib',
  gpu: 'use_gpu',
  time: 'bc_num_hours',
  service: 'service',
  array: 'array_items',
  'array.items': 'array_items',
  'array.parallel': 'array_parallel',
};

/** Lines of a textarea: CR LF or LF (a last line's CR too), blank lines skipped; each with its 1-based line number. */
export function formLines(text: string | undefined): { line: string; number: number }[] {
  return (text ?? '')
    .split('\n')
    .map((line, index) => ({ line: line.replace(/\r$/, ''), number: index + 1 }))
    .filter(({ line }) => line.trim() !== '');
}

/**
 * Split one line into words, as a shell user would expect: spaces separate; '...' is literal
 * (a `$` in it is escaped as `\$`, so it is not expanded later); "..." keeps its text with \"
 * and \\ unescaped, and `${VAR}` in it expands; outside quotes a backslash escapes a space or a
 * quote. Any other backslash stays, so `\$` still reaches the expansion helper as a literal `$`.
 */
export function splitWords(line: string, field: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'" || c === '"') {
      const end = findClosingQuote(line, i, c);
      if (end < 0) throw new InputError(field, `unterminated ${c === "'" ? 'single' : 'double'} quote`);
      const inner = line.slice(i + 1, end);
      word = (word ?? '') + (c === '"' ? inner.replace(/\\(["\\])/g, '$1') : inner.replace(/\$/g, '\\$'));
      i = end;
    } else if (c === '\\' && /[ \t'"]/.test(line[i + 1] ?? '')) {
      word = (word ?? '') + line[i + 1];
      i++;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

function findClosingQuote(line: string, open: number, quote: string): number {
  for (let i = open + 1; i < line.length; i++) {
    if (quote === '"' && line[i] === '\\') i++;
    else if (line[i] === quote) return i;
  }
  return -1;
}

function flag(value: string | undefined): boolean {
  return value === '1' || value === 'true' || value === 'yes';
}

function count(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (!/^[0-9]+$/.test(value.trim())) throw new InputError(field, `must be a whole number, got "${value}"`);
  return Number(value.trim());
}

/** The most whole hours a job may ask for under `maxTime` (0 when maxTime is under an hour). */
export function maxHours(maxTime: string): number {
  return Math.floor(seconds(maxTime) / 3600);
}

/**
 * The spec's time for OOD's bc_num_hours: HH:00:00 for 1 to maxHours(maxTime). Empty: undefined,
 * so the job gets the site's maxTime, as before the field existed. Where maxTime is under an hour
 * the app hides the field (whole hours cannot ask for less) and its value is not read, as
 * container_name is not for Apptainer: the job gets maxTime.
 */
export function hoursToTime(value: string | undefined, maxTime: string): string | undefined {
  const most = maxHours(maxTime);
  if (value === undefined || value.trim() === '' || most < 1) return undefined;
  const hours = value.trim();
  if (!/^[0-9]+$/.test(hours) || Number(hours) < 1) throw new InputError('bc_num_hours', `must be a whole number of hours from 1 to ${most}, got "${value}"`);
  if (Number(hours) > most) throw new InputError('bc_num_hours', `${hours} is over the site maximum of ${most} hour${most === 1 ? '' : 's'} (maxTime ${maxTime})`);
  return `${String(Number(hours)).padStart(2, '0')}:00:00`;
}

/** A spec object (checked afterwards by the spec schema) from OOD form values, for a site with this maxTime. */
export function formToSpec(form: OodForm, site: { maxTime: string }): Record<string, unknown> {
  for (const key of FIELDS) {
    const value = form[key];
    if (value !== undefined && typeof value !== 'string') throw new InputError(key, 'must be a string (OOD form value)');
  }
  const runner = form.runner?.trim();
  const spec: Record<string, unknown> = { image: (form.image ?? '').trim() };
  if (form.registry_username?.trim()) spec.registry = { username: form.registry_username.trim() };
  if (runner) spec.runtime = runner;
  if (form.container_name?.trim() && runner !== 'apptainer') spec.name = form.container_name.trim();
  if (flag(form.reuse_sif) && runner === 'apptainer') spec.reuseSif = true;
  // Every problem of the form's own fields, one line each, not only the first.
  const problems = new Problems();
  const cpus = problems.attempt(() => count(form.cpus, 'cpus'));
  if (cpus !== undefined) spec.cpus = cpus;
  const memory = problems.attempt(() => count(form.memory_gib, 'memory_gib'));
  if (memory !== undefined) spec.memoryGiB = memory;
  if (flag(form.use_gpu)) spec.gpu = true;
  const time = problems.attempt(() => hoursToTime(form.bc_num_hours, site.maxTime));
  if (time !== undefined) spec.time = time;
  if (form.service?.trim()) spec.service = form.service.trim();
  // A job array: one task a non-blank line, taken as written. No lines: a normal job, and
  // array_parallel (a value the form may have kept from an earlier session) does not apply.
  const items = formLines(form.array_items).map(({ line }) => line);
  if (items.length) {
    const parallel = problems.attempt(() => count(form.array_parallel, 'array_parallel'));
    spec.array = parallel === undefined ? { items } : { items, parallel };
  }
  // The app's own lines come first, so that the user's may use what they set.
  const env = [...formLines(form.app_env_vars), ...formLines(form.env_vars)].map(({ line }) => line.replace(/^\s+/, ''));
  if (env.length) spec.env = env;
  spec.args = [
    ...formLines(form.app_container_args).flatMap(({ line, number }) => splitWords(line, `app_container_args line ${number} (set by the app)`)),
    ...formLines(form.container_args).flatMap(({ line, number }) => splitWords(line, `container_args line ${number}`)),
  ];
  spec.runnerArgs = problems.attempt(() => formLines(form.runner_args).flatMap(({ line, number }) => splitWords(line, `runner_args line ${number}`))) ?? [];
  problems.throwIfAny();
  return spec;
}

/** Name each spec-level problem by the form field it came from (e.g. env.1 -> env_vars line 2). */
export function formError(err: InputError, form: OodForm): InputError {
  return err.map(({ field, problem }) => ({ field: formField(field, form), problem }));
}

function formField(field: string, form: OodForm): string {
  const [head, index] = field.split('.');
  if (head === 'env' && index !== undefined && /^[0-9]+$/.test(index)) {
    // Numbered within the textarea the line came from: the app's lines come before the user's.
    const appLines = formLines(form.app_env_vars);
    const i = Number(index);
    if (i < appLines.length) return `app_env_vars line ${appLines[i]?.number} (set by the app)`;
    const line = formLines(form.env_vars)[i - appLines.length];
    return `env_vars line ${line?.number ?? i - appLines.length + 1}`;
  }
  const item = /^array\.items\.([0-9]+)$/.exec(field);
  if (item) {
    // array.items.I is the I-th non-blank line of the textarea.
    const i = Number(item[1]);
    return `array_items line ${formLines(form.array_items)[i]?.number ?? i + 1}`;
  }
  if (head === 'args' || head === 'runnerArgs') return head === 'args' ? 'container_args' : 'runner_args';
  return FORM_FIELD[field] ?? field;
}
