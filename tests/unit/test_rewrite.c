/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of rewrite: canonical rewriting (source routes, bang paths, percent hack, myorigin,
 * mydomain), resolution into every class, transport_maps in transport(5) order and result forms,
 * relayhost and sender-dependent tables, relocated_maps, the relay tricks with default and
 * non-default allow_percent_hack / swap_bangpath / resolve_dequoted_address, the
 * reject_unauth_destination test, lookup failures, and settings errors. Every Config is built
 * from a main.cf string; tables are texthash:, regexp: and inline: files under $TMPDIR; a failing
 * table is a socketmap: on a unix socket path that does not exist. */
#include <sys/stat.h>

#include "check_main.h"
#include "config.h"
#include "rewrite.h"

#define HOST "mail.ours.test"

static const char *tmpdir(void) {
        const char *t = getenv("TMPDIR");

        return t && *t ? t : "/tmp";
}

static void write_file(const char *name, const char *text) {
        _cleanup_free_ char *path = NULL;
        FILE *f;

        ck_assert_int_ge(asprintf(&path, "%s/%s", tmpdir(), name), 0);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

static void write_tables(void) {
        /* The seed's and transport(5)'s forms. */
        write_file("rewrite-transport",
                   "example.com      smtp:[192.168.23.56]:20025\n"
                   "ora.com          maildrop\n"
                   "user@host.test   error:no mail accepted\n"
                   ".example.com     relay:[sub-gw.test]\n"
                   "ours.test        :\n"
                   "hop.test         :[gateway.hop.test]\n"
                   "slow.test        slow:\n"
                   "bounce.test      error:\n"
                   "extuser@ext.test local:\n"
                   "*                smtp:outbound-relay.test\n");
        write_file("rewrite-transport.regexp",
                   "/^admin@pattern\\.test$/  local:\n"
                   "/^pattern\\.test$/        error:domain keys never reach pattern tables\n");
        write_file("rewrite-relocated",
                   "gone@ours.test   new@else.test\n"
                   "@moved.test      the new domain moved2.test\n");
        write_file("rewrite-sender-relay",
                   "boss@ours.test   [boss-relay.test]\n"
                   "@partner.test    [partner-relay.test]\n"
                   "<>               [bounce-relay.test]\n"
                   "dunno@ours.test  DUNNO\n");
}

/* main.cf: fixed names for the tests, then the case's lines (later lines win). */
static int settings_make(const char *extra, RewriteSettings **ret, char **ret_error) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;
        int r;

        write_tables();
        ck_assert_int_ge(asprintf(&text,
                                  "mydestination = $myhostname, localhost.$mydomain, localhost, "
                                  "ours.test\n"
                                  "inet_interfaces = 127.0.0.1\n"
                                  "proxy_interfaces = 192.0.2.25\n"
                                  "relay_domains = relayed.test\n"
                                  "virtual_alias_domains = alias.test\n"
                                  "virtual_mailbox_domains = vmail.test\n"
                                  "tables = %s\n"
                                  "%s\n", tmpdir(), strempty(extra)), 0);
        ck_assert_int_eq(config_new_with_hostname(HOST, &c), 0);
        r = config_load_string(c, text, strlen(text), "main.cf", &error);
        ck_assert_msg(r == 0, "main.cf: %s", strempty(error));
        return rewrite_settings_new(c, ret, ret_error);
}

static RewriteSettings *settings(const char *extra) {
        _cleanup_free_ char *error = NULL;
        RewriteSettings *s = NULL;
        int r;

        r = settings_make(extra, &s, &error);
        ck_assert_msg(r == 0, "settings: %d %s", r, strempty(error));
        return s;
}

/* ---- canonical ---- */

