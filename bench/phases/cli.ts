// Phases 1, 2 and 6: the CLI's own cost. 1: `tre-job render` cold start against `node -e 0`
// (and what each start-up step saves); 2: `tre-job submit` against `node -e 0 && sbatch`, as the
// bench user; 6: render time as a spec grows (in process, and the CLI cold).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shq } from '../../test/e2e/lib/stack';
import {
  BIN,
  CLEAN_ENV,
  median,
  mustRun,
  note,
  nowMs,
  pct,
  readLog,
  Results,
  ROOT,
  run,
  Settings,
  sleep,
  timeInterleaved,
  waitEnded,
  Workspace,
} from '../lib';

// ---------------------------------------------------------------- phase 1: render cold start

export function renderColdStart(cfg: Settings, results: Results): void {
  note(`phase 1: render cold start vs node -e 0, ${cfg.trials} interleaved trials (plus what each start-up step saves)`);
  // The same CLI without the code cache, and as tsc built it (no bundle): what each step saves.
  const noCache = fs.mkdtempSync(path.join(os.tmpdir(), 'tre-bench-nocache-'));
  fs.mkdirSync(path.join(noCache, 'bin'));
  fs.mkdirSync(path.join(noCache, 'dist'));
  fs.copyFileSync(BIN, path.join(noCache, 'bin', 'tre-job'));
  fs.copyFileSync(path.join(ROOT, 'dist', 'tre-job.js'), path.join(noCache, 'dist', 'tre-job.js'));
  const cmds = [
    { name: 'node -e 0', cmd: 'node -e 0' },
    { name: 'tre-job render examples/hello.yaml', cmd: 'node bin/tre-job render examples/hello.yaml >/dev/null' },
    { name: 'tre-job --version', cmd: 'node bin/tre-job --version >/dev/null' },
    { name: 'tre-job render, bundle without the code cache', cmd: `node ${shq(path.join(noCache, 'bin', 'tre-job'))} render examples/hello.yaml >/dev/null` },
    {
      name: 'tre-job render, no bundle (tsc output, dist/main.js)',
      cmd: `node -e ${shq("require('./dist/main.js').main(['render', 'examples/hello.yaml'])")} >/dev/null`,
    },
  ] as const;
  let t;
  try {
    t = timeInterleaved({ user: null, cwd: ROOT, cmds, trials: cfg.trials });
  } finally {
    fs.rmSync(noCache, { recursive: true, force: true });
  }
  const base = median(t['node -e 0']);
  const render = median(t['tre-job render examples/hello.yaml']);
  results.rows.push({
    what: '1. `tre-job render` cold start vs `node -e 0`',
    a: render,
    b: base,
    ratio: render / base,
    target: '<= 1.5x',
    ok: render / base <= 1.5,
  });
  // In one process: loading the bundle through the code cache, then the first render (what
  // `tre-job render` runs: commander, YAML, zod, Handlebars), then a second one (all warm).
  const probe = `
    const io = { stdout: () => {}, stderr: () => {} };
    const t0 = process.hrtime.bigint();
    const cli = require('./bin/tre-job').loadBundle().exports;
    const t1 = process.hrtime.bigint();
    cli.run(['render', 'examples/hello.yaml'], io);
    const t2 = process.hrtime.bigint();
    cli.run(['render', 'examples/hello.yaml'], io);
    const t3 = process.hrtime.bigint();
    console.log([t1 - t0, t2 - t1, t3 - t2].map((x) => Number(x) / 1e6).join(' '));`;
  const inproc: [number[], number[], number[]] = [[], [], []];
  for (let k = 0; k < Math.max(5, Math.min(cfg.trials, 15)); k++) {
    const r = mustRun('in-process render timing', run('node', ['-e', probe], { cwd: ROOT, env: CLEAN_ENV }));
    r.stdout
      .trim()
      .split(' ')
      .map(Number)
      .forEach((v, j) => inproc[j]?.push(v));
  }
  const breakdown = cmds.slice(1).map((c) => ({ what: c.name as string, ms: median(t[c.name]), extra: median(t[c.name]) - base }));
  breakdown.push(
    { what: 'in process: load dist/tre-job.js through the code cache', ms: median(inproc[0]), extra: median(inproc[0]) },
    { what: 'in process: first render (commander, YAML, zod, Handlebars, all cold)', ms: median(inproc[1]), extra: median(inproc[1]) },
    { what: 'in process: second render (warm)', ms: median(inproc[2]), extra: median(inproc[2]) },
  );
  results.breakdown = { base, rows: breakdown };
}

