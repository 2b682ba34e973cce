#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Process-level tests of momd: command line, configuration checks, start-up
# failures, logging (file, rotation), --trace, signals and -d.  TAP output.
#   BUILD=build sh tests/integration/test_momd.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
MOMD=$BUILD/momd

n=0
fails=0
pids=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_momd.XXXXXX")

# Kill what is left of the momd processes this test started (and only
# those: a pid that now belongs to another program is left alone).
cleanup() {
    exe=$(readlink -f "$MOMD" 2>/dev/null)
    for p in $pids; do
        [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1))
    fails=$((fails + 1))
    echo "not ok $n - $1"
}
# check DESCRIPTION COMMAND...: one test, passing when COMMAND succeeds.
check() {
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# Show a file's content as TAP diagnostics.
diag() {
    [ -f "$1" ] && sed -e 's/^/# /' "$1" | head -n "${2:-20}"
}

# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
    limit=$(($1 * 5))
    shift
    i=0
    while [ "$i" -lt "$limit" ]; do
        "$@" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

alive() { kill -0 "$1" 2>/dev/null; }
sig() { kill "-$1" "$2" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
has() { grep -q -E -e "$2" "$1" 2>/dev/null; }

# stop PID: SIGTERM, wait at most 5 s, and set $stop_status to the exit
# status (or 255 when it did not stop in time: then it is killed).
stop() {
    kill -TERM "$1" 2>/dev/null
    if wait_for 5 dead "$1"; then
        stop_status=0
        wait "$1" || stop_status=$?
    else
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        stop_status=255
    fi
}

if [ ! -x "$MOMD" ]; then
    echo "1..1"
    echo "not ok 1 - $MOMD is built"
    exit 1
fi

# A simulator configuration with 1 s intervals.
simconf() { # FILE [extra lines for [logging]]
    cat >"$1" <<EOF
[main]
hypervisor-interface: sim
host-monitor-interval: 1
guest-monitor-interval: 1
guest-manager-interval: 1
policy-engine-interval: 1
controllers: Balloon, KSM

[logging]
log: stdio
verbosity: info
${2:-}

[host]
collectors: HostMemory, HostKSM, HostPressure

[guest]
collectors: GuestMemory, GuestBalloon
EOF
}

# ---- command line ---------------------------------------------------------

"$MOMD" --help >"$tmp/out" 2>&1
st=$?
check "--help exits 0" [ "$st" -eq 0 ]
check "--help lists every option" sh -c '
    for o in --config-file --rules-file --policy-dir --plot-dir --log --verbose \
             --daemon --pid-file --check-config --check-policy --trace --version; do
        grep -q -e "$o" "$1" || exit 1
    done' sh "$tmp/out"

"$MOMD" --version >"$tmp/out" 2>&1
st=$?
check "--version exits 0 and prints the version" \
    sh -c '[ "$1" -eq 0 ] && grep -q "0\.[0-9]*\.[0-9]*" "$2"' sh "$st" "$tmp/out"

"$MOMD" --no-such-option >"$tmp/out" 2>"$tmp/err"
st=$?
check "an unknown option exits 2" [ "$st" -eq 2 ]
check "an unknown option prints the usage on stderr" \
    sh -c 'grep -q "no-such-option" "$1" && grep -q "^Usage: momd" "$1" && [ ! -s "$2" ]' \
    sh "$tmp/err" "$tmp/out"

"$MOMD" -c >/dev/null 2>"$tmp/err"
st=$?
check "an option without its argument exits 2" [ "$st" -eq 2 ]

"$MOMD" extra-arg >/dev/null 2>&1
st=$?
check "a stray argument exits 2" [ "$st" -eq 2 ]

# ---- configuration checks -------------------------------------------------

"$MOMD" --check-config -c "$top/conf/demo.conf" >"$tmp/out" 2>&1
st=$?
check "--check-config accepts conf/demo.conf" [ "$st" -eq 0 ]
[ "$st" -eq 0 ] || diag "$tmp/out"

# The shipped file names libvirt, which arrives in a later release: check
# everything else with the simulator in its place.
sed -e "s|@DATADIR@|$tmp/share|g" -e 's|^hypervisor-interface: libvirt$|hypervisor-interface: sim|' \
    "$top/conf/momd.conf" >"$tmp/momd.conf"
"$MOMD" --check-config -c "$tmp/momd.conf" >"$tmp/out" 2>&1
st=$?
check "--check-config accepts the shipped momd.conf (with sim for libvirt)" [ "$st" -eq 0 ]
[ "$st" -eq 0 ] || diag "$tmp/out"

check "momd.conf still has the @DATADIR@ placeholder for make install" \
    grep -q '^policy-dir: @DATADIR@/mom/policies$' "$top/conf/momd.conf"

# bad_config NAME LINE KEY TEXT: --check-config must fail and name FILE:LINE: KEY.
bad_config() {
    f=$tmp/bad-$(printf '%s' "$1" | tr ' ' -).conf
    printf '%s\n' "$4" >"$f"
    "$MOMD" --check-config -c "$f" >"$tmp/out" 2>&1
    st=$?
    if [ "$st" -ne 0 ] && grep -q -F "$f:$2: $3: " "$tmp/out"; then
        ok "--check-config rejects $1 with FILE:LINE: KEY: reason"
    else
        not_ok "--check-config rejects $1 with FILE:LINE: KEY: reason (status $st)"
        diag "$tmp/out"
    fi
}
bad_config "an unknown key" 3 "no-such-key" "[main]
hypervisor-interface: sim
no-such-key: 1"
bad_config "a bad interval" 4 "host-monitor-interval" "[main]
hypervisor-interface: sim

host-monitor-interval: soon"
bad_config "a zero interval" 2 "policy-engine-interval" "[main]
policy-engine-interval: 0"
bad_config "policy and policy-dir both set" 4 "policy-dir" "[main]
hypervisor-interface: sim
policy: /tmp/x.policy
policy-dir: /tmp"

# -r and -P replace both keys (REFERENCE.md §0).
printf '[main]\nhypervisor-interface: sim\npolicy-dir: %s\n' "$tmp" >"$tmp/pdir.conf"
"$MOMD" --check-config -c "$tmp/pdir.conf" -r "$tmp/x.policy" >"$tmp/out" 2>&1
st=$?
check "-r replaces a policy-dir set in the file" [ "$st" -eq 0 ]
[ "$st" -eq 0 ] || diag "$tmp/out"
printf '[main]\nhypervisor-interface: sim\npolicy: %s/x.policy\n' "$tmp" >"$tmp/pfile.conf"
"$MOMD" --check-config -c "$tmp/pfile.conf" -P "$tmp" >"$tmp/out" 2>&1
st=$?
check "-P replaces a policy set in the file" [ "$st" -eq 0 ]
"$MOMD" --check-config -c "$top/conf/demo.conf" -r "$tmp/x.policy" -P "$tmp" >"$tmp/out" 2>&1
st=$?
check "-r and -P together are rejected" \
    sh -c '[ "$1" -ne 0 ] && grep -q "policy" "$2"' sh "$st" "$tmp/out"

"$MOMD" --check-config -c "$tmp/does-not-exist.conf" >"$tmp/out" 2>&1
st=$?
check "--check-config on a missing file fails and names it" \
    sh -c '[ "$1" -ne 0 ] && grep -q -F "does-not-exist.conf" "$2"' sh "$st" "$tmp/out"

"$MOMD" -c "$tmp/does-not-exist.conf" >"$tmp/out" 2>&1 &
p=$!
pids="$pids $p"
if wait_for 5 dead "$p"; then
    st=0
    wait "$p" || st=$?
    check "momd with a missing config file exits non-zero and names it" \
        sh -c '[ "$1" -ne 0 ] && grep -q -F "does-not-exist.conf" "$2"' sh "$st" "$tmp/out"
else
    stop "$p"
    not_ok "momd with a missing config file exits non-zero and names it (still running)"
fi

"$MOMD" -c "$tmp/bad-an-unknown-key.conf" >"$tmp/out" 2>&1 &
p=$!
pids="$pids $p"
if wait_for 5 dead "$p"; then
    st=0
    wait "$p" || st=$?
    check "momd refuses to start on a bad configuration and says why" \
        sh -c '[ "$1" -ne 0 ] && grep -q -F "no-such-key" "$2"' sh "$st" "$tmp/out"
else
    stop "$p"
    not_ok "momd refuses to start on a bad configuration and says why (still running)"
fi

simconf "$tmp/sim.conf"
"$MOMD" --check-policy -c "$tmp/sim.conf" >"$tmp/out" 2>&1
st=$?
check "--check-policy with no policy configured exits 0" [ "$st" -eq 0 ]
[ "$st" -eq 0 ] || diag "$tmp/out"
"$MOMD" --check-policy -c "$tmp/sim.conf" -r "$tmp/no-such.policy" >"$tmp/out" 2>&1
st=$?
check "--check-policy with a missing policy file exits non-zero" [ "$st" -ne 0 ]

"$MOMD" -c "$tmp/sim.conf" -r "$tmp/no-such.policy" -l "$tmp/never.log" >"$tmp/out" 2>&1 &
p=$!
pids="$pids $p"
if wait_for 10 dead "$p"; then
    st=0
    wait "$p" || st=$?
    check "momd refuses to start when the policy does not load, on stderr" \
        sh -c '[ "$1" -ne 0 ] && grep -q -F "no-such.policy" "$2"' sh "$st" "$tmp/out"
else
    stop "$p"
    not_ok "momd refuses to start when the policy does not load (still running)"
fi

# ---- a running daemon: file log, --trace, SIGHUP, SIGTERM ------------------

log=$tmp/momd.log
mkdir "$tmp/pol"
"$MOMD" --trace -c "$tmp/sim.conf" -P "$tmp/pol" -l "$log" >"$tmp/trace" 2>"$tmp/err" &
p=$!
pids="$pids $p"
# A data line: time, then a guest name (not the header, not "(no guests)").
trace_re='^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]  [^( ]'
wait_for 15 has "$tmp/trace" "$trace_re"
check "momd runs on the simulator" alive "$p"
check "-l FILE logs to that file" \
    wait_for 5 has "$log" ' - momd - INFO - momd [0-9.]+ started'
check "log lines read 'time - logger - LEVEL - message'" \
    sh -c '! grep -v -E "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{3} - [^ ]+ - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - " "$1" && [ -s "$1" ]' \
    sh "$log"
check "with a log file nothing is logged on stderr" sh -c '[ ! -s "$1" ]' sh "$tmp/err"
check "--trace prints a header naming the columns" \
    sh -c 'head -n 1 "$1" | grep -q "guest.*balloon.*target.*guest-free.*host-free"' sh "$tmp/trace"
check "--trace prints one line per guest per cycle" has "$tmp/trace" "$trace_re"
# Each data line: time, guest, balloon MiB, target (MiB or -), guest free,
# host free, free%, psi10, ksm.
check "--trace lines carry balloon, target, guest and host memory columns" \
    has "$tmp/trace" "$trace_re[^ ]* +[0-9]+ +([0-9]+|-) +([0-9]+|-) +[0-9]+ +[0-9.]+% +([0-9.]+|-) +[-0-9>]+$"
[ -s "$tmp/trace" ] || diag "$tmp/err"
diag "$tmp/trace" 6

sig HUP "$p"
check "SIGHUP is logged as a reload" wait_for 5 has "$log" 'SIGHUP.*reload'
check "SIGHUP makes the engine reload the policy directory" \
    wait_for 5 has "$log" ' - mom.PolicyEngine - INFO - policy files reloaded'
check "momd keeps running after SIGHUP" alive "$p"
# A policy file that does not load: the reload fails, the daemon carries on.
echo 'this is ( not a policy' >"$tmp/pol/50_bad.policy"
sig HUP "$p"
check "a reload with a broken policy is logged as failed" \
    wait_for 5 has "$log" ' - ERROR - reloading the policy files failed'
check "momd keeps running after a failed reload" alive "$p"
stop "$p"
check "SIGTERM stops momd with status 0 within 5 s" [ "$stop_status" -eq 0 ]
check "the stop is logged" has "$log" 'received SIGTERM'

# SIGINT stops it too; -v 3 (warn) keeps info lines out of the log.
"$MOMD" -c "$tmp/sim.conf" -l "$tmp/int.log" -v 3 >/dev/null 2>&1 &
p=$!
pids="$pids $p"
sleep 2
check "-v 3 logs no info or debug lines" \
    sh -c '[ -f "$1" ] && ! grep -q -E " - (INFO|DEBUG) - " "$1"' sh "$tmp/int.log"
sig INT "$p"
if wait_for 5 dead "$p"; then
    st=0
    wait "$p" || st=$?
    check "SIGINT stops momd with status 0" [ "$st" -eq 0 ]
else
    stop "$p"
    not_ok "SIGINT stops momd with status 0 (still running)"
fi

# ---- systemd readiness ----------------------------------------------------

# A stand-in for the service manager: a datagram socket in NOTIFY_SOCKET
# that must see READY=1 after start and STOPPING=1 after SIGTERM.
if command -v python3 >/dev/null 2>&1; then
    python3 - "$MOMD" "$tmp/sim.conf" "$tmp/notify.sock" "$tmp/notify.log" >"$tmp/notify.out" 2>&1 <<'PY'
import os, signal, socket, subprocess, sys
momd, conf, path, log = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(10)
env = dict(os.environ, NOTIFY_SOCKET=path)
p = subprocess.Popen([momd, "-c", conf, "-l", log], env=env)
seen = []
try:
    while not any("READY=1" in m for m in seen):
        seen.append(s.recv(4096).decode())
    print("ready")
    p.send_signal(signal.SIGTERM)
    while not any("STOPPING=1" in m for m in seen):
        seen.append(s.recv(4096).decode())
    print("stopping")
    print("status", p.wait(10))
except Exception as e:
    print("error", e, seen)
    p.kill()
    p.wait()
PY
    check "momd sends READY=1 to NOTIFY_SOCKET" grep -q '^ready$' "$tmp/notify.out"
    check "momd sends STOPPING=1 on SIGTERM and exits 0" \
        sh -c 'grep -q "^stopping$" "$1" && grep -q "^status 0$" "$1"' sh "$tmp/notify.out"
    grep -q '^status 0$' "$tmp/notify.out" || diag "$tmp/notify.out"
fi

# ---- rotation -------------------------------------------------------------

simconf "$tmp/rot.conf" "max-bytes: 600
backup-count: 2"
rlog=$tmp/rot.log
"$MOMD" -c "$tmp/rot.conf" -l "$rlog" -v debug >/dev/null 2>"$tmp/err" &
p=$!
pids="$pids $p"
wait_for 10 test -f "$rlog.2"
# A few more lines so that the oldest backup is dropped at least once.
for i in 1 2 3 4 5 6; do sig HUP "$p"; sleep 0.1; done
sleep 1
stop "$p"
check "a tiny max-bytes rotates the log to FILE.1 and FILE.2" test -f "$rlog.1" -a -f "$rlog.2"
check "backup-count 2 keeps no FILE.3" test ! -e "$rlog.3"
check "every rotated file stays under max-bytes" sh -c '
    for f in "$1" "$1.1" "$1.2"; do
        [ -f "$f" ] || continue
        s=$(wc -c <"$f"); l=$(wc -l <"$f")
        [ "$s" -lt 600 ] || [ "$l" -le 1 ] || exit 1
    done' sh "$rlog"
check "rotation keeps the newest lines in FILE" has "$rlog" 'momd stopped'
check "the rotated daemon stopped with status 0" [ "$stop_status" -eq 0 ]

# max-bytes 0 never rotates.
simconf "$tmp/norot.conf" "max-bytes: 0
backup-count: 2"
"$MOMD" -c "$tmp/norot.conf" -l "$tmp/norot.log" -v debug >/dev/null 2>&1 &
p=$!
pids="$pids $p"
wait_for 5 has "$tmp/norot.log" 'started'
for i in 1 2 3; do sig HUP "$p"; sleep 0.1; done
stop "$p"
check "-v debug logs debug lines" has "$tmp/norot.log" ' - DEBUG - '
check "max-bytes 0 never rotates" test -s "$tmp/norot.log" -a ! -e "$tmp/norot.log.1"

# ---- -d -------------------------------------------------------------------

pidf=$tmp/momd.pid
"$MOMD" -d --pid-file "$pidf" -c "$tmp/sim.conf" -l "$tmp/daemon.log" >"$tmp/out" 2>&1
st=$?
check "momd -d returns 0 once the daemon runs" [ "$st" -eq 0 ]
dpid=$(cat "$pidf" 2>/dev/null)
check "momd -d writes the pid file" sh -c '[ -n "$1" ] && kill -0 "$1"' sh "${dpid:-}"
if [ -n "$dpid" ]; then
    pids="$pids $dpid"
    check "the daemon logs to its file" wait_for 5 has "$tmp/daemon.log" 'started'
    check "the daemon's working directory is /" \
        sh -c '[ "$(readlink "/proc/$1/cwd")" = / ]' sh "$dpid"
    sig TERM "$dpid"
    check "SIGTERM stops the daemon" wait_for 5 dead "$dpid"
    check "the pid file is removed at exit" wait_for 2 test ! -e "$pidf"
else
    diag "$tmp/out"
    not_ok "the daemon logs to its file"
    not_ok "the daemon's working directory is /"
    not_ok "SIGTERM stops the daemon"
    not_ok "the pid file is removed at exit"
fi

# A daemon that cannot start reports it through the parent's status.
"$MOMD" -d --pid-file "$tmp/bad.pid" -c "$tmp/bad-an-unknown-key.conf" >"$tmp/out" 2>&1
st=$?
check "momd -d with a bad configuration exits non-zero and says why" \
    sh -c '[ "$1" -ne 0 ] && grep -q -F "no-such-key" "$2" && [ ! -e "$3" ]' \
    sh "$st" "$tmp/out" "$tmp/bad.pid"

echo "1..$n"
[ "$fails" -eq 0 ]