static const struct {
        const char *config;
        const char *input;
        const char *expected;
} canonical_cases[] = {
        { NULL, "", "" },
        { NULL, "user", "user@" HOST },
        { NULL, "user@host", "user@host" },     /* append_dot_mydomain = no at level 3.7 */
        { NULL, "user@example.com", "user@example.com" },
        { NULL, "user@example.com.", "user@example.com" },
        { NULL, "user@example.com..", "user@example.com.." },
        { NULL, "user@.", "user@." },
        { NULL, "site!user", "user@site" },
        { NULL, "a!b!user", "b!user@a" },
        { NULL, "user%site", "user@site" },
        { NULL, "user%a%b", "user%a@b" },
        { NULL, "foo!bar%baz", "bar%baz@foo" },
        { NULL, "user%site@dom", "user%site@dom" },     /* only without '@' */
        { NULL, "@a,@b:user@dom", "user@dom" },
        { NULL, "@a:user", "user@" HOST },
        { NULL, "@a:", "@a:" },
        { NULL, "a b%site", "a b%site@" HOST },         /* quoted: '%' is text */
        { NULL, "a b!site", "a b!site@" HOST },
        { NULL, "user@other@dom", "user@other@dom" },
        { NULL, "@", "@" },
        { "myorigin = ours.test", "user", "user@ours.test" },
        { "myorigin = $mydomain", "MAILER-DAEMON", "MAILER-DAEMON@ours.test" },
        { "append_at_myorigin = no", "user", "user" },
        { "append_dot_mydomain = yes", "user@host", "user@host.ours.test" },
        { "append_dot_mydomain = yes", "user@a.b", "user@a.b" },
        { "append_dot_mydomain = yes", "user@[192.0.2.1]", "user@[192.0.2.1]" },
        { "append_dot_mydomain = yes", "site!user", "user@site.ours.test" },
        { "append_dot_mydomain = yes", "user@", "user@" },
        { "append_dot_mydomain = yes\nmydomain =", "user@host", "user@host" },
        { "allow_percent_hack = no", "user%site", "user%site@" HOST },
        { "swap_bangpath = no", "site!user", "site!user@" HOST },
        { "swap_bangpath = no", "site!user%other", "site!user@other" },
        { "swap_bangpath = no\nallow_percent_hack = no", "site!u%o", "site!u%o@" HOST },
};

START_TEST(test_canonical)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = NULL;
        _cleanup_free_ char *out = NULL;

        s = settings(canonical_cases[_i].config);
        ck_assert_int_eq(rewrite_canonical(s, canonical_cases[_i].input, &out), 0);
        ck_assert_str_eq(out, canonical_cases[_i].expected);
}
END_TEST

START_TEST(test_canonical_errors)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(NULL);
        _cleanup_free_ char *longer = NULL;
        char *out = NULL;

        ck_assert_int_eq(rewrite_canonical(s, "user\r\n@host", &out), -EBADMSG);
        ck_assert_int_eq(rewrite_canonical(s, "us\ter", &out), -EBADMSG);
        ck_assert_int_eq(rewrite_canonical(s, "us\x7f" "er", &out), -EBADMSG);
        longer = malloc(REWRITE_ADDRESS_MAX + 2);
        ck_assert_ptr_nonnull(longer);
        memset(longer, 'a', REWRITE_ADDRESS_MAX + 1);
        longer[REWRITE_ADDRESS_MAX + 1] = '\0';
        ck_assert_int_eq(rewrite_canonical(s, longer, &out), -EBADMSG);
        longer[REWRITE_ADDRESS_MAX] = '\0';
        ck_assert_int_eq(rewrite_canonical(s, longer, &out), 0);
        ck_assert_ptr_nonnull(out);
        free(out);
}
END_TEST

/* ---- resolve ---- */

#define L REWRITE_CLASS_LOCAL
#define A REWRITE_CLASS_ALIAS
#define V REWRITE_CLASS_VIRTUAL
#define R REWRITE_CLASS_RELAY
#define D REWRITE_CLASS_DEFAULT
#define ROUTED REWRITE_FLAG_ROUTED
#define ERROR REWRITE_FLAG_ERROR
#define FINAL REWRITE_FLAG_FINAL

typedef struct ResolveCase {
        const char *config;
        const char *address;
        RewriteClass cls;
        unsigned flags;
        const char *transport;
        const char *nexthop;
        const char *recipient;
} ResolveCase;

static void check_resolve(const ResolveCase *c) {
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(c->config);
        _cleanup_(rewrite_result_done) RewriteResult res = {};

        ck_assert_int_eq(rewrite_resolve(s, c->address, &res), 0);
        ck_assert_msg(res.cls == c->cls && res.flags == c->flags &&
                      streq(res.transport, c->transport) && streq(res.nexthop, c->nexthop) &&
                      streq(res.recipient, c->recipient),
                      "<%s>: got %s %#x %s:%s <%s>, want %s %#x %s:%s <%s>", c->address,
                      rewrite_class_to_string(res.cls), res.flags, res.transport, res.nexthop,
                      res.recipient, rewrite_class_to_string(c->cls), c->flags, c->transport,
                      c->nexthop, c->recipient);
}

