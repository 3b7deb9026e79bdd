// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ProxyPassMatch (user/conf_proxy.c, user/conf_match.c, user/conf_check.c):
 * parsing and its errors, matching in order with ProxyPass, $N
 * substitution as ap_pregsub(), exclusion, and kbald -t's warnings. */
#include <errno.h>
#include <stdlib.h>
#include "unit.h"
#include "conf.h"
#include "conf_match.h"

#include "conf_run.h"

#define HEAD "Listen 8080\n<Proxy balancer://a>\nBalancerMember http://127.0.0.1:9001\n</Proxy>\n" \
	     "<Proxy balancer://b>\nBalancerMember http://127.0.0.1:9002\n</Proxy>\n"   /* 7 lines */

UNIT_TEST(ppm_parse)
{
	struct run *r = run(HEAD
			    "ProxyPassMatch \"^/api/v(\\d+)/(.*)$\" balancer://a/v$1/$2 timeout=5\n"  /* 8 */
			    "ProxyPassMatch ^/private !\n"                                       /* 9 */
			    "ProxyPassMatch \\.gif$ balancer://b\n"                               /* 10 */
			    "ProxyPassMatch ^/x(.*)$ balancer://a$1\n"                            /* 11 */
			    "ProxyPass ~ ^/t/(.*) balancer://b$1\n"                               /* 12 */
			    "ProxyPass / balancer://b/\n");
	const struct kbal_conf_pass *p = r->c->pass;

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	ASSERT_EQ(r->c->npass, 6, "six rules");
	ASSERT_EQ(p[0].regex, 1, "ProxyPassMatch is a regex rule");
	ASSERT_STREQ(p[0].path, "^/api/v(\\d+)/(.*)$", "the pattern as written");
	ASSERT_STREQ(p[0].target, "/v$1/$2", "the target with its $N");
	ASSERT_EQ(p[0].balancer, 0, "balancer://a");
	ASSERT_EQ(r->c->balancers[0].timeout_ms, 5000, "key=value sets the balancer's");
	ASSERT_EQ(p[0].line, 8, "its line");
	ASSERT_EQ(p[1].regex && p[1].exclude && p[1].balancer == -1, 1, "a regex exclusion");
	ASSERT_STREQ(p[2].target, "", "no path after the name");
	ASSERT_EQ(p[3].balancer, 0, "the name ends at '$'");
	ASSERT_STREQ(p[3].target, "$1", "and $1 follows it");
	ASSERT_EQ(p[4].regex, 1, "ProxyPass ~ REGEX is ProxyPassMatch's");
	ASSERT_STREQ(p[4].path, "^/t/(.*)", "ProxyPass ~'s pattern");
	ASSERT_STREQ(p[4].target, "$1", "ProxyPass ~'s name ends at '$' too");
	ASSERT_EQ(p[5].regex, 0, "ProxyPass stays a prefix");
	ASSERT_EQ(r->nwarn, 0, r->warn);
out:
	done(r);
}

UNIT_TEST(ppm_errors_name_the_line)
{
	expect_err(HEAD "\nProxyPassMatch ^/(a balancer://a/$1\n",
		   "t.conf:9: ProxyPassMatch ^/(a: the regular expression does not compile: "
		   "missing closing parenthesis at offset 4");
	expect_err(HEAD "ProxyPassMatch ^/a\n",
		   "t.conf:8: ProxyPassMatch needs a regex and a URL (or !)");
	expect_err(HEAD "ProxyPassMatch ~ ^/a balancer://a/\n",
		   "t.conf:8: ProxyPassMatch invalid syntax ('~' usage)");
	expect_err(HEAD "ProxyPassMatch ^/a ! timeout=1\n",
		   "t.conf:8: ProxyPassMatch ^/a !: takes no parameters");
	expect_err(HEAD "ProxyPassMatch ^/a balancer://nope/\n",
		   "t.conf:8: ProxyPassMatch ^/a: balancer://nope is not defined (no BalancerMember for it)");
	expect_err(HEAD "ProxyPassMatch ^/a balancer://a/$1 nocanon\n",
		   "t.conf:8: ProxyPassMatch ^/a: nocanon is not supported by kbal with a regex");
	expect_err(HEAD "ProxyPassMatch ^/a balancer://a/ noquery\n",
		   "t.conf:8: ProxyPassMatch ^/a: noquery is not supported by kbal");
	expect_err(HEAD "ProxyPassMatch ^/a https://127.0.0.1:9001/\n",
		   "t.conf:8: ProxyPassMatch https://127.0.0.1:9001/: https needs TLS, which kbal does "
		   "not have");
	expect_err(HEAD "ProxyPassMatch ^/(.*) balancer://a\\$1/\n",
		   "t.conf:8: balancer://a\\$1/: bad character '\\' in the balancer name");
	expect_err(HEAD "<Location /x>\nProxyPassMatch balancer://a/\n</Location>\n",
		   "t.conf:9: ProxyPassMatch inside <Location> is not supported by kbal: give it "
		   "at server level, with its regex (ProxyPassMatch REGEX balancer://NAME...)");
	/* ProxyPass's name still ends at '/' only */
	expect_err(HEAD "ProxyPass /a balancer://a$1\n",
		   "t.conf:8: balancer://a$1: bad character '$' in the balancer name");
}

