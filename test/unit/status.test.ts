// tre-job status: every row of jobStatus's table (Slurm state, log facts) -> (STATE, PHASE, EXIT,
// reason), through one listing with fake job directories and a recording scontrol (one call for
// the whole list); the table's columns and reason lines; the filters and their bad values; and
// the log lines the parser reads, as the real script writes them (run with the shims).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os = require('node:os');
import { join } from 'node:path';
import { compactTime, parseSince } from '../../src/commands/status';
import { jobStatus, JobStatus } from '../../src/jobs';
import type { JobRecord } from '../../src/record';
import { parseJobLine } from '../../src/slurm/scontrol';
import { runCliUnchecked, tempDir, writeYaml } from '../helpers';
import { ended, fixture, Fixture, render, start, until } from '../fixtures/shims';

const IMAGE = '127.0.0.1:5000/tre/probe:1.0';
const UID = process.getuid?.() ?? 1000;

let dir: { path: string; remove: () => void };
let site: string;
const home = () => join(dir.path, 'home');
const queueFile = () => join(dir.path, 'queue');
const scontrolCalls = () => (existsSync(join(dir.path, 'calls')) ? readFileSync(join(dir.path, 'calls'), 'utf8').trim().split('\n') : []);

beforeEach(() => {
  dir = tempDir();
  mkdirSync(join(home(), 'tre-jobs'), { recursive: true });
  // The CLI runs in this process: its home is the test's (jest's process.env is a copy, so HOME cannot be set).
  jest.spyOn(os, 'homedir').mockReturnValue(home());
  writeFileSync(queueFile(), '');
  // Slurm's queue is the lines of `queue`; every call is recorded.
  const scontrol = join(dir.path, 'scontrol');
  writeFileSync(scontrol, `#!/bin/bash\necho "$*" >>${JSON.stringify(join(dir.path, 'calls'))}\n[[ -z \${4-} ]] && exec cat ${JSON.stringify(queueFile())}\ngrep "^JobId=$4 " ${JSON.stringify(queueFile())} || exit 1\n`);
  chmodSync(scontrol, 0o755);
  site = writeYaml(dir.path, 'site.yaml', { scontrol, sbatch: '/bin/false', scancel: '/bin/false' });
});
afterEach(() => {
  jest.restoreAllMocks();
  dir.remove();
});

// ---- the log, line by line as the script writes it (the last describe checks these against the real script) ----
const at = (n: number) => `2026-12-01 10:00:${String(n).padStart(2, '0')}`;
const info = (n: number, message: string) => `${at(n)} tre-job INFO: ${message}`;
const error = (n: number, message: string) => `${at(n)} tre-job ERROR: ${message}`;
const outputsOf = (jobId: string) => `/home/alice/outputs-${jobId}0000`;
const prologue = (jobId: string) => [
  'Script starting...',
  info(0, `Job ${jobId} started on node1 as alice (tre-job 0.1.0)`),
  info(0, `Outputs: ${outputsOf(jobId)} (mounted at /safe_outputs)`),
  info(0, 'Time limit 00:10:00: clean-up starts 30 s before it (sbatch --signal), at about 10:09:30; Slurm may send that signal up to a minute early'),
];
const pulling = (jobId: string) => [...prologue(jobId), info(1, `Pulling ${IMAGE}`)];
const running = (jobId: string) => [...pulling(jobId), info(2, `Container probe-${jobId} is now running. Please wait until the container completes.`)];
const end = (status: number, reason: string, next?: string) => [
  info(9, 'Cleaning up'),
  info(9, `Summary: exit status ${status}: ${reason}`),
  ...(next ? [info(9, `Next: ${next}`)] : []),
  info(9, `Job finished with exit status ${status}`),
];
const exited = (jobId: string, status: number) => [...running(jobId), info(8, `Container exited with status ${status}`), ...end(status, "the container's own exit status")];
const onSignal = (jobId: string, signal: 'TERM' | 'USR1', status: number) => [
  ...running(jobId),
  error(8, signal === 'TERM' ? 'Job cancelled (SIGTERM): stopping the container and cleaning up' : 'Job is about to reach its time limit (SIGUSR1): stopping the container and cleaning up'),
  ...end(status, signal === 'TERM' ? 'cancelled (SIGTERM: scancel, or maintenance)' : 'stopped at its time limit (SIGUSR1, sent shortly before the limit)'),
];
const PULL_ERROR = `Cannot pull ${IMAGE}: the image or its tag is not in the registry`;
const PULL_NEXT = 'check that the image and tag exist in the registry';
const pullFailed = (jobId: string) => [...pulling(jobId), error(3, PULL_ERROR), ...end(1, `failed before the container ran: ${PULL_ERROR}`, PULL_NEXT)];

