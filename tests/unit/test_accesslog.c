// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The access log's part of a request refused before its head was whole
 * (user/accesslog.c, kbal_alog_capture_refused()): what httpd's lines say
 * for it, from whatever was read, however little. */
#include <string.h>
#include "unit.h"
#include "accesslog.h"
#include "http.h"

/* the fields captured from raw, fed to a request parser with httpd's
 * default limits first (as kbald does): "line|method|url|proto" */
static void expect_refused(const char *raw, size_t len, const char *want)
{
	static const struct kbal_http_limits lim = { .line = 8190, .field = 8190, .fields = 100 };
	static const struct kbal_alog a;
	struct kbal_http_msg m;
	struct kbal_alog_req r;
	char got[256];
	size_t used;

	kbal_http_init_request(&m, &lim);
	if (len)
		kbal_http_feed(&m, raw, 0, len, &used);
	if (!ASSERT_EQ(kbal_alog_capture_refused(&a, &m, raw, len, 8190, &r), 0, want))
		return;
	snprintf(got, sizeof(got), "%.40s|%s|%s|%s", r.line ? r.line : "(none)", r.method,
		 r.url ? r.url : "(none)", r.proto);
	ASSERT_STREQ(got, want, want);
	kbal_alog_release(&r);
}

#define S(s) s, sizeof(s) - 1

UNIT_TEST(alog_refused_requests)
{
	expect_refused(S("BLAH\r\n\r\n"), "BLAH|BLAH|/|HTTP/1.0");
	expect_refused(S("\r\n\r\nBLAH X\r\n\r\n"), "BLAH X|BLAH|X|HTTP/1.0");
	expect_refused(S("GET /x HTTP/1.1\r\nHost: h\r\nBad Field: 1\r\n\r\n"),
		       "GET /x HTTP/1.1|GET|/x|HTTP/1.1");
	expect_refused(S("GET /never-ended"), "GET /never-ended|-|(none)|HTTP/1.0");
	expect_refused(S(""), "|-|(none)|HTTP/1.0");
	expect_refused(S("\r\n\r\n"), "|-|(none)|HTTP/1.0");
	expect_refused(S("GET  "), "GET  |-|(none)|HTTP/1.0");
}

UNIT_TEST(alog_refused_line_over_the_limit)
{
	static char raw[9100];
	static const struct kbal_alog a;
	struct kbal_http_msg m;
	struct kbal_alog_req r;

	memcpy(raw, "GET /", 5);
	memset(raw + 5, 'a', 9000);
	memcpy(raw + 9005, " HTTP/1.1\r\n\r\n", 13);
	kbal_http_init_request(&m, NULL);
	if (!ASSERT_EQ(kbal_alog_capture_refused(&a, &m, raw, 9018, 8190, &r), 0, "capture"))
		return;
	ASSERT_EQ(strlen(r.line), 8191, "LimitRequestLine + 1 bytes, as httpd's 414 line");
	ASSERT_STREQ(r.method, "-", "no method");
	ASSERT_EQ(r.url == NULL, 1, "no path");
	kbal_alog_release(&r);
}

/* %U's path (httpd's r->uri) is decoded only where a format logs %U */
UNIT_TEST(alog_path_only_where_logged)
{
	static const char raw[] = "GET /a/./b%41//c?q HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *fmts[] = { "%h %r %>s", "%U%q" };
	struct kbal_http_msg m;
	size_t used;

	kbal_http_init_request(&m, NULL);
	kbal_http_feed(&m, raw, 0, sizeof(raw) - 1, &used);
	for (int i = 0; i < 2; i++) {
		struct kbal_alog a = { 0 };
		struct kbal_alog_req r;
		char err[128];

		if (!ASSERT_EQ(kbal_alog_compile(fmts[i], &a.fmt[0], a.hdrs, &a.nhdrs, err,
						 sizeof(err)), 0, fmts[i]))
			return;
		a.path = kbal_alog_logs_path(&a.fmt[0]);
		ASSERT_EQ(a.path, i, fmts[i]);
		if (!ASSERT_EQ(kbal_alog_capture(&a, &m, raw, &r), 0, "capture"))
			return;
		if (i)
			ASSERT_STREQ(r.path ? r.path : "(none)", "/a/bA/c", "the path %U logs");
		else
			ASSERT_EQ(r.path == NULL, 1, "no path decoded without %U");
		kbal_alog_release(&r);
	}
}
