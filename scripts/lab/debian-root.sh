#!/usr/bin/env bash
# A clean Debian root without Node.js, made once by debootstrap from Debian's
# packages and cached (the package test installs overlay's .deb into a
# throwaway copy-on-write layer over it, never into the cache itself).
# Prints the root's path.
#
#   OVERLAY_DEBIAN_ROOT_CACHE   [/var/cache/overlay-test]
set -euo pipefail
cache=${OVERLAY_DEBIAN_ROOT_CACHE:-/var/cache/overlay-test}
suite=bookworm
# What the package depends on, and systemd (for systemd-analyze inside the root).
include=iproute2,nftables,systemd
root="$cache/$suite-minbase"
stamp="$root/.overlay-root-ok"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$include" ]; then
  mkdir -p "$cache"
  tmp="$cache/.$suite-minbase.tmp"
  rm -rf "$tmp"
  # The mirror this machine's apt already uses.
  # Either file may be missing (a deb822-only machine has no sources.list): read what exists.
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    sed -n -e 's/^URIs: *\([^ ]*\).*/\1/p' -e 's/^deb \(\[[^]]*\] \)\?\([^ ]*\) .*/\2/p' | grep -v security | head -1 || true)
  [ -n "$mirror" ] || { echo "debootstrap: no Debian mirror found in /etc/apt" >&2; exit 1; }
  echo "debootstrap: making a $suite root in $root (once; a few minutes)" >&2
  debootstrap --variant=minbase --include="$include" "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  apt_clean="$tmp/var/cache/apt/archives"
  rm -f "$apt_clean"/*.deb
  echo "$include" > "$tmp/.overlay-root-ok"
  rm -rf "$root"
  mv "$tmp" "$root"
fi
echo "$root"
