// The runner-argument policy parses every spelling the runtimes accept (pflag: attached short
// values, `=`, combined switches, separate values; --mount key orders, synonyms and CSV quoting;
// Apptainer's comma lists) and normalises paths before it checks them.
import { InputError } from '../../src/errors';
import { checkRunnerArgs, normalPath, parseRunnerArgs } from '../../src/policy';
import { DRIVERS } from '../../src/runtimes';
import { RUNNER_OPTIONS, Runtime } from '../../src/runtimes/options';
import { parseSite } from '../../src/site/load';
import { BUILT_IN_SITE } from '../../src/site/schema';

const site = parseSite({ ...BUILT_IN_SITE, forcedMounts: [{ source: '/opt/tools', target: '/tools' }] });

function refusal(runtime: Runtime, args: string[]): string {
  try {
    checkRunnerArgs(runtime, args, site);
  } catch (err) {
    if (err instanceof InputError) return err.message;
    throw err;
  }
  return 'accepted';
}

// Each was accepted by the landed policy (the first six are the reproductions).
const BYPASSES: [Runtime, string[], RegExp][] = [
  ['podman', ['-v/:/host'], /runnerArgs\.0: -v\/:\/host: mounting the system path \/ is not allowed/],
  ['podman', ['-v', '/./:/host'], /mounting the system path \/ is not allowed/],
  ['podman', ['-v/etc:/e'], /mounting the system path \/etc is not allowed/],
  ['podman', ['-v/safe_data:/x'], /safe data is mounted by tre-job/],
  ['apptainer', ['-B/:/host'], /mounting the system path \/ is not allowed/],
  ['apptainer', ['-B', '/./etc:/e'], /mounting the system path \/etc is not allowed/],
  ['podman', ['-v=/:/host'], /system path \/ /],
  ['podman', ['--volume=//:/host'], /system path \/ /],
  ['podman', ['--volume', '/etc/:/e'], /system path \/etc /],
  ['podman', ['-v', '/usr/../etc/shadow:/e'], /system path \/etc\/shadow /],
  ['podman', ['-v', '/data/../../..:/h'], /system path \/ /],
  ['podman', ['-v', '${HOME}/../..:/h'], /system path \/ /],
  ['podman', ['-v', '$HOME/..:/h'], /system path \/home /],
  ['podman', ['-itv/:/host'], /runnerArgs\.0: -itv\/:\/host: mounting the system path \/ /],
  ['podman', ['-it', '-v', '/:/host'], /runnerArgs\.1: -v \/:\/host: mounting the system path \/ /],
  ['podman', ['--mount', 'type=bind,destination=/h,source=/'], /system path \/ /],
  ['podman', ['--mount=target=/h,src=/etc,type=bind'], /system path \/etc /],
  ['podman', ['--mount', 'type=bind,"src=/",dst=/h'], /system path \/ /],
  ['podman', ['--mount', 'type=bind,src=/data,dst=/h,SRC=/'], /src is given twice|SRC is given twice/],
  ['podman', ['--mount', 'type=image,source=docker.io/evil:1,target=/x'], /type=image is not allowed/],
  ['podman', ['--mount', 'type=bind,src=/data,dst=/safe_outputs/.'], /mounting over \/safe_outputs/],
  ['podman', ['-v', '/data:/safe_outputs/../safe_outputs'], /mounting over \/safe_outputs/],
  ['podman', ['-v', '/data://scratch/'], /mounting over \/scratch/],
  ['podman', ['--tmpfs', '/safe_data'], /mounting over \/safe_data/],
  ['podman', ['--tmpfs=/tools/x'], /mounting over \/tools/],
  ['podman', ['-v', 'myvolume:/x'], /the source must be an absolute path/],
  ['podman', ['-v', './..:/x'], /the source must be an absolute path/],
  ['podman', ['-v', '/a:/b:/c:ro'], /too many ':'/],
  ['apptainer', ['-B', '/data/a:/a,/:/h'], /system path \/ /],
  ['apptainer', ['-B', '"/:/h"'], /system path \/ /],
  ['apptainer', ['--bind=/etc'], /system path \/etc /],
  ['apptainer', ['-B=/etc'], /system path \/etc /],
  ['apptainer', ['-H', '/etc:/home/me'], /system path \/etc /],
  ['apptainer', ['--home=/root'], /system path \/root /],
  ['apptainer', ['-o', '/var/lib/x.img'], /system path \/var\/lib\/x\.img /],
  ['apptainer', ['-W/tmp'], /system path \/tmp /],
  ['apptainer', ['--mount', 'dst=/h,type=bind,source=/etc'], /system path \/etc /],
  ['apptainer', ['--mount', 'type=bind,src=/data,destination=/safe_data/x'], /mounting over \/safe_data/],
  ['apptainer', ['-S', '/scratch'], /mounting over \/scratch/],
  ['apptainer', ['-cB/:/h'], /system path \/ /],
  // Options the runtimes do not document, or spellings of them: refused, not passed through.
  ['podman', ['--root', '/tmp/x'], /--root is not an option of podman run/],
  ['podman', ['--runtime=/tmp/evil'], /--runtime is not an option of podman run/],
  ['podman', ['--v=/:/h'], /--v is not an option of podman run/],
  ['podman', ['-Z'], /-Z \(in -Z\) is not an option of podman run/],
  ['podman', ['---volume=/:/h'], /is not an option of podman run/],
  ['podman', ['--'], /"--" is not an option/],
  ['podman', ['-v /data:/data'], /"-v \/data:\/data": give -v and its value as two items, or write -vVALUE/],
  ['podman', ['--volume /data:/data'], /"--volume \/data:\/data": give --volume and its value as two items, or write --volume=VALUE/],
  ['apptainer', ['--debug'], /--debug is not an option of apptainer run/],
  ['apptainer', ['--pwd', '/x'], /--pwd is not an option of apptainer run/],
  // Environment: the spec's env is the one way in (a service's password cannot be replaced).
  ['podman', ['-e', 'JUPYTER_TOKEN=abc'], /--env is not allowed here: it sets the container's environment/],
  ['podman', ['-eJUPYTER_TOKEN=abc'], /--env is not allowed here/],
  ['podman', ['--env-file=/tmp/x'], /--env-file is not allowed here/],
  ['apptainer', ['--env', 'JUPYTER_TOKEN=abc'], /--env is not allowed here/],
  // Switches take true/false only when written with '='.
  ['podman', ['--read-only=yes'], /--read-only is a switch/],
  ['podman', ['-v'], /-v needs a value/],
  ['podman', ['--detach=false'], /--detach is not allowed here/],
];

describe('runner-argument policy', () => {
  it.each(BYPASSES.map(([runtime, args, error]) => [`${runtime} ${JSON.stringify(args)}`, runtime, args, error] as const))('refuses %s', (_name, runtime, args, error) => {
    expect(refusal(runtime, args)).toMatch(error);
  });

  const ACCEPTED: [Runtime, string[], string[]][] = [
    ['podman', ['-v', '${HOME}/data:/data:ro'], ['${HOME}/data']],
    ['podman', ['-v/data/in:/in', '-w/in', '--workdir=/in', '-it', '--read-only=true'], ['/data/in']],
    ['podman', ['--mount', 'type=bind,src=${HOME}/d,dst=/d,ro'], ['${HOME}/d']],
    ['podman', ['--mount=type=volume,dst=/cache', '--tmpfs', '/tmp2:size=64m', '-v', '/anon'], []],
    ['apptainer', ['-B', '${HOME}/a:/a,${HOME}/b:/b:ro', '--cwd', '/a', '-c'], ['${HOME}/a', '${HOME}/b']],
    ['apptainer', ['--mount', 'type=bind,"src=/data/x,y",dst=/xy'], ['/data/x,y']],
  ];
  it.each(ACCEPTED.map(([runtime, args, sources]) => [`${runtime} ${JSON.stringify(args)}`, runtime, args, sources] as const))('accepts %s and returns its mount sources', (_name, runtime, args, sources) => {
    expect(checkRunnerArgs(runtime, args, site).map((m) => m.source)).toEqual(sources);
  });

  it('parses as pflag does: combined switches, attached and = values, the next word as a value', () => {
    const seen = parseRunnerArgs('podman', ['-itv/a:/b', '-w=/x', '--label', '-not-an-option', '-p8080:80']).map((p) => [p.option.long, p.value ?? null, p.field]);
    expect(seen).toEqual([
      ['--interactive', null, 'runnerArgs.0'],
      ['--tty', null, 'runnerArgs.0'],
      ['--volume', '/a:/b', 'runnerArgs.0'],
      ['--workdir', '/x', 'runnerArgs.1'],
      ['--label', '-not-an-option', 'runnerArgs.2'],
      ['--publish', '8080:80', 'runnerArgs.4'],
    ]);
  });

  it("a site's allow and deny lists name a flag by either spelling", () => {
    const allowShort = parseSite({ ...BUILT_IN_SITE, runnerArgs: { mode: 'allow', allow: ['-v'] } });
    expect(() => checkRunnerArgs('podman', ['--volume=/data:/d'], allowShort)).not.toThrow();
    expect(() => checkRunnerArgs('podman', ['-w/x'], allowShort)).toThrow(/--workdir is not allowed by this site/);
    const denyLong = parseSite({ ...BUILT_IN_SITE, runnerArgs: { mode: 'deny', deny: ['--workdir'] } });
    expect(() => checkRunnerArgs('podman', ['-w/x'], denyLong)).toThrow(/--workdir is not allowed here: it is denied by the site/);
  });

  it('every built-in denial names a documented option (a misspelt entry would deny nothing)', () => {
    for (const runtime of ['podman', 'apptainer'] as const) {
      const known = new Set(RUNNER_OPTIONS[runtime].map((o) => o.long));
      expect(Object.keys(DRIVERS[runtime].denied).filter((flag) => !known.has(flag))).toEqual([]);
    }
  });

  it('normalises . .. // and trailing slashes', () => {
    expect(['/./', '//', '/a/../', '/etc/', '/etc//x/./y/..', '/..'].map(normalPath)).toEqual(['/', '/', '/', '/etc', '/etc/x', '/']);
  });
});
