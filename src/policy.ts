// The site's policy for runner arguments: what a user may add to `podman run` or
// `apptainer run`. The user's words are parsed exactly as the runtime parses them (spf13/pflag:
// `--flag=V`, `--flag V`, `-fV`, `-f=V`, `-abf V`), so that no spelling escapes a rule; a word
// that is not a documented option of the runtime is refused. Then: a deny-list that blocks
// privilege, host namespaces, other images, environment overrides and mounts over the
// safe-haven directories or of system paths (paths normalised first); or, where the site says
// so, only the flags it allows. Forced flags and mounts come after the user's, so they win.
// A mount source can be a symlink: the job resolves every user mount source on the back-end
// before the container starts (mountSources() gives the template what to check).
import { posix } from 'node:path';
import { InputError } from './errors';
import { driverFor } from './runtimes';
import type { ParsedOption } from './runtimes/driver';
import type { RunnerOption, Runtime } from './runtimes/options';
import type { Site } from './site/schema';

export type { ParsedOption } from './runtimes/driver';

/** Host paths never mounted by hand: these exactly, or anything under the second list. */
export const SYSTEM_PATHS = ['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var'];
export const SYSTEM_TREES = ['/boot', '/dev', '/etc', '/proc', '/root', '/run', '/sys', '/usr', '/var'];

export interface ForcedMount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** A host path a user mount makes visible, for the job's symlink check. */
export interface MountSource {
  field: string;
  /** As written (may start with ${HOME}); the job expands and resolves it. */
  source: string;
}

const within = (path: string, root: string) => path === root || path.startsWith(root === '/' ? '/' : `${root}/`);

/** `.`, `..`, `//` and a trailing `/` resolved the way the kernel reads a path without symlinks. */
export function normalPath(path: string): string {
  return posix.normalize(path).replace(/(.)\/+$/, '$1');
}

const optionIndex = new Map<Runtime, { long: Map<string, RunnerOption>; short: Map<string, RunnerOption> }>();
function options(runtime: Runtime) {
  let index = optionIndex.get(runtime);
  if (!index) {
    index = { long: new Map(), short: new Map() };
    for (const option of driverFor(runtime).options) {
      index.long.set(option.long, option);
      if (option.short) index.short.set(option.short, option);
    }
    optionIndex.set(runtime, index);
  }
  return index;
}

/** A site's flag name (long or short) as the option's long name. */
function canonical(runtime: Runtime, flag: string): string {
  return options(runtime).short.get(flag)?.long ?? flag;
}

/** A boolean switch's value written with `=` must be one Go's strconv.ParseBool accepts. */
const BOOL_VALUES = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * Parse runner arguments as spf13/pflag does for `podman run` / `apptainer run`. Every word
 * must be an option: a word that is not (an image, a command, `--`) would replace the approved image.
 */
export function parseRunnerArgs(runtime: Runtime, args: string[]): ParsedOption[] {
  const { long, short } = options(runtime);
  const parsed: ParsedOption[] = [];
  const name = driverFor(runtime).runCommand;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    const field = `runnerArgs.${i}`;
    if (!word.startsWith('-') || word === '-' || word === '--') {
      throw new InputError(field, `"${word}" is not an option: runner arguments come before the image, so an image or command here would replace the approved one`);
    }
    // The next word as a value (pflag takes it whatever it looks like).
    const next = (flag: string): string => {
      const value = args[i + 1];
      if (value === undefined) throw new InputError(field, `${flag} needs a value`);
      i++;
      return value;
    };
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const flag = eq < 0 ? word : word.slice(0, eq);
      const option = long.get(flag);
      if (!option) {
        const spaced = flag.split(' ')[0] as string;
        if (flag.includes(' ') && long.has(spaced)) throw new InputError(field, `"${word}": give ${spaced} and its value as two items, or write ${spaced}=VALUE`);
        throw new InputError(field, `${flag} is not an option of ${name} (or is not one tre-job knows)`);
      }
      let value: string | undefined = eq < 0 ? undefined : word.slice(eq + 1);
      if (value === undefined && option.takesValue && !option.optionalValue) value = next(flag);
      if (value !== undefined && !option.takesValue && !BOOL_VALUES.has(value)) throw new InputError(field, `${flag} is a switch: ${word} is not true or false`);
      parsed.push({ option, value, field, written: value !== undefined && eq < 0 ? `${flag} ${value}` : word });
      continue;
    }
    // Short options: -abc is -a -b -c while they are switches; the first that takes a value
    // takes the rest of the word (after an optional '='), or else the next word.
    let rest = word.slice(1);
    while (rest !== '') {
      const flag = `-${rest[0]}`;
      const option = short.get(flag);
      if (!option) throw new InputError(field, `${flag} (in ${word}) is not an option of ${name} (or is not one tre-job knows)`);
      let value: string | undefined;
      let fromNext = false;
      if (rest.length > 2 && rest[1] === '=') {
        value = rest.slice(2);
        rest = '';
      } else if (!option.takesValue || option.optionalValue) {
        rest = rest.slice(1);
      } else if (rest.length > 1) {
        value = rest.slice(1);
        rest = '';
        if (value.startsWith(' ')) throw new InputError(field, `"${word}": give ${flag} and its value as two items, or write ${flag}VALUE`);
      } else {
        value = next(flag);
        fromNext = true;
        rest = '';
      }
      if (value !== undefined && !option.takesValue && !BOOL_VALUES.has(value)) throw new InputError(field, `${flag} is a switch: ${word} is not true or false`);
      parsed.push({ option, value, field, written: fromNext ? `${word} ${value}` : word });
    }
  }
  return parsed;
}

