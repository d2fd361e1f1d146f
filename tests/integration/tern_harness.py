# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pieces of the integration tests: start tern's real smtpd with real sockets through
systemd-socket-activate (the LISTEN_FDS path systemd uses), on a temporary configuration and
queue; read queue files back; talk raw SMTP.

TERN_BUILD_ROOT is the build directory; smtpd is services/smtpd/smtpd under it.

Every service can run inside a network namespace (netns=NAME: "nsenter --net=/run/netns/NAME"
in front of its launcher) and smtpd can listen on given addresses (listen=["10.77.0.2:25"]);
the test then reaches it from inside that namespace (in_netns()). env={NAME: value} sets
variables in every service of a system (systemd-socket-activate -E)."""

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD_ROOT = os.environ.get("TERN_BUILD_ROOT", "build")
SMTPD = os.path.join(BUILD_ROOT, "services", "smtpd", "smtpd")
TERNCTL = os.path.join(BUILD_ROOT, "tools", "ternctl", "ternctl")
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"

BASE_MAIN_CF = {
    "myhostname": "mx.example.test",
    "mydomain": "example.test",
    "mydestination": "$myhostname, localhost.$mydomain, localhost, $mydomain",
    "mynetworks": "127.0.0.1/32",
    "inet_interfaces": "loopback-only",
    "smtpd_peername_lookup": "no",
    "smtpd_error_sleep_time": "0",
    "alias_maps": "",
}


def passenv():
    """systemd-socket-activate gives the program a clean environment: pass on what the
    tests set (the runtime directory, the fake agent's files, sanitizer options)."""
    out = []
    for k, v in os.environ.items():
        if k in ("RUNTIME_DIRECTORY", "PATH") or k.startswith(("FAKE_AGENT_", "ASAN_", "UBSAN_",
                                                                 "LSAN_")):
            out += ["-E", f"{k}={v}"]
    return out


NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
_libc = None


def _setns(fd):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextlib.contextmanager
def in_netns(name):
    """Runs the body with the calling thread in network namespace name (made by "ip netns
    add"); None: where it is. Sockets made inside stay in that namespace afterwards."""
    if name is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def netns_prefix(name):
    """The argv prefix that runs a program in network namespace name (none for None)."""
    return [] if name is None else ["nsenter", f"--net={os.path.join(NETNS_DIR, name)}"]


def env_args(env):
    return [a for k, v in (env or {}).items() for a in ("-E", f"{k}={v}")]


def split_hostport(text):
    """"10.0.0.1:25" or "[::1]:25" to (host, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Smtpd:
    """One smtpd under systemd-socket-activate, with its own directory holding main.cf, the
    queue and the log (stderr). Use as a context manager."""

    def __init__(self, main_cf=None, users=("alice", "bob", "postmaster"), ipv6=False,
                 queue_dir=None, extra_args=(), listen=None, netns=None, env=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="tern-smtpd.")
        self.dir = self.tmp.name
        self.queue = queue_dir or os.path.join(self.dir, "queue")
        # listen: ["addr:port", "[v6]:port"]; the first is where the test connects.
        self.listen = list(listen or [])
        self.host = split_hostport(self.listen[0])[0] if self.listen else "127.0.0.1"
        self.port = split_hostport(self.listen[0])[1] if self.listen else free_port()
        self.netns = netns
        self.service_env = dict(env or {})
        self.ipv6 = ipv6
        self.log_path = os.path.join(self.dir, "smtpd.log")
        self.proc = None
        self.extra_args = list(extra_args)
        cf = dict(BASE_MAIN_CF)
        users_file = os.path.join(self.dir, "users")
        with open(users_file, "w") as f:
            for u in users:
                f.write(f"{u} x\n")
        cf["local_recipient_maps"] = "texthash:" + users_file
        cf["queue_directory"] = self.queue
        cf.update(main_cf or {})
        self.write_main_cf(cf)

    def write_main_cf(self, cf):
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            for k, v in cf.items():
                f.write(f"{k} = {v}\n")

    def start(self):
        argv = netns_prefix(self.netns) + [SOCKET_ACTIVATE]
        for a in self.listen or [f"127.0.0.1:{self.port}"]:
            argv += ["-l", a]
        argv += passenv()
        if self.ipv6:
            argv += ["-l", f"[::1]:{self.port}"]
        if "TERN_DNS_SERVER" in os.environ:     # the resolver test hook (test_smtpd_dns.py)
            argv += ["-E", "TERN_DNS_SERVER"]
        argv += env_args(self.service_env)
        argv += [SMTPD, "-c", self.dir] + self.extra_args
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        env.pop("TERN_CONFIG", None)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with in_netns(self.netns):
                    s = socket.create_connection((self.host, self.port), timeout=1)
                with s:
                    s.settimeout(5)
                    s.recv(512)
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("smtpd exited: " + self.log_text())
                time.sleep(0.05)
        raise RuntimeError("smtpd did not come up: " + self.log_text())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.tmp.cleanup()

    def log_text(self):
        """The log without the "tern/smtpd: " prefix stderr lines carry."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return re.sub(r"^tern/[a-z]+: ", "", text, flags=re.M)

    def wait_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.log_text(), re.M)
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"log has no /{pattern}/:\n{self.log_text()}")

    def incoming(self):
        d = os.path.join(self.queue, "incoming")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def read_queue_file(self, queue_id, queue="incoming"):
        return read_queue_file(os.path.join(self.queue, queue, queue_id))

    def connect(self, source=None, timeout=10):
        with in_netns(self.netns):
            return RawClient(self.host, self.port, source=source, timeout=timeout)