/** What `scontrol show job -o` says of one of this user's jobs. */
const slurmLine = (jobId: string, state: string, exitCode: string, reason = 'None', dir = dirOf(jobId)) =>
  `JobId=${jobId} JobName=probe:1.0 UserId=alice(${UID}) JobState=${state} Reason=${reason} ExitCode=${exitCode} RunTime=00:00:09 NodeList=node1 WorkDir=${dir} StdOut=${dir}/output.log`;

interface Row {
  what: string;
  slurm: [state: string, exitCode: string, reason?: string] | null;
  log: (jobId: string) => string[];
  expected: Pick<JobStatus, 'state' | 'detail' | 'exitStatus' | 'reason'> & Partial<JobStatus>;
}

const none = () => [];
const NEXT_TIME = "ask for more time with the spec's time (at most the site's maxTime: tre-job site)";
/** Each row of the table in src/jobs.ts (jobStatus), in its order. */
const ROWS: Row[] = [
  { what: 'pending', slurm: ['PENDING', '0:0', 'Resources'], log: none, expected: { state: 'PENDING', detail: 'pending (Resources)', exitStatus: null, reason: null } },
  { what: 'running', slurm: ['RUNNING', '0:0'], log: running, expected: { state: 'RUNNING', detail: 'running', exitStatus: null, reason: null } },
  { what: 'still completing, the log ended with 0', slurm: ['COMPLETING', '0:0'], log: (id) => exited(id, 0), expected: { state: 'COMPLETING', detail: 'finished', exitStatus: null, reason: null } },
  { what: 'still completing after scancel, the log ended', slurm: ['COMPLETING', '0:0'], log: (id) => onSignal(id, 'TERM', 143), expected: { state: 'COMPLETING', detail: 'cleaning up', exitStatus: null, reason: null } },
  { what: 'completed', slurm: ['COMPLETED', '0:0'], log: (id) => exited(id, 0), expected: { state: 'COMPLETED', detail: 'finished', exitStatus: 0, reason: 'exit status 0', next: null } },
  { what: 'time limit: the trap stopped it (Slurm: FAILED 124)', slurm: ['FAILED', '124:0'], log: (id) => onSignal(id, 'USR1', 124), expected: { state: 'TIMEOUT', slurmState: 'FAILED', detail: 'timed out', exitStatus: 124, reason: 'hit its time limit 00:10:00', next: NEXT_TIME } },
  { what: 'SIGTERM not from scancel (Slurm: FAILED 143)', slurm: ['FAILED', '143:0'], log: (id) => onSignal(id, 'TERM', 143), expected: { state: 'CANCELLED', slurmState: 'FAILED', detail: 'cancelled', exitStatus: 143, reason: 'cancelled while its container ran' } },
  { what: 'failed: the log says why', slurm: ['FAILED', '1:0'], log: pullFailed, expected: { state: 'FAILED', detail: 'failed', exitStatus: 1, reason: PULL_ERROR, error: PULL_ERROR, next: PULL_NEXT, outputs: outputsOf('107') } },
  { what: "failed: the container's own status", slurm: ['FAILED', '3:0'], log: (id) => exited(id, 3), expected: { state: 'FAILED', detail: 'failed', exitStatus: 3, reason: 'the container exited with status 3', next: null } },
  { what: 'cancelled while pending (no log)', slurm: ['CANCELLED', '0:0', 'Priority'], log: none, expected: { state: 'CANCELLED', detail: 'cancelled before it started', exitStatus: 143, reason: 'cancelled before it started', error: 'the job ended (CANCELLED) before it started' } },
  { what: 'scancel while running: the log has its end', slurm: ['CANCELLED', '0:15'], log: (id) => onSignal(id, 'TERM', 143), expected: { state: 'CANCELLED', detail: 'cancelled', exitStatus: 143, reason: 'cancelled while its container ran' } },
  { what: "cancelled, the log's end says 0", slurm: ['CANCELLED', '0:0'], log: (id) => exited(id, 0), expected: { state: 'CANCELLED', detail: 'cancelled', exitStatus: 143, reason: 'cancelled while its container ran' } },
  { what: 'cancelled while pulling, killed before its end', slurm: ['CANCELLED', '0:9'], log: pulling, expected: { state: 'CANCELLED', detail: 'cancelled', exitStatus: 143, reason: 'cancelled while pulling its image' } },
  { what: "Slurm's TIMEOUT, the trap too late", slurm: ['TIMEOUT', '0:15'], log: (id) => onSignal(id, 'TERM', 143), expected: { state: 'TIMEOUT', detail: 'timed out', exitStatus: 124, reason: 'hit its time limit 00:10:00', next: NEXT_TIME } },
  { what: 'out of memory', slurm: ['OUT_OF_MEMORY', '0:9'], log: running, expected: { state: 'OUT_OF_MEMORY', detail: 'out of memory', exitStatus: 137, reason: 'ran out of memory: Slurm killed it', next: "ask for more memory with the spec's memoryGiB" } },
  { what: 'node failure', slurm: ['NODE_FAIL', '0:0'], log: running, expected: { state: 'NODE_FAIL', detail: 'node failed', exitStatus: 1, reason: 'its node failed (NODE_FAIL)', next: 'submit it again' } },
  { what: 'another ended state', slurm: ['DEADLINE', '0:0'], log: running, expected: { state: 'DEADLINE', detail: 'deadline', exitStatus: 124, reason: 'ended DEADLINE with exit status 124' } },
  { what: 'forgotten by Slurm: completed', slurm: null, log: (id) => exited(id, 0), expected: { state: 'COMPLETED', slurmState: null, detail: 'finished', exitStatus: 0, reason: 'exit status 0', elapsed: '00:00:09' } },
  { what: 'forgotten: time limit', slurm: null, log: (id) => onSignal(id, 'USR1', 124), expected: { state: 'TIMEOUT', detail: 'timed out', exitStatus: 124, reason: 'hit its time limit 00:10:00' } },
  { what: 'forgotten: cancelled', slurm: null, log: (id) => onSignal(id, 'TERM', 143), expected: { state: 'CANCELLED', detail: 'cancelled', exitStatus: 143, reason: 'cancelled while its container ran' } },
  { what: 'forgotten: failed', slurm: null, log: (id) => exited(id, 3), expected: { state: 'FAILED', detail: 'failed', exitStatus: 3, reason: 'the container exited with status 3' } },
  { what: 'forgotten: the log has no end', slurm: null, log: running, expected: { state: 'UNKNOWN', detail: 'unknown', exitStatus: null, reason: 'Slurm does not know the job, and its log stops while its container ran' } },
  { what: 'forgotten: no log', slurm: null, log: none, expected: { state: 'UNKNOWN', detail: 'unknown', exitStatus: null, reason: null } },
];
const idOf = (i: number) => String(100 + i);

