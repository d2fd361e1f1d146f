# SPDX-License-Identifier: GPL-3.0-or-later
"""A private Dovecot with LMTP only, for the tests of tern's lmtp delivery (test_lmtp.py and
test_local_transport.py): its own configuration, base and state directories under a temporary
directory, passwd-file users whose Maildirs are there too, LMTP on a unix socket. It runs as
nobody when started by root (as the tests that switch uids are), else as the caller."""

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LMTP_BIN = "/usr/lib/dovecot/lmtp"
AVAILABLE = os.path.exists(LMTP_BIN) and os.path.exists(DOVECOT)


class DovecotLmtp:
    def __init__(self, users, sock=None, quota=False):
        """users: address -> extra userdb fields ("" for none, e.g.
        "userdb_quota_rule=*:storage=1K" with quota); sock: the LMTP socket's path (default:
        "lmtp" in Dovecot's directory); quota: load the quota plugin."""
        self.tmp = tempfile.mkdtemp(prefix="tern-dovecot.")
        os.chmod(self.tmp, 0o755)
        self.socket = sock or os.path.join(self.tmp, "lmtp")
        self.log = os.path.join(self.tmp, "dovecot.log")
        user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        pw = pwd.getpwnam(user)
        group = grp.getgrgid(pw.pw_gid).gr_name
        homes = os.path.join(self.tmp, "home")
        os.makedirs(homes)
        os.chown(homes, pw.pw_uid, pw.pw_gid)
        with open(os.path.join(self.tmp, "passwd"), "w") as f:
            for address, extra in users.items():
                f.write(f"{address}::{pw.pw_uid}:{pw.pw_gid}::{self.home(address)}::{extra}\n")
        plugins = "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n}\n" \
            if quota else ""
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
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
{plugins}passdb {{
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
                text = self.text()
                self.stop()
                raise RuntimeError("dovecot exited: " + text)
            time.sleep(0.05)
        if not os.path.exists(self.socket):
            text = self.text()
            self.stop()
            raise RuntimeError("dovecot did not come up: " + text)

    def home(self, address):
        return os.path.join(self.tmp, "home", address)

    def text(self):
        """Dovecot's log and standard error, for failure messages."""
        out = ""
        for name in ("dovecot.log", "stderr"):
            try:
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    out += f.read()
            except OSError:
                pass
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
