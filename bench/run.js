#!/usr/bin/env node
'use strict';
// `npm run bench`: what tre-job costs against the hand-written way, as ratios measured in the
// same run with A/B interleaving. It prints a table of medians; it never asserts on timings.
// See docs/benchmarks.md for what each row means, the knobs (BENCH_* variables) and results.
//
// Plain JavaScript (Node built-ins only) so that it needs no build of its own. It measures the
// CLI as a user runs it (bin/tre-job, so dist/ must be built) and acts as the bench user through
// `runuser -l USER`, so it must run as root on a machine set up by test/e2e/stack/setup.sh.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'tre-job');
const STACK_ENV = '/etc/tre-job-test/stack.env';
const SETUP_HINT = 'run `bash test/e2e/stack/setup.sh` as root to build it';
const PHASE_NAMES = {
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
};

// ---------------------------------------------------------------- settings

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw)) fail(`${name} must be a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

const CFG = {
  user: process.env.BENCH_USER || 'carol',
  trials: intEnv('BENCH_TRIALS', 40), // phases 1, 2 and 10: A/B pairs
  jobTrials: intEnv('BENCH_JOB_TRIALS', 30), // phases 3 and 7: A/B pairs of real jobs
  cancelTrials: intEnv('BENCH_CANCEL_TRIALS', 50), // phases 4 and 8
  serviceTrials: intEnv('BENCH_SERVICE_TRIALS', 3), // phase 9: A/B pairs of Jupyter jobs per case (cold, warm)
  jobs: intEnv('BENCH_JOBS', 200), // phase 5: jobs per side
  renderIters: intEnv('BENCH_RENDER_ITERS', 20), // phase 6: renders per size
  phases: new Set(
    (process.env.BENCH_PHASES || '1,2,3,4,5,6,7,8,9,10')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map(Number),
  ),
};
for (const p of CFG.phases) if (!PHASE_NAMES[p]) fail(`BENCH_PHASES: unknown phase ${p} (1-10)`);
if (!/^[a-z_][a-z0-9_-]*$/.test(CFG.user)) fail(`BENCH_USER: bad user name ${JSON.stringify(CFG.user)}`);
const STACK_PHASES = [2, 3, 4, 5, 7, 8, 9, 10].filter((p) => CFG.phases.has(p));
const APPTAINER_PHASES = [7, 8, 9, 10].filter((p) => CFG.phases.has(p));

// ---------------------------------------------------------------- small helpers

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function note(message) {
  process.stderr.write(`bench: ${message}\n`);
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    input: opts.input ?? '',
    cwd: opts.cwd,
    env: opts.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const status = r.error ? 127 : r.status === null ? 128 : r.status;
  return { status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error.message) : '') };
}

/** bash/sh single quoting */
function shq(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** Run a shell command as USER through a login shell (as the e2e tests do). */
// Local measurements (as root) run with a clean environment, as a login shell would have: the
// caller's NODE_OPTIONS, NODE_EXTRA_CA_CERTS (about 40 ms of start-up) and the like would skew
// the ratios. runAs gets the same from `runuser -l`.
const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: os.homedir(), LANG: 'C.UTF-8' };

function runAs(user, command, opts = {}) {
  return run('runuser', ['-l', user, '-c', command], opts);
}

function mustRun(what, r) {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r;
}

function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** nearest-rank percentile */
function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const fmt = (ms, digits = 1) => (Number.isFinite(ms) ? `${ms.toFixed(digits)} ms` : 'n/a');
const fmtX = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');

/** EPOCHREALTIME ("1700000000.123456") to microseconds, exactly. */
function usOf(stamp) {
  const m = /^([0-9]+)[.,]([0-9]{6})$/.exec(stamp);
  if (!m) throw new Error(`bad timestamp ${JSON.stringify(stamp)}`);
  return Number(m[1]) * 1e6 + Number(m[2]);
}

function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

function homeOf(user) {
  const r = run('getent', ['passwd', user]);
  const home = r.status === 0 ? r.stdout.trim().split(':')[5] : '';
  if (!home) throw new Error(`no passwd entry for ${user}`);
  return home;
}

function parseEnvFile(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2].trim();
    if (v.length >= 2 && /^(["']).*\1$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    out[m[1]] = v;
  }
  return out;
}

// ---------------------------------------------------------------- stack

/** The stack's settings, or a reason why it is not usable. */
function checkStack() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { reason: 'must run as root (it acts as the bench user through runuser -l)' };
  }
  let vars;
  try {
    vars = parseEnvFile(fs.readFileSync(STACK_ENV, 'utf8'));
  } catch {
    return { reason: `${STACK_ENV} is missing: the e2e stack is not set up` };
  }
  for (const k of ['TRE_TEST_REGISTRY', 'TRE_TEST_REGISTRY_USER', 'TRE_TEST_TOKEN_FILE', 'TRE_TEST_SITE', 'TRE_TEST_PROBE_IMAGE']) {
    if (!vars[k]) return { reason: `${STACK_ENV} has no ${k}` };
  }
  const si = run('sinfo', ['-h', '-o', '%t'], { timeoutMs: 10000 });
  if (si.status !== 0) return { reason: `sinfo failed: ${si.stderr.trim()}` };
  const state = si.stdout.trim().split('\n')[0] || 'none';
  if (!/^(idle|mix|alloc|comp)$/.test(state)) return { reason: `Slurm node state is '${state}'` };
  const code = run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://${vars.TRE_TEST_REGISTRY}/v2/`]);
  if (code.stdout.trim() !== '401') return { reason: `registry http://${vars.TRE_TEST_REGISTRY}/v2/ answers '${code.stdout.trim()}' (want 401)` };
  if (run('id', ['-u', CFG.user]).status !== 0) return { reason: `bench user ${CFG.user} does not exist` };
  if (APPTAINER_PHASES.length) {
    const v = runAs(CFG.user, 'apptainer --version', { timeoutMs: 30000 });
    if (v.status !== 0) return { reason: `apptainer does not run as ${CFG.user} (phases ${APPTAINER_PHASES.join(',')} need it): ${(v.stderr || v.stdout).trim()}` };
  }
  if (CFG.phases.has(9) && !vars.TRE_TEST_JUPYTER_IMAGE) return { reason: `${STACK_ENV} has no TRE_TEST_JUPYTER_IMAGE (phase 9 needs it)` };
  let token;
  try {
    token = fs.readFileSync(vars.TRE_TEST_TOKEN_FILE, 'utf8').trim();
  } catch (err) {
    return { reason: `cannot read the registry token ${vars.TRE_TEST_TOKEN_FILE}: ${err.code}` };
  }
  return {
    registry: vars.TRE_TEST_REGISTRY,
    registryUser: vars.TRE_TEST_REGISTRY_USER,
    site: vars.TRE_TEST_SITE,
    image: vars.TRE_TEST_PROBE_IMAGE,
    jupyterImage: vars.TRE_TEST_JUPYTER_IMAGE || '',
    token,
  };
}

const ACTIVE = /^(PENDING|RUNNING|COMPLETING|CONFIGURING|SUSPENDED|REQUEUED|RESIZING|SIGNALING|STAGE_OUT)$/;

