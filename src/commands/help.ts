// `tre-job help [COMMAND|TOPIC]` and `tre-job man`. A command's help is commander's own --help
// text; the topics (what is not a command) and the man page are built from the data the CLI
// itself runs on (the commands and options, the spec's zod schema, contract.ts), so no help
// text can drift from what tre-job does.
import { CONNECT_EXIT } from './connect';
import type { CommandUnknownOpts as Command, Help } from '@commander-js/extra-typings';
import { EXIT, JOB_FILES, STATE_DIRS, TOKEN_ENV } from '../contract';
import { InputError } from '../errors';
import { didYouMean } from '../suggest';
import { VERSION } from '../version';

type Item = [term: string, description: string];

interface ItemList {
  heading: string;
  items: Item[];
}

interface Topic {
  name: string;
  /** One line, for the topic list. */
  summary: string;
  /** The man page's section for it. */
  section: string;
  /** A function where the text comes from elsewhere (the spec's schema). */
  intro: string | (() => string);
  lists: () => ItemList[];
  outro?: string;
}

/** What each file of a job directory is: a Record, so that a new file cannot go undescribed. */
const JOB_FILE_WORDS: Record<keyof typeof JOB_FILES, string> = {
  script: 'the batch script (0700) that sbatch runs',
  oodScript: 'the batch script of an Open OnDemand session (in its staged directory)',
  record: "the job's record: job id, name, image, when it was submitted (status, logs and completion read it)",
  log: "the job's log: tre-job's own lines and the container's output (tre-job logs)",
  credentials: 'the registry token (0600), deleted by the job once it has pulled the image',
  ledger: 'what the job made (scratch dir, container...), one line each, for tre-job gc',
  connection: "a service's host, port and password (0600), once it answers (tre-job connect, Open OnDemand's Connect button)",
  spec: 'the spec the job was rendered from, as written (spec.json for a JSON spec), for tre-job resubmit',
  taskLog: "an array task's log: output-0.log, output-1.log, ... (tre-job logs ARRAYID_TASK)",
  items: "an array's items (0600), one per line: task T runs with line T+1",
  arrayLock: "the lock an array's tasks take to share outputs-NUMBER, the pull and the token",
  arrayOutputs: "the NUMBER of an array's outputs-NUMBER (each task writes to outputs-NUMBER/TASK)",
  pastPull: 'the array tasks that no longer need the registry token; the last one deletes it',
  pulled: 'pulled-HOST (Podman) or pulled-sif (Apptainer): the image an array pulled, which its other tasks run',
};

const STATE_DIR_WORDS: Record<keyof typeof STATE_DIRS, string> = {
  active: 'one entry per job that has not finished its own clean-up',
  credentials: 'one entry per credentials file, so that tre-job gc can remove a token whose job never pulled',
  jobs: 'one entry per job directory, wherever it is, so that status finds every job',
  tmp: "Apptainer's temporary files, one directory per job",
  locks: "one lock file per SIF image, or per node and image for an array's Podman pull, held while it is pulled",
};

const JOB_EXIT_WORDS: Record<keyof typeof EXIT, string> = {
  failed: 'the job failed outside the container (a step before or after it, or Slurm: FAILED, NODE_FAIL)',
  timeLimit: 'the time limit was reached',
  hangup: 'hung up (SIGHUP)',
  interrupt: 'interrupted (SIGINT)',
  cancelled: 'cancelled (scancel, SIGTERM) or preempted',
};

interface JsonSchema {
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
}

/** What to write for a field, from its JSON Schema: `podman|apptainer`, `integer`, `map or list`... */
function valueHint(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.join('|');
  if (schema.const !== undefined) return String(schema.const);
  if (schema.anyOf) return [...new Set(schema.anyOf.map(valueHint))].join(' or ');
  const type = Array.isArray(schema.type) ? schema.type.join('|') : schema.type;
  return { string: 'text', boolean: 'true|false', array: 'list', object: 'map' }[type ?? ''] ?? type ?? 'any';
}

/** One item per spec field (a nested object's fields as PARENT.FIELD), from the JSON Schema that `tre-job schema` prints. */
function specFields(properties: Record<string, JsonSchema>, prefix = ''): Item[] {
  return Object.entries(properties).flatMap(([name, field]): Item[] => {
    const own: Item = [`${prefix}${name}: ${valueHint(field)}`, field.description ?? ''];
    return field.properties ? [own, ...specFields(field.properties, `${prefix}${name}.`)] : [own];
  });
}

function specSchema(): JsonSchema {
  return JSON.parse((require('./schema') as typeof import('./schema')).schemaCommand()) as JsonSchema;
}

