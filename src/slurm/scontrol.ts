// What `scontrol show job -o` says about a job (Slurm's accounting may be off, so sacct is not
// used). Parsing only: client.ts runs scontrol.
import { EXIT } from '../contract';
import { dirname } from 'node:path';

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

/** Whether Slurm says the job is another user's (root may look at every user's job). */
export function isAnotherUsers(job: SlurmJob): boolean {
  const uid = process.getuid?.();
  return job.uid !== null && uid !== undefined && uid !== 0 && job.uid !== uid;
}

/** `pending (Resources)`, or `pending` while Slurm has no reason yet (Reason=None). */
export function pendingText(job: SlurmJob): string {
  return job.reason && job.reason !== 'None' ? `pending (${job.reason})` : 'pending';
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

/** The directories a job runs in: its WorkDir and its log's (a job directory, or an OOD staged root). */
export function jobDirsOf(job: Pick<SlurmJob, 'workDir' | 'stdOut'>): string[] {
  return [job.workDir, dirname(job.stdOut)];
}

/** A job that ended in one of these states did not succeed, whatever its ExitCode says. */
const FAILED_STATE_STATUS: Record<string, number> = {
  CANCELLED: EXIT.cancelled,
  TIMEOUT: EXIT.timeLimit,
  DEADLINE: EXIT.timeLimit,
  FAILED: EXIT.failed,
  NODE_FAIL: EXIT.failed,
  BOOT_FAIL: EXIT.failed,
  OUT_OF_MEMORY: 128 + 9, // SIGKILL
  PREEMPTED: EXIT.cancelled,
};

/**
 * The exit status a shell would report for Slurm's ExitCode=X:Y; never 0 for a job that did not
 * complete (a job cancelled while pending has ExitCode=0:0).
 */
export function shellStatus(job: Pick<SlurmJob, 'exitCode' | 'signal' | 'state'>): number {
  const status = job.signal ? 128 + job.signal : job.exitCode;
  return status === 0 ? (FAILED_STATE_STATUS[job.state] ?? 0) : status;
}
