// `tre-job completion [bash|zsh]`: a completion script generated from the CLI's own commands,
// options and arguments, so a new command or option completes without a word here. What a value
// completes to follows from its name in the usage (`--site <file>`, `<jobid>`) or its choices;
// job ids come from `tre-job complete-jobids`, which reads the user's own job records (no Slurm).
import type { CommandUnknownOpts as Command, Help, Option } from '@commander-js/extra-typings';
import { JOB_ID } from '../contract';
import { escapeControls } from '../errors';
import { shq } from '../render/quote';
import { listJobRecords } from '../record';
import { loadSite } from '../site/load';
import { VERSION } from '../version';
import { TOPICS, visibleCommands } from './help';

/** What a value completes to: files, directories, job ids, help topics, a fixed list, or nothing. */
type Kind = 'file' | 'dir' | 'jobid' | 'topic' | 'none' | { words: readonly string[] };

/** Value and argument names (as in `--site <file>`, `<spec>`) that say what they complete to. */
const KIND_OF_NAME: Record<string, Kind> = { file: 'file', spec: 'file', dir: 'dir', jobid: 'jobid', topic: 'topic' };

interface OptionModel {
  flags: string[];
  description: string;
  /** Undefined for a flag without a value. */
  value?: { name: string; kind: Kind };
}

interface CommandModel {
  name: string;
  description: string;
  options: OptionModel[];
  args: { name: string; kind: Kind; required: boolean; variadic: boolean }[];
}

function kindOf(name: string, choices: readonly string[] | undefined): Kind {
  return choices ? { words: choices } : (KIND_OF_NAME[name] ?? 'none');
}

function optionModel(help: Help, option: Option): OptionModel {
  const flags = [option.short, option.long].filter((f): f is string => Boolean(f));
  // The value's name as the usage writes it: --site <file>, --job [jobid].
  const name = /[<[]([^>\]]+?)(?:\.\.\.)?[>\]]/.exec(option.flags)?.[1];
  const value = option.required || option.optional ? { name: name ?? 'value', kind: kindOf(name ?? '', option.argChoices) } : undefined;
  return { flags, description: help.optionDescription(option), value };
}

function commandModel(help: Help, command: Command): CommandModel {
  return {
    name: command.name(),
    description: help.subcommandDescription(command),
    options: help.visibleOptions(command).map((o) => optionModel(help, o)),
    args: command.registeredArguments.map((a) => ({ name: a.name(), kind: kindOf(a.name(), a.argChoices), required: a.required, variadic: a.variadic })),
  };
}

/** The program as completion sees it: its own options, and each visible command. */
function cliModel(program: Command): { options: OptionModel[]; commands: CommandModel[]; topics: { name: string; description: string }[] } {
  const help = program.createHelp();
  const commands = visibleCommands(program).map((c) => commandModel(help, c));
  const topics = [...commands, ...TOPICS.map((t) => ({ name: t.name, description: t.summary }))];
  return { options: help.visibleOptions(program).map((o) => optionModel(help, o)), commands, topics };
}

// bash: a kind is one word: file, dir, jobid, topic, none, or its choices joined by commas.
function bashKind(kind: Kind): string {
  return typeof kind === 'string' ? kind : kind.words.join(',');
}

function bashCommandCase(command: CommandModel): string {
  const opts = command.options.flatMap((o) => o.flags).join(' ');
  // ' --site=file --job-dir=dir ': the options that take a value, and what it is.
  const valued = ` ${command.options.flatMap(({ flags, value }) => (value ? flags.map((f) => `${f}=${bashKind(value.kind)}`) : [])).join(' ')} `;
  // Positional arguments in order; a last variadic one ends with '...'.
  const args = command.args.map((a) => `${bashKind(a.kind)}${a.variadic ? '...' : ''}`).join(' ');
  return `    ${command.name}) opts=${shq(opts)} valued=${shq(valued)} args=${shq(args)} ;;`;
}

function bashScript(program: Command): string {
  const model = cliModel(program);
  const words = (list: { name: string }[]) => shq(list.map((c) => c.name).join(' '));
  return `# bash completion for tre-job ${VERSION}, made by \`tre-job completion bash\`.
# Load it from ~/.bashrc:   source <(tre-job completion bash)
# or save it once:          tre-job completion bash > ~/.local/share/bash-completion/completions/tre-job

# _tre_job_values KIND: COMPREPLY = the values of KIND that start with $cur.
_tre_job_values() {
  case $1 in
    file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    jobid) # your own job records, most recent first; compared as text (compgen -W would expand them)
      compopt -o nosort 2>/dev/null
      local id
      COMPREPLY=()
      while IFS= read -r id; do [[ $id == "$cur"* ]] && COMPREPLY+=("$id"); done < <(command tre-job complete-jobids 2>/dev/null) ;;
    topic) mapfile -t COMPREPLY < <(compgen -W ${words(model.topics)} -- "$cur") ;;
    none | '') COMPREPLY=() ;;
    *) mapfile -t COMPREPLY < <(compgen -W "\${1//,/ }" -- "$cur") ;;
  esac
}

_tre_job() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local opts valued args opt='' kind rest word i n=0
  local -a kinds
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W ${shq(model.options.flatMap((o) => o.flags).join(' '))} -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W ${words(model.commands)} -- "$cur")
    fi
    return
  fi
  case \${COMP_WORDS[1]} in
${model.commands.map(bashCommandCase).join('\n')}
    *) return ;;
  esac
  # The option whose value this is: --opt VALUE, or --opt=VALUE (which bash splits at the =).
  if [[ $cur == = ]]; then
    opt=$prev cur=''
  elif [[ $prev == = ]]; then
    opt=\${COMP_WORDS[COMP_CWORD-2]}
  elif [[ $prev == -* ]]; then
    opt=$prev
  fi
  rest=\${valued#* "$opt="}
  if [[ -n $opt && $rest != "$valued" ]]; then
    _tre_job_values "\${rest%% *}"
    return
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    return
  fi
  # Which positional argument this is: count the words before it that are not options or their values.
  for ((i = 2; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ $word == -* ]]; then
      if [[ $valued == *" $word="* ]]; then
        ((i++))
        [[ \${COMP_WORDS[i]} == = ]] && ((i++))
      fi
    else
      ((n++))
    fi
  done
  read -ra kinds <<<"$args"
  kind=\${kinds[n]:-}
  [[ -z $kind && $args == *... ]] && kind=\${args##* }
  if [[ -n $kind ]]; then
    _tre_job_values "\${kind%...}"
  else
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  fi
}
complete -F _tre_job tre-job
`;
}

