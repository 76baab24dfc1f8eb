// The documented options of `podman run` (Podman 4.3.1: `podman run --help`) and `apptainer run`
// (Apptainer 1.4.5: `apptainer run --help` of Debian's apptainer_1.4.5-2_amd64.deb from sid, run
// unprivileged from an extracted prefix; identical to the package's apptainer-run(1) man page).
// Both parse argv with spf13/pflag.
//
// Only options listed by `--help` are here. Options that `run` accepts but hides are left out:
// - podman: hidden ones (e.g. --gpus, --kernel-memory, --signature-policy, --override-arch/-os/-variant)
//   and the persistent global options that are also accepted after `run` (--root, --runroot,
//   --log-level, --storage-opt, --syslog, ...: see `podman --help`);
// - apptainer: --pwd, --ignore-subuid, --ignore-fakeroot-command, --ignore-userns, --no-nv, --no-rocm,
//   --containlibs, --tmpdir, --docker-username, --docker-password, and the deprecated --underlay and
//   --nohttps. Apptainer's global options (--debug, --quiet, --config, ...) go before `run` only.
// Neither list has a pflag optional-value flag (`--flag[=VALUE]`).
export type Runtime = 'podman' | 'apptainer';

export interface RunnerOption {
  /** Long name with dashes, e.g. '--volume'. */
  long: string;
  /** One-letter short form with its dash, e.g. '-v', when there is one. */
  short?: string;
  /** true: takes a value (--flag VALUE, --flag=VALUE, -fVALUE); false: a boolean switch (--flag, --flag=false). */
  takesValue: boolean;
  /**
   * pflag optional value (NoOptDefVal on a non-bool flag, shown as `--flag[=VALUE]`): the value must be
   * attached with `=`, because a following word is never consumed. takesValue is then true.
   */
  optionalValue?: boolean;
}

/**
 * A table as `--help` lists it, one word per option: `-s,--long` for a short form, `=V` for an
 * option that takes a value (--flag VALUE, --flag=VALUE, -fVALUE); otherwise a boolean switch
 * (--flag, --flag=false).
 */
function table(words: string): readonly RunnerOption[] {
  return words
    .trim()
    .split(/\s+/)
    .map((word) => {
      const takesValue = word.endsWith('=V');
      const [first, second] = (takesValue ? word.slice(0, -2) : word).split(',');
      return second === undefined ? { long: first as string, takesValue } : { long: second, short: first as string, takesValue };
    });
}

export const RUNNER_OPTIONS: Record<Runtime, readonly RunnerOption[]> = {
  podman: table(`
    --add-host=V --annotation=V --arch=V -a,--attach=V --authfile=V --blkio-weight=V
    --blkio-weight-device=V --cap-add=V --cap-drop=V --cgroup-conf=V --cgroup-parent=V --cgroupns=V
    --cgroups=V --chrootdirs=V --cidfile=V --conmon-pidfile=V --cpu-period=V --cpu-quota=V
    --cpu-rt-period=V --cpu-rt-runtime=V -c,--cpu-shares=V --cpus=V --cpuset-cpus=V --cpuset-mems=V
    -d,--detach --detach-keys=V --device=V --device-cgroup-rule=V --device-read-bps=V
    --device-read-iops=V --device-write-bps=V --device-write-iops=V --disable-content-trust --dns=V
    --dns-option=V --dns-search=V --entrypoint=V -e,--env=V --env-file=V --env-host --env-merge=V
    --expose=V --gidmap=V --group-add=V --health-cmd=V --health-interval=V --health-on-failure=V
    --health-retries=V --health-start-period=V --health-timeout=V --help -h,--hostname=V --hostuser=V
    --http-proxy --image-volume=V --init --init-path=V -i,--interactive --ip=V --ip6=V --ipc=V
    -l,--label=V --label-file=V --log-driver=V --log-opt=V --mac-address=V -m,--memory=V
    --memory-reservation=V --memory-swap=V --memory-swappiness=V --mount=V --name=V --network=V
    --network-alias=V --no-healthcheck --no-hosts --oom-kill-disable --oom-score-adj=V --os=V --passwd
    --passwd-entry=V --personality=V --pid=V --pidfile=V --pids-limit=V --platform=V --pod=V
    --pod-id-file=V --preserve-fds=V --privileged -p,--publish=V -P,--publish-all --pull=V -q,--quiet
    --read-only --read-only-tmpfs --replace --requires=V --restart=V --rm --rmi --rootfs --sdnotify=V
    --seccomp-policy=V --secret=V --security-opt=V --shm-size=V --sig-proxy --stop-signal=V
    --stop-timeout=V --subgidname=V --subuidname=V --sysctl=V --systemd=V --timeout=V --tls-verify
    --tmpfs=V -t,--tty --tz=V --uidmap=V --ulimit=V --umask=V --unsetenv=V --unsetenv-all -u,--user=V
    --userns=V --uts=V --variant=V -v,--volume=V --volumes-from=V -w,--workdir=V
  `),
  apptainer: table(`
    --add-caps=V --allow-setuid --app=V --apply-cgroups=V --authfile=V -B,--bind=V --blkio-weight=V
    --blkio-weight-device=V -e,--cleanenv --compat -c,--contain -C,--containall --cpu-shares=V --cpus=V
    --cpuset-cpus=V --cpuset-mems=V --cwd=V --disable-cache --dns=V --docker-host=V --docker-login
    --drop-caps=V --env=V --env-file=V -f,--fakeroot --fusemount=V -h,--help -H,--home=V --hostname=V
    -i,--ipc --keep-privs --memory=V --memory-reservation=V --memory-swap=V --mount=V -n,--net
    --netns-path=V --network=V --network-args=V --no-eval --no-home --no-https --no-init --no-mount=V
    --no-pid --no-privs --no-umask --nv --nvccli --oom-kill-disable -o,--overlay=V --passphrase
    --pem-path=V -p,--pid --pids-limit=V --rocm --runscript-timeout=V -S,--scratch=V --security=V
    --sharens --unsquash -u,--userns --uts -W,--workdir=V -w,--writable --writable-tmpfs
  `),
};

