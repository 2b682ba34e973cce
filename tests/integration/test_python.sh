#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Python binding's tests (python/tests, unittest) against this build's
# libmom, reported as TAP for tests/run.sh: one "ok N - name" or
# "not ok N - name" per test case, then "1..N".
BUILD=${BUILD:-build}
LIB=$(pwd)/$BUILD/libmom.so.0

if [ -n "${SANITIZE:-}" ]; then
    # A sanitized libmom cannot be loaded into an uninstrumented python3.
    echo "ok 1 - python binding # SKIP not run with SANITIZE=$SANITIZE"
    echo "1..1"
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "not ok 1 - python3 is not installed"
    echo "1..1"
    exit 1
fi
if [ ! -e "$LIB" ]; then
    echo "not ok 1 - $LIB is not built"
    echo "1..1"
    exit 1
fi

OUT=$(mktemp /tmp/mom-python-tests.XXXXXX)
trap 'rm -f "$OUT"' EXIT
PYTHONPATH=$(pwd)/python${PYTHONPATH:+:$PYTHONPATH} MOM_LIBRARY=$LIB \
    python3 -m unittest discover -s python/tests -v >"$OUT" 2>&1
rc=$?

python3 - "$OUT" "$rc" <<'PY'
import re
import sys

path, rc = sys.argv[1], int(sys.argv[2])
with open(path, errors="replace") as f:
    lines = f.read().splitlines()

head = re.compile(r"^(test\w*) \(([\w.]+)\)(?: \.\.\. ?(.*))?$")
results = []  # (ok, name, directive)
pending = None
for line in lines:
    m = head.match(line)
    if m:
        pending = "%s.%s" % (m.group(2).rsplit(".", 1)[0] if m.group(2).endswith(m.group(1))
                             else m.group(2), m.group(1))
        rest = (m.group(3) or "").strip()
    elif pending:
        rest = line.strip()
    else:
        continue
    if pending is None:
        continue
    verdict = None
    if rest == "ok" or rest.endswith(" ok") or rest == "expected failure":
        verdict = (True, "")
    elif rest.startswith("skipped"):
        verdict = (True, " # SKIP " + rest[len("skipped"):].strip(" '\""))
    elif rest in ("FAIL", "ERROR", "unexpected success") or rest.endswith((" FAIL", " ERROR")):
        verdict = (False, "")
    if verdict:
        results.append((verdict[0], pending, verdict[1]))
        pending = None

n = 0
for ok, name, directive in results:
    n += 1
    print("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, directive))
if not results or (rc != 0 and all(ok for ok, _, _ in results)):
    n += 1
    print("not ok %d - python3 -m unittest exited with status %d" % (n, rc))
print("1..%d" % n)
if any(not ok for ok, _, _ in results) or rc != 0:
    # The failures' details for the log.
    text = "\n".join(lines)
    cut = text.find("=" * 70)
    sys.stdout.write(text[cut:] if cut >= 0 else text[-4000:])
    sys.stdout.write("\n")
PY
exit $rc
