/**
 * Helpers for end-to-end tests against the real stack built by test/e2e/stack/setup.sh
 * (Slurm + munge, rootless Podman, loopback registry, test users alice..erin).
 *
 * The tests must run as root: they act as the test users through `runuser -l`.
 *
 * Typical use in a jest test file:
 *
 *   import { describeE2E, requireStack, runAs, shq, waitForJob } from '../lib/stack';
 *   describeE2E('podman job as alice', () => {
 *     const stack = requireStack()!;           // non-null inside describeE2E
 *     test('runs', async () => {
 *       const r = runAs('alice', `sbatch --parsable ${shq(script)}`);
 *       const job = await waitForJob(r.stdout.trim());
 *       expect(job.state).toBe('COMPLETED');
 *     });
 *   });
 *
 * When the stack is not ready, describeE2E skips the block with the reason in its title,
 * except under CI=true, where it registers a failing test that states the reason:
 * e2e tests never silently skip in CI.
 *
 * Only Node built-ins are used.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const STACK_DIR = '/etc/tre-job-test';
export const STACK_ENV_FILE = path.join(STACK_DIR, 'stack.env');
export const JOBCOMP_LOG = '/var/log/slurm/jobcomp.log';
export const SETUP_HINT = 'run `sudo bash test/e2e/stack/setup.sh` (as root) to build the stack';

export interface StackEnv {
  /** e.g. 127.0.0.1:5000 (TRE_TEST_REGISTRY) */
  registry: string;
  /** TRE_TEST_REGISTRY_USER, e.g. treuser */
  registryUser: string;
  /** TRE_TEST_TOKEN_FILE: root-only 0600 file with the registry token */
  tokenFile: string;
  /** TRE_TEST_SITE: site.yaml of the test site */
  site: string;
  /** TRE_TEST_PROBE_IMAGE, e.g. 127.0.0.1:5000/tre/probe:1.0 */
  probeImage: string;
  /** TRE_TEST_USERS split on whitespace */
  users: string[];
  /** every assignment of stack.env */
  vars: Record<string, string>;
  /** TRE_TEST_BACKENDS ("ID:SITEFILE ..."): the back-ends (issue 18) and their site files */
  backends?: { id: string; site: string }[];
  /** TRE_TEST_PRIVATE_HOME_BACKEND: the back-end with its own /home (reached over ssh) */
  privateHomeBackend?: string;
  /** TRE_TEST_PRIVATE_HOME_ROOT: that back-end's /home as seen from the host */
  privateHomeRoot?: string;
  /** TRE_TEST_NO_KEY_USER: the test user without an ssh key */
  noKeyUser?: string;
  /** TRE_TEST_SPREAD_PARTITION: partition over the main node and the shared-home back-end */
  spreadPartition?: string;
  /** TRE_TEST_BACKEND_NS_DIR: where the back-ends' namespaces are bound (ID.mnt, ID.uts) */
  backendNsDir?: string;
}

export interface StackStatus {
  ready: boolean;
  /** why the stack is not ready ('' when ready) */
  reason: string;
  env: StackEnv | null;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface JobResult {
  /** JobState, e.g. COMPLETED, FAILED, CANCELLED, TIMEOUT, RUNNING */
  state: string;
  /** X of ExitCode=X:Y */
  exitCode: number;
  /** Y of ExitCode=X:Y (signal that ended the batch script) */
  signal: number;
  /** the `scontrol show job -o` line or the jobcomp.log line */
  raw: string;
}

const isCI = (): boolean => process.env.CI === 'true';

/** Single-quote a string for bash/sh: a'b -> 'a'\''b' */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Parse shell assignments (KEY=value, KEY="value", KEY='value'; # comments). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = (m[2] ?? '').trim();
    if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) {
      v = v.slice(1, -1);
    } else {
      v = v.replace(/\s+#.*$/, '');
    }
    out[m[1] as string] = v;
  }
  return out;
}

