// `tre-job resubmit` on the real stack: a job alice submitted (the probe, which writes its
// arguments to /safe_outputs/probe/argv) runs again from the spec its job directory kept.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeE2E, homeOf, readNulList, readToken, requireStack, StackEnv } from './lib/stack';
import { finished, probeSpec, removeSpecs, submitAs, treJobAs, writeSpec } from './lib/tre';

jest.setTimeout(240000);

/** alice's job directory whose job.json names `jobId`. */
function jobDirOf(jobId: string): string {
  const root = join(homeOf('alice'), 'tre-jobs');
  const found = readdirSync(root).find((name) => {
    try {
      return (JSON.parse(readFileSync(join(root, name, 'job.json'), 'utf8')) as { jobId: string }).jobId === jobId;
    } catch {
      return false;
    }
  });
  if (!found) throw new Error(`no job directory of job ${jobId} in ${root}`);
  return join(root, found);
}

describeE2E('resubmit on the real stack', () => {
  let stack: StackEnv;
  beforeAll(() => (stack = requireStack() as StackEnv));
  afterAll(removeSpecs);

  it('resubmit JOBID --token-stdin --wait runs the kept spec again: a new job, job directory and outputs', async () => {
    const spec = probeSpec(stack, { args: ['resubmitted', 'by ${USER}'] });
    const first = submitAs('alice', stack, spec);
    const done = await finished(first);
    expect(done.job.state).toBe('COMPLETED');
    expect(readNulList(join(done.outputs, 'probe', 'argv'))).toEqual(['resubmitted', 'by alice']);
    const kept = readFileSync(join(first.jobDir, 'spec.yaml'));
    expect(kept.equals(readFileSync(writeSpec(spec)))).toBe(true); // the bytes alice's spec file had

    const result = treJobAs('alice', ['resubmit', first.jobId, '--token-stdin', '--wait'], { input: `${readToken(stack)}\n` });
    expect(result.status).toBe(0);
    // alice's login shell sets no $TRE_JOB_SITE: the site file the job was submitted with is used, and named.
    expect(result.stderr).toContain(`tre-job: using the site file job ${first.jobId} was submitted with, ${stack.site} (the default now is the built-in site`);
    const [jobId, outputs, ...rest] = result.stdout.trim().split('\n');
    expect(rest).toEqual([]);
    expect(jobId).toMatch(/^[0-9]+$/);
    expect(jobId).not.toBe(first.jobId);
    expect(result.stderr).toContain(`job ${jobId} COMPLETED, exit status 0; outputs in ${outputs}\n`);

    const jobDir = jobDirOf(jobId as string);
    expect(jobDir).not.toBe(first.jobDir);
    expect(readFileSync(join(jobDir, 'spec.yaml')).equals(kept)).toBe(true);
    expect((statSync(join(jobDir, 'spec.yaml')).mode & 0o777).toString(8)).toBe('600');
    expect(JSON.parse(readFileSync(join(jobDir, 'job.json'), 'utf8'))).toMatchObject({ jobId, resubmitOf: first.jobId, site: stack.site, spec: 'spec.yaml' });
    expect(outputs).toMatch(/^\/home\/alice\/outputs-[0-9]+$/);
    expect(outputs).not.toBe(done.outputs);
    expect(readNulList(join(outputs as string, 'probe', 'argv'))).toEqual(['resubmitted', 'by alice']);
  });
});
