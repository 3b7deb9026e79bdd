// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* mod_headers' rules on a head (user/headers.c): each action as httpd's
 * do_headers_fixup() does it on an apr table (set keeps the first line's
 * place, append and merge change the first line, edit moves the edited
 * lines to the end, always before onsuccess), env= conditions, formats,
 * and which rules leave the kernel's answers alone (decide.c). */
#include <string.h>
#include "unit.h"
#include "conf.h"
#include "headers.h"

#include "conf_run.h"

#define HEAD "Listen 8080\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001 route=a\n" \
	     "</Proxy>\nProxyPass / balancer://c/\n"

static const char RESP[] = "HTTP/1.1 200 OK\r\nX-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\n"
			   "Cache-Control: no-cache, \"x,y\"\r\nConnection: close\r\n\r\n";
static const char REQ[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Trace: t1\r\nCookie: c=1\r\n\r\n";

static const struct kbal_hdr_env ROUTED = {
	.v = { .balancer = "balancer://c", .worker_name = "http://127.0.0.1:9001",
	       .worker_route = "a", .session_sticky = "ROUTEID", .session_route = "a" },
	.request_us = 1000, .now_us = 1250,
	.request = REQ, .request_len = sizeof(REQ) - 1,
};

/* the answer RESP becomes under rules (one or more directive lines) */
static int expect_resp(const char *rules, const struct kbal_hdr_env *e, const char *want)
{
	char conf[1024], out[2048];
	struct run *r;
	ssize_t n;
	int ok;

	snprintf(conf, sizeof(conf), HEAD "%s", rules);
	r = run(conf);
	if (!ASSERT_EQ(r->rc, 0, r->err)) {
		done(r);
		return 0;
	}
	n = kbal_headers_apply(r->c, KBAL_HDR_MASK(KBAL_HDR_OUT) | KBAL_HDR_MASK(KBAL_HDR_ALWAYS),
			       e, RESP, sizeof(RESP) - 1, out, sizeof(out));
	ok = ASSERT_EQ(n > 0, 1, rules);
	if (ok) {
		out[n] = '\0';
		ok = ASSERT_STREQ(out, want, rules);
	}
	done(r);
	return ok;
}

#define LINE1 "HTTP/1.1 200 OK\r\n"
#define KEPT "Cache-Control: no-cache, \"x,y\"\r\nConnection: close\r\n"
#define REST KEPT "\r\n"

UNIT_TEST(headers_actions)
{
	expect_resp("Header set X-A v\n", &ROUTED,
		    LINE1 "X-A: v\r\nSet-Cookie: a=1\r\n" REST);
	expect_resp("Header add X-A v\n", &ROUTED,
		    LINE1 "X-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\n" KEPT "X-A: v\r\n\r\n");
	expect_resp("Header append X-A v\n", &ROUTED,
		    LINE1 "X-A: 1, v\r\nSet-Cookie: a=1\r\nX-A: 2\r\n" REST);
	expect_resp("Header unset X-A\n", &ROUTED, LINE1 "Set-Cookie: a=1\r\n" REST);
	expect_resp("Header setifempty X-A v\nHeader setifempty X-B w\n", &ROUTED,
		    LINE1 "X-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\n" KEPT "X-B: w\r\n\r\n");
	/* merge: a token equal to the value is there already (the quoted
	 * "x,y" is one token), or not */
	expect_resp("Header merge Cache-Control no-cache\n", &ROUTED, LINE1 "X-A: 1\r\n"
		    "Set-Cookie: a=1\r\nX-A: 2\r\n" REST);
	expect_resp("Header merge Cache-Control y\n", &ROUTED, LINE1 "X-A: 1\r\nSet-Cookie: a=1\r\n"
		    "X-A: 2\r\nCache-Control: no-cache, \"x,y\", y\r\nConnection: close\r\n\r\n");
	/* edit: each X-A line, moved to the end; edit* every match */
	expect_resp("Header edit X-A ^(.)$ <$1>\n", &ROUTED, LINE1 "Set-Cookie: a=1\r\n"
		    "Cache-Control: no-cache, \"x,y\"\r\nConnection: close\r\nX-A: <1>\r\nX-A: <2>\r\n\r\n");
	expect_resp("Header edit* Cache-Control \", *\" ;\n", &ROUTED, LINE1 "X-A: 1\r\n"
		    "Set-Cookie: a=1\r\nX-A: 2\r\nConnection: close\r\n"
		    "Cache-Control: no-cache;\"x;y\"\r\n\r\n");
	expect_resp("Header edit Cache-Control \", *\" ;\n", &ROUTED, LINE1 "X-A: 1\r\n"
		    "Set-Cookie: a=1\r\nX-A: 2\r\nConnection: close\r\n"
		    "Cache-Control: no-cache;\"x,y\"\r\n\r\n");
	/* edit* after an empty match steps one character on, and stops at
	 * the value's end (httpd's loop, unlike Perl's /g: "-1", not "-1-") */
	expect_resp("Header edit* X-A x* - \n", &ROUTED, LINE1 "Set-Cookie: a=1\r\n" KEPT
		    "X-A: -1\r\nX-A: -2\r\n\r\n");
}

UNIT_TEST(headers_tables_env_formats)
{
	const struct kbal_hdr_env changed = {
		.v = { .balancer = "balancer://c", .worker_name = "http://127.0.0.1:9001",
		       .worker_route = "a", .route_changed = 1 },
		.request_us = 1000, .now_us = 1250,
	};

	/* always: a table of its own, sent first; onsuccess rules do not see it */
	expect_resp("Header always set X-B 1\nHeader unset X-B\n", &ROUTED,
		    LINE1 "X-B: 1\r\nX-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\n" REST);
	/* Apache's example's rule: only for a changed route */
	expect_resp("Header add Set-Cookie \"ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/\" "
		    "env=BALANCER_ROUTE_CHANGED\n", &ROUTED,
		    LINE1 "X-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\n" REST);
	expect_resp("Header add Set-Cookie \"ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/\" "
		    "env=BALANCER_ROUTE_CHANGED\n", &changed,
		    LINE1 "X-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\nCache-Control: no-cache, \"x,y\"\r\n"
		    "Connection: close\r\nSet-Cookie: ROUTEID=.a; path=/\r\n\r\n");
	expect_resp("Header set X-S %{BALANCER_SESSION_ROUTE}e env=!BALANCER_ROUTE_CHANGED\n",
		    &changed, LINE1 "X-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\n" REST);
	/* formats: %t, %D, a variable not set, %% and \t */
	expect_resp("Header set X-F \"%t %D %{NOPE}e %{BALANCER_NAME}e 100%%\\tx\"\n", &ROUTED,
		    LINE1 "X-A: 1\r\nSet-Cookie: a=1\r\nX-A: 2\r\n" KEPT
		    "X-F: t=1000 D=250 (null) balancer://c 100%\tx\r\n\r\n");
	expect_err(HEAD "Header echo (\n",
		   "t.conf:6: Header echo regex could not be compiled: missing closing parenthesis "
		   "at offset 1");
	/* echo: the request's lines whose name matches */
	expect_resp("Header unset X-Nope\nHeader echo ^X-T\n", &ROUTED, LINE1 "X-A: 1\r\n"
		    "Set-Cookie: a=1\r\nX-A: 2\r\n" KEPT "X-Trace: t1\r\n\r\n");
}

UNIT_TEST(headers_request_and_kernel)
{
	struct run *r = run(HEAD "RequestHeader set X-Trace %{BALANCER_NAME}e\n"
			    "RequestHeader edit Cookie c= d=\nRequestHeader add X-New \"%t\"\n");
	const struct kbal_hdr_env before = { .request_us = 7 };
	char out[1024];
	ssize_t n;

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		n = kbal_headers_apply(r->c, KBAL_HDR_MASK(KBAL_HDR_IN), &before, REQ,
				       sizeof(REQ) - 1, out, sizeof(out));
		if (ASSERT_EQ(n > 0, 1, "applied")) {
			out[n] = '\0';
			/* before the handler no balancer variable is set */
			ASSERT_STREQ(out, "GET / HTTP/1.1\r\nHost: h\r\nX-Trace: (null)\r\n"
				     "Cookie: d=1\r\nX-New: t=7\r\n\r\n", "RequestHeader");
		}
		ASSERT_EQ(kbal_headers_may_apply(r->c, KBAL_HDR_MASK(KBAL_HDR_IN), &before), 1,
			  "RequestHeader rules apply to every request");
	}
	done(r);
	r = run(HEAD "Header add Set-Cookie x env=BALANCER_ROUTE_CHANGED\n"
		"Header always set X-Q 1 env=NOPE\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(kbal_headers_may_apply(r->c, KBAL_HDR_MASK(KBAL_HDR_OUT) |
						 KBAL_HDR_MASK(KBAL_HDR_ALWAYS), &ROUTED), 0,
			  "a kept route's answer: no rule applies");
	done(r);
	r = run(HEAD "Header always set X-Q 1 env=!NOPE\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(kbal_headers_may_apply(r->c, KBAL_HDR_MASK(KBAL_HDR_ALWAYS), &ROUTED), 1,
			  "env=! of a variable nothing sets: every answer");
	done(r);
}