/** Read /etc/tre-job-test/stack.env; null if it is missing or incomplete. */
export function loadStackEnv(file: string = STACK_ENV_FILE): StackEnv | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const v = parseEnvFile(text);
  const need = [
    'TRE_TEST_REGISTRY',
    'TRE_TEST_REGISTRY_USER',
    'TRE_TEST_TOKEN_FILE',
    'TRE_TEST_SITE',
    'TRE_TEST_PROBE_IMAGE',
    'TRE_TEST_USERS',
  ];
  if (need.some((k) => !v[k])) return null;
  const get = (k: string): string => v[k] ?? '';
  return {
    registry: get('TRE_TEST_REGISTRY'),
    registryUser: get('TRE_TEST_REGISTRY_USER'),
    tokenFile: get('TRE_TEST_TOKEN_FILE'),
    site: get('TRE_TEST_SITE'),
    probeImage: get('TRE_TEST_PROBE_IMAGE'),
    users: get('TRE_TEST_USERS').split(/\s+/).filter(Boolean),
    vars: v,
    backends: v.TRE_TEST_BACKENDS
      ? v.TRE_TEST_BACKENDS.split(/\s+/)
          .filter(Boolean)
          .map((b) => {
            const i = b.indexOf(':');
            return i < 0 ? { id: b, site: '' } : { id: b.slice(0, i), site: b.slice(i + 1) };
          })
      : undefined,
    privateHomeBackend: v.TRE_TEST_PRIVATE_HOME_BACKEND || undefined,
    privateHomeRoot: v.TRE_TEST_PRIVATE_HOME_ROOT || undefined,
    noKeyUser: v.TRE_TEST_NO_KEY_USER || undefined,
    spreadPartition: v.TRE_TEST_SPREAD_PARTITION || undefined,
    backendNsDir: v.TRE_TEST_BACKEND_NS_DIR || undefined,
  };
}

/**
 * Run CMD with ARGS as the caller (no shell): status 124 on a timeout, 127 if it could not be
 * started, 128+N if signal N ended it. opts.cwd and opts.env (the whole environment) default
 * to the caller's. Also used by the bench (bench/lib.ts).
 */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): RunResult {
  const r = spawnSync(cmd, args, {
    input: opts.input ?? '',
    cwd: opts.cwd,
    env: opts.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30000,
    maxBuffer: 64 * 1024 * 1024,
  });
  let stderr = r.stderr ?? '';
  let status: number;
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    status = e.code === 'ETIMEDOUT' ? 124 : 127;
    stderr += `\n[${cmd}: ${e.code === 'ETIMEDOUT' ? `timed out after ${opts.timeoutMs ?? 30000} ms` : e.message}]`;
  } else if (r.status === null) {
    status = 128 + (r.signal ? os.constants.signals[r.signal] : 0);
  } else {
    status = r.status;
  }
  return { status, stdout: r.stdout ?? '', stderr };
}

function checkStack(): StackStatus {
  const env = loadStackEnv();
  if (!env) return { ready: false, reason: `${STACK_ENV_FILE} missing or incomplete`, env: null };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ready: false, reason: 'e2e tests must run as root (they use runuser -l USER)', env };
  }
  const si = run('sinfo', ['-h', '-o', '%t'], { timeoutMs: 10000 });
  if (si.status !== 0) {
    return { ready: false, reason: `sinfo failed (status ${si.status}): ${si.stderr.trim()}`, env };
  }
  // idle is the resting state; mix/alloc/comp mean jobs of other tests are running
  const node = si.stdout.trim().split('\n')[0] ?? '';
  if (!/^(idle|mix|alloc|comp)$/.test(node)) {
    return { ready: false, reason: `Slurm node state is '${node || 'none'}', want idle`, env };
  }
  const code = run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://${env.registry}/v2/`], {
    timeoutMs: 10000,
  });
  if (code.stdout.trim() !== '401') {
    return {
      ready: false,
      reason: `registry http://${env.registry}/v2/ answers '${code.stdout.trim()}' (want 401) ${code.stderr.trim()}`,
      env,
    };
  }
  for (const u of env.users) {
    if (run('id', ['-u', u]).status !== 0) return { ready: false, reason: `test user ${u} missing`, env };
  }
  return { ready: true, reason: '', env };
}

let cached: StackStatus | undefined;

/** Probe the stack once per process (pass refresh=true to probe again). */
export function detectStack(refresh = false): StackStatus {
  if (!cached || refresh) cached = checkStack();
  return cached;
}