static const ResolveCase class_cases[] = {
        { NULL, "user@" HOST, L, FINAL, "local", HOST, "user@" HOST },
        { NULL, "user@ours.test", L, FINAL, "local", HOST, "user@ours.test" },
        { NULL, "User@OURS.test.", L, FINAL, "local", HOST, "User@OURS.test" },
        { NULL, "user@localhost", L, FINAL, "local", HOST, "user@localhost" },
        { NULL, "user", L, FINAL, "local", HOST, "user@" HOST },
        { NULL, "", L, FINAL, "local", HOST, "MAILER-DAEMON@" HOST },
        { NULL, "@ours.test", L, FINAL, "local", HOST, "MAILER-DAEMON@ours.test" },
        { "empty_address_recipient = postmaster@ours.test", "", L, FINAL, "local", HOST,
          "postmaster@ours.test" },
        { NULL, "user@[127.0.0.1]", L, FINAL, "local", HOST, "user@[127.0.0.1]" },
        { NULL, "user@[192.0.2.25]", L, FINAL, "local", HOST, "user@[192.0.2.25]" },
        { "inet_interfaces = [::1]", "user@[IPv6:::1]", L, FINAL, "local", HOST,
          "user@[IPv6:::1]" },
        { "inet_interfaces = loopback-only", "user@[IPv6:::1]", L, FINAL, "local", HOST,
          "user@[IPv6:::1]" },
        { NULL, "user@[192.0.2.26]", D, 0, "smtp", "[192.0.2.26]", "user@[192.0.2.26]" },
        { NULL, "user@sub.ours.test", D, 0, "smtp", "sub.ours.test", "user@sub.ours.test" },
        { "local_transport = local", "user@ours.test", L, FINAL, "local", "ours.test",
          "user@ours.test" },
        { "local_transport = lmtp:unix:private/dovecot", "u@ours.test", L, FINAL, "lmtp",
          "unix:private/dovecot", "u@ours.test" },
        { NULL, "user@alias.test", A, FINAL, "error",
          "5.1.1 User unknown in virtual alias table", "user@alias.test" },
        { "show_user_unknown_table_name = no", "user@alias.test", A, FINAL, "error",
          "5.1.1 User unknown", "user@alias.test" },
        { "virtual_alias_domains = $virtual_alias_maps\n"
          "virtual_alias_maps = inline:{ valias.test=x, u@valias.test=y }",
          "user@valias.test", A, FINAL, "error", "5.1.1 User unknown in virtual alias table",
          "user@valias.test" },
        { NULL, "user@vmail.test", V, FINAL, "virtual", "vmail.test", "user@vmail.test" },
        { "virtual_transport = lmtp:unix:private/dovecot-lmtp", "user@vmail.test", V, FINAL,
          "lmtp", "unix:private/dovecot-lmtp", "user@vmail.test" },
        { NULL, "user@relayed.test", R, 0, "relay", "relayed.test", "user@relayed.test" },
        { NULL, "user@sub.relayed.test", R, 0, "relay", "sub.relayed.test",
          "user@sub.relayed.test" },
        { "parent_domain_matches_subdomains =", "user@sub.relayed.test", D, 0, "smtp",
          "sub.relayed.test", "user@sub.relayed.test" },
        { NULL, "user@example.com", D, 0, "smtp", "example.com", "user@example.com" },
        { "compatibility_level = 0", "user@ours.test", L, FINAL, "local", HOST,
          "user@ours.test" },
        { "compatibility_level = 0\nrelay_domains = $mydestination", "user@sub.ours.test", R,
          0, "relay", "sub.ours.test", "user@sub.ours.test" },
        /* relayhost and transport nexthops */
        { "relayhost = [gw.ours.test]:587", "user@example.com", D, 0, "smtp",
          "[gw.ours.test]:587", "user@example.com" },
        { "relayhost = [gw.ours.test]:587", "user@relayed.test", R, 0, "relay",
          "[gw.ours.test]:587", "user@relayed.test" },
        { "relayhost = [gw.ours.test]:587", "user@ours.test", L, FINAL, "local", HOST,
          "user@ours.test" },
        { "relayhost = [gw.ours.test]:587", "user@vmail.test", V, FINAL, "virtual",
          "vmail.test", "user@vmail.test" },
        { "relayhost = [gw]\ndefault_transport = smtp:[fallback.test]", "u@example.com", D, 0,
          "smtp", "[fallback.test]", "u@example.com" },
        { "default_transport = error:outbound mail disabled", "u@example.com", D, 0, "error",
          "outbound mail disabled", "u@example.com" },
        { "relay_transport = smtp:[inside.test]", "u@relayed.test", R, 0, "smtp",
          "[inside.test]", "u@relayed.test" },
        /* malformed */
        { NULL, "user@1.2.3.4", D, ERROR, "error", "5.1.3 bad address syntax", "user@1.2.3.4" },
        { "resolve_numeric_domain = yes", "user@192.0.2.9", D, 0, "smtp", "[192.0.2.9]",
          "user@[192.0.2.9]" },
        { "resolve_numeric_domain = yes", "user@127.0.0.1", L, FINAL, "local", HOST,
          "user@[127.0.0.1]" },
        { NULL, "user@", D, ERROR, "error", "5.1.3 bad address syntax", "user@" },
        { "resolve_null_domain = yes", "user@", L, FINAL, "local", HOST, "user@" HOST },
        { NULL, "user@-bad.test", D, ERROR, "error", "5.1.3 bad address syntax",
          "user@-bad.test" },
        { NULL, "user@bad-.test", D, ERROR, "error", "5.1.3 bad address syntax",
          "user@bad-.test" },
        { NULL, "user@a..test", D, ERROR, "error", "5.1.3 bad address syntax",
          "user@a..test" },
        { NULL, "user@[1.2.3.4", D, ERROR, "error", "5.1.3 bad address syntax",
          "user@[1.2.3.4" },
        { NULL, "user@[1.2.3.400]", D, ERROR, "error", "5.1.3 bad address syntax",
          "user@[1.2.3.400]" },
        { NULL, "user@under_score.test", D, 0, "smtp", "under_score.test",
          "user@under_score.test" },
        { NULL, "-user@ours.test", L, ERROR | FINAL, "error", "5.1.3 bad address syntax",
          "-user@ours.test" },
        { "allow_min_user = yes", "-user@ours.test", L, FINAL, "local", HOST,
          "-user@ours.test" },
        { NULL, "us\ner@ours.test", D, ERROR, "error", "5.1.3 bad address syntax",
          "us?er@ours.test" },
};

