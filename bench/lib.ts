// The bench's own helpers (bench/run.ts has the settings, main and the report; bench/phases/
// the phases): the results' types, timing (the interleaved driver, stats), Slurm polling over
// many jobs, the process table, the bench user's workspace with everything the bench must
// clean up, and the hand-written scripts that are the baselines. What the e2e tests need as
// well (running a command, as a user through `runuser -l`, shell quoting, stack.env, homes,
// job records, podman containers) comes from test/e2e/lib/stack.ts.
import { LOG } from '../src/contract';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  homeOf,
  isActiveState,
  listHome,
  parseJobLine,
  podmanPsAll,
  run as runCommand,
  runAs,
  shq,
  type RunResult,
  type StackEnv,
} from '../test/e2e/lib/stack';
import type { Submitted } from '../test/e2e/lib/tre';

export type { Submitted };

// bench/ when type-checked, dist/ when run (`npm run bench` bundles this to dist/bench.js):
// either way one level below the repository.
export const ROOT = path.resolve(__dirname, '..');
export const BIN = path.join(ROOT, 'bin', 'tre-job');

// ---------------------------------------------------------------- settings and results

export interface Settings {
  /** BENCH_USER: the test user who submits the jobs */
  user: string;
  /** BENCH_TRIALS: phases 1, 2 and 10, A/B pairs */
  trials: number;
  /** BENCH_JOB_TRIALS: phases 3 and 7, A/B pairs of real jobs */
  jobTrials: number;
  /** BENCH_CANCEL_TRIALS: phases 4 and 8 */
  cancelTrials: number;
  /** BENCH_SERVICE_TRIALS: phase 9, A/B pairs of Jupyter jobs per case (cold, warm) */
  serviceTrials: number;
  /** BENCH_JOBS: phase 5, jobs per side */
  jobs: number;
  /** BENCH_RENDER_ITERS: phase 6, renders per size */
  renderIters: number;
  /** BENCH_ARRAY_TASKS: phase 11, tasks per array */
  arrayTasks: number;
  /** BENCH_PHASES */
  phases: Set<number>;
}

/** A row of the main table: tre-job (a) against its baseline (b). */
export interface Row {
  what: string;
  a: number;
  b: number;
  ratio: number;
  extra?: number;
  target: string;
  /** null: informational */
  ok: boolean | null;
  /** a and b in this unit instead of ms */
  unit?: string;
}

export interface Stats {
  median: number;
  p95: number;
  max: number;
  n: number;
}

export interface CancelResult {
  number: number;
  allClear: string;
  killWaitMs: number;
  scratch: Stats;
  container: Stats;
  scancel: Stats;
  ended: Stats;
  problems: string[];
  notes: string[];
}

export interface Results {
  rows: Row[];
  /** phase 1 */
  breakdown?: { base: number; rows: { what: string; ms: number; extra: number }[] };
  /** phase 2 */
  submitRaw?: { a: number; b: number; aP95: number; bP95: number };
  submitStarted?: string;
  submitLeaks?: { count: number; note: string };
  /** phases 3 and 7, by runtime */
  jobSide?: Record<string, { aP95: number; bP95: number; pairedMedianDiff: number }>;
  /** phases 4 and 8, by runtime */
  cancel?: Record<string, CancelResult>;
  /** phase 5 */
  throughput?: {
    n: number;
    aMs: number;
    bMs: number;
    aSubmitMs: number;
    bSubmitMs: number;
    aCpuMs: number;
    bCpuMs: number;
    leftovers: { aScratch: number; aContainers: number; bScratch: number; bContainers: number };
    notCompleted: { a: number; b: number };
    failures: string[];
  };
  /** phase 6 */
  growth?: { n: number; items: number; ms: number; bytes: number; cliMs: number }[];
  /** phase 9 */
  service?: { problems: string[]; cases: Record<string, { n: number; aP95: number; bP95: number; connectionAfter: number }> };
  /** phase 10 */
  start?: { sifBytes: number; tmpLeft: number; aP95?: number; bP95?: number };
  /** phase 11 */
  array?: ArrayResult;
}

