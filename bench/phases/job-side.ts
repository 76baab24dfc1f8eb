// Phases 3 and 7: job-side overhead, the wall time inside the job of a trivial container, tre-job's
// script against a hand-written one, with Podman (3) and Apptainer (7). Real jobs, one at a time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runAs, shq } from '../../test/e2e/lib/stack';
import { dirsFromLog, handScript, median, mustRun, note, pct, readLog, Results, usOf, waitEnded, Workspace } from '../lib';

/** A job that runs SCRIPT with bash and records $EPOCHREALTIME before and after it (DIR/times). */
function wrapper(dir: string, script: string): string {
  return `#!/bin/bash
#SBATCH --job-name=bench-wrap
#SBATCH --time=00:10:00
#SBATCH --output=${dir}/wrap.log
t0=$EPOCHREALTIME
bash ${shq(script)}
rc=$?
t1=$EPOCHREALTIME
echo "$t0 $t1 $rc" > ${shq(dir)}/times
exit "$rc"
`;
}

function runWrapped(ws: Workspace, dir: string, script: string): { id: string; ms: number; log: string } {
  fs.writeFileSync(path.join(dir, 'wrap.sh'), wrapper(dir, script), { mode: 0o755 });
  fs.chownSync(path.join(dir, 'wrap.sh'), ws.uid, ws.gid);
  const id = mustRun('sbatch wrapper', runAs(ws.user, `cd ${shq(dir)} && sbatch --parsable wrap.sh`)).stdout.trim().split(';')[0] ?? '';
  ws.jobIds.push(id);
  waitEnded([id], 180000, 50);
  const times = readLog(path.join(dir, 'times')).trim().split(' ');
  if (times.length !== 3) throw new Error(`job ${id} left no times; log:\n${readLog(path.join(dir, 'wrap.log')).slice(-2000)}`);
  if (times[2] !== '0') throw new Error(`job ${id} exited ${times[2]}; log:\n${readLog(path.join(dir, 'wrap.log')).slice(-2000)}`);
  return { id, ms: (usOf(times[1]) - usOf(times[0])) / 1000, log: readLog(path.join(dir, 'wrap.log')) };
}

export function jobSide(ws: Workspace, results: Results, runtime = 'podman'): void {
  const cfg = ws.cfg;
  const number = runtime === 'podman' ? 3 : 7;
  note(`phase ${number}: job-side wall time (${runtime}), tre-job script vs hand-written, ${cfg.jobTrials} interleaved pairs of real jobs as ${cfg.user}`);
  const spec = ws.spec(`job-${runtime}`, [], runtime);
  const base = ws.sub(`job-side-${runtime}`);
  const hand = ws.own(path.join(base, 'hand.sh'), handScript(ws, '', runtime), 0o755);
  if (runtime === 'apptainer') {
    ws.treJobSif(ws.env.probeImage);
    ws.willCreate(path.join(ws.home, 'probe-hand.sif'), true);
  }
  const A: number[] = [];
  const B: number[] = [];
  for (let i = -1; i < cfg.jobTrials; i++) {
    const order = i % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const side of order) {
      ws.sampleOthers();
      if (side === 'A') {
        // The job dir and credentials come from tre-job itself.
        const dir = path.join(base, `A${i}`);
        ws.renderJobDir(spec, dir);
        const r = runWrapped(ws, dir, path.join(dir, 'job.sh'));
        const { outputs, scratch } = dirsFromLog(r.log);
        if (!outputs || fs.existsSync(scratch)) throw new Error(`tre-job job ${r.id}: no outputs or scratch left behind:\n${r.log}`);
        fs.rmSync(outputs, { recursive: true, force: true });
        if (i >= 0) A.push(r.ms);
      } else {
        const dir = ws.sub(`job-side-${runtime}/B${i}`);
        const r = runWrapped(ws, dir, hand);
        fs.rmSync(path.join(ws.home, `outputs-hand-${r.id}`), { recursive: true, force: true });
        if (i >= 0) B.push(r.ms);
      }
    }
  }
  const a = median(A);
  const b = median(B);
  results.rows.push({
    what: `${number}. job wall time, tre-job script vs hand-written (in the job${runtime === 'podman' ? '' : ', Apptainer'})`,
    a,
    b,
    ratio: a / b,
    extra: a - b,
    target: '<= +50 ms',
    ok: a - b <= 50,
  });
  const diffs = A.map((x, k) => x - (B[k] ?? NaN));
  results.jobSide = { ...(results.jobSide ?? {}), [runtime]: { aP95: pct(A, 95), bP95: pct(B, 95), pairedMedianDiff: median(diffs) } };
}
