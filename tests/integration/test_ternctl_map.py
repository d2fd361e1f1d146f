#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""ternctl map / ternctl alias / newaliases, run as an administrator would: build, query, dump,
duplicates, a bad line that keeps the old database, case folding, keys from standard input,
aliases with :include:, |command and /file values, newaliases driven by alias_database.

TERN_BUILD_ROOT is the build directory; ternctl is tools/ternctl/ternctl under it. Every test runs
in its own temporary directory, used as the configuration directory (-c)."""

import os
import subprocess
import sys
import tempfile
import unittest

BUILD_ROOT = os.environ.get("TERN_BUILD_ROOT", "build")
TERNCTL = os.path.join(BUILD_ROOT, "tools", "ternctl", "ternctl")
EX_USAGE = 64


class MapTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="test_ternctl_map.")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)
        return self.path(name)

    def ternctl(self, *args, stdin=None, prog=None):
        argv = [prog or TERNCTL]
        if prog is None:
            argv += ["-c", self.dir]
        argv += list(args)
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)     # messages on stderr, not in the journal
        env.pop("TERN_CONFIG", None)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                              timeout=60, check=False)

    def ok(self, *args, **kw):
        p = self.ternctl(*args, **kw)
        self.assertEqual(p.returncode, 0, f"{args}: {p.stderr}")
        return p


class MapBuild(MapTestCase):
    def test_build_query_dump(self):
        src = self.write("access", "# comment\nExample.COM  OK\n\n"
                                   "spammer@example.net REJECT go away\n"
                                   "192.168.1\tDUNNO\n  continued\n")
        self.ok("map", "build", src)
        self.assertTrue(os.path.exists(src + ".db"))

        p = self.ok("map", "query", "example.com", "hash:" + src)
        self.assertEqual(p.stdout, "OK\n")
        # keys fold at lookup too, and a bare file name means hash:
        p = self.ok("map", "query", "EXAMPLE.com", src)
        self.assertEqual(p.stdout, "OK\n")
        # postmap keeps the continuation line's leading white space
        p = self.ok("map", "query", "192.168.1", src)
        self.assertEqual(p.stdout, "DUNNO  continued\n")

        p = self.ternctl("map", "query", "nowhere.example", "hash:" + src)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")

        p = self.ok("map", "dump", "hash:" + src)
        self.assertEqual(sorted(p.stdout.splitlines()), sorted([
            "example.com\tOK",
            "spammer@example.net\tREJECT go away",
            "192.168.1\tDUNNO  continued",
        ]))

    def test_postfix_style_options(self):
        src = self.write("t", "a 1\nb 2\n")
        self.ok("map", src)
        self.assertEqual(self.ok("map", "-q", "A", "hash:" + src).stdout, "1\n")
        self.assertEqual(self.ternctl("map", "-q", "c", src).returncode, 1)
        self.assertEqual(sorted(self.ok("map", "-s", src).stdout.splitlines()),
                         ["a\t1", "b\t2"])

    def test_duplicates_keep_first(self):
        src = self.write("t", "k first\nK second\nother x\n")
        p = self.ok("map", "build", src)
        self.assertIn("line 2: duplicate entry", p.stderr)
        self.assertIn('"k"', p.stderr)
        self.assertEqual(self.ok("map", "query", "k", src).stdout, "first\n")

    def test_bad_line_keeps_old_database(self):
        src = self.write("t", "old value\n")
        self.ok("map", "build", src)
        before = os.stat(src + ".db")

        self.write("t", "new value\nbadline\n")
        p = self.ternctl("map", "build", src)
        self.assertEqual(p.returncode, 1)
        self.assertIn(src, p.stderr)
        self.assertIn("line 2", p.stderr)
        after = os.stat(src + ".db")
        self.assertEqual(before.st_ino, after.st_ino)
        self.assertEqual(self.ok("map", "query", "old", src).stdout, "value\n")
        self.assertEqual(self.ternctl("map", "query", "new", src).returncode, 1)
        # no temporary file is left behind
        self.assertEqual(sorted(os.listdir(self.dir)), ["t", "t.db"])

    def test_case_folding(self):
        src = self.write("t", "MixedCase value\n")
        self.ok("map", "build", src)
        self.assertEqual(self.ok("map", "query", "mixedcase", src).stdout, "value\n")
        self.assertEqual(self.ok("map", "dump", src).stdout, "mixedcase\tvalue\n")

        self.ok("map", "build", "-f", src)
        self.assertEqual(self.ok("map", "dump", src).stdout, "MixedCase\tvalue\n")
        self.assertEqual(self.ok("map", "query", "-f", "MixedCase", src).stdout, "value\n")
        self.assertEqual(self.ternctl("map", "query", "-f", "mixedcase", src).returncode, 1)

    def test_stdin_queries(self):
        src = self.write("t", "a 1\nb 2\nc 3\n")
        self.ok("map", "build", src)
        p = self.ok("map", "query", "-", src, stdin="a\nzz\nC\n\nb\n")
        self.assertEqual(p.stdout, "a\t1\nC\t3\nb\t2\n")
        p = self.ternctl("map", "query", "-", src, stdin="x\ny\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")

    def test_several_tables_first_answer_wins(self):
        one = self.write("one", "a from-one\n")
        two = self.write("two", "a from-two\nb from-two\n")
        self.ok("map", "build", one, two)
        self.assertEqual(self.ok("map", "query", "a", one, two).stdout, "from-one\n")
        self.assertEqual(self.ok("map", "query", "b", one, two).stdout, "from-two\n")

    def test_errors(self):
        missing = self.path("missing")
        p = self.ternctl("map", "query", "k", "hash:" + missing)
        self.assertEqual(p.returncode, 2)
        self.assertIn(missing, p.stderr)

        p = self.ternctl("map", "build", missing)
        self.assertEqual(p.returncode, 1)
        self.assertIn(missing, p.stderr)
        self.assertFalse(os.path.exists(missing + ".db"))

        src = self.write("t", "a b\n")
        p = self.ternctl("map", "build", "cdb:" + src)
        self.assertEqual(p.returncode, 1)
        self.assertIn("type cdb: nothing to build", p.stderr)

        p = self.ternctl("map", "query", "k", "nosuchtype:" + src)
        self.assertEqual(p.returncode, 2)

    def test_usage(self):
        for args in (["map"], ["map", "frobnicate"], ["map", "build"], ["map", "query"],
                     ["map", "query", "key"], ["map", "dump"], ["map", "build", "-x", "f"],
                     ["alias", "build", "-f"], ["alias"]):
            p = self.ternctl(*args)
            self.assertEqual(p.returncode, EX_USAGE, args)
            self.assertIn("Usage:", p.stderr, args)
        self.assertEqual(self.ternctl("map", "--help").returncode, 0)


ALIASES = """\
# /etc/aliases for the test
MAILER-DAEMON: postmaster
postmaster:    root
root:          john,
               "|/usr/bin/logger -t rootmail",
               /var/log/root.mail
