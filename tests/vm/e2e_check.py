#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of the end-to-end tests (tests/vm/e2e_libvirt.sh,
tests/vm/e2e_qmp.sh), standard library only.

Reads what the run left in OUT: momd's --trace output (trace.txt, one line
per guest per policy cycle, memory in MiB, times in UTC), the plot files
(HostMonitor.dat and GUEST.dat, exact KiB), the test's own samples of the
cgroup, KSM, the balloons as the hypervisor reports them and the guests'
workloads (host-samples.txt), the guests' consoles (with the oVirt agent's
log of what it sent and received, --agent-guest), their final state
(domstate.txt) and momctl's statistics.  Writes OUT/cycles.csv (one row per
guest per policy cycle) and prints TAP; exits 1 when a check fails.
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


def read_samples(path):
    """The test's own samples (host-samples.txt) as dicts of strings, and
    the header."""
    samples, head = [], []
    try:
        with open(path) as f:
            head = f.readline().split()
            for line in f:
                p = line.split()
                if len(p) == len(head):
                    samples.append(dict(zip(head, p)))
    except OSError:
        pass
    return samples, head


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
    ap.add_argument("--balloon-min", default="",
                    help="NAME=KIB ...: the balloon_min each guest's NAME.json gives")
    ap.add_argument("--agent-guest", default="",
                    help="the guest whose statistics come from the oVirt guest agent")
    a = ap.parse_args()
    out = a.out
    guests = a.guests.split()
    tap = Tap()

    host = read_plot(os.path.join(a.plots, "HostMonitor.dat"))
    plots = {g: read_plot(os.path.join(a.plots, g + ".dat")) for g in guests}
    day0 = host[0]["time"] if host else 0
    trace = read_trace(os.path.join(out, "trace.txt"), day0) if host else []

    consoles = {}
    for g in guests:
        try:
            with open(os.path.join(out, g + ".console"), errors="replace") as f:
                consoles[g] = f.read()
        except OSError:
            consoles[g] = ""
    # What the oVirt agent sent: mem_unused of each message, in KiB.
    agent = a.agent_guest
    agent_sent = set()
    if agent:
        for m in re.finditer(r"^MOM-AGENT sent \S+ seq=\d+ mem_unused=(\d+)", consoles.get(agent, ""),
                             re.M):
            agent_sent.add(float(m.group(1)))

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
            # Where the guest's memory statistics came from: the oVirt
            # agent when mem_unused is a value the agent sent.
            "stats_source": ("" if g.get("mem_unused") is None else
                             "agent" if g.get("mem_unused") in agent_sent else "balloon"),
        })
    fields = ["time", "guest", "balloon_cur_kib", "balloon_target_mib", "balloon_min_kib",
              "balloon_max_kib", "guest_mem_unused_kib", "host_mem_free_kib",
              "host_mem_available_kib", "host_free_pct", "psi_some_avg10", "ksm_run",
              "ksm_pages_shared", "ksm_pages_sharing", "trace_balloon_mib", "stats_source"]
    with open(os.path.join(out, "cycles.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("%d" % v if isinstance(v, float) and v == int(v) else v)
                        for k, v in r.items()})

    # ---- the guests ran and momd saw them ----------------------------------
    tap.check(all("MOM-GUEST-READY" in consoles[g] for g in guests),
              "the three guests boot", [g for g in guests if "MOM-GUEST-READY" not in consoles[g]])
    tap.check(all("MOM-LOAD-DONE" in consoles[g] for g in guests),
              "every guest's workload ran its schedule to the end")
    samples, head = read_samples(os.path.join(out, "host-samples.txt"))
    # The guests' clocks against the host's, from the uptimes the guests
    # printed (sampled by the host every 2 s).  A guest that keeps time by
    # counting timer ticks loses time whenever its TCG vCPU misses them.
    rates, diag = {}, []
    for g in guests:
        # The host samples a guest's last line every 2 s: take the samples
        # where a new line had appeared, at most 2 s after the guest said it.
        pts, prev = [], None
        for s in samples:
            u = s.get("up_" + g, "-")
            if re.match(r"^[0-9.]+$", u) and u != prev:
                pts.append((float(s["time"]), float(u)))
            prev = u
        if len(pts) >= 2 and pts[-1][0] - pts[0][0] >= 30:
            rates[g] = (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
        diag.append("%s: %s" % (g, "%.2f" % rates[g] if g in rates else "too few samples"))
    tap.check(len(rates) == len(guests) and all(0.85 <= r <= 1.15 for r in rates.values()),
              "the guests keep time (guest seconds per host second: %s)"
              % ", ".join("%.2f" % rates[g] for g in guests if g in rates), diag)
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

    # ---- the balloons as the hypervisor reports them ----------------------
    # The test's own view (virsh dominfo, or query-balloon on a second QMP
    # monitor), independent of momd's statistics.
    hv_low, hv_last, diag = {}, {}, []
    for g in guests:
        vals = [float(s["balloon_" + g]) for s in samples
                if s.get("balloon_" + g, "-").isdigit()]
        if vals:
            hv_low[g], hv_last[g] = min(vals), vals[-1]
            diag.append("%s: lowest %d KiB, last %d KiB" % (g, hv_low[g], hv_last[g]))
    mx = a.guest_mib * 1024
    hv_shrunk = [g for g in hv_low if hv_low[g] <= 0.9 * mx]
    tap.check(len(hv_shrunk) >= 1 and
              all(hv_last[g] >= hv_low[g] + 0.75 * (mx - hv_low[g]) for g in hv_shrunk),
              "the hypervisor sees the balloons shrink and grow back (%s)" % ", ".join(hv_shrunk),
              diag)

    # ---- balloon_min from NAME.json (qmp) ---------------------------------
    if a.balloon_min:
        want = {}
        for kv in a.balloon_min.split():
            k, v = kv.split("=", 1)
            want[k] = float(v)
        seen, bad = {}, []
        for g in guests:
            seen[g] = {r.get("balloon_min") for r in plots[g] if "balloon_min" in r}
            if seen[g] != {want.get(g, 0.0)}:
                bad.append("%s: balloon_min %s, expected %s" % (g, sorted(seen[g]), want.get(g, 0)))
        tap.check(not bad, "momd reads each guest's balloon_min from NAME.json (%s)"
                  % ", ".join("%s %d" % (g, want.get(g, 0)) for g in guests), bad)
        low = [g for g in guests if g in hv_low and hv_low[g] < want.get(g, 0)]
        tap.check(not low, "no balloon goes below its NAME.json balloon_min, as the hypervisor "
                  "reports it", ["%s: %d KiB" % (g, hv_low[g]) for g in low])

    # ---- the oVirt guest agent (qmp) ----------------------------------------
    if agent:
        con = consoles.get(agent, "")
        got_api = re.findall(r"^MOM-AGENT got api-version apiVersion=(\d+)", con, re.M)
        tap.check("MOM-AGENT got refresh" in con,
                  "the agent in %s receives momd's refresh" % agent)
        tap.check(len(got_api) >= 1 and int(got_api[0]) >= 1,
                  "the agent in %s receives momd's api-version reply (apiVersion %s)"
                  % (agent, ", ".join(got_api) or "none"))
        tap.check(re.search(r"^MOM-AGENT sent number-of-cpus api=[1-9]", con, re.M) is not None,
                  "the agent acts on the negotiated version (number-of-cpus sent)")
        from_agent = [r for r in plots[agent] if r.get("mem_unused") is not None]
        hits = [r for r in from_agent if r["mem_unused"] in agent_sent]
        tap.check(len(agent_sent) >= 5 and len(hits) >= 10 and len(hits) >= 0.8 * len(from_agent),
                  "%s's statistics come from the agent (%d of %d samples' mem_unused are values "
                  "the agent sent, %d sent)" % (agent, len(hits), len(from_agent), len(agent_sent)))
        # Only the agent reports the swap size; the balloon's statistics
        # over QMP have none.
        swap = {g: any(r.get("swap_total") is not None for r in plots[g]) for g in guests}
        others = [g for g in guests if g != agent]
        tap.check(swap[agent] and not any(swap[g] for g in others) and
                  all(len(plots[g]) > 0 for g in others),
                  "the other guests' statistics come from the balloon (no swap_total: %s)"
                  % ", ".join(others), ["%s" % swap])

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
    merged = {}
    for s in samples:
        for g in guests:
            v = s.get("merged_" + g, "-")
            if v.isdigit():
                merged[g] = max(merged.get(g, 0), int(v))
    tap.check(sum(1 for v in merged.values() if v > 0) >= 2,
              "KSM merges pages of at least two of the QEMU processes (%s)"
              % ", ".join("%s %s" % (g, merged.get(g, "-")) for g in guests))

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
