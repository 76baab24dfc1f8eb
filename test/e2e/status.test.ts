// tre-job status on the real stack: three of alice's jobs, one that exits 0, one that exits 3 and
// one scancel-ed while its container runs; then the listing's states, exit statuses and reasons
// (a cancelled job is never `finished`), in JSON and as a table, and the --state and --last filters.
import { describeE2E, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, probeSpec, removeSpecs, submitAs, Submitted, treJobAs, waitUntilSleeping } from './lib/tre';

jest.setTimeout(240000);

interface Listed {
  jobId: string;
  jobName: string;
  submittedAt: string;
  state: string;
  detail: string;
  exitStatus: number | null;
  reason: string | null;
  outputs: string | null;
}

describeE2E('tre-job status: names, submit times, reasons and filters', () => {
  let stack: StackEnv;
  let ok: Submitted;
  let failed: Submitted;
  let cancelled: Submitted;
  let since: string;

  beforeAll(async () => {
    stack = requireStack() as StackEnv;
    since = new Date(Date.now() - 1000).toISOString();
    ok = submitAs('alice', stack, probeSpec(stack));
    failed = submitAs('alice', stack, probeSpec(stack, { env: { PROBE_EXIT: '3' } }));
    cancelled = submitAs('alice', stack, probeSpec(stack, { env: { PROBE_SLEEP: '600' } }));
    await waitUntilSleeping(cancelled);
    expect(runAs('alice', `scancel ${cancelled.jobId}`).status).toBe(0);
    for (const job of [ok, failed, cancelled]) await finished(job);
  });
  afterAll(removeSpecs);

  const status = (...args: string[]) => {
    const result = treJobAs('alice', ['status', '--site', stack.site, ...args]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return result.stdout;
  };

  it('--last 3 --json: each job with its name, submit time, state, exit status and reason', () => {
    const listed = JSON.parse(status('--last', '3', '--json')) as Listed[];
    expect(listed.map((s) => s.jobId)).toEqual([ok.jobId, failed.jobId, cancelled.jobId]);
    for (const s of listed) {
      expect(s.jobName).toBe('probe:1.0');
      expect(Date.parse(s.submittedAt)).toBeGreaterThanOrEqual(Date.parse(since));
      expect(s.outputs).toMatch(/^\/home\/alice\/outputs-[0-9]{7}$/);
    }
    expect(listed.map(({ state, detail, exitStatus, reason }) => ({ state, detail, exitStatus, reason }))).toEqual([
      { state: 'COMPLETED', detail: 'finished', exitStatus: 0, reason: 'exit status 0' },
      { state: 'FAILED', detail: 'failed', exitStatus: 3, reason: 'the container exited with status 3' },
      // Its log has its end ("Job finished with exit status 143"), yet it is not shown finished.
      { state: 'CANCELLED', detail: 'cancelled', exitStatus: 143, reason: 'cancelled while its container ran' },
    ]);
  });

  it('the table: name and submit time, the reason under the failed and the cancelled job', () => {
    const lines = status('--last', '3').split('\n');
    expect(lines[0]).toMatch(/^JOBID +NAME +SUBMITTED +STATE +PHASE +ELAPSED +EXIT +OUTPUTS$/);
    const row = (jobId: string, rest: string) => new RegExp(`^${jobId} +probe:1\\.0 +\\d\\d-\\d\\d \\d\\d:\\d\\d +${rest} +~/outputs-[0-9]{7}$`);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(row(ok.jobId, 'COMPLETED +finished +\\d\\d:\\d\\d:\\d\\d +0')),
      expect.stringMatching(row(failed.jobId, 'FAILED +failed +\\d\\d:\\d\\d:\\d\\d +3')),
      expect.stringMatching(/^ +the container exited with status 3$/),
      expect.stringMatching(row(cancelled.jobId, 'CANCELLED +cancelled +\\d\\d:\\d\\d:\\d\\d +143')),
      expect.stringMatching(/^ +cancelled while its container ran$/),
      '',
    ]);
  });

  it('--state failed (with --since) lists only the job that exited 3; --state cancelled --last 1 the cancelled one', () => {
    expect((JSON.parse(status('--state', 'failed', '--since', since, '--json')) as Listed[]).map((s) => s.jobId)).toEqual([failed.jobId]);
    expect((JSON.parse(status('--state', 'CANCELLED', '--last', '1', '--json')) as Listed[]).map((s) => s.jobId)).toEqual([cancelled.jobId]);
  });

  it('a bad filter value: exit 2, one line naming the flag', () => {
    const result = treJobAs('alice', ['status', '--site', stack.site, '--state', 'done']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^tre-job: --state: "done" is not a job state; use one or more of active, ended, .*\n$/);
  });
});
