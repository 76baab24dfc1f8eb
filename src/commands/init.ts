// `tre-job init`: a commented starter spec for this site (an allowed registry, the limits) that
// validates as written. The text is checked with the real loader before it is written, so a
// starter that would not validate is a bug that fails here, not in the user's first submit.
import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parse, stringify } from 'yaml';
import { InputError } from '../errors';
import { parseSpec } from '../jobspec/load';
import { parseImageRef } from '../jobspec/image';
import { resolveJob, seconds } from '../jobspec/resolve';
import { shellWord } from '../render/quote';
import { reservedEnvNames, BASE_URL_ENV, PASSWORD_ENV, ServiceKind } from '../service';
import { loadSite } from '../site/load';
import type { Site } from '../site/schema';
import { cliFacts, Runtime } from '../runtimes/options';
import { RUNTIMES, specFields } from './site';

export interface InitOptions {
  service?: string;
  runtime?: string;
  image?: string;
  site?: string;
}

/** The starter's resources: modest, and within the site's limits. */
const STARTER = { cpus: 2, memoryGiB: 4, time: '01:00:00' };

const hhmmss = (total: number) => [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60].map((n) => String(n).padStart(2, '0')).join(':');
/** A value as YAML reads it back (plain when that is safe, else quoted). */
const scalar = (value: string) => stringify(value, { lineWidth: 0 }).trimEnd();

/** A flag's value that must be one of the spec field's choices, named by the flag. */
function choice<T extends string>(flag: string, value: string | undefined, choices: readonly string[]): T | undefined {
  if (value !== undefined && !choices.includes(value)) throw new InputError(flag, `must be one of ${choices.join(', ')}, not "${value}"`);
  return value as T | undefined;
}

/** `key: value` with its one-line comment in a column; `off` writes it commented out. */
const field = (key: string, value: string | number, comment: string, off = false) => `${`${off ? '# ' : ''}${key}: ${value}`.padEnd(28)} # ${comment}`;
const siteLimit = (max: number | undefined) => (max === undefined ? "no site limit (the partition's)" : `at most ${max} here`);

/** The starter spec's text for this site. */
export function starterSpec(site: Site, options: { service?: ServiceKind; runtime?: Runtime; image?: string }): string {
  const runtime = options.runtime ?? site.defaultRuntime;
  const service = options.service;
  const first = site.registries[0] as Site['registries'][number];
  const image = options.image ?? `${first.host}/your-org/your-image:1.0`;
  const imageHost = parseImageRef(image).host;
  const username = registryUsername();
  const time = hhmmss(Math.min(seconds(STARTER.time), seconds(site.maxTime)));
  const runCommand = cliFacts(runtime).runCommand;
  const safeData = specFields().safeData ?? {};
  const lines = [
    `# A tre-job job spec, written by \`tre-job init\` for this site (\`tre-job site\` shows its rules).`,
    `# One comment per field; \`tre-job help spec\` describes every field.`,
    '# In the container, write results to /safe_outputs (kept in ~/outputs-NUMBER after the job)',
    '# and temporary files to /scratch (deleted when the job ends).',
    '',
    options.image
      ? '# The image to run.'
      : `# The image to run: put yours here (HOST/PATH:TAG, lower-case path); HOST is one of: ${site.registries.map((r) => r.host).join(', ')}.`,
    `image: ${scalar(image)}`,
    '',
    `# Your username on ${imageHost} (the access token goes to submit, never in this file).`,
    '# Delete these two lines for a public image pulled without a token.',
    'registry:',
    `  username: ${scalar(username)}`,
    '',
    field('runtime', runtime, `${RUNTIMES.join(' | ')} (this site's default: ${site.defaultRuntime})`),
    ...(runtime === 'podman' ? [field('name', 'my-analysis', 'container name (default: IMAGE-JOBID)', true)] : []),
    ...(runtime === 'apptainer' ? [field('reuseSif', 'false', 'true: reuse $HOME/NAME:TAG.sif from an earlier job instead of pulling again')] : []),
    field('cpus', Math.min(STARTER.cpus, site.maxCpus ?? STARTER.cpus), `CPUs (sbatch --cpus-per-task); ${siteLimit(site.maxCpus)}`),
    field('memoryGiB', Math.min(STARTER.memoryGiB, site.maxMemoryGiB ?? STARTER.memoryGiB), `memory in GiB (sbatch --mem); ${siteLimit(site.maxMemoryGiB)}`),
    field('time', JSON.stringify(time), `wall time HH:MM:SS; at most ${site.maxTime} here (the site's maxTime)`),
    field('partition', site.partition ?? 'NAME', `Slurm partition (default: ${site.partition ?? "Slurm's"})`, true),
    site.gpuGres ? field('gpu', 'true', `ask for a GPU (sbatch --gres=${site.gpuGres})`, true) : '# gpu: this site has no GPUs',
    '',
    ...(service ? serviceLines(site, service) : []),
    "# Environment variables for the container. ${VAR} expands on the back-end; \\$ is a literal $.",
    '# env:',
    ...(service === 'jupyter'
      ? [`#   - ${BASE_URL_ENV}=/node/\${HOSTNAME}/\${TRE_PORT}/   # only behind Open OnDemand's /node/ proxy: the base URL to serve under`]
      : ['#   - GREETING=hello from ${USER}']),
    '',
    service ? '# Arguments for the container, after the port (its first argument), one item each.' : '# Arguments for the container, one item each.',
    '# args: ["first", "second"]',
    '',
    `# Extra ${runCommand} options, one item each (\`tre-job site\` says which are refused here).`,
    '# runnerArgs: []',
    '',
    `# Your project's safe data. ${safeData.description?.replace(/ Default: .*$/, '') ?? ''}`,
    `safeData: ${safeData.default ?? 'auto'}`,
    field('safeDataMount', '/safe_data', `where it appears in the container (default: its own path, under ${site.safeDataRoot})`, true),
  ];
  return `${lines.join('\n')}\n`;
}

