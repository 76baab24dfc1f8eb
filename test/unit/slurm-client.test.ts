// One Slurm client and one job record, through the built binary:
// - every command (status, logs, submit --wait and its Ctrl-C) runs the sbatch, scontrol and
//   scancel the site names, never the ones on PATH;
// - an OOD session made by `tre-job ood --job-dir` has the same job.json as a submitted job, and
//   `tre-job status` lists it, with the job id OnDemand's sbatch gave it.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { BIN, listDir, runBin, tempDir, writeYaml } from '../helpers';

const IMAGE = 'ghcr.io/mikej888/hello-tre:1.0';
const SESSION = '3f1c2a9e-5b7d-4e8f-9a01-23456789abcd';
/** status's SUBMITTED column: MM-DD HH:MM (local time). */
const SUBMITTED = '\\d\\d-\\d\\d \\d\\d:\\d\\d';

let dir: { path: string; remove: () => void };
let env: NodeJS.ProcessEnv;
let site: string;
let spec: string;
const home = () => join(dir.path, 'home');
const jobsFile = () => join(dir.path, 'slurm-jobs');
const siteCalls = () => (existsSync(join(dir.path, 'site-calls')) ? readFileSync(join(dir.path, 'site-calls'), 'utf8') : '');
const wrongCalls = () => (existsSync(join(dir.path, 'wrong-calls')) ? readFileSync(join(dir.path, 'wrong-calls'), 'utf8') : '');

function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** What `scontrol show job -o` prints for one job of this user. */
function jobLine(jobId: string, state: string, workDir: string, reason = 'None'): string {
  const { username, uid } = userInfo();
  return `JobId=${jobId} JobName=hello-tre:1.0 UserId=${username}(${uid}) JobState=${state} Reason=${reason} ExitCode=0:0 RunTime=00:00:05 NodeList=node1 WorkDir=${workDir} StdOut=${workDir}/output.log\n`;
}

beforeEach(() => {
  dir = tempDir();
  mkdirSync(home());
  // The site's Slurm, at paths no default would find: the jobs Slurm knows are the lines of slurm-jobs.
  const siteBin = join(dir.path, 'site-bin');
  mkdirSync(siteBin);
  const record = `echo "$(basename "$0") $*" >>${JSON.stringify(join(dir.path, 'site-calls'))}`;
  const jobs = JSON.stringify(jobsFile());
  writeFileSync(jobsFile(), '');
  const sbatch = script(join(siteBin, 'site-sbatch'), `${record}\necho 4242`);
  const scontrol = script(
    join(siteBin, 'site-scontrol'),
    `${record}\n[[ $1 == show && $2 == job && $3 == -o ]] || exit 2\n[[ -z \${4-} ]] && exec cat ${jobs}\ngrep "^JobId=$4 " ${jobs} || { echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1; }`,
  );
  const scancel = script(join(siteBin, 'site-scancel'), `${record}\nsed -i "s/^\\(JobId=$1 .*JobState=\\)[A-Z_]*/\\1CANCELLED/" ${jobs}`);
  // The Slurm on PATH is the wrong one: any call to it is recorded, and fails.
  const pathBin = join(dir.path, 'path-bin');
  mkdirSync(pathBin);
  for (const name of ['sbatch', 'scontrol', 'scancel']) script(join(pathBin, name), `echo "${name} $*" >>${JSON.stringify(join(dir.path, 'wrong-calls'))}\nexit 1`);
  env = { PATH: `${pathBin}:/usr/bin:/bin`, HOME: home() };
  site = writeYaml(dir.path, 'site.yaml', { sbatch, scontrol, scancel });
  spec = writeYaml(dir.path, 'spec.yaml', { image: IMAGE });
});
afterEach(() => dir.remove());

