# SPDX-License-Identifier: LGPL-2.1-or-later
# What the end-to-end VM tests (tests/vm/e2e_libvirt.sh, tests/vm/e2e_qmp.sh;
# docs/testing-vm.md) share, sourced by both:
#   - skipping (not root, no TCG), bailing out, the package install;
#   - the guest: kernel + busybox initramfs with tests/vm/guest-init and
#     tests/vm/guest-agent.sh;
#   - the memory cgroup around the QEMU processes, KSM's saved settings;
#   - the workload, driven from the host over each guest's virtio-serial
#     port org.mom.load.0 (host end: the unix socket $out/NAME.load), in
#     phases that wait for conditions with generous deadlines instead of
#     assuming how fast TCG guests run on a loaded machine.
# The caller sets top, BUILD (absolute), out, NAMES, GUEST_MIB, PEAK_MIB,
# FREE_AT_PEAK and defines the hooks vm_hook_balloons (prints "NAME KIB"
# per guest, the balloon as the hypervisor reports it) and vm_hook_pids
# (prints "NAME PID" per guest).

# ---- TAP: skip, bail out ------------------------------------------------------

vm_skip() {
    echo "1..0 # SKIP $1"
    exit 0
}

# vm_bail REASON [FILE]: one failed check, the tail of FILE as diagnostics.
vm_bail() {
    echo "1..1"
    echo "not ok 1 - $1"
    [ -n "${2:-}" ] && [ -f "$2" ] && sed -e 's/^/# /' "$2" | tail -n 20
    exit 1
}

# ---- setup ---------------------------------------------------------------------

# vm_setup: a fresh $out with an empty setup.log; skips unless root.
# The phases of a run (seconds of host time, see vm_drive); a test may set
# any of them before it sources this file.
: "${BOOT_DEADLINE:=240}" "${IDLE_SECONDS:=10}" "${RISE_SECONDS:=30}"
: "${RISE_DEADLINE:=120}" "${PLATEAU_MIN:=30}" "${PLATEAU_AFTER:=16}"
: "${PLATEAU_MAX:=180}" "${FALL_DEADLINE:=120}" "${GROW_SECONDS:=150}"

# Give processes PIDS five seconds to end after a polite request, then
# kill them.
vm_wait_gone() {
    for p in "$@"; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$p" 2>/dev/null
    done
}

vm_setup() {
    [ "$(id -u)" = 0 ] || vm_skip "the end-to-end test needs root (cgroups, KSM, QEMU)"
    rm -rf "$out"
    mkdir -p "$out"
    log=$out/setup.log
    : >"$log"
}

# vm_install PACKAGE...: install the Debian packages that are missing.
vm_install() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "# installing:$missing"
    # shellcheck disable=SC2086
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $missing; } >>"$log" 2>&1 || vm_bail "install$missing" "$log"
}

# vm_need_tcg: skip when this QEMU cannot run x86_64 guests under TCG.
vm_need_tcg() {
    command -v qemu-system-x86_64 >/dev/null ||
        vm_skip "qemu-system-x86_64 is not available"
    qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg ||
        vm_skip "qemu-system-x86_64 has no TCG accelerator"
}

# vm_build_guest: sets vm_kernel and vm_initrd: the initramfs of
# scripts/vm/build-guest.sh with guest-init and guest-agent.sh appended
# (the kernel unpacks concatenated archives in turn).
vm_build_guest() {
    base=$(sh "$top/scripts/vm/build-guest.sh" "$BUILD/vm" 2>>"$log") ||
        vm_bail "build the test guest" "$log"
    vm_kernel=$(echo "$base" | sed -n 's/^kernel //p')
    b_initrd=$(echo "$base" | sed -n 's/^initrd //p')
    vm_initrd=$out/initrd-e2e.img
    r=$(mktemp -d "${TMPDIR:-/tmp}/mom-e2e.XXXXXX")
    mkdir -p "$r/bin"
    cp "$top/tests/vm/guest-init" "$r/guest-init"
    cp "$top/tests/vm/guest-agent.sh" "$r/bin/guest-agent.sh"
    chmod 755 "$r/guest-init" "$r/bin/guest-agent.sh"
    cp "$b_initrd" "$vm_initrd"
    (cd "$r" && printf 'bin\nguest-init\nbin/guest-agent.sh\n' | cpio -o -H newc --quiet | gzip -1) \
        >>"$vm_initrd" 2>>"$log"
    st=$?
    rm -rf "$r"
    [ "$st" = 0 ] || vm_bail "append the test's init to the initramfs" "$log"
    echo "kernel $vm_kernel" >"$out/guest"
    echo "initrd $vm_initrd" >>"$out/guest"
}

