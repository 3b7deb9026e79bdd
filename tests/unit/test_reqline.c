// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/reqline.c: the request line as httpd 2.4 reads it (Strict,
 * LenientMethods), and the parser taking what llhttp alone refuses. */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "http.h"
#include "reqline.h"

UNIT_TEST(reqline_as_httpd)
{
	static const struct { const char *line; int ok; const char *method, *url; int major, minor; }
	t[] = {
		{ "GET /a HTTP/1.1", 1, "GET", "/a", 1, 1 },
		{ "FOO /a HTTP/1.1", 1, "FOO", "/a", 1, 1 },
		{ "get /a HTTP/1.1", 1, "get", "/a", 1, 1 },
		{ "M-1!#$%&'*+.^_`|~ /a HTTP/1.1", 1, "M-1!#$%&'*+.^_`|~", "/a", 1, 1 },
		{ "GET /a HTTP/1.0", 1, "GET", "/a", 1, 0 },
		{ "GET /a HTTP/1.2", 1, "GET", "/a", 1, 2 },
		{ "GET /a HTTP/2.0", 1, "GET", "/a", 2, 0 },
		{ "GET /a HTTP/9.9", 1, "GET", "/a", 9, 9 },
		{ "CONNECT x:443 HTTP/1.1", 1, "CONNECT", "x:443", 1, 1 },
		{ "GET /\x80\xff\"<>{} HTTP/1.1", 1, "GET", "/\x80\xff\"<>{}", 1, 1 },
		{ "GET /a HTTP/0.9", 0 }, { "GET /a HTTP/10.0", 0 }, { "GET /a HTTP/1.10", 0 },
		{ "GET /a http/1.1", 0 }, { "GET /a HTTP/1.1 ", 0 }, { "GET /a HTTP/1.1 x", 0 },
		{ "GET /a", 1, "GET", "/a", 0, 9 }, { "GET /a ", 1, "GET", "/a", 0, 9 },
		{ "GET http://h/a", 1, "GET", "http://h/a", 0, 9 },
		{ "GET /a  ", 0 }, { "HEAD /a", 0 }, { "get /a", 0 }, { "POST /a", 0 },
		{ "GET /a HTTP/1", 0 }, { "GET /a HTTP/a.1", 0 }, { "GET ", 0 },
		{ "GET", 0 }, { " GET /a HTTP/1.1", 0 }, { "GET  /a HTTP/1.1", 0 },
		{ "GET /a  HTTP/1.1", 0 }, { "GET\t/a HTTP/1.1", 0 }, { "G@T /a HTTP/1.1", 0 },
		{ "G(T /a HTTP/1.1", 0 }, { "GET /a\x01 HTTP/1.1", 0 }, { "GET /a\x7f HTTP/1.1", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct kbal_reqline rl;
		char got[128], want[128];
		int rc = kbal_reqline_parse(t[i].line, strlen(t[i].line), &rl);

		if (!ASSERT_EQ(rc, t[i].ok ? 0 : -1, t[i].line) || rc)
			continue;
		snprintf(got, sizeof(got), "%.*s|%.*s|%u.%u", (int)rl.method_len, t[i].line,
			 (int)rl.url_len, t[i].line + rl.url_off, rl.major, rl.minor);
		snprintf(want, sizeof(want), "%s|%s|%d.%d", t[i].method, t[i].url, t[i].major,
			 t[i].minor);
		ASSERT_STREQ(got, want, t[i].line);
	}
}

/* the whole head through kbal_http_feed(), a byte at a time too: spans in
 * the caller's buffer, HTTP/1.1 semantics from 1.1 up, the body framed
 * as for any method */
static void feed_all(const char *raw, size_t len, size_t step, struct kbal_http_msg *m,
		     int *rc, size_t *at)
{
	size_t off = 0, used, have = step ? 0 : len;

	kbal_http_init_request(m, NULL);
	*rc = KBAL_HTTP_AGAIN;
	while (off < len) {
		if (off == have)
			have += step;
		*rc = kbal_http_feed(m, raw, off, have - off, &used);
		off += used;
		if (*rc == KBAL_HTTP_HEAD) {
			*rc = kbal_http_feed(m, raw, off, have - off, &used);
			off += used;
		}
		if (*rc == KBAL_HTTP_DONE || *rc == KBAL_HTTP_ERROR)
			break;
	}
	*at = off;
}

UNIT_TEST(reqline_through_the_parser)
{
	static const char foo[] = "\r\nfoo /x?y HTTP/2.0\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET";
	static const char ten[] = "PROPFIND /d HTTP/1.0\r\nHost: h\r\n\r\n";
	static const char nine[] = "\r\nGET /a \r\nHost: h\r\n\r\n";

	for (size_t step = 0; step < 2; step++) {
		struct kbal_http_msg m;
		size_t at;
		int rc;
		char what[64];

		snprintf(what, sizeof(what), "foo HTTP/2.0 (step %zu)", step);
		feed_all(foo, sizeof(foo) - 1, step, &m, &rc, &at);
		ASSERT_EQ(rc, KBAL_HTTP_DONE, what);
		ASSERT_EQ(at, sizeof(foo) - 1 - 3, what);
		ASSERT_EQ(m.method.off, 2, what);
		ASSERT_EQ(m.method.len, 3, what);
		ASSERT_EQ(m.url.off, 6, what);
		ASSERT_EQ(m.url.len, 4, what);
		ASSERT_EQ(m.http_major * 10 + m.http_minor, 11, what);
		ASSERT_EQ(m.proto_major * 10 + m.proto_minor, 20, what);
		ASSERT_EQ(m.keep_alive, 1, what);
		ASSERT_EQ(m.content_length, 3, what);
		ASSERT_EQ(m.nheaders, 2, what);
		ASSERT_EQ(m.start_line.len, strlen("foo /x?y HTTP/2.0"), what);
		ASSERT_TRUE(!memcmp(foo + m.headers[0].name.off, "Host", 4), what);

		/* HTTP/0.9: the line is the request, what follows no one's */
		snprintf(what, sizeof(what), "HTTP/0.9 (step %zu)", step);
		feed_all(nine, sizeof(nine) - 1, step, &m, &rc, &at);
		ASSERT_EQ(rc, KBAL_HTTP_DONE, what);
		ASSERT_EQ(at, 11, what);
		ASSERT_EQ(m.http09, 1, what);
		ASSERT_EQ(m.head_len, 11, what);
		ASSERT_EQ(m.msg_end, 11, what);
		ASSERT_EQ(m.http_major * 10 + m.http_minor, 10, what);
		ASSERT_EQ(m.proto_major * 10 + m.proto_minor, 9, what);
		ASSERT_EQ(m.keep_alive, 0, what);
		ASSERT_EQ(m.nheaders, 0, what);
		ASSERT_EQ(m.content_length, -1, what);
		ASSERT_EQ(m.start_line.off, 2, what);
		ASSERT_EQ(m.start_line.len, 6, what);

		snprintf(what, sizeof(what), "PROPFIND HTTP/1.0 (step %zu)", step);
		feed_all(ten, sizeof(ten) - 1, step, &m, &rc, &at);
		ASSERT_EQ(rc, KBAL_HTTP_DONE, what);
		ASSERT_EQ(m.http_major * 10 + m.http_minor, 10, what);
		ASSERT_EQ(m.keep_alive, 0, what);
	}
}
