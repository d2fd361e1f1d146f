#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# delivery_bench.sh: the end-to-end delivery benchmark. Postfix's smtp-source (Debian's postfix
# package, extracted, not installed) sends MESSAGES messages of SIZE bytes over SESSIONS parallel
# sessions, one recipient each, rotating over USERS mailboxes of one virtual domain, to tern's
# full system (smtpd, qmgr, virtual) and to a full Postfix configured the same way (smtpd,
# cleanup, qmgr, trivial-rewrite, virtual); both deliver every message into a Maildir. It counts
# the delivered files until all arrived and prints messages per second from the first connection
# to the last delivery for both, and the ratio. Everything runs as root inside a network
# namespace of its own that has only loopback. Not part of the test suite; see README.md.
#
# Usage: tests/bench/delivery_bench.sh [BUILD_DIR]
#   BUILD_DIR  a build without sanitizers (default: build-bench, set up as a release build when
#              missing)
# Environment: MESSAGES (default 20000), SIZE (payload bytes, default 4096), SESSIONS (parallel
#              sessions in all, default 50), USERS (mailboxes, default 10; one smtp-source per
#              user, MESSAGES and SESSIONS must be multiples of it), POSTFIX_DEB (a postfix_*.deb
#              to use instead of "apt-get download"), TERN=0 (Postfix half only), POSTFIX=0
#              (tern half only), STALL (seconds without a new delivery before giving up, default
#              120), MAX_USE (the virtual agents' max_use on both sides; default "-": each
#              side's default, 100; see README.md), EXTRA_CF (main.cf lines added on both
#              sides, e.g. "virtual_destination_concurrency_limit = 50"), FRESH_FS=0 (no fresh
#              file systems per run, see lib.sh), FS_SIZE (theirs, default 4G), KEEP=1 (keep the
#              work directory with every log and print its name), STRACE=1 (run tern's
#              services under "strace -c -w -f", attach one to Postfix's daemons, print the
#              wall time they spend in each system call; the rates are then not comparable),
#              PERF=1 (run tern's services under "perf record -g -e cpu-clock", attach one to
#              Postfix's daemons, print where each spends its CPU time, the top PERF_LINES
#              symbols, default 30), STRACE=2 (every system call of tern's services, in
#              $WORK/tern/NAME.trace; with KEEP=1), SINK=0 (no floor run: by default the same
#              load goes last to Postfix's smtp-sink, which stores nothing), ROUNDS (run both
#              halves this many times, print the median ratio; default 1), SOURCE_OPTS (more
#              smtp-source options, e.g. "-d": many messages per connection).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$SRC/tests/bench/lib.sh"

