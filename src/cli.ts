// Commander only: declares commands, flags and help, then hands typed options to a command.
// extra-typings infers each action's options from its flags, and each command module is
// required with its own type, so a flag and the option it feeds are checked against each other.
import { Argument, Command, CommandUnknownOpts, Option, OptionValues } from '@commander-js/extra-typings';
import { VERSION } from './version';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Commands that keep running (submit --wait, logs --follow) hand their exit status here. */
  defer: (exitStatus: Promise<number>) => void;
  tty: boolean;
  interactive: boolean;
}

const EXAMPLE_SPEC = `
Spec example (YAML):
  image: ghcr.io/mikej888/hello-tre:1.0
  registry: { username: alice }
  cpus: 2
  memoryGiB: 4
  env: ["GREETING=hello from \${USER}"]
  args: ["-d", "5"]`;

const SITE_OPTION = ['--site <file>', 'site config (default: $TRE_JOB_SITE, else built-in)'] as const;

function tokenOptions<Args extends unknown[], Opts extends OptionValues>(command: Command<Args, Opts>) {
  return command
    .option('--token-file <file>', 'read the registry access token from FILE')
    .option('--token-stdin', 'read the registry access token from stdin')
    .addHelpText('after', '\nThe token may also come from $TRE_JOB_REGISTRY_TOKEN. It is never accepted as a flag value.');
}

/** What submit and resubmit share: the token, and how the job is submitted and followed. */
function submitOptions<Args extends unknown[], Opts extends OptionValues>(command: Command<Args, Opts>) {
  return tokenOptions(
    command
      .option('--dry-run', 'print the exact sbatch command line; write and submit nothing')
      .option('--json', 'print a JSON object (jobId, jobDir, script, outputLog)')
      .option('--wait', "follow the job on stderr until it ends, print its outputs dir, and exit with the job's exit status")
      .option('--cancel-on-interrupt', 'with --wait: Ctrl-C cancels the job instead of asking'),
  );
}