START_TEST(test_resolve_classes)
{
        check_resolve(&class_cases[_i]);
}
END_TEST

/* The relay tricks: each must leave this host for "other.test", never resolve as local. */
static const ResolveCase trick_cases[] = {
        { NULL, "user%other.test@ours.test", D, 0, "smtp", "other.test", "user@other.test" },
        { NULL, "other.test!user@ours.test", D, 0, "smtp", "other.test", "user@other.test" },
        { NULL, "user@other.test@ours.test", D, 0, "smtp", "other.test", "user@other.test" },
        { NULL, "@ours.test:user@other.test", D, ROUTED, "smtp", "other.test",
          "@ours.test:user@other.test" },
        { NULL, "user%other.test@" HOST, D, 0, "smtp", "other.test", "user@other.test" },
        { NULL, "user%other.test@[127.0.0.1]", D, 0, "smtp", "other.test",
          "user@other.test" },
        { NULL, "user%other.test", D, 0, "smtp", "other.test", "user@other.test" },
        { NULL, "other.test!user", D, 0, "smtp", "other.test", "user@other.test" },
        { NULL, "user%other.test%ours.test@ours.test", D, 0, "smtp", "other.test",
          "user@other.test" },
        { NULL, "a!other.test!user@ours.test", D, ROUTED, "smtp", "a", "other.test!user@a" },
        { NULL, "user%x.test@other.test", D, ROUTED, "smtp", "other.test",
          "user%x.test@other.test" },
        { NULL, "a b%other.test@ours.test", D, 0, "smtp", "other.test", "a b@other.test" },
        { NULL, "a b!other.test@ours.test", D, ERROR, "error", "5.1.3 bad address syntax",
          "other.test@a b" },
        { NULL, "user@other.test@relayed.test", R, ROUTED, "relay", "relayed.test",
          "user@other.test@relayed.test" },
        { NULL, "user%other.test@relayed.test", R, ROUTED, "relay", "relayed.test",
          "user%other.test@relayed.test" },
        { NULL, "user@relayed.test@ours.test", R, 0, "relay", "relayed.test",
          "user@relayed.test" },
        { NULL, "user%ours.test@ours.test", L, FINAL, "local", HOST, "user@ours.test" },
        { NULL, "@other.test:user@ours.test", L, FINAL, "local", HOST, "user@" HOST },
        { NULL, "@ours.test,@ours.test:user@ours.test", L, FINAL, "local", HOST,
          "user@" HOST },
        { NULL, "@a:user", D, ERROR, "error", "5.1.3 bad address syntax", "@a:user" },
        /* The operators switched off: the address stays local, but ROUTED. */
        { "allow_percent_hack = no", "user%other.test@ours.test", L, ROUTED | FINAL, "local",
          HOST, "user%other.test@ours.test" },
        { "swap_bangpath = no", "other.test!user@ours.test", L, ROUTED | FINAL, "local", HOST,
          "other.test!user@ours.test" },
        { "resolve_dequoted_address = no", "user@other.test@ours.test", L, ROUTED | FINAL,
          "local", HOST, "user@other.test@ours.test" },
        { "allow_percent_hack = no", "user@other.test@ours.test", D, 0, "smtp", "other.test",
          "user@other.test" },
        { "swap_bangpath = no", "user%other.test@ours.test", D, 0, "smtp", "other.test",
          "user@other.test" },
        { "swap_bangpath = no", "a b!other.test@ours.test", L, ROUTED | FINAL, "local", HOST,
          "a b!other.test@ours.test" },
        { "allow_percent_hack = no", "a b%other.test@ours.test", L, ROUTED | FINAL, "local",
          HOST, "a b%other.test@ours.test" },
        { "append_dot_mydomain = yes", "user%other@ours.test", D, 0, "smtp",
          "other.ours.test", "user@other.ours.test" },
        { "relayhost = [gw.test]", "user%other.test@ours.test", D, 0, "smtp", "[gw.test]",
          "user@other.test" },
};

