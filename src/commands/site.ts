// `tre-job site`: what this site allows, for a researcher. Everything here is read from the
// loaded site, the runtimes' option tables, the policy's path lists and the spec's schema, so
// that it cannot say something the checks do not do.
import { toJSONSchema } from 'zod/mini';
import { jobSpecSchema } from '../jobspec/schema';
import { SYSTEM_PATHS, SYSTEM_TREES } from '../policy';
import { cliFacts, deniedOptions, RUNNER_OPTIONS, Runtime } from '../runtimes/options';
import { loadSite } from '../site/load';
import type { Site } from '../site/schema';

/** The spec fields' choices and help as `tre-job schema` prints them. */
interface SpecField {
  enum?: string[];
  default?: unknown;
  description?: string;
}

export function specFields(): Record<string, SpecField> {
  return (toJSONSchema(jobSpecSchema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, SpecField> }).properties;
}

export const RUNTIMES = Object.keys(RUNNER_OPTIONS) as Runtime[];

/** A runtime's options refused by default, grouped by why, in the table's order. */
function refusedByReason(runtime: Runtime): { reason: string; flags: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const [flag, reason] of Object.entries(deniedOptions(runtime))) groups.set(reason, [...(groups.get(reason) ?? []), flag]);
  return [...groups].map(([reason, flags]) => ({ reason, flags }));
}

/** The site as `tre-job site --json` prints it (the keys are documented in the README). */
export function describeSite(site: Site, source: string | null) {
  const fields = specFields();
  return {
    source: source ?? 'built-in',
    registries: site.registries.map((r) => ({ host: r.host, pullHost: r.pullHost ?? null, insecure: r.insecure })),
    runtimes: RUNTIMES,
    defaultRuntime: site.defaultRuntime,
    limits: {
      maxTime: site.maxTime,
      defaultTime: site.maxTime,
      maxCpus: site.maxCpus ?? null,
      maxMemoryGiB: site.maxMemoryGiB ?? null,
      maxArrayTasks: site.maxArrayTasks,
      gpuGres: site.gpuGres ?? null,
      partition: site.partition ?? null,
    },
    runnerArgs: {
      mode: site.runnerArgs.mode,
      allow: site.runnerArgs.allow,
      deny: site.runnerArgs.deny,
      // The built-in list applies in deny mode only: in allow mode the allow list is the rule.
      refused: Object.fromEntries(RUNTIMES.map((rt) => [rt, site.runnerArgs.mode === 'deny' ? refusedByReason(rt) : []])) as Record<Runtime, { reason: string; flags: string[] }[]>,
      forced: site.forcedRunnerArgs,
      forcedMounts: site.forcedMounts,
      systemPaths: SYSTEM_PATHS,
      systemTrees: SYSTEM_TREES,
    },
    safeData: {
      root: site.safeDataRoot,
      projectGroupPrefix: site.projectGroupPrefix,
      modes: fields.safeData?.enum ?? [],
      defaultMode: fields.safeData?.default ?? null,
    },
    services: {
      kinds: fields.service?.enum ?? [],
      ports: site.servicePorts,
      timeoutSeconds: site.serviceTimeoutSeconds,
    },
    signalGraceSeconds: site.signalGraceSeconds,
    jobsDir: site.jobsDir,
    home: site.home,
  };
}

type Described = ReturnType<typeof describeSite>;

/** A titled block of `key: value` lines with the values aligned. */
function section(title: string, rows: [string, string][]): string {
  const width = Math.max(...rows.map(([key]) => key.length)) + 2;
  return `${title}\n${rows.map(([key, value]) => `  ${`${key}:`.padEnd(width)}${value}`).join('\n')}\n`;
}

const list = (items: readonly string[], none = 'none') => (items.length ? items.join(' ') : none);
const partitionLimit = 'no site limit (the partition\'s)';

/** How a registry is pulled, in words. */
export function pulledFrom(registry: { host: string; pullHost: string | null; insecure: boolean }): string {
  const how = [registry.pullHost && registry.pullHost !== registry.host ? `pulled from ${registry.pullHost} (the port is added for you; write images without it)` : 'pulled as written'];
  if (registry.insecure) how.push('plain HTTP (a loopback test registry)');
  return how.join('; ');
}

/** How a project directory is found, in words. */
export function projectRule(root: string, prefix: string): string {
  const group = prefix ? `group X or ${prefix}-X` : 'group X or any group ending in -X';
  return `$HOME/safe_data if it exists, else ${root}/X where you are in ${group}`;
}

