# SPDX-License-Identifier: GPL-3.0-or-later
"""sendmail and pickup: a mail system from the build tree (tern_harness.MailSystem with pickup
on its public socket, qmgr, and fake_agent.py recording what it is asked to deliver), driven by
the real sendmail binary run as the unprivileged user nobody (setpriv), as cron, mail(1) and
PHP run it. Needs root for setpriv: skipped (77) otherwise.

Checks: a cron-style "echo body | sendmail user" delivers with From: and the envelope sender
of the real user and Received "(tern, from userid N)"; -t with Bcc (recipients from To/Cc/Bcc,
the Bcc header gone); -bs (an SMTP session on stdin/stdout); -f by a user local_login_sender_maps
does not allow (refused, logged with the real uid) and by one it allows (logged with the real
uid); -F; EX_TEMPFAIL with a one-line reason when pickup is not there; message_size_limit;
EX_USAGE without recipients; mailq for an unprivileged user."""

import json
import os
import pwd
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import BUILD_ROOT, MailSystem  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SENDMAIL = os.path.join(BUILD_ROOT, "tools", "sendmail", "sendmail")
EX_USAGE, EX_NOPERM, EX_TEMPFAIL, EX_DATAERR = 64, 77, 75, 65


class Sendmail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.nobody = pwd.getpwnam("nobody")

    def system(self, cf=None):
        base = {"default_transport": "fake", "relay_transport": "fake",
                "local_transport": "fake", "myorigin": "example.test",
                "queue_run_delay": "1s", "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s"}
        base.update(cf or {})
        ms = MailSystem(base, agents=(), pickup=True,
                        extra_agents={"fake": [sys.executable,
                                               os.path.join(HERE, "fake_agent.py")]})
        self.log = os.path.join(ms.dir, "fake.jsonl")
        os.environ["FAKE_AGENT_LOG"] = self.log
        os.environ["FAKE_AGENT_STATE"] = os.path.join(ms.dir, "fake.state")
        os.environ["FAKE_AGENT_QUEUE"] = ms.queue
        return ms

    def sendmail(self, ms, args, stdin=b"", user="nobody", name="sendmail"):
        env = dict(os.environ, RUNTIME_DIRECTORY=ms.run)
        argv = [SENDMAIL] + args
        if name != "sendmail":
            link = os.path.join(ms.dir, name)
            if not os.path.exists(link):
                os.symlink(os.path.abspath(SENDMAIL), link)
            argv = [link] + args
        if user:
            pw = pwd.getpwnam(user)
            argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                    "--clear-groups"] + argv
        return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=60)

    def deliveries(self, n=1, timeout=30):
        deadline = time.time() + timeout
        got = []
        while time.time() < deadline:
            try:
                with open(self.log) as f:
                    got = [json.loads(line) for line in f]
            except FileNotFoundError:
                got = []
            if len(got) >= n:
                return got
            time.sleep(0.1)
        self.fail(f"expected {n} deliveries, got {got}")

    def test_cron_style(self):
        with self.system() as ms:
            p = self.sendmail(ms, ["alice"], b"Subject: cron output\n\nbody line\n.hidden\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            d = self.deliveries()[0]
            self.assertEqual(d["sender"], ["nobody@example.test"])
            self.assertEqual([r["address"] for r in d["rcpts"]], ["alice@example.test"])
            content = d["content"]
            uid = self.nobody.pw_uid
            self.assertRegex(content, rf"Received: by mx\.example\.test \(tern, from userid "
                                      rf"{uid}\)")
            self.assertRegex(content, r"(?m)^From: .*nobody@example\.test")
            self.assertRegex(content, r"(?m)^Date: ")
            self.assertRegex(content, r"(?m)^Message-I[dD]: <")
            # without -i a line ".hidden" is content; only "." alone ends the message
            self.assertIn("\n.hidden\n", content)
            ms.wait_log(rf"^\w+: uid={uid} from=<nobody@example\.test>$", name="pickup")

    def test_dot_ends_without_i(self):
        with self.system() as ms:
            p = self.sendmail(ms, ["alice"], b"Subject: x\n\nfirst\n.\nafter\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn("after", self.deliveries()[0]["content"])
            p = self.sendmail(ms, ["-oi", "bob"], b"Subject: y\n\nfirst\n.\nafter\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            d = [x for x in self.deliveries(2) if x["rcpts"][0]["address"].startswith("bob")]
            self.assertIn("\n.\nafter\n", d[0]["content"])

    def test_extract_with_bcc(self):
        with self.system() as ms:
            msg = (b"From: Someone <nobody@example.test>\nTo: Alice <alice@example.test>, "
                   b"bob\nCc: \"carol x\"@remote.test\nBcc: hidden@remote.test\n"
                   b"Subject: t\n\nbody\n")
            p = self.sendmail(ms, ["-t", "-F", "Nobody Here"], msg)
            self.assertEqual(p.returncode, 0, p.stderr)
            ms.wait_queue_empty()
            ds = self.deliveries()
            rcpts = sorted(r["address"] for d in ds for r in d["rcpts"])
            # internal form: the local part unquoted
            self.assertEqual(rcpts, ["alice@example.test", "bob@example.test",
                                     "carol x@remote.test", "hidden@remote.test"])
            for d in ds:
                self.assertNotRegex(d["content"], r"(?mi)^Bcc:")
                self.assertIn("To: Alice <alice@example.test>", d["content"])

    def test_extract_nothing(self):
        with self.system() as ms:
            p = self.sendmail(ms, ["-t"], b"Subject: none\n\nbody\n")
            self.assertEqual(p.returncode, EX_USAGE, p.stderr)
            self.assertIn(b"No recipient addresses found", p.stderr)
            self.assertEqual(ms.queue_files("incoming"), [])

    def test_no_recipients(self):
        with self.system() as ms:
            p = self.sendmail(ms, [], b"x\n")
            self.assertEqual(p.returncode, EX_USAGE)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_fullname(self):
        with self.system() as ms:
            p = self.sendmail(ms, ["-F", "Cron Daemon", "alice"], b"Subject: f\n\nb\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(self.deliveries()[0]["content"],
                             r"(?m)^From: Cron Daemon <nobody@example\.test>$")

    def test_sender_not_allowed(self):
        with self.system() as ms:
            with open(os.path.join(ms.dir, "senders"), "w") as f:
                f.write("nobody nobody@example.test, list@example.test\n")
            with open(os.path.join(ms.dir, "main.cf"), "a") as f:
                f.write(f"local_login_sender_maps = texthash:{ms.dir}/senders\n")
            uid = self.nobody.pw_uid
            p = self.sendmail(ms, ["-f", "boss@example.test", "alice"], b"Subject: s\n\nb\n")
            self.assertEqual(p.returncode, EX_NOPERM, p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn(b"not allowed to send mail as boss@example.test", p.stderr)
            ms.wait_log(rf"uid={uid} \(nobody\): not allowed to send mail as "
                        rf"<boss@example\.test>", name="pickup")
            self.assertEqual(ms.queue_files("incoming"), [])
            # an allowed -f: the envelope sender changes, the log keeps the real uid
            p = self.sendmail(ms, ["-f", "list@example.test", "alice"], b"Subject: s\n\nb\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(self.deliveries()[0]["sender"], ["list@example.test"])
            ms.wait_log(rf"^\w+: uid={uid} from=<list@example\.test>$", name="pickup")

    def test_bs_session(self):
        with self.system() as ms:
            session = (b"EHLO client\r\nMAIL FROM:<nobody@example.test>\r\n"
                       b"RCPT TO:<alice@example.test>\r\nDATA\r\nSubject: smtp\r\n\r\n"
                       b"..dotted\r\nline\r\n.\r\nQUIT\r\n")
            p = self.sendmail(ms, ["-bs"], session)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = p.stdout.decode()
            self.assertRegex(out, r"^220 ")
            self.assertRegex(out, r"250 2\.0\.0 Ok: queued as \w+\r\n221 ")
            d = self.deliveries()[0]
            self.assertIn("\n.dotted\nline\n", d["content"])
            self.assertEqual(d["sender"], ["nobody@example.test"])

    def test_message_size_limit(self):
        with self.system({"message_size_limit": "2000"}) as ms:
            p = self.sendmail(ms, ["alice"], b"Subject: big\n\n" + b"x" * 70 + b"\n" * 100
                              + (b"y" * 70 + b"\n") * 100)
            self.assertEqual(p.returncode, EX_DATAERR, p.stderr)
            self.assertIn(b"message file too big", p.stderr)
            self.assertEqual(ms.queue_files("incoming"), [])

    def test_mailq_as_user(self):
        with self.system({"default_transport": "fake"}) as ms:
            p = self.sendmail(ms, ["defer-x@remote.test"], b"Subject: q\n\nb\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            deadline = time.time() + 30
            while time.time() < deadline and not ms.queue_files("deferred"):
                time.sleep(0.1)
            p = self.sendmail(ms, [], user="nobody", name="mailq")
            self.assertEqual(p.returncode, 0, p.stderr)
            out = p.stdout.decode()
            self.assertTrue(out.startswith("----Queue ID----- --Size-- ---Arrival Time---- "
                                           "--Sender/Recipient------\n"), out)
            self.assertIn("nobody@example.test", out)
            self.assertRegex(out, r"\(try again\)\n {47}defer-x@remote\.test\n")
            self.assertRegex(out, r"\n-- \d+ Kbytes in 1 Request\.\n$")
            p2 = self.sendmail(ms, ["-bp"])
            self.assertEqual(p2.stdout, p.stdout)

    def test_pickup_not_running(self):
        with self.system() as ms:
            ms.kill("pickup")
            os.unlink(os.path.join(ms.run, "pickup"))
            p = self.sendmail(ms, ["alice"], b"x\n")
            self.assertEqual(p.returncode, EX_TEMPFAIL)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn(b"cannot connect to the mail system", p.stderr)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("needs root (setpriv to nobody)")
        sys.exit(77)
    unittest.main(verbosity=2)
