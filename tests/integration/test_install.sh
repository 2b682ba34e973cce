#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make install` into a staging directory, then build and run a program
# against the installed library with pkg-config, as a packager would.
BUILD=${BUILD:-build}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
make -s install DESTDIR="$dest" PREFIX=/usr ${SANITIZE:+SANITIZE=$SANITIZE} >"$dest/log" 2>&1
check "make install succeeds" "[ \$? -eq 0 ]"
check "momd is installed" "[ -x '$dest/usr/sbin/momd' ]"
check "momctl is installed" "[ -x '$dest/usr/bin/momctl' ]"
check "the shared library carries its soname" \
    "objdump -p '$dest/usr/lib/libmom.so.0.1.0' | grep -q 'SONAME *libmom.so.0'"
check "only mom_* symbols are exported" \
    "! nm -D --defined-only '$dest/usr/lib/libmom.so.0.1.0' | awk '{print \$3}' | grep -v '^mom_' | grep -qv '^LIBMOM_0'"
check "the man pages are installed" \
    "[ -f '$dest/usr/share/man/man8/momd.8' ] && [ -f '$dest/usr/share/man/man5/mom.conf.5' ]"
check "the systemd unit names the installed momd" \
    "grep -q 'ExecStart=/usr/sbin/momd' '$dest/usr/lib/systemd/system/momd.service'"
check "a sample /etc/momd.conf is installed" "[ -f '$dest/etc/momd.conf' ]"
check "the libvirt backend module is installed" "[ -f '$dest/usr/lib/mom/libmom-libvirt.so' ]"
check "libmom itself does not link libvirt (only the module does)" \
    "! ldd '$dest/usr/lib/libmom.so.0.1.0' | grep -q libvirt && ldd '$dest/usr/lib/mom/libmom-libvirt.so' | grep -q libvirt"

cat > "$dest/prog.c" <<'C'
#include <mom/mom.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    mom_config cfg;
    mom_config_init(&cfg);
    printf("%s\n", mom_version());
    return cfg.size == sizeof(cfg) && strcmp(mom_version(), MOM_VERSION_STRING) == 0 ? 0 : 1;
}
C
export PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$dest/usr/lib/pkgconfig"
flags=$(pkg-config --cflags --libs mom 2>/dev/null)
check "pkg-config knows libmom" "[ -n \"\$flags\" ]"
cc -o "$dest/prog" "$dest/prog.c" $flags ${SANITIZE:+-fsanitize=$SANITIZE} >"$dest/cc.log" 2>&1
check "a program builds against the installed headers and library" "[ \$? -eq 0 ]"
LD_LIBRARY_PATH="$dest/usr/lib" "$dest/prog" >"$dest/out" 2>&1
check "and runs, linked to the shared library" "[ \$? -eq 0 ] && grep -q '^0\\.' '$dest/out'"
echo "1..$n"
