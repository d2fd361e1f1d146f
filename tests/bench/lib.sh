# SPDX-License-Identifier: GPL-3.0-or-later
# lib.sh: shell functions shared by the benchmarks that run tern's services against Postfix's
# (smtpd_bench.sh, delivery_bench.sh): timing and rates, waiting for an SMTP greeting, a release
# build of tern's services, Debian's postfix package extracted (not installed) with an owner
# account and the main.cf lines that make the extracted tree run, and a line describing the host.
# Sourced, not run: defining the functions is all it does; some of them set variables for the
# script that sources it (hence SC2034 off). Not part of the test suite; see README.md.
# shellcheck shell=bash disable=SC2034

# Prints the wall clock in seconds with nanoseconds.
bench_now() { date +%s.%N; }

# bench_rate COUNT T0 T1: COUNT per second between T0 and T1, one decimal.
bench_rate() { echo "$1 / ($3 - $2)" | bc -l | awk '{ printf "%.1f", $1 }'; }

# bench_elapsed T0 T1: seconds from T0 to T1, three decimals.
bench_elapsed() { echo "$2 - $1" | bc -l | awk '{ printf "%.3f", $1 }'; }

# bench_cpu_busy: seconds of CPU time the whole machine has spent busy since boot (user, nice,
# system, irq and softirq of /proc/stat, every CPU; not idle, iowait or steal).
bench_cpu_busy() {
        awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8) / hz }' \
                /proc/stat
}

# bench_children_cpu: the CPU seconds (user + system) of the waited-for children, from the
# output of the shell's "times" on stdin (run "times" in the shell itself: a $(...) subshell
# counts only its own children).
bench_children_cpu() {
        awk 'NR == 2 {
                for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] }
                printf "%.2f\n", s }'
}

# bench_ms_per A N: A seconds / N, in milliseconds with two decimals.
bench_ms_per() { echo "1000 * $1 / $2" | bc -l | awk '{ printf "%.2f", $1 }'; }

# bench_ratio A B: A / B, two decimals.
bench_ratio() { echo "$1 / $2" | bc -l | awk '{ printf "%.2f", $1 }'; }

# bench_require NAME TOOL...: fails unless run as root and every TOOL is on the PATH.
bench_require() {
        local name=$1 tool
        shift
        if [ "$(id -u)" != 0 ]; then
                echo "$name: run as root (network namespace, Postfix's master)" >&2
                return 1
        fi
        for tool in "$@"; do
                command -v "$tool" >/dev/null || { echo "$name: $tool is missing" >&2; return 1; }
        done
}

