// Back-ends with a home of their own (site home: {ssh: HOST}): what submit sends over ssh, and
// what it says when ssh fails, with a recording fake ssh and sbatch on PATH
// (test/fixtures/bin). The real copy, job and logs over a real sshd: test/e2e/backends.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDir, readNul, runBin, shimCall, shimSandbox, ShimSandbox, SHIM_BIN, writeYaml } from '../helpers';
import { readRemoteFiles, remoteHostOf, sshFailure } from '../../src/backend';
import { workdirOf } from '../../src/commands/sbatch';
import { parseSite } from '../../src/site/load';
import { BUILT_IN_SITE } from '../../src/site/schema';

const TOKEN = 'tok-Backend-77';
let box: ShimSandbox;
let dir: ShimSandbox['dir'];
let env: NodeJS.ProcessEnv;
let spec: string;
let site: string;
const home = () => box.home;
const log = () => box.log;
const calls = () => readFileSync(join(log(), 'calls'), 'utf8').trim().split('\n').map((line) => line.split(' ')[0]);
const sshCall = () => {
  const { argv, base } = shimCall(log(), 'ssh');
  return { argv, stdin: `${base}.stdin` };
};

beforeEach(() => {
  box = shimSandbox(TOKEN);
  ({ dir, env } = box);
  spec = writeYaml(dir.path, 'spec.yaml', { image: 'ghcr.io/mikej888/hello-tre:1.0', registry: { username: 'alice' } });
  site = writeYaml(dir.path, 'site.yaml', { partition: 'be-private1', home: { ssh: 'private1' } });
});
afterEach(() => dir.remove());