# ---- KSM -----------------------------------------------------------------------

ksm=/sys/kernel/mm/ksm
ksm_saved=""

# vm_ksm_save: remember KSM's settings (restored by vm_ksm_restore) and
# stop KSM, as on a stock host, so that the test sees momd switch it on.
# Stopping it this way (0, not 2) leaves merged pages merged.
vm_ksm_save() {
    [ -w "$ksm/run" ] || vm_bail "KSM is available ($ksm/run)"
    for f in run pages_to_scan sleep_millisecs merge_across_nodes; do
        [ -r "$ksm/$f" ] && ksm_saved="$ksm_saved $f=$(cat "$ksm/$f")"
    done
    echo 0 >"$ksm/run"
}

vm_ksm_restore() {
    for kv in $ksm_saved; do
        # merge_across_nodes can only be written while nothing is merged.
        echo "${kv#*=}" >"$ksm/${kv%%=*}" 2>/dev/null
    done
}

# ---- the memory cgroup -----------------------------------------------------------

vm_cg=""

# vm_cgroup_create: a memory cgroup of the test's own (v2 where the memory
# controller is there, else v1), with a generous limit until the guests
# have booted.  Sets vm_cg and vm_limit_file.
vm_cgroup_create() {
    if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        grep -qw memory /sys/fs/cgroup/cgroup.subtree_control ||
            echo +memory >/sys/fs/cgroup/cgroup.subtree_control
        vm_cg=/sys/fs/cgroup/mom-e2e-$$
        vm_limit_file=memory.max
    elif [ -d /sys/fs/cgroup/memory ]; then
        vm_cg=/sys/fs/cgroup/memory/mom-e2e-$$
        vm_limit_file=memory.limit_in_bytes
    else
        vm_bail "a memory cgroup controller (v1 or v2) is mounted"
    fi
    mkdir "$vm_cg" || { vm_cg=""; vm_bail "create a memory cgroup"; }
    echo $((4096 * 1048576)) >"$vm_cg/$vm_limit_file"
}

vm_cg_usage() {
    if [ -f "$vm_cg/memory.current" ]; then cat "$vm_cg/memory.current"
    else cat "$vm_cg/memory.usage_in_bytes"; fi
}

# The OOM kills in the cgroup so far.
vm_cg_oom_kills() {
    if [ -f "$vm_cg/memory.events" ]; then
        awk '$1 == "oom_kill" {print $2}' "$vm_cg/memory.events"
    else
        awk '$1 == "oom_kill" {print $2; f = 1} END {if (!f) print 0}' "$vm_cg/memory.oom_control"
    fi
}

# vm_cgroup_remove: anything still inside goes back to the parent, then
# the cgroup goes.
vm_cgroup_remove() {
    [ -n "$vm_cg" ] && [ -d "$vm_cg" ] || return 0
    for p in $(cat "$vm_cg/cgroup.procs" 2>/dev/null); do
        echo "$p" >"${vm_cg%/*}/cgroup.procs" 2>/dev/null
    done
    rmdir "$vm_cg" 2>/dev/null
}

# ---- momd ------------------------------------------------------------------------

momd_pid=""