/** What one side of phase 11 (one array of N tasks) cost and left behind. */
export interface ArraySide {
  jobId: string;
  /** the submitting command (tre-job submit, or sbatch) */
  submitMs: number;
  /** first task start to last task end, from Slurm's records (whole seconds) */
  spanS: number;
  /** from the submission until Slurm listed no task (polled every second) */
  wallMs: number;
  /** tasks that ended COMPLETED with exit 0 */
  completed: number;
  /** tasks whose own outputs dir holds what the probe wrote */
  withOutputs: number;
  /** nodes the tasks ran on */
  nodes: number;
  /** registry access-log lines during the side: all, manifest GETs (200) and layer blob GETs (200) of the image's repository */
  requests: number;
  manifests: number;
  layers: number;
  /** /proc/stat busy time of the whole machine during the side (wallMs) */
  busyMs: number;
  /** what the side left that was not there before it */
  leftovers: Record<'scratch' | 'containers' | 'credentials' | 'markers' | 'tmp', number>;
  failures: string[];
}

export interface ArrayResult {
  tasks: number;
  /** /proc/stat busy ms per second with no job running (the bench's own polling included), before and after the sides */
  idleBusyMsPerS: number[];
  /** by runtime: tre-job (a) and hand-written (b) */
  runtimes: Record<string, { a: ArraySide; b: ArraySide }>;
}

// ---------------------------------------------------------------- small helpers

export function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

export function note(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Block for MS milliseconds (the bench is synchronous from start to end). */
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

// Local measurements (as root) run with a clean environment, as a login shell would have: the
// caller's NODE_OPTIONS, NODE_EXTRA_CA_CERTS (about 40 ms of start-up) and the like would skew
// the ratios. runAs gets the same from `runuser -l`.
export const CLEAN_ENV: NodeJS.ProcessEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: os.homedir(), LANG: 'C.UTF-8' };

/** stack.ts's run, as root, with the bench's default time limit (2 minutes). */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): RunResult {
  return runCommand(cmd, args, { timeoutMs: 120000, ...opts });
}

export function mustRun(what: string, r: RunResult): RunResult {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return (s.length % 2 ? s[m] : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2) ?? NaN;
}

/** nearest-rank percentile */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

export function stats(xs: readonly number[]): Stats {
  return { median: median(xs), p95: pct(xs, 95), max: Math.max(...xs), n: xs.length };
}

export const fmt = (ms: number, digits = 1): string => (Number.isFinite(ms) ? `${ms.toFixed(digits)} ms` : 'n/a');
export const fmtX = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');

/** EPOCHREALTIME ("1700000000.123456") to microseconds, exactly. */
export function usOf(stamp: string | undefined): number {
  const m = /^([0-9]+)[.,]([0-9]{6})$/.exec(stamp ?? '');
  if (!m) throw new Error(`bad timestamp ${JSON.stringify(stamp)}`);
  return Number(m[1]) * 1e6 + Number(m[2]);
}

/** A file's text, '' if it cannot be read (not there yet). */
export function readLog(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** $HOME/outputs-N and scratch-N of a tre-job job, from its log. */
export function dirsFromLog(log: string): { outputs: string; scratch: string } {
  return {
    outputs: LOG.outputs.exec(log)?.[1] ?? '',
    scratch: LOG.scratch.exec(log)?.[1] ?? '',
  };
}

/** The outputs-N a job's outputs are in: the dir itself, or, for an array task's outputs-N/TASK, its parent. */
export function outputsRoot(outputs: string): string {
  return /\/outputs-[0-9]+\/[0-9]+$/.test(outputs) ? path.dirname(outputs) : outputs;
}

/** Poll `test` every 20 ms for up to `ms`; true as soon as it holds. */
export function within(ms: number, test: () => boolean): boolean {
  const deadline = nowMs() + ms;
  for (;;) {
    if (test()) return true;
    if (nowMs() > deadline) return false;
    sleep(20);
  }
}

// ---------------------------------------------------------------- Slurm, many jobs at a time

/** JobId -> {state, exit} for the given ids, from one `scontrol show job -o`. */
export function jobStates(ids: readonly string[]): Map<string, { state: string; exit: string }> {
  const want = new Set(ids);
  const out = new Map<string, { state: string; exit: string }>();
  const r = run('scontrol', ['show', 'job', '-o'], { timeoutMs: 30000 });
  for (const line of r.stdout.split('\n')) {
    const id = /^JobId=(\d+)\s/.exec(line)?.[1];
    if (!id || !want.has(id)) continue;
    const job = parseJobLine(line);
    out.set(id, { state: job?.state ?? '?', exit: job && job.exitCode >= 0 ? `${job.exitCode}:${job.signal}` : '?' });
  }
  return out;
}

/** Ids among `ids` that Slurm still runs (squeue lists active jobs only); an array's id while any task does. */
export function activeIds(ids: readonly string[]): string[] {
  const want = new Set(ids);
  const r = run('squeue', ['-h', '-t', 'all', '-o', '%i %T'], { timeoutMs: 30000 });
  const active = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const [task, state] = line.trim().split(/\s+/);
    // An array's tasks are listed as A_T and its pending rest as A_[2-4%2].
    const id = task?.replace(/_.*$/, '');
    if (id && want.has(id) && isActiveState(state ?? '')) active.add(id);
  }
  return [...active];
}

