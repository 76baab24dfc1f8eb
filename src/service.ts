// The names tre-job sets in an interactive service's container: a spec may not set them too.
import type { JobSpec } from './jobspec/schema';

export type ServiceKind = NonNullable<JobSpec['service']>;

/** The variable a service's password reaches the container in (never argv). */
export const PASSWORD_ENV = { jupyter: 'JUPYTER_TOKEN', rstudio: 'RSTUDIO_PASSWORD', http: 'TRE_PASSWORD' } as const satisfies Record<ServiceKind, string>;

/**
 * Names tre-job sets for a service: its password, its port, and HOME (the user's home, where
 * what is saved in the service's UI is kept). A spec value would replace them.
 */
export function reservedEnvNames(kind: ServiceKind): string[] {
  return [PASSWORD_ENV[kind], 'TRE_PORT', 'HOME'];
}

/** The env name a service's ready URL takes its base path from (e.g. /node/HOST/PORT/ behind OOD). */
export const BASE_URL_ENV = 'TRE_BASE_URL';