START_TEST(test_resolve_tricks)
{
        check_resolve(&trick_cases[_i]);
}
END_TEST

static const ResolveCase transport_cases[] = {
        { "transport_maps = texthash:$tables/rewrite-transport", "u@example.com", D, 0, "smtp",
          "[192.168.23.56]:20025", "u@example.com" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@ORA.com", D, 0,
          "maildrop", "ORA.com", "u@ORA.com" },
        { "transport_maps = texthash:$tables/rewrite-transport", "user@host.test", D, 0,
          "error", "no mail accepted", "user@host.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "other@host.test", D, 0,
          "smtp", "outbound-relay.test", "other@host.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@a.example.com", D, 0,
          "relay", "[sub-gw.test]", "u@a.example.com" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@x.y.example.com", D, 0,
          "relay", "[sub-gw.test]", "u@x.y.example.com" },
        { "transport_maps = texthash:$tables/rewrite-transport\n"
          "parent_domain_matches_subdomains = transport_maps", "u@a.example.com", D, 0,
          "smtp", "[192.168.23.56]:20025", "u@a.example.com" },
        /* "ours.test :" keeps what the class chose; "*" catches the other local names. */
        { "transport_maps = texthash:$tables/rewrite-transport", "u@ours.test", L, FINAL,
          "local", HOST, "u@ours.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@localhost", L, FINAL,
          "smtp", "outbound-relay.test", "u@localhost" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@hop.test", D, 0, "smtp",
          "[gateway.hop.test]", "u@hop.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@slow.test", D, 0, "slow",
          "slow.test", "u@slow.test" },
        { "transport_maps = texthash:$tables/rewrite-transport\nrelayhost = [gw.test]",
          "u@slow.test", D, 0, "slow", "slow.test", "u@slow.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@bounce.test", D, 0,
          "error", "Address is undeliverable", "u@bounce.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "u@alias.test", A, FINAL,
          "error", "5.1.1 User unknown in virtual alias table", "u@alias.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "extuser@ext.test", D, 0,
          "local", "ext.test", "extuser@ext.test" },
        { "transport_maps = texthash:$tables/rewrite-transport", "extuser+foo@ext.test", D, 0,
          "smtp", "outbound-relay.test", "extuser+foo@ext.test" },
        { "transport_maps = texthash:$tables/rewrite-transport\nrecipient_delimiter = +",
          "extuser+foo@ext.test", D, 0, "local", "ext.test", "extuser+foo@ext.test" },
        { "transport_maps = texthash:$tables/rewrite-transport\nrecipient_delimiter = +-",
          "extuser-foo@ext.test", D, 0, "local", "ext.test", "extuser-foo@ext.test" },
        /* Pattern tables: the full address only; the first table that answers wins. */
        { "transport_maps = regexp:$tables/rewrite-transport.regexp, "
          "texthash:$tables/rewrite-transport", "admin@pattern.test", D, 0, "local",
          "pattern.test", "admin@pattern.test" },
        { "transport_maps = regexp:$tables/rewrite-transport.regexp", "other@pattern.test", D,
          0, "smtp", "pattern.test", "other@pattern.test" },
        { "transport_maps = inline:{ example.com=smtp:[a.test] }, "
          "texthash:$tables/rewrite-transport", "u@example.com", D, 0, "smtp", "[a.test]",
          "u@example.com" },
        { "transport_maps = inline:{ {*=error:5.7.1 nothing goes out} }",
          "u@ours.test", L, FINAL, "error", "5.7.1 nothing goes out", "u@ours.test" },
        /* relocated_maps wins over everything, for any class. */
        { "relocated_maps = texthash:$tables/rewrite-relocated", "gone@ours.test", L, FINAL,
          "error", "5.1.6 User has moved to new@else.test", "gone@ours.test" },
        { "relocated_maps = texthash:$tables/rewrite-relocated", "gone@" HOST, L, FINAL,
          "local", HOST, "gone@" HOST },
        { "relocated_maps = texthash:$tables/rewrite-relocated", "any@moved.test", D, 0,
          "error", "5.1.6 User has moved to the new domain moved2.test", "any@moved.test" },
};

START_TEST(test_resolve_transport_maps)
{
        check_resolve(&transport_cases[_i]);
}
END_TEST

