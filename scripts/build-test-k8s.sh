#!/usr/bin/env bash
# Builds the tests' Kubernetes control plane from the Go module proxy: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes), etcd and kwok, at the
# versions pinned by the wrapper modules in scripts/k8s-tools/. Test infrastructure only: nothing
# of it ships in the product.
#
# The binaries are cached outside the repository, keyed by every version and the Go version, so a
# warm machine reuses them at once and a cold one builds them once (≈ 18 min on 2 cores). A build
# goes into a partial folder renamed when complete; a lock keeps two builds from running at once.
# Prints the folder holding the binaries.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/scripts/k8s-tools"
kube_version=v1.36.3
etcd_version=v3.6.8
kwok_version=v0.8.0
cache_root=${DISTR_TEST_K8S_CACHE:-/var/cache/distr-test-k8s}

log() { echo "build-test-k8s: $*" >&2; }

command -v go >/dev/null 2>&1 || { log "the go command is needed to build the test control plane"; exit 1; }
go_version=$(go env GOVERSION)
# The wrapper modules' go.sum files are part of the key: a change of pins builds anew.
pins=$(cat "$tools"/*/go.mod "$tools"/*/go.sum | sha256sum | cut -c1-12)
key="k8s-$kube_version-etcd-$etcd_version-kwok-$kwok_version-$go_version-$pins"
dest="$cache_root/$key"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

complete() {
  local b
  for b in "${binaries[@]}"; do [ -x "$dest/$b" ] || return 1; done
}

if complete; then echo "$dest"; exit 0; fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
log "waiting for the build lock ($cache_root/.lock)"
flock 9
if complete; then echo "$dest"; exit 0; fi

partial="$dest.partial"
rm -rf "$partial"
mkdir -p "$partial"
started=$SECONDS
export CGO_ENABLED=0 GOFLAGS=-mod=mod
minor=${kube_version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
done

build() { # module-dir output package [ldflags]
  local dir=$1 out=$2 pkg=$3 flags=${4:-"-s -w"} t=$SECONDS
  (cd "$tools/$dir" && go build -p 2 -trimpath -ldflags "$flags" -o "$partial/$out" "$pkg")
  log "built $out in $((SECONDS - t)) s"
}

# kube-apiserver first: it is the largest, and the others reuse most of its packages.
build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ldflags"
build kube kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$ldflags"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags"
build etcd etcd go.etcd.io/etcd/server/v3
build kwok kwok sigs.k8s.io/kwok/cmd/kwok
# kwok's stage definitions (pod-ready, node heartbeat, …) ship in its module.
kwok_dir=$(cd "$tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
mkdir -p "$partial/kwok-stages"
cp -r "$kwok_dir"/kustomize/stage/. "$partial/kwok-stages/"
chmod -R u+w "$partial/kwok-stages"

rm -rf "$dest"
mv "$partial" "$dest"
log "control plane built in $((SECONDS - started)) s into $dest"
echo "$dest"