/** A job directory as `submit` leaves it: job.json and output.log. */
/** Where jobDir() puts a job, and where Slurm says it runs. */
function dirOf(jobId: string): string {
  return join(home(), 'tre-jobs', `job-${jobId}`);
}

function jobDir(jobId: string, submittedAt: string, log: string[]): JobRecord {
  const path = dirOf(jobId);
  mkdirSync(path);
  const record: JobRecord = { jobId, cluster: null, jobName: 'probe:1.0', image: IMAGE, submittedAt, jobDir: path, outputLog: join(path, 'output.log'), containerName: `probe-${jobId}`, source: 'submit' };
  writeFileSync(join(path, 'job.json'), JSON.stringify(record));
  if (log.length) writeFileSync(record.outputLog, `${log.join('\n')}\n`);
  return record;
}

/** Local time on 2026-12-01 (the table and --since without a zone are in local time). */
const dec1 = (hour: number, minute: number, second = 0) => new Date(2026, 11, 1, hour, minute, second).toISOString();

/** Every row as a job, submitted a minute apart from 12:00 on 2026-12-01, in one Slurm queue. */
function allRows(): void {
  ROWS.forEach((row, i) => jobDir(idOf(i), dec1(12, i), row.log(idOf(i))));
  writeFileSync(queueFile(), ROWS.flatMap((row, i) => (row.slurm ? [`${slurmLine(idOf(i), ...row.slurm)}\n`] : [])).join(''));
}

const status = (...args: string[]) => runCliUnchecked(['status', '--site', site, ...args]);
const statusJson = (...args: string[]) => {
  const result = status('--json', ...args);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as JobStatus[];
};
const ids = (list: JobStatus[]) => list.map((s) => s.jobId);

