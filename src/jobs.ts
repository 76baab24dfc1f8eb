// A job as tre-job knows it: its record (record.ts), its output.log, and what Slurm says.
import { existsSync, readFileSync } from 'node:fs';
import { LOG, LogFacts, logFacts } from './contract';
import { InputError } from './errors';
import { JobRecord, listJobRecords, readJobRecord, SubmittedJob, writeJobRecord } from './record';
import type { SlurmClient } from './slurm/client';
import { ACTIVE_STATES, jobDirsOf, shellStatus, SlurmJob } from './slurm/scontrol';

/**
 * The record with its job id. An OOD session's record has none at first (OnDemand runs sbatch
 * after `tre-job ood`): the job's log names it once the job runs, and before that `candidates`
 * may hold Slurm's job that runs in the session's directory. Once found it is written into
 * job.json, so that it outlives Slurm's memory of the job.
 */
function withJobId(record: JobRecord, candidates: () => SlurmJob[]): JobRecord {
  if (record.jobId !== null) return record;
  const jobId = LOG.started.exec(readLog(record.outputLog))?.[1] ?? candidates().filter((job) => jobDirsOf(job).includes(record.jobDir)).pop()?.jobId ?? null;
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

/** The job's record: from the user's records, else from Slurm's WorkDir (an OOD session, or a job tre-job did not record). */
export function findJob(jobId: string, jobsDir: string, slurm: SlurmClient): SubmittedJob {
  if (!/^[0-9]+(_[0-9]+)?$/.test(jobId)) throw new InputError('JOBID', `"${jobId}" is not a Slurm job id`);
  const known = (record: JobRecord | null): record is SubmittedJob => record?.jobId === jobId;
  const record = listJobRecords(jobsDir)
    .map((r) => withJobId(r, () => []))
    .find(known);
  if (record) return record;
  const job = slurm.showJob(jobId);
  const uid = process.getuid?.();
  if (job && job.uid !== null && uid !== undefined && uid !== 0 && job.uid !== uid) {
    throw new InputError('JOBID', `job ${jobId} is not yours: only its owner can read its log and status`);
  }
  if (job?.stdOut) {
    const session = jobDirsOf(job)
      .map(readJobRecord)
      .find((r) => r !== null && (r.jobId === null || r.jobId === jobId));
    const found = session ? withJobId(session, () => [job]) : null;
    if (known(found)) return found;
    return { jobId, cluster: null, jobName: job.jobName, image: job.jobName, submittedAt: '', jobDir: job.workDir, outputLog: job.stdOut, containerName: null, source: 'ood' };
  }
  throw new InputError('JOBID', `job ${jobId} is not one of your tre-job jobs and Slurm does not know it`);
}

export function readLog(outputLog: string): string {
  return existsSync(outputLog) ? readFileSync(outputLog, 'utf8') : '';
}

export interface JobStatus {
  /** Null for an OOD session whose job id is not known yet. */
  jobId: string | null;
  state: string;
  /** Pending reason or the log's phase. */
  detail: string;
  node: string | null;
  elapsed: string | null;
  image: string;
  outputs: string | null;
  exitStatus: number | null;
  jobDir: string;
  source: JobRecord['source'];
  /** Why it failed (the log's last ERROR), and what to do (its Next: line). */
  error: string | null;
  next: string | null;
}

/** Current status: Slurm's view (`slurm`: scontrol's answer) while it remembers the job, the log's afterwards. */
export function jobStatus(record: JobRecord, slurm: SlurmJob | null): JobStatus {
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
    source: record.source,
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
