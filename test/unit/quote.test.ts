import { spawnSync } from 'node:child_process';
import { sbatchDirective, shAssign, shq, shqExpand } from '../../src/render/quote';
import { HOSTILE } from '../fixtures/hostile';

// What bash makes of each word: printf '%s\0' WORD..., run with a known environment.
function bashWords(words: string[], env: Record<string, string> = {}): string[] {
  const script = `printf '%s\\0' ${words.join(' ')}\n`;
  const result = spawnSync('bash', ['-c', script], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', cwd: '/' });
  expect(result.status).toBe(0);
  return result.stdout.replace(/\0$/, '').split('\0');
}


describe('shq', () => {
  it('wraps in single quotes and writes each quote as \'\\\'\'', () => {
    expect(shq("it's $(x)")).toBe("'it'\\''s $(x)'");
    expect(shq('')).toBe("''");
  });

  it('rejects a NUL byte', () => {
    expect(() => shq('a\0b')).toThrow(/NUL/);
  });

  it('gives bash every hostile string byte-exact, and runs nothing', () => {
    expect(bashWords(HOSTILE.map(shq))).toEqual(HOSTILE);
  });
});

describe('shqExpand', () => {
  const env = { HOME: '/home/alice', USER: 'alice', WITH_SPACE: 'a  b*' };

  it.each([
    ['${USER}', 'alice'],
    ['$USER', 'alice'],
    ['-n ${USER}', '-n alice'],
    ['${HOME}/data', '/home/alice/data'],
    ['$HOME/$USER', '/home/alice/alice'],
    ['${WITH_SPACE}', 'a  b*'],
    ['${UNSET_VARIABLE}x', 'x'],
    ['\\$HOME', '$HOME'],
    ['cost: \\$5', 'cost: $5'],
    ["sh -c 'echo \\$x'", "sh -c 'echo $x'"],
    ['$(id) `id` $((1+1))', '$(id) `id` $((1+1))'],
    ['${HOME:-x} ${!HOME} $1 $@ $', '${HOME:-x} ${!HOME} $1 $@ $'],
    ['${USER}${USER}', 'alicealice'],
    ['pre-${USER}-$(id)', 'pre-alice-$(id)'],
  ])('expands %j to %j on the back-end', (input, expected) => {
    expect(bashWords([shqExpand(input)], env)).toEqual([expected]);
  });

  it('leaves every hostile string without a variable byte-exact', () => {
    const literal = HOSTILE.filter((s) => !/\$[A-Za-z_{]|\\\$/.test(s));
    expect(bashWords(literal.map(shqExpand), env)).toEqual(literal);
  });

  it('is one word even when the variable holds spaces and globs', () => {
    expect(bashWords([shqExpand('x ${WITH_SPACE} y')], env)).toEqual(['x a  b* y']);
  });
});

describe('shAssign and sbatchDirective', () => {
  it('builds an assignment word with an expanding value', () => {
    expect(shAssign('FOO', 'a ${USER}', 'APPTAINERENV_')).toBe(`APPTAINERENV_FOO='a '"\${USER-}"`);
    expect(() => shAssign('1BAD', 'x')).toThrow(/not a valid variable name/);
  });

  it('accepts one safe token and refuses spaces, newlines and quotes', () => {
    expect(sbatchDirective('--job-name=hello-tre:1.0')).toBe('--job-name=hello-tre:1.0');
    for (const bad of ['--job-name=a b', '--job-name=a\n#SBATCH --uid=0', '--output="x"', '--job-name=', 'job-name=x']) {
      expect(() => sbatchDirective(bad)).toThrow(/unsafe/);
    }
  });
});

describe('carriage returns', () => {
  // Regression: sbatch refuses a script holding "\r\n" ("Batch script contains DOS line breaks").
  it('never writes a raw CR into the script, and the value still arrives byte-exact', () => {
    const value = 'a\r\nb\rc';
    expect(shq(value)).not.toContain('\r');
    expect(shqExpand(`${value}\${USER}`)).not.toContain('\r');
    expect(bashWords([shq(value), shqExpand(`${value}\${USER}`)], { USER: 'u' })).toEqual([value, `${value}u`]);
  });
});
