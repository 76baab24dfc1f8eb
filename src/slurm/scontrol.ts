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
}

/** States in which the job may still change. */
export const ACTIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'REQUEUE_HOLD', 'REQUEUE_FED']);

function field(line: string, name: string): string {
  return new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(line)?.[1] ?? '';
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

/** scancel the job (SIGTERM, then SIGKILL after KillWait). */
export function cancelJob(jobId: string, scancel = 'scancel'): void {
  const result = spawnSync(scancel, [jobId], { encoding: 'utf8' });
  if (result.error || result.status !== 0) throw new ExternalError(`scancel ${jobId} failed: ${oneLine(result.stderr || String(result.error))}`);
}

/** The exit status a shell would report for Slurm's ExitCode=X:Y. */
export function shellStatus(job: Pick<SlurmJob, 'exitCode' | 'signal'>): number {
  return job.signal ? 128 + job.signal : job.exitCode;
}
