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
#              one connection).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)

# --- inside the network namespace ------------------------------------------------------------
# The outer half (below) builds and fetches, then re-runs this script under "unshare -n" with
# BENCH_INNER=1 and everything it prepared in the environment.
if [ "${BENCH_INNER:-}" = 1 ]; then
        TERN_PORT=10025
        PF_PORT=10026
        SENDER=bench@bench.example
        RCPT=root@bench.example
        PF=$WORK/postfix
        PF_ROOT=$PF/root
        export LD_LIBRARY_PATH=$PF_ROOT/usr/lib/postfix
        SMTP_SOURCE=$PF_ROOT/usr/sbin/smtp-source
        POSTFIX_CMD=$PF_ROOT/usr/sbin/postfix
        tern_pid=
        drain_pid=

        now() { date +%s.%N; }
        rate() { echo "$1 / ($3 - $2)" | bc -l | awk '{ printf "%.1f", $1 }'; }
        ratio() { echo "$1 / $2" | bc -l | awk '{ printf "%.2f", $1 }'; }
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
        trap 'tern_stop; pf_stop' EXIT

        ip link set lo up
        ulimit -n $((IDLE + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

        # Waits until something listens on 127.0.0.1:$1 and answers 220, then says QUIT, so that
        # start-up (exec, first accept, process spawn) is not timed.
        wait_ready() {
                local _
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

        # One smtp-source run: prints "seconds" for $2 sessions against port $1.
        run_source() {
                local t0 t1
                t0=$(now)
                # shellcheck disable=SC2086
                "$SMTP_SOURCE" $SOURCE_OPTS -s "$2" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" \
                        -t "$RCPT" "127.0.0.1:$1" >&2
                t1=$(now)
                echo "$t0 $t1"
        }

        # --- tern ----------------------------------------------------------------------------
        TQ=$WORK/tern/queue
        tern_start() {
                rm -rf "$TQ"
                systemd-socket-activate -l "127.0.0.1:$TERN_PORT" \
                        "$SMTPD" -c "$WORK/tern" 2>>"$WORK/tern/smtpd.log" &
                tern_pid=$!
                wait_ready "$TERN_PORT"
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
                        tern_rate[$s]=$(rate "$MESSAGES" "$t0" "$t1")
                done
        fi

        # --- Postfix -------------------------------------------------------------------------
        PQ=$PF/queue
        pf_start() {
                rm -rf "$PQ"
                mkdir "$PQ"
                "$POSTFIX_CMD" -c "$PF/cf" start >>"$PF/start.log" 2>&1
                # A stand-in for the absent qmgr's trigger FIFO: cleanup pokes it after each
                # message and would otherwise log "unable to look up public/qmgr" every time.
                # Opening it read-write does not block; cat drains the pokes.
                mkfifo -m 0622 "$PQ/public/qmgr"
                chown "$PF_OWNER" "$PQ/public/qmgr"
                cat 0<>"$PQ/public/qmgr" >/dev/null &
                drain_pid=$!
                wait_ready "$PF_PORT"
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
                        pf_rate[$s]=$(rate "$MESSAGES" "$t0" "$t1")
                done
        fi

        # --- report --------------------------------------------------------------------------
        printf '%-32s %12s %12s %8s\n' "" "tern msg/s" "postfix msg/s" "ratio"
        for s in $SESSIONS; do
                t=${tern_rate[$s]:--}
                p=${pf_rate[$s]:--}
                r=-
                if [ "$t" != - ] && [ "$p" != - ]; then
                        r=$(ratio "$t" "$p")
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

if [ "$(id -u)" != 0 ]; then
        echo "smtpd_bench.sh: run as root (network namespace, Postfix's master)" >&2
        exit 1
fi
for tool in unshare ip systemd-socket-activate python3 bc dpkg; do
        command -v "$tool" >/dev/null || { echo "smtpd_bench.sh: $tool is missing" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smtpd_bench.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
        trap 'echo "work directory kept: $WORK"' EXIT
else
        trap 'rm -rf "$WORK"' EXIT
fi
# Postfix's daemons run as an unprivileged user and must reach their queue below this.
chmod 0755 "$WORK"

# --- tern build ------------------------------------------------------------------------------
SMTPD=
if [ "$TERN" = 1 ]; then
        if [ ! -d "$BUILD" ]; then
                meson setup "$BUILD" "$SRC" --buildtype=release -Dtests=false >/dev/null
        fi
        if ! ninja -C "$BUILD" services/smtpd/smtpd >"$WORK/ninja.log" 2>&1; then
                tail -20 "$WORK/ninja.log" >&2
                echo "smtpd_bench.sh: cannot build services/smtpd/smtpd in $BUILD;" \
                        "TERN=0 runs the Postfix half alone" >&2
                exit 1
        fi
        SMTPD=$BUILD/services/smtpd/smtpd
        if nm -D "$SMTPD" 2>/dev/null | grep -q __asan_ || nm "$SMTPD" 2>/dev/null |
                        grep -q __asan_; then
                echo "warning: $SMTPD is built with ASan; figures will be slow" >&2
        fi
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
mkdir -p "$PF/root" "$PF/cf" "$PF/data"
if [ -n "${POSTFIX_DEB:-}" ]; then
        DEB=$POSTFIX_DEB
else
        (cd "$PF" && apt-get download postfix >/dev/null 2>&1)
        DEB=$(ls "$PF"/postfix_*.deb)
fi
dpkg -x "$DEB" "$PF/root"
PF_VERSION=$(dpkg-deb -f "$DEB" Version)
# mail_owner: the "postfix" user when the host has one, else an existing unprivileged account;
# setgid_group: "postdrop", else a group other than the owner's (Postfix refuses the same one).
if getent passwd postfix >/dev/null && getent group postdrop >/dev/null; then
        PF_OWNER=postfix
        PF_GROUP=postdrop
else
        PF_OWNER=$(getent passwd | awk -F: '$3 > 0 && $3 < 65534 { print $1; exit }')
        owner_gid=$(getent passwd "$PF_OWNER" | cut -d: -f4)
        PF_GROUP=$(getent group | awk -F: -v g="$owner_gid" '$3 > 0 && $3 != g { print $1; exit }')
fi
chown "$PF_OWNER" "$PF/data"
R=$PF/root
# Paths point into the extracted package; the children's environment keeps LD_LIBRARY_PATH
# because the binaries look for their libraries in /usr/lib/postfix. in_flow_delay = 0: cleanup
# otherwise waits up to 1 s per message for a token that only a running qmgr hands out.
cat > "$PF/cf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
daemon_directory = $R/usr/lib/postfix/sbin
command_directory = $R/usr/sbin
meta_directory = $R/etc/postfix
shlib_directory = $R/usr/lib/postfix
mail_owner = $PF_OWNER
setgid_group = $PF_GROUP
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$R/usr/lib/postfix
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
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
        "${SOURCE_OPTS:+smtp-source options: $SOURCE_OPTS; }$(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $(uname -r);" \
        "$(findmnt -no FSTYPE -T "$WORK") at $WORK"
echo "tern: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?');" \
        "postfix: $PF_VERSION (mail_owner $PF_OWNER)"

export BENCH_INNER=1 WORK SMTPD MESSAGES SIZE SESSIONS IDLE TERN POSTFIX PF_OWNER SOURCE_OPTS
unshare -n "$BASH" "$0"
