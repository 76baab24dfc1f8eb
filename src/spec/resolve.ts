// Cross-checks of a spec against the site's policy, giving the Job the renderer uses.
import { InputError } from '../errors';
import { checkRunnerArgs } from '../policy';
import type { Site } from '../site/schema';
import { displayName, ImageRef, parseImageRef, pullReference } from './image';
import { EnvVar, normalizeEnv } from './load';
import { JobSpec, TIME } from './schema';

/** A validated job: every field checked and every default applied. */
export interface Job {
  runtime: 'podman' | 'apptainer';
  image: ImageRef;
  /** What the runtime pulls (the site's pullHost applied). */
  pullRef: string;
  /** Registry host to log in to (the pull host). */
  registryHost: string;
  insecureRegistry: boolean;
  registryUsername?: string;
  /** `name:tag`: the Slurm job name. */
  jobName: string;
  containerName?: string;
  cpus?: number;
  memoryGiB?: number;
  time: string;
  partition?: string;
  gpu: boolean;
  env: EnvVar[];
  args: string[];
  runnerArgs: string[];
  reuseSif: boolean;
  safeData: JobSpec['safeData'];
  safeDataMount: string;
  service?: JobSpec['service'];
}

export function seconds(time: string): number {
  const [, h, m, s] = TIME.exec(time) ?? [];
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}

export function resolveJob(spec: JobSpec, site: Site): Job {
  let image: ImageRef;
  try {
    image = parseImageRef(spec.image);
  } catch (err) {
    throw new InputError('image', (err as Error).message);
  }
  const registry = site.registries.find((candidate) => candidate.host === image.host);
  if (!registry) {
    const allowed = site.registries.map((r) => r.host).join(', ');
    throw new InputError('image', `registry ${image.host} is not allowed here (allowed: ${allowed})`);
  }
  const runtime = spec.runtime ?? site.defaultRuntime;
  if (spec.reuseSif && runtime !== 'apptainer') throw new InputError('reuseSif', 'only applies to runtime apptainer');
  if (spec.name !== undefined && runtime !== 'podman') throw new InputError('name', 'only applies to runtime podman');
  const time = spec.time ?? site.maxTime;
  if (seconds(time) === 0) throw new InputError('time', 'must be more than 00:00:00');
  if (seconds(time) > seconds(site.maxTime)) throw new InputError('time', `${time} is over the site maximum ${site.maxTime}`);
  if (spec.gpu && !site.gpuGres) throw new InputError('gpu', 'this site has no GPUs');
  checkRunnerArgs(runtime, spec.runnerArgs, site);
  const registryHost = registry.pullHost ?? registry.host;
  const partition = spec.partition ?? site.partition;
  return {
    runtime,
    image,
    pullRef: pullReference(image, registryHost),
    registryHost,
    insecureRegistry: registry.insecure,
    ...(spec.registry ? { registryUsername: spec.registry.username } : {}),
    jobName: displayName(image),
    ...(spec.name !== undefined ? { containerName: spec.name } : {}),
    ...(spec.cpus !== undefined ? { cpus: spec.cpus } : {}),
    ...(spec.memoryGiB !== undefined ? { memoryGiB: spec.memoryGiB } : {}),
    time,
    ...(partition !== undefined ? { partition } : {}),
    gpu: spec.gpu,
    env: normalizeEnv(spec.env),
    args: spec.args,
    runnerArgs: spec.runnerArgs,
    reuseSif: spec.reuseSif,
    safeData: spec.safeData,
    safeDataMount: spec.safeDataMount,
    ...(spec.service ? { service: spec.service } : {}),
  };
}
