#!/bin/sh
# Build the CNI plugin as ONE self-contained executable (bun embeds its own
# runtime), so an installed plugin needs neither this checkout nor node_modules.
set -eu
cd "$(dirname "$0")/.."
mkdir -p dist/cni
npx bun build --compile --minify cni/main.ts --outfile dist/cni/overlay
chmod 755 dist/cni/overlay
