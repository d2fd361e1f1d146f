#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# build-deb.sh OUTDIR: builds the tern .deb from this source tree (its files as they are now,
# committed or not, without build directories) with dpkg-buildpackage and puts the .deb (and
# the .buildinfo/.changes) in OUTDIR. Needs the Build-Depends of packaging/debian/control.
set -eu

if [ $# -ne 1 ]; then
        echo "usage: $0 OUTDIR" >&2
        exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tern-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The tree without VCS data and build directories (build*/ at the top, as meson users name them).
mkdir "$work/tern"
tar -C "$top" --exclude=./.git --exclude='./build*' --exclude=./debian -cf - . |
        tar -C "$work/tern" -xf -
cp -r "$top/packaging/debian" "$work/tern/debian"

(cd "$work/tern" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 || {
        tail -n 60 "$work/build.log" >&2
        echo "build-deb.sh: dpkg-buildpackage failed" >&2
        exit 1
}
cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
ls "$out"/*.deb