/** JobId -> {state, exit} for the given ids, from one `scontrol show job -o`. */
function jobStates(ids) {
  const want = new Set(ids.map(String));
  const out = new Map();
  const r = run('scontrol', ['show', 'job', '-o'], { timeoutMs: 30000 });
  for (const line of r.stdout.split('\n')) {
    const id = /^JobId=(\d+)\s/.exec(line)?.[1];
    if (!id || !want.has(id)) continue;
    out.set(id, { state: /\sJobState=(\S+)/.exec(line)?.[1] ?? '?', exit: /\sExitCode=(\S+)/.exec(line)?.[1] ?? '?' });
  }
  return out;
}

/** Ids among `ids` that Slurm still runs (squeue lists active jobs only). */
function activeIds(ids) {
  const want = new Set(ids.map(String));
  const r = run('squeue', ['-h', '-t', 'all', '-o', '%i %T'], { timeoutMs: 30000 });
  const active = [];
  for (const line of r.stdout.split('\n')) {
    const [id, state] = line.trim().split(/\s+/);
    if (id && want.has(id) && ACTIVE.test(state)) active.push(id);
  }
  return active;
}

/** Wait until all ids have ended; returns the time (nowMs) at which that was seen. */
function waitEnded(ids, timeoutMs, everyMs = 100) {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    const t = nowMs();
    const left = activeIds(ids);
    if (left.length === 0) return t;
    if (t > deadline) throw new Error(`jobs still active after ${timeoutMs} ms: ${left.slice(0, 10).join(' ')}${left.length > 10 ? ' ...' : ''}`);
    sleep(everyMs);
  }
}

/** Other users' jobs in the queue right now (they share the 2 CPUs: noted under the table). */
function othersInQueue() {
  const r = run('squeue', ['-h', '-o', '%u']);
  return r.stdout.split('\n').filter((u) => u && u !== CFG.user).length;
}

let othersSeen = 0;
function sampleOthers() {
  othersSeen = Math.max(othersSeen, othersInQueue());
}

// ---------------------------------------------------------------- interleaved timing driver

/**
 * Time shell commands in one bash process, interleaved (the order rotates each trial), with
 * bash's $EPOCHREALTIME, so neither node, runuser nor a fork of `date` is in the measurement.
 * cmds: [{ name, cmd, after? }] where `cmd` may use $i (the trial) and `after` (untimed) runs
 * right after it. Returns { name: [ms...] }. Run as root (user null) or as USER.
 */
function timeInterleaved({ user, cwd, cmds, trials, warmup = 2, prelude = '' }) {
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
  const out = Object.fromEntries(cmds.map((c) => [c.name, []]));
  const bad = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^T (\d+) (\d+) (\d+) (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    const c = cmds[Number(m[1])];
    if (m[3] !== '0') bad.push(`${c.name} trial ${m[2]} exit ${m[3]}`);
    out[c.name].push((usOf(m[5]) - usOf(m[4])) / 1000);
  }
  if (bad.length) throw new Error(`commands failed: ${bad.slice(0, 5).join('; ')}\n${r.stderr.slice(0, 2000)}`);
  return out;
}

let ugidCache = new Map();
function ugidOf(user) {
  if (!ugidCache.has(user)) {
    const u = Number(mustRun('id -u', run('id', ['-u', user])).stdout.trim());
    const g = Number(mustRun('id -g', run('id', ['-g', user])).stdout.trim());
    ugidCache.set(user, [u, g]);
  }
  return ugidCache.get(user);
}

// ---------------------------------------------------------------- bench workspace (owned by the bench user)

let WS = null; // { dir, token, site, image, spec(...) }
const createdJobDirs = []; // tre-job job dirs to remove at the end
const allJobIds = []; // every job this bench submitted (scancelled at exit if still active)
const keptOutputs = []; // outputs of jobs whose job dir is kept for a look (removed at the end)
const createdPaths = new Set(); // files and dirs in the user's home the bench's jobs made (SIFs, ...): removed at the end

/**
 * Note that the bench's jobs will create PATH in the user's home: the end removes it, or, if PATH
 * does not exist yet, the highest of its parents that does not exist either. With `always`, PATH
 * is removed even if it exists now (a SIF the bench's jobs pull again, replacing it anyway).
 */
function willCreate(file, always = false) {
  let top = file;
  while (!always && !fs.existsSync(path.dirname(top)) && path.dirname(top).startsWith(`${WS.home}/`)) top = path.dirname(top);
  if (always || !fs.existsSync(top)) createdPaths.add(top);
}

/** The SIF a tre-job job pulls IMAGE to ($HOME/NAME:TAG.sif), with its lock, both left to remove at the end. */
function treJobSif(image) {
  const name = `${image.split('/').pop()}.sif`;
  willCreate(path.join(WS.home, '.tre-job', 'locks', `${name}.lock`));
  willCreate(path.join(WS.home, name), true);
  return path.join(WS.home, name);
}

function workspace(stack) {
  const home = homeOf(CFG.user);
  const [uid, gid] = ugidOf(CFG.user);
  const dir = path.join(home, `tre-bench-${process.pid}`);
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chownSync(dir, uid, gid);
  const own = (file, text, mode) => {
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    fs.chownSync(file, uid, gid);
    return file;
  };
  const sub = (name) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { mode: 0o700 });
    fs.chownSync(d, uid, gid);
    return d;
  };
  // The user's own copy of the token, as they would keep it (~/.registry-token, 0600).
  const token = own(path.join(dir, 'token'), `${stack.token}\n`, 0o600);
  // image and more (extra top-level lines, e.g. 'service: jupyter') for other specs than the probe's.
  const spec = (name, extraEnv = [], runtime = 'podman', { image = stack.image, more = [] } = {}) =>
    own(
      path.join(dir, `${name}.yaml`),
      [
        '# written by bench/run.js',
        `image: ${image}`,
        `runtime: ${runtime}`,
        'registry:',
        `  username: ${stack.registryUser}`,
        'time: "00:10:00"',
        ...more,
        ...(extraEnv.length ? ['env:', ...extraEnv.map((e) => `  - ${JSON.stringify(e)}`)] : []),
        '',
      ].join('\n'),
      0o644,
    );
  // tre-job's indexes of job directories (~/.tre-job/jobs, credentials): removed at the end if
  // the bench's jobs made them and they are empty again.
  const indexes = ['jobs', 'credentials'].map((i) => path.join(home, '.tre-job', i));
  const newIndexes = indexes.filter((d) => !fs.existsSync(d));
  WS = { dir, home, uid, gid, token, own, sub, spec, stack, indexes, newIndexes };
  return WS;
}

