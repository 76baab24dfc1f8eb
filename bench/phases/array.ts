// Phase 11: job arrays. Per runtime, one array of BENCH_ARRAY_TASKS tasks of the probe through
// tre-job (`array: {count: N}`) against a hand-written `sbatch --array` script in which every task
// logs in and pulls, as a user writes it; the image is removed before each side, so pulls count
// from cold. Per side: submit time, tasks per minute (Slurm's records), registry requests (its
// access log), CPU per task (/proc/stat above an idle baseline) and what the side left behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listHome, runAs, shq } from '../../test/e2e/lib/stack';
import {
  activeIds,
  ArrayResult,
  ArraySide,
  BIN,
  dirsFromLog,
  fmtX,
  handScript,
  mustRun,
  note,
  nowMs,
  outputsRoot,
  processTable,
  readLog,
  Results,
  run,
  sleep,
  Submitted,
  usOf,
  Workspace,
} from '../lib';

const REGISTRY_LOG = '/var/log/tre-registry.log';
/** How often a side asks Slurm whether its array has ended (the idle baseline polls alike). */
const POLL_MS = 1000;

type Runtime = 'podman' | 'apptainer';
type Side = 'A' | 'B';

// ---------------------------------------------------------------- CPU

let tickMs = 0;

/** Busy CPU time of the whole machine so far (/proc/stat: all but idle and iowait), in ms. */
function busyMs(): number {
  if (!tickMs) tickMs = 1000 / Number(run('getconf', ['CLK_TCK']).stdout.trim() || 100);
  const cpu = readLog('/proc/stat').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal (guest time is in user already)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) * tickMs;
}

/** One look at the queue, as a side polls: whether array JOBID still has an active task. */
function stillActive(ws: Workspace, jobId: string): boolean {
  ws.sampleOthers();
  return activeIds([jobId]).length > 0;
}

/** Busy ms per second while nothing of the bench runs but the same polling a side does. */
function idleBaseline(ws: Workspace, ms: number): number {
  const b0 = busyMs();
  const t0 = nowMs();
  while (nowMs() - t0 < ms) {
    stillActive(ws, '0');
    sleep(POLL_MS);
  }
  return ((busyMs() - b0) / (nowMs() - t0)) * 1000;
}

// ---------------------------------------------------------------- the registry's access log

/** The image's repository and the digests of its layers (from its manifest, asked once as root). */
interface Image {
  repo: string;
  layers: Set<string>;
}

function imageOf(ws: Workspace): Image {
  const m = /^([^/]+)\/(.+):([^:/]+)$/.exec(ws.env.probeImage);
  if (!m) throw new Error(`probe image ${ws.env.probeImage}: not REGISTRY/REPO:TAG`);
  const [, registry, repo = '', tag] = m;
  const token = readLog(ws.token).trim();
  // The login goes to curl on stdin (a config line), never in argv.
  const r = mustRun(
    'curl the manifest',
    run(
      'curl',
      [
        '-sf',
        '-K',
        '-',
        '-H',
        'Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
        `http://${registry}/v2/${repo}/manifests/${tag}`,
      ],
      { input: `user = "${ws.env.registryUser}:${token}"\n` },
    ),
  );
  const manifest = JSON.parse(r.stdout) as { layers?: { digest: string }[] };
  if (!manifest.layers?.length) throw new Error(`the manifest of ${ws.env.probeImage} lists no layers: ${r.stdout.slice(0, 300)}`);
  return { repo, layers: new Set(manifest.layers.map((l) => l.digest)) };
}

function logSize(): number {
  try {
    return fs.statSync(REGISTRY_LOG).size;
  } catch {
    return 0;
  }
}

/** The log's text written since byte OFFSET (all of it if it was rotated meanwhile). */
function logSince(offset: number): string {
  const size = logSize();
  const from = size < offset ? 0 : offset;
  const buf = Buffer.alloc(size - from);
  const fd = fs.openSync(REGISTRY_LOG, 'r');
  try {
    fs.readSync(fd, buf, 0, buf.length, from);
  } finally {
    fs.closeSync(fd);
  }
  return buf.toString('utf8');
}

