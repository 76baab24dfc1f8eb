// The spec kept in the job directory (submit, ood --job-dir) and `tre-job resubmit`, in process:
// the fixture's home and sites (test/fixtures/shims.ts), a fake sbatch that gives each job a new
// id, and the recording scontrol shim (Slurm knows no job: found by their records only).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os = require('node:os');
import { join } from 'node:path';
import { readJobRecord } from '../../src/record';
import { Fixture, fixture, IMAGE, SITE, TOKEN } from '../fixtures/shims';
import { listDir, runCliUnchecked, SHIM_BIN, writeYaml } from '../helpers';

let f: Fixture;
let saved: { env: NodeJS.ProcessEnv; umask: number };
let tokenFile: string;
let sbatch: string;
const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);
const jobsDir = () => join(f.home, 'tre-jobs');
const jobDirs = () => listDir(jobsDir()).map((name) => join(jobsDir(), name));
const submits = () => (existsSync(join(f.root, 'sbatch-calls')) ? readFileSync(join(f.root, 'sbatch-calls'), 'utf8').trim().split('\n') : []);
const tre = (args: string[]) => runCliUnchecked(args);

/** A site file: the fixture's, with the fake sbatch and the scontrol shim. */
const site = (name: string, extra: Record<string, unknown> = {}) => writeYaml(f.root, name, SITE(f, { sbatch, scontrol: join(SHIM_BIN, 'scontrol'), ...extra }));

// Written by hand, as a user would: comments, spacing, flow style, non-ASCII, no final newline.
const SPEC_TEXT = `# my analysis\nimage:   ${IMAGE}    # the probe\nregistry: { username: treuser }\nenv:\n  - "NOTE=caf\u00e9 \u2713 $(date) stays"\nargs: [ "-n",  "\${USER}" ]\nsafeData: none`;

function writeSpec(name = 'job.yaml', text = SPEC_TEXT): string {
  const file = join(f.root, name);
  writeFileSync(file, text);
  return file;
}

/** `tre-job submit` as the user would, with the token from a file; returns the job id and its record. */
function submit(args: string[]) {
  const result = tre(['submit', ...args, '--token-file', tokenFile]);
  expect(result).toMatchObject({ status: 0, stderr: '' });
  const jobId = result.stdout.trim();
  const dir = jobDirs().find((d) => readJobRecord(d)?.jobId === jobId) as string;
  return { jobId, dir, record: readJobRecord(dir) };
}

