#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# momctl policy check / eval, run as a user runs them (TAP output).
#
# Usage errors, the empty policy set, failures (missing files, bad
# snapshots, duplicate policy names) and, once the classic dialect is built
# in, the vdsm-style policies of POLICY-CLASSIC.md §10 with their controls,
# results lists, run-time errors and non-finite results.  Binaries come
# from $BUILD (default: build); JSON is compared with python3, types
# included (1 and 1.0 differ).
BUILD=${BUILD:-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
MOMCTL=$BUILD/momctl
FIX=$SRC/tests/fixtures
POL=$FIX/policies/classic
SNAP=$FIX/snapshots
TMP=$(mktemp -d /tmp/mom-momctl-policy.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM

n=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
    n=$((n + 1))
    echo "not ok $n - $1"
    echo "# rc=$rc"
    sed 's/^/# stdout: /' "$TMP/out" 2>/dev/null | head -20
    sed 's/^/# stderr: /' "$TMP/err" 2>/dev/null | head -20
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check DESCRIPTION COMMAND...: one test, passing when COMMAND succeeds.
check() {
    d=$1
    shift
    if "$@"; then pass "$d"; else fail "$d"; fi
}
# run ARGS...: run momctl; stdout in $TMP/out, stderr in $TMP/err, status in $rc.
run() {
    "$MOMCTL" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
}
rc_is() { [ "$rc" -eq "$1" ]; }
out_is() { printf '%s\n' "$1" | cmp -s - "$TMP/out"; }
out_has() { grep -qxF -- "$1" "$TMP/out"; }
err_has() { grep -qF -- "$1" "$TMP/err"; }
out_empty() { [ ! -s "$TMP/out" ]; }
# json_is EXPECTED: stdout is exactly one line of JSON equal to EXPECTED
# (numbers must also agree in type: an integer is not a real).
json_is() {
    [ "$(wc -l <"$TMP/out")" -eq 1 ] || return 1
    python3 - "$1" "$TMP/out" <<'EOF'
import json, sys
def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b
want = json.loads(sys.argv[1])
with open(sys.argv[2]) as f:
    got = json.load(f)
sys.exit(0 if same(want, got) else 1)
EOF
}
# json_field PYEXPR: evaluate a Python expression on the parsed stdout `j`.
json_true() {
    python3 - "$1" "$TMP/out" <<'EOF'
import json, sys
with open(sys.argv[2]) as f:
    j = json.load(f)
sys.exit(0 if eval(sys.argv[1]) else 1)
EOF
}

if [ ! -x "$MOMCTL" ]; then
    echo "1..1"
    echo "not ok 1 - $MOMCTL is not built"
    exit 1
fi

# ---- usage -------------------------------------------------------------------

printf '\n' >"$TMP/empty.policy"
E=$TMP/empty.policy
S101=$SNAP/classic-10.1-balloon.json

run
check "no command: usage error" rc_is 2
check "no command: message on stderr only" out_empty
run frobnicate
check "unknown command: exit 2" rc_is 2
run --frob
check "unknown global option: exit 2" rc_is 2
run policy
check "policy without a command: exit 2" rc_is 2
run policy frob
check "unknown policy command: exit 2" rc_is 2
run policy check
check "policy check without files: exit 2" rc_is 2
run policy check --bogus "$E"
check "policy check with an unknown option: exit 2" rc_is 2
run policy eval --snapshot "$S101"
check "policy eval without files: exit 2" rc_is 2
run policy eval "$E"
check "policy eval without --snapshot: exit 2" rc_is 2
run policy eval "$E" --snapshot
check "policy eval --snapshot without an argument: exit 2" rc_is 2
run policy eval "$E" --snapshot "$S101" --frob
check "policy eval with an unknown option: exit 2" rc_is 2
check "usage errors name the command on stderr" err_has "momctl policy eval: unknown option '--frob'"
run policy eval "$E" --snapshot "$S101" --snapshot "$S101"
check "policy eval with --snapshot twice: exit 2" rc_is 2

run --help
check "--help: exit 0" rc_is 0
check "--help lists the policy command" grep -q '^  policy' "$TMP/out"
run --version
check "--version: exit 0" rc_is 0
check "--version prints the version" grep -qx 'momctl [0-9][0-9.]*' "$TMP/out"
run policy eval --help
check "policy eval --help: exit 0 with the synopsis" grep -q '^Usage: momctl policy eval FILE' "$TMP/out"
run policy check --help
check "policy check --help: exit 0" rc_is 0

# ---- the empty policy set ------------------------------------------------------

run policy check "$E"
check "check of an empty policy: exit 0" rc_is 0
check "check of an empty policy: nothing on stdout" out_empty
run policy eval "$E" --snapshot "$S101" --json
check "eval of an empty policy: exit 0" rc_is 0
check "eval of an empty policy: no controls, every guest listed" \
    json_is '{"ok": true, "host": {}, "guests": {"vm-a": {}, "vm-b": {}}}'
run policy eval "$E" --snapshot "$S101"
check "eval of an empty policy, readable: one line per entity" \
    out_is "host:
guest vm-a:
guest vm-b:"
run policy eval "$E" --snapshot "$S101" --json --results
check "eval --json --results of an empty policy: empty results list" \
    json_is '{"ok": true, "host": {}, "guests": {"vm-a": {}, "vm-b": {}}, "results": []}'
run policy eval "$E" --snapshot "$SNAP/classic-10.2-ksm.json" --json
check "eval on a snapshot without guests" json_is '{"ok": true, "host": {}, "guests": {}}'
run policy eval "$E" --snapshot "$SNAP/classic-fixture-e.json" --json
check "eval lists the I/O limits of guests with I/O-tune data" \
    json_is '{"ok": true, "host": {}, "guests": {"vm1": {"io_tune": [{"name": "vda",
      "path": "/var/lib/images/vm1-vda.img", "ioTune": {"total_bytes_sec": 0,
      "read_bytes_sec": 0, "write_bytes_sec": 0, "total_iops_sec": 0, "read_iops_sec": 0,
      "write_iops_sec": 0}}]}, "vm2": {}}}'

