#!/usr/bin/env node
// Build step (after tsc and precompile-templates): bundle src/main.ts and its dependencies into
// dist/tre-job.js, run it in process on example jobs, and save V8's code cache for what ran as
// dist/tre-job.cache. bin/tre-job starts from both. Why: a cold `tre-job render` spent most of
// its time loading and compiling ~150 module files (docs/benchmarks.md has the numbers).
'use strict';
const { randomBytes } = require('node:crypto');
const { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { delimiter, join } = require('node:path');
const esbuild = require('esbuild');
const { BUILD_ID_LINE, BUNDLE, CACHE, loadBundle } = require('../bin/tre-job');

const root = join(__dirname, '..');

// commander loads node:child_process (and with it node:net) at start-up, only for executable
// sub-commands, which tre-job does not use. Load it on first use instead.
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(build) {
    build.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]commander[\\/]/.test(args.importer) ? { path: 'lazy-child-process', namespace: 'tre-job' } : undefined,
    );
    build.onLoad({ filter: /^lazy-child-process$/, namespace: 'tre-job' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_, name) => require('node:child_process')[name] });",
      loader: 'js',
    }));
  },
};

// render.ts compiles from templates/ with the full Handlebars only when the precompiled
// templates are missing, which a bundle never is: keep the compiler (and its source-map) out.
const handlebarsCompilerStaysOut = {
  name: 'handlebars-compiler-stays-out',
  setup(build) {
    build.onResolve({ filter: /^handlebars$/ }, () => ({ path: 'handlebars', external: true }));
  },
};

// The precompiled templates are generated into dist/ (scripts/precompile-templates.js).
const precompiledTemplates = {
  name: 'precompiled-templates',
  setup(build) {
    build.onResolve({ filter: /^\.\/templates$/ }, () => ({ path: join(root, 'dist', 'render', 'templates.js') }));
  },
};

// V8 checks a code cache against the length of the source only, so a cache from another build
// could run old code: this build's id starts the bundle and the cache, and bin/tre-job uses the
// cache only when the two match. The old cache goes first, in case anything below fails.
const buildId = randomBytes(16).toString('hex');
rmSync(CACHE, { force: true });

esbuild
  .build({
    entryPoints: [join(root, 'src', 'main.ts')],
    mainFields: ['module', 'main'], // packages' ES module builds: esbuild can then drop what is unused
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true, // less source for V8 to read; errors are messages, never stack traces
    legalComments: 'eof',
    banner: { js: `${BUILD_ID_LINE}${buildId}` },
    plugins: [lazyChildProcessForCommander, handlebarsCompilerStaysOut, precompiledTemplates],
    metafile: true,
    logLevel: 'warning',
  })
  .then((result) => {
    if (process.env.TRE_JOB_BUNDLE_META) writeFileSync(process.env.TRE_JOB_BUNDLE_META, JSON.stringify(result.metafile));
    saveCodeCache();
  })
  .catch((err) => {
    process.stderr.write(`bundle: ${err.stack || err}\n`);
    process.exit(1);
  });

/** Train the bundle, then write its code cache (id first) atomically. A failure costs speed only: warn. */
function saveCodeCache() {
  let data;
  try {
    data = train();
  } catch (err) {
    process.stderr.write(`bundle: WARNING: no code cache (tre-job works, but starts slower): ${err.message}\n`);
    return;
  }
  const partial = `${CACHE}.partial`;
  writeFileSync(partial, Buffer.concat([Buffer.from(buildId, 'latin1'), data]));
  renameSync(partial, CACHE);
}

/**
 * Run the paths a user runs (render, validate, a bad spec, submit) and return V8's code cache
 * for all that ran. Only files made here are used: the builder's own TRE_JOB_* settings (a
 * token, a site) are set aside, and the stand-in sbatch is found on PATH by name, in a
 * directory under dist/ (where /tmp may be mounted noexec).
 */
function train() {
  const dir = mkdtempSync(join(root, 'dist', '.train-'));
  const saved = { ...process.env };
  try {
    for (const name of Object.keys(process.env)) if (name.startsWith('TRE_JOB_')) delete process.env[name];
    process.env.PATH = `${dir}${delimiter}${process.env.PATH ?? ''}`;
    process.env.HOME = dir; // submit lists its job in $HOME/.tre-job/jobs/: not the builder's
    const { exports: cli, script } = loadBundle({ useCache: false });
    const file = (name, text) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    chmodSync(file('tre-job-train-sbatch', '#!/bin/sh\necho 1\n'), 0o700); // prints a job id
    const site = file('site.yaml', 'registries: [{ host: ghcr.io }]\nsbatch: tre-job-train-sbatch\n');
    const spec = file('job.yaml', 'image: ghcr.io/example/hello:1.0\ncpus: 2\nenv: ["GREETING=hello ${USER}"]\nargs: ["-d", "5"]\n');
    const bad = file('bad.yaml', 'image: ghcr.io/example/hello:1.0\ncpus: many\n');
    const runs = [
      { argv: ['render', spec, '--site', site], status: 0 },
      { argv: ['validate', spec, '--site', site], status: 0 },
      { argv: ['render', bad, '--site', site], status: 2 },
      { argv: ['submit', spec, '--site', site, '--dry-run', '--job-dir', join(dir, 'job')], status: 0 },
      { argv: ['submit', spec, '--site', site, '--json', '--job-dir', join(dir, 'job')], status: 0 },
    ];
    for (const { argv, status } of runs) {
      let output = '';
      const io = { stdout: (t) => (output += t), stderr: (t) => (output += t) };
      const got = cli.run(argv, io);
      if (got !== status) throw new Error(`tre-job ${argv.join(' ')}: exit ${got}, expected ${status}: ${output.trim()}`);
    }
    return script.createCachedData();
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    rmSync(dir, { recursive: true, force: true });
  }
}
