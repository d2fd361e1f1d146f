# SPDX-License-Identifier: GPL-3.0-or-later
"""A private test network for the integration tests: network namespaces made with "ip netns add"
(named after the test's pid), joined by veth pairs to a bridge that lives in a "lan" namespace
of its own; private addresses exist only inside them. Nothing touches the host's interfaces,
routes or resolver. Also: dnsmasq serving a test zone from inside one of the namespaces, a tiny
DNS client to wait for it, and a scripted SMTP server (for replies a real MTA will not give).

Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2; Network.available() says whether the
test can run here."""

import atexit
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from tern_harness import NETNS_DIR, _setns, in_netns, netns_prefix

IP = shutil.which("ip") or "/usr/sbin/ip"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
PREFIX = "ternt"


def run_ip(*args):
    r = subprocess.run([IP] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.decode().strip()}")
    return r.stdout.decode()


def reap_stale():
    """Deletes the namespaces an earlier run left behind when it was killed (its pid is gone),
    ending the processes that run left in them."""
    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        return
    for n in names:
        m = re.fullmatch(PREFIX + r"(\d+)-\w+", n)
        if not m or os.path.exists(f"/proc/{m.group(1)}"):
            continue
        netns_delete(n)


def netns_delete(name):
    """Kills what still runs in namespace name (only this test's processes run in its
    namespaces), then deletes it."""
    r = subprocess.run([IP, "netns", "pids", name], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    for pid in r.stdout.split():
        if pid == str(os.getpid()):     # a thread of the test inside, not a process of it
            continue
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    subprocess.run([IP, "netns", "del", name], stderr=subprocess.DEVNULL)


class Network:
    """Namespaces PREFIX<pid>-<host>, each with loopback up and an eth0 on one bridge (br0 in
    the namespace PREFIX<pid>-lan). hosts: {host: ["10.77.0.2/24", "fd77::2/64", ...]}.
    ns(host) is the namespace's name for netns= arguments. close() (also at exit and on
    SIGTERM, meson's timeout) runs the callables in cleanups (last first: stop what runs in the
    namespaces), ends what spawn() started and deletes the namespaces."""

    def __init__(self, hosts):
        self.tag = f"{PREFIX}{os.getpid()}"
        self.names = []
        self.procs = []
        self.cleanups = []
        # Where the test runs: close() may interrupt a thread that is inside one of ours.
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        reap_stale()
        atexit.register(self.close)
        self._old_term = signal.signal(signal.SIGTERM, self._on_term)
        # SIGTERM waits until the namespaces exist and have names: an "ip netns add" still
        # running when close() looks would leave one behind.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            self._make(hosts)
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            self.close()
            raise
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    @staticmethod
    def available():
        """None when namespaces can be made here, or why not."""
        if os.geteuid() != 0:
            return "needs root (ip netns add)"
        if not os.path.exists(IP):
            return "iproute2 is not installed"
        probe = f"{PREFIX}{os.getpid()}-probe"
        r = subprocess.run([IP, "netns", "add", probe], stderr=subprocess.PIPE)
        if r.returncode != 0:
            return "cannot make network namespaces: " + r.stderr.decode().strip()
        subprocess.run([IP, "netns", "del", probe])
        return None

    def ns(self, host):
        return f"{self.tag}-{host}"

    def _add(self, host):
        name = self.ns(host)
        run_ip("netns", "add", name)
        self.names.append(name)
        run_ip("-n", name, "link", "set", "lo", "up")
        return name

    def _make(self, hosts):
        lan = self._add("lan")
        run_ip("-n", lan, "link", "add", "br0", "type", "bridge")
        run_ip("-n", lan, "link", "set", "br0", "up")
        for i, (host, addrs) in enumerate(hosts.items()):
            name = self._add(host)
            port = f"p{i}"
            run_ip("-n", lan, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                   "netns", name)
            run_ip("-n", lan, "link", "set", port, "master", "br0", "up")
            for a in addrs:
                # nodad: an IPv6 address is usable at once, not after duplicate detection.
                run_ip("-n", name, "addr", "add", a, "dev", "eth0",
                       *(["nodad"] if ":" in a else []))
            run_ip("-n", name, "link", "set", "eth0", "up")

    def spawn(self, host, argv, **kw):
        """Starts a program inside host's namespace; close() ends it."""
        p = subprocess.Popen(netns_prefix(self.ns(host)) + list(argv), **kw)
        self.procs.append(p)
        return p

    def _on_term(self, signum, frame):
        self.close()
        signal.signal(signal.SIGTERM, self._old_term or signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def close(self):
        if self.home is None:
            return
        _setns(self.home)
        while self.cleanups:
            f = self.cleanups.pop()
            try:
                f()
            except Exception as e:      # keep cleaning up
                print(f"cleanup: {e!r}", file=sys.stderr)
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        # A namespace goes once no process is left in it; the veth pairs and the bridge go
        # with their namespaces.
        for n in reversed(self.names):
            netns_delete(n)
        self.names = []
        os.close(self.home)
        self.home = None


def tcp_counter(ns, name):
    """A counter of the "Tcp:" line of /proc/net/snmp in namespace ns (e.g. "AttemptFails":
    connections that failed from SYN-SENT, as a refused connect does)."""
    with in_netns(ns):
        with open("/proc/thread-self/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index(name)])


# ---- DNS ----

def dns_query(server, name, qtype, timeout=1.0):
    """Sends one query over UDP (from the calling thread's namespace); returns (rcode,
    answer count, raw reply)."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, server)
        d = s.recv(4096)
    return d[3] & 0x0F, struct.unpack(">H", d[6:8])[0], d


class Dnsmasq:
    """dnsmasq answering for the zone "test" from address addr (port 53) inside host's
    namespace: only what the arguments say (--no-resolv, --no-hosts, --conf-file=/dev/null),
    every query logged to a file."""

    def __init__(self, net, host, addr, records):
        self.addr = addr
        self.dir = tempfile.mkdtemp(prefix="tern-dns.")
        self.log_path = os.path.join(self.dir, "dnsmasq.log")
        argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--no-poll", "--bind-interfaces", f"--listen-address={addr}",
                "--port=53", "--pid-file=", "--user=root", "--log-queries",
                f"--log-facility={self.log_path}", "--local=/test/"] + list(records)
        self.proc = net.spawn(host, argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                with in_netns(net.ns(host)):
                    dns_query((addr, 53), "ready.test", 1, timeout=0.2)
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("dnsmasq did not come up: " + self.log())
                time.sleep(0.05)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def queries(self):
        """[(type, name, client address)] in the order they came."""
        return re.findall(r"query\[(\w+)\] (\S+) from (\S+)", self.log())

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- A scripted SMTP server ----

class ScriptedSmtp:
    """An SMTP server on (addr, port) inside a namespace, run by a thread of the test: it
    answers RCPT TO with rcpt_reply (a callable address -> reply line, "250 2.1.5 Ok" by
    default) and records each transaction it accepts as (sender, [recipients], data)."""

    def __init__(self, netns, addr, port=25, hostname="mx.scripted.test"):
        self.hostname = hostname
        self.rcpt_reply = lambda rcpt: "250 2.1.5 Ok"
        self.messages = []
        self.sessions = 0
        self.lock = threading.Lock()
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with in_netns(netns):
            self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.sessions += 1
            threading.Thread(target=self._session, args=(c,), daemon=True).start()

    def _session(self, c):
        f = c.makefile("rb")

        def say(line):
            c.sendall(line.encode() + b"\r\n")

        try:
            c.settimeout(30)
            say(f"220 {self.hostname} ESMTP scripted")
            sender, rcpts = None, []
            while True:
                raw = f.readline(4096)
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    say(f"250-{self.hostname}\r\n250-PIPELINING\r\n250 8BITMIME"
                        if verb == "EHLO" else f"250 {self.hostname}")
                elif verb == "MAIL":
                    sender, rcpts = re.search(r"<([^>]*)>", line).group(1), []
                    say("250 2.1.0 Ok")
                elif verb == "RCPT":
                    rcpt = re.search(r"<([^>]*)>", line).group(1)
                    reply = self.rcpt_reply(rcpt)
                    if reply.startswith("2"):
                        rcpts.append(rcpt)
                    say(reply)
                elif verb == "DATA":
                    if not rcpts:
                        say("554 5.5.1 Error: no valid recipients")
                        continue
                    say("354 End data with <CR><LF>.<CR><LF>")
                    data = b""
                    while True:
                        dl = f.readline(65536)
                        if not dl or dl == b".\r\n":
                            break
                        data += dl[1:] if dl.startswith(b".") else dl
                    with self.lock:
                        self.messages.append((sender, rcpts, data))
                    say("250 2.0.0 Ok: queued as SCRIPTED")
                elif verb == "RSET":
                    sender, rcpts = None, []
                    say("250 2.0.0 Ok")
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    return
                else:
                    say("502 5.5.2 Error: command not recognized")
        except OSError:
            pass
        finally:
            f.close()
            c.close()

    def close(self):
        self.sock.close()