# ---- failures ------------------------------------------------------------------

run policy eval "$E" "$TMP/missing.policy" --snapshot "$S101" --json
check "eval with a missing policy file: exit 1" rc_is 1
check "eval with a missing policy file: ok false naming the file" \
    json_true 'j == {"ok": False, "error": j["error"]} and "missing.policy" in j["error"]'
run policy eval "$E" --snapshot "$TMP/missing.json" --json
check "eval with a missing snapshot: exit 1" rc_is 1
check "eval with a missing snapshot: ok false naming it" \
    json_true 'j["ok"] is False and "missing.json: No such file" in j["error"]'
printf '{"host": [{}],\n "guests": [{"props": {"name": "a"}, "stats": []}]}\n' >"$TMP/bad.json"
run policy eval "$E" --snapshot "$TMP/bad.json" --json
check "eval with an invalid snapshot: exit 1" rc_is 1
check "eval with an invalid snapshot: the error has the path in the JSON" \
    json_is '{"ok": false, "error": "snapshot: guests[0].stats: must be a non-empty list of samples"}'
printf '{"host": [{}]\n "guests": []}\n' >"$TMP/syntax.json"
run policy eval "$E" --snapshot "$TMP/syntax.json"
check "eval with a JSON syntax error: exit 1" rc_is 1
check "eval with a JSON syntax error, readable: error with line and column" \
    grep -q '^error: snapshot:2:[0-9]*: ' "$TMP/out"
mkdir -p "$TMP/a" "$TMP/b"
: >"$TMP/a/same.policy"
: >"$TMP/b/same.policy"
run policy check "$TMP/a/same.policy" "$TMP/b/same.policy"
check "check of two files with the same policy name: exit 1" rc_is 1
check "check of two files with the same policy name: says so" \
    err_has "policy name 'same' is also given by"
run policy eval "$TMP/a/same.policy" "$TMP/b/same.policy" --snapshot "$S101" --json
check "eval of two files with the same policy name: exit 1, ok false" \
    json_true 'j["ok"] is False and "same" in j["error"]'
run policy check "$E" "$TMP/nope.policy"
check "check of a missing file: exit 1" rc_is 1
check "check of a missing file: reported on stderr" err_has "nope.policy:1:1: error: cannot read the policy: No such file"

