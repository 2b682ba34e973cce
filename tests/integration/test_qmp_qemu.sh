#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# momd with hypervisor-interface: qmp against real QEMU guests (TESTING.md
# §4): two tiny TCG guests (Debian kernel + busybox initramfs, see
# scripts/vm/) with a virtio balloon and an oVirt guest agent speaker on a
# virtio-serial port; a socket file whose QEMU is gone; a socket that
# accepts and never answers.  A classic policy sets every guest's balloon
# target; the test checks through a second QMP monitor of each QEMU that
# the balloon shrank, through momd's plot files that statistics arrived
# (from the balloon over QMP and from the oVirt agent), and that killing
# one QEMU drops that guest while the other goes on.  TAP output.
#
# Needs qemu-system-x86, busybox-static and linux-image-amd64: with
# MOM_TEST_VM=1 the test installs them (scripts/install-vm-deps.sh),
# otherwise it is skipped when they are missing.
#   BUILD=build sh tests/integration/test_qmp_qemu.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
MOMD=$BUILD/momd

if ! "$top/scripts/install-vm-deps.sh" --check; then
    if [ "${MOM_TEST_VM:-}" = 1 ]; then
        "$top/scripts/install-vm-deps.sh" >&2 || { echo "1..1"; echo "not ok 1 - install the VM test packages"; exit 1; }
    else
        echo "1..1"
        echo "ok 1 # SKIP QEMU, busybox or a kernel is missing (MOM_TEST_VM=1 installs them)"
        exit 0
    fi
fi

n=0
fails=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_qmp_qemu.XXXXXX")
pids=""
# Kill what this test started, by pid (QEMU, momd, the silent listener).
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
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
has() { grep -q -E -e "$2" "$1" 2>/dev/null; }

if [ ! -x "$MOMD" ]; then
    echo "1..1"
    echo "not ok 1 - $MOMD is built"
    exit 1
fi

"$top/scripts/vm/build-guest.sh" "$BUILD/vm" >"$tmp/guest" 2>"$tmp/guest.err" || {
    echo "1..1"
    echo "not ok 1 - build the test guest"
    diag "$tmp/guest.err"
    exit 1
}
kernel=$(sed -n 's/^kernel //p' "$tmp/guest")
initrd=$(sed -n 's/^initrd //p' "$tmp/guest")
mkdir -p "$tmp/qmp" "$tmp/mon" "$tmp/chan" "$tmp/plot"

# start_guest NAME [QEMU -name]: a 256 MiB TCG guest whose QMP socket is
# qmp/NAME.sock (for momd) and mon/NAME.sock (for the test), with the oVirt
# agent channel chan/NAME.ovirt-guest-agent.0.
start_guest() {
    name=$1
    shift
    qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nographic -no-reboot -nodefaults \
        "$@" -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet mom.agent=1" \
        -device virtio-balloon-pci,id=balloon0 \
        -device virtio-serial-pci \
        -chardev "socket,id=agent,path=$tmp/chan/$name.ovirt-guest-agent.0,server=on,wait=off" \
        -device virtserialport,chardev=agent,name=ovirt-guest-agent.0 \
        -qmp "unix:$tmp/qmp/$name.sock,server=on,wait=off" \
        -qmp "unix:$tmp/mon/$name.sock,server=on,wait=off" \
        -serial "file:$tmp/$name.console" -display none >"$tmp/$name.qemu" 2>&1 &
    eval "pid_$name=\$!"
    pids="$pids $!"
}

# qmp NAME COMMAND [ARGS-JSON]: one command on the test's own monitor;
# prints the reply's "return" as JSON.
qmp() {
    python3 - "$tmp/mon/$1.sock" "$2" "${3:-}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
def call(cmd, args=None):
    req = {"execute": cmd}
    if args:
        req["arguments"] = args
    f.write(json.dumps(req) + "\n")
    f.flush()
    while True:
        m = json.loads(f.readline())
        if "event" not in m:
            return m
call("qmp_capabilities")
print(json.dumps(call(sys.argv[2], json.loads(sys.argv[3]) if sys.argv[3] else None).get("return")))
PY
}

start_guest alpha -name alpha
start_guest beta
# A socket file whose QEMU is gone, and one that accepts and never speaks.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$tmp/qmp/stale.sock"
python3 - "$tmp/qmp/mute.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)
PY
pids="$pids $!"
echo '{"balloon_min": 100000}' >"$tmp/qmp/alpha.json"

booted() { has "$tmp/$1.console" 'MOM-GUEST-READY'; }
check "guest alpha boots" wait_for 90 booted alpha
check "guest beta boots" wait_for 60 booted beta
booted alpha || { diag "$tmp/alpha.console"; diag "$tmp/alpha.qemu"; }

