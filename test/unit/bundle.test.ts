// The built CLI: bin/tre-job runs dist/tre-job.js (the esbuild bundle) through V8's code
// cache, dist/tre-job.cache (scripts/bundle.js). These tests need the build, which npm test
// runs before them; in CI a missing build is a failure, not a skip.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, runCli, tempDir, writeYaml } from '../helpers';

const BUNDLE = join(ROOT, 'dist', 'tre-job.js');
const CACHE = join(ROOT, 'dist', 'tre-job.cache');
const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };

function built(): boolean {
  if (existsSync(BUNDLE) && existsSync(CACHE)) return true;
  if (process.env.CI === 'true') throw new Error(`${BUNDLE} or ${CACHE} is missing: run npm run build`);
  return false;
}

function inTempDir(test: (dir: string) => void): void {
  const dir = tempDir();
  try {
    test(dir.path);
  } finally {
    dir.remove();
  }
}

/** bin/tre-job and the bundle, without the code cache, in `dir`. */
function copyBuild(dir: string): void {
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist'));
  copyFileSync(BIN, join(dir, 'bin', 'tre-job'));
  copyFileSync(BUNDLE, join(dir, 'dist', 'tre-job.js'));
}

function bash(script: string, cwd = ROOT) {
  return spawnSync('bash', ['-c', script], { cwd, env: CLEAN_ENV, encoding: 'utf8' });
}

/** A spec whose script (about 200 KiB) is larger than a pipe's buffer (64 KiB). */
function bigSpec(dir: string): string {
  const items = Array.from({ length: 2000 }, (_, i) => i);
  return writeYaml(dir, 'big.yaml', {
    image: 'ghcr.io/example/hello:1.0',
    env: Object.fromEntries(items.map((i) => [`VAR_${i}`, `value ${i} with 'quotes' and $HOME`])),
    args: items.map((i) => `argument ${i}`),
  });
}

describe('the built CLI (bundle and code cache)', () => {
  it('starts from a code cache that V8 accepts for this bundle', () => {
    if (!built()) return;
    const probe = `process.stdout.write(String(require(${JSON.stringify(BIN)}).loadBundle().script.cachedDataRejected))`;
    const r = spawnSync(process.execPath, ['-e', probe], { env: CLEAN_ENV, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('false');
  });

  it("uses no cache from another build (V8 would take any cache for a source of the same length)", () => {
    if (!built()) return;
    inTempDir((dir) => {
    copyBuild(dir);
    const cache = readFileSync(CACHE);
    cache.write(cache.toString('latin1', 0, 1) === '0' ? '1' : '0', 0, 'latin1'); // another build's id
    writeFileSync(join(dir, 'dist', 'tre-job.cache'), cache);
    const probe = `process.stdout.write(String(require(${JSON.stringify(join(dir, 'bin', 'tre-job'))}).loadBundle().script.cachedDataRejected))`;
    const r = spawnSync(process.execPath, ['-e', probe], { env: CLEAN_ENV, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('undefined'); // no cachedData given to V8 at all
    });
  });

  it('renders the same script without the code cache (another Node, or the cache removed)', () => {
    if (!built()) return;
    inTempDir((dir) => {
    copyBuild(dir);
    const r = spawnSync(process.execPath, [join(dir, 'bin', 'tre-job'), 'render', 'examples/hello.yaml'], {
      cwd: ROOT,
      env: CLEAN_ENV,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(runCli(['render', join(ROOT, 'examples', 'hello.yaml')]).stdout);
    });
  });

  it('writes a script larger than a pipe buffer whole, through a pipe', () => {
    if (!built()) return;
    inTempDir((dir) => {
    const spec = bigSpec(dir);
    const r = bash(`node ${JSON.stringify(BIN)} render ${JSON.stringify(spec)} | cat`);
    expect(r.stderr).toBe('');
    const expected = runCli(['render', spec]).stdout;
    expect(expected.length).toBeGreaterThan(128 * 1024);
    expect(r.stdout).toBe(expected);
    });
  });

  it('stops quietly with exit 0 when the reader of its output has gone (render | head)', () => {
    if (!built()) return;
    inTempDir((dir) => {
    const spec = bigSpec(dir);
    const r = bash(`node ${JSON.stringify(BIN)} render ${JSON.stringify(spec)} 2>"${dir}/err" | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"; cat "${dir}/err"`);
    expect(r.stdout).toBe('0\n');
    });
  });
});
