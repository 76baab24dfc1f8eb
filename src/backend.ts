// Back-ends whose home directory is not this host's (site `home: {ssh: HOST}`). The job runs
// there and writes its log, outputs and scratch in that home, so `submit` copies the job
// directory to the same path there before sbatch, and `status`, `logs` and `gc` reach it over
// the same ssh: as the user, with the user's own key, never a password prompt (BatchMode).
// A secret (the registry token) travels only inside the tar stream on ssh's stdin, never in
// argv or ssh's environment; the copy on this host is deleted once the back-end has it.
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { JOB_FILES, STATE_DIRS } from './contract';
import { ExternalError, InputError, oneLine } from './errors';
import { indexEntryName, removeCredentials } from './jobdir';
import { shq } from './render/quote';
import type { Site } from './site/schema';
import { submitEnvironment } from './slurm/sbatch';

/** A back-end that could not be reached or read over ssh: `status` lists its jobs without their logs. */
export class BackendError extends ExternalError {}

/** What the site schema allows as home.ssh; a record's host (job.json, the user's file) is checked again before ssh gets it. */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

/** Set by tre-job itself when it runs a command on the back-end over ssh: the home there is local. */
export const ON_BACKEND_ENV = 'TRE_JOB_ON_BACKEND';

/** The host a site's jobs live on when it is not this one (home: {ssh: HOST}); null: the home is shared. */
export function remoteHostOf(site: Pick<Site, 'home'>): string | null {
  if (site.home === 'shared' || process.env[ON_BACKEND_ENV] === '1') return null;
  return site.home.ssh;
}

/** Never a prompt (a web portal has no terminal), a bounded wait, no terminal on the far side. */
const SSH_OPTIONS = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-T'];

/** The remote command's own exit status when the home path differs (ssh itself exits 255). */
const OTHER_HOME = 97;

/**
 * Run `command` in the user's login shell on `host` (POSIX sh: see README, Several back-ends).
 * Without the token variable in ssh's environment: a user's `SendEnv` must not send it.
 */
function ssh(host: string, command: string, input?: Buffer): SpawnSyncReturns<Buffer> {
  if (!HOST_NAME.test(host)) throw new BackendError(`back-end ${JSON.stringify(host)} is not a host name`);
  const result = spawnSync('ssh', [...SSH_OPTIONS, '--', host, command], { input, maxBuffer: 1 << 30, env: submitEnvironment() });
  if (result.error) throw new BackendError(`back-end ${host}: cannot run ssh: ${result.error.message}`);
  return result;
}

const KEY_HELP = (host: string) => `set up your key: ssh-keygen -t ed25519 -N '' -f ~/.ssh/id_ed25519 && ssh-copy-id ${host}`;

/** What went wrong, in one line that says what to do, from ssh's stderr (exit 255). */
export function sshFailure(host: string, stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Warning: Permanently added/.test(l));
  const said = (pattern: RegExp) => lines.find((l) => pattern.test(l));
  let line: string | undefined;
  if ((line = said(/Permission denied|Too many authentication failures/))) return `back-end ${host} refused your ssh key (${line}); ${KEY_HELP(host)}`;
  if ((line = said(/Host key verification failed|HOST IDENTIFICATION HAS CHANGED|No .* host key is known/))) {
    return `back-end ${host}: ssh does not know its host key (${line}); ask the TRE support to add it to /etc/ssh/ssh_known_hosts`;
  }
  if ((line = said(/Could not resolve hostname|Connection refused|timed out|No route to host|Connection closed|Network is unreachable/))) {
    return `back-end ${host} cannot be reached over ssh (${line}); check the site file's home.ssh, or ask the TRE support`;
  }
  return `back-end ${host}: ssh failed: ${oneLine(lines.join(' ')) || 'no message'}`;
}

/** Throw the failure of an ssh run, if it failed; `what` says what tre-job was doing. */
function check(host: string, result: SpawnSyncReturns<Buffer>, what: string): void {
  if (result.status === 0) return;
  const stderr = result.stderr.toString();
  if (result.status === OTHER_HOME) {
    throw new BackendError(`back-end ${host}: your home there is ${oneLine(stderr)}, not ${homedir()}; tre-job needs the same home path on both (ask the TRE support)`);
  }
  if (result.status === 255) throw new BackendError(sshFailure(host, stderr));
  throw new BackendError(`back-end ${host}: ${what} failed (exit ${result.status ?? result.signal}): ${oneLine(stderr) || 'no message'}`);
}

/** The credentials index entry for a job directory, relative to the home (the index of jobdir.ts). */
function credentialsEntry(dir: string): string {
  return join(STATE_DIRS.credentials, indexEntryName(dir));
}

/**
 * Copy job directory `dir` to the same path on `host`, as a tar stream on ssh's stdin, listed
 * first in the credentials index there (so that `gc` on the back-end finds a token even from a
 * copy cut short). Modes are the umask's, 077: the user's alone, whatever the login's umask or
 * the files' modes here (tar --no-same-permissions, which root would not apply otherwise). A
 * copy that fails removes what it made there. `fresh`: the directory must not exist there yet.
 */
