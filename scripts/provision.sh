#!/usr/bin/env bash
# Provision one host of an overlay cluster (the Vagrant VMs run this):
# install overlay from its Debian package (build it first, on the host that
# runs vagrant: npm run package), launch the router with the other hosts as
# peers, install the CNI plugin for podman (/etc/cni/net.d) and Nomad
# (/opt/cni/config) with two isolated tenant networks, and expose the host.
#
#   provision.sh <peer> [<peer> ...]
#
# Environment (defaults in brackets), so the script also runs in the test lab:
#   OVERLAY_SKIP_INSTALL=1    do not install anything (overlay is already there)
#   OVERLAY_CLI               how to run the CLI [overlay]
#   OVERLAY_CNI_BIN_DIR       [/opt/cni/bin]
#   OVERLAY_CNI_CONF_DIRS     space-separated conflist dirs [/etc/cni/net.d /opt/cni/config]
#   OVERLAY_SRC               the project checkout whose dist/ holds the .deb [/vagrant]
set -euo pipefail

CLI=${OVERLAY_CLI:-overlay}
BIN_DIR=${OVERLAY_CNI_BIN_DIR:-/opt/cni/bin}
CONF_DIRS=${OVERLAY_CNI_CONF_DIRS:-/etc/cni/net.d /opt/cni/config}
SRC=${OVERLAY_SRC:-/vagrant}

if [ "${OVERLAY_SKIP_INSTALL:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  deb=$(ls "$SRC"/dist/overlay_*_amd64.deb 2>/dev/null | sort -V | tail -1)
  [ -n "$deb" ] || { echo "provision: no dist/overlay_*_amd64.deb in $SRC: run \"npm run package\" there first" >&2; exit 1; }
  # The package pulls in iproute2, nftables and WireGuard; podman and the reference plugins are the first client.
  apt-get install -y -qq "$deb" podman containernetworking-plugins runc >/dev/null
fi

if [ "${OVERLAY_SKIP_INSTALL:-0}" != 1 ] && [ -d /run/systemd/system ]; then
  # Installed from the package: systemd runs the router (Type=notify: up once the API answers).
  sed -i -e "s|^OVERLAY_PEERS=.*|OVERLAY_PEERS=\"$*\"|" -e "s|^OVERLAY_OPTS=.*|OVERLAY_OPTS=\"--nickname $(hostname)\"|" /etc/default/overlay
  systemctl enable --now overlay.service
else
  # shellcheck disable=SC2086 # CLI may be "node /path/main.js"
  $CLI launch --nickname "$(hostname)" "$@"
fi
for _ in $(seq 1 100); do
  $CLI status ipam --json 2>/dev/null | grep -q '"status": "ready"' && break
  sleep 0.2
done
for dir in $CONF_DIRS; do
  $CLI setup-cni --bin-dir "$BIN_DIR" --conf-dir "$dir" --name tenant-a --subnet 10.32.1.0/24 --portmap
  $CLI setup-cni --bin-dir "$BIN_DIR" --conf-dir "$dir" --name tenant-b --subnet 10.32.2.0/24 --portmap
done
$CLI expose
$CLI status