/* Which variables the rules read (decide_rules.c: SetEnvIf lines whose
 * variables no rule reads leave the kernel its requests) */
UNIT_TEST(headers_read_var)
{
	const unsigned all = KBAL_HDR_MASK(KBAL_HDR_IN) | KBAL_HDR_MASK(KBAL_HDR_OUT) |
			     KBAL_HDR_MASK(KBAL_HDR_ALWAYS);
	struct run *r = run(HEAD "Header add Set-Cookie \"R=%{BALANCER_WORKER_ROUTE}e\" "
			    "env=BALANCER_ROUTE_CHANGED\n"
			    "RequestHeader set X-B \"b=%{is_bot}e;%{ISX}e\"\n"
			    "Header always set X-Q 1 env=!quiet\n");

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(kbal_headers_read_var(r->c, all, "BALANCER_ROUTE_CHANGED"), 1, "env=");
		ASSERT_EQ(kbal_headers_read_var(r->c, all, "balancer_worker_route"), 1,
			  "%{VAR}e, without case as apr's tables");
		ASSERT_EQ(kbal_headers_read_var(r->c, all, "is_bot"), 1, "RequestHeader's %{VAR}e");
		ASSERT_EQ(kbal_headers_read_var(r->c, all, "quiet"), 1, "env=!");
		ASSERT_EQ(kbal_headers_read_var(r->c, all, "IS"), 0, "a name's prefix");
		ASSERT_EQ(kbal_headers_read_var(r->c, all, "nokeepalive"), 0, "a name no rule reads");
		ASSERT_EQ(kbal_headers_read_var(r->c, KBAL_HDR_MASK(KBAL_HDR_OUT), "is_bot"), 0,
			  "a table not asked about");
	}
	done(r);
}

/* Header inside <VirtualHost>: the server's rules, then that one's, and
 * no other virtual host's, wherever the server's are written */
UNIT_TEST(headers_virtualhost)
{
	static const char rules[] = "<VirtualHost *:8080>\nHeader set X-A one\n</VirtualHost>\n"
				    "<VirtualHost *:8080>\nServerName b\nHeader append X-A two\n"
				    "</VirtualHost>\nHeader set X-A srv\n";
	struct kbal_hdr_env e = ROUTED;

	e.vhost = -1;
	expect_resp(rules, &e, LINE1 "X-A: srv\r\nSet-Cookie: a=1\r\n" REST);
	e.vhost = 0;
	expect_resp(rules, &e, LINE1 "X-A: one\r\nSet-Cookie: a=1\r\n" REST);
	e.vhost = 1;
	expect_resp(rules, &e, LINE1 "X-A: srv, two\r\nSet-Cookie: a=1\r\n" REST);
}
