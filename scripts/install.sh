#!/usr/bin/env bash
# Install overlay on this machine: the CLI (under $PREFIX/lib/overlay with a
# $PREFIX/bin/overlay wrapper), the CNI plugin in /opt/cni/bin, the systemd
# unit and its environment file. DESTDIR stages everything under another root.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DEST=${DESTDIR:-}

if [ ! -x dist/cni/overlay ] || [ ! -f dist/src/cli/main.js ]; then
  npm ci --no-audit --no-fund
  npm run build
fi

lib="$DEST$PREFIX/lib/overlay"
rm -rf "$lib"
mkdir -p "$lib" "$DEST$PREFIX/bin" "$DEST/opt/cni/bin" "$DEST/etc/systemd/system" "$DEST/etc/default"
cp -r dist package.json package-lock.json README.md "$lib/"
# Runtime dependencies only (execa, ip-cidr, level, raw-socket); the plugin needs none of them.
(cd "$lib" && npm ci --omit=dev --no-audit --no-fund >/dev/null)
printf '#!/bin/sh\nexec node %s/lib/overlay/dist/src/cli/main.js "$@"\n' "$PREFIX" > "$DEST$PREFIX/bin/overlay"
chmod 755 "$DEST$PREFIX/bin/overlay"
install -m 755 dist/cni/overlay "$DEST/opt/cni/bin/overlay.tmp" && mv "$DEST/opt/cni/bin/overlay.tmp" "$DEST/opt/cni/bin/overlay"
sed "s#/usr/local/bin/overlay#$PREFIX/bin/overlay#" packaging/overlay.service > "$DEST/etc/systemd/system/overlay.service"
[ -f "$DEST/etc/default/overlay" ] || install -m 600 packaging/overlay.env "$DEST/etc/default/overlay"
if [ -z "$DEST" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
echo "installed: $PREFIX/bin/overlay, /opt/cni/bin/overlay, /etc/systemd/system/overlay.service (edit /etc/default/overlay, then: systemctl enable --now overlay)"