describe("the site's Slurm commands, for every command", () => {
  const submitted = () => {
    const result = runBin(['submit', spec, '--site', site, '--json'], { env });
    expect(result.stderr).toBe('');
    return JSON.parse(result.stdout) as { jobId: string; jobDir: string };
  };

  it('status asks the site scontrol', () => {
    const { jobId, jobDir } = submitted();
    writeFileSync(jobsFile(), jobLine(jobId, 'RUNNING', jobDir));
    const status = runBin(['status', jobId, '--json', '--site', site], { env });
    expect(status.stderr).toBe('');
    expect(JSON.parse(status.stdout)).toEqual([expect.objectContaining({ jobId, state: 'RUNNING', node: 'node1', elapsed: '00:00:05' })]);
    const table = runBin(['status', '--site', site], { env }).stdout.split('\n');
    expect(table[0]).toMatch(/^JOBID +NAME +SUBMITTED +STATE +PHASE +ELAPSED +EXIT +OUTPUTS$/);
    expect(table[1]).toMatch(new RegExp(`^${jobId} +hello-tre:1.0 +${SUBMITTED} +RUNNING +starting +00:00:05 +- +-$`));
    expect(siteCalls()).toContain(`site-scontrol show job -o ${jobId}`);
    expect(wrongCalls()).toBe('');
  });

  it('logs asks the site scontrol', () => {
    const { jobId, jobDir } = submitted();
    writeFileSync(jobsFile(), jobLine(jobId, 'PENDING', jobDir, 'Resources'));
    const logs = runBin(['logs', jobId, '--site', site], { env });
    expect(logs.status).toBe(0);
    expect(logs.stderr).toBe(`job ${jobId} is pending (Resources): its log starts when it runs; follow it with --follow\n`);
    expect(wrongCalls()).toBe('');
  });

  it('submit --wait follows the job with the site scontrol', () => {
    const jobDir = join(dir.path, 'job');
    writeFileSync(jobsFile(), jobLine('4242', 'COMPLETED', jobDir));
    const result = runBin(['submit', spec, '--site', site, '--job-dir', jobDir, '--wait'], { env });
    expect(result.stderr).toContain('job 4242 COMPLETED, exit status 0');
    expect(result.status).toBe(0);
    expect(wrongCalls()).toBe('');
  });

  it('Ctrl-C of submit --wait --cancel-on-interrupt cancels with the site scancel', async () => {
    const jobDir = join(dir.path, 'job');
    writeFileSync(jobsFile(), jobLine('4242', 'RUNNING', jobDir));
    const child = spawn(process.execPath, [BIN, 'submit', spec, '--site', site, '--job-dir', jobDir, '--wait', '--cancel-on-interrupt'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!interrupted && stderr.includes('running on node1')) interrupted = child.kill('SIGINT'); // once, as one Ctrl-C
    });
    const status = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toContain('cancelling job 4242 (scancel)');
    expect(stderr).toContain('job 4242 CANCELLED, exit status 143');
    expect(status).toBe(143);
    expect(siteCalls()).toContain('site-scancel 4242');
    expect(wrongCalls()).toBe('');
  }, 20000);
});

