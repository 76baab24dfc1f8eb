// The only code that runs Slurm's sbatch.
import { spawnSync } from 'node:child_process';
import { ExternalError, oneLine } from '../errors';
import { TOKEN_ENV } from '../token';

export interface Submission {
  jobId: string;
  cluster: string | null;
}

/** The exact sbatch argv for a script: --parsable prints only `jobid[;cluster]`. */
export function sbatchArgv(sbatch: string, script: string): string[] {
  return [sbatch, '--parsable', script];
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

/** Run sbatch in the job directory; a refusal is an ExternalError with sbatch's own message. */
export function submit(argv: string[], cwd: string): Submission {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('empty sbatch argv');
  const result = spawnSync(command, args, { cwd, env: submitEnvironment(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) throw new ExternalError(`cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new ExternalError(`sbatch refused the job: ${oneLine(result.stderr || result.stdout || `exit status ${result.status}`)}`);
  }
  const line = result.stdout.trim().split('\n').pop() ?? '';
  const match = /^([0-9]+)(?:;(\S+))?$/.exec(line);
  if (!match?.[1]) throw new ExternalError(`sbatch printed no job id: ${oneLine(result.stdout)}`);
  return { jobId: match[1], cluster: match[2] ?? null };
}