export const TOPICS: readonly Topic[] = [
  {
    name: 'spec',
    summary: 'the job spec file: every field, what to write and its default',
    section: 'JOB SPEC',
    intro: () => `${specSchema().description ?? ''} \`tre-job schema\` prints it as a JSON Schema.`,
    lists: () => [{ heading: 'Fields', items: specFields(specSchema().properties ?? {}) }],
    outro: 'Example:\n  image: ghcr.io/mikej888/hello-tre:1.0\n  registry: { username: alice }\n  cpus: 2\n  memoryGiB: 4',
  },
  {
    name: 'exit-codes',
    summary: "tre-job's exit status, and a job's",
    section: 'EXIT STATUS',
    intro: "What tre-job exits with, and what a job's exit status means.",
    lists: () => [
      {
        heading: 'tre-job',
        items: [
          ['0', 'success'],
          ['1', 'something outside tre-job failed: sbatch or scontrol refused, a file could not be read or written'],
          ['2', 'bad input: the spec, the site file or a flag; one line `tre-job: FIELD: problem` per problem, and nothing was written or submitted'],
        ],
      },
      {
        heading: 'tre-job connect',
        items: [
          [String(CONNECT_EXIT.ready), 'the service is ready: its URL and password are printed'],
          [String(CONNECT_EXIT.ended), 'the job has ended (or is ending): no password'],
          [String(CONNECT_EXIT.notService), 'not a service job, or not a job of yours'],
          [String(CONNECT_EXIT.starting), 'still starting: ask again, or use --wait'],
        ],
      },
      {
        heading: 'A job (submit --wait exits with it; status shows it)',
        items: [
          ['0-127', "the container's own exit status"],
          ...Object.entries(EXIT).map(([key, status]): Item => [String(status), JOB_EXIT_WORDS[key as keyof typeof EXIT]]),
          ['128+N', 'killed by signal N, e.g. 137: SIGKILL (out of memory)'],
        ],
      },
    ],
  },
  {
    name: 'files',
    summary: 'what a job directory holds, and tre-job\'s own files',
    section: 'FILES',
    intro:
      "Each job has its own directory (0700): by default $HOME/tre-jobs/YYYYMMDD-HHMMSS-XXXXXX (the site's jobsDir), or submit --job-dir DIR. Outputs go to $HOME/outputs-JOBID, never into the job directory.",
    lists: () => [
      { heading: 'In a job directory', items: Object.entries(JOB_FILES).map(([key, file]): Item => [file, JOB_FILE_WORDS[key as keyof typeof JOB_FILES]]) },
      { heading: 'Under $HOME', items: Object.entries(STATE_DIRS).map(([key, dir]): Item => [`${dir}/`, STATE_DIR_WORDS[key as keyof typeof STATE_DIRS]]) },
    ],
  },
  {
    name: 'env',
    summary: 'the environment variables tre-job reads',
    section: 'ENVIRONMENT',
    intro: 'tre-job reads these variables; a flag, where there is one, wins.',
    lists: () => [
      {
        heading: 'Variables',
        items: [
          ['TRE_JOB_SITE', 'the site config file when --site is not given (default: the built-in site)'],
          [TOKEN_ENV, 'the registry access token, instead of --token-file or --token-stdin (never a flag value); the job does not get it'],
          ['HOME', "where job directories (the site's jobsDir, when relative), outputs and $HOME/.tre-job/ are"],
        ],
      },
      {
        heading: 'Read by the Open OnDemand apps, not by tre-job (ood/README.md)',
        items: [
          ['TRE_JOB_BIN', 'the tre-job they run (default: /opt/tre-job/bin/tre-job)'],
          ['TRE_JOB_SITE_DIR', 'where the site files are (default: /etc/tre-job)'],
          ['TRE_JOB_OOD_LIB', "their Ruby helper (default: ood/lib/tre_job_ood.rb of TRE_JOB_BIN's install)"],
        ],
      },
    ],
  },
];

/** The visible commands: what `help`, completion and the man page describe. */
export function visibleCommands(program: Command): Command[] {
  return program.createHelp().visibleCommands(program) as Command[];
}

/** Exactly what `tre-job COMMAND --help` prints (commander's outputHelp, with each command's added text), as a string. */
export function commandHelp(command: Command): string {
  let text = '';
  const saved = command.configureOutput();
  command.configureOutput({ ...saved, writeOut: (chunk) => (text += chunk) });
  try {
    command.outputHelp();
  } finally {
    command.configureOutput(saved);
  }
  return text;
}

/** A helper formatting as commander's --help does, at the width help goes out at. */
function helper(program: Command, error = false): Help {
  const help = program.createHelp();
  const output = program.configureOutput();
  help.prepareContext({ helpWidth: (error ? output.getErrHelpWidth : output.getOutHelpWidth)?.() });
  return help;
}

function formatLists(help: Help, lists: ItemList[], minTermWidth = 0): string {
  const width = Math.max(minTermWidth, ...lists.flatMap((list) => list.items.map(([term]) => term.length)));
  return lists.map((list) => help.formatItemList(`${list.heading}:`, list.items.map(([term, text]) => help.formatItem(term, width, text, help)), help).join('\n')).join('\n');
}

