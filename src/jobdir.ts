// Job directories: a new 0700 directory per job, holding job.sh (0700), output.log (0600) and,
// until the job has pulled its image, the credentials file (0600). Each credentials file is
// listed in $HOME/.tre-job/credentials/ until it is gone, so that `tre-job gc` can remove it when
// its job ends without having pulled (cancelled while pending, say): no token outlives its job.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { InputError } from './errors';

export interface JobFiles {
  dir: string;
  script: string;
  credentials: string;
}

export function jobFiles(dir: string, scriptName = 'job.sh'): JobFiles {
  return { dir, script: join(dir, scriptName), credentials: join(dir, 'credentials') };
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

/** Where the credentials index lists a job directory: one file per directory, named after its path. */
export function credentialsIndexEntry(dir: string): string {
  return join(homeDir(), '.tre-job', 'credentials', resolve(dir).replace(/\//g, '%'));
}

/**
 * Write job.sh (0700), an empty output.log (0600: Slurm keeps the mode of a log that exists,
 * whatever the submitter's umask) and, when there is a token, the credentials file (0600,
 * created new) and its entry in the credentials index.
 */
export function writeJobFiles(files: JobFiles, script: string, token: string | undefined): void {
  writeFileSync(files.script, script, { mode: 0o700 });
  chmodSync(files.script, 0o700);
  const log = join(files.dir, 'output.log');
  closeSync(openSync(log, 'a', 0o600));
  chmodSync(log, 0o600);
  if (token === undefined) return;
  const entry = credentialsIndexEntry(files.dir);
  mkdirSync(join(entry, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(entry, '', { mode: 0o600 });
  writeFileSync(files.credentials, token, { mode: 0o600, flag: 'wx' });
}

/** Remove a job directory's credentials and registry auth files, and its index entry; returns what was removed. */
export function removeCredentials(dir: string): string[] {
  rmSync(credentialsIndexEntry(dir), { force: true });
  if (!existsSync(dir)) return [];
  const removed = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && (entry.name === 'credentials' || /^auth-.+\.json$/.test(entry.name)))
    .map((entry) => join(dir, entry.name));
  for (const file of removed) rmSync(file, { force: true });
  return removed;
}

/** Once sbatch has accepted the job, its entry names the job id (OOD submits itself: its entries stay empty). */
export function recordCredentialsJob(dir: string, jobId: string): void {
  const entry = credentialsIndexEntry(dir);
  if (existsSync(entry)) writeFileSync(entry, `${jobId}\n`);
}

/**
 * Job directories listed in the credentials index (a job directory is a path without '%': see
 * buildContext), with the job id once known. A vanished entry is skipped.
 */
export function credentialsIndex(): { dir: string; jobId: string | null; mtimeMs: number }[] {
  const index = join(homeDir(), '.tre-job', 'credentials');
  if (!existsSync(index)) return [];
  return readdirSync(index).flatMap((name) => {
    const entry = join(index, name);
    try {
      const jobId = readFileSync(entry, 'utf8').trim();
      return [{ dir: name.replace(/%/g, '/'), jobId: jobId || null, mtimeMs: statSync(entry).mtimeMs }];
    } catch {
      return [];
    }
  });
}