function copyJobDir(host: string, dir: string, fresh: boolean, hasCredentials: boolean): void {
  const tar = spawnSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30, env: submitEnvironment() });
  if (tar.status !== 0) throw new ExternalError(`cannot pack ${dir} for back-end ${host}: ${oneLine(tar.error?.message ?? tar.stderr.toString())}`);
  const entry = `"$HOME"/${shq(credentialsEntry(dir))}`;
  const undo = `rm -rf -- ${shq(fresh ? dir : join(dir, JOB_FILES.credentials))} ${entry}`;
  const script = [
    'set -e',
    'umask 077',
    `[ "$HOME" = ${shq(homedir())} ] || { printf '%s' "$HOME" >&2; exit ${OTHER_HOME}; }`,
    `mkdir -p -- ${shq(dirname(dir))}`,
    fresh ? `mkdir -- ${shq(dir)}` : `mkdir -p -- ${shq(dir)}`,
    ...(hasCredentials ? [`mkdir -p "$HOME"/${shq(STATE_DIRS.credentials)}`, `: > ${entry}`] : []),
    `trap ${shq(undo)} EXIT`,
    "trap 'exit 1' HUP INT TERM",
    `tar -x --no-same-permissions -f - -C ${shq(dir)}`,
    'trap - EXIT',
  ].join('\n');
  // A connection lost mid-copy hangs up the far side's shell: its trap undoes the copy there.
  check(host, ssh(host, script, tar.stdout), `copying ${dir}`);
}

/**
 * Hand job directory `dir` over to `host`: copy it there, then delete here what belongs there
 * only. The token: it must not outlive its use anywhere. The empty logs: the job writes its
 * log there, and an empty file here would look like a job that never started. The directory
 * must be under the home, the path both hosts give the user.
 */
export function handOver(host: string, dir: string, fresh: boolean): void {
  if (!dir.startsWith(`${homedir()}/`)) {
    throw new InputError('--job-dir', `${dir} is not under your home ${homedir()}: back-end ${host} gets a copy at the same path in its own home`);
  }
  copyJobDir(host, dir, fresh, existsSync(join(dir, JOB_FILES.credentials)));
  removeCredentials(dir);
  for (const name of readdirSync(dir)) if (isLogName(name)) rmSync(join(dir, name), { force: true });
}

/** output.log, or an array task's output-TASK.log (Slurm's %a). */
const LOG_NAME = new RegExp(`^(${[JOB_FILES.log, JOB_FILES.taskLog].map((name) => name.replace(/\./g, '\\.').replace('%a', '[0-9]+')).join('|')})$`);
const isLogName = (name: string) => LOG_NAME.test(name);

/**
 * Undo copyJobDir (sbatch refused the job, or the job was cancelled): the whole directory if
 * copyJobDir made it (`fresh`), else its token. Best effort: when the back-end cannot be
 * reached, a warning on stderr says how the token goes later (gc there sweeps it: it is in
 * the index there). Returns whether it was removed.
 */
export function removeRemoteJobDir(host: string, dir: string, fresh: boolean): boolean {
  let why: string;
  try {
    const result = ssh(host, `rm -rf -- ${shq(fresh ? dir : join(dir, JOB_FILES.credentials))} "$HOME"/${shq(credentialsEntry(dir))}`);
    if (result.status === 0) return true;
    why = oneLine(result.stderr.toString()) || `exit ${result.status}`;
  } catch (err) {
    why = (err as Error).message;
  }
  process.stderr.write(`tre-job: warning: could not remove the job's token on back-end ${host} (${why}); tre-job gc with this site removes it once the job has ended\n`);
  return false;
}

/** The line the remote reader prints first: whatever a login prints before it (a banner) is skipped. */
const FILES_START = 'tre-job-files-start';

/**
 * The contents of `files` on `host` in one ssh (null: not a file there), for reading logs. The
 * paths go on stdin, a line each (a job directory's path has no newline), so that any number
 * fits. Each file comes back as its size, a newline and exactly that many bytes: padded with
 * NULs should it shrink while it is read, so that the answer never loses its place.
 */
export function readRemoteFiles(host: string, files: string[]): (string | null)[] {
  if (!files.length) return [];
  const script = [
    `echo ${FILES_START}`,
    'while IFS= read -r f; do',
    '  if [ -f "$f" ] && [ -r "$f" ]; then s=$(wc -c <"$f"); s=$((s)); echo "$s"; { head -c "$s" -- "$f"; head -c "$s" /dev/zero; } | head -c "$s"; else echo -; fi',
    'done',
  ].join('\n');
  const result = ssh(host, script, Buffer.from(files.map((file) => `${file}\n`).join('')));
  check(host, result, "reading the job's log");
  const out = result.stdout;
  const start = out.indexOf(`${FILES_START}\n`);
  const short = () => new BackendError(`back-end ${host}: reading the job's log gave an answer tre-job could not read`);
  if (start < 0) throw short();
  const contents: (string | null)[] = [];
  let at = start + FILES_START.length + 1;
  for (let i = 0; i < files.length; i++) {
    const newline = out.indexOf(10, at);
    if (newline < 0) throw short();
    const header = out.subarray(at, newline).toString();
    at = newline + 1;
    if (header === '-') {
      contents.push(null);
      continue;
    }
    if (!/^[0-9]+$/.test(header) || at + Number(header) > out.length) throw short();
    contents.push(out.subarray(at, at + Number(header)).toString('utf8').replace(/\0+$/, ''));
    at += Number(header);
  }
  return contents;
}

/**
 * Run tre-job itself on `host` with `args` (no secret among them), as installed here: the
 * back-end has the same system paths, only its home differs. It runs with the site's home as
 * its own (ON_BACKEND_ENV).
 */
export function runTreJobOn(host: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const command = [`${ON_BACKEND_ENV}=1`, 'exec', process.execPath, process.argv[1] ?? 'tre-job', ...args].map((word, i) => (i === 0 ? word : shq(word))).join(' ');
  const result = ssh(host, command);
  if (result.status === 255) throw new BackendError(sshFailure(host, result.stderr.toString()));
  return { status: result.status ?? 1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}
