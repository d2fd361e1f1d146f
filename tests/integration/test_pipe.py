#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration test of the pipe delivery agent: the whole system from the build tree
(tern_harness.MailSystem: smtpd -> qmgr -> pipe under systemd-socket-activate --accept) with
"transport_maps = pipe.test pipe:" and the agent started with pipe(8)'s attributes as its own
arguments (flags=DFORX>, user=nobody, argv=a shell script and macros). The script writes its
argv and its standard input to files and exits by the recipient's local part:

  * a delivered message: the command gets From_, Return-Path:, Delivered-To: and
    X-Original-To: before the message, ">From " quoting, LF line ends, every macro expanded
    (sender, recipient, nexthop, user, extension, mailbox, domain, original_recipient,
    queue_id, size, client_address), it runs as nobody with a clean environment, and the log
    says "status=sent (delivered via pipe service)";
  * exit 67 (EX_NOUSER): bounced 5.1.1 "user unknown. Command output: ..."; the non-delivery
    notice is queued and, the sender being at pipe.test too, reaches the command;
  * exit 75 (EX_TEMPFAIL): deferred 4.3.0 "temporary failure", the message stays queued;
  * a command that hangs is killed at pipe_time_limit (2s) and deferred "Command time limit
    exceeded", and its child process is gone too;
  * the agent refuses user=root at start-up.

