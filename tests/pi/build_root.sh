#!/usr/bin/env bash
# Builds one emulated Raspberry Pi OS root for tests/pi/run.sh: build_root.sh RELEASE ARCH ROOT PACKAGES MIRROR.
# The root is built in ROOT.tmp and renamed to ROOT once complete, so an interrupted build is never reused.
# run.sh keys the cache on this file's text and its arguments: change either and the root is rebuilt.
set -euo pipefail
release=$1 arch=$2 root=$3 packages=$4 mirror=$5
debootstrap --arch="$arch" --variant=minbase --include="$packages" "$release" "$root.tmp" "$mirror"
# pip inside the root needs this machine's extra CA certificates (a real Pi has its own network).
cp /usr/local/share/ca-certificates/*.crt "$root.tmp/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$root.tmp" update-ca-certificates >/dev/null
# The test runs as root, where a Pi user types sudo: a pass-through stands in for it.
printf '#!/bin/sh\nexec "$@"\n' >"$root.tmp/usr/local/bin/sudo"
chmod 755 "$root.tmp/usr/local/bin/sudo"
mv "$root.tmp" "$root"
