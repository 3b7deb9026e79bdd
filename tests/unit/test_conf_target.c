// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* kbal_conf_pass_target(): the request-target a ProxyPass rule sends on. */
#include <errno.h>
#include <stdlib.h>
#include "unit.h"
#include "conf.h"

static int target(const struct kbal_conf *c, const char *uri, char *out, size_t outlen)
{
	int p = kbal_conf_match_pass(c, -1, uri, strlen(uri));

	if (p < 0)
		return -ENOENT;
	return kbal_conf_pass_target(&c->pass[p], uri, strlen(uri), out, outlen);
}

/* The rule's path was cut off the bytes sent, not off the path it matched:
 * "/public/../public/x" went out as "/api/../public/x", which the member
 * reads as /public/x, outside /api, and an absolute-form URL lost its
 * scheme's first bytes (tests/fuzz/fuzz_request checks the sent path stays
 * inside the target, and fails on the old code) */
UNIT_TEST(conf_pass_target_as_mod_proxy)
{
	static const struct {
		const char *uri, *want;
	} cases[] = {
		{ "/public/x", "/api/x" },
		{ "/public", "/api" },
		{ "/public/../public/x", "/api/x" },
		{ "/public/%2e%2e/public/x", "/api/x" },
		{ "/x/../public//y/./z", "/api/y/z" },
		{ "/publi%63/x?a=%20b&c", "/api/x?a=%20b&c" },
		{ "/public/a%20b%25c%7e\"<>", "/api/a%20b%25c~%22%3C%3E" },
		{ "/public/;x=1:@&=+$,!*'()", "/api/;x=1:@&=+$,!*'()" },
		{ "http://front/public/x?q#frag", "/api/x?q" },
		{ "/other/x", "/other/x" },       /* "ProxyPass / balancer://c/" */
		/* httpd's r->uri, re-encoded: "/%61pi//x" reaches the member
		 * as "/api/x" (the "/" rule is the identity only for a path
		 * already in that form: heads_request()) */
		{ "/%61pi//x?q", "/api/x?q" },
		{ "/a/./b/../c|d", "/a/c%7Cd" },
		/* "ProxyPass /strip balancer://c": nothing left of the path is
		 * mod_proxy_http's "/", also before a query (it was "?q=1") */
		{ "/strip", "/" },
		{ "/strip?q=1", "/?q=1" },
		{ "/strip/x?q=1", "/x?q=1" },
	};
	struct kbal_conf *c = malloc(sizeof(*c));
	char err[256], out[64];

	if (!ASSERT_EQ(kbal_conf_parse("t.conf", "Listen 8080\n<Proxy balancer://c>\n"
				       "BalancerMember http://127.0.0.1:9001\n</Proxy>\n"
				       "ProxyPass /public balancer://c/api\n"
				       "ProxyPass /strip balancer://c\n"
				       "ProxyPass / balancer://c/\n", c, err, sizeof(err), NULL, NULL),
		       0, err))
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = target(c, cases[i].uri, out, sizeof(out));

		if (ASSERT_EQ(n, strlen(cases[i].want), cases[i].uri))
			ASSERT_STREQ(out, cases[i].want, cases[i].uri);
	}
	ASSERT_EQ(target(c, "/public/x", out, 6), -ENAMETOOLONG, "out too small");
	ASSERT_EQ(target(c, "/public/%zz", out, sizeof(out)), -ENOENT, "a bad escape matches nothing");
	ASSERT_EQ(kbal_conf_pass_target(&c->pass[0], "/other", 6, out, sizeof(out)), -EINVAL,
		  "a rule that does not match");
out:
	free(c);
}
