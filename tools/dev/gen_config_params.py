#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Generates libshared/config_params.c, the parameter table, from the output of Postfix's
# "postconf -d" (the parameter names and defaults) and its postconf(5) manual page (time units),
# both taken from Debian's postfix package without installing it:
#   cd /tmp && apt-get download postfix && dpkg -x postfix_*.deb /tmp/pfx
#   mkdir /tmp/pc && cp /tmp/pfx/usr/share/postfix/master.cf.dist /tmp/pc/master.cf
#   LD_LIBRARY_PATH=/tmp/pfx/usr/lib/postfix /tmp/pfx/usr/sbin/postconf -c /tmp/pc -d \
#       > /tmp/pfx-defaults.txt
# The stock master.cf makes postconf list the per-transport parameters (smtp_, relay_, lmtp_,
# local_, virtual_, error_, retry_ ..._destination_concurrency_limit and friends); those of the
# example pipe services (maildrop, uucp, ifmail, bsmtp, scalemail-backend, mailman) are left out.
#   zcat /tmp/pfx/usr/share/man/man5/postconf.5.gz > /tmp/postconf.5
#   tools/dev/gen_config_params.py /tmp/pfx-defaults.txt /tmp/postconf.5 > libshared/config_params.c
# Only facts (names, defaults, units) are taken; the classification below is tern's own.
import re
import sys

defaults_file, man_file = sys.argv[1], sys.argv[2]

params = {}
for line in open(defaults_file):
    line = line.rstrip('\n')
    if ' = ' in line:
        name, value = line.split(' = ', 1)
    elif line.endswith(' ='):
        name, value = line[:-2], ''
    else:
        continue
    if name.startswith(('bsmtp_', 'ifmail_', 'maildrop_', 'mailman_', 'scalemail-backend_',
                        'uucp_')):
        continue
    params[name] = value

# Time units from postconf(5): "Time units: ..." and "The default time unit is X".
time_unit = {}
section = []
names = []
def flush():
    text = ' '.join(section)
    if 'Time units' in text or 'time unit' in text:
        m = re.search(r'default time unit is (\w)', text)
        for n in names:
            time_unit[n] = m.group(1) if m else 's'
for line in open(man_file):
    if line.startswith('.SH '):
        flush()
        section = []
        head = line[4:].replace('\\-', '-').replace('"', '')
        names = [head.split(' ')[0].rstrip(',')]
    else:
        section.append(line.strip())
flush()

# Defaults tern changes (config_directory and friends), per the tern design.
TERN_DEFAULTS = {
    'config_directory': '/etc/tern',
    'queue_directory': '/var/spool/tern',
    'daemon_directory': '/usr/libexec/tern',
    'command_directory': '/usr/sbin',
    'mail_owner': 'tern',
    'setgid_group': 'tern',
    'syslog_name': 'tern',
    'alias_maps': 'hash:/etc/aliases',
    'alias_database': 'hash:/etc/aliases',
    'data_directory': '/var/lib/tern',
    'mail_spool_directory': '/var/mail',
    'mail_name': 'tern',
    'meta_directory': '/etc/tern',
    'sample_directory': '/etc/tern',
    'shlib_directory': '/usr/lib/tern',
    'html_directory': '/usr/share/doc/tern/html',
    'readme_directory': '/usr/share/doc/tern',
    # tern starts at the current compatibility level: no legacy defaults.
    'compatibility_level': '3.7',
}
# Host- or process-specific: computed at run time (config.c), never copied.
DERIVED = {'myhostname', 'mydomain', 'mynetworks', 'process_id', 'process_name', 'mail_version'}

