#!/usr/bin/env bash
# Runs the whole test suite: unit, simulation and real-kernel integration tests.
# Needs root (network namespaces). Prints a plain "tests: N passed, N failed" line, then where the daemon logs are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build
results="$(mktemp /tmp/overlay-test-results.XXXXXX.json)"
# Every test daemon's log is kept, so a failure seen once (in CI) can be read afterwards.
# The lab runs the `overlay` executable (dist/overlay), as the package installs it; OVERLAY_RUNTIME=node runs dist/src/cli/main.js instead.
export OVERLAY_RUNTIME="${OVERLAY_RUNTIME:-executable}"
export OVERLAY_KEEP_LOGS="${OVERLAY_KEEP_LOGS:-/tmp/overlay-test-logs/$(date +%Y%m%dT%H%M%S)}"
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$results" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
' "$results" || true
rm -f "$results"
echo "daemon logs: $OVERLAY_KEEP_LOGS"
exit "$status"
