#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smtp delivery agent on loopback, behind a real smtpd and qmgr (tern_harness.MailSystem),
routed by transport_maps "[127.0.0.1]:PORT":

- against Postfix's smtp-sink (Debian's postfix package, unpacked without installing it, as
  tests/bench does; skipped when it cannot be had): MAIL and the RCPTs arrive in one write
  when the sink offers PIPELINING (a recording proxy between agent and sink sees the chunks),
  one command per write without it; two messages in a row share one connection (RSET between
  them); the DSN parameters (RET, ENVID, NOTIFY, ORCPT) reach the sink (its -v log);
- by MX, against dnsmasq on loopback: the best MX refuses connections, the second takes the
  mail; a null MX bounces with 5.1.10;
- tern to tern: a second tern smtpd is the receiver; a 5xx on one of three recipients bounces
  that one (a bounce notice is queued) and delivers the other two; a 4xx defers, and the
  retry after the receiver changed its mind delivers; the log lines have Postfix's shape."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import BUILD_ROOT, MailSystem, Smtpd, free_port, record  # noqa: E402

MSG = "From: a@example.org\r\nSubject: test\r\n\r\nbody\r\n.leading dot\r\n"
SMTP_AGENT = [os.path.join(BUILD_ROOT, "services", "smtp", "smtp")]