# --- inside the network namespace ------------------------------------------------------------
# The outer half (below) builds and fetches, then re-runs this script under "unshare -n" with
# BENCH_INNER=1 and everything it prepared in the environment.
if [ "${BENCH_INNER:-}" = 1 ]; then
        TERN_PORT=10025
        SINK_PORT=10027
        PF_PORT=10026
        SENDER=bench@client.example
        PF=$WORK/postfix
        export LD_LIBRARY_PATH=$PF/root/usr/lib/postfix
        SMTP_SOURCE=$PF/root/usr/sbin/smtp-source
        POSTFIX_CMD=$PF/root/usr/sbin/postfix
        T=$WORK/tern
        RUN=$T/run
        tern_pids=()

        # Stops tern's launchers and what they started (the agent instances are the children
        # of the --accept launcher), by process id.
        tern_stop() {
                local pid child _
                for pid in "${tern_pids[@]}"; do
                        for child in $(pgrep -P "$pid" || true); do
                                kill "$child" 2>/dev/null || true
                        done
                        kill "$pid" 2>/dev/null || true
                done
                for pid in "${tern_pids[@]}"; do
                        for _ in $(seq 1 100); do
                                kill -0 "$pid" 2>/dev/null || break
                                sleep 0.1
                        done
                        kill -KILL "$pid" 2>/dev/null || true
                        wait "$pid" 2>/dev/null || true
                done
                tern_pids=()
        }
        pf_stop() { "$POSTFIX_CMD" -c "$PF/cf" stop >/dev/null 2>&1 || true; }
        # fresh_dir DIR IMG: an empty DIR, on a new file system when FRESH_FS (lib.sh).
        fresh_dir() {
                if [ "$FRESH_FS" = 1 ]; then
                        bench_fresh_fs "$2" "$1" "$FS_OPTS"
                else
                        rm -rf "$1"
                        mkdir -p "$1"
                fi
        }
        release_all() {
                local d
                for d in tern/queue tern/mail postfix/queue postfix/mail; do
                        bench_fs_release "$WORK/$d" "$WORK/${d/\//-}.img"
                done
        }
        trap 'tern_stop; pf_stop; release_all' EXIT

        ip link set lo up

        # Delivered files under a mailbox base: USERS Maildirs, their new/ directories.
        count_delivered() {
                local n=0 d k
                for d in "$1"/user*/new; do
                        [ -d "$d" ] || continue
                        k=$(find "$d" -maxdepth 1 -type f | wc -l)
                        n=$((n + k))
                done
                echo "$n"
        }
        # The modification time of the newest delivered file: when the last delivery wrote it.
        last_delivery() {
                find "$1" -path '*/new/*' -type f -printf '%T@\n' | sort -n | tail -1
        }
        # Waits until MESSAGES files are in the Maildirs under $1; fails after STALL seconds
        # without a new one. $2 names the side in messages.
        wait_delivered() {
                local n last=-1 since
                since=$(date +%s)
                while :; do
                        n=$(count_delivered "$1")
                        [ "$n" -ge "$MESSAGES" ] && break
                        if [ "$n" != "$last" ]; then
                                last=$n
                                since=$(date +%s)
                        elif [ $(($(date +%s) - since)) -ge "$STALL" ]; then
                                echo "$2: stuck at $n of $MESSAGES delivered" >&2
                                return 1
                        fi
                        sleep 0.5
                done
                if [ "$n" != "$MESSAGES" ]; then
                        echo "$2: $n files delivered for $MESSAGES messages" >&2
                        return 1
                fi
        }
        # Checks that every user got MESSAGES / USERS messages.
        check_users() {
                local u n
                for u in $(seq 0 $((USERS - 1))); do
                        n=$(find "$1/user$u/new" -maxdepth 1 -type f | wc -l)
                        if [ "$n" != $((MESSAGES / USERS)) ]; then
                                echo "$2: user$u has $n messages, not $((MESSAGES / USERS))" >&2
                                return 1
                        fi
                done
        }
        # Waits up to 30 s until the queue directories $2... under $1 hold no file.
        wait_queue_empty() {
                local q=$1 n _
                shift
                for _ in $(seq 1 300); do
                        n=$(cd "$q" && find "$@" -type f 2>/dev/null | wc -l)
                        [ "$n" = 0 ] && return 0
                        sleep 0.1
                done
                echo "queue $q: $n files left in $*" >&2
                return 1
        }

        # cpu_by_name PID...: on one line the CPU time (user + system) of the PIDs and all their
        # descendants in seconds; on the next, the same summed per command name, busiest first,
        # and in brackets how long their threads waited runnable for a CPU
        # (/proc/PID/task/TID/schedstat); what processes that have exited used is in their
        # parent's cumulative children time, "reaped by NAME", without their wait.
        cpu_by_name() {
                python3 - "$@" <<'PY'
import glob, os, sys
tick = os.sysconf("SC_CLK_TCK")
procs = {}
for d in os.listdir("/proc"):
        if not d.isdigit():
                continue
        try:
                with open(f"/proc/{d}/stat") as f:
                        st = f.read()
        except OSError:
                continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        procs[int(d)] = (comm, int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14]))
