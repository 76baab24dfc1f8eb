// The facts tre-job's parts share across languages and processes, written once: the job script
// (bash, rendered from templates/ with these values), the CLI (TypeScript), Open OnDemand's
// helper (Ruby: `tre-job ood --contract` prints what it reads), the tests and the bench.

/** Files in a job directory (CLI: ~/tre-jobs/..., OOD: the session's staged root). */
export const JOB_FILES = {
  script: 'job.sh',
  oodScript: 'tre-job.sh',
  record: 'job.json',
  log: 'output.log',
  /** The registry token (0600), deleted by the job once used. */
  credentials: 'credentials',
  /** What the job made, one `KIND<TAB>WHAT` a line, for `tre-job gc`. */
  ledger: 'ledger',
  /** A service's host, port and password, for OnDemand's Connect button. */
  connection: 'connection.yml',
  /** The spec the job was rendered from, byte for byte (spec.json for a JSON spec), for `tre-job resubmit`. */
  spec: 'spec.yaml',
  // A job array's own files (docs/design/arrays.md): its tasks share the job directory.
  /** Task T's log is output-T.log (Slurm's %a). */
  taskLog: 'output-%a.log',
  /** The items of an array, one a line: task T runs with line T+1. */
  items: 'items',
  /** Held while a task reads or changes what its array's tasks share. */
  arrayLock: 'array.lock',
  /** The NUMBER of the array's $HOME/outputs-NUMBER, written by the first task. */
  arrayOutputs: 'outputs',
  /** The tasks that no longer need the registry token, one a line; the last one removes it. */
  pastPull: 'past-pull',
  /** pulled-HOST: the image id this array pulled on HOST (Podman); pulled-sif: the SIF it pulled (Apptainer). */
  pulled: 'pulled',
} as const;

/** Task `task`'s log in an array's job directory. */
export function taskLogName(task: number): string {
  return JOB_FILES.taskLog.replace('%a', String(task));
}

/** tre-job's own directories under the user's home. */
export const STATE_DIRS = {
  /** $HOME/.tre-job/active/JOBID: a job that has not finished its own clean-up. */
  active: '.tre-job/active',
  /** One entry per credentials file tre-job wrote (the job dir's path, / as %). */
  credentials: '.tre-job/credentials',
  /** One entry per job directory (CLI and OOD), for `tre-job status`. */
  jobs: '.tre-job/jobs',
  /** Apptainer's temporary files of one job: .tre-job/tmp/JOBID. */
  tmp: '.tre-job/tmp',
  /** One lock file per SIF, held while it is pulled. */
  locks: '.tre-job/locks',
} as const;

/** The kinds of ledger line. */
export const LEDGER = {
  job: 'job',
  runtime: 'runtime',
  credentials: 'credentials',
  authfile: 'authfile',
  scratch: 'scratch',
  container: 'container',
  connection: 'connection',
  tmpdir: 'tmpdir',
  sifpart: 'sifpart',
  done: 'done',
  gc: 'gc',
} as const;

/** A job's exit status when it did not end by the container's own status. */
export const EXIT = { failed: 1, timeLimit: 124, hangup: 129, interrupt: 130, cancelled: 143 } as const;

/** The variable a registry token may come in (never on a command line). */
export const TOKEN_ENV = 'TRE_JOB_REGISTRY_TOKEN';

/** The job's log: `YYYY-MM-DD HH:MM:SS tre-job LEVEL: message`, and the lines tre-job reads back. */
/** A Slurm job id as tre-job accepts it: JOBID, or ARRAYID_TASK. */
export const JOB_ID = /^[0-9]+(_[0-9]+)?$/;

/** `A_T` (task T of array A) as its array's id and the task; null for any other id. */
export function arrayTaskOf(jobId: string): { arrayId: string; task: number } | null {
  const match = /^([0-9]+)_([0-9]+)$/.exec(jobId);
  return match ? { arrayId: match[1] as string, task: Number(match[2]) } : null;
}

