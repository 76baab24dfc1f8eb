// Completion scripts (bash, zsh) and help (help COMMAND|TOPIC, the man page), all generated
// from the commander program itself: each test reads what to expect from the program.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import { buildCli } from '../../src/cli';
import { completionCommand } from '../../src/commands/completion';
import { TOPICS } from '../../src/commands/help';
import { EXIT, JOB_FILES, TOKEN_ENV } from '../../src/contract';
import { shq } from '../../src/render/quote';
import { BIN, runBin, runCli, runCliUnchecked, tempDir } from '../helpers';

const has = (command: string, args: string[]) => spawnSync(command, args).status === 0;
const hasZsh = has('zsh', ['--version']);
const hasShellcheck = has('shellcheck', ['--version']);
const hasMan = has('man', ['--version']) && has('groff', ['--version']);
if (process.env.CI === 'true' && !(hasZsh && hasShellcheck && hasMan)) throw new Error('zsh, shellcheck, man and groff must be installed in CI (test/e2e/stack/setup.sh)');

function program(): CommandUnknownOpts {
  return buildCli({ stdout: () => undefined, stderr: () => undefined, defer: () => undefined, tty: false, interactive: false });
}
const visible = (p: CommandUnknownOpts) => p.createHelp().visibleCommands(p) as CommandUnknownOpts[];
const flagsOf = (c: CommandUnknownOpts) => c.createHelp().visibleOptions(c).flatMap((o) => [o.short, o.long].filter((f): f is string => Boolean(f)));

const dir = tempDir();
afterAll(() => dir.remove());
// A fake $HOME with three job records (one of an OOD session without a job id yet), and a
// `tre-job` on PATH that is the built CLI.
const home = join(dir.path, 'home');
const work = join(dir.path, 'work');
const bin = join(dir.path, 'bin');
const records = [
  { jobId: '101', jobName: 'hello', submittedAt: '2026-01-01T10:00:00.000Z' },
  { jobId: '303', jobName: 'newest', submittedAt: '2026-03-01T10:00:00.000Z' },
  { jobId: '202', jobName: 'jupyter', submittedAt: '2026-02-01T10:00:00.000Z' },
  { jobId: null, jobName: 'pending-ood', submittedAt: '2026-04-01T10:00:00.000Z' },
  // A record is a file: what it says is not run, nor offered unless it is a job id.
  { jobId: '1$(touch PWNED-record)', jobName: 'evil\n$(touch PWNED-name)', submittedAt: '2025-01-01T10:00:00.000Z' },
];
records.forEach((record, index) => {
  const jobDir = join(home, 'tre-jobs', `job-${index}`);
  mkdirSync(jobDir, { recursive: true });
  const full = { cluster: null, image: 'x', jobDir, outputLog: join(jobDir, 'output.log'), containerName: null, source: 'submit', ...record };
  writeFileSync(join(jobDir, 'job.json'), JSON.stringify(full));
});
mkdirSync(join(work, 'outputs-dir'), { recursive: true });
writeFileSync(join(work, 'job.yaml'), 'image: x\n');
mkdirSync(bin);
writeFileSync(join(bin, 'tre-job'), `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(BIN)} "$@"\n`);
chmodSync(join(bin, 'tre-job'), 0o755);
const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: home };

const bashScript = completionCommand(program(), 'bash');

