#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real end-to-end test over libvirt (make check-vm; docs/testing-vm.md):
# libvirtd, three tiny TCG guests whose workload (driven from the host,
# tests/vm/lib.sh) raises and then lowers their memory demand, a memory
# cgroup around the three QEMU processes whose limit makes that demand real
# pressure, and momd with the default policy set over libvirt (Balloon and
# KSM controllers).  tests/vm/e2e_check.py then checks what a user cares
# about and writes the per-cycle CSV ($BUILD/vm-test/cycles.csv, kept with
# the other artifacts of the run).  TAP output; exit status non-zero when a
# check fails.
#
# Needs root (libvirtd, cgroups, KSM in sysfs); skipped otherwise.  Missing
# Debian packages are installed.  Everything the test starts or changes is
# undone at the end, also on failure: the domains, the daemons it started,
# the cgroup, KSM's settings.
#   BUILD=build sh tests/vm/e2e_libvirt.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
URI=qemu:///system
out=$BUILD/vm-test
NAMES="mome2e-a mome2e-b mome2e-c"
# Guest size and workload peak (MiB); the phases (seconds of host time,
# see vm_drive in lib.sh).
GUEST_MIB=384
PEAK_MIB=170
# The cgroup limit is set when the guests have booted so that at the peak
# about this share of it is left: below the policies' 20 % threshold (so
# MOM must act), well above their 5 % critical level (so no OOM).
FREE_AT_PEAK=0.12
. "$top/tests/vm/lib.sh"

vm_setup
[ -x "$BUILD/momd" ] && [ -x "$BUILD/momctl" ] && [ -f "$BUILD/libmom-libvirt.so" ] ||
    vm_bail "momd, momctl and libmom-libvirt.so are built in $BUILD"
command -v python3 >/dev/null || vm_bail "python3 is installed"

# ---- packages, the QEMU user ---------------------------------------------
vm_install qemu-system-x86 linux-image-amd64 busybox-static cpio libvirt-daemon \
    libvirt-daemon-driver-qemu libvirt-clients
vm_need_tcg
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu libvirt-qemu
# libvirt checks /dev/kvm as the QEMU user; when that user cannot open it
# while root could, every API call re-probes QEMU's capabilities (seconds
# each).  The guests use TCG all the same.
id -nG libvirt-qemu | grep -qw kvm || usermod -a -G kvm libvirt-qemu

# ---- state to restore ------------------------------------------------------
started=""      # pids of the daemons this test started
created=""      # the domains this test created

# Undo everything, whatever state the run reached.
cleanup() {
    vm_momd_kill
    for d in $created; do
        virsh -c "$URI" destroy "$d" >/dev/null 2>&1
    done
    for p in $started; do
        kill -TERM "$p" 2>/dev/null
    done
    # shellcheck disable=SC2086
    vm_wait_gone $started
    vm_cgroup_remove
    vm_ksm_restore
}
trap cleanup EXIT
trap 'exit 1' INT TERM
vm_ksm_save

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
    [ "$i" -lt 120 ] || vm_bail "libvirtd answers on $URI" "$out/libvirtd.log"
    sleep 0.5
done
for d in $NAMES; do
    virsh -c "$URI" domstate "$d" >/dev/null 2>&1 && vm_bail "no domain $d exists before the test"
done

vm_build_guest
vm_cgroup_create
vm_policies

# ---- momd ----------------------------------------------------------------
cat >"$out/momd.conf" <<CONF
[main]
host-monitor-interval: 2
guest-monitor-interval: 2
guest-manager-interval: 2
policy-engine-interval: 2
sample-history-length: 5
hypervisor-interface: libvirt
libvirt-hypervisor-uri: $URI
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
collectors: GuestMemory, GuestBalloon
CONF
vm_momd_start

# ---- three guests --------------------------------------------------------
# The hooks of vm_drive: balloons as libvirt reports them, QEMU pids.
vm_hook_balloons() {
    for d in $NAMES; do
        echo "$d $(virsh -c "$URI" dominfo "$d" 2>/dev/null | awk '/^Used memory:/ {print $3}')"
    done
}
vm_hook_pids() { cat "$out/pids"; }

: >"$out/pids"
for d in $NAMES; do
    cat >"$out/$d.xml" <<XML
<domain type='qemu'>
  <name>$d</name>
  <memory unit='MiB'>$GUEST_MIB</memory>
  <currentMemory unit='MiB'>$GUEST_MIB</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$vm_kernel</kernel>
    <initrd>$vm_initrd</initrd>
    <cmdline>console=ttyS0 quiet rdinit=/guest-init</cmdline>
  </os>
  <!-- Without ACPI the guest finds neither HPET nor the PM timer, cannot
       calibrate its TSC and keeps time by counting timer ticks
       (refined-jiffies), which a TCG vCPU on a busy host misses. -->
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>preserve</on_crash>
  <devices>
    <serial type='file'><source path='$out/$d.console'/><target port='0'/></serial>
    <channel type='unix'>
      <source mode='bind' path='$out/$d.load'/>
      <target type='virtio' name='org.mom.load.0'/>
    </channel>
    <memballoon model='virtio' autodeflate='on'><stats period='2'/></memballoon>
  </devices>
</domain>
XML
    virsh -c "$URI" create "$out/$d.xml" >>"$log" 2>&1 || vm_bail "start domain $d" "$log"
    created="$created $d"
    # Into the test's cgroup at once, before the guest has touched memory.
    pid=$(cat "/run/libvirt/qemu/$d.pid" 2>/dev/null)
    [ -n "$pid" ] && echo "$pid" >"$vm_cg/cgroup.procs" || vm_bail "move $d's QEMU into $vm_cg"
    echo "$d $pid" >>"$out/pids"
done

# ---- the run -----------------------------------------------------------------
vm_drive || {
    for d in $NAMES; do vm_ready "$d" || vm_bail "guest $d boots (MOM-GUEST-READY)" "$out/$d.console"; done
}

# ---- the end state -----------------------------------------------------------
for d in $NAMES; do
    echo "$d $(virsh -c "$URI" domstate "$d" 2>&1 | head -n 1)"
done >"$out/domstate.txt"
vm_momd_stop
plots=$(ls -d "$out"/plots/momplot-* 2>/dev/null | tail -n 1)

python3 "$top/tests/vm/e2e_check.py" --out "$out" --plots "${plots:-$out/plots}" \
    --guests "$NAMES" --guest-mib "$GUEST_MIB"
