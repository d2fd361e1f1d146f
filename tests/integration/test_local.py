# SPDX-License-Identifier: GPL-3.0-or-later
"""The local delivery agent from the build tree under systemd-socket-activate --accept (the
connected socket as fd 3, as tern-local@.service gets it), driven over its unix socket with the
ipc protocol of libshared/ipc.h, on queue files written in the format of libshared/queue.h.
Needs root (test users, uid switches): skipped (77) otherwise.

Checks: Maildir delivery (owner, Return-Path, Delivered-To), spool mbox with From_ quoting, an
alias to two users, :include:, |command, /file, .forward, an extension .forward+ext with the
command environment, the unknown-user bounce, luser_relay, a Delivered-To loop, forwarding of a
non-local address into incoming/ (with Delivered-To), and the log line."""

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BUILD_ROOT = os.environ.get("TERN_BUILD_ROOT", "build")
LOCAL = os.path.join(BUILD_ROOT, "services", "local", "local")
TERNCTL = os.path.join(BUILD_ROOT, "tools", "ternctl", "ternctl")
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
HOST = "mx.example.test"
QUEUES = ["incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def xtext(s):
    out = []
    for b in s.encode():
        if 0x21 <= b <= 0x7e and b not in (0x2b, 0x3d):
            out.append(chr(b))
        else:
            out.append("+%02X" % b)
    return "".join(out)


def xtext_decode(s):
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def write_queue_file(qdir, qid, sender, rcpts, content):
    head = [f"arrival {int(time.time() * 1e6)}", "sender " + xtext(sender) if sender else "sender"]
    for r in rcpts:
        head.append(f"rcpt P 0 {xtext(r)}")
    head.append("content")
    head_b = ("\n".join(head) + "\n").encode()
    off = 42 + len(head_b)
    data = f"TERNQ/1 {off:016x} {len(content):016x}\n".encode() + head_b + content + b"end\n"
    path = os.path.join(qdir, "active", qid)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o700)
    return off, len(content)


_ids = [0]


def new_id():
    _ids[0] += 1
    return "%010d%06d" % (int(time.time()), _ids[0])


