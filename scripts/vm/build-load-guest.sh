#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the tiny test guest with the scheduled-workload init
# (scripts/vm/init-load) for the end-to-end test: the initramfs of
# build-guest.sh with a second cpio archive appended that adds /init-load
# (the kernel unpacks concatenated archives in turn).  Boot it with
# "rdinit=/init-load mom.load=T:MIB,...".
#   scripts/vm/build-load-guest.sh OUTDIR
# prints two lines, "kernel PATH" and "initrd PATH".
set -eu

out=${1:?usage: build-load-guest.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
base=$("$here/build-guest.sh" "$out")
kernel=$(echo "$base" | sed -n 's/^kernel //p')
initrd=$(echo "$base" | sed -n 's/^initrd //p')
load=${initrd%.img}-load.img
if ! [ -f "$load" ] || ! [ "$load" -nt "$initrd" ] || ! [ "$load" -nt "$here/init-load" ] ||
   ! [ "$load" -nt "$0" ]; then
    root=$(mktemp -d "${TMPDIR:-/tmp}/mom-load.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    cp "$here/init-load" "$root/init-load"
    chmod 755 "$root/init-load"
    cp "$initrd" "$load.tmp"
    (cd "$root" && echo init-load | cpio -o -H newc --quiet | gzip -1) >>"$load.tmp"
    mv "$load.tmp" "$load"
fi
echo "kernel $kernel"
echo "initrd $load"
