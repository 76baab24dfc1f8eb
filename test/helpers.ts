// Test helpers shared by unit and e2e tests. Helpers come in pairs: runCli asserts exit 0,
// runCliUnchecked leaves the assertion to the caller.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { run } from '../src/main';

export const ROOT = join(__dirname, '..');
export const BIN = join(ROOT, 'bin', 'tre-job');
export const SHIM_BIN = join(ROOT, 'test', 'fixtures', 'bin');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in-process (fast; no stdin). */
export function runCliUnchecked(args: string[]): CliResult {
  let stdout = '';
  let stderr = '';
  const status = run(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  if (typeof status !== 'number') throw new Error(`tre-job ${args.join(' ')} keeps running: test it with runBin`);
  return { status, stdout, stderr };
}

export function runCli(args: string[]): CliResult {
  const result = runCliUnchecked(args);
  if (result.status !== 0) throw new Error(`tre-job ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result;
}

/** Run the built binary as a real process (for stdin, exit codes and the environment). */
export function runBin(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    input: options.input ?? '',
    env: options.env ?? process.env,
    cwd: options.cwd ?? ROOT,
    encoding: 'utf8',
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A temporary directory removed after the test. */
export function tempDir(prefix = 'tre-job-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Write a spec or site object as YAML; returns the path. */
export function writeYaml(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : stringify(value, { lineWidth: 0 }));
  return file;
}

/** Split a NUL-separated file (argv or environ records). */
export function readNul(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.replace(/\0$/, '').split('\0');
}

/** Files of a directory, sorted (empty if it does not exist). */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** A temporary HOME and SHIM_LOG for the recording shims (test/fixtures/bin), and the env that runs tre-job with them. */
export interface ShimSandbox {
  dir: { path: string; remove: () => void };
  home: string;
  log: string;
  env: NodeJS.ProcessEnv;
}

/** A new sandbox whose env passes `token` as TRE_JOB_REGISTRY_TOKEN; remove it with `dir.remove()`. */
export function shimSandbox(token: string): ShimSandbox {
  const dir = tempDir();
  const home = join(dir.path, 'home');
  const log = join(dir.path, 'log');
  mkdirSync(home);
  mkdirSync(log);
  return { dir, home, log, env: { PATH: `${SHIM_BIN}:${process.env.PATH}`, HOME: home, SHIM_LOG: log, TRE_JOB_REGISTRY_TOKEN: token } };
}

/** The first recorded call of shim `name` in `log`: its argv and environment, and the base path of its files. */
export function shimCall(log: string, name: string): { argv: string[]; env: string[]; base: string } {
  const file = readdirSync(log).find((f) => f.endsWith(`-${name}.argv`));
  if (!file) throw new Error(`${name} was not called`);
  const base = join(log, file.replace(/\.argv$/, ''));
  return { argv: readNul(`${base}.argv`), env: readNul(`${base}.env`), base };
}
