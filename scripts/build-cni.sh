#!/bin/sh
# Build the CNI plugin as ONE self-contained executable (bun embeds its own
# runtime), so an installed plugin needs neither this checkout nor node_modules.
# Start-up is most of what a plugin call costs, so (and the plugin's code
# imports nothing beyond node:fs and node:path; its kernel and daemon I/O go
# through libc, src/sys/libc.ts):
#  --bytecode ships precompiled bytecode (~4 ms less per call than parsing);
#  --no-compile-autoload-* stop the runtime from reading a .env or bunfig.toml
#    from whatever directory the runtime calls us in (slower, and not ours to read).
set -eu
cd "$(dirname "$0")/.."
mkdir -p dist/cni
npx bun build --compile --minify --bytecode --format=esm \
  --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
  cni/main.ts --outfile dist/cni/overlay
chmod 755 dist/cni/overlay