describe('submit to a back-end with a home of its own', () => {
  it('copies the job dir as a tar stream on ssh stdin (the token only there, 0600), deletes it here, then runs sbatch', () => {
    const result = runBin(['submit', spec, '--site', site, '--json'], { env });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const printed = JSON.parse(result.stdout) as { jobDir: string; host: string };
    expect(printed.host).toBe('private1');
    expect(calls()).toEqual(['ssh', 'sbatch']);
    const ssh = sshCall();
    expect(ssh.argv.slice(0, -1)).toEqual(['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-T', '--', 'private1']);
    expect(ssh.argv.join(' ')).not.toContain(TOKEN);
    // Nor in ssh's environment: a user's SendEnv could pass it on.
    expect(readFileSync(ssh.stdin.replace(/stdin$/, 'env'), 'utf8')).not.toContain(TOKEN);
    // The remote command makes the same path, the user's alone, and checks the home is the same.
    const command = ssh.argv[ssh.argv.length - 1] as string;
    expect(command).toContain('umask 077');
    expect(command).toContain(`mkdir -- '${printed.jobDir}'`);
    expect(command).toContain(`[ "$HOME" = '${home()}' ]`);
    // Modes there are the umask's (tar -x --no-same-permissions, which root would otherwise not apply); a copy cut short undoes itself, and is listed for gc first.
    expect(command).toMatch(/\ntar -x --no-same-permissions -f - -C '[^']+'\n/);
    expect(command.indexOf(': > "$HOME"/')).toBeLessThan(command.indexOf('tar -x'));
    expect(command).toMatch(/\ntrap 'rm -rf -- .*' EXIT\ntrap 'exit 1' HUP INT TERM\n/);
    const listing = spawnSync('tar', ['-tvf', ssh.stdin], { encoding: 'utf8' }).stdout;
    expect(listing).toMatch(/^-rw------- \S+ +\d+ \S+ \S+ \.\/credentials$/m);
    expect(listing).toMatch(/^-rwx------ .* \.\/job\.sh$/m);
    const token = spawnSync('tar', ['-xOf', ssh.stdin, './credentials'], { encoding: 'utf8' }).stdout;
    expect(token).toBe(TOKEN);
    // Here: the record and the spec, no token, no credentials index entry.
    expect(existsSync(join(printed.jobDir, 'credentials'))).toBe(false);
    // The log is written there: no empty one here that would look like a job that never started.
    expect(listing).toMatch(/^-rw------- .* \.\/output\.log$/m);
    expect(existsSync(join(printed.jobDir, 'output.log'))).toBe(false);
    expect(listDir(join(home(), '.tre-job', 'credentials'))).toEqual([]);
    expect(JSON.parse(readFileSync(join(printed.jobDir, 'job.json'), 'utf8')).host).toBe('private1');
  });

  it('a refused key: one line saying how to set up a key, exit 1, nothing left here and sbatch not run', () => {
    env.SHIM_SSH_EXIT = '255';
    env.SHIM_SSH_ERR = 'alice@private1: Permission denied (publickey).';
    const result = runBin(['submit', spec, '--site', site], { env });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "tre-job: back-end private1 refused your ssh key (alice@private1: Permission denied (publickey).); set up your key: ssh-keygen -t ed25519 -N '' -f ~/.ssh/id_ed25519 && ssh-copy-id private1\n",
    );
    expect(calls()).toEqual(['ssh']);
    expect(listDir(join(home(), 'tre-jobs'))).toEqual([]);
    expect(listDir(join(home(), '.tre-job', 'credentials'))).toEqual([]);
  });

  it('a job dir outside the home is refused for such a back-end: the copy goes to the same path in its home', () => {
    const result = runBin(['submit', spec, '--site', site, '--job-dir', join(dir.path, 'elsewhere')], { env });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^tre-job: --job-dir: \/.*\/elsewhere is not under your home .*: back-end private1 gets a copy at the same path in its own home\n$/);
    expect(existsSync(join(dir.path, 'elsewhere', 'credentials'))).toBe(false);
    expect(existsSync(join(log(), 'calls'))).toBe(false);
  });

  it('sbatch refusing the job removes the copy on the back-end too', () => {
    env.SHIM_SBATCH_EXIT = '1';
    const result = runBin(['submit', spec, '--site', site], { env });
    expect(result.status).toBe(1);
    expect(calls()).toEqual(['ssh', 'sbatch', 'ssh']);
    const undo = readNul(join(log(), '3-ssh.argv'));
    expect(undo[undo.length - 1]).toMatch(/^rm -rf -- '\/.*\/tre-jobs\/[0-9-a-f]+' "\$HOME"\/'\.tre-job\/credentials\/%.*'$/);
    expect(listDir(join(home(), 'tre-jobs'))).toEqual([]);
  });

  it('sbatch refusing the job, and the back-end gone before the undo: a warning says how the token goes later', () => {
    Object.assign(env, { SHIM_SBATCH_EXIT: '1', SHIM_SSH_EXIT: '255', SHIM_SSH_FAIL_FROM: '2' });
    const result = runBin(['submit', spec, '--site', site], { env });
    expect(result.status).toBe(1);
    expect(calls()).toEqual(['ssh', 'sbatch', 'ssh']);
    expect(result.stderr).toBe(
      "tre-job: warning: could not remove the job's token on back-end private1 (ssh: connect to host backend port 22: Connection refused); tre-job gc with this site removes it once the job has ended\n" +
        'tre-job: sbatch refused the job: sbatch: error: Batch job submission failed\n',
    );
  });

  it('a service is refused before anything is written or copied', () => {
    const svc = writeYaml(dir.path, 'svc.yaml', { image: 'ghcr.io/mikej888/hello-tre:1.0', service: 'jupyter' });
    const result = runBin(['submit', svc, '--site', site], { env });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      "tre-job: service: back-end private1 has a home of its own (site home.ssh), so the portal could not reach the jupyter session there; use a back-end whose home is shared\n",
    );
    expect(existsSync(join(log(), 'calls'))).toBe(false);
    expect(listDir(home())).toEqual([]);
  });

  it('status lists back-end jobs whose host does not answer (one ssh tried, their logs unread), and `logs` says why in one line', () => {
    expect(runBin(['submit', spec, '--site', site], { env }).status).toBe(0);
    expect(runBin(['submit', spec, '--site', site], { env }).status).toBe(0);
    env.SHIM_SSH_EXIT = '255';
    env.SHIM_SSH_ERR = 'ssh: connect to host private1 port 22: Connection refused';
    const before = calls().length;
    const listed = runBin(['status', '--site', site], { env });
    expect(listed.stderr).toBe('');
    expect(listed.status).toBe(0);
    expect(listed.stdout.match(/^4242 +hello-tre:1\.0 /gm)).toHaveLength(2);
    // One ssh for the back-end, not one per job, and not again once it has failed.
    expect(calls().slice(before).filter((name) => name === 'ssh')).toHaveLength(1);
    const logs = runBin(['logs', '4242', '--site', site], { env });
    expect(logs.status).toBe(1);
    expect(logs.stderr).toBe("tre-job: back-end private1 cannot be reached over ssh (ssh: connect to host private1 port 22: Connection refused); check the site file's home.ssh, or ask the TRE support\n");
  });

  it('tre-job sbatch (OnDemand bin_overrides) copies the -D dir first, then runs sbatch with the same arguments', () => {
    const staged = join(home(), 'ondemand', 'session');
    const rendered = runBin(['ood', '--job-dir', staged, '--site', site, '--form-json', JSON.stringify({ cluster: 'c', image: 'ghcr.io/mikej888/hello-tre:1.0', registry_username: 'alice', runner: 'podman', hours: '1' })], { env });
    expect(rendered.stderr).toBe('');
    expect(existsSync(join(staged, 'credentials'))).toBe(true);
    const result = runBin(['sbatch', '--site', site, '--', '-D', staged, '--parsable'], { env, input: '#!/bin/bash\ntrue\n' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('4242\n');
    expect(calls()).toEqual(['ssh', 'sbatch']);
    expect(readNul(join(log(), '2-sbatch.argv'))).toEqual(['-D', staged, '--parsable']);
    expect(existsSync(join(staged, 'credentials'))).toBe(false);
    // The id OnDemand's sbatch printed is in the session's record: its log is not here to name it.
    expect(JSON.parse(readFileSync(join(staged, 'job.json'), 'utf8'))).toMatchObject({ jobId: '4242', host: 'private1' });
  });

  it('tre-job sbatch whose copy fails leaves no token in the staged root (OnDemand will not submit it again)', () => {
    const staged = join(home(), 'ondemand', 'session');
    runBin(['ood', '--job-dir', staged, '--site', site, '--form-json', JSON.stringify({ cluster: 'c', image: 'ghcr.io/mikej888/hello-tre:1.0', registry_username: 'alice', runner: 'podman', hours: '1' })], { env });
    expect(existsSync(join(staged, 'credentials'))).toBe(true);
    env.SHIM_SSH_EXIT = '255';
    env.SHIM_SSH_ERR = 'alice@private1: Permission denied (publickey).';
    const result = runBin(['sbatch', '--site', site, '--', '-D', staged], { env, input: '#!/bin/bash\ntrue\n' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^tre-job: back-end private1 refused your ssh key/);
    expect(calls()).toEqual(['ssh']);
    expect(existsSync(join(staged, 'credentials'))).toBe(false);
    expect(listDir(join(home(), '.tre-job', 'credentials'))).toEqual([]);
  });

  it('tre-job sbatch records the host it copied to, whatever site the session was rendered with', () => {
    const staged = join(home(), 'ondemand', 'session');
    const shared = writeYaml(dir.path, 'shared.yaml', { partition: 'debug' });
    const rendered = runBin(['ood', '--job-dir', staged, '--site', shared, '--form-json', JSON.stringify({ cluster: 'c', image: 'ghcr.io/mikej888/hello-tre:1.0', registry_username: 'alice', runner: 'podman', hours: '1' })], { env });
    expect(rendered.stderr).toBe('');
    expect(JSON.parse(readFileSync(join(staged, 'job.json'), 'utf8')).host).toBeNull();
    expect(runBin(['sbatch', '--site', site, '--', '-D', staged, '--parsable'], { env, input: '#!/bin/bash\ntrue\n' }).status).toBe(0);
    expect(JSON.parse(readFileSync(join(staged, 'job.json'), 'utf8'))).toMatchObject({ jobId: '4242', host: 'private1' });
  });

  it('tre-job sbatch refuses a -D dir tre-job did not render, and copies nothing', () => {
    mkdirSync(join(home(), 'other'));
    const result = runBin(['sbatch', '--site', site, '--', `--chdir=${join(home(), 'other')}`], { env });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^tre-job: -D: .*other holds no tre-job job \(job\.json\)/);
    expect(existsSync(join(log(), 'calls'))).toBe(false);
  });
});

