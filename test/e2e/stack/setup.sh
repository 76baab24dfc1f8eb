#!/bin/bash
# Builds the real e2e test stack of tre-job on a Debian 12 machine without systemd:
# munge + Slurm (this host's node, partition "debug"), test users and project dirs, machine-level
# rootless Podman settings (overlay, crun, hugetlb), the back-ends shared1 and private1 (a slurmd
# each in its own namespaces; private1 with its own /home and an sshd on 127.0.0.3), a loopback
# registry with htpasswd auth, the probe images, and the site config under /etc/tre-job-test.
# Run as root. Idempotent: on a ready machine it only checks and takes a few seconds.
# Env: TRE_STACK_CPUS=N  advertise N CPUs on the Slurm node (default: nproc).
set -Eeuo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=/etc/tre-job-test
REG=127.0.0.1:5000
REG_USER=treuser
PROBE_REPO=$REG/tre/probe
PROBE_SRC=$HERE/images/probe/probe
IMAGE_RECIPE=3 # bump when the image layout below changes
USERS=(alice bob carol dave erin frank)
PKGS=(slurmctld slurmd slurm-client munge podman crun runc uidmap slirp4netns catatonit
  busybox-static docker-registry apache2-utils shellcheck ruby jq procps util-linux curl
  zsh man-db groff-base openssh-server)
# Back-ends (issue 18): each is one slurmd in its own mount + UTS namespace on this host.
# shared1 sees the host's /home and /safe_data; private1 has its own /home (under BE_ROOT),
# an empty /safe_data, and an sshd on 127.0.0.3. The host itself is the portal/login host.
BE_SHARED=shared1 BE_SHARED_ADDR=127.0.0.2 BE_SHARED_PORT=6821
BE_PRIV=private1 BE_PRIV_ADDR=127.0.0.3 BE_PRIV_PORT=6822
BACKENDS=("$BE_SHARED" "$BE_PRIV")
BE_NS=/run/tre-ns
BE_ROOT=/var/lib/tre-job-test/backends/$BE_PRIV
NO_KEY_USER=frank # no ssh key on purpose (the "no key" tests)
SPREAD_PARTITION=be-spread

T_START=$(date +%s%N)
T_STEP=$T_START
STEP="start"
SUMMARY=()
TMPD=""

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
secs() { awk -v m="$(ms "$1")" 'BEGIN{printf "%.1f", m/1000}'; }
log() { printf '[setup %5ss] %s\n' "$(secs "$T_START")" "$*"; }
step() {
  [ "$STEP" = start ] || SUMMARY+=("$(printf '%-34s %6s ms' "$STEP" "$(ms "$T_STEP")")")
  STEP=$1
  T_STEP=$(date +%s%N)
  log "== $STEP"
}
die() {
  echo "setup.sh: FAILED in step '$STEP': $*" >&2
  exit 1
}
on_err() {
  local rc=$? line=$1
  [ "$BASH_SUBSHELL" = 0 ] || exit "$rc" # report once, in the main shell
  echo "setup.sh: FAILED in step '$STEP' (line $line, command exited $rc): $BASH_COMMAND" >&2
  exit "$rc"
}
trap 'on_err $LINENO' ERR
trap '[ -z "$TMPD" ] || rm -rf "$TMPD"' EXIT

[ "$(id -u)" = 0 ] || die "must run as root"
[ -f "$PROBE_SRC" ] || die "probe source missing: $PROBE_SRC"
TMPD=$(mktemp -d /tmp/tre-stack-setup.XXXXXX)
chmod 0755 "$TMPD"

# write_if_changed FILE MODE OWNER:GROUP < content ; returns 0 if the file changed
write_if_changed() {
  local f=$1 mode=$2 owner=$3 new
  new=$(mktemp "$TMPD/w.XXXXXX")
  cat >"$new"
  if [ -f "$f" ] && cmp -s "$new" "$f"; then
    chmod "$mode" "$f"
    chown "$owner" "$f"
    return 1
  fi
  install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$new" "$f"
  return 0
}

# pid_alive PIDFILE NAME
# A killed daemon whose parent is gone may stay a zombie when PID 1 does not reap (no systemd
# here): a zombie is not alive.
running() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  running "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
stop_pidfile() { # PIDFILE NAME
  local pid
  pid_alive "$1" "$2" || return 0
  pid=$(cat "$1")
  kill "$pid"
  for _ in $(seq 100); do
    running "$pid" || return 0
    sleep 0.1
  done
  die "$2 (pid $pid) did not stop"
}
debian_mirror() { # first Debian archive URI of the apt sources (not -security)
  local m=${TRE_STACK_DEBIAN_MIRROR:-}
  [ -n "$m" ] || m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}')
  [ -n "$m" ] || m=$(grep -hE '^deb +(\[[^]]*\] +)?https?://' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -E 's/^deb +(\[[^]]*\] +)?//' | awk '$1 !~ /security/ {print $1; exit}')
  [ -n "$m" ] || die "no Debian mirror found in the apt sources: set TRE_STACK_DEBIAN_MIRROR"
  echo "$m"
}
# as USER COMMAND... : login shell of USER (no sbatch --uid, no sudo)
as() {
  local u=$1
  shift
  runuser -l "$u" -c "$*"
}

