#!/usr/bin/env bash
# Stops the tests' Kubernetes control plane that scripts/start-test-k8s.sh started, by the pids it
# recorded ($DISTR_TEST_K8S_STATE/pids), in order: kwok and the controllers, then kube-apiserver, then etcd (stopping etcd and
# the apiserver together hangs the apiserver). Removes its state folder.
set -euo pipefail
state=${DISTR_TEST_K8S_STATE:-/tmp/distr-test-k8s}
pids="$state/pids"

alive() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$s" ] && [[ "$s" != Z* ]]
}

stop() { # name pid...
  local name=$1 pid
  shift
  for pid in "$@"; do alive "$pid" && kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local running=0
    for pid in "$@"; do alive "$pid" && running=1; done
    [ $running = 0 ] && return 0
    sleep 0.1
  done
  echo "stop-test-k8s: $name still running after 10 s; sending SIGKILL" >&2
  for pid in "$@"; do kill -9 "$pid" 2>/dev/null || true; done
}

pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$pids"; }

if [ ! -f "$pids" ]; then
  echo "stop-test-k8s: no $pids; nothing to stop" >&2
else
  controllers=$(echo $(pid_of kwok) $(pid_of kube-controller-manager) $(pid_of kube-scheduler))
  # shellcheck disable=SC2086
  [ -z "$controllers" ] || stop controllers $controllers
  [ -z "$(pid_of kube-apiserver)" ] || stop kube-apiserver "$(pid_of kube-apiserver)"
  [ -z "$(pid_of etcd)" ] || stop etcd "$(pid_of etcd)"
fi
rm -rf "$state"
echo "stop-test-k8s: stopped"
