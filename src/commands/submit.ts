import { rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { handOver, remoteHostOf, removeRemoteJobDir } from '../backend';
import { credentialsIndexEntry, jobFiles, makeJobDir, newJobDirPath, recordCredentialsJob, writeJobFiles } from '../jobdir';
import { shq } from '../render/quote';
import { jobRecord, keepSpec, siteFileOf, SpecOrigin, SubmittedJob, writeJobRecord } from '../record';
import { SlurmClient } from '../slurm/client';
import { loadSite } from '../site/load';
import { BUILT_IN_SITE } from '../site/schema';
import { readSpecFile } from '../jobspec/load';
import type { FollowIo } from './logs';
import { prepare, PrepareOptions } from '../prepare';

export interface SubmitCommandOptions extends PrepareOptions {
  jobDir?: string;
  dryRun?: boolean;
  json?: boolean;
  wait?: boolean;
  cancelOnInterrupt?: boolean;
}

/**
 * A spec to submit: the file to read it from (the user's for submit, a job's kept copy for
 * resubmit), where it came from, and the site file to render it with (null: the built-in site).
 */
export interface SpecToSubmit extends Omit<SpecOrigin, 'text'> {
  file: string;
}

export interface Submission {
  /** Null for a dry run. */
  record: SubmittedJob | null;
  slurm: SlurmClient;
  /** What to print on stdout: the job id, JSON, or (dry run) the sbatch command. */
  printed: string;
}

/** Submit, then (with --wait) follow the job to its end and exit with its status. */
export function submitAndWait(specFile: string, options: SubmitCommandOptions, io: FollowIo): Promise<number> {
  return printAndWait(() => submitSpec(userSpec(specFile, options), options), options, io);
}

/** Render into a new job directory and submit with sbatch; returns what to print. */
export function submitCommand(specFile: string, options: SubmitCommandOptions): string {
  return submitSpec(userSpec(specFile, options), options).printed;
}

/** The user's spec file, with the site file loadSite would read. */
function userSpec(specFile: string, options: SubmitCommandOptions): SpecToSubmit {
  return { file: specFile, source: resolve(specFile), site: siteFileOf(options.site) };
}

/** Run `submit` (it may throw: the promise rejects, and main.ts reports it), print what it gives, and follow the job. */
export async function printAndWait(submit: () => Submission, options: SubmitCommandOptions, io: FollowIo): Promise<number> {
  const { record, slurm, printed } = submit();
  io.stdout(printed);
  if (!record) return 0;
  // Loaded here: following (and node:readline) costs start-up time that a plain submit does not need.
  const { waitForJob } = require('./logs') as typeof import('./logs');
  return waitForJob(record, slurm, io, { cancelOnInterrupt: options.cancelOnInterrupt ?? false });
}

/**
 * Render `input` into a new job directory (or --job-dir), keep the spec there, submit it with
 * sbatch and write the job record. `submit` and `resubmit` both come here.
 */
export function submitSpec(input: SpecToSubmit, options: SubmitCommandOptions): Submission {
  const fresh = options.jobDir === undefined;
  const site = input.site === null ? BUILT_IN_SITE : loadSite(input.site);
  const dir = options.jobDir !== undefined ? resolve(options.jobDir) : newJobDirPath(site.jobsDir);
  // The bytes parsed are the bytes kept: read once, so a pipe (`submit <(...)`) works too.
  // Relative paths in it (array.itemsFile) start beside the spec file it came from.
  const { spec, bytes: text } = readSpecFile(input.file, site, input.source !== null ? dirname(input.source) : undefined);
  const prepared = prepare(spec, options, dir, !options.dryRun, site);
  const files = jobFiles(dir);
  const slurm = new SlurmClient(site);
  if (options.dryRun) {
    // Nothing is written: show what would run.
    const argv = slurm.sbatchArgv(files.script);
    const printed = options.json ? `${JSON.stringify({ dryRun: true, argv, jobDir: dir, script: prepared.script })}\n` : `${argv.map(shq).join(' ')}\n`;
    return { record: null, slurm, printed };
  }
  // A back-end with a home of its own gets a copy of the job directory; the record stays here.
  const host = remoteHostOf(site);
  makeJobDir(dir, fresh);
  let kept;
  let submission;
  let copied = false;
  try {
    kept = keepSpec(dir, { ...input, text });
    writeJobFiles(files, prepared);
    if (host !== null) {
      handOver(host, dir, fresh);
      copied = true;
    }
    submission = slurm.submit(files.script, dir);
  } catch (err) {
    // Nothing was submitted: leave no credentials (or, for a directory we made, nothing at all).
    rmSync(fresh ? dir : files.credentials, { recursive: true, force: true });
    rmSync(credentialsIndexEntry(dir), { force: true });
    if (copied) removeRemoteJobDir(host as string, dir, fresh);
    throw err;
  }
  recordCredentialsJob(dir, submission.jobId);
  const { jobId, cluster } = submission;
  const record = { ...jobRecord(prepared.job, { jobId, cluster, jobDir: dir, source: 'submit', host }, jobId, kept), jobId };
  writeJobRecord(record);
  if (!options.json) return { record, slurm, printed: `${jobId}\n` };
  const result = { jobId, cluster, jobDir: dir, script: files.script, outputLog: record.outputLog, host };
  return { record, slurm, printed: `${JSON.stringify(result)}\n` };
}
