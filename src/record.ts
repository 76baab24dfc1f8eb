// The one job record, JOBDIR/job.json, for every job tre-job makes. `submit` writes it once
// sbatch has accepted the job; `ood --job-dir` writes it into the session's staged root before
// OnDemand runs sbatch, so without a job id (jobs.ts learns it later). The OOD apps' job cards
// read it too (jobName, containerName). Each record's directory is in the jobs index (jobdir.ts),
// so that `status` finds it wherever it is. Beside it the job keeps the spec it was rendered
// from (keepSpec), so that `tre-job resubmit` can render it again.
import { JOB_FILES } from './contract';
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, Stats, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { jobsRoot, listedJobDirs, listJobDir, unlistJobDir, writePrivateFile } from './jobdir';
import type { Job } from './jobspec/resolve';

export interface JobRecord {
  /** Null for an OOD session until its job id is known: OnDemand runs sbatch, not tre-job. */
  jobId: string | null;
  cluster: string | null;
  jobName: string;
  image: string;
  /** When tre-job submitted the job, or rendered it for OnDemand to submit. */
  submittedAt: string;
  jobDir: string;
  outputLog: string;
  /** The Podman container's name; null under Apptainer. */
  containerName: string | null;
  /** Who ran sbatch: `tre-job submit`, or Open OnDemand. */
  source: 'submit' | 'ood';
  // The fields below are optional because records written before they existed lack them;
  // readJobRecord gives each of them as null then.
  /** The kept spec's file name in jobDir (keepSpec); null: the job was made before tre-job kept it. */
  spec?: string | null;
  /** The site file the job was rendered with (absolute); null: the built-in site. */
  site?: string | null;
  /** The spec file it was submitted from (informational: it may have changed since); null for an OOD form. */
  specSource?: string | null;
  /** The job id this job resubmitted (`tre-job resubmit`). */
  resubmitOf?: string | null;
  /** A service job's kind; null for a batch job. */
  service?: Job['service'] | null;
  runtime?: Job['runtime'] | null;
  /** A Slurm job array (jobId is the array's id; task T's log is output-T.log); null for a single job. */
  array?: { tasks: number; parallel: number | null } | null;
  /** The back-end host whose own home holds the job directory (site home: {ssh: HOST}); null: this host's home. */
  host?: string | null;
}

/** A record whose job id is known. */
export type SubmittedJob = JobRecord & { jobId: string };

const RECORD = JOB_FILES.record;

/** Where a job's spec came from, for keepSpec. */
export interface SpecOrigin {
  /** The spec exactly as it was read (a file's bytes), or as `tre-job ood --spec` prints a form's. */
  text: string | Uint8Array;
  /** The spec file (absolute), or null (an OOD form). A `.json` one is kept as spec.json. */
  source: string | null;
  /** The site file used (recorded absolute), or null for the built-in site (see siteFileOf). */
  site: string | null;
  resubmitOf?: string;
}

/** The record's fields that keepSpec fills. */
export type KeptSpec = Pick<JobRecord, 'spec' | 'site' | 'specSource' | 'resubmitOf'>;

/** The site file that loadSite reads for a --site value: the flag, else $TRE_JOB_SITE; null for the built-in site. */
export function siteFileOf(flag: string | undefined): string | null {
  return flag ?? (process.env.TRE_JOB_SITE || null);
}

/**
 * Keep the spec in the job directory (0600), byte for byte, and give the record's fields that
 * name it and the site file. It holds no secret: a spec has no token field (the token comes
 * from --token-file, --token-stdin or the environment) and a service's password is made on the
 * node at run time.
 */
export function keepSpec(dir: string, origin: SpecOrigin): KeptSpec {
  const name = origin.source !== null && /\.json$/i.test(origin.source) ? JOB_FILES.spec.replace(/\.yaml$/, '.json') : JOB_FILES.spec;
  writePrivateFile(join(dir, name), origin.text);
  return { spec: name, site: origin.site === null ? null : resolve(origin.site), specSource: origin.source, resubmitOf: origin.resubmitOf ?? null };
}

/**
 * The record of `job` in `jobDir`; `nameSuffix` ends the default container name (NAME-JOBID,
 * NAME-SESSION). `kept`: what keepSpec kept (without it, the record says no spec was kept).
 */
