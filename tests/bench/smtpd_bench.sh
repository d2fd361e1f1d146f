#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# smtpd_bench.sh: the smtpd acceptance benchmark. Postfix's smtp-source (Debian's postfix
# package, extracted, not installed) sends MESSAGES messages of SIZE bytes over 1 and 50 parallel
# sessions to tern's smtpd and to a Postfix configured the same way, both keeping every message
# in their incoming queue with their own fsyncs and nothing delivering it; it prints messages per
# second for both and the ratio. Then idle_sessions.py holds IDLE sessions open on a fresh tern
# smtpd and reports its resident memory per idle session. Everything runs as root inside a
# network namespace of its own that has only loopback, so no DNS query leaves the machine. Not
# part of the test suite; see README.md.
#
# Usage: tests/bench/smtpd_bench.sh [BUILD_DIR]
#   BUILD_DIR  a build without sanitizers (default: build-bench, set up as a release build when
#              missing)
# Environment: MESSAGES (per run, default 20000), SIZE (payload bytes, default 4096), SESSIONS
#              (default "1 50"), IDLE (idle sessions, default 1000; 0 skips), POSTFIX_DEB (a
#              postfix_*.deb to use instead of "apt-get download"), TERN=0 (Postfix half only),
#              POSTFIX=0 (tern half only), KEEP=1 (keep the work directory and print its name),
#              SOURCE_OPTS (more smtp-source options, e.g. "-d": all messages of a session over
#              one connection), FRESH_FS=0 (all runs in the work directory's file system instead
#              of a fresh ext4 per run, see lib.sh), FS_SIZE (of those, default 4G).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$SRC/tests/bench/lib.sh"

