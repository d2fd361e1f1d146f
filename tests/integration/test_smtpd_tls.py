#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS in smtpd: STARTTLS (RFC 3207) and wrapper mode (the smtps role, RFC 8314), with a
certificate made for each test by "openssl req". Real clients: smtplib, openssl s_client and
swaks. Checks Postfix's replies (220 2.0.0 Ready to start TLS, 454 4.7.0, 530 5.7.0, 554 5.5.1),
that commands pipelined behind STARTTLS are discarded (CVE-2011-0411), that the session is
back to its pre-EHLO state after the handshake, that a broken handshake ends only its own
session, the Received: header (with ESMTPS, and the "(using ...)" comment), Postfix's log lines,
systemd credentials ($CREDENTIALS_DIRECTORY), and that the smtps role refuses to start without
a certificate."""

import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import SMTPD, SOCKET_ACTIVATE, Smtpd, passenv, record  # noqa: E402

SWAKS = shutil.which("swaks")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def make_cert(directory, name="server"):
    cert = os.path.join(directory, name + "-cert.pem")
    key = os.path.join(directory, name + "-key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=mx.example.test", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TlsSmtpd(Smtpd):
    """Smtpd with a fresh certificate in its directory; tls_cf entries are added to main.cf
    with {cert} and {key} replaced. wrapper: the probe at start speaks TLS first. creds: a
    directory passed as $CREDENTIALS_DIRECTORY."""

    def __init__(self, tls_cf=None, wrapper=False, creds=None, **kw):
        super().__init__(**kw)
        self.cert, self.key = make_cert(self.dir)
        self.wrapper = wrapper
        self.creds = creds
        cf = {}
        with open(os.path.join(self.dir, "main.cf")) as f:
            for line in f:
                k, v = line.rstrip("\n").split(" = ", 1)
                cf[k] = v
        for k, v in (tls_cf or {}).items():
            cf[k] = v.format(cert=self.cert, key=self.key, dir=self.dir)
        self.write_main_cf(cf)

    def argv(self):
        argv = [SOCKET_ACTIVATE, "-l", f"127.0.0.1:{self.port}"] + passenv()
        if self.creds:
            argv += ["-E", f"CREDENTIALS_DIRECTORY={self.creds}"]
        return argv + [SMTPD, "-c", self.dir] + self.extra_args

    def launch(self):
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        env.pop("TERN_CONFIG", None)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=self.log, env=env)

    def start(self):
        self.launch()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
                    s = client_context().wrap_socket(raw) if self.wrapper else raw
                    s.recv(512)
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                    s.close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("smtpd exited: " + self.log_text())
                time.sleep(0.05)
        raise RuntimeError("smtpd did not come up: " + self.log_text())

    def __exit__(self, *exc):
        rc = self.stop()
        text = self.log_text()
        self.tmp.cleanup()
        # Sanitizer reports (the CI build) and a crash fail the test that caused them.
        if exc[0] is None:
            assert "Sanitizer" not in text and "runtime error:" not in text, text
            assert rc in (0, None, -15), f"smtpd exit status {rc}:\n{text}"

    def received(self, qid):
        recs, content = self.read_queue_file(qid)
        head = content.split(b"\n\n", 1)[0].decode()
        return recs, head


MAY = {"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": "{cert}",
       "smtpd_tls_key_file": "{key}", "smtpd_tls_loglevel": "1"}
ENCRYPT = dict(MAY, smtpd_tls_security_level="encrypt")
MSG = "From: a@example.org\r\nTo: alice@example.test\r\nSubject: tls\r\n\r\nover TLS\r\n"


class StartTls(unittest.TestCase):
    def test_smtplib_transaction(self):
        cf = dict(MAY, smtpd_tls_received_header="yes")
        with TlsSmtpd(cf) as srv:
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
                c.ehlo("client.example")
                self.assertTrue(c.has_extn("starttls"))
                code, text = c.starttls(context=client_context())
                self.assertEqual((code, text), (220, b"2.0.0 Ready to start TLS"))
                c.ehlo("client.example")
                self.assertFalse(c.has_extn("starttls"))  # RFC 3207 §4.2
                c.sendmail("a@example.org", ["alice@example.test"], MSG)
                # A second STARTTLS is refused.
                self.assertEqual(c.docmd("STARTTLS"), (554, b"5.5.1 Error: TLS already active"))
            self.assertEqual(len(srv.incoming()), 1)
            recs, head = srv.received(srv.incoming()[0])
            self.assertEqual(record(recs, "protocol"), [["ESMTPS"]])
            self.assertRegex(head, r"with ESMTPS id ")
            self.assertRegex(head, r"\(using TLSv1\.[23] with cipher [A-Z0-9_-]+ "
                                   r"\(\d+/\d+ bits\)\)")
            self.assertIn("(No client certificate requested)", head)
            srv.wait_log(r"^Anonymous TLS connection established from unknown\[127\.0\.0\.1\]: "
                         r"TLSv1\.3 with cipher TLS_[A-Z0-9_]+ \(\d+/\d+ bits\)$")
            srv.wait_log(r"disconnect from .* starttls=1/2 ")

    def test_received_without_comment_by_default(self):
        with TlsSmtpd(MAY) as srv:
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
                c.starttls(context=client_context())
                c.sendmail("a@example.org", ["alice@example.test"], MSG)
            recs, head = srv.received(srv.incoming()[0])
            self.assertIn("with ESMTPS id", head)
            self.assertNotIn("(using ", head)

    def test_tls12_only(self):
        cf = dict(MAY, smtpd_tls_protocols=">=TLSv1.2, <=TLSv1.2")
        with TlsSmtpd(cf) as srv:
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
                c.starttls(context=client_context())
                self.assertEqual(c.sock.version(), "TLSv1.2")
                self.assertEqual(c.noop()[0], 250)
            srv.wait_log(r"Anonymous TLS connection established from .*: TLSv1\.2 with cipher")

    def test_openssl_s_client(self):
        with TlsSmtpd(MAY) as srv:
            p = subprocess.run([OPENSSL, "s_client", "-starttls", "smtp", "-connect",
                                f"127.0.0.1:{srv.port}", "-quiet", "-ign_eof"],
                               input=b"EHLO client.example\r\nNOOP\r\nQUIT\r\n",
                               capture_output=True, timeout=30)
            out = p.stdout.decode()
            self.assertIn("250-mx.example.test", out)
            self.assertNotIn("STARTTLS", out)
            self.assertIn("250 2.0.0 Ok", out)
            self.assertIn("221 2.0.0 Bye", out)

    @unittest.skipUnless(SWAKS, "swaks is not installed")
    def test_swaks_tls(self):
        with TlsSmtpd(MAY) as srv:
            p = subprocess.run([SWAKS, "--server", "127.0.0.1", "--port", str(srv.port),
                                "--tls", "--from", "a@example.org", "--to",
                                "alice@example.test", "--ehlo", "client.example"],
                               capture_output=True, timeout=60)
            out = p.stdout.decode()
            self.assertEqual(p.returncode, 0, out + p.stderr.decode())
            self.assertIn("<-  220 2.0.0 Ready to start TLS", out)
            self.assertRegex(out, r"<~  250 2\.0\.0 Ok: queued as ")
            self.assertEqual(len(srv.incoming()), 1)

    def test_encrypt_requires_starttls(self):
        with TlsSmtpd(ENCRYPT) as srv:
            with srv.connect() as c:
                c.reply()
                self.send_ehlo(c)
                must = "530 5.7.0 Must issue a STARTTLS command first"
                self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), must)
                self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), must)
                self.assertEqual(c.cmd("DATA"), must)
                self.assertEqual(c.cmd("VRFY alice"), must)
                self.assertEqual(c.cmd("ETRN example.test"), must)
                # BDAT's chunk is read and refused, and the session stays in step.
                c.send("BDAT 5 LAST\r\nhello")
                self.assertEqual(c.reply_line(), must)
                self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
                self.assertEqual(c.cmd("RSET"), "250 2.0.0 Ok")
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
                c.starttls(context=client_context())
                c.sendmail("a@example.org", ["alice@example.test"], MSG)
            self.assertEqual(len(srv.incoming()), 1)

    def test_legacy_enforce_tls(self):
        cf = dict(ENCRYPT)
        del cf["smtpd_tls_security_level"]
        cf["smtpd_enforce_tls"] = "yes"
        with TlsSmtpd(cf) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertIn("STARTTLS", self.send_ehlo(c))
                self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"),
                                 "530 5.7.0 Must issue a STARTTLS command first")

    def test_legacy_use_tls(self):
        cf = dict(MAY)
        del cf["smtpd_tls_security_level"]
        cf["smtpd_use_tls"] = "yes"
        with TlsSmtpd(cf) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertIn("STARTTLS", self.send_ehlo(c))
                self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok")

    def send_ehlo(self, c):
        c.send("EHLO client.example\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250)
        return lines

    def test_pipelined_after_starttls_discarded(self):
        cf = dict(MAY, smtpd_helo_required="yes")
        with TlsSmtpd(cf) as srv:
            with srv.connect() as c:
                c.reply()
                self.send_ehlo(c)
                # One write: STARTTLS and the injected commands (CVE-2011-0411).
                c.send("STARTTLS\r\nMAIL FROM:<evil@evil.test>\r\nRCPT TO:<alice@example"
                       ".test>\r\nRSET")
                self.assertEqual(c.reply_line(), "220 2.0.0 Ready to start TLS")
                self.assertEqual(c.buf, b"")
                tls = client_context().wrap_socket(c.sock)
                tls.settimeout(10)
                # Nothing of the injection ran, the partial "RSET" line is forgotten, and the
                # session is back before EHLO (smtpd_helo_required).
                tls.sendall(b"\r\nMAIL FROM:<a@example.org>\r\n")
                data = b""
                while data.count(b"\r\n") < 2:
                    data += tls.recv(4096)
                lines = data.decode().split("\r\n")
                self.assertEqual(lines[0], "500 5.5.2 Error: command not recognized")
                self.assertEqual(lines[1], "503 5.5.1 Error: send HELO/EHLO first")
                tls.sendall(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nQUIT\r\n")
                data = b""
                while b"221" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                text = data.decode()
                self.assertIn("250 2.1.0 Ok", text)
                self.assertNotIn("nested MAIL", text)
                self.assertNotIn("STARTTLS", text)
                tls.close()
            self.assertNotIn("evil", srv.log_text())

    def test_broken_handshake_ends_only_that_session(self):
        with TlsSmtpd(MAY) as srv:
            with srv.connect() as other:
                other.reply()
                self.send_ehlo(other)
                self.assertEqual(other.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 Ok")
                with srv.connect() as bad:
                    bad.reply()
                    self.assertEqual(bad.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS")
                    bad.send("HELLO this is not TLS\r\n" * 20)
                    self.assertTrue(bad.closed())
                srv.wait_log(r"^SSL_accept error from unknown\[127\.0\.0\.1\]: .+")
                srv.wait_log(r"^lost connection after STARTTLS from unknown\[127\.0\.0\.1\]$")
                self.assertEqual(other.cmd("RCPT TO:<alice@example.test>"), "250 2.1.5 Ok")
                self.assertEqual(other.cmd("DATA")[:3], "354")
                other.send("Subject: x\r\n\r\nstill here\r\n.\r\n")
                self.assertRegex(other.reply_line(), r"^250 2\.0\.0 Ok: queued as ")
            self.assertEqual(len(srv.incoming()), 1)

    def test_client_gone_during_handshake(self):
        with TlsSmtpd(MAY) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertEqual(c.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS")
            srv.wait_log(r"^lost connection after STARTTLS from ")
            with srv.connect() as c:
                self.assertEqual(c.reply()[0], 220)

    def test_handshake_timeout(self):
        cf = dict(MAY, smtpd_starttls_timeout="1s")
        with TlsSmtpd(cf) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertEqual(c.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS")
                c.send(b"\x16\x03\x01")          # a ClientHello that never ends
                self.assertTrue(c.closed(timeout=30))
            srv.wait_log(r"^timeout after STARTTLS from unknown\[127\.0\.0\.1\]$")

    def test_no_certificate_no_starttls(self):
        cf = {"smtpd_tls_security_level": "may"}
        with TlsSmtpd(cf) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertNotIn("STARTTLS", self.send_ehlo(c))
                self.assertEqual(c.cmd("STARTTLS"),
                                 "454 4.7.0 TLS not available due to local problem")
                self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
            srv.wait_log(r"TLS is not available, STARTTLS will not be offered: "
                         r"smtpd_tls_cert_file")

    def test_tls_off(self):
        with TlsSmtpd({}) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertNotIn("STARTTLS", self.send_ehlo(c))
                self.assertEqual(c.cmd("STARTTLS"), "502 5.5.1 Error: command not implemented")

    def test_discard_ehlo_keyword(self):
        cf = dict(MAY, smtpd_discard_ehlo_keywords="starttls")
        with TlsSmtpd(cf) as srv:
            with srv.connect() as c:
                c.reply()
                self.assertNotIn("STARTTLS", self.send_ehlo(c))

    def test_credentials_directory(self):
        with TlsSmtpd({}) as probe:
            pass
        creds = os.path.join(probe.dir + ".creds")
        os.makedirs(creds)
        try:
            cert, key = make_cert(creds, "x")
            os.rename(cert, os.path.join(creds, "smtpd_tls_cert_file"))
            os.rename(key, os.path.join(creds, "smtpd_tls_key_file"))
            # main.cf names files that do not exist: the credentials win.
            cf = {"smtpd_tls_security_level": "may",
                  "smtpd_tls_cert_file": "/nonexistent/cert.pem",
                  "smtpd_tls_key_file": "/nonexistent/key.pem"}
            with TlsSmtpd(cf, creds=creds) as srv:
                with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
                    c.ehlo("client.example")
                    self.assertTrue(c.has_extn("starttls"))
                    c.starttls(context=client_context())
                    self.assertEqual(c.noop()[0], 250)
        finally:
            shutil.rmtree(creds)

    def test_relative_path_in_credentials_directory(self):
        with TlsSmtpd({}) as probe:
            pass
        creds = probe.dir + ".creds"
        os.makedirs(creds)
        try:
            make_cert(creds, "snakeoil")
            cf = {"smtpd_tls_security_level": "may",
                  "smtpd_tls_cert_file": "snakeoil-cert.pem",
                  "smtpd_tls_key_file": "snakeoil-key.pem"}
            with TlsSmtpd(cf, creds=creds) as srv:
                with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
                    c.starttls(context=client_context())
                    self.assertEqual(c.noop()[0], 250)
        finally:
            shutil.rmtree(creds)


class Wrapper(unittest.TestCase):
    CF = {"smtpd_tls_cert_file": "{cert}", "smtpd_tls_key_file": "{key}",
          "smtpd_tls_loglevel": "1"}

    def test_smtps_role_smtplib(self):
        cf = dict(self.CF, smtpd_tls_received_header="yes")
        with TlsSmtpd(cf, wrapper=True, extra_args=["--role=smtps"]) as srv:
            with smtplib.SMTP_SSL("127.0.0.1", srv.port, timeout=10,
                                  context=client_context()) as c:
                c.ehlo("client.example")
                self.assertFalse(c.has_extn("starttls"))
                c.sendmail("a@example.org", ["alice@example.test"], MSG)
                self.assertEqual(c.docmd("STARTTLS"), (554, b"5.5.1 Error: TLS already active"))
            recs, head = srv.received(srv.incoming()[0])
            self.assertIn("with ESMTPS id", head)
            self.assertIn("(using TLSv1.3 with cipher", head)
            srv.wait_log(r"^Anonymous TLS connection established from unknown\[127\.0\.0\.1\]")

    def test_wrappermode_option_and_s_client(self):
        with TlsSmtpd(self.CF, wrapper=True,
                      extra_args=["-o", "smtpd_tls_wrappermode=yes"]) as srv:
            p = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{srv.port}",
                                "-quiet", "-ign_eof"],
                               input=b"EHLO client.example\r\nQUIT\r\n", capture_output=True,
                               timeout=30)
            out = p.stdout.decode()
            self.assertIn("220 mx.example.test ESMTP", out)
            self.assertIn("250-mx.example.test", out)
            self.assertIn("221 2.0.0 Bye", out)

    @unittest.skipUnless(SWAKS, "swaks is not installed")
    def test_swaks_tlsc(self):
        with TlsSmtpd(self.CF, wrapper=True, extra_args=["--role=smtps"]) as srv:
            p = subprocess.run([SWAKS, "--server", "127.0.0.1", "--port", str(srv.port),
                                "--tlsc", "--from", "a@example.org", "--to",
                                "alice@example.test", "--ehlo", "client.example"],
                               capture_output=True, timeout=60)
            out = p.stdout.decode()
            self.assertEqual(p.returncode, 0, out + p.stderr.decode())
            self.assertRegex(out, r"<~  250 2\.0\.0 Ok: queued as ")
            self.assertEqual(len(srv.incoming()), 1)

    def test_plain_client_on_smtps(self):
        with TlsSmtpd(self.CF, wrapper=True, extra_args=["--role=smtps"]) as srv:
            with srv.connect() as c:
                c.send("EHLO client.example\r\n")
                self.assertTrue(c.closed())
            srv.wait_log(r"^SSL_accept error from unknown\[127\.0\.0\.1\]: ")
            srv.wait_log(r"^lost connection after CONNECT from ")

    def test_role_option_can_turn_wrapper_off(self):
        cf = dict(self.CF, smtpd_tls_security_level="may")
        with TlsSmtpd(cf, extra_args=["--role=smtps", "-o", "smtpd_tls_wrappermode=no"]) as srv:
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
                c.starttls(context=client_context())
                self.assertEqual(c.noop()[0], 250)

    def test_smtps_without_certificate_refuses_to_start(self):
        srv = TlsSmtpd({}, extra_args=["--role=smtps"])
        try:
            srv.launch()
            # systemd-socket-activate starts smtpd at the first connection.
            deadline = time.time() + 20
            while srv.proc.poll() is None and time.time() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as s:
                        s.settimeout(2)
                        s.recv(512)
                except OSError:
                    pass
                time.sleep(0.1)
            self.assertIsNotNone(srv.proc.poll(), "smtpd kept running")
            self.assertNotEqual(srv.proc.returncode, 0)
            self.assertIn("smtpd_tls_cert_file", srv.log_text())
            self.assertIn("smtpd_tls_wrappermode", srv.log_text())
        finally:
            srv.stop()
            srv.tmp.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