def postfix_tools():
    """Debian's postfix package unpacked into a temporary directory (cached in /tmp):
    returns (smtp_sink, env) or None."""
    root = os.path.join(tempfile.gettempdir(), "tern-test-postfix")
    sink = os.path.join(root, "usr", "sbin", "smtp-sink")
    if not os.path.exists(sink):
        work = tempfile.mkdtemp(prefix="tern-pfx.")
        try:
            subprocess.run(["apt-get", "download", "postfix"], cwd=work, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            deb = glob.glob(os.path.join(work, "postfix_*.deb"))[0]
            subprocess.run(["dpkg", "-x", deb, root], check=True, timeout=120)
        except (OSError, subprocess.SubprocessError, IndexError):
            return None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if not os.path.exists(sink):
        return None
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr", "lib", "postfix"))
    return sink, env


class RecordingProxy:
    """A TCP proxy that records each chunk the client side sends (one recv per chunk) and
    counts connections."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = []           # per connection: list of chunks from the client
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            chunks = []
            with self.lock:
                self.connections.append(chunks)
            u = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pump, args=(c, u, chunks), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, None), daemon=True).start()

    def pump(self, src, dst, chunks):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if chunks is not None:
                    with self.lock:
                        chunks.append(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


class SmtpSink:
    def __init__(self, tools, args=()):
        self.sink, self.env = tools
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tern-sink.")
        os.chmod(self.dir, 0o777)
        self.log_path = os.path.join(self.dir, "sink.log")
        argv = [self.sink, "-v", "-c"] + list(args)
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += [f"127.0.0.1:{self.port}", "64"]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=self.env,
                                     cwd=self.dir)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not come up")

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def system(routes, cf=None, users=("alice", "bob")):
    base = {"queue_run_delay": "1s", "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s", "relay_transport": "smtp",
            "smtp_connection_cache_time_limit": "30s", "bounce_queue_lifetime": "1h"}
    base.update(cf or {})
    ms = MailSystem(base, agents=("local",), users=users,
                    extra_agents={"smtp": SMTP_AGENT + ["-c", None]})
    ms.agents["smtp"][-1] = ms.dir
    with open(os.path.join(ms.dir, "transport"), "w") as f:
        for dom, dest in routes.items():
            f.write(f"{dom} {dest}\n")
    with open(os.path.join(ms.dir, "main.cf"), "a") as f:
        f.write(f"transport_maps = texthash:{ms.dir}/transport\n")
    return ms


class AgainstSmtpSink(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tools = postfix_tools()
        if not cls.tools:
            raise unittest.SkipTest("Postfix's smtp-sink is not available")

    def deliver_through_proxy(self, sink_args, n_messages, **send_kw):
        sink = SmtpSink(self.tools, sink_args)
        proxy = RecordingProxy(sink.port)
        try:
            with system({"sink.test": f"smtp:[127.0.0.1]:{proxy.port}"}) as ms:
                qids = []
                for i in range(n_messages):
                    qid = ms.send("alice@mx.example.test",
                                  ["r1@sink.test", "r2@sink.test", "r3@sink.test"], MSG,
                                  **send_kw)
                    qids.append(qid)
                    for r in ("r1", "r2", "r3"):
                        ms.wait_log(rf"^{qid}: to=<{r}@sink\.test>, relay=127\.0\.0\.1"
                                    rf"\[127\.0\.0\.1\]:{proxy.port}, delay=[\d.e+-]+, "
                                    rf"dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok",
                                    name="smtp")
                ms.wait_queue_empty()
                return qids, proxy.connections, sink.text()
        finally:
            proxy.close()
            sink.stop()

    def test_pipelining_one_write_and_reuse(self):
        qids, conns, log = self.deliver_through_proxy([], 2)
        # Two messages in a row, one connection: the second began with RSET.
        self.assertEqual(len(conns), 1, conns)
        chunks = conns[0]
        mail = [c for c in chunks if c.startswith(b"MAIL FROM:")]
        self.assertEqual(len(mail), 2, chunks)
        for c in mail:
            # MAIL and every RCPT in one write (RFC 2920).
            self.assertEqual(c.count(b"RCPT TO:"), 3, c)
        self.assertTrue(any(c.startswith(b"RSET") for c in chunks), chunks)
        self.assertEqual(log.count("MAIL FROM:<alice@mx.example.test>"), 2)
        self.assertIn("sess=", log)

    def test_without_pipelining_one_command_per_write(self):
        qids, conns, log = self.deliver_through_proxy(["-p"], 1)
        chunks = [c for conn in conns for c in conn]
        mail = [c for c in chunks if c.startswith(b"MAIL FROM:")]
        self.assertEqual(len(mail), 1)
        self.assertNotIn(b"RCPT", mail[0])
        self.assertEqual(len([c for c in chunks if c.startswith(b"RCPT TO:")]), 3)

    def test_dsn_parameters_passed_through(self):
        qids, conns, log = self.deliver_through_proxy(
            [], 1, mail_options=["RET=HDRS", "ENVID=env+2Bid42"],
            rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@example.org"])
        self.assertRegex(log, r"MAIL FROM:<alice@mx\.example\.test>( SIZE=\d+)? RET=HDRS "
                              r"ENVID=env\+2Bid42")
        self.assertIn("RCPT TO:<r1@sink.test> NOTIFY=SUCCESS,FAILURE "
                      "ORCPT=rfc822;orig@example.org", log)


DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def udp_port_free():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(os.path.exists(DNSMASQ), "dnsmasq is not installed")
class ByMx(unittest.TestCase):
    """MX lookups against dnsmasq on loopback (TERN_DNS_SERVER): the best MX (127.0.0.2)
    refuses connections, the second (127.0.0.1) is a tern smtpd; smtp_tcp_port is that smtpd's
    port. A null MX (RFC 7505) bounces with 5.1.10."""

    def test_mx_fallback_and_null_mx(self):
        with Smtpd({"mydestination": "mx.test", "myhostname": "rx.mx.test"}) as rx:
            port = udp_port_free()
            dns = subprocess.Popen(
                [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                 "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
                 f"--port={port}", "--pid-file=", "--log-facility=-",
                 "--local=/mx.test/", "--local=/null.test/",
                 "--mx-host=mx.test,mx1.mx.test,10", "--mx-host=mx.test,mx2.mx.test,20",
                 "--host-record=mx1.mx.test,127.0.0.2", "--host-record=mx2.mx.test,127.0.0.1",
                 "--dns-rr=null.test,15,000000"] + (["--user=root"] if os.geteuid() == 0
                                                    else []),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(0.3)
                ms = MailSystem({"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                                 "maximal_backoff_time": "2s", "relay_transport": "smtp",
                                 "smtp_tcp_port": str(rx.port)}, agents=("local",))
                ms.agents["smtp"] = ["/usr/bin/env", f"TERN_DNS_SERVER=127.0.0.1:{port}"] + \
                    SMTP_AGENT + ["-c", ms.dir]
                with ms:
                    qid = ms.send("alice@mx.example.test", ["alice@mx.test", "x@null.test"],
                                  MSG)
                    ms.wait_log(rf"^{qid}: to=<alice@mx\.test>, relay=mx2\.mx\.test\[127\.0\.0"
                                rf"\.1\]:{rx.port}, .*dsn=2\.0\.0, status=sent", name="smtp")
                    ms.wait_log(rf"^{qid}: to=<x@null\.test>, relay=none, .*dsn=5\.1\.10, "
                                rf"status=bounced \(Domain null\.test does not accept mail "
                                rf"\(nullMX\)\)$", name="smtp")
                    self.assertEqual(len(rx.incoming()), 1)
            finally:
                dns.terminate()
                dns.wait(10)


class TernToTern(unittest.TestCase):
    def receiver(self, users=("alice", "bob"), cf=None):
        base = {"mydestination": "remote.test", "myhostname": "rx.remote.test"}
        base.update(cf or {})
        return Smtpd(base, users=users)

    def test_5xx_bounces_one_of_three(self):
        with self.receiver() as rx:
            with system({"remote.test": f"smtp:[127.0.0.1]:{rx.port}"}) as ms:
                qid = ms.send("alice@mx.example.test",
                              ["alice@remote.test", "nobody@remote.test", "bob@remote.test"],
                              MSG)
                ms.wait_log(rf"^{qid}: to=<nobody@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0"
                            rf"\.1\]:{rx.port}, delay=[\d.e+-]+, dsn=5\.1\.1, status=bounced "
                            rf"\(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 "
                            rf".*\(in reply to RCPT TO command\)\)$", name="smtp")
                for r in ("alice", "bob"):
                    ms.wait_log(rf"^{qid}: to=<{r}@remote\.test>, .*dsn=2\.0\.0, "
                                rf"status=sent \(250 2\.0\.0 ", name="smtp")
                ms.wait_log(rf"^{qid}: sender non-delivery notification: \w+$")
                ms.wait_queue_empty()
                # The receiver queued one message for the two good recipients.
                files = rx.incoming()
                self.assertEqual(len(files), 1)
                records, content = rx.read_queue_file(files[0])
                rcpts = sorted(f[2] for f in record(records, "rcpt"))
                self.assertEqual(rcpts, ["alice@remote.test", "bob@remote.test"])
                self.assertIn(b"\n.leading dot\n", content)
                self.assertEqual(record(records, "sender")[0][0], "alice@mx.example.test")

    def test_4xx_defers_then_retry_delivers(self):
        rx = self.receiver(cf={"unknown_local_recipient_reject_code": "450"})
        rx.start()
        try:
            with system({"remote.test": f"smtp:[127.0.0.1]:{rx.port}"}) as ms:
                qid = ms.send("alice@mx.example.test", ["carol@remote.test"], MSG)
                ms.wait_log(rf"^{qid}: to=<carol@remote\.test>, .*dsn=4\.1\.1, "
                            rf"status=deferred \(host .* said: 450 4\.1\.1 .*\(in reply to "
                            rf"RCPT TO command\)\)$", name="smtp")
                deadline = time.time() + 20
                while time.time() < deadline and qid not in ms.queue_files("deferred"):
                    time.sleep(0.1)
                self.assertIn(qid, ms.queue_files("deferred"))
                # The receiver learns about carol; the retry delivers.
                rx.stop()
                with open(os.path.join(rx.dir, "users"), "a") as f:
                    f.write("carol x\n")
                rx.start()
                ms.wait_log(rf"^{qid}: to=<carol@remote\.test>, .*status=sent", name="smtp",
                            timeout=30)
                ms.wait_queue_empty(queues=("incoming", "active", "deferred"))
                self.assertEqual(len(rx.incoming()), 1)
        finally:
            rx.stop()
            rx.tmp.cleanup()

    def test_connection_refused_defers_with_4_4_1(self):
        port = free_port()
        with system({"remote.test": f"smtp:[127.0.0.1]:{port}"}) as ms:
            qid = ms.send("alice@mx.example.test", ["alice@remote.test"], MSG)
            ms.wait_log(rf"^{qid}: to=<alice@remote\.test>, relay=none, .*dsn=4\.4\.1, "
                        rf"status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:{port}: "
                        rf"Connection refused\)$", name="smtp")


if __name__ == "__main__":
    unittest.main(verbosity=2)
