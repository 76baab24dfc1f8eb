// submit, render --job-dir, validate and schema through the built binary, with a recording
// fake sbatch on PATH (test/fixtures/bin/sbatch).
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDir, runBin, shimCall, shimSandbox, ShimSandbox, writeYaml } from '../helpers';

const TOKEN = 'tok-Submit-42';
let box: ShimSandbox;
let dir: ShimSandbox['dir'];
let env: NodeJS.ProcessEnv;
let spec: string;
let site: string;
const home = () => box.home;
const log = () => box.log;
const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);

const sbatchCall = () => shimCall(log(), 'sbatch');

beforeEach(() => {
  box = shimSandbox(TOKEN);
  ({ dir, env } = box);
  spec = writeYaml(dir.path, 'spec.yaml', { image: 'ghcr.io/mikej888/hello-tre:1.0', registry: { username: 'alice' } });
  site = writeYaml(dir.path, 'site.yaml', { partition: 'debug' });
});
afterEach(() => dir.remove());

describe('tre-job submit', () => {
  it('renders into a new 0700 job dir under $HOME/tre-jobs, runs sbatch --parsable and prints only the job id', () => {
    const result = runBin(['submit', spec, '--site', site], { env });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('4242\n');
    const [jobDirName] = listDir(join(home(), 'tre-jobs'));
    expect(jobDirName).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    const jobDir = join(home(), 'tre-jobs', jobDirName as string);
    expect(mode(jobDir)).toBe('700');
    expect(mode(join(jobDir, 'job.sh'))).toBe('700');
    expect(mode(join(jobDir, 'credentials'))).toBe('600');
    expect(readFileSync(join(jobDir, 'credentials'), 'utf8')).toBe(TOKEN);
    expect(readFileSync(join(jobDir, 'job.sh'), 'utf8')).not.toContain(TOKEN);
    const sbatch = sbatchCall();
    expect(sbatch.argv).toEqual(['--parsable', join(jobDir, 'job.sh')]);
    // Slurm stores the submission environment with the job: the token variable is not in it.
    expect(sbatch.env.join('\n')).not.toContain(TOKEN);
    expect(sbatch.env.some((e) => e.startsWith('TRE_JOB_REGISTRY_TOKEN='))).toBe(false);
  });

  it('prints a JSON object with --json', () => {
    const jobDir = join(dir.path, 'myjob');
    const result = runBin(['submit', spec, '--site', site, '--job-dir', jobDir, '--json'], { env });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ jobId: '4242', cluster: null, jobDir, script: join(jobDir, 'job.sh'), outputLog: join(jobDir, 'output.log'), host: null });
  });

  it('takes the token from --token-stdin', () => {
    const { TRE_JOB_REGISTRY_TOKEN: _unused, ...noTokenEnv } = env;
    const jobDir = join(dir.path, 'stdin-job');
    const result = runBin(['submit', spec, '--site', site, '--job-dir', jobDir, '--token-stdin'], { env: noTokenEnv, input: 'from-stdin\n' });
    expect(result.status).toBe(0);
    expect(readFileSync(join(jobDir, 'credentials'), 'utf8')).toBe('from-stdin');
    expect(sbatchCall().argv.join(' ')).not.toContain('from-stdin');
  });

  it('prints the exact sbatch argv with --dry-run and writes nothing', () => {
    const jobDir = join(dir.path, 'dry');
    const result = runBin(['submit', spec, '--site', site, '--job-dir', jobDir, '--dry-run'], { env });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`'sbatch' '--parsable' '${jobDir}/job.sh'\n`);
    expect(listDir(jobDir)).toEqual([]);
    expect(listDir(log())).toEqual([]);
  });

  it('exits 1 with sbatch\'s message when sbatch refuses, and leaves no job dir behind', () => {
    const result = runBin(['submit', spec, '--site', site], {
      env: { ...env, SHIM_SBATCH_EXIT: '1', SHIM_SBATCH_ERR: 'sbatch: error: invalid partition specified: debug' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('tre-job: sbatch refused the job: sbatch: error: invalid partition specified: debug\n');
    expect(listDir(join(home(), 'tre-jobs'))).toEqual([]);
  });

  it('exits 2 and submits nothing when the spec is bad', () => {
    const bad = writeYaml(dir.path, 'bad.yaml', { image: 'docker.io/library/ubuntu:22.04' });
    const result = runBin(['submit', bad, '--site', site], { env });
    expect(result.status).toBe(2);
    expect(listDir(log())).toEqual([]);
    expect(listDir(join(home(), 'tre-jobs'))).toEqual([]);
  });
});

describe('tre-job render --job-dir', () => {
  it('writes job.sh (0700) and credentials (0600) and prints the script path', () => {
    const jobDir = join(dir.path, 'rendered');
    const result = runBin(['render', spec, '--site', site, '--job-dir', jobDir], { env });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${jobDir}/job.sh\n`);
    expect(listDir(jobDir)).toEqual(['credentials', 'job.sh', 'output.log']);
    expect(mode(join(jobDir, 'job.sh'))).toBe('700');
    expect(mode(join(jobDir, 'output.log'))).toBe('600');
    expect(mode(join(jobDir, 'credentials'))).toBe('600');
  });
});

describe('tre-job validate and schema', () => {
  it('validates a good spec', () => {
    const result = runBin(['validate', spec, '--site', site], { env });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${spec}: ok (podman, ghcr.io/mikej888/hello-tre:1.0, time 06:00:00)\n`);
  });

  it('prints the JSON Schema generated from the zod schema', () => {
    const schema = JSON.parse(runBin(['schema']).stdout);
    expect(schema.required).toEqual(['image']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual([
      'image', 'runtime', 'registry', 'name', 'cpus', 'memoryGiB', 'time', 'partition', 'gpu', 'env', 'args', 'runnerArgs', 'reuseSif', 'safeData', 'safeDataMount', 'service', 'array',
    ]);
    expect(schema.properties.time.pattern).toBe('^([0-9]{1,3}):([0-5][0-9]):([0-5][0-9])$');
  });

  it.each(['render', 'submit', 'status', 'logs', 'ood', 'validate', 'schema', 'gc', 'completion'])('%s --help shows an example and exits 0', (command) => {
    const result = runBin([command, '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\nExamples?:\n  tre-job /);
  });

  it('prints a bash completion script that completes commands and options', () => {
    const script = runBin(['completion']).stdout;
    const complete = (line: string) =>
      spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _tre_job; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n');
    expect(complete("tre-job su")).toEqual(['submit']);
    expect(complete("tre-job submit --wa")).toEqual(['--wait']);
  });
});

describe('tre-job logs --follow', () => {
  it('ends, exit 0 and no message, when the reader of its output has gone (logs --follow | head)', () => {
    expect(runBin(['submit', spec, '--site', site], { env }).status).toBe(0);
    const jobDir = join(home(), 'tre-jobs', listDir(join(home(), 'tre-jobs'))[0] as string);
    // More than a pipe holds, so that writing meets the closed pipe while the job still runs.
    writeFileSync(join(jobDir, 'output.log'), 'a line of the job log\n'.repeat(8000));
    const bin = JSON.stringify(join(__dirname, '..', '..', 'bin', 'tre-job'));
    const r = spawnSync('bash', ['-c', `node ${bin} logs 4242 --follow 2>"$1" | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"; cat "$1"`, 'bash', join(dir.path, 'err')], {
      env: { ...env, SHIM_JOB_STATE: 'RUNNING' },
      encoding: 'utf8',
      timeout: 20000,
    });
    expect(r.error).toBeUndefined(); // not killed by the timeout: it ended by itself
    expect(r.stdout).toBe('0\n');
  });
});