function notReadyMessage(reason: string): string {
  return `e2e stack not ready: ${reason}; ${SETUP_HINT}`;
}

/**
 * The stack's settings when it is ready. When it is not ready: throws under CI=true
 * (e2e tests must fail in CI, never skip); otherwise returns null so that the caller
 * can skip (describeE2E does this for you).
 */
export function requireStack(): StackEnv | null {
  const s = detectStack();
  if (s.ready && s.env) return s.env;
  if (isCI()) throw new Error(`${notReadyMessage(s.reason)} (CI=true: e2e tests must not be skipped)`);
  return null;
}

type BlockFn = (name: string, fn: () => void) => void;
interface JestGlobals {
  describe: BlockFn & { skip: BlockFn };
  test: (name: string, fn: () => void | Promise<void>, timeout?: number) => void;
}

function jestGlobals(): JestGlobals {
  const g = globalThis as unknown as Partial<JestGlobals>;
  if (typeof g.describe !== 'function' || typeof g.test !== 'function') {
    throw new Error('describeE2E must be called inside a jest test file');
  }
  return g as JestGlobals;
}

/**
 * describe() for e2e tests:
 *  - stack ready: a plain describe;
 *  - not ready, CI=true: a describe with one failing test "e2e stack is ready" whose error
 *    names the reason (and the block's own tests are not registered);
 *  - not ready locally: describe.skip, with the reason in the block's title.
 */
export function describeE2E(name: string, fn: () => void): void {
  const j = jestGlobals();
  const s = detectStack();
  if (s.ready) {
    j.describe(name, fn);
  } else if (isCI()) {
    const msg = `${notReadyMessage(s.reason)} (CI=true: failing instead of skipping)`;
    process.stderr.write(`[e2e] ${name}: ${msg}\n`);
    j.describe(name, () => {
      j.test('e2e stack is ready', () => {
        throw new Error(msg);
      });
    });
  } else {
    j.describe.skip(`${name} [skipped: ${notReadyMessage(s.reason)}]`, fn);
  }
}

/**
 * Run COMMAND as USER through `runuser -l USER -c COMMAND` (a login shell: HOME, PATH
 * and groups of the user; XDG_RUNTIME_DIR is not set, as in a batch job). Must run as root.
 * Build COMMAND with shq() for every value. opts.env is exported at the start of the
 * command (a login shell clears the caller's environment). stdin gets opts.input.
 */
export function runAs(
  user: string,
  command: string,
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): RunResult {
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`runAs: bad user name ${JSON.stringify(user)}`);
  let prefix = '';
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`runAs: bad env name ${JSON.stringify(k)}`);
    prefix += `export ${k}=${shq(v)}; `;
  }
  return run('runuser', ['-l', user, '-c', prefix + command], {
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 120000,
  });
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
const ACTIVE = new Set(['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED', 'REQUEUED', 'RESIZING', 'SIGNALING', 'STAGE_OUT']);

/** Whether a JobState (PENDING, RUNNING, COMPLETING...) means Slurm has not finished with the job. */
export function isActiveState(state: string): boolean {
  return ACTIVE.has(state);
}

/** Parse JobState and ExitCode=X:Y from a `scontrol show job -o` or jobcomp.log line. */
export function parseJobLine(line: string): JobResult | null {
  const st = /(?:^|\s)JobState=(\S+)/.exec(line);
  if (!st) return null;
  const ec = /(?:^|\s)ExitCode=(\d+):(\d+)/.exec(line);
  return {
    state: st[1] ?? '',
    exitCode: ec ? Number(ec[1]) : -1,
    signal: ec ? Number(ec[2]) : -1,
    raw: line.trim(),
  };
}

