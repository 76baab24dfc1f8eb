// A job as tre-job knows it: its record (record.ts), its output.log, and what Slurm says.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { arrayTaskOf, EXIT, JOB_ID, LOG, LogFacts, logFacts, taskLogName } from './contract';
import { BackendError, readRemoteFiles } from './backend';
import { InputError } from './errors';
import { JobRecord, listJobRecords, readJobRecord, SubmittedJob, writeJobRecord } from './record';
import type { SlurmClient } from './slurm/client';
import { ACTIVE_STATES, arrayTaskIds, isAnotherUsers, jobDirsOf, pendingText, shellStatus, SlurmJob } from './slurm/scontrol';

/**
 * The record with its job id. An OOD session's record has none at first (OnDemand runs sbatch
 * after `tre-job ood`): the job's log names it once the job runs, and before that `candidates`
 * may hold Slurm's job that runs in the session's directory. Once found it is written into
 * job.json, so that it outlives Slurm's memory of the job.
 */
function withJobId(record: JobRecord, candidates: () => SlurmJob[]): JobRecord {
  if (record.jobId !== null) return record;
  // A back-end's log is not read here (an ssh per record, and one unreachable back-end would
  // stop every listing): tre-job sbatch records the id, else Slurm's queue has it.
  const log = record.host ? '' : readLog(record);
  const jobId = LOG.started.exec(log)?.[1] ?? candidates().filter((job) => jobDirsOf(job).includes(record.jobDir)).pop()?.jobId ?? null;
  if (jobId === null) return record;
  const found = { ...record, jobId };
  try {
    writeJobRecord(found);
  } catch {
    // Not writable now: found again next time.
  }
  return found;
}

/** Slurm's whole queue, asked once, when first needed; a Slurm that does not answer knows no job (as with showJob). */
export function slurmQueue(slurm: SlurmClient): () => SlurmJob[] {
  let queue: SlurmJob[] | undefined;
  return () => {
    if (queue === undefined) {
      try {
        queue = slurm.showJobs();
      } catch {
        queue = [];
      }
    }
    return queue;
  };
}

/**
 * Every job tre-job made for this user (submit and OOD sessions), oldest first. `queue` is
 * asked only for a session whose log does not name its job yet.
 */
export function listJobs(jobsDir: string, queue: () => SlurmJob[]): JobRecord[] {
  const uid = process.getuid?.() ?? null;
  return listJobRecords(jobsDir).map((record) => withJobId(record, () => queue().filter((job) => job.uid === uid)));
}

/**
 * The job's record: from the user's records, else from Slurm's WorkDir (an OOD session, or a job
 * tre-job did not record). `A_T` is task T of array A: its own record (taskRecord).
 */
export function findJob(jobId: string, jobsDir: string, slurm: SlurmClient): SubmittedJob {
  if (!JOB_ID.test(jobId)) throw new InputError('JOBID', `"${jobId}" is not a Slurm job id`);
  // The newest: a job id Slurm has given again belongs to the latest job that got it.
  const records = listJobRecords(jobsDir).map((r) => withJobId(r, () => []));
  const newest = (id: string) => records.filter((r): r is SubmittedJob => r.jobId === id).pop();
  const record = newest(jobId);
  if (record) return record;
  const task = arrayTaskOf(jobId);
  const array = task ? newest(task.arrayId) : undefined;
  if (array && task) return taskRecord(array, task.task);
  const job = slurm.showJob(jobId);
  if (job && isAnotherUsers(job)) {
    throw new InputError('JOBID', `job ${jobId} is not yours: only its owner can read its log and status`);
  }
  if (job?.stdOut) {
    const known = (r: JobRecord | null): r is SubmittedJob => r?.jobId === jobId;
    const session = jobDirsOf(job)
      .map(readJobRecord)
      .find((r) => r !== null && (r.jobId === null || r.jobId === jobId));
    const found = session ? withJobId(session, () => [job]) : null;
    if (known(found)) return found;
    return { jobId, cluster: null, jobName: job.jobName, image: job.jobName, submittedAt: '', jobDir: job.workDir, outputLog: job.stdOut, containerName: null, source: 'ood' };
  }
  throw new InputError('JOBID', `job ${jobId} is not one of your tre-job jobs and Slurm does not know it`);
}