static const struct {
        const char *sender;
        const char *address;
        const char *transport;
        const char *nexthop;
} sender_cases[] = {
        { NULL, "u@example.com", "smtp", "[gw.test]" },
        { "boss@ours.test", "u@example.com", "uucp", "[boss-relay.test]" },
        { "boss@ours.test", "u@relayed.test", "relay", "[boss-relay.test]" },
        { "boss@ours.test", "u@ours.test", "local", HOST },
        { "x@partner.test", "u@example.com", "smtp", "[partner-relay.test]" },
        { "", "u@example.com", "smtp", "[bounce-relay.test]" },
        { "dunno@ours.test", "u@example.com", "smtp", "example.com" },
        { "other@ours.test", "u@example.com", "smtp", "[gw.test]" },
        { "boss@ours.test", "u@xport.test", "uucp", "[boss-relay.test]" },
        { "boss@ours.test", "u@hop.test", "uucp", "[hop-gw.test]" },
        { "x@partner.test", "u@hop.test", "smtp", "[hop-gw.test]" },
};

START_TEST(test_resolve_sender)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(
                "relayhost = [gw.test]\n"
                "sender_dependent_relayhost_maps = texthash:$tables/rewrite-sender-relay\n"
                "sender_dependent_default_transport_maps = inline:{ boss@ours.test=uucp }\n"
                "transport_maps = inline:{ {hop.test=:[hop-gw.test]} }");
        _cleanup_(rewrite_result_done) RewriteResult res = {};
        const char *address = sender_cases[_i].address;

        /* xport.test is not special: the sender picks uucp for off-host mail. */
        ck_assert_int_eq(rewrite_resolve_sender(s, sender_cases[_i].sender, address, &res), 0);
        ck_assert_msg(streq(res.transport, sender_cases[_i].transport) &&
                      streq(res.nexthop, sender_cases[_i].nexthop),
                      "<%s> from <%s>: %s:%s", address, strempty(sender_cases[_i].sender),
                      res.transport, res.nexthop);
}
END_TEST

START_TEST(test_resolve_long_input)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(NULL);
        _cleanup_(rewrite_result_done) RewriteResult res = {};
        _cleanup_free_ char *a = NULL;
        size_t n = REWRITE_ADDRESS_MAX - 20;

        /* Many local hops: every one is stripped, the loop stays within its bound. */
        a = malloc(n + 1);
        ck_assert_ptr_nonnull(a);
        for (size_t i = 0; i < n; i++)
                a[i] = i % 2 ? '%' : 'x';
        a[n] = '\0';
        ck_assert_int_eq(rewrite_resolve(s, a, &res), 0);
        ck_assert_int_eq(res.flags & REWRITE_FLAG_FAIL, 0);
        rewrite_result_done(&res);

        free(a);
        a = malloc(REWRITE_ADDRESS_MAX + 10);
        ck_assert_ptr_nonnull(a);
        memset(a, 'y', REWRITE_ADDRESS_MAX + 9);
        a[REWRITE_ADDRESS_MAX + 9] = '\0';
        ck_assert_int_eq(rewrite_resolve(s, a, &res), 0);
        ck_assert_int_eq(res.flags, REWRITE_FLAG_ERROR);
        ck_assert_uint_eq(strlen(res.recipient), REWRITE_ADDRESS_MAX);

        /* An empty $empty_address_recipient never ends: the loop bound makes it FAIL. */
        rewrite_result_done(&res);
        rewrite_settings_free(TAKE_PTR(s));
        s = settings("empty_address_recipient = @ours.test");
        ck_assert_int_eq(rewrite_resolve(s, "", &res), 0);
        ck_assert_int_eq(res.flags, REWRITE_FLAG_FAIL);
        ck_assert_str_eq(res.transport, "retry");
}
END_TEST

/* ---- lookup failures ---- */

static const struct {
        const char *config;
        const char *address;
        bool fail;
} failure_cases[] = {
        { "mydestination = socketmap:unix:$tables/no-such-socket:dest", "u@example.com", true },
        { "mydestination = " HOST ", socketmap:unix:$tables/no-such-socket:dest",
          "u@" HOST, false },
        { "mydestination = socketmap:unix:$tables/no-such-socket:dest", "u%x@y", true },
        { "relay_domains = socketmap:unix:$tables/no-such-socket:relay", "u@example.com",
          true },
        { "relay_domains = socketmap:unix:$tables/no-such-socket:relay", "u@ours.test",
          false },
        { "relay_domains = socketmap:unix:$tables/no-such-socket:relay", "u@vmail.test",
          false },
        { "virtual_alias_domains = socketmap:unix:$tables/no-such-socket:va", "u@vmail.test",
          true },
        { "virtual_mailbox_domains = socketmap:unix:$tables/no-such-socket:vm",
          "u@relayed.test", true },
        { "virtual_mailbox_domains = socketmap:unix:$tables/no-such-socket:vm",
          "u@alias.test", false },
        { "transport_maps = socketmap:unix:$tables/no-such-socket:t", "u@ours.test", true },
        { "transport_maps = socketmap:unix:$tables/no-such-socket:t", "u@alias.test", false },
        { "transport_maps = inline:{ u@ours.test=local: }, "
          "socketmap:unix:$tables/no-such-socket:t", "u@ours.test", false },
        { "relocated_maps = socketmap:unix:$tables/no-such-socket:r", "u@ours.test", true },
        { "sender_dependent_relayhost_maps = socketmap:unix:$tables/no-such-socket:s",
          "u@example.com", false },     /* no sender: not consulted */
};