class Agent:
    def __init__(self, cfdir, sock, extra=()):
        self.sock = sock
        self.log_path = os.path.join(cfdir, os.path.basename(sock) + ".log")
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen([SOCKET_ACTIVATE, "--accept", "-l", sock, LOCAL, "-c",
                                      cfdir] + list(extra),
                                     stdout=self.log, stderr=self.log, env=env)
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.02)

    def request(self, qdir, sender, rcpts, content, transport="local", flags=""):
        qid = new_id()
        off, size = write_queue_file(qdir, qid, sender, [r[0] for r in rcpts], content)
        lines = [f"request 1 active {qid} {off} {size}",
                 "sender " + xtext(sender) if sender else "sender", "envid", "ret",
                 f"transport {transport}", f"nexthop {HOST}", ("flags " + flags).strip()]
        for i, (addr, orig) in enumerate(rcpts):
            lines.append(f"rcpt {i} 0 {xtext(addr)} {xtext(orig)}")
        lines.append("end")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(60)
            s.connect(self.sock)
            s.sendall(("\r\n".join(lines) + "\r\n").encode())
            buf = b""
            while not buf.endswith(b"end\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        results = {}
        for line in buf.decode().split("\r\n"):
            p = line.split(" ")
            if p[0] == "result":
                results[int(p[1])] = (p[2], p[3], xtext_decode(p[6]) if len(p) > 6 else "")
        return qid, results

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def maildir_files(home):
    d = os.path.join(home, "Maildir", "new")
    return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    if os.geteuid() != 0:
        print("test_local: needs root (test users, uid switches); skipped")
        return 77
    prefix = "tl" + secrets.token_hex(3)
    base = tempfile.mkdtemp(prefix="tern-local.")
    os.chmod(base, 0o755)
    homes = os.path.join(base, "home")
    os.mkdir(homes, 0o755)
    users = [prefix + s for s in ("a", "b", "c")]
    agents = []
    try:
        for u in users:
            subprocess.run(["useradd", "-m", "-b", homes, "-s", "/bin/sh", u], check=True)
        ua, ub, uc = users
        home = {u: pwd.getpwnam(u).pw_dir for u in users}
        uid = {u: pwd.getpwnam(u).pw_uid for u in users}
        nobody = pwd.getpwnam("nobody").pw_uid

        qdir = os.path.join(base, "queue")
        os.mkdir(qdir, 0o755)
        for q in QUEUES:
            os.mkdir(os.path.join(qdir, q), 0o700)
        out = os.path.join(base, "out")
        os.mkdir(out)
        os.chmod(out, 0o1777)
        spool = os.path.join(base, "spool")
        os.mkdir(spool)
        os.chmod(spool, 0o1777)

        with open(os.path.join(base, "list"), "w") as f:
            f.write(f"# the list\n{ua}\n{uc}\n")
        os.chmod(os.path.join(base, "list"), 0o644)
        aliases = os.path.join(base, "aliases")
        with open(aliases, "w") as f:
            f.write(f"both: {ua}, {uc}\n"
                    f"inc: :include:{base}/list\n"
                    f"cmd: \"|cat > {out}/cmd.txt\"\n"
                    f"tofile: {out}/file.mbox\n"
                    f"away: someone@elsewhere.example\n"
                    f"self: self, {ub}\n"
                    "tempfail: \"|exit 75\"\n"
                    "permfail: \"|echo no such luser; exit 67\"\n")
        subprocess.run([TERNCTL, "alias", "build", aliases], check=True)

        with open(os.path.join(base, "main.cf"), "w") as f:
            f.write(f"myhostname = {HOST}\nmydomain = example.test\n"
                    "mydestination = $myhostname, localhost\n"
                    f"queue_directory = {qdir}\nalias_maps = hash:{aliases}\n"
                    "home_mailbox = Maildir/\nrecipient_delimiter = +\n"
                    f"mail_spool_directory = {spool}\nmailbox_delivery_lock = fcntl\n"
                    "inet_interfaces = loopback-only\n")

        # .forward of b: to a and to b itself (b's own mailbox); .forward+foo of a: a command.
        with open(os.path.join(home[ub], ".forward"), "w") as f:
            f.write(f"{ua}, {ub}\n")
        with open(os.path.join(home[ua], ".forward+foo"), "w") as f:
            f.write(f"\"|env > {home[ua]}/env.txt\"\n")
        for u, name in ((ub, ".forward"), (ua, ".forward+foo")):
            os.chown(os.path.join(home[u], name), uid[u], -1)

        agent = Agent(base, os.path.join(base, "local.sock"))
        agents.append(agent)
        mbox_agent = Agent(base, os.path.join(base, "local2.sock"),
                           ["-o", "home_mailbox=", "-o", f"luser_relay={uc}@{HOST}"])
        agents.append(mbox_agent)

        msg = (b"From: Sender <s@example.org>\nTo: x\nSubject: hi\n\n"
               b"Hello\nFrom me, a line to quote\n.\n")
        a_addr = f"{ua}@{HOST}"

        # Maildir delivery
        _, res = agent.request(qdir, "s@example.org", [(a_addr, a_addr)], msg)
        check(res.get(0, ("",))[0] == "sent", f"maildir: {res}")
        check(res.get(0, ("", "", ""))[2] == "delivered to maildir", f"maildir text: {res}")
        files = maildir_files(home[ua])
        check(len(files) == 1, f"maildir files {files}")
        if files:
            data = read(files[0])
            check(os.stat(files[0]).st_uid == uid[ua], "maildir file owner")
            check(b"Return-Path: <s@example.org>\n" in data, "Return-Path")
            check(f"Delivered-To: {a_addr}\n".encode() in data, "Delivered-To")
            check(data.endswith(msg), "maildir content")
        check(re.search(rf": to=<{a_addr}>, relay=local, delay=[0-9.e+]+, dsn=2.0.0, "
                        r"status=sent \(delivered to maildir\)", agent.log_text()),
              "log line")

        # alias to two users
        _, res = agent.request(qdir, "s@example.org", [(f"both@{HOST}", f"both@{HOST}")], msg)
        check(res.get(0, ("",))[0] == "expanded", f"alias both: {res}")
        check(len(maildir_files(home[ua])) == 2 and len(maildir_files(home[uc])) == 1,
              "alias both delivered to a and c")
        check(re.search(rf"to=<{ua}@{HOST}>, orig_to=<both@{HOST}>", agent.log_text()),
              "orig_to in the log")

        # :include:
        _, res = agent.request(qdir, "s@example.org", [(f"inc@{HOST}", f"inc@{HOST}")], msg)
        check(res.get(0, ("",))[0] == "expanded", f"include: {res}")
        check(len(maildir_files(home[ua])) == 3 and len(maildir_files(home[uc])) == 2,
              "include delivered")

        # |command, as default_privs (the alias database belongs to root)
        _, res = agent.request(qdir, "s@example.org", [(f"cmd@{HOST}", f"cmd@{HOST}")], msg)
        check(res.get(0, ("",))[0] == "sent", f"command: {res}")
        p = os.path.join(out, "cmd.txt")
        check(os.path.exists(p) and os.stat(p).st_uid == nobody, "command output file")
        if os.path.exists(p):
            data = read(p)
            check(data.startswith(b"From s@example.org "), "command From_ line")
            check(data.endswith(msg), "command content")

        # /file
        _, res = agent.request(qdir, "s@example.org", [(f"tofile@{HOST}", f"tofile@{HOST}")],
                               msg)
        check(res.get(0, ("",))[0] == "sent", f"file: {res}")
        p = os.path.join(out, "file.mbox")
        check(os.path.exists(p) and os.stat(p).st_uid == nobody, "file owner")
        if os.path.exists(p):
            check(b"\n>From me, a line to quote\n" in read(p), "file From_ quoting")

        # .forward (b: to a, and b itself)
        _, res = agent.request(qdir, "s@example.org", [(f"{ub}@{HOST}", f"{ub}@{HOST}")], msg)
        check(res.get(0, ("",))[0] == "expanded", f".forward: {res}")
        check(len(maildir_files(home[ua])) == 4 and len(maildir_files(home[ub])) == 1,
              ".forward delivered to a and b")

        # extension: a+foo -> ~a/.forward+foo, a command as a with EXTENSION
        ext_addr = f"{ua}+foo@{HOST}"
        _, res = agent.request(qdir, "s@example.org", [(ext_addr, ext_addr)], msg)
        check(res.get(0, ("",))[0] == "sent", f"extension: {res}")
        p = os.path.join(home[ua], "env.txt")
        check(os.path.exists(p) and os.stat(p).st_uid == uid[ua], "extension command as user")
        if os.path.exists(p):
            env = read(p).decode()
            check("EXTENSION=foo\n" in env, "EXTENSION")
            check(f"USER={ua}\n" in env and f"LOCAL={ua}+foo\n" in env, "USER/LOCAL")
            check("SENDER=s@example.org\n" in env and f"HOME={home[ua]}\n" in env, "SENDER/HOME")

        # unknown user
        _, res = agent.request(qdir, "s@example.org", [(f"nosuch@{HOST}", f"nosuch@{HOST}")],
                               msg)
        check(res.get(0) == ("bounced", "5.1.1", 'unknown user: "nosuch"'), f"unknown: {res}")

        # Delivered-To loop
        loop = f"Delivered-To: {a_addr}\n".encode() + msg
        _, res = agent.request(qdir, "s@example.org", [(a_addr, a_addr)], loop)
        check(res.get(0, ("", ""))[:2] == ("bounced", "5.4.6"), f"loop: {res}")
        check("mail forwarding loop for" in res.get(0, ("", "", ""))[2], "loop text")

        # forwarding a non-local address: a new queue file in incoming/
        before = set(os.listdir(os.path.join(qdir, "incoming")))
        _, res = agent.request(qdir, "s@example.org", [(f"away@{HOST}", f"away@{HOST}")], msg)
        check(res.get(0, ("",))[0] == "sent" and "forwarded as" in res.get(0, ("",) * 3)[2],
              f"forward: {res}")
        new = set(os.listdir(os.path.join(qdir, "incoming"))) - before
        check(len(new) == 1, f"forwarded file {new}")
        for n in new:
            data = read(os.path.join(qdir, "incoming", n))
            check(b"rcpt P 0 someone@elsewhere.example" in data, "forwarded recipient")
            check(f"Delivered-To: away@{HOST}\n".encode() in data, "forwarded Delivered-To")
            check(b"\nHello\n" in data, "forwarded content")

        # spool mbox with From_ quoting, and luser_relay into it
        _, res = mbox_agent.request(qdir, "s@example.org", [(f"{uc}@{HOST}", f"{uc}@{HOST}")],
                                    msg)
        check(res.get(0, ("", "", ""))[::2] == ("sent", "delivered to mailbox"), f"mbox: {res}")
        _, res = mbox_agent.request(qdir, "", [(f"ghost@{HOST}", f"ghost@{HOST}")], msg)
        check(res.get(0, ("",))[0] == "sent", f"luser_relay: {res}")
        p = os.path.join(spool, uc)
        check(os.path.exists(p) and os.stat(p).st_uid == uid[uc], "spool mbox owner")
        if os.path.exists(p):
            data = read(p)
            check(data.startswith(b"From s@example.org "), "mbox From_ line")
            check(data.count(b"\n>From me, a line to quote\n") == 2, "mbox quoting")
            check(b"\nFrom MAILER-DAEMON " in data, "null sender From_ line")
            check(b"Return-Path: <>\n" in data, "null sender Return-Path")

        # sysexits: EX_TEMPFAIL defers, EX_NOUSER bounces with 5.1.1 and the output
        _, res = agent.request(qdir, "s@example.org", [(f"tempfail@{HOST}", f"tempfail@{HOST}"),
                                                       (f"permfail@{HOST}", f"permfail@{HOST}")],
                               msg)
        check(res.get(0, ("", ""))[:2] == ("deferred", "4.3.0"), f"tempfail: {res}")
        check(res.get(1, ("", ""))[:2] == ("bounced", "5.1.1"), f"permfail: {res}")
        check("no such luser" in res.get(1, ("", "", ""))[2], "command output in the text")

        # address verification delivers nothing
        n = len(maildir_files(home[ua]))
        _, res = agent.request(qdir, "s@example.org", [(a_addr, a_addr),
                                                       (f"nosuch@{HOST}", f"nosuch@{HOST}")],
                               msg, flags="verify")
        check(res.get(0, ("",))[0] == "deliverable", f"verify: {res}")
        check(res.get(1, ("",))[0] == "undeliverable", f"verify unknown: {res}")
        check(len(maildir_files(home[ua])) == n, "verify delivered nothing")

        # the alias that names itself is its user: "self" has no passwd entry -> bounce, and b
        _, res = agent.request(qdir, "s@example.org", [(f"self@{HOST}", f"self@{HOST}")], msg)
        check(res.get(0, ("",))[0] == "bounced", f"self alias: {res}")
    finally:
        for a in agents:
            try:
                a.stop()
            except Exception:
                pass
        for u in users:
            subprocess.run(["userdel", "-r", u], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if failures or os.environ.get("TERN_TEST_VERBOSE"):
            for a in agents:
                print(a.log_text(), file=sys.stderr)
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
