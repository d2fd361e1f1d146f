#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end delivery: the real smtpd, qmgr, local and virtual from the build tree, wired by
tern_harness.MailSystem as systemd wires them (qmgr on its datagram socket, agents through
systemd-socket-activate --accept), with real test users (useradd, removed at the end). Mail is
sent over SMTP and looked for in the mailboxes:

  Maildir:  a local user's ~/Maildir/new, an alias to two users, a :include: list, ~/.forward,
            an alias "|command", an alias /file, a virtual Maildir and a virtual mbox; an unknown
            local user (local_recipient_maps empty, so local bounces it) and a transport_maps
            error: destination, each bouncing with an RFC 3464 report from MAILER-DAEMON into
            the sender's own Maildir; with notify_classes = bounce, 2bounce the postmaster's
            headers-only copy and the double bounce of a null-sender message; a success
            notice for NOTIFY=SUCCESS; the Postfix-shaped log lines of local, virtual and qmgr.
  mbox:     home_mailbox unset: mail_spool_directory mbox; a mailbox whose fcntl lock the test
            holds: local defers with 4.2.0, qmgr retries with growing backoff, a delay notice
            (delay_warning_time) reaches the sender's mbox while the lock is held, and the mail
            is delivered once the lock is released; the queue empties.

Needs root (users, uid switches): exits 77 (skipped) otherwise. The helpers TestUsers, wait_for
and maildir_messages are shared with test_dovecot.py and test_delivery_crash.py."""

import fcntl
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import TERNCTL, MailSystem  # noqa: E402

HOST = "mx.example.test"
VDOMAIN = "virt.test"
VUID = 5000


class TestUsers:
    """Real users with a unique prefix and their homes under a private temporary base
    (mode 0755 so that each user reaches their own home)."""

    def __init__(self, names, tag="te"):
        self.prefix = tag + secrets.token_hex(3)
        self.base = tempfile.mkdtemp(prefix="tern-e2e.")
        os.chmod(self.base, 0o755)
        self.homes = os.path.join(self.base, "home")
        os.mkdir(self.homes, 0o755)
        self.names = list(names)
        self.created = []
        try:
            for n in self.names:
                subprocess.run(["useradd", "-m", "-b", self.homes, "-s", "/bin/sh",
                                self.user(n)], check=True, stdout=subprocess.DEVNULL)
                self.created.append(self.user(n))
        except BaseException:
            self.remove()
            raise

    def user(self, n):
        return self.prefix + n

    def addr(self, n, host=HOST):
        return f"{self.user(n)}@{host}"

    def pw(self, n):
        return pwd.getpwnam(self.user(n))

    def home(self, n):
        return self.pw(n).pw_dir

    def remove(self):
        for u in self.created:
            subprocess.run(["userdel", "-r", "-f", u], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self.created = []
        shutil.rmtree(self.base, ignore_errors=True)


def wait_for(pred, timeout=30, what="condition", detail=lambda: ""):
    deadline = time.time() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{detail()}")
        time.sleep(0.1)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def maildir_messages(maildir):
    """{path: bytes} of the messages in maildir/new (the caller names the Maildir)."""
    d = os.path.join(maildir, "new")
    out = {}
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return out
    for n in names:
        try:
            out[os.path.join(d, n)] = read(os.path.join(d, n))
        except FileNotFoundError:
            pass
    return out


def mbox_messages(path):
    """The messages of an mbox split at its "From " lines (each with its From_ line)."""
    try:
        data = read(path)
    except FileNotFoundError:
        return []
    parts = re.split(rb"(?m)^(?=From )", data)
    return [p for p in parts if p.startswith(b"From ")]


def message(subject, body="Hello from the end-to-end test.\r\n", extra=""):
    return (f"From: Tester <tester@example.org>\r\nTo: someone@example.org\r\n"
            f"Subject: {subject}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{secrets.token_hex(8)}@example.org>\r\n{extra}\r\n{body}")


def lf(text):
    return text.replace("\r\n", "\n").encode()


def unique(tag):
    return f"{tag} {secrets.token_hex(6)}"


def system_logs(ms):
    return "\n".join(f"--- {n} ---\n{ms.log_text(n)}" for n in ("qmgr", "local", "virtual")) + \
        "\n--- smtpd ---\n" + ms.smtpd.log_text()


def new_system(main_cf, dir_files):
    """A MailSystem whose main.cf gets lines that name files in its own directory:
    dir_files(dir) returns {name: value} appended to main.cf."""
    ms = MailSystem(main_cf, users=())
    os.chmod(ms.dir, 0o755)
    with open(os.path.join(ms.dir, "main.cf"), "a") as f:
        for k, v in dir_files(ms.dir).items():
            f.write(f"{k} = {v}\n")
    return ms


class MaildirDelivery(unittest.TestCase):
    """home_mailbox = Maildir/, aliases, .forward, commands, files, virtual mailboxes and
    bounces, on one running mail system."""

    @classmethod
    def setUpClass(cls):
        cls.u = TestUsers(["s", "a", "b", "c", "d", "e", "p"])
        try:
            cls._setup_system()
        except BaseException:
            cls.u.remove()
            raise

    @classmethod
    def _setup_system(cls):
        u = cls.u
        base = u.base
        cls.out = os.path.join(base, "out")
        os.mkdir(cls.out)
        os.chmod(cls.out, 0o1777)
        cls.vmail = os.path.join(base, "vmail")
        os.mkdir(cls.vmail)
        os.chown(cls.vmail, VUID, VUID)
        with open(os.path.join(base, "list"), "w") as f:
            f.write(f"# an include list\n{u.user('b')}\n{u.user('c')}\n")
        os.chmod(os.path.join(base, "list"), 0o644)
        # d forwards to e and keeps a copy.
        fwd = os.path.join(u.home("d"), ".forward")
        with open(fwd, "w") as f:
            f.write(f"{u.user('e')}, {u.user('d')}\n")
        os.chown(fwd, u.pw("d").pw_uid, -1)

        def files(d):
            with open(os.path.join(d, "aliases"), "w") as f:
                f.write(f"team: {u.user('a')}, {u.user('c')}\n"
                        f"listed: :include:{base}/list\n"
                        f"cmd: \"|cat > {cls.out}/cmd.txt\"\n"
                        f"tofile: {cls.out}/file.mbox\n"
                        f"postmaster: {u.user('p')}\n")
            subprocess.run([TERNCTL, "-c", d, "alias", "build", os.path.join(d, "aliases")],
                           check=True)
            with open(os.path.join(d, "transport"), "w") as f:
                f.write("err.test error:5.7.1 no mail accepted here; go away\n")
            with open(os.path.join(d, "vmailbox"), "w") as f:
                f.write(f"vm@{VDOMAIN} {VDOMAIN}/vm/\nvbox@{VDOMAIN} {VDOMAIN}/vbox\n")
            return {"alias_maps": f"hash:{d}/aliases",
                    "alias_database": f"hash:{d}/aliases",
                    "transport_maps": f"texthash:{d}/transport",
                    "virtual_mailbox_maps": f"texthash:{d}/vmailbox"}

        cls.ms = new_system({
                "home_mailbox": "Maildir/",
                "local_recipient_maps": "",
                "recipient_delimiter": "+",
                "virtual_mailbox_domains": VDOMAIN,
                "virtual_mailbox_base": cls.vmail,
                "virtual_uid_maps": f"static:{VUID}",
                "virtual_gid_maps": f"static:{VUID}",
                "virtual_minimum_uid": "100",
                "queue_run_delay": "1s",
                "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s",
                "notify_classes": "bounce, 2bounce, resource, software",
        }, files)
        cls.ms.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.ms.stop()
            if os.environ.get("TERN_TEST_VERBOSE"):
                print(system_logs(cls.ms), file=sys.stderr)
            cls.ms.smtpd.tmp.cleanup()
        finally:
            cls.u.remove()

    def logs(self):
        return system_logs(self.ms)

    def maildir(self, n):
        return os.path.join(self.u.home(n), "Maildir")

    def wait_mail(self, n, marker, count=1, timeout=30):
        """Waits for count messages holding marker in user n's Maildir; returns them."""
        m = marker.encode()
        return wait_for(lambda: (lambda got: got if len(got) >= count else None)(
                [(p, d) for p, d in maildir_messages(self.maildir(n)).items() if m in d]),
                timeout, f"{marker!r} in {self.u.user(n)}'s Maildir", self.logs)

    def assert_no_mail(self, n, marker):
        m = marker.encode()
        got = [p for p, d in maildir_messages(self.maildir(n)).items() if m in d]
        self.assertEqual(got, [], f"{marker!r} unexpectedly in {self.u.user(n)}'s Maildir")

    def send(self, sender, rcpts, subject, **kw):
        return self.ms.send(sender, rcpts, message(subject, **kw))

    def test_maildir(self):
        u = self.u
        subj = unique("maildir")
        body = "Line one\r\nFrom the start of a line\r\n.dot line\r\n"
        msg = message(subj, body=body)
        qid = self.ms.send(u.addr("s"), [u.addr("a")], msg)
        [(path, data)] = self.wait_mail("a", subj)
        st = os.stat(path)
        self.assertEqual(st.st_uid, u.pw("a").pw_uid, "Maildir file belongs to the user")
        head, sep, rest = data.partition(b"\n")
        self.assertEqual(head, f"Return-Path: <{u.addr('s')}>".encode())
        self.assertIn(f"\nDelivered-To: {u.addr('a')}\n".encode(), data)
        self.assertIn(b"\nReceived: from client.example", data)
        # Maildir content is not From_-quoted and the SMTP dot is gone; LF line ends.
        self.assertTrue(data.endswith(lf(msg)), data)
        self.assertEqual(os.path.basename(os.path.dirname(path)), "new")
        self.assertEqual(os.listdir(os.path.join(self.maildir("a"), "tmp")), [])
        self.ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('a'))}>, relay=local, "
                         rf"delay=[0-9.e+-]+, dsn=2\.0\.0, status=sent \(delivered to maildir\)$",
                         "local")
        self.ms.wait_log(rf"^{qid}: removed$")
        self.assertEqual(self.ms.queue_files(os.path.join("defer")), [])

    def test_alias_to_two_users(self):
        u = self.u
        subj = unique("alias")
        qid = self.send(u.addr("s"), [f"team@{HOST}"], subj)
        [(_, da)] = self.wait_mail("a", subj)
        [(_, dc)] = self.wait_mail("c", subj)
        # local(8): Delivered-To names the recipient local was given (the alias), as in
        # Postfix, so that a copy forwarded back here is recognised as a loop.
        for d in (da, dc):
            self.assertIn(f"\nX-Original-To: team@{HOST}\nDelivered-To: team@{HOST}\n".encode(),
                          d)
        self.assert_no_mail("b", subj)
        self.ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('c'))}>, orig_to=<team@{HOST}>, "
                         rf"relay=local, .*status=sent \(delivered to maildir\)$", "local")

    def test_include_list(self):
        u = self.u
        subj = unique("include")
        self.send(u.addr("s"), [f"listed@{HOST}"], subj)
        self.wait_mail("b", subj)
        self.wait_mail("c", subj)
        self.assert_no_mail("a", subj)

    def test_forward(self):
        u = self.u
        subj = unique("forward")
        qid = self.send(u.addr("s"), [u.addr("d")], subj)
        [(_, de)] = self.wait_mail("e", subj)
        [(_, dd)] = self.wait_mail("d", subj)
        for d in (de, dd):
            self.assertIn(f"\nDelivered-To: {u.addr('d')}\n".encode(), d)
        self.ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('e'))}>, "
                         rf"orig_to=<{re.escape(u.addr('d'))}>, relay=local, .*status=sent",
                         "local")

    def test_command(self):
        u = self.u
        subj = unique("command")
        qid = self.send(u.addr("s"), [f"cmd@{HOST}"], subj)
        path = os.path.join(self.out, "cmd.txt")
        m = subj.encode()
        data = wait_for(lambda: os.path.exists(path) and m in read(path) and read(path),
                        30, "the command's output", self.logs)
        self.assertTrue(data.startswith(f"From {u.addr('s')} ".encode()), data)
        self.assertIn(f"\nReturn-Path: <{u.addr('s')}>\n".encode(), data)
        self.assertEqual(os.stat(path).st_uid, pwd.getpwnam("nobody").pw_uid)
        self.ms.wait_log(rf"^{qid}: to=<cmd@{HOST}>, relay=local, .*dsn=2\.0\.0, "
                         rf"status=sent \(delivered to command: cat > ", "local")

    def test_file(self):
        u = self.u
        subj = unique("file")
        self.send(u.addr("s"), [f"tofile@{HOST}"], subj,
                  body="before\r\nFrom here on it is quoted\r\n")
        path = os.path.join(self.out, "file.mbox")
        m = subj.encode()
        wait_for(lambda: os.path.exists(path) and m in read(path), 30, "the /file delivery",
                 self.logs)
        [msg] = [x for x in mbox_messages(path) if m in x]
        self.assertTrue(msg.startswith(f"From {u.addr('s')} ".encode()))
        self.assertIn(b"\nbefore\n>From here on it is quoted\n", msg)

    def test_virtual_maildir_and_mbox(self):
        u = self.u
        subj = unique("virtual")
        qid = self.send(u.addr("s"), [f"vm@{VDOMAIN}", f"vbox@{VDOMAIN}"], subj,
                        body="x\r\nFrom a virtual line\r\n")
        m = subj.encode()
        maildir = os.path.join(self.vmail, VDOMAIN, "vm")
        [(path, data)] = wait_for(lambda: [(p, d) for p, d in maildir_messages(maildir).items()
                                           if m in d], 30, "virtual Maildir", self.logs)
        self.assertEqual(os.stat(path).st_uid, VUID)
        self.assertTrue(data.startswith(f"Return-Path: <{u.addr('s')}>\n".encode()), data)
        self.assertIn(f"\nDelivered-To: vm@{VDOMAIN}\n".encode(), data)
        self.assertIn(b"\nFrom a virtual line\n", data)
        mbox = os.path.join(self.vmail, VDOMAIN, "vbox")
        wait_for(lambda: any(m in x for x in mbox_messages(mbox)), 30, "virtual mbox",
                 self.logs)
        [msg] = [x for x in mbox_messages(mbox) if m in x]
        self.assertEqual(os.stat(mbox).st_uid, VUID)
        self.assertIn(b"\n>From a virtual line\n", msg)
        self.ms.wait_log(rf"^{qid}: to=<vm@{VDOMAIN}>, relay=virtual, .*dsn=2\.0\.0, "
                         rf"status=sent \(delivered to maildir\)$", "virtual")
        self.ms.wait_log(rf"^{qid}: to=<vbox@{VDOMAIN}>, relay=virtual, .*dsn=2\.0\.0, "
                         rf"status=sent \(delivered to mailbox\)$", "virtual")

    def check_bounce(self, notice, qid, rcpt, status, diag, subj):
        u = self.u
        head = notice.split(b"\n\n", 1)[0].decode()
        self.assertTrue(notice.startswith(b"Return-Path: <>\n"), notice[:200])
        self.assertIn(f"\nDelivered-To: {u.addr('s')}\n", head)
        self.assertIn(f"\nFrom: MAILER-DAEMON@{HOST} (Mail Delivery System)\n", head)
        self.assertIn("\nSubject: Undelivered Mail Returned to Sender\n", head)
        self.assertIn(f"\nTo: {u.addr('s')}\n", head)
        self.assertRegex(head, r"\nContent-Type: multipart/report; "
                               r"report-type=delivery-status;\n\s+boundary=")
        text = notice.decode("utf-8", "replace")
        boundary = re.search(r'boundary="([^"]+)"', head).group(1)
        parts = text.split("--" + boundary)
        self.assertEqual(parts[-1].strip(), "--", "closing boundary")
        self.assertEqual(len(parts), 5, "notification, delivery report, original, end")
        self.assertIn("Content-Description: Notification", parts[1])
        self.assertIn("This is the mail system at host " + HOST, parts[1])
        self.assertIn(f"<{rcpt}>", parts[1])
        report = parts[2]
        self.assertIn("Content-Type: message/delivery-status", report)
        self.assertIn(f"Reporting-MTA: dns; {HOST}", report)
        self.assertIn(f"X-Tern-Queue-ID: {qid}", report)
        self.assertRegex(report, r"\nArrival-Date: \w{3}, +\d+ \w{3} \d{4} ")
        self.assertIn(f"\nFinal-Recipient: rfc822; {rcpt}\n", report)
        self.assertIn("\nAction: failed\n", report)
        self.assertIn(f"\nStatus: {status}\n", report)
        self.assertRegex(report, r"\nDiagnostic-Code: X-(Postfix|Tern); " + re.escape(diag))
        self.assertRegex(parts[3], r"Content-Type: (message/rfc822|text/rfc822-headers)")
        self.assertIn(f"Subject: {subj}", parts[3])

    def test_unknown_user_bounces_to_sender(self):
        u = self.u
        subj = unique("unknown")
        rcpt = f"{u.prefix}nosuch@{HOST}"
        qid = self.send(u.addr("s"), [rcpt], subj)
        self.ms.wait_log(rf"^{qid}: to=<{re.escape(rcpt)}>, relay=local, .*dsn=5\.1\.1, "
                         rf"status=bounced \(unknown user: \"{u.prefix}nosuch\"\)$", "local")
        self.ms.wait_log(rf"^{qid}: sender non-delivery notification: \w+$")
        [(_, notice)] = self.wait_mail("s", subj)
        self.check_bounce(notice, qid, rcpt, "5.1.1", f'unknown user: "{u.prefix}nosuch"', subj)

    def test_transport_error_bounces_to_sender(self):
        u = self.u
        subj = unique("errortransport")
        qid = self.send(u.addr("s"), ["who@err.test", u.addr("b")], subj)
        self.ms.wait_log(rf"^{qid}: to=<who@err\.test>, relay=none, .*dsn=5\.7\.1, "
                         rf"status=bounced \(no mail accepted here; go away\)$")
        self.wait_mail("b", subj)
        [(_, notice)] = self.wait_mail("s", subj)
        self.check_bounce(notice, qid, "who@err.test", "5.7.1", "no mail accepted here; go away",
                          subj)
        self.assertNotIn(f"Final-Recipient: rfc822; {u.addr('b')}".encode(), notice)
        self.ms.wait_log(rf"^{qid}: removed$")

    def test_success_notice(self):
        u = self.u
        subj = unique("notify")
        qid = self.ms.send(u.addr("s"), [u.addr("b")], message(subj),
                           rcpt_options=["NOTIFY=SUCCESS"])
        self.wait_mail("b", subj)
        [(_, notice)] = self.wait_mail("s", subj)
        head = notice.split(b"\n\n", 1)[0]
        self.assertTrue(notice.startswith(b"Return-Path: <>\n"))
        self.assertIn(b"\nSubject: Successful Mail Delivery Report\n", head)
        self.assertIn(f"\nFinal-Recipient: rfc822; {u.addr('b')}\n".encode(), notice)
        self.assertIn(b"\nAction: delivered\nStatus: 2.0.0\n", notice)
        self.assertRegex(notice, rb"\nDiagnostic-Code: X-(Postfix|Tern); delivered to maildir\n")
        self.ms.wait_log(rf"^{qid}: sender delivery status notification: \w+$")

    def test_postmaster_copy_and_double_bounce(self):
        u = self.u
        # notify_classes = bounce: the postmaster gets a headers-only copy of a bounce.
        subj = unique("pmcopy")
        rcpt = f"{u.prefix}nobody1@{HOST}"
        self.send(u.addr("s"), [rcpt], subj, body="secret body text\r\n")
        self.wait_mail("s", subj)
        [(_, copy)] = self.wait_mail("p", subj)
        self.assertTrue(copy.startswith(f"Return-Path: <double-bounce@{HOST}>\n".encode()),
                        copy[:100])
        self.assertIn(b"\nSubject: Postmaster Copy: Undelivered Mail\n", copy)
        self.assertIn(f"\nFinal-Recipient: rfc822; {rcpt}\n".encode(), copy)
        self.assertIn(b"Content-Type: text/rfc822-headers", copy)
        self.assertNotIn(b"secret body text", copy)

        # A bounce that cannot be returned (null sender): a double bounce to the postmaster
        # (2bounce_notice_recipient), with the whole message.
        subj = unique("double")
        rcpt = f"{u.prefix}nobody2@{HOST}"
        qid = self.send("", [rcpt], subj, body="the returned body\r\n")
        self.ms.wait_log(rf"^{qid}: to=<{re.escape(rcpt)}>, relay=local, .*dsn=5\.1\.1, "
                         r"status=bounced", "local")
        self.ms.wait_log(rf"^{qid}: postmaster non-delivery notification: \w+$")
        # (Postfix's wording: the postmaster template, with the whole message; one notice, as
        # the postmaster copy would go to the same recipient.)
        [(_, double)] = self.wait_mail("p", subj)
        self.assertIn(b"\nSubject: Postmaster Copy: Undelivered Mail\n", double)
        self.assertIn(b"Content-Type: message/rfc822", double)
        self.assertTrue(double.startswith(f"Return-Path: <double-bounce@{HOST}>\n".encode()),
                        double[:100])
        self.assertIn(f"\nFinal-Recipient: rfc822; {rcpt}\n".encode(), double)
        self.assertIn(b"\nAction: failed\n", double)
        self.assertIn(b"the returned body", double)
        self.ms.wait_log(rf"^{qid}: removed$")


