#!/usr/bin/env bash
# Builds the docker agent image without pulling any base image (none is reachable on these
# machines, and a release needs none): the agent bundled by esbuild into one JS file
# (scripts/build-agent.ts; docker driver only: no @kubernetes/client-node), a rootfs with this
# machine's node binary and the shared libraries ldd lists for it, the docker CLI and its compose
# plugin, CA certificates, /etc/passwd, a tmp folder; then `docker import`. A release runs the same
# script and pushes the tag.
#
#   bash scripts/build-agent-image.sh [--if-missing] [IMAGE]
#
# IMAGE defaults to ghcr.io/distr-ts/docker-agent:<AGENT_VERSION> (server/targets/install.ts's
# DEFAULT_DOCKER_AGENT_IMAGE, what the hub's install command runs). The image is also tagged
# distr-ts/docker-agent:src-<hash>, a hash of everything that goes into it, so --if-missing builds
# at most once per machine and source state. Prints the content tag on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if_missing=false
if [[ ${1:-} == --if-missing ]]; then if_missing=true; shift; fi
version=$(sed -n "s/^export const AGENT_VERSION = '\(.*\)';/\1/p" agent/main.ts)
image=${1:-ghcr.io/distr-ts/docker-agent:${version}}

node_bin=${NODE_BIN:-$(command -v node || echo /usr/bin/node)}
node_bin=$(readlink -f "$node_bin")
docker_bin=$(readlink -f "$(command -v docker)")
compose_plugin=""
for p in /usr/local/lib/docker/cli-plugins/docker-compose /usr/libexec/docker/cli-plugins/docker-compose /usr/lib/docker/cli-plugins/docker-compose "$HOME/.docker/cli-plugins/docker-compose"; do
  if [[ -x $p ]]; then compose_plugin=$(readlink -f "$p"); break; fi
done
[[ -n $compose_plugin ]] || { echo "build-agent-image: no docker compose v2 plugin found" >&2; exit 1; }
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -f $ca_bundle ]] || { echo "build-agent-image: no CA bundle at $ca_bundle (apt-get install ca-certificates)" >&2; exit 1; }

# The content hash: sources that go into the bundle, the lock file, this script, the binaries.
hash=$( {
  git ls-files -z agent protocol package.json package-lock.json tsconfig.json scripts/build-agent-image.sh scripts/build-agent.ts scripts/agent-bundle-unsupported.cjs 2>/dev/null | xargs -0 sha256sum
  find agent protocol -type f -name '*.ts' -print0 | sort -z | xargs -0 sha256sum
  sha256sum "$node_bin" "$docker_bin" "$compose_plugin" scripts/build-agent-image.sh scripts/build-agent.ts scripts/agent-bundle-unsupported.cjs
} | sha256sum | cut -c1-16)
content_tag=distr-ts/docker-agent:src-$hash

# One build at a time per machine (test files run in parallel).
exec 9>"${TMPDIR:-/tmp}/distr-build-agent-image.lock"
flock 9
if $if_missing && docker image inspect "$content_tag" >/dev/null 2>&1; then
  docker tag "$content_tag" "$image"
  echo "$content_tag"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/distr-agent-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{app,usr/bin,usr/local/bin,usr/local/lib/docker/cli-plugins,etc/ssl/certs,tmp,root,var/lib/distr-agent,run/secrets}
chmod 1777 "$rootfs/tmp"

# The bundle: scripts/build-agent.ts (shared with `npm run agent:build`), docker driver only; the
# build fails if it carries @kubernetes/client-node.
"$node_bin" --import tsx scripts/build-agent.ts docker "$rootfs/app/agent.mjs"

cp "$node_bin" "$rootfs/usr/bin/node"
cp "$docker_bin" "$rootfs/usr/local/bin/docker"
cp "$compose_plugin" "$rootfs/usr/local/lib/docker/cli-plugins/docker-compose"
# Shared libraries (and the dynamic loader) at the paths the binaries look them up.
for bin in "$node_bin" "$docker_bin" "$compose_plugin"; do
  { ldd "$bin" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
done
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

# Fail the build here, not at a customer's, when a binary cannot run in the rootfs.
chroot "$rootfs" /usr/bin/node -e 'process.exit(0)' 2>/dev/null || [[ $(id -u) != 0 ]] || { echo "build-agent-image: node does not run in the rootfs" >&2; exit 1; }

tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'ENV NODE_ENV=production' \
  -c 'ENV HOME=/root' \
  -c 'ENV DISTR_AGENT_DRIVER=docker' \
  -c 'ENV DISTR_AGENT_STATE_DIR=/var/lib/distr-agent' \
  -c 'VOLUME ["/var/lib/distr-agent"]' \
  -c 'WORKDIR /app' \
  -c 'ENTRYPOINT ["/usr/bin/node", "/app/agent.mjs"]' \
  -c "LABEL org.opencontainers.image.version=$version" \
  - "$content_tag" >/dev/null
docker tag "$content_tag" "$image"
echo "built $image" >&2
echo "$content_tag"