describe('readRemoteFiles (the remote reader run by a fake ssh with sh)', () => {
  const saved = { PATH: process.env.PATH, SHIM_LOG: process.env.SHIM_LOG };
  beforeEach(() => Object.assign(process.env, { PATH: `${SHIM_BIN}:${saved.PATH}`, SHIM_LOG: log(), SHIM_SSH_RUN: '1' }));
  afterEach(() => {
    Object.assign(process.env, saved);
    delete process.env.SHIM_SSH_RUN;
    delete process.env.SHIM_SSH_BANNER;
  });

  it('gives each file byte for byte (newlines, no newline at the end), null for a missing one, past a login banner', () => {
    process.env.SHIM_SSH_BANNER = 'Welcome to backend2\n42\n';
    const a = join(dir.path, 'a.log');
    const b = join(dir.path, "it's b.log");
    writeFileSync(a, 'line 1\nline 2\n');
    writeFileSync(b, 'no newline, ünïcode');
    expect(readRemoteFiles('b1', [a, join(dir.path, 'missing'), b])).toEqual(['line 1\nline 2\n', null, 'no newline, ünïcode']);
  });

  it('takes any number of paths (on stdin, not argv)', () => {
    const files = Array.from({ length: 3000 }, (_, i) => join(dir.path, `${'x'.repeat(60)}-${i}.log`));
    const contents = readRemoteFiles('b1', files);
    expect(contents).toHaveLength(3000);
    expect(contents.every((c) => c === null)).toBe(true);
  });
});