/** The user's login name as a first guess at their registry username, if a spec may hold it. */
function registryUsername(): string {
  const name = userInfo().username;
  try {
    parseSpec({ image: 'x', registry: { username: name } });
    return name;
  } catch {
    return 'your-username';
  }
}

function serviceLines(site: Site, service: ServiceKind): string[] {
  const reserved = reservedEnvNames(service);
  return [
    `# An interactive service: the job picks a free port (${site.servicePorts.min}-${site.servicePorts.max}), makes a password (in ${PASSWORD_ENV[service]}),`,
    `# starts the container with the port as its first argument and waits up to ${site.serviceTimeoutSeconds} s for it to answer HTTP.`,
    `# tre-job sets ${reserved.join(', ')}: do not set them in env.`,
    `service: ${service}`,
    '',
  ];
}

/** Check a starter against the real loader and the site; one that fails is tre-job's bug. */
export function checkStarter(text: string, site: Site): void {
  try {
    resolveJob(parseSpec(parse(text)), site);
  } catch (err) {
    throw new Error(`init made a spec that does not validate (a bug in tre-job; please report it): ${(err as Error).message}`);
  }
}

/** Write `file` new (never over an existing file or link), 0600 whatever the umask. */
function writeNew(file: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new InputError(file, 'already exists: give another file name (tre-job init other.yaml) or remove it first');
    throw new InputError(file, `cannot create it: ${code ?? String(err)}`);
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Write the starter to FILE (default job.yaml), or print it for `-`; returns what to print. */
export function initCommand(file: string | undefined, options: InitOptions): string {
  const fields = specFields();
  const service = choice<ServiceKind>('--service', options.service, fields.service?.enum ?? []);
  const runtime = choice<Runtime>('--runtime', options.runtime, RUNTIMES);
  const site = loadSite(options.site);
  if (options.image !== undefined) {
    // The image is checked as a spec's would be, and named by the flag it came from.
    try {
      resolveJob(parseSpec({ image: options.image }), site);
    } catch (err) {
      if (err instanceof InputError) throw new InputError('--image', err.problem);
      throw err;
    }
  }
  const text = starterSpec(site, { ...(service ? { service } : {}), ...(runtime ? { runtime } : {}), ...(options.image !== undefined ? { image: options.image } : {}) });
  checkStarter(text, site);
  if (file === '-') return text;
  const target = file ?? 'job.yaml';
  writeNew(target, text);
  const word = shellWord(target) + (options.site !== undefined ? ` --site ${shellWord(options.site)}` : '');
  const edit = options.image === undefined ? ' (put your image in its image line)' : '';
  return `Wrote ${target}${edit}. Next: tre-job validate ${word}, then tre-job submit ${word} --token-file FILE\n`;
}
