#!/bin/bash
# Slurm Epilog for sites running tre-job: slurmd runs it as root on the node after every job.
# A job's own trap cannot run after SIGKILL (KillWait expired, OOM killer) or on a node that
# was lost and came back; then its scratch dir and container stay. If the job left a
# tre-job marker, reclaim its leftovers as the job's user: scratch and containers only,
# never outputs or safe data. The same run sweeps the user's registry tokens whose jobs have
# ended (a job cancelled while pending never runs anywhere, so its token waits for this sweep or
# for `tre-job gc`). Install: Epilog=/etc/slurm/epilog.d/tre-job.sh in slurm.conf
# (or an Epilog script that calls this one), and set TRE_JOB_BIN below.
# An Epilog that fails drains the node, so this script always exits 0.
TRE_JOB_BIN=${TRE_JOB_BIN:-/opt/tre-job/bin/tre-job}
log=${TRE_JOB_EPILOG_LOG:-/var/log/tre-job-epilog.log}

[[ -n ${SLURM_JOB_ID-} && -n ${SLURM_JOB_USER-} ]] || exit 0
home=$(getent passwd "$SLURM_JOB_USER" | cut -d: -f6)
# Fast path: the job cleaned up after itself and no token waits for a sweep (the usual case).
[[ -n $home ]] || exit 0
[[ -e $home/.tre-job/active/$SLURM_JOB_ID ]] || compgen -G "$home/.tre-job/credentials/*" >/dev/null || exit 0

read -r -a tre_job <<<"$TRE_JOB_BIN"  # e.g. "node /opt/tre-job/bin/tre-job"
{
  printf '%s job %s user %s: ' "$(date '+%F %T')" "$SLURM_JOB_ID" "$SLURM_JOB_USER"
  # The environment a batch job has (no XDG_RUNTIME_DIR), so that podman finds the same storage.
  runuser -u "$SLURM_JOB_USER" -- env -i HOME="$home" USER="$SLURM_JOB_USER" PATH=/usr/local/bin:/usr/bin:/bin \
    "${tre_job[@]}" gc --job "$SLURM_JOB_ID" 2>&1
} >>"$log" 2>&1 || true
exit 0
