// Cross-checks of a spec against the site's policy, giving the Job the renderer uses.
import { InputError, Problems } from '../errors';
import { didYouMean } from '../suggest';
import { checkRunnerArgs, MountSource } from '../policy';
import { reservedEnvNames } from '../service';
import { referencedVariables } from '../render/quote';
import type { Site } from '../site/schema';
import { displayName, ImageRef, parseImageRef, pinnedReference, pullReference } from './image';
import { EnvVar, normalizeEnv, specBaseDir, withLines } from './load';
import { JobArray, resolveArray } from './array';
import { JobSpec, TIME } from './schema';

/**
 * A validated job: every field checked and every default applied. The spec's fields pass
 * through as they are, so a new spec field reaches the templates (as job.FIELD) with no copy;
 * the fields below are the ones resolved against the site or derived.
 */
export interface Job extends Omit<JobSpec, 'image' | 'runtime' | 'registry' | 'name' | 'env' | 'time' | 'partition' | 'array'> {
  runtime: 'podman' | 'apptainer';
  image: ImageRef;
  /** What the runtime pulls (the site's pullHost applied). */
  pullRef: string;
  /** `HOST/PATH@sha256:...` when the image is pinned by digest (see pinnedReference). */
  pinnedRef?: string;
  /** Registry host to log in to (the pull host). */
  registryHost: string;
  insecureRegistry: boolean;
  registryUsername?: string;
  /** `name:tag`: the Slurm job name. */
  jobName: string;
  containerName?: string;
  time: string;
  partition?: string;
  env: EnvVar[];
  /** Host paths the user's runner arguments mount (the job resolves them again before the container starts). */
  mountSources: MountSource[];
  /** A Slurm job array's tasks; null for a single job. */
  array: JobArray | null;
  /** Things that are allowed but probably not meant, one line each (printed on stderr). */
  warnings: string[];
}

export function seconds(time: string): number {
  const [, h, m, s] = TIME.exec(time) ?? [];
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}

/** Check `spec` against `site`; every problem found is reported, one line each (InputError). */
export function resolveJob(spec: JobSpec, site: Site): Job {
  const problems = new Problems();
  const image = problems.attempt(() => {
    try {
      return parseImageRef(spec.image);
    } catch (err) {
      throw new InputError('image', (err as Error).message);
    }
  });
  const registry = image && site.registries.find((candidate) => candidate.host === image.host);
  if (image && !registry) {
    const allowed = site.registries.map((r) => r.host);
    problems.add('image', `registry ${image.host} is not allowed here (allowed: ${allowed.join(', ')})${didYouMean(image.host, allowed)}`);
  }
  const runtime = spec.runtime ?? site.defaultRuntime;
  if (spec.reuseSif && runtime !== 'apptainer') problems.add('reuseSif', 'only applies to runtime apptainer');
  if (spec.name !== undefined && runtime !== 'podman') problems.add('name', 'only applies to runtime podman');
  const time = spec.time ?? site.maxTime;
  if (seconds(time) === 0) problems.add('time', 'must be more than 00:00:00');
  if (seconds(time) > seconds(site.maxTime)) problems.add('time', `${time} is over the site maximum ${site.maxTime}`);
  if (spec.cpus !== undefined && site.maxCpus !== undefined && spec.cpus > site.maxCpus) problems.add('cpus', `${spec.cpus} is over the site maximum ${site.maxCpus}`);
  if (spec.memoryGiB !== undefined && site.maxMemoryGiB !== undefined && spec.memoryGiB > site.maxMemoryGiB) {
    problems.add('memoryGiB', `${spec.memoryGiB} is over the site maximum ${site.maxMemoryGiB}`);
  }
  if (spec.gpu && !site.gpuGres) problems.add('gpu', 'this site has no GPUs');
  const mountSources = problems.attempt(() => checkRunnerArgs(runtime, spec.runnerArgs, site));
  const env = normalizeEnv(spec.env, problems);
  if (spec.service) {
    const reserved = reservedEnvNames(spec.service);
    for (const clash of env.filter((e) => reserved.includes(e.name))) {
      problems.add(clash.field, `${clash.name} is set by tre-job for a ${spec.service} service (reserved: ${reserved.join(', ')})`);
    }
  }
  const array = resolveArray(spec, site, env, problems, specBaseDir(spec));
  if (!image || !registry || !mountSources || !problems.empty) throw withLines(problems.error(), spec);
  const registryHost = registry.pullHost ?? registry.host;
  const partition = spec.partition ?? site.partition;
  const { image: _image, runtime: _runtime, registry: _registry, name: _name, env: _env, time: _time, partition: _partition, array: _array, ...passthrough } = spec;
  return {
    ...passthrough,
    runtime,
    image,
    pullRef: pullReference(image, registryHost),
    ...(image.digest ? { pinnedRef: pinnedReference(image, registryHost) } : {}),
    registryHost,
    insecureRegistry: registry.insecure,
    ...(spec.registry ? { registryUsername: spec.registry.username } : {}),
    jobName: displayName(image),
    ...(spec.name !== undefined ? { containerName: spec.name } : {}),
    time,
    ...(partition !== undefined ? { partition } : {}),
    env,
    array,
    mountSources,
    warnings: [...expansionWarnings(spec, env), ...timeWarnings(time, site)],
  };
}

/**
 * ${NAME} in args and env expands on the back-end, when the job starts, where a name the spec
 * sets in env is not set (env reaches the container only): `sh -c 'cat $INPUT'` with INPUT in
 * env would get an empty value. Warn; `\$NAME` passes it to the container's shell instead.
 */
function expansionWarnings(spec: JobSpec, env: EnvVar[]): string[] {
  const names = new Set(env.map((e) => e.name));
  const values: [string, string, string | null][] = [
    ...spec.args.map((value, i): [string, string, string | null] => [`args.${i}`, value, null]),
    ...env.map((e): [string, string, string | null] => [e.field, e.value, e.name]),
  ];
  return values.flatMap(([field, value, self]) =>
    [...new Set(referencedVariables(value))]
      .filter((name) => names.has(name) && name !== self)
      .map((name) => `${field}: \${${name}} expands on the back-end before the container starts, where ${name} (set in env) is not set; write \\$${name} if the container's shell should expand it`),
  );
}

/** The job cleans up signalGraceSeconds before its limit: say so when that takes over a quarter of the limit. */
function timeWarnings(time: string, site: Site): string[] {
  const run = seconds(time) - site.signalGraceSeconds;
  if (seconds(time) >= 4 * site.signalGraceSeconds) return [];
  return [`time: the job starts cleaning up ${site.signalGraceSeconds} s before its limit (the site's signalGraceSeconds), so ${time} leaves the container about ${Math.max(0, run)} s`];
}
