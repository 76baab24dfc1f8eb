// Entry point: runs the CLI and maps errors to exit codes (0 ok, 2 bad input, 1 anything else).
import { CommanderError } from 'commander';
import { buildCli } from './cli';
import { exitCodeOf, InputError, oneLine } from './errors';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  tty?: boolean;
  interactive?: boolean;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  tty: process.stderr.isTTY === true,
  interactive: process.stdin.isTTY === true,
};

function report(err: unknown, io: Io): number {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return 0; // --help, --version
    io.stderr(`tre-job: ${oneLine(err.message.replace(/^error: /, ''))}\n`);
    return 2;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr(`tre-job: ${oneLine(message)}\n`);
  return err instanceof InputError ? 2 : exitCodeOf(err);
}

/**
 * Run tre-job with `argv` (without node and script). Returns the exit code, or a promise of
 * it for commands that keep running (submit --wait, logs).
 */
export function run(argv: string[], io: Io = processIo): number | Promise<number> {
  let deferred: Promise<number> | undefined;
  try {
    buildCli({ ...io, tty: io.tty ?? false, interactive: io.interactive ?? false, defer: (p) => (deferred = p) }).parse(argv, { from: 'user' });
  } catch (err) {
    return report(err, io);
  }
  return deferred ? deferred.catch((err: unknown) => report(err, io)) : 0;
}

export function main(argv: string[]): void {
  const status = run(argv);
  if (typeof status === 'number') process.exitCode = status;
  else void status.then((code) => (process.exitCode = code));
}
