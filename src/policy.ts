// The site's policy for runner arguments: what a user may add to `podman run` or
// `apptainer run`. By default a deny-list that blocks privilege, host namespaces, other
// images and mounts over the safe-haven directories or of system paths; a site may instead
// allow only the flags it lists. Forced flags and mounts come after the user's, so they win.
import { InputError } from './errors';
import type { Site } from './site/schema';

type Runtime = 'podman' | 'apptainer';

/** Options that take a value (`--flag VALUE` or `--flag=VALUE`), from each runtime's documented CLI. */
const VALUE_FLAGS: Record<Runtime, ReadonlySet<string>> = {
  podman: new Set(
    ('--add-host --annotation --arch --attach -a --authfile --blkio-weight --blkio-weight-device --cap-add --cap-drop --cgroup-conf ' +
      '--cgroup-parent --cgroupns --cgroups --chrootdirs --cidfile --conmon-pidfile --cpu-period --cpu-quota --cpu-rt-period ' +
      '--cpu-rt-runtime --cpu-shares -c --cpus --cpuset-cpus --cpuset-mems --decryption-key --detach-keys --device ' +
      '--device-cgroup-rule --device-read-bps --device-read-iops --device-write-bps --device-write-iops --dns --dns-option ' +
      '--dns-search --entrypoint --env -e --env-file --env-merge --expose --gidmap --gpus --group-add --group-entry ' +
      '--health-cmd --health-interval --health-retries --health-start-period --health-timeout --hostname -h --hostuser ' +
      '--init-path --ip --ip6 --ipc --label -l --label-file --log-driver --log-opt --mac-address --memory -m ' +
      '--memory-reservation --memory-swap --memory-swappiness --mount --name --network --net --network-alias ' +
      '--oom-score-adj --os --passwd-entry --personality --pid --pidfile --platform --pod --pod-id-file --preserve-fds ' +
      '--publish -p --pull --requires --restart --rootfs --sdnotify --seccomp-policy --secret --security-opt --shm-size ' +
      '--stop-signal --stop-timeout --subgidname --subuidname --sysctl --systemd --timeout --tmpfs --tz --uidmap --ulimit ' +
      '--umask --unsetenv --user -u --userns --uts --variant --volume -v --volumes-from --workdir -w').split(' '),
  ),
  apptainer: new Set(
    ('--bind -B --mount --env --env-file --home -H --no-mount --pwd --cwd --network --network-args --overlay -o --scratch -S ' +
      '--workdir -W --hostname --add-caps --drop-caps --security --dns --cpus --memory --apply-cgroups --device').split(' '),
  ),
};

/** Denied by default: privilege, host namespaces, devices outside the GPU option, identity and image changes. */
const DENIED: Record<Runtime, Record<string, string>> = {
  podman: Object.fromEntries([
    ...['--privileged', '--cap-add', '--security-opt', '--sysctl', '--seccomp-policy'].map((f) => [f, 'grants privilege']),
    ...['--pid', '--ipc', '--uts', '--network', '--net', '--cgroupns', '--cgroup-parent', '--cgroups', '--pod', '--volumes-from'].map((f) => [f, 'shares host or other namespaces']),
    ...['--userns', '--uidmap', '--gidmap', '--subuidname', '--subgidname'].map((f) => [f, 'changes the user namespace']),
    ...['--device', '--gpus', '--device-cgroup-rule'].map((f) => [f, 'adds devices (use gpu: true for a GPU)']),
    ...['--rootfs', '--pull', '--authfile', '--init-path', '--env-host', '--name', '--replace', '--rm', '--detach', '-d'].map((f) => [f, 'is set by tre-job or the site']),
  ]),
  apptainer: Object.fromEntries([
    ...['--fakeroot', '-f', '--add-caps', '--keep-privs', '--allow-setuid', '--security', '--apply-cgroups'].map((f) => [f, 'grants privilege']),
    ...['--net', '-n', '--network', '--network-args', '--userns', '-u', '--sharens'].map((f) => [f, 'changes namespaces or the network']),
    ...['--nv', '--nvccli', '--rocm', '--device'].map((f) => [f, 'adds devices (use gpu: true for a GPU)']),
    ...['--no-eval', '--compat'].map((f) => [f, 'is set by tre-job']),
  ]),
};

const MOUNT_FLAGS: Record<Runtime, ReadonlySet<string>> = {
  podman: new Set(['--volume', '-v', '--mount', '--tmpfs']),
  apptainer: new Set(['--bind', '-B', '--mount']),
};

