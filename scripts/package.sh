#!/usr/bin/env bash
# Build dist/overlay_<version>_amd64.deb with dpkg-deb from what `npm run build`
# made: the overlay executable in /usr/bin, the CNI plugin in /opt/cni/bin, the
# systemd unit in /lib/systemd/system, /etc/default/overlay as a conffile, and
# maintainer scripts (packaging/debian/) that create /var/lib/overlay (0700),
# keep it and the conffile on remove and delete them on purge.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p 'require("./package.json").version')
for f in dist/overlay dist/cni/overlay; do
  [ -x "$f" ] || { echo "package: $f is missing; run npm run build" >&2; exit 1; }
done
root=$(mktemp -d dist/deb.XXXXXX)
chmod 755 "$root"
trap 'rm -rf "$root"' EXIT
install -D -m 755 dist/overlay "$root/usr/bin/overlay"
install -D -m 755 dist/cni/overlay "$root/opt/cni/bin/overlay"
install -D -m 644 packaging/overlay.service "$root/lib/systemd/system/overlay.service"
install -D -m 600 packaging/overlay.env "$root/etc/default/overlay"
mkdir -p "$root/usr/share/bash-completion/completions"
dist/overlay completion bash > "$root/usr/share/bash-completion/completions/overlay"
chmod 644 "$root/usr/share/bash-completion/completions/overlay"
install -D -m 644 packaging/debian/copyright "$root/usr/share/doc/overlay/copyright"
# A native package (no Debian revision), so its changelog is changelog.gz.
printf 'overlay (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- overlay developers <overlay@localhost>  %s\n' \
  "$version" "$version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n > "$root/usr/share/doc/overlay/changelog.gz"
chmod 644 "$root/usr/share/doc/overlay/changelog.gz"
mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/debian/control > "$root/DEBIAN/control"
install -m 644 packaging/debian/conffiles "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 755 "packaging/debian/$s" "$root/DEBIAN/$s"; done
out="dist/overlay_${version}_amd64.deb"
# gzip: xz takes minutes for two Bun runtimes on a small machine, and the archive allows only gzip and xz.
dpkg-deb --root-owner-group -Zgzip -z6 --build "$root" "$out" >/dev/null
echo "$out"
