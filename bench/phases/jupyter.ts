// Phase 9: Jupyter (Apptainer) time to answer, from the submission until the service answers
// HTTP, tre-job's `service: jupyter` against a hand-written script; cold (SIF pulled) and warm
// (SIF reused).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runAs, shq } from '../../test/e2e/lib/stack';
import {
  activeIds,
  dirsFromLog,
  fmt,
  handJupyterScript,
  median,
  mustRun,
  note,
  nowMs,
  pct,
  processTable,
  readLog,
  Results,
  run,
  sleep,
  waitEnded,
  within,
  Workspace,
} from '../lib';

type Side = 'A' | 'B';

/** Where a Jupyter job serves, from its log: tre-job's "Starting the jupyter service on port P" (the last try), or the hand script's line. */
function jupyterUrl(log: string, side: Side): string | null {
  let host: string | undefined;
  let port: string | undefined;
  if (side === 'A') {
    host = /Job \d+ started on (\S+) as /.exec(log)?.[1];
    port = [...log.matchAll(/Starting the jupyter service on port (\d+)/g)].pop()?.[1];
  } else {
    const m = /^hand: Jupyter on (\S+) port (\d+) /m.exec(log);
    host = m?.[1];
    port = m?.[2];
  }
  return host && port ? `http://127.0.0.1:${port}/node/${host}/${port}/tree` : null;
}

interface TrialOptions {
  spec: string;
  handDir: string;
  warm: boolean;
  sifA: string;
  sifB: string;
  problems: string[];
}

/**
 * One Jupyter job, submitted as the bench user: the time (ms) from just before the submission
 * until its URL answers HTTP 302 or 200 (polled every 50 ms, as soon as the log says the port);
 * for tre-job also until connection.yml exists. Then it is cancelled and waited for.
 */
function jupyterTrial(ws: Workspace, side: Side, { spec, handDir, warm, sifA, sifB, problems }: TrialOptions): { ms: number; connectionMs: number | null } {
  if (!warm) fs.rmSync(side === 'A' ? sifA : sifB, { force: true });
  const t0 = nowMs();
  let id: string;
  let logFile: string;
  let jobDir = '';
  if (side === 'A') {
    const sub = ws.submit(spec);
    ({ jobId: id, outputLog: logFile, jobDir } = sub);
  } else {
    id = mustRun('sbatch jupyter-hand.sh', runAs(ws.user, `cd ${shq(handDir)} && sbatch --parsable jupyter-hand.sh`)).stdout.trim().split(';')[0] ?? '';
    ws.jobIds.push(id);
    logFile = path.join(handDir, `hand-${id}.log`);
  }
  const problem = (what: string): void => {
    problems.push(`job ${id} (${side === 'A' ? 'tre-job' : 'hand-written'}, ${warm ? 'warm' : 'cold'}): ${what}`);
  };
  let answered: number | null = null;
  let code = '';
  for (let k = 0; answered === null; k++) {
    const url = jupyterUrl(readLog(logFile), side);
    if (url) {
      code = run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', url]).stdout.trim();
      if (code === '302' || code === '200') answered = nowMs() - t0;
    }
    if (answered !== null) break;
    if (k % 20 === 19) {
      ws.sampleOthers();
      if (activeIds([id]).length === 0) throw new Error(`job ${id} ended before Jupyter answered (last HTTP code ${code || 'none'}); log:\n${readLog(logFile).slice(-3000)}`);
    }
    if (nowMs() - t0 > 600000) throw new Error(`job ${id}: Jupyter did not answer within 600 s (last HTTP code ${code || 'none'}); log:\n${readLog(logFile).slice(-3000)}`);
    sleep(50);
  }
  let connection: number | null = null;
  if (side === 'A' && within(30000, () => fs.existsSync(path.join(jobDir, 'connection.yml')))) connection = nowMs() - t0;
  if (side === 'A' && connection === null) problem('no connection.yml 30 s after Jupyter answered');
  // The trial must have pulled (cold) or reused the SIF (warm), or it measured the wrong thing.
  const log = readLog(logFile);
  const said = side === 'A' ? { pulled: /INFO: Pulling /, reused: /INFO: Reusing / } : { pulled: /^hand: pulling/m, reused: /^hand: reusing/m };
  if (!(warm ? said.reused : said.pulled).test(log) || (warm ? said.pulled : said.reused).test(log)) {
    throw new Error(`job ${id}: expected it to ${warm ? 'reuse' : 'pull'} its SIF; log:\n${log.slice(-3000)}`);
  }
  run('scancel', [id]);
  waitEnded([id], 120000, 50);
  // What the job leaves: its outputs (kept by design; removed here) and scratch (must be gone).
  const { outputs, scratch } = side === 'A' ? dirsFromLog(log) : { outputs: path.join(ws.home, `outputs-hand-${id}`), scratch: path.join(ws.home, `scratch-hand-${id}`) };
  if (scratch && fs.existsSync(scratch)) problem(`${scratch} left (removed by the bench)`);
  for (const d of [outputs, scratch]) if (d) fs.rmSync(d, { recursive: true, force: true });
  if (side === 'A' && fs.existsSync(path.join(ws.home, '.tre-job', 'tmp', id))) problem(`~/.tre-job/tmp/${id} left`);
  const jupyters = (): ReturnType<typeof processTable> => processTable().filter((p) => p.uid === String(ws.uid) && /jupyter/.test(p.cmd));
  if (!within(10000, () => jupyters().length === 0)) problem(`Jupyter processes left 10 s after the job ended: ${jupyters().map((p) => p.pid).join(' ')}`);
  return { ms: answered, connectionMs: connection };
}

