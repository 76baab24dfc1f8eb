// Every rendered variant passes shellcheck and bash -n.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { runCli, tempDir, writeYaml } from '../helpers';

const base = { image: '127.0.0.1:5000/tre/probe:1.0', env: { A: 'x ${USER}', B: "'$(id)'", C: 'cr\rline' }, args: ['${HOME}/x', '`id`', 'dos\r\nline'], runnerArgs: ['--bind', '${HOME}/in:/in'] };
const variants: [string, Record<string, unknown>][] = [];
for (const runtime of ['podman', 'apptainer']) {
  for (const gpu of [false, true]) {
    for (const safeData of ['auto', 'required', 'none']) {
      for (const login of [true, false]) {
        const runnerArgs = runtime === 'podman' ? ['-v', '${HOME}/in:/in', '--workdir=/in'] : ['--bind', '${HOME}/in:/in', '--cwd', '/in'];
        const spec: Record<string, unknown> = { ...base, runtime, gpu, safeData, runnerArgs, ...(login ? { registry: { username: 'u' } } : {}) };
        if (runtime === 'apptainer') spec.reuseSif = safeData !== 'none';
        if (runtime === 'podman' && safeData === 'required') spec.name = 'named';
        if (safeData === 'none') spec.safeDataMount = '/safe_data';
        if (safeData === 'auto') spec.array = { count: 3, ...(gpu ? { parallel: 2 } : {}) };
        variants.push([`${runtime} gpu=${gpu} safeData=${safeData} login=${login}`, spec]);
      }
    }
  }
}

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
if (!hasShellcheck && process.env.CI === 'true') throw new Error('shellcheck is not installed (CI must install it)');

describe('rendered scripts', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  const site = writeYaml(dir.path, 'site.yaml', { registries: [{ host: '127.0.0.1:5000', insecure: true }], gpuGres: 'gpu:1', projectGroupPrefix: 'tre', summaryJson: true, forcedMounts: [{ source: '/opt/tools', target: '/tools' }], forcedRunnerArgs: { podman: ['--read-only'], apptainer: ['--no-home'] } });

  const check = (script: string) => {
    expect(spawnSync('bash', ['-n'], { input: script }).status).toBe(0);
    if (!hasShellcheck) return; // outside CI only; reported once above
    const result = spawnSync('shellcheck', ['-'], { input: script, encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  };

  it.each(['podman', 'apptainer'])('%s: an array with items (in the job directory) passes bash -n and shellcheck', (runtime) => {
    const spec = { ...base, runtime, runnerArgs: [], array: { items: ['a.csv', "it's $(id)"] } };
    const jobDir = `${dir.path}/job-${runtime}`;
    runCli(['render', writeYaml(dir.path, 'spec.yaml', spec), '--site', site, '--job-dir', jobDir]);
    check(readFileSync(`${jobDir}/job.sh`, 'utf8'));
  });

  it.each(variants)('%s passes bash -n and shellcheck', (_name, spec) => {
    const script = runCli(['render', writeYaml(dir.path, 'spec.yaml', spec), '--site', site, '--session', 'ood-123']).stdout;
    expect(spawnSync('bash', ['-n'], { input: script }).status).toBe(0);
    if (!hasShellcheck) return; // outside CI only; reported once above
    const result = spawnSync('shellcheck', ['-'], { input: script, encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});