# ---- the classic dialect (POLICY-CLASSIC.md §10) -----------------------------

printf '(+ 1 2)\n' >"$TMP/probe.policy"
"$MOMCTL" policy check "$TMP/probe.policy" >/dev/null 2>&1
classic=$?

if [ "$classic" -ne 0 ]; then
    # Not built in yet: every test below reports itself as skipped.
    run() { rc=0; : >"$TMP/out"; : >"$TMP/err"; }
    check() { skip "$1" "the classic dialect is not built in yet"; }
fi

mkdir -p "$TMP/params"
printf '(set balloonEnabled True)\n' >"$TMP/params/01-parameters.policy"
BALLOON="$POL/00-defines.policy $TMP/params/01-parameters.policy $POL/02-balloon.policy"

# 10.1 Balloon
# shellcheck disable=SC2086
run policy eval $BALLOON --snapshot "$S101" --json
check "10.1 balloon: exit 0" rc_is 0
check "10.1 balloon: controls" \
    json_is '{"ok": true, "host": {}, "guests": {"vm-a": {"balloon_target": 3984588.8},
              "vm-b": {"balloon_target": 1048576}}}'
check "10.1 balloon: the debug line goes to stderr" err_has "disabled"
# The files are named and ordered by their names, not by the command line.
# shellcheck disable=SC2086
run policy eval "$POL/02-balloon.policy" "$TMP/params/01-parameters.policy" \
    "$POL/00-defines.policy" --snapshot "$S101" --results
check "10.1 balloon, files in another order, readable with --results" \
    out_is "host:
guest vm-a: balloon_target=3984588.8
guest vm-b: balloon_target=1048576
results: [0, 1, 1, 1, 0, 1, 1, 1, 0.2, 0.05, 0.2, 0.05, 0.0025, 'change_big_enough', 'shrink_guest', 'grow_guest', 0.1375, 'balloon_logic', [None, 'disabled'], 'guest_qos', [0, None]]"
# shellcheck disable=SC2086
run policy eval $BALLOON --snapshot "$S101" --json --results
check "10.1 balloon: results list in the JSON" \
    json_true 'j["results"] == ["0", "1", "1", "1", "0", "1", "1", "1", "0.2", "0.05", "0.2", "0.05", "0.0025", "'"'change_big_enough'"'", "'"'shrink_guest'"'", "'"'grow_guest'"'", "0.1375", "'"'balloon_logic'"'", "[None, '"'disabled'"']", "'"'guest_qos'"'", "[0, None]"]'
# Without 01-parameters ballooning is disabled: vm-a may only grow, and is
# at its maximum already; vm-b still gets its guaranteed memory.
run policy eval "$POL/00-defines.policy" "$POL/02-balloon.policy" --snapshot "$S101" --json
check "10.1 balloon disabled: only the guaranteed-memory rule acts" \
    json_is '{"ok": true, "host": {}, "guests": {"vm-a": {}, "vm-b": {"balloon_target": 1048576}}}'

# 10.2 KSM
run policy eval "$POL/00-defines.policy" "$POL/03-ksm.policy" \
    --snapshot "$SNAP/classic-10.2-ksm.json" --json --results
check "10.2 ksm: exit 0" rc_is 0
check "10.2 ksm: controls" \
    json_true 'j["host"] == {"ksm_merge_across_nodes": 1, "ksm_run": 1, "ksm_sleep_millisecs": 10.48576, "ksm_pages_to_scan": 400} and type(j["host"]["ksm_run"]) is int and j["guests"] == {}'
check "10.2 ksm: results list" \
    json_true 'j["results"] == ["0", "1", "1", "1", "0", "1", "1", "300", "-50", "64", "1250", "10", "0.2", "'"'change_npages'"'", "'"'apply_NUMA_policy'"'", "3200000.0", "6000000", "None", "0", "0", "None"]'
run policy eval "$POL/00-defines.policy" "$POL/03-ksm.policy" --snapshot "$SNAP/classic-10.2-ksm.json"
check "10.2 ksm, readable: controls in setting order" \
    out_is "host: ksm_merge_across_nodes=1 ksm_run=1 ksm_sleep_millisecs=10.48576 ksm_pages_to_scan=400"

