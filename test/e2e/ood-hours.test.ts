// The OnDemand apps' Number of hours (bc_num_hours) on the real stack, as user bob: a Jupyter
// session started through the app as the dashboard does (test/fixtures/ood/ood.rb renders
// submit.yml.erb, stages and runs sbatch) with 1 hour asks Slurm for exactly that, not the site's
// maxTime (06:00:00 on the stack); more hours than the back-end allows submits nothing.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, ROOT } from '../helpers';
import { describeE2E, homeOf, jobInfo, readToken, requireStack, runAs, shq, StackEnv } from './lib/stack';
import { oodSiteDir, until } from './lib/tre';

jest.setTimeout(180000);
const APP = join(ROOT, 'ood', 'apps', 'jupyter');
const OOD_RB = join(ROOT, 'test', 'fixtures', 'ood', 'ood.rb');
const USER = 'bob';

describeE2E('Open OnDemand apps: Number of hours on the real stack', () => {
  let stack: StackEnv;
  let siteDir: string;
  let jobId = '';
  const dataroot = () => join(homeOf(USER), 'ondemand', 'data', 'sys', 'dashboard');
  const sessions = () => join(dataroot(), 'batch_connect', 'sys', 'jupyter', 'output');

  beforeAll(() => {
    stack = requireStack() as StackEnv;
    siteDir = oodSiteDir(stack, 'ood-hours');
  });
  afterAll(() => {
    if (jobId) spawnSync('scancel', [jobId]);
    rmSync(siteDir, { recursive: true, force: true });
  });

  /** What the dashboard does when bob submits the Jupyter form with these hours. */
  function oodSave(hours: string) {
    const values = {
      cluster: 'tre', image: stack.vars.TRE_TEST_JUPYTER_IMAGE as string, registry_username: stack.registryUser, registry_token: readToken(stack),
      runner: 'podman', cpus: '1', memory_gib: '2', bc_num_hours: hours, use_gpu: '0', env_vars: '', container_args: '',
    };
    return runAs(USER, ['ruby', OOD_RB, 'save', APP, dataroot()].map(shq).join(' '), { input: JSON.stringify(values), env: { TRE_JOB_BIN: BIN, TRE_JOB_SITE_DIR: siteDir } });
  }

  it("a Jupyter session of 1 hour: Slurm's TimeLimit is 01:00:00 (the site's maxTime is 06:00:00); scancel ends it", async () => {
    const r = oodSave('1');
    expect(r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
    const session = JSON.parse(r.stdout) as { stagedRoot: string; jobId: string; sbatchArgs: string[] };
    jobId = session.jobId;
    expect(session.sbatchArgs.slice(session.sbatchArgs.indexOf('-t'), session.sbatchArgs.indexOf('-t') + 2)).toEqual(['-t', '01:00:00']);
    // Slurm's own record of the job, as scontrol shows it.
    const shown = spawnSync('scontrol', ['show', 'job', jobId], { encoding: 'utf8' });
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/\bTimeLimit=01:00:00\b/);
    expect(shown.stdout).toContain('JobName=jupyter:1.0');

    // Cancelled once the job has pulled (and so deleted its credentials file), as a user would.
    const active = () => /PENDING|RUNNING|CONFIGURING|COMPLETING/.test(jobInfo(jobId)?.state ?? '');
    await until(() => !existsSync(join(session.stagedRoot, 'credentials')) || !active(), 120000, 'the pull', 200);
    expect(spawnSync('scancel', [jobId]).status).toBe(0);
    await until(() => !active(), 120000, 'the job to end', 200);
    jobId = '';
    expect(existsSync(join(session.stagedRoot, 'credentials'))).toBe(false);
  });

  it('7 hours, over the back-end maximum: the one line naming the field, and nothing staged or submitted', () => {
    const before = existsSync(sessions()) ? readdirSync(sessions()).length : 0;
    const r = oodSave('7');
    if (r.status === 0) spawnSync('scancel', [(JSON.parse(r.stdout) as { jobId: string }).jobId]); // (without the check) no job left behind
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe('tre-job: bc_num_hours: 7 is over the site maximum of 6 hours (maxTime 06:00:00)');
    expect(existsSync(sessions()) ? readdirSync(sessions()).length : 0).toBe(before);
  });
});
