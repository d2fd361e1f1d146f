#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# map_bench.sh: times "ternctl map build" of a 1,000,000-line table source and 1,000,000 random
# lookups in the built hash: table, through the library (bench_dict.c) and through
# "ternctl map query -", then the same with Postfix's postmap (Debian's package, extracted, not
# installed), and prints both and the ratios. Not part of the test suite; see README.md.
#
# Usage: tests/bench/map_bench.sh [BUILD_DIR]
#   BUILD_DIR  a build without sanitizers (default: build-bench, set up as a release build of
#              ternctl and libshared when missing)
# Environment: N (lines and lookups, default 1000000), MISS_PERCENT (lookups of absent keys,
#              default 10), POSTFIX_DEB (a postfix_*.deb to use instead of "apt-get download").
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build-bench}
N=${N:-1000000}
MISS_PERCENT=${MISS_PERCENT:-10}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/map_bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | awk '{ printf "%.3f", $1 }'; }
ratio() { echo "$1 / $2" | bc -l | awk '{ printf "%.2f", $1 }'; }

# --- tern build ------------------------------------------------------------------------------
if [ ! -d "$BUILD" ]; then
        meson setup "$BUILD" "$SRC" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$BUILD" tools/ternctl/ternctl libshared/libshared.a >/dev/null
TERNCTL=$BUILD/tools/ternctl/ternctl
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$SRC/libshared" -I"$BUILD" \
        -o "$WORK/bench_dict" "$SRC/tests/bench/bench_dict.c" \
        "$BUILD/libshared/libshared.a" \
        $(pkg-config --libs libsystemd libidn2 libpcre2-8) -lgdbm -pthread
if nm "$BUILD/libshared/libshared.a" 2>/dev/null | grep -q __asan_; then
        echo "warning: $BUILD is built with ASan; figures will be slow" >&2
fi

# --- Postfix, extracted --------------------------------------------------------------------------
PFX=$WORK/postfix
mkdir -p "$PFX/root" "$PFX/cf"
if [ -n "${POSTFIX_DEB:-}" ]; then
        DEB=$POSTFIX_DEB
else
        (cd "$PFX" && apt-get download postfix >/dev/null 2>&1)
        DEB=$(ls "$PFX"/postfix_*.deb)
fi
dpkg -x "$DEB" "$PFX/root"
POSTMAP=$PFX/root/usr/sbin/postmap
export LD_LIBRARY_PATH=$PFX/root/usr/lib/postfix
PFX_VERSION=$(dpkg-deb -f "$DEB" Version)
# An empty main.cf, unless this host has no "postfix" user: then postmap's start-up checks need
# an unprivileged mail_owner and a set-gid group with another group ID.
: > "$PFX/cf/main.cf"
if ! getent passwd postfix >/dev/null; then
        owner=$(getent passwd | awk -F: '$3 > 0 && $3 < 65534 { print $1; exit }')
        owner_gid=$(getent passwd "$owner" | cut -d: -f4)
        group=$(getent group | awk -F: -v g="$owner_gid" '$3 > 0 && $3 != g { print $1; exit }')
        printf 'mail_owner = %s\nsetgid_group = %s\n' "$owner" "$group" > "$PFX/cf/main.cf"
fi

# --- data ------------------------------------------------------------------------------------
# N distinct keys (611953 is prime to 10^6, so the user part is a permutation), random domains.
awk -v n="$N" 'BEGIN { srand(42); for (i = 0; i < n; i++)
        printf "user%06d@domain%03d.example  OK\n",
               (i * 611953) % 1000000 + int(i / 1000000) * 1000000, int(rand() * 1000) }' \
        > "$WORK/source"
awk -v n="$N" -v miss="$MISS_PERCENT" 'BEGIN { srand(7) } { key[NR] = $1 }
        END { for (i = 0; i < n; i++) {
                if (rand() * 100 < miss) printf "nobody%07d@nowhere.example\n", i
                else print key[int(rand() * NR) + 1] } }' "$WORK/source" > "$WORK/keys"
mkdir -p "$WORK/tern" "$WORK/pf"
cp "$WORK/source" "$WORK/tern/table"
cp "$WORK/source" "$WORK/pf/table"

echo "map_bench: $N lines, $N lookups ($MISS_PERCENT% misses); $(nproc) CPUs; $(uname -r)"
echo "tern: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?'); postfix: $PFX_VERSION"

# --- tern ------------------------------------------------------------------------------------
t0=$(now)
"$TERNCTL" -c "$WORK/tern" map build "hash:$WORK/tern/table"
t1=$(now)
tern_build=$(elapsed "$t0" "$t1")

out=$("$WORK/bench_dict" "hash:$WORK/tern/table" "$WORK/keys")
tern_lib=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
tern_hits=$(echo "$out" | sed -n 's/.*hits=\([0-9]*\).*/\1/p')

t0=$(now)
tern_q_hits=$("$TERNCTL" -c "$WORK/tern" map query - "hash:$WORK/tern/table" \
        < "$WORK/keys" | wc -l)
t1=$(now)
tern_query=$(elapsed "$t0" "$t1")

# --- Postfix ---------------------------------------------------------------------------------
t0=$(now)
"$POSTMAP" -c "$PFX/cf" "hash:$WORK/pf/table"
t1=$(now)
pf_build=$(elapsed "$t0" "$t1")

t0=$(now)
pf_hits=$("$POSTMAP" -c "$PFX/cf" -q - "hash:$WORK/pf/table" < "$WORK/keys" | wc -l)
t1=$(now)
pf_query=$(elapsed "$t0" "$t1")

# --- report ----------------------------------------------------------------------------------
if [ "$tern_hits" != "$pf_hits" ] || [ "$tern_q_hits" != "$pf_hits" ]; then
        echo "MISMATCH: hits tern library $tern_hits, ternctl query $tern_q_hits," \
             "postmap $pf_hits" >&2
        exit 1
fi
printf '%-40s %10s %10s %8s\n' "" "tern (s)" "postfix (s)" "ratio"
printf '%-40s %10s %10s %8s\n' "build $N entries" "$tern_build" "$pf_build" \
        "$(ratio "$tern_build" "$pf_build")"
printf '%-40s %10s %10s %8s\n' "$N lookups, query - (process)" "$tern_query" "$pf_query" \
        "$(ratio "$tern_query" "$pf_query")"
printf '%-40s %10s %10s %8s\n' "$N lookups, library (bench_dict)" "$tern_lib" "-" "-"
printf 'hits: %s of %s; database sizes: tern %s, postfix %s\n' "$pf_hits" "$N" \
        "$(du -h "$WORK/tern/table.db" | cut -f1)" "$(du -h "$WORK/pf/table.db" | cut -f1)"
echo "ratio = tern / postfix: below 1 tern is faster"
