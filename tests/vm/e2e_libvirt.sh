#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real end-to-end test (make check-vm; docs/testing-vm.md): libvirtd,
# three tiny TCG guests whose workload raises and then lowers their memory
# demand, a memory cgroup around the three QEMU processes whose limit makes
# that demand real pressure, and momd with the default policy set over
# libvirt (Balloon and KSM controllers).  tests/vm/e2e_check.py then checks
# what a user cares about and writes the per-cycle CSV
# ($BUILD/vm-test/cycles.csv, kept with the other artifacts of the run).
# TAP output; exit status non-zero when a check fails.
#
# Needs root (libvirtd, cgroups, KSM in sysfs).  Missing Debian packages
# are installed.  Everything the test starts or changes is undone at the
# end, also on failure: the domains, the daemons it started, the cgroup,
# KSM's settings.
#   BUILD=build sh tests/vm/e2e_libvirt.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
MOMD=$BUILD/momd
MOMCTL=$BUILD/momctl
URI=qemu:///system
out=$BUILD/vm-test
# Guest size and workload (MiB); the schedule is in seconds of guest
# uptime: idle, a 30-second rise, a plateau, a fall back to nothing.
GUEST_MIB=384
PEAK_MIB=170
SCHEDULE="0:0,30:0,60:$PEAK_MIB,120:$PEAK_MIB,130:0"
# The cgroup limit is set when the guests have booted so that at the peak
# about this share of it is left: below the policies' 20 % threshold (so
# MOM must act), well above their 5 % critical level (so no OOM).
FREE_AT_PEAK=0.12
# Seconds after the workloads end that balloons get to grow back.
GROW_SECONDS=110
NAMES="mome2e-a mome2e-b mome2e-c"

bail() {
    echo "1..1"
    echo "not ok 1 - $1"
    [ -n "${2:-}" ] && [ -f "$2" ] && sed -e 's/^/# /' "$2" | tail -n 20
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP the end-to-end test needs root (libvirtd, cgroups, KSM)"
    exit 0
fi
[ -x "$MOMD" ] && [ -x "$MOMCTL" ] && [ -f "$BUILD/libmom-libvirt.so" ] ||
    bail "momd, momctl and libmom-libvirt.so are built in $BUILD"
command -v python3 >/dev/null || bail "python3 is installed"

rm -rf "$out"
mkdir -p "$out"
log=$out/setup.log
: >"$log"

# ---- packages, the QEMU user ---------------------------------------------
pkgs="qemu-system-x86 linux-image-amd64 busybox-static cpio libvirt-daemon
      libvirt-daemon-driver-qemu libvirt-clients"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "# installing:$missing"
    # shellcheck disable=SC2086
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $missing; } >>"$log" 2>&1 || bail "install$missing" "$log"
fi
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu libvirt-qemu
# libvirt checks /dev/kvm as the QEMU user; when that user cannot open it
# while root could, every API call re-probes QEMU's capabilities (seconds
# each).  The guests use TCG all the same.
id -nG libvirt-qemu | grep -qw kvm || usermod -a -G kvm libvirt-qemu

# ---- state to restore --------------------------------------------------------
started=""      # pids of the daemons this test started
created=""      # the domains this test created
momd_pid=""
cg=""
ksm=/sys/kernel/mm/ksm
ksm_saved=""
# KSM's settings, restored at the end.
for f in run pages_to_scan sleep_millisecs merge_across_nodes; do
    [ -r "$ksm/$f" ] && ksm_saved="$ksm_saved $f=$(cat "$ksm/$f")"
done
[ -w "$ksm/run" ] || bail "KSM is available ($ksm/run)"

