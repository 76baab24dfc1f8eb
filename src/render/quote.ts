// The one place where values become bash words. Every user value reaches the
// generated script through shq (literal) or shqExpand (literal except ${VAR}).

/** Bash cannot hold a NUL byte in a word, argv or the environment: reject it early. */
export function assertNoNul(value: string, what = 'value'): void {
  if (value.includes('\0')) throw new Error(`${what} contains a NUL byte`);
}

/**
 * Quote a string as one literal bash word: single quotes, each ' written as '\''.
 * A carriage return is written as $'\r' outside the quotes: sbatch refuses a script that
 * holds a CR LF pair ("DOS line breaks"), and the value must still arrive byte-exact.
 */
export function shq(value: string): string {
  assertNoNul(value);
  return `'${value.replace(/'/g, `'\\''`).replace(/\r/g, () => `'$'\\r''`)}'`;
}

/** A word for a command line the user reads or pastes: as written when no shell would change it, else shq'd. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9._:@/+-]+$/.test(value) ? value : shq(value);
}

// ${NAME} or $NAME (a back-end variable), or \$ (a literal dollar sign).
const EXPANSION = /\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Quote a string as one bash word in which only ${NAME} and $NAME expand, on the back-end,
 * at run time; everything else (including $(...), backticks, globs, spaces) stays literal.
 * `\$` gives a literal `$`. An unset variable expands to the empty string.
 * Example: `pre-${USER}-$(id)` becomes `'pre-'"${USER-}"'-$(id)'`.
 */
export function shqExpand(value: string): string {
  assertNoNul(value);
  const words: string[] = [];
  let literal = '';
  let last = 0;
  for (const match of value.matchAll(EXPANSION)) {
    literal += value.slice(last, match.index);
    last = match.index + match[0].length;
    const name = match[1] ?? match[2];
    if (name === undefined) {
      literal += '$';
      continue;
    }
    if (literal !== '') words.push(shq(literal));
    literal = '';
    words.push(`"\${${name}-}"`);
  }
  literal += value.slice(last);
  if (literal !== '' || words.length === 0) words.push(shq(literal));
  return words.join('');
}

/** The names a value refers to as ${NAME}/$NAME (for documentation and tests). */
export function referencedVariables(value: string): string[] {
  const names: string[] = [];
  for (const match of value.matchAll(EXPANSION)) {
    const name = match[1] ?? match[2];
    if (name !== undefined) names.push(name);
  }
  return names;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A bash assignment word `NAME=value`, the value through shqExpand; the name must be a valid bash name. */
export function shAssign(name: string, value: string, prefix = ''): string {
  if (!NAME.test(prefix + name)) throw new Error(`"${prefix + name}" is not a valid variable name`);
  return `${prefix}${name}=${shqExpand(value)}`;
}

// Slurm reads #SBATCH lines with its own tokenizer and never through a shell: validate
// rather than escape, so that no value can split a directive or start a new line.
const DIRECTIVE = /^--[a-z][a-z-]*=[A-Za-z0-9._:@/%+=,-]+$/;

/** An `#SBATCH` option, checked to be a single safe token. */
export function sbatchDirective(option: string): string {
  if (!DIRECTIVE.test(option)) throw new Error(`unsafe #SBATCH option ${JSON.stringify(option)}`);
  return option;
}