/** An array's shape as job.json records it. */
export type JobArray = NonNullable<JobRecord['array']>;

/** The record's array, or null for a single job (and for records made before arrays existed). */
export function arrayOf(record: JobRecord): JobArray | null {
  const array = record.array;
  return array && Number.isInteger(array.tasks) && array.tasks > 0 ? array : null;
}

/** Task `task`'s log in an array's job directory (Slurm's `output-%a.log`). */
export function taskLogOf(record: Pick<JobRecord, 'jobDir'>, task: number): string {
  return join(record.jobDir, taskLogName(task));
}

/**
 * Task `task` of an array as a job of its own (id `A_T`, its own log), for everything that
 * shows one job: status, logs, connect. Never written back: the array's job.json stays one.
 */
export function taskRecord(record: SubmittedJob, task: number): SubmittedJob {
  const array = arrayOf(record);
  if (array === null) throw new InputError('JOBID', `job ${record.jobId} is not an array: give ${record.jobId} alone`);
  if (task >= array.tasks) throw new InputError('JOBID', `job ${record.jobId} has tasks 0-${array.tasks - 1}: there is no task ${task}`);
  // An array's container name is Slurm's pattern (NAME-A_%a), as its log's.
  return { ...record, jobId: `${record.jobId}_${task}`, outputLog: taskLogOf(record, task), containerName: record.containerName?.replace('%a', String(task)) ?? null, array: null };
}

/** A job's log as it is now ('' before it exists), here or on its back-end. */
export function readLog(record: Pick<JobRecord, 'outputLog' | 'host'>): string {
  return readLogs(record, [record.outputLog])[0] as string;
}

/** Logs of one job directory (an array's tasks'), here or on its back-end in one ssh. */
export function readLogs(record: Pick<JobRecord, 'host'>, files: string[]): string[] {
  if (!record.host) return files.map((file) => (existsSync(file) ? readFileSync(file, 'utf8') : ''));
  const host = record.host;
  const failed = readAhead.failures.get(host);
  if (failed) throw failed;
  const ahead = files.map((file) => readAhead.logs.get(`${host}:${file}`));
  if (ahead.every((log) => log !== undefined)) return ahead as string[];
  return readRemoteFiles(host, files).map((content) => content ?? '');
}

/** Back-ends' logs read ahead for a listing, by HOST:PATH, and the back-ends that could not be read. */
const readAhead = { logs: new Map<string, string>(), failures: new Map<string, Error>() };

/**
 * Read the logs of every job of `records` that ran on a back-end with a home of its own: one
 * ssh per back-end, not one per job (an ssh login costs about 0.3 s). A back-end that fails is
 * not asked again in this run: its jobs' logs fail at once with the same error.
 */
export function readBackendLogsAhead(records: JobRecord[]): void {
  readAhead.logs.clear();
  readAhead.failures.clear();
  const byHost = new Map<string, string[]>();
  for (const record of records) {
    if (!record.host || record.jobId === null) continue;
    const array = arrayOf(record);
    const files = array ? Array.from({ length: array.tasks }, (_, task) => taskLogOf(record, task)) : [record.outputLog];
    byHost.set(record.host, [...(byHost.get(record.host) ?? []), ...files]);
  }
  for (const [host, files] of byHost) {
    try {
      readRemoteFiles(host, files).forEach((content, i) => readAhead.logs.set(`${host}:${files[i] as string}`, content ?? ''));
    } catch (err) {
      if (!(err instanceof BackendError)) throw err;
      readAhead.failures.set(host, err);
    }
  }
}

