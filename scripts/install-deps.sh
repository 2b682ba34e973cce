#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install the Debian packages that building and testing MOM needs.
#   scripts/install-deps.sh                 install what is missing
#   scripts/install-deps.sh --check-or-install
#                                           same, but when not root print the
#                                           command to run and fail
#   scripts/install-deps.sh --list          print the package list
set -e

PKGS="gcc make pkg-config libc6-dev libjansson-dev libsystemd-dev libxml2-dev libmicrohttpd-dev libvirt-dev libcmocka-dev python3 python3-venv"
# Sanitizer and valgrind modes need their tools too.
case "${SANITIZE:-}" in ?*) PKGS="$PKGS libclang-rt-14-dev" ;; esac
[ "${VALGRIND:-}" = 1 ] && PKGS="$PKGS valgrind"

if [ "$1" = "--list" ]; then
    echo $PKGS
    exit 0
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "MOM needs these Debian packages:$missing" >&2
    echo "Run as root:  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "Installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
