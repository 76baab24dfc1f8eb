// Back-ends whose home directory is not this host's (site `home: {ssh: HOST}`). The job runs
// there and writes its log, outputs and scratch in that home, so `submit` copies the job
// directory to the same path there before sbatch, and `status`, `logs` and `gc` reach it over
// the same ssh: as the user, with the user's own key, never a password prompt (BatchMode).
// A secret (the registry token) travels only inside the tar stream on ssh's stdin, never in
// argv; the copy on this host is deleted once the back-end has it.
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { JOB_FILES, STATE_DIRS } from './contract';
import { ExternalError, oneLine } from './errors';
import { indexEntryName, removeCredentials } from './jobdir';
import { shq } from './render/quote';
import type { Site } from './site/schema';

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

function ssh(host: string, command: string, input?: Buffer): SpawnSyncReturns<Buffer> {
  const result = spawnSync('ssh', [...SSH_OPTIONS, host, command], { input, maxBuffer: 1 << 30 });
  if (result.error) throw new ExternalError(`back-end ${host}: cannot run ssh: ${result.error.message}`);
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
    throw new ExternalError(`back-end ${host}: your home there is ${oneLine(stderr)}, not ${homedir()}; tre-job needs the same home path on both (ask the TRE support)`);
  }
  if (result.status === 255) throw new ExternalError(sshFailure(host, stderr));
  throw new ExternalError(`back-end ${host}: ${what} failed (exit ${result.status ?? result.signal}): ${oneLine(stderr) || 'no message'}`);
}

/** The credentials index entry for a job directory, relative to the home (the index of jobdir.ts). */
function credentialsEntry(dir: string): string {
  return join(STATE_DIRS.credentials, indexEntryName(dir));
}

/**
 * Copy job directory `dir` to the same path on `host`, modes kept, as a tar stream on ssh's
 * stdin, and list it in the credentials index there (so that `gc` on the back-end removes a
 * token whose job never ran). `fresh`: the directory must not exist there yet. Everything made
 * there is the user's alone (umask 077), whatever the login's umask.
 */
function copyJobDir(host: string, dir: string, fresh: boolean, hasCredentials: boolean): void {
  const tar = spawnSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
  if (tar.status !== 0) throw new ExternalError(`cannot pack ${dir} for back-end ${host}: ${oneLine(tar.stderr?.toString() ?? String(tar.error))}`);
  const script = [
    'set -e',
    'umask 077',
    `[ "$HOME" = ${shq(homedir())} ] || { printf '%s' "$HOME" >&2; exit ${OTHER_HOME}; }`,
    `mkdir -p -- ${shq(dirname(dir))}`,
    fresh ? `mkdir -- ${shq(dir)}` : `mkdir -p -- ${shq(dir)}`,
    `tar -x -p -f - -C ${shq(dir)}`,
    ...(hasCredentials ? [`mkdir -p "$HOME"/${shq(STATE_DIRS.credentials)}`, `: > "$HOME"/${shq(credentialsEntry(dir))}`] : []),
  ].join('\n');
  check(host, ssh(host, script, tar.stdout), `copying ${dir}`);
}

/**
 * Hand job directory `dir` over to `host`: copy it there, then delete here what belongs there
 * only. The token: it must not outlive its use anywhere. The empty logs: the job writes its
 * log there, and an empty file here would look like a job that never started.
 */
export function handOver(host: string, dir: string, fresh: boolean): void {
  copyJobDir(host, dir, fresh, existsSync(join(dir, JOB_FILES.credentials)));
  removeCredentials(dir);
  for (const name of readdirSync(dir)) if (LOG_FILE.test(name)) rmSync(join(dir, name), { force: true });
}

/** output.log, or an array task's output-T.log. */
const LOG_FILE = /^output(-[0-9]+)?\.log$/;

/** Undo copyJobDir (sbatch refused the job), best effort: the whole directory if copyJobDir made it (`fresh`), else its credentials. */
export function removeRemoteJobDir(host: string, dir: string, fresh: boolean): void {
  ssh(host, `rm -rf -- ${shq(fresh ? dir : join(dir, JOB_FILES.credentials))} "$HOME"/${shq(credentialsEntry(dir))}`);
}

/**
 * The contents of `files` on `host` in one ssh (null: not a file there), for reading logs.
 * Each is sent as its size, a newline and that many bytes, so that any byte may be in a file.
 */
export function readRemoteFiles(host: string, files: string[]): (string | null)[] {
  if (!files.length) return [];
  const script = `set -- ${files.map(shq).join(' ')}\nfor f do if [ -f "$f" ] && [ -r "$f" ]; then s=$(wc -c <"$f"); echo $s; head -c $s -- "$f"; else echo -; fi; done`;
  const result = ssh(host, script);
  check(host, result, 'reading the job\'s log');
  const out = result.stdout;
  const contents: (string | null)[] = [];
  let at = 0;
  for (let i = 0; i < files.length; i++) {
    const newline = out.indexOf(10, at);
    if (newline < 0) throw new ExternalError(`back-end ${host}: reading the job's log gave a short answer`);
    const header = out.subarray(at, newline).toString().trim();
    at = newline + 1;
    if (header === '-') {
      contents.push(null);
      continue;
    }
    const size = Number(header);
    contents.push(out.subarray(at, at + size).toString('utf8'));
    at += size;
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
  if (result.status === 255) throw new ExternalError(sshFailure(host, result.stderr.toString()));
  return { status: result.status ?? 1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}