/** Wait until all ids have ended; returns the time (nowMs) at which that was seen. */
export function waitEnded(ids: readonly string[], timeoutMs: number, everyMs = 100): number {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    const t = nowMs();
    const left = activeIds(ids);
    if (left.length === 0) return t;
    if (t > deadline) throw new Error(`jobs still active after ${timeoutMs} ms: ${left.slice(0, 10).join(' ')}${left.length > 10 ? ' ...' : ''}`);
    sleep(everyMs);
  }
}

export function killWaitMs(): number {
  const v = /^KillWait\s*=\s*(\d+)/m.exec(run('scontrol', ['show', 'config']).stdout)?.[1];
  return v ? Number(v) * 1000 : NaN;
}

// ---------------------------------------------------------------- interleaved timing driver

export interface TimedCommand<N extends string> {
  name: N;
  /** may use $i (the trial) */
  cmd: string;
  /** untimed, right after `cmd` */
  after?: string;
}

/**
 * Time shell commands in one bash process, interleaved (the order rotates each trial), with
 * bash's $EPOCHREALTIME, so neither node, runuser nor a fork of `date` is in the measurement.
 * Returns { name: [ms...] }. Run as root (user null, with CLEAN_ENV) or as USER.
 */
export function timeInterleaved<N extends string>(opts: {
  user: string | null;
  cwd: string;
  cmds: readonly TimedCommand<N>[];
  trials: number;
  warmup?: number;
  prelude?: string;
}): Record<N, number[]> {
  const { user, cwd, cmds, trials, warmup = 2, prelude = '' } = opts;
  const lines = ['#!/bin/bash', 'set -u', `cd ${shq(cwd)} || exit 99`, prelude];
  cmds.forEach((c, k) => {
    lines.push(`run_${k}() {`, `  ${c.cmd}`, '}', `after_${k}() {`, `  ${c.after || ':'}`, '}');
  });
  const n = cmds.length;
  lines.push(
    `for ((i = -${warmup}; i < ${trials}; i++)); do`,
    `  for ((j = 0; j < ${n}; j++)); do`,
    `    k=$(( (j + (i < 0 ? 0 : i)) % ${n} ))`,
    '    s=$EPOCHREALTIME',
    '    run_$k',
    '    rc=$?',
    '    e=$EPOCHREALTIME',
    '    after_$k',
    '    ((i >= 0)) && echo "T $k $i $rc $s $e"',
    '  done',
    'done',
    'exit 0',
  );
  const file = path.join(cwd, `driver-${process.pid}-${Math.random().toString(36).slice(2, 8)}.sh`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o755 });
  if (user) fs.chownSync(file, ...ugidOf(user));
  const r = user ? runAs(user, `bash ${shq(file)}`, { timeoutMs: 3600000 }) : run('bash', [file], { timeoutMs: 3600000, env: CLEAN_ENV });
  fs.rmSync(file, { force: true });
  mustRun('timing driver', r);
  const out = new Map<N, number[]>(cmds.map((c) => [c.name, []]));
  const bad: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^T (\d+) (\d+) (\d+) (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    const c = cmds[Number(m[1])];
    if (!c) continue;
    if (m[3] !== '0') bad.push(`${c.name} trial ${m[2]} exit ${m[3]}`);
    out.get(c.name)?.push((usOf(m[5]) - usOf(m[4])) / 1000);
  }
  if (bad.length) throw new Error(`commands failed: ${bad.slice(0, 5).join('; ')}\n${r.stderr.slice(0, 2000)}`);
  return Object.fromEntries(out) as Record<N, number[]>;
}

