#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compare two balloon policies on the simulated host.

Runs momd twice, side by side, on the same simulated scenario: once with
the default policy set (policies/*.mom) and once with the same set whose
10-balloon.mom is replaced by policies/examples/balloon-hysteresis.mom.
The simulator runs SPEED (default 6) times faster than real time, with
momd's intervals at 1 s (samples) and 2 s (policy) of real time, so close
to the shipped defaults in simulated time (samples every 6 s, policy every
12 s, averages over 10 samples); a six-minute story takes a minute, and the
two runs go side by side.

From momd's trace and plot files it reports, for each policy:
  - balloon operations: balloon targets the policy set (one hypervisor
    call each);
  - time under 20 % free: simulated seconds in which the host's free
    memory (MemFree + Buffers + Cached) was below 20 % of its RAM;
  - the lowest free share, and host swap traffic;
  - guest swap-in and swap-out totals over all guests (MiB);
  - the guests' mean total memory (how much the policy left them).

Usage: python3 bench/compare_balloon.py [--build DIR] [--speed N]
           [--duration SIM_SECONDS] [--seed N] [--markdown]
           [--policies-a DIR] [--policies-b DIR]
Python standard library only.  Benchmarks measure; they never fail.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A six-minute story on a 16 GiB host with 26 GiB of guests: demand builds
# over the first minute until the host swaps, holds with web2 breathing and
# batch spiking, falls after three minutes, and a second, smaller wave at
# four minutes brings the host back near the 20 % threshold, where a policy
# that grows balloons back too eagerly oscillates.
SCENARIO = {
    "description": "compare_balloon.py: two waves of demand on a 16 GiB host",
    "host": {"memory_mib": 16384, "swap_mib": 2048, "cpus": 4,
             "overhead_mib": 512, "cache_mib": 512, "ksm_mergeable": 0.15},
    "guests": [
        {"name": "web1", "max_mib": 4096, "min_mib": 1024, "vcpus": 2, "cache_mib": 256,
         "workload": [
             {"type": "ramp", "from_mib": 1024, "to_mib": 3328, "duration": 60},
             {"type": "ramp", "at": 170, "from_mib": 3328, "to_mib": 1024, "duration": 30},
             {"type": "ramp", "at": 235, "from_mib": 1024, "to_mib": 3072, "duration": 20}]},
        {"name": "web2", "max_mib": 4096, "min_mib": 1024, "vcpus": 2, "cache_mib": 256,
         "workload": [
             {"type": "ramp", "from_mib": 1024, "to_mib": 2816, "duration": 50},
             {"type": "periodic", "at": 50, "mean_mib": 2816, "amplitude_mib": 384,
              "period": 40},
             {"type": "ramp", "at": 180, "from_mib": 2816, "to_mib": 1024, "duration": 30},
             {"type": "periodic", "at": 240, "mean_mib": 2304, "amplitude_mib": 512,
              "period": 30}]},
        {"name": "db", "max_mib": 6144, "min_mib": 2048, "vcpus": 4, "cache_mib": 256,
         "free_page_reporting": True,
         "workload": [
             {"type": "ramp", "from_mib": 2048, "to_mib": 4352, "duration": 60},
             {"type": "ramp", "at": 170, "from_mib": 4352, "to_mib": 2048, "duration": 20},
             {"type": "ramp", "at": 230, "from_mib": 2048, "to_mib": 4096, "duration": 20}]},
        {"name": "batch", "max_mib": 6144, "min_mib": 512, "vcpus": 2, "cache_mib": 256,
         "free_page_reporting": True,
         "workload": [
             {"type": "ramp", "from_mib": 512, "to_mib": 2560, "duration": 60},
             {"type": "spikes", "at": 60, "base_mib": 2560, "every": 50,
              "spikes": [{"at": 10, "height_mib": 768, "duration": 15}]},
             {"type": "ramp", "at": 180, "from_mib": 2560, "to_mib": 512, "duration": 20},
             {"type": "ramp", "at": 240, "from_mib": 512, "to_mib": 2048, "duration": 20}]},
        {"name": "idle", "max_mib": 6144, "min_mib": 512, "vcpus": 1, "cache_mib": 256,
         "workload": {"type": "idle", "mib": 384}}]}

CONF = """[main]
hypervisor-interface: sim
host-monitor-interval: 1
guest-monitor-interval: 1
guest-manager-interval: 1
policy-engine-interval: 2
sample-history-length: 10
controllers: Balloon, KSM, CpuTune
plot-dir: {plot}

[logging]
log: {log}
verbosity: info

[host]
collectors: HostMemory, HostKSM, HostCpu, HostPressure

[guest]
collectors: GuestMemory, GuestBalloon, GuestCpuTune

[sim]
scenario: {scenario}
seed: {seed}
speed: {speed}
"""


def policy_dirs(tmp):
    """The two policy sets: the default one, and the default one with the
    hysteresis balloon policy in place of 10-balloon.mom."""
    a = os.path.join(tmp, "policies-default")
    b = os.path.join(tmp, "policies-hysteresis")
    os.makedirs(a)
    os.makedirs(b)
    for f in glob.glob(os.path.join(TOP, "policies", "*.mom")):
        shutil.copy(f, a)
        if os.path.basename(f) != "10-balloon.mom":
            shutil.copy(f, b)
    shutil.copy(os.path.join(TOP, "policies", "examples", "balloon-hysteresis.mom"),
                os.path.join(b, "10-balloon-hysteresis.mom"))
    return a, b


def start(momd, tmp, label, policies, args):
    """Start momd for one policy set; return (process, its work directory)."""
    d = os.path.join(tmp, label)
    os.makedirs(os.path.join(d, "plot"))
    conf = os.path.join(d, "momd.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(plot=os.path.join(d, "plot"), log=os.path.join(d, "momd.log"),
                            scenario=os.path.join(tmp, "scenario.json"),
                            seed=args.seed, speed=args.speed))
    trace = open(os.path.join(d, "trace.txt"), "w")
    p = subprocess.Popen([momd, "--trace", "-c", conf, "-P", policies],
                         stdout=trace, stderr=subprocess.STDOUT)
    trace.close()
    return p, d


def read_plot(path):
    """Rows of a plot file as dicts (field -> value), with "time"."""
    rows = []
    header = None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# time"):
                header = ["time"] + [h.strip() for h in line.split("\t")[1:]]
                continue
            if not line or line.startswith("#") or header is None:
                continue
            vals = line.split("\t")
            row = {}
            for k, v in zip(header, vals):
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = None
            rows.append(row)
    return rows


def summarize(d, speed, duration):
    """The measures of one run, from its work directory."""
    res = {}
    ops = 0
    cycles = 0
    failed = 0
    with open(os.path.join(d, "trace.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 9 and parts[0].count(":") == 2 and parts[1] != "cycle":
                cycles += 1
                if parts[3] != "-":
                    ops += 1
            elif len(parts) >= 3 and parts[1] == "cycle" and parts[2] == "failed:":
                failed += 1
    res["balloon operations"] = ops
    res["failed cycles"] = failed
    plots = glob.glob(os.path.join(d, "plot", "momplot-*"))
    if not plots:
        return res
    pdir = sorted(plots)[-1]
    host = read_plot(os.path.join(pdir, "HostMonitor.dat"))
    if not host:
        return res
    t0 = host[0]["time"]
    under = 0.0
    lowest = 1.0
    host_swap_pages = 0.0
    for prev, row in zip(host, host[1:]):
        if (row["time"] - t0) * speed > duration:
            break
        share = row["mem_free"] / row["mem_available"]
        lowest = min(lowest, share)
        if share < 0.20:
            under += (row["time"] - prev["time"]) * speed
        host_swap_pages += (row.get("swap_in") or 0) + (row.get("swap_out") or 0)
    res["time under 20% free (s)"] = round(under)
    res["lowest free share (%)"] = round(100 * lowest, 1)
    res["host swap in+out (MiB)"] = round(host_swap_pages * 4 / 1024)
    swap_in = swap_out = 0.0
    mem_sum = 0.0
    for path in glob.glob(os.path.join(pdir, "*.dat")):
        if os.path.basename(path) == "HostMonitor.dat":
            continue
        rows = [r for r in read_plot(path) if (r["time"] - t0) * speed <= duration]
        if not rows:
            continue
        first, last = rows[0], rows[-1]
        if first.get("swap_in") is not None and last.get("swap_in") is not None:
            swap_in += last["swap_in"] - first["swap_in"]
            swap_out += last["swap_out"] - first["swap_out"]
        cur = [r["balloon_cur"] for r in rows if r.get("balloon_cur") is not None]
        if cur:
            mem_sum += sum(cur) / len(cur)
    res["guest swap-in (MiB)"] = round(swap_in / 1024)
    res["guest swap-out (MiB)"] = round(swap_out / 1024)
    res["guests' mean memory (MiB)"] = round(mem_sum / 1024)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--speed", type=float, default=6.0)
    ap.add_argument("--duration", type=float, default=360.0,
                    help="simulated seconds to run (default 360)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--policies-a", help="first policy directory (default: policies/)")
    ap.add_argument("--policies-b", help="second policy directory (default: policies/ "
                    "with balloon-hysteresis.mom in place of 10-balloon.mom)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    build = args.build if os.path.isabs(args.build) else os.path.join(TOP, args.build)
    momd = os.path.join(build, "momd")
    if not os.access(momd, os.X_OK):
        print("compare_balloon: %s is not built; run make first" % momd, file=sys.stderr)
        return 1
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        os.environ.setdefault("TMPDIR", "/dev/shm")
    tmp = tempfile.mkdtemp(prefix="mom-compare-")
    with open(os.path.join(tmp, "scenario.json"), "w") as f:
        json.dump(SCENARIO, f, indent=1)
    a, b = policy_dirs(tmp)
    if args.policies_a:
        a = os.path.abspath(args.policies_a)
    if args.policies_b:
        b = os.path.abspath(args.policies_b)
    runs = [("default", a), ("hysteresis", b)]
    wall = args.duration / args.speed + 3
    print("Simulated scenario: %s" % SCENARIO["description"])
    print("speed %g, %g simulated seconds (%.0f s of wall time), seed %d"
          % (args.speed, args.duration, wall, args.seed))
    # SIGTERM (or Ctrl-C) stops both momd processes and cleans up too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    procs = []
    try:
        for label, pol in runs:
            procs.append(start(momd, tmp, label, pol, args))
        time.sleep(wall)
    except BaseException:
        for p, _ in procs:
            p.terminate()
        for p, _ in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for p, _ in procs:
        p.send_signal(signal.SIGTERM)
    for p, _ in procs:
        p.wait(timeout=30)
    results = [summarize(d, args.speed, args.duration) for _, d in procs]
    keys = []
    for r in results:
        for k in r:
            if k not in keys:
                keys.append(k)
    print()
    print("| measure | %s |" % " | ".join(label for label, _ in runs))
    print("|---|%s|" % "|".join("---:" for _ in runs))
    for k in keys:
        print("| %s | %s |" % (k, " | ".join(str(r.get(k, "-")) for r in results)))
    for (label, _), (p, d) in zip(runs, procs):
        if p.returncode not in (0, -signal.SIGTERM):
            print("\n%s: momd exited with status %s; log:" % (label, p.returncode))
            with open(os.path.join(d, "trace.txt")) as f:
                print(f.read()[-2000:])
    if args.keep:
        print("\nwork directory: %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
