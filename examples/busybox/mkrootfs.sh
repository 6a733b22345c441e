#!/usr/bin/env bash
# Build a busybox root filesystem tarball from Debian's busybox-static
# package, offline apart from Debian's own repository: the demo image.
# Usage: mkrootfs.sh OUT.tar
set -euo pipefail
out=$(realpath -m "${1:?usage: mkrootfs.sh OUT.tar}")
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download busybox-static >/dev/null 2>&1; then
  # Fall back to the installed package's binary.
  mkdir -p root/bin && cp /bin/busybox root/bin/busybox
else
  dpkg-deb -x busybox-static_*.deb root
fi
mkdir -p root/{bin,sbin,usr/bin,usr/sbin,etc,root,home/alice,var/www,proc,sys,dev}
install -d -m 1777 root/tmp
for applet in $(root/bin/busybox --list-full); do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "root/$(dirname "$applet")"
  ln -sf /bin/busybox "root/$applet"
done
cat > root/etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > root/etc/group <<'G'
root:x:0:
staff:x:50:alice
alice:x:1000:
nogroup:x:65534:
G
chown 1000:1000 root/home/alice
cat > root/var/www/index.html <<'H'
<h1>hello from stack</h1>
H
tar --numeric-owner -C root -cf "$out" .
echo "wrote $out"
