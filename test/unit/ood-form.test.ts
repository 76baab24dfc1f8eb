// OOD form values (strings) -> the same spec `tre-job submit` takes; and `tre-job ood --contract`,
// what the apps' Ruby helper reads of tre-job.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { oodContract } from '../../src/commands/ood';
import { JOB_FILES, LOG, TOKEN_ENV } from '../../src/contract';
import { InputError } from '../../src/errors';
import { APP_FIELDS, FIELDS, formError, formToSpec, hoursToTime, splitWords } from '../../src/ood/form';
import { runBin, runCli, runCliUnchecked, tempDir, writeYaml } from '../helpers';

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

  it("is the job outside OnDemand: the user's lines without the app's own (the Jupyter app's proxy base URL and XSRF setting)", () => {
    const form = {
      image: 'ghcr.io/a/b:1', service: 'jupyter', env_vars: 'MINE=1', container_args: '--debug',
      app_env_vars: 'TRE_BASE_URL=/node/${HOSTNAME}/${TRE_PORT}/', app_container_args: '--NotebookApp.disable_check_xsrf=True',
    };
    const spec = require('yaml').parse(runCliUnchecked(['ood', '--form-json', JSON.stringify(form), '--spec']).stdout);
    expect([spec.env, spec.args]).toEqual([['MINE=1'], ['--debug']]);
    // The session itself still gets them.
    expect(runCliUnchecked(['ood', '--form-json', JSON.stringify(form)]).stdout).toContain('disable_check_xsrf');
  });
});

const SIX = { maxTime: '06:00:00' };

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
      }, SIX),
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
    expect(formToSpec({ image: 'x', runner: 'apptainer', container_name: 'n', reuse_sif: '1' }, SIX)).toMatchObject({ runtime: 'apptainer', reuseSif: true });
    expect(formToSpec({ image: 'x', runner: 'apptainer', container_name: 'n' }, SIX)).not.toHaveProperty('name');
  });

  it('maps the interactive apps\' hidden service field; blank or absent means a batch job', () => {
    expect(formToSpec({ image: 'x', service: ' jupyter ' }, SIX)).toMatchObject({ service: 'jupyter' });
    expect(formToSpec({ image: 'x', service: '' }, SIX)).not.toHaveProperty('service');
    expect(formToSpec({ image: 'x' }, SIX)).not.toHaveProperty('service');
  });

  it("maps bc_num_hours to the spec's time; empty or absent leaves time to the site's maxTime", () => {
    expect(formToSpec({ image: 'x', bc_num_hours: '1' }, SIX)).toMatchObject({ time: '01:00:00' });
    expect(formToSpec({ image: 'x', bc_num_hours: ' 6 ' }, SIX)).toMatchObject({ time: '06:00:00' });
    expect(formToSpec({ image: 'x', bc_num_hours: '' }, SIX)).not.toHaveProperty('time');
    expect(formToSpec({ image: 'x' }, SIX)).not.toHaveProperty('time');
  });
});

describe('formToSpec: array_items (a Slurm job array, batch app only)', () => {
  it('maps a 3-line textarea, with a blank line and CR LF, to array.items', () => {
    expect(formToSpec({ image: 'x', array_items: 'a\r\n\r\nb\r\n  \t \nc\r' }, SIX)).toMatchObject({ array: { items: ['a', 'b', 'c'] } });
    expect(formToSpec({ image: 'x', array_items: 'a\nb\nc\n' }, SIX).array).toEqual({ items: ['a', 'b', 'c'] });
  });

  it('takes each line as written, apart from the line break: spaces, quotes and ${...} stay', () => {
    expect(formToSpec({ image: 'x', array_items: ' two words \r\n"q" \'s\' ${USER}' }, SIX).array).toEqual({ items: [' two words ', '"q" \'s\' ${USER}'] });
  });

  it('no lines is a normal job: no array key, and array_parallel does not apply', () => {
    for (const array_items of [undefined, '', '\r\n', '  \n\t\n']) {
      expect(formToSpec({ image: 'x', array_items, array_parallel: '2' }, SIX)).not.toHaveProperty('array');
    }
  });

  it('maps array_parallel (Tasks at once) to array.parallel; empty leaves it to Slurm', () => {
    expect(formToSpec({ image: 'x', array_items: 'a\nb', array_parallel: ' 2 ' }, SIX).array).toEqual({ items: ['a', 'b'], parallel: 2 });
    expect(formToSpec({ image: 'x', array_items: 'a\nb', array_parallel: '' }, SIX).array).toEqual({ items: ['a', 'b'] });
    expect(() => formToSpec({ image: 'x', array_items: 'a', array_parallel: 'two' }, SIX)).toThrow(new InputError('array_parallel', 'must be a whole number, got "two"'));
  });

  it("names the spec's array problems by the form field, an item by its line in the textarea", () => {
    const form = { image: 'x', array_items: 'a\r\n\r\nb\r\nc' };
    const named = (field: string) => formError(new InputError(field, 'bad'), form).message;
    expect(named('array.items.0')).toBe('array_items line 1: bad');
    expect(named('array.items.2')).toBe('array_items line 4: bad'); // the blank line 2 was skipped
    expect(named('array.items')).toBe('array_items: bad');
    expect(named('array')).toBe('array_items: bad');
    expect(named('array.parallel')).toBe('array_parallel: bad');
  });
});