function runnerArgRows(d: Described): [string, string][] {
  const r = d.runnerArgs;
  const commands = RUNTIMES.map((rt) => cliFacts(rt).runCommand).join(' / ');
  const mounts = r.forcedMounts.map((m) => `${m.source} at ${m.target}${m.readOnly ? ' (read-only)' : ''}`);
  return [
    r.mode === 'deny'
      ? ['mode', `deny: any documented option of ${commands}, except those refused below`]
      : ['mode', `allow: only these options of ${commands} (long or short form): ${list(r.allow)}`],
    ['refused by the site', list(r.deny)],
    ['mounts', `not over tre-job's own (safe data, outputs, scratch) or over ${[d.safeData.root, ...r.forcedMounts.map((m) => m.target)].join(', ')}; no source under ${d.safeData.root}`],
    ['system paths', `never mounted: ${SYSTEM_PATHS.join(' ')}, nor anything under ${SYSTEM_TREES.join(' ')}`],
    ...RUNTIMES.map((rt): [string, string] => [`forced, ${rt}`, r.forced[rt].length ? `${r.forced[rt].join(' ')} (after yours)` : 'none']),
    ['forced mounts', mounts.length ? mounts.join(', ') : 'none'],
  ];
}

/** The built-in refusals of one runtime, one line per reason (deny mode only). */
function refusedSections(d: Described): string[] {
  return RUNTIMES.filter((rt) => d.runnerArgs.refused[rt].length).map((rt) =>
    section(`Refused ${cliFacts(rt).runCommand} options, and why`, d.runnerArgs.refused[rt].map(({ reason, flags }): [string, string] => [reason, flags.join(' ')])),
  );
}

function text(d: Described): string {
  const l = d.limits;
  const modes = (specFields().safeData?.description ?? '').replace(/ Default: .*$/, '');
  return [
    `Site: ${d.source === 'built-in' ? 'built-in defaults (--site FILE or $TRE_JOB_SITE for another)' : d.source}\n`,
    section(
      'Registries (images may come only from these; write HOST/PATH:TAG)',
      d.registries.map((r): [string, string] => [r.host, pulledFrom(r)]),
    ),
    section('Runtimes (runtime:)', RUNTIMES.map((rt): [string, string] => [rt, rt === d.defaultRuntime ? `${cliFacts(rt).runCommand} (default)` : cliFacts(rt).runCommand])),
    section('Limits', [
      ['time', `at most ${l.maxTime}, which is also the default (time: HH:MM:SS)`],
      ['cpus', l.maxCpus === null ? partitionLimit : `at most ${l.maxCpus}`],
      ['memoryGiB', l.maxMemoryGiB === null ? partitionLimit : `at most ${l.maxMemoryGiB}`],
      ['array', `at most ${l.maxArrayTasks} tasks (array: count, items or itemsFile)`],
      ['gpu', l.gpuGres === null ? 'no GPUs' : `gpu: true asks for --gres=${l.gpuGres}`],
      ['partition', l.partition === null ? "Slurm's default" : `${l.partition} unless the spec names another`],
    ]),
    section('Runner arguments (runnerArgs:)', runnerArgRows(d)),
    ...refusedSections(d),
    section('Safe data', [
      ['root', d.safeData.root],
      ['project', projectRule(d.safeData.root, d.safeData.projectGroupPrefix)],
      ['safeData', modes],
    ]),
    section(`Services (service: ${d.services.kinds.join(' | ')})`, [
      ['ports', `${d.services.ports.min}-${d.services.ports.max}`],
      ['start-up', `the service must answer HTTP within ${d.services.timeoutSeconds} s`],
    ]),
    section('Jobs', [
      ['clean-up', `starts ${d.signalGraceSeconds} s before the time limit`],
      ['job dirs', d.jobsDir.startsWith('/') ? d.jobsDir : `$HOME/${d.jobsDir}`],
      [
        'home',
        d.home === 'shared'
          ? "this host's: jobs write their outputs and logs where you submit them"
          : `the back-end's own, on ${d.home.ssh}: submit copies the job dir there over ssh (your key: ssh-keygen, then ssh-copy-id ${d.home.ssh}); outputs and logs stay there; no services`,
      ],
    ]),
  ].join('\n');
}

export function siteCommand(options: { site?: string; json?: boolean }): string {
  const site = loadSite(options.site);
  // As loadSite chooses: the flag, else $TRE_JOB_SITE, else the built-in defaults.
  const described = describeSite(site, options.site ?? (process.env.TRE_JOB_SITE || null));
  return options.json ? `${JSON.stringify(described, null, 2)}\n` : text(described);
}
