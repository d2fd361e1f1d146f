#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dovecot reads what tern delivers: a private Dovecot instance (its own configuration file,
IMAP on a loopback port, mail_location = maildir:~/Maildir, a passwd-file with the test user,
plaintext authentication, no TLS) next to tern's smtpd, qmgr and local from the build tree.
Messages sent over SMTP are fetched with imaplib and compared byte for byte with what was sent,
after the trace headers tern puts on top (Return-Path, X-Original-To, Delivered-To, Received);
Dovecot must also agree on the sizes, flags and count, and log no error about the Maildir.

Needs root (a real user, uid switches) and dovecot (dovecot-imapd): exits 77 otherwise."""

import imaplib
import os
import re
import secrets
import shutil
import smtplib
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import free_port  # noqa: E402
from test_delivery import (HOST, TestUsers, maildir_messages, new_system,  # noqa: E402
                           system_logs, wait_for)

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "secret-" + secrets.token_hex(4)
TRACE = ("return-path", "x-original-to", "delivered-to", "received")


def strip_trace(raw):
    """Drops the trace header fields at the top of a fetched message (CRLF line ends)."""
    lines = raw.split(b"\r\n")
    i = 0
    while i < len(lines):
        name = lines[i].split(b":", 1)[0].lower().decode("latin-1")
        if name in TRACE:
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
        else:
            break
    return lines[:i], b"\r\n".join(lines[i:])


class Dovecot:
    def __init__(self, base, users):
        self.dir = os.path.join(base, "dovecot")
        os.mkdir(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w") as f:
            for u in users:
                f.write(f"{u.pw_name}:{{PLAIN}}{PASSWORD}:{u.pw_uid}:{u.pw_gid}::{u.pw_dir}\n")
        os.chmod(passwd, 0o644)
        with open(self.conf, "w") as f:
            f.write(f"""# private instance of tern's test_dovecot
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = tern-test-{os.getpid()}
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 100
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
        self.proc = None

    def start(self):
        self.out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf], stdout=self.out,
                                     stderr=self.out)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("dovecot did not come up:\n" + self.log_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.out.close()
        self.proc = None

    def log_text(self):
        out = []
        for p in (self.log, os.path.join(self.dir, "stdout.log")):
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)


BODIES = {
        "plain": "Just one line.\r\n",
        "tricky": ("From the first column, which mbox would quote\r\n"
                   ".a line that SMTP dot-stuffs\r\n"
                   "..two dots\r\n"
                   "trailing white space   \r\n"
                   "\ttab first\r\n"
                   "\r\n"
                   + "x" * 990 + "\r\n"
                   "Gr\u00fc\u00dfe aus K\u00f6ln, 8bit UTF-8\r\n"
                   "last line without much\r\n"),
        "large": "".join(f"line {i:06d} " + "abcdefghij" * (i % 9) + "\r\n"
                         for i in range(6000)),
        "mime": ("This is a multi-part message in MIME format.\r\n"
                 "--b1\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                 "part one\r\n"
                 "--b1\r\n"
                 "Content-Type: application/octet-stream\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n"
                 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\r\n"
                 "--b1--\r\n"),
}


