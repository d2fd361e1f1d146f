# SPDX-License-Identifier: GPL-3.0-or-later
"""ternctl's queue verbs on a real queue: smtpd and qmgr from the build tree with
fake_agent.py deferring mail (tern_harness.MailSystem), so that the queue holds deferred mail
with qmgr's defer logs; a held message; and an active one whose queue-file lock the test holds
as qmgr does while it delivers.

Checks: ternctl queue compared whole against the fixed layout (header, status marks * and !, the
deferral reason, the recipient column, the footer) and --json; cat of a message with a
dot-stuffed line (-h, -b); hold, then release makes only that message eligible now; delete of a
message being delivered is skipped with a message; qshape; requeue passes the message through
cleanup again (a new queue ID, today's message_drop_headers, only pending recipients, the old
file gone) and leaves a corrupt file alone; flush and flush DOMAIN; delete ALL deferred; status
(queue counts, the oldest deferred message); errors: unknown queue IDs (cat, delete, release,
trace), permission denied for an unprivileged user, the mail system not running."""

import fcntl
import json
import os
import pwd
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

    def ternctl(self, ms, *args, stdin=None, user=None):
        env = dict(os.environ, RUNTIME_DIRECTORY=ms.run)
        env.pop("TERN_CONFIG", None)
        argv = [TERNCTL, "-c", ms.dir] + list(args)
        if user:
            pw = pwd.getpwnam(user)
            argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                    "--clear-groups"] + argv
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                              timeout=60)

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
            pj = self.ternctl(ms, "queue", "--json")
            objs = [json.loads(x) for x in pj.stdout.splitlines()]
            self.assertEqual({o["queue_id"]: o["queue_name"] for o in objs},
                             {a: "deferred", b: "hold", c: "active"})
            # The whole listing against the fixed layout: ID and mark in 17 columns, size in 8
            # right-aligned, arrival in 19, the sender; the reason right-aligned to column 78
            # in parentheses; recipients from column 48; the footer.
            info = {o["queue_id"]: o for o in objs}

            def entry(qid, mark, sender, rcpt):
                o = info[qid]
                when = time.strftime("%a %b %e %H:%M:%S", time.localtime(o["arrival_time"]))
                return (f"{qid}{mark} {o['message_size']:8d} {when} {sender}\n"
                        f"{'(try again)':>78}\n"
                        f"{'':47}{rcpt}\n")
            total = sum(o["message_size"] for o in objs)
            expect = ("----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
                      + entry(c, "*", "MAILER-DAEMON", "defer-c@other.test") + "\n"
                      + entry(a, " ", "a@example.org", "defer-a@remote.test") + "\n"
                      + entry(b, "!", "b@example.org", "defer-b@remote.test") + "\n"
                      + f"-- {total // 1024} Kbytes in 3 Requests.\n")
            self.assertEqual(p.stdout, expect)

            oa = info[a]
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

            # release makes b alone eligible now: qmgr takes it at once (the backoff of 1h
            # would keep it in deferred/), the fake agent defers it again; a and c wait
            tries = lambda qid: len(re.findall(rf"(?m)^{qid}: from=", ms.log_text()))
            before = {q: tries(q) for q in (a, b, c)}
            p = self.ternctl(ms, "release", "ALL")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Released from hold: 1 message", p.stdout)
            self.assertEqual(ms.queue_files("hold"), [])
            deadline = time.time() + 20
            while time.time() < deadline and tries(b) == before[b]:
                time.sleep(0.1)
            self.assertEqual(tries(b), before[b] + 1, ms.log_text())
            self.wait_files(ms, "deferred", 3)
            self.assertEqual((tries(a), tries(c)), (before[a], before[c]), ms.log_text())

            # status: queue counts and the oldest deferred message with its reason (outside
            # systemd the services are unknown)
            p = self.ternctl(ms, "status")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"(?m)^Services:$")
            self.assertRegex(p.stdout, r"(?m)^  deferred\s+3$")
            self.assertRegex(p.stdout, r"(?m)^  hold\s+0$")
            self.assertRegex(p.stdout, rf"(?m)^  oldest deferred: {a}, arrived (\d+s|0h0\dm) "
                                       r"ago, next retry in \dh\d\dm \(try again\)$")

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

            # flush and flush DOMAIN reach qmgr (last: a flush sends deferred mail back through
            # active/, where "delete ALL deferred" would not find it)
            self.assertEqual(self.ternctl(ms, "flush").returncode, 0)
            self.assertEqual(self.ternctl(ms, "flush", "remote.test").returncode, 0)

    def test_requeue(self):
        with self.system() as ms:
            body = "Subject: r\r\nX-Drop-Me: yes\r\n\r\nx\r\n"
            d = ms.send("a@example.org", ["sent-x@remote.test", "defer-y@remote.test"], body)
            self.wait_files(ms, "deferred", 1)
            # a main.cf change that only cleanup applies: requeue runs the content through it
            with open(os.path.join(ms.dir, "main.cf"), "a") as f:
                f.write("message_drop_headers = bcc, content-length, resent-bcc, return-path,"
                        " x-drop-me\n")
            n_before = len(self.requests())
            p = self.ternctl(ms, "requeue", d)
            self.assertEqual(p.returncode, 0, p.stderr)
            m = re.search(rf"(?m)^{d}: requeued as (\w+)$", p.stdout)
            self.assertTrue(m, p.stdout)
            new = m.group(1)
            self.assertNotEqual(new, d)
            self.assertIn("Requeued: 1 message", p.stdout)
            for q in ("incoming", "active", "deferred", "hold", "defer"):
                self.assertNotIn(d, ms.queue_files(q), q)
            # qmgr takes the new file at once (the 1h backoff would hold a deferred one); the
            # agent is asked for the pending recipient only, with the same sender
            deadline = time.time() + 20
            while time.time() < deadline and len(self.requests()) == n_before:
                time.sleep(0.1)
            req = self.requests()[n_before:]
            self.assertEqual([r["id"] for r in req], [new], req)
            self.assertEqual([r["address"] for r in req[0]["rcpts"]], ["defer-y@remote.test"])
            self.assertEqual(req[0]["sender"], ["a@example.org"])
            content = req[0]["content"]
            self.assertNotIn("X-Drop-Me", content)
            self.assertIn("Subject: r\n", content)
            self.assertRegex(content, rf"^Received: by \S+ \(tern\)\s+id {new};")
            self.assertEqual(len(re.findall(r"(?m)^Received:", content)), 2, content)
            self.wait_files(ms, "deferred", 1)
            self.assertEqual(ms.queue_files("deferred"), [new])

            # requeue ALL of a message whose file is corrupt leaves it where it is
            with open(os.path.join(ms.queue, "deferred", new), "r+b") as f:
                f.write(b"garbage")  # over the header: no longer a queue file
            p = self.ternctl(ms, "requeue", "ALL")
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(f"{new}: corrupt queue file, the message stays in deferred/", p.stderr)
            self.assertEqual(ms.queue_files("deferred"), [new])

    def requests(self):
        try:
            with open(self.log) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def test_errors(self):
        with self.system() as ms:
            p = self.ternctl(ms, "cat", "0000000000000000")
            self.assertEqual(p.returncode, 1)
            self.assertIn("0000000000000000: no such message in the queue", p.stderr)
            p = self.ternctl(ms, "hold", "notanid")
            self.assertEqual(p.returncode, 64)
            self.assertIn("'notanid' is neither a queue ID", p.stderr)
            p = self.ternctl(ms, "delete", "0000000000000000")
            self.assertEqual(p.returncode, 1)
            self.assertIn("0000000000000000: no such message in the queue", p.stderr)
            p = self.ternctl(ms, "release", "0000000000000000")
            self.assertEqual(p.returncode, 1)
            self.assertIn("0000000000000000: no such message in the queue", p.stderr)
            p = self.ternctl(ms, "trace", "0000000000000000")
            self.assertEqual(p.returncode, 1)
            self.assertIn("0000000000000000: no log entries for this queue ID", p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            p = self.ternctl(ms, "trace", "notanid")
            self.assertEqual(p.returncode, 64)
            self.assertIn("'notanid' is not a queue ID", p.stderr)
            if os.geteuid() == 0:
                # an unprivileged user: main.cf is readable, the queue is not
                os.chmod(ms.dir, 0o755)
                os.chmod(os.path.join(ms.dir, "main.cf"), 0o644)
                p = self.ternctl(ms, "delete", "ALL", user="nobody")
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(f"{ms.queue}: permission denied: the queue is readable by root "
                              "and the tern user only", p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            ms.kill("qmgr")
            os.unlink(os.path.join(ms.run, "qmgr"))
            p = self.ternctl(ms, "flush")
            self.assertEqual(p.returncode, 69)
            self.assertIn("the mail system is not running", p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
