// `npm run bench`: what tre-job costs against the hand-written way, as ratios measured in the
// same run with A/B interleaving. It prints a table of medians; it never asserts on timings.
// See docs/benchmarks.md for what each row means, the knobs (BENCH_* variables) and results.
//
// `npm run bench` bundles this file with esbuild into dist/bench.js and runs that with node (no
// dependency but Node's built-ins). It measures the CLI as a user runs it (bin/tre-job, so dist/
// must be built) and acts as the bench user through `runuser -l USER`, so it must run as root on
// a machine set up by test/e2e/stack/setup.sh.
//
// This file: the settings, main and the report. bench/lib.ts has the bench's helpers, bench/phases/
// the phases; what the e2e tests share with the bench comes from test/e2e/lib/stack.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectStack, readToken, runAs, SETUP_HINT, STACK_ENV_FILE } from '../test/e2e/lib/stack';
import { BenchStack, errText, fail, fmt, fmtX, note, readLog, Results, ROOT, run, Settings, Workspace } from './lib';
import { apptainerStart } from './phases/apptainer-start';
import { arrayReport, arrays } from './phases/array';
import { cancel } from './phases/cancel';
import { renderColdStart, renderGrowth, submit } from './phases/cli';
import { jobSide } from './phases/job-side';
import { jupyter } from './phases/jupyter';
import { throughput } from './phases/throughput';

const PHASE_NAMES: Record<number, string> = {
  1: 'render cold start',
  2: 'submit',
  3: 'job-side overhead',
  4: 'clean-up after scancel',
  5: 'throughput',
  6: 'render growth',
  7: 'job-side overhead, Apptainer',
  8: 'clean-up after scancel, Apptainer',
  9: 'Jupyter time to answer, Apptainer',
  10: 'Apptainer start, FUSE vs unpacked',
  11: 'job arrays, Podman and Apptainer',
};

/** The phases that need the e2e stack (Slurm, the registry, the bench user), and those that use Apptainer. */
const STACK = [2, 3, 4, 5, 7, 8, 9, 10, 11];
const APPTAINER = [7, 8, 9, 10, 11];