/** The topic list that ends `tre-job --help` (and so `tre-job help`), aligned with its commands. */
export function topicsHelp(program: Command, error: boolean): string {
  const help = helper(program, error);
  const list = { heading: 'Help topics (tre-job help TOPIC)', items: TOPICS.map((t): Item => [t.name, t.summary]) };
  return `\n${formatLists(help, [list], help.padWidth(program, help))}\nThe whole manual: man -l <(tre-job man)`;
}

const introOf = (topic: Topic) => (typeof topic.intro === 'string' ? topic.intro : topic.intro());

function topicHelp(program: Command, topic: Topic): string {
  const help = helper(program);
  const outro = topic.outro ? `\n${topic.outro}\n` : '';
  return `${help.boxWrap(introOf(topic), help.helpWidth ?? 80)}\n\n${formatLists(help, topic.lists())}${outro}`;
}

/** `tre-job help [NAME]`: a command's --help text, a topic, or (no NAME) the program's help. */
export function helpCommand(program: Command, name: string | undefined): string {
  if (name === undefined) return commandHelp(program);
  const command = visibleCommands(program).find((c) => c.name() === name);
  if (command) return commandHelp(command);
  const topic = TOPICS.find((t) => t.name === name);
  if (topic) return topicHelp(program, topic);
  const known = [...visibleCommands(program).map((c) => c.name()), ...TOPICS.map((t) => t.name)];
  throw new InputError('help', `no command or topic ${name}${didYouMean(name, known) || ' (tre-job help lists them)'}`);
}

/** Text for roff: backslashes and hyphens escaped, and no line taken for a request. */
function roff(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
}

/** Lines as they are (examples), indented; blank lines as .sp (groff warns of blank input lines). */
function roffVerbatim(text: string): string {
  const lines = text.replace(/^\n+|\n+$/g, '').split('\n');
  return ['.PP', '.nf', '.RS 4', ...lines.map((line) => (line.trim() ? roff(line) : '.sp')), '.RE', '.fi'].join('\n');
}

function roffItems(items: Item[]): string {
  return items.map(([term, text]) => `.TP\n\\fB${roff(term)}\\fR\n${roff(text)}`).join('\n');
}

function roffCommand(help: Help, command: Command): string {
  // Each command's --help option: once, under OPTIONS, not in every command.
  const options = help
    .visibleOptions(command)
    .filter((o) => o.long !== '--help')
    .map((o): Item => [help.optionTerm(o), help.optionDescription(o)]);
  const args = help.visibleArguments(command).map((a): Item => [help.argumentTerm(a), help.argumentDescription(a)]);
  // What --help prints after the options (examples, notes): the full text less commander's part.
  const added = commandHelp(command).replace(command.helpInformation(), '').trim();
  return [
    `.SS "${roff(help.commandUsage(command))}"`,
    roff(help.commandDescription(command)),
    ...(args.length ? [roffItems(args)] : []),
    ...(options.length ? [roffItems(options)] : []),
    ...(added ? [roffVerbatim(added)] : []),
  ].join('\n');
}

function roffTopic(topic: Topic): string {
  const lists = topic.lists().map((list) => `.PP\n${roff(list.heading)}:\n${roffItems(list.items)}`);
  const [outroText, ...outroExample] = (topic.outro ?? '').split('\n');
  const outro = topic.outro ? [`.PP\n${roff(outroText ?? '')}`, ...(outroExample.length ? [roffVerbatim(outroExample.join('\n'))] : [])] : [];
  return [`.SH ${topic.section}`, roff(introOf(topic)), ...lists, ...outro].join('\n');
}

/** `tre-job man`: the tre-job(1) man page in roff, from the same data as --help and the topics. */
export function manCommand(program: Command): string {
  const help = program.createHelp();
  const commands = visibleCommands(program);
  return `${[
    `.TH TRE\\-JOB 1 "" "tre\\-job ${roff(VERSION)}" "User Commands"`,
    '.SH NAME',
    `tre\\-job \\- ${roff(program.description())}`,
    '.SH SYNOPSIS',
    '.B tre\\-job',
    '.I command',
    '[\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.br',
    '.B tre\\-job help',
    '[\\fIcommand\\fR|\\fItopic\\fR]',
    '.SH DESCRIPTION',
    roff(program.description()),
    `Commands: ${roff(commands.map((c) => c.name()).join(', '))}.`,
    'Each prints its own help with \\fB\\-\\-help\\fR, the same text as in this page.',
    '.SH OPTIONS',
    roffItems(help.visibleOptions(program).map((o): Item => [help.optionTerm(o), help.optionDescription(o)])),
    '.SH COMMANDS',
    ...commands.map((command) => roffCommand(help, command)),
    ...TOPICS.map(roffTopic),
    '.SH SEE ALSO',
    '\\fBsbatch\\fR(1), \\fBscontrol\\fR(1), \\fBscancel\\fR(1), \\fBpodman\\-run\\fR(1), \\fBapptainer\\fR(1)',
  ].join('\n')}\n`;
}
