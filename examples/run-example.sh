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
tre_job="node $(printf %q "$PWD/bin/tre-job")"
echo "== tre-job submit examples/probe.yaml --wait, as alice (token on stdin; progress on stderr)"
status=0
out=$(runuser -l alice -c "$tre_job submit $spec --site $TRE_TEST_SITE --token-stdin --wait" <"$TRE_TEST_TOKEN_FILE") || status=$?
rm -f "$spec"
id=$(sed -n 1p <<<"$out")
outputs=$(sed -n 2p <<<"$out")
echo "== tre-job logs $id"
runuser -l alice -c "$tre_job logs $id"
echo "== $outputs (kept after the job)"
ls -l "$outputs" "$outputs/probe"
echo "== job $id ended with exit status $status"
