#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the build dependencies, builds tern, and runs it on its embedded default configuration
# (dev/etc/main.cf: loopback only, everything under ./run/). At this stage of the project the mail
# services are not built yet: it shows the effective configuration the services will run with.
set -euo pipefail
cd "$(dirname "$0")/.."

bash dev/deps.sh

build=${BUILD_DIR:-build}
[ -d "$build" ] || meson setup "$build"
ninja -C "$build"

export TERN_CONFIG="$PWD/dev/etc"
echo "== tern: main.cf settings that differ from Postfix's defaults ($TERN_CONFIG/main.cf)"
"$build/tools/ternctl/ternctl" config -n
echo
echo "== the same, expanded"
"$build/tools/ternctl/ternctl" config -x -n
echo
echo "== checking the configuration"
"$build/tools/ternctl/ternctl" config --check && echo "configuration OK"
