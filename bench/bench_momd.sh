#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# momd's resident memory and thread count on the simulated host with 1, 100
# and 1,000 guests (targets: at most 8 MiB resident at 1,000 guests; a
# thread count that does not grow with guests; the original Python MOM:
# 116 MB and 1,004 threads at 1,000 guests).
#
# momd runs with the demo's collectors and controllers, 2-second intervals,
# for SECONDS seconds (default 12) per size; the numbers are read from
# /proc/PID/status at the end.  The simulator runs inside momd, so its
# model of every guest counts in momd's memory too.  RssAnon is momd's own
# memory (heap, stacks); RssFile is the pages of the program and of the
# shared libraries it maps (libvirt, libxml2, libmicrohttpd, glibc, ...),
# which are shared with every other process that uses them.
BUILD=${BUILD:-build}
SECONDS_RUN=${SECONDS_RUN:-12}
MOMD=$BUILD/momd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "| guests | VmRSS (MiB) | RssAnon (MiB) | RssFile (MiB) | VmHWM (MiB) | threads |"
echo "|-------:|------------:|--------------:|--------------:|------------:|--------:|"
for n in 1 100 1000; do
    mem=$((n * 1536 + 4096))
    cat > "$tmp/scenario.json" <<JSON
{"host": {"memory_mib": $mem, "cpus": 64},
 "guests": [{"name": "vm", "count": $n, "max_mib": 2048, "min_mib": 512,
             "workload": {"type": "periodic", "mean_mib": 1024, "amplitude_mib": 512, "period": 60}}]}
JSON
    cat > "$tmp/momd.conf" <<CONF
[main]
hypervisor-interface: sim
host-monitor-interval: 2
guest-monitor-interval: 2
guest-manager-interval: 2
policy-engine-interval: 2
controllers: Balloon, KSM
[logging]
verbosity: error
[host]
collectors: HostMemory, HostKSM, HostCpu, HostPressure
[guest]
collectors: GuestMemory, GuestBalloon
[sim]
scenario: $tmp/scenario.json
CONF
    "$MOMD" -c "$tmp/momd.conf" > "$tmp/out" 2>&1 &
    pid=$!
    sleep "$SECONDS_RUN"
    rss=$(awk '/^VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status)
    hwm=$(awk '/^VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status)
    thr=$(awk '/^Threads/ {print $2}' /proc/$pid/status)
    anon=$(awk '/^RssAnon/ {printf "%.1f", $2/1024}' /proc/$pid/status)
    file=$(awk '/^RssFile/ {printf "%.1f", $2/1024}' /proc/$pid/status)
    kill -TERM $pid
    wait $pid
    echo "| $n | $rss | $anon | $file | $hwm | $thr |"
done
