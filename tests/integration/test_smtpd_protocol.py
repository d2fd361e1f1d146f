#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""smtpd, driven as clients drive it: every command and extension, pipelining, BDAT, DSN,
SMTPUTF8, dot-stuffing read back from the queue file, replies and enhanced codes as Postfix gives
them, limits, and the log lines. The server is the real binary on real sockets, started by
systemd-socket-activate (tern_harness.Smtpd)."""

import os
import re
import signal
import smtplib
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import Smtpd, record  # noqa: E402

MSG = "From: a@example.org\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nbody\r\n"


def queued_id(reply):
    m = re.match(r"250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$", reply)
    assert m, reply
    return m.group(1)


class Protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Smtpd(ipv6=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.tmp.cleanup()

    def client(self, source=None):
        c = self.srv.connect(source=source)
        self.assertEqual(c.reply_line(), "220 mx.example.test ESMTP tern")
        return c

    def transaction(self, c, sender="<a@example.org>", rcpt="<alice@example.test>", body=MSG):
        self.assertEqual(c.cmd(f"MAIL FROM:{sender}"), "250 2.1.0 Ok")
        self.assertEqual(c.cmd(f"RCPT TO:{rcpt}"), "250 2.1.5 Ok")
        self.assertEqual(c.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>")
        c.send(body + ".\r\n")
        return queued_id(c.reply_line())

    def test_ehlo_keywords(self):
        with self.client() as c:
            c.send("EHLO client.example\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250)
            self.assertEqual(lines, ["mx.example.test", "PIPELINING", "SIZE 10240000", "VRFY",
                                     "ETRN", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
                                     "SMTPUTF8", "CHUNKING"])
            self.assertEqual(c.cmd("HELO client.example"), "250 mx.example.test")
            self.assertEqual(c.cmd("EHLO"), "501 Syntax: EHLO hostname")
            self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
            self.assertTrue(c.closed())

    def test_smtplib_and_queue_file(self):
        with smtplib.SMTP("127.0.0.1", self.srv.port, local_hostname="client.example") as s:
            self.assertEqual(s.sendmail("a@example.org",
                                        ["alice@example.test", "bob@example.test"], MSG), {})
            s.mail("a@example.org")
            s.rcpt("alice@example.test")
            s.rcpt("bob@example.test")
            code, resp = s.data(MSG)
            self.assertEqual(code, 250)
            qid = queued_id("250 " + resp.decode())
        self.srv.wait_log(rf"^{qid}: client=unknown\[127\.0\.0\.1\]$")
        recs, content = self.srv.read_queue_file(qid)
        self.assertEqual(record(recs, "sender"), [["a@example.org"]])
        self.assertEqual([r[2] for r in record(recs, "rcpt")],
                         ["alice@example.test", "bob@example.test"])
        self.assertEqual(record(recs, "client_addr"), [["127.0.0.1"]])
        self.assertEqual(record(recs, "helo"), [["client.example"]])
        self.assertEqual(record(recs, "protocol"), [["ESMTP"]])
        text = content.decode()
        self.assertNotIn("\r", text)
        self.assertRegex(text, r"^Received: from client\.example \(unknown \[127\.0\.0\.1\]\)\n"
                               r"\tby mx\.example\.test \(tern\) with ESMTP id " + qid + ";\n")
        self.assertTrue(text.endswith("\n\nbody\n"), text)
        self.assertIn("\nSubject: hi\n", text)
        # A client on this host gets the missing headers added (local_header_rewrite_clients).
        self.assertRegex(text, r"\nMessage-Id: <\d{14}\." + qid + r"@mx\.example\.test>\n")
        self.assertRegex(text, r"\nDate: ")
        st = os.stat(os.path.join(self.srv.queue, "incoming", qid))
        self.assertEqual(st.st_mode & 0o777, 0o700)

    def test_pipelined_transaction_in_one_write(self):
        with self.client() as c:
            c.send("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
                   "RCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
                   "RCPT TO:<bob@example.test>\r\nDATA\r\n" + MSG + ".\r\nQUIT\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply_line(), "250 2.1.0 Ok")
            self.assertEqual(c.reply_line(), "250 2.1.5 Ok")
            self.assertEqual(c.reply_line(),
                             "550 5.1.1 <nobody@example.test>: Recipient address rejected: "
                             "User unknown in local recipient table")
            self.assertEqual(c.reply_line(), "250 2.1.5 Ok")
            self.assertEqual(c.reply_line(), "354 End data with <CR><LF>.<CR><LF>")
            qid = queued_id(c.reply_line())
            self.assertEqual(c.reply_line(), "221 2.0.0 Bye")
        recs, _ = self.srv.read_queue_file(qid)
        self.assertEqual(len(record(recs, "rcpt")), 2)

    def test_dot_stuffing_round_trip(self):
        body = ("Subject: dots\r\n\r\n..leading dot\r\n...\r\n..\r\n. \r\nx.\r\n"
                "..\r\nend\r\n")
        with self.client() as c:
            c.cmd("EHLO client.example")
            qid = self.transaction(c, body=body)
        _, content = self.srv.read_queue_file(qid)
        self.assertTrue(content.endswith(b"\n\n.leading dot\n..\n.\n \nx.\n.\nend\n"), content)
        self.assertIn(b"\nSubject: dots\n", content)

    def test_bdat(self):
        with self.client() as c:
            c.cmd("EHLO client.example")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME"), "250 2.1.0 Ok")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok")
            part1 = b"Subject: chunks\r\n\r\nfirst li"
            part2 = b"ne\r\n.\r\nlast\r\n"
            c.send(b"BDAT %d\r\n" % len(part1) + part1)
            self.assertEqual(c.reply_line(), f"250 2.0.0 Ok: {len(part1)} bytes")
            c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
            qid = queued_id(c.reply_line())
            # Pipelined: a chunk without a transaction is read whole and refused after it.
            c.send(b"BDAT 5 LAST\r\nhelloNOOP\r\n")
            c.send(b"NOOP\r\n")
            self.assertEqual(c.reply_line(), "503 5.5.1 Error: need MAIL command")
            self.assertEqual(c.reply_line(), "250 2.0.0 Ok")
            self.assertEqual(c.reply_line(), "250 2.0.0 Ok")
        recs, content = self.srv.read_queue_file(qid)
        self.assertTrue(content.endswith(b"\n\nfirst line\n.\nlast\n"), content)
        self.assertIn(b"\nSubject: chunks\n", content)
        self.assertIn(["body", "BINARYMIME"], record(recs, "attr"))

    def test_dsn_parameters_kept(self):
        with self.client() as c:
            c.cmd("EHLO client.example")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2B314"),
                             "250 2.1.0 Ok")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE "
                                   "ORCPT=rfc822;alice+2Bx@example.test"), "250 2.1.5 Ok")
            self.assertEqual(c.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER"), "250 2.1.5 Ok")
            c.cmd("DATA")
            c.send(MSG + ".\r\n")
            qid = queued_id(c.reply_line())
        recs, _ = self.srv.read_queue_file(qid)
        self.assertEqual(record(recs, "ret"), [["HDRS"]])
        self.assertEqual(record(recs, "envid"), [["QQ+314"]])
        rcpts = record(recs, "rcpt")
        self.assertEqual(rcpts[0][1:], ["6", "alice@example.test", "rfc822;alice+x@example.test"])
        self.assertEqual(rcpts[1][1:], ["1", "bob@example.test"])

    def test_smtputf8(self):
        with self.client() as c:
            c.cmd("EHLO client.example")
            self.assertEqual(c.cmd("MAIL FROM:<jörg@example.org>"),
                             "553 5.6.7 Must declare SMTPUTF8 to send unicode address")
            self.assertEqual(c.cmd("MAIL FROM:<jörg@example.org> SMTPUTF8"), "250 2.1.0 Ok")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok")
            c.cmd("DATA")
            c.send("Subject: ü\r\n\r\nbody\r\n.\r\n")
            qid = queued_id(c.reply_line())
        recs, _ = self.srv.read_queue_file(qid)
        self.assertEqual(record(recs, "sender"), [["jörg@example.org"]])
        self.assertIn(["smtputf8", "yes"], record(recs, "attr"))

    def test_size_declared_too_big(self):
        with self.client() as c:
            c.cmd("EHLO client.example")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=99999999"),
                             "552 5.3.4 Message size exceeds fixed limit")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=1000"), "250 2.1.0 Ok")

    def test_other_commands(self):
        with self.client() as c:
            self.assertEqual(c.cmd("ETRN example.test"), "503 5.5.1 Error: send HELO/EHLO first")
            c.cmd("EHLO client.example")
            self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
            self.assertEqual(c.cmd("RSET"), "250 2.0.0 Ok")
            self.assertEqual(c.cmd("VRFY alice@example.test"), "252 2.0.0 alice@example.test")
            self.assertEqual(c.cmd("VRFY nobody@example.test"),
                             "550 5.1.1 <nobody@example.test>: Recipient address rejected: "
                             "User unknown in local recipient table")
            self.assertEqual(c.cmd("ETRN example.test"), "250 Queuing started")
            self.assertRegex(c.cmd("HELP"), r"^214 2\.0\.0 ")
            self.assertEqual(c.cmd("EXPN staff"), "502 5.5.1 Error: command not implemented")
            self.assertEqual(c.cmd("XYZZY"), "500 5.5.2 Error: command not recognized")
            self.assertEqual(c.cmd("STARTTLS"), "502 5.5.1 Error: command not implemented")

    def test_sequence_errors(self):
        with self.client() as c:
            c.cmd("EHLO client.example")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"),
                             "503 5.5.1 Error: need MAIL command")
            self.assertEqual(c.cmd("DATA"), "503 5.5.1 Error: need RCPT command")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"),
                             "503 5.5.1 Error: nested MAIL command")
            self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>")[:3], "550")
            self.assertEqual(c.cmd("DATA"), "554 5.5.1 Error: no valid recipients")
            self.assertEqual(c.cmd("RCPT TO:<a b@>"), "501 5.1.3 Bad recipient address syntax")
            self.assertEqual(c.cmd("RSET"), "250 2.0.0 Ok")
            self.assertEqual(c.cmd("MAIL FROM:<a@@example.org>"), "501 5.1.7 Bad sender address syntax")
            self.assertEqual(c.cmd("MAIL FROM:"), "501 5.5.4 Syntax: MAIL FROM:<address>")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org> FOO=BAR"),
                             "555 5.5.4 Unsupported option: FOO")
            self.assertEqual(c.cmd("X" * 600), "500 5.5.2 Error: line too long")
            self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
            c.send("NOOP\nNOOP\r\n")
            self.assertEqual(c.reply_line(), "500 5.5.2 Error: bad syntax")

    def test_ipv6(self):
        import socket
        with socket.create_connection(("::1", self.srv.port), timeout=5) as s:
            self.assertTrue(s.recv(100).startswith(b"220 mx.example.test"))

    def test_log_lines(self):
        with self.client() as c:
            c.cmd("EHLO client.example")
            c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
            c.reply(), c.reply(), c.reply()
            c.send("Message-ID: <abc@client.example>\r\n\r\nx\r\n.\r\n")
            qid = queued_id(c.reply_line())
            c.cmd("QUIT")
        self.srv.wait_log(rf"^{qid}: message-id=<abc@client\.example>$")
        self.srv.wait_log(r"^connect from unknown\[127\.0\.0\.1\]$")
        self.srv.wait_log(r"^disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 "
                          r"data=1 quit=1 commands=5$")


class Limits(unittest.TestCase):
    def test_limits(self):
        cf = {"smtpd_recipient_limit": "2", "message_size_limit": "2000",
              "smtpd_hard_error_limit": "10", "smtpd_noop_commands": "XFOO",
              "disable_vrfy_command": "yes", "smtpd_helo_required": "yes",
              "header_size_limit": "300", "line_length_limit": "100",
              "smtpd_timeout": "2s"}
        with Smtpd(cf) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"),
                                 "503 5.5.1 Error: send HELO/EHLO first")
                c.send("EHLO client.example\r\n")
                code, lines = c.reply()
                self.assertIn("SIZE 2000", lines)
                self.assertNotIn("VRFY", lines)
                self.assertEqual(c.cmd("XFOO"), "250 2.0.0 Ok")
                self.assertEqual(c.cmd("VRFY alice"), "502 5.5.1 VRFY command is disabled")
                c.cmd("MAIL FROM:<a@example.org>")
                c.cmd("RCPT TO:<alice@example.test>")
                c.cmd("RCPT TO:<bob@example.test>")
                self.assertEqual(c.cmd("RCPT TO:<postmaster@example.test>"),
                                 "452 4.5.3 Error: too many recipients")
                c.cmd("DATA")
                c.send("Subject: big\r\n\r\n" + ("y" * 70 + "\r\n") * 40 + ".\r\n")
                self.assertEqual(c.reply_line(), "552 5.3.4 Message size exceeds fixed limit")
                # Long lines and a long header: kept whole / cut, as Postfix does.
                c.cmd("MAIL FROM:<a@example.org>")
                c.cmd("RCPT TO:<alice@example.test>")
                c.cmd("DATA")
                c.send("X-Long: " + "h" * 500 + "\r\nSubject: s\r\n\r\n" + "b" * 250 +
                       "\r\n.\r\n")
                qid = queued_id(c.reply_line())
            recs, content = srv.read_queue_file(qid)
            self.assertIn(b"\n" + b"b" * 250 + b"\n", content)
            self.assertNotIn(b"h" * 400, content)
            with srv.connect() as c:
                c.reply()
                for _ in range(10):
                    self.assertEqual(c.cmd("BOGUS"), "500 5.5.2 Error: command not recognized")
                # At smtpd_hard_error_limit the server says goodbye without waiting.
                self.assertEqual(c.reply_line(), "421 4.7.0 mx.example.test Error: too many errors")
                self.assertTrue(c.closed())
            with srv.connect() as c:
                c.reply()
                self.assertEqual(c.reply_line(),
                                 "421 4.4.2 mx.example.test Error: timeout exceeded")
                self.assertTrue(c.closed())
            srv.wait_log(r"^timeout after CONNECT from unknown\[127\.0\.0\.1\]$")

    def test_connection_count_limit(self):
        with Smtpd({"smtpd_client_connection_count_limit": "2"}) as srv:
            a = srv.connect(source="127.0.0.2")
            b = srv.connect(source="127.0.0.2")
            self.assertEqual(a.reply()[0], 220)
            self.assertEqual(b.reply()[0], 220)
            with srv.connect(source="127.0.0.2") as c:
                self.assertEqual(c.reply_line(),
                                 "421 4.7.0 mx.example.test Error: too many connections from "
                                 "127.0.0.2")
                self.assertTrue(c.closed())
            # mynetworks is exempt (smtpd_client_event_limit_exceptions).
            conns = [srv.connect() for _ in range(3)]
            for c in conns:
                self.assertEqual(c.reply()[0], 220)
                c.close()
            a.close()
            time.sleep(0.3)
            with srv.connect(source="127.0.0.2") as c:
                self.assertEqual(c.reply()[0], 220)
            b.close()

    def test_hopcount(self):
        with Smtpd({"hopcount_limit": "5"}) as srv, srv.connect() as c:
            c.reply()
            c.cmd("HELO client.example")
            c.cmd("MAIL FROM:<a@example.org>")
            c.cmd("RCPT TO:<alice@example.test>")
            c.cmd("DATA")
            c.send("Received: from x by y; now\r\n" * 6 + "Subject: loop\r\n\r\nx\r\n.\r\n")
            self.assertEqual(c.reply_line(), "554 5.4.0 Error: too many hops")
            self.assertEqual(srv.incoming(), [])

    def test_swaks_pipelining(self):
        with Smtpd() as srv:
            p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(srv.port),
                                "--from", "a@example.org", "--to", "alice@example.test",
                                "--helo", "client.example", "--pipeline", "--body", "hello"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertRegex(p.stdout, r"<-\s+250 2\.0\.0 Ok: queued as \w+")
            self.assertEqual(len(srv.incoming()), 1)


class Signals(unittest.TestCase):
    def test_reload_and_graceful_stop(self):
        with Smtpd() as srv:
            with open(os.path.join(srv.dir, "main.cf"), "a") as f:
                f.write("smtpd_banner = $myhostname ESMTP reloaded\n")
            os.kill(srv.proc.pid, signal.SIGHUP)
            srv.wait_log(r"reloaded the configuration")
            idle = srv.connect()
            self.assertEqual(idle.reply_line(), "220 mx.example.test ESMTP reloaded")
            busy = srv.connect()
            busy.reply()
            busy.cmd("HELO client.example")
            busy.cmd("MAIL FROM:<a@example.org>")
            busy.cmd("RCPT TO:<alice@example.test>")
            busy.cmd("DATA")
            busy.send("Subject: during stop\r\n\r\nfirst half\r\n")
            time.sleep(0.2)
            os.kill(srv.proc.pid, signal.SIGTERM)
            self.assertEqual(idle.reply_line(), "421 4.3.2 mx.example.test Service shutting down")
            self.assertTrue(idle.closed())
            time.sleep(0.2)
            self.assertIsNone(srv.proc.poll())
            busy.send("second half\r\n.\r\n")
            qid = queued_id(busy.reply_line())
            self.assertEqual(busy.reply_line(), "421 4.3.2 mx.example.test Service shutting down")
            self.assertEqual(srv.proc.wait(10), 0)
            _, content = srv.read_queue_file(qid)
            self.assertTrue(content.endswith(b"first half\nsecond half\n"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
