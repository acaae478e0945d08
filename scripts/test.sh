#!/usr/bin/env bash
# Runs the whole test suite: unit, simulation and real-kernel integration tests.
# Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm test
