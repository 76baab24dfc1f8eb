// Job directories: a new 0700 directory per job, holding job.sh (0700), output.log and,
// until the job has pulled its image, the credentials file (0600).
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
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

/** Write job.sh (0700) and, when there is a token, the credentials file (0600, created new). */
export function writeJobFiles(files: JobFiles, script: string, token: string | undefined): void {
  writeFileSync(files.script, script, { mode: 0o700 });
  chmodSync(files.script, 0o700);
  if (token !== undefined) writeFileSync(files.credentials, token, { mode: 0o600, flag: 'wx' });
}
