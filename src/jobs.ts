// A submitted job as tre-job knows it: its directory (job.json, output.log) and what Slurm says.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors';
import { jobsRoot } from './jobdir';
import { ACTIVE_STATES, shellStatus, showJob, SlurmJob } from './slurm/scontrol';

/** Written next to job.sh when sbatch has accepted the job. */
export interface JobRecord {
  jobId: string;
  cluster: string | null;
  jobName: string;
  image: string;
  submittedAt: string;
  jobDir: string;
  outputLog: string;
}

export function writeJobRecord(record: JobRecord): void {
  writeFileSync(join(record.jobDir, 'job.json'), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

/** Every job tre-job submitted for this user, newest last. */
export function listJobRecords(jobsDir: string): JobRecord[] {
  const parent = jobsRoot(jobsDir);
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .sort()
    .map((name) => join(parent, name, 'job.json'))
    .filter((file) => existsSync(file))
    .map((file) => JSON.parse(readFileSync(file, 'utf8')) as JobRecord);
}

/** The job's record: from the user's job dirs, else from Slurm's WorkDir (jobs submitted by OOD). */
export function findJob(jobId: string, jobsDir: string): JobRecord {
  if (!/^[0-9]+(_[0-9]+)?$/.test(jobId)) throw new InputError('JOBID', `"${jobId}" is not a Slurm job id`);
  const record = listJobRecords(jobsDir).find((r) => r.jobId === jobId);
  if (record) return record;
  const slurm = showJob(jobId);
  const uid = process.getuid?.();
  if (slurm && slurm.uid !== null && uid !== undefined && uid !== 0 && slurm.uid !== uid) {
    throw new InputError('JOBID', `job ${jobId} is not yours: only its owner can read its log and status`);
  }
  if (slurm?.stdOut) {
    return { jobId, cluster: null, jobName: slurm.jobName, image: slurm.jobName, submittedAt: '', jobDir: slurm.workDir, outputLog: slurm.stdOut };
  }
  throw new InputError('JOBID', `job ${jobId} is not one of your tre-job jobs and Slurm does not know it`);
}

/** What output.log says so far. */
export interface LogFacts {
  phase: 'starting' | 'prologue' | 'pulling' | 'running' | 'cleaning up' | 'finished';
  outputs: string | null;
  container: string | null;
  finishedStatus: number | null;
  /** The last ERROR line's message, and the Next: hint after it, if any. */
  error: string | null;
  next: string | null;
  firstTime: string | null;
  lastTime: string | null;
}

const TIME = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) tre-job /;

export function readLog(outputLog: string): string {
  return existsSync(outputLog) ? readFileSync(outputLog, 'utf8') : '';
}

/** The phase and facts of a job from its log (the script logs each phase). */
export function logFacts(log: string): LogFacts {
  const lines = log.split('\n').filter((l) => TIME.test(l));
  const has = (text: string) => lines.some((l) => l.includes(text));
  const finished = /tre-job INFO: Job finished with exit status (\d+)/.exec(log);
  const phase: LogFacts['phase'] = finished
    ? 'finished'
    : has('tre-job INFO: Cleaning up')
      ? 'cleaning up'
      : has('is now running')
        ? 'running'
        : has('tre-job INFO: Pulling') || has('tre-job INFO: Logging in')
          ? 'pulling'
          : lines.length
            ? 'prologue'
            : 'starting';
  return {
    phase,
    outputs: outputsOf(log),
    container: /tre-job INFO: Container (\S+) is now running/.exec(log)?.[1] ?? null,
    finishedStatus: finished ? Number(finished[1]) : null,
    error: lastMatch(log, /tre-job ERROR: (.*)/g),
    next: lastMatch(log, /tre-job INFO: Next: (.*)/g),
    firstTime: TIME.exec(lines[0] ?? '')?.[1] ?? null,
    lastTime: TIME.exec(lines[lines.length - 1] ?? '')?.[1] ?? null,
  };
}

/** The job's outputs dir, unless the clean-up removed it (empty, and the container never ran). */
function outputsOf(log: string): string | null {
  const outputs = /tre-job INFO: Outputs: (\S+) /.exec(log)?.[1] ?? null;
  return outputs !== null && log.includes(`tre-job INFO: Removed ${outputs}: the container never ran`) ? null : outputs;
}

function lastMatch(log: string, pattern: RegExp): string | null {
  let last: string | null = null;
  for (const match of log.matchAll(pattern)) last = match[1] ?? null;
  return last;
}

export interface JobStatus {
  jobId: string;
  state: string;
  /** Pending reason or the log's phase. */
  detail: string;
  node: string | null;
  elapsed: string | null;
  image: string;
  outputs: string | null;
  exitStatus: number | null;
  jobDir: string;
  /** Why it failed (the log's last ERROR), and what to do (its Next: line). */
  error: string | null;
  next: string | null;
}

/** Current status: Slurm's view while it remembers the job, the log's afterwards. */
export function jobStatus(record: JobRecord, slurm: SlurmJob | null = showJob(record.jobId)): JobStatus {
  const facts = logFacts(readLog(record.outputLog));
  const active = slurm !== null && ACTIVE_STATES.has(slurm.state);
  const state = slurm?.state ?? (facts.finishedStatus === null ? 'UNKNOWN' : facts.finishedStatus === 0 ? 'COMPLETED' : 'FAILED');
  const exitStatus = slurm && !active ? shellStatus(slurm) : facts.finishedStatus;
  const neverStarted = !active && facts.phase === 'starting';
  return {
    jobId: record.jobId,
    state,
    detail: slurm?.state === 'PENDING' ? `pending (${slurm.reason})` : active ? facts.phase : facts.phase === 'finished' ? 'finished' : neverStarted && state === 'CANCELLED' ? 'cancelled before it started' : state.toLowerCase(),
    node: slurm && slurm.nodeList && slurm.nodeList !== '(null)' ? slurm.nodeList : null,
    elapsed: slurm?.runTime ?? elapsedFromLog(facts),
    image: record.image,
    outputs: facts.outputs,
    exitStatus,
    jobDir: record.jobDir,
    error: facts.error ?? (neverStarted && exitStatus !== 0 && slurm ? `the job ended (${slurm.state}) before it started` : null),
    next: facts.next,
  };
}

function elapsedFromLog(facts: LogFacts): string | null {
  if (!facts.firstTime || !facts.lastTime) return null;
  const seconds = Math.round((Date.parse(facts.lastTime.replace(' ', 'T')) - Date.parse(facts.firstTime.replace(' ', 'T'))) / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}
