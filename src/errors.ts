// Errors carry their exit code; only main.ts prints them and exits.
import { didYouMean } from './suggest';

/** Control characters as escapes (\n, \u001b...): a message about any value stays one line. */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** One thing wrong with the input: the field it is in, what is wrong, and where in the file if known. */
export interface Problem {
  field: string;
  problem: string;
  /** 1-based line in the spec or site file. */
  line?: number;
}

/**
 * Bad input (spec, site file, flags): exit 2, nothing written or submitted. It holds every
 * problem found, one line each (`FIELD: problem`); `field` and `problem` are the first's.
 */
export class InputError extends Error {
  readonly exitCode = 2;
  readonly field: string;
  readonly problem: string;
  readonly problems: readonly Problem[];
  constructor(field: string, problem: string, more: readonly Problem[] = [], line?: number) {
    const first: Problem = line === undefined ? { field, problem } : { field, problem, line };
    const problems = [first, ...more].map((p) => ({ ...p, field: escapeControls(p.field), problem: escapeControls(p.problem) }));
    super(problems.map(problemLine).join('\n'));
    this.field = problems[0]?.field ?? '';
    this.problem = problems[0]?.problem ?? '';
    this.problems = problems;
  }

  /** All of `problems` as one error (there must be at least one). */
  static of(problems: readonly Problem[]): InputError {
    const [first, ...more] = problems;
    if (!first) throw new Error('InputError.of: no problem');
    return new InputError(first.field, first.problem, more, first.line);
  }

  /** The same problems in the order of their lines in the file (those without a line last). */
  sorted(): InputError {
    const order = (p: Problem) => p.line ?? Number.MAX_SAFE_INTEGER;
    return InputError.of([...this.problems].sort((a, b) => order(a) - order(b)));
  }

  /** The same problems, each renamed or rewritten by `change`. */
  map(change: (problem: Problem) => Problem): InputError {
    return InputError.of(this.problems.map(change));
  }
}

/** `FIELD: problem`, with ` (line N)` when the line is known. */
export function problemLine(p: Problem): string {
  return `${p.field}: ${p.problem}${p.line === undefined ? '' : ` (line ${p.line})`}`;
}

/** Collects problems so that a check can report all of them, not only the first. */
export class Problems {
  private readonly list: Problem[] = [];

  add(field: string, problem: string): void {
    this.list.push({ field, problem });
  }

  /** Run `check`; what it throws as bad input is collected, and the result is then undefined. */
  attempt<T>(check: () => T): T | undefined {
    try {
      return check();
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      this.list.push(...err.problems);
      return undefined;
    }
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  /** The problems as one error (there must be at least one). */
  error(): InputError {
    return InputError.of(this.list);
  }

  throwIfAny(): void {
    if (this.list.length) throw this.error();
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
  values?: unknown[];
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  expected?: string;
  input?: unknown;
}

/** What to write instead, for a value of the wrong type. */
const EXPECTED: Record<string, string> = {
  string: 'must be text',
  number: 'must be a number',
  int: 'must be a whole number',
  boolean: 'must be true or false',
  array: 'must be a list (- item per line, or [a, b])',
  object: 'must be a mapping (key: value lines)',
  record: 'must be a mapping (key: value lines)',
};

/**
 * Every zod issue as a problem naming its field, e.g. `env.1BAD: ...` or `colour: unknown key
 * (did you mean ...?)`. `knownKeys(path)` lists the keys allowed at a path, for suggestions.
 */
export function inputErrorFromIssues(issues: readonly ZodLikeIssue[], root: string, knownKeys: (path: string[]) => string[] = () => []): InputError {
  const seen = new Set<string>();
  const problems = issues.flatMap((issue): Problem[] => {
    const path = issue.path.map(String);
    const field = path.length ? path.join('.') : root;
    if (issue.code === 'unrecognized_keys' && issue.keys?.length) {
      return issue.keys.map((key) => ({ field: [...path, key].join('.'), problem: `unknown key${didYouMean(key, knownKeys(path))}` }));
    }
    // One line per field: a value that is of the wrong kind may break several rules at once.
    if (seen.has(field)) return [];
    seen.add(field);
    return [{ field, problem: issueProblem(issue) }];
  });
  return problems.length ? InputError.of(problems) : new InputError(root, 'invalid');
}

/** zod's own words for an issue, unless the schema gave its own message, rewritten as what to write. */
function issueProblem(issue: ZodLikeIssue): string {
  if (!/^(Invalid|Too small|Too big)/.test(issue.message)) return oneLine(issue.message); // the schema's own message
  if (issue.code === 'too_small' && issue.minimum !== undefined) return issue.origin === 'array' ? `must have at least ${issue.minimum} item(s)` : `must be at least ${issue.minimum}`;
  if (issue.code === 'too_big' && issue.maximum !== undefined) return issue.origin === 'array' ? `must have at most ${issue.maximum} item(s)` : `must be at most ${issue.maximum}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  if (issue.code === 'invalid_type' && issue.expected !== undefined && EXPECTED[issue.expected]) {
    const quoteIt = issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean') ? `: quote it, e.g. "${String(issue.input)}"` : '';
    return `${EXPECTED[issue.expected]}${quoteIt}`;
  }
  if (issue.code === 'invalid_value' && issue.values?.length) {
    const values = issue.values.map(String);
    const given = typeof issue.input === 'string' ? didYouMean(issue.input, values) : '';
    return `must be one of ${values.join(', ')}${given}`;
  }
  return oneLine(issue.message);
}