/** Count access-log lines (`HOST - - [DATE] "GET /v2/... HTTP/1.1" 200 ...`): all, manifest GETs and layer GETs of IMAGE with 200. */
function countRequests(text: string, image: Image): Pick<ArraySide, 'requests' | 'manifests' | 'layers'> {
  let requests = 0;
  let manifests = 0;
  let layers = 0;
  const prefix = `/v2/${image.repo}/`;
  for (const line of text.split('\n')) {
    const m = /^\S+ \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP\/[0-9.]+" ([0-9]{3}) /.exec(line);
    if (!m) continue;
    requests++;
    const [, method, uri = '', status] = m;
    if (method !== 'GET' || status !== '200' || !uri.startsWith(prefix)) continue;
    const rest = uri.slice(prefix.length);
    if (rest.startsWith('manifests/')) manifests++;
    else if (rest.startsWith('blobs/') && image.layers.has(rest.slice('blobs/'.length))) layers++;
  }
  return { requests, manifests, layers };
}

// ---------------------------------------------------------------- leftovers

type Snapshot = Record<keyof ArraySide['leftovers'], Set<string>>;

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * What an array may leave behind, as it is now: scratch dirs in the home, containers (podman's,
 * and Apptainer processes of the user), credentials (tre-job's index entries, and `credentials` or
 * `auth-*.json` files in DIRS), ~/.tre-job/active markers and ~/.tre-job/tmp dirs.
 */
function snapshot(ws: Workspace, dirs: string[]): Snapshot {
  const state = (d: string): string[] => entries(path.join(ws.home, '.tre-job', d));
  const procs = processTable().filter((p) => p.uid === String(ws.uid) && /Apptainer runtime parent|squashfuse_ll|conmon/.test(p.cmd));
  return {
    scratch: new Set(listHome(ws.user, /^scratch-/)),
    containers: new Set([...ws.podmanNames(), ...procs.map((p) => `process ${p.pid} ${p.cmd.slice(0, 60)}`)]),
    credentials: new Set([
      ...state('credentials').map((e) => `index ${e}`),
      ...dirs.flatMap((d) => entries(d).filter((e) => e === 'credentials' || /^auth-.*\.json$/.test(e)).map((e) => path.join(d, e))),
    ]),
    markers: new Set(state('active')),
    tmp: new Set(state('tmp')),
  };
}

function newSince(before: Snapshot, after: Snapshot): Record<keyof Snapshot, string[]> {
  const keys = Object.keys(after) as (keyof Snapshot)[];
  return Object.fromEntries(keys.map((k) => [k, [...after[k]].filter((x) => !before[k].has(x))])) as Record<keyof Snapshot, string[]>;
}

// ---------------------------------------------------------------- Slurm's records of an array

interface Task {
  task: number;
  rawId: string;
  state: string;
  exit: string;
  /** ms since the epoch, whole seconds; NaN if it never started/ended */
  start: number;
  end: number;
  host: string;
}

/** One record per task of array ID (scontrol show job -o ID; no pending line once it has ended). */
function arrayTasks(id: string): Task[] {
  const r = mustRun(`scontrol show job ${id}`, run('scontrol', ['show', 'job', '-o', id], { timeoutMs: 60000 }));
  const field = (line: string, name: string): string => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(line)?.[1] ?? '';
  const time = (s: string): number => (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(s) ? new Date(s).getTime() : NaN);
  return r.stdout
    .split('\n')
    .filter((l) => field(l, 'ArrayJobId') === id && /^[0-9]+$/.test(field(l, 'ArrayTaskId')))
    .map((l) => ({
      task: Number(field(l, 'ArrayTaskId')),
      rawId: field(l, 'JobId'),
      state: field(l, 'JobState'),
      exit: field(l, 'ExitCode'),
      start: time(field(l, 'StartTime')),
      end: time(field(l, 'EndTime')),
      host: field(l, 'BatchHost'),
    }));
}

// ---------------------------------------------------------------- one side

interface SideSetup {
  side: Side;
  runtime: Runtime;
  n: number;
  /** tre-job's spec (A) */
  spec: string;
  /** the hand-written script's directory, with hand.sh, where its task logs go (B) */
  handDir: string;
  image: Image;
}

