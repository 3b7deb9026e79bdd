// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* own_head.c: the Server line under ServerTokens, the Date line, and the
 * head of kbald's own answers in httpd's order; ServerTokens as read */
#include <stdlib.h>
#include <time.h>
#include "unit.h"
#include "conf.h"
#include "own_head.h"
#include "conf_run.h"

#define HEAD "Listen 8080\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001\n</Proxy>\n"

UNIT_TEST(own_head_banner_as_server_tokens)
{
	char b[64], want[64];

	/* httpd's set_banner(), with kbal's product and version */
	ASSERT_STREQ(own_head_banner(KBAL_TOKENS_PROD, b, sizeof(b)), "kbal", "Prod");
	snprintf(want, sizeof(want), "kbal/%s", KBAL_VERSION);
	ASSERT_STREQ(own_head_banner(KBAL_TOKENS_MIN, b, sizeof(b)), want, "Min");
	snprintf(want, sizeof(want), "kbal/%s (Linux)", KBAL_VERSION);
	ASSERT_STREQ(own_head_banner(KBAL_TOKENS_OS, b, sizeof(b)), want, "OS");
	ASSERT_STREQ(own_head_banner(KBAL_TOKENS_FULL, b, sizeof(b)), want, "Full, the default");
	snprintf(want, sizeof(want), "kbal/%.*s", (int)strcspn(KBAL_VERSION, "."), KBAL_VERSION);
	ASSERT_STREQ(own_head_banner(KBAL_TOKENS_MAJOR, b, sizeof(b)), want, "Major");
	ASSERT_TRUE(!strncmp(own_head_banner(KBAL_TOKENS_MINOR, b, sizeof(b)), "kbal/", 5) &&
		    strchr(b, '.') && !strchr(strchr(b, '.') + 1, '.'), "Minor: major.minor");
}

UNIT_TEST(own_head_date_is_imf_fixdate)
{
	const char *d = own_head_date();
	struct tm tm = { 0 };
	time_t now = time(NULL), t;
	char *end;

	ASSERT_EQ(strlen(d), 29, d);
	end = strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!ASSERT_TRUE(end && !*end, d))
		return;
	t = timegm(&tm);
	ASSERT_TRUE(t <= now + 1 && t >= now - 1, "now");
}