export interface JobStatus {
  /** Null for an OOD session whose job id is not known yet. */
  jobId: string | null;
  /** The job's name in Slurm (the image's NAME:TAG). */
  jobName: string;
  /** When it was submitted (ISO 8601; '' if tre-job did not record it). */
  submittedAt: string;
  /** Slurm's state, or what the log says it was (see jobStatus). */
  state: string;
  /** Slurm's own state; null once Slurm has forgotten the job. */
  slurmState: string | null;
  /** Pending reason or the log's phase; for an ended job, how it ended (never `finished` unless it completed). */
  detail: string;
  node: string | null;
  elapsed: string | null;
  image: string;
  outputs: string | null;
  exitStatus: number | null;
  /** Why an ended job ended, in one line; null while it is pending or running. */
  reason: string | null;
  jobDir: string;
  source: JobRecord['source'];
  /** Why it failed (the log's last ERROR), and what to do (its Next: line). */
  error: string | null;
  next: string | null;
  /** An array's tasks, summed up (arrayStatus); absent for a single job. */
  array?: ArraySummary;
}

export interface ArraySummary {
  tasks: number;
  parallel: number | null;
  /** How many tasks are in each STATE (each task's STATE as for a single job). */
  counts: Record<string, number>;
  /** The tasks that ended other than COMPLETED with 0, lowest first. */
  failed: number[];
  /** The ended tasks by exit status ("0": [0, 2], "3": [1, 3]). */
  exitStatuses: Record<string, number[]>;
  /** Every task's status, task 0 first: only when one array is asked for (status ARRAYID). */
  statuses?: JobStatus[];
}

/** The PHASE of an ended job: how it ended, one or two words (STATE lower-cased otherwise). */
const ENDED_PHASE: Record<string, string> = {
  COMPLETED: 'finished',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TIMEOUT: 'timed out',
  OUT_OF_MEMORY: 'out of memory',
  NODE_FAIL: 'node failed',
  BOOT_FAIL: 'node failed',
  PREEMPTED: 'preempted',
  UNKNOWN: 'unknown',
};

/** Where the job was when it was stopped, for a reason line. */
const REACHED: Record<LogFacts['reached'], string> = {
  starting: 'before it started',
  prologue: 'in its prologue',
  pulling: 'while pulling its image',
  running: 'while its container ran',
};

/**
 * The state of an ended job. Slurm sees only the script's exit status when the script's own trap
 * ended it: the trap's signal (in the log) says it was the time limit (USR1, sent before the
 * limit) or a cancel (TERM). Without Slurm, the log's last line gives the status.
 */
function endedState(slurmState: string | null, facts: LogFacts): string {
  if (slurmState === 'FAILED' || slurmState === null) {
    if (facts.signal === 'SIGUSR1') return 'TIMEOUT';
    if (facts.signal === 'SIGTERM') return 'CANCELLED';
  }
  if (slurmState !== null) return slurmState;
  return facts.finishedStatus === null ? 'UNKNOWN' : facts.finishedStatus === 0 ? 'COMPLETED' : 'FAILED';
}

/** Why an ended job ended, and what to do next when the log does not say (its Next: line is used otherwise). */
function endedReason(state: string, exitStatus: number | null, facts: LogFacts): { reason: string | null; next: string | null } {
  switch (state) {
    case 'COMPLETED':
      return { reason: 'exit status 0', next: null };
    case 'CANCELLED':
      return { reason: `cancelled ${REACHED[facts.reached]}`, next: null };
    case 'TIMEOUT':
      return { reason: `hit its time limit${facts.timeLimit ? ` ${facts.timeLimit}` : ''}`, next: "ask for more time with the spec's time (at most the site's maxTime: tre-job site)" };
    case 'OUT_OF_MEMORY':
      return { reason: 'ran out of memory: Slurm killed it', next: "ask for more memory with the spec's memoryGiB" };
    case 'NODE_FAIL':
      return { reason: 'its node failed (NODE_FAIL)', next: 'submit it again' };
    case 'BOOT_FAIL':
      return { reason: 'its node failed to boot (BOOT_FAIL)', next: 'submit it again' };
    case 'PREEMPTED':
      return { reason: 'preempted by Slurm for another job', next: null };
    case 'UNKNOWN':
      // Slurm has forgotten the job (or does not answer), and the log has no end: killed, or its node lost.
      return { reason: facts.reached === 'starting' ? null : `Slurm does not know the job, and its log stops ${REACHED[facts.reached]}`, next: null };
    case 'FAILED':
      // The log's own ERROR line says why; without one, the container's own status.
      if (facts.error !== null) return { reason: facts.error, next: null };
      return { reason: facts.reached === 'running' && exitStatus !== null ? `the container exited with status ${exitStatus}` : `exit status ${exitStatus ?? '?'}`, next: null };
    default:
      return { reason: `ended ${state}${exitStatus === null ? '' : ` with exit status ${exitStatus}`}`, next: null };
  }
}

