#!/usr/bin/env bash
# Builds the tests' Kubernetes control plane from the Go module proxy: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes), etcd and kwok, at the
# versions pinned by the wrapper modules in scripts/k8s-tools/. Test infrastructure only: nothing
# of it ships in the product.
#
# The binaries are cached outside the repository, keyed by every version and the Go version, so a
# warm machine reuses them at once and a cold one builds them once (≈ 18 min on 2 cores). A build
# goes into a partial folder renamed when complete; a lock keeps two builds from running at once.
# Prints the folder holding the binaries. Next to them: kwok's stage definitions and CRDs (from the
# kwok module) and the public podinfo chart (charts/podinfo of the Go module
# github.com/stefanprodan/podinfo at a pinned commit, fetched through the Go module proxy, checked
# against the Go checksum database): the tests install it as a real published chart.
# DISTR_TEST_K8S_CHECK_ONLY=1: print the folder if it is complete, fail otherwise (never build).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/scripts/k8s-tools"
kube_version=v1.36.3
etcd_version=v3.6.8
kwok_version=v0.8.0
# podinfo 6.9.2 (charts/podinfo/Chart.yaml); its v6 tags are not valid Go module versions, so the
# commit's pseudo-version.
podinfo_module=github.com/stefanprodan/podinfo
podinfo_version=v1.8.1-0.20250910200901-e86405a8674e
podinfo_sum=h1:ikpMMm5HbQT/1DehrPM+Lpwk3WAw/1Hg540eR+jsXus=
cache_root=${DISTR_TEST_K8S_CACHE:-/var/cache/distr-test-k8s}

log() { echo "build-test-k8s: $*" >&2; }

command -v go >/dev/null 2>&1 || { log "the go command is needed to build the test control plane"; exit 1; }
go_version=$(go env GOVERSION)
# The wrapper modules' go.sum files are part of the key: a change of pins builds anew.
pins=$(cat "$tools"/{etcd,kube,kwok}/go.mod "$tools"/{etcd,kube,kwok}/go.sum | sha256sum | cut -c1-12)
key="k8s-$kube_version-etcd-$etcd_version-kwok-$kwok_version-$go_version-$pins"
dest="$cache_root/$key"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

complete() {
  local b
  for b in "${binaries[@]}"; do [ -x "$dest/$b" ] || return 1; done
}

extras_complete() {
  [ -f "$dest/kwok-stages/pod/fast/pod-ready.yaml" ] && [ -f "$dest/kwok-crds/kwok.x-k8s.io_clusterlogs.yaml" ] &&
    [ -f "$dest/charts/podinfo/Chart.yaml" ]
}

# Cheap additions, also to a build made by an older version of this script: kwok's stage files and
# CRDs (from its module), and the podinfo chart.
add_extras() { # folder
  local out=$1 kwok_dir podinfo_json podinfo_dir
  kwok_dir=$(cd "$tools/kwok" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  rm -rf "$out/kwok-stages" "$out/kwok-crds" "$out/charts"
  mkdir -p "$out/kwok-stages" "$out/kwok-crds" "$out/charts"
  cp -r "$kwok_dir"/kustomize/stage/. "$out/kwok-stages/"
  cp "$kwok_dir"/kustomize/crd/bases/*.yaml "$out/kwok-crds/"
  podinfo_json=$(cd "$tools" && GOFLAGS= go mod download -json "$podinfo_module@$podinfo_version")
  grep -q "\"Sum\": \"$podinfo_sum\"" <<<"$podinfo_json" || { log "podinfo module sum differs from $podinfo_sum"; exit 1; }
  podinfo_dir=$(sed -n 's/.*"Dir": "\([^"]*\)".*/\1/p' <<<"$podinfo_json")
  cp -r "$podinfo_dir/charts/podinfo" "$out/charts/podinfo"
  chmod -R u+w "$out/kwok-stages" "$out/kwok-crds" "$out/charts"
}

if complete && extras_complete; then echo "$dest"; exit 0; fi
if [ "${DISTR_TEST_K8S_CHECK_ONLY:-}" = 1 ]; then log "no complete build at $dest"; exit 1; fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
log "waiting for the build lock ($cache_root/.lock)"
flock 9
if complete; then
  extras_complete || add_extras "$dest"
  echo "$dest"
  exit 0
fi

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
add_extras "$partial"

rm -rf "$dest"
mv "$partial" "$dest"
log "control plane built in $((SECONDS - started)) s into $dest"
echo "$dest"
