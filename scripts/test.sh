#!/usr/bin/env bash
# `npm test`: bring up what the tests need (Docker engine, compose v2, helm, the local busybox
# image, and a real Kubernetes control plane built once from the Go module proxy and cached;
# PostgreSQL is embedded per test file), then run every vitest test once. Prints where the time
# went. The control plane stays up for the next run (stop it: scripts/stop-test-k8s.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
timings=()
took() { # name start-seconds: note how long something took
  timings+=("$(printf '%-34s %5d s' "$1" $((SECONDS - $2)))")
}
phase() { # name command...: run it and note how long it took
  local name=$1 t=$SECONDS rc=0
  shift
  "$@" || rc=$?
  took "$name" "$t"
  return "$rc"
}
report() {
  echo "--- npm test: where the time went ---" >&2
  local line
  for line in "${timings[@]}"; do echo "  $line" >&2; done
  # A run that stops early does not leave the background build running.
  [ -z "${k8s_build_pid:-}" ] || kill -- "-$k8s_build_pid" 2>/dev/null || true
}
trap report EXIT
[ -d node_modules ] || phase "npm ci" npm ci
export DISTR_TEST_K8S_STATE=${DISTR_TEST_K8S_STATE:-/tmp/distr-test-k8s}
# The Kubernetes binaries are built once per version into /var/cache/distr-test-k8s (cold: about
# 18 min on 2 cores). On a cold machine the build runs in the background while everything that does
# not need the cluster runs (setup, checks, and the test files without Kubernetes); the
# Kubernetes test files run once it is up. A warm machine runs all test files in one go.
k8s_build_log=$(mktemp)
k8s_build_pid=
if ! DISTR_TEST_K8S_CHECK_ONLY=1 bash scripts/build-test-k8s.sh >/dev/null 2>&1; then
  echo "npm test: building the Kubernetes test binaries in the background (log: $k8s_build_log)" >&2
  k8s_build_started=$SECONDS
  setsid bash scripts/build-test-k8s.sh >"$k8s_build_log" 2>&1 &
  k8s_build_pid=$!
fi
wait_k8s_build() {
  [ -n "$k8s_build_pid" ] || return 0
  if ! wait "$k8s_build_pid"; then cat "$k8s_build_log" >&2; return 1; fi
  took "kubernetes build (background)" "$k8s_build_started"
  k8s_build_pid=
}
phase "setup-test-env (docker, compose, helm)" env DISTR_TEST_ENV_SKIP_K8S=1 bash scripts/setup-test-env.sh
phase "schema check" npx tsx scripts/print-schema.ts --check
# Types first: a schema change that breaks the agent, the hub or the test kit fails here (generated
# types are checked fresh by tests/generated-fresh.test.ts).
phase "typecheck (tsc: hub, agents, tests, console)" npm run --silent typecheck
if [ -n "$k8s_build_pid" ] && [ $# -eq 0 ]; then
  # The test files that reach the cluster (through the test kit's kube-cluster or k8s-driver).
  mapfile -t k8s_files < <(grep -lE "testkit/(kube-cluster|k8s-driver)" tests/*.test.ts)
  excludes=()
  for f in "${k8s_files[@]}"; do excludes+=(--exclude "$f"); done
  status=0
  phase "vitest: files without kubernetes" npx vitest run "${excludes[@]}" || status=$?
  wait_k8s_build
  phase "kubernetes control plane (start or reuse)" bash scripts/start-test-k8s.sh >/dev/null
  phase "vitest: kubernetes files" npx vitest run "${k8s_files[@]}" || status=$?
  exit "$status"
fi
wait_k8s_build
phase "kubernetes binaries (build or reuse)" bash scripts/build-test-k8s.sh >/dev/null
phase "kubernetes control plane (start or reuse)" bash scripts/start-test-k8s.sh >/dev/null
phase "vitest (per-file times above)" npx vitest run "$@"