const HOME_PREFIX = /^(\$\{HOME\}|\$HOME)(?=\/|$)/;

/** Why a host path (as the job resolves it, or as written with $HOME replaced) may not be mounted, or null. */
export function forbiddenSource(path: string, site: Site): string | null {
  if (SYSTEM_PATHS.includes(path) || SYSTEM_TREES.some((p) => within(path, p))) return `mounting the system path ${path} is not allowed`;
  if (within(path, normalPath(site.safeDataRoot))) return `safe data is mounted by tre-job; ${site.safeDataRoot} cannot be mounted by hand`;
  return null;
}

function checkMount(runtime: Runtime, parsed: ParsedOption, site: Site, sources: MountSource[]): void {
  const { field, written } = parsed;
  const protectedTargets = ['/safe_data', '/safe_outputs', '/scratch', site.safeDataRoot, ...site.forcedMounts.map((m) => m.target)];
  const driver = driverFor(runtime);
  const mounts = parsed.value === undefined ? [] : driver.mountsOf(parsed, parsed.value);
  for (const { source, target } of mounts) {
    if (!driver.targetless.includes(parsed.option.long)) {
      if (!target.startsWith('/')) throw new InputError(field, `${written}: the container path must be absolute`);
      const dst = normalPath(target);
      const covered = protectedTargets.find((p) => within(dst, normalPath(p)) || within(normalPath(p), dst));
      if (covered) throw new InputError(field, `${written}: mounting over ${covered} is not allowed`);
    }
    if (source === null) continue;
    // ${HOME} and $HOME are the only variables a mount source may start with.
    const literal = source.replace(HOME_PREFIX, '/home/USER');
    if (!literal.startsWith('/')) throw new InputError(field, `${written}: the source must be an absolute path or start with \${HOME}`);
    if (/\$/.test(literal.replace(/\\\$/g, ''))) throw new InputError(field, `${written}: the source may use no variable but \${HOME}`);
    const problem = forbiddenSource(normalPath(literal), site);
    if (problem) throw new InputError(field, `${written}: ${problem}`);
    sources.push({ field, source });
  }
}

/**
 * Check the user's runner arguments against the site policy; throws an InputError naming the
 * item and flag. Returns the host paths the user mounts, which the job checks again once
 * symlinks can be resolved (on the back-end, before the container starts).
 */
export function checkRunnerArgs(runtime: Runtime, args: string[], site: Site): MountSource[] {
  const policy = site.runnerArgs;
  const allowed = new Set(policy.allow.map((flag) => canonical(runtime, flag)));
  const denied = new Set(policy.deny.map((flag) => canonical(runtime, flag)));
  const sources: MountSource[] = [];
  for (const parsed of parseRunnerArgs(runtime, args)) {
    const flag = parsed.option.long;
    const { field } = parsed;
    if (policy.mode === 'allow' && !allowed.has(flag)) throw new InputError(field, `${flag} is not allowed by this site (allowed: ${policy.allow.join(' ') || 'none'})`);
    const reason = denied.has(flag) ? 'is denied by the site' : policy.mode === 'deny' ? driverFor(runtime).denied[flag] : undefined;
    if (reason) throw new InputError(field, `${flag} is not allowed here: it ${reason}`);
    checkMount(runtime, parsed, site, sources);
  }
  return sources;
}

/** The site's forced flags and mounts for this runtime, as argv items (placed after the user's). */
export function forcedArgs(runtime: Runtime, site: Site): string[] {
  const { mountFlag } = driverFor(runtime);
  const mounts = site.forcedMounts.flatMap((m) => [mountFlag, `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`]);
  return [...site.forcedRunnerArgs[runtime], ...mounts];
}
