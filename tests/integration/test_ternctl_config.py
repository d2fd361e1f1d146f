#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# ternctl config (postconf) against a temporary configuration directory: listing, -n, -d, -x,
# -h, -o, -e, -#, --check; and every main.cf line of the seed documents
# (data/seeds-main.cf) passing --check and printed back by -n.
import os
import re
import subprocess
import sys
import tempfile

BUILD = os.environ.get('TERN_BUILD_ROOT', 'build')
SOURCE = os.environ.get('TERN_SOURCE_ROOT', os.path.join(os.path.dirname(__file__), '..', '..'))
TERNCTL = os.path.join(BUILD, 'tools', 'ternctl', 'ternctl')
failures = []


def run(*args, config=None, check_rc=None):
    cmd = [TERNCTL] + (['-c', config] if config else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, TERN_CONFIG=''))
    if check_rc is not None and p.returncode != check_rc:
        fail(f'{cmd}: exit {p.returncode}, expected {check_rc}\nstdout: {p.stdout}\n'
             f'stderr: {p.stderr}')
    return p


def fail(msg):
    failures.append(msg)
    print('FAIL: ' + msg, file=sys.stderr)


def expect(cond, msg):
    if not cond:
        fail(msg)


def parse_main_cf(text):
    """The expected effect of a main.cf: last assignment wins, continuations joined by a space."""
    values, lines, cur = {}, {}, None
    for n, line in enumerate(text.split('\n'), 1):
        line = line.rstrip()
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        if line[0] in ' \t':
            name, first = cur
            values[name] = (values[name] + ' ' + line.strip()).strip()
            continue
        name, value = re.match(r'([^\s=]+)\s*=\s*(.*)$', line).groups()
        values[name] = value
        lines[name] = n
        cur = (name, n)
    return values, lines


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def main_cf(d, text):
    write(os.path.join(d, 'main.cf'), text)


def test_listing(d):
    main_cf(d, '# comment\nmyhostname = mx.example.com\nmyorigin = $mydomain\n'
               'my_class = permit\nsmtpd_restriction_classes = my_class\n')
    p = run('config', config=d, check_rc=0)
    names = [l.split(' =')[0] for l in p.stdout.splitlines()]
    expect(len(names) > 800, f'listing has {len(names)} parameters')
    expect(names == sorted(names), 'listing is sorted')
    expect('myorigin = $mydomain' in p.stdout.splitlines(), 'values are shown unexpanded')
    expect('relayhost =' in p.stdout.splitlines(), 'an empty value prints as "name ="')

    p = run('config', '-n', config=d, check_rc=0)
    expect(p.stdout == 'my_class = permit\nmyhostname = mx.example.com\nmyorigin = $mydomain\n'
                      'smtpd_restriction_classes = my_class\n', f'-n: {p.stdout!r}')

    p = run('config', '-x', 'myorigin', 'mydomain', config=d, check_rc=0)
    expect(p.stdout == 'myorigin = example.com\nmydomain = example.com\n', f'-x: {p.stdout!r}')

    p = run('config', '-h', 'myorigin', config=d, check_rc=0)
    expect(p.stdout == '$mydomain\n', f'-h: {p.stdout!r}')

    p = run('config', '-d', 'myorigin', 'message_size_limit', 'config_directory',
            'queue_directory', 'mail_owner', config=d, check_rc=0)
    expect(p.stdout == 'myorigin = $myhostname\nmessage_size_limit = 10240000\n'
                      'config_directory = /etc/tern\nqueue_directory = /var/spool/tern\n'
                      'mail_owner = tern\n', f'-d: {p.stdout!r}')

    p = run('config', '-d', '-x', 'mynetworks_style', 'relay_domains', config=d, check_rc=0)
    expect(p.stdout == 'mynetworks_style = host\nrelay_domains =\n', f'-dx: {p.stdout!r}')

    p = run('config', 'mydestinaton', 'myhostname', config=d, check_rc=0)
    expect(p.stdout == 'myhostname = mx.example.com\n', f'unknown name: {p.stdout!r}')
    expect("ternctl: warning: mydestinaton: unknown parameter; did you mean 'mydestination'?"
           in p.stderr, f'unknown name: {p.stderr!r}')

    p = run('config', '-o', 'myhostname=other.example.org', '-x', 'mydomain', 'myhostname',
            config=d, check_rc=0)
    expect(p.stdout == 'mydomain = example.org\nmyhostname = other.example.org\n',
           f'-o: {p.stdout!r}')
    # the -o lines of the seed's master.cf
    p = run('config', '-o', 'syslog_name=postfix/smtps', '-o', 'smtpd_tls_wrappermode=yes',
            '-o', 'smtp_fallback_relay=', 'syslog_name', 'smtpd_tls_wrappermode',
            'smtp_fallback_relay', config=d, check_rc=0)
    expect(p.stdout == 'syslog_name = postfix/smtps\nsmtpd_tls_wrappermode = yes\n'
                      'smtp_fallback_relay =\n', f'-o seeds: {p.stdout!r}')
    run('config', '-o', 'novalue', config=d, check_rc=64)

    # TERN_CONFIG is honoured when there is no -c
    p = subprocess.run([TERNCTL, 'config', '-n'], capture_output=True, text=True,
                       env=dict(os.environ, TERN_CONFIG=d))
    expect('myhostname = mx.example.com' in p.stdout, 'TERN_CONFIG')


