#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the tiny test guest for the real-peer tests (TESTING.md §3-4): the
# Debian kernel from /boot plus an initramfs made of a static busybox, the
# virtio modules and scripts/vm/init (with scripts/vm/ovirt-agent.sh, the
# guest side of the oVirt guest agent protocol).
#   scripts/vm/build-guest.sh OUTDIR
# prints two lines, "kernel PATH" and "initrd PATH".  The initramfs is
# rebuilt only when OUTDIR has none or an input is newer.
set -eu

out=${1:?usage: build-guest.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || { echo "no kernel in /boot (install linux-image-amd64)" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver/kernel
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "no busybox (install busybox-static)" >&2; exit 1; }

initrd=$out/initrd-$kver.img
if [ -f "$initrd" ] && [ "$initrd" -nt "$here/init" ] && [ "$initrd" -nt "$here/ovirt-agent.sh" ] &&
   [ "$initrd" -nt "$0" ]; then
    echo "kernel $kernel"
    echo "initrd $initrd"
    exit 0
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/mom-guest.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/lib/modules"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/init" "$root/init"
cp "$here/ovirt-agent.sh" "$root/bin/ovirt-agent.sh"
chmod 755 "$root/init" "$root/bin/ovirt-agent.sh"
# The virtio modules, in the order init loads them (TESTING.md §3).  A
# module the kernel has built in is simply absent.
for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev \
         virtio/virtio_pci_modern_dev virtio/virtio_pci virtio/virtio_balloon \
         char/virtio_console; do
    for ext in .ko .ko.xz .ko.zst; do
        f=$moddir/drivers/$m$ext
        [ -f "$f" ] || continue
        case $ext in
        .ko) cp "$f" "$root/lib/modules/" ;;
        .ko.xz) xz -dc "$f" >"$root/lib/modules/$(basename "$m").ko" ;;
        .ko.zst) zstd -qdc "$f" >"$root/lib/modules/$(basename "$m").ko" ;;
        esac
    done
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
mv "$initrd.tmp" "$initrd"
echo "kernel $kernel"
echo "initrd $initrd"
