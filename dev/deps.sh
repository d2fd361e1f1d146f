#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs what building and testing tern needs, from Debian 12's packages. Run as root.
set -euo pipefail

build_deps=(meson ninja-build pkg-config gcc libc6-dev
            libsystemd-dev libssl-dev libgdbm-dev libidn2-dev libcurl4-openssl-dev
            libc-ares-dev libpcre2-dev check systemd)
test_deps=(clang libclang-rt-14-dev python3 swaks dovecot-imapd openssl iproute2
           systemd-container debootstrap dnsmasq-base debhelper lintian rpm)

want=("${build_deps[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_deps[@]}")

missing=()
for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get update
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
