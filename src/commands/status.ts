import { findJob, jobStatus, JobStatus, listJobRecords } from '../jobs';
import { loadSite } from '../site/load';

/** One line per job (default: all of the user's tre-job jobs), or JSON. */
export function statusCommand(jobIds: string[], options: { site?: string; json?: boolean }): string {
  const { jobsDir } = loadSite(options.site);
  const records = jobIds.length ? jobIds.map((id) => findJob(id, jobsDir)) : listJobRecords(jobsDir);
  const statuses = records.map((record) => jobStatus(record));
  if (options.json) return `${JSON.stringify(statuses, null, 2)}\n`;
  const rows = statuses.map((s: JobStatus) => [s.jobId, s.state, s.detail, s.elapsed ?? '-', s.exitStatus === null ? '-' : String(s.exitStatus), s.image, s.outputs ?? '-']);
  const header = ['JOBID', 'STATE', 'PHASE', 'ELAPSED', 'EXIT', 'IMAGE', 'OUTPUTS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ')).join('\n') + '\n';
}