START_TEST(test_lookup_failures)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(failure_cases[_i].config);
        _cleanup_(rewrite_result_done) RewriteResult res = {};
        int auth;

        ck_assert_int_eq(rewrite_resolve(s, failure_cases[_i].address, &res), 0);
        ck_assert_int_eq(!!(res.flags & REWRITE_FLAG_FAIL), failure_cases[_i].fail);
        ck_assert_ptr_nonnull(res.transport);
        ck_assert_ptr_nonnull(res.nexthop);
        ck_assert_ptr_nonnull(res.recipient);
        if (failure_cases[_i].fail) {
                ck_assert_str_eq(res.transport, "retry");
                ck_assert_int_eq(rewrite_is_auth_destination(s, failure_cases[_i].address),
                                 -EAGAIN);
        } else {
                auth = rewrite_is_auth_destination(s, failure_cases[_i].address);
                ck_assert_int_ge(auth, 0);
        }
}
END_TEST

START_TEST(test_lookup_failure_sender)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(
                "sender_dependent_relayhost_maps = socketmap:unix:$tables/no-such-socket:s");
        _cleanup_(rewrite_result_done) RewriteResult res = {};

        ck_assert_int_eq(rewrite_resolve_sender(s, "a@b.test", "u@example.com", &res), 0);
        ck_assert_uint_eq(res.flags, REWRITE_FLAG_FAIL);
        rewrite_result_done(&res);
        ck_assert_int_eq(rewrite_resolve_sender(s, "a@b.test", "u@ours.test", &res), 0);
        ck_assert_uint_eq(res.flags, REWRITE_FLAG_FINAL);
}
END_TEST

/* ---- reject_unauth_destination ---- */

static const struct {
        const char *config;
        const char *address;
        int expected;
} auth_cases[] = {
        { NULL, "user@ours.test", 1 },
        { NULL, "user", 1 },
        { NULL, "user@[127.0.0.1]", 1 },
        { NULL, "user@alias.test", 1 },
        { NULL, "user@vmail.test", 1 },
        { NULL, "user@relayed.test", 1 },
        { NULL, "user@sub.relayed.test", 1 },
        { NULL, "user@example.com", 0 },
        { NULL, "user%other.test@ours.test", 0 },
        { NULL, "other.test!user@ours.test", 0 },
        { NULL, "user@other.test@ours.test", 0 },
        { NULL, "@ours.test:user@other.test", 0 },
        { NULL, "user%other.test@relayed.test", 0 },
        { NULL, "user%ours.test@ours.test", 1 },
        { NULL, "user@1.2.3.4", 0 },
        { NULL, "-user@ours.test", 0 },
        { "allow_percent_hack = no", "user%other.test@ours.test", 0 },
        { "allow_percent_hack = no\nallow_untrusted_routing = yes", "user%other.test@ours.test",
          1 },
        { "allow_untrusted_routing = yes", "user%other.test@relayed.test", 1 },
        { "allow_untrusted_routing = yes", "user%other.test@ours.test", 0 },
        { "swap_bangpath = no", "other.test!user@ours.test", 0 },
        { "resolve_dequoted_address = no", "user@other.test@ours.test", 0 },
        { "compatibility_level = 0", "user@localhost", 1 },
        { "mydestination =", "user@ours.test", 0 },
        { "mydestination =", "user@[192.0.2.25]", 1 },
};

START_TEST(test_auth_destination)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(auth_cases[_i].config);

        ck_assert_msg(rewrite_is_auth_destination(s, auth_cases[_i].address) ==
                      auth_cases[_i].expected, "<%s>", auth_cases[_i].address);
}
END_TEST

static const struct {
        const char *domain;
        int expected;
} local_cases[] = {
        { HOST, 1 },
        { "OURS.TEST", 1 },
        { "ours.test.", 1 },
        { "ours.test..", 0 },
        { ".", 0 },
        { "", 0 },
        { "localhost.ours.test", 1 },
        { "sub.ours.test", 0 },
        { "[127.0.0.1]", 1 },
        { "[192.0.2.25]", 1 },
        { "[192.0.2.26]", 0 },
        { "[IPv6:::1]", 0 },
        { "[127.0.0.1", 0 },
        { "[1.2.3.4.5]", 0 },
        { "[]", 0 },
};

START_TEST(test_domain_is_local)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = settings(NULL);

        ck_assert_msg(rewrite_domain_is_local(s, local_cases[_i].domain) ==
                      local_cases[_i].expected, "%s", local_cases[_i].domain);
}
END_TEST

/* ---- settings ---- */