export function jobRecord(job: Job, fields: Pick<JobRecord, 'jobId' | 'cluster' | 'jobDir' | 'source' | 'host'>, nameSuffix: string, kept?: KeptSpec): JobRecord {
  return {
    jobId: fields.jobId,
    cluster: fields.cluster,
    jobName: job.jobName,
    image: job.pullRef,
    submittedAt: new Date().toISOString(),
    jobDir: fields.jobDir,
    // An array's: Slurm's pattern, %a for the task (output-%a.log, NAME-ARRAYID_%a).
    outputLog: join(fields.jobDir, job.array ? JOB_FILES.taskLog : JOB_FILES.log),
    containerName: job.runtime === 'podman' ? (job.containerName ?? `${job.image.name}-${nameSuffix}${job.array ? '_%a' : ''}`) : null,
    source: fields.source,
    ...(kept ?? NOT_KEPT),
    service: job.service ?? null,
    runtime: job.runtime,
    array: job.array ? { tasks: job.array.tasks, parallel: job.array.parallel } : null,
    host: fields.host ?? null,
  };
}

/** What a record without a kept spec says (all records written before there was one). */
const NOT_KEPT: Required<KeptSpec> = { spec: null, site: null, specSource: null, resubmitOf: null };

/** Write job.json (0600) whole, by rename, so that a reader never sees half of it; list its directory. */
export function writeJobRecord(record: JobRecord): void {
  const file = join(record.jobDir, RECORD);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  listJobDir(record.jobDir);
}

/** The names keepSpec gives the kept spec: nothing else in a record is read as one. */
export const KEPT_SPEC_NAMES: readonly string[] = [JOB_FILES.spec, JOB_FILES.spec.replace(/\.yaml$/, '.json')];

/**
 * The record in `dir`, or null if there is none, it is unreadable, or it is not the user's own.
 * A record names a site file and a spec that `resubmit` uses, and a directory that `status`
 * lists: so the directory and job.json must be the user's, not symlinks, and writable by no
 * one else (a job directory is 0700), and the record must name the directory it is in. A
 * record planted in a shared directory that a job ran in (Slurm's WorkDir) is not taken.
 */
export function readJobRecord(dir: string): JobRecord | null {
  try {
    const text = readOwnFile(dir, RECORD);
    if (text === null) return null;
    // Older records lack the fields added since: containerName and source (before OOD sessions
    // had a record), the kept spec's fields, service, runtime, array and host.
    const defaults = { containerName: null, source: 'submit', ...NOT_KEPT, service: null, runtime: null, array: null, host: null } as const;
    const record = { ...defaults, ...(JSON.parse(text) as Partial<JobRecord>) } as JobRecord;
    if (typeof record.jobDir !== 'string' || realpathSync(record.jobDir) !== realpathSync(dir)) return null;
    return record;
  } catch {
    return null;
  }
}

/** Whether a file or directory is the user's own and writable by no one else. */
function ownedPrivately(stat: Stats): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || stat.uid === uid) && (stat.mode & 0o022) === 0;
}

/** `dir/name` as text if both are the user's own (not symlinks, writable by no one else); else null. */
export function readOwnFile(dir: string, name: string): string | null {
  const dirStat = lstatSync(dir);
  if (!dirStat.isDirectory() || !ownedPrivately(dirStat)) return null;
  const fd = openSync(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const stat = fstatSync(fd);
    return stat.isFile() && ownedPrivately(stat) ? readFileSync(fd, 'utf8') : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Every job tre-job made for this user, oldest first: the site's jobsDir and the jobs index. An
 * index entry whose directory is gone (an OOD session deleted from the dashboard, say) is dropped.
 */
export function listJobRecords(jobsDir: string): JobRecord[] {
  const root = jobsRoot(jobsDir);
  const dirs = new Set([...(existsSync(root) ? readdirSync(root).map((name) => join(root, name)) : []), ...listedJobDirs()]);
  const records = [...dirs].flatMap((dir) => {
    const record = readJobRecord(dir);
    if (!record && !existsSync(dir)) unlistJobDir(dir);
    return record ? [record] : [];
  });
  return records.sort((a, b) => a.submittedAt.localeCompare(b.submittedAt) || a.jobDir.localeCompare(b.jobDir));
}