class MboxDelivery(unittest.TestCase):
    """home_mailbox unset: the spool mbox; a held lock, backoff, a delay notice."""

    @classmethod
    def setUpClass(cls):
        cls.u = TestUsers(["s", "r", "q"], tag="tm")
        try:
            cls.spool = os.path.join(cls.u.base, "spool")
            os.mkdir(cls.spool)
            os.chmod(cls.spool, 0o1777)
            cls.ms = new_system({
                    "mail_spool_directory": cls.spool,
                    "mailbox_delivery_lock": "fcntl, dotlock",
                    "local_recipient_maps": "",
                    "queue_run_delay": "1s",
                    "minimal_backoff_time": "1s",
                    "maximal_backoff_time": "4s",
                    "delay_warning_time": "2s",
            }, lambda d: {})
            cls.ms.start()
        except BaseException:
            cls.u.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.ms.stop()
            if os.environ.get("TERN_TEST_VERBOSE"):
                print(system_logs(cls.ms), file=sys.stderr)
            cls.ms.smtpd.tmp.cleanup()
        finally:
            cls.u.remove()

    def logs(self):
        return system_logs(self.ms)

    def mbox(self, n):
        return os.path.join(self.spool, self.u.user(n))

    def wait_mbox(self, n, marker, timeout=30):
        m = marker.encode()
        return wait_for(lambda: [x for x in mbox_messages(self.mbox(n)) if m in x], timeout,
                        f"{marker!r} in {self.u.user(n)}'s mbox", self.logs)

    def test_spool_mbox(self):
        u = self.u
        subj = unique("mbox")
        msg = message(subj, body="a\r\nFrom quoted\r\n>From twice\r\n")
        qid = self.ms.send(u.addr("s"), [u.addr("q")], msg)
        [got] = self.wait_mbox("q", subj)
        st = os.stat(self.mbox("q"))
        self.assertEqual(st.st_uid, u.pw("q").pw_uid)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertRegex(got, rb"^From " + re.escape(u.addr("s").encode()) +
                         rb"  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n")
        self.assertIn(f"\nReturn-Path: <{u.addr('s')}>\n".encode(), got)
        self.assertIn(f"\nDelivered-To: {u.addr('q')}\n".encode(), got)
        # Only "From " is quoted (mboxo, as Postfix): ">From" stays as it is.
        self.assertTrue(got.endswith(b"\na\n>From quoted\n>From twice\n\n"), got[-80:])
        # The mail is visible before the agent unlocks: the dotlock goes soon after.
        wait_for(lambda: not os.path.exists(self.mbox("q") + ".lock"), 10, "dotlock removed")
        self.ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('q'))}>, relay=local, .*dsn=2\.0\.0, "
                         rf"status=sent \(delivered to mailbox\)$", "local")

    def test_locked_mailbox_deferred_warned_then_delivered(self):
        u = self.u
        path = self.mbox("r")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchown(fd, u.pw("r").pw_uid, u.pw("r").pw_gid)
        fcntl.lockf(fd, fcntl.LOCK_EX)          # an fcntl (POSIX) lock, as a mail reader takes
        locked = True
        try:
            subj = unique("locked")
            qid = self.ms.send(u.addr("s"), [u.addr("r")], message(subj))
            deferred = rf"^{qid}: to=<{re.escape(u.addr('r'))}>, relay=local, .*dsn=4\.2\.0, " \
                       rf"status=deferred \(.*unable to lock mailbox"
            self.ms.wait_log(deferred, "local")
            dpath = os.path.join(self.ms.queue, "deferred", qid)
            # Watch the retry time (the deferred file's mtime) each time qmgr defers again:
            # the backoff grows from minimal_backoff_time towards maximal_backoff_time.
            backoffs = []
            last = None
            notice = None
            deadline = time.time() + 20
            while time.time() < deadline and (len(backoffs) < 4 or notice is None):
                try:
                    mt = os.stat(dpath).st_mtime
                except FileNotFoundError:
                    mt = None
                if mt is not None and mt != last:
                    backoffs.append(mt - time.time())
                    last = mt
                if notice is None:
                    found = [x for x in mbox_messages(self.mbox("s")) if subj.encode() in x]
                    notice = found[0] if found else None
                time.sleep(0.05)
            self.assertIsNotNone(notice, "no delay notice\n" + self.logs())
            self.assertGreaterEqual(len(backoffs), 3, f"retries {backoffs}\n" + self.logs())
            self.assertLessEqual(backoffs[0], 1.5, backoffs)
            self.assertGreater(max(backoffs), 1.9, backoffs)
            self.assertLessEqual(max(backoffs), 4.5, backoffs)
            self.assertEqual(mbox_messages(path), [], "nothing delivered under the lock")
            n_tries = len(re.findall(deferred, self.ms.log_text("local"), re.M))
            self.assertGreaterEqual(n_tries, 3)

            # The delay notice: from MAILER-DAEMON, RFC 3464 with Action: delayed.
            self.assertTrue(notice.startswith(b"From MAILER-DAEMON "), notice[:100])
            self.assertIn(b"\nReturn-Path: <>\n", notice)
            self.assertIn(b"\nSubject: Delayed Mail (still being retried)\n", notice)
            self.assertIn(f"\nFrom: MAILER-DAEMON@{HOST} (Mail Delivery System)\n".encode(),
                          notice)
            self.assertIn(b"report-type=delivery-status", notice)
            self.assertIn(f"\nFinal-Recipient: rfc822; {u.addr('r')}\n".encode(), notice)
            self.assertIn(b"\nAction: delayed\n", notice)
            self.assertIn(b"\nStatus: 4.2.0\n", notice)
            self.assertIn(b"unable to lock mailbox", notice)
            self.ms.wait_log(rf"^{qid}: sender delay status notification: \w+$")
            with open(os.path.join(self.ms.queue, "defer", qid)) as f:
                self.assertIn(u.addr("r"), f.read())

            fcntl.lockf(fd, fcntl.LOCK_UN)
            locked = False
            [got] = self.wait_mbox("r", subj, timeout=30)
            self.assertIn(f"\nDelivered-To: {u.addr('r')}\n".encode(), got)
            self.ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('r'))}>, relay=local, "
                             rf".*dsn=2\.0\.0, status=sent \(delivered to mailbox\)$", "local")
            self.ms.wait_log(rf"^{qid}: removed$")
            self.ms.wait_queue_empty(queues=("incoming", "active", "deferred"))
            self.assertFalse(os.path.exists(os.path.join(self.ms.queue, "defer", qid)))
            # Exactly one delay notice for the message.
            notices = [x for x in mbox_messages(self.mbox("s")) if subj.encode() in x]
            self.assertEqual(len(notices), 1)
        finally:
            if locked:
                fcntl.lockf(fd, fcntl.LOCK_UN)
            os.close(fd)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_delivery: needs root (test users, uid switches); skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
