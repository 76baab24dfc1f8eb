// `tre-job gc`: reclaim what jobs left behind when their own clean-up could not run
// (SIGKILL, node loss). Each job's script keeps a ledger of what it creates and a marker in
// $HOME/.tre-job/active/JOBID until its clean-up has finished. For every marked job that is
// no longer in the queue (or the one job a Slurm Epilog names), gc removes the scratch dirs,
// containers, Apptainer temporary dirs and half-pulled SIFs the ledger lists, and the
// credentials files. Never outputs or safe data.
// Safe to run twice at once: a run claims a job by renaming its marker, atomically.
// Then the credentials sweep: a job cancelled before it started never ran its script, so its
// token is known only to the credentials index (jobdir.ts); gc removes every listed token whose
// directory no job of this user still pending or running uses.
import { JOB_FILES, LEDGER, STATE_DIRS } from '../contract';
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { remoteHostOf, runTreJobOn } from '../backend';
import { ExternalError, InputError, oneLine } from '../errors';
import { DRIVERS, driverFor, Runtime } from '../runtimes';
import { loadSite } from '../site/load';
import type { Site } from '../site/schema';
import { credentialsIndex, removeCredentials } from '../jobdir';
import { SlurmClient } from '../slurm/client';
import { ACTIVE_STATES, jobDirsOf } from '../slurm/scontrol';

/** A token written this recently may belong to a submission whose sbatch has not run yet. */
const SUBMIT_GRACE_MS = 120_000;

export interface GcOptions {
  site?: string;
  /** Only this job, taken as ended (a Slurm Epilog runs once the job's processes are gone). */
  job?: string;
  json?: boolean;
}

export interface Reclaimed {
  jobId: string;
  removed: string[];
  skipped?: string;
}

/** A ledger's name in a job directory: `ledger`, or an array task's `ledger-TASK`. */
const LEDGER_NAME = new RegExp(`^${JOB_FILES.ledger}(-[0-9]+)?$`);

function ledgerEntries(ledger: string): [string, string][] {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => [line.slice(0, line.indexOf('\t')), line.slice(line.indexOf('\t') + 1)]);
}

/**
 * Remove one job's leftovers, as listed in its ledger, after checking each entry is the job's.
 * The runtime's own entries (a container, Apptainer's temporary files) go to its driver; a
 * ledger written before runtimes were recorded is offered to every driver.
 */
function reclaim(jobDir: string, ledger: string, site: Site): string[] {
  const home = homedir();
  const removed: string[] = [];
  const entries = ledgerEntries(ledger);
  const recorded = entries.find(([kind]) => kind === LEDGER.runtime)?.[1];
  const drivers = recorded !== undefined && Object.hasOwn(DRIVERS, recorded) ? [driverFor(recorded as Runtime)] : Object.values(DRIVERS);
  for (const [kind, what] of entries) {
    // Only $HOME/scratch-N (an array task's scratch-N-TASK) itself, as the job script records it.
    if (kind === LEDGER.scratch && what === `${home}/${basename(what)}` && /^scratch-[0-9]+(-[0-9]+)?$/.test(basename(what)) && existsSync(what)) {
      for (const driver of drivers) if (existsSync(what)) driver.removeTree(what, site);
      if (!existsSync(what)) removed.push(what);
    } else if ((kind === LEDGER.credentials || kind === LEDGER.authfile) && dirname(what) === jobDir && existsSync(what)) {
      rmSync(what, { force: true });
      removed.push(what);
    } else {
      for (const driver of drivers) {
        const gone = driver.reclaim(kind, what, home, site);
        if (gone !== null) removed.push(gone);
      }
    }
  }
  appendFileSync(ledger, `${LEDGER.gc}\t${new Date().toISOString()}\n`);
  return removed;
}

