// Bad input: exit 2, one line `tre-job: FIELD: problem`, and nothing written.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCliUnchecked, tempDir, writeYaml } from '../helpers';

const GOOD = { image: 'ghcr.io/mikej888/hello-tre:1.0', registry: { username: 'alice' } };

interface Case {
  name: string;
  spec?: unknown;
  site?: unknown;
  /** Replaces the default token flags. */
  tokenArgs?: string[];
  extraArgs?: string[];
  error: string;
}

const cases: Case[] = [
  { name: 'unknown key', spec: { ...GOOD, colour: 'red' }, error: 'colour: unknown key' },
  { name: 'unknown key in registry (no password in a spec)', spec: { ...GOOD, registry: { username: 'a', password: 'x' } }, error: 'registry.password: unknown key' },
  { name: 'missing image', spec: { registry: { username: 'alice' } }, error: 'image: is required, e.g. image: ghcr.io/mikej888/hello-tre:1.0' },
  { name: 'empty image', spec: { ...GOOD, image: '' }, error: 'image: must not be empty' },
  { name: 'space in image', spec: { ...GOOD, image: 'ghcr.io/a/b:1 --privileged' }, error: 'image: must not contain spaces or newlines' },
  { name: 'newline in image', spec: { ...GOOD, image: 'ghcr.io/a/b:1\nid' }, error: 'image: must not contain a newline' },
  { name: 'bad tag', spec: { ...GOOD, image: 'ghcr.io/a/b:-x' }, error: 'image: tag "-x" is not a valid tag' },
  { name: 'upper-case path', spec: { ...GOOD, image: 'ghcr.io/Alice/b:1' }, error: 'image: path part "Alice" is not valid' },
  { name: 'bad digest', spec: { ...GOOD, image: 'ghcr.io/a/b@sha256:xyz' }, error: 'image: digest "sha256:xyz" is not sha256:<64 hex digits>' },
  { name: 'registry not allowed', spec: { ...GOOD, image: 'docker.io/library/ubuntu:22.04' }, error: 'image: registry docker.io is not allowed here (allowed: ghcr.io, git.ecdf.ed.ac.uk)' },
  { name: 'short name means Docker Hub', spec: { ...GOOD, image: 'ubuntu:22.04' }, error: 'image: registry docker.io is not allowed here' },
  { name: 'unknown runtime', spec: { ...GOOD, runtime: 'docker' }, error: 'runtime: must be one of podman, apptainer (line 4)' },
  { name: 'time over the cap', spec: { ...GOOD, time: '07:00:00' }, error: 'time: 07:00:00 is over the site maximum 06:00:00' },
  { name: 'time not HH:MM:SS', spec: { ...GOOD, time: '6h' }, error: 'time: must be HH:MM:SS' },
  { name: 'zero time', spec: { ...GOOD, time: '00:00:00' }, error: 'time: must be more than 00:00:00' },
  { name: 'newline in container name', spec: { ...GOOD, name: 'a\nb' }, error: 'name: must not contain a newline' },
  { name: 'space in container name', spec: { ...GOOD, name: 'a b' }, error: 'name: must start with a letter or digit' },
  { name: 'NUL byte in an argument', spec: { ...GOOD, args: ['ok', 'a\0b'] }, error: 'args.1: must not contain a NUL byte' },
  { name: 'NUL byte in an env value', spec: { ...GOOD, env: { A: 'a\0b' } }, error: 'env.A: must not contain a NUL byte' },
  { name: 'bad env name in a map', spec: { ...GOOD, env: { '1BAD': 'x' } }, error: 'env.1BAD: "1BAD" is not a valid variable name' },
  { name: 'env line without =', spec: { ...GOOD, env: ['JUSTANAME'] }, error: 'env.0: expected NAME=value, got "JUSTANAME"' },
  { name: 'env name with a dash', spec: { ...GOOD, env: ['OK=1', 'MY-VAR=x'] }, error: 'env.1: "MY-VAR" is not a valid variable name' },
  { name: 'CR LF in an env value', spec: { ...GOOD, env: { A: 'line\r\nnext' } }, error: 'env.A: must not contain a CR LF line break (use LF)' },
  { name: 'env list item that YAML read as a map', spec: `image: ${GOOD.image}\nregistry: {username: alice}\nenv:\n  - A=x: y\n`, error: 'env: must be a map (NAME: value) or a list of "NAME=value" strings' },
  // Regression: a map key named __proto__ vanished without a word (found by the property tests).
  { name: 'env map key __proto__', spec: '{"image": "ghcr.io/mikej888/hello-tre:1.0", "registry": {"username": "alice"}, "env": {"__proto__": "x"}}', error: 'env.__proto__: cannot be a map key here: use the list form "__proto__=value"' },
  { name: 'env name set twice', spec: { ...GOOD, env: ['A=1', 'A=2'] }, error: 'env.1: A is set twice' },
  { name: 'negative cpus', spec: { ...GOOD, cpus: -1 }, error: 'cpus: must be from 1 to 4096 CPUs (line 4)' },
  { name: 'fractional cpus', spec: { ...GOOD, cpus: 1.5 }, error: 'cpus: must be a whole number of CPUs, e.g. 2 (line 4)' },
  { name: 'cpus as text', spec: { ...GOOD, cpus: 'two' }, error: 'cpus: must be a whole number of CPUs, e.g. 2 (line 4)' },
  { name: 'zero memory', spec: { ...GOOD, memoryGiB: 0 }, error: 'memoryGiB: must be from 1 to 65536 GiB (line 4)' },
  { name: 'header injection in partition', spec: { ...GOOD, partition: 'debug\n#SBATCH --uid=0' }, error: 'partition: must not contain a newline' },
  { name: 'GPU where the site has none', spec: { ...GOOD, gpu: true }, error: 'gpu: this site has no GPUs' },
  { name: 'yes for a boolean (a string in YAML 1.2)', spec: { ...GOOD, runtime: 'apptainer', reuseSif: 'yes' }, error: 'reuseSif: must be true or false' },
  { name: 'reuseSif with podman', spec: { ...GOOD, reuseSif: true }, error: 'reuseSif: only applies to runtime apptainer' },
  { name: 'container name with apptainer', spec: { ...GOOD, runtime: 'apptainer', name: 'x' }, error: 'name: only applies to runtime podman' },
  { name: 'unknown safeData mode', spec: { ...GOOD, safeData: 'maybe' }, error: 'safeData: must be one of auto, required, none (line 4)' },
  { name: 'relative safeDataMount', spec: { ...GOOD, safeDataMount: 'data' }, error: "safeDataMount: must be 'same' or an absolute path without ':' or ','" },
  { name: 'space in registry username', spec: { ...GOOD, registry: { username: 'a b' } }, error: 'registry.username: must be letters, digits and . _ @ + - only' },
  { name: 'spec is a list', spec: '- image: x\n', error: 'spec: must be a mapping with at least an image' },
  { name: 'spec is not YAML', spec: 'image: [unclosed\n', error: 'spec.yaml:2:1: not valid YAML or JSON: ' },
  { name: 'site: unknown key', spec: GOOD, site: { colour: 'red' }, error: 'site.colour: unknown key' },
  { name: 'site: insecure non-loopback registry', spec: GOOD, site: { registries: [{ host: 'ghcr.io', insecure: true }] }, error: 'site.registries.0.insecure: only allowed for a loopback registry, not ghcr.io' },
  { name: 'site: bad maxTime', spec: GOOD, site: { maxTime: '6 hours' }, error: 'site.maxTime: must be HH:MM:SS' },
  { name: 'site: no registries', spec: GOOD, site: { registries: [] }, error: 'site.registries: must have at least 1 item(s)' },
  { name: 'username but no token', spec: GOOD, tokenArgs: [], error: 'token: registry.username is set but no token was given' },
  { name: 'token but no username', spec: { image: GOOD.image }, error: 'registry.username: required when a registry token is given' },
  { name: 'token file missing', spec: GOOD, tokenArgs: ['--token-file', '/nonexistent/token'], error: '--token-file: cannot read /nonexistent/token: ENOENT' },
  { name: 'token as a flag value is refused', spec: GOOD, tokenArgs: ['--token', 'secret'], error: "unknown option '--token'" },
  { name: 'unknown flag', spec: GOOD, extraArgs: ['--frobnicate'], error: "unknown option '--frobnicate'" },
  // Runner argument policy (site default: deny-list).
  { name: 'runner arg --privileged', spec: { ...GOOD, runnerArgs: ['--privileged'] }, error: 'runnerArgs.0: --privileged is not allowed here: it grants privilege' },
  { name: 'runner arg --cap-add=ALL', spec: { ...GOOD, runnerArgs: ['--cap-add=ALL'] }, error: 'runnerArgs.0: --cap-add is not allowed here: it grants privilege' },
  { name: 'runner arg --security-opt', spec: { ...GOOD, runnerArgs: ['--security-opt', 'label=disable'] }, error: 'runnerArgs.0: --security-opt is not allowed here: it grants privilege' },
  { name: 'runner arg host network', spec: { ...GOOD, runnerArgs: ['--network=host'] }, error: 'runnerArgs.0: --network is not allowed here: it shares host or other namespaces' },
  { name: 'runner arg --pid host', spec: { ...GOOD, runnerArgs: ['--pid', 'host'] }, error: 'runnerArgs.0: --pid is not allowed here: it shares host or other namespaces' },
  { name: 'runner arg --userns', spec: { ...GOOD, runnerArgs: ['--userns=keep-id'] }, error: 'runnerArgs.0: --userns is not allowed here: it changes the user namespace' },
  { name: 'runner arg --device outside the GPU option', spec: { ...GOOD, runnerArgs: ['--device', '/dev/fuse'] }, error: 'runnerArgs.0: --device is not allowed here: it adds devices (use gpu: true for a GPU)' },
  { name: 'runner arg replacing the image', spec: { ...GOOD, runnerArgs: ['-e', 'A=1', 'docker.io/evil/image:1'] }, error: 'runnerArgs.2: "docker.io/evil/image:1" is not an option' },
  { name: 'runner arg combined short options', spec: { ...GOOD, runnerArgs: ['-dv/etc:/x'] }, error: 'runnerArgs.0: --detach is not allowed here: it is set by tre-job or the site' },
  { name: 'mount over /safe_outputs', spec: { ...GOOD, runnerArgs: ['-v', '/tmp/x:/safe_outputs'] }, error: 'runnerArgs.0: -v /tmp/x:/safe_outputs: mounting over /safe_outputs is not allowed' },
  { name: 'mount over /scratch with --mount', spec: { ...GOOD, runnerArgs: ['--mount', 'type=bind,src=/data/x,dst=/scratch/sub'] }, error: 'runnerArgs.0: --mount type=bind,src=/data/x,dst=/scratch/sub: mounting over /scratch is not allowed' },
  { name: 'mount of /etc', spec: { ...GOOD, runnerArgs: ['--volume=/etc:/host-etc'] }, error: 'runnerArgs.0: --volume=/etc:/host-etc: mounting the system path /etc is not allowed' },
  { name: 'mount of the whole safe data root', spec: { ...GOOD, runnerArgs: ['-v', '/safe_data:/all'] }, error: 'runnerArgs.0: -v /safe_data:/all: safe data is mounted by tre-job; /safe_data cannot be mounted by hand' },
  { name: 'mount source from a variable', spec: { ...GOOD, runnerArgs: ['-v', '${EVIL}:/x'] }, error: 'runnerArgs.0: -v ${EVIL}:/x: the source must be an absolute path or start with ${HOME}' },
  { name: 'apptainer --fakeroot', spec: { ...GOOD, runtime: 'apptainer', runnerArgs: ['--fakeroot'] }, error: 'runnerArgs.0: --fakeroot is not allowed here: it grants privilege' },
  { name: 'apptainer bind list over /safe_data', spec: { ...GOOD, runtime: 'apptainer', runnerArgs: ['-B', '/data/a:/a,/data/b:/safe_data'] }, error: 'runnerArgs.0: -B /data/a:/a,/data/b:/safe_data: mounting over /safe_data is not allowed' },
  { name: 'apptainer --nv outside the GPU option', spec: { ...GOOD, runtime: 'apptainer', runnerArgs: ['--nv'] }, error: 'runnerArgs.0: --nv is not allowed here: it adds devices (use gpu: true for a GPU)' },
  { name: 'site allow-list refuses other flags', spec: { ...GOOD, runnerArgs: ['--env-file', 'x'] }, site: { runnerArgs: { mode: 'allow', allow: ['--workdir'] } }, error: 'runnerArgs.0: --env-file is not allowed by this site (allowed: --workdir)' },
  { name: 'site deny-list adds a flag', spec: { ...GOOD, runnerArgs: ['--entrypoint=/bin/sh'] }, site: { runnerArgs: { mode: 'deny', deny: ['--entrypoint'] } }, error: 'runnerArgs.0: --entrypoint is not allowed here: it is denied by the site' },
  { name: 'mount over a site-forced mount', spec: { ...GOOD, runnerArgs: ['-v', '/data/x:/tools'] }, site: { forcedMounts: [{ source: '/opt/tools', target: '/tools' }] }, error: 'runnerArgs.0: -v /data/x:/tools: mounting over /tools is not allowed' },
  { name: 'site: bad runnerArgs mode', spec: GOOD, site: { runnerArgs: { mode: 'maybe' } }, error: 'site.runnerArgs.mode: must be one of deny, allow' },
  { name: 'site: relative forced mount', spec: GOOD, site: { forcedMounts: [{ source: 'tools', target: '/tools' }] }, error: "site.forcedMounts.0.source: must be an absolute path without ':' or ','" },
];

describe('bad input', () => {
  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases.map((c) => [c.name, c] as const))('%s: exit 2, one line naming the field, nothing written', (_name, c) => {
    const dir = tempDir();
    try {
      const specFile = writeYaml(dir.path, 'spec.yaml', c.spec);
      const tokenFile = join(dir.path, 'token');
      writeFileSync(tokenFile, 'tok-123\n');
      const site = c.site !== undefined ? ['--site', writeYaml(dir.path, 'site.yaml', c.site)] : [];
      const out = join(dir.path, 'out');
      const result = runCliUnchecked(['render', specFile, '--job-dir', out, ...site, ...(c.tokenArgs ?? ['--token-file', tokenFile]), ...(c.extraArgs ?? [])]);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^tre-job: [^\n]+\n$/);
      expect(result.stderr.replace(`${dir.path}/`, '')).toContain(`tre-job: ${c.error}`); // a file is named as given
      expect(existsSync(out)).toBe(false);
    } finally {
      dir.remove();
    }
  });
});
