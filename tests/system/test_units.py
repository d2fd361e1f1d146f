#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline checks of the systemd units, without booting anything:

- "systemd-analyze verify" of every unit prints nothing (the binaries are the build tree's);
- "systemd-analyze security --offline=yes" exposure is <= 2.0 for every tern service and
  <= 4.0 for tern-local@.service (DESIGN.md, Security), and the figures are printed;
- the sysusers.d and tmpfiles.d entries create the tern user and the queue in a scratch root;
- the message catalog compiles and lists every MESSAGE_ID once.

Exits non-zero on the first failure. Needs systemd-analyze, systemd-sysusers, systemd-tmpfiles
and journalctl (systemd >= 250); runs as any user (sysusers/tmpfiles only as root)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("TERN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TERN_BUILD_ROOT", os.path.join(SRC, "build"))
UNITS = os.path.join(SRC, "units")

# unit -> highest exposure allowed
LIMITS = {
        "tern-smtpd.service": 2.0,
        "tern-submission.service": 2.0,
        "tern-smtps.service": 2.0,
        "tern-qmgr.service": 2.0,
        "tern-virtual@.service": 2.0,
        "tern-pickup@.service": 2.0,
        "tern-pipe@.service": 2.0,
        "tern-smtp@.service": 2.0,
        "tern-relay@.service": 2.0,
        "tern-lmtp@.service": 2.0,
        "tern-local@.service": 4.0,
}
CATALOG_IDS = 7


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def stage_units(d):
    """Copies every unit into d with @LIBEXECDIR@ pointing at the built binaries. Returns the
    list of unit names."""
    names = []
    for f in sorted(os.listdir(UNITS)):
        if not re.search(r"\.(service|socket|target)(\.in)?$", f):
            continue
        with open(os.path.join(UNITS, f)) as fp:
            text = fp.read()
        # smtpd lives in services/smtpd/smtpd in the build tree, and so on.
        text = re.sub(r"@LIBEXECDIR@/(\w+)",
                      lambda m: os.path.join(BUILD, "services", m.group(1), m.group(1)), text)
        if re.search(r"@[A-Z_]+@", text):
            fail(f"{f}: unsubstituted @VARIABLE@ left")
        name = f[:-3] if f.endswith(".in") else f
        with open(os.path.join(d, name), "w") as fp:
            fp.write(text)
        names.append(name)
    return names


def check_verify(d, names):
    paths = [os.path.join(d, n) for n in names]
    p = run(["systemd-analyze", "verify", "--man=no"] + paths, cwd=d)
    if p.returncode != 0 or p.stdout.strip():
        fail("systemd-analyze verify:\n" + p.stdout)
    print(f"ok: systemd-analyze verify of {len(names)} units is clean")


def exposure(d, unit):
    p = run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
             os.path.join(d, unit)], cwd=d)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", p.stdout)
    if not m:
        fail(f"no exposure figure for {unit}:\n{p.stdout}")
    return float(m.group(1))


def check_security(d):
    bad = []
    for unit, limit in LIMITS.items():
        e = exposure(d, unit)
        print(f"    {unit:28} exposure {e:.1f} (limit {limit:.1f})")
        if e > limit:
            bad.append(unit)
    if bad:
        fail("exposure above the limit: " + ", ".join(bad))
    print("ok: systemd-analyze security exposure within limits")


def check_sysusers_tmpfiles(root):
    if os.geteuid() != 0:
        print("skip: sysusers/tmpfiles need root")
        return
    os.makedirs(os.path.join(root, "etc"))
    for f in ("passwd", "group", "shadow", "gshadow"):
        open(os.path.join(root, "etc", f), "w").close()
    p = run(["systemd-sysusers", "--root=" + root, os.path.join(UNITS, "sysusers.d", "tern.conf")])
    if p.returncode != 0:
        fail("systemd-sysusers:\n" + p.stdout)
    with open(os.path.join(root, "etc", "passwd")) as fp:
        pw = [l.split(":") for l in fp.read().splitlines()]
    tern = [e for e in pw if e[0] == "tern"]
    if not tern or tern[0][5] != "/var/spool/tern" or tern[0][6] != "/usr/sbin/nologin":
        fail(f"sysusers made no proper tern user: {pw}")
    uid = int(tern[0][2])
    p = run(["systemd-tmpfiles", "--root=" + root, "--create",
             os.path.join(UNITS, "tmpfiles.d", "tern.conf")])
    if p.returncode != 0:
        fail("systemd-tmpfiles:\n" + p.stdout)
    for sub in ("", "incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce"):
        st = os.stat(os.path.join(root, "var/spool/tern", sub))
        if st.st_uid != uid or st.st_mode & 0o7777 != 0o700:
            fail(f"/var/spool/tern/{sub}: uid {st.st_uid} mode {st.st_mode & 0o7777:o}")
    st = os.stat(os.path.join(root, "run/tern"))
    if st.st_uid != uid or st.st_mode & 0o7777 != 0o755:
        fail(f"/run/tern: uid {st.st_uid} mode {st.st_mode & 0o7777:o}")
    print("ok: sysusers.d makes the tern user, tmpfiles.d the queue and /run/tern")


def check_catalog(root):
    cat = os.path.join(root, "usr/lib/systemd/catalog")
    os.makedirs(cat, exist_ok=True)
    shutil.copy(os.path.join(UNITS, "catalog", "tern.catalog"), cat)
    with open(os.path.join(UNITS, "catalog", "tern.catalog")) as fp:
        ids = re.findall(r"^-- ([0-9a-f]{32})$", fp.read(), re.M)
    if len(ids) != CATALOG_IDS or len(set(ids)) != len(ids):
        fail(f"catalog: expected {CATALOG_IDS} distinct IDs, found {ids}")
    p = run(["journalctl", "--root=" + root, "--update-catalog"])
    if p.returncode != 0:
        fail("journalctl --update-catalog:\n" + p.stdout)
    p = run(["journalctl", "--root=" + root, "--list-catalog"])
    listed = re.findall(r"^([0-9a-f]{32}) tern: ", p.stdout, re.M)
    if sorted(listed) != sorted(ids):
        fail(f"catalog lists {listed}, expected {ids}")
    print(f"ok: the catalog compiles with {len(ids)} message IDs")


def main():
    for tool in ("systemd-analyze", "journalctl"):
        if not shutil.which(tool):
            print(f"skip: no {tool}")
            sys.exit(77)
    with tempfile.TemporaryDirectory() as d:
        names = stage_units(d)
        check_verify(d, names)
        check_security(d)
    with tempfile.TemporaryDirectory() as root:
        check_sysusers_tmpfiles(root)
    with tempfile.TemporaryDirectory() as root:
        check_catalog(root)


if __name__ == "__main__":
    main()