def test_edit(d):
    original = ('# Keep this comment.\nmyhostname = old.example.com\n\n'
                'smtpd_recipient_restrictions =\n    permit_mynetworks,\n'
                '    reject_unauth_destination\n# and this one\nrelayhost = [a]\n')
    main_cf(d, original)
    run('config', '-e', 'myhostname = new.example.com', 'smtpd_recipient_restrictions=reject',
        'mydomain = example.com', config=d, check_rc=0)
    with open(os.path.join(d, 'main.cf')) as f:
        text = f.read()
    expect(text == '# Keep this comment.\nmyhostname = new.example.com\n\n'
                   'smtpd_recipient_restrictions = reject\n# and this one\nrelayhost = [a]\n'
                   'mydomain = example.com\n', f'-e: {text!r}')
    # the postconf -e example of the seed
    run('config', '-e', 'myhostname=nasa.cs.nctu.edu.tw', config=d, check_rc=0)
    p = run('config', 'myhostname', config=d, check_rc=0)
    expect(p.stdout == 'myhostname = nasa.cs.nctu.edu.tw\n', f'-e seed: {p.stdout!r}')

    run('config', '-#', 'relayhost', config=d, check_rc=0)
    with open(os.path.join(d, 'main.cf')) as f:
        text = f.read()
    expect('#relayhost = [a]\n' in text and '# Keep this comment.\n' in text, f'-#: {text!r}')
    p = run('config', '-n', config=d, check_rc=0)
    expect('relayhost' not in p.stdout, '-# unsets')
    run('config', '-e', 'no equals sign', config=d, check_rc=64)
    run('config', '-e', config=d, check_rc=64)

    # a missing main.cf is created by -e
    os.unlink(os.path.join(d, 'main.cf'))
    run('config', '-e', 'relayhost = [b]', config=d, check_rc=0)
    p = run('config', '-n', config=d, check_rc=0)
    expect(p.stdout == 'relayhost = [b]\n', f'-e creates: {p.stdout!r}')


def test_check(d):
    main_cf(d, '# ok\nmyhostname = mx.example.com\n')
    p = run('config', '--check', config=d, check_rc=0)
    expect(p.stderr == '', f'clean check: {p.stderr!r}')

    main_cf(d, '# size\nmyhostname = mx.example.com\n\nmessage_size_limit = 10M\n')
    p = run('config', '--check', config=d, check_rc=1)
    expect(f'{d}/main.cf, line 4: bad numerical value for parameter message_size_limit: 10M'
           in p.stderr, f'10M: {p.stderr!r}')

    main_cf(d, 'virtual_mailbox_domain = abc.com.tw, xyz.com.tw\nmydestinaton = x\n'
               'masquerade_class = envelope_sender\n')
    p = run('config', '--check', config=d, check_rc=1)
    expect(f"{d}/main.cf, line 1: unknown parameter 'virtual_mailbox_domain'; did you mean "
           "'virtual_mailbox_domains'?" in p.stderr, f'hint: {p.stderr!r}')
    expect(f"{d}/main.cf, line 2: unknown parameter 'mydestinaton'; did you mean "
           "'mydestination'?" in p.stderr, f'hint: {p.stderr!r}')
    expect(f"{d}/main.cf, line 3: unknown parameter 'masquerade_class'; did you mean "
           "'masquerade_classes'?" in p.stderr, f'hint: {p.stderr!r}')

    main_cf(d, 'biff = affirmative\nsmtpd_timeout = 5x\nrelayhost = $nosuch\n'
               'a = $b\nb = $a\nmyorigin = $a\ntransport_maps = hash:%s/missing\n'
               'smtpd_recipient_restrictions = check_sender_access hash:%s/nothere\n' % (d, d))
    p = run('config', '--check', config=d, check_rc=1)
    for want in ['line 1: bad boolean value (yes or no) for parameter biff: affirmative',
                 'line 2: bad time value', 'line 3: relayhost: undefined parameter \'$nosuch\'',
                 'line 6: parameter myorigin: reference cycle: myorigin -> a -> b -> a',
                 'line 7: transport_maps:', 'line 8: smtpd_recipient_restrictions:']:
        expect(want in p.stderr, f'check: {want!r} not in {p.stderr!r}')

    main_cf(d, 'default_process_limit = 50\n')
    p = run('config', '--check', config=d, check_rc=0)
    expect('notice' in p.stderr and 'MaxConnections=' in p.stderr, f'obsolete: {p.stderr!r}')

    main_cf(d, 'relayhost\n')
    p = run('config', '--check', config=d, check_rc=1)
    expect(f"{d}/main.cf, line 1: missing '=' after parameter name" in p.stderr,
           f'syntax: {p.stderr!r}')