/**
 * Whether Slurm's job is the one of this record: it ran in the record's directory, as the user.
 * Slurm reuses job ids (after a reset, or when they wrap), so an old record's id may name a
 * new job, even another user's.
 */
export function isJobOf(record: JobRecord, job: SlurmJob): boolean {
  if (isAnotherUsers(job)) return false;
  const dirs = jobDirsOf(job);
  if (dirs.includes(record.jobDir)) return true;
  try {
    return dirs.includes(realpathSync(record.jobDir)); // Slurm has the real path where $HOME is a link
  } catch {
    return false;
  }
}

/**
 * Current status: Slurm's view (`slurm`: scontrol's answer) while it remembers the job, the
 * log's afterwards. (Slurm state, log facts) -> (STATE, PHASE, EXIT, reason):
 *
 *   Slurm state       log                      STATE      PHASE                        EXIT             reason
 *   PENDING           -                        PENDING    pending (Slurm's reason)     -                -
 *   RUNNING, ...      its phase                as Slurm   the log's phase              -                -
 *   COMPLETING, ...   its end, status not 0    as Slurm   cleaning up                  -                -
 *   COMPLETED         any                      COMPLETED  finished                     0                exit status 0
 *   FAILED            the trap's SIGUSR1 line  TIMEOUT    timed out                    124              hit its time limit HH:MM:SS
 *   FAILED            the trap's SIGTERM line  CANCELLED  cancelled                    143              cancelled while its container ran (or where it was)
 *   FAILED            an ERROR line            FAILED     failed                       Slurm's          the ERROR line (+ its Next:)
 *   FAILED            no ERROR line            FAILED     failed                       Slurm's          the container exited with status N
 *   CANCELLED         no log                   CANCELLED  cancelled before it started  143              cancelled before it started
 *   CANCELLED         any, even its end        CANCELLED  cancelled                    143              cancelled while ... (where it was)
 *   TIMEOUT           any                      TIMEOUT    timed out                    124              hit its time limit HH:MM:SS
 *   OUT_OF_MEMORY     any                      same       out of memory                Slurm's          ran out of memory: Slurm killed it
 *   NODE_FAIL         any                      same       node failed                  Slurm's          its node failed (NODE_FAIL)
 *   other ended       any                      same       state in lower case          Slurm's          ended STATE with exit status N
 *   forgotten         its end, status 0        COMPLETED  finished                     0                exit status 0
 *   forgotten         its end, SIGUSR1/SIGTERM TIMEOUT/CANCELLED, as from Slurm's FAILED (124/143)
 *   forgotten         its end, status N        FAILED     failed                       N                as FAILED
 *   forgotten         no end                   UNKNOWN    unknown                      -                Slurm does not know the job, and its log stops ...
 *
 * Slurm cannot say who cancelled a job (scontrol has no such field; sacct may be off), so the
 * reason says where the job was instead.
 */
