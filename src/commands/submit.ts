import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { credentialsIndexEntry, jobFiles, makeJobDir, newJobDirPath, recordCredentialsJob, writeJobFiles } from '../jobdir';
import { shq } from '../render/quote';
import { sbatchArgv, submit } from '../slurm/sbatch';
import { loadSite } from '../site/load';
import { loadSpecFile } from '../spec/load';
import { JobRecord, writeJobRecord } from '../jobs';
import type { FollowIo } from './follow';
import { prepare, PrepareOptions } from './prepare';

export interface SubmitCommandOptions extends PrepareOptions {
  jobDir?: string;
  dryRun?: boolean;
  json?: boolean;
  wait?: boolean;
  cancelOnInterrupt?: boolean;
}

/** Submit, then (with --wait) follow the job to its end and exit with its status. */
export async function submitAndWait(specFile: string, options: SubmitCommandOptions, io: FollowIo): Promise<number> {
  const { record, printed } = submitJob(specFile, options);
  io.stdout(printed);
  if (!record) return 0;
  // Loaded here: following (and node:readline) costs start-up time that a plain submit does not need.
  const { waitForJob } = require('./follow') as typeof import('./follow');
  return waitForJob(record, io, { cancelOnInterrupt: options.cancelOnInterrupt ?? false });
}

/** Render into a new job directory and submit with sbatch; returns what to print. */
export function submitCommand(specFile: string, options: SubmitCommandOptions): string {
  return submitJob(specFile, options).printed;
}

function submitJob(specFile: string, options: SubmitCommandOptions): { record: JobRecord | null; printed: string } {
  const fresh = options.jobDir === undefined;
  const site = loadSite(options.site);
  const dir = options.jobDir !== undefined ? resolve(options.jobDir) : newJobDirPath(site.jobsDir);
  const prepared = prepare(loadSpecFile(specFile), options, dir, !options.dryRun, site);
  const files = jobFiles(dir);
  const argv = sbatchArgv(prepared.site.sbatch, files.script);
  if (options.dryRun) {
    // Nothing is written: show what would run.
    const printed = options.json ? `${JSON.stringify({ dryRun: true, argv, jobDir: dir, script: prepared.script })}\n` : `${argv.map(shq).join(' ')}\n`;
    return { record: null, printed };
  }
  makeJobDir(dir, fresh);
  writeJobFiles(files, prepared.script, prepared.token);
  let submission;
  try {
    submission = submit(argv, dir);
  } catch (err) {
    // Nothing was submitted: leave no credentials (or, for a directory we made, nothing at all).
    rmSync(fresh ? dir : files.credentials, { recursive: true, force: true });
    rmSync(credentialsIndexEntry(dir), { force: true });
    throw err;
  }
  recordCredentialsJob(dir, submission.jobId);
  const record: JobRecord = {
    jobId: submission.jobId,
    cluster: submission.cluster,
    jobName: prepared.job.jobName,
    image: prepared.job.pullRef,
    submittedAt: new Date().toISOString(),
    jobDir: dir,
    outputLog: `${dir}/output.log`,
  };
  writeJobRecord(record);
  if (!options.json) return { record, printed: `${submission.jobId}\n` };
  const result = { jobId: submission.jobId, cluster: submission.cluster, jobDir: dir, script: files.script, outputLog: record.outputLog };
  return { record, printed: `${JSON.stringify(result)}\n` };
}