/** Remove the image so that the side's first pull is a real one: podman's by id (by name only untags), the tre-job SIF. */
function makeCold(ws: Workspace, runtime: Runtime): void {
  if (runtime === 'podman') {
    const img = shq(ws.env.probeImage);
    mustRun(
      'podman rmi',
      runAs(ws.user, `id=$(podman image inspect --format '{{.Id}}' ${img} 2>/dev/null) || exit 0; podman rmi -f "$id" >/dev/null && ! podman image exists ${img}`, {
        timeoutMs: 120000,
      }),
    );
  } else {
    fs.rmSync(ws.treJobSif(ws.env.probeImage), { force: true });
  }
}

/** The submitting command as the user, timed inside its shell; its stdout. */
function timedSubmit(ws: Workspace, cmd: string): { ms: number; out: string } {
  const out = path.join(ws.dir, `submit-${Math.random().toString(36).slice(2, 8)}`);
  const r = mustRun('submit', runAs(ws.user, `s=$EPOCHREALTIME; ${cmd} > ${shq(out)}; rc=$?; e=$EPOCHREALTIME; echo "$s $e"; exit $rc`, { timeoutMs: 600000 }));
  const [s, e] = r.stdout.trim().split(' ');
  return { ms: (usOf(e) - usOf(s)) / 1000, out: readLog(out) };
}

function runSide(ws: Workspace, setup: SideSetup): ArraySide {
  const { side, runtime, n, image } = setup;
  makeCold(ws, runtime);
  const before = snapshot(ws, [ws.dir]);
  const offset = logSize();
  const busy0 = busyMs();
  const t0 = nowMs();
  let jobId: string;
  let submitMs: number;
  let taskLog: (t: number) => string;
  let taskOutputs: (t: number) => string;
  let jobDir = '';
  if (side === 'A') {
    const s = timedSubmit(ws, `node ${shq(BIN)} submit ${shq(setup.spec)} --site ${shq(ws.env.site)} --token-stdin --json < ${shq(ws.token)}`);
    const sub = JSON.parse(s.out) as Submitted;
    ({ jobId, jobDir } = sub);
    submitMs = s.ms;
    ws.jobDirs.push(jobDir);
    taskLog = (t) => path.join(jobDir, `output-${t}.log`);
    taskOutputs = (t) => dirsFromLog(readLog(taskLog(t))).outputs;
  } else {
    const s = timedSubmit(ws, `cd ${shq(setup.handDir)} && sbatch --parsable hand.sh`);
    jobId = s.out.trim().split(';')[0] ?? '';
    submitMs = s.ms;
    taskLog = (t) => path.join(setup.handDir, `hand-${jobId}_${t}.log`);
    taskOutputs = (t) => path.join(ws.home, `outputs-hand-${jobId}`, String(t));
  }
  ws.jobIds.push(jobId);
  note(`phase 11: ${runtime} ${side === 'A' ? 'tre-job' : 'hand-written'} array ${jobId} of ${n} tasks submitted in ${submitMs.toFixed(0)} ms`);
  const deadline = t0 + 300000 + n * 10000;
  let lastNote = t0;
  for (;;) {
    if (!stillActive(ws, jobId)) break;
    const t = nowMs();
    if (t > deadline) throw new Error(`array ${jobId} still active after ${((t - t0) / 60000).toFixed(0)} min`);
    if (t - lastNote > 60000) {
      lastNote = t;
      note(`phase 11: array ${jobId}: ${arrayTasks(jobId).filter((x) => !Number.isNaN(x.end)).length} of ${n} tasks ended`);
    }
    sleep(POLL_MS);
  }
  const wallMs = nowMs() - t0;
  const busy = busyMs() - busy0;
  sleep(1000); // the registry writes its access line once a response is complete
  const reg = countRequests(logSince(offset), image);
  const tasks = arrayTasks(jobId);
  const after = snapshot(ws, jobDir ? [ws.dir, jobDir] : [ws.dir]);
  const left = newSince(before, after);
  for (const [what, items] of Object.entries(left)) if (items.length) note(`phase 11: array ${jobId} left ${items.length} ${what}: ${items.slice(0, 5).join(' ')}`);
  // Remove what is the bench's to remove now: an array task's scratch, this array's tasks' tmp
  // dirs (containers go in the workspace's clean-up).
  const raw = new Set(tasks.map((x) => x.rawId));
  for (const d of left.scratch) if (/^scratch-(hand-)?[0-9]+-[0-9]+$/.test(d)) fs.rmSync(path.join(ws.home, d), { recursive: true, force: true });
  for (const d of left.tmp) if (raw.has(d)) fs.rmSync(path.join(ws.home, '.tre-job', 'tmp', d), { recursive: true, force: true });
  // Each task's outputs apart: what the probe wrote is in the task's own dir.
  const roots = new Set<string>();
  let withOutputs = 0;
  for (let t = 0; t < n; t++) {
    const out = taskOutputs(t);
    if (!out) continue;
    if (fs.existsSync(path.join(out, 'probe-wrote'))) withOutputs++;
    roots.add(outputsRoot(out));
  }
  for (const r of roots) if (path.dirname(r) === ws.home) fs.rmSync(r, { recursive: true, force: true });
  const ok = tasks.filter((x) => x.state === 'COMPLETED' && x.exit === '0:0');
  const failures = tasks
    .filter((x) => !ok.includes(x))
    .slice(0, 5)
    .map((x) => {
      const lines = readLog(taskLog(x.task)).trim().split('\n');
      const why = lines.filter((l) => /ERROR|error|Summary: exit status/.test(l)).slice(-3);
      return `task ${jobId}_${x.task} ${x.state} ${x.exit}: ${(why.length ? why : lines.slice(-3)).join(' / ')}`;
    });
  if (tasks.length !== n) failures.unshift(`Slurm has records of ${tasks.length} of ${n} tasks`);
  for (const f of failures) note(`phase 11: ${f}`);
  const started = tasks.map((x) => x.start).filter(Number.isFinite);
  const ended = tasks.map((x) => x.end).filter(Number.isFinite);
  const spanS = started.length && ended.length ? (Math.max(...ended) - Math.min(...started)) / 1000 : NaN;
  const result: ArraySide = {
    jobId,
    submitMs,
    spanS,
    wallMs,
    completed: ok.length,
    withOutputs,
    nodes: new Set(tasks.map((x) => x.host).filter(Boolean)).size,
    ...reg,
    busyMs: busy,
    leftovers: Object.fromEntries(Object.entries(left).map(([k, v]) => [k, v.length])) as ArraySide['leftovers'],
    failures,
  };
  note(
    `phase 11: array ${jobId}: ${result.completed}/${n} completed, ${tasksPerMin(result, n).toFixed(1)} tasks/min, ${reg.manifests} manifest GETs, ${reg.layers} layer GETs, ${(busy / n).toFixed(0)} ms busy CPU per task (idle not subtracted)`,
  );
  return result;
}

