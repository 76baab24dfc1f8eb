// Entry point: runs the CLI and maps errors to exit codes (0 ok, 2 bad input, 1 anything else).
import { writeSync } from 'node:fs';
import { CommanderError } from 'commander';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { buildCli, CliIo } from './cli';
import { exitCodeOf, InputError, oneLine, OutputClosedError, Problem, problemLine } from './errors';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  tty?: boolean;
  interactive?: boolean;
}

// stdout: a plain write to fd 1, because process.stdout loads Node's stream modules (a tenth of
// a cold `tre-job render`). Getters: asking isTTY opens a stream, which most commands never need.
const processIo: Io = {
  stdout: (text) => writeAll(1, text),
  stderr: (text) => process.stderr.write(text),
  get tty() {
    return process.stderr.isTTY === true;
  },
  get interactive() {
    return process.stdin.isTTY === true;
  },
};

/** Write all of `text` to `fd`, as process.stdout would on Linux (synchronously, for files and pipes). */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let offset = 0; offset < bytes.length; ) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') throw new OutputClosedError('stdout closed');
      if (code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a full non-blocking pipe: wait 1 ms, try again
    }
  }
}

/** Print the error (one line per problem, or with --json one JSON object) on stderr; return the exit code. */
function report(err: unknown, io: Io, json: boolean): number {
  if (err instanceof OutputClosedError) return 0; // nobody is listening, on stdout at least
  let problems: Problem[] = [];
  let exitCode: number;
  let message: string;
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return 0; // --help, --version
    if (err.code === 'commander.help') return 2; // no command: the usage is already on stderr
    message = oneLine(err.message.replace(/^error: /, ''));
    exitCode = 2;
  } else {
    if (err instanceof InputError) problems = [...err.problems];
    message = err instanceof Error ? err.message : String(err);
    exitCode = exitCodeOf(err);
  }
  if (json) io.stderr(`${JSON.stringify({ exitCode, message: problems.length ? problems.map(problemLine).join('; ') : oneLine(message), problems })}\n`);
  else if (problems.length) io.stderr(problems.map((p) => `tre-job: ${problemLine(p)}\n`).join(''));
  else io.stderr(`tre-job: ${oneLine(message)}\n`);
  return exitCode;
}

/** --json before any `--`, to a command that has it: errors are then one JSON object on stderr too. */
function wantsJson(argv: string[], program: CommandUnknownOpts): boolean {
  const end = argv.indexOf('--');
  const command = program.commands.find((c) => c.name() === argv[0]);
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json') && command?.options.some((o) => o.long === '--json') === true;
}

/**
 * Run tre-job with `argv` (without node and script). Returns the exit code, or a promise of
 * it for commands that keep running (submit --wait, logs).
 */
export function run(argv: string[], io: Io = processIo): number | Promise<number> {
  let deferred: Promise<number> | undefined;
  let program: CommandUnknownOpts | undefined;
  try {
    const cliIo: CliIo = {
      stdout: io.stdout,
      stderr: io.stderr,
      get tty() {
        return io.tty ?? false;
      },
      get interactive() {
        return io.interactive ?? false;
      },
      defer: (p) => (deferred = p),
    };
    program = buildCli(cliIo);
    program.parse(argv, { from: 'user' });
  } catch (err) {
    return report(err, io, program !== undefined && wantsJson(argv, program));
  }
  const json = wantsJson(argv, program);
  return deferred ? deferred.catch((err: unknown) => report(err, io, json)) : 0;
}

export function main(argv: string[]): void {
  const status = run(argv);
  if (typeof status === 'number') process.exitCode = status;
  else void status.then((code) => (process.exitCode = code));
}
