#!/usr/bin/env bash
# The quick start: render the example spec and, on a machine with Slurm, submit a real job
# and follow it to its outputs. As root on a fresh Debian 12 machine it first builds the
# one-node test stack (test/e2e/stack/setup.sh: Slurm, rootless Podman, a loopback registry,
# test users) and submits as the test user alice.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d node_modules ]] || npm ci --no-audit --no-fund
[[ -f dist/main.js ]] || npm run build --silent
if [[ $(id -u) == 0 && ! -f /etc/tre-job-test/stack.env ]]; then
  echo "== building the one-node test stack (test/e2e/stack/setup.sh)"
  bash test/e2e/stack/setup.sh
fi
echo "== tre-job render examples/hello.yaml (the service's hello-world image on ghcr.io)"
./bin/tre-job render examples/hello.yaml
if ! command -v sbatch >/dev/null || [[ $(id -u) != 0 || ! -f /etc/tre-job-test/stack.env ]]; then
  echo "== no test stack here: the script above is what 'tre-job submit examples/hello.yaml --token-file FILE' would submit"
  exit 0
fi
# shellcheck source=/dev/null
source /etc/tre-job-test/stack.env
spec=$(mktemp /tmp/tre-example-XXXXXX.yaml)
chmod 0644 "$spec"
cp examples/probe.yaml "$spec"
echo "== tre-job submit examples/probe.yaml, as alice, token on stdin"
job=$(runuser -l alice -c "node $(printf %q "$PWD/bin/tre-job") submit $spec --site $TRE_TEST_SITE --token-stdin --json" <"$TRE_TEST_TOKEN_FILE")
rm -f "$spec"
echo "$job"
id=$(sed -E 's/.*"jobId":"([0-9]+)".*/\1/' <<<"$job")
log=$(sed -E 's/.*"outputLog":"([^"]+)".*/\1/' <<<"$job")
while squeue -h -j "$id" 2>/dev/null | grep -q .; do sleep 0.5; done
echo "== $log"
cat "$log"
outputs=$(sed -nE 's/.*Outputs: (\S+) .*/\1/p' "$log")
echo "== $outputs (kept after the job)"
ls -l "$outputs" "$outputs/probe"
echo "== job state: $(scontrol show job -o "$id" | grep -oE 'JobState=\S+ .*ExitCode=\S+' | sed -E 's/ .* / /')"
