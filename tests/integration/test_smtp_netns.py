#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smtp agent across a real test network (issue 5): network namespaces made by the test
(netns.py: one per host, veth pairs to a bridge in a "lan" namespace, 10.77.0.0/24 and
fd77::/64 inside them only), dnsmasq serving the zone "test" from its own namespace, and tern
hosts whose every process (smtpd, qmgr, agents) runs in their namespace and asks that dnsmasq
(TERN_DNS_SERVER), never the host's resolver:

  dns  10.77.0.53          dnsmasq
  a    10.77.0.10 fd77::10 host A, mx.a.test: smtpd on :25, qmgr, virtual (a.test), smtp
  b    10.77.0.20 fd77::20 host B, mx.b.test: smtpd on :25, qmgr, virtual (b.test, fb.test,
       10.77.0.21          ar.test, six.test); nothing listens on 10.77.0.21
  c    10.77.0.30          host C: a tern smtpd on :2525 that relays for the LAN (queue only)
       10.77.0.31          a scripted SMTP server on :25 (4xx on demand), a thread of the test
  r    10.77.0.40 fd77::40 host R: smtpd, qmgr, smtp with relayhost = [10.77.0.30]:2525,
       10.77.0.41          smtp_bind_address = 10.77.0.41, inet_protocols = ipv4

Mail submitted to A (or R) for:
- user@b.test: MX to mx.b.test, into B's Maildir (A and AAAA records: either address will do);
- user@fb.test: the best MX (10.77.0.21) refuses connections, the second (mx.b.test) delivers;
- user@ar.test: no MX, the A record of ar.test;
- user@six.test: an MX with only an AAAA record: delivered over IPv6;
- user@nullmx.test: a null MX (RFC 7505) bounces at once with 5.1.10;
- user@loop.test: the MX is A itself: bounced, "mail for loop.test loops back to myself";
- user@c.test: transport_maps "smtp:[10.77.0.30]:2525" wins over c.test's MX;
- anything from R: relayhost = [10.77.0.30]:2525, not B although b.test's MX says B, from
  smtp_bind_address; R's transport_maps sends six.test by MX, which has only an AAAA record:
  R (inet_protocols = ipv4) never asks for AAAA records and cannot deliver it;
- user@d.test: the scripted server answers 450; deferred, and the retry after it relents
  delivers;
