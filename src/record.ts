// The one job record, JOBDIR/job.json, for every job tre-job makes. `submit` writes it once
// sbatch has accepted the job; `ood --job-dir` writes it into the session's staged root before
// OnDemand runs sbatch, so without a job id (jobs.ts learns it later). The OOD apps' job cards
// read it too (jobName, containerName). Each record's directory is in the jobs index (jobdir.ts),
// so that `status` finds it wherever it is.
import { JOB_FILES } from './contract';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jobsRoot, listedJobDirs, listJobDir, unlistJobDir } from './jobdir';
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
}

/** A record whose job id is known. */
export type SubmittedJob = JobRecord & { jobId: string };

const RECORD = JOB_FILES.record;

/** The record of `job` in `jobDir`; `nameSuffix` ends the default container name (NAME-JOBID, NAME-SESSION). */
export function jobRecord(job: Job, fields: Pick<JobRecord, 'jobId' | 'cluster' | 'jobDir' | 'source'>, nameSuffix: string): JobRecord {
  return {
    jobId: fields.jobId,
    cluster: fields.cluster,
    jobName: job.jobName,
    image: job.pullRef,
    submittedAt: new Date().toISOString(),
    jobDir: fields.jobDir,
    outputLog: join(fields.jobDir, JOB_FILES.log),
    containerName: job.runtime === 'podman' ? (job.containerName ?? `${job.image.name}-${nameSuffix}`) : null,
    source: fields.source,
  };
}

/** Write job.json (0600) whole, by rename, so that a reader never sees half of it; list its directory. */
export function writeJobRecord(record: JobRecord): void {
  const file = join(record.jobDir, RECORD);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  listJobDir(record.jobDir);
}

/** The record in `dir`, or null if there is none (or it is unreadable). */
export function readJobRecord(dir: string): JobRecord | null {
  try {
    // Records written before OOD sessions had one lack the last two fields.
    return { containerName: null, source: 'submit', ...(JSON.parse(readFileSync(join(dir, RECORD), 'utf8')) as Partial<JobRecord>) } as JobRecord;
  } catch {
    return null;
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