/** The job's current record: scontrol while Slurm remembers it, else the last jobcomp.log line. */
export function jobInfo(jobId: string): JobResult | null {
  if (!/^\d+(_\d+)?$/.test(jobId)) throw new Error(`bad job id ${JSON.stringify(jobId)}`);
  const r = run('scontrol', ['show', 'job', '-o', jobId], { timeoutMs: 10000 });
  if (r.status === 0) {
    const line = r.stdout.split('\n').find((l) => new RegExp(`(^|\\s)JobId=${jobId}\\s`).test(l));
    const parsed = line ? parseJobLine(line) : null;
    if (parsed) return parsed;
  }
  let log = '';
  try {
    log = fs.readFileSync(JOBCOMP_LOG, 'utf8');
  } catch {
    return null;
  }
  const re = new RegExp(`^JobId=${jobId}\\s`);
  const lines = log.split('\n').filter((l) => re.test(l));
  const lastLine = lines[lines.length - 1];
  return lastLine !== undefined ? parseJobLine(lastLine) : null;
}

/** Wait until the job has ended (left PENDING/RUNNING/COMPLETING/CONFIGURING...). */
export async function waitForJob(jobId: string, timeoutMs = 120000): Promise<JobResult> {
  const deadline = Date.now() + timeoutMs;
  let last: JobResult | null = null;
  for (;;) {
    last = jobInfo(jobId);
    if (last && !ACTIVE.has(last.state)) return last;
    if (Date.now() > deadline) {
      throw new Error(`job ${jobId} did not end within ${timeoutMs} ms; last: ${last ? last.raw : 'unknown to Slurm'}`);
    }
    await sleep(200);
  }
}

/** Wait until the job is in STATE (e.g. RUNNING); rejects if it ends in another state first. */
export async function waitForState(jobId: string, state: string, timeoutMs = 60000): Promise<JobResult> {
  const deadline = Date.now() + timeoutMs;
  let last: JobResult | null = null;
  for (;;) {
    last = jobInfo(jobId);
    if (last && last.state === state) return last;
    if (last && !ACTIVE.has(last.state)) {
      throw new Error(`job ${jobId} ended as ${last.state} while waiting for ${state}: ${last.raw}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`job ${jobId} not ${state} within ${timeoutMs} ms; last: ${last ? last.raw : 'unknown to Slurm'}`);
    }
    await sleep(200);
  }
}

/** Names of all of USER's podman containers (running or not). */
export function podmanPsAll(user: string): string[] {
  const r = runAs(user, `podman ps -a --format ${shq('{{.Names}}')}`, { timeoutMs: 60000 });
  if (r.status !== 0) throw new Error(`podman ps -a as ${user} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

/** USER's home directory from the passwd database. */
export function homeOf(user: string): string {
  const r = run('getent', ['passwd', user]);
  const home = r.status === 0 ? r.stdout.trim().split(':')[5] : '';
  if (!home) throw new Error(`no passwd entry for ${user}`);
  return home;
}

/** Entries of USER's home dir whose name matches PATTERN (e.g. /^scratch-\d+$/), sorted. */
export function listHome(user: string, pattern: RegExp): string[] {
  return fs
    .readdirSync(homeOf(user))
    .filter((n) => pattern.test(n))
    .sort();
}

/** Split a NUL-separated file (e.g. the probe's argv/env); a trailing NUL ends the last item. */
export function readNulList(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text === '') return [];
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Run the bash COMMAND as root inside back-end ID's mount and UTS namespaces (its hostname, its
 * /home): `nsenter --mount=DIR/ID.mnt --uts=DIR/ID.uts bash -c COMMAND`, DIR from
 * TRE_TEST_BACKEND_NS_DIR. Must run as root. Throws if the stack has no back-ends.
 */
export function inBackend(id: string, command: string, opts: { input?: string; timeoutMs?: number } = {}): RunResult {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new Error(`inBackend: bad back-end id ${JSON.stringify(id)}`);
  const dir = loadStackEnv()?.backendNsDir;
  if (!dir) throw new Error(`inBackend: ${STACK_ENV_FILE} names no TRE_TEST_BACKEND_NS_DIR; ${SETUP_HINT}`);
  return run('nsenter', [`--mount=${dir}/${id}.mnt`, `--uts=${dir}/${id}.uts`, 'bash', '-c', command], {
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 60000,
  });
}

/** The registry token (root-only file named by TRE_TEST_TOKEN_FILE). */
export function readToken(env: StackEnv): string {
  return fs.readFileSync(env.tokenFile, 'utf8').trim();
}