# 10.3 CpuTune
run policy eval "$POL/00-defines.policy" "$POL/04-cputune.policy" \
    --snapshot "$SNAP/classic-10.3-cputune.json" --json --results
check "10.3 cputune: exit 0" rc_is 0
check "10.3 cputune: controls, reals stay reals" \
    json_is '{"ok": true, "host": {}, "guests": {"vm-a": {"vcpu_quota": 100000.0},
              "vm-b": {"vcpu_quota": -1, "vcpu_period": 100000},
              "vm-c": {"vcpu_quota": 1500.0, "vcpu_period": 300000.0}},
              "results": ["0", "1", "1", "1", "0", "1", "1", "-1", "100000",
                          "'"'check_and_set_quota'"'", "'"'reset_quota_and_period'"'",
                          "[0, None, None]"]}'
run policy eval "$POL/00-defines.policy" "$POL/04-cputune.policy" \
    --snapshot "$SNAP/classic-10.3-cputune.json"
check "10.3 cputune, readable" \
    out_is "host:
guest vm-a: vcpu_quota=100000.0
guest vm-b: vcpu_quota=-1 vcpu_period=100000
guest vm-c: vcpu_quota=1500.0 vcpu_period=300000.0"

# I/O tune on fixture E: the maximum limits become the current ones
# (1000.7 truncated by the setter).
run policy eval "$POL/00-defines.policy" "$POL/05-iotune.policy" \
    --snapshot "$SNAP/classic-fixture-e.json" --json
check "iotune: the maximum limits after evaluation" \
    json_true 'j["ok"] and j["guests"]["vm2"] == {} and [(d["name"], d["path"], d["ioTune"]) for d in j["guests"]["vm1"]["io_tune"]] == [("vda", "/var/lib/images/vm1-vda.img", {"total_bytes_sec": 1000, "read_bytes_sec": 0, "write_bytes_sec": 0, "total_iops_sec": 0, "read_iops_sec": 0, "write_iops_sec": 0})]'

# The whole set loads, and check says so.
run policy check "$POL/00-defines.policy" "$TMP/params/01-parameters.policy" \
    "$POL/02-balloon.policy" "$POL/03-ksm.policy" "$POL/04-cputune.policy" "$POL/05-iotune.policy"
check "check of the vdsm-style set: exit 0" rc_is 0

# Failures of the classic dialect.
printf '(Host.Control "ksm_run" 1)\n(/ 1 0)\n' >"$TMP/divzero.policy"
run policy eval "$TMP/divzero.policy" --snapshot "$S101" --json --results
check "run-time error: exit 1" rc_is 1
check "run-time error: ok false, no controls, the error names file and line" \
    json_true 'sorted(j) == ["error", "ok"] and j["ok"] is False and "divzero.policy:2:" in j["error"]'
run policy eval "$TMP/divzero.policy" --snapshot "$S101"
check "run-time error, readable: an error line" grep -q '^error: .*divzero.policy:2:' "$TMP/out"
printf '(defvar big (* 1e308 10))\n(Host.Control "x" (- big big))\n' >"$TMP/nan.policy"
run policy eval "$TMP/nan.policy" --snapshot "$S101" --json
check "NaN result: exit 1, ok false" \
    json_true 'j["ok"] is False and "not a finite number" in j["error"]'
printf '(with Guests g (g.Control "balloon_target" (* 1e308 10)))\n' >"$TMP/inf.policy"
run policy eval "$TMP/inf.policy" --snapshot "$S101" --json
check "infinite guest control: exit 1, ok false naming the guest" \
    json_true 'j["ok"] is False and "balloon_target" in j["error"] and "vm-a" in j["error"]'
printf '(+ 1\n' >"$TMP/parse.policy"
run policy check "$TMP/parse.policy"
check "check of a policy with a parse error: exit 1 and FILE:LINE on stderr" \
    sh -c '[ '"$rc"' -eq 1 ] && grep -q "parse.policy:[0-9]*:[0-9]*: error: " "$1"' sh "$TMP/err"

echo "1..$n"