export function jobStatus(record: JobRecord, answer: SlurmJob | null, log: string = readLog(record)): JobStatus {
  const slurm = answer !== null && isJobOf(record, answer) ? answer : null;
  const facts = logFacts(log);
  const active = slurm !== null && ACTIVE_STATES.has(slurm.state);
  const state = active ? slurm.state : endedState(slurm?.state ?? null, facts);
  const exitStatus = active ? null : state === 'CANCELLED' ? EXIT.cancelled : state === 'TIMEOUT' ? EXIT.timeLimit : slurm ? shellStatus(slurm) : facts.finishedStatus;
  const neverStarted = !active && facts.phase === 'starting';
  const ended = active ? { reason: null, next: null } : endedReason(state, exitStatus, facts);
  return {
    jobId: record.jobId,
    jobName: record.jobName,
    submittedAt: record.submittedAt,
    state,
    slurmState: slurm?.state ?? null,
    detail: slurm?.state === 'PENDING' ? pendingText(slurm) : active ? activePhase(facts) : neverStarted && state === 'CANCELLED' ? 'cancelled before it started' : (ENDED_PHASE[state] ?? state.toLowerCase().replace(/_/g, ' ')),
    node: slurm && slurm.nodeList && slurm.nodeList !== '(null)' ? slurm.nodeList : null,
    elapsed: slurm?.runTime ?? elapsedFromLog(facts),
    image: record.image,
    // On a back-end with a home of its own, as scp and rsync name a path there.
    outputs: facts.outputs !== null && record.host ? `${record.host}:${facts.outputs}` : facts.outputs,
    exitStatus,
    reason: ended.reason,
    jobDir: record.jobDir,
    source: record.source,
    error: facts.error ?? (neverStarted && exitStatus !== 0 && slurm ? `the job ended (${slurm.state}) before it started` : null),
    next: ended.next ?? facts.next,
  };
}

/**
 * The phase of a job Slurm has not ended. After scancel Slurm says COMPLETING until the job's
 * processes are gone, while the log may already have its end: only a job that ended with 0 is
 * shown finished then.
 */
function activePhase(facts: LogFacts): string {
  return facts.phase === 'finished' && facts.finishedStatus !== 0 ? 'cleaning up' : facts.phase;
}