/** The start of every hand-written script: directives and the names of the job's two directories. */
function handHead(outputLine, jobName = 'probe-hand') {
  return `#!/bin/bash
#SBATCH --job-name=${jobName}
#SBATCH --time=00:10:00
${outputLine ? `#SBATCH --output=${outputLine}\n` : ''}set -euo pipefail
n=$SLURM_JOB_ID
out=$HOME/outputs-hand-$n
scratch=$HOME/scratch-hand-$n
`;
}

/** A hand-written Apptainer pull of IMAGE to "$sif": the token in the pull's environment only, no cache. */
function handPull(image) {
  return `APPTAINER_DOCKER_USERNAME=${shq(WS.stack.registryUser)} APPTAINER_DOCKER_PASSWORD=$(<${shq(WS.token)}) \\
  apptainer -s pull --force --disable-cache --no-https "$sif" ${shq(`docker://${image}`)}`;
}

/**
 * The hand-written baseline: what a user writes without tre-job. Same podman login (token on
 * stdin, temporary authfile), pull and `podman run --rm` with the same flags and the same two
 * mounts ($HOME/outputs-*, $HOME/scratch-*), scratch removed by an EXIT trap. For Apptainer: the
 * same pull (token in the pull's environment, no cache, to a SIF in the home) and `apptainer run`
 * with the same isolation flags and binds.
 */
function handScript(outputLine, runtime = 'podman') {
  const s = WS.stack;
  const head = handHead(outputLine);
  if (runtime === 'apptainer') {
    return `${head}sif=$HOME/probe-hand.sif
mkdir "$out" "$scratch"
trap 'rm -rf "$scratch"' EXIT
${handPull(s.image)}
apptainer run --no-eval --cleanenv --contain --net --network none \\
  --bind "$out:/safe_outputs" --bind "$scratch:/scratch" "$sif"
`;
  }
  return `${head}auth=${WS.dir}/auth-$n.json
mkdir "$out" "$scratch"
trap 'rm -rf "$scratch" "$auth"' EXIT
podman login --authfile "$auth" --username ${shq(s.registryUser)} --password-stdin --tls-verify=false ${shq(s.registry)} <${shq(WS.token)} >/dev/null
podman pull --quiet --authfile "$auth" --tls-verify=false ${shq(s.image)} >/dev/null
podman run --rm --init --pull=never --network=none --group-add keep-groups --name "probe-hand-$n" \\
  --volume "$out:/safe_outputs" --volume "$scratch:/scratch" ${shq(s.image)}
`;
}

/**
 * The hand-written Jupyter job (phase 9): what tre-job's Apptainer service script does, by hand.
 * Pulls to $HOME/jupyter-hand.sif unless it is there, picks a free port, makes a token, and runs
 * the image with `--cleanenv`, the same environment (APPTAINERENV_*: token, port, base URL) and
 * binds, the port as its first argument. The log says where it is; the token goes to a 0600 file.
 */
function handJupyterScript(outputLine) {
  return `${handHead(outputLine, 'jupyter-hand')}sif=$HOME/jupyter-hand.sif
mkdir "$out" "$scratch"
trap 'rm -rf "$scratch"' EXIT
if [[ -s $sif ]]; then
  echo "hand: reusing $sif"
else
  echo "hand: pulling to $sif"
  ${handPull(WS.stack.jupyterImage).replace(/\n/g, '\n  ')}
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

/** `tre-job submit --json` as the bench user (token on stdin, like the README). */
function submitAs(spec) {
  const r = mustRun(
    'tre-job submit',
    runAs(CFG.user, `node ${shq(BIN)} submit ${shq(spec)} --site ${shq(WS.stack.site)} --token-stdin --json < ${shq(WS.token)}`),
  );
  const sub = JSON.parse(r.stdout);
  createdJobDirs.push(sub.jobDir);
  allJobIds.push(sub.jobId);
  return sub;
}

function readLog(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** $HOME/outputs-N and scratch-N of a tre-job job, from its log. */
function dirsFromLog(log) {
  return {
    outputs: /Outputs: (\S+\/outputs-[0-9]+) /.exec(log)?.[1] ?? '',
    scratch: /Scratch: (\S+\/scratch-[0-9]+) /.exec(log)?.[1] ?? '',
  };
}

/** Names of the bench user's podman containers (running or not). */
function podmanNames() {
  const r = runAs(CFG.user, `podman ps -a --format '{{.Names}}'`, { timeoutMs: 60000 });
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

// ---------------------------------------------------------------- phase 1: render cold start

function phase1(results) {
  note(`phase 1: render cold start vs node -e 0, ${CFG.trials} interleaved trials (plus what each start-up step saves)`);
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
  ];
  let t;
  try {
    t = timeInterleaved({ user: null, cwd: ROOT, cmds, trials: CFG.trials });
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
  const inproc = [[], [], []];
  for (let k = 0; k < Math.max(5, Math.min(CFG.trials, 15)); k++) {
    const r = mustRun('in-process render timing', run('node', ['-e', probe], { cwd: ROOT, env: CLEAN_ENV }));
    r.stdout.trim().split(' ').map(Number).forEach((v, j) => inproc[j].push(v));
  }
  const breakdown = cmds.slice(1).map((c) => ({ what: c.name, ms: median(t[c.name]), extra: median(t[c.name]) - base }));
  breakdown.push(
    { what: 'in process: load dist/tre-job.js through the code cache', ms: median(inproc[0]), extra: median(inproc[0]) },
    { what: 'in process: first render (commander, YAML, zod, Handlebars, all cold)', ms: median(inproc[1]), extra: median(inproc[1]) },
    { what: 'in process: second render (warm)', ms: median(inproc[2]), extra: median(inproc[2]) },
  );
  results.breakdown = { base, rows: breakdown };
}

// ---------------------------------------------------------------- phase 2: submit

function phase2(results) {
  note(`phase 2: tre-job submit vs sh -c 'node -e 0 && sbatch --parsable job.sh', ${CFG.trials} interleaved trials as ${CFG.user}`);
  const spec = WS.spec('submit');
  const pre = path.join(WS.dir, 'prerendered');
  mustRun(
    'tre-job render --job-dir',
    runAs(CFG.user, `node ${shq(BIN)} render ${shq(spec)} --site ${shq(WS.stack.site)} --job-dir ${shq(pre)} --token-stdin < ${shq(WS.token)}`),
  );
  const outs = WS.sub('submit-out');
  // A job may start before its scancel arrives and create an outputs-N: each job logs to its
  // own file (sbatch's SBATCH_OUTPUT overrides the script's --output) so that it can be found.
  // Each submitted job is cancelled at once (untimed), so that the queue stays as it was.
  const cancelA = `id=$(sed -n 's/.*"jobId":"\\([0-9]*\\)".*/\\1/p' ${shq(outs)}/A.$i); [[ -n $id ]] && scancel "$id"; echo "$id" >> ${shq(outs)}/ids`;
  const cancelB = `id=$(cut -d';' -f1 ${shq(outs)}/B.$i); [[ -n $id ]] && scancel "$id"; echo "$id" >> ${shq(outs)}/ids`;
  const cmds = [
    {
      name: 'A',
      cmd: `node ${shq(BIN)} submit ${shq(spec)} --site ${shq(WS.stack.site)} --token-stdin --json < ${shq(WS.token)} > ${shq(outs)}/A.$i`,
      after: cancelA,
    },
    { name: 'B', cmd: `sh -c 'node -e 0 && sbatch --parsable job.sh' > ${shq(outs)}/B.$i`, after: cancelB },
  ];
  sampleOthers();
  const before = new Set(fs.readdirSync(WS.home));
  let t;
  try {
    t = timeInterleaved({ user: CFG.user, cwd: pre, cmds, trials: CFG.trials, prelude: `export SBATCH_OUTPUT=${shq(outs)}/job-%j.log` });
  } finally {
    const ids = readLog(path.join(outs, 'ids')).split('\n').filter((s) => /^\d+$/.test(s));
    allJobIds.push(...ids);
    for (const f of fs.readdirSync(outs).filter((f) => /^A\./.test(f))) {
      try {
        createdJobDirs.push(JSON.parse(fs.readFileSync(path.join(outs, f), 'utf8')).jobDir);
      } catch {
        // an empty file: that submit failed (reported by the driver)
      }
    }
    waitEnded(ids, 120000);
    const started = fs.readdirSync(outs).filter((f) => /^job-\d+\.log$/.test(f) && fs.statSync(path.join(outs, f)).size > 0);
    results.submitStarted = `${started.length} of ${ids.length}`;
    results.submitLeaks = leakedScratch(before);
  }
  sampleOthers();
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
function leakedScratch(before) {
  const deadline = nowMs() + 60000;
  for (;;) {
    const mine = new Set(allJobIds.map(String));
    const r = run('squeue', ['-h', '-u', CFG.user, '-o', '%i']);
    const others = r.stdout.split('\n').filter((id) => id && !mine.has(id));
    if (others.length === 0) break;
    if (nowMs() > deadline) return { count: NaN, note: `not counted: jobs ${others.join(' ')} of ${CFG.user} kept running` };
    sleep(500);
  }
  const fresh = fs.readdirSync(WS.home).filter((n) => !before.has(n));
  const leaked = fresh.filter((n) => /^scratch-\d+$/.test(n));
  for (const n of leaked) {
    fs.rmSync(path.join(WS.home, n), { recursive: true, force: true });
    fs.rmSync(path.join(WS.home, n.replace('scratch-', 'outputs-')), { recursive: true, force: true });
  }
  // Empty outputs-N of jobs cancelled before they logged them (outputs are kept by design).
  for (const n of fresh.filter((n) => /^outputs-\d+$/.test(n))) {
    try {
      fs.rmdirSync(path.join(WS.home, n));
    } catch {
      // not empty, or gone
    }
  }
  return { count: leaked.length, note: leaked.join(' ') };
}

// ---------------------------------------------------------------- phase 3: job-side overhead

function wrapper(dir, script) {
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

function runWrapped(dir, script) {
  fs.writeFileSync(path.join(dir, 'wrap.sh'), wrapper(dir, script), { mode: 0o755 });
  fs.chownSync(path.join(dir, 'wrap.sh'), WS.uid, WS.gid);
  const id = mustRun('sbatch wrapper', runAs(CFG.user, `cd ${shq(dir)} && sbatch --parsable wrap.sh`)).stdout.trim().split(';')[0];
  allJobIds.push(id);
  waitEnded([id], 180000, 50);
  const times = readLog(path.join(dir, 'times')).trim().split(' ');
  if (times.length !== 3) throw new Error(`job ${id} left no times; log:\n${readLog(path.join(dir, 'wrap.log')).slice(-2000)}`);
  if (times[2] !== '0') throw new Error(`job ${id} exited ${times[2]}; log:\n${readLog(path.join(dir, 'wrap.log')).slice(-2000)}`);
  return { id, ms: (usOf(times[1]) - usOf(times[0])) / 1000, log: readLog(path.join(dir, 'wrap.log')) };
}

function phase3(results, runtime = 'podman') {
  const number = runtime === 'podman' ? 3 : 7;
  note(`phase ${number}: job-side wall time (${runtime}), tre-job script vs hand-written, ${CFG.jobTrials} interleaved pairs of real jobs as ${CFG.user}`);
  const spec = WS.spec(`job-${runtime}`, [], runtime);
  const base = WS.sub(`job-side-${runtime}`);
  const hand = WS.own(path.join(base, 'hand.sh'), handScript('', runtime), 0o755);
  if (runtime === 'apptainer') {
    treJobSif(WS.stack.image);
    willCreate(path.join(WS.home, 'probe-hand.sif'), true);
  }
  const A = [];
  const B = [];
  for (let i = -1; i < CFG.jobTrials; i++) {
    const order = i % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const side of order) {
      sampleOthers();
      if (side === 'A') {
        // The job dir and credentials come from tre-job itself.
        const dir = path.join(base, `A${i}`);
        mustRun(
          'tre-job render --job-dir',
          runAs(CFG.user, `node ${shq(BIN)} render ${shq(spec)} --site ${shq(WS.stack.site)} --job-dir ${shq(dir)} --token-stdin < ${shq(WS.token)}`),
        );
        const r = runWrapped(dir, path.join(dir, 'job.sh'));
        const { outputs, scratch } = dirsFromLog(r.log);
        if (!outputs || fs.existsSync(scratch)) throw new Error(`tre-job job ${r.id}: no outputs or scratch left behind:\n${r.log}`);
        fs.rmSync(outputs, { recursive: true, force: true });
        if (i >= 0) A.push(r.ms);
      } else {
        const dir = WS.sub(`job-side-${runtime}/B${i}`);
        const r = runWrapped(dir, hand);
        fs.rmSync(path.join(WS.home, `outputs-hand-${r.id}`), { recursive: true, force: true });
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
  const diffs = A.map((x, k) => x - B[k]);
  results.jobSide = { ...(results.jobSide ?? {}), [runtime]: { aP95: pct(A, 95), bP95: pct(B, 95), pairedMedianDiff: median(diffs) } };
}

// ---------------------------------------------------------------- phase 4: clean-up latency after scancel

/** Every process: { pid, ppid, uid, cmd } (pid, ppid and uid as strings; cmd with spaces for NULs). */
function processTable() {
  const procs = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = /^PPid:\s+(\d+)/m.exec(status)?.[1];
      const puid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      procs.push({ pid: entry, ppid, uid: puid, cmd });
    } catch {
      // ended while we looked
    }
  }
  return procs;
}

/** The processes of `procs` that `seed` picks, and all their descendants. */
function withDescendants(procs, seed) {
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

/** The user's processes whose command line names the container (conmon, `podman run`), and their descendants. */
function containerProcs(uid, name) {
  return withDescendants(processTable(), (p) => p.uid === String(uid) && p.cmd.includes(name));
}

/**
 * An Apptainer container's processes: those of the job (`scontrol listpids`) whose command line
 * names Apptainer or the SIF (the starter, "Apptainer runtime parent: NAME.sif", and squashfuse_ll
 * when the SIF is mounted with FUSE), and their descendants (what runs in the container).
 */
function apptainerProcs(uid, jobId, sif) {
  const inJob = new Set(
    run('scontrol', ['listpids', String(jobId)])
      .stdout.split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((p) => /^\d+$/.test(p)),
  );
  const names = apptainerNamer(sif);
  return withDescendants(processTable(), (p) => inJob.has(p.pid) && p.uid === String(uid) && names(p.cmd));
}

/** Whether a command line names Apptainer or the SIF (the starter shows only the SIF's base name). */
function apptainerNamer(sif) {
  const base = sif ? path.basename(sif) : '';
  return (cmd) => /apptainer/i.test(cmd) || (base !== '' && cmd.includes(base));
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

/** Poll `test` every 20 ms for up to `ms`; true as soon as it holds. */
function within(ms, test) {
  const deadline = nowMs() + ms;
  for (;;) {
    if (test()) return true;
    if (nowMs() > deadline) return false;
    sleep(20);
  }
}

/**
 * What the clean-up phases look for, per runtime: the container's processes, the log line that
 * says the container was stopped, and what must be left of it once the job has ended.
 */
const CANCEL = {
  podman: {
    number: 4,
    stoppedText: 'Removed container',
    procs: (sub) => containerProcs(WS.uid, `probe-${sub.jobId}`),
    stopped: (log, sub) => log.includes(`Removed container probe-${sub.jobId}`),
    leftAfterJob: () => [], // checked once at the end: podman ps -a
    leftAtEnd: () => {
      const left = podmanNames().filter((n) => /^probe-\d+$/.test(n) && allJobIds.includes(n.slice(6)));
      return left.length ? [`containers left: ${left.join(' ')}`] : [];
    },
    allClear: 'Every cancelled job logged "Removed container"; no container left in `podman ps -a`.',
  },
  apptainer: {
    number: 8,
    stoppedText: 'Stopped the container',
    procs: (sub, sif) => apptainerProcs(WS.uid, sub.jobId, sif),
    stopped: (log) => /Stopped the container \(apptainer process \d+\)/.test(log),
    leftAfterJob: (sub, sif) => {
      const found = [];
      const names = apptainerNamer(sif);
      const procs = () => processTable().filter((p) => p.uid === String(WS.uid) && names(p.cmd));
      if (!within(5000, () => procs().length === 0)) found.push(`processes left 5 s after the job ended: ${procs().map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
      const tmp = path.join(WS.home, '.tre-job', 'tmp', String(sub.jobId));
      if (fs.existsSync(tmp)) found.push(`${tmp} left`);
      return found;
    },
    leftAtEnd: () => [],
    allClear:
      'Every cancelled job logged "Stopped the container"; once each job had ended, no process of the user named its SIF or Apptainer, and its `~/.tre-job/tmp/JOBID` was gone.',
  },
};

function phase4(results, runtime = 'podman') {
  const rt = CANCEL[runtime];
  const tag = `phase ${rt.number}`;
  note(`${tag}: clean-up latency after scancel (${runtime}), ${CFG.cancelTrials} trials as ${CFG.user}`);
  const spec = WS.spec(runtime === 'podman' ? 'cancel' : `cancel-${runtime}`, ['PROBE_SLEEP=600'], runtime);
  // The SIF an Apptainer job runs: $HOME/NAME:TAG.sif (its starter's command line names it).
  const sif = runtime === 'apptainer' ? treJobSif(WS.stack.image) : '';
  const scratchMs = [];
  const containerMs = [];
  const scancelMs = [];
  const endedMs = [];
  const problems = [];
  const notes = [];
  let busErrors = 0;
  for (let i = 0; i < CFG.cancelTrials; i++) {
    sampleOthers();
    const sub = submitAs(spec);
    const problem = (what) => problems.push(`job ${sub.jobId}: ${what}`);
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
    let procs = [];
    within(2000, () => (procs = rt.procs(sub, sif)).some((p) => /^sleep /.test(p.cmd)));
    const pids = procs.map((p) => p.pid);
    if (i === 0) notes.push(`the first job's container processes: ${procs.map((p) => p.cmd.slice(0, 40)).join(', ') || 'none'}`);
    if (pids.length === 0) problem('no container processes found');
    else if (!procs.some((p) => /^sleep /.test(p.cmd))) notes.push(`job ${sub.jobId}: the probe's sleep was not among its container processes (${procs.map((p) => p.cmd).join('; ')})`);
    const t0 = nowMs();
    const sc = run('scancel', [sub.jobId]);
    const t1 = nowMs();
    if (sc.status !== 0) throw new Error(`scancel ${sub.jobId}: ${sc.stderr}`);
    let scratchAt = null;
    let containerAt = null;
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
    for (const left of rt.leftAfterJob(sub, sif)) problem(left);
    if (problems.some((p) => p.startsWith(`job ${sub.jobId}:`))) {
      // Keep its job dir (log) for a look; its outputs and container go at the end.
      createdJobDirs.splice(createdJobDirs.indexOf(sub.jobDir), 1);
      keptOutputs.push(dirs.outputs);
      problem(`kept ${sub.outputLog}`);
    } else {
      fs.rmSync(dirs.outputs, { recursive: true, force: true });
    }
  }
  problems.push(...rt.leftAtEnd());
  // Slurm's SIGTERM reaches every process of the job, squashfuse_ll too: Apptainer's starter then
  // dies of SIGBUS, which bash logs (the container is stopped all the same).
  if (busErrors) notes.push(`${busErrors} of ${CFG.cancelTrials} logs show the runtime's process ending with "Bus error"`);
  const stats = (xs) => ({ median: median(xs), p95: pct(xs, 95), max: Math.max(...xs), n: xs.length });
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

// ---------------------------------------------------------------- phase 5: throughput

function throughputRound(side, n, spec, handDir) {
  const outs = WS.sub(`tp-${side}-${Math.random().toString(36).slice(2, 8)}`);
  const loop =
    side === 'A'
      ? `for ((i = 0; i < ${n}; i++)); do node ${shq(BIN)} submit ${shq(spec)} --site ${shq(WS.stack.site)} --token-stdin --json < ${shq(WS.token)} >> ${shq(outs)}/ids || exit 1; done; times`
      : `cd ${shq(handDir)} && for ((i = 0; i < ${n}; i++)); do sbatch --parsable hand.sh >> ${shq(outs)}/ids || exit 1; done; times`;
  const t0 = nowMs();
  const r = runAs(CFG.user, loop, { timeoutMs: 3600000 });
  const tSubmitted = nowMs();
  const lines = readLog(path.join(outs, 'ids')).split('\n').filter(Boolean);
  const subs = side === 'A' ? lines.map((l) => JSON.parse(l)) : lines.map((l) => ({ jobId: l.split(';')[0] }));
  for (const s of subs) {
    allJobIds.push(s.jobId);
    if (s.jobDir) createdJobDirs.push(s.jobDir);
  }
  mustRun(`${side} submissions`, r);
  // bash's `times`: the second line is the CPU time (user, sys) of the submitting commands.
  const cpu = (r.stdout.trim().split('\n')[1] || '').match(/(\d+)m([\d.]+)s/g) || [];
  const cpuMs = cpu.map((x) => /(\d+)m([\d.]+)s/.exec(x)).reduce((sum, m) => sum + (Number(m[1]) * 60 + Number(m[2])) * 1000, 0);
  const ids = subs.map((s) => s.jobId);
  let tEnd = tSubmitted;
  for (;;) {
    sampleOthers();
    const left = activeIds(ids);
    tEnd = nowMs();
    if (left.length === 0) break;
    if (tEnd - t0 > 3600000) throw new Error(`throughput: jobs still active after an hour`);
    sleep(100);
  }
  return { side, n, ms: tEnd - t0, submitMs: tSubmitted - t0, cpuMs, subs };
}

function phase5(results) {
  const half = Math.max(1, Math.floor(CFG.jobs / 2));
  const n = half * 2;
  note(`phase 5: throughput, ${n} jobs per side in rounds of ${half} (A B B A) as ${CFG.user}`);
  const spec = WS.spec('throughput');
  const handDir = WS.sub('tp-hand');
  WS.own(path.join(handDir, 'hand.sh'), handScript(`${handDir}/hand-%j.log`), 0o755);
  const rounds = [];
  for (const side of ['A', 'B', 'B', 'A']) {
    const r = throughputRound(side, half, spec, handDir);
    note(`phase 5: round ${side}: ${r.n} jobs in ${(r.ms / 1000).toFixed(1)} s (submitting took ${(r.submitMs / 1000).toFixed(1)} s)`);
    rounds.push(r);
  }
  const side = (s) => rounds.filter((r) => r.side === s);
  const perMin = (rs) => (rs.reduce((x, r) => x + r.n, 0) / rs.reduce((x, r) => x + r.ms, 0)) * 60000;
  const a = perMin(side('A'));
  const b = perMin(side('B'));
  // Leftovers, once every job has ended.
  const aSubs = side('A').flatMap((r) => r.subs);
  const bSubs = side('B').flatMap((r) => r.subs);
  const names = new Set(podmanNames());
  let aScratch = 0;
  let aContainers = 0;
  let bScratch = 0;
  let bContainers = 0;
  for (const s of aSubs) {
    const { outputs, scratch } = dirsFromLog(readLog(s.outputLog));
    if (scratch && fs.existsSync(scratch)) aScratch++;
    if (names.has(`probe-${s.jobId}`)) aContainers++;
    if (outputs) fs.rmSync(outputs, { recursive: true, force: true });
  }
  for (const s of bSubs) {
    if (fs.existsSync(path.join(WS.home, `scratch-hand-${s.jobId}`))) bScratch++;
    if (names.has(`probe-hand-${s.jobId}`)) bContainers++;
    fs.rmSync(path.join(WS.home, `outputs-hand-${s.jobId}`), { recursive: true, force: true });
  }
  const states = jobStates([...aSubs, ...bSubs].map((s) => s.jobId));
  const bad = (subs) => subs.filter((s) => (states.get(s.jobId)?.state ?? '?') !== 'COMPLETED');
  const notOk = (subs) => bad(subs).length;
  // Why: the last lines of each such job's log (tre-job's log ends with a summary).
  const failures = [...bad(aSubs), ...bad(bSubs)].map((s) => {
    const log = readLog(s.outputLog || path.join(handDir, `hand-${s.jobId}.log`)).trim().split('\n');
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
    aMs: side('A').reduce((x, r) => x + r.ms, 0),
    bMs: side('B').reduce((x, r) => x + r.ms, 0),
    aSubmitMs: side('A').reduce((x, r) => x + r.submitMs, 0),
    bSubmitMs: side('B').reduce((x, r) => x + r.submitMs, 0),
    aCpuMs: side('A').reduce((x, r) => x + r.cpuMs, 0),
    bCpuMs: side('B').reduce((x, r) => x + r.cpuMs, 0),
    leftovers: { aScratch, aContainers, bScratch, bContainers },
    notCompleted: { a: notOk(aSubs), b: notOk(bSubs) },
    failures,
  };
}

// ---------------------------------------------------------------- phase 6: render growth

function phase6(results) {
  note(`phase 6: render time for 1, 100 and 1000 env vars, args and mounts (in process, ${CFG.renderIters} renders each)`);
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
      for (let it = 0; it < ${CFG.renderIters}; it++) {
        for (const n of sizes) {
          const t0 = process.hrtime.bigint();
          renderCommand(file(n), {});
          out[n].ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }
      console.log(JSON.stringify(out));`;
    const r = mustRun('render growth', run('node', ['-e', script], { cwd: ROOT, env: CLEAN_ENV }));
    const out = JSON.parse(r.stdout);
    results.growth = sizes.map((n) => ({ n, items: 3 * n, ms: median(out[n].ms), bytes: out[n].bytes }));
    // CLI, cold, for the biggest spec (what a user waits for).
    const cli = timeInterleaved({
      user: null,
      cwd: ROOT,
      trials: Math.max(3, Math.min(10, CFG.trials)),
      cmds: sizes.map((n) => ({ name: String(n), cmd: `node bin/tre-job render ${shq(path.join(dir, `spec-${n}.yaml`))} >/dev/null` })),
    });
    for (const g of results.growth) g.cliMs = median(cli[String(g.n)]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- phase 9: Jupyter time to answer (Apptainer)

/** Where a Jupyter job serves, from its log: tre-job's "Starting the jupyter service on port P" (the last try), or the hand script's line. */
function jupyterUrl(log, side) {
  let host;
  let port;
  if (side === 'A') {
    host = /Job \d+ started on (\S+) as /.exec(log)?.[1];
    port = [...log.matchAll(/Starting the jupyter service on port (\d+)/g)].pop()?.[1];
  } else {
    [, host, port] = /^hand: Jupyter on (\S+) port (\d+) /m.exec(log) ?? [];
  }
  return host && port ? `http://127.0.0.1:${port}/node/${host}/${port}/tree` : null;
}

/**
 * One Jupyter job, submitted as the bench user: the time (ms) from just before the submission
 * until its URL answers HTTP 302 or 200 (polled every 50 ms, as soon as the log says the port);
 * for tre-job also until connection.yml exists. Then it is cancelled and waited for.
 */
function jupyterTrial(side, { spec, handDir, warm, sifA, sifB, problems }) {
  if (!warm) fs.rmSync(side === 'A' ? sifA : sifB, { force: true });
  const t0 = nowMs();
  let id;
  let logFile;
  let jobDir = '';
  if (side === 'A') {
    const sub = submitAs(spec);
    ({ jobId: id, outputLog: logFile, jobDir } = sub);
  } else {
    id = mustRun('sbatch jupyter-hand.sh', runAs(CFG.user, `cd ${shq(handDir)} && sbatch --parsable jupyter-hand.sh`)).stdout.trim().split(';')[0];
    allJobIds.push(id);
    logFile = path.join(handDir, `hand-${id}.log`);
  }
  const problem = (what) => problems.push(`job ${id} (${side === 'A' ? 'tre-job' : 'hand-written'}, ${warm ? 'warm' : 'cold'}): ${what}`);
  let answered = null;
  let code = '';
  for (let k = 0; answered === null; k++) {
    const url = jupyterUrl(readLog(logFile), side);
    if (url) {
      code = run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', url]).stdout.trim();
      if (code === '302' || code === '200') answered = nowMs() - t0;
    }
    if (answered !== null) break;
    if (k % 20 === 19) {
      sampleOthers();
      if (activeIds([id]).length === 0) throw new Error(`job ${id} ended before Jupyter answered (last HTTP code ${code || 'none'}); log:\n${readLog(logFile).slice(-3000)}`);
    }
    if (nowMs() - t0 > 600000) throw new Error(`job ${id}: Jupyter did not answer within 600 s (last HTTP code ${code || 'none'}); log:\n${readLog(logFile).slice(-3000)}`);
    sleep(50);
  }
  let connection = null;
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
  const { outputs, scratch } = side === 'A' ? dirsFromLog(log) : { outputs: path.join(WS.home, `outputs-hand-${id}`), scratch: path.join(WS.home, `scratch-hand-${id}`) };
  if (scratch && fs.existsSync(scratch)) problem(`${scratch} left (removed by the bench)`);
  for (const d of [outputs, scratch]) if (d) fs.rmSync(d, { recursive: true, force: true });
  if (side === 'A' && fs.existsSync(path.join(WS.home, '.tre-job', 'tmp', String(id)))) problem(`~/.tre-job/tmp/${id} left`);
  const jupyters = () => processTable().filter((p) => p.uid === String(WS.uid) && /jupyter/.test(p.cmd));
  if (!within(10000, () => jupyters().length === 0)) problem(`Jupyter processes left 10 s after the job ended: ${jupyters().map((p) => p.pid).join(' ')}`);
  return { ms: answered, connectionMs: connection };
}

function phase9(results) {
  const n = CFG.serviceTrials;
  note(`phase 9: Jupyter (Apptainer) time from submit to HTTP answer, tre-job vs hand-written, ${n} interleaved pairs cold (no SIF) then warm (SIF reused) as ${CFG.user}`);
  const image = WS.stack.jupyterImage;
  const env = ['TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/'];
  const more = ['service: jupyter', 'safeData: none'];
  const specs = {
    cold: WS.spec('jupyter-cold', env, 'apptainer', { image, more }),
    warm: WS.spec('jupyter-warm', env, 'apptainer', { image, more: [...more, 'reuseSif: true'] }),
  };
  const handDir = WS.sub('jupyter-hand');
  WS.own(path.join(handDir, 'jupyter-hand.sh'), handJupyterScript(`${handDir}/hand-%j.log`), 0o755);
  const sifA = treJobSif(image);
  const sifB = path.join(WS.home, 'jupyter-hand.sif');
  willCreate(sifB, true);
  // What Jupyter writes in the home it is given (both sides): removed at the end if new.
  for (const d of ['.ipython', '.jupyter', '.local/share/jupyter']) willCreate(path.join(WS.home, d));
  const problems = [];
  results.service = { problems, cases: {} };
  // Cold first: its last pair leaves both SIFs for the warm case. The warm case starts with an
  // untimed pair (caches warm); the cold one does not (a pull takes most of a minute).
  for (const warm of [false, true]) {
    const kase = warm ? 'warm' : 'cold';
    const A = [];
    const B = [];
    const conn = [];
    for (let i = warm ? -1 : 0; i < n; i++) {
      for (const side of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        const r = jupyterTrial(side, { spec: specs[kase], handDir, warm, sifA, sifB, problems });
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
    results.service.cases[kase] = { n: A.length, aP95: pct(A, 95), bP95: pct(B, 95), connectionAfter: median(conn) };
  }
  for (const p of problems) note(`phase 9: ${p}`);
}

// ---------------------------------------------------------------- phase 10: Apptainer start, FUSE vs unpacked

function phase10(results) {
  note(`phase 10: apptainer exec SIF true as ${CFG.user}, SIF mounted with FUSE vs unpacked (APPTAINER_UNSQUASH=1), ${CFG.trials} interleaved trials`);
  if (runAs(CFG.user, 'test -r /dev/fuse -a -w /dev/fuse').status !== 0) throw new Error(`phase 10 needs /dev/fuse usable by ${CFG.user} (the FUSE side)`);
  const dir = WS.sub('start');
  // The job's own settings: its APPTAINER_TMPDIR (where an unpacked image goes), the probe's SIF
  // in the home, the batch isolation flags. The job sets APPTAINER_UNSQUASH=1 where FUSE is unusable.
  const tmp = WS.sub('start/apptainer-tmp');
  const sif = path.join(dir, 'probe.sif');
  mustRun('apptainer pull', runAs(CFG.user, `sif=${shq(sif)}; ${handPull(WS.stack.image)}`));
  const exec = `apptainer exec --no-eval --cleanenv --contain --net --network none ${shq(sif)} true`;
  const prelude = `export APPTAINER_TMPDIR=${shq(tmp)}`;
  // Each side must do what it says: only the unpacked one converts the SIF to a sandbox.
  const check = mustRun('apptainer exec', runAs(CFG.user, `${prelude}; ${exec} 2>&1 && echo '-- unpacked:' && APPTAINER_UNSQUASH=1 ${exec} 2>&1`)).stdout;
  const [fuseSaid, unpackedSaid = ''] = check.split('-- unpacked:');
  const converting = /Converting SIF file to temporary sandbox/;
  if (converting.test(fuseSaid) || !converting.test(unpackedSaid)) throw new Error(`apptainer did not mount with FUSE and unpack as asked:\n${check.slice(0, 2000)}`);
  let t;
  try {
    t = timeInterleaved({
      user: CFG.user,
      cwd: dir,
      trials: CFG.trials,
      prelude,
      cmds: [
        { name: 'fuse', cmd: `${exec} 2>/dev/null` },
        { name: 'unpacked', cmd: `APPTAINER_UNSQUASH=1 ${exec} 2>/dev/null` },
      ],
    });
  } finally {
    const left = fs.readdirSync(tmp);
    if (left.length) note(`phase 10: apptainer left ${left.join(' ')} in its APPTAINER_TMPDIR (removed)`);
    results.start = { sifBytes: fs.statSync(sif).size, tmpLeft: left.length };
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const a = median(t.unpacked);
  const b = median(t.fuse);
  results.rows.push({ what: '10. `apptainer exec SIF true`, unpacked (APPTAINER_UNSQUASH) vs FUSE', a, b, ratio: a / b, target: 'informational', ok: null });
  Object.assign(results.start, { aP95: pct(t.unpacked, 95), bP95: pct(t.fuse, 95) });
}

// ---------------------------------------------------------------- report

function killWaitMs() {
  const v = /^KillWait\s*=\s*(\d+)/m.exec(run('scontrol', ['show', 'config']).stdout)?.[1];
  return v ? Number(v) * 1000 : NaN;
}

function machine() {
  const one = (cmd, args) => run(cmd, args).stdout.trim().split('\n')[0] || 'n/a';
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
    ['Apptainer', `${one('runuser', ['-l', CFG.user, '-c', 'apptainer --version'])}, /dev/fuse ${fuseMode()}`],
    ['bash', one('bash', ['-c', 'echo $BASH_VERSION'])],
  ];
}

/** /dev/fuse's mode (0666 here: users may mount a SIF with FUSE), or 'absent'. */
function fuseMode() {
  try {
    return `0${(fs.statSync('/dev/fuse').mode & 0o777).toString(8)}`;
  } catch {
    return 'absent';
  }
}

function report(results, elapsedMs) {
  const out = [];
  const p = (s = '') => out.push(s);
  p('');
  p('## tre-job benchmark');
  p('');
  p('| Machine | |');
  p('|---|---|');
  for (const [k, v] of machine()) p(`| ${k} | ${v} |`);
  p('');
  p(`Settings: BENCH_USER=${CFG.user} BENCH_TRIALS=${CFG.trials} BENCH_JOB_TRIALS=${CFG.jobTrials} BENCH_CANCEL_TRIALS=${CFG.cancelTrials} BENCH_SERVICE_TRIALS=${CFG.serviceTrials} BENCH_JOBS=${CFG.jobs} BENCH_RENDER_ITERS=${CFG.renderIters} BENCH_PHASES=${[...CFG.phases].join(',')}`);
  p('');
  if (results.rows.length) {
    p('| Measurement (median) | tre-job | baseline | ratio | extra | target | |');
    p('|---|---:|---:|---:|---:|---|---|');
    // By phase number (10 after 9), then by name.
    for (const r of results.rows.sort((x, y) => parseInt(x.what, 10) - parseInt(y.what, 10) || x.what.localeCompare(y.what))) {
      const v = (x) => (r.unit ? `${x.toFixed(1)} ${r.unit}` : fmt(x));
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
    p(`Apptainer start p95: unpacked ${fmt(st.aP95)}, FUSE ${fmt(st.bP95)} (the probe's SIF, ${(st.sifBytes / 2 ** 20).toFixed(1)} MiB; an unpacked start's time grows with the image).${st.tmpLeft ? ` Apptainer left ${st.tmpLeft} entries in its APPTAINER_TMPDIR.` : ''}`);
  }
  if (results.submitRaw || results.jobSide || results.service || results.start) p('');
  for (const [runtime, c] of Object.entries(results.cancel ?? {})) {
    const line = (what, s, targetMs, target) => {
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
    const sec = (ms) => `${(ms / 1000).toFixed(1)} s`;
    p(`5. Throughput: ${t.n} jobs per side; tre-job ${sec(t.aMs)} (submitting ${sec(t.aSubmitMs)}, ${sec(t.aCpuMs)} of CPU), hand-written ${sec(t.bMs)} (submitting ${sec(t.bSubmitMs)}, ${sec(t.bCpuMs)} of CPU).`);
    p(`The submissions ran on the same ${os.cpus().length} CPUs as the jobs: tre-job's used ${((t.aCpuMs / (t.aMs * os.cpus().length)) * 100).toFixed(0)}% of the CPU time available while its jobs ran, sbatch's ${((t.bCpuMs / (t.bMs * os.cpus().length)) * 100).toFixed(0)}%.`);
    p(`Leftovers after all jobs ended: tre-job ${l.aScratch} scratch dirs, ${l.aContainers} containers; hand-written ${l.bScratch} scratch dirs, ${l.bContainers} containers (target 0). Jobs not COMPLETED: tre-job ${t.notCompleted.a}, hand-written ${t.notCompleted.b}.`);
    for (const f of t.failures) p(`- ${f}`);
    p('');
  }
  if (results.growth) {
    const g = results.growth;
    const base = g[g.length - 1];
    const first = g[0];
    const marginal = (r) => (r.ms - first.ms) / (r.items - first.items);
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

// ---------------------------------------------------------------- clean-up and main

function cleanUp() {
  const active = allJobIds.length ? activeIds(allJobIds) : [];
  if (active.length) {
    run('scancel', active);
    try {
      waitEnded(active, 60000);
    } catch (err) {
      note(String(err.message));
    }
  }
  // Containers of the bench's jobs that outlived them (already reported): remove them.
  if (WS && allJobIds.length) {
    const mine = new Set(allJobIds.map(String));
    const left = podmanNames().filter((n) => mine.has(n.replace(/^probe-(hand-)?/, '')));
    if (left.length) {
      note(`clean-up: removing containers the bench's jobs left: ${left.join(' ')}`);
      runAs(CFG.user, `podman rm --force --time 0 ${left.map(shq).join(' ')}`, { timeoutMs: 120000 });
    }
  }
  for (const d of keptOutputs) fs.rmSync(d, { recursive: true, force: true });
  for (const d of createdJobDirs) {
    if (!d) continue;
    const { outputs } = dirsFromLog(readLog(path.join(d, 'output.log')));
    if (outputs) fs.rmSync(outputs, { recursive: true, force: true });
    fs.rmSync(d, { recursive: true, force: true });
    // Its entries in tre-job's indexes (a file named after the directory's path, '/' as '%').
    if (WS) for (const index of WS.indexes) fs.rmSync(path.join(index, path.resolve(d).replace(/\//g, '%')), { force: true });
  }
  if (WS) {
    // outputs-N named in any log under the bench dir (a phase that failed half-way), and the
    // hand-written jobs' outputs-hand-JOBID.
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (/\.log$/.test(e.name)) {
          const { outputs } = dirsFromLog(readLog(full));
          if (outputs && path.dirname(outputs) === WS.home) fs.rmSync(outputs, { recursive: true, force: true });
        }
      }
    };
    try {
      walk(WS.dir);
    } catch (err) {
      note(`clean-up: ${err.message}`);
    }
    for (const name of fs.readdirSync(WS.home)) {
      const id = /^(?:outputs|scratch)-hand-(\d+)$/.exec(name)?.[1];
      if (id && allJobIds.includes(id)) fs.rmSync(path.join(WS.home, name), { recursive: true, force: true });
    }
    // Apptainer's per-job temporary dirs (each job removes its own: reported by phase 8), the SIFs
    // the bench's jobs pulled, their locks, and what Jupyter wrote in the home (phase 9).
    for (const id of allJobIds) fs.rmSync(path.join(WS.home, '.tre-job', 'tmp', String(id)), { recursive: true, force: true });
    for (const p of createdPaths) fs.rmSync(p, { recursive: true, force: true });
    for (const d of WS.newIndexes) {
      try {
        fs.rmdirSync(d);
      } catch {
        // not empty (another job of the user's is listed), or not there
      }
    }
    if (process.env.BENCH_KEEP) note(`BENCH_KEEP: kept ${WS.dir}`);
    else fs.rmSync(WS.dir, { recursive: true, force: true });
  }
}

function main() {
  const t0 = Date.now();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) fail('dist/ is not built: run `npm run build` first');
  const results = { rows: [] };
  let stack = null;
  if (STACK_PHASES.length) {
    stack = checkStack();
    if (stack.reason) {
      fail(
        `the e2e stack is not ready: ${stack.reason}; ${SETUP_HINT}. ` +
          `(Phases ${STACK_PHASES.join(',')} need it; BENCH_PHASES=1,6 runs only the local ones.)`,
      );
    }
    workspace(stack);
  }
  let failed = null;
  const onSignal = (sig) => {
    note(`${sig}: cleaning up`);
    cleanUp();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const phases = {
      1: phase1,
      2: phase2,
      3: phase3,
      4: phase4,
      5: phase5,
      6: phase6,
      7: (r) => phase3(r, 'apptainer'),
      8: (r) => phase4(r, 'apptainer'),
      9: phase9,
      10: phase10,
    };
    for (const phase of Object.keys(phases).map(Number)) {
      if (!CFG.phases.has(phase)) continue;
      const s = Date.now();
      phases[phase](results);
      note(`phase ${phase} (${PHASE_NAMES[phase]}) took ${((Date.now() - s) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    failed = err;
  } finally {
    cleanUp();
  }
  report(results, Date.now() - t0);
  if (failed) fail(`a phase failed, the table above is incomplete: ${failed.stack || failed}`);
}

main();
