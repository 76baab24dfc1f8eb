// Open OnDemand sessions on each back-end of the stack (TRE_TEST_BACKENDS), submitted as OnDemand
// does with a cluster config whose job.bin_overrides.sbatch is contrib/ood-sbatch (installed as
// SITE_DIR/clusters/ID.sbatch, next to the back-end's site file ID.yaml): test/fixtures/ood/ood.rb
// reads OOD_CLUSTERS/ID.yml and runs that file in place of sbatch, with ood_core's arguments
// (-D STAGED_ROOT ... --parsable) and the job script on stdin, so the session goes through
// `tre-job sbatch`. On the back-end whose home is its own (private1) the staged root is copied
// there before sbatch; on the shared one (shared1) it is plain sbatch.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BIN, ROOT } from '../helpers';
import { describeE2E, homeOf, jobInfo, readNulList, readToken, requireStack, runAs, shq, StackEnv } from './lib/stack';
import { batchForm, finished, oodSiteDir, Submitted, treJobAs } from './lib/tre';

jest.setTimeout(240000);
const APPS = join(ROOT, 'ood', 'apps');
const OOD_RB = join(ROOT, 'test', 'fixtures', 'ood', 'ood.rb');
const USER = 'alice';

interface Session {
  id: string;
  stagedRoot: string;
  jobId: string;
}

/** Every regular file under DIR, relative to it (read as root). */
function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(path, base);
    return e.isFile() ? [relative(base, path)] : [];
  });
}

const mode = (path: string) => statSync(path).mode & 0o7777;