todo = [int(p) for p in sys.argv[1:]]
seen = set()
cpu = {}
wait = {}
while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
                continue
        seen.add(pid)
        comm, _, own, reaped = procs[pid]
        cpu[comm] = cpu.get(comm, 0) + own / tick
        for t in glob.glob(f"/proc/{pid}/task/*/schedstat"):
                try:
                        with open(t) as f:
                                wait[comm] = wait.get(comm, 0) + int(f.read().split()[1]) / 1e9
                except (OSError, IndexError, ValueError):
                        pass
        if reaped:
                cpu["reaped by " + comm] = cpu.get("reaped by " + comm, 0) + reaped / tick
        todo += [p for p, v in procs.items() if v[1] == pid]
print(f"{sum(cpu.values()):.2f}")
out = []
for k in sorted(cpu, key=lambda k: -cpu[k]):
        if cpu[k] or wait.get(k):
                out.append(f"{k} {cpu[k]:.2f}" + (f" [{wait[k]:.2f}]" if k in wait else ""))
print("  ".join(out))
PY
        }

        # Runs USERS smtp-source processes in parallel, SESSIONS / USERS sessions and
        # MESSAGES / USERS messages each, all to port $1; user N gets userN@bench.example.
        # Prints the start time and the time the last one finished.
        run_sources() {
                local t0 t1 u pids=() rc=0 pid
                t0=$(bench_now)
                for u in $(seq 0 $((USERS - 1))); do
                        "$SMTP_SOURCE" $SOURCE_OPTS -s $((SESSIONS / USERS)) -m $((MESSAGES / USERS)) \
                                -l "$SIZE" -f "$SENDER" -t "user$u@bench.example" \
                                "127.0.0.1:$1" >&2 &
                        pids+=($!)
                done
                for pid in "${pids[@]}"; do
                        wait "$pid" || rc=1
                done
                t1=$(bench_now)
                [ "$rc" = 0 ] || { echo "smtp-source failed" >&2; return 1; }
                echo "$t0 $t1"
        }

        # --- tern ----------------------------------------------------------------------------
        # As tern_harness.MailSystem and the systemd units wire it: the virtual agent on an
        # --accept unix socket (one instance per connection), qmgr on its datagram socket, the
        # smtpd on TCP; RUNTIME_DIRECTORY tells each where the others are.
        tern_spawn() {
                local name=$1
                shift
                if [ "${STRACE:-}" = 2 ]; then
                        strace -f -o "$T/$name.trace" "$@" 2>>"$T/$name.log" &
                elif [ "${STRACE:-}" = 1 ]; then
                        strace -c -w -f -o "$T/$name.strace" "$@" 2>>"$T/$name.log" &
                elif [ "${PERF:-}" = 1 ]; then
                        perf record -q -g -e cpu-clock -F 1000 -o "$T/$name.perf" -- "$@" \
                                2>>"$T/$name.log" &
                else
                        "$@" 2>>"$T/$name.log" &
                fi
                tern_pids+=($!)
        }
        tern_start() {
                local _
                fresh_dir "$T/queue" "$WORK/tern-queue.img"
                fresh_dir "$T/mail" "$WORK/tern-mail.img"
                rm -rf "$RUN"
                mkdir -p "$RUN"
                chown "$VUID:$VGID" "$T/mail"
                # shellcheck disable=SC2086
                tern_spawn virtual systemd-socket-activate --accept -l "$RUN/virtual" \
                        -E "RUNTIME_DIRECTORY=$RUN" "$BUILD/services/virtual/virtual" -c "$T" \
                        $AGENT_OPTS
                tern_spawn qmgr systemd-socket-activate --datagram -l "$RUN/qmgr" \
                        -E "RUNTIME_DIRECTORY=$RUN" "$BUILD/services/qmgr/qmgr" -c "$T"
                for _ in $(seq 1 100); do
                        [ -S "$RUN/qmgr" ] && [ -S "$RUN/virtual" ] && break
                        sleep 0.1
                done
                # systemd-socket-activate starts qmgr on the first datagram; systemd's
                # tern.target starts it at boot.
                python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"i", sys.argv[1])' "$RUN/qmgr"
                tern_spawn smtpd systemd-socket-activate -l "127.0.0.1:$TERN_PORT" \
                        -E "RUNTIME_DIRECTORY=$RUN" "$BUILD/services/smtpd/smtpd" -c "$T"
                bench_wait_ready "$TERN_PORT"
        }
        # cpu_split BUSY0 BUSY1 SRC0 SRC1 SERVICES: the machine's busy CPU time per message
        # while the run lasted (bench_cpu_busy at the first connection and once all was
        # delivered), split into the mail system's services (SERVICES seconds, cpu_by_name),
        # smtp-source (the shell's children time around run_sources) and the rest: the kernel's
        # own threads (block I/O, the loop devices, softirqs) and the benchmark's polling.
        cpu_split() {
                local busy src rest
                busy=$(echo "$2 - $1" | bc -l)
                src=$(echo "$4 - $3" | bc -l)
                rest=$(echo "$busy - $src - $5" | bc -l)
                echo "$(bench_ms_per "$busy" "$MESSAGES") = services" \
                     "$(bench_ms_per "$5" "$MESSAGES") + smtp-source" \
                     "$(bench_ms_per "$src" "$MESSAGES") + the rest" \
                     "$(bench_ms_per "$rest" "$MESSAGES")"
        }
        # measure PORT [MAILDIR QUEUE NAME]: runs the sources against PORT and sets m_t0 (first
        # connection), m_t1 (last 250), m_t2 (last delivery; m_t1 without MAILDIR), m_busy0/1
        # (bench_cpu_busy at m_t0 and once all was delivered), m_src0/1 (the shell's children
        # time around the sources). With MAILDIR it waits until everything is delivered there
        # and QUEUE is empty, and checks each user's count.
        measure() {
                m_busy0=$(bench_cpu_busy)
                times > "$WORK/cpu0"
                run_sources "$1" > "$WORK/times"
                times > "$WORK/cpu1"
                read -r m_t0 m_t1 < "$WORK/times"
                m_src0=$(bench_children_cpu < "$WORK/cpu0")
                m_src1=$(bench_children_cpu < "$WORK/cpu1")
                m_t2=$m_t1
                if [ $# -gt 1 ]; then
                        wait_delivered "$2" "$4"
                        m_busy1=$(bench_cpu_busy)
                        m_t2=$(last_delivery "$2")
                        check_users "$2" "$4"
                        wait_queue_empty "$3" incoming active deferred
                else
                        m_busy1=$(bench_cpu_busy)
                fi
        }
        tern_rate=- tern_accept=- tern_secs=- tern_cpu=- tern_split=-
        if [ "$TERN" = 1 ]; then
                tern_start
                measure "$TERN_PORT" "$T/mail" "$T/queue" tern
                tern_cpu=$(cpu_by_name "${tern_pids[@]}")
                tern_split=$(cpu_split "$m_busy0" "$m_busy1" "$m_src0" "$m_src1" \
                             "${tern_cpu%%$'\n'*}")
                tern_cpu=${tern_cpu#*$'\n'}
                tern_stop
                tern_rate=$(bench_rate "$MESSAGES" "$m_t0" "$m_t2")
                tern_accept=$(bench_elapsed "$m_t0" "$m_t1")
                tern_secs=$(bench_elapsed "$m_t0" "$m_t2")
                if [ "${STRACE:-}" = 1 ]; then
                        for f in "$T"/*.strace; do
                                echo "--- strace -c -w -f (wall time in syscalls):" \
                                        "$(basename "$f" .strace)"
                                head -25 "$f"
                        done
                fi
                if [ "${PERF:-}" = 1 ]; then
                        for f in "$T"/*.perf; do
                                echo "--- perf, cpu-clock samples: $(basename "$f" .perf)"
                                perf report -i "$f" --stdio --no-children -q \
                                        --sort comm,dso,sym 2>/dev/null |
                                        head -"$PERF_LINES" || true
                        done
                fi
        fi

        # --- Postfix -------------------------------------------------------------------------
        pf_start() {
                fresh_dir "$PF/queue" "$WORK/postfix-queue.img"
                fresh_dir "$PF/mail" "$WORK/postfix-mail.img"
                chown "$VUID:$VGID" "$PF/mail"
                "$POSTFIX_CMD" -c "$PF/cf" start >>"$PF/start.log" 2>&1
                bench_wait_ready "$PF_PORT"
        }
        pf_rate=- pf_accept=- pf_secs=- pf_cpu=- pf_split=-
        if [ "$POSTFIX" = 1 ]; then
                pf_start
                strace_pid=
                perf_pid=
                # master and the daemons it has started so far; both tools follow new children.
                master=$(tr -d " \n" < "$PF/queue/pid/master.pid")
                pf_pids="$master $(pgrep -P "$master" | tr '\n' ' ')"
                if [ "${STRACE:-}" = 1 ]; then
                        # shellcheck disable=SC2046,SC2086
                        strace -c -w -f -o "$PF/postfix.strace" $(printf -- '-p %s ' $pf_pids) \
                                2>/dev/null &
                        strace_pid=$!
                        sleep 1
                elif [ "${PERF:-}" = 1 ]; then
                        perf record -q -g -e cpu-clock -F 1000 -o "$PF/postfix.perf" \
                                -p "$(echo "$pf_pids" | tr ' ' ,)" 2>/dev/null &
                        perf_pid=$!
                        sleep 1
                fi
                measure "$PF_PORT" "$PF/mail" "$PF/queue" postfix
                pf_cpu=$(cpu_by_name "$(cat "$PF/queue/pid/master.pid")")
                pf_split=$(cpu_split "$m_busy0" "$m_busy1" "$m_src0" "$m_src1" \
                           "${pf_cpu%%$'\n'*}")
                pf_cpu=${pf_cpu#*$'\n'}
                if [ -n "$strace_pid" ]; then
                        kill -INT "$strace_pid"
                        wait "$strace_pid" || true
                        echo "--- strace -c -w -f (wall time in syscalls): postfix (all daemons)"
                        head -25 "$PF/postfix.strace"
                fi
                if [ -n "$perf_pid" ]; then
                        kill -INT "$perf_pid"
                        wait "$perf_pid" || true
                        echo "--- perf, cpu-clock samples: postfix (all daemons)"
                        perf report -i "$PF/postfix.perf" --stdio --no-children -q \
                                --sort comm,dso,sym 2>/dev/null | head -"$PERF_LINES" || true
                fi
                pf_stop
                pf_rate=$(bench_rate "$MESSAGES" "$m_t0" "$m_t2")
                pf_accept=$(bench_elapsed "$m_t0" "$m_t1")
                pf_secs=$(bench_elapsed "$m_t0" "$m_t2")
        fi

        # --- the floor: Postfix's smtp-sink ----------------------------------------------------
        # The same smtp-source load against a server that answers every command and stores
        # nothing: what SMTP alone costs this machine (client, server, loopback TCP), the part of
        # every MTA's cost per message that no implementation of the queue or the delivery can
        # remove. Any mail system that also makes the message durable twice (queue file,
        # mailbox) costs more.
        sink_rate=- sink_split=-
        if [ "$SINK" = 1 ]; then
                "$PF/root/usr/sbin/smtp-sink" -u "$PF_OWNER" "127.0.0.1:$SINK_PORT" 256 \
                        >/dev/null 2>&1 &
                sink_pid=$!
                bench_wait_ready "$SINK_PORT"
                measure "$SINK_PORT"
                sink_cpu=$(cpu_by_name "$sink_pid")
                kill "$sink_pid"
                wait "$sink_pid" 2>/dev/null || true
                sink_split=$(cpu_split "$m_busy0" "$m_busy1" "$m_src0" "$m_src1" \
                             "${sink_cpu%%$'\n'*}")
                sink_rate=$(bench_rate "$MESSAGES" "$m_t0" "$m_t1")
        fi

        # --- report --------------------------------------------------------------------------
        r=-
        if [ "$tern_rate" != - ] && [ "$pf_rate" != - ]; then
                r=$(bench_ratio "$tern_rate" "$pf_rate")
        fi
        printf '%-10s %14s %18s %12s\n' "" "last SMTP 250" "last delivery" "msg/s"
        printf '%-10s %13ss %17ss %12s\n' tern "$tern_accept" "$tern_secs" "$tern_rate"
        printf '%-10s %13ss %17ss %12s\n' postfix "$pf_accept" "$pf_secs" "$pf_rate"
        echo "ratio tern / postfix: $r (above 1 tern is faster; target >= 3)"
        echo "times from the first connection; msg/s = $MESSAGES / (last delivery - first" \
                "connection)"
        echo "CPU seconds per service [seconds waiting for a CPU]:"
        echo "CPU seconds, tern: $tern_cpu"
        echo "CPU seconds, postfix: $pf_cpu"
        echo "busy CPU of the whole machine per message, ms (every CPU, while the run lasted):"
        echo "CPU ms/msg, tern: $tern_split"
        echo "CPU ms/msg, postfix: $pf_split"
        echo "the floor, Postfix's smtp-sink (SMTP alone, nothing stored): $sink_rate msg/s;" \
                "CPU ms/msg: $sink_split"
        exit 0
fi

# --- outside: build, fetch, configure --------------------------------------------------------
BUILD=${1:-$SRC/build-bench}
MESSAGES=${MESSAGES:-20000}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-50}
USERS=${USERS:-10}
TERN=${TERN:-1}
POSTFIX=${POSTFIX:-1}
SINK=${SINK:-1}
ROUNDS=${ROUNDS:-1}
STALL=${STALL:-120}
MAX_USE=${MAX_USE:--}
# The virtual agents' max_use, the same on both sides (by default each side's own, 100). Before
# 95ed76d tern's qmgr could send a request on a pooled connection just as its agent exited after
# max_use and, after one retry, defer it; agents now mark their last reply ("end last").
AGENT_OPTS=
if [ "$MAX_USE" != - ]; then
        AGENT_OPTS="-o max_use=$MAX_USE"
fi
# The mailboxes' owner on both sides (virtual_uid_maps, virtual_gid_maps): above
# virtual_minimum_uid (100), no account needed.
VUID=5000
VGID=5000

bench_require delivery_bench.sh unshare ip systemd-socket-activate python3 bc dpkg pgrep
if [ $((MESSAGES % USERS)) != 0 ] || [ $((SESSIONS % USERS)) != 0 ]; then
        echo "delivery_bench.sh: MESSAGES and SESSIONS must be multiples of USERS ($USERS)" >&2
        exit 1
fi
if [ "${STRACE:-}" = 1 ]; then
        command -v strace >/dev/null || { echo "delivery_bench.sh: no strace" >&2; exit 1; }
fi
if [ "${PERF:-}" = 1 ]; then
        command -v perf >/dev/null || { echo "delivery_bench.sh: no perf" >&2; exit 1; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/delivery_bench.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
        trap 'echo "work directory kept: $WORK"' EXIT
else
        trap 'umount "$WORK"/{tern,postfix}/{queue,mail} 2>/dev/null; rm -rf "$WORK"' EXIT
fi
# Postfix's daemons and the mailbox owner run unprivileged and must reach what is below this.
chmod 0755 "$WORK"
FRESH_FS=${FRESH_FS:-1}
FS_OPTS=
if [ "$FRESH_FS" = 1 ]; then
        if FS_OPTS=$(bench_fs_opts "$WORK"); then
                echo "each run's queue and mailboxes on fresh file systems:" \
                     "mkfs.ext4 ${FS_OPTS:-(with a journal)} on loop devices"
        else
                echo "$WORK is not on ext4: all runs share its file system" >&2
                FRESH_FS=0
        fi
fi

# The virtual mailbox table, the same file on both sides: userN@bench.example -> userN/ (a
# Maildir under virtual_mailbox_base). texthash: is read as is by both, no map build needed.
for u in $(seq 0 $((USERS - 1))); do
        echo "user$u@bench.example user$u/"
done > "$WORK/vmailbox"

# The settings both sides share: bench.example is a virtual mailbox domain, not a local one.
# The connection count limit is 0 so that SESSIONS sessions from one address are allowed
# (Postfix exempts mynetworks anyway).
common_cf() {
        cat <<EOF
myhostname = mx.bench.test
mydestination = localhost
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
alias_maps =
smtpd_client_connection_count_limit = 0
virtual_mailbox_domains = bench.example
virtual_mailbox_base = $1
virtual_mailbox_maps = texthash:$WORK/vmailbox
virtual_uid_maps = static:$VUID
virtual_gid_maps = static:$VGID
EOF
        if [ -n "${EXTRA_CF:-}" ]; then
                printf '%s\n' "$EXTRA_CF"
        fi
}

# --- tern build ------------------------------------------------------------------------------
if [ "$TERN" = 1 ]; then
        if ! bench_build_tern "$SRC" "$BUILD" "$WORK/ninja.log" services/smtpd/smtpd \
                        services/qmgr/qmgr services/virtual/virtual; then
                echo "delivery_bench.sh: TERN=0 runs the Postfix half alone" >&2
                exit 1
        fi
        mkdir -p "$WORK/tern"
        { echo "queue_directory = $WORK/tern/queue"; common_cf "$WORK/tern/mail"; } \
                > "$WORK/tern/main.cf"
fi

# --- Postfix, extracted ----------------------------------------------------------------------
PF=$WORK/postfix
bench_postfix_extract "$PF"
bench_postfix_owner
mkdir -p "$PF/cf" "$PF/data"
chown "$PF_OWNER" "$PF/data"
{ bench_postfix_main_cf "$PF"; echo "inet_protocols = ipv4"; common_cf "$PF/mail"; } \
        > "$PF/cf/main.cf"
# The services a delivery to virtual mailboxes needs, none chrooted, with the process limits of
# Debian's master.cf: smtpd on 127.0.0.1:10026 (default_process_limit, 100), cleanup, qmgr,
# trivial-rewrite, the virtual agent (run as root, it switches to the mailbox owner), and what
# they call on the way (proxymap, anvil, bounce/defer/trace, postlogd). No pickup: nothing is
# posted locally.
cat > "$PF/cf/master.cf" <<EOF
127.0.0.1:10026 inet n - n - - smtpd
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
proxymap  unix - - n - - proxymap
anvil     unix - - n - 1 anvil
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
error     unix - - n - - error
retry     unix - - n - - error
virtual   unix - n n - - virtual $AGENT_OPTS
postlog   unix-dgram n - n - 1 postlogd
EOF

echo "delivery_bench: $MESSAGES messages of $SIZE bytes over $SESSIONS sessions to $USERS" \
        "virtual Maildirs; max_use $MAX_USE;${EXTRA_CF:+ $EXTRA_CF;} $(bench_host "$WORK")"
echo "tern: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?');" \
        "postfix: $PF_VERSION (mail_owner $PF_OWNER)"

export SOURCE_OPTS=${SOURCE_OPTS:-} BENCH_INNER=1 FRESH_FS FS_OPTS WORK BUILD MESSAGES SIZE \
        SESSIONS USERS TERN POSTFIX SINK STALL VUID VGID AGENT_OPTS PF_OWNER
export STRACE=${STRACE:-} PERF=${PERF:-} PERF_LINES=${PERF_LINES:-30}
# ROUNDS runs of both halves, one after the other, so that a change of the host's speed (other
# guests on its CPUs) hits both sides alike; the median ratio is the figure to keep.
ratios=()
for round in $(seq 1 "$ROUNDS"); do
        [ "$ROUNDS" = 1 ] || echo "--- round $round of $ROUNDS"
        unshare -n "$BASH" "$0" | tee "$WORK/report"
        r=$(sed -n 's/^ratio tern \/ postfix: \([0-9.]*\) .*/\1/p' "$WORK/report")
        [ -z "$r" ] || ratios+=("$r")
done
if [ "$ROUNDS" != 1 ] && [ "${#ratios[@]}" -gt 0 ]; then
        printf '%s\n' "${ratios[@]}" | sort -n |
                awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                       printf "ratios of %d rounds: %s; median %.2f\n", NR, "'"${ratios[*]}"'", m }'
fi