/** What bash offers for `words` (the last is the word being completed), as bash's completion calls it. */
function completeBash(words: string[], script = bashScript): string[] {
  const file = join(dir.path, 'completion.bash');
  writeFileSync(file, script);
  const line = words.join(' ');
  const call = `source ${shq(file)}; COMP_WORDS=(${words.map(shq).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE=${shq(line)}; COMP_POINT=${line.length}; _tre_job; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = spawnSync('bash', ['-c', call], { cwd: work, env, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  return result.stdout.split('\n').filter(Boolean);
}
const tab = (line: string, script?: string) => completeBash(line.split(' '), script);

describe('bash completion', () => {
  it('passes bash -n and shellcheck', () => {
    expect(spawnSync('bash', ['-n'], { input: bashScript }).status).toBe(0);
    if (!hasShellcheck) return;
    const result = spawnSync('shellcheck', ['-s', 'bash', '-'], { input: bashScript, encoding: 'utf8' });
    expect(result.stdout).toBe('');
  });

  it('completes every visible command, and not the hidden one', () => {
    const names = visible(program()).map((c) => c.name());
    expect(names).toEqual(expect.arrayContaining(['submit', 'status', 'logs', 'completion', 'help', 'man']));
    expect(tab('tre-job ')).toEqual(names);
    expect(names).not.toContain('complete-jobids');
    expect(tab('tre-job sta')).toEqual(['status']);
    expect(tab('tre-job --v')).toEqual(['--version']);
  });

  it("completes each command's own options", () => {
    for (const command of visible(program())) {
      expect([command.name(), tab(`tre-job ${command.name()} -`)]).toEqual([command.name(), flagsOf(command)]);
    }
    expect(tab('tre-job submit --dr')).toEqual(['--dry-run']);
  });

  it("completes an option's choices, after a space or an = (which bash makes a word of its own)", () => {
    const p = new Command('tre-job');
    p.command('init').argument('[file]').addOption(new Option('--service <kind>', 'a service').choices(['jupyter', 'rstudio', 'http']));
    const script = completionCommand(p);
    expect(tab('tre-job init --service ', script)).toEqual(['jupyter', 'rstudio', 'http']);
    expect(tab('tre-job init --service r', script)).toEqual(['rstudio']);
    expect(completeBash(['tre-job', 'init', '--service', '=', ''], script)).toEqual(['jupyter', 'rstudio', 'http']);
    expect(completeBash(['tre-job', 'init', '--service', '=', 'h'], script)).toEqual(['http']);
    // After the value, the positional argument is a file again.
    expect(completeBash(['tre-job', 'init', '--service', '=', 'http', 'job'], script)).toEqual(['job.yaml']);
    expect(tab('tre-job completion ')).toEqual(['bash', 'zsh']);
  });

  it('completes files for a spec and --site, directories for --job-dir, nothing for free text', () => {
    expect(tab('tre-job submit j')).toEqual(['job.yaml']);
    expect(tab('tre-job submit --site j')).toEqual(['job.yaml']);
    expect(tab('tre-job submit --job-dir ')).toEqual(['outputs-dir']);
    expect(tab('tre-job ood --session ')).toEqual([]);
  });

  it('completes your job ids, most recent first, from your job records', () => {
    expect(tab('tre-job logs ')).toEqual(['303', '202', '101']);
    expect(tab('tre-job logs 2')).toEqual(['202']);
    expect(tab('tre-job status 303 ')).toEqual(['303', '202', '101']); // status takes many
    expect(tab('tre-job gc --job ')).toEqual(['303', '202', '101']);
    // The option's value is not the job id: still the first argument.
    expect(tab('tre-job logs --site job.yaml ')).toEqual(['303', '202', '101']);
    for (const name of visible(program()).filter((c) => c.registeredArguments[0]?.name() === 'jobid').map((c) => c.name())) {
      expect([name, tab(`tre-job ${name} 1`)]).toEqual([name, ['101']]);
    }
  });

  it('runs nothing that a job id line holds (they are compared as text, not expanded)', () => {
    const evil = join(dir.path, 'evil-bin');
    mkdirSync(evil, { recursive: true });
    writeFileSync(join(evil, 'tre-job'), "#!/bin/sh\nprintf '%s\\n' '1$(touch PWNED-bash)' '1*' '12'\n");
    chmodSync(join(evil, 'tre-job'), 0o755);
    const file = join(dir.path, 'completion-evil.bash');
    writeFileSync(file, bashScript);
    const call = `source ${shq(file)}; COMP_WORDS=(tre-job logs 1); COMP_CWORD=2; _tre_job; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const result = spawnSync('bash', ['-c', call], { cwd: work, env: { ...env, PATH: `${evil}:${env.PATH}` }, encoding: 'utf8' });
    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['1$(touch PWNED-bash)', '1*', '12']);
    expect(readdirSync(work).filter((name) => name.startsWith('PWNED'))).toEqual([]);
  });

  it('completes commands and topics for help', () => {
    expect(tab('tre-job help ex')).toEqual(['exit-codes']);
    expect(tab('tre-job help ')).toEqual([...visible(program()).map((c) => c.name()), ...TOPICS.map((t) => t.name)]);
  });
});

