// Following a job from the terminal: `submit --wait` and `logs --follow`, of a single job or an array.
import { existsSync, statSync } from 'node:fs';
import { removeCredentials } from '../jobdir';
import { removeRemoteJobDir } from '../backend';
import { arrayOf, ArraySummary, arrayStatus, findJob, JobArray, jobStatus, JobStatus, readLog, readLogs, taskList, taskLogOf } from '../jobs';
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
  if (record.host) {
    // The token is on the back-end: removed there (a job cancelled while pending has no Epilog).
    if (removeRemoteJobDir(record.host, record.jobDir, false)) io.stderr(`removed the registry token of job ${record.jobId} on ${record.host}\n`);
    return;
  }
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

/** What one look at Slurm and the log shows while following: a progress line, and once ended, the last words. */
interface Look {
  line: string;
  ended: boolean;
  /** Print how it ended (stderr), the outputs dir (stdout); the exit status. */
  finish: () => number;
}

/**
 * The fastest an array (its scontrol answer is about 1.1 KB a task) or a back-end's log (an ssh
 * each time) is read while following.
 */
export const SLOW_POLL_MS = 2000;

/** `ms`, or SLOW_POLL_MS when `slow` and `ms` is shorter. */
const pollEvery = (slow: boolean, ms: number) => (slow ? Math.max(ms, SLOW_POLL_MS) : ms);

/** A single job: its state and phase; at the end its state, exit status, outputs, error and next step. */
function lookAtJob(record: SubmittedJob, slurm: SlurmClient, io: FollowIo): Look {
  const job = slurm.showJob(record.jobId);
  const status = jobStatus(record, job);
  const finish = () => {
    const exitStatus = status.exitStatus ?? 1;
    io.stderr(`job ${record.jobId} ${status.state}, exit status ${exitStatus}${status.outputs ? `; outputs in ${status.outputs}` : ''}\n`);
    if (exitStatus !== 0 && status.error) io.stderr(`error: ${status.error}\n`);
    if (exitStatus !== 0 && status.next) io.stderr(`next: ${status.next}\n`);
    if (status.outputs) io.stdout(`${status.outputs}\n`);
    return exitStatus;
  };
  return { line: describe(status), ended: job === null || !ACTIVE_STATES.has(job.state), finish };
}

/** `job A: 12 done, 2 running, 986 pending, 1 failed` (done: completed with 0; failed: ended otherwise). */
export function arrayProgress(status: JobStatus): string {
  const array = status.array as ArraySummary;
  const count = (test: (state: string) => boolean) => Object.entries(array.counts).reduce((n, [state, k]) => n + (test(state) ? k : 0), 0);
  const pending = count((state) => state === 'PENDING');
  const running = count((state) => ACTIVE_STATES.has(state)) - pending;
  const failed = array.failed.length;
  return `job ${status.jobId}: ${array.tasks - pending - running - failed} done, ${running} running, ${pending} pending, ${failed} failed`;
}

/** An array: its counts; at the end, its failed tasks and the lowest one's reason. */
function lookAtArray(record: SubmittedJob, slurm: SlurmClient, io: FollowIo): Look {
  const status = arrayStatus(record, slurm.showArray(record.jobId));
  const array = status.array as ArraySummary;
  const finish = () => {
    const exitStatus = status.exitStatus ?? 1;
    const first = array.failed[0];
    io.stderr(`job ${record.jobId} ${status.state}, exit status ${exitStatus}${first === undefined ? '' : ` (task ${first})`}; ${status.detail}${status.outputs ? `; outputs in ${status.outputs}` : ''}\n`);
    if (first !== undefined) {
      io.stderr(`failed tasks: ${taskList(array.failed)}; a task's log: tre-job logs ${record.jobId}_${first}\n`);
      if (status.error) io.stderr(`error: task ${first}: ${status.error}\n`);
      if (status.next) io.stderr(`next: ${status.next}\n`);
    }
    if (status.outputs) io.stdout(`${status.outputs}\n`);
    return exitStatus;
  };
  return { line: arrayProgress(status), ended: !ACTIVE_STATES.has(status.state), finish };
}

/**
 * Show the job's progress on stderr until it ends (a line per change; one updating line on a
 * terminal); print the outputs dir on stdout and resolve to the job's exit status. Ctrl-C
 * cancels the job (cancelOnInterrupt), asks (on a terminal), or stops following and leaves the
 * job running (exit 130). An array shows its tasks' counts, asks Slurm every 2 s at most, and
 * exits 0 only if every task completed with 0, else with its lowest failed task's status.
 */