describeE2E('Open OnDemand sessions on each back-end, through the cluster\'s bin_overrides sbatch (contrib/ood-sbatch)', () => {
  let stack: StackEnv;
  let token: string;
  let siteDir: string;
  let backends: { id: string; site: string }[];
  let privateId: string;

  beforeAll(() => {
    stack = requireStack() as StackEnv;
    token = readToken(stack);
    backends = stack.backends ?? [];
    privateId = stack.privateHomeBackend ?? '';
    if (backends.length < 2 || !privateId || !stack.privateHomeRoot) throw new Error('the stack has no back-ends (TRE_TEST_BACKENDS); rebuild it with test/e2e/stack/setup.sh');
    // The apps' site files (TRE_JOB_SITE_DIR/clusters/ID.yaml), the override next to each, and
    // OnDemand's cluster configs (OOD_CLUSTERS/ID.yml) naming it.
    siteDir = oodSiteDir(stack, 'ood-backends');
    const clustersD = join(siteDir, 'clusters.d');
    mkdirSync(clustersD, { mode: 0o755 });
    chmodSync(clustersD, 0o755);
    for (const { id, site } of backends) {
      const override = join(siteDir, 'clusters', `${id}.sbatch`);
      copyFileSync(site, join(siteDir, 'clusters', `${id}.yaml`));
      chmodSync(join(siteDir, 'clusters', `${id}.yaml`), 0o644);
      copyFileSync(join(ROOT, 'contrib', 'ood-sbatch'), override);
      chmodSync(override, 0o755);
      writeFileSync(join(clustersD, `${id}.yml`), `v2:\n  metadata:\n    title: "${id}"\n  job:\n    adapter: "slurm"\n    bin_overrides:\n      sbatch: "${override}"\n`, { mode: 0o644 });
    }
  });
  afterAll(() => rmSync(siteDir, { recursive: true, force: true }));

  /** PATH (a path under the portal's /home) as the host sees it on the private back-end. */
  const onPrivate = (path: string): string => {
    expect(path.startsWith('/home/')).toBe(true);
    return join(stack.privateHomeRoot as string, relative('/home', path));
  };

  // No -d 5: the probe need not linger.
  const sessionForm = (cluster: string): Record<string, string> => batchForm(stack, token, { cluster, container_args: '-n "two words" ${USER}' });

  const dataroot = () => join(homeOf(USER), 'ondemand', 'data', 'sys', 'dashboard');

  /** What the dashboard does when USER submits APP's form (ood.rb save with the cluster configs). */
  function oodSave(app: string, values: Record<string, string>) {
    return runAs(USER, ['ruby', OOD_RB, 'save', join(APPS, app), dataroot()].map(shq).join(' '), {
      input: JSON.stringify(values),
      env: { TRE_JOB_BIN: BIN, TRE_JOB_SITE_DIR: siteDir, OOD_CLUSTERS: join(siteDir, 'clusters.d') },
    });
  }

  function oodSubmit(values: Record<string, string>): Session {
    const r = oodSave('batch_container', values);
    if (r.status !== 0) throw new Error(`OnDemand stand-in as ${USER} exited ${r.status}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as Session;
  }

  /** The batch app's card FILE for the session, rendered as OnDemand does (the session as self), as USER. */
  function card(session: Session, file: string, state: string): string {
    const code = [
      'require "erb"; require "ostruct"; require "pathname"',
      'Status = Struct.new(:state) do; def running?; state == "running"; end; def queued?; state == "queued"; end; end',
      'fields = { staged_root: Pathname.new(ARGV[1]), id: File.basename(ARGV[1]), status: Status.new(ARGV[2]), job_id: ARGV[3] }',
      'print ERB.new(File.read(ARGV[0]), trim_mode: "-").result(OpenStruct.new(fields).instance_eval { binding })',
    ].join('\n');
    const r = runAs(USER, ['ruby', '-e', code, join(APPS, 'batch_container', file), session.stagedRoot, state, session.jobId].map(shq).join(' '), { env: { TRE_JOB_BIN: BIN } });
    if (r.status !== 0 || r.stderr !== '') throw new Error(`card ${file}: ${r.stderr}`);
    return r.stdout;
  }

  it('private1 (a home of its own): the staged root is copied there before sbatch, the user\'s alone (group and others get nothing), the job runs there and writes its log and outputs there; no credentials left on either side', async () => {
    const session = oodSubmit(sessionForm(privateId));
    const { stagedRoot, jobId } = session;
    const remoteRoot = onPrivate(stagedRoot);
    // After submit: the portal's staged root holds no token; the back-end's has the same files,
    // the user's alone (umask 077 there: the owner's bits of each mode, whatever OnDemand gave).
    const here = filesUnder(stagedRoot).sort();
    expect(here).not.toContain('credentials');
    expect(here).toEqual(expect.arrayContaining(['job.json', 'tre-job.sh', 'script.sh', 'job_script_content.sh', 'user_defined_context.json']));
    expect(existsSync(remoteRoot)).toBe(true);
    expect(mode(remoteRoot)).toBe(0o700);
    for (const file of here) expect([file, mode(join(remoteRoot, file))]).toEqual([file, mode(join(stagedRoot, file)) & 0o700]);
    expect(JSON.parse(readFileSync(join(stagedRoot, 'job.json'), 'utf8')).host).toBe(privateId);

    const submitted: Submitted = { jobId, jobDir: remoteRoot, script: join(remoteRoot, 'tre-job.sh'), outputLog: join(remoteRoot, 'output.log') };
    const { job, log, outputs } = await finished(submitted);
    expect(job.state).toBe('COMPLETED');
    expect(job.exitCode).toBe(0);
    expect(jobInfo(jobId)?.raw).toMatch(new RegExp(`\\sNodeList=${privateId}\\s`));
    expect(log).toContain(`tre-job INFO: Container probe-${session.id} is now running.`);
    expect(log).toContain('Script starting...'); // OnDemand's own script ran it, there
    expect(log).toContain('tre-job INFO: Job finished with exit status 0');
    expect(log).not.toContain(token);
    // Log and outputs are in the back-end's home, none in the portal's.
    expect(existsSync(join(stagedRoot, 'output.log'))).toBe(false);
    expect(outputs).toMatch(new RegExp(`^${homeOf(USER)}/outputs-[0-9]+$`));
    expect(existsSync(outputs)).toBe(false);
    expect(readNulList(join(onPrivate(outputs), 'probe', 'argv'))).toEqual(['-n', 'two words', USER]);
    expect(readNulList(join(onPrivate(outputs), 'probe', 'env'))).toContain(`GREETING=hello from ${USER}`);
    expect(existsSync(onPrivate(outputs).replace('/outputs-', '/scratch-'))).toBe(false);
    // The job deleted the back-end's copy of the token; nothing on either side holds it.
    expect(existsSync(join(remoteRoot, 'credentials'))).toBe(false);
    for (const root of [stagedRoot, remoteRoot]) {
      for (const file of filesUnder(root)) expect([file, readFileSync(join(root, file), 'utf8').includes(token)]).toEqual([file, false]);
    }

    // What the card tells the user works: tre-job logs reads the log over ssh.
    const logs = treJobAs(USER, ['logs', jobId]);
    expect(logs.stderr).toBe('');
    expect(logs.stdout).toContain('tre-job INFO: Job finished with exit status 0');
    // The cards say where the log and outputs are, and read no log here.
    const running = card(session, 'info.md.erb', 'running');
    expect(running).toContain(`Container probe-${session.id} is now running on back-end ${privateId}.`);
    expect(running).toContain(`its log is \`${privateId}:${stagedRoot}/output.log\``);
    expect(running).toContain(`kept in \`${privateId}:~/outputs-NUMBER\`. \`tre-job logs ${jobId}\` prints the log here; or\nlog in with \`ssh ${privateId}\`.`);
    const completed = card(session, 'completed.md.erb', 'completed');
    expect(completed).toContain(`Container probe-${session.id} has completed on back-end ${privateId}.`);
    expect(completed).toContain(`the log is \`${privateId}:${stagedRoot}/output.log\``);
    expect(completed).toContain(`\`tre-job logs ${jobId}\` prints the log, with its exit status, here; or log in with \`ssh ${privateId}\`.`);
    expect(completed).not.toMatch(/See `output.log` in this session|exit status 0/);
  });

  it('shared1 (the portal\'s home): the same override is plain sbatch; the job runs on shared1 and writes its log and outputs in the portal\'s home', async () => {
    const shared = backends.find((b) => b.id !== privateId) as { id: string; site: string };
    const session = oodSubmit(sessionForm(shared.id));
    const { stagedRoot, jobId } = session;
    expect(JSON.parse(readFileSync(join(stagedRoot, 'job.json'), 'utf8')).host).toBeNull();
    const { job, log, outputs } = await finished({ jobId, jobDir: stagedRoot, script: join(stagedRoot, 'tre-job.sh'), outputLog: join(stagedRoot, 'output.log') });
    expect(job.state).toBe('COMPLETED');
    expect(job.exitCode).toBe(0);
    expect(jobInfo(jobId)?.raw).toMatch(new RegExp(`\\sNodeList=${shared.id}\\s`));
    expect(log).toContain('tre-job INFO: Job finished with exit status 0');
    expect(readNulList(join(outputs, 'probe', 'argv'))).toEqual(['-n', 'two words', USER]);
    expect(existsSync(onPrivate(stagedRoot))).toBe(false); // nothing was copied anywhere
    expect(existsSync(join(stagedRoot, 'credentials'))).toBe(false);
    const completed = card(session, 'completed.md.erb', 'completed');
    expect(completed).toContain(`Container probe-${session.id} has completed with exit status 0.`);
    expect(completed).toContain('See `output.log` in this session');
  });

  it('a Jupyter session on private1 is refused with the one service: line, and nothing is staged or submitted on either side', () => {
    const outputDir = join(dataroot(), 'batch_connect', 'sys', 'jupyter', 'output');
    const count = (dir: string) => (existsSync(dir) ? readdirSync(dir).length : 0);
    const before = [count(outputDir), count(onPrivate(outputDir)), count(join(dataroot(), 'batch_connect', 'db'))];
    const r = oodSave('jupyter', {
      cluster: privateId, image: stack.vars.TRE_TEST_JUPYTER_IMAGE as string, registry_username: stack.registryUser, registry_token: token,
      runner: 'podman', cpus: '1', memory_gib: '2', use_gpu: '0', env_vars: '', container_args: '',
    });
    expect(r.status).toBe(3); // what OnDemand shows: the ERB's error, before staging or submitting
    expect(r.stderr.trim()).toMatch(new RegExp(`^tre-job: service: back-end ${privateId} has a home of its own[^\\n]*$`));
    expect([count(outputDir), count(onPrivate(outputDir)), count(join(dataroot(), 'batch_connect', 'db'))]).toEqual(before);
  });
});
