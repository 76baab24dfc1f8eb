import { BackendError } from '../backend';
import { escapeControls, InputError } from '../errors';
import { arrayOf, arrayStatus, findJob, jobStatus, JobStatus, listJobs, readBackendLogsAhead, slurmQueue, taskList } from '../jobs';
import type { JobRecord, SubmittedJob } from '../record';
import { loadSite } from '../site/load';
import { SlurmClient } from '../slurm/client';
import { ACTIVE_STATES, SlurmJob } from '../slurm/scontrol';

export interface StatusOptions {
  site?: string;
  json?: boolean;
  /** Comma-separated states or groups (active, ended), any case. */
  state?: string;
  /** A date or time (ISO 8601), or an age (30m, 2h, 3d, 1w). */
  since?: string;
  /** The N most recently submitted (after the other filters). */
  last?: string;
}

/** Slurm's job states that end a job (squeue(1)), beside the active ones; UNKNOWN is tre-job's: Slurm has forgotten the job and its log has no end. */
const ENDED_STATES = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'BOOT_FAIL', 'PREEMPTED', 'DEADLINE', 'REVOKED', 'SPECIAL_EXIT', 'STOPPED'];
const GROUPS: Record<string, (state: string) => boolean> = {
  active: (state) => ACTIVE_STATES.has(state),
  ended: (state) => !ACTIVE_STATES.has(state) && state !== 'UNKNOWN',
};
const STATE_NAMES = [...Object.keys(GROUPS), ...[...ACTIVE_STATES, ...ENDED_STATES, 'UNKNOWN'].map((s) => s.toLowerCase())];

/** --state: a test of a job's STATE. */
function stateFilter(value: string): (state: string) => boolean {
  const words = value.split(',').map((w) => w.trim().toLowerCase());
  const unknown = words.find((w) => !STATE_NAMES.includes(w));
  if (unknown !== undefined) throw new InputError('--state', `"${unknown}" is not a job state; use one or more of ${STATE_NAMES.join(', ')} (comma-separated, any case)`);
  return (state) => words.some((w) => GROUPS[w]?.(state) ?? w === state.toLowerCase());
}

const AGE_UNITS: Record<string, number> = { m: 60, h: 3600, d: 86400, w: 7 * 86400 };
const SINCE_EXAMPLE = 'give a date or time (2026-12-01, 2026-12-01T14:00: local time unless it ends in Z or +HH:MM) or an age (30m, 2h, 3d, 1w)';

/** --since: the time in ms since the epoch. A date or a time without a zone is local time, as `date` prints it. */
export function parseSince(value: string, now = Date.now()): number {
  const age = /^([1-9][0-9]*)([mhdw])$/.exec(value);
  if (age) return now - Number(age[1]) * (AGE_UNITS[age[2] as string] as number) * 1000;
  const when = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/.exec(value);
  if (when) {
    const [year, month, day, hour, minute, second] = when.slice(1, 7).map((n) => Number(n ?? 0)) as [number, number, number, number, number, number];
    const [fraction, zone] = [when[7] ?? '', when[8]];
    // Date's own parser is lenient (2026-02-30 is March 2nd): the fields are checked here.
    const local = new Date(year, month - 1, day, hour, minute, second, Number(`0${fraction}`) * 1000);
    const valid = local.getMonth() === month - 1 && local.getDate() === day && hour < 24 && minute < 60 && second < 60;
    if (valid && zone === undefined) return local.getTime();
    if (valid) return Date.parse(`${when.slice(1, 4).join('-')}T${[hour, minute, second].map((n) => String(n).padStart(2, '0')).join(':')}${fraction}${zone}`);
  }
  throw new InputError('--since', `"${value}" is not a time: ${SINCE_EXAMPLE}`);
}

function parseLast(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InputError('--last', `"${value}" is not a positive whole number, e.g. --last 10`);
  return Number(value);
}

/** The filters given, checked; null when none is. */
function filtersOf(options: StatusOptions): { state?: (state: string) => boolean; since?: number; last?: number; first: string } | null {
  const given = (['state', 'since', 'last'] as const).filter((name) => options[name] !== undefined);
  if (!given.length) return null;
  return {
    ...(options.state !== undefined ? { state: stateFilter(options.state) } : {}),
    ...(options.since !== undefined ? { since: parseSince(options.since) } : {}),
    ...(options.last !== undefined ? { last: parseLast(options.last) } : {}),
    first: `--${given[0] as string}`,
  };
}

/**
 * One line per job (default: all of the user's tre-job jobs, OOD sessions included), or JSON.
 * Filters narrow the listing: --since and --last need only the records, so only --state makes
 * every job's status be read.
 */