function elapsedFromLog(facts: LogFacts): string | null {
  if (!facts.firstTime || !facts.lastTime) return null;
  const seconds = Math.round((Date.parse(facts.lastTime.replace(' ', 'T')) - Date.parse(facts.firstTime.replace(' ', 'T'))) / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

/** The order counts are told in: ended first (completed leading), then running, pending last. */
function stateRank(state: string): number {
  const ended = ['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED'];
  if (ended.includes(state)) return ended.indexOf(state);
  if (!ACTIVE_STATES.has(state)) return state === 'UNKNOWN' ? 5 : 4;
  return state === 'RUNNING' ? 6 : state === 'PENDING' ? 8 : 7;
}

/** `4 tasks: 2 completed, 2 failed` (each state in lower case). */
export function countsText(summary: Pick<ArraySummary, 'tasks' | 'counts'>): string {
  const states = Object.keys(summary.counts).sort((a, b) => stateRank(a) - stateRank(b) || a.localeCompare(b));
  return `${summary.tasks} task${summary.tasks === 1 ? '' : 's'}: ${states.map((state) => `${summary.counts[state]} ${state.toLowerCase().replace(/_/g, ' ')}`).join(', ')}`;
}

/** Task ids as Slurm writes them, runs joined: `1, 3, 5-7`; after `max` runs, how many more. */
export function taskList(ids: number[], max = 20): string {
  const runs: string[] = [];
  for (let i = 0; i < ids.length; ) {
    let j = i;
    while (j + 1 < ids.length && (ids[j + 1] as number) === (ids[j] as number) + 1) j++;
    runs.push(j === i ? String(ids[i]) : `${ids[i]}-${ids[j]}`);
    i = j + 1;
  }
  return runs.length > max ? `${runs.slice(0, max).join(', ')}, ... (${ids.length} in all)` : runs.join(', ');
}

/** Whether a task ended other than COMPLETED with 0. */
const taskFailed = (status: JobStatus) => !ACTIVE_STATES.has(status.state) && !(status.state === 'COMPLETED' && status.exitStatus === 0);

/**
 * Slurm's line for each task of the array: its own line once it has started, else the line of
 * the pending rest that covers it; none once Slurm has forgotten it (its log tells then).
 */
function taskLines(record: SubmittedJob, tasks: number, lines: SlurmJob[]): (SlurmJob | null)[] {
  const byTask: (SlurmJob | null)[] = new Array<SlurmJob | null>(tasks).fill(null);
  const ours = lines.filter((line) => line.arrayJobId === record.jobId && line.arrayTaskId !== null);
  // Ranges first, so that a task's own line wins over a range that still names it.
  for (const line of [...ours.filter((l) => !/^[0-9]+$/.test(l.arrayTaskId as string)), ...ours.filter((l) => /^[0-9]+$/.test(l.arrayTaskId as string))]) {
    for (const task of arrayTaskIds(line.arrayTaskId as string, tasks)) byTask[task] = line;
  }
  return byTask;
}

/**
 * An array as one job: each task's status as for a single job (jobStatus on its own line and
 * log), summed up. STATE: while any task is active, the most advanced active state (RUNNING
 * before PENDING); then COMPLETED if every task completed with 0, else the lowest failed task's
 * STATE. EXIT: 0, or the lowest failed task's status (143 cancelled, 124 time limit, the
 * container's otherwise; 1 if unknown). `lines`: Slurm's lines of the array (showArray, or the
 * whole queue); `withTasks` keeps every task's status in the summary.
 */
export function arrayStatus(record: SubmittedJob, lines: SlurmJob[], withTasks = false): JobStatus {
  const array = arrayOf(record) ?? { tasks: 1, parallel: null };
  const slurmLines = taskLines(record, array.tasks, lines);
  const tasks = slurmLines.map((_, task) => taskRecord(record, task));
  const logs = readLogs(record, tasks.map((task) => task.outputLog));
  const statuses = slurmLines.map((line, task) => jobStatus(tasks[task] as SubmittedJob, line, logs[task]));
  const counts: Record<string, number> = {};
  const exitStatuses: Record<string, number[]> = {};
  statuses.forEach((status, task) => {
    counts[status.state] = (counts[status.state] ?? 0) + 1;
    if (status.exitStatus !== null) (exitStatuses[String(status.exitStatus)] ??= []).push(task);
  });
  const failed = statuses.flatMap((status, task) => (taskFailed(status) ? [task] : []));
  const active = statuses.filter((status) => ACTIVE_STATES.has(status.state));
  const lead = active.find((s) => s.state === 'RUNNING') ?? active.find((s) => s.state !== 'PENDING') ?? active[0];
  const firstFailed = failed.length ? (statuses[failed[0] as number] as JobStatus) : null;
  const state = lead ? lead.state : firstFailed ? firstFailed.state : 'COMPLETED';
  const exitStatus = lead ? null : firstFailed ? (firstFailed.exitStatus ?? EXIT.failed) : 0;
  const summary: ArraySummary = { tasks: array.tasks, parallel: array.parallel, counts, failed, exitStatuses, ...(withTasks ? { statuses } : {}) };
  // The array's outputs-N: each task's log names its own outputs-N/T.
  const taskOutputs = statuses.map((s, task) => (s.outputs !== null && basename(s.outputs) === String(task) ? dirname(s.outputs) : s.outputs)).find((o) => o !== null) ?? null;
  const failedNote = firstFailed ? `task${failed.length === 1 ? '' : 's'} ${taskList(failed)} did not complete; task ${failed[0]}: ${firstFailed.reason ?? firstFailed.detail}` : null;
  return {
    jobId: record.jobId,
    jobName: record.jobName,
    submittedAt: record.submittedAt,
    state,
    slurmState: null, // Slurm has no array-level state
    detail: countsText(summary),
    node: null,
    elapsed: null,
    image: record.image,
    outputs: taskOutputs,
    exitStatus,
    reason: lead ? null : failedNote,
    jobDir: record.jobDir,
    source: record.source,
    error: firstFailed?.error ?? null,
    next: firstFailed?.next ?? null,
    array: summary,
  };
}