class DovecotReads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.u = TestUsers(["a"], tag="td")
        cls.ms = None
        cls.dovecot = None
        try:
            cls.ms = new_system({"home_mailbox": "Maildir/"}, lambda d: {
                    "local_recipient_maps": f"texthash:{d}/users"})
            with open(os.path.join(cls.ms.dir, "users"), "w") as f:
                f.write(f"{cls.u.user('a')} x\n")
            cls.ms.start()
            cls.dovecot = Dovecot(cls.u.base, [cls.u.pw("a")]).start()
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def cleanup(cls):
        try:
            if cls.dovecot:
                cls.dovecot.stop()
            if cls.ms:
                cls.ms.stop()
                cls.ms.smtpd.tmp.cleanup()
        finally:
            cls.u.remove()

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("TERN_TEST_VERBOSE"):
            print(system_logs(cls.ms) + "\n--- dovecot ---\n" + cls.dovecot.log_text(),
                  file=sys.stderr)
        cls.cleanup()

    def diag(self):
        return system_logs(self.ms) + "\n--- dovecot ---\n" + self.dovecot.log_text()

    def imap(self):
        c = imaplib.IMAP4("127.0.0.1", self.dovecot.port, timeout=30)
        c.login(self.u.user("a"), PASSWORD)
        return c

    def test_byte_for_byte(self):
        u = self.u
        sent = {}
        for kind, body in BODIES.items():
            subj = f"dovecot {kind} {secrets.token_hex(6)}"
            extra = ("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n"
                     if kind == "mime" else
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "X-Folded: first part\r\n second part\r\n")
            msg = (f"From: Tester <tester@example.org>\r\nTo: {u.addr('a')}\r\n"
                   f"Subject: {subj}\r\nMessage-ID: <{secrets.token_hex(8)}@example.org>\r\n"
                   "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
                   f"{extra}\r\n{body}").encode()
            with smtplib.SMTP("127.0.0.1", self.ms.smtpd.port, timeout=30) as s:
                s.ehlo("client.example")
                s.mail("tester@example.org", ["BODY=8BITMIME"])
                s.rcpt(u.addr("a"))
                code, resp = s.data(msg)
                self.assertEqual(code, 250, resp)
            sent[subj] = msg
        maildir = os.path.join(u.home("a"), "Maildir")
        wait_for(lambda: len(maildir_messages(maildir)) >= len(sent), 30,
                 "the deliveries", self.diag)

        c = self.imap()
        try:
            typ, data = c.select("INBOX")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(int(data[0]), len(sent))
            for subj, msg in sent.items():
                typ, nums = c.search(None, "HEADER", "Subject", subj.rsplit(" ", 1)[-1])
                self.assertEqual(typ, "OK")
                self.assertEqual(len(nums[0].split()), 1, f"{subj}: {nums}\n{self.diag()}")
                num = nums[0].split()[0]
                typ, fetched = c.fetch(num, "(FLAGS RFC822.SIZE BODY.PEEK[])")
                self.assertEqual(typ, "OK", fetched)
                meta, raw = fetched[0]
                size = int(re.search(rb"RFC822\.SIZE (\d+)", meta).group(1))
                self.assertEqual(size, len(raw), "RFC822.SIZE agrees with the content")
                self.assertIn(b"\\Recent", meta)
                self.assertNotIn(b"\\Seen", meta)
                trace, rest = strip_trace(raw)
                self.assertEqual(rest, msg, f"{subj}: content differs")
                names = [t.split(b":", 1)[0].lower() for t in trace]
                self.assertEqual(names[0], b"return-path", trace)
                self.assertEqual(trace[0], b"Return-Path: <tester@example.org>")
                self.assertIn(f"Delivered-To: {u.addr('a')}".encode(), trace)
                self.assertIn(b"received", names)
                # The header the MUA shows and the body part IMAP hands out on its own.
                typ, part = c.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
                self.assertEqual(part[0][1], f"Subject: {subj}\r\n\r\n".encode())
                self.assertEqual(part[1][1], msg.split(b"\r\n\r\n", 1)[1])
            # Reading moves the mail from new/ to cur/, as a Maildir reader does.
            typ, _ = c.fetch("1:*", "(BODY[])")
            self.assertEqual(typ, "OK")
        finally:
            c.logout()
        wait_for(lambda: not os.listdir(os.path.join(maildir, "new")), 10,
                 "dovecot to move the mail to cur/", self.diag)
        self.assertEqual(len(os.listdir(os.path.join(maildir, "cur"))), len(sent))
        errors = [ln for ln in self.dovecot.log_text().splitlines()
                  if re.search(r"\b(Error|Panic|Fatal|Warning)\b", ln)]
        self.assertEqual(errors, [], "dovecot complains:\n" + "\n".join(errors))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_dovecot: needs root (a test user, uid switches); skipped")
        sys.exit(77)
    if not os.path.exists(DOVECOT):
        print("test_dovecot: dovecot (dovecot-imapd) is not installed; skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
