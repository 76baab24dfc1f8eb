// `tre-job connect JOBID`: where a service job's web UI is and its password, from the
// connection.yml the job writes once the service answers HTTP (templates/partials/service.hbs).
// Exit status: 0 ready, 3 still starting (try again), 1 ended, 2 not a service job (or a bad JOBID).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JOB_FILES, LOG } from '../contract';
import { InputError } from '../errors';
import { findJob, isJobOf, jobStatus, JobStatus, readLog } from '../jobs';
import { shellWord } from '../render/quote';
import type { SubmittedJob } from '../record';
import type { ServiceKind } from '../service';
import { loadSite } from '../site/load';
import { SlurmClient } from '../slurm/client';
import { ACTIVE_STATES } from '../slurm/scontrol';

export const CONNECT_EXIT = { ready: 0, ended: 1, notService: 2, starting: 3 } as const;

/** What connection.yml says: written whole by the job (by rename), one `key: value` a line. */
export interface Connection {
  host: string;
  port: number;
  password: string;
  service: ServiceKind;
}

export interface ConnectInfo {
  jobId: string;
  /** Slurm's state (or the log's, once Slurm has forgotten the job). */
  state: string;
  /** Why it is not ready (pending reason, phase), or null once ready. */
  detail: string | null;
  /** The service answers: url and password are set. */
  ready: boolean;
  /** The job has ended (or is cleaning up): it will never be ready. Neither ready nor ended: still starting. */
  ended: boolean;
  /** Once ended. */
  exitStatus: number | null;
  service: ServiceKind;
  url: string | null;
  /** Jupyter: the URL that logs in by itself (?token=). */
  loginUrl: string | null;
  host: string | null;
  port: number | null;
  password: string | null;
  /** RStudio: the user name to sign in with (the user's login). */
  user: string | null;
  /** When HOST:PORT does not answer from here: an ssh tunnel from the user's computer. */
  tunnel: { command: string; url: string } | null;
}

const SERVICES: readonly ServiceKind[] = ['jupyter', 'rstudio', 'http'];

// The line service.hbs renders (`tre_service={{shq service.kind}}`). A user value cannot produce
// it: shq writes each ' of a value as '\'', so no line of a quoted value is exactly this.
const SERVICE_LINE = /^tre_service='(jupyter|rstudio|http)'$/m;

/** The job's service, from the script rendered into its directory (CLI or OOD), else its connection.yml; null for a batch job. */
export function serviceOf(jobDir: string): ServiceKind | null {
  for (const name of [JOB_FILES.script, JOB_FILES.oodScript]) {
    const file = join(jobDir, name);
    if (!existsSync(file)) continue;
    const kind = SERVICE_LINE.exec(readFileSync(file, 'utf8'))?.[1];
    return kind === undefined ? null : (kind as ServiceKind);
  }
  return readConnection(jobDir)?.service ?? null;
}

const HOST = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

/** connection.yml, read as the job writes it (no YAML typing: a hex password of digits stays a string). */
export function readConnection(jobDir: string): Connection | null {
  let text: string;
  try {
    text = readFileSync(join(jobDir, JOB_FILES.connection), 'utf8');
  } catch {
    return null;
  }
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(text)?.[1] ?? '';
  const [host, port, password, service] = [field('host'), Number(field('port')), field('password'), field('service')];
  // The host and port reach a command line (the tunnel): only what a host name and a port can be.
  if (!HOST.test(host) || !Number.isInteger(port) || port <= 0 || port > 65535 || !password || !SERVICES.includes(service as ServiceKind)) return null;
  return { host, port, password, service: service as ServiceKind };
}

/**
 * The base URL the job logged on its "ready at" line (the spec's TRE_BASE_URL as the job
 * expanded it), for this host and port; null if this run has not logged it (a connection.yml
 * left by an earlier run is not this one's). The last such line: a retried port logs anew.
 */
export function baseUrlOf(log: string, connection: Connection): string | null {
  let base: string | null = null;
  for (const [, service, host, port, url] of log.matchAll(LOG.ready)) {
    if (service === connection.service && host === connection.host && Number(port) === connection.port && url) base = url;
  }
  return base;
}