UNIT_TEST(own_head_in_httpds_order)
{
	static const char page[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
				   "X-A: 1\r\nContent-Length: 4\r\nServer: other\r\nDate: then\r\n"
				   "\r\nbody";
	static const char ka[] = "Keep-Alive: timeout=5, max=100\r\nConnection: Keep-Alive\r\n";
	struct kbal_conf *c = calloc(1, sizeof(*c));
	char want[512], *out;
	ssize_t n;

	c->server_tokens = KBAL_TOKENS_PROD;
	n = own_head_write(c, page, sizeof(page) - 1, ka, sizeof(ka) - 1, &out);
	snprintf(want, sizeof(want), "HTTP/1.1 404 Not Found\r\nDate: %s\r\nServer: kbal\r\n"
		 "X-A: 1\r\nContent-Length: 4\r\n%sContent-Type: text/html\r\n\r\nbody",
		 own_head_date(), ka);
	if (ASSERT_EQ(n, strlen(want), "its length")) {
		ASSERT_TRUE(!memcmp(out, want, n), "Date, Server, the others, Keep-Alive, "
			    "Content-Type; the other Date and Server dropped");
		free(out);
	}
	n = own_head_write(c, "HTTP/1.1 200 OK\r\n\r\n", 19, NULL, 0, &out);
	snprintf(want, sizeof(want), "HTTP/1.1 200 OK\r\nDate: %s\r\nServer: kbal\r\n\r\n",
		 own_head_date());
	if (ASSERT_EQ(n, strlen(want), "no line"))
		free(out);
	ASSERT_EQ(own_head_write(c, "HTTP/1.1 200 OK\r\n", 17, NULL, 0, &out), -1, "no head");
	free(c);
}

/* the lines httpd sets after the handler's and mod_headers': Content-Length,
 * ap_set_keepalive()'s, the page's Connection, Transfer-Encoding, then
 * Content-Type (a manager page's: mod_headers' X-P after its framing) */
UNIT_TEST(own_head_framing_after_the_others)
{
	static const char page[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
				   "Transfer-Encoding: chunked\r\nConnection: close\r\nX-P: 1\r\n"
				   "\r\n1\r\nx\r\n0\r\n\r\n";
	static const char xml[] = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
				  "Content-Length: 1\r\nX-P: 1\r\n\r\nx";
	static const char ka[] = "Keep-Alive: timeout=5, max=100\r\nConnection: Keep-Alive\r\n";
	struct kbal_conf *c = calloc(1, sizeof(*c));
	char want[512], *out;
	ssize_t n;

	c->server_tokens = KBAL_TOKENS_PROD;
	n = own_head_write(c, page, sizeof(page) - 1, NULL, 0, &out);
	snprintf(want, sizeof(want), "HTTP/1.1 200 OK\r\nDate: %s\r\nServer: kbal\r\n"
		 "X-P: 1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
		 "Content-Type: text/html\r\n\r\n1\r\nx\r\n0\r\n\r\n", own_head_date());
	if (ASSERT_EQ(n, strlen(want), "chunked: its length")) {
		ASSERT_TRUE(!memcmp(out, want, n), "Connection, Transfer-Encoding, Content-Type");
		free(out);
	}
	n = own_head_write(c, xml, sizeof(xml) - 1, ka, sizeof(ka) - 1, &out);
	snprintf(want, sizeof(want), "HTTP/1.1 200 OK\r\nDate: %s\r\nServer: kbal\r\n"
		 "X-P: 1\r\nContent-Length: 1\r\n%sContent-Type: text/xml\r\n\r\nx",
		 own_head_date(), ka);
	if (ASSERT_EQ(n, strlen(want), "a length: its length")) {
		ASSERT_TRUE(!memcmp(out, want, n), "Content-Length, Keep-Alive, Content-Type");
		free(out);
	}
	free(c);
}

/* a member's answer as httpd's basic_http_header() sends a proxied one */
UNIT_TEST(own_head_proxied_adds_date_and_server)
{
	static const char both[] = "HTTP/1.1 200 OK\r\nX-A: 1\r\nServer: m\r\nDate: d\r\n"
				   "\r\n";
	static const char first[] = "HTTP/1.1 200 OK\r\nDate: d\r\nServer: m\r\nX-A: 1\r\n"
				    "\r\n";
	static const char dated[] = "HTTP/1.1 200 OK\r\nX-A: 1\r\nDate: d\r\nDate: e\r\n\r\n";
	static const char named[] = "HTTP/1.1 304 Not Modified\r\nserver:m\r\nX-A: 1\r\n\r\n";
	static const char none[] = "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n";
	struct kbal_conf *c = calloc(1, sizeof(*c));
	char want[512], out[512];
	ssize_t n;

	c->server_tokens = KBAL_TOKENS_PROD;
	ASSERT_EQ(own_head_proxied(c, first, sizeof(first) - 1, out, sizeof(out)), 0,
		  "both, first: the head as it is (the kernel passes it so)");
	n = own_head_proxied(c, both, sizeof(both) - 1, out, sizeof(out));
	ASSERT_TRUE(n == (ssize_t)sizeof(first) - 1 && !memcmp(out, first, n),
		    "both, after another line, Server before Date (nginx): moved up, Date first");
	n = own_head_proxied(c, dated, sizeof(dated) - 1, out, sizeof(out));
	strcpy(want, "HTTP/1.1 200 OK\r\nDate: d\r\nServer: kbal\r\nX-A: 1\r\n\r\n");
	ASSERT_TRUE(n == (ssize_t)strlen(want) && !memcmp(out, want, n),
		    "no Server: ours; the member's first Date up, the others gone");
	n = own_head_proxied(c, named, sizeof(named) - 1, out, sizeof(out));
	snprintf(want, sizeof(want), "HTTP/1.1 304 Not Modified\r\nDate: %s\r\nServer: m\r\n"
		 "X-A: 1\r\n\r\n", own_head_date());
	ASSERT_TRUE(n == (ssize_t)strlen(want) && !memcmp(out, want, n),
		    "no Date: ours; the member's Server up (any case)");
	n = own_head_proxied(c, none, sizeof(none) - 1, out, sizeof(out));
	snprintf(want, sizeof(want), "HTTP/1.1 200 OK\r\nDate: %s\r\nServer: kbal\r\n"
		 "X-A: 1\r\n\r\n", own_head_date());
	ASSERT_TRUE(n == (ssize_t)strlen(want) && !memcmp(out, want, n), "neither: both ours");
	ASSERT_EQ(own_head_proxied(c, none, sizeof(none) - 1, out, 40), -1, "does not fit");
	ASSERT_EQ(own_head_proxied(c, none, sizeof(none) - 3, out, sizeof(out)), -1, "no end");
	free(c);
}

UNIT_TEST(conf_server_tokens)
{
	static const struct {
		const char *arg;
		unsigned tokens;
	} t[] = {
		{ "Prod", KBAL_TOKENS_PROD }, { "productonly", KBAL_TOKENS_PROD },
		{ "Major", KBAL_TOKENS_MAJOR }, { "Minor", KBAL_TOKENS_MINOR },
		{ "Min", KBAL_TOKENS_MIN }, { "Minimal", KBAL_TOKENS_MIN },
		{ "OS", KBAL_TOKENS_OS }, { "Full", KBAL_TOKENS_FULL },
	};
	char text[256];
	struct run *r = run(HEAD);

	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(r->c->server_tokens, KBAL_TOKENS_FULL, "httpd's default");
	done(r);
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "ServerTokens %s\n" HEAD, t[i].arg);
		r = run(text);
		if (ASSERT_EQ(r->rc, 0, r->err))
			ASSERT_EQ(r->c->server_tokens, t[i].tokens, t[i].arg);
		done(r);
	}
	expect_err("ServerTokens Some\n" HEAD,
		   "t.conf:1: ServerTokens takes 1 argument: 'Prod(uctOnly)', 'Major', 'Minor', "
		   "'Min(imal)', 'OS', or 'Full'");
	r = run(HEAD "<VirtualHost *:8080>\nServerTokens Prod\n</VirtualHost>\n");
	ASSERT_EQ(r->rc, -1, "server-wide only, as httpd's (GLOBAL_ONLY)");
	ASSERT_HAS(r->err, "t.conf:6: ServerTokens is not allowed inside <VirtualHost>", "why");
	done(r);
}