/** The mean of the idle baselines measured so far (busy ms per second). */
function idleRate(r: ArrayResult): number {
  return r.idleBusyMsPerS.reduce((x, y) => x + y, 0) / r.idleBusyMsPerS.length;
}

/** Busy CPU during the side above the idle baseline, per task. */
function cpuPerTask(r: ArrayResult, s: ArraySide): number {
  return (s.busyMs - (idleRate(r) * s.wallMs) / 1000) / r.tasks;
}

/** Tasks per minute from the first task's start to the last one's end (Slurm's whole seconds: at least 1 s). */
function tasksPerMin(s: ArraySide, n: number): number {
  return (n / Math.max(1, s.spanS)) * 60;
}

// ---------------------------------------------------------------- the phase

export function arrays(ws: Workspace, results: Results): void {
  const n = ws.cfg.arrayTasks;
  note(`phase 11: job arrays of ${n} tasks as ${ws.user}, tre-job against a hand-written sbatch --array, Podman then Apptainer`);
  const image = imageOf(ws);
  const out: ArrayResult = { tasks: n, idleBusyMsPerS: [], runtimes: {} };
  results.array = out;
  // Idle CPU before and after the sides: other work on the machine moves it, and CPU per task with it.
  const baseline = (): void => {
    out.idleBusyMsPerS.push(idleBaseline(ws, 10000));
    note(`phase 11: idle baseline ${out.idleBusyMsPerS.map((x) => x.toFixed(0)).join(', ')} ms of CPU per second`);
  };
  baseline();
  // Podman tre-job first, Apptainer hand-written first: neither side always comes first.
  const plan: [Runtime, Side[]][] = [
    ['podman', ['A', 'B']],
    ['apptainer', ['B', 'A']],
  ];
  for (const [runtime, order] of plan) {
    const handDir = ws.sub(`array-${runtime}`);
    ws.own(path.join(handDir, 'hand.sh'), handScript(ws, `${handDir}/hand-%A_%a.log`, runtime, n), 0o755);
    const spec = ws.spec(`array-${runtime}`, [], runtime, { more: ['array:', `  count: ${n}`] });
    const sides: Partial<Record<Side, ArraySide>> = {};
    for (const side of order) sides[side] = runSide(ws, { side, runtime, n, spec, handDir, image });
    const a = sides.A;
    const b = sides.B;
    if (!a || !b) continue;
    out.runtimes[runtime] = { a, b };
    const label = runtime === 'podman' ? ', Podman' : ', Apptainer';
    const [ta, tb] = [tasksPerMin(a, n), tasksPerMin(b, n)];
    results.rows.push({ what: `11. array of ${n} tasks${label} (tasks/min)`, a: ta, b: tb, ratio: ta / tb, target: '>= 0.9x', ok: ta / tb >= 0.9, unit: 'tasks/min' });
    results.rows.push({
      what: `11. array of ${n} tasks${label}, image pulls (manifest GETs)`,
      a: a.manifests,
      b: b.manifests,
      ratio: a.manifests / b.manifests,
      target: '1 per node',
      ok: a.manifests <= a.nodes,
      unit: 'pulls',
    });
  }
  baseline();
}