describe('hoursToTime (bc_num_hours)', () => {
  it.each([
    ['1', '06:00:00', '01:00:00'],
    ['06', '06:00:00', '06:00:00'],
    ['6', '06:30:00', '06:00:00'], // whole hours: floor of maxTime
    ['12', '100:00:00', '12:00:00'],
    ['100', '100:00:00', '100:00:00'],
    ['', '06:00:00', undefined],
    ['  ', '06:00:00', undefined],
  ])('%j with maxTime %s -> %j', (value, maxTime, time) => expect(hoursToTime(value, maxTime)).toBe(time));

  it.each([
    ['7', 'bc_num_hours: 7 is over the site maximum of 6 hours (maxTime 06:00:00)'],
    ['99999999999999999999', 'bc_num_hours: 99999999999999999999 is over the site maximum of 6 hours (maxTime 06:00:00)'],
    ['0', 'bc_num_hours: must be a whole number of hours from 1 to 6, got "0"'],
    ['-1', 'bc_num_hours: must be a whole number of hours from 1 to 6, got "-1"'],
    ['1.5', 'bc_num_hours: must be a whole number of hours from 1 to 6, got "1.5"'],
    ['1e1', 'bc_num_hours: must be a whole number of hours from 1 to 6, got "1e1"'],
    ['two', 'bc_num_hours: must be a whole number of hours from 1 to 6, got "two"'],
    ['1\n2', 'bc_num_hours: must be a whole number of hours from 1 to 6, got "1\\n2"'],
  ])('refuses %j in one line naming the field', (value, message) => {
    expect(() => hoursToTime(value, '06:00:00')).toThrow(InputError);
    expect(() => hoursToTime(value, '06:00:00')).toThrow(message);
  });

  it('where maxTime is under an hour, the field does not apply (the app hides it): the job gets maxTime', () => {
    expect(hoursToTime('1', '00:30:00')).toBeUndefined();
    expect(hoursToTime('2', '00:59:59')).toBeUndefined();
    expect(hoursToTime('1', '01:00:00')).toBe('01:00:00');
    expect(() => hoursToTime('2', '01:59:59')).toThrow('bc_num_hours: 2 is over the site maximum of 1 hour (maxTime 01:59:59)');
  });
});

describe('tre-job ood: bad form values name the form field', () => {
  it.each([
    [{ image: 'ghcr.io/a/b:1', cpus: 'two' }, 'tre-job: cpus: must be a whole number, got "two"\n'],
    [{ image: 'ghcr.io/a/b:1', env_vars: 'OK=1\n\n1BAD=x' }, 'tre-job: env_vars line 3: "1BAD" is not a valid variable name (letters, digits, _; not starting with a digit)\n'],
    [{ image: 'docker.io/x/y:1' }, 'tre-job: image: registry docker.io is not allowed here (allowed: ghcr.io, git.ecdf.ed.ac.uk)\n'],
    [{ image: 'ghcr.io/a/b:1', runner: 'docker' }, 'tre-job: runner: must be one of podman, apptainer\n'],
    [{ image: 'ghcr.io/a/b:1', container_args: 'ok\n-m "open' }, 'tre-job: container_args line 2: unterminated double quote\n'],
    [{ image: 'ghcr.io/a/b:1', use_gpu: '1' }, 'tre-job: use_gpu: this site has no GPUs\n'],
    [{ image: 'ghcr.io/a/b:1', bc_num_hours: '7' }, 'tre-job: bc_num_hours: 7 is over the site maximum of 6 hours (maxTime 06:00:00)\n'],
    [{ image: 'ghcr.io/a/b:1', bc_num_hours: '0' }, 'tre-job: bc_num_hours: must be a whole number of hours from 1 to 6, got "0"\n'],
    [{ image: 'ghcr.io/a/b:1', array_items: 'a\nb', array_parallel: 'two' }, 'tre-job: array_parallel: must be a whole number, got "two"\n'],
  ])('%j', (form, stderr) => {
    const result = runCliUnchecked(['ood', '--form-json', JSON.stringify(form)]);
    expect(result.stderr).toBe(stderr);
    expect(result.status).toBe(2);
  });

  // The spec's checks of an item (the jobspec's words); the form names the line the user typed.
  it.each([
    ['a NUL', 'a\r\n\r\nb\u0000x\r\nc', 3, /NUL/],
    ['a CR inside a line', 'a\nb\rc', 2, /newline/],
    ['5,000 characters', `a\n\n\n${'y'.repeat(5000)}`, 4, /at most/],
  ])('array_items with %s: one line naming the textarea line', (_what, array_items, line, problem) => {
    const result = runCliUnchecked(['ood', '--form-json', JSON.stringify({ image: 'ghcr.io/a/b:1', array_items })]);
    expect(result.stderr).toMatch(new RegExp(`^tre-job: array_items line ${line}: [^\n]+\n$`));
    expect(result.stderr).toMatch(problem);
    expect(result.status).toBe(2);
  });
});

