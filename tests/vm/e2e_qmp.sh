#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real end-to-end test over QMP, without libvirt (make check-vm;
# docs/testing-vm.md): three tiny TCG guests started here with their QMP
# sockets in one directory (qmp-socket-dir) and a NAME.json beside two of
# them (balloon_min), a memory cgroup around the three QEMU processes,
# the host-driven workload of tests/vm/lib.sh, and momd with the default
# policy set (Balloon and KSM controllers).  One guest's memory statistics
# come from the oVirt guest agent (tests/vm/guest-agent.sh in the guest, on
# the virtio-serial port ovirt-guest-agent.0; collector GuestAgent), the
# other two guests' from the virtio balloon over QMP (GuestMemory):
# momd's guest collectors are "GuestAgent, GuestMemory, GuestBalloon", the
# first collector that delivers a field wins, and only the agent guest has
# an agent channel.  tests/vm/e2e_check.py checks the run and writes the
# per-cycle CSV ($BUILD/vm-qmp-test/cycles.csv).  TAP output; exit status
# non-zero when a check fails.
#
# Needs root (cgroups, KSM in sysfs); skipped otherwise.  Missing Debian
# packages are installed.  Everything the test starts or changes is undone
# at the end, also on failure: the QEMU processes, momd, the cgroup, KSM's
# settings.
#   BUILD=build sh tests/vm/e2e_qmp.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
out=$BUILD/vm-qmp-test
NAMES="qmpe2e-a qmpe2e-b qmpe2e-c"
AGENT_GUEST=qmpe2e-c
# balloon_min (KiB) in NAME.json; qmpe2e-c has no NAME.json (0).  b's is
# above where the policy would take its balloon otherwise.
MIN_A=131072
MIN_B=348160
GUEST_MIB=384
PEAK_MIB=170
FREE_AT_PEAK=0.12
. "$top/tests/vm/lib.sh"

vm_setup
[ -x "$BUILD/momd" ] && [ -x "$BUILD/momctl" ] || vm_bail "momd and momctl are built in $BUILD"
command -v python3 >/dev/null || vm_bail "python3 is installed"
vm_install qemu-system-x86 linux-image-amd64 busybox-static cpio
vm_need_tcg

# ---- state to restore ------------------------------------------------------
qemu_pids=""
cleanup() {
    vm_momd_kill
    for p in $qemu_pids; do kill -TERM "$p" 2>/dev/null; done
    # shellcheck disable=SC2086
    vm_wait_gone $qemu_pids
    vm_cgroup_remove
    vm_ksm_restore
}
trap cleanup EXIT
trap 'exit 1' INT TERM
vm_ksm_save

vm_build_guest
vm_cgroup_create
vm_policies
mkdir -p "$out/qmp" "$out/mon" "$out/chan"
echo "{\"balloon_min\": $MIN_A}" >"$out/qmp/qmpe2e-a.json"
echo "{\"balloon_min\": \"$MIN_B\"}" >"$out/qmp/qmpe2e-b.json"

# ---- momd ----------------------------------------------------------------
cat >"$out/momd.conf" <<CONF
[main]
host-monitor-interval: 2
guest-monitor-interval: 2
guest-manager-interval: 2
policy-engine-interval: 2
sample-history-length: 5
hypervisor-interface: qmp
qmp-socket-dir: $out/qmp
call-deadline-ms: 10000
host-memory-cgroup: $vm_cg
controllers: Balloon, KSM
policy-dir: $vm_policy_dir
rpc-port: $out/momd.sock
[logging]
log: $out/momd.log
verbosity: info
[host]
collectors: HostMemory, HostKSM, HostPressure
[guest]
# The first collector that delivers a field wins: the oVirt agent where a
# guest has one, the balloon's statistics for the rest.
collectors: GuestAgent, GuestMemory, GuestBalloon
[Collector: GuestAgent]
socket_path: $out/chan
socket_name_template: %(name)s.ovirt-guest-agent.0
CONF
vm_momd_start

