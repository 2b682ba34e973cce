#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of the end-to-end test (tests/vm/e2e_libvirt.sh), standard
library only.

Reads what the run left in OUT: momd's --trace output (trace.txt, one line
per guest per policy cycle, memory in MiB, times in UTC), the plot files
(HostMonitor.dat and GUEST.dat, exact KiB), the test's own samples of the
cgroup and KSM (host-samples.txt), the guests' consoles, their final
domstate and momctl's statistics.  Writes OUT/cycles.csv (one row per guest
per policy cycle) and prints TAP; exits 1 when a check fails.
"""

import argparse
import csv
import os
import re
import sys

PRESSURE = 20.0  # the policies' threshold: host free share in percent


def read_plot(path):
    """Rows of a plot file as dicts of floats (the header repeats at every
    start; rows with another number of fields are skipped)."""
    rows, names = [], None
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#"):
                    names = [n.strip() for n in line[1:].split("\t")]
                    continue
                vals = line.rstrip("\n").split("\t")
                if not names or len(vals) != len(names):
                    continue
                row = {}
                for n, v in zip(names, vals):
                    try:
                        row[n] = float(v)
                    except ValueError:
                        pass
                rows.append(row)
    except OSError:
        pass
    return rows


def at(rows, t):
    """The last row of `rows` at or before time t (the first one if none)."""
    best = rows[0] if rows else {}
    for r in rows:
        if r.get("time", 0) <= t + 0.5:
            best = r
        else:
            break
    return best


def num(s):
    try:
        return float(s.rstrip("%"))
    except ValueError:
        return None


def read_trace(path, day0):
    """Trace rows (guest lines only) with the time as a Unix time: the trace
    prints UTC HH:MM:SS; day0 is a Unix time of the run."""
    rows = []
    base = int(day0) - int(day0) % 86400
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            p = line.split()
            if len(p) != 9 or not re.match(r"^\d\d:\d\d:\d\d$", p[0]) or p[1] == "(no":
                continue
            h, m, s = (int(x) for x in p[0].split(":"))
            t = base + h * 3600 + m * 60 + s
            if t < day0 - 43200:
                t += 86400
            rows.append({
                "time": t, "guest": p[1], "balloon": num(p[2]), "target": num(p[3]),
                "guest_free": num(p[4]), "host_free": num(p[5]), "free_pct": num(p[6]),
                "psi10": num(p[7]), "ksm": p[8],
            })
    return rows


class Tap:
    def __init__(self):
        self.lines, self.failed, self.n = [], 0, 0

    def check(self, ok, text, diag=None):
        self.n += 1
        n = self.n
        self.lines.append(("ok" if ok else "not ok") + " %d - %s" % (n, text))
        if not ok:
            self.failed += 1
        if not ok:
            for d in diag or []:
                self.lines.append("# " + d)

    def print(self):
        print("1..%d" % self.n)
        for x in self.lines:
            print(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--plots", required=True)
    ap.add_argument("--guests", required=True)
    ap.add_argument("--guest-mib", type=float, required=True)
    a = ap.parse_args()
    out = a.out
    guests = a.guests.split()
    tap = Tap()

    host = read_plot(os.path.join(a.plots, "HostMonitor.dat"))
    plots = {g: read_plot(os.path.join(a.plots, g + ".dat")) for g in guests}
    day0 = host[0]["time"] if host else 0
    trace = read_trace(os.path.join(out, "trace.txt"), day0) if host else []

    # ---- the CSV ---------------------------------------------------------
    rows = []
    for r in trace:
        if r["guest"] not in plots:
            continue
        g = at(plots[r["guest"]], r["time"])
        h = at(host, r["time"])
        rows.append({
            "time": r["time"], "guest": r["guest"],
            "balloon_cur_kib": g.get("balloon_cur", ""),
            "balloon_target_mib": "" if r["target"] is None else r["target"],
            "balloon_min_kib": g.get("balloon_min", ""),
            "balloon_max_kib": g.get("balloon_max", ""),
            "guest_mem_unused_kib": g.get("mem_unused", ""),
            "host_mem_free_kib": h.get("mem_free", ""),
            "host_mem_available_kib": h.get("mem_available", ""),
            "host_free_pct": r["free_pct"],
            "psi_some_avg10": r["psi10"],
            "ksm_run": h.get("ksm_run", ""),
            "ksm_pages_shared": h.get("ksm_pages_shared", ""),
            "ksm_pages_sharing": h.get("ksm_pages_sharing", ""),
            "trace_balloon_mib": r["balloon"],
        })
    fields = ["time", "guest", "balloon_cur_kib", "balloon_target_mib", "balloon_min_kib",
              "balloon_max_kib", "guest_mem_unused_kib", "host_mem_free_kib",
              "host_mem_available_kib", "host_free_pct", "psi_some_avg10", "ksm_run",
              "ksm_pages_shared", "ksm_pages_sharing", "trace_balloon_mib"]
    with open(os.path.join(out, "cycles.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("%d" % v if isinstance(v, float) and v == int(v) else v)
                        for k, v in r.items()})

    # ---- the guests ran and momd saw them ----------------------------------
    consoles = {}
    for g in guests:
        try:
            with open(os.path.join(out, g + ".console"), errors="replace") as f:
                consoles[g] = f.read()
        except OSError:
            consoles[g] = ""
    tap.check(all("MOM-GUEST-READY" in consoles[g] for g in guests),
              "the three guests boot", [g for g in guests if "MOM-GUEST-READY" not in consoles[g]])
    tap.check(all("MOM-LOAD-DONE" in consoles[g] for g in guests),
              "every guest's workload ran its schedule to the end")
    seen = {r["guest"] for r in trace}
    tap.check(all(g in seen and len(plots[g]) > 0 for g in guests),
              "momd manages the three guests (trace lines and plot files for each)",
              ["seen: %s" % sorted(seen)])
    tap.check(len(rows) > 0 and os.path.getsize(os.path.join(out, "cycles.csv")) > 0,
              "the per-cycle CSV has %d rows (%s)" % (len(rows), os.path.join(out, "cycles.csv")))

    # ---- pressure --------------------------------------------------------
    press = [r for r in trace if r["free_pct"] is not None and r["free_pct"] < PRESSURE]
    t_press = (min(r["time"] for r in press), max(r["time"] for r in press)) if press else None
    lowest = min((r["free_pct"] for r in trace if r["free_pct"] is not None), default=None)
    tap.check(t_press is not None,
              "the workloads push the cgroup's free memory below %d%% (lowest %s%%)"
              % (PRESSURE, lowest))

    # ---- balloons shrink under pressure and grow back after it ---------------
    shrunk, regrown, diag = [], [], []
    for g in guests:
        p = plots[g]
        if not p or not t_press:
            continue
        mx = max(r.get("balloon_max", 0) for r in p)
        during = [r for r in p if t_press[0] <= r["time"] <= t_press[1] + 4]
        low = min((r.get("balloon_cur", mx) for r in during), default=mx)
        if low <= 0.9 * mx:
            shrunk.append(g)
        # After the guest's lowest balloon and the last cycle under pressure:
        # back up by at least three quarters of what it gave.  (The policy
        # skips steps below 0.25 % of the balloon, so the last few hundred
        # KiB to the maximum may never come back.)
        t_low = min((r["time"] for r in p if r.get("balloon_cur") == low), default=0)
        after = [r for r in p if r["time"] >= max(t_low, t_press[1])]
        high = max((r.get("balloon_cur", 0) for r in after), default=0)
        if low < mx and high >= low + 0.75 * (mx - low):
            regrown.append(g)
        diag.append("%s: max %d KiB, lowest %d KiB under pressure, highest after %d KiB"
                    % (g, mx, low, high))
    tap.check(len(shrunk) >= 1, "balloons shrink under pressure (%s)" % ", ".join(shrunk), diag)
    tap.check(len(regrown) >= 1 and set(shrunk) <= set(regrown),
              "every balloon that shrank grows back after the pressure (%s)" % ", ".join(regrown),
              diag)

    # ---- limits ----------------------------------------------------------
    bad = []
    for r in rows:
        mn, mx, tg, cur = (r["balloon_min_kib"], r["balloon_max_kib"], r["balloon_target_mib"],
                           r["balloon_cur_kib"])
        if mn == "" or mx == "":
            continue
        # The trace rounds the target to whole MiB.
        if tg != "" and (tg * 1024 < mn - 512 or tg * 1024 > mx + 512):
            bad.append("%s at %d: target %s MiB outside [%d, %d] KiB" % (r["guest"], r["time"], tg,
                                                                          mn, mx))
        if cur != "" and (cur < mn or cur > mx):
            bad.append("%s at %d: balloon %d KiB outside [%d, %d] KiB" % (r["guest"], r["time"], cur,
                                                                           mn, mx))
    targets = sum(1 for r in rows if r["balloon_target_mib"] != "")
    tap.check(targets > 0 and not bad,
              "no balloon target (%d set) or balloon below balloon_min or above balloon_max"
              % targets, bad[:10])
    maxes = {r["balloon_max_kib"] for r in rows if r["balloon_max_kib"] != ""}
    tap.check(maxes == {a.guest_mib * 1024},
              "balloon_max is each guest's configured %d MiB" % a.guest_mib, [str(maxes)])

    # ---- nobody killed ---------------------------------------------------
    states = {}
    try:
        with open(os.path.join(out, "domstate.txt")) as f:
            for line in f:
                p = line.split(None, 1)
                if len(p) == 2:
                    states[p[0]] = p[1].strip()
    except OSError:
        pass
    tap.check(all(states.get(g) == "running" for g in guests),
              "all three guests are still running at the end", ["%s" % states])
    oom = [g for g in guests if re.search(r"Out of memory|Kernel panic|oom-kill", consoles[g])]
    tap.check(not oom, "no OOM kill or panic inside any guest", oom)
    samples = []
    try:
        with open(os.path.join(out, "host-samples.txt")) as f:
            head = f.readline().split()
            for line in f:
                p = line.split()
                if len(p) == len(head):
                    samples.append(dict(zip(head, p)))
    except OSError:
        head = []
    kills = max((int(s["oom_kills"]) for s in samples), default=-1)
    tap.check(kills == 0, "the host's OOM killer never fires in the cgroup (oom_kill %d)" % kills)

    # ---- KSM -------------------------------------------------------------
    run_press = [r for r in host if r.get("ksm_run") == 1 and
                 r.get("mem_available", 0) > 0 and
                 100.0 * r.get("mem_free", 0) / r["mem_available"] < PRESSURE]
    tap.check(len(run_press) > 0, "KSM runs (ksm_run 1) while the host is under pressure")
    # momd is what switched it on: the test starts with KSM off.
    first_on = min((r["time"] for r in host if r.get("ksm_run") == 1), default=None)
    was_off = first_on is not None and any(r.get("ksm_run") == 0 and r["time"] < first_on
                                           for r in host)
    tap.check(was_off, "momd switches KSM on (ksm_run 0 -> 1)")
    sharing = max((r.get("ksm_pages_sharing", 0) for r in host), default=0)
    tap.check(sharing > 0, "KSM merges pages (pages_sharing up to %d)" % sharing)
    # Pages merged per QEMU process (/proc/PID/ksm_merging_pages).
    pids = head[7:] if len(head) > 7 else []
    merged = {}
    for s in samples:
        for i, pid in enumerate(pids):
            v = s[head[7 + i]]
            if v.isdigit():
                merged[pid] = max(merged.get(pid, 0), int(v))
    if pids and merged:
        tap.check(sum(1 for v in merged.values() if v > 0) >= 2,
                  "KSM merges pages of at least two of the QEMU processes (%s)"
                  % ", ".join("%s" % merged[p] for p in pids if p in merged))

    # ---- momd itself -----------------------------------------------------
    try:
        with open(os.path.join(out, "momctl-stats.txt")) as f:
            stats = f.read()
    except OSError:
        stats = ""
    tap.check(all(("Guest %s" % g) in stats for g in guests) and "balloon_max" in stats,
              "momctl stats over the RPC socket shows the three guests", stats.splitlines()[:8])
    try:
        with open(os.path.join(out, "momd-status.txt")) as f:
            status = f.read().strip()
    except OSError:
        status = "?"
    tap.check(status == "0", "momd stops cleanly on SIGTERM (status %s)" % status)

    tap.print()
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