/** Build the CLI. Commands are loaded lazily so that start-up stays close to bare node. */
export function buildCli(io: CliIo): CommandUnknownOpts {
  const out = io.stdout;
  const warn = io.stderr;
  const program = new Command('tre-job')
    .description('Turn a container job spec into a Slurm batch script for a Trusted Research Environment, and submit it.')
    .version(VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    // Help asked for by mistake (no command) goes to stderr; error lines are printed by main.ts only.
    .configureOutput({ writeOut: out, writeErr: io.stderr, outputError: () => undefined })
    // `tre-job help` is a command of its own (below), and the help topics end the program's help.
    .helpCommand(false)
    .addHelpText('after', ({ error, command }) => (require('./commands/help') as typeof import('./commands/help')).topicsHelp(command, error));

  tokenOptions(
    program
      .command('render')
      .description('render the sbatch script: on stdout, or into --job-dir DIR (job.sh 0700, credentials 0600)')
      .argument('<spec>', 'job spec file (YAML or JSON)')
      .option(...SITE_OPTION)
      .option('--job-dir <dir>', 'write DIR/job.sh and the credentials file, and print the script path')
      .addOption(new Option('--session <id>', 'OOD session id (names the container NAME-SESSION)').hideHelp())
      .addHelpText('after', `\nExample:\n  tre-job render job.yaml > job.sh\n${EXAMPLE_SPEC}`),
  ).action((spec: string, options) => out((require('./commands/render') as typeof import('./commands/render')).renderCommand(spec, { ...options, warn })));

  submitOptions(
    program
      .command('submit')
      .description('render into a new job directory (default under $HOME/tre-jobs/) and submit it with sbatch; prints the job id')
      .argument('<spec>', 'job spec file (YAML or JSON)')
      .option(...SITE_OPTION)
      .option('--job-dir <dir>', 'job directory to use instead of a new one')
      .addHelpText('after', '\nExamples:\n  tre-job submit job.yaml --token-file ~/.ghcr-token\n  tre-job submit job.yaml --token-file ~/.ghcr-token --wait'),
  ).action((spec: string, options) => {
    if (options.wait && !options.dryRun) io.defer((require('./commands/submit') as typeof import('./commands/submit')).submitAndWait(spec, { ...options, warn }, io));
    else out((require('./commands/submit') as typeof import('./commands/submit')).submitCommand(spec, { ...options, warn }));
  });

  program
    .command('status')
    .description("one line per job: name, submit time, state, phase, elapsed time, exit status, outputs dir, and why an ended job ended (default: all your tre-job jobs)")
    .argument('[jobid...]', 'Slurm job ids')
    .option(...SITE_OPTION)
    .option('--json', 'print JSON (with the image, the full submit time and the reason)')
    .option('--state <states>', 'only jobs in these states, comma-separated, any case: Slurm state names (failed, cancelled, timeout, running, ...), active or ended')
    .option('--since <when>', 'only jobs submitted since WHEN: a date or local time (2026-12-01, 2026-12-01T14:00) or an age (30m, 2h, 3d, 1w)')
    .option('--last <n>', 'only the N most recently submitted jobs (after --state and --since)')
    .addHelpText('after', '\nFilters apply to the list of all your jobs, not to job ids.\nA job array is one row, its PHASE the count of its tasks by state; status ARRAYID adds its tasks by exit status and a row per failed task; status ARRAYID_TASK shows one task.\n\nExamples:\n  tre-job status\n  tre-job status --last 5\n  tre-job status --state failed,timeout --since 3d\n  tre-job status 1234 --json')
    .action((jobIds: string[], options) => out((require('./commands/status') as typeof import('./commands/status')).statusCommand(jobIds, options)));

  program
    .command('logs')
    .description("print the job's output.log; of an array, task T's with ARRAYID_T, or every task's log (each after a line ==> ARRAYID_T <==) with ARRAYID")
    .argument('<jobid>', 'Slurm job id (JOBID, ARRAYID or ARRAYID_TASK)')
    .option(...SITE_OPTION)
    .option('--follow', 'keep printing until the job (every task of an array) has ended')
    .addHelpText('after', '\nExamples:\n  tre-job logs 1234 --follow\n  tre-job logs 1300_7')
    .action((jobId: string, options) => {
      // A block: an action that returned the promise would have commander chain on it, unhandled.
      io.defer((require('./commands/logs') as typeof import('./commands/logs')).logsCommand(jobId, options, io));
    });

  tokenOptions(
    program
      .command('ood')
      .description('Open OnDemand hook: render the job for OOD form values (see ood/apps/)')
      .option('--form <file>', 'JSON object of the form values, as OOD passes them (strings)')
      .option('--form-json <json>', 'the same, inline')
      .option(...SITE_OPTION)
      .option('--job-dir <dir>', "the session's staged directory: write tre-job.sh, credentials and job.json there, print JSON for submit.yml.erb")
      .option('--session <id>', 'OOD session id (names the container NAME-SESSION)')
      .option('--spec', 'print the equivalent job spec (for tre-job submit) instead')
      .option('--contract', "print, as JSON, what the OnDemand apps' helper needs to know of tre-job (file names, log line, form fields)")
      .addHelpText('after', `\nExamples:\n  tre-job ood --form-json '{"image":"ghcr.io/mikej888/hello-tre:1.0","cpus":"2"}'          # the plain sbatch script\n  tre-job ood --form form.json --spec > job.yaml                                          # re-run without OOD\n  tre-job ood --form form.json --job-dir "$STAGED_ROOT" --session "$ID" --token-stdin   # what submit.yml.erb runs`),
  ).action((options) => out((require('./commands/ood') as typeof import('./commands/ood')).oodCommand({ ...options, warn })));

  program
    .command('validate')
    .description('check a spec against the site policy and report every problem, one line each; write nothing')
    .argument('<spec>', 'job spec file (YAML or JSON)')
    .option(...SITE_OPTION)
    .option('--json', 'print the result as JSON on stdout (problems: as JSON on stderr, exit 2)')
    .addHelpText('after', '\nExamples:\n  tre-job validate job.yaml\n  tre-job validate job.yaml --json')
    .action((spec: string, options) => out((require('./commands/validate') as typeof import('./commands/validate')).validateCommand(spec, { ...options, warn })));

  program
    .command('schema')
    .description('print the JSON Schema of the job spec')
    .addHelpText('after', '\nExample:\n  tre-job schema > tre-job.schema.json')
    .action(() => out((require('./commands/schema') as typeof import('./commands/schema')).schemaCommand()));

  program
    .command('gc')
    .description("remove what ended jobs left behind (scratch dirs, containers, credentials) when their own clean-up could not run; never outputs")
    .option(...SITE_OPTION)
    .option('--job <jobid>', 'only this job, taken as ended (for a Slurm Epilog: contrib/slurm-epilog.sh)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tre-job gc\n  tre-job gc --job 1234')
    .action((options) => out((require('./commands/gc') as typeof import('./commands/gc')).gcCommand(options)));

  program
    .command('connect')
    .description("a service job's URL (with its base URL) and password; an ssh tunnel hint when its node does not answer from here")
    .argument('<jobid>', 'Slurm job id of a service job (service: jupyter, rstudio or http)')
    .option(...SITE_OPTION)
    .option('--json', 'print a JSON object (jobId, state, ready, ended, url, host, port, password, service, tunnel, ...)')
    .option('--wait', 'wait until the service answers or the job ends')
    .addHelpText('after', '\nExit status: 0 ready, 3 still starting (try again), 1 the job has ended, 2 not a service job.\n\nExamples:\n  tre-job connect 1234\n  tre-job connect 1234 --wait --json')
    .action((jobId: string, options) => {
      io.defer((require('./commands/connect') as typeof import('./commands/connect')).connectCommand(jobId, options, io));
    });

  program
    .command('site')
    .description('what this site allows: registries, runtimes, limits, runner arguments, safe data, services')
    .option(...SITE_OPTION)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tre-job site\n  tre-job site --json')
    .action((options) => out((require('./commands/site') as typeof import('./commands/site')).siteCommand(options)));

  program
    .command('init')
    .description('write a commented starter spec for this site that validates as written (never over an existing file)')
    .argument('[file]', 'where to write it (default: job.yaml; - prints it)')
    .option('--service <kind>', 'an interactive service: jupyter, rstudio or http')
    .option('--runtime <runtime>', "podman or apptainer (default: the site's)")
    .option('--image <image>', 'the image to run (default: a placeholder on the first allowed registry)')
    .option(...SITE_OPTION)
    .addHelpText('after', '\nExamples:\n  tre-job init\n  tre-job init jupyter.yaml --service jupyter --image ghcr.io/my-org/my-jupyter:1.0')
    .action((file: string | undefined, options) => out((require('./commands/init') as typeof import('./commands/init')).initCommand(file, options)));

  submitOptions(
    program
      .command('resubmit')
      .description('submit the spec a job kept in its directory again, with the site file it was submitted with, into a new job directory; prints the new job id')
      .argument('<jobid>', 'Slurm job id of a job submitted by tre-job (or an OOD session)')
      .option('--site <file>', 'site config (default: the one the job was submitted with)')
      .addHelpText('after', '\nExamples:\n  tre-job resubmit 1234 --token-file ~/.ghcr-token\n  tre-job resubmit 1234 --token-stdin --wait < ~/.ghcr-token'),
  ).action((jobId: string, options) => {
    const resubmit = require('./commands/resubmit') as typeof import('./commands/resubmit');
    if (options.wait && !options.dryRun) io.defer(resubmit.resubmitAndWait(jobId, { ...options, warn }, io));
    else out(resubmit.resubmitCommand(jobId, { ...options, warn }));
  });

  program
    .command('sbatch')
    .description("sbatch for Open OnDemand's bin_overrides: first copies the job's directory (-D) to a back-end whose home is its own (site home.ssh)")
    .option(...SITE_OPTION)
    .argument('[sbatch-args...]', 'sbatch arguments, after --')
    .addHelpText('after', '\nExample (an OnDemand cluster\'s bin_overrides sbatch script):\n  exec tre-job sbatch --site /etc/tre-job/clusters/CLUSTER.yaml -- "$@"')
    .action((args, options) => io.defer(Promise.resolve((require('./commands/sbatch') as typeof import('./commands/sbatch')).sbatchCommand(args, options))));

  program
    .command('completion')
    .description('print a completion script for bash (the default) or zsh: commands, options, their values and your job ids')
    .addArgument(new Argument('[shell]', 'bash or zsh').choices(['bash', 'zsh'] as const).default('bash' as const))
    .addHelpText(
      'after',
      '\nExamples:\n  tre-job completion bash > ~/.tre-job.bash   # then in ~/.bashrc: source ~/.tre-job.bash\n  tre-job completion zsh > ~/.zfunc/_tre-job   # zsh, with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc',
    )
    .action((shell) => out((require('./commands/completion') as typeof import('./commands/completion')).completionCommand(program, shell)));

  // For the completion scripts: job ids on each TAB, so not in --help.
  program
    .command('complete-jobids', { hidden: true })
    .option('--describe', 'ID:DESCRIPTION lines, for zsh')
    .action((options) => out((require('./commands/completion') as typeof import('./commands/completion')).completeJobIdsCommand(options)));

  // Commander's own help command replaced (helpCommand(false) above): this one also knows topics.
  program
    .command('help')
    .description('show help for a command (as COMMAND --help does) or a topic; with neither, list both')
    .argument('[topic]', 'a command, or a help topic (tre-job help lists them)')
    .addHelpText('after', '\nExamples:\n  tre-job help submit\n  tre-job help spec')
    .action((topic) => out((require('./commands/help') as typeof import('./commands/help')).helpCommand(program, topic)));

  program
    .command('man')
    .description('print the tre-job(1) man page (all commands and help topics)')
    .addHelpText('after', '\nExample:\n  man -l <(tre-job man)')
    .action(() => out((require('./commands/help') as typeof import('./commands/help')).manCommand(program)));

  // Listed in the order a new user meets them (help, man, completion all read this order).
  (program.commands as CommandUnknownOpts[]).sort((a, b) => listed(a.name()) - listed(b.name()));
  return program;
}

const COMMAND_ORDER = ['site', 'init', 'validate', 'submit', 'status', 'logs', 'connect', 'resubmit', 'render', 'schema', 'ood', 'gc', 'completion', 'help', 'man'];
/** A command's place in COMMAND_ORDER; one not listed (a hidden one) comes last. */
const listed = (name: string) => (COMMAND_ORDER.includes(name) ? COMMAND_ORDER.indexOf(name) : COMMAND_ORDER.length);
