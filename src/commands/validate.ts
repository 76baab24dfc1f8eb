import { loadSite } from '../site/load';
import { loadSpecFile } from '../jobspec/load';
import { resolveJob } from '../jobspec/resolve';
import { warnAbout } from '../prepare';

/** Check a spec against the site without writing anything; warnings go to `warn`. */
export function validateCommand(specFile: string, options: { site?: string; warn?: (line: string) => void }): string {
  const job = resolveJob(loadSpecFile(specFile), loadSite(options.site));
  warnAbout(job, options.warn);
  return `${specFile}: ok (${job.runtime}, ${job.pullRef}, time ${job.time})\n`;
}