describe('(Slurm state, log) -> (STATE, PHASE, EXIT, reason): every row, in one listing', () => {
  it.each(ROWS.map((row, i) => [row.what, i] as const))('%s', (_what, i) => {
    allRows();
    const listed = statusJson();
    expect(listed).toHaveLength(ROWS.length);
    expect(listed[i]).toMatchObject({ jobId: idOf(i), jobName: 'probe:1.0', image: IMAGE, submittedAt: dec1(12, i), ...(ROWS[i] as Row).expected });
    // The same as jobStatus alone, with Slurm's answer for this one job.
    const row = ROWS[i] as Row;
    const record = JSON.parse(readFileSync(join(home(), 'tre-jobs', `job-${idOf(i)}`, 'job.json'), 'utf8')) as JobRecord;
    expect(jobStatus(record, row.slurm ? parseJobLine(slurmLine(idOf(i), ...row.slurm)) : null)).toEqual(listed[i]);
  });

  it('an ended job is shown finished only when it completed', () => {
    allRows();
    const finished = statusJson().filter((s) => s.detail === 'finished');
    expect(finished.map((s) => [s.state, s.exitStatus])).toEqual([
      ['COMPLETING', null], // still active, and its log ended with 0
      ['COMPLETED', 0],
      ['COMPLETED', 0],
    ]);
  });

  it('asks scontrol once for the whole listing, also for 1500 jobs', () => {
    for (let i = 0; i < 1500; i++) jobDir(String(5000 + i), new Date(2026, 10, 1, 0, 0, i).toISOString(), i % 2 ? exited(String(5000 + i), 0) : running(String(5000 + i)));
    writeFileSync(queueFile(), Array.from({ length: 1500 }, (_, i) => `${slurmLine(String(5000 + i), i % 3 ? 'COMPLETED' : 'RUNNING', '0:0')}\n`).join(''));
    expect(status().stdout.split('\n')).toHaveLength(1500 + 2);
    expect(statusJson('--state', 'running', '--since', '2026-11-01')).toHaveLength(500);
    expect(scontrolCalls()).toEqual(['show job -o', 'show job -o']);
  });
});

describe('a job id Slurm has given again', () => {
  it("an old record is not paired with Slurm's new job of that id (another directory); status JOBID shows the newest record", () => {
    const old = jobDir('88', dec1(9, 0), exited('88', 0));
    const newer = join(home(), 'tre-jobs', 'job-88-again');
    mkdirSync(newer);
    writeFileSync(join(newer, 'job.json'), JSON.stringify({ ...old, jobDir: newer, outputLog: join(newer, 'output.log'), submittedAt: dec1(15, 0) }));
    writeFileSync(join(newer, 'output.log'), running('88').join('\n'));
    writeFileSync(queueFile(), `${slurmLine('88', 'RUNNING', '0:0', 'None', newer)}\n`);
    const listed = statusJson();
    expect(listed.map((s) => [s.jobDir, s.state])).toEqual([
      [old.jobDir, 'COMPLETED'], // from its own log, not Slurm's RUNNING
      [newer, 'RUNNING'],
    ]);
    const one = JSON.parse(runCliUnchecked(['status', '88', '--site', site, '--json']).stdout) as JobStatus[];
    expect(one.map((s) => [s.jobDir, s.state])).toEqual([[newer, 'RUNNING']]);
  });
});

