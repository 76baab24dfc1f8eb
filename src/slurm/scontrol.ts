// Reading and cancelling jobs: scontrol and scancel (Slurm's accounting may be off, so sacct is not used).
import { spawnSync } from 'node:child_process';
import { ExternalError, oneLine } from '../errors';

export interface SlurmJob {
  jobId: string;
  state: string;
  /** Why it is pending (Resources, Priority, ...), or None. */
  reason: string;
  nodeList: string;
  runTime: string;
  /** ExitCode=X:Y */
  exitCode: number;
  signal: number;
  workDir: string;
  stdOut: string;
  jobName: string;
  /** The owner's uid (UserId=NAME(UID)). */
  uid: number | null;
}

/** States in which the job may still change. */
export const ACTIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'REQUEUE_HOLD', 'REQUEUE_FED']);

function field(line: string, name: string): string {
  return new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(line)?.[1] ?? '';
}

function ownerUid(userId: string): number | null {
  const uid = /\((\d+)\)$/.exec(userId)?.[1];
  return uid === undefined ? null : Number(uid);
}

/** Parse one `scontrol show job -o` line. */
export function parseJobLine(line: string): SlurmJob {
  const [exitCode, signal] = field(line, 'ExitCode').split(':').map(Number);
  return {
    jobId: field(line, 'JobId'),
    state: field(line, 'JobState'),
    reason: field(line, 'Reason'),
    nodeList: field(line, 'NodeList'),
    runTime: field(line, 'RunTime'),
    exitCode: exitCode ?? 0,
    signal: signal ?? 0,
    workDir: field(line, 'WorkDir'),
    stdOut: field(line, 'StdOut'),
    jobName: field(line, 'JobName'),
    uid: ownerUid(field(line, 'UserId')),
  };
}

/** The job as Slurm knows it, or null once Slurm has forgotten it (MinJobAge). */
export function showJob(jobId: string, scontrol = 'scontrol'): SlurmJob | null {
  const result = spawnSync(scontrol, ['show', 'job', '-o', jobId], { encoding: 'utf8' });
  if (result.error) throw new ExternalError(`cannot run ${scontrol}: ${result.error.message}`);
  if (result.status !== 0) return null; // "Invalid job id specified"
  const line = result.stdout.split('\n').find((l) => l.startsWith(`JobId=${jobId} `));
  return line ? parseJobLine(line) : null;
}

/** Every job Slurm knows (any user's), e.g. to see which job directories are still in use. */
export function showJobs(scontrol = 'scontrol'): SlurmJob[] {
  const result = spawnSync(scontrol, ['show', 'job', '-o'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) throw new ExternalError(`cannot list jobs with ${scontrol}: ${oneLine(result.stderr || String(result.error))}`);
  return result.stdout.split('\n').filter((line) => line.startsWith('JobId=')).map(parseJobLine);
}

/** scancel the job (SIGTERM, then SIGKILL after KillWait). */
export function cancelJob(jobId: string, scancel = 'scancel'): void {
  const result = spawnSync(scancel, [jobId], { encoding: 'utf8' });
  if (result.error || result.status !== 0) throw new ExternalError(`scancel ${jobId} failed: ${oneLine(result.stderr || String(result.error))}`);
}

/** A job that ended in one of these states did not succeed, whatever its ExitCode says. */
const FAILED_STATE_STATUS: Record<string, number> = { CANCELLED: 143, TIMEOUT: 124, DEADLINE: 124, FAILED: 1, NODE_FAIL: 1, BOOT_FAIL: 1, OUT_OF_MEMORY: 137, PREEMPTED: 143 };

/**
 * The exit status a shell would report for Slurm's ExitCode=X:Y; never 0 for a job that did not
 * complete (a job cancelled while pending has ExitCode=0:0).
 */
export function shellStatus(job: Pick<SlurmJob, 'exitCode' | 'signal' | 'state'>): number {
  const status = job.signal ? 128 + job.signal : job.exitCode;
  return status === 0 ? (FAILED_STATE_STATUS[job.state] ?? 0) : status;
}
