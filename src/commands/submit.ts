import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { credentialsIndexEntry, jobFiles, makeJobDir, newJobDirPath, recordCredentialsJob, writeJobFiles } from '../jobdir';
import { shq } from '../render/quote';
import { jobRecord, SubmittedJob, writeJobRecord } from '../record';
import { SlurmClient } from '../slurm/client';
import { loadSite } from '../site/load';
import { loadSpecFile } from '../jobspec/load';
import type { FollowIo } from './logs';
import { prepare, PrepareOptions } from '../prepare';

export interface SubmitCommandOptions extends PrepareOptions {
  jobDir?: string;
  dryRun?: boolean;
  json?: boolean;
  wait?: boolean;
  cancelOnInterrupt?: boolean;
}

/** Submit, then (with --wait) follow the job to its end and exit with its status. */
export async function submitAndWait(specFile: string, options: SubmitCommandOptions, io: FollowIo): Promise<number> {
  const { record, slurm, printed } = submitJob(specFile, options);
  io.stdout(printed);
  if (!record) return 0;
  // Loaded here: following (and node:readline) costs start-up time that a plain submit does not need.
  const { waitForJob } = require('./logs') as typeof import('./logs');
  return waitForJob(record, slurm, io, { cancelOnInterrupt: options.cancelOnInterrupt ?? false });
}

/** Render into a new job directory and submit with sbatch; returns what to print. */
export function submitCommand(specFile: string, options: SubmitCommandOptions): string {
  return submitJob(specFile, options).printed;
}

function submitJob(specFile: string, options: SubmitCommandOptions): { record: SubmittedJob | null; slurm: SlurmClient; printed: string } {
  const fresh = options.jobDir === undefined;
  const site = loadSite(options.site);
  const dir = options.jobDir !== undefined ? resolve(options.jobDir) : newJobDirPath(site.jobsDir);
  const prepared = prepare(loadSpecFile(specFile), options, dir, !options.dryRun, site);
  const files = jobFiles(dir);
  const slurm = new SlurmClient(site);
  if (options.dryRun) {
    // Nothing is written: show what would run.
    const argv = slurm.sbatchArgv(files.script);
    const printed = options.json ? `${JSON.stringify({ dryRun: true, argv, jobDir: dir, script: prepared.script })}\n` : `${argv.map(shq).join(' ')}\n`;
    return { record: null, slurm, printed };
  }
  makeJobDir(dir, fresh);
  writeJobFiles(files, prepared.script, prepared.token);
  let submission;
  try {
    submission = slurm.submit(files.script, dir);
  } catch (err) {
    // Nothing was submitted: leave no credentials (or, for a directory we made, nothing at all).
    rmSync(fresh ? dir : files.credentials, { recursive: true, force: true });
    rmSync(credentialsIndexEntry(dir), { force: true });
    throw err;
  }
  recordCredentialsJob(dir, submission.jobId);
  const { jobId, cluster } = submission;
  const record = { ...jobRecord(prepared.job, { jobId, cluster, jobDir: dir, source: 'submit' }, jobId), jobId };
  writeJobRecord(record);
  if (!options.json) return { record, slurm, printed: `${jobId}\n` };
  const result = { jobId, cluster, jobDir: dir, script: files.script, outputLog: record.outputLog };
  return { record, slurm, printed: `${JSON.stringify(result)}\n` };
}