beforeEach(() => {
  f = fixture();
  saved = { env: { ...process.env }, umask: process.umask(0) }; // umask 000: the modes below are tre-job's own
  // Jest's process.env is a copy that os.homedir() (libuv) does not read: the home is given to it.
  jest.spyOn(os, 'homedir').mockReturnValue(f.home);
  process.env.SHIM_LOG = f.log;
  delete process.env.TRE_JOB_SITE;
  delete process.env.TRE_JOB_REGISTRY_TOKEN;
  mkdirSync(join(f.root, 'bin'));
  sbatch = join(f.root, 'bin', 'sbatch');
  const calls = join(f.root, 'sbatch-calls');
  writeFileSync(sbatch, `#!/bin/bash\necho "$PWD $*" >> ${calls}\necho $((4241 + $(wc -l < ${calls})))\n`);
  chmodSync(sbatch, 0o755);
  // The built-in site runs `sbatch` from PATH.
  process.env.PATH = `${join(f.root, 'bin')}:${SHIM_BIN}:${process.env.PATH}`;
  tokenFile = join(f.root, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
});
afterEach(() => {
  for (const name of Object.keys(process.env)) if (!(name in saved.env)) delete process.env[name];
  Object.assign(process.env, saved.env);
  process.umask(saved.umask);
  jest.restoreAllMocks();
  f.remove();
});

describe('the spec kept in the job directory', () => {
  it('submit keeps the spec byte for byte (0600 under umask 000) and records it, the site file and the spec file', () => {
    const siteFile = site('site.yaml');
    const spec = writeSpec();
    const { jobId, dir, record } = submit([spec, '--site', siteFile]);
    expect(jobId).toBe('4242');
    expect(mode(dir)).toBe('700');
    expect(readFileSync(join(dir, 'spec.yaml'))).toEqual(Buffer.from(SPEC_TEXT));
    expect(mode(join(dir, 'spec.yaml'))).toBe('600');
    expect(record).toMatchObject({ jobId, spec: 'spec.yaml', site: siteFile, specSource: spec, resubmitOf: null, service: null, runtime: 'podman' });
    // No secret in what is kept: the token is only in credentials.
    for (const file of listDir(dir).filter((name) => name !== 'credentials')) expect(readFileSync(join(dir, file), 'utf8')).not.toContain(TOKEN);
  });

  it('records relative paths as absolute, the built-in site as null, a JSON spec as spec.json, and the service kind', () => {
    const spec = writeSpec('svc.json', JSON.stringify({ image: 'ghcr.io/mikej888/hello-tre:1.0', service: 'jupyter', safeData: 'none' }));
    const cwd = process.cwd();
    process.chdir(f.root);
    try {
      const result = tre(['submit', 'svc.json']);
      expect(result).toMatchObject({ status: 0, stderr: '' });
    } finally {
      process.chdir(cwd);
    }
    const [dir] = jobDirs();
    expect(readJobRecord(dir as string)).toMatchObject({ spec: 'spec.json', site: null, specSource: spec, service: 'jupyter', runtime: 'podman' });
    expect(readFileSync(join(dir as string, 'spec.json'), 'utf8')).toBe(readFileSync(spec, 'utf8'));
  });

  it('keeps the bytes of a spec read from a pipe (submit <(...)): they are read once, and kept as parsed', async () => {
    const fifo = join(f.root, 'spec.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', 'printf "%s" "$1" > "$2"', 'sh', SPEC_TEXT, fifo]);
    const result = tre(['submit', fifo, '--site', site('site.yaml'), '--token-file', tokenFile]);
    await new Promise((resolve) => writer.on('close', resolve));
    expect(result).toMatchObject({ status: 0, stderr: '' });
    const [dir] = jobDirs();
    expect(readFileSync(join(dir as string, 'spec.yaml'), 'utf8')).toBe(SPEC_TEXT);
    expect(readJobRecord(dir as string)).toMatchObject({ spec: 'spec.yaml', specSource: fifo });
  });

  it('a record written before there were these fields still reads, each of them null', () => {
    const dir = join(f.root, 'old');
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'job.json'), JSON.stringify({ jobId: '7', cluster: null, jobName: 'probe:1.0', image: IMAGE, submittedAt: '2026-01-01T00:00:00.000Z', jobDir: dir, outputLog: join(dir, 'output.log') }), { mode: 0o600 });
    expect(readJobRecord(dir)).toMatchObject({ jobId: '7', containerName: null, source: 'submit', spec: null, site: null, specSource: null, resubmitOf: null, service: null, runtime: null });
  });

  it('a record is taken only from a directory of the user that no one else can write, naming that directory', () => {
    const record = (dir: string) => JSON.stringify({ jobId: '7', cluster: null, jobName: 'probe:1.0', image: IMAGE, submittedAt: '2026-01-01T00:00:00.000Z', jobDir: dir, outputLog: join(dir, 'output.log'), spec: 'spec.yaml', site: '/tmp/evil-site.yaml' });
    const make = (name: string, dirMode: number, fileMode: number, names = (dir: string) => dir) => {
      const dir = join(f.root, name);
      mkdirSync(dir, { mode: dirMode });
      writeFileSync(join(dir, 'job.json'), record(names(dir)), { mode: fileMode });
      return dir;
    };
    expect(readJobRecord(make('private', 0o700, 0o600))).not.toBeNull();
    expect(readJobRecord(make('shared-dir', 0o777, 0o600))).toBeNull(); // anyone could have put it there
    expect(readJobRecord(make('group-dir', 0o770, 0o600))).toBeNull();
    expect(readJobRecord(make('shared-file', 0o700, 0o666))).toBeNull();
    expect(readJobRecord(make('elsewhere', 0o700, 0o600, () => join(f.root, 'private')))).toBeNull(); // names another directory
    const linked = join(f.root, 'linked');
    mkdirSync(linked, { mode: 0o700 });
    symlinkSync(join(f.root, 'private', 'job.json'), join(linked, 'job.json'));
    expect(readJobRecord(linked)).toBeNull();
  });

  it('ood --job-dir keeps the equivalent spec (as --spec prints it) and records it', () => {
    const siteFile = site('site.yaml');
    const form = JSON.stringify({ image: IMAGE, cpus: '2', env_vars: 'A=1' });
    const dir = join(f.root, 'staged');
    expect(tre(['ood', '--form-json', form, '--site', siteFile, '--job-dir', dir, '--session', 'S1'])).toMatchObject({ status: 0, stderr: '' });
    expect(readFileSync(join(dir, 'spec.yaml'), 'utf8')).toBe(tre(['ood', '--form-json', form, '--site', siteFile, '--spec']).stdout);
    expect(mode(join(dir, 'spec.yaml'))).toBe('600');
    expect(readJobRecord(dir)).toMatchObject({ source: 'ood', jobId: null, spec: 'spec.yaml', site: siteFile, specSource: null });
  });
});