describe('complete-jobids', () => {
  // The built CLI, because Node reads $HOME from the process's real environment, not process.env.
  it('prints the ids of your job records, most recent first; --describe adds name and time', () => {
    expect(runBin(['complete-jobids'], { env, cwd: work })).toEqual({ status: 0, stdout: '303\n202\n101\n', stderr: '' });
    expect(readdirSync(work).filter((name) => name.startsWith('PWNED'))).toEqual([]);
    expect(runBin(['complete-jobids', '--describe'], { env }).stdout).toBe(
      '303:newest, submitted 2026-03-01 10:00\n202:jupyter, submitted 2026-02-01 10:00\n101:hello, submitted 2026-01-01 10:00\n',
    );
  });

  it('prints nothing, and no error, where it cannot read records', () => {
    expect(runBin(['complete-jobids'], { env: { ...env, HOME: join(dir.path, 'nowhere') } })).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(runBin(['complete-jobids'], { env: { ...env, TRE_JOB_SITE: join(dir.path, 'no-such-site.yaml') } })).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('is not in the help', () => {
    expect(runCli(['--help']).stdout).not.toContain('complete-jobids');
  });
});

(hasZsh ? describe : describe.skip)('zsh completion', () => {
  const zshScript = completionCommand(program(), 'zsh');

  it('is a compdef function that passes zsh -n', () => {
    expect(zshScript.startsWith('#compdef tre-job\n')).toBe(true);
    const result = spawnSync('zsh', ['-n'], { input: zshScript, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('completes your job ids, with their names, in an interactive zsh', () => {
    // A zsh on a pseudo-terminal (zpty) with the script installed as _tre-job in $fpath: type
    // `tre-job logs <TAB>` and read the list it shows. Each read waits for what it expects.
    const fpath = join(dir.path, 'zfunc');
    mkdirSync(fpath, { recursive: true });
    writeFileSync(join(fpath, '_tre-job'), zshScript);
    const driver = `
zmodload zsh/zpty
zpty z 'TERM=vt100 zsh -f -i'
zpty -w z ${shq(`fpath=(${fpath} $fpath); autoload -Uz compinit; compinit -u -D; print RE""ADY`)}
zpty -r z out '*READY*'
zpty -w -n z 'tre-job logs '$'\\t'
zpty -r z out '*hello, submitted 2026-01-01 10:00*'
print -r -- "$out"
zpty -d z`;
    const result = spawnSync('timeout', ['60', 'zsh', '-f'], { input: driver, cwd: work, env, encoding: 'utf8' });
    expect(result.status).toBe(0);
    const lines = result.stdout.replace(/\x1b\[[0-9;?]*[a-zA-Z]|\r|\0/g, '').split('\n');
    const ids = lines.map((line) => /^(\d+) +-- (.*)$/.exec(line)).filter((m): m is RegExpExecArray => m !== null);
    expect(ids.map((m) => [m[1], m[2]])).toEqual([
      ['303', 'newest, submitted 2026-03-01 10:00'],
      ['202', 'jupyter, submitted 2026-02-01 10:00'],
      ['101', 'hello, submitted 2026-01-01 10:00'],
    ]);
  });
});

describe('tre-job help', () => {
  it('prints for each command exactly what COMMAND --help prints', () => {
    for (const command of visible(program())) {
      const viaHelp = runCli(['help', command.name()]).stdout;
      expect(viaHelp).toContain(`Usage: tre-job ${command.name()}`);
      expect(viaHelp).toBe(runCli([command.name(), '--help']).stdout);
    }
  });

  it('with no name prints the program help, which lists the commands and the topics', () => {
    const text = runCli(['help']).stdout;
    expect(text).toBe(runCli(['--help']).stdout);
    for (const command of visible(program())) expect(text).toMatch(new RegExp(`^  ${command.name()}\\b`, 'm'));
    for (const topic of TOPICS) expect(text).toMatch(new RegExp(`^  ${topic.name} +${topic.summary.slice(0, 20)}`, 'm'));
  });

  it('spec: every field of the spec schema, with its description', () => {
    const text = runCli(['help', 'spec']).stdout.replace(/\s+/g, ' ');
    const schema = JSON.parse(runCli(['schema']).stdout) as { properties: Record<string, { description: string }> };
    for (const [name, field] of Object.entries(schema.properties)) {
      expect(text).toContain(` ${name}: `);
      expect(text).toContain(field.description.replace(/\s+/g, ' '));
    }
    expect(text).toContain(' runtime: podman|apptainer ');
    expect(text).toContain(' registry.username: text ');
  });

  it('exit-codes, files and env: each value tre-job uses', () => {
    const exit = runCli(['help', 'exit-codes']).stdout;
    for (const status of [0, 1, 2, ...Object.values(EXIT)]) expect(exit).toMatch(new RegExp(`^  ${status} +\\S`, 'm'));
    const files = runCli(['help', 'files']).stdout;
    for (const file of Object.values(JOB_FILES)) expect(files).toMatch(new RegExp(`^  ${file.replace('.', '\\.')} +\\S`, 'm'));
    const envText = runCli(['help', 'env']).stdout;
    for (const name of ['TRE_JOB_SITE', TOKEN_ENV, 'HOME']) expect(envText).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });

  it('an unknown name: one line suggesting the nearest, exit 2', () => {
    expect(runCliUnchecked(['help', 'submt'])).toEqual({ status: 2, stdout: '', stderr: 'tre-job: help: no command or topic submt (did you mean submit?)\n' });
    expect(runCliUnchecked(['help', 'exit-code'])).toEqual({ status: 2, stdout: '', stderr: 'tre-job: help: no command or topic exit-code (did you mean exit-codes?)\n' });
    expect(runCliUnchecked(['help', 'zzzzzz'])).toEqual({ status: 2, stdout: '', stderr: 'tre-job: help: no command or topic zzzzzz (tre-job help lists them)\n' });
  });
});

(hasMan ? describe : describe.skip)('tre-job man', () => {
  const page = runCli(['man']).stdout;
  const file = join(dir.path, 'tre-job.1');
  writeFileSync(file, page);

  it('renders with groff and man without a warning', () => {
    const groff = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', file], { encoding: 'utf8' });
    expect(groff.stderr).toBe('');
    expect(groff.status).toBe(0);
    const man = spawnSync('man', ['--warnings', '-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' } });
    expect(man.stderr).toBe('');
    expect(man.status).toBe(0);
    expect(man.stdout).toMatch(/^TRE-JOB\(1\) +User Commands/);
  });

  it('holds every command with its usage, arguments and options, and every topic', () => {
    const man = spawnSync('man', ['-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '1000', MANPAGER: 'cat', PAGER: 'cat' } });
    const text = man.stdout;
    const p = program();
    const help = p.createHelp();
    for (const command of visible(p)) {
      expect(text).toContain(help.commandUsage(command));
      for (const option of help.visibleOptions(command)) expect(text).toContain(help.optionTerm(option));
      for (const argument of help.visibleArguments(command)) expect(text).toContain(help.argumentDescription(argument));
    }
    expect(text).toContain('tre-job render job.yaml > job.sh'); // the examples --help adds
    for (const section of TOPICS.map((t) => t.section)) expect(text).toMatch(new RegExp(`^${section}$`, 'm'));
    expect(text).toContain(`${TOKEN_ENV}`);
  });
});