// ---------------------------------------------------------------- settings

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw)) fail(`${name} must be a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function settings(): Settings {
  const cfg: Settings = {
    user: process.env.BENCH_USER || 'carol',
    trials: intEnv('BENCH_TRIALS', 40),
    jobTrials: intEnv('BENCH_JOB_TRIALS', 30),
    cancelTrials: intEnv('BENCH_CANCEL_TRIALS', 50),
    serviceTrials: intEnv('BENCH_SERVICE_TRIALS', 3),
    jobs: intEnv('BENCH_JOBS', 200),
    renderIters: intEnv('BENCH_RENDER_ITERS', 20),
    arrayTasks: intEnv('BENCH_ARRAY_TASKS', 1000),
    phases: new Set(
      (process.env.BENCH_PHASES || '1,2,3,4,5,6,7,8,9,10,11')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map(Number),
    ),
  };
  for (const p of cfg.phases) if (!PHASE_NAMES[p]) fail(`BENCH_PHASES: unknown phase ${p} (1-11)`);
  if (cfg.arrayTasks < 1) fail('BENCH_ARRAY_TASKS must be at least 1');
  if (!/^[a-z_][a-z0-9_-]*$/.test(cfg.user)) fail(`BENCH_USER: bad user name ${JSON.stringify(cfg.user)}`);
  return cfg;
}

// ---------------------------------------------------------------- stack

/** The stack's settings (stack.ts's checks, then the bench's own), or a reason why it is not usable. */
function checkStack(cfg: Settings): BenchStack | { reason: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { reason: 'must run as root (it acts as the bench user through runuser -l)' };
  }
  const status = detectStack();
  if (!status.ready || !status.env) return { reason: status.reason };
  const env = status.env;
  if (run('id', ['-u', cfg.user]).status !== 0) return { reason: `bench user ${cfg.user} does not exist` };
  const apptainerPhases = APPTAINER.filter((p) => cfg.phases.has(p));
  if (apptainerPhases.length) {
    const v = runAs(cfg.user, 'apptainer --version', { timeoutMs: 30000 });
    if (v.status !== 0) return { reason: `apptainer does not run as ${cfg.user} (phases ${apptainerPhases.join(',')} need it): ${(v.stderr || v.stdout).trim()}` };
  }
  const jupyterImage = env.vars.TRE_TEST_JUPYTER_IMAGE || '';
  if (cfg.phases.has(9) && !jupyterImage) return { reason: `${STACK_ENV_FILE} has no TRE_TEST_JUPYTER_IMAGE (phase 9 needs it)` };
  let token: string;
  try {
    token = readToken(env);
  } catch (err) {
    return { reason: `cannot read the registry token ${env.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? errText(err)}` };
  }
  return { env, jupyterImage, token };
}

// ---------------------------------------------------------------- report

function machine(cfg: Settings): [string, string][] {
  const one = (cmd: string, args: string[]): string => run(cmd, args).stdout.trim().split('\n')[0] || 'n/a';
  const cpu = /model name\s*:\s*(.*)/.exec(readLog('/proc/cpuinfo'))?.[1] ?? 'n/a';
  const killWait = /^KillWait\s*=\s*(\S+)/m.exec(run('scontrol', ['show', 'config']).stdout)?.[1] ?? 'n/a';
  return [
    ['CPUs (nproc)', `${one('nproc', [])} (${cpu})`],
    ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['kernel', os.release()],
    ['OS', /PRETTY_NAME="?([^"\n]*)/.exec(readLog('/etc/os-release'))?.[1] ?? 'n/a'],
    ['Node', process.version],
    ['Slurm', `${one('sbatch', ['--version'])}, KillWait ${killWait}`],
    ['Podman', `${one('podman', ['--version'])}, ${one('crun', ['--version'])}`],
    ['Apptainer', `${one('runuser', ['-l', cfg.user, '-c', 'apptainer --version'])}, /dev/fuse ${fuseMode()}`],
    ['bash', one('bash', ['-c', 'echo $BASH_VERSION'])],
  ];
}

/** /dev/fuse's mode (0666 here: users may mount a SIF with FUSE), or 'absent'. */
function fuseMode(): string {
  try {
    return `0${(fs.statSync('/dev/fuse').mode & 0o777).toString(8)}`;
  } catch {
    return 'absent';
  }
}

function report(cfg: Settings, results: Results, othersSeen: number, elapsedMs: number): void {
  const out: string[] = [];
  const p = (s = ''): void => {
    out.push(s);
  };
  p('');
  p('## tre-job benchmark');
  p('');
  p('| Machine | |');
  p('|---|---|');
  for (const [k, v] of machine(cfg)) p(`| ${k} | ${v} |`);
  p('');
  p(
    `Settings: BENCH_USER=${cfg.user} BENCH_TRIALS=${cfg.trials} BENCH_JOB_TRIALS=${cfg.jobTrials} BENCH_CANCEL_TRIALS=${cfg.cancelTrials} BENCH_SERVICE_TRIALS=${cfg.serviceTrials} BENCH_JOBS=${cfg.jobs} BENCH_RENDER_ITERS=${cfg.renderIters} BENCH_ARRAY_TASKS=${cfg.arrayTasks} BENCH_PHASES=${[...cfg.phases].join(',')}`,
  );
  p('');
  if (results.rows.length) {
    p('| Measurement (median) | tre-job | baseline | ratio | extra | target | |');
    p('|---|---:|---:|---:|---:|---|---|');
    // By phase number (10 after 9), then by name.
    for (const r of results.rows.sort((x, y) => parseInt(x.what, 10) - parseInt(y.what, 10) || x.what.localeCompare(y.what))) {
      const v = (x: number): string => (r.unit ? `${x.toFixed(1)} ${r.unit}` : fmt(x));
      const extra = r.unit ? '' : `${r.a - r.b >= 0 ? '+' : ''}${(r.a - r.b).toFixed(1)} ms`;
      const verdict = r.ok === null ? '' : r.ok ? 'ok' : '**above target**'; // null: informational
      p(`| ${r.what} | ${v(r.a)} | ${v(r.b)} | ${fmtX(r.ratio)} | ${extra} | ${r.target} | ${verdict} |`);
    }
    p('');
  }
  if (results.submitRaw) {
    const s = results.submitRaw;
    p(`Submit p95: tre-job ${fmt(s.aP95)}, baseline ${fmt(s.bP95)}. Each job was cancelled right after its submission; ${results.submitStarted} had started by then.`);
    const l = results.submitLeaks;
    if (l) p(`Scratch dirs left behind by those cancelled jobs: ${Number.isFinite(l.count) ? `${l.count}${l.count ? ` (${l.note}; removed by the bench)` : ''}` : l.note}.`);
  }
  for (const [runtime, j] of Object.entries(results.jobSide ?? {})) {
    p(`Job wall time p95 (${runtime}): tre-job ${fmt(j.aP95)}, hand-written ${fmt(j.bP95)}; median of the per-pair differences ${fmt(j.pairedMedianDiff)}.`);
  }
  for (const [kase, c] of Object.entries(results.service?.cases ?? {})) {
    p(
      `Jupyter ${kase} p95 (${c.n} pairs): tre-job ${fmt(c.aP95)}, hand-written ${fmt(c.bP95)}; tre-job's connection.yml (what Open OnDemand's Connect reads) came a median ${fmt(c.connectionAfter)} after the service answered.`,
    );
  }
  if (results.service?.problems.length) p(`Jupyter problems: ${results.service.problems.join('; ')}`);
  if (results.start) {
    const st = results.start;
    p(
      `Apptainer start p95: unpacked ${fmt(st.aP95 ?? NaN)}, FUSE ${fmt(st.bP95 ?? NaN)} (the probe's SIF, ${(st.sifBytes / 2 ** 20).toFixed(1)} MiB; an unpacked start's time grows with the image).${st.tmpLeft ? ` Apptainer left ${st.tmpLeft} entries in its APPTAINER_TMPDIR.` : ''}`,
    );
  }
  if (results.submitRaw || results.jobSide || results.service || results.start) p('');
  for (const [runtime, c] of Object.entries(results.cancel ?? {})) {
    const line = (what: string, s: { n: number; median: number; p95: number; max: number }, targetMs: number | null, target: string): string => {
      const verdict = targetMs === null ? '' : s.p95 <= targetMs ? 'ok' : '**above target**';
      return `| ${what} | ${s.n} | ${fmt(s.median, 0)} | ${fmt(s.p95, 0)} | ${fmt(s.max, 0)} | ${target} | ${verdict} |`;
    };
    p(`| ${c.number}. after \`scancel\`${runtime === 'podman' ? '' : `, ${runtime === 'apptainer' ? 'Apptainer' : runtime}`} (ms from issuing scancel) | n | median | p95 | max | target (p95) | |`);
    p('|---|---:|---:|---:|---:|---|---|');
    p(line('scratch gone', c.scratch, 100, '<= 100 ms'));
    p(line('container processes gone', c.container, 1000, '<= 1 s'));
    p(line('scancel command returned', c.scancel, null, ''));
    p(line('job left the queue', c.ended, null, ''));
    p('');
    p(`All inside KillWait (${c.killWaitMs / 1000} s): ${Math.max(c.scratch.max, c.container.max) < c.killWaitMs ? 'yes' : '**no**'}.`);
    p('');
    if (c.problems.length) p(`Problems: ${c.problems.join('; ')}`);
    else p(c.allClear);
    if (c.notes.length) p(`Notes: ${c.notes.join('; ')}.`);
    p('');
  }
  if (results.throughput) {
    const t = results.throughput;
    const l = t.leftovers;
    const cpus = os.cpus().length;
    const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    p(`5. Throughput: ${t.n} jobs per side; tre-job ${sec(t.aMs)} (submitting ${sec(t.aSubmitMs)}, ${sec(t.aCpuMs)} of CPU), hand-written ${sec(t.bMs)} (submitting ${sec(t.bSubmitMs)}, ${sec(t.bCpuMs)} of CPU).`);
    p(`The submissions ran on the same ${cpus} CPUs as the jobs: tre-job's used ${((t.aCpuMs / (t.aMs * cpus)) * 100).toFixed(0)}% of the CPU time available while its jobs ran, sbatch's ${((t.bCpuMs / (t.bMs * cpus)) * 100).toFixed(0)}%.`);
    p(`Leftovers after all jobs ended: tre-job ${l.aScratch} scratch dirs, ${l.aContainers} containers; hand-written ${l.bScratch} scratch dirs, ${l.bContainers} containers (target 0). Jobs not COMPLETED: tre-job ${t.notCompleted.a}, hand-written ${t.notCompleted.b}.`);
    for (const f of t.failures) p(`- ${f}`);
    p('');
  }
  if (results.array) for (const line of arrayReport(results.array)) p(line);
  const g = results.growth;
  const first = g?.[0];
  const base = g?.[g.length - 1];
  if (g && first && base) {
    const marginal = (r: { ms: number; items: number }): number => (r.ms - first.ms) / (r.items - first.items);
    p('| 6. Render growth (env vars + args + mounts) | items | in-process render | per extra item | script size | CLI cold |');
    p('|---|---:|---:|---:|---:|---:|');
    for (const r of g) {
      const per = r === first ? '' : `${(marginal(r) * 1000).toFixed(1)} µs`;
      p(`| ${r.n} each | ${r.items} | ${fmt(r.ms, 2)} | ${per} | ${(r.bytes / 1024).toFixed(1)} KiB | ${fmt(r.cliMs)} |`);
    }
    const mid = g.find((r) => r.n === 100);
    if (mid) p(`\nTime per extra item (above the 1-each spec), 1000 each vs 100 each: ${fmtX(marginal(base) / marginal(mid))} (1.00x = linear).`);
    p('');
  }
  if (results.breakdown) {
    p(`Cold start, what it is made of (median; node -e 0 = ${fmt(results.breakdown.base)}):`);
    p('');
    p('| Command | median | above node -e 0 |');
    p('|---|---:|---:|');
    for (const r of results.breakdown.rows) {
      const inproc = r.what.startsWith('in process');
      p(`| ${r.what} | ${fmt(r.ms)} | ${inproc ? '(in process)' : `${r.extra >= 0 ? '+' : ''}${r.extra.toFixed(1)} ms`} |`);
    }
    p('');
  }
  p(`Other users' jobs seen in the queue during the Slurm phases: ${othersSeen ? `up to ${othersSeen} (they share the CPUs: numbers are noisier)` : 'none'}.`);
  p(`Bench took ${(elapsedMs / 60000).toFixed(1)} min.`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------- main

function main(): void {
  const t0 = Date.now();
  const cfg = settings();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) fail('dist/ is not built: run `npm run build` first');
  const results: Results = { rows: [] };
  const stackPhases = STACK.filter((p) => cfg.phases.has(p));
  let ws: Workspace | null = null;
  if (stackPhases.length) {
    const stack = checkStack(cfg);
    if ('reason' in stack) {
      fail(`the e2e stack is not ready: ${stack.reason}; ${SETUP_HINT}. (Phases ${stackPhases.join(',')} need it; BENCH_PHASES=1,6 runs only the local ones.)`);
    }
    ws = new Workspace(cfg, stack);
  }
  const needWs = (): Workspace => {
    if (!ws) throw new Error('no workspace: the stack was not checked');
    return ws;
  };
  let failed: unknown = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    note(`${sig}: cleaning up`);
    ws?.cleanUp();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const phases: Record<number, () => void> = {
      1: () => renderColdStart(cfg, results),
      2: () => submit(needWs(), results),
      3: () => jobSide(needWs(), results),
      4: () => cancel(needWs(), results),
      5: () => throughput(needWs(), results),
      6: () => renderGrowth(cfg, results),
      7: () => jobSide(needWs(), results, 'apptainer'),
      8: () => cancel(needWs(), results, 'apptainer'),
      9: () => jupyter(needWs(), results),
      10: () => apptainerStart(needWs(), results),
      11: () => arrays(needWs(), results),
    };
    for (const [phase, fn] of Object.entries(phases).map(([k, fn]) => [Number(k), fn] as const)) {
      if (!cfg.phases.has(phase)) continue;
      const s = Date.now();
      fn();
      note(`phase ${phase} (${PHASE_NAMES[phase]}) took ${((Date.now() - s) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    failed = err;
  } finally {
    ws?.cleanUp();
  }
  report(cfg, results, ws?.othersSeen ?? 0, Date.now() - t0);
  if (failed) fail(`a phase failed, the table above is incomplete: ${failed instanceof Error ? (failed.stack ?? failed.message) : String(failed)}`);
}

main();