describe('the table', () => {
  it('has the name and submit time, outputs last (under ~), and a reason line under an ended job that did not complete', () => {
    jobDir('201', dec1(14, 3, 59), exited('201', 0));
    jobDir('202', dec1(14, 4, 10), pullFailed('202'));
    jobDir('203', dec1(14, 5), onSignal('203', 'TERM', 143));
    jobDir('204', dec1(14, 6), running('204'));
    const outputs = join(home(), 'outputs-2040000');
    writeFileSync(join(home(), 'tre-jobs', 'job-204', 'output.log'), running('204').join('\n').replace(outputsOf('204'), outputs));
    writeFileSync(queueFile(), [slurmLine('201', 'COMPLETED', '0:0'), slurmLine('202', 'FAILED', '1:0'), slurmLine('203', 'CANCELLED', '0:15'), slurmLine('204', 'RUNNING', '0:0')].join('\n'));
    const now = new Date().getFullYear() === 2026;
    const day = (time: string) => (now ? `12-01 ${time}` : '2026-12-01');
    const result = status();
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual([
      expect.stringMatching(/^JOBID  NAME       SUBMITTED +STATE +PHASE +ELAPSED +EXIT +OUTPUTS$/),
      expect.stringMatching(new RegExp(`^201    probe:1.0  ${day('14:03')} +COMPLETED +finished +00:00:09 +0 +/home/alice/outputs-2010000$`)),
      expect.stringMatching(new RegExp(`^202    probe:1.0  ${day('14:04')} +FAILED +failed +00:00:09 +1 +/home/alice/outputs-2020000$`)),
      `       ${PULL_ERROR}`,
      `       next: ${PULL_NEXT}`,
      expect.stringMatching(new RegExp(`^203    probe:1.0  ${day('14:05')} +CANCELLED +cancelled +00:00:09 +143 +/home/alice/outputs-2030000$`)),
      '       cancelled while its container ran',
      expect.stringMatching(new RegExp(`^204    probe:1.0  ${day('14:06')} +RUNNING +running +00:00:09 +- +~/outputs-2040000$`)),
      '',
    ]);
  });

  it('SUBMITTED is local time, MM-DD HH:MM this year, else the date', () => {
    const now = new Date(2026, 11, 24);
    expect(compactTime(dec1(14, 3, 59), now)).toBe('12-01 14:03');
    expect(compactTime(new Date(2025, 11, 1, 14, 3).toISOString(), now)).toBe('2025-12-01');
    expect(compactTime('', now)).toBe('-');
  });
});

describe('filters', () => {
  beforeEach(allRows);

  it('--state: Slurm state names in any case, comma-separated, and the groups active and ended', () => {
    expect(ids(statusJson('--state', 'failed'))).toEqual(['107', '108', '120']);
    expect(ids(statusJson('--state', 'FAILED,Timeout'))).toEqual(['105', '107', '108', '113', '118', '120']);
    expect(ids(statusJson('--state', 'active'))).toEqual(['100', '101', '102', '103']);
    expect(statusJson('--state', 'ended').map((s) => s.state)).not.toContain('UNKNOWN');
    expect(statusJson('--state', 'ended')).toHaveLength(ROWS.length - 4 - 2);
    expect(ids(statusJson('--state', 'unknown'))).toEqual(['121', '122']);
  });

  it('--since: an age, a local date, a time with a zone', () => {
    expect(ids(statusJson('--since', '2026-12-01T12:19'))).toEqual(['119', '120', '121', '122']);
    expect(ids(statusJson('--since', '2026-12-01 12:19:01'))).toEqual(['120', '121', '122']);
    // With a zone: as --json prints submittedAt, and with an offset.
    expect(ids(statusJson('--since', dec1(12, 19)))).toEqual(['119', '120', '121', '122']);
    const utc = new Date(dec1(12, 19));
    const plusOne = new Date(utc.getTime() + 3600_000).toISOString().replace(/\.000Z$/, '+01:00');
    expect(ids(statusJson('--since', plusOne))).toEqual(['119', '120', '121', '122']);
    expect(statusJson('--since', '2026-12-01')).toHaveLength(ROWS.length);
    expect(statusJson('--since', '2026-12-02')).toEqual([]);
    jobDir('300', new Date(Date.now() - 90 * 60 * 1000).toISOString(), []);
    expect(ids(statusJson('--since', '2h'))).toEqual(['300']);
    expect(ids(statusJson('--since', '30m'))).toEqual([]);
    expect(parseSince('3d', 1_000_000_000_000)).toBe(1_000_000_000_000 - 3 * 86400 * 1000);
  });

  it('--last N: the N most recent, after the other filters; filters combine', () => {
    expect(ids(statusJson('--last', '2'))).toEqual(['121', '122']);
    expect(ids(statusJson('--last', '1', '--state', 'cancelled'))).toEqual(['119']);
    expect(ids(statusJson('--state', 'cancelled', '--since', '2026-12-01T12:10', '--last', '2'))).toEqual(['112', '119']);
    expect(ids(statusJson('--last', '1000'))).toHaveLength(ROWS.length);
    expect(status('--state', 'failed', '--last', '1').stdout.split('\n')).toEqual([expect.stringMatching(/^JOBID /), expect.stringMatching(/^120 .* FAILED +failed /), '       the container exited with status 3', '']);
  });

  it.each([
    [['--state', 'finished'], /^tre-job: --state: "finished" is not a job state; use one or more of active, ended, pending, .*failed.*timeout.* \(comma-separated, any case\)\n$/],
    [['--state', 'failed,'], /^tre-job: --state: "" is not a job state; /],
    [['--since', 'yesterday'], /^tre-job: --since: "yesterday" is not a time: give a date or time \(2026-12-01, 2026-12-01T14:00: local time unless it ends in Z or \+HH:MM\) or an age \(30m, 2h, 3d, 1w\)\n$/],
    [['--since', '2026-02-30'], /^tre-job: --since: "2026-02-30" is not a time: /],
    [['--since', '0h'], /^tre-job: --since: "0h" is not a time: /],
    [['--last', '0'], /^tre-job: --last: "0" is not a positive whole number, e.g. --last 10\n$/],
    [['--last', '1.5'], /^tre-job: --last: "1.5" is not a positive whole number/],
    [['--last', 'ten'], /^tre-job: --last: "ten" is not a positive whole number/],
    [['104', '--state', 'failed'], /^tre-job: --state: filters the list of all your jobs: give job ids or filters, not both\n$/],
    [['104', '--last', '2', '--since', '1d'], /^tre-job: --since: filters the list of all your jobs: give job ids or filters, not both\n$/],
  ])('refuses %j: exit 2, one line, nothing on stdout', (args, message) => {
    expect(status(...args)).toEqual({ status: 2, stdout: '', stderr: expect.stringMatching(message) });
    expect(scontrolCalls()).toEqual([]);
  });

  it('job ids without filters still work', () => {
    expect(statusJson('105', '119').map((s) => [s.jobId, s.state, s.exitStatus])).toEqual([
      ['105', 'TIMEOUT', 124],
      ['119', 'CANCELLED', 143],
    ]);
  });
});

