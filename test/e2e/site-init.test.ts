// A first job as a new user would make it, on the real stack: `tre-job site` for the rules,
// `tre-job init` for the spec, one edit (the registry username), submit, finished outputs.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeE2E, readToken, requireStack, runAs, StackEnv } from './lib/stack';
import { finished, Submitted, treJobAs } from './lib/tre';

jest.setTimeout(180000);

describeE2E('site and init on the real stack', () => {
  let stack: StackEnv;
  let dir: string;
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    dir = runAs('alice', 'mktemp -d /tmp/tre-e2e-init-XXXXXX').stdout.trim();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("tre-job site names the stack's registry", () => {
    const result = treJobAs('alice', ['site', '--site', stack.site]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^ {2}${stack.registry.replace(/\./g, '\\.')}: +pulled as written; plain HTTP`, 'm'));
    const json = JSON.parse(treJobAs('alice', ['site', '--site', stack.site, '--json']).stdout);
    expect(json.registries.map((r: { host: string }) => r.host)).toContain(stack.registry);
  });

  it('a spec from tre-job init runs to finished outputs with one edit (the registry username)', async () => {
    const file = join(dir, 'job.yaml');
    const init = treJobAs('alice', ['init', file, '--image', stack.probeImage, '--site', stack.site]);
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
    expect(init.stdout).toBe(`Wrote ${file}. Next: tre-job validate ${file} --site ${stack.site}, then tre-job submit ${file} --site ${stack.site} --token-file FILE\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // The one edit: the stack's registry account is not alice's login name.
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('  username: alice\n');
    writeFileSync(file, text.replace('  username: alice\n', `  username: ${stack.registryUser}\n`));

    expect(treJobAs('alice', ['validate', file, '--site', stack.site]).status).toBe(0);
    const submit = treJobAs('alice', ['submit', file, '--site', stack.site, '--token-stdin', '--json'], { input: `${readToken(stack)}\n` });
    expect(submit.stderr).toBe('');
    expect(submit.status).toBe(0);
    const { job, log, outputs } = await finished(JSON.parse(submit.stdout) as Submitted);
    expect([job.state, job.exitCode]).toEqual(['COMPLETED', 0]);
    expect(log).toContain('tre-job INFO: Job finished with exit status 0');
    expect(outputs).toMatch(/^\/home\/alice\/outputs-[0-9]+$/);
    expect(readFileSync(join(outputs, 'probe-wrote'), 'utf8')).toMatch(/^probe /);
    expect(existsSync(join(outputs, 'probe', 'argv'))).toBe(true);

    // And init refuses to write over it.
    const again = treJobAs('alice', ['init', file, '--site', stack.site]);
    expect(again.status).toBe(2);
    expect(again.stderr).toBe(`tre-job: ${file}: already exists: give another file name (tre-job init other.yaml) or remove it first\n`);
  });
});
