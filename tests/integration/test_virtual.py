# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration test of the virtual delivery agent: the real binary from the build tree under
systemd-socket-activate --accept on a unix socket (the LISTEN_FDS path of tern-virtual.socket),
a queue file written in the documented format (libshared/queue.h), qmgr's side of the
protocol (libshared/ipc.h) spoken from Python. Checks the replies and the delivered Maildir
and mbox files: owner, content byte for byte with the added headers, ">From " quoting,
unknown user, catch-all, address extensions, virtual_minimum_uid, virtual_mailbox_limit, an
fcntl lock held by the test, mail loops, verify requests, the log line, several requests on
one connection and a malformed request. As root the mailboxes belong to uid/gid 5000 (the
agent switches to them); otherwise to the test's own user."""

import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BUILD_ROOT = os.environ.get("TERN_BUILD_ROOT", "build")
VIRTUAL = os.path.join(BUILD_ROOT, "services", "virtual", "virtual")
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"

ROOT = os.geteuid() == 0
UID, GID = (5000, 5000) if ROOT else (os.getuid(), os.getgid())
MIN_UID = 100 if ROOT else max(1, UID)
LOW_UID = 5 if ROOT else max(0, UID - 1)

QUEUES = ["incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce"]
ADDED = ("Return-Path: <alice@example.org>\nX-Original-To: {orig}\n"
         "Delivered-To: {to}\n")


def xtext(s):
    out = []
    for b in s.encode():
        if 0x21 <= b <= 0x7E and b not in (ord("+"), ord("=")):
            out.append(chr(b))
        else:
            out.append("+%02X" % b)
    return "".join(out)


_id_counter = [0]


def queue_id():
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    _id_counter[0] += 1
    n = int(time.time() * 1e6) * 1000 + _id_counter[0]
    s = ""
    for _ in range(16):
        s = digits[n % 62] + s
        n //= 62
    return s


def write_queue_file(qdir, sender, rcpts, content, arrival=1700000000000000):
    """A finished queue file (format v1) in qdir/active; returns (id, offset, size)."""
    qid = queue_id()
    head = "arrival %d\n" % arrival
    head += ("sender %s\n" % xtext(sender)) if sender else "sender\n"
    for r in rcpts:
        head += "rcpt P 0 %s\n" % xtext(r)
    head += "content\n"
    offset = 42 + len(head.encode())
    header = "TERNQ/1 %016x %016x\n" % (offset, len(content))
    assert len(header) == 42
    path = os.path.join(qdir, "active", qid)
    with open(path, "wb") as f:
        f.write(header.encode() + head.encode() + content + b"end\n")
    os.chmod(path, 0o700)
    return qid, offset, len(content)


def request(qid, offset, size, rcpts, sender="alice@example.org", flags=""):
    """rcpts: list of (index, address, original)."""
    lines = ["request 1 active %s %d %d" % (qid, offset, size),
             ("sender " + xtext(sender)) if sender else "sender",
             "envid", "ret", "transport virtual", "nexthop example.com",
             ("flags " + flags) if flags else "flags"]
    for i, a, o in rcpts:
        lines.append("rcpt %d 0 %s %s" % (i, xtext(a), xtext(o)))
    lines.append("end")
    return ("\r\n".join(lines) + "\r\n").encode()


def read_reply(sock, ends=None):
    """The results of one reply by index; ends, a list, gets the final line ("end", or
    "end last" from an agent at max_use)."""
    data = b""
    while not re.search(rb"(^|\r\n)end( last)?\r\n$", data):
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("agent closed the connection; got %r" % data)
        data += chunk
    results = {}
    for line in data.decode().split("\r\n"):
        if not line.startswith("result "):
            continue
        parts = line.split(" ")
        text = parts[6] if len(parts) > 6 else ""
        text = re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)
        results[int(parts[1])] = (parts[2], parts[3], parts[4], text)
    if ends is not None:
        ends.append(data.decode().split("\r\n")[-2])
    return results