static const struct {
        const char *config;
        int expected;
        const char *message;            /* a substring of the error */
} settings_cases[] = {
        { "swap_bangpath = maybe", -EBADMSG, "swap_bangpath" },
        { "resolve_dequoted_address = 1x", -EBADMSG, "resolve_dequoted_address" },
        { "transport_maps = texthash:$tables/no-such-file", -ENOENT, "transport_maps" },
        { "relocated_maps = nosuchtype:x", -EPROTONOSUPPORT, "relocated_maps" },
        { "mydestination = /nonexistent/rewrite-dest", -ENOENT, "mydestination" },
        { "relay_domains = !", -EBADMSG, "relay_domains" },
        { "virtual_alias_domains = texthash:$tables/no-such-file", -ENOENT,
          "virtual_alias_domains" },
        { "inet_interfaces = []", -EBADMSG, "inet_interfaces" },
        { "proxy_interfaces = all", -EADDRNOTAVAIL, "proxy_interfaces" },
        { "local_transport =", -EBADMSG, "local_transport" },
        { "default_transport =", -EBADMSG, "default_transport" },
        { "myhostname =", -EBADMSG, "myhostname" },
        { "myorigin = $a\na = $myorigin", -ELOOP, "myorigin" },
};

START_TEST(test_settings_errors)
{
        _cleanup_free_ char *error = NULL;
        RewriteSettings *s = NULL;

        ck_assert_int_eq(settings_make(settings_cases[_i].config, &s, &error),
                         settings_cases[_i].expected);
        ck_assert_ptr_null(s);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, settings_cases[_i].message), "%s", error);
}
END_TEST

START_TEST(test_settings_interfaces)
{
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = NULL;

        /* "all": whatever this host has; loopback is always there. */
        s = settings("inet_interfaces = all");
        ck_assert_int_eq(rewrite_domain_is_local(s, "[127.0.0.1]"), 1);
        rewrite_settings_free(TAKE_PTR(s));
        s = settings("inet_interfaces = 127.0.0.1, [::1]\nproxy_interfaces =");
        ck_assert_int_eq(rewrite_domain_is_local(s, "[IPv6:::1]"), 1);
        ck_assert_int_eq(rewrite_domain_is_local(s, "[192.0.2.25]"), 0);
        ck_assert_ptr_null(rewrite_settings_free(TAKE_PTR(s)));
        ck_assert_ptr_null(rewrite_settings_free(NULL));
}
END_TEST

START_TEST(test_class_strings)
{
        for (int i = 0; i < _REWRITE_CLASS_MAX; i++) {
                const char *n = rewrite_class_to_string((RewriteClass) i);

                ck_assert_ptr_nonnull(n);
                ck_assert_int_eq(rewrite_class_from_string(n), i);
        }
        ck_assert_str_eq(rewrite_class_to_string(REWRITE_CLASS_RELAY), "relay");
        ck_assert_ptr_null(rewrite_class_to_string(_REWRITE_CLASS_MAX));
        ck_assert_ptr_null(rewrite_class_to_string(_REWRITE_CLASS_INVALID));
        ck_assert_int_eq(rewrite_class_from_string("Local"), _REWRITE_CLASS_INVALID);
        ck_assert_int_eq(rewrite_class_from_string(NULL), _REWRITE_CLASS_INVALID);
}
END_TEST

static Suite *rewrite_suite(void) {
        Suite *s = suite_create("rewrite");
        TCase *tc;

        tc = tcase_create("canonical");
        tcase_add_loop_test(tc, test_canonical, 0, ELEMENTSOF(canonical_cases));
        tcase_add_test(tc, test_canonical_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("resolve");
        tcase_add_loop_test(tc, test_resolve_classes, 0, ELEMENTSOF(class_cases));
        tcase_add_loop_test(tc, test_resolve_tricks, 0, ELEMENTSOF(trick_cases));
        tcase_add_loop_test(tc, test_resolve_transport_maps, 0, ELEMENTSOF(transport_cases));
        tcase_add_loop_test(tc, test_resolve_sender, 0, ELEMENTSOF(sender_cases));
        tcase_add_test(tc, test_resolve_long_input);
        tcase_add_loop_test(tc, test_lookup_failures, 0, ELEMENTSOF(failure_cases));
        tcase_add_test(tc, test_lookup_failure_sender);
        suite_add_tcase(s, tc);

        tc = tcase_create("auth_destination");
        tcase_add_loop_test(tc, test_auth_destination, 0, ELEMENTSOF(auth_cases));
        tcase_add_loop_test(tc, test_domain_is_local, 0, ELEMENTSOF(local_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("settings");
        tcase_add_loop_test(tc, test_settings_errors, 0, ELEMENTSOF(settings_cases));
        tcase_add_test(tc, test_settings_interfaces);
        tcase_add_test(tc, test_class_strings);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(rewrite_suite)
