#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""idle_sessions.py: resident memory of an SMTP server per idle session.

Reads the server's VmRSS from /proc/PID/status, opens N TCP connections to HOST:PORT, reads
each 220 greeting (and, with --ehlo, sends EHLO and reads the whole 250 reply), keeps them all
open and idle, reads VmRSS again after --settle seconds, then says QUIT on each and prints

    sessions=N rss_before_kib=A rss_after_kib=B kib_per_session=(B-A)/N

Exits 1 when a connection fails or a reply is not the expected one, 2 on bad usage. Raises its
own open-file limit to N plus a margin; the server's limit is the caller's business. Not part
of the test suite; see README.md.
"""

import argparse
import resource
import socket
import sys
import time


def vm_rss_kib(pid):
    """The VmRSS line of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def read_reply(sock, buf):
    """Reads one whole SMTP reply (possibly multi-line); returns (code, rest of buf)."""
    while True:
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            if len(line) < 3:
                raise RuntimeError(f"short reply line {line!r}")
            if len(line) == 3 or line[3:4] == b" ":
                return int(line[:3]), buf
        data = sock.recv(4096)
        if not data:
            raise RuntimeError("connection closed by the server")
        buf += data


def open_session(host, port, ehlo, timeout):
    sock = socket.create_connection((host, port), timeout=timeout)
    code, buf = read_reply(sock, b"")
    if code != 220:
        sock.close()
        raise RuntimeError(f"greeting {code}")
    if ehlo:
        sock.sendall(b"EHLO idle.bench.example\r\n")
        code, buf = read_reply(sock, buf)
        if code != 250:
            sock.close()
            raise RuntimeError(f"EHLO answered {code}")
    return sock


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--pid", type=int, required=True, help="the server process to measure")
    ap.add_argument("-n", "--sessions", type=int, default=1000)
    ap.add_argument("--ehlo", action="store_true", help="send EHLO on each session")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds to wait with all sessions idle before measuring")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-reply timeout, seconds")
    args = ap.parse_args()
    if args.sessions < 1:
        ap.error("--sessions must be at least 1")

    want = args.sessions + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            print(f"idle_sessions: open-file limit {hard} < {want}", file=sys.stderr)
            return 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    before = vm_rss_kib(args.pid)
    socks = []
    try:
        for i in range(args.sessions):
            try:
                socks.append(open_session(args.host, args.port, args.ehlo, args.timeout))
            except (OSError, RuntimeError) as e:
                print(f"idle_sessions: session {i + 1}: {e}", file=sys.stderr)
                return 1
        time.sleep(args.settle)
        after = vm_rss_kib(args.pid)
        # Still alive and serving: one more greeting while all the others are open.
        try:
            open_session(args.host, args.port, False, args.timeout).close()
        except (OSError, RuntimeError) as e:
            print(f"idle_sessions: server unresponsive with {len(socks)} sessions open: {e}",
                  file=sys.stderr)
            return 1
    finally:
        for s in socks:
            try:
                s.sendall(b"QUIT\r\n")
            except OSError:
                pass
            s.close()

    per = (after - before) / args.sessions
    print(f"sessions={args.sessions} ehlo={'yes' if args.ehlo else 'no'} "
          f"rss_before_kib={before} rss_after_kib={after} kib_per_session={per:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
