// `tre-job sbatch`: sbatch for Open OnDemand's `bin_overrides` on a cluster whose back-end has a
// home of its own (site home: {ssh: HOST}). OnDemand stages a session's files (tre-job's among
// them) in the portal's home and then runs sbatch with -D STAGED_ROOT; this copies that
// directory to the same path on the back-end first, as `tre-job submit` does, and deletes the
// token here. With a shared home it is plain sbatch. sbatch's stdin, stdout and exit status are
// OnDemand's, unchanged.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { handOver, remoteHostOf, removeRemoteJobDir } from '../backend';
import { ExternalError, InputError } from '../errors';
import { removeCredentials } from '../jobdir';
import { readJobRecord, writeJobRecord } from '../record';
import { parseSubmission, submitEnvironment } from '../slurm/sbatch';
import { loadSite } from '../site/load';

/** The job's working directory in sbatch's arguments (-D DIR, -DDIR, --chdir DIR, --chdir=DIR); the last wins, as in sbatch. */
export function workdirOf(args: readonly string[]): string | null {
  let dir: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '-D' || arg === '--chdir') dir = args[++i] ?? null;
    else if (arg.startsWith('--chdir=')) dir = arg.slice('--chdir='.length);
    else if (/^-D./.test(arg)) dir = arg.slice(2);
  }
  return dir;
}

export function sbatchCommand(args: string[], options: { site?: string }): number {
  const site = loadSite(options.site);
  const host = remoteHostOf(site);
  const workdir = workdirOf(args);
  const dir = workdir === null ? null : resolve(workdir);
  if (host !== null) {
    if (dir === null) throw new InputError('-D', `back-end ${host} has a home of its own: sbatch needs -D DIR (OnDemand's staged root) to know what to copy there`);
    // Only a directory tre-job rendered (its record says so) is copied: nothing else of the home.
    if (readJobRecord(dir) === null) throw new InputError('-D', `${dir} holds no tre-job job (job.json): render it with tre-job ood --job-dir first`);
    try {
      handOver(host, dir, false);
    } catch (err) {
      // OnDemand will not submit this staged root again: its token must not wait here.
      removeCredentials(dir);
      throw err;
    }
  }
  // stdout is OnDemand's to parse (the job id): passed on unchanged, and read here too.
  const result = spawnSync(site.sbatch, args, { stdio: ['inherit', 'pipe', 'inherit'], env: submitEnvironment(), maxBuffer: 1 << 24 });
  if (result.error) throw new ExternalError(`cannot run ${site.sbatch}: ${result.error.message}`);
  process.stdout.write(result.stdout);
  const status = result.status ?? 1;
  if (status !== 0 && host !== null && dir !== null) removeRemoteJobDir(host, dir, false);
  if (status === 0 && dir !== null) recordJobId(dir, result.stdout.toString(), host);
  return status;
}

/**
 * Write the job id sbatch printed, and where the job runs, into the session's record. tre-job learns an OOD session's id
 * from the log's first line otherwise, and a back-end's log is not here: once Slurm has
 * forgotten the job, `tre-job logs JOBID` (which the card names) would not find it.
 */
function recordJobId(dir: string, stdout: string, host: string | null): void {
  const record = readJobRecord(dir);
  if (record === null || record.jobId !== null) return;
  try {
    const { jobId, cluster } = parseSubmission(stdout);
    // The host is this site's, where the copy went, whatever site the session was rendered with.
    writeJobRecord({ ...record, jobId, cluster, host });
  } catch {
    // No id printed (sbatch without --parsable): found later from the log or the queue, as before.
  }
}
