#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""local(8)'s hand-off of a recipient to another transport (mailbox_transport,
mailbox_transport_maps, fallback_transport; Postfix's deliver_pass): the whole system from the
build tree (tern_harness.MailSystem: smtpd -> qmgr -> local -> the lmtp agent, services/smtp
--lmtp) in front of a private Dovecot with LMTP on a unix socket in tern's queue directory, at
private/dovecot-lmtp as Debian's Dovecot set-up has it, reached with Postfix's relative
"lmtp:unix:private/dovecot-lmtp". Dovecot's users come from a passwd-file (user@domain, their
Maildirs under Dovecot's own directory); the local users are real passwd users (useradd).

  * mailbox_transport: a local user's mail lands in Dovecot's Maildir and not in the
    home_mailbox Maildir, and mailbox_transport wins over mailbox_command (whose command
    never runs); the lmtp agent logs the delivery Postfix's way;
  * a passwd user Dovecot does not know: bounced with Dovecot's 550 5.1.1 text, and the
    bounce notice, addressed to the sender (a Dovecot user), reaches Dovecot's Maildir;
  * Dovecot not running (socket missing): deferred by the lmtp agent (4.4.1), and a transport
    whose agent is missing: deferred by local (4.3.0 "mail transport unavailable"); a
    transport naming local itself: deferred 4.3.5; the message stays in deferred/;
  * mailbox_transport_maps overrides per user (by user name, as Postfix looks it up),
    mailbox_command_maps and home_mailbox serve the others in their order, and
    fallback_transport takes a user that is neither an alias nor in passwd.

Needs root (users, uid switches) and Dovecot's lmtp: skipped otherwise."""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot_lmtp  # noqa: E402
from tern_harness import BUILD_ROOT, MailSystem  # noqa: E402
from test_delivery import HOST, TestUsers, maildir_messages, wait_for  # noqa: E402
from test_local import write_queue_file, xtext, xtext_decode  # noqa: E402

LMTP_VALUE = "lmtp:unix:private/dovecot-lmtp"


def dovecot_messages(dc, address):
    return maildir_messages(os.path.join(dc.home(address), "Maildir"))


def new_system(users, cf, local_names):
    """smtpd, qmgr, local and the lmtp agent; the queue's private/ made for Dovecot's socket."""
    base = {"queue_run_delay": "1s", "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s", "home_mailbox": "Maildir/",
            "alias_maps": "", "recipient_delimiter": "+"}
    base.update(cf)
    ms = MailSystem(base, agents=("local",), users=local_names)
    ms.agents["lmtp"] = [os.path.join(BUILD_ROOT, "services", "smtp", "smtp"), "--lmtp",
                         "-c", ms.dir]
    os.makedirs(os.path.join(ms.queue, "private"), 0o755, exist_ok=True)
    return ms


def logs(ms, dc=None):
    out = ""
    for name in ("qmgr", "local", "lmtp"):
        out += f"--- {name}\n" + ms.log_text(name)
    if dc:
        out += "--- dovecot\n" + dc.text()
    return out


