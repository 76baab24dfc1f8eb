import { loadSite } from '../site/load';
import { loadSpecFile } from '../jobspec/load';
import { resolveJob } from '../jobspec/resolve';
import { warnAbout } from '../prepare';

/**
 * Check a spec against the site without writing anything; warnings go to `warn` (with --json
 * they are in the answer). Problems are thrown, all of them (main.ts prints them).
 */
export function validateCommand(specFile: string, options: { site?: string; json?: boolean; warn?: (line: string) => void }): string {
  const site = loadSite(options.site);
  const job = resolveJob(loadSpecFile(specFile, site), site);
  if (options.json) return `${JSON.stringify({ ok: true, spec: specFile, runtime: job.runtime, image: job.pullRef, time: job.time, service: job.service ?? null, warnings: job.warnings })}\n`;
  warnAbout(job, options.warn);
  return `${specFile}: ok (${job.runtime}, ${job.pullRef}, time ${job.time})\n`;
}
