// Job directories: a new 0700 directory per job, holding job.sh (0700), output.log (0600), the
// spec it was rendered from (0600, record.ts) and, until the job has pulled its image, the
// credentials file (0600). Two indexes under
// $HOME/.tre-job/ list job directories, one file per directory named after its path:
// - credentials/: each credentials file until it is gone, so that `tre-job gc` can remove it when
//   its job ends without having pulled (cancelled while pending, say): no token outlives its job;
// - jobs/: each directory with a job record (record.ts), wherever it is (an OOD staged root,
//   submit --job-dir), so that `tre-job status` lists every job tre-job made.
import { JOB_FILES, STATE_DIRS, taskLogName } from './contract';
import type { Job } from './jobspec/resolve';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { InputError } from './errors';

export interface JobFiles {
  dir: string;
  script: string;
  credentials: string;
}

export function jobFiles(dir: string, scriptName: string = JOB_FILES.script): JobFiles {
  return { dir, script: join(dir, scriptName), credentials: join(dir, JOB_FILES.credentials) };
}

/** Where the site's jobsDir is: as written if absolute, else under $HOME. */
export function jobsRoot(jobsDir: string): string {
  if (isAbsolute(jobsDir)) return jobsDir;
  // node:os loaded here: `render` makes no new job directory and starts faster without it.
  const { homedir } = require('node:os') as typeof import('node:os');
  return join(homedir(), jobsDir);
}

/** A fresh job directory path under the site's jobsDir; not created yet. */
export function newJobDirPath(jobsDir: string, now = new Date()): string {
  const parent = jobsRoot(jobsDir);
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  // The suffix only keeps two submits in one second apart (in the user's own 0700 tree, and
  // makeJobDir refuses a directory that exists): Math.random, as node:crypto costs start-up time.
  const suffix = Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, '0');
  return join(parent, `${stamp}-${suffix}`);
}

/** Create the job directory (0700). A new one (`fresh`) must not exist yet. */
export function makeJobDir(dir: string, fresh: boolean): string {
  const absolute = resolve(dir);
  try {
    if (fresh) {
      mkdirSync(join(absolute, '..'), { recursive: true, mode: 0o700 });
      mkdirSync(absolute, { mode: 0o700 });
    } else {
      mkdirSync(absolute, { recursive: true, mode: 0o700 });
    }
    chmodSync(absolute, 0o700);
  } catch (err) {
    throw new InputError('--job-dir', `cannot create ${absolute}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return absolute;
}

function homeDir(): string {
  // node:os loaded here: `render` to stdout never needs it.
  return (require('node:os') as typeof import('node:os')).homedir();
}

type Index = 'credentials' | 'jobs';

/** The name of a job directory's entry in an index: its path, '/' as '%' (a job directory has no '%': see buildContext). */
export function indexEntryName(dir: string): string {
  return resolve(dir).replace(/\//g, '%');
}

/** Where an index lists a job directory. */
function indexEntry(index: Index, dir: string): string {
  return join(homeDir(), STATE_DIRS[index], indexEntryName(dir));
}

/** The directories an index lists, with each entry's content and age. A vanished entry is skipped. */
function readIndex(index: Index): { dir: string; content: string; mtimeMs: number }[] {
  const parent = join(homeDir(), STATE_DIRS[index]);
  if (!existsSync(parent)) return [];
  return readdirSync(parent).flatMap((name) => {
    const entry = join(parent, name);
    try {
      return [{ dir: name.replace(/%/g, '/'), content: readFileSync(entry, 'utf8').trim(), mtimeMs: statSync(entry).mtimeMs }];
    } catch {
      return [];
    }
  });
}

function addIndexEntry(index: Index, dir: string): void {
  const entry = indexEntry(index, dir);
  mkdirSync(join(entry, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(entry, '', { mode: 0o600 });
}

export function credentialsIndexEntry(dir: string): string {
  return indexEntry('credentials', dir);
}

/**
 * Write job.sh (0700), an empty output.log (0600: Slurm keeps the mode of a log that exists,
 * whatever the submitter's umask; an array's output-T.log each), an array's items (0600) and,
 * when there is a token, the credentials file (0600, created new) and its entry in the
 * credentials index.
 */
export function writeJobFiles(files: JobFiles, { script, token, job }: { script: string; token: string | undefined; job: Pick<Job, 'array'> }): void {
  writeFileSync(files.script, script, { mode: 0o700 });
  chmodSync(files.script, 0o700);
  const logs = job.array ? Array.from({ length: job.array.tasks }, (_, task) => taskLogName(task)) : [JOB_FILES.log];
  for (const name of logs) {
    const log = join(files.dir, name);
    closeSync(openSync(log, 'a', 0o600));
    chmodSync(log, 0o600);
  }
  // One item a line (an item holds no newline): never in job.sh, which Slurm stores.
  if (job.array?.items) writePrivateFile(join(files.dir, JOB_FILES.items), job.array.items.map((item) => `${item}\n`).join(''));
  if (token === undefined) return;
  addIndexEntry('credentials', files.dir);
  writeFileSync(files.credentials, token, { mode: 0o600, flag: 'wx' });
}

/**
 * Write a file tre-job keeps for the user in a job directory (the kept spec): 0600 whatever the
 * umask, and made new, so that a file or symlink already there is replaced, never written through.
 */
export function writePrivateFile(file: string, data: string | Uint8Array): void {
  rmSync(file, { force: true });
  writeFileSync(file, data, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
}

/** Remove a job directory's credentials and registry auth files, and its index entry; returns what was removed. */
export function removeCredentials(dir: string): string[] {
  rmSync(credentialsIndexEntry(dir), { force: true });
  if (!existsSync(dir)) return [];
  const removed = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && (entry.name === JOB_FILES.credentials || /^auth-.+\.json$/.test(entry.name)))
    .map((entry) => join(dir, entry.name));
  for (const file of removed) rmSync(file, { force: true });
  return removed;
}

/** Once sbatch has accepted the job, its entry names the job id (OOD submits itself: its entries stay empty). */
export function recordCredentialsJob(dir: string, jobId: string): void {
  const entry = credentialsIndexEntry(dir);
  if (existsSync(entry)) writeFileSync(entry, `${jobId}\n`);
}

/** Job directories listed in the credentials index, with the job id once known. */
export function credentialsIndex(): { dir: string; jobId: string | null; mtimeMs: number }[] {
  return readIndex('credentials').map(({ dir, content, mtimeMs }) => ({ dir, jobId: content || null, mtimeMs }));
}

/** List a job directory in the jobs index (idempotent). */
export function listJobDir(dir: string): void {
  addIndexEntry('jobs', dir);
}

/** The job directories in the jobs index. */
export function listedJobDirs(): string[] {
  return readIndex('jobs').map((entry) => entry.dir);
}

/** Drop a job directory from the jobs index (it is gone). */
export function unlistJobDir(dir: string): void {
  rmSync(indexEntry('jobs', dir), { force: true });
}
