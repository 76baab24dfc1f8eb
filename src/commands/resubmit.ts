// `tre-job resubmit JOBID`: the spec a job kept in its directory (record.ts keepSpec), rendered
// again with the site file it was submitted with, into a new job directory, and submitted as
// `tre-job submit` does (submitSpec). A new token is read as on submit.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { arrayTaskOf } from '../contract';
import { InputError } from '../errors';
import { findJob } from '../jobs';
import { KEPT_SPEC_NAMES, readOwnFile, siteFileOf, SubmittedJob } from '../record';
import { loadSite } from '../site/load';
import { SlurmClient } from '../slurm/client';
import type { FollowIo } from './logs';
import { printAndWait, SpecToSubmit, Submission, SubmitCommandOptions, submitSpec } from './submit';

/** As submit's, but always a new job directory: the old one is the old job's. */
export type ResubmitCommandOptions = Omit<SubmitCommandOptions, 'jobDir' | 'session'>;

const BUILT_IN = 'the built-in site';

/** `tre-job resubmit JOBID`: what to print (the new job id, JSON, or the dry run's sbatch command). */
export function resubmitCommand(jobId: string, options: ResubmitCommandOptions): string {
  return resubmit(jobId, options).printed;
}

/** `tre-job resubmit JOBID --wait`: as submit --wait. */
export function resubmitAndWait(jobId: string, options: ResubmitCommandOptions, io: FollowIo): Promise<number> {
  return printAndWait(() => resubmit(jobId, options), options, io);
}

function resubmit(jobId: string, options: ResubmitCommandOptions): Submission {
  // The job is looked up as status and logs do, with the site file given or the default.
  const site = loadSite(options.site);
  const record = findJob(jobId, site.jobsDir, new SlurmClient(site));
  // A task's spec is its array's: resubmitting it would run every task again.
  const task = arrayTaskOf(jobId);
  if (task) throw new InputError('JOBID', `${jobId} is one task of the array ${task.arrayId}: tre-job resubmit ${task.arrayId} runs the whole array again`);
  return submitSpec(keptSpecOf(record, options), options);
}

/** The kept spec's text if it is the user's own file (not a symlink, writable by no one else). */
function keptText(dir: string, name: string): string | null {
  try {
    return readOwnFile(dir, name);
  } catch {
    return null;
  }
}

/** The job's kept spec and the site file to render it with; bad input if it has none. */
function keptSpecOf(record: SubmittedJob, options: ResubmitCommandOptions): SpecToSubmit {
  const job = `job ${record.jobId}`;
  const refuse = (why: string) => new InputError('JOBID', `${job} cannot be resubmitted: ${why}`);
  if (!record.spec) {
    throw refuse(
      record.source === 'ood'
        ? `its directory ${record.jobDir} holds no spec (an OnDemand session started before tre-job kept one): start it again from the OnDemand dashboard`
        : `it was submitted before tre-job kept the spec in the job directory (${record.jobDir}): submit its spec file again with tre-job submit`,
    );
  }
  const file = join(record.jobDir, record.spec);
  if (!KEPT_SPEC_NAMES.includes(record.spec)) throw refuse(`its record names ${record.spec}, which is not a spec tre-job keeps`);
  if (!existsSync(file)) throw refuse(`its kept spec ${file} is gone`);
  if (keptText(record.jobDir, record.spec) === null) throw refuse(`its kept spec ${file} is not a file of yours that only you can write`);
  if (record.source === 'ood') options.warn?.(`tre-job: ${job} was an OnDemand session: the new job runs outside OnDemand (it is not on the dashboard)\n`);
  const source = record.specSource ?? null;
  if (options.site !== undefined) return { file, source, site: options.site, resubmitOf: record.jobId };
  const recorded = record.site ?? null;
  if (recorded !== null && !existsSync(recorded)) {
    throw new InputError('site', `${recorded}, the site file ${job} was submitted with, no longer exists: give one with --site FILE`);
  }
  const current = siteFileOf(undefined);
  if ((current === null ? null : resolve(current)) !== recorded) {
    options.warn?.(`tre-job: using the site file ${job} was submitted with, ${recorded ?? BUILT_IN} (the default now is ${current ?? BUILT_IN}; another one with --site FILE)\n`);
  }
  return { file, source, site: recorded, resubmitOf: record.jobId };
}