TABLES = {
    'clientcerts': '57:8E:95:63:67:CD:2B:96:7C:0A:3A:61:46:A5:95:EA   kdent@ora.com\n',
    'sender_access': 'myfriend@example.com    OK\njunk@spam.com           REJECT\n'
                     'marketing@              REJECT\ntheboss@                OK\n'
                     'deals.marketing.com     REJECT\nsomedomain.com          OK\n',
    'canonical': 'lctseng lctseng@cs.nctu.edu.tw\n',
    'virtual': '/^root@(t)?csmail\\w*\\.cs\\.nctu\\.edu\\.tw$/ root@example.com\n',
    'relocated': 'lctseng EC319, NCTU, Hsinchu, ROC\n',
    'transport': 'csie.nctu.edu.tw smtp:[mailgate.csie.nctu.edu.tw]\nabc.com ondemand\n',
    'mynetworks': '127.0.0.0/8 OK\n',
    'vmailbox': 'ceo@abc.com.tw abc-domain/CEO\n',
    'virtual_uids': 'ceo@abc.com.tw 1004\n',
}


def test_seeds(d):
    with open(os.path.join(SOURCE, 'tests', 'integration', 'data', 'seeds-main.cf')) as f:
        text = f.read().replace('@DIR@', d)
    main_cf(d, text)
    for name, content in TABLES.items():
        write(os.path.join(d, name), content)
        run('map', 'build', 'hash:' + os.path.join(d, name), config=d, check_rc=0)
    write(os.path.join(d, 'aliases'), 'postmaster: root\n')
    run('alias', 'build', os.path.join(d, 'aliases'), config=d, check_rc=0)

    p = run('config', '--check', config=d)
    expect(p.returncode == 0, f'seeds --check exit {p.returncode}: {p.stderr}')
    expect('unknown parameter' not in p.stderr, f'seeds unknown: {p.stderr}')
    expect('warning' not in p.stderr, f'seeds warnings: {p.stderr}')

    expected, _ = parse_main_cf(text)
    p = run('config', '-n', config=d, check_rc=0)
    got = {}
    for line in p.stdout.splitlines():
        name, _, value = line.partition(' =')
        got[name] = value[1:] if value.startswith(' ') else value
    for name, value in expected.items():
        expect(got.get(name) == value, f'-n {name}: {got.get(name)!r} != {value!r}')
    expect(set(got) == set(expected), f'-n names: {set(got) ^ set(expected)}')

    p = run('config', '-x', 'mydestination', 'myorigin', config=d, check_rc=0)
    expect(p.stdout == 'mydestination = demo1.nasa.lctseng.nctucs.net, '
                      'localhost.nasa.lctseng.nctucs.net, localhost, nasa.lctseng.nctucs.net\n'
                      'myorigin = demo1.nasa.lctseng.nctucs.net\n', f'seeds -x: {p.stdout!r}')


def main():
    if not os.access(TERNCTL, os.X_OK):
        print(f'{TERNCTL} not built; skipping')
        return 77
    for test in (test_listing, test_edit, test_check, test_seeds):
        with tempfile.TemporaryDirectory(dir=os.environ.get('TMPDIR')) as d:
            test(d)
    if failures:
        print(f'{len(failures)} failure(s)', file=sys.stderr)
        return 1
    print('ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