// zsh: the quoting of _arguments' specs and _describe's NAME:DESCRIPTION items.
const zq = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;
const zshBracketed = (text: string) => text.replace(/\\/g, '\\\\').replace(/[[\]]/g, '\\$&');
const zshItem = (name: string, description: string) => zq(`${name.replace(/:/g, '\\:')}:${description}`);

function zshAction(kind: Kind): string {
  if (typeof kind !== 'string') return `(${kind.words.join(' ')})`;
  return { file: '_files', dir: '_files -/', jobid: '_tre_job_jobids', topic: '_tre_job_topics', none: ' ' }[kind];
}

/** `exclusion`: what the option rules out (default: its other spelling, as -h and --help). */
function zshOptionSpecs(option: OptionModel, exclusion = option.flags.length > 1 ? `(${option.flags.join(' ')})` : ''): string[] {
  // A long option's value may follow = or a space; a short one's may be joined to it.
  const value = option.value ? `:${option.value.name}:${zshAction(option.value.kind)}` : '';
  return option.flags.map((flag) => zq(`${exclusion}${flag}${option.value ? (flag.startsWith('--') ? '=' : '+') : ''}[${zshBracketed(option.description)}]${value}`));
}

function zshArgSpecs(command: CommandModel): string[] {
  return command.args.map((arg, index) => zq(`${arg.variadic ? '*' : String(index + 1)}:${arg.required || arg.variadic ? '' : ':'}${arg.name}:${zshAction(arg.kind)}`));
}

function zshScript(program: Command): string {
  const model = cliModel(program);
  const indent = (lines: string[], spaces: number) => lines.map((line) => `${' '.repeat(spaces)}${line}`).join(' \\\n');
  const cases = model.commands
    .map((c) => `        ${c.name})\n          _arguments -s \\\n${indent([...c.options.flatMap((o) => zshOptionSpecs(o)), ...zshArgSpecs(c)], 12)} ;;`)
    .join('\n');
  return `#compdef tre-job
# zsh completion for tre-job ${VERSION}, made by \`tre-job completion zsh\`.
# Install it:  tre-job completion zsh > ~/.zfunc/_tre-job
#              with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc
# or load it from ~/.zshrc, after compinit:  source <(tre-job completion zsh)

# Your own job records, most recent first, with their names.
_tre_job_jobids() {
  local -a ids
  ids=(\${(f)"$(_call_program jobids tre-job complete-jobids --describe 2>/dev/null)"})
  _describe -V -t jobids 'job id' ids
}

_tre_job_topics() {
  local -a topics
  # $commands is _tre_job's, the caller's (zsh scopes locals dynamically).
  topics=(
    $commands
${TOPICS.map((t) => `    ${zshItem(t.name, t.summary)}`).join('\n')}
  )
  _describe -t topics 'command or topic' topics
}

_tre_job() {
  local curcontext=$curcontext state line
  local -a commands
  commands=(
${model.commands.map((c) => `    ${zshItem(c.name, c.description)}`).join('\n')}
  )
  _arguments -C \\
${indent([...model.options.flatMap((o) => zshOptionSpecs(o, '(- *)')), "'1:command:->command'", "'*::argument:->argument'"], 4)}
  case $state in
    command) _describe -t commands 'tre-job command' commands ;;
    argument)
      curcontext=\${curcontext%:*:*}:tre-job-$line[1]:
      case $line[1] in
${cases}
      esac ;;
  esac
}

if [[ $funcstack[1] == _tre-job ]]; then
  _tre_job "$@"
else
  compdef _tre_job tre-job
fi
`;
}

/** `tre-job completion [bash|zsh]`. */
export function completionCommand(program: Command, shell: 'bash' | 'zsh' = 'bash'): string {
  return shell === 'zsh' ? zshScript(program) : bashScript(program);
}

/**
 * `tre-job complete-jobids`: the job ids of the user's own job records, most recent first, one a
 * line (`--describe`: `ID:NAME, submitted TIME`, for zsh). It runs on each TAB, so it asks Slurm
 * nothing, and on any error it prints nothing rather than a message into the command line.
 */
export function completeJobIdsCommand(options: { describe?: boolean }): string {
  try {
    const seen = new Set<string>();
    const lines = listJobRecords(loadSite().jobsDir)
      .reverse()
      .flatMap((record) => {
        // Only what a Slurm job id can be: a record is a file, and the shell reads these lines.
        if (record.jobId === null || !JOB_ID.test(record.jobId) || seen.has(record.jobId)) return [];
        seen.add(record.jobId);
        return [options.describe ? `${record.jobId}:${escapeControls(`${record.jobName}, submitted ${record.submittedAt.slice(0, 16).replace('T', ' ')}`)}` : record.jobId];
      });
    return lines.map((line) => `${line}\n`).join('');
  } catch {
    return '';
  }
}
