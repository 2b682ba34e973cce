#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The guest side of the oVirt guest agent protocol (PEERS.md §5), as far as
# MOM reads it: JSON lines with "__name__" on a virtio-serial port, a
# heartbeat with "memory-stat" every INTERVAL seconds and a "memory-stats"
# message now and then, rates from /proc/vmstat deltas per second.  To
# test the reader, it starts with a malformed line and sends one message in
# two pieces.  What the host sends (api-version, refresh) is not read: the
# agent's behaviour does not depend on it.
#   ovirt-agent.sh PORT INTERVAL
port=$1
iv=${2:-2}
exec 3<>"$port"

read_counters() {
    eval "$(awk '$1=="pswpin"{print "pi="$2} $1=="pswpout"{print "po="$2}
                 $1=="pgfault"{print "pf="$2} $1=="pgmajfault"{print "mj="$2}' /proc/vmstat)"
}

# Sets ms to the memory-stat object (and mf, bu, ca).
memory_stat() {
    eval "$(awk '/^MemTotal:/{print "mt="$2} /^MemFree:/{print "mf="$2}
                 /^Buffers:/{print "bu="$2} /^Cached:/{print "ca="$2}
                 /^SwapTotal:/{print "st="$2} /^SwapFree:/{print "sf="$2}' /proc/meminfo)"
    read_counters
    r_pi=$(((pi - p_pi) / iv)); r_po=$(((po - p_po) / iv))
    r_pf=$(((pf - p_pf) / iv)); r_mj=$(((mj - p_mj) / iv))
    p_pi=$pi; p_po=$po; p_pf=$pf; p_mj=$mj
    # Older agents send numbers as strings: mem_total is one here.
    ms=$(printf '{"mem_total": "%d", "mem_unused": %d, "mem_free": %d, "mem_buffers": %d, "mem_cached": %d, "swap_total": %d, "swap_usage": %d, "swap_in": %d, "swap_out": %d, "pageflt": %d, "majflt": %d}' \
        "$mt" "$mf" $((mf + bu + ca)) "$bu" "$ca" "$st" $((st - sf)) "$r_pi" "$r_po" "$r_pf" "$r_mj")
}

read_counters
p_pi=$pi; p_po=$po; p_pf=$pf; p_mj=$mj
printf 'this line is not JSON\n' >&3
printf '{"__name__": "host-name", "name": "mom-test-guest"}\n' >&3
n=0
while :; do
    memory_stat
    if [ "$n" -eq 1 ]; then
        # One heartbeat in two writes, a second apart.
        printf '{"__name__": "heartbeat", "free-ram": "%d", ' $(((mf + bu + ca) / 1024)) >&3
        sleep 1
        printf '"memory-stat": %s, "apiVersion": 3}\n' "$ms" >&3
    else
        printf '{"__name__": "heartbeat", "free-ram": "%d", "memory-stat": %s, "apiVersion": 3}\n' \
            $(((mf + bu + ca) / 1024)) "$ms" >&3
    fi
    [ $((n % 3)) -eq 2 ] && printf '{"__name__": "memory-stats", "memory": %s}\n' "$ms" >&3
    n=$((n + 1))
    sleep "$iv"
done