export function gcJobs(options: GcOptions, site: Site = loadSite(options.site)): Reclaimed[] {
  if (options.job !== undefined && !/^[0-9]+$/.test(options.job)) throw new InputError('--job', `"${options.job}" is not a Slurm job id`);
  const activeDir = join(homedir(), STATE_DIRS.active);
  const ids = (existsSync(activeDir) ? readdirSync(activeDir) : []).filter((name) => /^[0-9]+$/.test(name) && (options.job === undefined || name === options.job));
  const results: Reclaimed[] = [];
  const client = new SlurmClient(site);
  for (const jobId of ids) {
    if (options.job === undefined) {
      const slurm = client.showJob(jobId);
      if (slurm && ACTIVE_STATES.has(slurm.state)) {
        results.push({ jobId, removed: [], skipped: `still ${slurm.state.toLowerCase()}` });
        continue;
      }
    }
    const claimed = join(activeDir, `${jobId}.gc-${process.pid}`);
    try {
      renameSync(join(activeDir, jobId), claimed);
    } catch {
      continue; // another gc took it
    }
    // The job directory, and (an array task's marker) the name of the task's own ledger.
    const [jobDir = '', name = JOB_FILES.ledger] = readFileSync(claimed, 'utf8').split('\n').filter(Boolean);
    const removed = LEDGER_NAME.test(name) ? reclaim(jobDir, join(jobDir, name), site) : [];
    results.push({ jobId, removed, ...(LEDGER_NAME.test(name) ? {} : { skipped: `its marker names ${JSON.stringify(name)}, which is not a ledger` }) });
    rmSync(claimed, { force: true });
  }
  return results;
}

/**
 * A job in these states may still start its script and pull. Not COMPLETING: its script has
 * ended (an Epilog runs while its job is COMPLETING; counted as in use, the last tasks of an
 * array, ending together, would each keep the array's token for the other).
 */
const MAY_PULL = new Set([...ACTIVE_STATES].filter((state) => state !== 'COMPLETING'));

/** Remove the tokens of job directories that no job of this user that may still pull uses. */
export function sweepCredentials(slurm: SlurmClient): string[] {
  const index = credentialsIndex();
  if (!index.length) return [];
  const uid = process.getuid?.() ?? null;
  const inUse = new Set(
    slurm
      .showJobs()
      .filter((job) => MAY_PULL.has(job.state) && job.uid === uid)
      .flatMap(jobDirsOf),
  );
  const removed: string[] = [];
  for (const { dir, jobId, mtimeMs } of index) {
    if (inUse.has(dir)) continue;
    // No job id yet: sbatch may not have run (OOD submits after tre-job ood returns).
    if (jobId === null && Date.now() - mtimeMs < SUBMIT_GRACE_MS && existsSync(join(dir, JOB_FILES.credentials))) continue;
    removed.push(...removeCredentials(dir));
  }
  return removed;
}

export function gcCommand(options: GcOptions): string {
  const site = loadSite(options.site);
  // The ledgers, markers and tokens of a back-end with a home of its own are there: gc runs there.
  const host = remoteHostOf(site);
  if (host !== null) {
    // Here only tokens of OOD sessions whose copy never happened can be left: swept here too.
    const here = sweepCredentials(new SlurmClient(site));
    const there = gcOn(host, options);
    if (options.json) return there;
    return here.length ? `${there}credentials here of sessions never copied to ${host}: removed ${here.join(', ')}\n` : there;
  }
  const jobs = gcJobs(options, site);
  const credentials = sweepCredentials(new SlurmClient(site));
  if (options.json) return `${JSON.stringify({ jobs, credentials })}\n`;
  const lines = jobs.map((r) => `job ${r.jobId}: ${r.skipped ?? (r.removed.length ? `removed ${r.removed.join(', ')}` : 'nothing left to remove')}\n`);
  if (credentials.length) lines.push(`credentials of jobs that ended before they pulled: removed ${credentials.join(', ')}\n`);
  return lines.length ? lines.join('') : 'nothing to reclaim\n';
}

/** `tre-job gc` run on back-end `host` with the same options, its answer given as this run's. */
function gcOn(host: string, options: GcOptions): string {
  // As loadSite chose it: the flag, else $TRE_JOB_SITE (ssh does not pass the variable on).
  const siteFile = options.site ?? (process.env.TRE_JOB_SITE || undefined);
  const args = ['gc', ...(siteFile !== undefined ? ['--site', resolve(siteFile)] : []), ...(options.job !== undefined ? ['--job', options.job] : []), ...(options.json ? ['--json'] : [])];
  const result = runTreJobOn(host, args);
  if (result.status !== 0) throw new ExternalError(`back-end ${host}: tre-job gc failed (exit ${result.status}): ${oneLine(result.stderr) || 'no message'}`);
  return result.stdout;
}