const SYSTEM_PATHS = ['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var'];

export interface ForcedMount {
  source: string;
  target: string;
  readOnly: boolean;
}

const within = (path: string, root: string) => path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
const normal = (path: string) => path.replace(/\/+$/, '') || '/';

/** Mount (source, target) pairs in one mount option value. */
function mountsOf(runtime: Runtime, flag: string, value: string): { source: string | null; target: string }[] {
  if (flag === '--mount') {
    const fields = Object.fromEntries(value.split(',').map((kv) => [kv.split('=')[0] ?? '', kv.slice(kv.indexOf('=') + 1)]));
    return [{ source: fields.src ?? fields.source ?? null, target: fields.dst ?? fields.destination ?? fields.target ?? '' }];
  }
  if (flag === '--tmpfs') return [{ source: null, target: value.split(':')[0] ?? '' }];
  const specs = runtime === 'apptainer' ? value.split(',') : [value];
  return specs.map((spec) => {
    const [source = '', target] = spec.split(':');
    return { source, target: target ?? source };
  });
}

function checkMount(runtime: Runtime, flag: string, value: string, field: string, site: Site): void {
  const protectedTargets = ['/safe_data', '/safe_outputs', '/scratch', site.safeDataRoot, ...site.forcedMounts.map((m) => m.target)];
  for (const { source, target } of mountsOf(runtime, flag, value)) {
    if (!target.startsWith('/')) throw new InputError(field, `${flag} ${value}: the container path must be absolute`);
    const dst = normal(target);
    const covered = protectedTargets.find((p) => within(dst, normal(p)) || within(normal(p), dst));
    if (covered) throw new InputError(field, `${flag} ${value}: mounting over ${covered} is not allowed`);
    if (source === null) continue;
    // ${HOME} and $HOME are the only variables a mount source may start with.
    const literal = source.replace(/^(\$\{HOME\}|\$HOME)(?=\/|$)/, '/home/USER');
    if (!literal.startsWith('/')) throw new InputError(field, `${flag} ${value}: the source must be an absolute path or start with \${HOME}`);
    if (/\$/.test(literal.replace(/\\\$/g, ''))) throw new InputError(field, `${flag} ${value}: the source may use no variable but \${HOME}`);
    const src = normal(literal);
    if (SYSTEM_PATHS.includes(src) || ['/boot', '/dev', '/etc', '/proc', '/root', '/run', '/sys', '/usr', '/var'].some((p) => within(src, p))) {
      throw new InputError(field, `${flag} ${value}: mounting the system path ${src} is not allowed`);
    }
    if (within(src, normal(site.safeDataRoot))) throw new InputError(field, `${flag} ${value}: safe data is mounted by tre-job; ${site.safeDataRoot} cannot be mounted by hand`);
  }
}

/** Check the user's runner arguments against the site policy; throws an InputError naming the item and flag. */
export function checkRunnerArgs(runtime: Runtime, args: string[], site: Site): void {
  const policy = site.runnerArgs;
  const values = VALUE_FLAGS[runtime];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const field = `runnerArgs.${i}`;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw new InputError(field, `"${arg}" is not an option: runner arguments come before the image, so an image or command here would replace the approved one`);
    }
    if (/^-[A-Za-z]{2,}/.test(arg)) throw new InputError(field, `${arg}: give short options one at a time (e.g. -v SRC:DST)`);
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (policy.mode === 'allow' && !policy.allow.includes(flag)) throw new InputError(field, `${flag} is not allowed by this site (allowed: ${policy.allow.join(' ') || 'none'})`);
    const reason = policy.deny.includes(flag) ? 'is denied by the site' : policy.mode === 'deny' ? DENIED[runtime][flag] : undefined;
    if (reason) throw new InputError(field, `${flag} is not allowed here: it ${reason}`);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (values.has(flag)) {
      value = args[i + 1];
      if (value === undefined) throw new InputError(field, `${flag} needs a value`);
      i++;
    }
    if (value !== undefined && MOUNT_FLAGS[runtime].has(flag)) checkMount(runtime, flag, value, field, site);
  }
}

/** The site's forced flags and mounts for this runtime, as argv items (placed after the user's). */
export function forcedArgs(runtime: Runtime, site: Site): string[] {
  const mountFlag = runtime === 'podman' ? '--volume' : '--bind';
  const mounts = site.forcedMounts.flatMap((m) => [mountFlag, `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`]);
  return [...site.forcedRunnerArgs[runtime], ...mounts];
}
