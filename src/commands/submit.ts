import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { jobFiles, makeJobDir, newJobDirPath, writeJobFiles } from '../jobdir';
import { shq } from '../render/quote';
import { sbatchArgv, submit } from '../slurm/sbatch';
import { loadSite } from '../site/load';
import { loadSpecFile } from '../spec/load';
import { prepare, PrepareOptions } from './prepare';

export interface SubmitCommandOptions extends PrepareOptions {
  jobDir?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Render into a new job directory and submit with sbatch; returns what to print. */
export function submitCommand(specFile: string, options: SubmitCommandOptions): string {
  const fresh = options.jobDir === undefined;
  const site = loadSite(options.site);
  const dir = options.jobDir !== undefined ? resolve(options.jobDir) : newJobDirPath(site.jobsDir);
  const prepared = prepare(loadSpecFile(specFile), options, dir, !options.dryRun, site);
  const files = jobFiles(dir);
  const argv = sbatchArgv(prepared.site.sbatch, files.script);
  if (options.dryRun) {
    // Nothing is written: show what would run.
    return options.json ? `${JSON.stringify({ dryRun: true, argv, jobDir: dir, script: prepared.script })}\n` : `${argv.map(shq).join(' ')}\n`;
  }
  makeJobDir(dir, fresh);
  writeJobFiles(files, prepared.script, prepared.token);
  let submission;
  try {
    submission = submit(argv, dir);
  } catch (err) {
    // Nothing was submitted: leave no credentials (or, for a directory we made, nothing at all).
    rmSync(fresh ? dir : files.credentials, { recursive: true, force: true });
    throw err;
  }
  if (!options.json) return `${submission.jobId}\n`;
  const result = { jobId: submission.jobId, cluster: submission.cluster, jobDir: dir, script: files.script, outputLog: `${dir}/output.log` };
  return `${JSON.stringify(result)}\n`;
}
