// What sbatch gets (its environment) and what it says (the job id). client.ts runs it.
import { ExternalError, oneLine } from '../errors';
import { TOKEN_ENV } from '../token';

export interface Submission {
  jobId: string;
  cluster: string | null;
}

/**
 * The environment sbatch gets. Slurm stores it with the job (and may archive it), so the
 * token variable is removed even though the job never reads it.
 */
export function submitEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy[TOKEN_ENV];
  return copy;
}

/** The job id (and cluster) from `sbatch --parsable`'s last line. */
export function parseSubmission(stdout: string): Submission {
  const line = stdout.trim().split('\n').pop() ?? '';
  const match = /^([0-9]+)(?:;(\S+))?$/.exec(line);
  if (!match?.[1]) throw new ExternalError(`sbatch printed no job id: ${oneLine(stdout)}`);
  return { jobId: match[1], cluster: match[2] ?? null };
}
