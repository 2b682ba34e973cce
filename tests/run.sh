#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run every test and print one summary line: "N passed, N failed".
#
# C unit tests (build/tests/test_*) are cmocka programs run with TAP output;
# each test case counts.  Fuzz corpus replays (build/fuzz/*-replay) count
# one per corpus file.  Integration tests (tests/integration/*.sh, *.py)
# count their TAP lines, or one test each when they print none.
#
# VALGRIND=1 runs the C programs under valgrind; integration tests, which
# start other programs (momd, python), are skipped in that mode and under
# SANITIZE (they use the build's own sanitized binaries otherwise).
BUILD=${BUILD:-build}
export BUILD
passed=0
failed=0
failures=""
LOG=$BUILD/test-logs
mkdir -p "$LOG"

count_tap() { # file name rc
    p=$(grep -c '^ok ' "$1" || true)
    f=$(grep -c '^not ok ' "$1" || true)
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        if [ "$3" -eq 0 ]; then p=1; else f=1; fi
    elif [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        failures="$failures $2"
        echo "FAIL: $2 (log: $1)"
        grep '^not ok ' "$1" | head -20
        tail -20 "$1"
    else
        echo "ok:   $2 ($p)"
    fi
}

# ThreadSanitizer: glibc internals it cannot see into.
TSAN_OPTIONS="suppressions=$(pwd)/tests/tsan.supp ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS
VG=""
if [ "${VALGRIND:-}" = 1 ]; then
    VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no"
fi

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out="$LOG/$name.log"
    CMOCKA_MESSAGE_OUTPUT=TAP MOM_TEST_SRCDIR=$(pwd) timeout 600 $VG "$t" >"$out" 2>&1
    count_tap "$out" "$name" $?
done

for r in "$BUILD"/fuzz/*-replay; do
    [ -x "$r" ] || continue
    name=$(basename "$r" -replay)
    corpus=fuzz/corpus/${name#fuzz_}
    out="$LOG/$name.log"
    timeout 600 $VG "$r" "$corpus" >"$out" 2>&1
    count_tap "$out" "$name" $?
done

if [ "${VALGRIND:-}" != 1 ]; then
    for t in tests/integration/*.sh tests/integration/test_*.py; do
        [ -f "$t" ] || continue
        name=$(basename "$t")
        out="$LOG/$name.log"
        case "$t" in
        *.py) timeout 900 python3 "$t" >"$out" 2>&1 ;;
        *) timeout 900 sh "$t" >"$out" 2>&1 ;;
        esac
        count_tap "$out" "$name" $?
    done
fi

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
