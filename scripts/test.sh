#!/usr/bin/env bash
# `npm test`: bring up what the tests need (Docker engine, compose v2, helm, the local busybox
# image, and a real Kubernetes control plane built once from the Go module proxy and cached;
# PostgreSQL is embedded per test file), then run every vitest test once. Prints where the time
# went. The control plane stays up for the next run (stop it: scripts/stop-test-k8s.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
timings=()
phase() { # name command...: run it and note how long it took
  local name=$1 t=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-34s %5d s' "$name" $((SECONDS - t)))")
}
report() {
  echo "--- npm test: where the time went ---" >&2
  local line
  for line in "${timings[@]}"; do echo "  $line" >&2; done
}
trap report EXIT
[ -d node_modules ] || phase "npm ci" npm ci
phase "setup-test-env (docker, compose, helm)" env DISTR_TEST_ENV_SKIP_K8S=1 bash scripts/setup-test-env.sh
# Built once per version into /var/cache/distr-test-k8s (cold: about 18 min on 2 cores).
phase "kubernetes binaries (build or reuse)" bash scripts/build-test-k8s.sh >/dev/null
phase "kubernetes control plane (start or reuse)" bash scripts/start-test-k8s.sh >/dev/null
export DISTR_TEST_K8S_STATE=${DISTR_TEST_K8S_STATE:-/tmp/distr-test-k8s}
phase "schema check" npx tsx scripts/print-schema.ts --check
# Types first: a schema change that breaks the agent, the hub or the test kit fails here (generated
# types are checked fresh by tests/generated-fresh.test.ts).
phase "typecheck (tsc: hub, agents, tests, console)" npm run --silent typecheck
phase "vitest (per-file times above)" npx vitest run "$@"
