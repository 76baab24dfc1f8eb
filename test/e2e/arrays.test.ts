// Job arrays on the real stack (docs/design/arrays.md): each task's outputs apart, one pull per
// node for the whole array, the token removed once every task is past its pull, and every way
// a task ends (done, scancel of one task or of the array, SIGKILL and gc) leaves nothing behind.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers';
import { describeE2E, homeOf, listHome, podmanPsAll, readNulList, requireStack, run, runAs, StackEnv } from './lib/stack';
import { killJobProcesses, probeSpec, removeSpecs, submitAs, Submitted, treJobAs, until } from './lib/tre';

jest.setTimeout(300000);
const REGISTRY_LOG = '/var/log/tre-registry.log';
const ACTIVE = /JobState=(PENDING|RUNNING|COMPLETING|CONFIGURING|SUSPENDED|REQUEUED)/;

/** Task T's log of an array (output-%a.log). */
const taskLog = (submitted: Submitted, task: number) => submitted.outputLog.replace('%a', String(task));
const readTaskLog = (submitted: Submitted, task: number) => (existsSync(taskLog(submitted, task)) ? readFileSync(taskLog(submitted, task), 'utf8') : '');

/** Slurm's lines for the array (one per task it has started, one for the pending rest). */
function arrayLines(arrayId: string): string[] {
  return run('scontrol', ['show', 'job', '-o', arrayId]).stdout.split('\n').filter((l) => l.includes(`ArrayJobId=${arrayId} `));
}

/** Wait until no task of the array is pending or running. */
async function arrayEnded(arrayId: string, timeoutMs = 240000): Promise<string[]> {
  let lines: string[] = [];
  await until(() => {
    lines = arrayLines(arrayId);
    return lines.length > 0 && !lines.some((l) => ACTIVE.test(l));
  }, timeoutMs, `array ${arrayId} to end`, 500);
  return lines;
}

/** The raw Slurm job id of task T (each task has its own; an Epilog is given that one). */
function rawJobId(arrayId: string, task: number): string {
  const line = arrayLines(arrayId).find((l) => new RegExp(`ArrayTaskId=${task} `).test(l));
  const id = /^JobId=([0-9]+) /.exec(line ?? '')?.[1];
  if (!id) throw new Error(`no job id for ${arrayId}_${task}: ${arrayLines(arrayId).join('\n')}`);
  return id;
}