/** Phase 11's table for the report. */
export function arrayReport(r: ArrayResult): string[] {
  const out: string[] = [];
  for (const [runtime, { a, b }] of Object.entries(r.runtimes)) {
    const n = r.tasks;
    const row = (what: string, f: (s: ArraySide) => string): string => `| ${what} | ${f(a)} | ${f(b)} |`;
    const left = (s: ArraySide): string => {
      const l = s.leftovers;
      return `${l.scratch} / ${l.containers} / ${l.credentials} / ${l.markers} / ${l.tmp}`;
    };
    out.push(`| 11. array of ${n} tasks, ${runtime === 'podman' ? 'Podman' : 'Apptainer'} | tre-job | hand-written |`);
    out.push('|---|---:|---:|');
    out.push(row('array id', (s) => s.jobId));
    out.push(row('submit', (s) => `${s.submitMs.toFixed(0)} ms`));
    out.push(row('first task start to last task end (Slurm)', (s) => `${s.spanS.toFixed(0)} s`));
    out.push(row('tasks per minute', (s) => tasksPerMin(s, n).toFixed(1)));
    out.push(row('submission to last task ended (polled)', (s) => `${(s.wallMs / 1000).toFixed(1)} s`));
    out.push(row('tasks COMPLETED with exit 0', (s) => `${s.completed}`));
    out.push(row('tasks with their own outputs', (s) => `${s.withOutputs}`));
    out.push(row('nodes', (s) => `${s.nodes}`));
    out.push(row('image pulls (manifest GETs, 200)', (s) => `${s.manifests}`));
    out.push(row('layer downloads (layer blob GETs, 200)', (s) => `${s.layers}`));
    out.push(row('registry requests (all)', (s) => `${s.requests}`));
    out.push(row('CPU per task (busy above idle)', (s) => `${cpuPerTask(r, s).toFixed(0)} ms`));
    out.push(row('left: scratch / containers / credentials / markers / tmp', left));
    out.push('');
    out.push(
      `Ratios: tasks per minute ${fmtX(tasksPerMin(a, n) / tasksPerMin(b, n))} (target >= 0.9x); image pulls ${a.manifests} against ${b.manifests} (target: 1 per node), layer downloads ${a.layers} against ${b.layers}.`,
    );
    for (const f of [...a.failures.map((x) => `tre-job: ${x}`), ...b.failures.map((x) => `hand-written: ${x}`)]) out.push(`- ${f}`);
    out.push('');
  }
  if (Object.keys(r.runtimes).length) {
    out.push(
      `CPU per task is the machine's busy time (/proc/stat) during the side less the idle baseline, ${idleRate(r).toFixed(0)} ms of CPU per second (the mean of ${r.idleBusyMsPerS.map((x) => x.toFixed(0)).join(' and ')}, measured for 10 s before and after the sides with the bench's own polling), over ${r.tasks} tasks.`,
    );
    out.push('');
  }
  return out;
}
