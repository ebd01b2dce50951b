#!/usr/bin/env bash
# Prepares this machine (Debian 12, root) for the tests that use real components: a Docker engine
# (Debian docker.io, started by hand: no systemd here), docker compose v2 (from Debian trixie's
# .deb, since bookworm only has v1), helm, the local image local/busybox:test (no image
# registry is reachable), the real registry the tests start themselves (Debian docker-registry,
# the CNCF distribution registry, with htpasswd from apache2-utils; see tests/testkit/registry.ts),
# and a real Kubernetes control plane (scripts/build-test-k8s.sh builds it once from the Go module
# proxy, scripts/start-test-k8s.sh starts it; skipped with DISTR_TEST_ENV_SKIP_K8S=1).
# Idempotent: on a prepared machine it only checks and returns quickly. Details: shared
# TEST-ENV.md. Stop them again with scripts/stop-test-docker.sh and scripts/stop-test-k8s.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
docker_root=${DISTR_TEST_DOCKER_ROOT:-/var/lib/distr-test-docker}
docker_socket=/var/run/docker.sock
plugin_dir=/usr/local/lib/docker/cli-plugins
test_image=local/busybox:test

# A zombie still answers kill -0 (PID 1 here may reap late), so look at the process state.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$state" ] && [[ "$state" != Z* ]]
}

log() { echo "setup-test-env: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Debian packages --------------------------------------------------------------------------
missing_packages=()
command -v dockerd >/dev/null 2>&1 || missing_packages+=(docker.io)
[ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || missing_packages+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || missing_packages+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing_packages+=(apache2-utils)
# The browser tests drive Debian's chromium through playwright-core (npx playwright install cannot download here).
[ -x /usr/bin/chromium ] || missing_packages+=(chromium)
if [ ${#missing_packages[@]} -gt 0 ]; then apt_install "${missing_packages[@]}"; fi
busybox_bin=$(command -v busybox || echo /bin/busybox)

# --- docker compose v2 as a CLI plugin ---------------------------------------------------------
compose_is_v2() {
  local version
  version=$(docker compose version --short 2>/dev/null || true)
  [[ "$version" =~ ^v?2\. ]]
}
if ! compose_is_v2; then
  log "installing docker compose v2 from Debian trixie's docker-compose .deb"
  # A private apt configuration, so the system's sources and lists stay exactly as they are.
  sources=/etc/apt/sources.list.d/debian.sources
  mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources" 2>/dev/null || true)
  keyring=$(awk '/^Signed-By:/ { print $2; exit }' "$sources" 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
  apt_dir=$(mktemp -d)
  trap 'rm -rf "$apt_dir"' EXIT
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/download"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' "$mirror" "$keyring" \
    >"$apt_dir/trixie.sources"
  apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$apt_dir"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::State::status=/var/lib/dpkg/status"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${apt_opts[@]}" update -qq
  (cd "$apt_dir/download" && apt-get "${apt_opts[@]}" download docker-compose >/dev/null)
  deb=$(ls "$apt_dir"/download/docker-compose_*.deb | head -n 1)
  dpkg-deb -x "$deb" "$apt_dir/extract"
  mkdir -p "$plugin_dir"
  install -m 0755 "$apt_dir/extract/usr/libexec/docker/cli-plugins/docker-compose" "$plugin_dir/docker-compose"
  compose_is_v2 || die "docker compose is still not v2 after installing $plugin_dir/docker-compose"
fi

# --- helm ------------------------------------------------------------------------------------
bash "$root/scripts/install-helm.sh" >/dev/null

# --- the compose differential test's oracle (a newer compose, in .bin) -----------------------
bash "$root/scripts/install-compose-oracle.sh" >/dev/null

# --- the Docker engine -----------------------------------------------------------------------
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  log "starting dockerd (data under $docker_root)"
  mkdir -p "$docker_root/data" "$docker_root/exec"
  # Pidfiles left by a killed engine (its own and its containerd's) make dockerd refuse to start
  # or wait for a dead containerd.
  for pidfile in "$docker_root/dockerd.pid" "$docker_root/exec/containerd/containerd.pid"; do
    [ -f "$pidfile" ] || continue
    old_pid=$(cat "$pidfile")
    if ! alive "$old_pid"; then
      rm -f "$pidfile"
    else
      die "pid $old_pid from $pidfile is still running, but the engine does not answer on $docker_socket; see $docker_root/dockerd.log or run scripts/stop-test-docker.sh"
    fi
  done
  # Left mounted by an engine that was killed; dockerd mounts it anew.
  if mountpoint -q "$docker_root/exec/netns/default" 2>/dev/null; then
    umount "$docker_root/exec/netns/default" || true
  fi
  # setsid + nohup: the engine must outlive this script and the shell that ran it.
  # No iptables or bridge here: containers use network_mode host or none.
  setsid nohup dockerd \
    --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    --data-root="$docker_root/data" --exec-root="$docker_root/exec" \
    --pidfile="$docker_root/dockerd.pid" -H "unix://$docker_socket" \
    >"$docker_root/dockerd.log" 2>&1 </dev/null &
  dockerd_pid=$!
  deadline=$((SECONDS + 30))
  until docker version --format '{{.Server.Version}}' >/dev/null 2>&1; do
    if ! alive "$dockerd_pid"; then
      tail -n 30 "$docker_root/dockerd.log" >&2 || true
      die "dockerd exited during start-up (log: $docker_root/dockerd.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$docker_root/dockerd.log" >&2 || true
      die "dockerd did not become ready within 30 s (log: $docker_root/dockerd.log)"
    fi
    sleep 0.2
  done
fi

# --- local/busybox:test ----------------------------------------------------------------------
if ! docker image inspect "$test_image" >/dev/null 2>&1; then
  log "building $test_image from $busybox_bin"
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cp "$busybox_bin" "$rootfs/bin/busybox"
  for applet in $("$busybox_bin" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$test_image" >/dev/null
  rm -rf "$rootfs"
fi

# --- the Kubernetes control plane --------------------------------------------------------------
k8s_summary="kubernetes skipped"
if [ "${DISTR_TEST_ENV_SKIP_K8S:-}" != 1 ]; then
  t=$SECONDS
  bash "$root/scripts/build-test-k8s.sh" >/dev/null
  log "kubernetes binaries ready in $((SECONDS - t)) s"
  bash "$root/scripts/start-test-k8s.sh" >/dev/null
  k8s_summary="kubernetes control plane at ${DISTR_TEST_K8S_STATE:-/tmp/distr-test-k8s}/cluster.json"
fi

echo "test env ready: engine $(docker version --format '{{.Server.Version}}'), client $(docker version --format '{{.Client.Version}}'), compose $(docker compose version --short), $("$root/.bin/helm" version --short), image $test_image, $(docker-registry --version 2>/dev/null | head -n 1), $k8s_summary"