/* ServerSignature On|Off|EMail, any case (httpd's set_signature_flag()):
 * the server's, a <VirtualHost>'s own (-1: the server's); not in a
 * <Location>, where httpd takes it too */
UNIT_TEST(own_head_server_signature_as_read)
{
	struct run *r = run(HEAD);

	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->server_signature, KBAL_SIG_OFF, "httpd's default: Off");
	done(r);
	r = run("ServerSignature email\n" HEAD "<VirtualHost *:8080>\nServerSignature On\n"
		"</VirtualHost>\n<VirtualHost *:8081>\n</VirtualHost>\n"
		"<VirtualHost *:8082>\nServerSignature OFF\n</VirtualHost>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->server_signature, KBAL_SIG_EMAIL, "the server's EMail");
		ASSERT_EQ(r->c->vhost[0].server_signature, KBAL_SIG_ON, "its own On");
		ASSERT_EQ(r->c->vhost[1].server_signature, -1, "none: the server's");
		ASSERT_EQ(r->c->vhost[2].server_signature, KBAL_SIG_OFF, "its own Off");
	}
	done(r);
	expect_err(HEAD "ServerSignature Full\n",
		   "t.conf:5: ServerSignature: use one of: off | on | email");
	r = run(HEAD "<Location /x>\nServerSignature On\n</Location>\n");
	ASSERT_EQ(r->rc, -1, "not in a <Location>");
	ASSERT_HAS(r->err, "t.conf:6: ServerSignature is not allowed inside <Location> "
		   "(<Location /x> at line 5)", "why");
	done(r);
}
