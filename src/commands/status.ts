import { findJob, jobStatus, JobStatus, listJobs, slurmQueue } from '../jobs';
import { loadSite } from '../site/load';
import { SlurmClient } from '../slurm/client';
import type { SlurmJob } from '../slurm/scontrol';

/**
 * One line per job (default: all of the user's tre-job jobs, OOD sessions included), or JSON.
 * When OOD sessions are listed, a last column gives each session's directory.
 */
export function statusCommand(jobIds: string[], options: { site?: string; json?: boolean }): string {
  const site = loadSite(options.site);
  const slurm = new SlurmClient(site);
  let statuses: JobStatus[];
  if (jobIds.length) {
    statuses = jobIds.map((id) => findJob(id, site.jobsDir, slurm)).map((record) => jobStatus(record, slurm.showJob(record.jobId)));
  } else {
    // One scontrol for all the jobs, not one each: a user may have thousands of job directories.
    const queue = slurmQueue(slurm);
    const records = listJobs(site.jobsDir, queue);
    const known = records.some((record) => record.jobId !== null) ? new Map(queue().map((job) => [job.jobId, job])) : new Map<string, SlurmJob>();
    statuses = records.map((record) => jobStatus(record, record.jobId === null ? null : (known.get(record.jobId) ?? null)));
  }
  if (options.json) return `${JSON.stringify(statuses, null, 2)}\n`;
  const sessions = statuses.some((s) => s.source === 'ood');
  const rows = statuses.map((s: JobStatus) => [
    s.jobId ?? '-',
    s.state,
    s.detail,
    s.elapsed ?? '-',
    s.exitStatus === null ? '-' : String(s.exitStatus),
    s.image,
    s.outputs ?? '-',
    ...(sessions ? [s.source === 'ood' ? s.jobDir : ''] : []),
  ]);
  const header = ['JOBID', 'STATE', 'PHASE', 'ELAPSED', 'EXIT', 'IMAGE', 'OUTPUTS', ...(sessions ? ['OOD_SESSION'] : [])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [header, ...rows].map(line).join('\n') + '\n';
}