// ---------------------------------------------------------------- phase 2: submit

export function submit(ws: Workspace, results: Results): void {
  const cfg = ws.cfg;
  note(`phase 2: tre-job submit vs sh -c 'node -e 0 && sbatch --parsable job.sh', ${cfg.trials} interleaved trials as ${cfg.user}`);
  const spec = ws.spec('submit');
  const pre = path.join(ws.dir, 'prerendered');
  ws.renderJobDir(spec, pre);
  const outs = ws.sub('submit-out');
  // A job may start before its scancel arrives and create an outputs-N: each job logs to its
  // own file (sbatch's SBATCH_OUTPUT overrides the script's --output) so that it can be found.
  // Each submitted job is cancelled at once (untimed), so that the queue stays as it was.
  const cancelA = `id=$(sed -n 's/.*"jobId":"\\([0-9]*\\)".*/\\1/p' ${shq(outs)}/A.$i); [[ -n $id ]] && scancel "$id"; echo "$id" >> ${shq(outs)}/ids`;
  const cancelB = `id=$(cut -d';' -f1 ${shq(outs)}/B.$i); [[ -n $id ]] && scancel "$id"; echo "$id" >> ${shq(outs)}/ids`;
  const cmds = [
    {
      name: 'A',
      cmd: `node ${shq(BIN)} submit ${shq(spec)} --site ${shq(ws.env.site)} --token-stdin --json < ${shq(ws.token)} > ${shq(outs)}/A.$i`,
      after: cancelA,
    },
    { name: 'B', cmd: `sh -c 'node -e 0 && sbatch --parsable job.sh' > ${shq(outs)}/B.$i`, after: cancelB },
  ] as const;
  ws.sampleOthers();
  const before = new Set(fs.readdirSync(ws.home));
  let t;
  try {
    t = timeInterleaved({ user: cfg.user, cwd: pre, cmds, trials: cfg.trials, prelude: `export SBATCH_OUTPUT=${shq(outs)}/job-%j.log` });
  } finally {
    const ids = readLog(path.join(outs, 'ids'))
      .split('\n')
      .filter((s) => /^\d+$/.test(s));
    ws.jobIds.push(...ids);
    for (const f of fs.readdirSync(outs).filter((f) => /^A\./.test(f))) {
      try {
        ws.jobDirs.push((JSON.parse(fs.readFileSync(path.join(outs, f), 'utf8')) as { jobDir: string }).jobDir);
      } catch {
        // an empty file: that submit failed (reported by the driver)
      }
    }
    waitEnded(ids, 120000);
    const started = fs.readdirSync(outs).filter((f) => /^job-\d+\.log$/.test(f) && fs.statSync(path.join(outs, f)).size > 0);
    results.submitStarted = `${started.length} of ${ids.length}`;
    results.submitLeaks = leakedScratch(ws, before);
  }
  ws.sampleOthers();
  const a = median(t.A);
  const b = median(t.B);
  results.rows.push({ what: '2. `tre-job submit` vs `node -e 0 && sbatch`', a, b, ratio: a / b, target: '<= 1.5x', ok: a / b <= 1.5 });
  results.submitRaw = { a, b, aP95: pct(t.A, 95), bP95: pct(t.B, 95) };
}

/**
 * scratch-N dirs that appeared in the user's home since `before` and outlived every job: left by
 * a job that was cancelled as it started. Counted only when none of the user's other jobs
 * (another engineer's tests, say) runs, so that they are ours; then removed with their outputs-N.
 */
