// Everything the templates need, computed here so that templates hold no logic.
import { InputError } from '../errors';
import type { Site } from '../site/schema';
import type { Job } from '../spec/resolve';
import type { EnvVar } from '../spec/load';
import { forcedArgs, MountSource, normalPath, SYSTEM_PATHS, SYSTEM_TREES } from '../policy';
import { BASE_URL_ENV, PASSWORD_ENV } from '../service';
import { seconds } from '../spec/resolve';
import { VERSION } from '../version';

export interface RenderOptions {
  /** Absolute job directory (output.log, credentials). Absent: the directory sbatch runs in. */
  jobDir?: string;
  /** OOD session id: names the container NAME-SESSION instead of NAME-JOBID. */
  session?: string;
}

export interface ScriptContext {
  version: string;
  /** `#SBATCH` options, each one token. */
  directives: string[];
  jobDir: string | null;
  runtimeCommand: string;
  pullRef: string;
  /** What Apptainer pulls: never a tag and a digest together (it refuses them). */
  imageUri: string;
  /** The digest-pinned source a SIF must record to be run (null: not pinned). */
  pinnedRef: string | null;
  registryHost: string;
  insecureRegistry: boolean;
  registryUsername: string | null;
  containerName: string | null;
  containerBaseName: string;
  session: string | null;
  safeData: null | { root: string; groupPrefix: string; required: boolean; mount: string | null };
  gpu: boolean;
  env: EnvVar[];
  /** `NAME=value` as written (podman --env). */
  envPairs: string[];
  args: string[];
  runnerArgs: string[];
  /** The site's forced flags and mounts, after the user's runner arguments. */
  forcedArgs: string[];
  sifName: string;
  reuseSif: boolean;
  /** An interactive service (jupyter, rstudio, http), or null for a batch job. */
  service: null | {
    kind: string;
    /** The variable the password reaches the container in (never argv). */
    passwordEnv: string;
    /** Host directories (under $HOME) mounted over container paths, reused across runs. */
    stateDirs: { home: string; container: string }[];
    timeoutSeconds: string;
    portMin: string;
    portMax: string;
    /** The path the ready URL ends with: the spec's TRE_BASE_URL (expanded on the back-end), else /. */
    baseUrl: string;
  };
  /** The wall time, and when the job starts cleaning up (signalGraceSeconds before it). */
  timeLimit: { time: string; graceSeconds: string; runSeconds: string };
  /** The user's mount sources, checked again on the back-end once symlinks can be resolved. */
  checkMounts: boolean;
  mountSources: MountSource[];
  forbiddenMounts: { paths: string[]; trees: string[] };
  /** Also print the summary as one JSON line. */
  summaryJson: boolean;
  /** The runtime's partials, by section: a new runtime is one enum value plus these files. */
  partials: { cleanup: string; pull: string; exec: string };
}

const SAFE_PATH = /^\/[A-Za-z0-9._/+@-]*$/;
const SESSION = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

// RStudio keeps its state in the home and reuses it (as the service does).
const STATE_DIRS = {
  rstudio: [
    { home: 'rstudio-tmp/var/lib', container: '/var/lib/rstudio-server' },
    { home: 'rstudio-tmp/var/run', container: '/var/run/rstudio-server' },
    { home: 'rstudio-tmp/tmp', container: '/tmp' },
  ],
} as const;

function serviceContext(kind: NonNullable<Job['service']>, job: Job, site: Site): NonNullable<ScriptContext['service']> {
  return {
    kind,
    passwordEnv: PASSWORD_ENV[kind],
    stateDirs: kind === 'rstudio' ? [...STATE_DIRS.rstudio] : [],
    timeoutSeconds: String(site.serviceTimeoutSeconds),
    portMin: String(site.servicePorts.min),
    portMax: String(site.servicePorts.max),
    baseUrl: job.env.find((e) => e.name === BASE_URL_ENV)?.value ?? '/',
  };
}

export function buildContext(job: Job, site: Site, options: RenderOptions = {}): ScriptContext {
  const { jobDir, session } = options;
  if (jobDir !== undefined && !SAFE_PATH.test(jobDir)) {
    throw new InputError('--job-dir', `must be an absolute path of letters, digits and . _ / + @ - (got ${JSON.stringify(jobDir)})`);
  }
  if (session !== undefined && !SESSION.test(session)) throw new InputError('session', 'must be letters, digits, _ . - only');
  const directives = [
    `--job-name=${job.jobName}`,
    `--output=${jobDir ? `${jobDir}/` : ''}output.log`,
    `--time=${job.time}`,
    `--signal=B:USR1@${site.signalGraceSeconds}`,
    ...(job.cpus !== undefined ? [`--cpus-per-task=${job.cpus}`] : []),
    ...(job.memoryGiB !== undefined ? [`--mem=${job.memoryGiB}G`] : []),
    ...(job.partition !== undefined ? [`--partition=${job.partition}`] : []),
    ...(job.gpu && site.gpuGres ? [`--gres=${site.gpuGres}`] : []),
  ];
  return {
    version: VERSION,
    directives,
    jobDir: jobDir ?? null,
    runtimeCommand: job.runtime === 'podman' ? site.podman : site.apptainer,
    pullRef: job.pullRef,
    imageUri: `docker://${job.pinnedRef ?? job.pullRef}`,
    pinnedRef: job.pinnedRef ?? null,
    registryHost: job.registryHost,
    insecureRegistry: job.insecureRegistry,
    registryUsername: job.registryUsername ?? null,
    containerName: job.containerName ?? null,
    containerBaseName: job.image.name,
    session: session ?? null,
    safeData:
      job.safeData === 'none'
        ? null
        : {
            root: site.safeDataRoot,
            groupPrefix: site.projectGroupPrefix,
            required: job.safeData === 'required',
            mount: job.safeDataMount === 'same' ? null : job.safeDataMount,
          },
    gpu: job.gpu,
    env: job.env,
    envPairs: job.env.map(({ name, value }) => `${name}=${value}`),
    args: job.args,
    runnerArgs: job.runnerArgs,
    forcedArgs: forcedArgs(job.runtime, site),
    sifName: `${job.jobName}.sif`,
    reuseSif: job.reuseSif,
    service: job.service ? serviceContext(job.service, job, site) : null,
    timeLimit: {
      time: job.time,
      graceSeconds: String(site.signalGraceSeconds),
      runSeconds: String(Math.max(0, seconds(job.time) - site.signalGraceSeconds)),
    },
    checkMounts: job.mountSources.length > 0,
    mountSources: job.mountSources,
    forbiddenMounts: { paths: SYSTEM_PATHS, trees: [...SYSTEM_TREES, normalPath(site.safeDataRoot)] },
    summaryJson: site.summaryJson,
    partials: { cleanup: `cleanup-${job.runtime}`, pull: `pull-${job.runtime}`, exec: `exec-${job.runtime}` },
  };
}
