// OOD form values (strings) -> the same spec `tre-job submit` takes.
import { InputError } from '../../src/errors';
import { formToSpec, splitWords } from '../../src/ood/form';
import { runCliUnchecked } from '../helpers';

describe('splitWords', () => {
  it.each([
    ['-d 5', ['-d', '5']],
    ['-n ${USER}', ['-n', '${USER}']],
    ['  spaced\tout  ', ['spaced', 'out']],
    ['-m "two words"', ['-m', 'two words']],
    ["-m 'single $x'", ['-m', 'single \\$x']],
    ['"say \\"hi\\"" back\\ slash\\ ed', ['say "hi"', 'back slash ed']],
    ['a""b', ['ab']],
    ['""', ['']],
    ['cost \\$5', ['cost', '\\$5']],
    ['$(id) `id` ;', ['$(id)', '`id`', ';']],
  ])('splits %j', (line, words) => expect(splitWords(line, 'container_args line 1')).toEqual(words));

  it('refuses an unterminated quote, naming the line', () => {
    expect(() => splitWords('-m "oops', 'container_args line 3')).toThrow(new InputError('container_args line 3', 'unterminated double quote'));
  });
});

describe('tre-job ood --spec', () => {
  // Regression: yaml's line folding split a surrogate pair in a long value (found on the real stack).
  it('prints values with characters outside the BMP intact, wherever a long line would fold', () => {
    for (let pad = 0; pad < 24; pad++) {
      // A control character forces double quotes, which yaml folds at any character by default.
      const value = `bell\u0007${'x'.repeat(pad)}${'🐳'.repeat(60)}`;
      const result = runCliUnchecked(['ood', '--form-json', JSON.stringify({ image: 'ghcr.io/a/b:1', env_vars: `V=${value}` }), '--spec']);
      expect(result.stdout).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/); // no lone high surrogate
      expect(require('yaml').parse(result.stdout).env).toEqual([`V=${value}`]);
    }
  });
});

describe('formToSpec', () => {
  it('maps the form fields, taking env lines verbatim and splitting argument lines', () => {
    expect(
      formToSpec({
        image: ' ghcr.io/a/b:1 ',
        registry_username: 'alice',
        runner: 'podman',
        container_name: 'mine',
        cpus: '2',
        memory_gib: '8',
        use_gpu: '0',
        reuse_sif: '1',
        env_vars: 'A=x "y" z\r\n\r\nB=${USER}\r\n',
        container_args: '-d 5\n-n ${USER}',
        runner_args: '--env-file x',
        cluster: 'tre',
      }),
    ).toEqual({
      image: 'ghcr.io/a/b:1',
      registry: { username: 'alice' },
      runtime: 'podman',
      name: 'mine',
      cpus: 2,
      memoryGiB: 8,
      env: ['A=x "y" z', 'B=${USER}'],
      args: ['-d', '5', '-n', '${USER}'],
      runnerArgs: ['--env-file', 'x'],
    });
  });

  it('drops the podman-only and apptainer-only fields that do not apply', () => {
    expect(formToSpec({ image: 'x', runner: 'apptainer', container_name: 'n', reuse_sif: '1' })).toMatchObject({ runtime: 'apptainer', reuseSif: true });
    expect(formToSpec({ image: 'x', runner: 'apptainer', container_name: 'n' })).not.toHaveProperty('name');
  });

  it('maps the interactive apps\' hidden service field; blank or absent means a batch job', () => {
    expect(formToSpec({ image: 'x', service: ' jupyter ' })).toMatchObject({ service: 'jupyter' });
    expect(formToSpec({ image: 'x', service: '' })).not.toHaveProperty('service');
    expect(formToSpec({ image: 'x' })).not.toHaveProperty('service');
  });
});

describe('tre-job ood: bad form values name the form field', () => {
  it.each([
    [{ image: 'ghcr.io/a/b:1', cpus: 'two' }, 'tre-job: cpus: must be a whole number, got "two"\n'],
    [{ image: 'ghcr.io/a/b:1', env_vars: 'OK=1\n\n1BAD=x' }, 'tre-job: env_vars line 3: "1BAD" is not a valid variable name (letters, digits, _; not starting with a digit)\n'],
    [{ image: 'docker.io/x/y:1' }, 'tre-job: image: registry docker.io is not allowed here (allowed: ghcr.io, git.ecdf.ed.ac.uk)\n'],
    [{ image: 'ghcr.io/a/b:1', runner: 'docker' }, 'tre-job: runner: Invalid option: expected one of "podman"|"apptainer"\n'],
    [{ image: 'ghcr.io/a/b:1', container_args: 'ok\n-m "open' }, 'tre-job: container_args line 2: unterminated double quote\n'],
    [{ image: 'ghcr.io/a/b:1', use_gpu: '1' }, 'tre-job: use_gpu: this site has no GPUs\n'],
  ])('%j', (form, stderr) => {
    const result = runCliUnchecked(['ood', '--form-json', JSON.stringify(form)]);
    expect(result.stderr).toBe(stderr);
    expect(result.status).toBe(2);
  });
});