/**
 * Options refused by default, by why, for each runtime (by long name): privilege, host
 * namespaces, devices, identity, image and environment changes, and what tre-job sets itself.
 */
const DENIED: readonly { why: string; podman?: string; apptainer?: string }[] = [
  { why: 'grants privilege', podman: '--privileged --cap-add --security-opt --sysctl --seccomp-policy', apptainer: '--fakeroot --add-caps --keep-privs --allow-setuid --security --apply-cgroups' },
  { why: 'shares host or other namespaces', podman: '--pid --ipc --uts --network --cgroupns --cgroup-parent --cgroups --pod --pod-id-file --volumes-from' },
  { why: 'changes the user namespace', podman: '--userns --uidmap --gidmap --subuidname --subgidname' },
  { why: 'adds devices (use gpu: true for a GPU)', podman: '--device --device-cgroup-rule', apptainer: '--nv --nvccli --rocm' },
  { why: "sets the container's environment (use the spec's env)", podman: '--env --env-file --env-host --env-merge --unsetenv', apptainer: '--env --env-file' },
  { why: 'is set by tre-job or the site', podman: '--rootfs --pull --authfile --init-path --name --replace --rm --detach --umask --image-volume' },
  { why: 'changes namespaces or the network', apptainer: '--net --network --network-args --userns --sharens' },
  { why: 'runs a program on the back-end', apptainer: '--fusemount' },
  { why: 'is set by tre-job', apptainer: '--no-eval --compat' },
];

/** A runtime's denied options, each with why. */
export function deniedOptions(runtime: Runtime): Record<string, string> {
  return Object.fromEntries(DENIED.flatMap((row) => (row[runtime] ?? '').split(' ').filter(Boolean).map((flag) => [flag, row.why])));
}

/** What a runtime's command line is, as its driver presents it (see RuntimeDriver). */
const CLI_FACTS = {
  podman: { runCommand: 'podman run', targetless: [], mountFlag: '--volume', env: { flag: '--env' }, inheritsUmask: false },
  // Apptainer's --overlay and --workdir make a host path visible, but not at a path of the user's choosing.
  apptainer: { runCommand: 'apptainer run', targetless: ['--overlay', '--workdir'], mountFlag: '--bind', env: { prefix: 'APPTAINERENV_' }, inheritsUmask: true },
} as const;

/** What a driver takes from these tables: its `run` options, those denied by default, and its command-line facts. */
export function cliFacts(runtime: Runtime) {
  return { ...CLI_FACTS[runtime], options: RUNNER_OPTIONS[runtime], denied: deniedOptions(runtime), command: (site: { [name in Runtime]: string }) => site[runtime] };
}
