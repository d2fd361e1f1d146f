#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the dependencies, builds tern with AddressSanitizer and UBSan and warnings as errors,
# runs every test suite (unit, fuzz-corpus replay, integration), then builds the libFuzzer
# targets with clang and runs each for FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

bash dev/deps.sh --test

build=${BUILD_DIR:-build-test}
[ -d "$build" ] || meson setup "$build" -Dwerror=true -Db_sanitize=address,undefined
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2

fuzzbuild=${FUZZ_BUILD_DIR:-build-fuzz}
[ -d "$fuzzbuild" ] || CC=clang meson setup "$fuzzbuild" -Dfuzz=true -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false
ninja -C "$fuzzbuild"
seconds=${FUZZ_SECONDS:-60}
failed=0
pids=()
for exe in "$fuzzbuild"/tests/fuzz/fuzz_*; do
        [ -f "$exe" ] && [ -x "$exe" ] || continue
        name=$(basename "$exe"); name=${name#fuzz_}
        work=$(mktemp -d)
        cp -r "tests/fuzz/corpus/$name/." "$work/"
        (
                cd "$work"
                if "$OLDPWD/$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
                        -print_final_stats=0 "$work" >"$work.log" 2>&1; then
                        echo "fuzz_$name: ${seconds}s, no crash ($(grep -c . "$work.log") log lines)"
                else
                        echo "fuzz_$name: FAILED"; tail -40 "$work.log"; exit 1
                fi
        ) &
        pids+=($!)
        # two at a time: the machine has two cores
        if [ ${#pids[@]} -ge 2 ]; then
                wait "${pids[0]}" || failed=1
                pids=("${pids[@]:1}")
        fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ "$failed" -eq 0 ] || { echo "fuzzing found a failure"; exit 1; }
echo "all tests passed"
