#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""qmgr with real smtpd in front and a scriptable agent behind (fake_agent.py, speaking the
real qmgr↔agent protocol on a socket-activated --accept socket): delivery and removal, bounces
to the sender as RFC 3464 reports, transport_maps error:, deferral with backoff and the retry
that delivers, a destination failure, an agent that dies mid-request, queue lifetime expiry,
delay warnings, recovery of active/ after kill -9, and the log lines."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import MailSystem, record  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MSG = "From: a@example.org\r\nSubject: test\r\n\r\nbody\r\n"


class Qmgr(unittest.TestCase):
    def system(self, cf=None):
        base = {"default_transport": "fake", "relay_transport": "fake",
                "queue_run_delay": "1s", "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s", "bounce_queue_lifetime": "1h"}
        base.update(cf or {})
        ms = MailSystem(base, agents=(),
                        extra_agents={"fake": [sys.executable,
                                               os.path.join(HERE, "fake_agent.py")]})
        self.log = os.path.join(ms.dir, "fake.jsonl")
        os.environ["FAKE_AGENT_LOG"] = self.log
        os.environ["FAKE_AGENT_STATE"] = os.path.join(ms.dir, "fake.state")
        os.environ["FAKE_AGENT_QUEUE"] = ms.queue
        with open(os.path.join(ms.dir, "transport"), "w") as f:
            f.write("err.test error:5.7.1 no mail accepted here\n")
        with open(os.path.join(ms.dir, "main.cf"), "a") as f:
            f.write(f"transport_maps = texthash:{ms.dir}/transport\n")
        return ms

    def deliveries(self):
        try:
            with open(self.log) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def wait_for(self, pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = pred()
            if got:
                return got
            time.sleep(0.1)
        self.fail("timed out; deliveries: " + json.dumps(self.deliveries(), indent=1))

    def test_deliver_and_bounce(self):
        with self.system() as ms:
            qid = ms.send("a@example.org", ["ok@remote.test", "bounce-x@remote.test",
                                            "z@err.test"], MSG)
            ms.wait_queue_empty()
            ms.wait_log(rf"^{qid}: from=<a@example\.org>, size=\d+, nrcpt=3 \(queue active\)$")
            ms.wait_log(rf"^{qid}: to=<z@err\.test>, relay=none, delay=[\d.e+-]+, dsn=5\.7\.1, "
                        rf"status=bounced \(no mail accepted here\)$")
            ms.wait_log(rf"^{qid}: sender non-delivery notification: (\w+)$")
            ms.wait_log(rf"^{qid}: removed$")
            # The notice went out through the same agent: null sender, to the sender.
            notice = self.wait_for(lambda: [d for d in self.deliveries()
                                            if d["sender"] == [] and
                                            d["rcpts"][0]["address"] == "a@example.org"])
            content = notice[0]["content"]
            self.assertIn("Subject: Undelivered Mail Returned to Sender", content)
            self.assertIn("report-type=delivery-status", content)
            self.assertIn("Final-Recipient: rfc822; bounce-x@remote.test", content)
            self.assertIn("Final-Recipient: rfc822; z@err.test", content)
            self.assertNotIn("Final-Recipient: rfc822; ok@remote.test", content)
            first = [d for d in self.deliveries() if d["id"] == qid]
            self.assertEqual(sorted(r["address"] for d in first for r in d["rcpts"]),
                             ["bounce-x@remote.test", "ok@remote.test"])

    def test_deferral_retry_and_backoff(self):
        with self.system() as ms:
            qid = ms.send("a@example.org", ["deferonce-x@remote.test"], MSG)
            self.wait_for(lambda: ms.queue_files("deferred") == [qid])
            with open(os.path.join(ms.queue, "defer", qid)) as f:
                self.assertIn("deferonce-x@remote.test\t4.2.0\tnot yet", f.read())
            st = os.stat(os.path.join(ms.queue, "deferred", qid))
            self.assertGreater(st.st_mtime, time.time())         # next retry in the future
            ms.wait_queue_empty(queues=("incoming", "active", "deferred"))
            self.assertFalse(os.path.exists(os.path.join(ms.queue, "defer", qid)))
            attempts = [d for d in self.deliveries() if d["id"] == qid]
            self.assertEqual(len(attempts), 2)

    def test_expiry_and_delay_warning(self):
        with self.system({"maximal_queue_lifetime": "4s", "delay_warning_time": "1s"}) as ms:
            qid = ms.send("a@example.org", ["defer-x@remote.test"], MSG)
            notice = self.wait_for(lambda: [d for d in self.deliveries()
                                            if d["sender"] == [] and "Delayed Mail" in
                                            d["content"]])
            self.assertIn("Action: delayed", notice[0]["content"])
            self.wait_for(lambda: [d for d in self.deliveries()
                                   if d["sender"] == [] and "Undelivered Mail" in d["content"]],
                          timeout=40)
            ms.wait_log(rf"^{qid}: to=<defer-x@remote\.test>, .*status=expired")
            ms.wait_queue_empty(queues=("incoming", "active", "deferred"))

    def test_agent_max_use(self):
        # Agents that exit after each request: qmgr takes "end last" to mean the connection
        # is done and opens a new one for the next delivery, so nothing meets a departed agent
        # (which would cost a "lost connection" deferral).
        os.environ["FAKE_AGENT_MAX_USE"] = "1"
        try:
            with self.system() as ms:
                # Queued while qmgr is down, so that it then runs them back to back on the
                # connections it has.
                ms.kill("qmgr")
                ids = [ms.send("a@example.org", [f"ok{i}@remote.test"], MSG) for i in range(30)]
                ms.start_qmgr()
                ms.wait_queue_empty(queues=("incoming", "active", "deferred"))
                self.assertEqual([d for d in self.deliveries() if "after_last" in d], [])
                got = [d for d in self.deliveries() if d.get("id") in ids]
                self.assertEqual(sorted(d["id"] for d in got), sorted(ids))
                pids = [d["pid"] for d in got]
                self.assertEqual(len(set(pids)), len(pids))     # one request per process
                self.assertNotIn("status=deferred", ms.log_text())
        finally:
            del os.environ["FAKE_AGENT_MAX_USE"]

    def test_agent_crash_defers(self):
        with self.system() as ms:
            qid = ms.send("a@example.org", ["crash-x@remote.test"], MSG)
            ms.wait_log(rf"^{qid}: to=<crash-x@remote\.test>, relay=fake, delay=[^,]+, dsn=4\.3\.0, "
                        rf"status=deferred \(delivery temporarily suspended: lost connection "
                        rf"with fake agent")
            self.wait_for(lambda: ms.queue_files("deferred") == [qid])

    def test_missing_agent_defers(self):
        with self.system({"default_transport": "nosuch"}) as ms:
            qid = ms.send("a@example.org", ["x@remote.test"], MSG)
            ms.wait_log(rf"^{qid}: to=<x@remote\.test>, relay=nosuch, delay=[^,]+, dsn=4\.3\.0, "
                        rf"status=deferred \(delivery temporarily suspended: connect to ")
            self.wait_for(lambda: ms.queue_files("deferred") == [qid])

    def test_recovery_after_kill(self):
        with self.system() as ms:
            ms.kill("fake")
            qid = ms.send("a@example.org", ["ok@remote.test"], MSG)
            self.wait_for(lambda: ms.queue_files("deferred") == [qid])
            ms.kill("qmgr")
            # A file left in active/ by a qmgr that died is delivered after the restart.
            os.rename(os.path.join(ms.queue, "deferred", qid),
                      os.path.join(ms.queue, "active", qid))
            ms.start_agent("fake")
            ms.start_qmgr()
            ms.wait_log(r"recovered 1 message\(s\) from active/")
            ms.wait_queue_empty(queues=("incoming", "active", "deferred"))
            self.assertTrue([d for d in self.deliveries() if d["id"] == qid])

    def test_dead_destination_does_not_block_others(self):
        with self.system({"initial_destination_concurrency": "2"}) as ms:
            dead = [ms.send("a@example.org", [f"down-{i}@dead.test"], MSG) for i in range(6)]
            alive = ms.send("a@example.org", ["ok@alive.test"], MSG)
            ms.wait_log(r"fake:dead\.test: destination throttled after repeated failures")
            ms.wait_log(rf"^{alive}: removed$")
            self.wait_for(lambda: sorted(ms.queue_files("deferred")) == sorted(dead))
            # Mail for the throttled destination is deferred without another attempt.
            tried = {d["id"] for d in self.deliveries() if d["id"] in dead}
            self.assertLess(len(tried), len(dead))
            ms.wait_log(r"status=deferred \(delivery temporarily suspended: destination is not "
                        r"responding\)")

    def test_dsn_fields_reach_the_agent(self):
        with self.system() as ms:
            qid = ms.send("a@example.org", ["ok@remote.test"], MSG,
                          mail_options=["RET=HDRS", "ENVID=e1"],
                          rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;orig@remote.test"])
            d = self.wait_for(lambda: [d for d in self.deliveries() if d["id"] == qid])[0]
            self.assertEqual(d["envid"], ["e1"])
            self.assertEqual(d["ret"], ["HDRS"])
            self.assertIn("dsn", d["flags"])
            # NOTIFY=SUCCESS: a success notice goes back to the sender.
            self.wait_for(lambda: [x for x in self.deliveries()
                                   if x["sender"] == [] and "Successful Mail Delivery Report"
                                   in x["content"]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
