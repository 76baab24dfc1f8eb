// The one way tre-job runs Slurm: sbatch, scontrol and scancel, by the commands the site names
// (site.sbatch, site.scontrol, site.scancel), so that submit, status, logs, --wait and gc all
// reach the same Slurm. Only this module spawns them; sbatch.ts and scontrol.ts parse.
import { spawnSync } from 'node:child_process';
import { arrayTaskOf } from '../contract';
import { ExternalError, oneLine } from '../errors';
import type { Site } from '../site/schema';
import { parseSubmission, Submission, submitEnvironment } from './sbatch';
import { isArrayTask, parseJobLine, SlurmJob } from './scontrol';

/** The largest `scontrol show job -o` read: about 500,000 jobs. */
const QUEUE_MAX_BYTES = 1024 * 1024 * 1024;

export type SlurmCommands = Pick<Site, 'sbatch' | 'scontrol' | 'scancel'>;

export class SlurmClient {
  constructor(private readonly commands: SlurmCommands) {}

  /** The exact sbatch argv for a script: --parsable prints only `jobid[;cluster]`. */
  sbatchArgv(script: string): string[] {
    return [this.commands.sbatch, '--parsable', script];
  }

  /** Run sbatch in the job directory; a refusal is an ExternalError with sbatch's own message. */
  submit(script: string, cwd: string): Submission {
    const { sbatch } = this.commands;
    const result = spawnSync(sbatch, ['--parsable', script], { cwd, env: submitEnvironment(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error) throw new ExternalError(`cannot run ${sbatch}: ${result.error.message}`);
    if (result.status !== 0) {
      throw new ExternalError(`sbatch refused the job: ${oneLine(result.stderr || result.stdout || `exit status ${result.status}`)}`);
    }
    return parseSubmission(result.stdout);
  }

  /**
   * The job as Slurm knows it, or null once Slurm has forgotten it (MinJobAge). `A_T` is task T of
   * array A: no line starts `JobId=A_T` (each task has its own numeric id), so its line is the one
   * with ArrayJobId=A and ArrayTaskId T, or while T is pending the line of the pending rest.
   */
  showJob(jobId: string): SlurmJob | null {
    const jobs = this.show(jobId);
    const task = arrayTaskOf(jobId);
    if (!task) return jobs.find((job) => job.jobId === jobId) ?? null;
    const { arrayId, task: index } = task;
    const own = jobs.find((job) => job.arrayJobId === arrayId && job.arrayTaskId === String(index));
    return own ?? jobs.find((job) => isArrayTask(job, arrayId, index)) ?? null;
  }

  /**
   * Every line of array `arrayId`, one scontrol call: a line per task that has started or ended,
   * and one for the still-pending rest (ArrayTaskId=2-4%2). Empty once Slurm has forgotten it.
   */
  showArray(arrayId: string): SlurmJob[] {
    return this.show(arrayId).filter((job) => job.arrayJobId === arrayId);
  }

  /** `scontrol show job -o ID`'s lines; none for a job Slurm does not know. */
  private show(jobId: string): SlurmJob[] {
    const { scontrol } = this.commands;
    // An array of 1,000 tasks is about 1.1 MB (a line per task): more than spawnSync's 1 MiB default.
    const result = spawnSync(scontrol, ['show', 'job', '-o', jobId], { encoding: 'utf8', maxBuffer: QUEUE_MAX_BYTES });
    if (result.error) throw new ExternalError(`cannot run ${scontrol}: ${result.error.message}`);
    if (result.status !== 0) return []; // "Invalid job id specified"
    return result.stdout.split('\n').filter((line) => line.startsWith('JobId=')).map(parseJobLine);
  }

  /** Every job Slurm knows (any user's), e.g. to see which job directories are still in use. */
  showJobs(): SlurmJob[] {
    const { scontrol } = this.commands;
    // A busy cluster's queue is many megabytes (about 2 KiB a job): more than spawnSync's 1 MiB default.
    const result = spawnSync(scontrol, ['show', 'job', '-o'], { encoding: 'utf8', maxBuffer: QUEUE_MAX_BYTES });
    if (result.error || result.status !== 0) throw new ExternalError(`cannot list jobs with ${scontrol}: ${oneLine(result.stderr || String(result.error))}`);
    return result.stdout.split('\n').filter((line) => line.startsWith('JobId=')).map(parseJobLine);
  }

  /** scancel the job (SIGTERM, then SIGKILL after KillWait). */
  cancel(jobId: string): void {
    const result = spawnSync(this.commands.scancel, [jobId], { encoding: 'utf8' });
    if (result.error || result.status !== 0) throw new ExternalError(`scancel ${jobId} failed: ${oneLine(result.stderr || String(result.error))}`);
  }
}