staff:         :include:/etc/tern/staff.list
"Jane Doe":    jane@example.com
Root:          duplicate
"""


class AliasBuild(MapTestCase):
    def test_alias_build_file(self):
        src = self.write("aliases", ALIASES)
        p = self.ok("alias", "build", src)
        self.assertIn("line 9: duplicate entry", p.stderr)
        self.assertEqual(self.ok("alias", "query", "ROOT", src).stdout,
                         'john, "|/usr/bin/logger -t rootmail", /var/log/root.mail\n')
        self.assertEqual(self.ok("alias", "query", "staff", src).stdout,
                         ":include:/etc/tern/staff.list\n")
        self.assertEqual(self.ok("alias", "query", "jane doe", src).stdout,
                         "jane@example.com\n")
        self.assertEqual(self.ok("alias", "query", "mailer-daemon", src).stdout,
                         "postmaster\n")
        self.assertEqual(self.ternctl("alias", "query", "nobody", src).returncode, 1)
        # the sentinel postalias writes
        self.assertEqual(self.ok("alias", "query", "@", src).stdout, "@\n")

        p = self.ok("alias", "query", "-", src, stdin="postmaster\nnobody\nStaff\n")
        self.assertEqual(p.stdout, "postmaster:\troot\nStaff:\t:include:/etc/tern/staff.list\n")

        dump = self.ok("alias", "dump", src).stdout.splitlines()
        self.assertIn("@:\t@", dump)
        self.assertIn("postmaster:\troot", dump)
        self.assertEqual(len(dump), 6)

        # the map verb reads the same database
        self.assertEqual(self.ok("map", "query", "postmaster", "hash:" + src).stdout, "root\n")

    def test_alias_bad_line(self):
        src = self.write("aliases", "old: value\n")
        self.ok("alias", "build", src)
        for text, line in (("a: b\nno colon here\n", 2), ("a: b\nroot@example.com: x\n", 2),
                           ('a: "|unterminated\n', 1), ("  cont\n", 1), ("a:\n", 1)):
            self.write("aliases", text)
            p = self.ternctl("alias", "build", src)
            self.assertEqual(p.returncode, 1, text)
            self.assertIn(f"{src}, line {line}:", p.stderr, text)
            self.assertEqual(self.ok("alias", "query", "old", src).stdout, "value\n", text)

    def test_alias_build_from_main_cf(self):
        src = self.write("aliases", ALIASES)
        self.write("main.cf", f"alias_database = hash:{src}\n")
        self.ok("alias", "build")
        self.assertTrue(os.path.exists(src + ".db"))
        # query and dump without a table use alias_database too
        self.assertEqual(self.ok("alias", "query", "postmaster").stdout, "root\n")

    def test_newaliases_symlink(self):
        src = self.write("aliases", "root: admin\n")
        other = self.write("more-aliases", "postmaster: root\n")
        self.write("main.cf", f"alias_database = hash:{src}, hash:{other}\n"
                              "alias_maps = hash:/nonexistent\n")
        bindir = self.path("bin")
        os.mkdir(bindir)
        link = os.path.join(bindir, "newaliases")
        os.symlink(os.path.abspath(TERNCTL), link)

        p = self.ternctl("-c", self.dir, prog=link)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.ok("alias", "query", "root", src).stdout, "admin\n")
        self.assertEqual(self.ok("alias", "query", "postmaster", other).stdout, "root\n")

        # a bad aliases file makes newaliases fail, naming the file and line
        self.write("aliases", "root: admin\nbroken\n")
        p = self.ternctl("-c", self.dir, prog=link)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{src}, line 2", p.stderr)
        self.assertEqual(self.ok("alias", "query", "root", src).stdout, "admin\n")

    def test_newaliases_environment(self):
        src = self.write("aliases", "root: admin\n")
        self.write("main.cf", f"alias_database = hash:{src}\n")
        link = self.path("newaliases")
        os.symlink(os.path.abspath(TERNCTL), link)
        env = dict(os.environ, TERN_CONFIG=self.dir)
        env.pop("JOURNAL_STREAM", None)
        p = subprocess.run([link], capture_output=True, text=True, env=env, timeout=60,
                           check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(src + ".db"))


if __name__ == "__main__":
    if not os.access(TERNCTL, os.X_OK):
        print(f"{TERNCTL}: not built", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
