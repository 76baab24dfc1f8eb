// tre-job as a test user on the real stack: submit with `tre-job submit` through runuser,
// wait for the job, and read what it left behind.
import { LOG } from '../../../src/contract';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BIN } from '../../helpers';
import { homeOf, inBackend, JobResult, listHome, readToken, run, runAs, RunResult, shq, StackEnv, waitForJob } from './stack';

export interface Submitted {
  jobId: string;
  jobDir: string;
  script: string;
  outputLog: string;
}

export interface SubmitOptions {
  /** Token on stdin (default: the stack's token); null: no token flag at all. */
  token?: string | null;
  /** Give the token through $TRE_JOB_REGISTRY_TOKEN instead of stdin. */
  tokenInEnv?: boolean;
  site?: string;
  env?: Record<string, string>;
}

const specDir = mkdtempSync('/tmp/tre-e2e-specs-');
chmodSync(specDir, 0o755);
let specCount = 0;

/** Remove the spec files written by this test file. */
export function removeSpecs(): void {
  rmSync(specDir, { recursive: true, force: true });
}

/** A spec for the probe image with the stack's registry login. */
export function probeSpec(stack: StackEnv, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return { image: stack.probeImage, registry: { username: stack.registryUser }, time: '00:10:00', ...spec };
}

/** Run `tre-job ARGS...` as USER (the spec file is made readable to them). */
export function treJobAs(user: string, args: string[], options: { input?: string; env?: Record<string, string> } = {}): RunResult {
  return runAs(user, ['node', BIN, ...args].map(shq).join(' '), { ...options, timeoutMs: 60000 });
}

export function writeSpec(spec: Record<string, unknown>): string {
  const file = join(specDir, `spec-${++specCount}.yaml`);
  writeFileSync(file, stringify(spec, { lineWidth: 0 }), { mode: 0o644 });
  return file;
}

/** `tre-job submit SPEC --json` as USER; throws with tre-job's message if it fails. */
export function submitAs(user: string, stack: StackEnv, spec: Record<string, unknown>, options: SubmitOptions = {}): Submitted {
  const token = options.token === undefined ? readToken(stack) : options.token;
  const args = ['submit', writeSpec(spec), '--site', options.site ?? stack.site, '--json'];
  const env = { ...(options.env ?? {}) };
  if (token !== null && options.tokenInEnv) env.TRE_JOB_REGISTRY_TOKEN = token;
  if (token !== null && !options.tokenInEnv) args.push('--token-stdin');
  const result = treJobAs(user, args, { input: token !== null && !options.tokenInEnv ? `${token}\n` : '', env });
  if (result.status !== 0) throw new Error(`tre-job submit as ${user} exited ${result.status}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as Submitted;
}

export interface Finished {
  job: JobResult;
  log: string;
  /** $HOME/outputs-NUMBER of this job (from its log). */
  outputs: string;
  number: string;
}

/** Wait for the job to end and read its output.log. */
export async function finished(submitted: Submitted, timeoutMs = 120000): Promise<Finished> {
  const job = await waitForJob(submitted.jobId, timeoutMs);
  const log = logSoFar(submitted); // '' for a job cancelled before it started
  return { job, log, ...outputsOf(log) };
}

export function outputsOf(log: string): { outputs: string; number: string } {
  const outputs = LOG.outputs.exec(log)?.[1] ?? '';
  return { outputs, number: /outputs-([0-9]+)$/.exec(outputs)?.[1] ?? '' };
}

/** scratch-* and outputs-* in USER's home. */
export function homeDirs(user: string): { scratch: string[]; outputs: string[] } {
  return { scratch: listHome(user, /^scratch-[0-9]+$/), outputs: listHome(user, /^outputs-[0-9]+$/) };
}

/** Remove the user's outputs-* (between tests; never done by the product). */
export function clearOutputs(user: string): void {
  for (const dir of listHome(user, /^outputs-[0-9]+$/)) rmSync(join(homeOf(user), dir), { recursive: true, force: true });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` every `everyMs` until it is true; returns the ms it took. */
export async function until(check: () => boolean, timeoutMs: number, what: string, everyMs = 5): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(everyMs);
  }
  return Date.now() - start;
}

/** The log so far ('' before the job has started). */
export function logSoFar(submitted: Submitted): string {
  return existsSync(submitted.outputLog) ? readFileSync(submitted.outputLog, 'utf8') : '';
}

/** Wait until the probe sleeps in the container (it wrote /safe_outputs/probe-sleeping); returns the outputs dir. */
export async function waitUntilSleeping(submitted: Submitted, timeoutMs = 60000): Promise<string> {
  let outputs = '';
  await until(() => {
    outputs = outputsOf(logSoFar(submitted)).outputs;
    return outputs !== '' && existsSync(join(outputs, 'probe-sleeping'));
  }, timeoutMs, `job ${submitted.jobId} to run its container`, 20);
  return outputs;
}

/** PIDs of USER's processes whose command line contains `text` (read from /proc, as root). */
export function processesOf(user: string, text: string): number[] {
  const uid = String(Number(runAs(user, 'id -u').stdout.trim()));
  return processesOfUid(uid, text);
}

export function processesOfUid(uid: string, text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^Uid:\s+(\d+)/m.exec(status)?.[1] !== uid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(text)) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/**
 * kill -9 every process of the job's batch step (the script and the podman client). `backend`:
 * the job runs on that back-end (issue 18): ask its own slurmd, from inside its namespaces (the
 * PIDs are the same here: the back-ends share this host's PID namespace).
 */
export function killJobProcesses(jobId: string, backend?: string): number[] {
  const listed = backend === undefined ? run('scontrol', ['listpids', jobId]) : inBackend(backend, `scontrol listpids ${shq(jobId)}`);
  if (listed.status !== 0) throw new Error(`scontrol listpids ${jobId}${backend ? ` on ${backend}` : ''} failed: ${listed.stderr.trim()}`);
  const pids = listed.stdout
    .split('\n')
    .slice(1)
    .map((line) => Number(line.trim().split(/\s+/)[0]))
    .filter((pid) => pid > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}

/**
 * A site directory as the OOD apps read it (TRE_JOB_SITE_DIR): clusters/tre.yaml, a copy of the
 * stack's site file, readable by the test users. Remove it with rmSync(dir, { recursive: true }).
 */
export function oodSiteDir(stack: StackEnv, name: string): string {
  const dir = mkdtempSync(`/tmp/tre-e2e-${name}-site-`);
  const clusters = join(dir, 'clusters');
  mkdirSync(clusters);
  copyFileSync(stack.site, join(clusters, 'tre.yaml'));
  for (const p of [dir, clusters]) chmodSync(p, 0o755);
  chmodSync(join(clusters, 'tre.yaml'), 0o644);
  return dir;
}

/**
 * The Run Batch Container form as a user fills it in (the probe image, the stack's registry
 * login), with `values` over it: what ood.rb gets on stdin.
 */
export function batchForm(stack: StackEnv, token: string, values: Record<string, string> = {}): Record<string, string> {
  return {
    cluster: 'tre',
    image: stack.probeImage,
    registry_username: stack.registryUser,
    registry_token: token,
    runner: 'podman',
    reuse_sif: '0',
    container_name: '',
    cpus: '1',
    memory_gib: '1',
    use_gpu: '0',
    runner_args: '',
    env_vars: 'GREETING=hello from ${USER}\r\n',
    container_args: '-d 5\r\n-n "two words" ${USER}',
    ...values,
  };
}