describe('OOD sessions in tre-job status', () => {
  /** What submit.yml.erb runs: tre-job ood --job-dir STAGED_ROOT (OnDemand runs sbatch afterwards). */
  function oodSession(name = SESSION): string {
    const stagedRoot = join(dir.path, 'ondemand', 'output', name);
    const result = runBin(['ood', '--form-json', JSON.stringify({ image: IMAGE }), '--site', site, '--job-dir', stagedRoot, '--session', name], { env });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return stagedRoot;
  }
  const record = (jobDir: string) => JSON.parse(readFileSync(join(jobDir, 'job.json'), 'utf8'));
  const statusJson = () => JSON.parse(runBin(['status', '--json', '--site', site], { env }).stdout) as Record<string, unknown>[];

  it('tre-job ood writes the record tre-job submit writes, without a job id yet', () => {
    const stagedRoot = oodSession();
    const { jobDir } = JSON.parse(runBin(['submit', spec, '--site', site, '--json'], { env }).stdout) as { jobDir: string };
    const keys = Object.keys(record(jobDir));
    expect(Object.keys(record(stagedRoot))).toEqual(keys);
    expect(record(stagedRoot)).toMatchObject({ jobId: null, jobName: 'hello-tre:1.0', containerName: `hello-tre-${SESSION}`, source: 'ood', jobDir: stagedRoot });
    expect(record(jobDir)).toMatchObject({ jobId: '4242', jobName: 'hello-tre:1.0', containerName: 'hello-tre-4242', source: 'submit', jobDir });
  });

  it('lists a session: its job id from Slurm while it is pending, then from its log after Slurm has forgotten it', () => {
    const stagedRoot = oodSession();
    // OnDemand's sbatch gave it job 777, still pending.
    writeFileSync(jobsFile(), jobLine('777', 'PENDING', stagedRoot, 'Resources'));
    expect(statusJson()).toEqual([expect.objectContaining({ jobId: '777', state: 'PENDING', detail: 'pending (Resources)', image: IMAGE, jobDir: stagedRoot, source: 'ood' })]);
    expect(record(stagedRoot).jobId).toBe('777'); // recorded: it outlives Slurm's memory of the job

    // A second session that ran and ended; Slurm has forgotten both. Its log names its job.
    const ran = oodSession('a-second-session');
    writeFileSync(
      join(ran, 'output.log'),
      'Script starting...\n2026-01-01 10:00:00 tre-job INFO: Job 778 started on node1 as alice (tre-job 0.1.0)\n2026-01-01 10:00:09 tre-job INFO: Job finished with exit status 0\n',
    );
    writeFileSync(jobsFile(), '');
    // And a job of tre-job submit, listed as before.
    expect(runBin(['submit', spec, '--site', site], { env }).status).toBe(0);
    const table = runBin(['status', '--site', site], { env }).stdout.split('\n');
    expect(table[0]).toMatch(/^JOBID +NAME +SUBMITTED +STATE +PHASE +ELAPSED +EXIT +OUTPUTS +OOD_SESSION$/);
    expect(table.slice(1, -1)).toEqual([
      expect.stringMatching(new RegExp(`^777 +hello-tre:1.0 +${SUBMITTED} +UNKNOWN +unknown +- +- +- +${stagedRoot}$`)),
      expect.stringMatching(new RegExp(`^778 +hello-tre:1.0 +${SUBMITTED} +COMPLETED +finished +00:00:09 +0 +- +${ran}$`)),
      expect.stringMatching(new RegExp(`^4242 +hello-tre:1.0 +${SUBMITTED} +UNKNOWN +unknown +- +- +-$`)),
    ]);
    expect(runBin(['logs', '778', '--site', site], { env }).stdout).toContain('Job finished with exit status 0');
  });

  it("finds a pending session in a queue larger than spawnSync's default 1 MiB (a busy cluster)", () => {
    const stagedRoot = oodSession();
    const others = Array.from({ length: 12000 }, (_, i) => jobLine(String(100000 + i), 'PENDING', `/home/someone/job-${i}`, 'Priority')).join('');
    expect(others.length).toBeGreaterThan(2 * 1024 * 1024);
    writeFileSync(jobsFile(), others + jobLine('777', 'PENDING', stagedRoot, 'Resources'));
    expect(statusJson()).toEqual([expect.objectContaining({ jobId: '777', state: 'PENDING', jobDir: stagedRoot })]);
    expect(runBin(['gc', '--site', site], { env }).status).toBe(0);
  });

  it('drops a session whose directory is gone', () => {
    const stagedRoot = oodSession();
    expect(statusJson()).toHaveLength(1);
    rmSync(stagedRoot, { recursive: true });
    expect(statusJson()).toEqual([]);
    expect(listDir(join(home(), '.tre-job', 'jobs'))).toEqual([]);
  });
});
