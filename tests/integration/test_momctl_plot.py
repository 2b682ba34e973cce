#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""momctl plot and momctl top, run as a user runs them (TAP output).

momctl plot: the SVG of the captured plot directory in
tests/fixtures/plots parses as SVG (xml.etree) and has, per panel, one
path per series with the expected id, a title, axis labels with units and
a legend; the paths are mapped back through the drawn tick labels and
must give the values of the .dat files.  A plot directory written here
checks the file format's corners (repeated and changing headers, None,
incomplete data sets, a row still being written, a guest name that needs
escaping).  Also: usage errors, unreadable directories, choosing the
newest momplot-NNN.

momctl top: --once on the plot files, the live loop (frames until SIGINT;
on a terminal, `q` quits and the terminal modes come back), and --once
against a running momd over RPC when momd serves it (else "# SKIP").
A momd run on the simulator with -p gives live plot files to draw.

Binaries come from $BUILD (default: build).  Python standard library only.
"""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
import xml.etree.ElementTree as ET
import xmlrpc.client

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(SRC, BUILD)
MOMCTL = os.path.join(BUILD, "momctl")
MOMD = os.path.join(BUILD, "momd")
FIX = os.path.join(SRC, "tests", "fixtures", "plots")
FIXDIR = os.path.join(FIX, "momplot-000")
SVG = "{http://www.w3.org/2000/svg}"

HOST_FIELDS = ["mem_available", "mem_free", "mem_unused"]
GUEST_FIELDS = ["balloon_max", "balloon_min", "balloon_cur", "mem_unused"]
DASHED = {"mem_available", "balloon_max", "balloon_min"}

n = 0
failures = 0


def ok(cond, desc, diag=""):
    global n, failures
    n += 1
    if cond:
        print(f"ok {n} - {desc}")
    else:
        failures += 1
        print(f"not ok {n} - {desc}")
        for line in str(diag).splitlines()[:30]:
            print(f"# {line}")
    sys.stdout.flush()
    return cond


def skip(desc, why):
    global n
    n += 1
    print(f"ok {n} - {desc} # SKIP {why}")


def run(*args, timeout=60, **kw):
    p = subprocess.run([MOMCTL, *args], capture_output=True, text=True, timeout=timeout, **kw)
    return p


def read_dat(path):
    """The rows of a plot file as dicts (the same rules as the C reader)."""
    rows = []
    cols = None
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # a row being written
    for line in lines:
        if line.startswith("# time"):
            cols = [c.strip() for c in line.split("\t")[1:]]
            continue
        if not line or line.startswith("#") or cols is None:
            continue
        parts = line.split("\t")
        if len(parts) != len(cols) + 1:
            continue
        row = {"time": float(parts[0])}
        for c, v in zip(cols, parts[1:]):
            try:
                row[c] = float(v)
            except ValueError:
                row[c] = None
        rows.append(row)
    return rows


def path_points(d):
    """The subpaths of an SVG path's d attribute as lists of (x, y)."""
    subs = []
    for cmd, x, y in re.findall(r"([ML])\s*(-?[\d.]+)\s+(-?[\d.]+)", d):
        if cmd == "M":
            subs.append([])
        subs[-1].append((float(x), float(y)))
    return subs


def panel_scale(panel):
    """Linear maps pixel->value for y and x, from the drawn tick labels."""
    def ticks(cls, coord):
        g = panel.find(f"{SVG}g[@class='{cls}']")
        out = []
        for t in g.findall(f"{SVG}text"):
            out.append((float(t.get(coord)), float(t.text)))
        return out

    def fit(pairs):
        (p0, v0), (p1, v1) = pairs[0], pairs[-1]
        return lambda p: v0 + (p - p0) * (v1 - v0) / (p1 - p0)

    yt = ticks("yticks", "y")
    xt = ticks("xticks", "x")
    # y tick labels sit 4 px below their grid line (baseline offset).
    yt = [(p - 4, v) for p, v in yt]
    return fit(yt), fit(xt), yt, xt


def parse_svg(path):
    try:
        return ET.parse(path).getroot(), None
    except ET.ParseError as e:
        return None, e


def series(root):
    return {p.get("id"): p for p in root.iter(f"{SVG}path") if "series" in (p.get("class") or "")}


def panels(root):
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if "panel" in (g.get("class") or "").split()}


