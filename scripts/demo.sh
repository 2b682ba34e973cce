#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make demo: run momd with the default policy set (policies/) on the
# built-in simulated host for a while and show what it decides, one line
# per guest per policy cycle, then a summary of each guest's balloon.
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
Five guests that want 26 GiB in all share a 16 GiB host.  Their demand
rises for 20 s, the host runs short of memory (under 20 % free), the demand
holds, and it falls again after 40 s.  Watch the balloon column: the default
balloon policy (policies/10-balloon.mom) shrinks the guests' balloons by up
to 5 % per cycle while the host is short of memory, and lets them grow back
once it has enough.

Every policy cycle (3 s) momd prints one line per guest:
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

trace=$(mktemp "${TMPDIR:-/tmp}/mom-demo.XXXXXX") || exit 1
"$momd" "$@" >"$trace" &
pid=$!
# Show the trace as it is written; tail ends when momd does.
tail -n +1 -f --pid="$pid" "$trace" &
tailpid=$!
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM

i=0
while [ "$i" -lt "$duration" ] && kill -0 "$pid" 2>/dev/null; do
    sleep 1
    i=$((i + 1))
done
kill -TERM "$pid" 2>/dev/null
status=0
wait "$pid" || status=$?
wait "$tailpid" 2>/dev/null
if [ "$status" -ne 0 ]; then
    rm -f "$trace"
    echo "demo: momd exited with status $status" >&2
    exit "$status"
fi

# Per guest: the balloon at the start, its lowest value (and when), and at
# the end; and the host's lowest free share.
echo
echo "Summary (balloon sizes in MiB):"
awk '
$1 ~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/ && NF >= 9 && $2 != "cycle" {
    g = $2; b = $3 + 0
    if (!(g in first)) { first[g] = b; low[g] = b; lowat[g] = $1; order[++n] = g }
    if (b < low[g]) { low[g] = b; lowat[g] = $1 }
    last[g] = b
    f = $7; sub(/%/, "", f)
    if (minfree == "" || f + 0 < minfree + 0) { minfree = f; minat = $1 }
}
END {
    for (k = 1; k <= n; k++) {
        g = order[k]
        printf "  %-8s %6d at the start, %6d at the lowest (%s), %6d at the end\n",
               g, first[g], low[g], lowat[g], last[g]
    }
    if (minfree != "")
        printf "  host free memory was lowest at %s%% (%s)\n", minfree, minat
}' "$trace"
rm -f "$trace"
echo
echo "demo: stopped momd after $duration seconds."