OBSOLETE = {
    'default_process_limit': 'replaced by MaxConnections= on the socket unit',
    'daemon_directory': 'programs are named by ExecStart= in the unit files',
    'process_id_directory': 'systemd tracks the main PID; there are no pid files',
    'syslog_facility': 'journald keeps the log; SyslogFacility= on the unit if needed',
    'setgid_group': 'no set-gid program: local submission uses the pickup socket (SO_PEERCRED)',
    'daemon_timeout': 'replaced by WatchdogSec= on the service unit',
    'fork_attempts': 'systemd starts the processes',
    'fork_delay': 'systemd starts the processes',
    'service_throttle_time': 'replaced by RestartSec= on the service unit',
    'master_service_disable': 'disable the socket unit instead (systemctl disable --now)',
    'import_environment': 'replaced by Environment= and PassEnvironment= on the unit',
    'shlib_directory': 'tern has no dynamically loaded libraries of its own',
    'meta_directory': 'tern has no postfix-files metadata; the package manager installs it',
    'html_directory': 'installation path used by post-install; the package installs tern',
    'manpage_directory': 'installation path used by post-install; the package installs tern',
    'readme_directory': 'installation path used by post-install; the package installs tern',
    'sample_directory': 'installation path used by post-install; the package installs tern',
    'stress': 'set by the Postfix master under overload; tern has no master process',
    'debugger_command': 'attach a debugger to the unit instead (systemd-run, gdb -p)',
    'hash_queue_depth': 'the queue layout is tern\'s own (DESIGN.md, Queue)',
    'hash_queue_names': 'the queue layout is tern\'s own (DESIGN.md, Queue)',
    'ipc_idle': 'no internal IPC daemons: tern uses libraries and socket units',
    'ipc_timeout': 'no internal IPC daemons: tern uses libraries and socket units',
    'ipc_ttl': 'no internal IPC daemons: tern uses libraries and socket units',
    'trigger_timeout': 'qmgr is woken by a datagram on its socket unit',
    'application_event_drain_time': 'systemd stops and restarts the services',
    'berkeley_db_create_buffer_size': 'hash: tables use GDBM, not Berkeley DB',
    'berkeley_db_read_buffer_size': 'hash: tables use GDBM, not Berkeley DB',
    'sun_mailtool_compatibility': 'long obsolete in Postfix too',
    'internal_mail_filter_classes': 'tern has no internal content filter feedback loop',
}
OBSOLETE_PREFIX = [
    ('multi_instance_', 'postmulti is not supported: run another instance with its own -c/TERN_CONFIG'),
    ('postmulti_', 'postmulti is not supported: run another instance with its own -c/TERN_CONFIG'),
    ('maillog_file', 'journald keeps the log (journalctl -u tern.target)'),
    ('postlog', 'journald keeps the log (journalctl -u tern.target)'),
]
OBSOLETE_SUFFIX = [
    ('_process_limit', 'replaced by MaxConnections= on the socket unit'),
    ('_service_name', 'services are socket units under /run/tern; master.cf does not exist'),
]

# Parameters read by the roles DESIGN.md plans (smtpd, cleanup, trivial-rewrite, qmgr, pickup,
# local, virtual, smtp, lmtp, pipe, error, discard, bounce notices, tools).
IMPLEMENTED_PREFIX = [
    'smtpd_', 'smtp_', 'lmtp_', 'tls_', 'virtual_', 'local_', 'mailbox_', 'qmgr_', 'queue_',
    'bounce_', 'default_', 'sender_', 'recipient_', 'relay', 'mail_', 'alias_', 'forward_',
    'allow_', 'canonical_', 'masquerade_', 'header_', 'body_', 'mime_', 'nested_header',
    'message_', 'smtputf8_', 'authorized_', 'command_', 'maximal_', 'minimal_', 'delay_',
    'defer_', 'deliver_', 'error_', 'empty_', 'enable_', 'disable_', 'strict_', 'append_',
    'resolve_', 'transport_', 'swap_', 'unknown_', 'inet_', 'my', 'sendmail_', 'newaliases_',
    'mailq_', 'parent_', 'propagate_', 'luser_', 'home_', 'always_', 'hopcount_', 'duplicate_',
    'double_', 'soft_', 'notify_', 'reject_', 'access_', 'initial_', 'destination_',
    'dont_remove', 'undisclosed_', 'line_length', 'plaintext_', 'execution_', 'prepend_',
    'remove_', 'expand_', 'fallback_', 'known_', 'max_', 'require_', 'unverified_',
    'receive_override', 'permit_', 'best_', 'broken_', 'detect_', 'dnssec_', 'dns_', 'ignore_',
    'info_', 'invalid_', 'helpful_', 'backwards_', 'confirm_', 'alternate_', 'show_', 'send_',
    'reset_', 'frozen_', 'fault_', 'compatibility_', 'config_', 'data_', 'syslog_', 'process_',
    'openssl_', 'cyrus_', 'relocated_', 'respectful_', '2bounce_', 'export_', 'maps_rbl',
    'rbl_', 'proxy_interfaces', 'owner_', 'pipe_', 'verp_', 'tcp_', 'stale_', 'biff',
]
PLANNED_PREFIX = [
    'postscreen_', 'tlsproxy_', 'dnsblog_', 'address_verify_', 'milter_', 'anvil_', 'lmdb_',
    'proxymap_', 'proxywrite_', 'proxy_read', 'proxy_write', 'fast_flush', 'flush_', 'showq_',
    'qmqpd_', 'smtpd_proxy_', 'smtpd_milter', 'non_smtpd_milters', 'content_filter',
    'tlsmgr_', 'in_flow_delay', 'debug_peer', 'remote_header_rewrite', 'connection_cache',
    'smtp_connection_cache', 'lmtp_connection_cache', 'smtpd_client_connection',
    'smtpd_client_message_rate', 'smtpd_client_recipient_rate', 'smtpd_client_new_tls',
    'smtpd_client_auth_rate', 'smtpd_client_event', 'smtpd_client_port', 'cleanup_',
    'smtp_address_verify', 'lmtp_address_verify', 'smtpd_reject_unlisted',
    'pickup_', 'trace_', 'rewrite_', 'scache', 'smtp_connection_reuse', 'lmtp_connection_reuse',
    'unverified_', 'biff', 'tcp_windowsize', 'smtpd_upstream_proxy', 'smtpd_policy_service_reuse',
    'service_', 'master_', 'daemon_', 'max_idle', 'max_use',
]
IMPLEMENTED_EXACT = {'max_idle', 'max_use', 'mydestination', 'relayhost', 'content_filter'}

