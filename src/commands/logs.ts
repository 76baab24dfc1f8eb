// Following a job from the terminal: `submit --wait` and `logs --follow`.
import { removeCredentials } from '../jobdir';
import { findJob, jobStatus, JobStatus, readLog } from '../jobs';
import type { SubmittedJob } from '../record';
import { loadSite } from '../site/load';
import { SlurmClient } from '../slurm/client';
import { ACTIVE_STATES, pendingText } from '../slurm/scontrol';

export interface FollowIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** stderr is a terminal: one updating line instead of a line per change. */
  tty: boolean;
  /** stdin is a terminal: Ctrl-C may ask a question. */
  interactive: boolean;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function describe(status: JobStatus): string {
  if (status.detail.startsWith('pending')) return `job ${status.jobId}: ${status.detail}`;
  const where = status.node ? ` on ${status.node}` : '';
  const phase = status.detail === 'running' ? 'container running' : status.detail;
  return `job ${status.jobId}: ${status.state.toLowerCase()}${where}: ${phase}`;
}

/** scancel the job and remove its token at once: a job cancelled while pending never runs its own clean-up. */
function cancel(record: SubmittedJob, slurm: SlurmClient, io: FollowIo): void {
  io.stderr(`cancelling job ${record.jobId} (scancel)\n`);
  slurm.cancel(record.jobId);
  const removed = removeCredentials(record.jobDir);
  if (removed.length) io.stderr(`removed ${removed.join(', ')}\n`);
}

/** Ask on the terminal; resolves to the answer line. */
function ask(question: string, io: FollowIo): Promise<string> {
  const { createInterface } = require('node:readline') as typeof import('node:readline'); // only for this question
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => {
    io.stderr(io.tty ? '\n' : '');
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

/**
 * Show the job's progress on stderr until it ends; print the outputs dir on stdout and
 * resolve to the job's exit status. Ctrl-C cancels the job (cancelOnInterrupt), asks
 * (on a terminal), or stops following and leaves the job running (exit 130).
 */
export async function waitForJob(record: SubmittedJob, slurm: SlurmClient, io: FollowIo, options: { cancelOnInterrupt?: boolean; pollMs?: number } = {}): Promise<number> {
  let stopFollowing = false;
  let asking = false;
  const onInterrupt = async () => {
    if (asking) return;
    if (options.cancelOnInterrupt) {
      io.stderr('\n');
      cancel(record, slurm, io);
      return;
    }
    if (io.interactive) {
      asking = true;
      const answer = await ask(`Cancel job ${record.jobId}? [y/N] `, io);
      asking = false;
      if (/^y(es)?$/i.test(answer.trim())) {
        cancel(record, slurm, io);
        return;
      }
    }
    stopFollowing = true;
  };
  process.on('SIGINT', onInterrupt);
  try {
    let shown = '';
    for (;;) {
      const job = slurm.showJob(record.jobId);
      const status = jobStatus(record, job);
      const line = describe(status);
      if (line !== shown && !asking) {
        io.stderr(io.tty ? `\r\x1b[K${line}` : `${line}\n`);
        shown = line;
      }
      const ended = job === null || !ACTIVE_STATES.has(job.state);
      if (ended) {
        const exitStatus = status.exitStatus ?? 1;
        io.stderr(`${io.tty ? '\n' : ''}job ${record.jobId} ${status.state}, exit status ${exitStatus}${status.outputs ? `; outputs in ${status.outputs}` : ''}\n`);
        if (exitStatus !== 0 && status.error) io.stderr(`error: ${status.error}\n`);
        if (exitStatus !== 0 && status.next) io.stderr(`next: ${status.next}\n`);
        if (status.outputs) io.stdout(`${status.outputs}\n`);
        return exitStatus;
      }
      if (stopFollowing) {
        io.stderr(`${io.tty ? '\n' : ''}job ${record.jobId} keeps running; follow it with: tre-job logs ${record.jobId} --follow\n`);
        return 130;
      }
      await pause(options.pollMs ?? 500);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/**
 * Print output.log; with follow, keep printing what is added until the job has ended. A job
 * that has no log yet (pending) or never will (ended before it started) is said so on stderr.
 */
export async function followLog(record: SubmittedJob, slurm: SlurmClient, io: Pick<FollowIo, 'stdout' | 'stderr'>, follow: boolean, pollMs = 250): Promise<number> {
  if (readLog(record.outputLog) === '') {
    const job = slurm.showJob(record.jobId);
    if (job?.state === 'PENDING') io.stderr(`job ${record.jobId} is ${pendingText(job)}: its log starts when it runs${follow ? '' : '; follow it with --follow'}\n`);
    else if (job && !ACTIVE_STATES.has(job.state)) io.stderr(`job ${record.jobId} ended (${job.state}) before it wrote a log\n`);
  }
  let printed = 0;
  const flush = () => {
    const log = readLog(record.outputLog);
    if (log.length > printed) io.stdout(log.slice(printed));
    printed = Math.max(printed, log.length);
  };
  flush();
  while (follow) {
    const job = slurm.showJob(record.jobId);
    if (job === null || !ACTIVE_STATES.has(job.state)) break;
    await pause(pollMs);
    flush();
  }
  flush();
  return 0;
}

/** `tre-job logs JOBID [--follow]`. */
export function logsCommand(jobId: string, options: { site?: string; follow?: boolean }, io: Pick<FollowIo, 'stdout' | 'stderr'>): Promise<number> {
  const site = loadSite(options.site);
  const slurm = new SlurmClient(site);
  return followLog(findJob(jobId, site.jobsDir, slurm), slurm, io, options.follow ?? false);
}
