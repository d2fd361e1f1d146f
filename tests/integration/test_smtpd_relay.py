#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Relay control as a default install has it: a client outside mynetworks (bound to 127.0.0.2,
with mynetworks = 127.0.0.1/32) may send to our domains only, whatever routing trick it tries;
a client in mynetworks may relay; unknown local users are refused at RCPT; restriction lists
with permit, reject, reject_unauth_destination; smtpd_delay_reject."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import Smtpd  # noqa: E402

TRICKS = [
    "user@other.test",
    "user%other.test@example.test",
    "other.test!user@example.test",
    '"user@other.test"@example.test',
    "@example.test:user@other.test",
    "user%other.test@mx.example.test",
    '"user%other.test"@example.test',
    "user@other.test@example.test",
]


class Relay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Smtpd({"relay_domains": "relay.test"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.tmp.cleanup()

    def session(self, source):
        c = self.srv.connect(source=source)
        c.reply()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok")
        return c

    def test_untrusted_client_cannot_relay(self):
        with self.session("127.0.0.2") as c:
            for rcpt in TRICKS:
                with self.subTest(rcpt=rcpt):
                    r = c.cmd(f"RCPT TO:<{rcpt}>")
                    self.assertRegex(r, r"^(454 4\.7\.1 <.*>: Relay access denied|"
                                        r"501 5\.1\.3 Bad recipient address syntax)$")
            self.assertEqual(c.cmd("RCPT TO:<user@other.test>"),
                             "454 4.7.1 <user@other.test>: Relay access denied")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok")
            self.assertEqual(c.cmd("RCPT TO:<Alice@MX.Example.Test>"), "250 2.1.5 Ok")
            self.assertEqual(c.cmd("RCPT TO:<anyone@relay.test>"), "250 2.1.5 Ok")
            self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>"),
                             "550 5.1.1 <nobody@example.test>: Recipient address rejected: "
                             "User unknown in local recipient table")
        self.srv.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 454 4\.7\.1 "
                          r"<user@other\.test>: Relay access denied; from=<a@example\.org> "
                          r"to=<user@other\.test> proto=ESMTP helo=<client\.example>")

    def test_mynetworks_may_relay(self):
        with self.session("127.0.0.1") as c:
            self.assertEqual(c.cmd("RCPT TO:<user@other.test>"), "250 2.1.5 Ok")
            self.assertEqual(c.cmd("RCPT TO:<user%other.test@example.test>"), "250 2.1.5 Ok")
            self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>")[:10], "550 5.1.1 ")


class Restrictions(unittest.TestCase):
    def test_reject_unauth_destination_and_reject(self):
        cf = {"smtpd_relay_restrictions": "",
              "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination"}
        with Smtpd(cf) as srv, srv.connect(source="127.0.0.2") as c:
            c.reply()
            c.cmd("HELO client.example")
            c.cmd("MAIL FROM:<a@example.org>")
            self.assertEqual(c.cmd("RCPT TO:<user@other.test>"),
                             "554 5.7.1 <user@other.test>: Relay access denied")
        cf = {"smtpd_recipient_restrictions": "reject"}
        with Smtpd(cf) as srv, srv.connect() as c:
            c.reply()
            c.cmd("HELO client.example")
            c.cmd("MAIL FROM:<a@example.org>")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"),
                             "554 5.7.1 <alice@example.test>: Recipient address rejected: "
                             "Access denied")

    def test_client_restrictions_delayed_and_not(self):
        cf = {"smtpd_client_restrictions": "permit_mynetworks, reject"}
        with Smtpd(cf) as srv, srv.connect(source="127.0.0.2") as c:
            c.reply()
            c.cmd("HELO client.example")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"),
                             "554 5.7.1 <unknown[127.0.0.2]>: Client host rejected: "
                             "Access denied")
        cf["smtpd_delay_reject"] = "no"
        with Smtpd(cf) as srv, srv.connect(source="127.0.0.2") as c:
            c.reply()
            c.cmd("HELO client.example")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"),
                             "554 5.7.1 <unknown[127.0.0.2]>: Client host rejected: "
                             "Access denied")

    def test_open_relay_configuration_refused(self):
        cf = {"smtpd_relay_restrictions": "permit", "smtpd_recipient_restrictions": "permit"}
        srv = Smtpd(cf)
        try:
            with self.assertRaises(RuntimeError) as e:
                srv.start()
            self.assertIn("open relay", str(e.exception))
        finally:
            srv.stop()
            srv.tmp.cleanup()

    def test_unknown_restriction_is_a_configuration_error(self):
        cf = {"smtpd_recipient_restrictions": "permit_mynetworks, reject_bogus_thing, "
                                              "reject_unauth_destination"}
        with Smtpd(cf) as srv, srv.connect() as c:
            c.reply()
            c.cmd("HELO client.example")
            c.cmd("MAIL FROM:<a@example.org>")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok")
        with Smtpd(cf) as srv, srv.connect(source="127.0.0.2") as c:
            c.reply()
            c.cmd("HELO client.example")
            c.cmd("MAIL FROM:<a@example.org>")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"),
                             "451 4.3.5 Server configuration error")


if __name__ == "__main__":
    unittest.main(verbosity=2)
