#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# momd over libvirt's test driver (test:///default, in momd's own process:
# the test driver's state is private to each process, so virsh could not
# see momd's domain; creating and destroying domains under a running
# engine is tested in tests/unit/test_libvirt.c instead).  TAP output.
#
#  - momd connects, finds the domain "test" and collects its statistics;
#  - a policy's balloon target reaches the domain (--trace shows the
#    balloon move from 2048 to 1024 MiB);
#  - momctl reads the statistics when momd serves RPC;
#  - with a URI that cannot be opened momd keeps running without guests,
#    says so once, and stops cleanly.
#   BUILD=build sh tests/integration/test_libvirt_momd.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
MOMD=$BUILD/momd
MOMCTL=$BUILD/momctl

n=0
fails=0
pids=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_lvmomd.XXXXXX")

cleanup() {
    exe=$(readlink -f "$MOMD" 2>/dev/null)
    for p in $pids; do
        [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1))
    fails=$((fails + 1))
    echo "not ok $n - $1"
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
check() {
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
diag() { [ -f "$1" ] && sed -e 's/^/# /' "$1" | head -n "${2:-30}"; }
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
dead() { ! kill -0 "$1" 2>/dev/null; }
has() { grep -q -E -e "$2" "$1" 2>/dev/null; }
count() { grep -c -E -e "$2" "$1" 2>/dev/null || true; }
stop() {
    kill -TERM "$1" 2>/dev/null
    if wait_for 5 dead "$1"; then
        stop_status=0
        wait "$1" || stop_status=$?
    else
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        stop_status=255
    fi
}

if [ ! -x "$MOMD" ]; then
    echo "1..1"
    echo "not ok 1 - $MOMD is not built"
    exit 1
fi
echo "1..10"

# conf URI LOG [POLICY]: a configuration on libvirt with 1-second intervals.
conf() {
    cat <<EOF
[main]
host-monitor-interval: 1
guest-monitor-interval: 1
guest-manager-interval: 1
policy-engine-interval: 1
hypervisor-interface: libvirt
libvirt-hypervisor-uri: $1
controllers: Balloon
rpc-port: $tmp/momd.sock
${3:+policy: $3}
[logging]
log: $2
verbosity: info
[host]
collectors: HostMemory, HostPressure
[guest]
collectors: GuestMemory, GuestBalloon, GuestCpuTune
EOF
}

# ---- test:///default, a balloon policy, --trace ----
printf '(with Guests guest (guest.Control "balloon_target" 1048576))\n' > "$tmp/p.policy"
conf test:///default "$tmp/a.log" "$tmp/p.policy" > "$tmp/a.conf"
"$MOMD" -c "$tmp/a.conf" --trace > "$tmp/a.trace" 2> "$tmp/a.err" &
pid=$!
pids="$pids $pid"
if wait_for 10 has "$tmp/a.log" "New guest test \(6695eb01-f6a4-8304-79aa-97f2502e193f\)"; then
    ok "momd connects to test:///default and finds the domain"
else
    not_ok "momd connects to test:///default and finds the domain"
    diag "$tmp/a.log"
fi
check "the guest becomes ready (GuestMemory, GuestBalloon, GuestCpuTune over libvirt)" \
    wait_for 10 has "$tmp/a.log" "test is ready"
# trace columns: time guest balloon target guest-free ...
if wait_for 10 has "$tmp/a.trace" "^[0-9:]+ +test +1024 +1024 "; then
    ok "the policy's balloon target reaches the domain (2048 -> 1024 MiB)"
else
    not_ok "the policy's balloon target reaches the domain (2048 -> 1024 MiB)"
    diag "$tmp/a.trace"
fi
check "the balloon started at the domain's 2048 MiB" has "$tmp/a.trace" "^[0-9:]+ +test +2048 +1024 "
# momctl, where momd serves RPC in this build
if [ -x "$MOMCTL" ] && wait_for 3 test -S "$tmp/momd.sock"; then
    "$MOMCTL" stats --socket "$tmp/momd.sock" > "$tmp/stats" 2>&1
    if has "$tmp/stats" "balloon_max" && has "$tmp/stats" "8388608"; then
        ok "momctl stats shows the guest's balloon maximum (8388608 KiB)"
    else
        not_ok "momctl stats shows the guest's balloon maximum (8388608 KiB)"
        diag "$tmp/stats"
    fi
else
    skip "momd serves no RPC socket in this build"
fi
stop "$pid"
check "momd stops cleanly" test "$stop_status" -eq 0
check "no warning or error in the log" sh -c "! grep -q -E ' - (WARNING|ERROR|CRITICAL) - ' '$tmp/a.log'"

# ---- a URI that cannot be opened ----
conf "test://$tmp/absent-node.xml" "$tmp/b.log" > "$tmp/b.conf"
"$MOMD" -c "$tmp/b.conf" > "$tmp/b.out" 2>&1 &
pid=$!
pids="$pids $pid"
sleep 4
if kill -0 "$pid" 2>/dev/null && has "$tmp/b.log" "HostMonitor is ready"; then
    ok "without libvirt momd keeps running and the host monitor works"
else
    not_ok "without libvirt momd keeps running and the host monitor works"
    diag "$tmp/b.log"
fi
c1=$(count "$tmp/b.log" "WARNING - cannot connect to libvirt")
c2=$(count "$tmp/b.log" "WARNING - cannot list guests")
if [ "$c1" = 1 ] && [ "$c2" = 1 ]; then
    ok "the outage is logged once (connection and guest list)"
else
    not_ok "the outage is logged once (connection and guest list): $c1, $c2"
    diag "$tmp/b.log"
fi
stop "$pid"
check "momd without libvirt stops cleanly" test "$stop_status" -eq 0

[ "$fails" -eq 0 ]