export function jupyter(ws: Workspace, results: Results): void {
  const cfg = ws.cfg;
  const n = cfg.serviceTrials;
  note(`phase 9: Jupyter (Apptainer) time from submit to HTTP answer, tre-job vs hand-written, ${n} interleaved pairs cold (no SIF) then warm (SIF reused) as ${cfg.user}`);
  const image = ws.jupyterImage;
  const env = ['TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/'];
  const more = ['service: jupyter', 'safeData: none'];
  const specs = {
    cold: ws.spec('jupyter-cold', env, 'apptainer', { image, more }),
    warm: ws.spec('jupyter-warm', env, 'apptainer', { image, more: [...more, 'reuseSif: true'] }),
  };
  const handDir = ws.sub('jupyter-hand');
  ws.own(path.join(handDir, 'jupyter-hand.sh'), handJupyterScript(ws, `${handDir}/hand-%j.log`), 0o755);
  const sifA = ws.treJobSif(image);
  const sifB = path.join(ws.home, 'jupyter-hand.sif');
  ws.willCreate(sifB, true);
  // What Jupyter writes in the home it is given (both sides): removed at the end if new.
  for (const d of ['.ipython', '.jupyter', '.local/share/jupyter']) ws.willCreate(path.join(ws.home, d));
  const problems: string[] = [];
  const service: NonNullable<Results['service']> = { problems, cases: {} };
  results.service = service;
  // Cold first: its last pair leaves both SIFs for the warm case. The warm case starts with an
  // untimed pair (caches warm); the cold one does not (a pull takes most of a minute).
  for (const warm of [false, true]) {
    const kase = warm ? 'warm' : 'cold';
    const A: number[] = [];
    const B: number[] = [];
    const conn: number[] = [];
    for (let i = warm ? -1 : 0; i < n; i++) {
      for (const side of i % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
        const r = jupyterTrial(ws, side, { spec: specs[kase], handDir, warm, sifA, sifB, problems });
        note(`phase 9: ${kase} ${i < 0 ? 'warm-up' : `pair ${i + 1}/${n}`} ${side === 'A' ? 'tre-job' : 'hand-written'}: answered after ${fmt(r.ms, 0)}`);
        if (i < 0) continue;
        (side === 'A' ? A : B).push(r.ms);
        if (side === 'A' && r.connectionMs !== null) conn.push(r.connectionMs - r.ms);
      }
    }
    const a = median(A);
    const b = median(B);
    results.rows.push({
      what: `9. Jupyter answers HTTP, from submit, ${warm ? 'warm (reuseSif, SIF present)' : 'cold (no SIF: pull)'}, Apptainer`,
      a,
      b,
      ratio: a / b,
      target: warm ? '<= 1.2x' : 'informational',
      ok: warm ? a / b <= 1.2 : null,
    });
    service.cases[kase] = { n: A.length, aP95: pct(A, 95), bP95: pct(B, 95), connectionAfter: median(conn) };
  }
  for (const p of problems) note(`phase 9: ${p}`);
}