def xtext_decode(s):
    raw = re.sub(rb"\+([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), s.encode())
    return raw.decode("utf-8", "surrogateescape")


def read_queue_file(path):
    """Parses a queue file (format v1, libshared/queue.h). Returns (records, content) where
    records is a list of (keyword, [decoded fields]) and content the message bytes."""
    with open(path, "rb") as f:
        data = f.read()
    header = data[:42].decode()
    m = re.fullmatch(r"TERNQ/1 ([0-9a-f]{16}) ([0-9a-f]{16})\n", header)
    assert m, f"bad header {header!r}"
    off, size = int(m.group(1), 16), int(m.group(2), 16)
    assert off > 0, "unfinished queue file"
    records = []
    for line in data[42:off].decode().split("\n")[:-1]:
        parts = line.split(" ")
        records.append((parts[0], [xtext_decode(p) for p in parts[1:]]))
    assert records[-1][0] == "content"
    content = data[off:off + size]
    for line in data[off + size:].decode().split("\n")[:-1]:
        parts = line.split(" ")
        records.append((parts[0], [xtext_decode(p) for p in parts[1:]]))
    assert records[-1][0] == "end"
    return records, content


def record(records, name):
    return [fields for k, fields in records if k == name]


class RawClient:
    """A raw SMTP client over a real socket, for what smtplib will not send."""

    def __init__(self, host, port, source=None, timeout=10):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """Reads one (possibly multi-line) reply: (code, [lines without code])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed; got " + repr(self.buf))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), lines

    def reply_line(self):
        code, lines = self.reply()
        return f"{code} {lines[-1]}"

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply_line()

    def closed(self, timeout=5):
        """True when the server has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True


class MailSystem:
    """smtpd, qmgr and agents from the build tree, wired as systemd wires them: each gets its
    sockets from systemd-socket-activate (qmgr a datagram socket, agents --accept sockets in
    the runtime directory); RUNTIME_DIRECTORY points them all at a temporary directory."""

    def __init__(self, main_cf=None, agents=("local", "virtual"), users=("alice", "bob"),
                 extra_agents=None, pickup=False, listen=None, netns=None, env=None):
        self.smtpd = Smtpd(main_cf, users=users, listen=listen, netns=netns, env=env)
        self.netns = netns
        self.service_env = dict(env or {})
        self.dir = self.smtpd.dir
        self.queue = self.smtpd.queue
        self.run = os.path.join(self.dir, "run")
        os.makedirs(self.run)
        self.agents = {name: [os.path.join(BUILD_ROOT, "services", name, name), "-c", self.dir]
                       for name in agents}
        self.agents.update(extra_agents or {})
        self.procs = {}
        self.logs = {}
        self.pickup = pickup

    def env(self):
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        env.pop("TERN_CONFIG", None)
        env["RUNTIME_DIRECTORY"] = self.run
        return env

    def spawn(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, env=self.env())

    def start_qmgr(self):
        try:
            os.unlink(os.path.join(self.run, "qmgr"))
        except FileNotFoundError:
            pass
        self.spawn("qmgr", netns_prefix(self.netns) + [SOCKET_ACTIVATE, "--datagram", "-l",
                                                       os.path.join(self.run, "qmgr")] +
                   passenv() + env_args(self.service_env) + [
                            os.path.join(BUILD_ROOT, "services", "qmgr", "qmgr"), "-c",
                            self.dir])
        wait_path(os.path.join(self.run, "qmgr"))
        # Under systemd tern.target starts qmgr; systemd-socket-activate waits for a first
        # datagram: send one, as an enqueue would.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"i", os.path.join(self.run, "qmgr"))

    def start_agent(self, name):
        try:
            os.unlink(os.path.join(self.run, name))     # left by a killed launcher
        except FileNotFoundError:
            pass
        self.spawn(name, netns_prefix(self.netns) +
                   [SOCKET_ACTIVATE, "--accept", "-l", os.path.join(self.run, name)] +
                   passenv() + env_args(self.service_env) + self.agents[name])
        wait_path(os.path.join(self.run, name))

    def start_pickup(self):
        """pickup on the public socket $RUN/pickup (mode 0666, as tern-pickup.socket), with
        the directories above it open to other users so that unprivileged clients reach it."""
        path = os.path.join(self.run, "pickup")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.spawn("pickup", netns_prefix(self.netns) +
                   [SOCKET_ACTIVATE, "--accept", "-l", path] + passenv() +
                   env_args(self.service_env) +
                   [os.path.join(BUILD_ROOT, "services", "pickup", "pickup"), "-c", self.dir])
        wait_path(path)
        os.chmod(path, 0o666)
        os.chmod(self.run, 0o755)
        os.chmod(self.dir, 0o755)

    def start(self):
        os.environ["RUNTIME_DIRECTORY"] = self.run      # smtpd inherits it
        for name in self.agents:
            self.start_agent(name)
        self.start_qmgr()
        if self.pickup:
            self.start_pickup()
        self.smtpd.start()
        return self

    def kill(self, name, sig=signal.SIGKILL):
        """Kills a service's processes (the launcher and what it started)."""
        p = self.procs.get(name)
        if p and p.poll() is None:
            subprocess.run(["pkill", f"-{int(sig)}", "-P", str(p.pid)], check=False)
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if name in self.logs:
            self.logs.pop(name).close()

    def stop(self):
        self.smtpd.stop()
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)
        os.environ.pop("RUNTIME_DIRECTORY", None)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.smtpd.tmp.cleanup()

    def log_text(self, name="qmgr"):
        try:
            with open(os.path.join(self.dir, name + ".log"), "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return re.sub(r"^tern/[a-z]+: ", "", text, flags=re.M)

    def wait_log(self, pattern, name="qmgr", timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.log_text(name), re.M)
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"{name} log has no /{pattern}/:\n{self.log_text(name)}")

    def queue_files(self, queue):
        d = os.path.join(self.queue, queue)
        return sorted(f for f in os.listdir(d) if not f.endswith(".tmp")) \
            if os.path.isdir(d) else []

    def wait_queue_empty(self, timeout=60, queues=("incoming", "active")):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not any(self.queue_files(q) for q in queues):
                return
            time.sleep(0.1)
        raise AssertionError("queue not empty: " +
                             str({q: self.queue_files(q) for q in queues}) + self.log_text())

    def send(self, sender, rcpts, body, **kw):
        import smtplib
        with in_netns(self.netns):
            s = smtplib.SMTP(self.smtpd.host, self.smtpd.port, timeout=30)
        with s:
            s.ehlo("client.example")
            s.mail(sender, kw.get("mail_options", []))
            for r in rcpts:
                s.rcpt(r, kw.get("rcpt_options", []))
            code, resp = s.data(body)
            assert code == 250, resp
            return resp.decode().rsplit(" ", 1)[-1]


def wait_path(path, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{path} did not appear")
