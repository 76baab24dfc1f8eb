// The registry access token: from --token-file, --token-stdin or $TRE_JOB_REGISTRY_TOKEN,
// never from a flag value (argv is visible to every user of the machine).
import { readFileSync } from 'node:fs';
import { TOKEN_ENV } from './contract';
import { InputError } from './errors';

export { TOKEN_ENV };

export interface TokenOptions {
  tokenFile?: string;
  tokenStdin?: boolean;
}

/** The token, or undefined when none was given. Flags win over the environment variable. */
export function readToken(options: TokenOptions, readStdin: () => string = () => readFileSync(0, 'utf8')): string | undefined {
  if (options.tokenFile !== undefined && options.tokenStdin) {
    throw new InputError('--token-file', 'give either --token-file or --token-stdin, not both');
  }
  if (options.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.tokenFile, 'utf8');
    } catch (err) {
      throw new InputError('--token-file', `cannot read ${options.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return checkToken(text, '--token-file');
  }
  if (options.tokenStdin) return checkToken(readStdin(), '--token-stdin');
  const fromEnv = process.env[TOKEN_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : checkToken(fromEnv, TOKEN_ENV);
}

function checkToken(raw: string, field: string): string {
  const token = raw.replace(/\r?\n$/, '');
  if (token === '') throw new InputError(field, 'the token is empty');
  if (/[\0\r\n]/.test(token)) throw new InputError(field, 'the token must be a single line');
  return token;
}
