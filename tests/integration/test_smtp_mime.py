#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smtp agent's content path: 8BITMIME to 7BIT downgrade and smtp_line_length_limit.

A tern mail system (tern_harness.MailSystem: smtpd, qmgr, the smtp agent) routes mail by
transport_maps "[127.0.0.1]:PORT" to a small receiver on raw sockets that records every DATA
byte for byte and announces 8BITMIME or not:

- without 8BITMIME, an 8-bit text/plain message arrives 7-bit, quoted-printable, and decodes to
  the same text; MAIL carries no BODY=8BITMIME;
- a multipart message: the 8bit text part is converted, the base64 part is untouched, the
  multipart is relabelled 7bit; every part decodes to what was sent;
- a 2,000-byte line arrives folded at 998 (CRLF SPACE), and unfolds to the line; with
  smtp_line_length_limit = 0 it arrives whole;
- with 8BITMIME announced the message arrives as it was sent, with BODY=8BITMIME;
- disable_mime_output_conversion = yes sends 8-bit content as it is;
- MIME nesting deeper than 100 levels bounces with 5.6.0 and the DATA is never completed;
- against Postfix's smtp-sink started with -8 (no 8BITMIME) dumping messages with -d, the
  converted message is what the sink stores (skipped when smtp-sink cannot be had)."""

import email
import email.policy
import glob
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import BUILD_ROOT, MailSystem  # noqa: E402

SMTP_AGENT = [os.path.join(BUILD_ROOT, "services", "smtp", "smtp")]
TEXT = "Grüße aus Köln = 1 \nçà et là, naïve café\t\n.a line with a dot\nend"


class Receiver:
    """An SMTP server on loopback, one thread per connection, that records each transaction:
    the MAIL line and the DATA bytes as received (CRLF, dot-stuffed, up to the final dot)."""

    def __init__(self, eight_bit):
        self.eight_bit = eight_bit
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.messages = []              # (mail line, raw data bytes)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        f = c.makefile("rb")
        mail = None
        try:
            c.sendall(b"220 receiver ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    c.sendall(b"250-receiver\r\n" +
                              (b"250-8BITMIME\r\n" if self.eight_bit else b"") +
                              b"250 ENHANCEDSTATUSCODES\r\n")
                elif cmd.startswith(b"MAIL"):
                    mail = line.rstrip(b"\r\n")
                    c.sendall(b"250 2.1.0 Ok\r\n")
                elif cmd.startswith(b"RCPT"):
                    c.sendall(b"250 2.1.5 Ok\r\n")
                elif cmd == b"DATA":
                    c.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n") and data != b".\r\n":
                        chunk = f.readline()
                        if not chunk:
                            return
                        data += chunk
                    with self.lock:
                        self.messages.append((mail, data))
                    c.sendall(b"250 2.0.0 Ok: queued\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    c.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def wait(self, n=1, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("the receiver got no message")

    def close(self):
        self.sock.close()


def system(port, cf=None):
    base = {"queue_run_delay": "1s", "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s", "relay_transport": "smtp",
            "bounce_queue_lifetime": "1h"}
    base.update(cf or {})
    ms = MailSystem(base, agents=("local",), users=("alice",),
                    extra_agents={"smtp": SMTP_AGENT + ["-c", None]})
    ms.agents["smtp"][-1] = ms.dir
    with open(os.path.join(ms.dir, "transport"), "w") as f:
        f.write(f"remote.test smtp:[127.0.0.1]:{port}\n")
    with open(os.path.join(ms.dir, "main.cf"), "a") as f:
        f.write(f"transport_maps = texthash:{ms.dir}/transport\n")
    return ms


def crlf(s):
    return s.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def unstuff(data):
    """DATA bytes as the message: the final dot gone, leading dots undone."""
    assert data.endswith(b".\r\n"), data[-20:]
    lines = data[:-3].split(b"\r\n")
    return b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)


def assert_same_message(test, sent, raw):
    """raw is sent with the headers tern adds (Received, Message-Id, Date): every sent header
    line is there in order, and the body is byte for byte the same."""
    sent_head, sent_body = sent.split(b"\r\n\r\n", 1)
    head, body = raw.split(b"\r\n\r\n", 1)
    test.assertEqual(body, sent_body)
    lines = head.split(b"\r\n")
    positions = [lines.index(ln) for ln in sent_head.split(b"\r\n")]
    test.assertEqual(positions, sorted(positions))


def text_message(cte="8bit"):
    return crlf(("From: alice@mx.example.test\nTo: bob@remote.test\nSubject: mime test\n"
                 "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                 f"Content-Transfer-Encoding: {cte}\n\n" + TEXT + "\n").encode())


def multipart_message():
    return crlf(("From: alice@mx.example.test\nTo: bob@remote.test\nSubject: parts\n"
                 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_sep\"\n"
                 "Content-Transfer-Encoding: 8bit\n\nThis is a MIME message.\n"
                 "--=_sep\nContent-Type: text/plain; charset=utf-8\n"
                 "Content-Transfer-Encoding: 8bit\n\n" + TEXT + "\n"
                 "--=_sep\nContent-Type: application/octet-stream\n"
                 "Content-Transfer-Encoding: base64\n\nAAECA//+/f8=\n"
                 "--=_sep--\n").encode())


class Mime(unittest.TestCase):
    def deliver(self, body, eight_bit, cf=None, mail_options=("BODY=8BITMIME",)):
        rcv = Receiver(eight_bit)
        try:
            with system(rcv.port, cf) as ms:
                qid = ms.send("alice@mx.example.test", ["bob@remote.test"], body,
                              mail_options=list(mail_options))
                ms.wait_log(rf"^{qid}: to=<bob@remote\.test>, relay=127\.0\.0\.1.*"
                            r"status=sent", name="smtp")
                ms.wait_queue_empty()
                return rcv.wait()[0]
        finally:
            rcv.close()

    def assert_7bit(self, data):
        self.assertTrue(all(b < 0x80 for b in data), data)
        for line in data.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)

    def test_8bit_text_downgraded_to_quoted_printable(self):
        mail, data = self.deliver(text_message(), eight_bit=False)
        self.assertNotIn(b"BODY=8BITMIME", mail)
        self.assert_7bit(data)
        msg = email.message_from_bytes(unstuff(data), policy=email.policy.default)
        self.assertEqual(msg["Content-Transfer-Encoding"], "quoted-printable")
        self.assertEqual(len(msg.get_all("Content-Transfer-Encoding")), 1)
        self.assertEqual(msg.get_payload(decode=True).decode("utf-8"),
                         TEXT.replace("\n", "\r\n") + "\r\n")
        # Every encoded line within RFC 2045's 76.
        body = unstuff(data).split(b"\r\n\r\n", 1)[1]
        for line in body.split(b"\r\n"):
            self.assertLessEqual(len(line), 76, line)

    def test_multipart_parts_converted_and_untouched(self):
        mail, data = self.deliver(multipart_message(), eight_bit=False)
        self.assert_7bit(data)
        raw = unstuff(data)
        self.assertIn(b"Content-Transfer-Encoding: base64\r\n\r\nAAECA//+/f8=\r\n", raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(msg["Content-Transfer-Encoding"], "7bit")
        parts = list(msg.iter_parts())
        self.assertEqual(len(parts), 2)
        self.assertEqual(parts[0]["Content-Transfer-Encoding"], "quoted-printable")
        self.assertEqual(parts[0].get_payload(decode=True).decode("utf-8"),
                         TEXT.replace("\n", "\r\n"))
        self.assertEqual(parts[1].get_payload(decode=True), bytes([0, 1, 2, 3, 255, 254, 253,
                                                                  255]))

    def test_long_line_folded(self):
        line = ("0123456789" * 200).encode()
        body = crlf(b"From: alice@mx.example.test\nSubject: long\n\n" + line + b"\nafter\n")
        mail, data = self.deliver(body, eight_bit=True, mail_options=())
        lines = data.split(b"\r\n")
        self.assertTrue(all(len(ln) <= 998 for ln in lines), [len(ln) for ln in lines])
        i = lines.index(line[:998])
        self.assertEqual(lines[i + 1], b" " + line[998:998 + 997])
        self.assertEqual(lines[i + 2], b" " + line[998 + 997:])
        self.assertEqual(lines[i + 3], b"after")
        self.assertIn(line, data.replace(b"\r\n ", b""))

    def test_long_line_not_folded_without_limit(self):
        line = ("abcdefghij" * 200).encode()
        body = crlf(b"Subject: long\n\n" + line + b"\n")
        mail, data = self.deliver(body, eight_bit=True, mail_options=(),
                                  cf={"smtp_line_length_limit": "0"})
        self.assertIn(b"\r\n" + line + b"\r\n", data)

    def test_8bitmime_server_gets_it_unchanged(self):
        sent = text_message()
        mail, data = self.deliver(sent, eight_bit=True)
        self.assertIn(b"BODY=8BITMIME", mail)
        assert_same_message(self, sent, unstuff(data))

    def test_disable_mime_output_conversion(self):
        sent = text_message()
        mail, data = self.deliver(sent, eight_bit=False,
                                  cf={"disable_mime_output_conversion": "yes"})
        self.assertNotIn(b"BODY=8BITMIME", mail)
        assert_same_message(self, sent, unstuff(data))

    def test_nesting_too_deep_bounces(self):
        body = b"From: alice@mx.example.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
        for i in range(101):
            body += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        body += b"Content-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9\r\n"
        rcv = Receiver(eight_bit=False)
        try:
            with system(rcv.port) as ms:
                qid = ms.send("alice@mx.example.test", ["bob@remote.test"], body,
                              mail_options=["BODY=8BITMIME"])
                ms.wait_log(rf"^{qid}: to=<bob@remote\.test>, relay=127\.0\.0\.1.*"
                            r"dsn=5\.6\.0, status=bounced \(MIME nesting exceeds safety limit\)",
                            name="smtp")
            # The transaction was cut off: the receiver never saw the end of the data.
            self.assertEqual(rcv.messages, [])
        finally:
            rcv.close()

    def test_7bit_message_unchanged_without_8bitmime(self):
        sent = crlf(b"From: alice@mx.example.test\nSubject: plain\n\nplain = text \n..x\n")
        mail, data = self.deliver(sent, eight_bit=False, mail_options=())
        assert_same_message(self, sent, unstuff(data))


class AgainstSmtpSink(unittest.TestCase):
    """Postfix's smtp-sink without 8BITMIME (-8), dumping each message (-d)."""

    def test_sink_receives_quoted_printable(self):
        from test_smtp import postfix_tools, SmtpSink
        tools = postfix_tools()
        if not tools:
            self.skipTest("Postfix's smtp-sink is not available")
        sink = SmtpSink(tools, ["-8", "-d", "dump/%H%M%S."])
        try:
            with system(sink.port) as ms:
                qid = ms.send("alice@mx.example.test", ["bob@remote.test"], text_message(),
                              mail_options=["BODY=8BITMIME"])
                ms.wait_log(rf"^{qid}: to=<bob@remote\.test>.*status=sent", name="smtp")
                ms.wait_queue_empty()
            deadline = time.time() + 10
            dumps = []
            while time.time() < deadline and not dumps:
                dumps = glob.glob(os.path.join(sink.dir, "dump", "*"))
                time.sleep(0.1)
            self.assertEqual(len(dumps), 1, dumps)
            with open(dumps[0], "rb") as f:
                dump = f.read()
            self.assertTrue(all(b < 0x80 for b in dump), dump)
            self.assertIn(b"Content-Transfer-Encoding: quoted-printable", dump)
            self.assertNotIn(b"BODY=8BITMIME", dump)
            body = dump.split(b"Content-Transfer-Encoding: quoted-printable", 1)[1]
            self.assertIn(b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln =3D 1=20", body)
            self.assertTrue(re.search(rb"\n\.\.?a line with a dot", body), body)
        finally:
            sink.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