export function statusCommand(jobIds: string[], options: StatusOptions): string {
  const filters = filtersOf(options);
  if (filters && jobIds.length) throw new InputError(filters.first, 'filters the list of all your jobs: give job ids or filters, not both');
  const site = loadSite(options.site);
  const slurm = new SlurmClient(site);
  let statuses: JobStatus[];
  if (jobIds.length) {
    statuses = jobIds.map((id) => findJob(id, site.jobsDir, slurm)).map((record) => (arrayOf(record) ? arrayStatus(record, slurm.showArray(record.jobId), true) : jobStatus(record, slurm.showJob(record.jobId))));
  } else {
    // One scontrol for all the jobs, not one each: a user may have thousands of job directories.
    const queue = slurmQueue(slurm);
    let records = listJobs(site.jobsDir, queue);
    if (filters?.since !== undefined) {
      const since = filters.since;
      records = records.filter((record) => Date.parse(record.submittedAt) >= since);
    }
    const last = <T>(list: T[]) => (filters?.last === undefined ? list : list.slice(-filters.last));
    if (!filters?.state) records = last(records);
    const slurmJobs = records.some((record) => record.jobId !== null) ? queue() : [];
    const known = new Map(slurmJobs.map((job) => [job.jobId, job]));
    // An array is one row: its tasks' lines, each with ArrayJobId=A.
    const arrays = new Map<string, SlurmJob[]>();
    for (const job of slurmJobs) {
      if (job.arrayJobId === null) continue;
      const lines = arrays.get(job.arrayJobId) ?? [];
      lines.push(job);
      arrays.set(job.arrayJobId, lines);
    }
    readBackendLogsAhead(records);
    statuses = records.map((record: JobRecord) => {
      if (record.jobId === null) return jobStatus(record, null);
      const jobId = record.jobId;
      // A back-end that cannot be reached over ssh now hides its logs, not the list.
      return unlessUnreachable(
        () => (arrayOf(record) ? arrayStatus(record as SubmittedJob, arrays.get(jobId) ?? []) : jobStatus(record, known.get(jobId) ?? null)),
        (why) => ({ ...jobStatus(record, known.get(jobId) ?? null, ''), reason: `its log was not read: ${why}` }),
      );
    });
    if (filters?.state) {
      const wanted = filters.state;
      statuses = last(statuses.filter((s) => wanted(s.state)));
    }
  }
  return options.json ? `${JSON.stringify(statuses, null, 2)}\n` : table(statuses) + statuses.map(arrayDetail).join('');
}

/** MM-DD HH:MM in local time (YYYY-MM-DD for another year); the full time is in --json. */
export function compactTime(iso: string, now = new Date()): string {
  const time = new Date(iso);
  if (iso === '' || Number.isNaN(time.getTime())) return '-';
  const pad = (n: number) => String(n).padStart(2, '0');
  const day = `${pad(time.getMonth() + 1)}-${pad(time.getDate())}`;
  return time.getFullYear() === now.getFullYear() ? `${day} ${pad(time.getHours())}:${pad(time.getMinutes())}` : `${time.getFullYear()}-${day}`;
}

/** A path under the home as ~/...: outputs dirs are all there, and the table stays narrow. */
function homely(path: string): string {
  const home = (require('node:os') as typeof import('node:os')).homedir();
  return path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

/**
 * The table: one line per job, and under an ended job that did not complete, its reason (and
 * the log's Next: hint), indented to the NAME column. The image's full reference is in --json
 * only: NAME is its NAME:TAG. OUTPUTS comes last (then an OOD session's directory), as the longest.
 */
function table(statuses: JobStatus[]): string {
  const sessions = statuses.some((s) => s.source === 'ood');
  const header = ['JOBID', 'NAME', 'SUBMITTED', 'STATE', 'PHASE', 'ELAPSED', 'EXIT', 'OUTPUTS', ...(sessions ? ['OOD_SESSION'] : [])];
  const rows = statuses.map((s) => [
    s.jobId ?? '-',
    s.jobName,
    compactTime(s.submittedAt),
    s.state,
    s.detail,
    s.elapsed ?? '-',
    s.exitStatus === null ? '-' : String(s.exitStatus),
    s.outputs === null ? '-' : homely(s.outputs),
    ...(sessions ? [s.source === 'ood' ? homely(s.jobDir) : ''] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ').trimEnd();
  const indent = ' '.repeat((widths[0] as number) + 2);
  const notes = (s: JobStatus) => (s.reason === null || s.state === 'COMPLETED' ? [] : [s.reason, ...(s.next ? [`next: ${s.next}`] : [])].map((note) => indent + escapeControls(note))); // the log's words: the container writes to it too
  return [line(header), ...statuses.flatMap((s, i) => [line(rows[i] as string[]), ...notes(s)])].join('\n') + '\n';
}

/**
 * Under the table, for an array asked for by id: its counts, its tasks by exit status, and its
 * failed tasks as rows of their own (each with its reason, as for a single job).
 */
function arrayDetail(s: JobStatus): string {
  const statuses = s.array?.statuses;
  if (!s.array || !statuses) return '';
  const { exitStatuses, failed } = s.array;
  const byStatus = Object.keys(exitStatuses).sort((a, b) => Number(a) - Number(b));
  const tasks = (ids: number[]) => `task${ids.length === 1 ? '' : 's'} ${taskList(ids)}`;
  const lines = [`\njob ${s.jobId}: ${s.detail}`, ...byStatus.map((status) => `exit status ${status}: ${tasks(exitStatuses[status] as number[])}`)];
  if (failed.length) lines.push(`failed: ${tasks(failed)} (a task's log: tre-job logs ${s.jobId}_TASK)`);
  return `${lines.join('\n')}\n${failed.length ? table(failed.map((task) => statuses[task] as JobStatus)) : ''}`;
}

/** `read()`, or `instead(why)` when it fails for want of a back-end (ssh). */
function unlessUnreachable<T>(read: () => T, instead: (why: string) => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof BackendError) return instead(err.message);
    throw err;
  }
}