# --- inside the network namespace ------------------------------------------------------------
# The outer half (below) builds and fetches, then re-runs this script under "unshare -n" with
# BENCH_INNER=1 and everything it prepared in the environment.
if [ "${BENCH_INNER:-}" = 1 ]; then
        TERN_PORT=10025
        PF_PORT=10026
        SENDER=bench@bench.example
        RCPT=root@bench.example
        PF=$WORK/postfix
        TQ=$WORK/tern/queue
        PQ=$PF/queue
        PF_ROOT=$PF/root
        export LD_LIBRARY_PATH=$PF_ROOT/usr/lib/postfix
        SMTP_SOURCE=$PF_ROOT/usr/sbin/smtp-source
        POSTFIX_CMD=$PF_ROOT/usr/sbin/postfix
        tern_pid=
        drain_pid=

        count_files() { find "$1" -type f | wc -l; }

        tern_stop() {
                local _
                if [ -n "$tern_pid" ]; then
                        kill "$tern_pid" 2>/dev/null || true
                        for _ in $(seq 1 100); do
                                kill -0 "$tern_pid" 2>/dev/null || break
                                sleep 0.1
                        done
                        if kill -0 "$tern_pid" 2>/dev/null; then
                                echo "tern's smtpd ignores SIGTERM; killing it" >&2
                                kill -KILL "$tern_pid" 2>/dev/null || true
                        fi
                        wait "$tern_pid" 2>/dev/null || true
                        tern_pid=
                fi
        }
        pf_stop() {
                "$POSTFIX_CMD" -c "$PF/cf" stop >/dev/null 2>&1 || true
                if [ -n "$drain_pid" ]; then
                        kill "$drain_pid" 2>/dev/null || true
                        wait "$drain_pid" 2>/dev/null || true
                        drain_pid=
                fi
        }
        trap 'tern_stop; pf_stop; bench_fs_release "$TQ" "$WORK/tern.img";
              bench_fs_release "$PQ" "$WORK/postfix.img"' EXIT

        ip link set lo up
        ulimit -n $((IDLE + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

        # One smtp-source run: prints "seconds" for $2 sessions against port $1.
        run_source() {
                local t0 t1
                t0=$(bench_now)
                # shellcheck disable=SC2086
                "$SMTP_SOURCE" $SOURCE_OPTS -s "$2" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" \
                        -t "$RCPT" "127.0.0.1:$1" >&2
                t1=$(bench_now)
                echo "$t0 $t1"
        }

        # --- tern ----------------------------------------------------------------------------
        # fresh_queue DIR IMG: an empty queue directory DIR, on a new file system when FRESH_FS.
        fresh_queue() {
                if [ "$FRESH_FS" = 1 ]; then
                        bench_fresh_fs "$2" "$1" "$FS_OPTS"
                else
                        rm -rf "$1"
                        mkdir "$1"
                fi
        }
        tern_start() {
                fresh_queue "$TQ" "$WORK/tern.img"
                systemd-socket-activate -l "127.0.0.1:$TERN_PORT" \
                        "$SMTPD" -c "$WORK/tern" 2>>"$WORK/tern/smtpd.log" &
                tern_pid=$!
                bench_wait_ready "$TERN_PORT"
        }
        declare -A tern_rate pf_rate
        if [ "$TERN" = 1 ]; then
                for s in $SESSIONS; do
                        tern_start
                        run_source "$TERN_PORT" "$s" > "$WORK/times"
                        read -r t0 t1 < "$WORK/times"
                        n=$(count_files "$TQ/incoming")
                        tern_stop
                        if [ "$n" != "$MESSAGES" ]; then
                                echo "tern: $n files in incoming/ after $MESSAGES messages" >&2
                                exit 1
                        fi
                        tern_rate[$s]=$(bench_rate "$MESSAGES" "$t0" "$t1")
                done
        fi

        # --- Postfix -------------------------------------------------------------------------
        pf_start() {
                fresh_queue "$PQ" "$WORK/postfix.img"
                "$POSTFIX_CMD" -c "$PF/cf" start >>"$PF/start.log" 2>&1
                # A stand-in for the absent qmgr's trigger FIFO: cleanup pokes it after each
                # message and would otherwise log "unable to look up public/qmgr" every time.
                # Opening it read-write does not block; cat drains the pokes.
                mkfifo -m 0622 "$PQ/public/qmgr"
                chown "$PF_OWNER" "$PQ/public/qmgr"
                cat 0<>"$PQ/public/qmgr" >/dev/null &
                drain_pid=$!
                bench_wait_ready "$PF_PORT"
        }
        if [ "$POSTFIX" = 1 ]; then
                for s in $SESSIONS; do
                        pf_start
                        run_source "$PF_PORT" "$s" > "$WORK/times"
                        read -r t0 t1 < "$WORK/times"
                        n=$(count_files "$PQ/incoming")
                        pf_stop
                        if [ "$n" != "$MESSAGES" ]; then
                                echo "postfix: $n files in incoming/ after $MESSAGES messages" >&2
                                exit 1
                        fi
                        pf_rate[$s]=$(bench_rate "$MESSAGES" "$t0" "$t1")
                done
        fi

        # --- report --------------------------------------------------------------------------
        printf '%-32s %12s %12s %8s\n' "" "tern msg/s" "postfix msg/s" "ratio"
        for s in $SESSIONS; do
                t=${tern_rate[$s]:--}
                p=${pf_rate[$s]:--}
                r=-
                if [ "$t" != - ] && [ "$p" != - ]; then
                        r=$(bench_ratio "$t" "$p")
                fi
                printf '%-32s %12s %12s %8s\n' "$MESSAGES x $SIZE B, $s session(s)" "$t" "$p" "$r"
        done
        echo "ratio = tern / postfix: above 1 tern is faster (target at 50 sessions: >= 3)"

        # --- idle sessions -------------------------------------------------------------------
        if [ "$TERN" = 1 ] && [ "$IDLE" -gt 0 ]; then
                tern_start
                python3 "$SRC/tests/bench/idle_sessions.py" -n "$IDLE" --ehlo \
                        --pid "$tern_pid" 127.0.0.1 "$TERN_PORT"
                tern_stop
                echo "target: under 64 KiB per idle session"
        fi
        exit 0
fi

# --- outside: build, fetch, configure --------------------------------------------------------
BUILD=${1:-$SRC/build-bench}
MESSAGES=${MESSAGES:-20000}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-1 50}
IDLE=${IDLE:-1000}
TERN=${TERN:-1}
POSTFIX=${POSTFIX:-1}
SOURCE_OPTS=${SOURCE_OPTS:-}
FRESH_FS=${FRESH_FS:-1}

bench_require smtpd_bench.sh unshare ip systemd-socket-activate python3 bc dpkg

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smtpd_bench.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
        trap 'echo "work directory kept: $WORK"' EXIT
else
        trap 'umount "$WORK/tern/queue" "$WORK/postfix/queue" 2>/dev/null; rm -rf "$WORK"' EXIT
fi
# Postfix's daemons run as an unprivileged user and must reach their queue below this.
chmod 0755 "$WORK"
FS_OPTS=
if [ "$FRESH_FS" = 1 ]; then
        if FS_OPTS=$(bench_fs_opts "$WORK"); then
                echo "each run on a fresh file system: mkfs.ext4 ${FS_OPTS:-(with a journal)} on a loop device"
        else
                echo "$WORK is not on ext4: all runs share its file system" >&2
                FRESH_FS=0
        fi
fi

# --- tern build ------------------------------------------------------------------------------
SMTPD=
if [ "$TERN" = 1 ]; then
        if ! bench_build_tern "$SRC" "$BUILD" "$WORK/ninja.log" services/smtpd/smtpd; then
                echo "smtpd_bench.sh: TERN=0 runs the Postfix half alone" >&2
                exit 1
        fi
        SMTPD=$BUILD/services/smtpd/smtpd
        mkdir -p "$WORK/tern"
        # The same settings as Postfix's main.cf below, where both have them. alias_maps is
        # empty on both sides (the host has no /etc/aliases.db); local_recipient_maps keeps its
        # default, so both check "root" against the password file. The connection count limit is
        # 0 so that IDLE sessions from one address are allowed.
        cat > "$WORK/tern/main.cf" <<EOF
queue_directory = $WORK/tern/queue
myhostname = bench.example
mydestination = bench.example
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
alias_maps =
smtpd_client_connection_count_limit = 0
EOF
fi

# --- Postfix, extracted ----------------------------------------------------------------------
PF=$WORK/postfix
bench_postfix_extract "$PF"
bench_postfix_owner
mkdir -p "$PF/cf" "$PF/data"
chown "$PF_OWNER" "$PF/data"
# in_flow_delay = 0: cleanup otherwise waits up to 1 s per message for a token that only a
# running qmgr hands out.
{ bench_postfix_main_cf "$PF"; cat <<EOF; } > "$PF/cf/main.cf"
myhostname = bench.example
mydestination = bench.example
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
smtpd_client_connection_count_limit = 0
in_flow_delay = 0s
EOF
# The services an SMTP reception needs, none chrooted; no qmgr and no pickup, so mail stays in
# incoming/ as it does with tern without qmgr. smtpd's process limit is the default (100).
cat > "$PF/cf/master.cf" <<EOF
127.0.0.1:10026 inet n - n - - smtpd
cleanup   unix n - n - 0 cleanup
rewrite   unix - - n - - trivial-rewrite
proxymap  unix - - n - - proxymap
anvil     unix - - n - 1 anvil
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
postlog   unix-dgram n - n - 1 postlogd
EOF

echo "smtpd_bench: $MESSAGES messages of $SIZE bytes, sessions: $SESSIONS;" \
        "${SOURCE_OPTS:+smtp-source options: $SOURCE_OPTS; }$(bench_host "$WORK")"
echo "tern: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?');" \
        "postfix: $PF_VERSION (mail_owner $PF_OWNER)"

export BENCH_INNER=1 FRESH_FS FS_OPTS WORK SMTPD MESSAGES SIZE SESSIONS IDLE TERN POSTFIX PF_OWNER SOURCE_OPTS
unshare -n "$BASH" "$0"