def probe(ms, addresses):
    """An address probe (ipc flag verify) sent to local's socket as qmgr would, for a queue
    file written into active/. Returns {address: (status, dsn, text)}."""
    qid = "%010d%06d" % (int(time.time()), os.getpid() % 1000000)
    off, size = write_queue_file(ms.queue, qid, "", addresses, b"Subject: probe\n\nx\n")
    lines = [f"request 1 active {qid} {off} {size}", "sender", "envid", "ret",
             "transport local", f"nexthop {HOST}", "flags verify"]
    lines += [f"rcpt {i} 0 {xtext(a)} {xtext(a)}" for i, a in enumerate(addresses)]
    lines.append("end")
    buf = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(os.path.join(ms.run, "local"))
        s.sendall(("\r\n".join(lines) + "\r\n").encode())
        while not buf.endswith(b"end\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    os.unlink(os.path.join(ms.queue, "active", qid))
    out = {}
    for line in buf.decode().split("\r\n"):
        f = line.split(" ")
        if f[0] == "result":
            out[addresses[int(f[1])]] = (f[2], f[3], xtext_decode(f[6]) if len(f) > 6 else "")
    return out


def mailbox_count(users, n):
    return len(maildir_messages(os.path.join(users.home(n), "Maildir")))


@unittest.skipUnless(os.geteuid() == 0, "needs root (test users, uid switches)")
@unittest.skipUnless(dovecot_lmtp.AVAILABLE,
                     "dovecot-lmtpd is not installed")
class LocalTransport(unittest.TestCase):
    def setUp(self):
        self.users = TestUsers(("a", "b", "c", "d"), tag="lt")
        self.out = os.path.join(self.users.base, "out")
        os.mkdir(self.out)
        os.chmod(self.out, 0o1777)
        self.dc = None
        self.ms = None

    def tearDown(self):
        if self.ms:
            self.ms.stop()
            self.ms.smtpd.tmp.cleanup()
        if self.dc:
            self.dc.stop()
        self.users.remove()

    def start(self, cf, dovecot_users, extra_local=()):
        u = self.users
        names = [u.user(n) for n in ("a", "b", "c", "d")] + list(extra_local)
        self.ms = new_system(u, cf, names)
        if dovecot_users is not None:
            self.dc = dovecot_lmtp.DovecotLmtp({a: "" for a in dovecot_users},
                                               os.path.join(self.ms.queue, "private",
                                                            "dovecot-lmtp"))
        self.ms.start()

    def test_mailbox_transport_to_dovecot(self):
        u = self.users
        marker = os.path.join(self.out, "command-ran")
        # mailbox_command too: mailbox_transport comes first in local(8)'s order.
        self.start({"mailbox_transport": LMTP_VALUE,
                    "mailbox_command": f"/usr/bin/touch {marker}"},
                   [u.addr("a"), u.addr("b")])
        ms, dc = self.ms, self.dc

        qid = ms.send(u.addr("b"), [u.addr("a")],
                      "From: b\r\nSubject: to dovecot\r\n\r\nvia lmtp\r\n")
        got = wait_for(lambda: dovecot_messages(dc, u.addr("a")), what="Dovecot delivery",
                       detail=lambda: logs(ms, dc))
        body = list(got.values())[0]
        self.assertIn(b"Subject: to dovecot", body)
        self.assertIn(b"via lmtp", body)
        relay = re.escape(f"{HOST}[private/dovecot-lmtp]")
        ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('a'))}>, relay={relay}, "
                    rf"delay=[\d.e+-]+, dsn=2\.0\.0, status=sent \(250 2\.0\.0 ", name="lmtp")
        ms.wait_queue_empty()
        self.assertFalse(os.path.exists(marker), "mailbox_command ran")
        self.assertEqual(mailbox_count(u, "a"), 0, "home_mailbox was used")
        # local reported the lmtp agent's result and did not log a delivery of its own.
        self.assertNotRegex(ms.log_text("local"), rf"{qid}: to=<.*status=sent")

        # A passwd user Dovecot does not know: Dovecot's 550 bounces it; the notice goes to
        # the sender, a Dovecot user, through the same path.
        qid = ms.send(u.addr("a"), [u.addr("c")],
                      "From: a\r\nSubject: to nobody there\r\n\r\nbounce me\r\n")
        ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('c'))}>, relay={relay}, .*dsn=5\.1\.1, "
                    rf"status=bounced \(host {relay} said: 550 5\.1\.1 ", name="lmtp")
        notice = wait_for(lambda: [m for m in dovecot_messages(dc, u.addr("a")).values()
                                   if b"multipart/report" in m],
                          what="bounce notice in Dovecot", detail=lambda: logs(ms, dc))
        self.assertIn(b"5.1.1", notice[0])
        self.assertIn(u.addr("c").encode(), notice[0])
        self.assertRegex(notice[0], rb"550 5\.1\.1 ")
        ms.wait_queue_empty(queues=("incoming", "active", "deferred"))
        self.assertFalse(os.path.exists(marker), "mailbox_command ran")

    def test_dovecot_down_and_missing_agent_defer(self):
        u = self.users
        maps = os.path.join(self.users.base, "mbox_transport")
        with open(maps, "w") as f:
            f.write(f"{u.user('b')} nosuch:somewhere\n"
                    f"{u.user('c')} local:\n")
        # No Dovecot: the socket the lmtp agent is told about does not exist.
        self.start({"mailbox_transport": LMTP_VALUE,
                    "mailbox_transport_maps": f"texthash:{maps}",
                    "queue_run_delay": "3600s", "minimal_backoff_time": "3600s",
                    "maximal_backoff_time": "3600s"}, None)
        ms = self.ms

        qid = ms.send(u.addr("d"), [u.addr("a"), u.addr("b"), u.addr("c")],
                      "From: d\r\nSubject: nobody home\r\n\r\nlater\r\n")
        relay = re.escape(f"{HOST}[private/dovecot-lmtp]")
        ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('a'))}>, relay=none, .*dsn=4\.4\.1, "
                    rf"status=deferred \(connect to {relay}: No such file or directory\)",
                    name="lmtp")
        ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('b'))}>, relay=none, .*dsn=4\.3\.0, "
                    r"status=deferred \(mail transport unavailable: connect to .*/nosuch: ",
                    name="local")
        ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('c'))}>, relay=none, .*dsn=4\.3\.5, "
                    r"status=deferred \(mail system configuration error: "
                    r"mailbox_transport_maps names the local transport itself\)", name="local")
        wait_for(lambda: ms.queue_files("deferred") == [qid], what="message in deferred/",
                 detail=lambda: logs(ms))
        self.assertEqual(ms.queue_files("incoming") + ms.queue_files("active"), [])
        for n in ("a", "b", "c"):
            self.assertEqual(mailbox_count(u, n), 0)
        # qmgr got each reason from local (the lmtp agent's for a): its defer log says so.
        with open(os.path.join(ms.queue, "defer", qid)) as f:
            reasons = {line.split("\t")[0]: line.rstrip("\n").split("\t")[1:]
                       for line in f if "\t" in line}
        self.assertEqual(reasons[u.addr("a")][0], "4.4.1", reasons)
        self.assertIn("connect to mx.example.test[private/dovecot-lmtp]", reasons[u.addr("a")][1])
        self.assertEqual(reasons[u.addr("b")][0], "4.3.0", reasons)
        self.assertIn("mail transport unavailable", reasons[u.addr("b")][1])
        self.assertEqual(reasons[u.addr("c")][0], "4.3.5", reasons)

    def test_maps_override_and_fallback(self):
        u = self.users
        maps = os.path.join(self.users.base, "mbox_transport")
        with open(maps, "w") as f:
            f.write(f"{u.user('b')} {LMTP_VALUE}\n")
        cmds = os.path.join(self.users.base, "mbox_command")
        with open(cmds, "w") as f:
            f.write(f"{u.user('c')} /bin/sh -c 'cat > {self.out}/c.txt'\n")
        ghost = u.prefix + "ghost"
        self.start({"mailbox_transport_maps": f"texthash:{maps}",
                    "mailbox_command_maps": f"texthash:{cmds}",
                    "fallback_transport": LMTP_VALUE},
                   [u.addr("b"), f"{ghost}@{HOST}"], extra_local=[ghost])
        ms, dc = self.ms, self.dc

        qid = ms.send(u.addr("d"), [u.addr("a"), u.addr("b"), u.addr("c"), f"{ghost}@{HOST}"],
                      "From: d\r\nSubject: per user\r\n\r\nwhere do I go\r\n")
        ms.wait_queue_empty()
        # b: mailbox_transport_maps -> Dovecot; a: home_mailbox; c: mailbox_command_maps;
        # ghost (no passwd entry): fallback_transport -> Dovecot.
        wait_for(lambda: dovecot_messages(dc, u.addr("b")), what="b in Dovecot",
                 detail=lambda: logs(ms, dc))
        wait_for(lambda: dovecot_messages(dc, f"{ghost}@{HOST}"), what="ghost in Dovecot",
                 detail=lambda: logs(ms, dc))
        self.assertEqual(mailbox_count(u, "a"), 1, logs(ms, dc))
        self.assertEqual(mailbox_count(u, "b"), 0)
        with open(os.path.join(self.out, "c.txt"), "rb") as f:
            self.assertIn(b"where do I go", f.read())
        self.assertEqual(mailbox_count(u, "c"), 0)
        relay = re.escape(f"{HOST}[private/dovecot-lmtp]")
        for who in (u.addr("b"), f"{ghost}@{HOST}"):
            ms.wait_log(rf"^{qid}: to=<{re.escape(who)}>, relay={relay}, .*dsn=2\.0\.0, "
                        r"status=sent \(250 2\.0\.0 ", name="lmtp")
        ms.wait_log(rf"^{qid}: to=<{re.escape(u.addr('a'))}>, relay=local, .*status=sent "
                    r"\(delivered to maildir\)", name="local")

        # Probes follow the same path: b and ghost are asked of Dovecot through the lmtp
        # agent (RCPT only), ghost2 (neither in passwd nor in Dovecot) is refused there, a is a
        # passwd user without a mailbox transport.
        n_b = len(dovecot_messages(dc, u.addr("b")))
        got = probe(ms, [u.addr("b"), f"{ghost}@{HOST}", f"{ghost}2@{HOST}", u.addr("a")])
        self.assertEqual(got[u.addr("b")][0], "deliverable", got)
        self.assertRegex(got[u.addr("b")][2], r"accepted the recipient")
        self.assertEqual(got[f"{ghost}@{HOST}"][0], "deliverable", got)
        self.assertEqual(got[f"{ghost}2@{HOST}"][:2], ("undeliverable", "5.1.1"), got)
        self.assertRegex(got[f"{ghost}2@{HOST}"][2], r"550 5\.1\.1 ")
        self.assertEqual(got[u.addr("a")][0], "deliverable", got)
        self.assertEqual(len(dovecot_messages(dc, u.addr("b"))), n_b, "a probe delivered")


if __name__ == "__main__":
    unittest.main(verbosity=2)
