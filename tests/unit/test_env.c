// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* test_env.c - SetEnv, UnsetEnv, SetEnvIf and BrowserMatch read
 * (conf_env.c) and a request's variables computed from them (env.c) */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "conf.h"
#include "env.h"
#include "http.h"
#include "conf_run.h"

#define HEAD "Listen 8080\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001\n" \
	     "</Proxy>\nProxyPass / balancer://c/\n"

/* the variables of req under rules, in vhost */
static struct run *vars(const char *rules, const char *req, int vhost, struct kbal_env *e)
{
	static char conf[4096];
	struct kbal_http_msg m;
	struct run *r;
	size_t used;

	snprintf(conf, sizeof(conf), HEAD "%s", rules);
	r = run(conf);
	if (!ASSERT_EQ(r->rc, 0, r->err))
		return r;
	kbal_http_init_request(&m, NULL);
	ASSERT_EQ(kbal_http_feed(&m, req, 0, strlen(req), &used), KBAL_HTTP_HEAD, req);
	kbal_env_request(r->c, vhost, &(const struct kbal_env_req){
		.msg = &m, .buf = req, .remote_addr = (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\x01\x02\x03",
		.local_addr = (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\x01" }, e);
	return r;
}

#define GET(v) kbal_env_get(&e, v)

UNIT_TEST(env_setenvif)
{
	static struct kbal_env e;
	struct run *r = vars(
		"SetEnvIf Remote_Addr ^10\\.1\\. NET=$0\n"
		"SetEnvIf remote_host 10.1.2.3 RH\n"
		"SetEnvIf Server_Addr 127.0.0.1 SA\n"
		"SetEnvIf Request_Method GET M\n"
		"SetEnvIf Request_Protocol ^HTTP/1\\.1$ P\n"
		"SetEnvIf Request_URI ^/a/(.*)$ REST=<$1> U=\\$1\n"
		"SetEnvIf X-H \"^x, y$\" JOINED\n"
		"SetEnvIfNoCase X-H ^X NC=$0\n"
		"SetEnvIf X-H ^X CASE\n"
		"SetEnvIf ^X-[A-Z]$ . RE=1 !NET\n"
		"SetEnvIf X-None ^$ NONE\n"
		"SetEnvIf ^x-[a-z]$ . NOT=1\n"
		"SetEnvIf REST ^<b%41> FROMVAR\n"
		"BrowserMatch ^curl CURL\n"
		"BrowserMatchNoCase ^CURL C2=yes\n"
		"SetEnv S one\nSetEnv CURL setenv\nSetEnv GONE x\nUnsetEnv GONE\nSetEnv EMPTY\n",
		"GET /a/b%41?q HTTP/1.1\r\nHost: h\r\nX-H: x\r\nUser-Agent: curl/8\r\n"
		"x-h: y\r\n\r\n", -1, &e);

	if (!r->rc) {
		ASSERT_TRUE(GET("NET") == NULL, "!NET undid it");
		ASSERT_STREQ(GET("rh"), "1", "Remote_Host, the name case-insensitive");
		ASSERT_STREQ(GET("SA"), "1", "Server_Addr");
		ASSERT_STREQ(GET("M"), "1", "Request_Method");
		ASSERT_STREQ(GET("P"), "1", "Request_Protocol");
		ASSERT_STREQ(GET("REST"), "<b%41>", "Request_URI as sent, without its query");
		ASSERT_STREQ(GET("U"), "$1", "an escaped $");
		ASSERT_STREQ(GET("JOINED"), "1", "lines joined");
		ASSERT_STREQ(GET("NC"), "x", "NoCase");
		ASSERT_TRUE(GET("CASE") == NULL, "case kept");
		ASSERT_STREQ(GET("RE"), "1", "a regex on names");
		ASSERT_TRUE(GET("NOT") == NULL, "a regex on names, case kept");
		ASSERT_STREQ(GET("NONE"), "1", "an absent header is \"\"");
		ASSERT_STREQ(GET("FROMVAR"), "1", "a variable for a header the request lacks");
		ASSERT_STREQ(GET("CURL"), "1", "SetEnvIf's value before SetEnv's");
		ASSERT_STREQ(GET("C2"), "yes", "BrowserMatchNoCase");
		ASSERT_STREQ(GET("S"), "one", "SetEnv");
		ASSERT_TRUE(GET("GONE") == NULL, "UnsetEnv");
		ASSERT_STREQ(GET("EMPTY"), "", "SetEnv without a value");
		ASSERT_EQ(e.no_proxy, 0, "no no-proxy");
	}
	done(r);
}

UNIT_TEST(env_virtualhost)
{
	static struct kbal_env e;
	static const char rules[] = "SetEnv A srv\nSetEnv B srv\nSetEnvIf Request_URI . O=srv\n"
				    "<VirtualHost *:8080>\nUnsetEnv B\nSetEnv A vh\n"
				    "SetEnvIf Request_URI . O=vh no-proxy\n</VirtualHost>\n";
	struct run *r = vars(rules, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", -1, &e);

	if (!r->rc) {
		ASSERT_STREQ(GET("A"), "srv", "server's");
		ASSERT_STREQ(GET("B"), "srv", "server's");
		ASSERT_STREQ(GET("O"), "srv", "server's");
		ASSERT_EQ(e.no_proxy, 0, "the vhost's no-proxy elsewhere");
	}
	done(r);
	r = vars(rules, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, &e);
	if (!r->rc) {
		ASSERT_STREQ(GET("A"), "vh", "the vhost's SetEnv");
		ASSERT_TRUE(GET("B") == NULL, "the vhost's UnsetEnv of the server's");
		ASSERT_STREQ(GET("O"), "vh", "the server's line, then the vhost's");
		ASSERT_EQ(e.no_proxy, 1, "no-proxy");
	}
	done(r);
}

UNIT_TEST(env_conf_errors)
{
	struct run *r;

	expect_err(HEAD "SetEnvIf X-A b\n", "t.conf:6: Missing envariable expression for SetEnvIf");
	expect_err(HEAD "SetEnvIf X-A (b A\n",
		   "t.conf:6: SetEnvIf regex could not be compiled: missing closing parenthesis "
		   "at offset 2");
	expect_err(HEAD "SetEnvIfExpr \"-n %{HTTP_HOST}\" A\n",
		   "t.conf:6: SetEnvIfExpr is not supported by kbal (no ap_expr outside health "
		   "checks; SetEnvIf's regexes are)");
	r = run(HEAD "<Location /x>\nSetEnv A b\n</Location>\n");
	ASSERT_EQ(r->rc, -1, "SetEnv in <Location>");
	ASSERT_HAS(r->err, "t.conf:7:", r->err);
	done(r);
	/* honoured ones say nothing (force-response-1.0, proxy-sendchunked,
	 * proxy-sendcl) */
	r = run(HEAD "BrowserMatch a force-response-1.0 proxy-sendchunked\nBrowserMatch b "
		"force-no-vary nokeepalive proxy-sendcl\nBrowserMatch c force-no-vary\n"
		"SetEnv A=b\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(r->nwarn, 2, r->warn);
	ASSERT_HAS(r->warn, "t.conf:7: BrowserMatch force-no-vary: kbal does not honour", r->warn);
	ASSERT_HAS(r->warn, "t.conf:9: SetEnv A=b: spurious '='", r->warn);
	done(r);
}