/* kbal_conf_pass_target() of the rule uri matches; -ENOENT: none */
static int target(const struct kbal_conf *c, const char *uri, char *out, size_t outlen)
{
	int p = kbal_conf_match_pass(c, -1, uri, strlen(uri));

	if (p < 0)
		return -ENOENT;
	return kbal_conf_pass_target(&c->pass[p], uri, strlen(uri), out, outlen);
}

/* mod_proxy's proxy_trans(): ProxyPass and ProxyPassMatch in one list, in
 * configuration order, the first that matches r->uri wins */
UNIT_TEST(ppm_order_with_proxypass)
{
	struct run *r = run(HEAD
			    "ProxyPass /balancer-manager !\n"                          /* 0 */
			    "ProxyPassMatch ^/api/private(/|$) !\n"                   /* 1 */
			    "ProxyPassMatch ^/api/v(\\d+)/(.*)$ balancer://a/v$1/$2\n" /* 2 */
			    "ProxyPass /api/ balancer://a/plain/\n"                    /* 3 */
			    "ProxyPassMatch \\.gif$ balancer://b\n"                    /* 4 */
			    "ProxyPass / balancer://b/\n"                              /* 5 */
			    "ProxyPassMatch ^/never balancer://a/\n");                 /* 6 */
	static const struct { const char *uri; int rule; } cases[] = {
		{ "/api/private", 1 }, { "/api/private/x", 1 }, { "/api/privatex", 3 },
		{ "/api/v1/x", 2 }, { "/api/v/x", 3 }, { "/api/vx/1", 3 }, { "/api/v1", 3 },
		{ "/a.gif", 4 }, { "/api/a.gif", 3 }, { "/a.gif/b", 5 }, { "/a.GIF", 5 },
		{ "/balancer-manager", 0 }, { "/never", 5 },
		/* on the decoded, dot-free, slash-merged path (r->uri) */
		{ "/%61pi/v2/y", 2 }, { "/x/../api/v3/z", 2 }, { "//api//v4/z", 2 },
		{ "/api/v5/z?q=.gif", 2 }, { "/x?y=.gif", 5 }, { "/p%2Egif", 4 },
		{ "/%2F", -1 },
	};

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ASSERT_EQ(kbal_conf_match_pass(r->c, -1, cases[i].uri, strlen(cases[i].uri)),
			  cases[i].rule, cases[i].uri);
out:
	done(r);
}

/* ap_pregsub() on r->uri, the URL httpd builds from it, %-encoded by the
 * canon handlers, then the query (tests/e2e/test_proxypassmatch.py checks
 * these against apache2 itself) */
