#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""SMTP smuggling is closed: only <CRLF>.<CRLF> ends DATA. Every known variant of a fake
end-of-data ("\\n.\\n", "\\r.\\r", "\\r\\n.\\n", "\\n.\\r\\n") followed by a smuggled
transaction must never end the message or run the smuggled commands. With the default
smtpd_forbid_bare_newline = yes a bare LF gets 550 5.5.2; "normalize" and "no" behave as
Postfix 3.9 defines them; mynetworks clients are excluded by default."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import Smtpd  # noqa: E402

VARIANTS = {
    "lf-dot-lf": "\n.\n",
    "cr-dot-cr": "\r.\r",
    "crlf-dot-lf": "\r\n.\n",
    "lf-dot-crlf": "\n.\r\n",
}

SMUGGLED = ("MAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
            "Subject: smuggled\r\n\r\nevil\r\n")


def message(fake_end):
    return ("Subject: carrier\r\n\r\nline one" + fake_end + SMUGGLED + ".\r\n")


class Smuggling(unittest.TestCase):
    def send(self, srv, source, body):
        with srv.connect(source=source) as c:
            c.reply()
            c.cmd("EHLO client.example")
            c.cmd("MAIL FROM:<a@example.org>")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok")
            c.cmd("DATA")
            c.send(body)
            first = c.reply_line()
            # Whatever happened, the next reply must be to our NOOP: nothing smuggled ran.
            second = c.cmd("NOOP")
            return first, second

    def test_default_rejects_bare_lf(self):
        with Smtpd() as srv:
            for name, fake in VARIANTS.items():
                with self.subTest(variant=name):
                    first, second = self.send(srv, "127.0.0.2", message(fake))
                    if "\n" in fake.replace("\r\n", ""):
                        self.assertEqual(first, "550 5.5.2 Error: bare <LF> received")
                    else:
                        self.assertRegex(first, r"^250 2\.0\.0 Ok: queued as ")
                    self.assertEqual(second, "250 2.0.0 Ok")
            for qid in srv.incoming():
                recs, content = srv.read_queue_file(qid)
                self.assertIn(b"Subject: carrier", content)
                self.assertIn(b"Subject: smuggled", content)
            self.assertNotIn("smuggler", "".join(
                re.findall(r"from=<[^>]*>", srv.log_text())))

    def test_no_and_normalize_never_end_early(self):
        for mode in ("no", "normalize"):
            with self.subTest(mode=mode), Smtpd({"smtpd_forbid_bare_newline": mode}) as srv:
                for name, fake in VARIANTS.items():
                    first, second = self.send(srv, "127.0.0.2", message(fake))
                    m = re.match(r"250 2\.0\.0 Ok: queued as (\w+)$", first)
                    self.assertTrue(m, f"{name}: {first}")
                    self.assertEqual(second, "250 2.0.0 Ok")
                    _, content = srv.read_queue_file(m.group(1))
                    self.assertIn(b"Subject: smuggled\n\nevil\n", content)
                    if mode == "normalize" and name == "lf-dot-lf":
                        # The bare-LF "." line is data, unstuffed as Postfix does.
                        self.assertIn(b"line one\n\nMAIL FROM", content)
                self.assertEqual(len(srv.incoming()), len(VARIANTS))

    def test_mynetworks_excluded_by_default(self):
        with Smtpd() as srv:
            first, second = self.send(srv, "127.0.0.1", message("\n.\n"))
            self.assertRegex(first, r"^250 2\.0\.0 Ok: queued as ")
            self.assertEqual(second, "250 2.0.0 Ok")

    def test_reject_code(self):
        with Smtpd({"smtpd_forbid_bare_newline": "reject",
                    "smtpd_forbid_bare_newline_reject_code": "521"}) as srv:
            first, _ = self.send(srv, "127.0.0.2", "Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
            self.assertEqual(first, "521 5.5.2 Error: bare <LF> received")
            self.assertEqual(srv.incoming(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