export async function waitForJob(record: SubmittedJob, slurm: SlurmClient, io: FollowIo, options: { cancelOnInterrupt?: boolean; pollMs?: number } = {}): Promise<number> {
  const array = arrayOf(record) !== null;
  const look = array ? lookAtArray : lookAtJob;
  const slow = array || !!record.host;
  const pollMs = pollEvery(slow, options.pollMs ?? (slow ? 0 : 500));
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
      const answer = await ask(`Cancel job ${record.jobId}${array ? ' (every task)' : ''}? [y/N] `, io);
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
      const seen = look(record, slurm, io);
      if (seen.line !== shown && !asking) {
        io.stderr(io.tty ? `\r\x1b[K${seen.line}` : `${seen.line}\n`);
        shown = seen.line;
      }
      if (seen.ended) {
        if (io.tty) io.stderr('\n');
        return seen.finish();
      }
      if (stopFollowing) {
        io.stderr(`${io.tty ? '\n' : ''}job ${record.jobId} keeps running; follow it with: tre-job logs ${record.jobId} --follow\n`);
        return 130;
      }
      await pause(pollMs);
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
  if (readLog(record) === '') {
    const job = slurm.showJob(record.jobId);
    if (job?.state === 'PENDING') io.stderr(`job ${record.jobId} is ${pendingText(job)}: its log starts when it runs${follow ? '' : '; follow it with --follow'}\n`);
    else if (job && !ACTIVE_STATES.has(job.state)) io.stderr(`job ${record.jobId} ended (${job.state}) before it wrote a log\n`);
  }
  let printed = 0;
  const flush = () => {
    const log = readLog(record);
    if (log.length > printed) io.stdout(log.slice(printed));
    printed = Math.max(printed, log.length);
  };
  flush();
  const every = pollEvery(!!record.host, pollMs);
  while (follow) {
    const job = slurm.showJob(record.jobId);
    if (job === null || !ACTIVE_STATES.has(job.state)) break;
    await pause(every);
    flush();
  }
  flush();
  return 0;
}

/**
 * An array's logs: every task's that has one, in task order, each after a `==> A_T <==` line
 * (as `tail` heads files); with follow, what each adds, under its header again whenever the
 * task changes, until every task has ended. Only whole lines are printed, so a header never
 * cuts one. Slurm is asked every 2 s at most.
 */
export async function followArrayLogs(record: SubmittedJob, slurm: SlurmClient, io: Pick<FollowIo, 'stdout' | 'stderr'>, follow: boolean): Promise<number> {
  const { tasks } = arrayOf(record) as JobArray;
  const printed = new Array<number>(tasks).fill(0);
  const sizes = new Array<number>(tasks).fill(-1);
  let current = -1;
  const files = Array.from({ length: tasks }, (_, task) => taskLogOf(record, task));
  /** Print what the tasks' logs have added; `all`: also a last line without its newline. */
  const flush = (all: boolean) => {
    // Here only a log that grew is read again; a back-end's come all in one ssh.
    const remote = record.host ? readLogs(record, files) : null;
    for (let task = 0; task < tasks; task++) {
      const file = files[task] as string;
      if (remote === null) {
        const size = existsSync(file) ? statSync(file).size : 0;
        if (size === sizes[task] && !all) continue;
        sizes[task] = size;
      }
      const log = remote?.[task] ?? (readLogs(record, [file])[0] as string);
      const end = all ? log.length : log.lastIndexOf('\n') + 1;
      if (end <= (printed[task] as number)) continue;
      if (task !== current) io.stdout(`${current === -1 ? '' : '\n'}==> ${record.jobId}_${task} <==\n`);
      io.stdout(log.slice(printed[task], end));
      printed[task] = end;
      current = task;
    }
  };
  const none = () => taskList(printed.flatMap((n, task) => (n === 0 ? [task] : [])));
  io.stderr(`job ${record.jobId} is an array of ${tasks} task${tasks === 1 ? '' : 's'}: each task's log follows a line ==> ${record.jobId}_TASK <== (one task's log alone: tre-job logs ${record.jobId}_TASK)\n`);
  flush(!follow);
  while (follow) {
    const status = arrayStatus(record, slurm.showArray(record.jobId));
    if (!ACTIVE_STATES.has(status.state)) break;
    await pause(SLOW_POLL_MS);
    flush(false);
  }
  flush(true);
  if (printed.includes(0)) io.stderr(`job ${record.jobId}: no log from task${printed.filter((n) => n === 0).length === 1 ? '' : 's'} ${none()} (not started, or ended before it started)\n`);
  return 0;
}

/** `tre-job logs JOBID [--follow]`: a job's log, task T's for `A_T`, or an array's tasks' logs. */
export function logsCommand(jobId: string, options: { site?: string; follow?: boolean }, io: Pick<FollowIo, 'stdout' | 'stderr'>): Promise<number> {
  const site = loadSite(options.site);
  const slurm = new SlurmClient(site);
  const record = findJob(jobId, site.jobsDir, slurm);
  if (arrayOf(record)) return followArrayLogs(record, slurm, io, options.follow ?? false);
  return followLog(record, slurm, io, options.follow ?? false);
}
