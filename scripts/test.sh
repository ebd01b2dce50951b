#!/usr/bin/env bash
# `npm test`: bring up what the tests need (Docker engine, compose v2, helm, the local busybox
# image; PostgreSQL is embedded per test file), then run every vitest test once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -d node_modules ] || npm ci
bash scripts/setup-test-env.sh
npx tsx scripts/print-schema.ts --check
exec npx vitest run "$@"