export const LOG = {
  line: /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) tre-job (INFO|WARNING|ERROR): (.*)$/,
  started: /tre-job INFO: Job ([0-9]+(?:_[0-9]+)?) started on /,
  outputs: /tre-job INFO: Outputs: (\S+) /,
  scratch: /tre-job INFO: Scratch: (\S+) /,
  running: /tre-job INFO: Container (\S+) is now running/,
  finished: /tre-job INFO: Job finished with exit status (\d+)/,
  /** The prologue's time limit (workspace.hbs). */
  timeLimit: /tre-job INFO: Time limit (\S+): clean-up starts/,
  /** The trap's line when a signal ends the job (traps.hbs): the signal's name. */
  signalled: /tre-job ERROR: Job .* \((SIG[A-Z0-9]+)\): stopping the container and cleaning up/,
  /** A service's "ready at" line (service.hbs): kind, host, port, and the base URL (TRE_BASE_URL, else /). */
  ready: /^\S+ \S+ tre-job INFO: The (\w+) service is ready at http:\/\/([^/:\s]+):([0-9]+)(\/.*) \(password in .+\)$/gm,
  error: /tre-job ERROR: (.*)/g,
  next: /tre-job INFO: Next: (.*)/g,
} as const;

/** A job's phase and facts, as its log tells them. */
export interface LogFacts {
  phase: 'starting' | 'prologue' | 'pulling' | 'running' | 'cleaning up' | 'finished';
  /** The furthest phase before clean-up: where the job was when it was stopped. */
  reached: 'starting' | 'prologue' | 'pulling' | 'running';
  /** The time limit the prologue logged (HH:MM:SS, or D-HH:MM:SS). */
  timeLimit: string | null;
  /** The signal that ended the job (SIGTERM, SIGUSR1, ...), if the trap logged one. */
  signal: string | null;
  jobId: string | null;
  outputs: string | null;
  scratch: string | null;
  container: string | null;
  finishedStatus: number | null;
  /** The last ERROR line's message, and the Next: hint after it, if any. */
  error: string | null;
  next: string | null;
  firstTime: string | null;
  lastTime: string | null;
}

/** The phase and facts of a job from its log (the script logs each phase). */
export function logFacts(log: string): LogFacts {
  const lines = log.split('\n').filter((l) => LOG.line.test(l));
  const has = (text: string) => lines.some((l) => l.includes(text));
  const finished = LOG.finished.exec(log);
  const reached: LogFacts['reached'] = has('is now running')
    ? 'running'
    : has('tre-job INFO: Pulling') || has('tre-job INFO: Logging in')
      ? 'pulling'
      : lines.length
        ? 'prologue'
        : 'starting';
  const phase: LogFacts['phase'] = finished ? 'finished' : has('tre-job INFO: Cleaning up') ? 'cleaning up' : reached;
  const outputs = LOG.outputs.exec(log)?.[1] ?? null;
  return {
    phase,
    reached,
    timeLimit: LOG.timeLimit.exec(log)?.[1] ?? null,
    signal: LOG.signalled.exec(log)?.[1] ?? null,
    jobId: LOG.started.exec(log)?.[1] ?? null,
    // Unless the clean-up removed it (empty, and the container never ran).
    outputs: outputs !== null && log.includes(`tre-job INFO: Removed ${outputs}: the container never ran`) ? null : outputs,
    scratch: LOG.scratch.exec(log)?.[1] ?? null,
    container: LOG.running.exec(log)?.[1] ?? null,
    finishedStatus: finished ? Number(finished[1]) : null,
    error: lastMatch(log, LOG.error),
    next: lastMatch(log, LOG.next),
    firstTime: LOG.line.exec(lines[0] ?? '')?.[1] ?? null,
    lastTime: LOG.line.exec(lines[lines.length - 1] ?? '')?.[1] ?? null,
  };
}

function lastMatch(log: string, pattern: RegExp): string | null {
  let last: string | null = null;
  for (const match of log.matchAll(pattern)) last = match[1] ?? null;
  return last;
}
