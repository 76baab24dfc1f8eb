import { resolve } from 'node:path';
import { jobFiles, makeJobDir, writeJobFiles } from '../jobdir';
import { loadSpecFile } from '../jobspec/load';
import { prepare, PrepareOptions } from '../prepare';
import { loadSite } from '../site/load';

export interface RenderCommandOptions extends PrepareOptions {
  jobDir?: string;
}

/** Without --job-dir: the script, for stdout. With it: write job.sh (+ credentials) and return its path. */
export function renderCommand(specFile: string, options: RenderCommandOptions): string {
  const site = loadSite(options.site);
  if (options.jobDir === undefined) return prepare(loadSpecFile(specFile, site), options, undefined, false, site).script;
  const dir = resolve(options.jobDir);
  const prepared = prepare(loadSpecFile(specFile, site), options, dir, true, site);
  const files = jobFiles(makeJobDir(dir, false));
  writeJobFiles(files, prepared);
  return `${files.script}\n`;
}
