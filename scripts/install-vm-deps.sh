#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install the Debian packages that the real-peer tests need: QEMU for the
# tiny test guests (TCG), the QEMU guest agent (run on the host in listen
# mode), a static busybox and a Debian kernel for the guest's initramfs.
#   scripts/install-vm-deps.sh           install what is missing (root)
#   scripts/install-vm-deps.sh --check   exit 0 when everything is there
#   scripts/install-vm-deps.sh --list    print the package list
set -e

PKGS="qemu-system-x86 qemu-guest-agent busybox-static linux-image-amd64 cpio"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for p in $PKGS; do
    installed "$p" || missing="$missing $p"
done

case "$1" in
--list)
    echo $PKGS
    exit 0
    ;;
--check)
    [ -z "$missing" ] || exit 1
    # The kernel package must have left a kernel image in /boot.
    ls /boot/vmlinuz-* >/dev/null 2>&1 || exit 1
    exit 0
    ;;
esac

[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "The VM tests need these Debian packages:$missing" >&2
    echo "Run as root:  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "Installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
