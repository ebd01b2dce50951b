#!/usr/bin/env bash
# Stops the dockerd that scripts/setup-test-env.sh started (by its pid) and unmounts its netns.
set -euo pipefail
docker_root=${DISTR_TEST_DOCKER_ROOT:-/var/lib/distr-test-docker}
pidfile="$docker_root/dockerd.pid"

# A zombie still answers kill -0 (PID 1 here may reap late), so look at the process state.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$state" ] && [[ "$state" != Z* ]]
}

if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if alive "$pid"; then
    kill "$pid"
    for _ in $(seq 1 100); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
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
