#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make check-vm: the end-to-end VM tests one after the other
# (tests/vm/e2e_libvirt.sh, then tests/vm/e2e_qmp.sh; docs/testing-vm.md),
# each one's TAP output as it comes and its duration, and at the end the
# closing line "check-vm: N passed, N failed, N skipped" over the checks of
# both (a skipped test counts one).  Exit status non-zero when a check
# failed or a test exited non-zero.
#   BUILD=build sh tests/vm/run.sh [TEST...]      TEST: e2e_libvirt, e2e_qmp
# A failed test runs once more (MOM_VM_RETRIES=0: never); the counts are
# those of its last attempt, and the output says that it was retried.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
export BUILD
[ $# -gt 0 ] || set -- e2e_libvirt e2e_qmp
passed=0
failed=0
skipped=0
status=0
tmp=$(mktemp "${TMPDIR:-/tmp}/mom-check-vm.XXXXXX")
trap 'rm -f "$tmp" "$tmp.rc"' EXIT
# Where each test keeps its artifacts.
artifacts() {
    case $1 in
    e2e_libvirt) echo "$BUILD/vm-test" ;;
    e2e_qmp) echo "$BUILD/vm-qmp-test" ;;
    esac
}

# Software-emulated guests on a shared machine are at the mercy of its
# load: a test that fails is run once more (MOM_VM_RETRIES, default 1),
# and says so; the failed attempt's artifacts are kept beside the new ones.
retries=${MOM_VM_RETRIES:-1}
for t in "$@"; do
    echo "# ---- $t"
    start=$(date +%s)
    attempt=1
    while :; do
        { sh "$here/$t.sh" </dev/null; echo $? >"$tmp.rc"; } | tee "$tmp"
        rc=$(cat "$tmp.rc")
        [ "$rc" != 0 ] && [ "$attempt" -le "$retries" ] || break
        a=$(artifacts "$t")
        kept=""
        if [ -n "$a" ] && [ -d "$a" ]; then
            rm -rf "$a.attempt$attempt"
            mv "$a" "$a.attempt$attempt" && kept="; artifacts in $a.attempt$attempt"
        fi
        echo "# $t: attempt $attempt failed (exit $rc$kept); running it again"
        attempt=$((attempt + 1))
    done
    [ "$attempt" -gt 1 ] && echo "# $t: needed $attempt attempts"
    p=$(grep -c '^ok ' "$tmp")
    f=$(grep -c '^not ok ' "$tmp")
    s=$(grep -c '^1\.\.0 # SKIP' "$tmp")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        # A test that died without saying which check failed.
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    [ "$rc" = 0 ] || status=1
    echo "# $t: exit $rc, $p passed, $f failed, $s skipped, $(($(date +%s) - start)) s"
done
echo "check-vm: $passed passed, $failed failed, $skipped skipped"
exit "$status"
