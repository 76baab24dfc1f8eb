'use strict';
// Load dist/tre-job.js (one esbuild bundle) through V8's code cache, dist/tre-job.cache.
// Node 20 has no module compile cache (node 22's module.enableCompileCache), and compiling the
// bundle's ~0.7 MB is most of tre-job's start-up; with the cache V8 deserializes code instead.
// The cache is only a speed-up: V8 checks it against the source and its own version and flags,
// and if it does not match (another node, other flags) the bundle is compiled as usual.
const { readFileSync } = require('node:fs');
const { wrap } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const DIST = join(__dirname, '..', 'dist');
const BUNDLE = join(DIST, 'tre-job.js');
const CACHE = join(DIST, 'tre-job.cache');

function readCache() {
  try {
    return readFileSync(CACHE);
  } catch {
    return undefined; // not built yet, or removed: compile without it
  }
}

/** Run the bundle as a CommonJS module; returns its exports and the vm.Script (for the build's cache). */
function loadBundle({ useCache = true } = {}) {
  const cachedData = useCache ? readCache() : undefined;
  const script = new Script(wrap(readFileSync(BUNDLE, 'utf8')), { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, require, module, BUNDLE, dirname(BUNDLE));
  return { exports: module.exports, script };
}

module.exports = { BUNDLE, CACHE, loadBundle };
