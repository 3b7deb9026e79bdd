// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_response.c - a member's first response, as kbald's exch_parse()
 * takes it: user/http.c's parser (interim 1xx responses passed on with
 * kbal_http_next(), HEAD's bodyless answer) and the head sent to the
 * client (kbal_http_build_response: ProxyPassReverse rules, the route's
 * cookie, the connection's fate); a head llhttp refused read again as
 * httpd reads it (kbal_http_lines()), an interim one's lines written.
 *
 * Input: 2 option bytes, then the response. Checks beyond ASan and UBSan:
 * spans inside the head, the same result whether the bytes come at once
 * or in pieces, and a rebuilt head that parses again with the same
 * status and framing.
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

#define OUT_SIZE (KBAL_HTTP_HEAD_BUF + 2048)   /* conn-t.h */

static const struct kbal_rev_rule rules[] = {
	{ "http://127.0.0.1:18081/t", "/app" },
	{ "http://127.0.0.1:18082/", "/" },
	{ "http://127.0.0.1:18083/x/", "http://other/y/" },
};

struct opts {
	uint8_t flags;
	size_t small;              /* a second, small output buffer */
};

static void check_rebuilt(const struct kbal_http_msg *m, char *out, size_t n, int skip_body)
{
	struct kbal_http_msg *r = malloc(sizeof(*r));
	struct fuzz_run run;

	kbal_http_init_response(r);
	r->skip_body = skip_body;
	fuzz_feed(r, out, n, 0, NULL, NULL, &run);
	if (m->nheaders + 2 <= KBAL_HTTP_MAX_HEADERS) {
		FUZZ_CHECK(run.n >= 1 && run.rc[0] == KBAL_HTTP_HEAD);
		FUZZ_CHECK(r->head_len == n && r->status == m->status);
		FUZZ_CHECK(r->content_length == m->content_length && r->chunked == m->chunked);
	}
	free(r);
}

static int response_head(struct kbal_http_msg *m, const char *buf, size_t have, void *arg)
{
	const struct opts *o = arg;
	const char *extra = o->flags & 4 ? "Set-Cookie: ROUTEID=route.1; path=/\r\n" : NULL;
	const char *client = o->flags & 8 ? NULL : "http://front:8080";
	int conn = (o->flags >> 4) % 3;
	char *out, *small;
	ssize_t n, n2;

	(void)have;
	if (m->status >= 100 && m->status < 200 && m->status != 101)
		return 1;  /* interim: passed on raw, then the final one */
	out = malloc(OUT_SIZE);
	small = malloc(o->small ?: 1);
	n = kbal_http_build_response(m, buf, rules, sizeof(rules) / sizeof(rules[0]), client,
				     extra, conn, out, OUT_SIZE);
	FUZZ_CHECK(n < OUT_SIZE);
	if (n >= 0)
		check_rebuilt(m, out, n, m->skip_body);
	n2 = kbal_http_build_response(m, buf, rules, sizeof(rules) / sizeof(rules[0]), client,
				      extra, conn, small, o->small);
	if (n >= 0 && (size_t)n <= o->small)
		FUZZ_CHECK(n2 == n && !memcmp(out, small, n));
	else
		FUZZ_CHECK(n2 == -1);
	free(small);
	free(out);
	return 0;
}

/* a head llhttp refused (exch_head_refused()): a known verdict; an
 * interim one's spans inside its head, and its head written again as
 * httpd writes it, within the buffer */
static void check_lines(const char *buf, size_t len)
{
	struct kbal_http_msg *m = malloc(sizeof(*m));
	char *out = malloc(OUT_SIZE);
	int v;

	kbal_http_init_response(m);
	v = kbal_http_lines(m, buf, 0, (uint32_t)len);
	FUZZ_CHECK(v >= KBAL_LINES_OTHER && v <= KBAL_LINES_AS_READ);
	if (v == KBAL_LINES_AS_READ) {
		/* written as httpd read it: within the buffer's size or not
		 * at all, and never that verdict again (exch_head_refused()
		 * does not come back to it) */
		uint32_t end = 0;
		ssize_t n = kbal_http_lines_write(buf, 0, (uint32_t)len, out, OUT_SIZE, &end);

		FUZZ_CHECK(n < OUT_SIZE && end <= len);
		if (n > 0)
			FUZZ_CHECK(kbal_http_lines(NULL, out, 0, (uint32_t)n) != KBAL_LINES_AS_READ);
	}
	if (v == KBAL_LINES_REFUSED && m->done) {
		ssize_t n;

		FUZZ_CHECK(m->head_len <= len && m->status >= 100 && m->status < 200);
		for (unsigned i = 0; i < m->nheaders; i++) {
			const struct kbal_http_header *h = &m->headers[i];

			FUZZ_CHECK(h->name.off + h->name.len <= m->head_len);
			FUZZ_CHECK(h->value.off + h->value.len <= m->head_len);
		}
		n = kbal_http_build_response(m, buf, rules, sizeof(rules) / sizeof(rules[0]), NULL,
					     NULL, KBAL_RESP_KEEP | KBAL_RESP_INTERIM, out, OUT_SIZE);
		FUZZ_CHECK(n > 0 && n < OUT_SIZE && !memcmp(out, "HTTP/1.1 1", 10));
	}
	free(out);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = fuzz_byte(&in);
	struct opts o = { flags, fuzz_byte(&in) * 8u };
	size_t step = flags >> 2 & 15, len = in.len;
	struct kbal_http_msg *a, *b;
	struct fuzz_run ra, rb;
	char *buf;

	if (len > KBAL_HTTP_HEAD_BUF)
		return -1;
	buf = fuzz_dup(in.p, len);
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	kbal_http_init_response(a);
	kbal_http_init_response(b);
	a->skip_body = b->skip_body = flags & 1;   /* the request was HEAD */
	fuzz_feed(a, buf, len, 0, response_head, &o, &ra);
	fuzz_feed(b, buf, len, step, response_head, &o, &rb);
	fuzz_check_same(a, &ra, b, &rb);
	if (ra.last == KBAL_HTTP_ERROR)
		check_lines(buf, len);
	free(a);
	free(b);
	free(buf);
	return 0;
}
