#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# GuestQemuAgent against a real qemu-guest-agent (TESTING.md §5): qemu-ga
# runs on the host in listen mode, so its guest-file-* commands read the
# host's own /proc/meminfo and /proc/vmstat.  momd runs on the simulator
# (hypervisor-interface: sim) with two guests; the agent socket of guest
# ga1 is a qemu-ga, guest ga2 has none.  The plot files show what was
# collected.  TAP output.
#
# Needs the qemu-guest-agent package: with MOM_TEST_VM=1 the test installs
# it (scripts/install-vm-deps.sh), otherwise it is skipped when missing.
#   BUILD=build sh tests/integration/test_qemu_ga.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
MOMD=$BUILD/momd

if ! command -v qemu-ga >/dev/null 2>&1 && ! [ -x /usr/sbin/qemu-ga ]; then
    if [ "${MOM_TEST_VM:-}" = 1 ]; then
        "$top/scripts/install-vm-deps.sh" >&2 || { echo "1..1"; echo "not ok 1 - install the VM test packages"; exit 1; }
    else
        echo "1..1"
        echo "ok 1 # SKIP qemu-ga is not installed (MOM_TEST_VM=1 installs it)"
        exit 0
    fi
fi
QGA=$(command -v qemu-ga || echo /usr/sbin/qemu-ga)

n=0
fails=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_qemu_ga.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() {
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
diag() { [ -f "$1" ] && sed -e 's/^/# /' "$1" | tail -n "${2:-20}"; }
wait_for() {
    limit=$(($1 * 5))
    shift
    i=0
    while [ "$i" -lt "$limit" ]; do
        "$@" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

if [ ! -x "$MOMD" ]; then
    echo "1..1"
    echo "not ok 1 - $MOMD is built"
    exit 1
fi

mkdir -p "$tmp/agents" "$tmp/state" "$tmp/plot"
"$QGA" -m unix-listen -p "$tmp/agents/ga1.agent" -t "$tmp/state" -f "$tmp/state/qga.pid" \
    >"$tmp/qga.log" 2>&1 &
qga_pid=$!
pids="$pids $qga_pid"
check "qemu-ga listens on its socket" wait_for 10 test -S "$tmp/agents/ga1.agent"

cat >"$tmp/scenario.json" <<JSON
{"host": {"memory_mib": 8192}, "guests": [{"name": "ga1", "max_mib": 1024}, {"name": "ga2", "max_mib": 1024}]}
JSON
cat >"$tmp/momd.conf" <<CONF
[main]
hypervisor-interface: sim
host-monitor-interval: 1
guest-monitor-interval: 1
guest-manager-interval: 1
policy-engine-interval: 1
call-deadline-ms: 5000
plot-dir: $tmp/plot
controllers: Balloon

[logging]
verbosity: debug

[sim]
scenario: $tmp/scenario.json

[host]
collectors: HostMemory

[guest]
collectors: GuestQemuAgent

[Collector: GuestQemuAgent]
socket_path: $tmp/agents
socket_name_template: %(name)s.agent
CONF

"$MOMD" -c "$tmp/momd.conf" -l "$tmp/momd.log" >"$tmp/momd.out" 2>&1 &
momd_pid=$!
pids="$pids $momd_pid"

# The newest data row of a plot file as "field=value" lines.
plot_row() { # FILE
    python3 - "$1" <<'PY'
import sys
hdr, row = None, None
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# time"):
        hdr = [f.strip() for f in line.split("\t")]
    elif line and not line.startswith("#") and hdr:
        row = dict(zip(hdr, line.split("\t")))
for k, v in (row or {}).items():
    print("%s=%s" % (k, v))
PY
}

ga1=""
have_row() {
    f=$(ls "$tmp"/plot/momplot-*/ga1.dat 2>/dev/null | head -n 1)
    [ -n "$f" ] && plot_row "$f" | grep -q '^mem_available=[0-9]' && ga1=$f
}
check "ga1 gets a complete sample through qemu-ga" wait_for 30 have_row
[ -n "$ga1" ] || { diag "$tmp/momd.log" 30; diag "$tmp/qga.log"; }

if [ -n "$ga1" ]; then
    plot_row "$ga1" >"$tmp/row"
    host_total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    host_swap=$(awk '/^SwapTotal:/ {print $2}' /proc/meminfo)
    host_pgfault=$(awk '$1 == "pgfault" {print $2}' /proc/vmstat)
    check "mem_available is the agent side's MemTotal (KiB)" \
        grep -qx "mem_available=$host_total" "$tmp/row"
    check "swap_total is the agent side's SwapTotal" grep -qx "swap_total=$host_swap" "$tmp/row"
    # pgfault lies far beyond the first KiB of /proc/vmstat: read whole.
    check "minor_fault (pgfault, beyond the first KiB of vmstat) arrives" \
        sh -c 'v=$(sed -n "s/^minor_fault=//p" "$1"); [ -n "$v" ] && [ "$v" -gt 0 ] && [ "$v" -le "$2" ]' \
        sh "$tmp/row" "$host_pgfault"
    check "mem_free >= mem_unused" \
        sh -c 'f=$(sed -n "s/^mem_free=//p" "$1"); u=$(sed -n "s/^mem_unused=//p" "$1"); [ "$f" -ge "$u" ]' \
        sh "$tmp/row"
    check "swap_in is reported (cumulative KiB)" grep -q '^swap_in=[0-9][0-9]*$' "$tmp/row"
    diag "$tmp/row" 12
fi

check "ga2, which has no agent, gets a collection error naming its socket" \
    grep -q 'ga2.agent' "$tmp/momd.log"
check "ga2 never gets a complete sample" \
    sh -c '! ls "$1"/plot/momplot-*/ga2.dat >/dev/null 2>&1 || ! grep -q "^[0-9]" "$1"/plot/momplot-*/ga2.dat' sh "$tmp"

# The agent restarts: the collector reconnects and synchronises again.
kill -TERM "$qga_pid" 2>/dev/null
wait "$qga_pid" 2>/dev/null
rm -f "$tmp/agents/ga1.agent"
sleep 2
rows_before=$(grep -c '^[0-9]' "$ga1" 2>/dev/null || echo 0)
"$QGA" -m unix-listen -p "$tmp/agents/ga1.agent" -t "$tmp/state" -f "$tmp/state/qga2.pid" \
    >>"$tmp/qga.log" 2>&1 &
qga_pid=$!
pids="$pids $qga_pid"
more_rows() { [ "$(grep -c '^[0-9]' "$ga1" 2>/dev/null || echo 0)" -gt "$((rows_before + 1))" ]; }
check "after qemu-ga restarts, samples arrive again" wait_for 20 more_rows
check "momd is still running" kill -0 "$momd_pid"

kill -TERM "$momd_pid" 2>/dev/null
wait "$momd_pid" 2>/dev/null
check "momd logged no memory errors" sh -c '! grep -q -i "sanitizer\|double free" "$1"' sh "$tmp/momd.out"
echo "1..$n"
[ "$fails" -eq 0 ]
