#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The guest side of the oVirt guest agent protocol (PEERS.md §5) for the
# QMP end-to-end test (tests/vm/e2e_qmp.sh): JSON lines with "__name__" on
# a virtio-serial port, both ways.
#   guest-agent.sh PORT INTERVAL
# Sends a heartbeat ({"free-ram", "memory-stat", "apiVersion": 3}) every
# INTERVAL seconds, the memory-stat dict from /proc/meminfo and rates per
# second from /proc/vmstat deltas.  Reads what the host sends and acts on
# it as the real agent does:
#   refresh              answer with host-name and memory-stats at once
#   api-version {n}      use version n from then on; at version 1 or more
#                        the agent may send number-of-cpus, so it does
# Everything goes to the console too, for the test's checker:
#   MOM-AGENT got NAME [apiVersion=N]     a message from the host
#   MOM-AGENT sent NAME seq=N mem_unused=KIB mem_free=KIB mem_total=KIB
#   MOM-AGENT sent number-of-cpus api=N
port=$1
iv=${2:-2}
exec 3<>"$port"

api=0
cpus_sent=0
seq=0

read_counters() {
    eval "$(awk '$1=="pswpin"{print "pi="$2} $1=="pswpout"{print "po="$2}
                 $1=="pgfault"{print "pf="$2} $1=="pgmajfault"{print "mj="$2}' /proc/vmstat)"
}

# Sets ms to the memory-stat object (and mt, mf, bu, ca).
memory_stat() {
    eval "$(awk '/^MemTotal:/{print "mt="$2} /^MemFree:/{print "mf="$2}
                 /^Buffers:/{print "bu="$2} /^Cached:/{print "ca="$2}
                 /^SwapTotal:/{print "st="$2} /^SwapFree:/{print "sf="$2}' /proc/meminfo)"
    read_counters
    now=$(cut -d' ' -f1 /proc/uptime)
    dt=$(awk -v a="$now" -v b="$p_t" 'BEGIN {d = a - b; print (d < 1) ? 1 : int(d)}')
    r_pi=$(((pi - p_pi) / dt)); r_po=$(((po - p_po) / dt))
    r_pf=$(((pf - p_pf) / dt)); r_mj=$(((mj - p_mj) / dt))
    p_pi=$pi; p_po=$po; p_pf=$pf; p_mj=$mj; p_t=$now
    ms=$(printf '{"mem_total": %d, "mem_unused": %d, "mem_free": %d, "mem_buffers": %d, "mem_cached": %d, "swap_total": %d, "swap_usage": %d, "swap_in": %d, "swap_out": %d, "pageflt": %d, "majflt": %d}' \
        "$mt" "$mf" $((mf + bu + ca)) "$bu" "$ca" "$st" $((st - sf)) "$r_pi" "$r_po" "$r_pf" "$r_mj")
    seq=$((seq + 1))
}

sent() { echo "MOM-AGENT sent $1 seq=$seq mem_unused=$mf mem_free=$((mf + bu + ca)) mem_total=$mt"; }

heartbeat() {
    memory_stat
    printf '{"__name__": "heartbeat", "free-ram": "%d", "memory-stat": %s, "apiVersion": 3}\n' \
        $(((mf + bu + ca) / 1024)) "$ms" >&3
    sent heartbeat
}

memory_stats() {
    memory_stat
    printf '{"__name__": "memory-stats", "memory": %s}\n' "$ms" >&3
    sent memory-stats
}

# One line from the host.
handle() {
    name=$(echo "$1" | sed -n 's/.*"__name__" *: *"\([^"]*\)".*/\1/p')
    v=$(echo "$1" | sed -n 's/.*"apiVersion" *: *"\{0,1\}\([0-9][0-9]*\).*/\1/p')
    [ -n "$name" ] || return 0
    echo "MOM-AGENT got $name${v:+ apiVersion=$v}"
    case $name in
    refresh)
        printf '{"__name__": "host-name", "name": "%s"}\n' "$(hostname)" >&3
        memory_stats
        ;;
    api-version)
        [ -n "$v" ] && api=$v
        if [ "$api" -ge 1 ] && [ "$cpus_sent" = 0 ]; then
            printf '{"__name__": "number-of-cpus", "count": %d}\n' \
                "$(grep -c '^processor' /proc/cpuinfo)" >&3
            echo "MOM-AGENT sent number-of-cpus api=$api"
            cpus_sent=1
        fi
        ;;
    esac
}

read_counters
p_pi=$pi; p_po=$po; p_pf=$pf; p_mj=$mj; p_t=$(cut -d' ' -f1 /proc/uptime)
echo "MOM-AGENT start port=$port interval=$iv"
next=0
while :; do
    t=$(cut -d. -f1 /proc/uptime)
    if [ "$t" -ge "$next" ]; then
        # Blocks while nobody is connected on the host side.
        heartbeat
        next=$((t + iv))
    fi
    # What the host sent meanwhile; a read that fails at once means the
    # host end is closed.
    if read -t 1 -r line <&3; then
        handle "$line"
    else
        sleep 1
    fi
done
