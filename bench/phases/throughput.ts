// Phase 5: throughput, BENCH_JOBS small jobs per side submitted back to back (rounds A B B A):
// `tre-job submit` against `sbatch` of the hand-written script; then what the jobs left behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runAs, shq } from '../../test/e2e/lib/stack';
import { activeIds, BIN, dirsFromLog, handScript, jobStates, mustRun, note, nowMs, readLog, Results, sleep, Submitted, Workspace } from '../lib';

/** A submitted job: tre-job's (A) as `submit --json` printed it, the hand-written one's (B) by its id alone. */
type Sub = Pick<Submitted, 'jobId'> & Partial<Submitted>;

interface Round {
  side: 'A' | 'B';
  n: number;
  ms: number;
  submitMs: number;
  cpuMs: number;
  subs: Sub[];
}

function throughputRound(ws: Workspace, side: 'A' | 'B', n: number, spec: string, handDir: string): Round {
  const outs = ws.sub(`tp-${side}-${Math.random().toString(36).slice(2, 8)}`);
  const loop =
    side === 'A'
      ? `for ((i = 0; i < ${n}; i++)); do node ${shq(BIN)} submit ${shq(spec)} --site ${shq(ws.env.site)} --token-stdin --json < ${shq(ws.token)} >> ${shq(outs)}/ids || exit 1; done; times`
      : `cd ${shq(handDir)} && for ((i = 0; i < ${n}; i++)); do sbatch --parsable hand.sh >> ${shq(outs)}/ids || exit 1; done; times`;
  const t0 = nowMs();
  const r = runAs(ws.user, loop, { timeoutMs: 3600000 });
  const tSubmitted = nowMs();
  const lines = readLog(path.join(outs, 'ids')).split('\n').filter(Boolean);
  const subs: Sub[] = side === 'A' ? lines.map((l) => JSON.parse(l) as Submitted) : lines.map((l) => ({ jobId: l.split(';')[0] ?? '' }));
  for (const s of subs) {
    ws.jobIds.push(s.jobId);
    if (s.jobDir) ws.jobDirs.push(s.jobDir);
  }
  mustRun(`${side} submissions`, r);
  // bash's `times`: the second line is the CPU time (user, sys) of the submitting commands.
  const cpu = (r.stdout.trim().split('\n')[1] || '').match(/(\d+)m([\d.]+)s/g) || [];
  const cpuMs = cpu
    .map((x) => /(\d+)m([\d.]+)s/.exec(x))
    .reduce((sum, m) => sum + (m ? (Number(m[1]) * 60 + Number(m[2])) * 1000 : 0), 0);
  const ids = subs.map((s) => s.jobId);
  let tEnd = tSubmitted;
  for (;;) {
    ws.sampleOthers();
    const left = activeIds(ids);
    tEnd = nowMs();
    if (left.length === 0) break;
    if (tEnd - t0 > 3600000) throw new Error(`throughput: jobs still active after an hour`);
    sleep(100);
  }
  return { side, n, ms: tEnd - t0, submitMs: tSubmitted - t0, cpuMs, subs };
}

export function throughput(ws: Workspace, results: Results): void {
  const cfg = ws.cfg;
  const half = Math.max(1, Math.floor(cfg.jobs / 2));
  const n = half * 2;
  note(`phase 5: throughput, ${n} jobs per side in rounds of ${half} (A B B A) as ${cfg.user}`);
  const spec = ws.spec('throughput');
  const handDir = ws.sub('tp-hand');
  ws.own(path.join(handDir, 'hand.sh'), handScript(ws, `${handDir}/hand-%j.log`), 0o755);
  const rounds: Round[] = [];
  for (const side of ['A', 'B', 'B', 'A'] as const) {
    const r = throughputRound(ws, side, half, spec, handDir);
    note(`phase 5: round ${side}: ${r.n} jobs in ${(r.ms / 1000).toFixed(1)} s (submitting took ${(r.submitMs / 1000).toFixed(1)} s)`);
    rounds.push(r);
  }
  const side = (s: 'A' | 'B'): Round[] => rounds.filter((r) => r.side === s);
  const perMin = (rs: Round[]): number => (rs.reduce((x, r) => x + r.n, 0) / rs.reduce((x, r) => x + r.ms, 0)) * 60000;
  const sum = (s: 'A' | 'B', key: 'ms' | 'submitMs' | 'cpuMs'): number => side(s).reduce((x, r) => x + r[key], 0);
  const a = perMin(side('A'));
  const b = perMin(side('B'));
  // Leftovers, once every job has ended.
  const aSubs = side('A').flatMap((r) => r.subs);
  const bSubs = side('B').flatMap((r) => r.subs);
  const names = new Set(ws.podmanNames());
  let aScratch = 0;
  let aContainers = 0;
  let bScratch = 0;
  let bContainers = 0;
  for (const s of aSubs) {
    const { outputs, scratch } = dirsFromLog(readLog(s.outputLog ?? ''));
    if (scratch && fs.existsSync(scratch)) aScratch++;
    if (names.has(`probe-${s.jobId}`)) aContainers++;
    if (outputs) fs.rmSync(outputs, { recursive: true, force: true });
  }
  for (const s of bSubs) {
    if (fs.existsSync(path.join(ws.home, `scratch-hand-${s.jobId}`))) bScratch++;
    if (names.has(`probe-hand-${s.jobId}`)) bContainers++;
    fs.rmSync(path.join(ws.home, `outputs-hand-${s.jobId}`), { recursive: true, force: true });
  }
  const states = jobStates([...aSubs, ...bSubs].map((s) => s.jobId));
  const bad = (subs: Sub[]): Sub[] => subs.filter((s) => (states.get(s.jobId)?.state ?? '?') !== 'COMPLETED');
  // Why: the last lines of each such job's log (tre-job's log ends with a summary).
  const failures = [...bad(aSubs), ...bad(bSubs)].map((s) => {
    const log = readLog(s.outputLog || path.join(handDir, `hand-${s.jobId}.log`))
      .trim()
      .split('\n');
    const why = log.filter((l) => /ERROR|error|Summary: exit status/.test(l)).slice(-3);
    return `job ${s.jobId} (${s.outputLog ? 'tre-job' : 'hand-written'}) ${states.get(s.jobId)?.state ?? '?'} ${states.get(s.jobId)?.exit ?? ''}: ${(why.length ? why : log.slice(-3)).join(' / ')}`;
  });
  for (const f of failures) note(`phase 5: ${f}`);
  results.rows.push({
    what: `5. throughput, ${n} jobs back to back (jobs/min)`,
    a,
    b,
    ratio: a / b,
    target: '>= 0.9x',
    ok: a / b >= 0.9,
    unit: 'jobs/min',
  });
  results.throughput = {
    n,
    aMs: sum('A', 'ms'),
    bMs: sum('B', 'ms'),
    aSubmitMs: sum('A', 'submitMs'),
    bSubmitMs: sum('B', 'submitMs'),
    aCpuMs: sum('A', 'cpuMs'),
    bCpuMs: sum('B', 'cpuMs'),
    leftovers: { aScratch, aContainers, bScratch, bContainers },
    notCompleted: { a: bad(aSubs).length, b: bad(bSubs).length },
    failures,
  };
}
