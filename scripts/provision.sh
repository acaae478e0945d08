#!/usr/bin/env bash
# Provision one host of an overlay cluster (the Vagrant VMs run this):
# install Node.js and overlay, launch the router with the other hosts as
# peers, install the CNI plugin for podman (/etc/cni/net.d) and Nomad
# (/opt/cni/config) with two isolated tenant networks, and expose the host.
#
#   provision.sh <peer> [<peer> ...]
#
# Environment (defaults in brackets), so the script also runs in the test lab:
#   OVERLAY_SKIP_INSTALL=1    do not install Node.js / the project (already there)
#   OVERLAY_CLI               how to run the CLI [overlay]
#   OVERLAY_CNI_BIN_DIR       [/opt/cni/bin]
#   OVERLAY_CNI_CONF_DIRS     space-separated conflist dirs [/etc/cni/net.d /opt/cni/config]
#   OVERLAY_SRC               the project checkout to install from [/vagrant]
set -euo pipefail

NODE_VERSION=20.18.1
CLI=${OVERLAY_CLI:-overlay}
BIN_DIR=${OVERLAY_CNI_BIN_DIR:-/opt/cni/bin}
CONF_DIRS=${OVERLAY_CNI_CONF_DIRS:-/etc/cni/net.d /opt/cni/config}
SRC=${OVERLAY_SRC:-/vagrant}

if [ "${OVERLAY_SKIP_INSTALL:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq iproute2 nftables curl ca-certificates xz-utils podman containernetworking-plugins runc build-essential python3 wireguard-go wireguard-tools >/dev/null
  if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" | tar -xJ -C /usr/local --strip-components=1
  fi
  (cd "$SRC" && bash scripts/install.sh)
fi

# shellcheck disable=SC2086 # CLI may be "node /path/main.js"
$CLI launch --nickname "$(hostname)" "$@"
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