def texts(elem):
    return ["".join(t.itertext()) for t in elem.iter(f"{SVG}text")]


def check_values(desc, panel, path, rows, field, t0):
    """Map the path back through the axes and compare with the data."""
    unit = path.get("data-unit")
    div = {"MiB": 1024.0, "GiB": 1024.0 * 1024}[unit]
    yval, xval, yt, _ = panel_scale(panel)
    span = yt[-1][1] - yt[0][1]
    drawn = [(xval(x), yval(y)) for sub in path_points(path.get("d")) for x, y in sub]
    want = [(r["time"] - t0, r[field] / div) for r in rows if r.get(field) is not None]
    if not drawn or not want:
        return ok(False, desc, f"drawn {len(drawn)} points, data {len(want)}")
    bad = []
    # Every drawn point is a data point (thinning only drops points) ...
    for x, y in drawn:
        best = min(want, key=lambda w: abs(w[0] - x))
        if abs(best[0] - x) > 0.2 or abs(best[1] - y) > span * 0.005:
            bad.append(f"drawn ({x:.2f}, {y:.3f}) vs data ({best[0]:.2f}, {best[1]:.3f})")
    # ... and the first, last, lowest and highest data points are drawn.
    for w in (want[0], want[-1], min(want, key=lambda w: w[1]), max(want, key=lambda w: w[1])):
        if not any(abs(w[0] - x) < 0.2 and abs(w[1] - y) <= span * 0.005 for x, y in drawn):
            bad.append(f"data point ({w[0]:.2f}, {w[1]:.3f}) not drawn")
    return ok(not bad, desc, "\n".join(bad[:10]))