function leakedScratch(ws: Workspace, before: Set<string>): { count: number; note: string } {
  const deadline = nowMs() + 60000;
  for (;;) {
    const mine = new Set(ws.jobIds);
    const r = run('squeue', ['-h', '-u', ws.user, '-o', '%i']);
    const others = r.stdout.split('\n').filter((id) => id && !mine.has(id));
    if (others.length === 0) break;
    if (nowMs() > deadline) return { count: NaN, note: `not counted: jobs ${others.join(' ')} of ${ws.user} kept running` };
    sleep(500);
  }
  const fresh = fs.readdirSync(ws.home).filter((n) => !before.has(n));
  const leaked = fresh.filter((n) => /^scratch-\d+$/.test(n));
  for (const n of leaked) {
    fs.rmSync(path.join(ws.home, n), { recursive: true, force: true });
    fs.rmSync(path.join(ws.home, n.replace('scratch-', 'outputs-')), { recursive: true, force: true });
  }
  // Empty outputs-N of jobs cancelled before they logged them (outputs are kept by design).
  for (const n of fresh.filter((n) => /^outputs-\d+$/.test(n))) {
    try {
      fs.rmdirSync(path.join(ws.home, n));
    } catch {
      // not empty, or gone
    }
  }
  return { count: leaked.length, note: leaked.join(' ') };
}

// ---------------------------------------------------------------- phase 6: render growth

export function renderGrowth(cfg: Settings, results: Results): void {
  note(`phase 6: render time for 1, 100 and 1000 env vars, args and mounts (in process, ${cfg.renderIters} renders each)`);
  // In a child process so that the result does not depend on what this process loaded.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tre-bench-render-'));
  try {
    const sizes = [1, 100, 1000];
    for (const n of sizes) {
      const lines = ['image: ghcr.io/mikej888/hello-tre:1.0', 'registry:', '  username: alice', 'env:'];
      for (let k = 0; k < n; k++) lines.push(`  - "VAR_${k}=value ${k} from \${USER}: quotes ' and $(date) stay literal"`);
      lines.push('args:');
      for (let k = 0; k < n; k++) lines.push(`  - "arg ${k} \${HOME}/x;y"`);
      lines.push('runnerArgs:');
      for (let k = 0; k < n; k++) lines.push(`  - "--volume=\${HOME}/bench-in-${k}:/mnt/in-${k}:ro"`);
      fs.writeFileSync(path.join(dir, `spec-${n}.yaml`), `${lines.join('\n')}\n`);
    }
    const script = `
      // renderCommand is what \`tre-job render SPEC\` runs: read, validate, render.
      const { renderCommand } = require(${JSON.stringify(path.join(ROOT, 'dist/commands/render'))});
      const sizes = ${JSON.stringify(sizes)};
      const file = (n) => ${JSON.stringify(dir)} + '/spec-' + n + '.yaml';
      for (const n of sizes) renderCommand(file(n), {}); // warm-up: templates compiled, JIT warm
      const out = {};
      for (const n of sizes) out[n] = { ms: [], bytes: renderCommand(file(n), {}).length };
      for (let it = 0; it < ${cfg.renderIters}; it++) {
        for (const n of sizes) {
          const t0 = process.hrtime.bigint();
          renderCommand(file(n), {});
          out[n].ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }
      console.log(JSON.stringify(out));`;
    const r = mustRun('render growth', run('node', ['-e', script], { cwd: ROOT, env: CLEAN_ENV }));
    const out = JSON.parse(r.stdout) as Record<string, { ms: number[]; bytes: number }>;
    const growth = sizes.map((n) => ({ n, items: 3 * n, ms: median(out[n]?.ms ?? []), bytes: out[n]?.bytes ?? NaN, cliMs: NaN }));
    results.growth = growth;
    // CLI, cold, for each size (what a user waits for).
    const cli = timeInterleaved({
      user: null,
      cwd: ROOT,
      trials: Math.max(3, Math.min(10, cfg.trials)),
      cmds: sizes.map((n) => ({ name: String(n), cmd: `node bin/tre-job render ${shq(path.join(dir, `spec-${n}.yaml`))} >/dev/null` })),
    });
    for (const g of growth) g.cliMs = median(cli[String(g.n)] ?? []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