Needs root (user=nobody, a uid switch): skipped otherwise."""

import os
import pwd
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import BUILD_ROOT, MailSystem  # noqa: E402

PIPE = os.path.join(BUILD_ROOT, "services", "pipe", "pipe")

SCRIPT = r"""#!/bin/sh
# argv: $1 recipient, then the other macros
out="@OUT@"
n="$(date +%s%N)-$$"
printf '%s\n' "$@" > "$out/argv.$n.tmp"
id -un >> "$out/argv.$n.tmp"
env | sort > "$out/env.$n"
case "$1" in
bounce*) echo "no such mailbox here"; exit 67 ;;
defer*) echo "try later"; exit 75 ;;
hang*) sleep 1000 & echo $! > "$out/hang.pid"; wait; exit 0 ;;
esac
cat > "$out/msg.$n"
mv "$out/argv.$n.tmp" "$out/argv.$n"
echo "accepted"
exit 0
"""

MACROS = ["${recipient}", "${sender}", "${nexthop}", "${user}", "${extension}", "${mailbox}",
          "${domain}", "${original_recipient}", "${queue_id}", "${size}", "${client_address}",
          "$$literal"]


def wait_for(pred, timeout=30, what="condition", detail=lambda: ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{detail()}")


@unittest.skipUnless(os.geteuid() == 0, "needs root for user=nobody")
class PipeDelivery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ms = MailSystem({
            "transport_maps": "inline:{ pipe.test=pipe: }",
            "recipient_delimiter": "+",
            "pipe_destination_recipient_limit": "1",
            "pipe_time_limit": "2s",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
        }, agents=(), users=())
        d = cls.ms.dir
        os.chmod(d, 0o755)
        cls.out = os.path.join(d, "out")
        os.makedirs(cls.out)
        os.chmod(cls.out, 0o777)
        cls.script = os.path.join(d, "deliver.sh")
        with open(cls.script, "w") as f:
            f.write(SCRIPT.replace("@OUT@", cls.out))
        os.chmod(cls.script, 0o755)
        cls.ms.agents["pipe"] = [PIPE, "-c", d, "flags=DFORX>", "user=nobody",
                                 "argv=" + cls.script] + MACROS
        cls.ms.start()

    @classmethod
    def tearDownClass(cls):
        cls.ms.stop()
        if os.environ.get("TERN_TEST_VERBOSE"):
            print(cls.logs(), file=sys.stderr)
        cls.ms.smtpd.tmp.cleanup()

    @classmethod
    def logs(cls):
        return "\n".join(f"--- {n} ---\n{cls.ms.log_text(n)}" for n in ("qmgr", "pipe"))

    def delivered(self, rcpt):
        """(argv lines, message bytes) of the delivery to rcpt, once it is there."""
        def find():
            for f in sorted(os.listdir(self.out)):
                if not f.startswith("argv.") or f.endswith(".tmp"):
                    continue
                with open(os.path.join(self.out, f)) as fp:
                    lines = fp.read().split("\n")
                if lines[0] == rcpt:
                    with open(os.path.join(self.out, "msg." + f[5:]), "rb") as fp:
                        return lines, fp.read()
            return None
        return wait_for(find, 30, f"delivery to {rcpt}", self.logs)

    def test_delivery_headers_and_macros(self):
        body = "Hello\r\nFrom the start of a line\r\n.dot\r\n"
        msg = ("From: a@example.org\r\nTo: b@pipe.test\r\nSubject: pipe test\r\n\r\n" + body)
        qid = self.ms.send("sender@example.org", ["Bob+Ext@pipe.test"], msg)
        argv, data = self.delivered("Bob+Ext@pipe.test")
        self.assertEqual(argv[:12], [
            "Bob+Ext@pipe.test", "sender@example.org", "pipe.test", "Bob", "Ext", "Bob+Ext",
            "pipe.test", "Bob+Ext@pipe.test", qid, argv[9], "127.0.0.1", "$literal"])
        self.assertRegex(argv[9], r"^[0-9]+$")
        self.assertEqual(argv[12], "nobody")
        text = data.decode()
        self.assertRegex(text, r"^From sender@example\.org  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d "
                               r"\d{4}\nReturn-Path: <sender@example\.org>\n"
                               r"Delivered-To: bob\+ext@pipe\.test\n"
                               r"X-Original-To: Bob\+Ext@pipe\.test\n")
        self.assertIn("\nSubject: pipe test\n", text)
        self.assertIn("\n>From the start of a line\n.dot\n", text)
        self.assertNotIn("\r", text)
        self.ms.wait_log(rf"^{qid}: to=<Bob\+Ext@pipe\.test>, relay=pipe, .*dsn=2\.0\.0, "
                         rf"status=sent \(delivered via pipe service \(accepted\)\)$", "pipe")
        env_files = [f for f in os.listdir(self.out) if f.startswith("env.")]
        with open(os.path.join(self.out, env_files[0])) as f:
            names = {line.split("=", 1)[0] for line in f if "=" in line}
        self.assertIn("PATH", names)
        self.assertNotIn("RUNTIME_DIRECTORY", names)
        self.assertNotIn("LISTEN_FDS", names)

    def test_bounce_with_notice(self):
        qid = self.ms.send("owner@pipe.test", ["bounce-me@pipe.test"],
                           "Subject: to bounce\r\n\r\nbody\r\n")
        self.ms.wait_log(rf"^{qid}: to=<bounce-me@pipe\.test>, relay=pipe, .*dsn=5\.1\.1, "
                         rf"status=bounced \(user unknown\. Command output: no such mailbox "
                         rf"here\)$", "pipe")
        # The notice goes to owner@pipe.test, through the same command.
        _, notice = self.delivered("owner@pipe.test")
        self.assertIn(b"Return-Path: <MAILER-DAEMON>\n", notice)
        self.assertIn(b"bounce-me@pipe.test", notice)
        self.assertIn(b"5.1.1", notice)

    def test_defer(self):
        qid = self.ms.send("sender@example.org", ["defer-me@pipe.test"],
                           "Subject: to defer\r\n\r\nbody\r\n")
        self.ms.wait_log(rf"^{qid}: to=<defer-me@pipe\.test>, relay=pipe, .*dsn=4\.3\.0, "
                         rf"status=deferred \(temporary failure\. Command output: try "
                         rf"later\)$", "pipe")
        wait_for(lambda: qid in self.ms.queue_files("deferred"), 20, "deferred queue file",
                 self.logs)

    def test_time_limit(self):
        qid = self.ms.send("sender@example.org", ["hang@pipe.test"],
                           "Subject: to hang\r\n\r\nbody\r\n")
        self.ms.wait_log(rf"^{qid}: to=<hang@pipe\.test>, relay=pipe, .*dsn=4\.3\.0, "
                         rf"status=deferred \(Command time limit exceeded: "
                         rf"\"{re.escape(self.script)}\"\)$", "pipe", timeout=30)
        with open(os.path.join(self.out, "hang.pid")) as f:
            pid = int(f.read())
        # The command's own child was in its session and is killed with it.
        def gone():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().split()[2] == "Z"
            except FileNotFoundError:
                return True
        wait_for(gone, 10, "sleep killed")


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class PipeStartup(unittest.TestCase):
    def run_pipe(self, *attrs):
        return subprocess.run([PIPE, "-c", "/nonexistent-tern-dir"] + list(attrs),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=30)

    def test_refuses_root(self):
        p = self.run_pipe("user=root", "argv=/bin/true")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("root privileges", p.stdout)

    def test_refuses_uid_0_alias(self):
        users = [u.pw_name for u in pwd.getpwall() if u.pw_uid == 0 and u.pw_name != "root"]
        if not users:
            self.skipTest("no other uid 0 account")
        p = self.run_pipe(f"user={users[0]}", "argv=/bin/true")
        self.assertNotEqual(p.returncode, 0)

    def test_bad_attribute(self):
        p = self.run_pipe("user=nobody", "flags=Z", "argv=/bin/true")
        self.assertEqual(p.returncode, 64)
        self.assertIn("unknown flag 'Z'", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
