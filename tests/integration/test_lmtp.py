#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lmtp delivery agent (services/smtp/smtp --lmtp) against Dovecot's LMTP server: a
private dovecot instance (its own configuration, base and state directories in a temporary
directory, LMTP on a unix socket, passwd-file users with Maildirs, a quota plugin), reached by
transport_maps "lmtp:unix:/path". Three recipients in one message: one is delivered, one is
unknown (550 at RCPT) and one is over quota (552 after DATA, LMTP's per-recipient reply): each
gets its own result, and only the good one lands in its Maildir. Skipped when dovecot's lmtp
is not installed."""

import glob
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot_lmtp  # noqa: E402
from tern_harness import BUILD_ROOT, MailSystem  # noqa: E402

MSG = "From: a@example.org\r\nSubject: lmtp test\r\n\r\nbody\r\n" + "x" * 4000 + "\r\n"


def maildir(dc, address):
    return glob.glob(os.path.join(dc.home(address), "Maildir", "new", "*"))


@unittest.skipUnless(dovecot_lmtp.AVAILABLE, "dovecot-lmtpd is not installed")
class AgainstDovecot(unittest.TestCase):
    def test_per_recipient_results(self):
        dc = dovecot_lmtp.DovecotLmtp({"alice@lmtp.test": "",
                                       "bob@lmtp.test": "userdb_quota_rule=*:storage=1K"},
                                      quota=True)
        try:
            cf = {"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                  "maximal_backoff_time": "2s", "relay_transport": "smtp"}
            ms = MailSystem(cf, agents=("local",), extra_agents={})
            ms.agents["lmtp"] = [os.path.join(BUILD_ROOT, "services", "smtp", "smtp"),
                                 "--lmtp", "-c", ms.dir]
            with open(os.path.join(ms.dir, "transport"), "w") as f:
                f.write(f"lmtp.test lmtp:unix:{dc.socket}\n")
            with open(os.path.join(ms.dir, "main.cf"), "a") as f:
                f.write(f"transport_maps = texthash:{ms.dir}/transport\n")
            with ms:
                qid = ms.send("alice@mx.example.test",
                              ["alice@lmtp.test", "nobody@lmtp.test", "bob@lmtp.test"], MSG)
                relay = r"mx\.example\.test\[" + re.escape(dc.socket) + r"\]"
                ms.wait_log(rf"^{qid}: to=<alice@lmtp\.test>, relay={relay}, "
                            rf"delay=[\d.e+-]+, dsn=2\.0\.0, status=sent \(250 2\.0\.0 ",
                            name="lmtp")
                ms.wait_log(rf"^{qid}: to=<nobody@lmtp\.test>, relay={relay}, .*dsn=5\.1\.1, "
                            rf"status=bounced \(host {relay} said: 550 5\.1\.1 .*\(in reply to "
                            rf"RCPT TO command\)\)$", name="lmtp")
                ms.wait_log(rf"^{qid}: to=<bob@lmtp\.test>, relay={relay}, .*dsn=5\.2\.2, "
                            rf"status=bounced \(host {relay} said: 552 5\.2\.2 .*\(in reply to "
                            rf"end of DATA command\)\)$", name="lmtp")
                ms.wait_queue_empty()
                self.assertEqual(len(maildir(dc, "alice@lmtp.test")), 1, dc.text())
                self.assertEqual(maildir(dc, "bob@lmtp.test"), [])
                with open(maildir(dc, "alice@lmtp.test")[0], "rb") as f:
                    self.assertIn(b"Subject: lmtp test", f.read())
        finally:
            dc.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