- three recipients at b.test, one unknown to B: 550 bounces that one (the bounce notice reaches
  the sender's Maildir on A), the other two land in B's Maildirs.

Needs root (network namespaces, uid switches of the virtual agent) and dnsmasq: exits 77
(skipped) otherwise."""

import os
import re
import secrets
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import (BUILD_ROOT, MailSystem, Smtpd, in_netns,  # noqa: E402
                          read_queue_file, record)
import netns  # noqa: E402

VUID = 5000
SMTP_AGENT = os.path.join(BUILD_ROOT, "services", "smtp", "smtp")
DNS = "10.77.0.53"
A, B, B_DEAD, C, SCRIPTED, R, R_BIND = ("10.77.0.10", "10.77.0.20", "10.77.0.21",
                                        "10.77.0.30", "10.77.0.31", "10.77.0.40", "10.77.0.41")
A6, B6 = "fd77::10", "fd77::20"

HOSTS = {
    "dns": [f"{DNS}/24"],
    "a": [f"{A}/24", f"{A6}/64"],
    "b": [f"{B}/24", f"{B_DEAD}/24", f"{B6}/64"],
    "c": [f"{C}/24", f"{SCRIPTED}/24"],
    "r": [f"{R}/24", f"{R_BIND}/24", "fd77::40/64"],
}

ZONE = [
    "--mx-host=b.test,mx.b.test,10",
    f"--host-record=mx.b.test,{B},{B6}",
    "--mx-host=fb.test,dead.fb.test,10",
    "--mx-host=fb.test,mx.b.test,20",
    f"--host-record=dead.fb.test,{B_DEAD}",
    f"--host-record=ar.test,{B}",
    "--mx-host=six.test,mx6.b.test,10",
    f"--host-record=mx6.b.test,{B6}",
    # dnsmasq writes "." as the root name: preference 0, exchange "." is RFC 7505's null MX.
    "--mx-host=nullmx.test,.,0",
    "--mx-host=loop.test,mx.a.test,10",
    f"--host-record=mx.a.test,{A},{A6}",
    "--mx-host=c.test,mx.b.test,10",
    "--mx-host=d.test,mx.d.test,10",
    f"--host-record=mx.d.test,{SCRIPTED}",
    f"--host-record=mx.r.test,{R}",
]

FAST_RETRY = {"queue_run_delay": "1s", "minimal_backoff_time": "1s",
              "maximal_backoff_time": "2s"}


def unique(tag):
    return f"{tag}-{secrets.token_hex(4)}"


def message(subject, sender="alice@a.test"):
    return (f"From: {sender}\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n"
            ".leading dot\r\n")


def maildir_messages(maildir):
    d = os.path.join(maildir, "new")
    out = []
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, n), "rb") as f:
            out.append(f.read())
    return out


def wait_for(pred, timeout, what, detail=lambda: ""):
    deadline = time.time() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{detail()}")
        time.sleep(0.1)


def virtual_system(net, host, listen, domains, mailboxes, cf, agents=("virtual", "smtp")):
    """A MailSystem in host's namespace with virtual Maildirs for mailboxes (addresses) under
    its own directory (vmail/, owned by VUID)."""
    base = {"mynetworks": "127.0.0.0/8", "inet_interfaces": "all", "alias_maps": "",
            "virtual_mailbox_domains": ", ".join(domains),
            "virtual_uid_maps": f"static:{VUID}", "virtual_gid_maps": f"static:{VUID}",
            "virtual_minimum_uid": "100", "relay_transport": "smtp",
            "smtp_connection_cache_time_limit": "1s", "bounce_queue_lifetime": "1h"}
    base.update(FAST_RETRY)
    base.update(cf)
    ms = MailSystem(base, agents=tuple(a for a in agents if a != "smtp"), users=(),
                    listen=listen, netns=net.ns(host),
                    env={"TERN_DNS_SERVER": f"{DNS}:53"},
                    extra_agents={"smtp": [SMTP_AGENT, "-c", None]} if "smtp" in agents
                    else None)
    if "smtp" in agents:
        ms.agents["smtp"][-1] = ms.dir
    os.chmod(ms.dir, 0o755)
    vmail = os.path.join(ms.dir, "vmail")
    os.mkdir(vmail)
    os.chown(vmail, VUID, VUID)
    with open(os.path.join(ms.dir, "vmailbox"), "w") as f:
        for m in mailboxes:
            user, dom = m.split("@")
            f.write(f"{m} {dom}/{user}/\n")
    with open(os.path.join(ms.dir, "main.cf"), "a") as f:
        f.write(f"virtual_mailbox_base = {vmail}\n")
        f.write(f"virtual_mailbox_maps = texthash:{ms.dir}/vmailbox\n")
    ms.vmail = vmail
    return ms


class DnsCanary:
    """UDP sockets on 127.0.0.1:53 and 127.0.0.53:53 (where a host's stub resolver would be)
    inside a namespace: a process that fell back to the host's resolv.conf sends its query
    there. Counts what arrives."""

    def __init__(self, ns):
        self.hits = []
        self.socks = []
        for addr in ("127.0.0.1", "127.0.0.53"):
            with in_netns(ns):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((addr, 53))
            self.socks.append(s)
            threading.Thread(target=self.listen, args=(s,), daemon=True).start()

    def listen(self, s):
        while True:
            try:
                data, peer = s.recvfrom(4096)
            except OSError:
                return
            self.hits.append((peer, data))

    def close(self):
        for s in self.socks:
            s.close()


class AcrossTheNetwork(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = netns.Network(HOSTS)
        cls.cleanups = cls.net.cleanups         # run by net.close(), also on SIGTERM
        try:
            cls._start()
        except BaseException:
            cls.net.close()
            raise

    @classmethod
    def _start(cls):
        net = cls.net
        cls.dns = netns.Dnsmasq(net, "dns", DNS, ZONE)
        cls.cleanups.append(cls.dns.close)
        cls.canaries = [DnsCanary(net.ns(h)) for h in ("a", "b", "r")]
        cls.cleanups += [c.close for c in cls.canaries]

        # C: a tern smtpd that relays for the LAN (mail stays in its queue).
        cls.c = Smtpd({"myhostname": "relay.c.test", "mydestination": "relay.c.test",
                       "mynetworks": "10.77.0.0/24", "inet_interfaces": "all"},
                      listen=[f"{C}:2525"], netns=net.ns("c"),
                      env={"TERN_DNS_SERVER": f"{DNS}:53"})
        cls.cleanups.append(lambda: (cls.c.stop(), cls.c.tmp.cleanup()))
        cls.c.start()

        cls.scripted = netns.ScriptedSmtp(net.ns("c"), SCRIPTED, 25, "mx.d.test")
        cls.cleanups.append(cls.scripted.close)

        cls.b = virtual_system(
            net, "b", [f"{B}:25", f"[{B6}]:25"], ["b.test", "fb.test", "ar.test", "six.test"],
            ["alice@b.test", "bob@b.test", "carol@fb.test", "dave@ar.test", "erin@six.test"],
            {"myhostname": "mx.b.test", "mydomain": "b.test",
             "mydestination": "$myhostname, localhost",
             # B's smtpd names its client through dnsmasq too: mx.a.test.
             "smtpd_peername_lookup": "yes"}, agents=("virtual",))
        cls.cleanups.append(lambda: (cls.b.stop(), cls.b.smtpd.tmp.cleanup()))
        cls.b.start()

        cls.a = virtual_system(
            net, "a", [f"{A}:25"], ["a.test"], ["alice@a.test"],
            {"myhostname": "mx.a.test", "mydomain": "a.test",
             "mydestination": "$myhostname, localhost",
             "mynetworks": "127.0.0.0/8, 10.77.0.0/24"})
        with open(os.path.join(cls.a.dir, "transport"), "w") as f:
            f.write(f"c.test smtp:[{C}]:2525\n")
        with open(os.path.join(cls.a.dir, "main.cf"), "a") as f:
            f.write(f"transport_maps = texthash:{cls.a.dir}/transport\n")
        cls.cleanups.append(lambda: (cls.a.stop(), cls.a.smtpd.tmp.cleanup()))
        cls.a.start()

        cls.r = virtual_system(
            net, "r", [f"{R}:25"], ["r.test"], [],
            {"myhostname": "mx.r.test", "mydomain": "r.test",
             "mydestination": "$myhostname, localhost",
             "mynetworks": "127.0.0.0/8, 10.77.0.0/24",
             "relayhost": f"[{C}]:2525", "smtp_bind_address": R_BIND,
             "inet_protocols": "ipv4"}, agents=("smtp",))
        with open(os.path.join(cls.r.dir, "transport"), "w") as f:
            f.write("six.test smtp:six.test\n")
        with open(os.path.join(cls.r.dir, "main.cf"), "a") as f:
            f.write(f"transport_maps = texthash:{cls.r.dir}/transport\n")
        cls.cleanups.append(lambda: (cls.r.stop(), cls.r.smtpd.tmp.cleanup()))
        cls.r.start()

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("TERN_TEST_VERBOSE"):
            print(cls.logs(), file=sys.stderr)
        cls.net.close()

    @classmethod
    def logs(cls):
        out = []
        for host in ("a", "b", "r"):
            ms = getattr(cls, host, None)
            if ms:
                for n in ("qmgr", "smtp", "virtual"):
                    out.append(f"--- {host} {n} ---\n{ms.log_text(n)}")
                out.append(f"--- {host} smtpd ---\n{ms.smtpd.log_text()}")
        if getattr(cls, "c", None):
            out.append(f"--- c smtpd ---\n{cls.c.log_text()}")
        if getattr(cls, "dns", None):
            out.append(f"--- dnsmasq ---\n{cls.dns.log()}")
        return "\n".join(out)

    def maildir(self, ms, addr):
        user, dom = addr.split("@")
        return os.path.join(ms.vmail, dom, user)

    def wait_maildir(self, ms, addr, marker, timeout=30):
        return wait_for(lambda: [m for m in maildir_messages(self.maildir(ms, addr))
                                 if marker.encode() in m],
                        timeout, f"{marker} in {addr}'s Maildir", self.logs)

    def wait_bounce_notice(self, rcpt, marker, timeout=30):
        """The bounce notice for rcpt (about the message with marker) in alice@a.test's
        Maildir."""
        def notices():
            return [m for m in maildir_messages(self.maildir(self.a, "alice@a.test"))
                    if marker.encode() in m and rcpt.encode() in m and
                    b"multipart/report" in m]
        return wait_for(notices, timeout, f"bounce notice for {rcpt}", self.logs)[0]

    def c_messages(self, marker):
        out = []
        for qid in self.c.incoming():
            records, content = self.c.read_queue_file(qid)
            if marker.encode() in content:
                out.append((records, content))
        return out

    # ---- the cases ----

    def test_zone_as_intended(self):
        """The zone says what the other cases rely on (dnsmasq's syntax is not ours)."""
        with in_netns(self.net.ns("a")):
            rcode, an, raw = netns.dns_query((DNS, 53), "nullmx.test", 15)
            self.assertEqual((rcode, an), (0, 1))
            # The last answer's RDATA: preference 0, the root name.
            self.assertTrue(raw.endswith(b"\x00\x03\x00\x00\x00"), raw.hex())
            self.assertEqual(netns.dns_query((DNS, 53), "ar.test", 15)[:2], (0, 0))
            self.assertEqual(netns.dns_query((DNS, 53), "fb.test", 15)[:2], (0, 2))
            self.assertEqual(netns.dns_query((DNS, 53), "nosuch.test", 15)[0], 3)

    def test_mx_delivery(self):
        subj = unique("mx")
        qid = self.a.send("alice@a.test", ["alice@b.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<alice@b\.test>, relay=mx\.b\.test\[({re.escape(B)}|"
                        rf"{re.escape(B6)})\]:25, delay=[\d.e+-]+, .*dsn=2\.0\.0, "
                        rf"status=sent \(250 2\.0\.0 ", name="smtp", timeout=30)
        msg = self.wait_maildir(self.b, "alice@b.test", subj)[0]
        self.assertIn(b"\n.leading dot\n", msg)
        self.assertIn(b"Return-Path: <alice@a.test>", msg)
        # B's smtpd named its client through the test's DNS (PTR, then A to confirm).
        self.assertRegex(msg.decode("utf-8", "replace"),
                         r"Received: from mx\.a\.test \(mx\.a\.test \[(10\.77\.0\.10|"
                         r"(IPv6:)?fd77::10)\]\)")
        queries = self.dns.queries()
        self.assertIn(("MX", "b.test", A), queries)
        self.assertTrue({("PTR", "10.0.77.10.in-addr.arpa", B),
                         ("PTR", "0.1." + "0." * 26 + "7.7.d.f.ip6.arpa", B)} &
                        set(queries), queries)

    def test_mx_first_refuses_second_takes(self):
        subj = unique("fallback")
        refused = netns.tcp_counter(self.net.ns("a"), "AttemptFails")
        qid = self.a.send("alice@a.test", ["carol@fb.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<carol@fb\.test>, relay=mx\.b\.test\[[^]]+\]:25, "
                        rf".*dsn=2\.0\.0, status=sent", name="smtp", timeout=30)
        self.wait_maildir(self.b, "carol@fb.test", subj)
        # A's kernel saw its connection to dead.fb.test refused: the agent did try it.
        self.assertGreater(netns.tcp_counter(self.net.ns("a"), "AttemptFails"), refused)
        # and logged it as Postfix does before trying the next one.
        self.a.wait_log(r"^connect to dead\.fb\.test\[10\.77\.0\.21\]:25: Connection refused$",
                        name="smtp", timeout=5)
        # Both MX hosts were looked up, in preference order.
        q = [n for t, n, _ in self.dns.queries() if t in ("A", "AAAA")]
        self.assertIn("dead.fb.test", q)
        self.assertIn("mx.b.test", q)
        self.assertLess(q.index("dead.fb.test"), len(q) - 1 - q[::-1].index("mx.b.test"))

    def test_no_mx_uses_address_record(self):
        subj = unique("arec")
        qid = self.a.send("alice@a.test", ["dave@ar.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<dave@ar\.test>, relay=ar\.test\[10\.77\.0\.20\]:25, "
                        rf".*dsn=2\.0\.0, status=sent", name="smtp", timeout=30)
        self.wait_maildir(self.b, "dave@ar.test", subj)

    def test_ipv6_only_mx(self):
        subj = unique("six")
        qid = self.a.send("alice@a.test", ["erin@six.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<erin@six\.test>, relay=mx6\.b\.test\[fd77::20\]:25, "
                        rf".*dsn=2\.0\.0, status=sent", name="smtp", timeout=30)
        self.wait_maildir(self.b, "erin@six.test", subj)

    def test_null_mx_bounces(self):
        subj = unique("nullmx")
        qid = self.a.send("alice@a.test", ["x@nullmx.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<x@nullmx\.test>, relay=none, .*dsn=5\.1\.10, "
                        rf"status=bounced \(Domain nullmx\.test does not accept mail "
                        rf"\(nullMX\)\)$", name="smtp", timeout=30)
        notice = self.wait_bounce_notice("x@nullmx.test", subj)
        self.assertIn(b"5.1.10", notice)

    def test_mx_back_to_myself_loops(self):
        subj = unique("loop")
        qid = self.a.send("alice@a.test", ["x@loop.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<x@loop\.test>, relay=none, .*dsn=5\.4\.6, "
                        rf"status=bounced \(mail for loop\.test loops back to myself\)$",
                        name="smtp", timeout=30)
        self.wait_bounce_notice("x@loop.test", subj)

    def test_transport_map_host_port(self):
        subj = unique("transport")
        qid = self.a.send("alice@a.test", ["someone@c.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<someone@c\.test>, relay=10\.77\.0\.30\[10\.77\.0\.30\]"
                        rf":2525, .*dsn=2\.0\.0, status=sent", name="smtp", timeout=30)
        got = wait_for(lambda: self.c_messages(subj), 10, "the message at C", self.logs)
        records, _ = got[0]
        self.assertEqual([f[2] for f in record(records, "rcpt")], ["someone@c.test"])

    def test_relayhost(self):
        subj = unique("relayhost")
        qid = self.r.send("someone@r.test", ["alice@b.test"], message(subj, "someone@r.test"))
        self.r.wait_log(rf"^{qid}: to=<alice@b\.test>, relay=10\.77\.0\.30\[10\.77\.0\.30\]"
                        rf":2525, .*dsn=2\.0\.0, status=sent", name="smtp", timeout=30)
        got = wait_for(lambda: self.c_messages(subj), 10, "the message at C", self.logs)
        records, _ = got[0]
        self.assertEqual([f[2] for f in record(records, "rcpt")], ["alice@b.test"])
        self.assertEqual(record(records, "sender")[0][0], "someone@r.test")
        # smtp_bind_address: C saw R's second address.
        self.assertEqual(record(records, "client_addr"), [[R_BIND]])
        # Not by MX: B never saw it, and R asked no MX question.
        self.assertFalse([m for m in maildir_messages(self.maildir(self.b, "alice@b.test"))
                          if subj.encode() in m])
        self.assertNotIn(("MX", "b.test", R), self.dns.queries())

    def test_inet_protocols_ipv4_only(self):
        subj = unique("v4only")
        qid = self.r.send("alice@a.test", ["erin@six.test"], message(subj))
        m = self.r.wait_log(rf"^{qid}: to=<erin@six\.test>, relay=none, .*dsn=(\d\.\d+\.\d+), "
                            rf"status=(\w+) \(Host or domain name not found\. Name service "
                            rf"error for name=mx6\.b\.test type=A: ", name="smtp", timeout=30)
        self.assertIn(m.group(2), ("bounced", "deferred"))
        asked = [(t, n) for t, n, c in self.dns.queries() if c == R]
        self.assertIn(("MX", "six.test"), asked)
        self.assertIn(("A", "mx6.b.test"), asked)
        self.assertNotIn("AAAA", [t for t, _ in asked])

    def test_4xx_defers_then_retry_delivers(self):
        subj = unique("defer")
        relent = threading.Event()
        self.scripted.rcpt_reply = lambda rcpt: \
            "250 2.1.5 Ok" if relent.is_set() else "450 4.2.0 <%s>: try again later" % rcpt
        qid = self.a.send("alice@a.test", ["frank@d.test"], message(subj))
        self.a.wait_log(rf"^{qid}: to=<frank@d\.test>, relay=mx\.d\.test\[10\.77\.0\.31\]:25, "
                        rf".*dsn=4\.2\.0, status=deferred \(host mx\.d\.test\[10\.77\.0\.31\]"
                        rf" said: 450 4\.2\.0 <frank@d\.test>: try again later "
                        rf"\(in reply to RCPT TO command\)\)$", name="smtp", timeout=30)
        wait_for(lambda: qid in self.a.queue_files("deferred"), 20, "the deferred queue file",
                 self.logs)
        self.assertFalse([m for m in self.scripted.messages if subj.encode() in m[2]])
        relent.set()
        self.a.wait_log(rf"^{qid}: to=<frank@d\.test>, relay=mx\.d\.test\[10\.77\.0\.31\]:25, "
                        rf".*dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok: queued as SCRIPTED\)$",
                        name="smtp", timeout=30)
        got = [m for m in self.scripted.messages if subj.encode() in m[2]]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][:2], ("alice@a.test", ["frank@d.test"]))
        wait_for(lambda: qid not in self.a.queue_files("deferred") +
                 self.a.queue_files("active"), 20, "the queue file gone", self.logs)

    def test_5xx_on_one_of_three(self):
        subj = unique("partial")
        rcpts = ["alice@b.test", "nobody@b.test", "bob@b.test"]
        qid = self.a.send("alice@a.test", rcpts, message(subj))
        self.a.wait_log(rf"^{qid}: to=<nobody@b\.test>, relay=mx\.b\.test\[[^]]+\]:25, "
                        rf".*dsn=5\.1\.1, status=bounced \(host mx\.b\.test\[[^]]+\] said: "
                        rf"550 5\.1\.1 .*\(in reply to RCPT TO command\)\)$", name="smtp",
                        timeout=30)
        for r in ("alice", "bob"):
            self.a.wait_log(rf"^{qid}: to=<{r}@b\.test>, relay=mx\.b\.test\[[^]]+\]:25, "
                            rf".*dsn=2\.0\.0, status=sent", name="smtp", timeout=30)
            self.assertEqual(len(self.wait_maildir(self.b, f"{r}@b.test", subj)), 1)
        notice = self.wait_bounce_notice("nobody@b.test", subj)
        self.assertIn(b"5.1.1", notice)
        # Only nobody failed: the report names no other final recipient.
        finals = re.findall(rb"Final-Recipient: rfc822; ?(\S+)", notice, re.I)
        self.assertEqual(finals, [b"nobody@b.test"])

    def test_zz_no_host_resolver(self):
        """Runs last (unittest sorts by name): no process of A, B or R sent a query to a
        loopback resolver; the dnsmasq log shows A's queries."""
        for c in self.canaries:
            self.assertEqual(c.hits, [])
        self.assertTrue(any(client == A for _, _, client in self.dns.queries()))


def main():
    why = netns.Network.available()
    if why is None and not os.path.exists(netns.DNSMASQ):
        why = "dnsmasq is not installed"
    if why:
        print(f"skipped: {why}")
        sys.exit(77)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
