#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A 250 means the message is on disk, complete. Two ways to try to break that:
- disk full: the queue on a small tmpfs; smtpd must answer 452 4.3.1 Insufficient system storage
  when it cannot write, never 250 for a message it did not store, and leave no partial file
  that looks complete;
- crashes: 2,000 messages from 20 parallel clients while smtpd is killed with SIGKILL several
  times and restarted; every message that got 250 has a complete queue file, and no file with
  the owner-execute bit (the completeness mark) is half-written.
Mounting tmpfs needs root (CI runs as root)."""

import os
import random
import re
import smtplib
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import Smtpd, read_queue_file  # noqa: E402


def complete_files(queue):
    d = os.path.join(queue, "incoming")
    out = {}
    for name in os.listdir(d):
        st = os.stat(os.path.join(d, name))
        out[name] = bool(st.st_mode & stat.S_IXUSR)
    return out


class DiskFull(unittest.TestCase):
    def test_tmpfs_queue(self):
        mnt = tempfile.mkdtemp(prefix="tern-tmpfs.")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt],
                       check=True)
        try:
            queue = os.path.join(mnt, "queue")
            with Smtpd(queue_dir=queue) as srv:
                body = "Subject: fill\r\n\r\n" + ("z" * 76 + "\r\n") * 800     # ~62 KB
                accepted, refused = [], []
                for _ in range(40):
                    with srv.connect() as c:
                        c.reply()
                        c.cmd("HELO client.example")
                        r = c.cmd("MAIL FROM:<a@example.org>")
                        if r.startswith("452"):
                            refused.append(r)
                            continue
                        c.cmd("RCPT TO:<alice@example.test>")
                        self.assertEqual(c.cmd("DATA")[:3], "354")
                        c.send(body + ".\r\n")
                        r = c.reply_line()
                        m = re.match(r"250 2\.0\.0 Ok: queued as (\w+)$", r)
                        if m:
                            accepted.append(m.group(1))
                        else:
                            refused.append(r)
                self.assertTrue(accepted)
                self.assertTrue(refused)
                for r in refused:
                    self.assertEqual(r, "452 4.3.1 Insufficient system storage")
                files = complete_files(queue)
                for qid in accepted:
                    self.assertTrue(files.get(qid), qid)
                    read_queue_file(os.path.join(queue, "incoming", qid))
                self.assertEqual(sorted(q for q, ok in files.items() if ok), sorted(accepted))
                srv.wait_log(r"Insufficient system storage|not enough free space|"
                             r"No space left on device")
                # Space comes back: mail is accepted again.
                for qid in accepted:
                    os.unlink(os.path.join(queue, "incoming", qid))
                with smtplib.SMTP("127.0.0.1", srv.port) as s:
                    s.sendmail("a@example.org", ["alice@example.test"], "Subject: ok\r\n\r\nx\r\n")
        finally:
            subprocess.run(["umount", mnt], check=False)
            os.rmdir(mnt)


class Crash(unittest.TestCase):
    MESSAGES = 2000
    CLIENTS = 20

    def test_kill_during_load(self):
        srv = Smtpd({"smtpd_client_connection_count_limit": "0"})
        srv.start()
        lock = threading.Lock()
        acked = []
        unsent = list(range(self.MESSAGES))
        stop = threading.Event()
        # The clients go on with new messages until the four kills are done, however fast
        # smtpd takes the first MESSAGES.
        killed = threading.Event()
        numbers = iter(range(self.MESSAGES, 10 ** 9))

        def client():
            while not stop.is_set():
                with lock:
                    if not unsent:
                        if killed.is_set():
                            return
                        unsent.append(next(numbers))
                    n = unsent.pop()
                try:
                    with smtplib.SMTP("127.0.0.1", srv.port, timeout=20) as s:
                        s.ehlo("client.example")
                        s.mail("a@example.org")
                        s.rcpt("alice@example.test")
                        code, resp = s.data(f"Subject: crash {n}\r\n\r\n" + "x" * 2000 + "\r\n")
                    m = re.match(r"2\.0\.0 Ok: queued as (\w+)", resp.decode())
                    if code == 250 and m:
                        with lock:
                            acked.append(m.group(1))
                        continue
                except (OSError, smtplib.SMTPException):
                    pass
                with lock:
                    unsent.append(n)          # not acknowledged: send it again
                time.sleep(0.05)

        threads = [threading.Thread(target=client) for _ in range(self.CLIENTS)]
        for t in threads:
            t.start()
        kills = 0
        try:
            while kills < 4 and any(t.is_alive() for t in threads):
                time.sleep(random.uniform(0.3, 0.8))
                srv.stop(sig=9)
                kills += 1
                time.sleep(0.1)
                srv.start()
            killed.set()
            for t in threads:
                t.join(300)
        finally:
            stop.set()
            srv.stop()
        try:
            self.assertEqual(kills, 4)
            self.assertGreaterEqual(len(acked), self.MESSAGES)
            files = complete_files(srv.queue)
            for qid in acked:
                self.assertTrue(files.get(qid), f"{qid} got 250 but is not complete")
            for qid, complete in files.items():
                if complete:
                    recs, content = read_queue_file(os.path.join(srv.queue, "incoming", qid))
                    self.assertRegex(content.decode(), r"\nSubject: crash \d+\n(.*\n)*\nx{2000}\n$")
        finally:
            srv.tmp.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
