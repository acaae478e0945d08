#!/bin/sh
# Build the CNI plugin as ONE self-contained executable (bun embeds its own
# runtime), so an installed plugin needs neither this checkout nor node_modules.
# --splitting keeps modules loaded only by dynamic import() (the local detach
# fallback and its process runner) out of start-up: without it Bun hoists their
# node: imports and every call pays ~15 ms more.
set -eu
cd "$(dirname "$0")/.."
mkdir -p dist/cni
npx bun build --compile --minify --splitting cni/main.ts --outfile dist/cni/overlay
chmod 755 dist/cni/overlay
