// What a container runtime is to tre-job. Everything that differs between Podman and Apptainer
// lives in one driver each (runtimes/podman.ts, runtimes/apptainer.ts) and its three partials
// (templates/partials/RUNTIME-{cleanup,pull,launch}.hbs); the policy, the renderer and `gc`
// ask the driver. A new runtime is one driver, its partials and one enum value in the spec.
import type { Site } from '../site/schema';
import type { Job } from '../jobspec/resolve';
import type { Mount } from './mount-syntax';
import type { RunnerOption, Runtime } from './options';

/** One option as the runtime reads it: which option, the value (if it takes one), and where it came from. */
export interface ParsedOption {
  option: RunnerOption;
  value: string | undefined;
  /** runnerArgs.N of the word the option starts in. */
  field: string;
  /** The words as written, for messages. */
  written: string;
}

/** How the spec's env reaches the container: as `FLAG NAME=VALUE` words, or exported as PREFIXNAME. */
export type EnvPassing = { flag: string } | { prefix: string };

export interface RuntimeDriver {
  readonly name: Runtime;
  /** What the user's runner arguments are given to, for messages (`podman run`). */
  readonly runCommand: string;
  /** The documented options of `run` (options.ts). */
  readonly options: readonly RunnerOption[];
  /** Options refused by default (by long name), with why. */
  readonly denied: Readonly<Record<string, string>>;
  /** Options that make a host path visible somewhere not of the user's choosing (no target to check). */
  readonly targetless: readonly string[];
  /** The flag a site's forced mount is given with. */
  readonly mountFlag: string;
  readonly env: EnvPassing;
  /** The container takes the umask of the process that starts it (else the runtime sets it by a flag). */
  readonly inheritsUmask: boolean;
  /** The runtime's command as the site names it. */
  command(site: Site): string;
  /** The mounts one parsed option with a value makes, as the runtime reads it ([] if it mounts nothing). */
  mountsOf(parsed: ParsedOption, value: string): Mount[];
  /** Values only this runtime's partials use (the image to run, SIF names, ...). */
  templateData(job: Job): Record<string, unknown>;
  /**
   * `gc`: reclaim one ledger entry of a kind this runtime records; returns what was removed
   * (null: nothing, or not this runtime's kind).
   */
  reclaim(kind: string, what: string, home: string, site: Site): string | null;
  /** `gc`: remove a tree a container may have filled with files it cannot delete as the user. */
  removeTree(path: string, site: Site): void;
}