# Undo everything, whatever state the run reached.
cleanup() {
    if [ -n "$momd_pid" ]; then
        kill -TERM "$momd_pid" 2>/dev/null
        sleep 1
        kill -KILL "$momd_pid" 2>/dev/null
    fi
    for d in $created; do
        virsh -c "$URI" destroy "$d" >/dev/null 2>&1
    done
    for p in $started; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in $started; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$p" 2>/dev/null
    done
    if [ -n "$cg" ] && [ -d "$cg" ]; then
        # Anything still inside goes back to the root before the rmdir.
        root=${cg%/*}
        for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do
            echo "$p" >"$root/cgroup.procs" 2>/dev/null
        done
        rmdir "$cg" 2>/dev/null
    fi
    for kv in $ksm_saved; do
        # merge_across_nodes can only be written while nothing is merged.
        echo "${kv#*=}" >"$ksm/${kv%%=*}" 2>/dev/null
    done
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# KSM starts off (as on a stock host) so that the test sees momd switch it
# on.  Stopping it this way (0, not 2) leaves merged pages merged.
echo 0 >"$ksm/run"

# ---- libvirt -------------------------------------------------------------
# Use the daemons that run already; start (and later stop) the others.
if ! pgrep -x virtlogd >/dev/null; then
    setsid virtlogd >"$out/virtlogd.log" 2>&1 &
    started="$started $!"
fi
if ! pgrep -x libvirtd >/dev/null; then
    setsid libvirtd >"$out/libvirtd.log" 2>&1 &
    started="$started $!"
fi
i=0
until virsh -c "$URI" version >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 60 ] || bail "libvirtd answers on $URI" "$out/libvirtd.log"
    sleep 0.5
done
for d in $NAMES; do
    virsh -c "$URI" domstate "$d" >/dev/null 2>&1 && bail "no domain $d exists before the test"
done

# ---- the guest -----------------------------------------------------------
sh "$top/scripts/vm/build-load-guest.sh" "$BUILD/vm" >"$out/guest" 2>>"$log" ||
    bail "build the test guest" "$log"
kernel=$(sed -n 's/^kernel //p' "$out/guest")
initrd=$(sed -n 's/^initrd //p' "$out/guest")

# ---- the memory cgroup ---------------------------------------------------
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    grep -qw memory /sys/fs/cgroup/cgroup.subtree_control ||
        echo +memory >/sys/fs/cgroup/cgroup.subtree_control
    cg=/sys/fs/cgroup/mom-e2e-$$
    limit_file=memory.max
elif [ -d /sys/fs/cgroup/memory ]; then
    cg=/sys/fs/cgroup/memory/mom-e2e-$$
    limit_file=memory.limit_in_bytes
else
    bail "a memory cgroup controller (v1 or v2) is mounted"
fi
mkdir "$cg" || { cg=""; bail "create a memory cgroup"; }
# A generous limit until the guests have booted.
echo $((4096 * 1048576)) >"$cg/$limit_file"
cg_usage() {
    if [ -f "$cg/memory.current" ]; then cat "$cg/memory.current"
    else cat "$cg/memory.usage_in_bytes"; fi
}
# The OOM kills in the cgroup so far.
cg_oom_kills() {
    if [ -f "$cg/memory.events" ]; then
        awk '$1 == "oom_kill" {print $2}' "$cg/memory.events"
    else
        awk '$1 == "oom_kill" {print $2; f = 1} END {if (!f) print 0}' "$cg/memory.oom_control"
    fi
}

# ---- the policies ----------------------------------------------------------
policies=$top/policies
policy_note="the default policy set (policies/*.mom)"
if ! "$MOMCTL" policy check "$top"/policies/*.mom >>"$log" 2>&1; then
    policies=$top/policies/examples/classic
    policy_note="the classic twins (policies/examples/classic), policies/*.mom do not load"
fi
echo "# policies: $policy_note"

# ---- momd ----------------------------------------------------------------
mkdir -p "$out/plots"
cat >"$out/momd.conf" <<EOF
[main]
host-monitor-interval: 2
guest-monitor-interval: 2
guest-manager-interval: 2
policy-engine-interval: 2
sample-history-length: 5
hypervisor-interface: libvirt
libvirt-hypervisor-uri: $URI
host-memory-cgroup: $cg
controllers: Balloon, KSM
policy-dir: $policies
rpc-port: $out/momd.sock
[logging]
log: $out/momd.log
verbosity: info
[host]
collectors: HostMemory, HostKSM, HostPressure
[guest]
collectors: GuestMemory, GuestBalloon
EOF
TZ=UTC "$MOMD" -c "$out/momd.conf" --trace -p "$out/plots" >"$out/trace.txt" 2>"$out/momd.err" &
momd_pid=$!
sleep 1
kill -0 "$momd_pid" 2>/dev/null || bail "momd starts" "$out/momd.err"

# ---- three guests --------------------------------------------------------
: >"$out/pids"
for d in $NAMES; do
    cat >"$out/$d.xml" <<EOF
<domain type='qemu'>
  <name>$d</name>
  <memory unit='MiB'>$GUEST_MIB</memory>
  <currentMemory unit='MiB'>$GUEST_MIB</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$initrd</initrd>
    <cmdline>console=ttyS0 quiet rdinit=/init-load mom.load=$SCHEDULE</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>preserve</on_crash>
  <devices>
    <serial type='file'><source path='$out/$d.console'/><target port='0'/></serial>
    <memballoon model='virtio' autodeflate='on'><stats period='2'/></memballoon>
  </devices>
</domain>
EOF
    virsh -c "$URI" create "$out/$d.xml" >>"$log" 2>&1 || bail "start domain $d" "$log"
    created="$created $d"
    # Into the test's cgroup at once, before the guest has touched memory.
    pid=$(cat "/run/libvirt/qemu/$d.pid" 2>/dev/null)
    [ -n "$pid" ] && echo "$pid" >"$cg/cgroup.procs" || bail "move $d's QEMU into $cg"
    echo "$d $pid" >>"$out/pids"
done
t0=$(date +%s)

# ---- the run -----------------------------------------------------------------
# Every 2 s: the cgroup's usage and OOM kills, KSM's counters and how many
# pages of each QEMU KSM merged; once the guests have booted, the limit.
echo "time usage_bytes limit_bytes oom_kills ksm_run pages_shared pages_sharing $(awk '{printf "%s ", $1}' "$out/pids")" \
    >"$out/host-samples.txt"
limit_set=0
ready() { grep -q MOM-GUEST-READY "$out/$1.console" 2>/dev/null; }
load_done() { grep -q MOM-LOAD-DONE "$out/$1.console" 2>/dev/null; }
done_at=""
stats_taken=0
while :; do
    now=$(date +%s)
    el=$((now - t0))
    limit=$(cat "$cg/$limit_file")
    merged=""
    while read -r d pid; do
        merged="$merged $(cat "/proc/$pid/ksm_merging_pages" 2>/dev/null || echo -)"
    done <"$out/pids"
    echo "$now $(cg_usage) $limit $(cg_oom_kills) $(cat $ksm/run) $(cat $ksm/pages_shared) $(cat $ksm/pages_sharing)$merged" \
        >>"$out/host-samples.txt"
    # Once the guests have booted (their workloads start 30 s after boot):
    # the limit that leaves FREE_AT_PEAK free at the peak of the workloads.
    if [ "$limit_set" = 0 ]; then
        booted=1
        for d in $NAMES; do
            ready "$d" && continue
            booted=0
            [ "$el" -lt 90 ] || bail "guest $d boots (MOM-GUEST-READY)" "$out/$d.console"
        done
    fi
    if [ "$limit_set" = 0 ] && [ "$booted" = 1 ]; then
        u=$(cg_usage)
        limit=$(awk -v u="$u" -v p="$PEAK_MIB" -v f="$FREE_AT_PEAK" \
            'BEGIN {printf "%d", (u + 3 * p * 1048576) / (1 - f)}')
        echo "$limit" >"$cg/$limit_file"
        echo "# cgroup $cg: $((u / 1048576)) MiB in use after boot, limit $((limit / 1048576)) MiB"
        limit_set=1
    fi
    # momctl stats once while the workloads are high.
    if [ "$stats_taken" = 0 ] && [ "$el" -ge 80 ]; then
        "$MOMCTL" stats --socket "$out/momd.sock" >"$out/momctl-stats.txt" 2>&1
        stats_taken=1
    fi
    if [ -z "$done_at" ]; then
        all=1
        for d in $NAMES; do load_done "$d" || all=0; done
        [ "$all" = 1 ] && done_at=$el
    fi
    [ -n "$done_at" ] && [ $((el - done_at)) -ge "$GROW_SECONDS" ] && break
    [ "$el" -ge $((GROW_SECONDS + 180)) ] && break
    # Stop early once every balloon is back at (within 1 % of) the guest's
    # full size.
    if [ -n "$done_at" ] && [ $((el - done_at)) -ge 20 ]; then
        full=1
        for d in $NAMES; do
            cur=$(virsh -c "$URI" dominfo "$d" 2>/dev/null | awk '/^Used memory:/ {print $3}')
            [ "${cur:-0}" -ge $((GUEST_MIB * 1024 * 99 / 100)) ] || full=0
        done
        [ "$full" = 1 ] && break
    fi
    sleep 2
done

# ---- the end state -----------------------------------------------------------
for d in $NAMES; do
    echo "$d $(virsh -c "$URI" domstate "$d" 2>&1 | head -n 1)"
done >"$out/domstate.txt"
kill -TERM "$momd_pid" 2>/dev/null
i=0
while kill -0 "$momd_pid" 2>/dev/null && [ "$i" -lt 50 ]; do
    sleep 0.2
    i=$((i + 1))
done
momd_status=0
wait "$momd_pid" || momd_status=$?
momd_pid=""
echo "$momd_status" >"$out/momd-status.txt"
plots=$(ls -d "$out"/plots/momplot-* 2>/dev/null | tail -n 1)

python3 "$top/tests/vm/e2e_check.py" --out "$out" --plots "${plots:-$out/plots}" \
    --guests "$NAMES" --guest-mib "$GUEST_MIB"