/** The lines the registry logged after byte `from`, as `METHOD PATH STATUS`, for the probe image. */
function registryRequests(from: number): string[] {
  const text = readFileSync(REGISTRY_LOG).subarray(from).toString('utf8');
  return [...text.matchAll(/"(GET|HEAD) (\/v2\/tre\/probe\/\S+) HTTP\/[0-9.]+" ([0-9]{3}) /g)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
}

/** Remove the user's copy of the probe image by id (by name only untags it), so the next pull is real. */
function removeProbeImage(user: string, stack: StackEnv): void {
  const id = runAs(user, `podman image inspect --format '{{.Id}}' ${stack.probeImage}`).stdout.trim();
  if (id) expect(runAs(user, `podman rmi -f ${id}`).status).toBe(0);
}

/**
 * What this array leaves in a home: its tasks' scratch dirs (scratch-NUMBER-TASK), its tasks'
 * containers, markers naming its job directory, and its token.
 */
function leftovers(user: string, submitted: Submitted) {
  const home = homeOf(user);
  const active = join(home, '.tre-job', 'active');
  const number = /Outputs: \S+\/outputs-([0-9]+)\/[0-9]+ /.exec(readTaskLog(submitted, 0))?.[1] ?? 'none';
  const markers = existsSync(active) ? readdirSync(active) : [];
  return {
    scratch: listHome(user, new RegExp(`^scratch-${number}-`)),
    containers: podmanPsAll(user).filter((name) => name.includes(`-${submitted.jobId}_`)),
    markers: markers.filter((name) => readFileSync(join(active, name), 'utf8').split('\n')[0] === submitted.jobDir),
    credentials: existsSync(join(submitted.jobDir, 'credentials')),
  };
}

const NOTHING_LEFT = { scratch: [], containers: [], markers: [], credentials: false };

describeE2E('job arrays', () => {
  let stack: StackEnv;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
  });
  afterAll(removeSpecs);

  it('podman: 5 items, 2 at once: each task writes only its own outputs-N/TASK, one pull, the token gone, nothing left', async () => {
    removeProbeImage('alice', stack);
    const from = statSync(REGISTRY_LOG).size;
    const items = ['p01.csv', 'p 02.csv', "it's", '$(id)', 'p05'];
    const submitted = submitAs('alice', stack, probeSpec(stack, { array: { items, parallel: 2 }, safeData: 'none', args: ['${TRE_ITEM}', 'task-${TRE_TASK}'], env: { PROBE_LS: '/safe_outputs' } }));
    const lines = await arrayEnded(submitted.jobId);
    expect(lines.map((l) => /JobState=(\S+)/.exec(l)?.[1])).toEqual(Array(5).fill('COMPLETED'));

    const logs = items.map((_, task) => readTaskLog(submitted, task));
    const number = /Outputs: \S+\/outputs-([0-9]+)\/0 /.exec(logs[0] ?? '')?.[1];
    expect(number).toBeDefined();
    const outputs = join(homeOf('alice'), `outputs-${number}`);
    expect(readdirSync(outputs).sort()).toEqual(['0', '1', '2', '3', '4']);
    items.forEach((item, task) => {
      expect(logs[task]).toContain(`tre-job INFO: Job ${submitted.jobId}_${task} started on `);
      expect(logs[task]).toContain(`tre-job INFO: Outputs: ${outputs}/${task} (mounted at /safe_outputs`);
      expect(logs[task]).toContain(`tre-job INFO: Container probe-${submitted.jobId}_${task} is now running`);
      expect(logs[task]).toContain('tre-job INFO: Job finished with exit status 0');
      // The task's item and index, in its arguments and its environment.
      expect(readNulList(join(outputs, String(task), 'probe', 'argv'))).toEqual([item, `task-${task}`]);
      const env = readNulList(join(outputs, String(task), 'probe', 'env-exec'));
      expect(env).toEqual(expect.arrayContaining([`TRE_TASK=${task}`, `TRE_ITEM=${item}`]));
      // /safe_outputs is the task's own directory: it lists the probe's files, not other tasks'.
      const listing = (logs[task] ?? '').split('probe: ls -la /safe_outputs\n')[1]?.split('probe: argc')[0] ?? '';
      expect(listing).toContain(' probe\n');
      expect(listing).not.toMatch(/ [0-4]\n/);
      expect(statSync(join(outputs, String(task))).mode & 0o077).toBe(0);
    });
    expect(statSync(outputs).mode & 0o077).toBe(0);

    // One login and one pull for the array; the other four tasks used what it pulled.
    const requests = registryRequests(from);
    expect(requests.filter((r) => /^GET \/v2\/tre\/probe\/manifests\/1\.0 200$/.test(r))).toHaveLength(1);
    expect(logs.filter((log) => log.includes('tre-job INFO: Pulling '))).toHaveLength(1);
    expect(logs.filter((log) => log.includes('as a task of this array pulled it on '))).toHaveLength(4);
    expect(logs.filter((log) => log.includes('Removed the registry token: every task of the array is past its pull'))).toHaveLength(1);
    expect(leftovers('alice', submitted)).toEqual(NOTHING_LEFT);
    expect(existsSync(join(homeOf('alice'), '.tre-job', 'credentials', submitted.jobDir.replace(/\//g, '%')))).toBe(false);
  });

  it('scancel of one task, SIGKILL of another and gc, then scancel of the array: nothing left, gc removes the token', async () => {
    const submitted = submitAs('carol', stack, probeSpec(stack, { array: { count: 6, parallel: 2 }, safeData: 'none', env: { PROBE_SLEEP: '600' } }));
    const id = submitted.jobId;
    const home = homeOf('carol');
    const sleeping = (task: number) => /Outputs: (\S+) /.exec(readTaskLog(submitted, task))?.[1];
    await until(() => [0, 1].every((t) => sleeping(t) !== undefined && existsSync(join(sleeping(t) as string, 'probe-sleeping'))), 90000, 'tasks 0 and 1 to sleep', 200);
    const number = /outputs-([0-9]+)\//.exec(sleeping(0) as string)?.[1];
    const scratch = (task: number) => join(home, `scratch-${number}-${task}`);
    expect(existsSync(scratch(0)) && existsSync(scratch(1))).toBe(true);

    // scancel ID_1: task 1 cleans up; task 0 is untouched.
    expect(runAs('carol', `scancel ${id}_1`).status).toBe(0);
    await until(() => readTaskLog(submitted, 1).includes('Job finished with exit status 143'), 30000, 'task 1 to clean up', 100);
    expect(existsSync(scratch(1))).toBe(false);
    expect(podmanPsAll('carol')).not.toContain(`probe-${id}_1`);
    expect(podmanPsAll('carol')).toContain(`probe-${id}_0`);
    expect(existsSync(scratch(0))).toBe(true);

    // SIGKILL of task 0's script: no trap runs; gc --job RAWID (as an Epilog would) removes only task 0's things.
    const raw0 = rawJobId(id, 0);
    killJobProcesses(raw0);
    await until(() => !arrayLines(id).some((l) => l.startsWith(`JobId=${raw0} `) && ACTIVE.test(l)), 30000, 'task 0 to end', 200);
    await until(() => sleeping(2) !== undefined && existsSync(join(sleeping(2) as string, 'probe-sleeping')), 90000, 'task 2 to sleep', 200);
    expect(existsSync(scratch(0))).toBe(true);
    expect(podmanPsAll('carol')).toContain(`probe-${id}_0`);
    const gc = treJobAs('carol', ['gc', '--job', raw0, '--site', stack.site]);
    expect(gc.status).toBe(0);
    expect(gc.stdout).toContain(`job ${raw0}: removed ${scratch(0)}, container probe-${id}_0`);
    expect(existsSync(scratch(0))).toBe(false);
    expect(podmanPsAll('carol')).not.toContain(`probe-${id}_0`);
    expect(existsSync(scratch(2))).toBe(true);
    expect(podmanPsAll('carol')).toContain(`probe-${id}_2`);
    expect(existsSync(join(submitted.jobDir, 'credentials'))).toBe(true); // tasks 3-5 still need it

    // scancel ID: the running tasks clean up; the pending ones never start.
    expect(runAs('carol', `scancel ${id}`).status).toBe(0);
    const lines = await arrayEnded(id);
    expect(lines.filter((l) => /JobState=CANCELLED/.test(l)).length).toBeGreaterThanOrEqual(2);
    await until(() => podmanPsAll('carol').length === 0, 15000, 'containers to go', 500);
    expect(leftovers('carol', submitted)).toEqual({ ...NOTHING_LEFT, credentials: true });
    // Outputs are kept: the tasks that ran wrote theirs.
    expect(existsSync(join(home, `outputs-${number}`, '1', 'probe-sleeping'))).toBe(true);

    // No task is pending or running: gc removes the array's token.
    const sweep = treJobAs('carol', ['gc', '--site', stack.site]);
    expect(sweep.status).toBe(0);
    expect(sweep.stdout).toContain(`removed ${join(submitted.jobDir, 'credentials')}`);
    expect(leftovers('carol', submitted)).toEqual(NOTHING_LEFT);
  });

  it('a cancel of a 200-task array mid-way: 0 scratch dirs, 0 containers, 0 markers, and after the Epilog 0 credentials files', async () => {
    const submitted = submitAs('erin', stack, probeSpec(stack, { array: { count: 200, parallel: 2 }, safeData: 'none', env: { PROBE_SLEEP: '1' } }));
    const id = submitted.jobId;
    await until(() => [0, 1, 2, 3, 4, 5].every((t) => readTaskLog(submitted, t).includes('Job finished with exit status 0')), 120000, 'six tasks to finish', 200);
    expect(runAs('erin', `scancel ${id}`).status).toBe(0);
    const lines = await arrayEnded(id);
    const ran = lines.filter((l) => !/ArrayTaskId=[0-9]+-/.test(l)).length;
    expect(ran).toBeLessThan(200); // cancelled mid-way: the pending rest never ran
    expect(lines.some((l) => /ArrayTaskId=[0-9]+-199(%2)? .*JobState=CANCELLED/.test(l))).toBe(true);
    await until(() => podmanPsAll('erin').length === 0, 15000, 'containers to go', 500);
    expect(leftovers('erin', submitted)).toEqual({ ...NOTHING_LEFT, credentials: true });
    // The Epilog of the last task that ran, as slurmd runs it: as root, with that task's own id.
    const last = Math.max(...lines.map((l) => Number(/^JobId=([0-9]+) /.exec(l)?.[1])).filter((n) => n !== Number(id)));
    const epilogLog = `/tmp/tre-e2e-epilog-array-${id}.log`;
    const epilog = spawnSync('bash', [join(ROOT, 'contrib', 'slurm-epilog.sh')], {
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', SLURM_JOB_ID: String(last), SLURM_JOB_USER: 'erin', TRE_JOB_BIN: `node ${join(ROOT, 'bin', 'tre-job')}`, TRE_JOB_EPILOG_LOG: epilogLog },
      encoding: 'utf8',
    });
    expect(epilog.status).toBe(0);
    expect(readFileSync(epilogLog, 'utf8')).toMatch(new RegExp(`job ${last} user erin: credentials of jobs that ended before they pulled: removed (\\S+, )*${join(submitted.jobDir, 'credentials')}`));
    expect(leftovers('erin', submitted)).toEqual(NOTHING_LEFT);
    // The tasks that finished kept their outputs; no task that never ran left a directory.
    const number = /Outputs: \S+\/outputs-([0-9]+)\/0 /.exec(readTaskLog(submitted, 0))?.[1];
    const outputs = readdirSync(join(homeOf('erin'), `outputs-${number}`)).map(Number);
    expect(outputs).toEqual(expect.arrayContaining([0, 1, 2, 3, 4, 5]));
    expect(Math.max(...outputs)).toBeLessThan(ran);
  });

  it('time limit: every task is stopped before it, exits 124 and cleans up', async () => {
    const submitted = submitAs('frank', stack, probeSpec(stack, { time: '00:01:00', array: { count: 2 }, safeData: 'none', env: { PROBE_SLEEP: '600' } }));
    await arrayEnded(submitted.jobId, 180000);
    // slurmctld can show a task FAILED a moment before its exit code (seen once in CI: ExitCode=0:0,
    // then 124:0 in the same task's line): read the lines again once the codes are set.
    const settled = () => arrayLines(submitted.jobId).every((l) => !/ ExitCode=0:0 /.test(l));
    await until(settled, 10000, `exit codes of array ${submitted.jobId}`, 200).catch(() => undefined);
    const lines = arrayLines(submitted.jobId);
    expect(lines.map((l) => / ExitCode=([0-9]+):/.exec(l)?.[1])).toEqual(['124', '124']);
    [0, 1].forEach((task) => {
      const log = readTaskLog(submitted, task);
      expect(log).toContain('tre-job ERROR: Job is about to reach its time limit (SIGUSR1): stopping the container and cleaning up');
      expect(log).toContain(`tre-job INFO: Removed container probe-${submitted.jobId}_${task}`);
      expect(log).toContain('tre-job INFO: Job finished with exit status 124');
    });
    expect(leftovers('frank', submitted)).toEqual(NOTHING_LEFT);
  });

  it('apptainer: 4 tasks, 2 at once: one SIF pull for the array, outputs apart, nothing left', async () => {
    const sif = join(homeOf('dave'), 'probe:1.0.sif');
    runAs('dave', `rm -f ${sif}`);
    const submitted = submitAs('dave', stack, probeSpec(stack, { runtime: 'apptainer', array: { count: 4, parallel: 2 }, safeData: 'none', args: ['task-${TRE_TASK}'] }));
    const lines = await arrayEnded(submitted.jobId);
    expect(lines.map((l) => /JobState=(\S+)/.exec(l)?.[1])).toEqual(Array(4).fill('COMPLETED'));
    const logs = [0, 1, 2, 3].map((task) => readTaskLog(submitted, task));
    expect(logs.filter((log) => log.includes('tre-job INFO: Pulling '))).toHaveLength(1);
    expect(logs.filter((log) => log.includes('as a task of this array pulled it'))).toHaveLength(3);
    const number = /Outputs: \S+\/outputs-([0-9]+)\/0 /.exec(logs[0] ?? '')?.[1];
    const outputs = join(homeOf('dave'), `outputs-${number}`);
    [0, 1, 2, 3].forEach((task) => expect(readNulList(join(outputs, String(task), 'probe', 'argv'))).toEqual([`task-${task}`]));
    const tmp = join(homeOf('dave'), '.tre-job', 'tmp');
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
    expect(leftovers('dave', submitted)).toEqual(NOTHING_LEFT);
  });
});
