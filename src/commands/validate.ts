import { loadSite } from '../site/load';
import { loadSpecFile } from '../spec/load';
import { resolveJob } from '../spec/resolve';

/** Check a spec against the site without writing anything. */
export function validateCommand(specFile: string, options: { site?: string }): string {
  const job = resolveJob(loadSpecFile(specFile), loadSite(options.site));
  return `${specFile}: ok (${job.runtime}, ${job.pullRef}, time ${job.time})\n`;
}