cat >"$tmp/balloon.policy" <<'POL'
(with Guests g (g.Control "balloon_target" 200000))
POL
cat >"$tmp/momd.conf" <<CONF
[main]
hypervisor-interface: qmp
qmp-socket-dir: $tmp/qmp
host-monitor-interval: 1
guest-monitor-interval: 1
guest-manager-interval: 2
policy-engine-interval: 2
call-deadline-ms: 3000
plot-dir: $tmp/plot
controllers: Balloon

[logging]
verbosity: debug

[host]
collectors: HostMemory

[guest]
collectors: GuestAgent, GuestMemory, GuestBalloon

[Collector: GuestAgent]
socket_path: $tmp/chan
socket_name_template: %(name)s.ovirt-guest-agent.0
CONF

"$MOMD" --trace -c "$tmp/momd.conf" -r "$tmp/balloon.policy" -l "$tmp/momd.log" \
    >"$tmp/trace" 2>"$tmp/momd.err" &
momd_pid=$!
pids="$pids $momd_pid"

check "momd finds guest alpha by its QEMU name" wait_for 30 has "$tmp/momd.log" 'New guest alpha \('
check "momd names beta (no -name) after its socket, with a name-based UUID" \
    wait_for 30 has "$tmp/momd.log" 'New guest beta \([0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab]'
check "the stale socket is not a guest" sh -c '! grep -q "New guest stale" "$1"' sh "$tmp/momd.log"
check "the silent socket runs into the deadline" \
    wait_for 20 has "$tmp/momd.log" 'mute.sock: cannot connect to QMP: Connection timed out'
check "--trace shows alpha with its balloon" \
    wait_for 60 has "$tmp/trace" '^[0-9:]+  alpha +[0-9]+ '

# Statistics arrived: a complete row in alpha's plot file.
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
row_ok() {
    f=$(ls "$tmp"/plot/momplot-*/alpha.dat 2>/dev/null | head -n 1)
    [ -n "$f" ] && plot_row "$f" >"$tmp/row" && grep -q '^mem_free=[0-9]' "$tmp/row"
}
check "alpha's statistics arrive (plot row with mem_free, balloon_cur)" wait_for 30 row_ok
check "balloon_max is QEMU's memory size (256 MiB in KiB)" grep -qx 'balloon_max=262144' "$tmp/row"
check "balloon_min comes from alpha.json" grep -qx 'balloon_min=100000' "$tmp/row"
check "guest memory statistics are in KiB (mem_available below 256 MiB)" \
    sh -c 'v=$(sed -n "s/^mem_available=//p" "$1"); [ "$v" -gt 100000 ] && [ "$v" -le 262144 ]' sh "$tmp/row"
diag "$tmp/row" 20

# GuestAgent read the oVirt agent in the guest: only it reports swap_total
# (the balloon statistics over QMP have no swap size), 0 in this guest.
check "GuestAgent delivers the oVirt agent's statistics (swap_total=0)" \
    grep -qx 'swap_total=0' "$tmp/row"
check "the malformed first line of the agent did no harm (no GuestAgent warning)" \
    sh -c '! grep -q "GuestMonitor(alpha) - WARNING - guest agent" "$1"' sh "$tmp/momd.log"

# The policy's balloon target reached QEMU and the guest shrank.
shrunk() {
    a=$(qmp alpha query-balloon | python3 -c 'import json,sys; print(json.load(sys.stdin)["actual"])')
    [ -n "$a" ] && [ "$a" -le $((200000 * 1024 + 4 * 1048576)) ]
}
check "the balloon target 200000 KiB shrinks alpha (query-balloon)" wait_for 60 shrunk
qmp alpha query-balloon | sed -e 's/^/# alpha query-balloon: /'
check "the trace shows the target" has "$tmp/trace" '^[0-9:]+  alpha +[0-9]+ +195 '

# QEMU of beta exits (killed): beta is dropped, alpha goes on.
eval "bpid=\$pid_beta"
kill -KILL "$bpid" 2>/dev/null
check "a killed QEMU's guest is dropped" wait_for 30 has "$tmp/momd.log" 'Guest beta is gone'
lines=$(grep -c '^[0-9:]*  alpha ' "$tmp/trace")
more() { [ "$(grep -c '^[0-9:]*  alpha ' "$tmp/trace")" -gt "$((lines + 1))" ]; }
check "alpha goes on after beta is gone" wait_for 20 more
check "momd is still running" kill -0 "$momd_pid"

kill -TERM "$momd_pid" 2>/dev/null
stopped() { ! kill -0 "$momd_pid" 2>/dev/null; }
check "momd stops on SIGTERM within 10 s (with a silent socket open)" wait_for 10 stopped
[ "$fails" -eq 0 ] || { diag "$tmp/momd.log" 40; diag "$tmp/trace" 10; diag "$tmp/momd.err"; }
echo "1..$n"
[ "$fails" -eq 0 ]
