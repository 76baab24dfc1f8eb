// Batch jobs with rootless Podman, submitted with `tre-job submit` as real users to a real
// Slurm, pulling from a real authenticated registry (test/e2e/stack/setup.sh builds it all).
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expandModel, HOSTILE, HOSTILE_ENV, hostileArbitraries } from '../fixtures/hostile';
import { describeE2E, homeOf, podmanPsAll, readNulList, requireStack, runAs, StackEnv } from './lib/stack';
import { clearOutputs, finished, homeDirs, probeSpec, removeSpecs, submitAs, treJobAs, writeSpec } from './lib/tre';

jest.setTimeout(180000);

function gidOf(group: string): number {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
  return Number(line?.split(':')[2]);
}
function uidOf(user: string): number {
  return Number(runAs(user, 'id -u').stdout.trim());
}
function reportOf(outputs: string, file: string): string[] {
  return readNulList(join(outputs, 'probe', file));
}

describeE2E('podman batch jobs on the real stack', () => {
  let stack: StackEnv;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin']) clearOutputs(user);
  });
  afterAll(removeSpecs);

  it('runs the container as alice: outputs kept and owned by her, scratch gone, safe data written with the project group, exit 0', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack, { env: { PROBE_SAFE_DATA: '/safe_data/demo', PROBE_TAG: 'job-${SLURM_JOB_ID}' } }));
    const { job, log, outputs } = await finished(submitted);
    expect(job.state).toBe('COMPLETED');
    expect(job.exitCode).toBe(0);
    expect(log).toContain('tre-job INFO: Project directory /safe_data/demo found through your group tre-demo');
    expect(log).toMatch(/probe: argc=0 uid=0 .* wrote=\/safe_outputs\/probe-wrote \/scratch\/probe-wrote \/safe_data\/demo\/probe-wrote-job-[0-9]+/);
    // The log and job dir belong to alice and she can read them.
    expect(runAs('alice', `cat ${submitted.outputLog} >/dev/null`).status).toBe(0);
    // outputs-NUMBER stays, with what the container wrote, owned by alice on the host.
    const alice = uidOf('alice');
    expect(statSync(join(outputs, 'probe-wrote')).uid).toBe(alice);
    expect(statSync(join(outputs, 'probe', 'argv')).uid).toBe(alice);
    expect(homeDirs('alice').scratch).toEqual([]);
    const written = join('/safe_data/demo', `probe-wrote-job-${submitted.jobId}`);
    expect(statSync(written).uid).toBe(alice);
    expect(statSync(written).gid).toBe(gidOf('tre-demo'));
    expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log', 'spec.yaml']);
    expect(podmanPsAll('alice')).toEqual([]);
  });

  it('ends with the container exit status when it is not 0', async () => {
    const { job, log } = await finished(submitAs('alice', stack, probeSpec(stack, { env: { PROBE_EXIT: '3' } })));
    expect(job.state).toBe('FAILED');
    expect(job.exitCode).toBe(3);
    expect(log).toContain('tre-job INFO: Container exited with status 3');
    expect(log).toContain("tre-job INFO: Summary: exit status 3: the container's own exit status");
    expect(homeDirs('alice').scratch).toEqual([]);
  });

  it('mounts $HOME/safe_data rather than the project directory when it exists (bob)', async () => {
    const submitted = submitAs('bob', stack, probeSpec(stack, { env: { PROBE_SAFE_DATA: '${HOME}/safe_data', PROBE_TAG: 'bob-${SLURM_JOB_ID}' } }));
    const { job, log } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    expect(log).toContain(`Safe data: ${homeOf('bob')}/safe_data (mounted at ${homeOf('bob')}/safe_data)`);
    expect(existsSync(join(homeOf('bob'), 'safe_data', `probe-wrote-bob-${submitted.jobId}`))).toBe(true);
    expect(existsSync(join('/safe_data/demo', `probe-wrote-bob-${submitted.jobId}`))).toBe(false);
  });

  it.each([
    ['carol', { safeData: 'required' }, "ERROR: Cannot find a project directory corresponding to any of the user's groups"],
    ['dave', {}, 'ERROR: Cannot read from /safe_data/noread'],
    ['erin', {}, 'ERROR: Cannot write to /safe_data/nowrite'],
  ])('%s gets the service error message for their project directory', async (user, spec, message) => {
    const { job, log } = await finished(submitAs(user, stack, probeSpec(stack, spec)));
    expect(job.state).toBe('FAILED');
    expect(job.exitCode).toBe(1);
    expect(log).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d tre-job ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    expect(homeDirs(user).scratch).toEqual([]);
  });

  it('expands ${USER} and ${HOME} on the back-end and gives hostile strings to the container byte-exact', async () => {
    const pwned = '/tmp/tre-e2e-pwned';
    const injections = [`$(touch ${pwned})`, `\`touch ${pwned}\``, `; touch ${pwned}`, 'x'.repeat(4000)];
    const hostile = [...HOSTILE, ...injections];
    const hostileEnv = [...HOSTILE_ENV, ...injections];
    const env: Record<string, string> = Object.fromEntries(hostileEnv.map((value, i) => [`H${i}`, value]));
    env.WHO = 'user=${USER} home=$HOME';
    const { job, outputs } = await finished(submitAs('alice', stack, probeSpec(stack, { env, args: ['-n', '${USER}', ...hostile] })));
    expect(job.exitCode).toBe(0);
    const expected = hostile.map((s) => s.replace(/\\\$/g, '$'));
    expect(reportOf(outputs, 'argv')).toEqual(['-n', 'alice', ...expected]);
    const seen = new Map(reportOf(outputs, 'env-exec').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    hostileEnv.forEach((value, i) => expect(seen.get(`H${i}`)).toBe(value.replace(/\\\$/g, '$')));
    expect(seen.get('WHO')).toBe(`user=alice home=${homeOf('alice')}`);
    expect(existsSync(pwned)).toBe(false);
  });

  it('gives a few hundred generated hostile strings to the container byte-exact, in env and args, and runs none', async () => {
    const canary = '/tmp/tre-e2e-canary';
    rmSync(canary, { force: true });
    const seed = Number(process.env.TRE_PROPERTY_SEED ?? Date.now() % 2147483647);
    console.log(`hostile batch seed ${seed} (TRE_PROPERTY_SEED=${seed} repeats it)`);
    const values = fc.sample(hostileArbitraries(canary).shellish, { numRuns: 300, seed }).filter((v) => !v.includes('\r\n'));
    const submitted = submitAs('alice', stack, probeSpec(stack, { env: values.map((v, i) => `G${i}=${v}`), args: values }));
    const { job, outputs } = await finished(submitted);
    expect(job.exitCode).toBe(0);
    const env = { HOME: homeOf('alice'), USER: 'alice', SLURM_JOB_ID: submitted.jobId };
    expect(reportOf(outputs, 'argv')).toEqual(values.map((v) => expandModel(v, env)));
    const seen = new Map(reportOf(outputs, 'env-exec').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    values.forEach((v, i) => expect(seen.get(`G${i}`)).toBe(expandModel(v, env)));
    expect(existsSync(canary)).toBe(false);
  });

  it('runs two jobs of the same image and user side by side with different NUMBERs and names', async () => {
    const [a, b] = [submitAs('alice', stack, probeSpec(stack, { env: { PROBE_SLEEP: '3' } })), submitAs('alice', stack, probeSpec(stack, { env: { PROBE_SLEEP: '3' } }))];
    const [ra, rb] = await Promise.all([finished(a as never), finished(b as never)]);
    expect([ra.job.exitCode, rb.job.exitCode]).toEqual([0, 0]);
    expect(ra.number).not.toBe(rb.number);
    const names = [ra.log, rb.log].map((log) => /Container (\S+) is now running/.exec(log)?.[1]);
    expect(names).toEqual([`probe-${a?.jobId}`, `probe-${b?.jobId}`]);
    expect(homeDirs('alice').scratch).toEqual([]);
  });

  it('fails with a clear message on a wrong token and leaves nothing behind', async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack), { token: 'wrong-token' });
    const { job, log } = await finished(submitted);
    expect(job.state).toBe('FAILED');
    expect(job.exitCode).toBe(1);
    expect(log).toContain(`ERROR: Cannot log in to ${stack.registry} as ${stack.registryUser}: check the registry username and access token`);
    expect(log).toContain(`Summary: exit status 1: failed before the container ran: Cannot log in to ${stack.registry}`);
    expect(log).toContain(`tre-job INFO: Next: create a new read-only access token for ${stack.registry} and submit again`);
    expect(homeDirs('alice').scratch).toEqual([]);
    expect(readdirSync(submitted.jobDir).sort()).toEqual(['job.json', 'job.sh', 'ledger', 'output.log', 'spec.yaml']);
    expect(podmanPsAll('alice')).toEqual([]);
  });

  it('refuses an image from a registry the site does not allow: exit 2, nothing submitted', () => {
    const before = readdirSync(join(homeOf('alice'), 'tre-jobs')).length;
    const result = treJobAs('alice', ['submit', writeSpec({ image: 'docker.io/library/busybox:1' }), '--site', stack.site]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('tre-job: image: registry docker.io is not allowed here (allowed: 127.0.0.1:5000, ghcr.io) (line 1)\n');
    expect(readdirSync(join(homeOf('alice'), 'tre-jobs')).length).toBe(before);
  });
});
