#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""smtpd's client name lookup (smtpd_peername_lookup = yes) against a real DNS server: dnsmasq
on a loopback port, serving a PTR and a matching A record for 127.0.0.2, a PTR for 127.0.0.3
whose name resolves elsewhere, and nothing for 127.0.0.4. smtpd is pointed at it with
TERN_DNS_SERVER (a test hook: no Postfix parameter names the resolver's servers). Checked: the
"connect from name[addr]" log lines, the warning for a name that does not verify, the names in
the queue file and the Received: header, and that peername lookups can be turned off.

Needs dnsmasq (Debian package dnsmasq-base); without it the test is skipped."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import Smtpd, record  # noqa: E402

DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq")
                                      else None)
MSG = "Subject: hi\r\n\r\nbody\r\n"


def udp_port_free():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dns_query(port, name, qtype=12):
    """One hand-made query, to see that dnsmasq answers before smtpd asks it."""
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(q, ("127.0.0.1", port))
        return s.recv(4096)


class Dnsmasq:
    """dnsmasq answering from its command line alone, on a free loopback port (tried again on
    another port should the chosen one be taken meanwhile); its log goes to a temporary file."""

    def __init__(self):
        self.log = tempfile.TemporaryFile()
        for attempt in range(5):
            self.port = udp_port_free()
            if self._start():
                return
        self.log.seek(0)
        err = self.log.read().decode(errors="replace")
        self.log.close()
        raise RuntimeError("dnsmasq did not start: " + err)

    def _start(self):
        argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
                f"--port={self.port}", "--pid-file=", "--log-facility=-", "--log-queries",
                # answer for these zones alone, never forward
                "--local=/example.test/", "--local=/in-addr.arpa/",
                # 127.0.0.2: PTR and A agree
                "--host-record=client.example.test,127.0.0.2",
                # 127.0.0.3: the PTR name resolves to another address
                "--ptr-record=3.0.0.127.in-addr.arpa,liar.example.test",
                "--host-record=liar.example.test,192.0.2.1"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                dns_query(self.port, "2.0.0.127.in-addr.arpa")
                return True
            except OSError:
                if self.proc.poll() is not None:
                    return False
        self.proc.terminate()
        self.proc.wait(10)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


@unittest.skipUnless(DNSMASQ, "dnsmasq is not installed (Debian package dnsmasq-base)")
class ClientName(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = Dnsmasq()
        os.environ["TERN_DNS_SERVER"] = f"127.0.0.1:{cls.dns.port}"
        cls.srv = Smtpd({"smtpd_peername_lookup": "yes"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.tmp.cleanup()
        cls.dns.stop()
        os.environ.pop("TERN_DNS_SERVER", None)

    def send_message(self, source):
        with self.srv.connect(source=source) as c:
            code, lines = c.reply()
            self.assertEqual(code, 220, lines)
            self.assertEqual(c.cmd("EHLO helo.example")[:3], "250")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok")
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok")
            self.assertEqual(c.cmd("DATA")[:3], "354")
            r = c.cmd(MSG + ".")
            m = re.fullmatch(r"250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)", r)
            self.assertTrue(m, r)
            self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
            return m.group(1)

    def test_verified_name(self):
        qid = self.send_message("127.0.0.2")
        self.srv.wait_log(r"^connect from client\.example\.test\[127\.0\.0\.2\]$")
        self.srv.wait_log(rf"^{qid}: client=client\.example\.test\[127\.0\.0\.2\]$")
        recs, content = self.srv.read_queue_file(qid)
        self.assertEqual(record(recs, "client_name"), [["client.example.test"]])
        self.assertRegex(content.decode(),
                         r"^Received: from helo\.example \(client\.example\.test "
                         r"\[127\.0\.0\.2\]\)\n\tby mx\.example\.test \(tern\) with ESMTP id "
                         + qid + r"\n\tfor <alice@example\.test>; ")

    def test_forward_mismatch_is_unknown(self):
        qid = self.send_message("127.0.0.3")
        self.srv.wait_log(r"^connect from unknown\[127\.0\.0\.3\]$")
        self.srv.wait_log(r"hostname liar\.example\.test does not resolve to address "
                          r"127\.0\.0\.3$")
        recs, content = self.srv.read_queue_file(qid)
        self.assertEqual(record(recs, "client_name"), [["unknown"]])
        self.assertRegex(content.decode(),
                         r"^Received: from helo\.example \(unknown \[127\.0\.0\.3\]\)\n")

    def test_no_ptr_is_unknown(self):
        self.send_message("127.0.0.4")
        self.srv.wait_log(r"^connect from unknown\[127\.0\.0\.4\]$")

    def test_hosts_file(self):
        # 127.0.0.1 is named from /etc/hosts, as c-ares' "fb" order does, without DNS.
        name = None
        with open("/etc/hosts") as f:
            for line in f:
                fields = line.split("#")[0].split()
                if len(fields) >= 2 and fields[0] == "127.0.0.1":
                    name = fields[1].lower()
                    break
        if name is None:
            self.skipTest("/etc/hosts does not name 127.0.0.1")
        with self.srv.connect(source="127.0.0.1") as c:
            self.assertEqual(c.reply()[0], 220)
        self.srv.wait_log(rf"^connect from {re.escape(name)}\[127\.0\.0\.1\]$")

    def test_pipelined_before_greeting(self):
        # A client that talks before the banner is answered in order once the name is known.
        with self.srv.connect(source="127.0.0.2") as c:
            c.send("EHLO early.example\r\nQUIT\r\n")
            code, _ = c.reply()
            self.assertEqual(code, 220)
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply_line(), "221 2.0.0 Bye")

    def test_disconnect_during_lookup(self):
        # Many clients that go away at once: the server survives and goes on answering.
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.srv.port))
            s.close()
        with self.srv.connect(source="127.0.0.2") as c:
            self.assertEqual(c.reply()[0], 220)
        self.assertIsNone(self.srv.proc.poll())


class Unanswered(unittest.TestCase):
    """A DNS server that never answers: the session waits in its lookup, and a stop ends it
    (the lookup cancelled with the session) with a 421 and a clean exit."""

    def test_stop_during_lookup(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            os.environ["TERN_DNS_SERVER"] = f"127.0.0.1:{silent.getsockname()[1]}"
            try:
                srv = Smtpd({"smtpd_peername_lookup": "yes"}).start()
            finally:
                os.environ.pop("TERN_DNS_SERVER", None)
            try:
                with srv.connect(source="127.0.0.2") as c:
                    # the PTR query reaches the silent server: the session is in its lookup
                    silent.settimeout(10)
                    silent.recvfrom(512)
                    self.assertEqual(srv.stop(), 0, srv.log_text())
                    code, lines = c.reply()
                    self.assertEqual(code, 421, lines)
                self.assertNotIn("connect from unknown[127.0.0.2]\n", srv.log_text())
            finally:
                srv.stop()
                srv.tmp.cleanup()


@unittest.skipUnless(DNSMASQ, "dnsmasq is not installed (Debian package dnsmasq-base)")
class LookupOff(unittest.TestCase):
    def test_peername_lookup_no(self):
        dns = Dnsmasq()
        os.environ["TERN_DNS_SERVER"] = f"127.0.0.1:{dns.port}"
        try:
            with Smtpd({"smtpd_peername_lookup": "no"}) as srv:
                with srv.connect(source="127.0.0.2") as c:
                    self.assertEqual(c.reply()[0], 220)
                srv.wait_log(r"^connect from unknown\[127\.0\.0\.2\]$")
        finally:
            os.environ.pop("TERN_DNS_SERVER", None)
            dns.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
