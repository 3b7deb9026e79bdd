// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_request.c - a client's first request, as kbald's exch_parse() and
 * exch_request_head() take it: user/http.c's parser with and without
 * httpd's limits (small ones, so that short inputs reach them), the
 * buffer-full answer (kbal_http_head_overflow), the ProxyPass match, the
 * sticky route and the head sent to the member (kbal_http_build_request,
 * kbal_rewrite_member_host).
 *
 * Input: 6 option bytes, then the request. Checks beyond ASan and UBSan:
 * spans inside the head, the same result whether the bytes come at once
 * or in pieces, and a rebuilt head that parses again with the same
 * framing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf.h"
#include "fuzz.h"
#include "rewrite.h"

#define OUT_SIZE (KBAL_HTTP_HEAD_BUF + 2048)   /* conn-t.h */

static const char conf_text[] =
	"Listen 127.0.0.1:8080\n"
	"ServerName front\n"
	"<Proxy balancer://c>\n"
	"BalancerMember http://127.0.0.1:18081 route=1\n"
	"BalancerMember http://127.0.0.1:18082/ route=2\n"
	"ProxySet stickysession=ROUTEID\n"
	"</Proxy>\n"
	"ProxyPass /app/admin !\n"
	"ProxyPass /app balancer://c/t\n"
	"ProxyPass /x balancer://c/x/\n"
	"ProxyPass / balancer://c/\n";
static struct kbal_conf *conf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];

	(void)argc;
	(void)argv;
	conf = malloc(sizeof(*conf));
	if (!conf || kbal_conf_parse("fuzz.conf", conf_text, conf, err, sizeof(err), NULL, NULL))
		fuzz_fail(__FILE__, __LINE__, err);
	return 0;
}

struct opts {
	uint8_t flags;             /* what the rewrite does */
	size_t small;              /* a second, small output buffer */
};

enum { O_KEEP = 1, O_PRESERVE_HOST = 2, O_NO_CLIENT = 4, O_NO_SERVER = 8 };

/* the member's head must parse again, framed as the client's, and its
 * path stay inside the rule's target */
static void check_rebuilt(const struct kbal_http_msg *m, char *out, size_t n, const char *target)
{
	struct kbal_http_msg *r = malloc(sizeof(*r));
	char path[KBAL_HTTP_HEAD_BUF];
	struct fuzz_run run;

	kbal_http_init_request(r, NULL);
	fuzz_feed(r, out, n, 0, NULL, NULL, &run);
	if (target && run.n >= 1 && run.rc[0] == KBAL_HTTP_HEAD) {
		FUZZ_CHECK(kbal_conf_uri_path(out + r->url.off, r->url.len, path, sizeof(path)) >= 0);
		FUZZ_CHECK(!strncmp(path, target, strlen(target)));
	}
	/* the headers kbald adds may be one too many for the slots */
	if (m->nheaders + 4 <= KBAL_HTTP_MAX_HEADERS) {
		FUZZ_CHECK(run.n >= 1 && run.rc[0] == KBAL_HTTP_HEAD);
		FUZZ_CHECK(r->head_len == n);
		FUZZ_CHECK(r->content_length == m->content_length && r->chunked == m->chunked);
		/* HTTP/1.1 whatever the client's version, as mod_proxy_http */
		FUZZ_CHECK(r->http_major == 1 && r->http_minor == 1 && r->proto_major == 1 &&
			   r->proto_minor == 1);
	}
	free(r);
}

