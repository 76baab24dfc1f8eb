// Phases 4 and 8: clean-up latency after scancel, with Podman (4) and Apptainer (8). Each trial
// cancels a running tre-job job whose probe sleeps in its container, and times how soon its
// scratch dir and its container's processes are gone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  alive,
  dirsFromLog,
  killWaitMs,
  note,
  nowMs,
  Proc,
  processTable,
  readLog,
  Results,
  run,
  sleep,
  stats,
  Submitted,
  waitEnded,
  withDescendants,
  within,
  Workspace,
} from '../lib';

/** The user's processes whose command line names the container (conmon, `podman run`), and their descendants. */
function containerProcs(uid: number, name: string): Proc[] {
  return withDescendants(processTable(), (p) => p.uid === String(uid) && p.cmd.includes(name));
}

/**
 * An Apptainer container's processes: those of the job (`scontrol listpids`) whose command line
 * names Apptainer or the SIF (the starter, "Apptainer runtime parent: NAME.sif", and squashfuse_ll
 * when the SIF is mounted with FUSE), and their descendants (what runs in the container).
 */
function apptainerProcs(uid: number, jobId: string, sif: string): Proc[] {
  const inJob = new Set(
    run('scontrol', ['listpids', jobId])
      .stdout.split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((p) => /^\d+$/.test(p)),
  );
  const names = apptainerNamer(sif);
  return withDescendants(processTable(), (p) => inJob.has(p.pid) && p.uid === String(uid) && names(p.cmd));
}

/** Whether a command line names Apptainer or the SIF (the starter shows only the SIF's base name). */
function apptainerNamer(sif: string): (cmd: string) => boolean {
  const base = sif ? path.basename(sif) : '';
  return (cmd) => /apptainer/i.test(cmd) || (base !== '' && cmd.includes(base));
}

/**
 * What the clean-up phases look for, per runtime: the container's processes, the log line that
 * says the container was stopped, and what must be left of it once the job has ended.
 */
interface CancelRuntime {
  number: number;
  stoppedText: string;
  procs: (ws: Workspace, sub: Submitted, sif: string) => Proc[];
  stopped: (log: string, sub: Submitted) => boolean;
  leftAfterJob: (ws: Workspace, sub: Submitted, sif: string) => string[];
  leftAtEnd: (ws: Workspace) => string[];
  allClear: string;
}

