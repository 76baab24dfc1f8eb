// Commander only: declares commands, flags and help, then hands typed options to a command.
import { Command, Option } from 'commander';
import { VERSION } from './version';

export type Output = (text: string) => void;

const EXAMPLE_SPEC = `
Spec example (YAML):
  image: ghcr.io/mikej888/hello-tre:1.0
  registry: { username: alice }
  cpus: 2
  memoryGiB: 4
  env: ["GREETING=hello from \${USER}"]
  args: ["-d", "5"]`;

function tokenOptions(command: Command): Command {
  return command
    .option('--token-file <file>', 'read the registry access token from FILE')
    .option('--token-stdin', 'read the registry access token from stdin')
    .addHelpText('after', '\nThe token may also come from $TRE_JOB_REGISTRY_TOKEN. It is never accepted as a flag value.');
}

/** Build the CLI. Commands are loaded lazily so that start-up stays close to bare node. */
export function buildCli(out: Output): Command {
  const program = new Command('tre-job')
    .description('Turn a container job spec into a Slurm batch script for a Trusted Research Environment, and submit it.')
    .version(VERSION)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: () => undefined });

  tokenOptions(
    program
      .command('render')
      .description('render the sbatch script: on stdout, or into --job-dir DIR (job.sh 0700, credentials 0600)')
      .argument('<spec>', 'job spec file (YAML or JSON)')
      .option('--site <file>', 'site config (default: $TRE_JOB_SITE, else built-in)')
      .option('--job-dir <dir>', 'write DIR/job.sh and the credentials file, and print the script path')
      .addOption(new Option('--session <id>', 'OOD session id (names the container NAME-SESSION)').hideHelp())
      .addHelpText('after', `\nExample:\n  tre-job render job.yaml > job.sh\n${EXAMPLE_SPEC}`),
  ).action((spec: string, options) => out(require('./commands/render').renderCommand(spec, options)));

  tokenOptions(
    program
      .command('submit')
      .description('render into a new job directory (default under $HOME/tre-jobs/) and submit it with sbatch; prints the job id')
      .argument('<spec>', 'job spec file (YAML or JSON)')
      .option('--site <file>', 'site config (default: $TRE_JOB_SITE, else built-in)')
      .option('--job-dir <dir>', 'job directory to use instead of a new one')
      .option('--dry-run', 'print the exact sbatch command line; write and submit nothing')
      .option('--json', 'print a JSON object (jobId, jobDir, script, outputLog)')
      .addHelpText('after', '\nExample:\n  tre-job submit job.yaml --token-file ~/.ghcr-token'),
  ).action((spec: string, options) => out(require('./commands/submit').submitCommand(spec, options)));

  tokenOptions(
    program
      .command('ood')
      .description('Open OnDemand hook: render the job for OOD form values (see ood/apps/)')
      .option('--form <file>', 'JSON object of the form values, as OOD passes them (strings)')
      .option('--form-json <json>', 'the same, inline')
      .option('--site <file>', 'site config (default: $TRE_JOB_SITE, else built-in)')
      .option('--job-dir <dir>', "the session's staged directory: write tre-job.sh and credentials there, print JSON for submit.yml.erb")
      .option('--session <id>', 'OOD session id (names the container NAME-SESSION)')
      .option('--spec', 'print the equivalent job spec (for tre-job submit) instead')
      .addHelpText('after', `\nExamples:\n  tre-job ood --form-json '{"image":"ghcr.io/mikej888/hello-tre:1.0","cpus":"2"}'          # the plain sbatch script\n  tre-job ood --form form.json --spec > job.yaml                                          # re-run without OOD\n  tre-job ood --form form.json --job-dir "$STAGED_ROOT" --session "$ID" --token-stdin   # what submit.yml.erb runs`),
  ).action((options) => out(require('./commands/ood').oodCommand(options)));

  program
    .command('validate')
    .description('check a spec against the site policy; write nothing')
    .argument('<spec>', 'job spec file (YAML or JSON)')
    .option('--site <file>', 'site config (default: $TRE_JOB_SITE, else built-in)')
    .addHelpText('after', '\nExample:\n  tre-job validate job.yaml')
    .action((spec: string, options) => out(require('./commands/validate').validateCommand(spec, options)));

  program
    .command('schema')
    .description('print the JSON Schema of the job spec')
    .addHelpText('after', '\nExample:\n  tre-job schema > tre-job.schema.json')
    .action(() => out(require('./commands/schema').schemaCommand()));

  return program;
}