const ugidCache = new Map<string, [number, number]>();

/** [uid, gid] of USER. */
export function ugidOf(user: string): [number, number] {
  let ids = ugidCache.get(user);
  if (!ids) {
    const u = Number(mustRun('id -u', run('id', ['-u', user])).stdout.trim());
    const g = Number(mustRun('id -g', run('id', ['-g', user])).stdout.trim());
    ids = [u, g];
    ugidCache.set(user, ids);
  }
  return ids;
}

// ---------------------------------------------------------------- processes

export interface Proc {
  pid: string;
  ppid: string;
  uid: string;
  /** the command line, NULs as spaces */
  cmd: string;
}

/** Every process (read from /proc, as root). */
export function processTable(): Proc[] {
  const procs: Proc[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = /^PPid:\s+(\d+)/m.exec(status)?.[1] ?? '';
      const puid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '';
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      procs.push({ pid: entry, ppid, uid: puid, cmd });
    } catch {
      // ended while we looked
    }
  }
  return procs;
}

/** The processes of `procs` that `seed` picks, and all their descendants. */
export function withDescendants(procs: readonly Proc[], seed: (p: Proc) => boolean): Proc[] {
  const set = new Set(procs.filter(seed).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!set.has(p.pid) && set.has(p.ppid)) {
        set.add(p.pid);
        grew = true;
      }
    }
  }
  return procs.filter((p) => set.has(p.pid));
}