# vm_policies: sets vm_policy_dir, the default policy set when it loads.
vm_policies() {
    vm_policy_dir=$top/policies
    note="the default policy set (policies/*.mom)"
    if ! "$BUILD/momctl" policy check "$top"/policies/*.mom >>"$log" 2>&1; then
        vm_policy_dir=$top/policies/examples/classic
        note="the classic twins (policies/examples/classic), policies/*.mom do not load"
    fi
    echo "# policies: $note"
}

# vm_momd_start: momd -c $out/momd.conf with --trace and plot files.
vm_momd_start() {
    mkdir -p "$out/plots"
    TZ=UTC "$BUILD/momd" -c "$out/momd.conf" --trace -p "$out/plots" >"$out/trace.txt" \
        2>"$out/momd.err" &
    momd_pid=$!
    sleep 1
    kill -0 "$momd_pid" 2>/dev/null || vm_bail "momd starts" "$out/momd.err"
}

# vm_momd_stop: SIGTERM, its exit status into momd-status.txt.
vm_momd_stop() {
    [ -n "$momd_pid" ] || return 0
    kill -TERM "$momd_pid" 2>/dev/null
    i=0
    while kill -0 "$momd_pid" 2>/dev/null && [ "$i" -lt 100 ]; do
        sleep 0.2
        i=$((i + 1))
    done
    st=0
    wait "$momd_pid" || st=$?
    momd_pid=""
    echo "$st" >"$out/momd-status.txt"
}

# vm_momd_kill: for the cleanup after a failure.
vm_momd_kill() {
    [ -n "$momd_pid" ] || return 0
    kill -TERM "$momd_pid" 2>/dev/null
    sleep 1
    kill -KILL "$momd_pid" 2>/dev/null
    momd_pid=""
}

# ---- the workload --------------------------------------------------------------

# vm_load_send COMMANDS NAME...: COMMANDS (lines separated by ";") to
# each guest's org.mom.load.0 port.  Lost lines do no harm: the driver
# repeats them.
vm_load_send() {
    python3 - "$out" "$@" <<'PY'
import socket, sys, time
out, cmd, names = sys.argv[1], sys.argv[2], sys.argv[3:]
conns = []
for n in names:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect("%s/%s.load" % (out, n))
        s.sendall((cmd.replace(";", "\n") + "\n").encode())
        conns.append(s)
    except OSError:
        pass
# Let QEMU pass the line on before the connection closes.
time.sleep(0.3)
for s in conns:
    s.close()
PY
}

# vm_load_last NAME: the guest's last MOM-LOAD line, "" before the first.
vm_load_last() {
    grep -a '^MOM-LOAD up=' "$out/$1.console" 2>/dev/null | tail -n 1
}

# vm_field LINE KEY: the value of KEY=VALUE in LINE.
vm_field() {
    echo "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"
}

vm_ready() { grep -aq MOM-GUEST-READY "$out/$1.console" 2>/dev/null; }
vm_done() { grep -aq MOM-LOAD-DONE "$out/$1.console" 2>/dev/null; }

# vm_sample: one line of host-samples.txt: the cgroup, KSM, and per guest
# the pages KSM merged in its QEMU, its balloon (from the hypervisor, KiB)
# and its workload (have, MiB; the guest's uptime when it said so).
vm_sample() {
    if [ ! -f "$out/host-samples.txt" ]; then
        hdr="time usage_bytes limit_bytes oom_kills ksm_run pages_shared pages_sharing"
        for d in $NAMES; do hdr="$hdr merged_$d balloon_$d have_$d up_$d"; done
        echo "$hdr" >"$out/host-samples.txt"
    fi
    vm_hook_balloons >"$out/.balloons" 2>/dev/null
    vm_hook_pids >"$out/.pids" 2>/dev/null
    line="$(date +%s) $(vm_cg_usage) $(cat "$vm_cg/$vm_limit_file") $(vm_cg_oom_kills)"
    line="$line $(cat $ksm/run) $(cat $ksm/pages_shared) $(cat $ksm/pages_sharing)"
    for d in $NAMES; do
        pid=$(awk -v n="$d" '$1 == n {print $2}' "$out/.pids")
        m=$(cat "/proc/${pid:-0}/ksm_merging_pages" 2>/dev/null || echo -)
        b=$(awk -v n="$d" '$1 == n {print $2}' "$out/.balloons")
        l=$(vm_load_last "$d")
        h=$(vm_field "$l" have)
        u=$(vm_field "$l" up)
        line="$line ${m:--} ${b:--} ${h:--} ${u:--}"
    done
    echo "$line" >>"$out/host-samples.txt"
}

# vm_phase NAME: mark the start of a phase (stdout and phases.txt).
vm_phase() {
    phase=$1
    phase_t0=$(date +%s)
    echo "$phase_t0 $phase" >>"$out/phases.txt"
    echo "# phase $phase at $((phase_t0 - drive_t0)) s"
}

# vm_balloon_min_share: the smallest balloon / balloon_max of any guest
# now, in percent (100 when no balloon is known).
vm_balloon_min_share() {
    awk -v max=$((GUEST_MIB * 1024)) 'BEGIN {m = 100}
        $2 ~ /^[0-9]+$/ {p = 100 * $2 / max; if (p < m) m = p} END {printf "%d", m}' \
        "$out/.balloons"
}

# vm_drive: the run, every 2 s a sample and the phase's condition.
#   boot     until every guest printed MOM-GUEST-READY (deadline
#            BOOT_DEADLINE); then the cgroup limit that leaves
#            FREE_AT_PEAK of it free at the peak of the three workloads
#   idle     IDLE_SECONDS for momd's history of the quiet host
#   rise     the demand rises linearly to PEAK_MIB over RISE_SECONDS, then
#            until each guest holds it or is held back by its balloon
#            (deadline RISE_DEADLINE)
#   plateau  at least PLATEAU_MIN s; once a balloon has shrunk by 10 %
#            (as the hypervisor reports it) PLATEAU_AFTER s more; at most
#            PLATEAU_MAX s (then the checks say what was missing)
#   fall     demand 0; until every guest printed MOM-LOAD-DONE (deadline
#            FALL_DEADLINE)
#   regrow   at least 20 s, until every balloon is within 1 % of its
#            maximum (deadline GROW_SECONDS)
# Returns non-zero (after a "#" line) when a guest does not boot.
vm_drive() {
    drive_t0=$(date +%s)
    : >"$out/phases.txt"
    vm_phase boot
    stats_taken=0
    shrunk_at=""
    while :; do
        sleep 2
        vm_sample
        now=$(date +%s)
        el=$((now - phase_t0))
        case $phase in
        boot)
            booted=1
            for d in $NAMES; do vm_ready "$d" || booted=0; done
            if [ "$booted" = 0 ]; then
                if [ "$el" -ge "$BOOT_DEADLINE" ]; then
                    echo "# a guest did not boot within $BOOT_DEADLINE s"
                    return 1
                fi
                continue
            fi
            u=$(vm_cg_usage)
            limit=$(awk -v u="$u" -v p="$PEAK_MIB" -v f="$FREE_AT_PEAK" \
                'BEGIN {printf "%d", (u + 3 * p * 1048576) / (1 - f)}')
            echo "$limit" >"$vm_cg/$vm_limit_file"
            echo "# cgroup $vm_cg: $((u / 1048576)) MiB in use after boot, limit $((limit / 1048576)) MiB"
            vm_phase idle
            ;;
        idle)
            vm_load_send "want 0" $NAMES
            [ "$el" -ge "$IDLE_SECONDS" ] && vm_phase rise
            ;;
        rise)
            w=$(awk -v p="$PEAK_MIB" -v e="$el" -v r="$RISE_SECONDS" \
                'BEGIN {w = p * e / r; if (w > p) w = p; printf "%d", w}')
            vm_load_send "want $w" $NAMES
            [ "$w" -lt "$PEAK_MIB" ] && continue
            there=1
            for d in $NAMES; do
                l=$(vm_load_last "$d")
                h=$(vm_field "$l" have)
                case $l in *held*) continue ;; esac
                [ "${h:-0}" -ge $((PEAK_MIB - 8)) ] || there=0
            done
            if [ "$there" = 1 ] || [ "$el" -ge $((RISE_SECONDS + RISE_DEADLINE)) ]; then
                [ "$there" = 1 ] || echo "# the workloads did not reach their peak in time"
                vm_phase plateau
            fi
            ;;
        plateau)
            vm_load_send "want $PEAK_MIB" $NAMES
            if [ "$stats_taken" = 0 ] && [ "$el" -ge 10 ]; then
                "$BUILD/momctl" stats --socket "$out/momd.sock" >"$out/momctl-stats.txt" 2>&1
                stats_taken=1
            fi
            if [ -z "$shrunk_at" ] && [ "$(vm_balloon_min_share)" -le 90 ]; then
                shrunk_at=$el
                echo "# a balloon shrank by 10 % after $el s of plateau"
            fi
            if [ "$el" -ge "$PLATEAU_MAX" ] ||
               { [ -n "$shrunk_at" ] && [ "$el" -ge "$PLATEAU_MIN" ] &&
                 [ $((el - shrunk_at)) -ge "$PLATEAU_AFTER" ]; }; then
                vm_phase fall
            fi
            ;;
        fall)
            vm_load_send "want 0;end" $NAMES
            all=1
            for d in $NAMES; do vm_done "$d" || all=0; done
            if [ "$all" = 1 ] || [ "$el" -ge "$FALL_DEADLINE" ]; then
                [ "$all" = 1 ] || echo "# the workloads did not end in time"
                vm_phase regrow
            fi
            ;;
        regrow)
            [ "$el" -ge "$GROW_SECONDS" ] && break
            [ "$el" -ge 20 ] || continue
            full=1
            for d in $NAMES; do
                b=$(awk -v n="$d" '$1 == n {print $2}' "$out/.balloons")
                [ "${b:-0}" -ge $((GUEST_MIB * 1024 * 99 / 100)) ] || full=0
            done
            [ "$full" = 1 ] && break
            ;;
        esac
    done
    vm_phase end
    rm -f "$out/.balloons" "$out/.pids"
    return 0
}
