// zod for the spec and site schemas: zod/mini, not the classic API, because tre-job builds its
// schemas on every run and mini's cost a third of the start-up time (docs/benchmarks.md). It is
// the same core, with the same checks and issue messages. The helpers keep the schemas readable.
// Modules import `* as z from 'zod/mini'` themselves: a namespace passed around as a value would
// keep all of zod (and its 40 locales) in the bundle.
import * as z from 'zod/mini';
import { en } from 'zod/locales';

// English issue messages: classic zod sets them itself, mini leaves them to its user. Every
// module with a schema imports this one, so messages are set before any parse.
z.config(en());

/**
 * `schema` with its description (shown by `tre-job schema`). Registered, not
 * `.check(z.describe())`, which clones: cloning every described schema was a tenth of a cold
 * `tre-job render`. So each described schema must be its own instance: make shared ones twice.
 */
export function described<T extends z.ZodMiniType>(schema: T, description: string): T {
  if (z.globalRegistry.has(schema)) throw new Error(`one schema described twice: ${description}`);
  z.globalRegistry.add(schema, { description });
  return schema;
}

export function optional<T extends z.ZodMiniType>(schema: T, description: string): z.ZodMiniOptional<T> {
  return described(z.optional(schema), description);
}

export function withDefault<T extends z.ZodMiniType>(schema: T, value: z.output<T> & {}, description: string): z.ZodMiniDefault<T> {
  return described(z._default(schema, value as never), description);
}

/** `base` (a string schema) that must match `pattern`, with our message when it does not. */
export function matching<T extends z.ZodMiniString>(base: T, pattern: RegExp, message: string): T {
  return base.check(z.regex(pattern, { message }));
}

interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
  options?: { _zod: { def: Def } }[];
}

/** The keys an object schema allows at `path` (through optional, default, arrays and unions), for "did you mean". */
export function keysAt(schema: z.ZodMiniType, path: readonly string[]): string[] {
  const found = new Set<string>();
  const walk = (def: Def, rest: readonly string[]): void => {
    if (def.innerType) return walk(def.innerType._zod.def, rest);
    if (def.options) return def.options.forEach((option) => walk(option._zod.def, rest));
    if (def.type === 'array' && def.element) return walk(def.element._zod.def, rest.slice(1));
    if (def.type !== 'object' || !def.shape) return;
    const [head, ...tail] = rest;
    if (head === undefined) Object.keys(def.shape).forEach((key) => found.add(key));
    else if (def.shape[head]) walk(def.shape[head]._zod.def, tail);
  };
  walk((schema as unknown as { _zod: { def: Def } })._zod.def, path);
  return [...found];
}

/** A whole number from `min` to `max`, with messages that say what to write: `wholeNumber('GiB', 8, 1, 65536)`. */
export function wholeNumber(unit: string, example: number, min: number, max: number): z.ZodMiniNumber<number> {
  const range = { error: `must be from ${min} to ${max} ${unit}` };
  return z.int({ error: `must be a whole number of ${unit}, e.g. ${example}` }).check(z.minimum(min, range), z.maximum(max, range));
}
