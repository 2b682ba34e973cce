#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The example host program (examples/host) embeds libmom, supplies the
# hypervisor callbacks itself and prints every action it receives.  Run it
# on a private /proc and /sys under memory pressure and without, and check
# the balloon and KSM calls that reach it.  TAP output.
BUILD=${BUILD:-build}
HOST=$BUILD/examples/mom-example-host
# The policies under test.  The default policy set does not exist yet;
# when it does, point this at it (policies/).
POLICY_DIR=${MOM_EMBED_POLICY_DIR:-$(pwd)/policies}
SECONDS_PER_RUN=${MOM_EXAMPLE_HOST_SECONDS:-6}

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { # description command...
    d=$1
    shift
    if "$@"; then ok "$d"; else notok "$d"; fi
}

if [ ! -x "$HOST" ]; then
    echo "not ok 1 - $HOST is not built"
    echo "1..1"
    exit 1
fi

T=$(mktemp -d /tmp/mom-example-host.XXXXXX)
[ -n "${MOM_KEEP_TMP:-}" ] || trap 'rm -rf "$T"' EXIT

# A host tree: MEMFREE KiB free of 16 GiB, KSM state with run=KSMRUN.
make_tree() { # dir memfree ksmrun
    mkdir -p "$1/proc" "$1/sys/kernel/mm/ksm"
    cat >"$1/proc/meminfo" <<MEMINFO
MemTotal:       16777216 kB
MemFree:         $2 kB
MemAvailable:    $2 kB
Buffers:           65536 kB
Cached:           131072 kB
SwapCached:            0 kB
AnonPages:       8388608 kB
SwapTotal:       2097152 kB
SwapFree:        2097152 kB
MEMINFO
    printf 'pswpin 0\npswpout 0\n' >"$1/proc/vmstat"
    # Two processes, init and ksmd, as every host has.
    for p in 1:systemd 37:ksmd; do
        pid=${p%%:*} comm=${p#*:}
        mkdir -p "$1/proc/$pid"
        echo "$comm" >"$1/proc/$pid/comm"
        printf 'Name:\t%s\nPid:\t%s\n' "$comm" "$pid" >"$1/proc/$pid/status"
        echo "$pid ($comm) S 1 1 1 0 -1 4194560 500 0 7 0 11 22 0 0 20 0 1 0 100 0 0" \
            "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0" >"$1/proc/$pid/stat"
    done
    for f in pages_shared pages_sharing pages_unshared pages_volatile full_scans; do
        echo 0 >"$1/sys/kernel/mm/ksm/$f"
    done
    echo "$3" >"$1/sys/kernel/mm/ksm/run"
    echo 100 >"$1/sys/kernel/mm/ksm/pages_to_scan"
    echo 20 >"$1/sys/kernel/mm/ksm/sleep_millisecs"
    echo 1 >"$1/sys/kernel/mm/ksm/merge_across_nodes"
    cat >"$1/mom.conf" <<CONF
[main]
host-monitor-interval = 1
guest-monitor-interval = 1
guest-manager-interval = 1
policy-engine-interval = 1
controllers = Balloon, KSM
proc-root = $1/proc
sysfs-root = $1/sys
policy-dir = $POLICY_DIR

[logging]
verbosity = info

[host]
collectors = HostMemory, HostKSM

[guest]
collectors = GuestMemory, GuestBalloon
CONF
}

# Balloon targets of one guest, in order.
targets() { # file guest
    awk -v g="$2" '$1 == "ACTION" && $2 == "balloon" && $3 == g { print $4 }' "$1"
}

# 1. Under pressure: balloons shrink, KSM runs.
make_tree "$T/p" 262144 0
"$HOST" -c "$T/p/mom.conf" -g 2 -t "$SECONDS_PER_RUN" >"$T/p.out" 2>"$T/p.err"
rc=$?
check "the example host runs and exits 0 under pressure" [ "$rc" -eq 0 ]
check "it started and stopped the engine" \
    sh -c "grep -q '^STARTED libmom' '$T/p.out' && grep -q '^STOPPED' '$T/p.out'"
v1=$(targets "$T/p.out" vm1)
v2=$(targets "$T/p.out" vm2)
check "vm1 received balloon targets" [ -n "$v1" ]
check "vm2 received balloon targets" [ -n "$v2" ]
first=$(echo "$v1" | head -1)
last=$(echo "$v1" | tail -1)
count=$(echo "$v1" | grep -c .)
check "the first target of vm1 is below its 4 GiB ($first)" \
    [ "${first:-4194304}" -lt 4194304 ]
check "vm1's targets keep shrinking over $count cycles ($first .. $last)" \
    sh -c "[ '$count' -ge 2 ] && [ '${last:-0}' -lt '${first:-0}' ] && \
           echo '$v1' | awk 'NR > 1 && \$1 >= prev { bad = 1 } { prev = \$1 } END { exit bad }'"
check "no target goes below the guaranteed 1 GiB" \
    sh -c "targets_all=\$(awk '\$1 == \"ACTION\" && \$2 == \"balloon\" { print \$4 }' '$T/p.out'); \
           for t in \$targets_all; do [ \"\$t\" -ge 1048576 ] || exit 1; done"
check "KSM was started through the ksm_tune callback" \
    grep -q '^ACTION ksm.* run=1' "$T/p.out"
check "with a scan rate and sleep within the policy's bounds" \
    sh -c "grep '^ACTION ksm.* run=1' '$T/p.out' | head -1 | \
           sed -n 's/.*pages_to_scan=\\([0-9]*\\).*sleep_millisecs=\\([0-9]*\\).*/\\1 \\2/p' | \
           awk '{ exit !(\$1 >= 64 && \$1 <= 1250 && \$2 >= 10) }'"
check "libmom did not write sysfs itself (the callback did the work)" \
    [ "$(cat "$T/p/sys/kernel/mm/ksm/run")" = 0 ]
check "the final statistics show both guests with smaller balloons" \
    sh -c "grep -q '^STATS host .* guests=2' '$T/p.out' && \
           grep '^STATS guest vm1 ' '$T/p.out' | awk -F= '{ exit !(\$2 < 4194304) }'"

# 2. Without pressure: balloons stay at their maximum, KSM is stopped.
make_tree "$T/r" 12582912 1
"$HOST" -c "$T/r/mom.conf" -g 2 -t "$SECONDS_PER_RUN" >"$T/r.out" 2>"$T/r.err"
rc=$?
check "the example host runs and exits 0 without pressure" [ "$rc" -eq 0 ]
check "no balloon is touched when the host has memory" \
    sh -c "! grep -q '^ACTION balloon' '$T/r.out'"
check "KSM is stopped (run=0)" grep -q '^ACTION ksm.* run=0' "$T/r.out"
check "and never started" sh -c "! grep -q '^ACTION ksm.* run=1' '$T/r.out'"

# 3. A callback left out: what depends on it is disabled with one warning.
"$HOST" -c "$T/p/mom.conf" -g 2 -t 4 -x set_vm_balloon_target >"$T/x.out" 2>"$T/x.err"
rc=$?
check "the host runs without set_vm_balloon_target" [ "$rc" -eq 0 ]
w=$(grep -c 'has no set_vm_balloon_target: Balloon is disabled' "$T/x.err")
check "one warning names the missing callback (got $w)" [ "$w" -eq 1 ]
check "no balloon action without the callback" sh -c "! grep -q '^ACTION balloon' '$T/x.out'"
check "KSM still works without it" grep -q '^ACTION ksm.* run=1' "$T/x.out"

"$HOST" -c "$T/p/mom.conf" -g 2 -t 3 -x get_vm_info >"$T/i.out" 2>"$T/i.err"
w=$(grep -c 'has no get_vm_info: no guest is monitored' "$T/i.err")
check "without get_vm_info: one warning (got $w) and no guest" \
    sh -c "[ '$w' -eq 1 ] && grep -q '^STATS host .* guests=0' '$T/i.out'"

# 4. A configuration error stops it with a reason.
"$HOST" -c "$T/p/mom.conf" -o 'host:collectors=HostMemory, NoSuchCollector' -t 1 \
    >"$T/e.out" 2>"$T/e.err"
rc=$?
check "a bad configuration exits 1" [ "$rc" -eq 1 ]
check "and says why" grep -q "unknown collector 'NoSuchCollector'" "$T/e.err"

echo "1..$n"
[ "$failed" -eq 0 ]
