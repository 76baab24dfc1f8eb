// Apptainer cannot be installed here (no Debian package, no Go proxy). Its path runs on the
// real Slurm as a real user with a recording `apptainer` first on the job's PATH
// (test/fixtures/bin/apptainer), which checks every flag against Apptainer's documented CLI.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readNul, SHIM_BIN } from '../helpers';
import { describeE2E, homeOf, readToken, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, homeDirs, probeSpec, removeSpecs, submitAs } from './lib/tre';

jest.setTimeout(120000);

describeE2E('apptainer jobs (recording shim) on the real Slurm', () => {
  let stack: StackEnv;
  let log: string;
  const calls = (name: string, sub: string) => {
    const dir = join(log, 'calls');
    return readdirSync(dir)
      .filter((f) => f.endsWith(`-${name}.argv`) && readNul(join(dir, f))[0] === sub)
      .map((f) => ({ argv: readNul(join(dir, f)), env: readNul(join(dir, f.replace(/\.argv$/, '.env'))) }));
  };
  // Only the apptainer shim goes first on the job's PATH (test/fixtures/bin also has a fake sbatch).
  const shimEnv = () => ({ PATH: `${join(log, 'bin')}:/usr/local/bin:/usr/bin:/bin`, SHIM_LOG: join(log, 'calls') });

  beforeAll(() => {
    stack = requireStack() as StackEnv;
    rmSync(join(homeOf('alice'), 'probe:1.0.sif'), { force: true });
  });
  beforeEach(() => {
    const dir = mkdtempSync('/tmp/tre-e2e-shim-');
    mkdirSync(join(dir, 'bin'));
    for (const file of ['apptainer', 'recorder.sh']) symlinkSync(join(SHIM_BIN, file), join(dir, 'bin', file));
    mkdirSync(join(dir, 'calls'));
    const uid = Number(runAs('alice', 'id -u').stdout.trim());
    chownSync(join(dir, 'calls'), uid, uid);
    chmodSync(dir, 0o755);
    log = dir;
  });
  afterEach(() => rmSync(log, { recursive: true, force: true }));
  afterAll(removeSpecs);

  it('pulls to $HOME/NAME:TAG.sif with the token in the pull environment only, and runs with binds and --no-eval', async () => {
    const token = readToken(stack);
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', env: { A: 'x y', WHO: '${USER}', LIT: '$(id)' }, args: ['a b', '$(id)', '${HOME}'] }), { env: shimEnv() });
    const { job, number } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    const home = homeOf('alice');
    const sif = `${home}/probe:1.0.sif`;
    const [pull] = calls('apptainer', 'pull');
    expect(pull?.argv).toEqual(['pull', '--force', '--no-https', sif, `docker://${stack.probeImage}`]);
    expect(pull?.env).toContain(`APPTAINER_DOCKER_USERNAME=${stack.registryUser}`);
    expect(pull?.env).toContain(`APPTAINER_DOCKER_PASSWORD=${token}`);
    const [run] = calls('apptainer', 'run');
    expect(run?.argv).toEqual([
      'run', '--no-eval',
      '--bind', `${home}/outputs-${number}:/safe_outputs`,
      '--bind', `${home}/scratch-${number}:/scratch`,
      '--bind', '/safe_data/demo:/safe_data/demo',
      sif, 'a b', '$(id)', home,
    ]);
    expect(run?.env).toEqual(expect.arrayContaining(['APPTAINERENV_A=x y', 'APPTAINERENV_WHO=alice', 'APPTAINERENV_LIT=$(id)']));
    expect(run?.env.join('\n')).not.toContain(token);
    expect(existsSync(sif)).toBe(true);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log']);
  });

  it('reuses the SIF with reuseSif (no pull, credentials still deleted) and exits with the container status', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { runtime: 'apptainer', reuseSif: true }), { env: { ...shimEnv(), SHIM_RUN_EXIT: '5' } });
    const { job, log: output } = await finished(submitted);
    expect(job.exitCode).toBe(5);
    expect(output).toContain(`Reusing ${homeOf('alice')}/probe:1.0.sif (reuseSif)`);
    expect(calls('apptainer', 'pull')).toEqual([]);
    expect(calls('apptainer', 'run')).toHaveLength(1);
    expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log']);
  });
});
