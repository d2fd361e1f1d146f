# SPDX-License-Identifier: GPL-3.0-or-later
"""ternctl's queue verbs on a real queue: smtpd and qmgr from the build tree with
fake_agent.py deferring mail (tern_harness.MailSystem), so that the queue holds deferred mail
with qmgr's defer logs; a held message; and an active one whose queue-file lock the test holds
as qmgr does while it delivers.

Checks: ternctl queue against a fixed layout (header, status marks * and !, the deferral reason,
the recipient column, the footer) and --json; cat of a message with a dot-stuffed line (-h, -b);
hold then release; delete of a message being delivered is skipped with a message; qshape;
requeue (delivered afterwards); flush and flush DOMAIN; delete ALL deferred; status; trace and
cat of unknown IDs name the problem."""

import fcntl
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import TERNCTL, MailSystem  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class TernctlQueue(unittest.TestCase):
    def system(self):
        cf = {"default_transport": "fake", "relay_transport": "fake",
              "queue_run_delay": "1s", "minimal_backoff_time": "1h",
              "maximal_backoff_time": "2h"}
        ms = MailSystem(cf, agents=(),
                        extra_agents={"fake": [sys.executable,
                                               os.path.join(HERE, "fake_agent.py")]})
        self.log = os.path.join(ms.dir, "fake.jsonl")
        os.environ["FAKE_AGENT_LOG"] = self.log
        os.environ["FAKE_AGENT_STATE"] = os.path.join(ms.dir, "fake.state")
        os.environ["FAKE_AGENT_QUEUE"] = ms.queue
        return ms

    def ternctl(self, ms, *args, stdin=None):
        env = dict(os.environ, RUNTIME_DIRECTORY=ms.run)
        env.pop("TERN_CONFIG", None)
        return subprocess.run([TERNCTL, "-c", ms.dir] + list(args), input=stdin,
                              capture_output=True, text=True, env=env, timeout=60)

    def wait_files(self, ms, queue, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            files = ms.queue_files(queue)
            if len(files) >= n and all(os.path.exists(os.path.join(ms.queue, "defer", f))
                                       for f in files if queue == "deferred"):
                return files
            time.sleep(0.1)
        self.fail(f"{queue}/ holds {ms.queue_files(queue)}, expected {n}")

    def test_queue_verbs(self):
        with self.system() as ms:
            # smtplib dot-stuffs ".dotted" on the wire ("..dotted"); smtpd undoes it
            body = "From: a@example.org\r\nSubject: t\r\n\r\nline\r\n.dotted\r\n"
            a = ms.send("a@example.org", ["defer-a@remote.test"], body)
            b = ms.send("b@example.org", ["defer-b@remote.test"], body)
            c = ms.send("", ["defer-c@other.test"], body)
            self.wait_files(ms, "deferred", 3)

            # hold, then the listing shows b with "!"
            p = self.ternctl(ms, "hold", b)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Placed on hold: 1 message", p.stdout)
            self.assertEqual(ms.queue_files("hold"), [b])

            # c "active": qmgr would hold its lock while delivering; so does the test
            os.rename(os.path.join(ms.queue, "deferred", c), os.path.join(ms.queue, "active", c))
            lock = open(os.path.join(ms.queue, "active", c), "rb")
            fcntl.flock(lock, fcntl.LOCK_EX)

            p = self.ternctl(ms, "queue")
            self.assertEqual(p.returncode, 0, p.stderr)
            lines = p.stdout.split("\n")
            self.assertEqual(lines[0], "----Queue ID----- --Size-- ---Arrival Time---- "
                                       "--Sender/Recipient------")
            size = r"\s{0,7}\d{1,8}"
            when = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
            reason = " " * (76 - len("try again")) + "(try again)"
            expect = [
                rf"{c}\* {size} {when} MAILER-DAEMON",
                re.escape(reason),
                " " * 47 + "defer-c@other.test",
                "",
                rf"{a}  {size} {when} a@example\.org",
                re.escape(reason),
                " " * 47 + "defer-a@remote\\.test",
                "",
                rf"{b}! {size} {when} b@example\.org",
                re.escape(reason),
                " " * 47 + "defer-b@remote\\.test",
                "",
                r"-- \d+ Kbytes in 3 Requests\.",
                "",
            ]
            self.assertEqual(len(lines) - 1, len(expect), p.stdout)
            for got, want in zip(lines[1:], expect):
                self.assertRegex(got, "^" + want + "$", p.stdout)

            p = self.ternctl(ms, "queue", "--json")
            objs = [json.loads(x) for x in p.stdout.splitlines()]
            self.assertEqual({o["queue_id"]: o["queue_name"] for o in objs},
                             {a: "deferred", b: "hold", c: "active"})
            oa = [o for o in objs if o["queue_id"] == a][0]
            self.assertEqual(oa["sender"], "a@example.org")
            self.assertEqual(oa["recipients"], [{"address": "defer-a@remote.test",
                                                 "delay_reason": "try again"}])

            # a message being delivered is not deleted
            p = self.ternctl(ms, "delete", c)
            self.assertIn(f"{c}: being delivered", p.stderr)
            self.assertEqual(ms.queue_files("active"), [c])
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
            os.rename(os.path.join(ms.queue, "active", c), os.path.join(ms.queue, "deferred", c))

            # cat: envelope, then the content as stored (dot-stuffing undone)
            p = self.ternctl(ms, "cat", a)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(f"*** ENVELOPE RECORDS deferred/{a} ***\n", p.stdout)
            self.assertIn("sender: a@example.org\n", p.stdout)
            self.assertIn("recipient: defer-a@remote.test\n", p.stdout)
            self.assertIn(f"*** MESSAGE CONTENTS deferred/{a} ***\n", p.stdout)
            self.assertIn("\nline\n.dotted\n", p.stdout)
            self.assertNotIn("..dotted", p.stdout)
            p = self.ternctl(ms, "cat", "-h", a)
            self.assertIn("Subject: t\n", p.stdout)
            self.assertNotIn("dotted", p.stdout)
            self.assertNotIn("ENVELOPE", p.stdout)
            p = self.ternctl(ms, "cat", "-b", a)
            self.assertEqual(p.stdout, "line\n.dotted\n")

            # qshape of the deferred queue
            p = self.ternctl(ms, "qshape", "deferred", "hold")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"(?m)^\s+TOTAL\s+3\s+3(\s+0){9}$")
            self.assertRegex(p.stdout, r"(?m)^\s+remote\.test\s+2\s+2(\s+0){9}$")
            self.assertRegex(p.stdout, r"(?m)^\s+other\.test\s+1\s+1(\s+0){9}$")

            # release puts b back into deferred
            p = self.ternctl(ms, "release", "ALL")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(ms.queue_files("hold"), [])
            self.assertIn(b, ms.queue_files("deferred"))

            # status: queue counts and the oldest deferred message
            p = self.ternctl(ms, "status")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"(?m)^  deferred\s+3$")
            self.assertIn(f"oldest: {a}", p.stdout)

            # flush and flush DOMAIN reach qmgr
            self.assertEqual(self.ternctl(ms, "flush").returncode, 0)
            self.assertEqual(self.ternctl(ms, "flush", "remote.test").returncode, 0)

            # delete ALL deferred, IDs from stdin too; the defer logs go with the files
            self.wait_files(ms, "deferred", 3)
            p = self.ternctl(ms, "delete", "-", stdin=c + "\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            p = self.ternctl(ms, "delete", "ALL", "deferred")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Deleted: 2 messages", p.stdout)
            for q in ("deferred", "defer", "hold", "active"):
                self.assertEqual(ms.queue_files(q), [], q)
            p = self.ternctl(ms, "queue")
            self.assertEqual(p.stdout, "Mail queue is empty\n")

    def test_requeue(self):
        with self.system() as ms:
            d = ms.send("a@example.org", ["deferonce-d@remote.test"], "Subject: r\r\n\r\nx\r\n")
            self.wait_files(ms, "deferred", 1)
            p = self.ternctl(ms, "requeue", d)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Requeued: 1 message", p.stdout)
            ms.wait_queue_empty(queues=("incoming", "active", "deferred"))
            ms.wait_log(rf"^{d}: removed$")

    def test_errors(self):
        with self.system() as ms:
            p = self.ternctl(ms, "cat", "0000000000000000")
            self.assertEqual(p.returncode, 1)
            self.assertIn("no such message in the queue", p.stderr)
            p = self.ternctl(ms, "hold", "notanid")
            self.assertEqual(p.returncode, 64)
            self.assertIn("'notanid' is neither a queue ID", p.stderr)
            p = self.ternctl(ms, "delete", "0000000000000000")
            self.assertEqual(p.returncode, 1)
            self.assertIn("no such message", p.stderr)
            p = self.ternctl(ms, "trace", "0000000000000000")
            self.assertEqual(p.returncode, 1)
            ms.kill("qmgr")
            os.unlink(os.path.join(ms.run, "qmgr"))
            p = self.ternctl(ms, "flush")
            self.assertEqual(p.returncode, 69)
            self.assertIn("the mail system is not running", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
