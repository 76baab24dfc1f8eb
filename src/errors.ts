// Errors carry their exit code; only main.ts prints them and exits.

/** Control characters as escapes (\n, \u001b...): a message about any value stays one line. */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** Bad input (spec, site file, flags): exit 2, one line naming the field, nothing written or submitted. */
export class InputError extends Error {
  readonly exitCode = 2;
  readonly field: string;
  readonly problem: string;
  constructor(field: string, problem: string) {
    super(`${escapeControls(field)}: ${escapeControls(problem)}`);
    this.field = escapeControls(field);
    this.problem = escapeControls(problem);
  }
}

/** Anything else that went wrong outside tre-job (e.g. sbatch refused the job): exit 1. */
export class ExternalError extends Error {
  readonly exitCode = 1;
}

/**
 * Whoever read tre-job's output has gone (`tre-job logs JOB --follow | head`). Thrown by the
 * stdout writer so that every loop ends; main.ts exits 0 without a word, as `head` expects.
 */
export class OutputClosedError extends Error {}

export function exitCodeOf(err: unknown): number {
  if (err instanceof InputError || err instanceof ExternalError) return err.exitCode;
  return 1;
}

/** One line, whatever the error: messages from sbatch or zod may span lines. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

interface ZodLikeIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
}

/** The first zod issue as an InputError naming its field, e.g. `env.1BAD: ...` or `spec.colour: unknown key`. */
export function inputErrorFromIssues(issues: readonly ZodLikeIssue[], root: string): InputError {
  const issue = issues[0];
  if (!issue) return new InputError(root, 'invalid');
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys' && issue.keys?.length) {
    return new InputError([...path, issue.keys[0]].join('.'), 'unknown key');
  }
  return new InputError(path.length ? path.join('.') : root, oneLine(issue.message));
}
