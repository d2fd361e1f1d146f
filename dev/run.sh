#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the build dependencies, builds tern, and runs the whole mail system from the build tree
# on its embedded default configuration (dev/etc/main.cf): smtpd on 127.0.0.1:2525, qmgr, and the
# local and virtual agents, each started the way systemd starts it (systemd-socket-activate hands
# over the sockets: LISTEN_FDS), everything under ./run/. Mail for the demo domain demo.test lands
# in Maildirs under ./run/mail/. Ctrl-C stops it.
#   PORT=2526 bash dev/run.sh       another port
#   BUILD_DIR=build-x bash dev/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash dev/deps.sh

build=${BUILD_DIR:-build}
[ -d "$build" ] || meson setup "$build" --buildtype=debugoptimized
ninja -C "$build"

port=${PORT:-2525}
run=$top/run
mkdir -p "$run/etc" "$run/sockets" "$run/mail"
rm -f "$run"/sockets/*

# Virtual mailboxes belong to the invoking user; as root, to nobody (tern never delivers as
# root; virtual_minimum_uid keeps uid 0 out).
owner_uid=$(id -u) owner_gid=$(id -g)
if [ "$owner_uid" -eq 0 ]; then
        owner_uid=$(id -u nobody) owner_gid=$(id -g nobody)
        chown "$owner_uid:$owner_gid" "$run/mail"
fi

# The embedded default plus the paths of this checkout (main.cf has no include).
{
        cat dev/etc/main.cf
        cat <<EOF

# Added by dev/run.sh for this checkout:
queue_directory = $run/queue
alias_maps =
alias_database =
virtual_mailbox_domains = demo.test
virtual_mailbox_base = $run/mail
virtual_mailbox_maps = texthash:$run/etc/vmailbox
virtual_uid_maps = static:$owner_uid
virtual_gid_maps = static:$owner_gid
virtual_minimum_uid = 1
EOF
} > "$run/etc/main.cf"
printf 'alice@demo.test alice/\nbob@demo.test bob/\npostmaster@demo.test postmaster/\n' \
        > "$run/etc/vmailbox"

export TERN_CONFIG=$run/etc
"$build/tools/ternctl/ternctl" config --check

pids=()
stop() {
        trap - INT TERM EXIT
        echo
        echo "== stopping tern"
        for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
}
trap stop INT TERM EXIT

activate=(systemd-socket-activate -E "RUNTIME_DIRECTORY=$run/sockets")
log=$run/tern.log
: > "$log"
for agent in local virtual; do
        "${activate[@]}" --accept -l "$run/sockets/$agent" \
                "$build/services/$agent/$agent" -c "$run/etc" >> "$log" 2>&1 &
        pids+=($!)
done
"${activate[@]}" --datagram -l "$run/sockets/qmgr" \
        "$build/services/qmgr/qmgr" -c "$run/etc" >> "$log" 2>&1 &
pids+=($!)
"${activate[@]}" -l "127.0.0.1:$port" \
        "$build/services/smtpd/smtpd" -c "$run/etc" >> "$log" 2>&1 &
pids+=($!)

# Wake qmgr (under systemd, tern.target starts it) once its socket exists.
for _ in $(seq 50); do [ -S "$run/sockets/qmgr" ] && break; sleep 0.1; done
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"i", sys.argv[1])' \
        "$run/sockets/qmgr"

cat <<EOF

== tern is running: smtpd on 127.0.0.1:$port, queue in $run/queue, log in $log

Send a test message:
    swaks --server 127.0.0.1:$port --from you@example.org --to alice@demo.test
or
    python3 -c 'import smtplib; smtplib.SMTP("127.0.0.1", $port).sendmail("you@example.org", ["alice@demo.test"], "Subject: hello\\r\\n\\r\\nhi\\r\\n")'

It lands in $run/mail/alice/new/ (bob@demo.test and postmaster@demo.test work too).
Follow the log with: tail -f $log          Ctrl-C stops tern.
EOF
tail -n +1 -f "$log" &
pids+=($!)
wait
