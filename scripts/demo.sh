#!/usr/bin/env bash
# The demo: a multi-host overlay in network namespaces on this one machine.
# Needs root. Everything it creates is removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build --silent
exec node dist/scripts/demo.js "$@"