describe('tre-job ood --contract', () => {
  const contract = oodContract();

  it('prints oodContract() as one JSON object, from contract.ts and form.ts', () => {
    const result = runCli(['ood', '--contract']);
    expect(result.stdout.endsWith('}\n')).toBe(true);
    expect(JSON.parse(result.stdout)).toEqual(contract);
    expect(contract).toMatchObject({
      files: { script: JOB_FILES.oodScript, credentials: JOB_FILES.credentials, record: JOB_FILES.record, log: JOB_FILES.log, connection: JOB_FILES.connection },
      removeOnBadAnswer: [JOB_FILES.credentials, JOB_FILES.oodScript, JOB_FILES.record, JOB_FILES.spec],
      cardName: ['containerName', 'jobName'],
      logFinished: LOG.finished.source,
      logStarted: LOG.started.source,
      logOutputs: LOG.outputs.source,
      formFields: [...FIELDS],
      tokenEnv: TOKEN_ENV,
    });
    expect(contract.formFields).toContain('bc_num_hours');
    for (const field of Object.values(contract.appFields)) expect(contract.formFields).toContain(field);
    expect(contract.appFields).toEqual(APP_FIELDS);
  });

  it("with --site, adds that site's limits for the form: maxTime and the whole hours it allows", () => {
    const tmp = tempDir('tre-ood-contract-site-');
    try {
      const base = { registries: [{ host: 'ghcr.io' }], safeDataRoot: '/safe_data', defaultRuntime: 'podman' };
      for (const [maxTime, maxHours] of [['02:30:00', 2], ['00:30:00', 0], ['100:00:00', 100]] as const) {
        const site = writeYaml(tmp.path, `site-${maxHours}.yaml`, { ...base, maxTime });
        expect(JSON.parse(runCli(['ood', '--contract', '--site', site]).stdout)).toEqual({ ...contract, site: { maxTime, maxHours } });
      }
      expect(contract).not.toHaveProperty('site'); // without --site, no site is read
      const bad = writeYaml(tmp.path, 'bad.yaml', { ...base, maxTime: '6h' });
      expect(runCliUnchecked(['ood', '--contract', '--site', bad])).toMatchObject({ status: 2, stdout: '', stderr: expect.stringMatching(/^tre-job: site\.maxTime: [^\n]+\n$/) });
    } finally {
      tmp.remove();
    }
  });

  it('refuses the form options with --contract', () => {
    const result = runCliUnchecked(['ood', '--contract', '--form-json', '{}']);
    expect(result).toEqual({ status: 2, stdout: '', stderr: 'tre-job: --contract: takes no --form, --form-json, --job-dir or --spec\n' });
  });

  it("gives the log line's regex as a source without flags, which Ruby compiles to the same match", () => {
    expect(LOG.finished.flags).toBe('');
    const log = '2026-01-01 00:00:00 tre-job INFO: Job finished with exit status 0\n2026-01-01 00:00:09 tre-job INFO: Job finished with exit status 143\n';
    const js = [...log.matchAll(new RegExp(contract.logFinished, 'g'))].map((m) => m[1]);
    const ruby = spawnSync('ruby', ['-rjson', '-e', 'print JSON.generate(STDIN.read.scan(Regexp.new(ARGV[0])).flatten)', contract.logFinished], { input: log, encoding: 'utf8' });
    expect(ruby.status).toBe(0);
    expect(JSON.parse(ruby.stdout)).toEqual(js);
    expect(js).toEqual(['0', '143']);
  });

  it("names exactly the keys of `ood --job-dir`'s answer, with their JSON types", () => {
    const tmp = tempDir('tre-ood-contract-');
    try {
      const site = writeYaml(tmp.path, 'site.yaml', { registries: [{ host: 'ghcr.io' }], safeDataRoot: '/safe_data', defaultRuntime: 'podman', maxTime: '01:00:00' });
      const jobDir = join(tmp.path, 'staged');
      const env = { ...process.env, HOME: join(tmp.path, 'home'), [TOKEN_ENV]: '' };
      for (const runner of ['podman', 'apptainer']) {
        const result = runBin(['ood', '--form-json', JSON.stringify({ image: 'ghcr.io/a/b:1', runner }), '--site', site, '--job-dir', jobDir], { env });
        expect(result.status).toBe(0);
        const answer = JSON.parse(result.stdout) as Record<string, unknown>;
        expect(Object.keys(answer).sort()).toEqual(Object.keys(contract.answer).sort());
        for (const [key, types] of Object.entries(contract.answer)) {
          const value = answer[key];
          const type = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
          expect(types).toContain(type);
        }
      }
    } finally {
      tmp.remove();
    }
  });
});
