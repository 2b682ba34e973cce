#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Round trip of `momctl policy convert`.

For each classic policy set (the vdsm-style fixtures, the round-trip set of
tests/policy/convert/roundtrip/, and policies/examples/classic/ once it
exists): convert every file with the others as context, check that the
converted set loads, then evaluate the original and the converted set with
`momctl policy eval --json` on many random snapshots and compare the
controls (numbers by value, reals to 1e-9 relative; null controls count as
unset).  When the original evaluation fails (classic and/or evaluate every
argument and fail on an absent value where .and./.or. stop early), the
converted one may fail or succeed; when it succeeds, the converted one must
succeed with the same controls.

Until `momctl policy check` accepts Fortran-like text, the steps that need
it print "ok N # SKIP Fortran-like dialect not available".

Environment: BUILD (default build), MOM_ROUNDTRIP_SNAPSHOTS (default 60),
MOM_ROUNDTRIP_SEED (default 4242).
"""
import glob
import json
import math
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
MOMCTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "momctl")
N_SNAPSHOTS = int(os.environ.get("MOM_ROUNDTRIP_SNAPSHOTS", "60"))
SEED = int(os.environ.get("MOM_ROUNDTRIP_SEED", "4242"))

SETS = [
    ("vdsm fixtures", os.path.join(ROOT, "tests/fixtures/policies/classic")),
    ("round-trip set", os.path.join(ROOT, "tests/policy/convert/roundtrip")),
    ("policies/examples/classic", os.path.join(ROOT, "policies/examples/classic")),
]

count = 0
failed = 0


def tap(ok, text, skip=None):
    global count, failed
    count += 1
    if skip:
        print("ok %d # SKIP %s" % (count, skip))
    elif ok:
        print("ok %d - %s" % (count, text))
    else:
        failed += 1
        print("not ok %d - %s" % (count, text))
    sys.stdout.flush()


def diag(text):
    for line in str(text).splitlines():
        print("# " + line)


def run(args, **kw):
    return subprocess.run([MOMCTL] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120, **kw)


def fortran_available(tmp):
    """Whether momctl loads Fortran-like text (the dialect has landed)."""
    path = os.path.join(tmp, "probe.mom")
    with open(path, "w") as f:
        f.write("integer :: probe_x = 1\nhost%ksm_run = probe_x\n")
    return run(["policy", "check", path]).returncode == 0


# ---- random snapshots --------------------------------------------------------

LIMITS = ["total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
          "total_iops_sec", "read_iops_sec", "write_iops_sec"]


def maybe(rng, value, p_null=0.1):
    return None if rng.random() < p_null else value


def number(rng, lo, hi, p_real=0.15):
    """An int, sometimes a real with a fraction (both dialects see either)."""
    v = rng.randint(int(lo), int(hi))
    if rng.random() < p_real:
        return v + rng.choice([0.25, 0.5, 0.75])
    return v


def limits(rng):
    return {k: maybe(rng, rng.choice([0, rng.randint(1, 10 ** 7)]), 0.2) for k in LIMITS}


def host_sample(rng, avail):
    free = number(rng, 0, avail)
    return {
        "mem_available": avail, "mem_free": free, "mem_unused": number(rng, 0, free),
        "swap_in": rng.randint(0, 1000), "swap_out": rng.randint(0, 1000),
        "anon_pages": rng.randint(0, avail), "swap_total": maybe(rng, rng.randint(0, 10 ** 7)),
        "swap_usage": maybe(rng, rng.randint(0, 10 ** 6)),
        "ksm_full_scans": rng.randint(0, 100), "ksm_pages_sharing": rng.randint(0, 10 ** 5),
        "ksm_pages_unshared": rng.randint(0, 10 ** 5), "ksm_run": rng.choice([0, 1, 2]),
        "ksm_pages_shared": maybe(rng, rng.choice([0, 0, rng.randint(1, 10 ** 5)])),
        "ksm_pages_to_scan": rng.choice([64, 100, 400, 1250, rng.randint(1, 3000)]),
        "ksm_pages_volatile": rng.randint(0, 100),
        "ksm_sleep_millisecs": rng.choice([10, 20, rng.randint(1, 200)]),
        "ksm_merge_across_nodes": maybe(rng, rng.choice([0, 1])),
        "ksm_shareable": rng.randint(0, avail), "ksmd_cpu_usage": rng.randint(0, 100),
        "cpu_count": rng.randint(1, 64),
    }


def guest_sample(rng, bmax, disks):
    bmin = rng.randint(bmax // 8, bmax // 2)
    cur = rng.choice([bmax, bmin, rng.randint(bmin // 2, bmax)])
    s = {
        "vcpu_quota": rng.choice([-1, 50000, 100000, rng.randint(1000, 200000)]),
        "vcpu_period": rng.choice([100000, rng.randint(1000, 1000000)]),
        "vcpu_user_limit": rng.choice([100, 50, 1, rng.randint(1, 150)]),
        "vcpu_count": rng.randint(1, 16),
        "balloon_cur": maybe(rng, cur, 0.08), "balloon_max": maybe(rng, bmax, 0.05),
        "balloon_min": maybe(rng, bmin, 0.05),
        "mem_unused": maybe(rng, number(rng, 0, cur), 0.2),
        "mem_available": maybe(rng, cur),
    }
    if disks is not None:
        s["io_tune"] = [{"name": d, "path": "/dev/" + d, "guaranteed": limits(rng),
                         "maximum": limits(rng), "current": limits(rng)} for d in disks]
        s["io_tune_current"] = [{"name": d, "path": "/dev/" + d, "ioTune": limits(rng)}
                                for d in disks]
    else:
        s["io_tune"] = None
        s["io_tune_current"] = None
    return s


def snapshot(rng):
    avail = rng.choice([4 * 2 ** 20, 16000000, 64 * 2 ** 20])
    host = [host_sample(rng, avail) for _ in range(rng.randint(1, 3))]
    guests = []
    for i in range(rng.randint(0, 4)):
        bmax = rng.choice([2 ** 20, 2 ** 21, 4194304, rng.randint(2 ** 18, 2 ** 23)])
        disks = rng.choice([None, ["vda"], ["vda", "vdb"], []])
        samples = [guest_sample(rng, bmax, disks) for _ in range(rng.randint(1, 3))]
        guests.append({"props": {"name": "vm-%d" % i, "uuid": "uuid-%d" % i, "pid": 1000 + i},
                       "stats": samples})
    return {"host_props": {"interval": rng.choice([5, 10, 15])}, "host": host, "guests": guests}


# ---- comparison ----------------------------------------------------------------

def same_value(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b and type(a) == type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b:
            return True
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(k for k, v in a.items() if v is not None) | \
            set(k for k, v in b.items() if v is not None)
        return all(same_value(a.get(k), b.get(k)) for k in keys)
    return a == b


def compare(orig, conv):
    """None when the controls agree, else a description of the difference."""
    if not same_value(orig.get("host", {}), conv.get("host", {})):
        return "host: %s != %s" % (orig.get("host"), conv.get("host"))
    og, cg = orig.get("guests", {}), conv.get("guests", {})
    if set(og) != set(cg):
        return "guests: %s != %s" % (sorted(og), sorted(cg))
    for name in og:
        if not same_value(og[name], cg[name]):
            return "guest %s: %s != %s" % (name, og[name], cg[name])
    return None


def evaluate(files, snap_path):
    r = run(["policy", "eval"] + files + ["--snapshot", snap_path, "--json"])
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"ok": False, "error": "no JSON: rc %d: %s %s" % (r.returncode, r.stdout, r.stderr)}


# ---- one policy set --------------------------------------------------------------

def convert_set(files, outdir):
    """Convert each file with the others as context; return (mom files, problems)."""
    converted, problems = [], []
    for f in files:
        ctx = []
        for o in files:
            if o != f:
                ctx += ["--context", o]
        out = os.path.join(outdir, os.path.basename(f)[:-len(".policy")] + ".mom")
        r = run(["policy", "convert"] + ctx + ["-o", out, f])
        if r.returncode != 0:
            problems.append("%s: exit %d\n%s" % (os.path.basename(f), r.returncode, r.stderr))
        converted.append(out)
    return converted, problems


def roundtrip(label, files, tmp, have_fortran, rng):
    outdir = tempfile.mkdtemp(dir=tmp)
    mom, problems = convert_set(files, outdir)
    tap(not problems, "%s: every file converts fully (%d files)" % (label, len(files)))
    for p in problems:
        diag(p)
    if not have_fortran:
        tap(True, "", skip="Fortran-like dialect not available")
        tap(True, "", skip="Fortran-like dialect not available")
        return
    r = run(["policy", "check"] + mom)
    tap(r.returncode == 0, "%s: the converted set loads" % label)
    if r.returncode != 0:
        diag(r.stderr)
        for m in mom:
            diag("---- " + m)
            with open(m) as f:
                diag(f.read())
        tap(False, "%s: round trip on random snapshots (the converted set does not load)" % label)
        return
    both = orig_failed = 0
    mismatches = []
    for i in range(N_SNAPSHOTS):
        snap = snapshot(rng)
        snap_path = os.path.join(outdir, "snap-%03d.json" % i)
        with open(snap_path, "w") as f:
            json.dump(snap, f)
        o = evaluate(files, snap_path)
        c = evaluate(mom, snap_path)
        if not o.get("ok"):
            orig_failed += 1
            continue
        if not c.get("ok"):
            mismatches.append("%s: the original succeeded, the converted failed: %s"
                              % (snap_path, c.get("error")))
            continue
        both += 1
        d = compare(o, c)
        if d:
            mismatches.append("%s: %s" % (snap_path, d))
    enough = both >= N_SNAPSHOTS // 2
    tap(not mismatches and enough,
        "%s: same controls on %d random snapshots (%d where the original failed)"
        % (label, both, orig_failed))
    for m in mismatches[:10]:
        diag(m)
    if not enough:
        diag("too few snapshots where the original succeeded: %d of %d" % (both, N_SNAPSHOTS))


def main():
    if not os.access(MOMCTL, os.X_OK):
        print("1..1")
        print("not ok 1 - %s is not built" % MOMCTL)
        return 1
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        have_fortran = fortran_available(tmp)
        if not have_fortran:
            diag("momctl policy check refuses Fortran-like text: round trips skipped")
        for label, d in SETS:
            files = sorted(glob.glob(os.path.join(d, "*.policy")))
            if not files:
                tap(True, "", skip="%s: no classic policies yet" % label)
                tap(True, "", skip="%s: no classic policies yet" % label)
                tap(True, "", skip="%s: no classic policies yet" % label)
                continue
            roundtrip(label, files, tmp, have_fortran, rng)
    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
