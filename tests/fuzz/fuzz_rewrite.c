/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target of rewrite: arbitrary bytes (up to the first NUL) as an internal-form address, fed
 * to rewrite_canonical() and rewrite_resolve() under two fixed configurations (Postfix's defaults
 * for the operators, and all of them switched the other way). Invariants: canonical returns 0 or
 * -EBADMSG, and its result is bounded and free of control bytes; resolve always returns 0 with
 * all three strings set; a result that is neither ERROR nor FAIL has a recipient with '@', a
 * valid class, FINAL exactly for LOCAL/ALIAS/VIRTUAL, and a LOCAL recipient's domain is one of
 * ours; ROUTED is set exactly when an operator precedes the final '@'; the relay test never
 * admits a DEFAULT-class or ROUTED address. */
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "rewrite.h"

#define FUZZ_REWRITE_MAX (REWRITE_ADDRESS_MAX + 64)

static const char *const configs[] = {
        "mydomain = ours.test\n"
        "mydestination = $myhostname, localhost.$mydomain, localhost, ours.test\n"
        "inet_interfaces = 127.0.0.1\n"
        "proxy_interfaces = 192.0.2.25\n"
        "relay_domains = relayed.test\n"
        "virtual_alias_domains = alias.test\n"
        "virtual_mailbox_domains = vmail.test\n"
        "transport_maps = inline:{ example.com=smtp:[192.168.23.56]:20025, ora.com=maildrop, "
        "{user@host.test=error:no mail accepted}, .example.com=relay:, *=smtp:out.test }\n",

        "mydomain = ours.test\n"
        "mydestination = $myhostname, ours.test\n"
        "inet_interfaces = 127.0.0.1\n"
        "relay_domains = relayed.test\n"
        "allow_percent_hack = no\n"
        "swap_bangpath = no\n"
        "resolve_dequoted_address = no\n"
        "resolve_null_domain = yes\n"
        "resolve_numeric_domain = yes\n"
        "append_dot_mydomain = yes\n"
        "append_at_myorigin = no\n"
        "allow_untrusted_routing = yes\n"
        "recipient_delimiter = +\n"
        "relayhost = [gw.ours.test]\n",
};

static RewriteSettings *settings[ELEMENTSOF(configs)];

static RewriteSettings *settings_get(size_t i) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        if (settings[i])
                return settings[i];
        r = config_new_with_hostname("mail.ours.test", &c);
        assert(r == 0);
        r = config_load_string(c, configs[i], strlen(configs[i]), "main.cf", NULL);
        assert(r == 0);
        r = rewrite_settings_new(c, &settings[i], NULL);
        assert(r == 0);
        return settings[i];
}

static void check_canonical(RewriteSettings *s, const char *a) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = rewrite_canonical(s, a, &out);
        assert(r == 0 || r == -EBADMSG);
        if (r < 0)
                return;
        /* At most a domain from the configuration is added. */
        assert(strlen(out) <= strlen(a) + 64);
        for (const char *p = out; *p; p++)
                assert((unsigned char) *p >= ' ' && *p != 0x7f);
        if (a[0] == '\0')
                assert(out[0] == '\0');
}

static void check_resolve(RewriteSettings *s, const char *a) {
        _cleanup_(rewrite_result_done) RewriteResult res = {};
        const char *domain, *op;
        int r, auth;

        r = rewrite_resolve(s, a, &res);
        assert(r == 0);
        assert(res.transport && res.nexthop && res.recipient);
        assert(res.cls >= 0 && res.cls < _REWRITE_CLASS_MAX);

        auth = rewrite_is_auth_destination(s, a);
        assert(auth == 0 || auth == 1 || auth == -EAGAIN);

        if (res.flags & (REWRITE_FLAG_ERROR | REWRITE_FLAG_FAIL)) {
                assert(auth <= 0);
                return;
        }
        domain = strrchr(res.recipient, '@');
        assert(domain);
        domain++;
        assert(!!(res.flags & REWRITE_FLAG_FINAL) == (res.cls <= REWRITE_CLASS_VIRTUAL));
        if (res.cls == REWRITE_CLASS_LOCAL)
                assert(rewrite_domain_is_local(s, domain) == 1);
        op = res.recipient + strcspn(res.recipient, "@!%");
        assert(!!(res.flags & REWRITE_FLAG_ROUTED) == (op + 1 != domain));
        if (auth == 1)
                assert(res.cls != REWRITE_CLASS_DEFAULT);
        if (auth == 1 && (res.flags & REWRITE_FLAG_ROUTED))
                assert(s == settings[1]);       /* allow_untrusted_routing = yes */
        assert(res.transport[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *a = NULL;

        if (size > FUZZ_REWRITE_MAX)
                return 0;
        log_set_quiet(true);

        a = strndup((const char *) data, size);
        assert(a);
        for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
                RewriteSettings *s = settings_get(i);

                check_canonical(s, a);
                check_resolve(s, a);
        }
        return 0;
}
