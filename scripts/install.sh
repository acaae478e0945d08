#!/usr/bin/env bash
# Install overlay on this machine, with no Node.js or npm on it:
#   install.sh overlay_<version>_amd64.deb   install the package (apt pulls in iproute2 and nftables)
#   install.sh                              install the executables built in dist/ (npm run build,
#                                           on any build machine): $PREFIX/bin/overlay, the CNI
#                                           plugin in /opt/cni/bin, the systemd unit, its environment
#                                           file and the bash completion. DESTDIR stages them under
#                                           another root.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DEST=${DESTDIR:-}

if [ $# -gt 0 ]; then
  deb=$(realpath "$1")
  [ -f "$deb" ] || { echo "install: no such package: $1" >&2; exit 1; }
  [ -z "$DEST" ] || { echo "install: DESTDIR stages the executables; a package is installed with dpkg" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb"
  exit 0
fi

for f in dist/overlay dist/cni/overlay; do
  [ -x "$f" ] || { echo "install: $f is missing: build it with \"npm run build\" (on a build machine), or install the .deb from \"npm run package\"" >&2; exit 1; }
done
mkdir -p "$DEST$PREFIX/bin" "$DEST/opt/cni/bin" "$DEST/etc/systemd/system" "$DEST/etc/default" "$DEST/usr/share/bash-completion/completions"
# A running daemon keeps its executable busy: install beside it and rename over it.
install -m 755 dist/overlay "$DEST$PREFIX/bin/.overlay.tmp" && mv "$DEST$PREFIX/bin/.overlay.tmp" "$DEST$PREFIX/bin/overlay"
install -m 755 dist/cni/overlay "$DEST/opt/cni/bin/.overlay.tmp" && mv "$DEST/opt/cni/bin/.overlay.tmp" "$DEST/opt/cni/bin/overlay"
sed "s#/usr/bin/overlay#$PREFIX/bin/overlay#" packaging/overlay.service > "$DEST/etc/systemd/system/overlay.service"
[ -f "$DEST/etc/default/overlay" ] || install -m 600 packaging/overlay.env "$DEST/etc/default/overlay"
dist/overlay completion bash > "$DEST/usr/share/bash-completion/completions/overlay"
install -d -m 700 "$DEST/var/lib/overlay"
if [ -z "$DEST" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
echo "installed: $PREFIX/bin/overlay, /opt/cni/bin/overlay, /etc/systemd/system/overlay.service (edit /etc/default/overlay, then: systemctl enable --now overlay)"