// The parser against the real script: run with the shims, ended as Slurm would end it.
describe('the log as the real script writes it', () => {
  let f: Fixture;
  beforeEach(() => (f = fixture()));
  afterEach(() => f.remove());
  const record = (): JobRecord => ({ jobId: '42', cluster: null, jobName: 'probe:1.0', image: IMAGE, submittedAt: '', jobDir: f.jobDir, outputLog: join(f.jobDir, 'output.log'), containerName: 'probe-42', source: 'submit' });

  async function runUntil(env: Record<string, string>, signal?: NodeJS.Signals): Promise<void> {
    const child = start(f, render(f, { time: '00:10:00' }), env);
    const done = ended(child);
    if (signal) {
      await until(() => existsSync(join(f.log, 'running')));
      child.kill(signal);
    }
    writeFileSync(record().outputLog, (await done).output);
  }
  const line = (state: string, exitCode: string) => parseJobLine(slurmLine('42', state, exitCode, 'None', f.jobDir));

  it('scancel (TERM) while running: CANCELLED, cancelled, 143', async () => {
    await runUntil({ SHIM_RUN_SLEEP: '30' }, 'SIGTERM');
    expect(jobStatus(record(), line('CANCELLED', '0:15'))).toMatchObject({ state: 'CANCELLED', detail: 'cancelled', exitStatus: 143, reason: 'cancelled while its container ran' });
    expect(jobStatus(record(), null)).toMatchObject({ state: 'CANCELLED', detail: 'cancelled', exitStatus: 143 });
  }, 20000);

  it('the time-limit signal (USR1): TIMEOUT, timed out, 124, with the limit', async () => {
    await runUntil({ SHIM_RUN_SLEEP: '30' }, 'SIGUSR1');
    expect(jobStatus(record(), line('FAILED', '124:0'))).toMatchObject({ state: 'TIMEOUT', detail: 'timed out', exitStatus: 124, reason: 'hit its time limit 00:10:00' });
  }, 20000);

  it("the container's own status 3: FAILED, failed, 3", async () => {
    await runUntil({ SHIM_RUN_EXIT: '3' });
    expect(jobStatus(record(), line('FAILED', '3:0'))).toMatchObject({ state: 'FAILED', detail: 'failed', exitStatus: 3, reason: 'the container exited with status 3', next: null });
  }, 20000);

  it('a failed pull: FAILED, with the error and its next step', async () => {
    await runUntil({ SHIM_PULL_EXIT: '125' });
    const status = jobStatus(record(), line('FAILED', '1:0'));
    expect(status).toMatchObject({ state: 'FAILED', detail: 'failed', exitStatus: 1, reason: expect.stringMatching(/^Cannot pull /), next: expect.stringMatching(/\S/) });
  }, 20000);
});