/** Whether PID runs (a zombie does not). */
export function alive(pid: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- bench workspace (owned by the bench user)

/** What the Slurm phases need of the stack: stack.env, the Jupyter image (phase 9) and the registry token. */
export interface BenchStack {
  env: StackEnv;
  /** TRE_TEST_JUPYTER_IMAGE, '' if stack.env has none */
  jupyterImage: string;
  token: string;
}

/**
 * The bench user's work directory ~USER/tre-bench-PID, and the record of everything the
 * bench's jobs create, which cleanUp() removes at the end.
 */
export class Workspace {
  readonly user: string;
  readonly home: string;
  readonly uid: number;
  readonly gid: number;
  readonly dir: string;
  /** the user's own copy of the registry token, as they would keep it (0600) */
  readonly token: string;
  readonly env: StackEnv;
  readonly jupyterImage: string;
  /** tre-job's indexes of job directories (~/.tre-job/jobs, credentials) */
  readonly indexes: string[];
  /** those the bench's jobs made: removed at the end if they are empty again */
  readonly newIndexes: string[];
  /** every job this bench submitted (scancelled at the end if still active) */
  readonly jobIds: string[] = [];
  /** tre-job job dirs to remove at the end */
  readonly jobDirs: string[] = [];
  /** outputs of jobs whose job dir is kept for a look (removed at the end) */
  readonly keptOutputs: string[] = [];
  /** files and dirs in the user's home the bench's jobs made (SIFs, ...): removed at the end */
  readonly createdPaths = new Set<string>();
  /** the most jobs of other users seen in the queue at once */
  othersSeen = 0;

  constructor(
    readonly cfg: Settings,
    stack: BenchStack,
  ) {
    this.user = cfg.user;
    this.home = homeOf(cfg.user);
    [this.uid, this.gid] = ugidOf(cfg.user);
    this.env = stack.env;
    this.jupyterImage = stack.jupyterImage;
    this.dir = path.join(this.home, `tre-bench-${process.pid}`);
    fs.mkdirSync(this.dir, { mode: 0o700 });
    fs.chownSync(this.dir, this.uid, this.gid);
    this.token = this.own(path.join(this.dir, 'token'), `${stack.token}\n`, 0o600);
    this.indexes = ['jobs', 'credentials'].map((i) => path.join(this.home, '.tre-job', i));
    this.newIndexes = this.indexes.filter((d) => !fs.existsSync(d));
  }

  /** Write FILE owned by the user with MODE; returns FILE. */
  own(file: string, text: string, mode: number): string {
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    fs.chownSync(file, this.uid, this.gid);
    return file;
  }

  /** Make the directory NAME (may contain '/') in the work directory, owned by the user. */
  sub(name: string): string {
    const d = path.join(this.dir, name);
    fs.mkdirSync(d, { mode: 0o700 });
    fs.chownSync(d, this.uid, this.gid);
    return d;
  }

  /**
   * A spec NAME.yaml for the probe image (or opts.image) with the stack's registry login;
   * opts.more: extra top-level lines, e.g. 'service: jupyter'.
   */
  spec(name: string, extraEnv: string[] = [], runtime = 'podman', opts: { image?: string; more?: string[] } = {}): string {
    const { image = this.env.probeImage, more = [] } = opts;
    return this.own(
      path.join(this.dir, `${name}.yaml`),
      [
        '# written by the bench (bench/run.ts)',
        `image: ${image}`,
        `runtime: ${runtime}`,
        'registry:',
        `  username: ${this.env.registryUser}`,
        'time: "00:10:00"',
        ...more,
        ...(extraEnv.length ? ['env:', ...extraEnv.map((e) => `  - ${JSON.stringify(e)}`)] : []),
        '',
      ].join('\n'),
      0o644,
    );
  }

  /**
   * Note that the bench's jobs will create FILE in the user's home: the end removes it, or, if FILE
   * does not exist yet, the highest of its parents that does not exist either. With `always`, FILE
   * is removed even if it exists now (a SIF the bench's jobs pull again, replacing it anyway).
   */
  willCreate(file: string, always = false): void {
    let top = file;
    while (!always && !fs.existsSync(path.dirname(top)) && path.dirname(top).startsWith(`${this.home}/`)) top = path.dirname(top);
    if (always || !fs.existsSync(top)) this.createdPaths.add(top);
  }

  /** The SIF a tre-job job pulls IMAGE to ($HOME/NAME:TAG.sif), with its lock, both left to remove at the end. */
  treJobSif(image: string): string {
    const name = `${image.split('/').pop()}.sif`;
    this.willCreate(path.join(this.home, '.tre-job', 'locks', `${name}.lock`));
    this.willCreate(path.join(this.home, name), true);
    return path.join(this.home, name);
  }

  /** `tre-job submit --json` as the bench user (token on stdin from the user's copy, like the README). */
  submit(spec: string): Submitted {
    const r = mustRun('tre-job submit', runAs(this.user, `node ${shq(BIN)} submit ${shq(spec)} --site ${shq(this.env.site)} --token-stdin --json < ${shq(this.token)}`));
    const sub = JSON.parse(r.stdout) as Submitted;
    this.jobDirs.push(sub.jobDir);
    this.jobIds.push(sub.jobId);
    return sub;
  }

  /** `tre-job render SPEC --job-dir DIR` as the bench user: the job dir and credentials come from tre-job itself. */
  renderJobDir(spec: string, dir: string): void {
    mustRun(
      'tre-job render --job-dir',
      runAs(this.user, `node ${shq(BIN)} render ${shq(spec)} --site ${shq(this.env.site)} --job-dir ${shq(dir)} --token-stdin < ${shq(this.token)}`),
    );
  }

  /** Other users' jobs in the queue right now (they share the CPUs: noted under the table). */
  sampleOthers(): void {
    const r = run('squeue', ['-h', '-o', '%u']);
    this.othersSeen = Math.max(this.othersSeen, r.stdout.split('\n').filter((u) => u && u !== this.user).length);
  }

  /** Names of the bench user's podman containers (running or not). */
  podmanNames(): string[] {
    return podmanPsAll(this.user);
  }

  /** Cancel the bench's jobs that still run and remove everything they and the bench made. */
  cleanUp(): void {
    const active = this.jobIds.length ? activeIds(this.jobIds) : [];
    if (active.length) {
      run('scancel', active);
      try {
        waitEnded(active, 60000);
      } catch (err) {
        note(errText(err));
      }
    }
    // Containers of the bench's jobs that outlived them (already reported): remove them.
    if (this.jobIds.length) {
      const mine = new Set(this.jobIds);
      try {
        // probe-JOBID, probe-hand-JOBID, and an array task's probe-(hand-)ARRAYID_TASK
        const left = this.podmanNames().filter((n) => mine.has(n.replace(/^probe-(hand-)?/, '').replace(/_[0-9]+$/, '')));
        if (left.length) {
          note(`clean-up: removing containers the bench's jobs left: ${left.join(' ')}`);
          runAs(this.user, `podman rm --force --time 0 ${left.map(shq).join(' ')}`, { timeoutMs: 120000 });
        }
      } catch (err) {
        note(`clean-up: ${errText(err)}`);
      }
    }
    for (const d of this.keptOutputs) fs.rmSync(d, { recursive: true, force: true });
    for (const d of this.jobDirs) {
      if (!d) continue;
      // output.log, or an array's output-TASK.log (every task's outputs are under one outputs-N)
      const logs = fs.existsSync(d) ? fs.readdirSync(d).filter((n) => /^output(-[0-9]+)?\.log$/.test(n)) : [];
      for (const log of logs) {
        const { outputs } = dirsFromLog(readLog(path.join(d, log)));
        if (outputs) fs.rmSync(outputsRoot(outputs), { recursive: true, force: true });
      }
      fs.rmSync(d, { recursive: true, force: true });
      // Its entries in tre-job's indexes (a file named after the directory's path, '/' as '%').
      for (const index of this.indexes) fs.rmSync(path.join(index, path.resolve(d).replace(/\//g, '%')), { force: true });
    }
    // outputs-N named in any log under the bench dir (a phase that failed half-way), and the
    // hand-written jobs' outputs-hand-JOBID.
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (/\.log$/.test(e.name)) {
          const { outputs } = dirsFromLog(readLog(full));
          if (outputs && path.dirname(outputsRoot(outputs)) === this.home) fs.rmSync(outputsRoot(outputs), { recursive: true, force: true });
        }
      }
    };
    try {
      walk(this.dir);
    } catch (err) {
      note(`clean-up: ${errText(err)}`);
    }
    // outputs-hand-JOBID, scratch-hand-JOBID, and an array's scratch-hand-ARRAYID-TASK
    for (const name of listHome(this.user, /^(?:outputs|scratch)-hand-\d+(-\d+)?$/)) {
      const id = /^[a-z]+-hand-(\d+)/.exec(name)?.[1];
      if (id && this.jobIds.includes(id)) fs.rmSync(path.join(this.home, name), { recursive: true, force: true });
    }
    // Apptainer's per-job temporary dirs (each job removes its own: reported by phase 8), the SIFs
    // the bench's jobs pulled, their locks, and what Jupyter wrote in the home (phase 9).
    for (const id of this.jobIds) fs.rmSync(path.join(this.home, '.tre-job', 'tmp', id), { recursive: true, force: true });
    for (const p of this.createdPaths) fs.rmSync(p, { recursive: true, force: true });
    for (const d of this.newIndexes) {
      try {
        fs.rmdirSync(d);
      } catch {
        // not empty (another job of the user's is listed), or not there
      }
    }
    if (process.env.BENCH_KEEP) note(`BENCH_KEEP: kept ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- hand-written scripts (the baselines)

/**
 * The start of every hand-written script: directives and the names of the job's two directories.
 * ARRAYTASKS > 0: an array of that many tasks (phase 11), as a user would write one: one
 * outputs-hand-ARRAYID with a subdirectory per task, a scratch-hand-ARRAYID-TASK per task.
 */
function handHead(outputLine: string, jobName = 'probe-hand', arrayTasks = 0): string {
  const dirs = arrayTasks
    ? `#SBATCH --array=0-${arrayTasks - 1}
set -euo pipefail
n=\${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID
out=$HOME/outputs-hand-$SLURM_ARRAY_JOB_ID/$SLURM_ARRAY_TASK_ID
scratch=$HOME/scratch-hand-$SLURM_ARRAY_JOB_ID-$SLURM_ARRAY_TASK_ID
mkdir -p "\${out%/*}"
`
    : `set -euo pipefail
n=$SLURM_JOB_ID
out=$HOME/outputs-hand-$n
scratch=$HOME/scratch-hand-$n
`;
  return `#!/bin/bash
#SBATCH --job-name=${jobName}
#SBATCH --time=00:10:00
${outputLine ? `#SBATCH --output=${outputLine}\n` : ''}${dirs}`;
}

/** A hand-written Apptainer pull of IMAGE to "$sif": the token in the pull's environment only, no cache. */
export function handPull(ws: Workspace, image: string): string {
  return `APPTAINER_DOCKER_USERNAME=${shq(ws.env.registryUser)} APPTAINER_DOCKER_PASSWORD=$(<${shq(ws.token)}) \\
  apptainer -s pull --force --disable-cache --no-https "$sif" ${shq(`docker://${image}`)}`;
}

/**
 * The hand-written baseline: what a user writes without tre-job. Same podman login (token on
 * stdin, temporary authfile), pull and `podman run --rm` with the same flags and the same two
 * mounts ($HOME/outputs-*, $HOME/scratch-*), scratch removed by an EXIT trap. For Apptainer: the
 * same pull (token in the pull's environment, no cache, to a SIF in the home) and `apptainer run`
 * with the same isolation flags and binds. OUTPUTLINE: the --output directive ('' for none).
 * ARRAYTASKS > 0: the same as an array (see handHead); every task logs in and pulls, Apptainer's
 * to a SIF in the task's scratch.
 */
export function handScript(ws: Workspace, outputLine: string, runtime = 'podman', arrayTasks = 0): string {
  const head = handHead(outputLine, 'probe-hand', arrayTasks);
  if (runtime === 'apptainer') {
    return `${head}sif=${arrayTasks ? '$scratch/probe.sif' : '$HOME/probe-hand.sif'}
mkdir "$out" "$scratch"
trap 'rm -rf "$scratch"' EXIT
${handPull(ws, ws.env.probeImage)}
apptainer run --no-eval --cleanenv --contain --net --network none \\
  --bind "$out:/safe_outputs" --bind "$scratch:/scratch" "$sif"
`;
  }
  return `${head}auth=${ws.dir}/auth-$n.json
mkdir "$out" "$scratch"
trap 'rm -rf "$scratch" "$auth"' EXIT
podman login --authfile "$auth" --username ${shq(ws.env.registryUser)} --password-stdin --tls-verify=false ${shq(ws.env.registry)} <${shq(ws.token)} >/dev/null
podman pull --quiet --authfile "$auth" --tls-verify=false ${shq(ws.env.probeImage)} >/dev/null
podman run --rm --init --pull=never --network=none --group-add keep-groups --name "probe-hand-$n" \\
  --volume "$out:/safe_outputs" --volume "$scratch:/scratch" ${shq(ws.env.probeImage)}
`;
}

/**
 * The hand-written Jupyter job (phase 9): what tre-job's Apptainer service script does, by hand.
 * Pulls to $HOME/jupyter-hand.sif unless it is there, picks a free port, makes a token, and runs
 * the image with `--cleanenv`, the same environment (APPTAINERENV_*: token, port, base URL) and
 * binds, the port as its first argument. The log says where it is; the token goes to a 0600 file.
 */
export function handJupyterScript(ws: Workspace, outputLine: string): string {
  return `${handHead(outputLine, 'jupyter-hand')}sif=$HOME/jupyter-hand.sif
mkdir "$out" "$scratch"
trap 'rm -rf "$scratch"' EXIT
if [[ -s $sif ]]; then
  echo "hand: reusing $sif"
else
  echo "hand: pulling to $sif"
  ${handPull(ws, ws.jupyterImage).replace(/\n/g, '\n  ')}
fi
port=$((20000 + RANDOM % 40000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 40000)); done
token=$(od -An -N18 -tx1 /dev/urandom)
token=\${token//[!0-9a-f]/}
(umask 077 && echo "$token" >"$SLURM_SUBMIT_DIR/jupyter-$n.token")
echo "hand: Jupyter on $HOSTNAME port $port at http://$HOSTNAME:$port/node/$HOSTNAME/$port/"
export APPTAINERENV_JUPYTER_TOKEN=$token APPTAINERENV_TRE_PORT=$port APPTAINERENV_TRE_BASE_URL=/node/$HOSTNAME/$port/
apptainer run --no-eval --cleanenv --bind "$out:/safe_outputs" --bind "$scratch:/scratch" "$sif" "$port"
`;
}