def check_picture(tag, svgfile, datdir, guests):
    """The structural checks of one rendered picture."""
    root, err = parse_svg(svgfile)
    if not ok(root is not None and root.tag == f"{SVG}svg", f"{tag}: the output parses as SVG",
              err):
        return
    ok(root.get("viewBox") and float(root.get("width")) > 0 and float(root.get("height")) > 0,
       f"{tag}: the svg element has a size and a viewBox", ET.tostring(root)[:300])
    all_rows = {g: read_dat(os.path.join(datdir, g + ".dat")) for g in ["HostMonitor"] + guests}
    t0 = min(r["time"] for rows in all_rows.values() for r in rows)
    t1 = max(r["time"] for rows in all_rows.values() for r in rows)
    heading = " ".join(texts(root)[:2])
    ok(datdir in heading and f"({t1 - t0:.0f} s)" in heading,
       f"{tag}: the heading names the directory and the time range", heading)

    ser = series(root)
    pan = panels(root)
    want_ids = [f"host-{f}" for f in HOST_FIELDS]
    for g in guests:
        want_ids += [f"guest-{g}-{f}" for f in GUEST_FIELDS]
    ok(sorted(ser) == sorted(want_ids), f"{tag}: one path per series, with the expected ids",
       f"got {sorted(ser)}\nwant {sorted(want_ids)}")
    ok(sorted(pan) == sorted(["panel-host"] + [f"panel-guest-{g}" for g in guests]),
       f"{tag}: one panel for the host and one per guest", sorted(pan))

    problems = []
    for sid, p in ser.items():
        field = p.get("data-field")
        title = p.find(f"{SVG}title")
        if title is None or field not in (title.text or "") or p.get("data-unit") not in title.text:
            problems.append(f"{sid}: title {title.text if title is not None else None!r}")
        if (p.get("stroke-dasharray") is not None) != (field in DASHED):
            problems.append(f"{sid}: dashed={p.get('stroke-dasharray')!r}")
        if not p.get("stroke", "").startswith("#") or p.get("fill") != "none":
            problems.append(f"{sid}: stroke {p.get('stroke')!r} fill {p.get('fill')!r}")
    ok(not problems, f"{tag}: every series has a title with field and unit, a colour, "
       "and dashes for the bounds and references", "\n".join(problems))

    problems = []
    for pid, g in pan.items():
        tx = texts(g)
        units = {p.get("data-unit") for p in g.iter(f"{SVG}path")}
        if "time (s)" not in tx:
            problems.append(f"{pid}: no 'time (s)' label")
        if len(units) != 1 or f"memory ({units.pop()})" not in tx:
            problems.append(f"{pid}: no y label matching the unit: {tx[:12]}")
        legend = g.find(f"{SVG}g[@class='legend']")
        fields = HOST_FIELDS if pid == "panel-host" else GUEST_FIELDS
        ltext = texts(legend) if legend is not None else []
        lines = legend.findall(f"{SVG}line") if legend is not None else []
        if len(lines) != len(fields) or not all(any(f in t for t in ltext) for f in fields):
            problems.append(f"{pid}: legend {ltext}")
        title = g.find(f"{SVG}text[@class='panel-title']")
        name = pid[len("panel-guest-"):] if pid.startswith("panel-guest-") else None
        if title is None or (name and name not in title.text) or (not name and title.text != "Host"):
            problems.append(f"{pid}: title {title.text if title is not None else None!r}")
        if len(g.find(f"{SVG}g[@class='yticks']")) < 3 or len(g.find(f"{SVG}g[@class='xticks']")) < 3:
            problems.append(f"{pid}: fewer than 3 ticks on an axis")
    ok(not problems, f"{tag}: every panel has a title, 'time (s)', 'memory (UNIT)', "
       "tick labels and a legend naming its series", "\n".join(problems))

    host = pan.get("panel-host")
    if host is not None and "host-mem_free" in ser:
        check_values(f"{tag}: host mem_free drawn where the data puts it", host,
                     ser["host-mem_free"], all_rows["HostMonitor"], "mem_free", t0)
    for g in guests:
        sid = f"guest-{g}-balloon_cur"
        if f"panel-guest-{g}" in pan and sid in ser:
            check_values(f"{tag}: {g} balloon_cur drawn where the data puts it",
                         pan[f"panel-guest-{g}"], ser[sid], all_rows[g], "balloon_cur", t0)
            break


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    if not os.path.exists(MOMCTL):
        print("1..1")
        print(f"not ok 1 - {MOMCTL} is not built")
        return 1
    tmp = tempfile.mkdtemp(prefix="mom-momctl-plot.")
    try:
        return tests(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tests(tmp):
    fix_guests = sorted(f[:-4] for f in os.listdir(FIXDIR) if f.endswith(".dat") and f != "HostMonitor.dat")

    # ---- usage and errors -------------------------------------------------
    p = run("plot")
    ok(p.returncode == 2 and "no plot directory" in p.stderr, "plot without a directory: usage error",
       p.stderr)
    p = run("plot", FIX, "--bogus")
    ok(p.returncode == 2 and "--bogus" in p.stderr, "plot with an unknown option: usage error", p.stderr)
    p = run("plot", FIX, FIX)
    ok(p.returncode == 2, "plot with two directories: usage error", p.stderr)
    p = run("plot", FIX, "-o")
    ok(p.returncode == 2, "plot -o without a file: usage error", p.stderr)
    p = run("plot", os.path.join(tmp, "missing"), "-o", os.path.join(tmp, "x.svg"))
    ok(p.returncode == 1 and "missing" in p.stderr and "No such file" in p.stderr
       and not os.path.exists(os.path.join(tmp, "x.svg")),
       "plot of a missing directory: exit 1 with a message, no output file", p.stderr)
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    p = run("plot", empty)
    ok(p.returncode == 1 and "no plot files" in p.stderr and p.stdout == "",
       "plot of a directory without plot files: exit 1 with a message", p.stderr)
    p = run("plot", "--help")
    ok(p.returncode == 0 and "momctl plot DIR" in p.stdout, "plot --help", p.stdout + p.stderr)

    # ---- the captured fixture --------------------------------------------
    out = os.path.join(tmp, "fixture.svg")
    p = run("plot", FIX, "-o", out)
    ok(p.returncode == 0 and os.path.getsize(out) > 1000 and p.stdout == "",
       "plot of a plot-dir base writes the SVG to -o", p.stderr)
    check_picture("fixture", out, FIXDIR, fix_guests)
    p = run("plot", FIXDIR)
    with open(out, encoding="utf-8") as f:
        same = f.read() == p.stdout
    ok(p.returncode == 0 and same, "a momplot-NNN directory draws the same picture, on stdout "
       "without -o", p.stderr)

    # The balloon policy in the fixture shrank the guests: the picture must
    # show balloon_cur leaving balloon_max and coming back.
    root, _ = parse_svg(out)
    pan = panels(root)
    web = pan.get("panel-guest-web1")
    if web is not None:
        yval, _, _, _ = panel_scale(web)
        cur = [yval(y) for s in path_points(series(root)["guest-web1-balloon_cur"].get("d")) for _, y in s]
        rows = read_dat(os.path.join(FIXDIR, "web1.dat"))
        lo = min(r["balloon_cur"] for r in rows) / 1024 / 1024
        ok(abs(min(cur) - lo) < 0.02 and abs(cur[-1] - 4.0) < 0.02,
           "web1's balloon shrinks to its lowest size and grows back to 4 GiB in the picture",
           f"drawn min {min(cur):.3f} last {cur[-1]:.3f}, data min {lo:.3f}")
    else:
        ok(False, "web1's balloon in the picture", "no panel-guest-web1")

    # ---- the newest momplot-NNN of a base ---------------------------------
    base = os.path.join(tmp, "base")
    shutil.copytree(FIXDIR, os.path.join(base, "momplot-000"))
    newest = os.path.join(base, "momplot-002")
    os.makedirs(newest)
    os.makedirs(os.path.join(base, "momplot-001"))
    shutil.copy(os.path.join(FIXDIR, "HostMonitor.dat"), newest)
    shutil.copy(os.path.join(FIXDIR, "db.dat"), newest)
    p = run("plot", base)
    root, err = parse_svg_text(p.stdout)
    ok(p.returncode == 0 and root is not None and "momplot-002" in " ".join(texts(root)[:1])
       and sorted(panels(root)) == ["panel-guest-db", "panel-host"],
       "a plot-dir base draws its highest momplot-NNN", p.stderr or err)

    # ---- corners of the file format ---------------------------------------
    odd = os.path.join(tmp, "odd")
    os.mkdir(odd)
    t = 1700000000.0
    h1 = "# time\t balloon_cur\t balloon_max\t mem_unused\n"
    h2 = "# time\t balloon_cur\t balloon_max\t balloon_min\t mem_unused\n"
    gib = 1048576
    lines = [
        h1, f"{t:.6f}\t{4 * gib}\t{4 * gib}\t{2 * gib}\n",
        h1, f"{t + 5:.6f}\t{4 * gib}\t{4 * gib}\t{gib}\n",
        h1, f"# {t + 10:.6f} Incomplete data set\n",
        h1, f"{t + 15:.6f}\tNone\t{4 * gib}\t{gib}\n",       # a gap in balloon_cur
        h2, f"{t + 20:.6f}\t{3 * gib}\t{4 * gib}\t{gib // 2}\t{gib}\n",
        h2, f"{t + 25:.6f}\t{3 * gib}\t{4 * gib}\t{gib // 2}\t[1, 2]\n",  # a list: no number
        h2, f"{t + 30:.6f}\t{2 * gib}\t{4 * gib}\t{gib // 2}\t{gib}\n",
        h2, f"{t + 35:.6f}\t{2 * gib}\t{4 * gib}\n",          # fields missing: skipped
        h2, f"{t + 40:.6f}\t{gib}\t{4 * gib}\t{gib // 2}",   # still being written
    ]
    name = "a&b <c>"
    with open(os.path.join(odd, name + ".dat"), "w") as f:
        f.writelines(lines)
    with open(os.path.join(odd, "HostMonitor.dat"), "w") as f:
        f.write("# time\t mem_available\t mem_free\t mem_unused\n")
        f.write(f"{t:.6f}\t{16 * gib}\t{8 * gib}\t{6 * gib}\n")
        f.write("# time\t mem_available\t mem_free\t mem_unused\n")
        f.write(f"{t + 30:.6f}\t{16 * gib}\t{4 * gib}\t{3 * gib}\n")
    out = os.path.join(tmp, "odd.svg")
    p = run("plot", odd, "-o", out)
    root, err = parse_svg(out) if p.returncode == 0 else (None, p.stderr)
    ok(root is not None, "a guest named 'a&b <c>' still gives well-formed SVG", err)
    if root is not None:
        ser = series(root)
        cur = ser.get("guest-a_b__c_-balloon_cur")
        mn = ser.get("guest-a_b__c_-balloon_min")
        unused = ser.get("guest-a_b__c_-mem_unused")
        ok(cur is not None and cur.get("data-entity") == name,
           "the series id is made safe and data-entity keeps the real name",
           sorted(ser) if cur is None else cur.get("data-entity"))
        if cur is not None and mn is not None and unused is not None:
            subs = path_points(cur.get("d"))
            ok([len(s) for s in subs] == [2, 3],
               "None breaks the line; incomplete sets, short rows and a partial last row are skipped",
               cur.get("d"))
            ok([len(s) for s in path_points(mn.get("d"))] == [3],
               "a field added by a later header starts where it appears", mn.get("d"))
            ok([len(s) for s in path_points(unused.get("d"))] == [4, 1],
               "a value that is not a number (a list) breaks the line", unused.get("d"))
            panel = panels(root)["panel-guest-a_b__c_"]
            rows = [r for r in read_dat(os.path.join(odd, name + ".dat"))]
            check_values("the format corners are drawn at the right values", panel, cur, rows,
                         "balloon_cur", t)
        else:
            ok(False, "series of the odd guest", sorted(ser))

    # ---- momctl top on plot files -----------------------------------------
    p = run("top", "--once", "--plot-dir", FIX)
    ok(p.returncode == 0 and "\033" not in p.stdout, "top --once --plot-dir: one frame without "
       "escape codes", p.stderr + p.stdout)
    host = read_dat(os.path.join(FIXDIR, "HostMonitor.dat"))[-1]
    lines = p.stdout.splitlines()
    hl = [l for l in lines if l.startswith("Host")]
    want = (f"total {host['mem_available'] / 1024:.0f} MiB  free {host['mem_free'] / 1024:.0f} MiB "
            f"({100 * host['mem_free'] / host['mem_available']:.1f}%)")
    ok(hl and want in hl[0], "top shows the host's total and free memory with its share", f"{hl} vs {want}")
    ksm = [l for l in lines if l.startswith("KSM")]
    ok(ksm and f"pages_sharing {host['ksm_pages_sharing']:.0f}" in ksm[0]
       and ("running" if host["ksm_run"] == 1 else "stopped") in ksm[0],
       "top shows the KSM state", ksm)
    psi = [l for l in lines if l.startswith("Pressure")]
    ok(psi and f"some avg10 {host['psi_mem_some_avg10']:.2f}%" in psi[0], "top shows memory pressure",
       psi)
    problems = []
    for g in fix_guests:
        r = read_dat(os.path.join(FIXDIR, g + ".dat"))[-1]
        row = [l.split() for l in lines if l.split()[:1] == [g]]
        want = [g, f"{r['balloon_cur'] / 1024:.0f}", "-", f"{r['balloon_max'] / 1024:.0f}",
                f"{r['balloon_min'] / 1024:.0f}", "-", f"{r['mem_unused'] / 1024:.0f}"]
        if len(row) != 1 or row[0][:7] != want:
            problems.append(f"{g}: {row} want {want}")
    ok(not problems and any(l.split()[:3] == ["GUEST", "BALLOON", "CHANGE"] for l in lines),
       "top has one row per guest with balloon, bounds and free memory of the last sample",
       "\n".join(problems) + "\n" + p.stdout)
    p = run("top", "--once", "--plot-dir", empty)
    ok(p.returncode == 1 and "no plot files" in p.stderr, "top --once on an empty directory: exit 1",
       p.stderr)
    p = run("top", "--once", "--port", "1", "--socket", "/x")
    ok(p.returncode == 2, "top with --port and --socket: usage error", p.stderr)
    p = run("top", "--interval", "0")
    ok(p.returncode == 2, "top --interval 0: usage error", p.stderr)

    # The live loop without a terminal: plain frames until SIGINT.
    pr = subprocess.Popen([MOMCTL, "top", "--plot-dir", FIX, "--interval", "0.2"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    time.sleep(1.0)
    pr.send_signal(signal.SIGINT)
    try:
        so, se = pr.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pr.kill()
        so, se = pr.communicate()
    frames = so.count("momctl top - ")
    ok(pr.returncode == 0 and frames >= 3 and "\033" not in so,
       "top without a terminal prints plain frames every interval and ends cleanly on SIGINT",
       f"rc={pr.returncode} frames={frames}\n{se}")

    # On a terminal: escape codes, `q` quits, the terminal modes come back.
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    pr = subprocess.Popen([MOMCTL, "top", "--plot-dir", FIX, "--interval", "30"],
                          stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    buf = b""
    deadline = time.time() + 5
    while b"q quits" not in buf and time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            buf += os.read(master, 65536)
    during = termios.tcgetattr(slave)
    os.write(master, b"q")
    try:
        pr.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pr.kill()
        pr.wait()
    while True:
        r, _, _ = select.select([master], [], [], 0.2)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    ok(b"\033[H" in buf and b"GUEST" in buf and b"\033[?25h" in buf,
       "top on a terminal draws with ANSI codes and shows the cursor again at the end", buf[-300:])
    ok(not (during[3] & termios.ICANON) and pr.returncode == 0,
       "top on a terminal reads keys without line buffering and quits on q",
       f"rc={pr.returncode} lflag={during[3]:#x}")
    ok(after == before, "top restores the terminal modes on exit", f"{before}\n{after}")

    # ---- top over RPC, against a stand-in server --------------------------
    fake_rpc_tests()

    # ---- a live momd: plot files and RPC -----------------------------------
    if not os.path.exists(MOMD):
        skip("momd writes plot files that momctl plot draws", "momd not built")
        skip("top --once over RPC shows momd's guests", "momd not built")
    else:
        live_momd(tmp)

    print(f"1..{n}")
    return 1 if failures else 0


def fake_rpc_tests():
    """top --once against an XML-RPC server with known statistics, with and
    without getControls: every number must land in its column."""
    from xmlrpc.server import SimpleXMLRPCServer
    import threading

    mib = 1024
    stats = {
        "host": {"mem_available": 16384 * mib, "mem_free": 4096 * mib, "mem_unused": 3000 * mib,
                 "swap_total": 2048 * mib, "swap_usage": 100 * mib, "ksm_run": 1,
                 "ksm_pages_sharing": 2560, "ksm_pages_shared": 77, "ksmd_cpu_usage": 3,
                 "psi_mem_some_avg10": 1.25, "psi_mem_full_avg10": 0.5},
        "guests": {
            "vm-b": {"balloon_cur": 2048 * mib, "balloon_max": 4096 * mib, "balloon_min": 512 * mib,
                     "mem_unused": 1024 * mib, "mem_available": 2048 * mib},
            "vm-a": {"balloon_cur": 1000 * mib, "balloon_max": 1000 * mib, "balloon_min": 100 * mib,
                     "mem_unused": None},
        },
    }
    controls = {"host": {}, "guests": {"vm-b": {"balloon_target": 1900 * mib}}}
    for with_controls in (True, False):
        srv = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
        srv.register_function(lambda: stats, "getStatistics")
        if with_controls:
            srv.register_function(lambda: controls, "getControls")
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            p = run("top", "--once", "--port", str(srv.server_address[1]), "--timeout", "5")
        finally:
            srv.shutdown()
            srv.server_close()
        lines = p.stdout.splitlines()
        rows = {l.split()[0]: l.split() for l in lines if l.split()[:1] in (["vm-a"], ["vm-b"])}
        tag = "with getControls" if with_controls else "without getControls"
        want_b = ["vm-b", "2048", "-", "4096", "512", "1900" if with_controls else "-", "1024", "50.0%"]
        want_a = ["vm-a", "1000", "-", "1000", "100", "-", "-", "-"]
        ok(p.returncode == 0 and rows.get("vm-b") == want_b and rows.get("vm-a") == want_a
           and [l.split()[0] for l in lines if l.startswith("vm-")] == ["vm-a", "vm-b"],
           f"top --once over RPC ({tag}): guests in name order, every value in its column",
           f"rc={p.returncode}\n{p.stdout}{p.stderr}\nwant {want_b} {want_a}")
        if with_controls:
            want = ["Host      total 16384 MiB  free 4096 MiB (25.0%)  unused 3000 MiB  swap 100/2048 MiB",
                    "Pressure  some avg10 1.25%  full avg10 0.50%",
                    "KSM       running  pages_sharing 2560 (10 MiB saved)  pages_shared 77  ksmd cpu 3%"]
            ok(lines[1:4] == want, "top --once over RPC: the host lines", "\n".join(lines[:5]))


    # The live loop: the CHANGE column shows how far the balloon moved
    # since the previous frame.
    calls = []

    def moving():
        calls.append(1)
        cur = (3000 - 100 * len(calls)) * mib
        return {"host": stats["host"],
                "guests": {"vm-c": {"balloon_cur": cur, "balloon_max": 3000 * mib}}}

    srv = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
    srv.register_function(moving, "getStatistics")
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        pr = subprocess.Popen([MOMCTL, "top", "--port", str(srv.server_address[1]), "-i", "0.3"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        time.sleep(1.2)
        pr.send_signal(signal.SIGTERM)
        so, se = pr.communicate(timeout=10)
    finally:
        srv.shutdown()
        srv.server_close()
    changes = [l.split()[2] for l in so.splitlines() if l.startswith("vm-c ")]
    ok(pr.returncode == 0 and len(changes) >= 3 and changes[0] == "-"
       and all(c == "-100" for c in changes[1:]),
       "top's CHANGE column shows the balloon's move since the last frame; SIGTERM ends it",
       f"rc={pr.returncode} changes={changes}\n{se}")


def parse_svg_text(text):
    try:
        return ET.fromstring(text), None
    except ET.ParseError as e:
        return None, e


def live_momd(tmp):
    port = free_port()
    plots = os.path.join(tmp, "live")
    os.mkdir(plots)
    conf = os.path.join(tmp, "momd.conf")
    with open(os.path.join(SRC, "conf", "demo.conf")) as f:
        text = f.read()
    text = re.sub(r"^speed:.*$", "speed: 4.0", text, flags=re.M)
    text = text.replace("[main]\n", f"[main]\nrpc-port: {port}\n", 1)
    text = re.sub(r"^(host|guest)-monitor-interval:.*$", r"\1-monitor-interval: 1", text, flags=re.M)
    with open(conf, "w") as f:
        f.write(text)
    log = open(os.path.join(tmp, "momd.log"), "w")
    momd = subprocess.Popen([MOMD, "-c", conf, "-p", plots], stdout=log, stderr=subprocess.STDOUT)
    try:
        # RPC, when this momd serves it (rpc-port in the configuration).
        proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2", allow_none=True)
        stats = None
        deadline = time.time() + 12
        while time.time() < deadline and momd.poll() is None:
            try:
                s = proxy.getStatistics()
                if s.get("host") and len(s.get("guests", {})) > 0:
                    stats = s
                    break
            except (OSError, xmlrpc.client.Error):
                pass
            time.sleep(0.5)
        if stats is None:
            skip("top --once over RPC shows momd's guests", "momd does not serve RPC on rpc-port")
            skip("top --once over RPC shows the host's total memory", "momd does not serve RPC")
        else:
            p = run("top", "--once", "--port", str(port))
            lines = p.stdout.splitlines()
            problems = []
            for g, st in sorted(stats["guests"].items()):
                row = [l.split() for l in lines if l.split()[:1] == [g]]
                if len(row) != 1 or row[0][3] != f"{st['balloon_max'] / 1024:.0f}":
                    problems.append(f"{g}: {row} balloon_max {st.get('balloon_max')}")
            ok(p.returncode == 0 and not problems and "\033" not in p.stdout,
               "top --once over RPC shows momd's guests with their balloon bounds",
               "\n".join(problems) + "\n" + p.stdout + p.stderr)
            total = f"total {stats['host']['mem_available'] / 1024:.0f} MiB"
            ok(p.returncode == 0 and total in p.stdout,
               "top --once over RPC shows the host's total memory", p.stdout + p.stderr)
        # Let the plot files grow for a while, then draw them.
        while time.time() < deadline + 3 and momd.poll() is None:
            time.sleep(0.5)
    finally:
        momd.send_signal(signal.SIGTERM)
        try:
            momd.wait(timeout=15)
        except subprocess.TimeoutExpired:
            momd.kill()
            momd.wait()
        log.close()
    dirs = sorted(d for d in os.listdir(plots) if d.startswith("momplot-"))
    if not ok(dirs == ["momplot-000"], "momd -p made momplot-000", dirs):
        return
    d = os.path.join(plots, dirs[0])
    guests = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".dat") and f != "HostMonitor.dat")
    out = os.path.join(tmp, "live.svg")
    p = run("plot", plots, "-o", out)
    if ok(p.returncode == 0 and guests, "momctl plot draws the files of a momd that just ran",
          p.stderr + f" guests={guests}"):
        check_picture("live", out, d, guests)


if __name__ == "__main__":
    sys.exit(main())
