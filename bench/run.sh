#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run every benchmark and print its table.  Benchmarks measure; they never
# pass or fail.  The simulator's private /proc and /sys go to /dev/shm when
# it exists (a memory file system, like the real /proc), so that file system
# costs of the build machine's disk do not count as MOM's.
BUILD=${BUILD:-build}
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
    echo
done
for s in bench/bench_*.sh; do
    [ -f "$s" ] || continue
    echo "== $(basename "$s")"
    BUILD=$BUILD sh "$s"
    echo
done
