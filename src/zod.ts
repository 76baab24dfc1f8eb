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
