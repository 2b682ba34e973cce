#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make demo: run momd on the built-in simulated host for a while and show
# what it decides, one line per guest per policy cycle.
#   sh scripts/demo.sh BUILD_DIR SECONDS
set -u

build=${1:-build}
duration=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
momd=$build/momd

if [ ! -x "$momd" ]; then
    echo "demo: $momd is not built; run make first" >&2
    exit 1
fi
case $duration in
''|*[!0-9]*) echo "demo: SECONDS must be a whole number, not '$duration'" >&2; exit 2 ;;
esac

set -- --trace -c "$top/conf/demo.conf"
# The source tree's policy set, when there is one; without a policy the
# engine still collects, but nothing changes.
for f in "$top"/policies/*.mom "$top"/policies/*.policy; do
    if [ -f "$f" ]; then
        set -- "$@" -P "$top/policies"
        break
    fi
done

cat <<TEXT
MOM demo: momd on a simulated host for $duration seconds (conf/demo.conf).
The simulated guests run scripted workloads; every policy cycle (4 s) momd
prints one line per guest:
  time        when the cycle ran
  guest       the guest's name
  balloon     the guest's current memory (balloon size), MiB
  target      the balloon size the policy asked for in this cycle, MiB
              ("-": no change asked)
  guest-free  memory the guest reports as unused, MiB
  host-free   host free memory (MemFree + Buffers + Cached), MiB,
  free%       and its share of the host's memory
  psi10       host memory pressure: % of the last 10 s some task waited
              for memory
  ksm         KSM state (0 off, 1 merging; "0->1" when the policy switches it)
Log lines (time - logger - LEVEL - message) go to standard error.
Command: $momd $*

TEXT

"$momd" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM

i=0
while [ "$i" -lt "$duration" ] && kill -0 "$pid" 2>/dev/null; do
    sleep 1
    i=$((i + 1))
done
kill -TERM "$pid" 2>/dev/null
status=0
wait "$pid" || status=$?
if [ "$status" -ne 0 ]; then
    echo "demo: momd exited with status $status" >&2
    exit "$status"
fi
echo
echo "demo: stopped momd after $duration seconds."
