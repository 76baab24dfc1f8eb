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
  /** An array's id (ArrayJobId=A) on each of its lines; null for a job that is not in an array. */
  arrayJobId: string | null;
  /** ArrayTaskId= as Slurm prints it: one task (`3`), or on the line of the still-pending rest a list (`2-4%2`, `1,3,5-7`, `0-9:2`). */
  arrayTaskId: string | null;
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
    arrayJobId: field(line, 'ArrayJobId') || null,
    arrayTaskId: field(line, 'ArrayTaskId') || null,
  };
}

/**
 * The task ids an ArrayTaskId value stands for: `3`; `2-4%2` (2, 3, 4: `%K` is the throttle);
 * `1,3,5-7`; `0-9:2` (0, 2, ..., 8: `:S` is the step). Tasks at or above `below` are left out
 * (a pending line covers only tasks of its array). Text that is none of these stands for no task.
 */
export function arrayTaskIds(text: string, below = Number.MAX_SAFE_INTEGER): number[] {
  const ids: number[] = [];
  for (const part of text.replace(/^\[|\]$/g, '').replace(/%[0-9]+$/, '').split(',')) {
    const range = /^([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?$/.exec(part);
    if (!range) return [];
    const first = Number(range[1]);
    const last = Math.min(range[2] === undefined ? first : Number(range[2]), below - 1);
    const step = Math.max(Number(range[3] ?? 1), 1);
    for (let id = first; id <= last; id += step) ids.push(id);
  }
  return ids;
}

/** Whether the line is task `task` of array `arrayId`: its own line, or the pending rest's that covers it. */
export function isArrayTask(job: SlurmJob, arrayId: string, task: number): boolean {
  return job.arrayJobId === arrayId && job.arrayTaskId !== null && arrayTaskIds(job.arrayTaskId, task + 1).includes(task);
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
