// Shared by render and submit: every check happens here, before anything is written.
import { InputError } from './errors';
import { buildContext, RenderOptions } from './render/context';
import { renderScript } from './render/render';
import { loadSite } from './site/load';
import type { Site } from './site/schema';
import { Job, resolveJob } from './jobspec/resolve';
import type { JobSpec } from './jobspec/schema';
import { readToken, TokenOptions } from './token';
import { remoteHostOf } from './backend';

/**
 * A service's job writes its connection file (host, port, password) in its own job directory,
 * where the portal reads it: a back-end with a home of its own has it where the portal cannot.
 */
function refuseServiceOnOwnHome(job: Job, site: Site): void {
  const host = remoteHostOf(site);
  if (host === null || !job.service) return;
  throw new InputError(
    'service',
    `back-end ${host} has a home of its own (site home.ssh), so the portal could not reach the ${job.service} session there; use a back-end whose home is shared`,
  );
}

export interface PrepareOptions extends TokenOptions {
  /** Site config file (else $TRE_JOB_SITE, else built-in). */
  site?: string;
  session?: string;
  /** Where warnings go (one line each): the CLI's stderr. */
  warn?: (line: string) => void;
}

/** Print a job's warnings, one `tre-job: warning: ...` line each. */
export function warnAbout(job: Job, warn: ((line: string) => void) | undefined): void {
  for (const warning of job.warnings) warn?.(`tre-job: warning: ${warning}\n`);
}

export interface Prepared {
  site: Site;
  job: Job;
  token: string | undefined;
  script: string;
  /** The #SBATCH options of the script, each one token. */
  directives: string[];
}

/** Validate spec, site and token and render the script for `jobDir`, all in memory. */
export function prepare(
  spec: JobSpec,
  options: PrepareOptions,
  jobDir: string | undefined,
  needToken: boolean,
  site: Site = loadSite(options.site),
): Prepared {
  const job = resolveJob(spec, site);
  refuseServiceOnOwnHome(job, site);
  const token = readToken(options);
  if (token !== undefined && job.registryUsername === undefined) {
    throw new InputError('registry.username', 'required when a registry token is given');
  }
  if (needToken && token === undefined && job.registryUsername !== undefined) {
    throw new InputError('token', 'registry.username is set but no token was given (use --token-file, --token-stdin or TRE_JOB_REGISTRY_TOKEN)');
  }
  const renderOptions: RenderOptions = {
    ...(jobDir !== undefined ? { jobDir } : {}),
    ...(options.session !== undefined ? { session: options.session } : {}),
  };
  const context = buildContext(job, site, renderOptions);
  const script = renderScript(context);
  warnAbout(job, options.warn);
  return { site, job, token, script, directives: context.directives };
}
