// The Open OnDemand app on the real stack: each test does what the dashboard does for a
// session (test/fixtures/ood/ood.rb, run as the user with the form values on stdin): render
// submit.yml.erb (tre-job renders into the staged root), stage template/, build the job
// script of OnDemand's basic template (background script.sh + wait, with the app's
// signal-forwarding script_wrapper), submit it with sbatch and the native options, and
// save the session record and form cache. Then the job runs on Slurm with rootless Podman.
// Checks name this job's own scratch and container: other tests may run jobs as the same users.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT } from '../helpers';
import { LOG } from '../../src/contract';
import { describeE2E, homeOf, jobInfo, podmanPsAll, readNulList, readToken, requireStack, run, runAs, shq, StackEnv } from './lib/stack';
import { batchForm, finished, oodSiteDir, processesOf, Submitted, until, waitUntilSleeping } from './lib/tre';

jest.setTimeout(240000);
const KILL_WAIT_MS = 5000;
const APP = join(ROOT, 'ood', 'apps', 'batch_container');
const OOD_RB = join(ROOT, 'test', 'fixtures', 'ood', 'ood.rb');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Session {
  id: string;
  stagedRoot: string;
  jobId: string;
  sbatchArgs: string[];
  submitted: Submitted;
}

/** Every regular file under DIR (read as root). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

describeE2E('Open OnDemand Run Batch Container app on the real stack', () => {
  let stack: StackEnv;
  let token: string;
  let siteDir: string;

  beforeAll(() => {
    stack = requireStack() as StackEnv;
    token = readToken(stack);
    siteDir = oodSiteDir(stack, 'ood');
  });
  afterAll(() => rmSync(siteDir, { recursive: true, force: true }));

  const form = (values: Record<string, string> = {}): Record<string, string> => batchForm(stack, token, values);

  /** What the dashboard does when USER submits the form: returns the session. */
  function oodSubmit(user: string, values: Record<string, string>, extraEnv: Record<string, string> = {}): Session {
    const dataroot = join(homeOf(user), 'ondemand', 'data', 'sys', 'dashboard');
    const r = runAs(user, ['ruby', OOD_RB, 'save', APP, dataroot].map(shq).join(' '), {
      input: JSON.stringify(values),
      env: { TRE_JOB_BIN: BIN, TRE_JOB_SITE_DIR: siteDir, ...extraEnv },
    });
    if (r.status !== 0) throw new Error(`OnDemand stand-in as ${user} exited ${r.status}: ${r.stderr.trim()}`);
    const s = JSON.parse(r.stdout) as Omit<Session, 'submitted'>;
    return { ...s, submitted: { jobId: s.jobId, jobDir: s.stagedRoot, script: join(s.stagedRoot, 'tre-job.sh'), outputLog: join(s.stagedRoot, 'output.log') } };
  }

  function expectNoToken(user: string, session: Session): void {
    const tree = join(homeOf(user), 'ondemand');
    const files = filesUnder(tree);
    expect(files).toContain(join(session.stagedRoot, 'user_defined_context.json'));
    expect(files.some((f) => f.includes('/batch_connect/cache/'))).toBe(true);
    expect(files.some((f) => f.includes('/batch_connect/db/'))).toBe(true);
    for (const file of files) {
      if (readFileSync(file, 'utf8').includes(token)) throw new Error(`the registry token is in ${file}`);
    }
  }

  it('runs the container from the form: job NAME:TAG, container NAME-SESSION_ID, outputs kept, scratch gone, no token left anywhere', async () => {
    const session = oodSubmit('alice', form());
    const { stagedRoot, id } = session;
    expect(id).toMatch(UUID);
    expect(stagedRoot).toBe(join(homeOf('alice'), 'ondemand/data/sys/dashboard/batch_connect/sys/batch_container/output', id));
    expect(session.sbatchArgs).toEqual(expect.arrayContaining(['-J', 'probe:1.0', '-t', '06:00:00', '--export', 'NONE', '--signal=B:USR1@30', '--cpus-per-task=1', '--mem=1G']));
    const content = readFileSync(join(stagedRoot, 'job_script_content.sh'), 'utf8');
    expect(content).toContain('tre_ood_forward');
    expect(content).not.toContain(token);
    // Slurm's stored copy of the batch script carries no token either.
    const stored = runAs('alice', `scontrol write batch_script ${session.jobId} -`);
    expect(stored.status).toBe(0);
    expect(stored.stdout).toContain('tre_ood_forward');
    expect(stored.stdout).not.toContain(token);

    const { job, log, outputs } = await finished(session.submitted);
    expect(job.state).toBe('COMPLETED');
    expect(job.exitCode).toBe(0);
    expect(jobInfo(session.jobId)?.raw).toContain('JobName=probe:1.0');
    expect(log).toContain(`tre-job INFO: Container probe-${id} is now running. Please wait until the container completes.`);
    expect(log).toContain('tre-job INFO: Job finished with exit status 0');
    expect(log).toContain('Script starting...'); // OnDemand's own script ran it
    expect(log).not.toContain(token);
    expect(readNulList(join(outputs, 'probe', 'argv'))).toEqual(['-d', '5', '-n', 'two words', 'alice']);
    expect(readNulList(join(outputs, 'probe', 'env'))).toContain('GREETING=hello from alice');
    expect(existsSync(join(outputs, 'probe-wrote'))).toBe(true);
    expect(existsSync(outputs.replace('/outputs-', '/scratch-'))).toBe(false);
    expect(podmanPsAll('alice')).not.toContain(`probe-${id}`);
    expect(readdirSync(stagedRoot).sort()).toEqual([
      'connection.yml', 'job.json', 'job_script_content.sh', 'job_script_options.json', 'ledger', 'output.log', 'script.sh', 'spec.yaml', 'tre-job.sh', 'user_defined_context.json',
    ]);
    expect(JSON.parse(readFileSync(join(stagedRoot, 'user_defined_context.json'), 'utf8')).registry_token).toBe('');
    expectNoToken('alice', session);
  });

  it('runs the form with runner apptainer on real Apptainer: the same argv and env, the SIF in the home, no token left', async () => {
    const session = oodSubmit('alice', form({ runner: 'apptainer', reuse_sif: '0' }));
    const { job, log, outputs } = await finished(session.submitted);
    expect(job.exitCode).toBe(0);
    expect(log).toContain(`tre-job INFO: Container ${homeOf('alice')}/probe:1.0.sif is now running.`);
    expect(readNulList(join(outputs, 'probe', 'argv'))).toEqual(['-d', '5', '-n', 'two words', 'alice']);
    expect(readNulList(join(outputs, 'probe', 'env'))).toContain('GREETING=hello from alice');
    expect(existsSync(join(session.stagedRoot, 'credentials'))).toBe(false);
    expectNoToken('alice', session);
  });

  it('Items: one array task a line (CR LF, a blank line skipped), each with its item and index, its own outputs-N/TASK and log; nothing left behind', async () => {
    const items = ['one', 'two words', 'three'];
    const session = oodSubmit('alice', form({
      array_items: 'one\r\n\r\ntwo words\r\nthree\r\n',
      array_parallel: '2',
      env_vars: 'ITEM=${TRE_ITEM}\r\n',
      container_args: '-n ${TRE_TASK} "${TRE_ITEM}"',
    }));
    expect(session.sbatchArgs).toContain('--array=0-2%2');
    // The array has ended when Slurm lists none of its tasks as pending or running.
    const pending = () => run('squeue', ['-h', '-j', session.jobId, '-o', '%i']);
    expect(pending().status).toBe(0);
    await until(() => pending().stdout.trim() === '', 180000, 'the array to end', 500);
    let number = '';
    for (const [task, item] of items.entries()) {
      const log = readFileSync(join(session.stagedRoot, `output-${task}.log`), 'utf8');
      expect(log).toContain(`Job ${session.jobId}_${task} started`);
      expect(log).toContain(`tre-job INFO: Container probe-${session.id}_${task} is now running.`); // one name per task
      expect(log).toContain('tre-job INFO: Job finished with exit status 0');
      expect(log).not.toContain(token);
      const outputs = LOG.outputs.exec(log)?.[1] ?? '';
      const found = new RegExp(`^${homeOf('alice')}/outputs-([0-9]+)/${task}$`).exec(outputs);
      expect(found).not.toBeNull();
      number ||= found?.[1] ?? '';
      expect(outputs).toBe(join(homeOf('alice'), `outputs-${number}`, String(task))); // one outputs-N for the array
      expect(readNulList(join(outputs, 'probe', 'argv'))).toEqual(['-n', String(task), item]);
      expect(readNulList(join(outputs, 'probe', 'env'))).toEqual(expect.arrayContaining([`ITEM=${item}`, `TRE_ITEM=${item}`, `TRE_TASK=${task}`]));
      expect(existsSync(join(homeOf('alice'), `scratch-${number}-${task}`))).toBe(false);
    }
    expect(readdirSync(join(homeOf('alice'), `outputs-${number}`)).sort()).toEqual(['0', '1', '2']);
    // The completed job card, as OnDemand renders it (the session as self): the tasks counted from their logs.
    const code = 'require "erb"; require "ostruct"; require "pathname"; print ERB.new(File.read(ARGV[0]), trim_mode: "-").result(OpenStruct.new(staged_root: Pathname.new(ARGV[1])).instance_eval { binding })';
    const card = runAs('alice', ['ruby', '-e', code, join(APP, 'completed.md.erb'), session.stagedRoot].map(shq).join(' '), { env: { TRE_JOB_BIN: BIN } });
    expect(card.stderr).toBe('');
    expect(card.stdout).toContain('Job array of 3 tasks (at most 2 at once) has ended: 3 of 3 tasks finished, 3 with exit status 0.');
    expect(card.stdout).toContain(`kept in \`$HOME/outputs-${number}/TASK\``);
    expect(card.stdout).toContain(`\`tre-job status ${session.jobId}\` lists the tasks.`);
    expect(existsSync(join(session.stagedRoot, 'output.log'))).toBe(false); // OnDemand's -o gave way to output-%a.log
    expect(podmanPsAll('alice').filter((name) => name.includes(session.id))).toEqual([]);
    expect(existsSync(join(session.stagedRoot, 'credentials'))).toBe(false);
    expectNoToken('alice', session);
  });

  it('a bad form value fails the submit with the one-line message of tre-job, and nothing is staged or submitted', () => {
    const dataroot = join(homeOf('alice'), 'ondemand', 'data', 'sys', 'dashboard');
    const before = existsSync(join(dataroot, 'batch_connect/sys/batch_container/output')) ? readdirSync(join(dataroot, 'batch_connect/sys/batch_container/output')).length : 0;
    const r = runAs('alice', ['ruby', OOD_RB, 'save', APP, dataroot].map(shq).join(' '), {
      input: JSON.stringify(form({ env_vars: 'NOEQUALS' })),
      env: { TRE_JOB_BIN: BIN, TRE_JOB_SITE_DIR: siteDir },
    });
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toMatch(/^tre-job: env_vars line 1: [^\n]+$/);
    const after = existsSync(join(dataroot, 'batch_connect/sys/batch_container/output')) ? readdirSync(join(dataroot, 'batch_connect/sys/batch_container/output')).length : 0;
    expect(after).toBe(before);
  });

  it('scancel of a running OnDemand job: tre-job.sh gets TERM and cleans up within KillWait (scratch, container), outputs kept', async () => {
    const session = oodSubmit('carol', form({ env_vars: 'PROBE_SLEEP=600' }));
    const container = `probe-${session.id}`;
    const outputs = await waitUntilSleeping(session.submitted);
    const scratch = outputs.replace('/outputs-', '/scratch-');
    expect(existsSync(scratch)).toBe(true);
    expect(processesOf('carol', container).length).toBeGreaterThan(0);

    const t0 = Date.now();
    expect(runAs('carol', `scancel ${session.jobId}`).status).toBe(0);
    const scratchMs = await until(() => !existsSync(scratch), KILL_WAIT_MS, 'scratch to go');
    const containerMs = await until(() => processesOf('carol', container).length === 0, KILL_WAIT_MS, 'container processes to go', 10);
    const { job, log } = await finished(session.submitted);
    console.log(`OOD scancel: scratch gone ${scratchMs} ms, container processes gone ${containerMs} ms after that, job ended ${Date.now() - t0} ms`);
    expect(job.state).toBe('CANCELLED');
    expect(log).toContain('tre-job ERROR: Job cancelled (SIGTERM): stopping the container and cleaning up');
    expect(log).toContain(`tre-job INFO: Removed ${scratch}`);
    expect(log).toContain(`tre-job INFO: Removed container ${container}`);
    expect(log).toContain('tre-job INFO: Job finished with exit status 143');
    expect(podmanPsAll('carol')).not.toContain(container);
    expect(existsSync(join(outputs, 'probe-sleeping'))).toBe(true);
    expect(existsSync(scratch)).toBe(false);
    expectNoToken('carol', session);
  });

  it('USR1 to the batch shell only (what --signal=B:USR1@N sends before the time limit) reaches tre-job.sh through the wrapper: clean-up, exit 124', async () => {
    const session = oodSubmit('carol', form({ env_vars: 'PROBE_SLEEP=600' }));
    const container = `probe-${session.id}`;
    const outputs = await waitUntilSleeping(session.submitted);
    const scratch = outputs.replace('/outputs-', '/scratch-');
    expect(runAs('carol', `scancel --batch --signal=USR1 ${session.jobId}`).status).toBe(0);
    await until(() => !existsSync(scratch), 10000, 'scratch to go');
    const { job, log } = await finished(session.submitted, 60000);
    expect(log).toContain('tre-job ERROR: Job is about to reach its time limit (SIGUSR1): stopping the container and cleaning up');
    expect(log).toContain(`tre-job INFO: Removed container ${container}`);
    expect(log).toContain('tre-job INFO: Job finished with exit status 124');
    expect(log).toContain('Cleaning up...'); // OnDemand's clean_up ran after tre-job.sh's
    expect(job.state).toBe('FAILED');
    expect(job.exitCode).toBe(124);
    expect(podmanPsAll('carol')).not.toContain(container);
    expect(processesOf('carol', container)).toEqual([]);
    expect(existsSync(scratch)).toBe(false);
    expect(statSync(join(outputs, 'probe-sleeping')).isFile()).toBe(true);
  });

  it('control: without the app script_wrapper (OnDemand job script as shipped, ondemand#557) USR1 kills the batch shell and nothing is cleaned up', async () => {
    const session = oodSubmit('carol', form({ env_vars: 'PROBE_SLEEP=600' }), { OOD_STANDIN_DROP_WRAPPER: '1' });
    const container = `probe-${session.id}`;
    const outputs = await waitUntilSleeping(session.submitted);
    const scratch = outputs.replace('/outputs-', '/scratch-');
    try {
      expect(readFileSync(join(session.stagedRoot, 'job_script_content.sh'), 'utf8')).not.toContain('tre_ood_forward');
      expect(runAs('carol', `scancel --batch --signal=USR1 ${session.jobId}`).status).toBe(0);
      const { job, log } = await finished(session.submitted, 60000);
      expect(job.signal).toBe(10); // the batch shell died of SIGUSR1
      expect(log).not.toContain('Job is about to reach its time limit');
      expect(existsSync(scratch)).toBe(true);
      expect(podmanPsAll('carol')).toContain(container);
    } finally {
      runAs('carol', `podman rm --force --time 0 --ignore ${shq(container)} >/dev/null; podman unshare rm -rf -- ${shq(scratch)}`);
    }
    expect(existsSync(scratch)).toBe(false);
  });
});