static void build(const struct kbal_http_msg *m, const char *buf, const struct opts *o,
		  int pass)
{
	const struct kbal_conf_pass *p = &conf->pass[pass];
	struct kbal_member member = { 0 };
	char host[KBAL_NAME_LEN], target[KBAL_HTTP_HEAD_BUF];
	char *out = malloc(OUT_SIZE), *small = malloc(o->small ?: 1);
	struct kbal_req_rewrite rw = {
		.client_ip = o->flags & O_NO_CLIENT ? NULL : "127.0.0.1",
		.server_name = o->flags & O_NO_SERVER ? NULL : conf->server_name,
		.keep_alive = o->flags & O_KEEP,
	};
	ssize_t n, n2;

	snprintf(member.url, sizeof(member.url), "%s",
		 conf->balancers[p->balancer].members[o->flags >> 7].url);
	if (!(o->flags & O_PRESERVE_HOST)) {
		kbal_rewrite_member_host(&member, host, sizeof(host));
		rw.host = host;
	}
	/* as exch_build_request() */
	if (strcmp(p->path, "/") == 0 && strcmp(p->target, "/") == 0) {
		rw.target = NULL, rw.strip = 0;
	} else {
		n = kbal_conf_pass_target(p, buf + m->url.off, m->url.len, target, sizeof(target));
		FUZZ_CHECK(n < (ssize_t)sizeof(target));
		if (n < 0)
			goto out;   /* a path too long encoded: kbald answers 431 */
		rw.target = target;
		rw.strip = m->url.len;
	}
	n = kbal_http_build_request(m, buf, &rw, out, OUT_SIZE);
	FUZZ_CHECK(n < OUT_SIZE);
	if (n >= 0)      /* else too long (a long Host twice): kbald answers 431 */
		check_rebuilt(m, out, n, rw.target ? p->target : NULL);
	n2 = kbal_http_build_request(m, buf, &rw, small, o->small);
	if (n >= 0 && (size_t)n <= o->small)
		FUZZ_CHECK(n2 == n && !memcmp(out, small, n));
	else
		FUZZ_CHECK(n2 == -1);
out:
	free(small);
	free(out);
}

static int request_head(struct kbal_http_msg *m, const char *buf, size_t have, void *arg)
{
	static const char *const names[] = { "ROUTEID", "JSESSIONID", "r" };
	char route[KBAL_ROUTE_LEN];
	int pass;

	(void)have;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct kbal_sticky s = { names[i], i == 1 ? "jsessionid" : names[i],
					 i == 2 ? 0 : '.', (int)(i & 1) };
		size_t n = kbal_http_sticky_route(m, buf, &s, route, sizeof(route));

		FUZZ_CHECK(n < sizeof(route) && (!n || strlen(route) == n));
	}
	kbal_http_close_only(m, buf);
	kbal_http_keepalive_only(m, buf);
	pass = kbal_conf_match_pass(conf, -1, buf + m->url.off, m->url.len);
	FUZZ_CHECK(pass < (int)conf->npass);
	if (pass >= 0 && !conf->pass[pass].exclude)
		build(m, buf, arg, pass);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = fuzz_byte(&in);
	struct kbal_http_limits lim = {
		.line = fuzz_byte(&in),
		.field = fuzz_byte(&in),
		.fields = fuzz_byte(&in) & 31,
	};
	struct opts o = { fuzz_byte(&in), fuzz_byte(&in) * 8u };
	const struct kbal_http_limits *limits = flags & 1 ? &lim : NULL;
	size_t step = flags >> 1, len = in.len;
	struct kbal_http_msg *a, *b;
	struct fuzz_run ra, rb;
	char *buf;

	if (len > KBAL_HTTP_HEAD_BUF)      /* kbald reads this much at most */
		return -1;
	buf = fuzz_dup(in.p, len);
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	kbal_http_init_request(a, limits);
	kbal_http_init_request(b, limits);
	fuzz_feed(a, buf, len, 0, NULL, NULL, &ra);
	fuzz_feed(b, buf, len, step, request_head, &o, &rb);
	fuzz_check_same(a, &ra, b, &rb);
	if (ra.last == KBAL_HTTP_AGAIN && !a->head_done) {
		unsigned st = kbal_http_head_overflow(a, len);

		FUZZ_CHECK(st == 414 || st == 400 || st == 431);
		FUZZ_CHECK(limits || st == 431);
	}
	free(a);
	free(b);
	free(buf);
	return 0;
}
