import type { CommandUnknownOpts as Command } from '@commander-js/extra-typings';
import { shq } from '../render/quote';

/** A bash completion script generated from the CLI's own commands and options. */
export function completionCommand(program: Command): string {
  const commands = program.commands.map((c) => c.name());
  const cases = program.commands
    .map((c) => `    ${c.name()}) opts=${shq(c.options.map((o) => o.long).filter(Boolean).concat('--help').join(' '))} ;;`)
    .join('\n');
  return `# bash completion for tre-job: source it, or save it as /etc/bash_completion.d/tre-job
_tre_job() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts=''
  if ((COMP_CWORD == 1)); then
    mapfile -t COMPREPLY < <(compgen -W ${shq(commands.join(' '))} -- "$cur")
    return
  fi
  case \${COMP_WORDS[1]} in
${cases}
  esac
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -o filenames -F _tre_job tre-job
`;
}
