#!/usr/bin/env bash
# Installs what overlay needs to build, test and demo on a fresh Debian machine.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 nftables iperf3 tcpdump iputils-ping procps ethtool util-linux podman containernetworking-plugins busybox-static runc iptables curl wireguard-go wireguard-tools debootstrap lintian)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing apt packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# vagrant only validates the Vagrantfile here; its recommends (hypervisors, a kernel) are not needed.
if ! dpkg-query -W -f='${Status}' vagrant 2>/dev/null | grep -q "install ok installed"; then
  echo "installing apt packages: vagrant" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends vagrant >/dev/null
fi

# npm ci when the lock file changed since the last install (or nothing is installed).
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.overlay-lock-stamp; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.overlay-lock-stamp
fi
