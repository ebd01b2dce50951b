#!/usr/bin/env bash
# `npm test`: bring up what the tests need (Docker engine, compose v2, helm, the local busybox
# image; PostgreSQL is embedded per test file), check the schema print and the types (tsc), then
# run every vitest test once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -d node_modules ] || npm ci
bash scripts/setup-test-env.sh
npx tsx scripts/print-schema.ts --check
# Types first: a schema change that breaks the agent, the hub or the test kit fails here (generated
# types are checked fresh by tests/generated-fresh.test.ts).
npx tsc --noEmit
exec npx vitest run "$@"
