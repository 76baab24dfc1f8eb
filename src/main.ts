// Entry point: runs the CLI and maps errors to exit codes (0 ok, 2 bad input, 1 anything else).
import { CommanderError } from 'commander';
import { buildCli } from './cli';
import { exitCodeOf, InputError, oneLine } from './errors';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Run tre-job with `argv` (without node and script); returns the exit code. */
export function run(argv: string[], io: Io = processIo): number {
  try {
    buildCli(io.stdout).parse(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      io.stderr(`tre-job: ${oneLine(err.message.replace(/^error: /, ''))}\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`tre-job: ${oneLine(message)}\n`);
    return err instanceof InputError ? 2 : exitCodeOf(err);
  }
}

export function main(argv: string[]): void {
  process.exitCode = run(argv);
}
