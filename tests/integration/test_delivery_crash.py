#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash test of the whole delivery path: 5,000 messages over SMTP to 50 recipients (25 local
users with Maildirs, 25 virtual Maildirs; one message in ten goes to a local and a virtual
recipient at once) while qmgr, local and virtual are killed with SIGKILL at random moments and
restarted, as systemd would restart them. Afterwards every message that got 250 is in every
one of its recipients' mailboxes at least once (found by a unique token in its Subject), none
is lost, each delivery has its "status=sent" log line, and incoming/, active/ and deferred/ are
empty. Prints the timings, the kills and how many duplicate deliveries the kills caused
(at-least-once allows them).

TERN_CRASH_MESSAGES changes the message count (default 5000), TERN_CRASH_SEED the random seed.
Needs root (users, uid switches): exits 77 otherwise."""

import os
import random
import re
import signal
import smtplib
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_delivery import HOST, TestUsers, VUID, new_system  # noqa: E402

N_MESSAGES = int(os.environ.get("TERN_CRASH_MESSAGES", "5000"))
SEED = int(os.environ.get("TERN_CRASH_SEED", str(int(time.time()))))
N_LOCAL = 25
N_VIRTUAL = 25
VDOMAIN = "crash.test"
SENDERS = 4                     # parallel SMTP sessions
TOKEN = re.compile(rb"^Subject: crash ([0-9a-f]+-\d+)$", re.M)


class Crash(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(SEED)
        print(f"seed {SEED}, {N_MESSAGES} messages", file=sys.stderr)
        t0 = time.time()
        self.u = TestUsers([f"{i:02d}" for i in range(N_LOCAL)], tag="tc")
        self.ms = None
        self.addCleanup(self.u.remove)
        self.vmail = os.path.join(self.u.base, "vmail")
        os.mkdir(self.vmail)
        os.chown(self.vmail, VUID, VUID)
        self.local_rcpts = [self.u.addr(f"{i:02d}") for i in range(N_LOCAL)]
        self.virtual_rcpts = [f"v{i:02d}@{VDOMAIN}" for i in range(N_VIRTUAL)]

        def files(d):
            with open(os.path.join(d, "vmailbox"), "w") as f:
                for a in self.virtual_rcpts:
                    f.write(f"{a} {VDOMAIN}/{a.split('@')[0]}/\n")
            with open(os.path.join(d, "users"), "w") as f:
                for i in range(N_LOCAL):
                    f.write(f"{self.u.user(f'{i:02d}')} x\n")
            return {"virtual_mailbox_maps": f"texthash:{d}/vmailbox",
                    "local_recipient_maps": f"texthash:{d}/users"}

        self.ms = new_system({
                "home_mailbox": "Maildir/",
                "virtual_mailbox_domains": VDOMAIN,
                "virtual_mailbox_base": self.vmail,
                "virtual_uid_maps": f"static:{VUID}",
                "virtual_gid_maps": f"static:{VUID}",
                "virtual_minimum_uid": "100",
                "queue_run_delay": "1s",
                "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s",
                # Two cores under ASan: a small pool of agents per transport.
                "default_process_limit": "4",
                "default_destination_concurrency_limit": "4",
        }, files)
        self.addCleanup(self.teardown_system)
        self.ms.start()
        print(f"setup {time.time() - t0:.1f}s", file=sys.stderr)

    def teardown_system(self):
        self.ms.stop()
        if os.environ.get("TERN_TEST_VERBOSE"):
            for n in ("qmgr", "local", "virtual"):
                print(f"--- {n} ---\n{self.ms.log_text(n)[-20000:]}", file=sys.stderr)
        self.ms.smtpd.tmp.cleanup()

    def maildirs(self):
        out = {a: os.path.join(self.u.home(a.split("@")[0][len(self.u.prefix):]), "Maildir")
               for a in self.local_rcpts}
        out.update({a: os.path.join(self.vmail, VDOMAIN, a.split("@")[0])
                    for a in self.virtual_rcpts})
        return out

    def sender(self, k, jobs, accepted, errors):
        """One SMTP session after another sending jobs[k::SENDERS]."""
        mine = jobs[k::SENDERS]
        i = 0
        while i < len(mine):
            try:
                with smtplib.SMTP("127.0.0.1", self.ms.smtpd.port, timeout=60) as s:
                    s.ehlo("crash.client")
                    for _ in range(50):
                        if i >= len(mine):
                            break
                        token, rcpts = mine[i]
                        msg = (f"From: crash@example.org\r\nTo: list@{HOST}\r\n"
                               f"Subject: crash {token}\r\n"
                               f"Message-ID: <{token}@crash.example.org>\r\n\r\n"
                               f"message {token}\r\n").encode()
                        s.mail("crash@example.org")
                        for r in rcpts:
                            s.rcpt(r)
                        code, resp = s.data(msg)
                        if code != 250:
                            raise smtplib.SMTPResponseException(code, resp)
                        accepted[token] = (resp.decode().rsplit(" ", 1)[-1], rcpts)
                        i += 1
            except (smtplib.SMTPException, OSError) as e:
                errors.append(f"{mine[i][0]}: {e!r}")
                if len(errors) > 20:
                    return

    def chaos(self, stop, kills):
        """Kills qmgr, local or virtual (SIGKILL) at random moments and restarts it."""
        order = []
        while not stop.is_set():
            if stop.wait(self.rng.uniform(0.5, 2.5)):
                break
            if not order:       # each of the three in every round, in a random order
                order = ["qmgr", "local", "virtual"]
                self.rng.shuffle(order)
            name = order.pop()
            self.ms.kill(name, signal.SIGKILL)
            kills.append((round(time.time() - self.t_start, 1), name))
            time.sleep(self.rng.uniform(0, 0.5))
            if name == "qmgr":
                self.ms.start_qmgr()
            else:
                self.ms.start_agent(name)

    def delivered(self):
        """{(token, recipient): copies} from every mailbox."""
        got = {}
        for rcpt, md in self.maildirs().items():
            d = os.path.join(md, "new")
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for n in names:
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        head = f.read(4096)
                except FileNotFoundError:
                    continue
                m = TOKEN.search(head)
                if m:
                    key = (m.group(1).decode(), rcpt)
                    got[key] = got.get(key, 0) + 1
        return got

    def test_crash(self):
        run = f"{SEED:x}"
        all_rcpts = self.local_rcpts + self.virtual_rcpts
        jobs = []
        for i in range(N_MESSAGES):
            rcpts = [all_rcpts[i % len(all_rcpts)]]
            if i % 10 == 0:
                rcpts = [self.local_rcpts[(i // 10) % N_LOCAL],
                         self.virtual_rcpts[(i // 10) % N_VIRTUAL]]
            jobs.append((f"{run}-{i}", rcpts))
        accepted, errors, kills = {}, [], []
        stop = threading.Event()
        self.t_start = time.time()
        chaos = threading.Thread(target=self.chaos, args=(stop, kills))
        chaos.start()
        senders = [threading.Thread(target=self.sender, args=(k, jobs, accepted, errors))
                   for k in range(SENDERS)]
        try:
            for t in senders:
                t.start()
            for t in senders:
                t.join()
            t_sent = time.time() - self.t_start
            print(f"sent {len(accepted)} in {t_sent:.1f}s", file=sys.stderr)
            # Keep killing a while after the last message while the queue drains.
            stop.wait(min(10.0, max(2.0, t_sent / 4)))
        finally:
            stop.set()
            chaos.join()
        print(f"kills: {kills}", file=sys.stderr)
        self.assertEqual(errors, [], "smtpd was never killed: every message is accepted")
        self.assertEqual(len(accepted), N_MESSAGES)
        self.assertEqual({n for _, n in kills}, {"qmgr", "local", "virtual"}, "all were killed")

        # All services up again (the last restart may have been the chaos thread's); a flush
        # trigger makes qmgr retry deferred mail at once.
        for name in ("local", "virtual", "qmgr"):
            self.assertIsNone(self.ms.procs[name].poll(), f"{name} is running")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"f", os.path.join(self.ms.run, "qmgr"))

        want = {(tok, r) for tok, (_, rcpts) in accepted.items() for r in rcpts}
        # Wait while deliveries make progress (a loaded machine is slow, a lost message is
        # never delivered): fail after 60 s without a new delivery, or 240 s in all.
        cap = time.time() + 240
        progress, n_missing = time.time(), len(want) + 1
        while True:
            got = self.delivered()
            missing = want - got.keys()
            if not missing:
                break
            if len(missing) < n_missing:
                progress, n_missing = time.time(), len(missing)
            if time.time() > min(cap, progress + 60):
                sample = sorted(missing)[:20]
                qids = {accepted[t][0] for t, _ in sample}
                self.fail(f"{len(missing)} of {len(want)} deliveries missing, e.g. {sample} "
                          f"(queue ids {qids}); queue: " +
                          str({q: len(self.ms.queue_files(q))
                               for q in ("incoming", "active", "deferred", "corrupt")}) +
                          "\n" + "\n".join(ln for ln in self.ms.log_text("qmgr").splitlines()
                                          if any(q in ln for q in qids)))
            time.sleep(1)
        t_done = time.time() - self.t_start
        self.assertEqual(set(got) - want, set(), "nothing delivered that was not sent")
        dups = sum(c - 1 for c in got.values())
        print(f"all {len(want)} deliveries of {len(accepted)} messages done at {t_done:.1f}s; "
              f"{dups} duplicates", file=sys.stderr)

        self.ms.wait_queue_empty(timeout=60, queues=("incoming", "active", "deferred"))
        self.assertEqual(self.ms.queue_files("corrupt"), [])
        self.assertEqual(self.ms.queue_files("hold"), [])

        # Every delivery has its Postfix-shaped log line in the agents' logs.
        sent_re = re.compile(r"^(\w+): to=<([^>]+)>, relay=(?:local|virtual), delay=[0-9.e+-]+,"
                             r" dsn=2\.0\.0, status=sent \(delivered to maildir\)$", re.M)
        logged = set()
        for name in ("local", "virtual"):
            logged |= set(sent_re.findall(self.ms.log_text(name)))
        unlogged = [(qid, r) for qid, rcpts in accepted.values() for r in rcpts
                    if (qid, r) not in logged]
        self.assertEqual(unlogged[:20], [], f"{len(unlogged)} deliveries without a log line")
        # Nothing bounced.
        self.assertNotRegex(self.ms.log_text("qmgr"), r"status=bounced")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_delivery_crash: needs root (test users, uid switches); skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