# bench_wait_ready PORT: waits until something listens on 127.0.0.1:PORT and answers 220, then
# says QUIT, so that start-up (exec, first accept, process spawn) is not timed. Returns 1 after
# 10 s without a greeting.
bench_wait_ready() {
        local _ line
        for _ in $(seq 1 100); do
                if { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
                        if read -r -t 10 line <&3 && [[ $line == 220* ]]; then
                                printf 'QUIT\r\n' >&3
                                if ! timeout 10 cat <&3 >/dev/null; then
                                        echo "port $1: no end after QUIT" >&2
                                        exec 3<&-
                                        return 1
                                fi
                                exec 3<&-
                                return 0
                        fi
                        exec 3<&-
                fi
                sleep 0.1
        done
        echo "no SMTP server on port $1" >&2
        return 1
}

# bench_build_tern SRC BUILD LOG TARGET...: sets BUILD up as a release build without tests when
# it does not exist and builds the TARGETs (paths below BUILD) there, ninja's output in LOG.
# Prints the last lines of LOG and returns 1 when the build fails; warns when a target is built
# with ASan.
bench_build_tern() {
        local src=$1 build=$2 log=$3 t
        shift 3
        if [ ! -d "$build" ]; then
                meson setup "$build" "$src" --buildtype=release -Dtests=false >/dev/null
        fi
        if ! ninja -C "$build" "$@" >"$log" 2>&1; then
                tail -20 "$log" >&2
                echo "cannot build $* in $build" >&2
                return 1
        fi
        for t in "$@"; do
                if nm -D "$build/$t" 2>/dev/null | grep -q __asan_ ||
                                nm "$build/$t" 2>/dev/null | grep -q __asan_; then
                        echo "warning: $build/$t is built with ASan; figures will be slow" >&2
                fi
        done
}

# bench_postfix_extract DIR: extracts Debian's postfix package (POSTFIX_DEB, else fetched with
# "apt-get download" into DIR) into DIR/root; nothing is installed. Sets PF_VERSION.
bench_postfix_extract() {
        local dir=$1 deb
        mkdir -p "$dir/root"
        if [ -n "${POSTFIX_DEB:-}" ]; then
                deb=$POSTFIX_DEB
        else
                (cd "$dir" && apt-get download postfix >/dev/null 2>&1)
                deb=$(ls "$dir"/postfix_*.deb)
        fi
        dpkg -x "$deb" "$dir/root"
        PF_VERSION=$(dpkg-deb -f "$deb" Version)
}

# bench_postfix_owner: sets PF_OWNER (mail_owner: "postfix" when the host has that user and a
# "postdrop" group, else the first unprivileged account) and PF_GROUP (setgid_group: "postdrop",
# else a group other than the owner's, as Postfix refuses the same one).
bench_postfix_owner() {
        local owner_gid
        if getent passwd postfix >/dev/null && getent group postdrop >/dev/null; then
                PF_OWNER=postfix
                PF_GROUP=postdrop
        else
                PF_OWNER=$(getent passwd | awk -F: '$3 > 0 && $3 < 65534 { print $1; exit }')
                owner_gid=$(getent passwd "$PF_OWNER" | cut -d: -f4)
                PF_GROUP=$(getent group |
                           awk -F: -v g="$owner_gid" '$3 > 0 && $3 != g { print $1; exit }')
        fi
}

# bench_postfix_main_cf DIR: prints the main.cf lines that run the tree extracted into DIR/root
# with its queue in DIR/queue, its data directory DIR/data and its log in DIR/maillog (through
# postlogd): the paths point into the package and the daemons' environment keeps
# LD_LIBRARY_PATH, as the binaries look for libpostfix-*.so in /usr/lib/postfix. Needs PF_OWNER
# and PF_GROUP (bench_postfix_owner).
bench_postfix_main_cf() {
        local dir=$1 r=$1/root lib=$1/root/usr/lib/postfix
        cat <<EOF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
daemon_directory = $r/usr/lib/postfix/sbin
command_directory = $r/usr/sbin
meta_directory = $r/etc/postfix
shlib_directory = $lib
mail_owner = $PF_OWNER
setgid_group = $PF_GROUP
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$lib
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
EOF
}

# bench_host DIR: prints the CPU count, load average, kernel and the file system holding DIR.
bench_host() {
        echo "$(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $(uname -r);" \
                "$(findmnt -no FSTYPE -T "$1") at $1"
}

# Fresh file systems. ext4 without a journal (this project's test host has one for /) refuses to
# reuse an inode freed in the last 60 seconds (360 while its inode table block is dirty) and
# inspects every such inode of the group on each file creation, so a run that follows the removal
# of the previous run's queue pays for that removal: smtpd's CPU per message more than doubled in
# the second of two runs on one file system. Each run therefore gets a file system of its own,
# made like the one holding the work directory (ext4, with a journal or without), on a loop
# device backed by a file in the work directory.

# bench_fs_opts DIR: prints the mkfs.ext4 options matching the file system that holds DIR, or
# fails when that is not ext4.
bench_fs_opts() {
        local src dev
        [ "$(findmnt -no FSTYPE -T "$1")" = ext4 ] || return 1
        src=$(findmnt -no SOURCE -T "$1")
        dev=$(basename "$src")
        if compgen -G "/proc/fs/jbd2/$dev-*" >/dev/null; then
                echo ""
        else
                echo "-O ^has_journal"
        fi
}

# bench_fresh_fs IMG DIR OPTS: mounts a new ext4 made with OPTS (bench_fs_opts), backed by the
# sparse file IMG (FS_SIZE, default 4G), on DIR (created; whatever was mounted there is
# unmounted and its image replaced). The inode tables are written by mkfs, not in the background
# during the run. DIR ends up empty (no lost+found), mode 0755.
bench_fresh_fs() {
        local img=$1 dir=$2 opts=$3
        bench_fs_release "$dir" "$img"
        truncate -s "${FS_SIZE:-4G}" "$img"
        # shellcheck disable=SC2086
        mkfs.ext4 -q -F $opts -E lazy_itable_init=0,lazy_journal_init=0 "$img"
        mkdir -p "$dir"
        mount -o loop "$img" "$dir"
        rmdir "$dir/lost+found"
        chmod 0755 "$dir"
}

# bench_fs_release DIR IMG: unmounts DIR if something is mounted there and removes IMG.
bench_fs_release() {
        if mountpoint -q "$1"; then
                umount "$1"
        fi
        rm -f "$2"
}