describe('tre-job resubmit', () => {
  it('submits the kept spec again into a new job directory, with the recorded site file, and prints the new job id', () => {
    const siteFile = site('site.yaml', { partition: 'recorded' });
    const spec = writeSpec();
    const first = submit([spec, '--site', siteFile]);
    rmSync(spec); // the user's file may be gone or changed: the kept copy is what is submitted
    const result = tre(['resubmit', first.jobId, '--token-file', tokenFile]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('4243\n');
    // The default site now is the built-in one: say which is used.
    expect(result.stderr).toBe(`tre-job: using the site file job 4242 was submitted with, ${siteFile} (the default now is the built-in site; another one with --site FILE)\n`);
    const dir = jobDirs().find((d) => d !== first.dir) as string;
    expect(jobDirs()).toHaveLength(2);
    expect(readFileSync(join(dir, 'spec.yaml'))).toEqual(Buffer.from(SPEC_TEXT));
    expect(mode(join(dir, 'spec.yaml'))).toBe('600');
    expect(readFileSync(join(dir, 'credentials'), 'utf8')).toBe(TOKEN);
    expect(readFileSync(join(dir, 'job.sh'), 'utf8')).toContain('#SBATCH --partition=recorded');
    expect(readJobRecord(dir)).toMatchObject({ jobId: '4243', spec: 'spec.yaml', site: siteFile, specSource: spec, resubmitOf: '4242' });
    expect(submits()[1]).toBe(`${dir} --parsable ${join(dir, 'job.sh')}`);
  });

  it('says nothing about the site when the recorded one is the default, and --site overrides it', () => {
    const recorded = site('site.yaml', { partition: 'recorded' });
    const first = submit([writeSpec(), '--site', recorded]);
    process.env.TRE_JOB_SITE = recorded;
    expect(tre(['resubmit', first.jobId, '--token-file', tokenFile])).toEqual({ status: 0, stdout: '4243\n', stderr: '' });
    const other = site('other.yaml', { partition: 'other' });
    const result = tre(['resubmit', first.jobId, '--site', other, '--token-file', tokenFile, '--json']);
    expect(result.stderr).toBe('');
    const printed = JSON.parse(result.stdout) as { jobId: string; jobDir: string };
    expect(printed.jobId).toBe('4244');
    expect(readFileSync(join(printed.jobDir, 'job.sh'), 'utf8')).toContain('#SBATCH --partition=other');
    expect(readJobRecord(printed.jobDir)).toMatchObject({ site: other, resubmitOf: '4242' });
  });

  it('renders with the built-in site when the job was, even if $TRE_JOB_SITE is set now', () => {
    const first = submit([writeSpec('hello.yaml', 'image: ghcr.io/mikej888/hello-tre:1.0\nregistry: {username: treuser}\nsafeData: none\n')]);
    expect(first.record?.site).toBeNull();
    process.env.TRE_JOB_SITE = site('site.yaml', { partition: 'fromenv' });
    const result = tre(['resubmit', first.jobId, '--token-file', tokenFile]);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe(`tre-job: using the site file job 4242 was submitted with, the built-in site (the default now is ${process.env.TRE_JOB_SITE}; another one with --site FILE)\n`);
    const dir = jobDirs().find((d) => d !== first.dir) as string;
    expect(readFileSync(join(dir, 'job.sh'), 'utf8')).not.toContain('--partition=fromenv');
  });

  it('refuses when the recorded site file is gone, and submits nothing', () => {
    const recorded = site('site.yaml');
    const first = submit([writeSpec(), '--site', recorded]);
    rmSync(recorded);
    const result = tre(['resubmit', first.jobId, '--token-file', tokenFile]);
    expect(result).toEqual({ status: 2, stdout: '', stderr: `tre-job: site: ${recorded}, the site file job 4242 was submitted with, no longer exists: give one with --site FILE\n` });
    expect(jobDirs()).toEqual([first.dir]);
    expect(submits()).toHaveLength(1);
  });

  it('--dry-run prints the sbatch command of a new job directory and writes nothing', () => {
    const first = submit([writeSpec(), '--site', site('site.yaml')]);
    process.env.TRE_JOB_SITE = first.record?.site as string;
    const result = tre(['resubmit', first.jobId, '--dry-run']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^'${sbatch}' '--parsable' '${jobsDir()}/\\d{8}-\\d{6}-[0-9a-f]{6}/job\\.sh'\\n$`));
    expect(result.stdout).not.toContain(first.dir);
    expect(jobDirs()).toEqual([first.dir]);
    expect(submits()).toHaveLength(1);
  });

  it('asks for the token as submit does', () => {
    const first = submit([writeSpec(), '--site', site('site.yaml')]);
    const message = 'tre-job: token: registry.username is set but no token was given (use --token-file, --token-stdin or TRE_JOB_REGISTRY_TOKEN)\n';
    expect(tre(['submit', writeSpec(), '--site', first.record?.site as string])).toEqual({ status: 2, stdout: '', stderr: message });
    expect(tre(['resubmit', first.jobId, '--site', first.record?.site as string])).toEqual({ status: 2, stdout: '', stderr: message });
    expect(jobDirs()).toEqual([first.dir]);
  });

  it('refuses a job made before specs were kept (one line, exit 2), and one whose kept spec is gone', () => {
    const old = submit([writeSpec(), '--site', site('site.yaml')]);
    const { spec: _spec, site: _site, specSource: _source, resubmitOf: _of, ...before } = old.record as NonNullable<typeof old.record>;
    writeFileSync(join(old.dir, 'job.json'), JSON.stringify(before));
    rmSync(join(old.dir, 'spec.yaml'));
    expect(tre(['resubmit', '4242', '--token-file', tokenFile])).toEqual({
      status: 2,
      stdout: '',
      stderr: `tre-job: JOBID: job 4242 cannot be resubmitted: it was submitted before tre-job kept the spec in the job directory (${old.dir}): submit its spec file again with tre-job submit\n`,
    });
    const kept = submit([writeSpec(), '--site', site('site.yaml')]);
    rmSync(join(kept.dir, 'spec.yaml'));
    expect(tre(['resubmit', kept.jobId, '--token-file', tokenFile]).stderr).toBe(`tre-job: JOBID: job ${kept.jobId} cannot be resubmitted: its kept spec ${join(kept.dir, 'spec.yaml')} is gone\n`);
    expect(submits()).toHaveLength(2);
  });

  it('refuses a job it does not know, and a job id that is not one', () => {
    expect(tre(['resubmit', '999', '--site', site('site.yaml')])).toEqual({
      status: 2,
      stdout: '',
      stderr: "tre-job: JOBID: job 999 is not one of your tre-job jobs and Slurm does not know it\n",
    });
    expect(tre(['resubmit', 'x1', '--site', site('site.yaml')])).toMatchObject({ status: 2, stderr: 'tre-job: JOBID: "x1" is not a Slurm job id\n' });
    expect(submits()).toEqual([]);
  });

  it('resubmits an OOD session from its kept spec as a CLI job, and an old session points to the dashboard', () => {
    const siteFile = site('site.yaml');
    const staged = join(f.root, 'staged');
    expect(tre(['ood', '--form-json', JSON.stringify({ image: IMAGE }), '--site', siteFile, '--job-dir', staged, '--session', 'S1']).status).toBe(0);
    // OnDemand ran sbatch: the session's job id is known (jobs.ts writes it into the record).
    const record = JSON.parse(readFileSync(join(staged, 'job.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(staged, 'job.json'), JSON.stringify({ ...record, jobId: '77' }));
    const result = tre(['resubmit', '77', '--site', siteFile]);
    expect(result).toEqual({ status: 0, stdout: '4242\n', stderr: 'tre-job: job 77 was an OnDemand session: the new job runs outside OnDemand (it is not on the dashboard)\n' });
    const [dir] = jobDirs();
    expect(readFileSync(join(dir as string, 'spec.yaml'), 'utf8')).toBe(readFileSync(join(staged, 'spec.yaml'), 'utf8'));
    expect(readJobRecord(dir as string)).toMatchObject({ source: 'submit', resubmitOf: '77', specSource: null });

    const { spec: _spec, ...before } = record;
    writeFileSync(join(staged, 'job.json'), JSON.stringify({ ...before, jobId: '77' }));
    expect(tre(['resubmit', '77', '--site', siteFile]).stderr).toBe(
      `tre-job: JOBID: job 77 cannot be resubmitted: its directory ${staged} holds no spec (an OnDemand session started before tre-job kept one): start it again from the OnDemand dashboard\n`,
    );
  });

  it('--help shows examples', () => {
    const result = tre(['resubmit', '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Examples:\n  tre-job resubmit 1234 --token-file');
  });
});

describe('resubmit and arrays', () => {
  it('resubmits an array whole by its id; a task id is refused, naming the array id to use', () => {
    const file = writeSpec('array.yaml', `${SPEC_TEXT}\narray: {items: [a, b], parallel: 1}\n`);
    const { jobId } = submit([file, '--site', site('site.yaml')]);
    const refused = tre(['resubmit', `${jobId}_1`, '--token-file', tokenFile]);
    expect(refused.stderr).toBe(`tre-job: JOBID: ${jobId}_1 is one task of the array ${jobId}: tre-job resubmit ${jobId} runs the whole array again\n`);
    expect(refused.status).toBe(2);
    expect(submits()).toHaveLength(1);
    const again = tre(['resubmit', jobId, '--token-file', tokenFile]);
    expect(again.status).toBe(0);
    const dir = jobDirs().find((d) => readJobRecord(d)?.jobId === again.stdout.trim()) as string;
    expect(readJobRecord(dir)).toMatchObject({ array: { tasks: 2, parallel: 1 }, resubmitOf: jobId });
    expect(readFileSync(join(dir, 'items'), 'utf8')).toBe('a\nb\n');
  });
});