class Agent:
    def __init__(self, tmp, *args):
        self.tmp = tmp
        self.args = list(args)
        self.sock_path = os.path.join(tmp, "virtual.sock")
        self.log_path = os.path.join(tmp, "virtual.log")

    def __enter__(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [SOCKET_ACTIVATE, "--accept", "-l", self.sock_path, VIRTUAL,
             "-c", os.path.join(self.tmp, "etc")] + self.args,
            stdout=self.log, stderr=self.log)
        # The socket file exists from bind(); connections succeed from listen(): wait for one.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.connect().close()
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise AssertionError("socket never came up")
                time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.sock_path)
        return s

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    if not os.path.exists(VIRTUAL):
        print("virtual not built", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="tern-virtual-")
    os.chmod(tmp, 0o755)
    try:
        return run(tmp)
    finally:
        print(tmp) if os.environ.get("KEEP") else shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    etc = os.path.join(tmp, "etc")
    spool = os.path.join(tmp, "spool")
    vmail = os.path.join(tmp, "vmail")
    os.mkdir(etc)
    os.mkdir(spool, 0o700)
    for q in QUEUES:
        os.mkdir(os.path.join(spool, q), 0o700)
    os.mkdir(vmail, 0o755)
    os.chown(vmail, UID, GID)

    with open(os.path.join(etc, "vmailbox"), "w") as f:
        f.write("bob@example.com      example.com/bob/\n"
                "carol@example.com    example.com/carol\n"
                "full@example.com     example.com/full\n"
                "locked@example.com   example.com/locked\n"
                "loop@example.com     example.com/loop/\n"
                "low@example.com      example.com/low/\n"
                "deep@example.com     deep/a/b/inbox\n"
                "intruder@example.com example.com/bob/\n"
                "@catchall.test       catchall/\n")
    with open(os.path.join(etc, "vuid"), "w") as f:
        f.write("low@example.com %d\nintruder@example.com %d\n@example.com %d\n"
                "@catchall.test %d\n" % (LOW_UID, UID + 1, UID, UID))
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write("queue_directory = %s\n" % spool +
                "virtual_mailbox_base = %s\n" % vmail +
                "virtual_mailbox_maps = texthash:%s/vmailbox\n" % etc +
                "virtual_uid_maps = texthash:%s/vuid\n" % etc +
                "virtual_gid_maps = static:%d\n" % GID +
                "virtual_minimum_uid = %d\n" % MIN_UID +
                "virtual_mailbox_limit = 100000\n"
                "virtual_mailbox_lock = fcntl, dotlock\n"
                "recipient_delimiter = +\n"
                "max_idle = 30s\nmax_use = 100\n")

    os.mkdir(os.path.join(vmail, "example.com"), 0o755)
    os.chown(os.path.join(vmail, "example.com"), UID, GID)
    full = os.path.join(vmail, "example.com", "full")
    with open(full, "wb") as f:
        f.write(b"x" * 99950 + b"\n\n")
    os.chown(full, UID, GID)
    locked = os.path.join(vmail, "example.com", "locked")
    with open(locked, "wb"):
        pass
    os.chown(locked, UID, GID)

    content = (b"From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: test\n"
               b"\nHello Bob,\nFrom here on, a quoted line.\n>From stays.\n\xc3\xa9t\xc3\xa9\n")
    rcpts = ["bob@example.com", "carol@example.com", "nobody@example.com",
             "anyone@catchall.test", "bob+tag@example.com", "low@example.com",
             "full@example.com", "locked@example.com", "BOB@Example.COM", "deep@example.com",
             "intruder@example.com"]
    qid, off, size = write_queue_file(spool, "alice@example.org", rcpts, content)

    with Agent(tmp) as agent:
        lock_fd = os.open(locked, os.O_RDWR)
        fcntl.lockf(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        s = agent.connect()
        s.sendall(request(qid, off, size,
                          [(0, "bob@example.com", "bob@example.com"),
                           (1, "carol@example.com", "info@example.com"),
                           (10, "intruder@example.com", "intruder@example.com"),
                           (2, "nobody@example.com", "nobody@example.com"),
                           (3, "anyone@catchall.test", "anyone@catchall.test"),
                           (4, "bob+tag@example.com", "bob+tag@example.com"),
                           (5, "low@example.com", "low@example.com"),
                           (6, "full@example.com", "full@example.com"),
                           (7, "locked@example.com", "locked@example.com"),
                           (9, "deep@example.com", "deep@example.com")]))
        res = read_reply(s)
        os.close(lock_fd)

        check(res[0][:3] == ("sent", "2.0.0", "virtual"), "bob: %r" % (res[0],))
        check(res[0][3] == "delivered to maildir", "bob text: %r" % (res[0],))
        check(res[1][:2] == ("sent", "2.0.0") and res[1][3] == "delivered to mailbox",
              "carol: %r" % (res[1],))
        # Another uid cannot write into bob's Maildir (0700): the delivery really runs with
        # the owner's identity, and the agent gets its own back for the next recipients.
        check(res[10][0] == "deferred", "intruder: %r" % (res[10],))
        check(res[2][:2] == ("bounced", "5.1.1") and "unknown user" in res[2][3],
              "unknown: %r" % (res[2],))
        check(res[3][:2] == ("sent", "2.0.0"), "catch-all: %r" % (res[3],))
        check(res[4][:2] == ("sent", "2.0.0"), "extension: %r" % (res[4],))
        check(res[5][:2] == ("deferred", "4.3.5"), "minimum uid: %r" % (res[5],))
        check(res[6][:2] == ("bounced", "5.2.2") and "mailbox full" in res[6][3],
              "limit: %r" % (res[6],))
        check(res[7][:2] == ("deferred", "4.2.0") and "lock" in res[7][3],
              "lock held: %r" % (res[7],))

        # Missing parent directories are made, owned by the mailbox owner.
        check(res[9][:2] == ("sent", "2.0.0"), "deep: %r" % (res[9],))
        deep = os.path.join(vmail, "deep", "a", "b", "inbox")
        check(os.stat(deep).st_uid == UID and os.stat(os.path.dirname(deep)).st_uid == UID,
              "deep mbox owner")
        check(os.stat(os.path.join(vmail, "deep")).st_mode & 0o777 == 0o700, "parent mode")

        # Maildir: one file in new/ per delivery, owned by the mailbox owner, byte for byte.
        bobdir = os.path.join(vmail, "example.com", "bob")
        new = sorted(os.listdir(os.path.join(bobdir, "new")))
        check(len(new) == 2, "bob's new/: %r" % new)
        check(os.listdir(os.path.join(bobdir, "tmp")) == [], "tmp/ not empty")
        check(os.path.isdir(os.path.join(bobdir, "cur")), "no cur/")
        got = {}
        for n in new:
            p = os.path.join(bobdir, "new", n)
            st = os.stat(p)
            check((st.st_uid, st.st_gid) == (UID, GID), "owner of %s: %d" % (n, st.st_uid))
            check(st.st_mode & 0o777 == 0o600, "mode of %s" % n)
            with open(p, "rb") as f:
                got[f.read()] = n
        for to in ("bob@example.com", "bob+tag@example.com"):
            want = ADDED.format(orig=to, to=to).encode() + content
            check(want in got, "maildir content for %s: %r" % (to, list(got)))
        check(os.stat(bobdir).st_uid == UID, "Maildir owner")

        # mbox: From_ line, headers, quoting, blank line.
        with open(os.path.join(vmail, "example.com", "carol"), "rb") as f:
            mbox = f.read()
        check(re.match(rb"From alice@example\.org  [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d "
                       rb"\d\d:\d\d:\d\d \d{4}\n", mbox), "From_ line: %r" % mbox[:80])
        body = mbox.split(b"\n", 1)[1]
        want = (ADDED.format(orig="info@example.com", to="carol@example.com").encode() +
                content.replace(b"\nFrom here", b"\n>From here") + b"\n")
        check(body == want, "mbox content: %r" % body)
        check(os.stat(os.path.join(vmail, "example.com", "carol")).st_uid == UID, "mbox owner")
        check(not os.path.exists(os.path.join(vmail, "example.com", "carol.lock")),
              "dotlock left behind")

        # catch-all
        cnew = os.listdir(os.path.join(vmail, "catchall", "new"))
        check(len(cnew) == 1, "catch-all Maildir: %r" % cnew)

        # Untouched: the full mailbox, the locked one, the low-uid one.
        check(os.path.getsize(full) == 99952, "full mailbox changed")
        check(os.path.getsize(locked) == 0, "locked mailbox changed")
        check(not os.path.exists(os.path.join(vmail, "example.com", "low")), "low uid made")

        # The lock released: a second request on the same connection delivers. Mixed-case
        # address hits the folded table; verify does not deliver.
        s.sendall(request(qid, off, size, [(7, "locked@example.com", "locked@example.com"),
                                           (8, "BOB@Example.COM", "BOB@Example.COM")]))
        res = read_reply(s)
        check(res[7][:2] == ("sent", "2.0.0"), "lock released: %r" % (res[7],))
        check(res[8][:2] == ("sent", "2.0.0"), "mixed case: %r" % (res[8],))
        check(os.path.getsize(locked) > 0, "locked mailbox not written")
        s.sendall(request(qid, off, size, [(0, "bob@example.com", "bob@example.com"),
                                           (2, "nobody@example.com", "nobody@example.com")],
                          flags="verify"))
        res = read_reply(s)
        check(res[0][:2] == ("deliverable", "2.0.0"), "verify: %r" % (res[0],))
        check(res[2][:2] == ("undeliverable", "5.1.1"), "verify unknown: %r" % (res[2],))
        check(len(os.listdir(os.path.join(bobdir, "new"))) == 3, "verify delivered")

        # A message that already passed through the mailbox: mail forwarding loop.
        loop_content = b"Delivered-To: loop@example.com\nSubject: x\n\nbody\n"
        lqid, loff, lsize = write_queue_file(spool, "", ["loop@example.com"], loop_content)
        s.sendall(request(lqid, loff, lsize, [(0, "loop@example.com", "loop@example.com")],
                          sender=""))
        res = read_reply(s)
        check(res[0][:2] == ("bounced", "5.4.6"), "loop: %r" % (res[0],))

        # A queue file that is not there: deferred, not a crash.
        s.sendall(request("0000000000ZZZZZZ", 100, 10, [(0, "bob@example.com",
                                                               "bob@example.com")]))
        res = read_reply(s)
        check(res[0][:2] == ("deferred", "4.3.0"), "missing queue file: %r" % (res[0],))

        # A malformed request: the agent closes the connection.
        s.sendall(b"request 2 active x\r\n")
        s.settimeout(10)
        check(s.recv(100) == b"", "no close after a bad request")
        s.close()

        # A fresh connection gets a fresh agent.
        s = agent.connect()
        s.sendall(request(qid, off, size, [(1, "carol@example.com", "carol@example.com")]))
        res = read_reply(s)
        check(res[1][:2] == ("sent", "2.0.0"), "second agent: %r" % (res[1],))
        s.close()

        log = agent.log_text()
        check(re.search(r"%s: to=<bob@example\.com>, relay=virtual, delay=[0-9.e+]+, "
                        r"dsn=2\.0\.0, status=sent \(delivered to maildir\)" % qid, log),
              "log line: %s" % log)
        check(re.search(r"to=<nobody@example\.com>, relay=virtual, .*dsn=5\.1\.1, "
                        r"status=bounced \(unknown user", log), "bounce log: %s" % log)
        check("orig_to=<info@example.com>" in log, "orig_to in log")

    # max_use: the agent exits after that many requests, and its last reply says so
    # ("end last") so that qmgr does not send it another; max_idle: after that long without
    # one. Either way qmgr sees the connection close.
    with Agent(tmp, "-o", "max_use=2") as agent:
        s = agent.connect()
        ends = []
        for _ in range(2):
            s.sendall(request(qid, off, size, [(2, "nobody@example.com", "nobody@example.com")]))
            res = read_reply(s, ends)
            check(res[2][:2] == ("bounced", "5.1.1"), "max_use agent: %r" % (res[2],))
        check(ends == ["end", "end last"], "max_use end lines: %r" % ends)
        s.settimeout(10)
        check(s.recv(100) == b"", "no close after max_use requests")
        s.close()
    with Agent(tmp, "-o", "max_idle=1s") as agent:
        s = agent.connect()
        s.settimeout(20)
        check(s.recv(100) == b"", "no close after max_idle")
        s.close()

    print("test_virtual: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
