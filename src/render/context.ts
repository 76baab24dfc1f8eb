// Everything the templates need, computed here so that templates hold no logic.
import { EXIT, JOB_FILES, LEDGER, STATE_DIRS } from '../contract';
import { InputError } from '../errors';
import type { Site } from '../site/schema';
import type { Job } from '../jobspec/resolve';
import type { EnvVar } from '../jobspec/load';
import { forcedArgs, MountSource, normalPath, SYSTEM_PATHS, SYSTEM_TREES } from '../policy';
import { BASE_URL_ENV, PASSWORD_ENV } from '../service';
import { seconds } from '../jobspec/resolve';
import { driverFor, Runtime, RuntimeDriver } from '../runtimes';
import { VERSION } from '../version';

export interface RenderOptions {
  /** Absolute job directory (output.log, credentials). Absent: the directory sbatch runs in. */
  jobDir?: string;
  /** OOD session id: names the container NAME-SESSION instead of NAME-JOBID. */
  session?: string;
}

export interface ScriptContext {
  /** The facts the script shares with tre-job's other parts (file names, ledger kinds, exit statuses). */
  contract: { files: typeof JOB_FILES; state: typeof STATE_DIRS; ledger: typeof LEDGER; exit: Record<keyof typeof EXIT, string> };
  /** The job as resolved: the spec's own fields are read from here (job.args, job.gpu, ...). */
  job: Job;
  version: string;
  /** `#SBATCH` options, each one token. */
  directives: string[];
  jobDir: string | null;
  /** The runtime's command, partials (RUNTIME-cleanup, -pull, -launch) and its own values (driver.templateData). */
  runtime: { name: Runtime; command: string; partials: { cleanup: string; pull: string; launch: string }; [own: string]: unknown };
  /** How the shared launch section passes the spec's env (see RuntimeDriver.env). */
  launch: { envWords: { flag: string; pair: string }[]; envExports: EnvVar[]; envPrefix: string; inheritsUmask: boolean };
  session: string | null;
  safeData: null | { root: string; groupPrefix: string; required: boolean; mount: string | null };
  /** The site's forced flags and mounts, after the user's runner arguments. */
  forcedArgs: string[];
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
  /** A Slurm job array: its task count, and whether its items are in the job directory's items file. */
  array: null | { tasks: string; items: boolean };
}

const SAFE_PATH = /^\/[A-Za-z0-9._/+@-]*$/;
const SESSION = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

// RStudio keeps its state in the home and reuses it (as the service does).
const SERVICE_STATE_DIRS = {
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
    stateDirs: kind === 'rstudio' ? [...SERVICE_STATE_DIRS.rstudio] : [],
    timeoutSeconds: String(site.serviceTimeoutSeconds),
    portMin: String(site.servicePorts.min),
    portMax: String(site.servicePorts.max),
    baseUrl: job.env.find((e) => e.name === BASE_URL_ENV)?.value ?? '/',
  };
}

/** The spec's env as the runtime takes it: `--env NAME=VALUE` words, or exported with a prefix. */
// Templates print strings only (the quoting helpers check it): the exit statuses as text.
const CONTRACT: ScriptContext['contract'] = {
  files: JOB_FILES,
  state: STATE_DIRS,
  ledger: LEDGER,
  exit: Object.fromEntries(Object.entries(EXIT).map(([name, status]) => [name, String(status)])) as Record<keyof typeof EXIT, string>,
};

function launchContext(driver: RuntimeDriver, job: Job): ScriptContext['launch'] {
  const { env, inheritsUmask } = driver;
  if ('flag' in env) return { envWords: job.env.map(({ name, value }) => ({ flag: env.flag, pair: `${name}=${value}` })), envExports: [], envPrefix: '', inheritsUmask };
  return { envWords: [], envExports: job.env, envPrefix: env.prefix, inheritsUmask };
}

export function buildContext(job: Job, site: Site, options: RenderOptions = {}): ScriptContext {
  const { jobDir, session } = options;
  const driver = driverFor(job.runtime);
  if (jobDir !== undefined && !SAFE_PATH.test(jobDir)) {
    throw new InputError('--job-dir', `must be an absolute path of letters, digits and . _ / + @ - (got ${JSON.stringify(jobDir)})`);
  }
  if (session !== undefined && !SESSION.test(session)) throw new InputError('session', 'must be letters, digits, _ . - only');
  if (job.array?.items && jobDir === undefined) {
    throw new InputError('array', 'items are kept in the job directory: use tre-job submit, or render --job-dir DIR');
  }
  const directives = [
    `--job-name=${job.jobName}`,
    ...(job.array ? [`--array=0-${job.array.tasks - 1}${job.array.parallel !== null ? `%${job.array.parallel}` : ''}`] : []),
    `--output=${jobDir ? `${jobDir}/` : ''}${job.array ? JOB_FILES.taskLog : JOB_FILES.log}`,
    `--time=${job.time}`,
    `--signal=B:USR1@${site.signalGraceSeconds}`,
    ...(job.cpus !== undefined ? [`--cpus-per-task=${job.cpus}`] : []),
    ...(job.memoryGiB !== undefined ? [`--mem=${job.memoryGiB}G`] : []),
    ...(job.partition !== undefined ? [`--partition=${job.partition}`] : []),
    ...(job.gpu && site.gpuGres ? [`--gres=${site.gpuGres}`] : []),
  ];
  return {
    contract: CONTRACT,
    job,
    version: VERSION,
    directives,
    jobDir: jobDir ?? null,
    runtime: {
      ...driver.templateData(job),
      name: driver.name,
      command: driver.command(site),
      partials: { cleanup: `${driver.name}-cleanup`, pull: `${driver.name}-pull`, launch: `${driver.name}-launch` },
    },
    launch: launchContext(driver, job),
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
    forcedArgs: forcedArgs(job.runtime, site),
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
    array: job.array ? { tasks: String(job.array.tasks), items: job.array.items !== null } : null,
  };
}