/** Whether a TCP connect to host:port succeeds within `ms`. */
export function reachable(host: string, port: number, ms = 1000): Promise<boolean> {
  const { connect } = require('node:net') as typeof import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Where a not-ready service job is, in words: `pending (Resources)`, `running on node1: pulling the image`. */
function progress(status: JobStatus, log: string, service: ServiceKind): string {
  if (status.detail.startsWith('pending')) return status.detail;
  const where = `${status.state.toLowerCase()}${status.node ? ` on ${status.node}` : ''}`;
  if (log.includes(`tre-job INFO: Starting the ${service} service on port `)) return `${where}: started, waiting for it to answer HTTP`;
  if (status.detail === 'pulling') return `${where}: pulling the image`;
  return `${where}: preparing`;
}

/** The job's service as it is now: ready (with its URL and password), starting, or ended. */
export async function connectInfo(record: SubmittedJob, slurm: SlurmClient, service: ServiceKind): Promise<ConnectInfo> {
  const job = slurm.showJob(record.jobId);
  const status = jobStatus(record, job);
  const log = readLog(record);
  // Keys in the order --json shows them.
  const answer = (fields: Partial<ConnectInfo>): ConnectInfo => ({
    jobId: record.jobId,
    state: status.state,
    ready: false,
    ended: false,
    exitStatus: status.exitStatus,
    detail: null,
    service,
    url: null,
    loginUrl: null,
    host: null,
    port: null,
    password: null,
    user: null,
    tunnel: null,
    ...fields,
  });
  // A job that is cleaning up is ending: its connection.yml is about to go, and the service with it.
  const ending = status.detail === 'cleaning up' || status.detail === 'finished';
  if (job === null || !isJobOf(record, job) || !ACTIVE_STATES.has(job.state) || ending) return answer({ ended: true, detail: status.detail });
  // Ready only while it runs and this run's log says so: a requeued job may find the file of its last run.
  const connection = job.state === 'RUNNING' ? readConnection(record.jobDir) : null;
  const path = connection && baseUrlOf(log, connection);
  if (!connection || !path) return answer({ detail: progress(status, log, service) });
  const withToken = (url: string) => (service === 'jupyter' ? `${url}?token=${connection.password}` : null);
  const url = `http://${connection.host}:${connection.port}${path}`;
  const local = `http://localhost:${connection.port}${path}`;
  const { hostname, userInfo } = require('node:os') as typeof import('node:os');
  const tunnel = (await reachable(connection.host, connection.port))
    ? null
    : { command: ['ssh', '-N', '-L', `${connection.port}:${connection.host}:${connection.port}`, hostname()].map(shellWord).join(' '), url: withToken(local) ?? local };
  return answer({
    ready: true,
    url,
    loginUrl: withToken(url),
    host: connection.host,
    port: connection.port,
    password: connection.password,
    user: service === 'rstudio' ? userInfo().username : null,
    tunnel,
  });
}

/** The answer in words: the ready lines on stdout; a starting or ended line on stderr. */
function describe(info: ConnectInfo, waiting: boolean): { stdout: string; stderr: string } {
  const { jobId, service } = info;
  if (info.ended) {
    // Slurm may still count a job that is cleaning up, or has just finished, as running.
    const how = ACTIVE_STATES.has(info.state) ? `is ending (${info.detail})` : `has ended (${info.state}${info.exitStatus === null ? '' : `, exit status ${info.exitStatus}`})`;
    return { stdout: '', stderr: `job ${jobId} ${how}: its ${service} service is no longer running; see \`tre-job logs ${jobId}\`\n` };
  }
  if (!info.ready) {
    const then = waiting ? 'waiting' : `try again in a moment or run \`tre-job logs ${jobId} --follow\``;
    return { stdout: '', stderr: `job ${jobId}: the ${service} service is still starting (${info.detail}); ${then}\n` };
  }
  const lines = [
    `job ${jobId}: the ${service} service is ready on ${info.host}`,
    `url:      ${info.url}`,
    ...(info.loginUrl ? [`login:    ${info.loginUrl}`] : []),
    ...(info.user ? [`user:     ${info.user} (your login name)`] : []),
    `password: ${info.password}`,
    ...(info.tunnel ? [`tunnel:   ${info.host}:${info.port} does not answer from here; on your own computer run \`${info.tunnel.command}\`, then open ${info.tunnel.url}`] : []),
  ];
  return { stdout: `${lines.join('\n')}\n`, stderr: '' };
}

const exitOf = (info: ConnectInfo) => (info.ready ? CONNECT_EXIT.ready : info.ended ? CONNECT_EXIT.ended : CONNECT_EXIT.starting);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `tre-job connect JOBID [--json] [--wait]`. With --wait, ask again until the service is ready
 * or the job has ended (the starting line on stderr each time it changes).
 */
export async function connectCommand(
  jobId: string,
  options: { site?: string; json?: boolean; wait?: boolean; pollMs?: number },
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
): Promise<number> {
  const site = loadSite(options.site);
  const slurm = new SlurmClient(site);
  const record = findJob(jobId, site.jobsDir, slurm);
  // The record says so since tre-job kept it there; older records (null) leave it to the script.
  const service = record.service ?? serviceOf(record.jobDir);
  if (service === null || service === undefined) throw new InputError('JOBID', `job ${jobId} is not a service job (its spec has no service: jupyter, rstudio or http)`);
  let shown = '';
  for (;;) {
    const info = await connectInfo(record, slurm, service);
    const exit = exitOf(info);
    const waiting = options.wait === true && exit === CONNECT_EXIT.starting;
    const text = describe(info, waiting);
    if (!options.json && text.stderr !== shown) io.stderr(text.stderr);
    shown = text.stderr;
    if (!waiting) {
      io.stdout(options.json ? `${JSON.stringify(info, null, 2)}\n` : text.stdout);
      return exit;
    }
    await pause(options.pollMs ?? 1000);
  }
}