# ---- three guests --------------------------------------------------------
# query MONITOR-DIR COMMAND NAME...: "NAME VALUE" per guest, VALUE from
# COMMAND on the test's own QMP monitor (momd holds the other one):
# query-balloon gives the balloon in KiB, query-status the run state.
vm_query() {
    python3 - "$@" <<'PY'
import json, socket, sys
d, cmd = sys.argv[1], sys.argv[2]
for n in sys.argv[3:]:
    v = "-"
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect("%s/%s.sock" % (d, n))
        f = s.makefile("rw")
        f.readline()
        for c in ("qmp_capabilities", cmd):
            f.write(json.dumps({"execute": c}) + "\n")
            f.flush()
            while True:
                m = json.loads(f.readline())
                if "event" not in m:
                    break
        r = m.get("return", {})
        v = r["actual"] // 1024 if cmd == "query-balloon" else r.get("status", "-")
        s.close()
    except (OSError, ValueError, KeyError):
        pass
    print(n, v)
PY
}
vm_hook_balloons() { vm_query "$out/mon" query-balloon $NAMES; }
vm_hook_pids() { cat "$out/pids"; }

: >"$out/pids"
for d in $NAMES; do
    agent_opts=""
    append="console=ttyS0 quiet rdinit=/guest-init"
    if [ "$d" = "$AGENT_GUEST" ]; then
        agent_opts="-chardev socket,id=agent,path=$out/chan/$d.ovirt-guest-agent.0,server=on,wait=off
                    -device virtserialport,chardev=agent,name=ovirt-guest-agent.0"
        append="$append mom.agent=2"
    fi
    # Into the test's cgroup before QEMU starts (the shell execs QEMU).
    # shellcheck disable=SC2086
    setsid sh -c 'echo $$ >"$0" && exec "$@"' "$vm_cg/cgroup.procs" \
        qemu-system-x86_64 -name "$d" -machine pc -accel tcg -m "$GUEST_MIB" -smp 1 \
        -nodefaults -no-reboot -display none \
        -kernel "$vm_kernel" -initrd "$vm_initrd" -append "$append" \
        -device virtio-balloon-pci,id=balloon0,deflate-on-oom=on \
        -device virtio-serial-pci \
        -chardev "socket,id=load,path=$out/$d.load,server=on,wait=off" \
        -device virtserialport,chardev=load,name=org.mom.load.0 \
        $agent_opts \
        -qmp "unix:$out/qmp/$d.sock,server=on,wait=off" \
        -qmp "unix:$out/mon/$d.sock,server=on,wait=off" \
        -serial "file:$out/$d.console" >"$out/$d.qemu.log" 2>&1 </dev/null &
    qemu_pids="$qemu_pids $!"
    echo "$d $!" >>"$out/pids"
done
sleep 1
while read -r d pid; do
    kill -0 "$pid" 2>/dev/null || vm_bail "QEMU of $d starts" "$out/$d.qemu.log"
    grep -qx "$pid" "$vm_cg/cgroup.procs" || vm_bail "QEMU of $d runs in $vm_cg"
done <"$out/pids"

# ---- the run -----------------------------------------------------------------
vm_drive || {
    for d in $NAMES; do vm_ready "$d" || vm_bail "guest $d boots (MOM-GUEST-READY)" "$out/$d.console"; done
}

# ---- the end state -----------------------------------------------------------
vm_query "$out/mon" query-status $NAMES >"$out/domstate.txt"
vm_momd_stop
plots=$(ls -d "$out"/plots/momplot-* 2>/dev/null | tail -n 1)

python3 "$top/tests/vm/e2e_check.py" --out "$out" --plots "${plots:-$out/plots}" \
    --guests "$NAMES" --guest-mib "$GUEST_MIB" \
    --balloon-min "qmpe2e-a=$MIN_A qmpe2e-b=$MIN_B" --agent-guest "$AGENT_GUEST"
