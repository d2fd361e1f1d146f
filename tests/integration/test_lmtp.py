#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lmtp delivery agent (services/smtp/smtp --lmtp) against Dovecot's LMTP server: a
private dovecot instance (its own configuration, base and state directories in a temporary
directory, LMTP on a unix socket, passwd-file users with Maildirs, a quota plugin), reached by
transport_maps "lmtp:unix:/path". Three recipients in one message: one is delivered, one is
unknown (550 at RCPT) and one is over quota (552 after DATA, LMTP's per-recipient reply): each
gets its own result, and only the good one lands in its Maildir. Skipped when dovecot's lmtp
is not installed."""

import glob
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tern_harness import BUILD_ROOT, MailSystem  # noqa: E402

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LMTP_BIN = "/usr/lib/dovecot/lmtp"
MSG = "From: a@example.org\r\nSubject: lmtp test\r\n\r\nbody\r\n" + "x" * 4000 + "\r\n"


class Dovecot:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-dovecot.")
        os.chmod(self.tmp, 0o755)
        self.socket = os.path.join(self.tmp, "lmtp")
        self.log = os.path.join(self.tmp, "dovecot.log")
        user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        pw = pwd.getpwnam(user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        homes = os.path.join(self.tmp, "home")
        os.makedirs(homes)
        os.chown(homes, self.uid, self.gid)
        with open(os.path.join(self.tmp, "passwd"), "w") as f:
            for u, extra in (("alice", ""), ("bob", "userdb_quota_rule=*:storage=1K")):
                f.write(f"{u}@lmtp.test::{self.uid}:{self.gid}::{homes}/{u}::{extra}\n")
        conf = os.path.join(self.tmp, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(f"""
instance_name = tern-test-{os.getpid()}
base_dir = {self.tmp}/run
state_dir = {self.tmp}/state
log_path = {self.log}
protocols = lmtp
ssl = no
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {grp.getgrgid(pw.pw_gid).gr_name}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_plugins = quota
plugin {{
  quota = maildir:User quota
}}
passdb {{
  driver = passwd-file
  args = {self.tmp}/passwd
}}
userdb {{
  driver = passwd-file
  args = {self.tmp}/passwd
}}
service lmtp {{
  unix_listener {self.socket} {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
        with open(os.path.join(self.tmp, "stderr"), "wb") as err:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf],
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 15
        while time.time() < deadline and not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: " + self.text())
            time.sleep(0.05)
        if not os.path.exists(self.socket):
            raise RuntimeError("dovecot did not come up: " + self.text())

    def text(self):
        out = ""
        for name in ("dovecot.log", "stderr"):
            try:
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    out += f.read()
            except OSError:
                pass
        return out

    def maildir(self, user):
        return glob.glob(os.path.join(self.tmp, "home", user, "Maildir", "new", "*"))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


@unittest.skipUnless(os.path.exists(LMTP_BIN) and os.path.exists(DOVECOT),
                     "dovecot-lmtpd is not installed")
class AgainstDovecot(unittest.TestCase):
    def test_per_recipient_results(self):
        dc = Dovecot()
        try:
            cf = {"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                  "maximal_backoff_time": "2s", "relay_transport": "smtp"}
            ms = MailSystem(cf, agents=("local",), extra_agents={})
            ms.agents["lmtp"] = [os.path.join(BUILD_ROOT, "services", "smtp", "smtp"),
                                 "--lmtp", "-c", ms.dir]
            with open(os.path.join(ms.dir, "transport"), "w") as f:
                f.write(f"lmtp.test lmtp:unix:{dc.socket}\n")
            with open(os.path.join(ms.dir, "main.cf"), "a") as f:
                f.write(f"transport_maps = texthash:{ms.dir}/transport\n")
            with ms:
                qid = ms.send("alice@mx.example.test",
                              ["alice@lmtp.test", "nobody@lmtp.test", "bob@lmtp.test"], MSG)
                relay = r"mx\.example\.test\[" + re.escape(dc.socket) + r"\]"
                ms.wait_log(rf"^{qid}: to=<alice@lmtp\.test>, relay={relay}, "
                            rf"delay=[\d.e+-]+, dsn=2\.0\.0, status=sent \(250 2\.0\.0 ",
                            name="lmtp")
                ms.wait_log(rf"^{qid}: to=<nobody@lmtp\.test>, relay={relay}, .*dsn=5\.1\.1, "
                            rf"status=bounced \(host {relay} said: 550 5\.1\.1 .*\(in reply to "
                            rf"RCPT TO command\)\)$", name="lmtp")
                ms.wait_log(rf"^{qid}: to=<bob@lmtp\.test>, relay={relay}, .*dsn=5\.2\.2, "
                            rf"status=bounced \(host {relay} said: 552 5\.2\.2 .*\(in reply to "
                            rf"end of DATA command\)\)$", name="lmtp")
                ms.wait_queue_empty()
                self.assertEqual(len(dc.maildir("alice")), 1, dc.text())
                self.assertEqual(dc.maildir("bob"), [])
                with open(dc.maildir("alice")[0], "rb") as f:
                    self.assertIn(b"Subject: lmtp test", f.read())
        finally:
            dc.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
