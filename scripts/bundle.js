#!/usr/bin/env node
// Build step (after tsc and precompile-templates): bundle dist/main.js and its dependencies into
// dist/tre-job.js, run it once on example jobs, and save V8's code cache for what ran as
// dist/tre-job.cache. bin/tre-job starts from both (see bin/tre-job). Why: a cold
// `tre-job render` spent most of its time loading and compiling ~150 module files
// (docs/benchmarks.md has the numbers).
'use strict';
const { chmodSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const esbuild = require('esbuild');
const { BUNDLE, CACHE, loadBundle } = require('../bin/tre-job');

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

esbuild
  .build({
    entryPoints: [join(root, 'src', 'main.ts')],
    mainFields: ['module', 'main'], // packages' ES module builds: esbuild can then drop what is unused
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true, // less source for V8 to read and hash; errors are messages, never stack traces
    legalComments: 'eof',
    plugins: [lazyChildProcessForCommander, handlebarsCompilerStaysOut, precompiledTemplates],
    metafile: true,
    logLevel: 'warning',
  })
  .then((result) => {
    if (process.env.TRE_JOB_BUNDLE_META) writeFileSync(process.env.TRE_JOB_BUNDLE_META, JSON.stringify(result.metafile));
    train();
  })
  .catch((err) => {
    process.stderr.write(`bundle: ${err.stack || err}\n`);
    process.exit(1);
  });

/** Run the paths a user runs (render, validate, a bad spec, submit), then save the code cache. */
function train() {
  const dir = mkdtempSync(join(tmpdir(), 'tre-job-bundle-'));
  try {
    const { exports: cli, script } = loadBundle({ useCache: false });
    const file = (name, text) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    // submit runs a stand-in sbatch that prints a job id, into a job dir under `dir`.
    const sbatch = file('sbatch', '#!/bin/sh\necho 1\n');
    chmodSync(sbatch, 0o700);
    const site = file('site.yaml', `registries: [{ host: ghcr.io }]\nsbatch: ${sbatch}\n`);
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
      if (got !== status) throw new Error(`tre-job ${argv.join(' ')}: exit ${got}, expected ${status}\n${output}`);
    }
    writeFileSync(CACHE, script.createCachedData());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
