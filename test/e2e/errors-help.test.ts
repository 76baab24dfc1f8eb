// Errors that say where, help and the man page, as a user on the real stack: alice's own
// mistakes in a spec are all reported with their lines, nothing is submitted, and what she
// fixes by following the messages runs; help and the man page render in her environment.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeE2E, readToken, requireStack, runAs, shq, StackEnv } from './lib/stack';
import { finished, Submitted, treJobAs } from './lib/tre';

jest.setTimeout(180000);

describeE2E('errors, help and man on the real stack', () => {
  let stack: StackEnv;
  let dir: string;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    dir = runAs('alice', 'mktemp -d /tmp/tre-e2e-errors-XXXXXX').stdout.trim();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every mistake at once with its line; nothing submitted; fixed as the messages say, the job runs', async () => {
    const file = join(dir, 'job.yaml');
    const written = [
      `image: ${stack.probeImage}`,
      'registry:',
      `  usrname: ${stack.registryUser}`,
      'memoryGiB: 2G',
      'reuse_sif: true',
      'runtime: apptainer',
      'time: "99:00:00"',
      '',
    ].join('\n');
    runAs('alice', `printf %s ${shq(written)} > ${shq(file)}`);
    const queueBefore = runAs('alice', 'squeue -h -u alice -o %i').stdout;

    const result = treJobAs('alice', ['submit', file, '--site', stack.site, '--token-stdin'], { input: `${readToken(stack)}\n` });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        'tre-job: registry.username: is required (line 3)',
        'tre-job: registry.usrname: unknown key (did you mean username?) (line 3)',
        'tre-job: memoryGiB: must be a whole number of GiB, e.g. 8 (line 4)',
        'tre-job: reuse_sif: unknown key (did you mean reuseSif?) (line 5)',
        'tre-job: time: 99:00:00 is over the site maximum 06:00:00 (line 7)',
        '',
      ].join('\n'),
    );
    expect(runAs('alice', 'squeue -h -u alice -o %i').stdout).toBe(queueBefore);

    const json = treJobAs('alice', ['validate', file, '--site', stack.site, '--json']);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stderr).problems).toHaveLength(5);

    // Follow the messages, one by one.
    const fixed = readFileSync(file, 'utf8').replace('usrname', 'username').replace('2G', '2').replace('reuse_sif', 'reuseSif').replace('99:00:00', '00:10:00');
    runAs('alice', `printf %s ${shq(fixed)} > ${shq(file)}`);
    expect(treJobAs('alice', ['validate', file, '--site', stack.site]).stdout).toBe(`${file}: ok (apptainer, ${stack.probeImage}, time 00:10:00)\n`);
    const submit = treJobAs('alice', ['submit', file, '--site', stack.site, '--token-stdin', '--json'], { input: `${readToken(stack)}\n` });
    expect(submit.stderr).toBe('');
    const { job, outputs } = await finished(JSON.parse(submit.stdout) as Submitted);
    expect([job.state, job.exitCode]).toEqual(['COMPLETED', 0]);
    expect(readFileSync(join(outputs, 'probe-wrote'), 'utf8')).toMatch(/^probe /);
  });

  it('a syntax error names the file, line and column', () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, `image: ${stack.probeImage}\nargs: ["-d", 5\ncpus: 2\n`, { mode: 0o644 });
    const result = treJobAs('alice', ['validate', file, '--site', stack.site]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^tre-job: ${file.replace(/[./]/g, '\\$&')}:[23]:[0-9]+: not valid YAML or JSON: `));
  });

  it("help TOPIC and the man page render in alice's environment", () => {
    const help = treJobAs('alice', ['help', 'spec']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('memoryGiB');
    const submitHelp = treJobAs('alice', ['help', 'submit']);
    expect(submitHelp.stdout).toBe(treJobAs('alice', ['submit', '--help']).stdout);
    const man = runAs('alice', `node ${shq(join(__dirname, '..', '..', 'bin', 'tre-job'))} man > ${shq(join(dir, 'tre-job.1'))} && MANWIDTH=100 man --warnings -l ${shq(join(dir, 'tre-job.1'))} 2>&1 | col -b`);
    expect(man.status).toBe(0);
    expect(man.stdout).toMatch(/tre-job submit/);
    expect(man.stdout).not.toMatch(/warning/i);
    const wrong = treJobAs('alice', ['help', 'submt']);
    expect([wrong.status, wrong.stderr]).toEqual([2, 'tre-job: help: no command or topic submt (did you mean submit?)\n']);
  });
});
