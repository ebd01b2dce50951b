#!/usr/bin/env bash
# Stops the dockerd that scripts/setup-test-env.sh started (by its pid) and unmounts its netns.
set -euo pipefail
docker_root=${DISTR_TEST_DOCKER_ROOT:-/var/lib/distr-test-docker}
pidfile="$docker_root/dockerd.pid"

if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop-test-docker: dockerd $pid still running after 10 s; sending SIGKILL" >&2
      kill -9 "$pid" || true
    fi
  fi
  rm -f "$pidfile"
else
  echo "stop-test-docker: no pidfile at $pidfile; nothing to stop" >&2
fi

if mountpoint -q "$docker_root/exec/netns/default" 2>/dev/null; then
  umount "$docker_root/exec/netns/default"
fi
echo "stop-test-docker: stopped"