UNIT_TEST(ppm_substitution)
{
	struct run *r = run(HEAD
			    "ProxyPassMatch ^/api/v(\\d+)/(.*)$ balancer://a/version$1/$2\n"
			    "ProxyPassMatch \\.gif$ balancer://b\n"
			    "ProxyPassMatch ^/img/ balancer://b/\n"
			    "ProxyPassMatch ^/x(.*)$ balancer://a$1\n"
			    "ProxyPassMatch ^/q/(.*)$ balancer://a/q?x=$1\n"
			    "ProxyPassMatch ^/opt(/a)?(/b)$ balancer://a/o$1$2\n"
			    "ProxyPassMatch ^/esc/(.*)$ balancer://a/e/\\$1/$1/$0/$9\n"
			    "ProxyPassMatch ^/ten/(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)$ balancer://a/$9$1\n"
			    "ProxyPass / balancer://b/\n");
	static const struct { const char *uri, *want; } cases[] = {
		{ "/api/v2/users?q=1", "/version2/users?q=1" },
		{ "/api/v10/a%20b", "/version10/a%20b" },
		{ "/api/v3/../v4/z", "/version4/z" },
		{ "/api/v1/%7e%22x", "/version1/~%22x" },
		{ "/pics/a.gif", "/pics/a.gif" },             /* nothing substituted: + r->uri */
		{ "/img/b.png?s=1", "//img/b.png?s=1" },      /* "/" + r->uri */
		{ "/x/abc", "/abc" },
		{ "/x", "/" },                                 /* balancer://a: "/" */
		{ "/q/a%3Fb?y=1", "/q%3Fx=a%3Fb?y=1" },        /* '?' made: encoded */
		{ "/opt/b", "/o/b" },                          /* $1 unset: nothing */
		{ "/opt/a/b", "/o/a/b" },
		{ "/esc/k", "/e/$1/k//esc/k/" },                /* \$ is '$', $0 all, $9 none */
		{ "/ten/abcdefghijk", "/ia" },                 /* past $9: groups still set */
		{ "http://h/x/abs#frag", "/abs" },
	};
	char out[128];

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = target(r->c, cases[i].uri, out, sizeof(out));

		if (ASSERT_EQ(n, strlen(cases[i].want), cases[i].uri))
			ASSERT_STREQ(out, cases[i].want, cases[i].uri);
	}
	/* balancer://a$1 with $1 "yz": httpd looks for balancer://ayz (500) */
	ASSERT_EQ(target(r->c, "/xyz", out, sizeof(out)), -EXDEV, "the name ran on");
	ASSERT_EQ(target(r->c, "/api/v2/users", out, 8), -ENAMETOOLONG, "out too small");
	ASSERT_EQ(kbal_conf_pass_target(&r->c->pass[0], "/other", 6, out, sizeof(out)), -EINVAL,
		  "a regex rule that does not match");
out:
	done(r);
}

UNIT_TEST(ppm_exclusion)
{
	struct run *r = run(HEAD "ProxyPassMatch \\.php$ !\nProxyPass / balancer://a/\n");

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	ASSERT_EQ(kbal_conf_match_pass(r->c, -1, "/x/y.php", 8), 0, "excluded");
	ASSERT_EQ(r->c->pass[0].exclude, 1, "by the exclusion");
	ASSERT_EQ(kbal_conf_match_pass(r->c, -1, "/y.php5", 7), 1, "not excluded");
	ASSERT_EQ(kbal_conf_match_pass(r->c, -1, "/y.php?x", 8), 0, "the query is not matched");
out:
	done(r);
}

