#!/usr/bin/env bash
# Puts the docker compose v2 plugin of Debian forky/sid (2.40.x, compose-go 2.9, the current
# Compose Specification: provider services, models, …) at .bin/compose-oracle/docker-compose.
# It is the oracle of the compose differential test (tests/compose-differential.test.ts);
# `docker compose config` needs no engine. The system's own compose plugin is left as it is.
# A private apt configuration, so the system's sources and lists stay exactly as they are.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target="$root/.bin/compose-oracle/docker-compose"
if [ -x "$target" ] && "$target" version --short >/dev/null 2>&1; then exit 0; fi
sources=/etc/apt/sources.list.d/debian.sources
mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources" 2>/dev/null || true)
keyring=$(awk '/^Signed-By:/ { print $2; exit }' "$sources" 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
apt_dir=$(mktemp -d)
trap 'rm -rf "$apt_dir"' EXIT
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/download"
printf 'Types: deb\nURIs: %s\nSuites: forky sid\nComponents: main\nSigned-By: %s\n' "$mirror" "$keyring" >"$apt_dir/forky.sources"
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
mkdir -p "$(dirname "$target")"
install -m 0755 "$apt_dir/extract/usr/libexec/docker/cli-plugins/docker-compose" "$target"
"$target" version
