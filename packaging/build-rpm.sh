#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# build-rpm.sh OUTDIR: makes tern-VERSION.tar.gz from this tree (without .git and build*/)
# and runs "rpmbuild -bb packaging/rpm/tern.spec" in a scratch _topdir, then copies the .rpm
# files to OUTDIR. When rpm's database is not the system's package database (Debian), the
# build dependencies cannot be checked by rpmbuild and --nodeps is passed.
set -eu

if [ $# -ne 1 ]; then
        echo "usage: $0 OUTDIR" >&2
        exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
version=$(sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$top/meson.build" | head -n 1)
work=$(mktemp -d "${TMPDIR:-/tmp}/tern-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/SOURCES" "$work/tern-$version"
tar -C "$top" --exclude=./.git --exclude='./build*' -cf - . | tar -C "$work/tern-$version" -xf -
tar -C "$work" -czf "$work/SOURCES/tern-$version.tar.gz" "tern-$version"

nodeps=
if command -v dpkg >/dev/null 2>&1 && ! rpm -q glibc >/dev/null 2>&1; then
        nodeps=--nodeps
fi
rpmbuild -bb $nodeps --define "_topdir $work" "$top/packaging/rpm/tern.spec" \
        > "$work/build.log" 2>&1 || {
        tail -n 60 "$work/build.log" >&2
        echo "build-rpm.sh: rpmbuild failed" >&2
        exit 1
}
find "$work/RPMS" -name '*.rpm' -exec cp {} "$out"/ \;
ls "$out"/*.rpm