/* kbald -t: warnings only where they are proven */
UNIT_TEST(ppm_warnings)
{
	/* a catch-all before: every regex rule after it is shadowed; an
	 * anchored prefix under an earlier ProxyPass too; "/app" does not
	 * take all of "^/apple" nor "^/app" (which may go on "/appx") */
	struct run *r = run(HEAD
			    "ProxyPass /app/ balancer://a/\n"                 /* 8 */
			    "ProxyPass /app balancer://a/x\n"                 /* 9 */
			    "ProxyPassMatch ^/app/(.*) balancer://b/$1\n"     /* 10 */
			    "ProxyPassMatch ^/apple balancer://b/\n"          /* 11 */
			    "ProxyPassMatch ^/app balancer://b/\n"            /* 12 */
			    "ProxyPassMatch ^/app/x|^/z balancer://b/\n"      /* 13 */
			    "ProxyPassMatch ^/ap?p/ balancer://b/\n"          /* 14 */
			    "ProxyPass / balancer://b/\n"                     /* 15 */
			    "ProxyPassMatch \\.gif$ balancer://a\n");         /* 16 */

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	ASSERT_HAS(r->warn, "t.conf:10: ProxyPassMatch ^/app/(.*) is never applied: every path it "
		   "matches starts with what ProxyPass /app/ at line 8 takes first (Apache matches "
		   "in configuration order)\n", "anchored prefix shadowed");
	ASSERT_HAS(r->warn, "t.conf:16: ProxyPassMatch \\.gif$ is never applied: every path it "
		   "matches starts with what ProxyPass / at line 15 takes first", "catch-all");
	ASSERT_TRUE(!strstr(r->warn, ":11:") && !strstr(r->warn, ":12:") &&
		    !strstr(r->warn, ":13:") && !strstr(r->warn, ":14:"), r->warn);
	ASSERT_TRUE(!strstr(r->warn, "ProxyPass /app is never") &&
		    !strstr(r->warn, "ProxyPass / is never"), "a regex shadows no ProxyPass");
	ASSERT_TRUE(!strstr(r->warn, "slash"), "no slash warning for a regex target");
	ASSERT_EQ(r->nwarn, 2, r->warn);
	done(r);

	/* the manager: proxied only where the regex does match its path */
	r = run(HEAD "ProxyPassMatch ^/bal balancer://a/\nProxyPass / balancer://b/\n"
		"<Location /balancer-manager>\nSetHandler balancer-manager\n</Location>\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_HAS(r->warn, "t.conf:10: SetHandler balancer-manager in <Location /balancer-manager> "
		   "is not reached at /balancer-manager: ProxyPassMatch ^/bal at line 8 proxies it "
		   "first; put \"ProxyPass /balancer-manager !\" before that rule\n", "manager");
	done(r);
	r = run(HEAD "ProxyPass /balancer-manager !\nProxyPassMatch ^/bal balancer://a/\n"
		"ProxyPassMatch ^/(.*)$ balancer://b/$1\n"
		"<Location /balancer-manager>\nSetHandler balancer-manager\n</Location>\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(r->nwarn, 0, r->warn);
	done(r);

	/* access rules apply to proxied paths: which sections a regex rule
	 * may proxy (the kernel keeps a request only where none refuses) */
	r = run(HEAD "ProxyPassMatch ^/app/(.*)$ balancer://a/$1\n"
		"<Location /private>\nRequire ip 10.0.0.0/8\n</Location>\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(kbal_conf_location_proxied(r->c, 0), 0, "a path ^/app/ cannot reach");
	done(r);
	r = run(HEAD "ProxyPassMatch \\.gif$ balancer://a\n"
		"<Location /private>\nRequire ip 10.0.0.0/8\n</Location>\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(kbal_conf_location_proxied(r->c, 0), 1, "an unanchored regex");
	done(r);
	r = run(HEAD "ProxyPassMatch ^/priv balancer://a\n"
		"<Location /private>\nRequire ip 10.0.0.0/8\n</Location>\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(kbal_conf_location_proxied(r->c, 0), 1, "a regex leading under the path");
	done(r);
out:
	;
}

UNIT_TEST(ppm_regex_prefix)
{
	static const struct { const char *re, *prefix; } cases[] = {
		{ "^/app/(.*)$", "/app/" }, { "\\.gif$", "" }, { "^/a\\.b/c", "/a.b/c" },
		{ "^/ab?c", "/a" }, { "^/ab*", "/a" }, { "^/ab{2}", "/a" }, { "^/ab+", "/ab" },
		{ "^/a|^/b", "" }, { "^/a(b|c)", "/a" }, { "^/a[|]x", "/a" }, { "^/a[]|]x", "/a" },
		{ "(?i)^/a", "" }, { "^/a\\d", "/a" }, { "^/a.b", "/a" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		conf_regex_prefix(cases[i].re, out, sizeof(out));
		ASSERT_STREQ(out, cases[i].prefix, cases[i].re);
	}
}

/* the packet path never joins where a regex rule decides */
UNIT_TEST(ppm_packet_alike)
{
	struct run *r = run("Listen 8080\n<Proxy balancer://a>\nBalancerMember http://127.0.0.1:9001\n"
			    "</Proxy>\nProxyPreserveHost On\nProxyPassMatch ^/(.*)$ balancer://a/$1\n"
			    "ProxyPass / balancer://a/\n");
	const char *why;

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, -1, &why), 0, "not alike");
		ASSERT_STREQ(why, "a ProxyPassMatch rule decides by a regex, on each request's path",
			     "why");
	}
	done(r);
}

UNIT_TEST(redirect_parse_and_match)
{
	/* mod_alias's add_redirect_internal() and try_alias_list() */
	struct run *r = run(HEAD
			    "Redirect permanent /old http://example.test/new\n"         /* 8 */
			    "Redirect /rel /elsewhere/\n"
			    "RedirectMatch \"^/img/(.*)\\.gif$\" \"http://cdn.test/$1.png?v=1\"\n"
			    "Redirect gone /gone\n"
			    "RedirectPermanent /p http://p.test\n"
			    "Redirect 404 /nf\n");
	char out[512];

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	ASSERT_EQ(r->c->nredirect, 6, "six rules");
	ASSERT_EQ(r->c->redirect[0].status, 301, "permanent");
	ASSERT_EQ(r->c->redirect[1].status, 302, "temp by default");
	ASSERT_EQ(r->c->redirect[3].status, 410, "gone");
	ASSERT_STREQ(r->c->redirect[3].url, "", "gone has no URL");
	ASSERT_EQ(kbal_conf_match_redirect(r->c, -1, "/old/a%20b/c?x=1", 16, out, sizeof(out)),
		  301, "/old/...");
	ASSERT_STREQ(out, "http://example.test/new/a%20b/c?x=1", "the rest escaped, the query kept");
	ASSERT_EQ(kbal_conf_match_redirect(r->c, -1, "/oldx", 5, out, sizeof(out)), 0,
		  "a prefix ends at a segment");
	ASSERT_EQ(kbal_conf_match_redirect(r->c, -1, "//old//y", 8, out, sizeof(out)), 301,
		  "runs of '/' match");
	ASSERT_EQ(kbal_conf_match_redirect(r->c, -1, "/img/a b.gif?q", 14, out, sizeof(out)),
		  302, "RedirectMatch");
	ASSERT_STREQ(out, "http://cdn.test/a%20b.png?v=1", "escaped; its own query wins");
	ASSERT_EQ(kbal_conf_match_redirect(r->c, -1, "/gone/x", 7, out, sizeof(out)), 410, "gone");
	ASSERT_EQ(kbal_conf_match_redirect(r->c, -1, "/p", 2, out, sizeof(out)), 301,
		  "RedirectPermanent");
	ASSERT_STREQ(out, "http://p.test", "no rest");
	ASSERT_EQ(kbal_conf_match_redirect(r->c, -1, "/rel/x", 6, out, sizeof(out)), 302, "rel");
	ASSERT_STREQ(out, "/elsewhere//x", "relative: the caller makes it absolute");
out:
	done(r);
	expect_err(HEAD "Redirect bogus /a http://x/\n",
		   "t.conf:8: Redirect: invalid first argument (of three)");
	expect_err(HEAD "Redirect gone /a http://x/\n",
		   "t.conf:8: Redirect: Redirect URL not valid for this status");
	expect_err(HEAD "Redirect 301 /a\n", "t.conf:8: Redirect: URL to redirect to is missing");
	expect_err(HEAD "Redirect /a relative\n", "t.conf:8: Redirect: Redirect to non-URL");
	expect_err(HEAD "Redirect 418 /a\n", "t.conf:8: Redirect: status 418 is not supported by "
		   "kbal (301, 302, 303, 307, 308, gone (410), 403, 404)");
	expect_err(HEAD "RedirectMatch ^/(a http://x/\n", "t.conf:8: RedirectMatch ^/(a: Regular "
		   "expression could not be compiled: missing closing parenthesis at offset 4");
}

UNIT_TEST(error_document_parse)
{
	/* core's set_error_document(): its heuristic on the second word */
	struct run *r = run(HEAD "ErrorDocument 503 \"Down for a while\"\n"
			    "ErrorDocument 404 http://e.test/404\nErrorDocument 500 oops\n"
			    "ErrorDocument 500 default\nErrorDocument 401 http://e.test/\n");

	if (ASSERT_EQ(r->rc, 0, r->err) && ASSERT_EQ(r->c->nerrdoc, 2, "two left")) {
		ASSERT_EQ(r->c->errdoc[0].status == 503 && !r->c->errdoc[0].url, 1, "a text");
		ASSERT_STREQ(r->c->errdoc[0].text, "Down for a while", "its text");
		ASSERT_EQ(r->c->errdoc[1].status == 404 && r->c->errdoc[1].url, 1, "a URL");
		ASSERT_STREQ(r->warn, "t.conf:12: ErrorDocument 401 http://e.test/: cannot use a full "
			     "URL in a 401 ErrorDocument directive --- ignoring!\n", "401 and a URL");
	}
	done(r);
	expect_err(HEAD "ErrorDocument 404 /errors/404.html\n", "t.conf:8: ErrorDocument 404 "
		   "/errors/404.html: a local document is not supported by kbal (it serves no "
		   "files and makes no internal redirect): give a text or a URL");
	expect_err(HEAD "ErrorDocument 200 x\n",
		   "t.conf:8: ErrorDocument: must be an integer from 400 to 599");
}