describe('sshFailure', () => {
  it.each([
    ['bob@b1: Permission denied (publickey).', /^back-end b1 refused your ssh key \(bob@b1: Permission denied \(publickey\)\.\); set up your key: ssh-keygen/],
    ['Host key verification failed.', /^back-end b1: ssh does not know its host key \(Host key verification failed\.\); ask the TRE support/],
    ['ssh: connect to host b1 port 22: Connection refused', /^back-end b1 cannot be reached over ssh \(ssh: connect .*Connection refused\); check the site file's home\.ssh/],
    ['ssh: Could not resolve hostname b1: Name or service not known', /^back-end b1 cannot be reached over ssh/],
    ['kex_exchange_identification: read: Connection reset by peer', /^back-end b1: ssh failed: kex_exchange_identification/],
  ])('%s', (stderr, expected) => {
    expect(sshFailure('b1', `Warning: Permanently added 'b1' (ED25519) to the list of known hosts.\n${stderr}\n`)).toMatch(expected);
  });
});

describe('workdirOf (sbatch -D spellings)', () => {
  it.each([
    [['-D', '/a'], '/a'],
    [['-D/a'], '/a'],
    [['--chdir', '/a'], '/a'],
    [['--chdir=/a'], '/a'],
    [['-D', '/a', '--chdir=/b'], '/b'],
    [['--parsable'], null],
  ])('%j', (args, expected) => expect(workdirOf(args)).toBe(expected));
});

describe('site home', () => {
  it('shared (the default) and ssh', () => {
    expect(remoteHostOf(BUILT_IN_SITE)).toBeNull();
    expect(remoteHostOf(parseSite({ ...BUILT_IN_SITE, home: { ssh: 'b1.tre.example' } }))).toBe('b1.tre.example');
  });
  it('on the back-end itself (tre-job run there over ssh) the home is local', () => {
    process.env.TRE_JOB_ON_BACKEND = '1';
    try {
      expect(remoteHostOf(parseSite({ ...BUILT_IN_SITE, home: { ssh: 'b1' } }))).toBeNull();
    } finally {
      delete process.env.TRE_JOB_ON_BACKEND;
    }
  });
  it.each([[{ ssh: '-oProxyCommand=touch /tmp/x' }], [{ ssh: 'b1 rm' }], ['nfs'], [{ ssh: 'b1', user: 'x' }]])('refuses %j', (value) => {
    expect(() => parseSite({ ...BUILT_IN_SITE, home: value })).toThrow(/site\.home/);
  });
});