# ---------------------------------------------------------------------------------------
step "1 packages"
missing=()
for p in "${PKGS[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  # Keep package maintainer scripts from starting daemons (we start them ourselves).
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >"$TMPD/apt.log" 2>&1 || {
    tail -n 30 "$TMPD/apt.log" >&2
    die "apt-get install failed"
  }
  [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
else
  log "all ${#PKGS[@]} packages already installed"
fi

# ---------------------------------------------------------------------------------------
step "2 munge"
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
  runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
unm=$(munge -n | unmunge 2>&1) || die "munge -n | unmunge failed: $unm"
grep -q 'STATUS: *Success' <<<"$unm" || die "munge -n | unmunge does not say Success: $unm"

# ---------------------------------------------------------------------------------------
step "3 slurm"
HOST=$(hostname -s)
CPUS=${TRE_STACK_CPUS:-$(nproc)}
[[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "TRE_STACK_CPUS must be a positive integer, got '$CPUS'"
MEM_TOTAL=$(free -m | awk '/^Mem:/{print $2}')
REALMEM=$((MEM_TOTAL * 9 / 10 / 64 * 64))
CTLD_HOST=$HOST NODE_ADDR=""
if ! getent hosts "$HOST" >/dev/null; then
  CTLD_HOST="$HOST(127.0.0.1)"
  NODE_ADDR=" NodeAddr=127.0.0.1"
fi
OVERRIDES="#SlurmdParameters=config_overrides (only with TRE_STACK_CPUS)"
[ -z "${TRE_STACK_CPUS:-}" ] || OVERRIDES="SlurmdParameters=config_overrides"
install -d -m 0755 /var/log/slurm /var/spool/slurmctld /var/spool/slurmd /etc/slurm \
  "/var/spool/slurmd/$HOST" "/var/spool/slurmd/$BE_SHARED" "/var/spool/slurmd/$BE_PRIV"
cat >"$TMPD/slurm.conf" <<EOF
# Written by tre-job test/e2e/stack/setup.sh: test cluster of the node $HOST (partition debug)
# and the back-ends $BE_SHARED and $BE_PRIV (one slurmd each, in their own namespaces; %n = node).
ClusterName=tre-test
SlurmctldHost=$CTLD_HOST
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
# start batch jobs on the next 1 s scheduler tick instead of after up to 3 s
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
KillWait=5
MinJobAge=3600
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
ReturnToService=2
$OVERRIDES
NodeName=$HOST$NODE_ADDR CPUs=$CPUS RealMemory=$REALMEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
NodeName=$BE_SHARED NodeAddr=127.0.0.1 Port=$BE_SHARED_PORT CPUs=$CPUS RealMemory=$REALMEM State=UNKNOWN
NodeName=$BE_PRIV NodeAddr=127.0.0.1 Port=$BE_PRIV_PORT CPUs=$CPUS RealMemory=$REALMEM State=UNKNOWN
PartitionName=be-$BE_SHARED Nodes=$BE_SHARED MaxTime=INFINITE State=UP
PartitionName=be-$BE_PRIV Nodes=$BE_PRIV MaxTime=INFINITE State=UP
PartitionName=$SPREAD_PARTITION Nodes=$HOST,$BE_SHARED MaxTime=INFINITE State=UP
EOF
slurm_changed=0
if ! cmp -s "$TMPD/slurm.conf" /etc/slurm/slurm.conf; then
  # A restart while jobs are being launched loses them: refuse unless forced.
  if pid_alive /run/slurmctld.pid slurmctld && [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ "${TRE_STACK_FORCE:-}" != 1 ]; then
    die "slurm.conf must change (e.g. TRE_STACK_CPUS) but jobs are queued/running: $(squeue -h -o '%i/%u/%T' | tr '\n' ' ')- rerun when they are done, or with TRE_STACK_FORCE=1"
  fi
  install -m 0644 "$TMPD/slurm.conf" /etc/slurm/slurm.conf
  slurm_changed=1
fi

if [ "$slurm_changed" = 1 ]; then
  log "slurm.conf changed: (re)starting daemons (all slurmds: the back-ends' are started again in step 5b)"
  stop_pidfile /run/slurmd.pid slurmd # the single-node layout's pid file
  for n in "$HOST" "${BACKENDS[@]}"; do stop_pidfile "/run/slurmd-$n.pid" slurmd; done
  stop_pidfile /run/slurmctld.pid slurmctld
fi
if ! pid_alive /run/slurmctld.pid slurmctld; then
  log "starting slurmctld"
  slurmctld || die "slurmctld did not start, see /var/log/slurm/slurmctld.log"
fi
since=0
if ! pid_alive "/run/slurmd-$HOST.pid" slurmd; then
  log "starting slurmd"
  since=$(date +%s)
  slurmd || die "slurmd did not start, see /var/log/slurm/slurmd-$HOST.log"
fi
# wait_node_up NODE [SINCE]: sets NODE_STATE. Ready = idle; mix/alloc (jobs of a test run still
# going) also count as up. With SINCE (epoch seconds, taken before its slurmd was started), the
# node must also have registered since then: slurmctld may still show a killed slurmd's node idle.
NODE_STATE=""
wait_node_up() {
  local n=$1 since=${2:-0} resumed=0 i started
  NODE_STATE=""
  for i in $(seq 300); do
    NODE_STATE=$(sinfo -h -N -n "$n" -o %t 2>/dev/null | head -n1 || true)
    if [[ "$NODE_STATE" =~ ^(idle|mix|alloc)$ ]]; then
      [ "$since" = 0 ] && return 0
      started=$(scontrol show node -o "$n" 2>/dev/null | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2 || true)
      [ -n "$started" ] && [ "$(date -d "$started" +%s 2>/dev/null || echo 0)" -ge "$since" ] && return 0
    fi
    if [[ "$NODE_STATE" =~ ^(drain|drng|down|fail) ]] && [ "$resumed" = 0 ] && [ "$i" -gt 10 ]; then
      log "node $n state '$NODE_STATE': resuming"
      scontrol update nodename="$n" state=resume || true
      resumed=1
    fi
    sleep 0.1
  done
  squeue >&2 || true
  tail -n 20 /var/log/slurm/slurmctld.log "/var/log/slurm/slurmd-$n.log" >&2 || true
  die "Slurm node $n not idle after 30 s (sinfo state: '${NODE_STATE:-none}')"
}
wait_node_up "$HOST" "$since"
state=$NODE_STATE
[ "$state" = idle ] || log "note: node is '$state': jobs are running: $(squeue -h -o '%i/%u/%T' | tr '\n' ' ')"
log "node $HOST $state (CPUs=$CPUS RealMemory=$REALMEM)"

# ---------------------------------------------------------------------------------------
step "4 users, groups, dirs"
ensure_group() { getent group "$1" >/dev/null || groupadd "$1"; }
next_sub_start() { # FILE -> first free start >= 100000
  awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}' "$1"
}
ensure_user() { # USER [GROUP...]
  local u=$1 g uid s
  shift
  id "$u" >/dev/null 2>&1 || useradd -m -U -s /bin/bash "$u"
  for g in "$@"; do
    [[ " $(id -nG "$u") " == *" $g "* ]] || usermod -aG "$g" "$u"
  done
  touch /etc/subuid /etc/subgid
  if ! grep -q "^$u:" /etc/subuid; then
    s=$(next_sub_start /etc/subuid)
    usermod --add-subuids "$s-$((s + 65535))" "$u"
  fi
  if ! grep -q "^$u:" /etc/subgid; then
    s=$(next_sub_start /etc/subgid)
    usermod --add-subgids "$s-$((s + 65535))" "$u"
  fi
  uid=$(id -u "$u")
  install -d -m 0755 /run/user
  install -d -m 0700 -o "$u" -g "$u" "/run/user/$uid"
}
for g in tre-demo tre-noread tre-nowrite; do ensure_group "$g"; done
ensure_user alice tre-demo
ensure_user bob tre-demo
ensure_user carol
ensure_user dave tre-noread
ensure_user erin tre-nowrite
# frank's home is a small tmpfs (48 MiB), so that a job can fill its scratch dir (disk-full tests).
ensure_user frank
if ! mountpoint -q /home/frank; then
  mount -t tmpfs -o size=48m,mode=0755 tmpfs /home/frank
  cp -a /etc/skel/. /home/frank/
  chown -R frank:frank /home/frank
fi
mkdir -p /safe_data/demo /safe_data/noread /safe_data/nowrite
chown root:root /safe_data && chmod 0755 /safe_data
chown root:tre-demo /safe_data/demo && chmod 2770 /safe_data/demo
chown root:tre-noread /safe_data/noread && chmod 2730 /safe_data/noread
chown root:tre-nowrite /safe_data/nowrite && chmod 2750 /safe_data/nowrite
install -d -m 0700 -o bob -g bob /home/bob/safe_data

# ---------------------------------------------------------------------------------------
step "5 podman machine settings"
[ "$(findmnt -no PROPAGATION /)" = shared ] || mount --make-rshared /
if ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  # crun 1.8 refuses hybrid cgroups while hugetlb sits only on the v2 hierarchy.
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb none /sys/fs/cgroup/hugetlb || die "cannot mount the hugetlb cgroup v1 hierarchy"
fi
[ ! -e /dev/net/tun ] || chmod 0666 /dev/net/tun
write_if_changed /etc/containers/containers.conf 0644 root:root <<'EOF' || true
# Written by tre-job test/e2e/stack/setup.sh (machine settings of the test host).
[containers]
# rootful podman's default nofile exceeds this host's hard limit
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
# --group-add keep-groups only works with crun
runtime = "crun"
EOF

# Storage driver: overlay if rootful and rootless containers run with it, else vfs.
# busybox_rootfs DIR: a minimal root filesystem of busybox-static and its applets (shared by the
# probe and the HTTP stand-in images).
busybox_rootfs() {
  local r=$1 app
  rm -rf "$r"
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,root,srv}
  cp /bin/busybox "$r/bin/busybox"
  for app in $("$r/bin/busybox" --list-full); do
    [ -e "$r/$app" ] || [ -L "$r/$app" ] || ln -s /bin/busybox "$r/$app"
  done
  chmod 1777 "$r/tmp"
  chmod 0700 "$r/root"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
}

build_probe_rootfs() { # -> $TMPD/probe.tar
  [ -f "$TMPD/probe.tar" ] && return 0
  local r=$TMPD/rootfs
  busybox_rootfs "$r"
  install -m 0755 "$PROBE_SRC" "$r/probe"
  tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$TMPD/probe.tar" .
  chmod 0644 "$TMPD/probe.tar"
}
IMPORT_CHANGES=(--change 'ENTRYPOINT ["/probe"]' --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin')

# verify_podman: rootful run, and rootless run as alice with keep-groups + project dir
verify_podman() {
  build_probe_rootfs
  podman rmi -f localhost/tre-stack-check:latest >/dev/null 2>&1 || true
  podman import -q "${IMPORT_CHANGES[@]}" "$TMPD/probe.tar" localhost/tre-stack-check:latest >/dev/null || return 1
  podman run --rm --network=none --entrypoint /bin/true localhost/tre-stack-check:latest || return 1
  podman rmi -f localhost/tre-stack-check:latest >/dev/null || return 1
  as alice "set -e
    podman rmi -f localhost/tre-stack-check:latest >/dev/null 2>&1 || true
    podman import -q --change 'ENTRYPOINT [\"/probe\"]' $TMPD/probe.tar localhost/tre-stack-check:latest >/dev/null
    podman run --rm --network=none --group-add keep-groups -v /safe_data/demo:/safe_data/demo \
      --entrypoint /bin/sh localhost/tre-stack-check:latest -c 'ls -la /safe_data/demo >/dev/null && echo ok > /safe_data/demo/.stack-check-alice'
    podman rmi -f localhost/tre-stack-check:latest >/dev/null" || return 1
  [ "$(stat -c %U:%G /safe_data/demo/.stack-check-alice)" = alice:tre-demo ] || {
    echo "file written by alice's container is $(stat -c %U:%G /safe_data/demo/.stack-check-alice), want alice:tre-demo" >&2
    return 1
  }
  rm -f /safe_data/demo/.stack-check-alice
}
reset_stores() {
  podman system reset -f >/dev/null 2>&1 || true
  local u
  for u in "${USERS[@]}"; do as "$u" "podman system reset -f" >/dev/null 2>&1 || true; done
}
write_storage_conf() { # DRIVER
  write_if_changed /etc/containers/storage.conf 0644 root:root <<EOF
# Written by tre-job test/e2e/stack/setup.sh (machine settings of the test host).
[storage]
driver = "$1"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
}
VERIFY_KEY=$( (cat /etc/containers/containers.conf; echo "$IMAGE_RECIPE"; crun --version; podman --version) | sha256sum | cut -c1-64)
if [ -f /etc/containers/storage.conf ] && [ "$(cat "$CONF/podman-verified" 2>/dev/null)" = "$VERIFY_KEY" ]; then
  log "podman settings verified before ($(awk -F'"' '/^driver/{print $2}' /etc/containers/storage.conf))"
else
  install -d -m 0755 "$CONF"
  if write_storage_conf overlay; then reset_stores; fi
  if verify_podman; then
    log "rootful + rootless podman work with overlay + crun (keep-groups verified)"
  else
    log "overlay failed: trying vfs"
    write_storage_conf vfs || true
    reset_stores
    verify_podman || die "rootless podman with crun and --group-add keep-groups does not work (overlay and vfs tried)"
    log "rootful + rootless podman work with vfs + crun (keep-groups verified)"
  fi
  echo "$VERIFY_KEY" >"$CONF/podman-verified"
fi

# ---------------------------------------------------------------------------------------
step "5b back-ends"
# After step 4 (users and their /run/user dirs exist) and step 5 (/ is rshared and the hugetlb
# cgroup is mounted, so the namespaces start as slaves of a complete host). Each back-end's
# namespaces are kept in $BE_NS/ID.{mnt,uts} (bind-mounted nsfs files); a namespace is reused
# when it is bound, looks right and its slurmd runs inside it, else it is made again.
SSH_CONF_DIR=$CONF/ssh/$BE_PRIV
SSHD_CONF=$SSH_CONF_DIR/sshd_config
SSHD_PID=/run/sshd-$BE_PRIV.pid
be_enter() { # ID COMMAND... : run COMMAND (as root) in the back-end's mount + UTS namespaces
  local n=$1
  shift
  nsenter --mount="$BE_NS/$n.mnt" --uts="$BE_NS/$n.uts" "$@"
}
be_ok() { # ID: namespace bound, hostname and (private) /home right, its slurmd alive inside it
  local n=$1 pid
  mountpoint -q "$BE_NS/$n.mnt" && mountpoint -q "$BE_NS/$n.uts" || return 1
  pid_alive "/run/slurmd-$n.pid" slurmd || return 1
  pid=$(cat "/run/slurmd-$n.pid")
  [ "$(readlink "/proc/$pid/ns/mnt")" = "mnt:[$(stat -L -c %i "$BE_NS/$n.mnt")]" ] || return 1
  [ "$(be_enter "$n" hostname)" = "$n" ] || return 1
  [ "$n" != "$BE_PRIV" ] || [ "$(be_enter "$n" stat -c %d:%i /home)" = "$(stat -c %d:%i "$BE_ROOT/home")" ]
}
be_create() { # ID SETUP-SCRIPT : new namespaces, SETUP-SCRIPT run inside them (then no daemon runs there)
  local n=$1 k
  [ "$n" != "$BE_PRIV" ] || stop_pidfile "$SSHD_PID" sshd
  stop_pidfile "/run/slurmd-$n.pid" slurmd
  for k in mnt uts; do
    umount -l "$BE_NS/$n.$k" 2>/dev/null || true
    rm -f "$BE_NS/$n.$k"
    touch "$BE_NS/$n.$k"
  done
  unshare --mount="$BE_NS/$n.mnt" --uts="$BE_NS/$n.uts" --propagation slave true
  # The copy of $BE_NS inside would keep other back-ends' namespaces alive: drop it there.
  be_enter "$n" bash -c "set -e; hostname $n; mount --make-rshared /; umount -l $BE_NS; $2"
}

# /etc/hosts: the back-ends' names on loopback addresses (other lines kept; written in place,
# as /etc/hosts may be a bind mount)
awk -v a="$BE_SHARED_ADDR $BE_SHARED" -v b="$BE_PRIV_ADDR $BE_PRIV" -v s="$BE_SHARED" -v p="$BE_PRIV" '
  { for (i = 2; i <= NF; i++) if ($i == s || $i == p) next; print }
  END { print a; print b }' /etc/hosts >"$TMPD/hosts"
cmp -s "$TMPD/hosts" /etc/hosts || { cat "$TMPD/hosts" >/etc/hosts && log "/etc/hosts: $BE_SHARED_ADDR $BE_SHARED, $BE_PRIV_ADDR $BE_PRIV"; }

# private1's own /home (from /etc/skel, 0700, per user) and an empty /safe_data
install -d -m 0755 -o root -g root "$BE_ROOT" "$BE_ROOT/home" "$BE_ROOT/safe_data"
for u in "${USERS[@]}"; do
  h=$BE_ROOT/home/$u
  if [ ! -d "$h" ]; then
    install -d -m 0700 -o "$u" -g "$u" "$h"
    cp -a /etc/skel/. "$h/"
    chown -R "$u:$u" "$h"
  fi
  chown "$u:$u" "$h"
  chmod 0700 "$h"
done

# ssh keys: one ed25519 key per test user in the portal home, authorized in private1's home;
# NO_KEY_USER has none (a key left from before is removed).
for u in "${USERS[@]}"; do
  ph=$(getent passwd "$u" | cut -d: -f6)
  bh=$BE_ROOT/home/$u
  if [ "$u" = "$NO_KEY_USER" ]; then
    rm -f "$ph/.ssh/id_ed25519" "$ph/.ssh/id_ed25519.pub" "$bh/.ssh/authorized_keys"
    continue
  fi
  if [ ! -s "$ph/.ssh/id_ed25519" ] || [ ! -s "$ph/.ssh/id_ed25519.pub" ]; then
    as "$u" "install -d -m 0700 ~/.ssh && rm -f ~/.ssh/id_ed25519 ~/.ssh/id_ed25519.pub &&
      ssh-keygen -q -t ed25519 -N '' -C $u@tre-portal -f ~/.ssh/id_ed25519"
    log "ssh key made for $u"
  fi
  chmod 0700 "$ph/.ssh"
  chmod 0600 "$ph/.ssh/id_ed25519"
  install -d -m 0700 -o "$u" -g "$u" "$bh/.ssh"
  write_if_changed "$bh/.ssh/authorized_keys" 0600 "$u:$u" <"$ph/.ssh/id_ed25519.pub" || true
done

# sshd of private1: its own config and host key; started inside private1's namespaces
install -d -m 0755 "$SSH_CONF_DIR" /run/sshd
if [ ! -s "$SSH_CONF_DIR/ssh_host_ed25519_key" ]; then
  rm -f "$SSH_CONF_DIR/ssh_host_ed25519_key" "$SSH_CONF_DIR/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "root@$BE_PRIV" -f "$SSH_CONF_DIR/ssh_host_ed25519_key"
fi
chmod 0600 "$SSH_CONF_DIR/ssh_host_ed25519_key"
sshd_changed=0
write_if_changed "$SSHD_CONF" 0644 root:root <<EOF && sshd_changed=1
# Written by tre-job test/e2e/stack/setup.sh: sshd of the back-end $BE_PRIV (runs in its namespaces)
ListenAddress $BE_PRIV_ADDR
Port 22
HostKey $SSH_CONF_DIR/ssh_host_ed25519_key
PidFile $SSHD_PID
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# the test users' passwords are locked: without PAM sshd refuses them
UsePAM yes
PermitRootLogin no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
# scp (SFTP since OpenSSH 9) and sftp: how users fetch their outputs from the back-end
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -t -f "$SSHD_CONF" || die "sshd -t -f $SSHD_CONF failed"
known=$(awk '{print $1, $2}' "$SSH_CONF_DIR/ssh_host_ed25519_key.pub")
touch /etc/ssh/ssh_known_hosts
{
  awk -v p="$BE_PRIV" '{ split($1, h, ","); for (i in h) if (h[i] == p) next; print }' /etc/ssh/ssh_known_hosts
  echo "$BE_PRIV,$BE_PRIV_ADDR $known"
} | write_if_changed /etc/ssh/ssh_known_hosts 0644 root:root || true

# namespaces and daemons
install -d -m 0755 "$BE_NS"
mountpoint -q "$BE_NS" || mount --bind "$BE_NS" "$BE_NS"
mount --make-private "$BE_NS"
if ! be_ok "$BE_SHARED"; then
  log "making $BE_SHARED's namespaces"
  be_create "$BE_SHARED" ""
fi
if ! be_ok "$BE_PRIV"; then
  log "making $BE_PRIV's namespaces"
  be_create "$BE_PRIV" "mount --bind $BE_ROOT/home /home; mount --bind $BE_ROOT/safe_data /safe_data;
    mount -t tmpfs -o mode=0755 tmpfs /run/user"
fi
runuser_dirs=""
for u in "${USERS[@]}"; do
  runuser_dirs+="install -d -m 0700 -o $u -g $u /run/user/$(id -u "$u"); "
done
be_enter "$BE_PRIV" bash -c "set -e; $runuser_dirs"
declare -A be_since=()
for n in "${BACKENDS[@]}"; do
  if ! pid_alive "/run/slurmd-$n.pid" slurmd; then
    log "starting slurmd -N $n in its namespaces"
    be_since[$n]=$(date +%s)
    be_enter "$n" slurmd -N "$n" || die "slurmd -N $n did not start, see /var/log/slurm/slurmd-$n.log"
  fi
done
[ "$sshd_changed" = 0 ] || stop_pidfile "$SSHD_PID" sshd
# an sshd outside private1's namespaces (e.g. left from an older one) would log users in elsewhere
if pid_alive "$SSHD_PID" sshd && [ "$(readlink "/proc/$(cat "$SSHD_PID")/ns/mnt")" != "mnt:[$(stat -L -c %i "$BE_NS/$BE_PRIV.mnt")]" ]; then
  stop_pidfile "$SSHD_PID" sshd
fi
if ! pid_alive "$SSHD_PID" sshd; then
  log "starting sshd of $BE_PRIV on $BE_PRIV_ADDR:22 in its namespaces"
  be_enter "$BE_PRIV" /usr/sbin/sshd -f "$SSHD_CONF" || die "sshd of $BE_PRIV did not start"
fi
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/$BE_PRIV_ADDR/22") 2>/dev/null && break
  sleep 0.1
done
(exec 3<>"/dev/tcp/$BE_PRIV_ADDR/22") 2>/dev/null || die "sshd of $BE_PRIV does not answer on $BE_PRIV_ADDR:22"
be_states=""
for n in "${BACKENDS[@]}"; do
  wait_node_up "$n" "${be_since[$n]:-0}"
  be_states+=" $n $NODE_STATE"
done
log "back-ends up:$be_states; sshd $BE_PRIV_ADDR:22 (pid $(cat "$SSHD_PID"))"

# ---------------------------------------------------------------------------------------
step "6 registry"
install -d -m 0755 "$CONF" "$CONF/registry"
if [ ! -s "$CONF/registry-token" ]; then
  umask 077
  head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | cut -c1-32 >"$CONF/registry-token"
  umask 022
fi
chown root:root "$CONF/registry-token"
chmod 0600 "$CONF/registry-token"
TOKEN=$(cat "$CONF/registry-token")
reg_changed=0
if ! htpasswd -v -i "$CONF/registry/htpasswd" "$REG_USER" <"$CONF/registry-token" >/dev/null 2>&1; then
  htpasswd -i -B -c "$CONF/registry/htpasswd" "$REG_USER" <"$CONF/registry-token" >/dev/null 2>&1
  reg_changed=1
fi
chown root:docker-registry "$CONF/registry/htpasswd"
chmod 0640 "$CONF/registry/htpasswd"
install -d -o docker-registry -g docker-registry -m 0750 /var/lib/docker-registry
if write_if_changed "$CONF/registry/config.yml" 0644 root:root; then reg_changed=1; fi <<EOF
# Written by tre-job test/e2e/stack/setup.sh
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: $REG
auth:
  htpasswd:
    realm: tre-test-registry
    path: $CONF/registry/htpasswd
EOF
http_code() { # URL [with-creds]
  if [ "${2:-}" = creds ]; then
    printf 'user = "%s:%s"\n' "$REG_USER" "$TOKEN" | curl -s -o /dev/null -w '%{http_code}' -K - --max-time 5 "$1" || true
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true
  fi
}
if [ "$reg_changed" = 1 ]; then stop_pidfile /run/tre-registry.pid docker-registry; fi
if [ "$(http_code "http://$REG/v2/")" != 401 ]; then
  pid_alive /run/tre-registry.pid docker-registry && die "registry process runs but $REG/v2/ does not answer 401"
  log "starting docker-registry"
  : >>/var/log/tre-registry.log
  chown docker-registry:docker-registry /var/log/tre-registry.log
  setsid setpriv --reuid docker-registry --regid docker-registry --init-groups -- \
    /usr/bin/docker-registry serve "$CONF/registry/config.yml" >>/var/log/tre-registry.log 2>&1 </dev/null &
  echo $! >/run/tre-registry.pid
  for _ in $(seq 100); do
    [ "$(http_code "http://$REG/v2/")" = 401 ] && break
    sleep 0.1
  done
fi
code=$(http_code "http://$REG/v2/")
[ "$code" = 401 ] || {
  tail -n 20 /var/log/tre-registry.log >&2
  die "registry /v2/ without credentials answers '$code', want 401"
}
code=$(http_code "http://$REG/v2/" creds)
[ "$code" = 200 ] || die "registry /v2/ with credentials answers '$code', want 200"

# ---------------------------------------------------------------------------------------
step "6b apptainer"
# Real Apptainer: bookworm has none, sid has 1.4.5, which needs glibc 2.38. Both .debs come
# through a private apt configuration (nothing is added to /etc/apt, the system libc is not
# touched), are unpacked into a private prefix, and the two ELF programs are pointed at the
# prefix's own glibc (RPATH, not RUNPATH: Apptainer re-executes itself with LD_LIBRARY_PATH).
# Measured route: shared/notes/real-apptainer-on-debian.md. Runs unprivileged (no setuid).
APPT_VERSION=1.4.5
APPT_PREFIX=/opt/tre-job-test/apptainer
APPT_APT=/var/cache/tre-job-test/apptainer-apt
appt_ok() { [ -r "$APPT_PREFIX/usr/etc/apptainer/apptainer.conf" ] && [ -d "$APPT_PREFIX/usr/var/lib/apptainer/mnt/session" ] && as alice "apptainer --version" 2>/dev/null | grep -qx "apptainer version $APPT_VERSION.*"; }
if appt_ok; then
  log "apptainer $APPT_VERSION already installed in $APPT_PREFIX"
else
  for p in patchelf squashfs-tools squashfuse fuse2fs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || APPT_MISSING="${APPT_MISSING:-} $p"
  done
  if [ -n "${APPT_MISSING:-}" ]; then
    log "installing:$APPT_MISSING"
    # shellcheck disable=SC2086
    apt-get install -y -qq $APPT_MISSING >"$TMPD/apt-appt.log" 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq $APPT_MISSING >"$TMPD/apt-appt.log" 2>&1; } ||
      die "apt-get install$APPT_MISSING failed: $(tail -3 "$TMPD/apt-appt.log")"
  fi
  mkdir -p "$APPT_APT/lists/partial" "$APPT_APT/cache/archives/partial" "$APPT_APT/debs"
  echo "deb $(debian_mirror) sid main" >"$APPT_APT/sources.list"
  appt_apt=(-o "Dir::Etc::sourcelist=$APPT_APT/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$APPT_APT/lists"
    -o "Dir::Cache=$APPT_APT/cache" -o APT::Architectures=amd64 -o Acquire::Languages=none)
  apt-get "${appt_apt[@]}" update -qq >"$TMPD/apt-sid.log" 2>&1 || die "apt-get update (sid, private) failed: $(tail -3 "$TMPD/apt-sid.log")"
  (cd "$APPT_APT/debs" && rm -f ./*.deb && apt-get "${appt_apt[@]}" download apptainer libc6 >"$TMPD/apt-sid-dl.log" 2>&1) ||
    die "apt-get download apptainer libc6 (sid) failed: $(tail -3 "$TMPD/apt-sid-dl.log")"
  rm -rf "$APPT_PREFIX.new"
  mkdir -p "$APPT_PREFIX.new/glibc"
  dpkg-deb -x "$APPT_APT"/debs/apptainer_*.deb "$APPT_PREFIX.new"
  dpkg-deb -x "$APPT_APT"/debs/libc6_*.deb "$APPT_PREFIX.new/glibc"
  # The starter is looked for at PREFIX/libexec/apptainer; Debian ships it under usr/lib/ARCH.
  mv "$APPT_PREFIX.new/usr/lib/x86_64-linux-gnu/apptainer" "$APPT_PREFIX.new/usr/libexec/apptainer" 2>/dev/null ||
    { mkdir -p "$APPT_PREFIX.new/usr/libexec" && mv "$APPT_PREFIX.new/usr/lib/x86_64-linux-gnu/apptainer" "$APPT_PREFIX.new/usr/libexec/apptainer"; }
  ln -s ../../libexec/apptainer "$APPT_PREFIX.new/usr/lib/x86_64-linux-gnu/apptainer"
  # Apptainer finds its configuration and session directory relative to its binary (usr/bin ->
  # usr/etc, usr/var/lib/apptainer/mnt/session); Debian's package has them in etc/ and var/.
  ln -s ../etc "$APPT_PREFIX.new/usr/etc"
  ln -s ../var "$APPT_PREFIX.new/usr/var"
  mkdir -p "$APPT_PREFIX.new/var/lib/apptainer/mnt/session"
  glibc=$APPT_PREFIX/glibc/usr/lib/x86_64-linux-gnu
  for elf in usr/bin/apptainer usr/libexec/apptainer/bin/starter; do
    patchelf --set-interpreter "$glibc/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$glibc" "$APPT_PREFIX.new/$elf"
  done
  rm -rf "$APPT_PREFIX" && mv "$APPT_PREFIX.new" "$APPT_PREFIX"
  ln -sfn "$APPT_PREFIX/usr/bin/apptainer" /usr/local/bin/apptainer
  appt_ok || die "apptainer --version as alice does not print $APPT_VERSION: $(as alice 'apptainer --version' 2>&1 | tail -3)"
  log "apptainer $APPT_VERSION installed in $APPT_PREFIX ($(du -sh "$APPT_PREFIX" | cut -f1))"
fi
# As on a stock Debian host (udev makes /dev/fuse 0666): users may mount a SIF with squashfuse.
# TRE_STACK_NO_FUSE=1 keeps it root-only, for the case of a host without FUSE (Apptainer then
# unpacks the image at every start).
if [ -e /dev/fuse ]; then
  if [ "${TRE_STACK_NO_FUSE:-0}" = 1 ]; then chmod 0600 /dev/fuse; else chmod 0666 /dev/fuse; fi
fi
log "$(as alice 'apptainer --version'), /dev/fuse $(stat -c %a /dev/fuse 2>/dev/null || echo absent)"

# ---------------------------------------------------------------------------------------
step "7 probe images"
PROBE_SHA=$( (cat "$PROBE_SRC"; echo "recipe=$IMAGE_RECIPE"; dpkg-query -W -f='${Version}' busybox-static) | sha256sum | cut -c1-64)
tags=$(printf 'user = "%s:%s"\n' "$REG_USER" "$TOKEN" |
  curl -s -K - --max-time 5 "http://$REG/v2/tre/probe/tags/list" | jq -r '.tags[]?' 2>/dev/null || true)
if [ "$(cat "$CONF/probe.sha" 2>/dev/null)" = "$PROBE_SHA" ] && grep -qx 1.0 <<<"$tags" && grep -qx 2.0 <<<"$tags"; then
  log "registry has $PROBE_REPO:1.0 and :2.0 of the current probe"
else
  build_probe_rootfs
  podman login --authfile "$CONF/auth.json" --tls-verify=false --username "$REG_USER" --password-stdin "$REG" \
    <"$CONF/registry-token" >/dev/null
  chmod 0600 "$CONF/auth.json"
  podman import -q "${IMPORT_CHANGES[@]}" "$TMPD/probe.tar" "$PROBE_REPO:1.0" >/dev/null
  podman tag "$PROBE_REPO:1.0" "$PROBE_REPO:2.0"
  for t in 1.0 2.0; do
    podman push -q --authfile "$CONF/auth.json" --tls-verify=false "$PROBE_REPO:$t"
  done
  echo "$PROBE_SHA" >"$CONF/probe.sha"
  log "pushed $PROBE_REPO:1.0 and :2.0"
fi

# ---------------------------------------------------------------------------------------
step "7b service images"
# Test images for interactive services (issue 6), pushed like the probe and rebuilt only when
# the sha of their build inputs changes or a tag is missing from the registry.
#  - tre/http:1.0     busybox httpd stand-in for RStudio Server (images/http/tre-http)
#  - tre/jupyter:1.0  Debian 12 jupyter-notebook, debootstrap --variant=minbase from the apt
#                     mirror of this machine (TRE_STACK_DEBIAN_MIRROR overrides), then podman import
HTTP_REPO=$REG/tre/http
HTTP_SRC=$HERE/images/http/tre-http
JUPYTER_REPO=$REG/tre/jupyter
JUPYTER_SRC=$HERE/images/jupyter/tre-jupyter
# debootstrap does not resolve virtual packages: name their providers (cffi-backend-api-*, boost-regex-icu72)
JUPYTER_PKGS=jupyter-notebook,python3-notebook,python3-cffi-backend,libboost-regex1.74.0
SVC_RECIPE=1 # bump when the service image layout below changes
[ -f "$HTTP_SRC" ] || die "http image source missing: $HTTP_SRC"
[ -f "$JUPYTER_SRC" ] || die "jupyter image source missing: $JUPYTER_SRC"
reg_tags() { # REPO-PATH (e.g. tre/http)
  printf 'user = "%s:%s"\n' "$REG_USER" "$TOKEN" |
    curl -s -K - --max-time 5 "http://$REG/v2/$1/tags/list" | jq -r '.tags[]?' 2>/dev/null || true
}
svc_push() { # IMAGE
  podman login --authfile "$CONF/auth.json" --tls-verify=false --username "$REG_USER" --password-stdin "$REG" \
    <"$CONF/registry-token" >/dev/null
  chmod 0600 "$CONF/auth.json"
  podman push -q --authfile "$CONF/auth.json" --tls-verify=false "$1"
}
# svc_smoke IMAGE URL-PATH AUTH-CURL-ARGS... : after a build, run IMAGE rootful with
# --network=host on a free port, TRE_PASSWORD=<random>; PATH must answer 401/403/302 without and
# 200 with AUTH-CURL-ARGS (@PW@ stands for the password). Prints the seconds until it answered.
svc_smoke() {
  local img=$1 path=$2 port pw name code t0 i a args=()
  shift 2
  pw=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  for a in "$@"; do args+=("${a//@PW@/$pw}"); done
  port=$((20000 + RANDOM % 20000))
  for _ in $(seq 20); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/" || true)" = 000 ] && break
    port=$((20000 + RANDOM % 20000))
  done
  name=tre-stack-smoke-$$
  t0=$(date +%s%N)
  TRE_PASSWORD=$pw podman run -d --rm --init --network=host -e TRE_PASSWORD --name "$name" "$img" "$port" >/dev/null
  code=000
  for i in $(seq 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port$path" || true)
    [ "$code" = 000 ] || break
    podman container exists "$name" || break
    sleep 0.1
  done
  if [[ ! "$code" =~ ^(401|403|302)$ ]] || [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${args[@]}" "http://127.0.0.1:$port$path" || true)" != 200 ]; then
    podman logs "$name" >&2 || true
    podman rm -f "$name" >/dev/null 2>&1 || true
    die "smoke test of $img failed (port $port $path: without password '$code', want 401/403/302; with it not 200)"
  fi
  podman rm -f -t 2 "$name" >/dev/null 2>&1 || true
  secs "$t0"
}

HTTP_SHA=$( (cat "$HTTP_SRC"; echo "recipe=$SVC_RECIPE"; dpkg-query -W -f='${Version}' busybox-static) | sha256sum | cut -c1-64)
if [ "$(cat "$CONF/http.sha" 2>/dev/null)" = "$HTTP_SHA" ] && grep -qx 1.0 <<<"$(reg_tags tre/http)"; then
  log "registry has $HTTP_REPO:1.0 of the current source"
else
  r=$TMPD/http-rootfs
  busybox_rootfs "$r"
  install -m 0755 "$HTTP_SRC" "$r/usr/local/bin/tre-http"
  tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$TMPD/http.tar" .
  old_id=$(podman image inspect -f '{{.Id}}' "$HTTP_REPO:1.0" 2>/dev/null || true)
  podman import -q --change 'ENTRYPOINT ["/usr/local/bin/tre-http"]' \
    --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$TMPD/http.tar" "$HTTP_REPO:1.0" >/dev/null
  [ -z "$old_id" ] || [ "$old_id" = "$(podman image inspect -f '{{.Id}}' "$HTTP_REPO:1.0")" ] ||
    podman rmi "$old_id" >/dev/null 2>&1 || true
  svc_push "$HTTP_REPO:1.0"
  rm -rf "$r" "$TMPD/http.tar"
  echo "$HTTP_SHA" >"$CONF/http.sha"
  t=$(svc_smoke "$HTTP_REPO:1.0" / -u "tre:@PW@")
  log "pushed $HTTP_REPO:1.0; smoke test: answered after $t s, 401 without and 200 with the password"
fi

JUPYTER_SHA=$( (cat "$JUPYTER_SRC"; echo "recipe=$SVC_RECIPE pkgs=$JUPYTER_PKGS") | sha256sum | cut -c1-64)
if [ "$(cat "$CONF/jupyter.sha" 2>/dev/null)" = "$JUPYTER_SHA" ] && grep -qx 1.0 <<<"$(reg_tags tre/jupyter)"; then
  log "registry has $JUPYTER_REPO:1.0 of the current source"
else
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get install -y -qq debootstrap >"$TMPD/apt-dbs.log" 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq debootstrap >"$TMPD/apt-dbs.log" 2>&1; } || {
      tail -n 20 "$TMPD/apt-dbs.log" >&2
      die "cannot install debootstrap"
    }
  fi
  mirror=$(debian_mirror)
  # shellcheck source=/dev/null
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  r=$TMPD/jupyter-rootfs
  log "debootstrap $suite from $mirror with $JUPYTER_PKGS (about 1-2 min)"
  install -d -m 0755 /var/cache/tre-job-test/debootstrap
  debootstrap --variant=minbase --include="$JUPYTER_PKGS" --cache-dir=/var/cache/tre-job-test/debootstrap \
    "$suite" "$r" "$mirror" >"$TMPD/debootstrap.log" 2>&1 || {
    tail -n 30 "$TMPD/debootstrap.log" >&2
    tail -n 30 "$r/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap of the jupyter rootfs failed"
  }
  [ -x "$r/usr/bin/jupyter-notebook" ] || die "debootstrap did not install jupyter-notebook"
  [ -z "$(chroot "$r" dpkg --audit 2>&1)" ] || die "jupyter rootfs has unconfigured packages: $(chroot "$r" dpkg --audit 2>&1 | head -n 20)"
  rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* "$r"/usr/share/man/* \
    "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/debootstrap
  install -m 0755 "$JUPYTER_SRC" "$r/usr/local/bin/tre-jupyter"
  tar --numeric-owner -C "$r" -cf "$TMPD/jupyter.tar" .
  old_id=$(podman image inspect -f '{{.Id}}' "$JUPYTER_REPO:1.0" 2>/dev/null || true)
  rm -rf "$r"
  podman import -q --change 'ENTRYPOINT ["/usr/local/bin/tre-jupyter"]' \
    --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'ENV LANG=C.UTF-8' \
    --change 'ENV HOME=/root' --change 'WORKDIR /root' \
    "$TMPD/jupyter.tar" "$JUPYTER_REPO:1.0" >/dev/null
  rm -f "$TMPD/jupyter.tar"
  # drop the image this tag replaced (never -f: a container may still use it)
  [ -z "$old_id" ] || [ "$old_id" = "$(podman image inspect -f '{{.Id}}' "$JUPYTER_REPO:1.0")" ] ||
    podman rmi "$old_id" >/dev/null 2>&1 || true
  svc_push "$JUPYTER_REPO:1.0"
  echo "$JUPYTER_SHA" >"$CONF/jupyter.sha"
  t=$(svc_smoke "$JUPYTER_REPO:1.0" /api/status -H "Authorization: token @PW@")
  log "pushed $JUPYTER_REPO:1.0; smoke test: answered after $t s, 403 without and 200 with the token"
fi

# ---------------------------------------------------------------------------------------
step "8 site config"
site_yaml() { # PARTITION [HOME-YAML]: the test site (a back-end's adds its partition and home:)
  cat <<EOF
# Test site: the loopback registry of the e2e stack (insecure is allowed for loopback only)
registries:
  - host: 127.0.0.1:5000
    insecure: true
  - host: ghcr.io
safeDataRoot: /safe_data
projectGroupPrefix: tre
defaultRuntime: podman
maxTime: "06:00:00"
partition: $1
signalGraceSeconds: 30
EOF
  [ -z "${2:-}" ] || printf '%s\n' "$2"
}
site_yaml debug | write_if_changed "$CONF/site.yaml" 0644 root:root || true
site_yaml "be-$BE_SHARED" "home: shared" | write_if_changed "$CONF/site-$BE_SHARED.yaml" 0644 root:root || true
site_yaml "be-$BE_PRIV" "home:
  ssh: $BE_PRIV" | write_if_changed "$CONF/site-$BE_PRIV.yaml" 0644 root:root || true
write_if_changed "$CONF/stack.env" 0644 root:root <<EOF || true
# Written by tre-job test/e2e/stack/setup.sh
TRE_TEST_REGISTRY=$REG
TRE_TEST_REGISTRY_USER=$REG_USER
TRE_TEST_TOKEN_FILE=$CONF/registry-token
TRE_TEST_SITE=$CONF/site.yaml
TRE_TEST_PROBE_IMAGE=$PROBE_REPO:1.0
TRE_TEST_HTTP_IMAGE=$HTTP_REPO:1.0
TRE_TEST_JUPYTER_IMAGE=$JUPYTER_REPO:1.0
TRE_TEST_USERS="${USERS[*]}"
TRE_TEST_BACKENDS="$BE_SHARED:$CONF/site-$BE_SHARED.yaml $BE_PRIV:$CONF/site-$BE_PRIV.yaml"
TRE_TEST_PRIVATE_HOME_BACKEND=$BE_PRIV
TRE_TEST_PRIVATE_HOME_ROOT=$BE_ROOT/home
TRE_TEST_NO_KEY_USER=$NO_KEY_USER
TRE_TEST_SPREAD_PARTITION=$SPREAD_PARTITION
TRE_TEST_BACKEND_NS_DIR=$BE_NS
EOF

# ---------------------------------------------------------------------------------------
step "9 self-check"
state=$(sinfo -h -N -n "$HOST" -o %t | head -n1)
[[ "$state" =~ ^(idle|mix|alloc)$ ]] || die "sinfo says '$state', want idle"
SUMMARY_CHECKS=("sinfo: node $HOST $state")

wait_job() { # JOBID: dies unless it ends COMPLETED
  local jstate=""
  for _ in $(seq 600); do
    jstate=$(scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
    [[ "$jstate" =~ ^(PENDING|RUNNING|COMPLETING|CONFIGURING|)$ ]] || break
    sleep 0.1
  done
  [ "$jstate" = COMPLETED ] || die "self-check job $1 ended as '${jstate:-unknown}', want COMPLETED"
}
wait_file() { for _ in $(seq 20); do [ -s "$1" ] && return 0; sleep 0.1; done; }
sbatch_alice() { # SBATCH-ARGS... (the output file tre-selfcheck-JOBID.out, in the home the job sees)
  local j
  j=$(as alice "cd && sbatch --parsable -o tre-selfcheck-%j.out $*") || die "sbatch as alice ($*) failed"
  echo "${j%%;*}"
}
jobid=$(sbatch_alice --wrap id)
# the back-ends' jobs: hostname, and how many entries /safe_data has there
be_wrap="--wrap 'echo host=\$(hostname) safe=\$(ls -A /safe_data | wc -l)'"
job_shared=$(sbatch_alice -p "be-$BE_SHARED" "$be_wrap")
job_priv=$(sbatch_alice -p "be-$BE_PRIV" "$be_wrap")
wait_job "$jobid"
out=/home/alice/tre-selfcheck-$jobid.out
wait_file "$out"
grep -q "uid=$(id -u alice)(alice)" "$out" || die "job output $out lacks alice's id: $(cat "$out" 2>/dev/null)"
grep -q '(tre-demo)' "$out" || die "job output $out lacks group tre-demo: $(cat "$out")"
rm -f "$out"
SUMMARY_CHECKS+=("sbatch as alice: job $jobid COMPLETED, output shows uid alice + tre-demo")

wait_job "$job_shared"
out=/home/alice/tre-selfcheck-$job_shared.out
wait_file "$out"
grep -q "^host=$BE_SHARED " "$out" || die "job $job_shared on be-$BE_SHARED: output $out does not say host=$BE_SHARED: $(cat "$out" 2>/dev/null)"
rm -f "$out" "$BE_ROOT/home/alice/tre-selfcheck-$job_shared.out"
SUMMARY_CHECKS+=("sbatch -p be-$BE_SHARED as alice: job $job_shared on host $BE_SHARED, output in the host's /home/alice")
wait_job "$job_priv"
out=$BE_ROOT/home/alice/tre-selfcheck-$job_priv.out
wait_file "$out"
if [ -e "/home/alice/tre-selfcheck-$job_priv.out" ]; then
  rm -f "/home/alice/tre-selfcheck-$job_priv.out" "$out"
  die "job $job_priv on be-$BE_PRIV wrote its output to the host's /home/alice, not to $BE_ROOT/home/alice"
fi
grep -qx "host=$BE_PRIV safe=0" "$out" || die "job $job_priv on be-$BE_PRIV: output $out is not 'host=$BE_PRIV safe=0': $(cat "$out" 2>/dev/null)"
rm -f "$out"
SUMMARY_CHECKS+=("sbatch -p be-$BE_PRIV as alice: job $job_priv on host $BE_PRIV, output in $BE_ROOT/home/alice (not /home/alice), /safe_data empty")

# one login: the host name, and the home it lands in (the private one: same inode, authorized_keys)
out=$(as alice "ssh -o BatchMode=yes $BE_PRIV 'hostname; echo \$HOME; stat -c %d:%i /home/alice; ls -d /home/alice/.ssh/authorized_keys'" 2>&1) ||
  die "ssh $BE_PRIV as alice failed: $out"
want=$(printf '%s\n/home/alice\n%s\n/home/alice/.ssh/authorized_keys' "$BE_PRIV" "$(stat -c %d:%i "$BE_ROOT/home/alice")")
[ "$out" = "$want" ] || die "ssh $BE_PRIV as alice: want host name $BE_PRIV and the private home $BE_ROOT/home/alice ('$want'), got '$out'"
if out=$(as "$NO_KEY_USER" "ssh -o BatchMode=yes $BE_PRIV true" 2>&1); then
  die "ssh $BE_PRIV as $NO_KEY_USER (no key) succeeded"
fi
grep -q 'Permission denied' <<<"$out" || die "ssh $BE_PRIV as $NO_KEY_USER failed without 'Permission denied': $out"
SUMMARY_CHECKS+=("ssh $BE_PRIV as alice: hostname $BE_PRIV, \$HOME is $BE_ROOT/home/alice; as $NO_KEY_USER (no key): Permission denied")

tag=selfcheck-$$
rm -f "/safe_data/demo/probe-wrote-$tag"
as alice "set -e
  d=\$(mktemp -d)
  trap 'rm -rf \"\$d\"' EXIT
  mkdir \"\$d/out\" \"\$d/scratch\"
  podman login --authfile \"\$d/auth.json\" --tls-verify=false --username $REG_USER --password-stdin $REG >/dev/null
  had=0; podman image exists $PROBE_REPO:1.0 && had=1
  podman pull -q --authfile \"\$d/auth.json\" --tls-verify=false $PROBE_REPO:1.0 >/dev/null
  podman run --rm --name tre-stack-selfcheck-$$ --network=none --group-add keep-groups \
    -v \"\$d/out:/safe_outputs\" -v \"\$d/scratch:/scratch\" -v /safe_data/demo:/safe_data/demo \
    -e PROBE_SAFE_DATA=/safe_data/demo -e PROBE_TAG=$tag -e PROBE_LS=/safe_data/demo \
    $PROBE_REPO:1.0 a1 'a 2' > \"\$d/stdout\"
  grep -q 'argc=2' \"\$d/stdout\"
  grep -qx '/safe_data/demo writable' \"\$d/out/probe/writable.txt\"
  grep -q probe-wrote-$tag \"\$d/stdout\"
  test -f \"\$d/out/probe-wrote\" && test -f \"\$d/scratch/probe-wrote\"
  # leave the user's store as it was (never -f: tests may be using the image)
  [ \$had = 1 ] || podman rmi $PROBE_REPO:1.0 >/dev/null 2>&1 || true
" <"$CONF/registry-token" || die "podman self-check as alice failed"
f=/safe_data/demo/probe-wrote-$tag
[ -f "$f" ] || die "probe did not write $f"
[ "$(stat -c %U:%G "$f")" = alice:tre-demo ] || die "$f is owned by $(stat -c %U:%G "$f"), want alice:tre-demo"
rm -f "$f"
SUMMARY_CHECKS+=("podman as alice: login+pull $PROBE_REPO:1.0, run with keep-groups lists+writes /safe_data/demo (alice:tre-demo)")

step "done"
echo
echo "== tre-job e2e stack ready in $(secs "$T_START") s"
for l in "${SUMMARY[@]}"; do echo "   $l"; done
for l in "${SUMMARY_CHECKS[@]}"; do echo "   ok: $l"; done
echo "   site: $CONF/site.yaml  env: $CONF/stack.env  storage driver: $(awk -F'"' '/^driver/{print $2}' /etc/containers/storage.conf)"