const CANCEL: Record<'podman' | 'apptainer', CancelRuntime> = {
  podman: {
    number: 4,
    stoppedText: 'Removed container',
    procs: (ws, sub) => containerProcs(ws.uid, `probe-${sub.jobId}`),
    stopped: (log, sub) => log.includes(`Removed container probe-${sub.jobId}`),
    leftAfterJob: () => [], // checked once at the end: podman ps -a
    leftAtEnd: (ws) => {
      const left = ws.podmanNames().filter((n) => /^probe-\d+$/.test(n) && ws.jobIds.includes(n.slice(6)));
      return left.length ? [`containers left: ${left.join(' ')}`] : [];
    },
    allClear: 'Every cancelled job logged "Removed container"; no container left in `podman ps -a`.',
  },
  apptainer: {
    number: 8,
    stoppedText: 'Stopped the container',
    procs: (ws, sub, sif) => apptainerProcs(ws.uid, sub.jobId, sif),
    stopped: (log) => /Stopped the container \(apptainer process \d+\)/.test(log),
    leftAfterJob: (ws, sub, sif) => {
      const found: string[] = [];
      const names = apptainerNamer(sif);
      const procs = (): Proc[] => processTable().filter((p) => p.uid === String(ws.uid) && names(p.cmd));
      if (!within(5000, () => procs().length === 0)) found.push(`processes left 5 s after the job ended: ${procs().map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
      const tmp = path.join(ws.home, '.tre-job', 'tmp', sub.jobId);
      if (fs.existsSync(tmp)) found.push(`${tmp} left`);
      return found;
    },
    leftAtEnd: () => [],
    allClear:
      'Every cancelled job logged "Stopped the container"; once each job had ended, no process of the user named its SIF or Apptainer, and its `~/.tre-job/tmp/JOBID` was gone.',
  },
};

export function cancel(ws: Workspace, results: Results, runtime: 'podman' | 'apptainer' = 'podman'): void {
  const cfg = ws.cfg;
  const rt = CANCEL[runtime];
  const tag = `phase ${rt.number}`;
  note(`${tag}: clean-up latency after scancel (${runtime}), ${cfg.cancelTrials} trials as ${cfg.user}`);
  const spec = ws.spec(runtime === 'podman' ? 'cancel' : `cancel-${runtime}`, ['PROBE_SLEEP=600'], runtime);
  // The SIF an Apptainer job runs: $HOME/NAME:TAG.sif (its starter's command line names it).
  const sif = runtime === 'apptainer' ? ws.treJobSif(ws.env.probeImage) : '';
  const scratchMs: number[] = [];
  const containerMs: number[] = [];
  const scancelMs: number[] = [];
  const endedMs: number[] = [];
  const problems: string[] = [];
  const notes: string[] = [];
  let busErrors = 0;
  for (let i = 0; i < cfg.cancelTrials; i++) {
    ws.sampleOthers();
    const sub = ws.submit(spec);
    const problem = (what: string): void => {
      problems.push(`job ${sub.jobId}: ${what}`);
    };
    // Wait until the probe sleeps inside the container.
    const deadline = nowMs() + 120000;
    let dirs = { outputs: '', scratch: '' };
    for (;;) {
      dirs = dirsFromLog(readLog(sub.outputLog));
      if (dirs.outputs && fs.existsSync(path.join(dirs.outputs, 'probe-sleeping'))) break;
      if (nowMs() > deadline) throw new Error(`job ${sub.jobId} did not start its container: ${readLog(sub.outputLog)}`);
      sleep(20);
    }
    // The probe writes probe-sleeping just before it starts `sleep`: wait (briefly) for that too.
    let procs: Proc[] = [];
    within(2000, () => (procs = rt.procs(ws, sub, sif)).some((p) => /^sleep /.test(p.cmd)));
    const pids = procs.map((p) => p.pid);
    if (i === 0) notes.push(`the first job's container processes: ${procs.map((p) => p.cmd.slice(0, 40)).join(', ') || 'none'}`);
    if (pids.length === 0) problem('no container processes found');
    else if (!procs.some((p) => /^sleep /.test(p.cmd))) notes.push(`job ${sub.jobId}: the probe's sleep was not among its container processes (${procs.map((p) => p.cmd).join('; ')})`);
    const t0 = nowMs();
    const sc = run('scancel', [sub.jobId]);
    const t1 = nowMs();
    if (sc.status !== 0) throw new Error(`scancel ${sub.jobId}: ${sc.stderr}`);
    let scratchAt: number | null = null;
    let containerAt: number | null = null;
    while ((scratchAt === null || containerAt === null) && nowMs() - t0 < 15000) {
      const t = nowMs();
      if (scratchAt === null && !fs.existsSync(dirs.scratch)) scratchAt = t - t0;
      if (containerAt === null && !pids.some(alive)) containerAt = t - t0;
      sleep(1);
    }
    const endAt = waitEnded([sub.jobId], 60000, 20) - t0;
    scancelMs.push(t1 - t0);
    endedMs.push(endAt);
    if (scratchAt === null) problem('scratch still there after 15 s');
    else scratchMs.push(scratchAt);
    if (containerAt === null) problem(`container processes still there after 15 s: ${pids.filter(alive).join(' ')}`);
    else containerMs.push(containerAt);
    const log = readLog(sub.outputLog);
    if (!rt.stopped(log, sub)) problem(`log does not say "${rt.stoppedText}"`);
    if (/Bus error/.test(log)) busErrors++;
    for (const left of rt.leftAfterJob(ws, sub, sif)) problem(left);
    if (problems.some((p) => p.startsWith(`job ${sub.jobId}:`))) {
      // Keep its job dir (log) for a look; its outputs and container go at the end.
      ws.jobDirs.splice(ws.jobDirs.indexOf(sub.jobDir), 1);
      ws.keptOutputs.push(dirs.outputs);
      problem(`kept ${sub.outputLog}`);
    } else {
      fs.rmSync(dirs.outputs, { recursive: true, force: true });
    }
  }
  problems.push(...rt.leftAtEnd(ws));
  // Slurm's SIGTERM reaches every process of the job, squashfuse_ll too: Apptainer's starter then
  // dies of SIGBUS, which bash logs (the container is stopped all the same).
  if (busErrors) notes.push(`${busErrors} of ${cfg.cancelTrials} logs show the runtime's process ending with "Bus error"`);
  results.cancel = {
    ...(results.cancel ?? {}),
    [runtime]: {
      number: rt.number,
      allClear: rt.allClear,
      killWaitMs: killWaitMs(),
      scratch: stats(scratchMs),
      container: stats(containerMs),
      scancel: stats(scancelMs),
      ended: stats(endedMs),
      problems,
      notes,
    },
  };
  for (const p of [...problems, ...notes]) note(`${tag}: ${p}`);
}