def status(name):
    if name in OBSOLETE:
        return 'OBSOLETE', OBSOLETE[name]
    for p, why in OBSOLETE_PREFIX:
        if name.startswith(p):
            return 'OBSOLETE', why
    for s, why in OBSOLETE_SUFFIX:
        if name.endswith(s):
            return 'OBSOLETE', why
    if name in IMPLEMENTED_EXACT:
        return 'IMPLEMENTED', None
    for p in PLANNED_PREFIX:
        if name.startswith(p):
            return 'PLANNED', None
    for p in IMPLEMENTED_PREFIX:
        if name.startswith(p):
            return 'IMPLEMENTED', None
    return 'PLANNED', None

SIZE_RE = re.compile(r'(size_limit|_minfree|^virtual_mailbox_limit|^lmdb_map_size)$')
LIST_RE = re.compile(r'(_restrictions|_domains|_networks|^mynetworks|_interfaces|_protocols|'
                     r'_classes|_users|_options|_filter_classes|_lookup|_ciphers_exclude|'
                     r'_exclude_ciphers|_milters|_dnsbl_sites|_reply_filter|_components|'
                     r'_list|_environment|_names|_headers|_attributes|_ports|_sites|_mandatory_protocols|'
                     r'_drop_headers|_addresses)$')

def ptype(name, value):
    # per-transport parameters take the type of the default_ one they default to
    m = re.fullmatch(r'\$(default_\w+)', value)
    if m and m.group(1) in params and m.group(1) != name:
        return ptype(m.group(1), params[m.group(1)])
    resolved = value
    # the compatibility-level forms: type by the value at the current level
    m = re.match(r'^\$\{\{.*\} ?: ?\{(.*)\}\}$', value)
    if m:
        resolved = m.group(1)
    if name in time_unit:
        return 'TIME'
    if (name.endswith('_maps') or name.endswith('_checks') or
            name in ('alias_database', 'relay_clientcerts')):
        if name not in ('proxy_read_maps', 'proxy_write_maps'):
            return 'MAPS'
    if resolved in ('yes', 'no'):
        return 'BOOL'
    if re.fullmatch(r'-?[0-9]+', value):
        if SIZE_RE.search(name):
            return 'SIZE'
        return 'INT'
    if re.fullmatch(r'[0-9]+[smhdw]', value):
        return 'TIME'
    if LIST_RE.search(name) or name in ('proxy_read_maps', 'proxy_write_maps',
                                          'mydestination', 'notify_classes'):
        return 'LIST'
    return 'STRING'

def cstr(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'

out = []
out.append('/* SPDX-License-Identifier: GPL-3.0-or-later */')
out.append('/* config_params: the table of every main.cf parameter Postfix 3.7 knows, with its type,')
out.append(' * Postfix\'s default (adapted where tern differs: directories, mail_owner, syslog_name,')
out.append(' * alias_maps, mail_name, compatibility_level) and whether tern implements it, accepts it as')
out.append(' * obsolete (with the systemd replacement) or plans it. Sorted by name for bsearch().')
out.append(' * Generated by tools/dev/gen_config_params.py from "postconf -d" and postconf(5); edit the')
out.append(' * generator, not this file. A NULL default is derived at run time (config.c). */')
out.append('#include "config.h"')
out.append('#include "config_params.h"')
out.append('')
out.append('const ConfigParam config_params[] = {')
for name in sorted(params):
    value = TERN_DEFAULTS.get(name, params[name])
    st, note = status(name)
    t = ptype(name, value)
    m = re.fullmatch(r'\$(default_\w+)', value)
    unit_name = m.group(1) if m and t == 'TIME' and name not in time_unit else name
    unit = time_unit.get(unit_name, 's') if t == 'TIME' else None
    d = 'NULL' if name in DERIVED else cstr(value)
    if len(d) > 80:
        chunks = [value[i:i + 72] for i in range(0, len(value), 72)]
        d = '\n          '.join(cstr(c) for c in chunks)
    fields = [cstr(name), 'CONFIG_TYPE_' + t, d]
    fields.append("'%s'" % unit if unit else '0')
    fields.append('CONFIG_STATUS_' + st)
    fields.append(cstr(note) if note else 'NULL')
    line = '        { ' + ', '.join(fields) + ' },'
    if len(line) >= 100:
        line = '        { ' + ', '.join(fields[:3]) + ',\n          ' + ', '.join(fields[3:]) + ' },'
        if any(len(l) >= 100 for l in line.split('\n')):
            line = ('        { ' + ', '.join(fields[:2]) + ',\n          ' + fields[2] + ',\n          '
                    + ', '.join(fields[3:5]) + ',\n          ' + fields[5] + ' },')
    out.append(line)
out.append('};')
out.append('')
out.append('const size_t config_params_count = ELEMENTSOF(config_params);')
print('\n'.join(out))
