// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/http_lines.c: a member's head llhttp refused, as httpd reads it
 * (ap_proxy_read_headers(), then check_headers() on a final head). */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "http.h"

#define SL "HTTP/1.1 200 OK\r\n"

UNIT_TEST(http_lines_as_httpd)
{
	static const struct { const char *name, *head; size_t len; int want; } t[] = {
		{ "space before ':'", SL "Foo : v\r\nX: y\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "tab before ':'", SL "Foo\t: v\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "a control byte in a value", SL "X-A: a\001b\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "DEL in a value", SL "X-A: a\177b\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "VT within a value", SL "X-A: a\013b\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "a control byte in a name", SL "X\001A: v\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "'@' in a name", SL "X@A: v\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "obs-text in a name", SL "X\200A: v\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "no name", SL ": v\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "a fold with a control byte", SL "X-A: a\r\n \001b\r\n\r\n", 0, KBAL_LINES_REFUSED },
		/* apr_isspace() trims VT and FF about a value, and a CR
		 * before a line's CRLF; ap_rgetline() ends a line at a bare
		 * LF: httpd takes the head, written again as it read it */
		{ "VT about a value", SL "X-A: \013v\014\r\n\r\n", 0, KBAL_LINES_AS_READ },
		{ "a CR before CRLF", SL "X-A: v\r\r\n\r\n", 0, KBAL_LINES_AS_READ },
		{ "a bare LF", SL "X-A: v\nX-B: w\r\n\r\n", 0, KBAL_LINES_AS_READ },
		{ "bare LFs only", "HTTP/1.1 200 OK\nX-A: v\n\n", 0, KBAL_LINES_AS_READ },
		{ "a bare LF, no end yet", SL "X-A: v\n", 0, KBAL_LINES_AGAIN },
		{ "a CR within a value", SL "X-A: a\rb\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "a bare LF, then refused", SL "X-A: v\nFoo : v\r\n\r\n", 0, KBAL_LINES_REFUSED },
		{ "a fold and VT", SL "X-A: \013v\r\n b\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "obs-text in a value", SL "X-A: a\200b\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "a head httpd takes", SL "X-A:1\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "IIS's stray status line", SL "HTTP/1.0 200 OK\r\nX: y\r\n\r\n", 0, KBAL_LINES_AS_READ },
		{ "IIS's, and a refused line", SL "HTTP/1.0 200 OK\r\nFoo : v\r\n\r\n", 0,
		  KBAL_LINES_REFUSED },
		{ "not HTTP/1", "HTTP/2.0 200 OK\r\nFoo : v\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "no status line", "garbage\r\nFoo : v\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "a line without ':'", SL "NoColon\r\nX: y\r\n\r\n", 0, KBAL_LINES_BAD },
		{ "a NUL", SL "X-A: a\0b\r\n\r\n", 27, KBAL_LINES_BAD },
		/* httpd reads the lines in order: the one without ':' ends it,
		 * whether a refused line came before it or not */
		{ "refused, then without ':'", SL "Foo : v\r\nNoColon\r\n\r\n", 0, KBAL_LINES_BAD },
		{ "without ':', then refused", SL "NoColon\r\nFoo : v\r\n\r\n", 0, KBAL_LINES_BAD },
		/* the head's end not there yet: a refused line waits for it (a
		 * line without ':' after it makes it a 502), one without ':'
		 * does not */
		{ "refused, no end yet", SL "Foo : v\r\n", 0, KBAL_LINES_AGAIN },
		{ "refused, a line under way", SL "Foo : v\r\nX-", 0, KBAL_LINES_AGAIN },
		{ "without ':', no end yet", SL "NoColon\r\nX", 0, KBAL_LINES_BAD },
		{ "no status line's end yet", "HTTP/1.1 200", 0, KBAL_LINES_AGAIN },
		/* a 101 goes as an interim head does (ap_send_interim_response()) */
		{ "a 101", "HTTP/1.1 101 Switching\r\nFoo : v\r\n\r\n", 0, KBAL_LINES_REFUSED },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = t[i].len ? t[i].len : strlen(t[i].head);

		ASSERT_EQ(kbal_http_lines(NULL, t[i].head, 0, (uint32_t)len), t[i].want, t[i].name);
	}
}

/* a head written as httpd read it: each line "Name: value", its value
 * without the apr_isspace() bytes about it, CRLF; IIS's stray status line
 * left out; and that written head is one kbal_http_lines() leaves be */
UNIT_TEST(http_lines_write_as_read)
{
	static const char in[] = "xxHTTP/1.1 200 OK\nX-A:\013v\014\r\r\nHTTP/1.0 200 OK\r\n"
				 "X-B:  w \n\nbody";
	static const char want[] = "HTTP/1.1 200 OK\r\nX-A: v\r\nX-B: w\r\n\r\n";
	char out[128];
	uint32_t end = 0;
	ssize_t n;

	if (!ASSERT_EQ(kbal_http_lines(NULL, in, 2, sizeof(in) - 1), KBAL_LINES_AS_READ, "verdict"))
		return;
	n = kbal_http_lines_write(in, 2, sizeof(in) - 1, out, sizeof(out), &end);
	if (!ASSERT_EQ(n, (ssize_t)sizeof(want) - 1, "length"))
		return;
	ASSERT_EQ(memcmp(out, want, (size_t)n), 0, "as read");
	ASSERT_EQ(end, (uint32_t)(sizeof(in) - 1 - 4), "the head's end");
	ASSERT_EQ(kbal_http_lines(NULL, out, 0, (uint32_t)n), KBAL_LINES_OTHER, "written: left be");
	ASSERT_EQ(kbal_http_lines_write(in, 2, sizeof(in) - 1, out, 20, &end), -1, "too small");
}

/* an interim head's refused lines, read as httpd reads them (the name up
 * to ':', the value trimmed), at an offset in the buffer, then written as
 * ap_send_interim_response() writes them; a final head's are not read */
UNIT_TEST(http_lines_interim_read)
{
	static const char buf[] = "xxHTTP/1.0 103 Early\r\nFoo : v\r\nX-A:  a\001b \r\n: e\r\n\r\n"
				  "HTTP/1.1 200 OK\r\n";
	static const char want[] = "HTTP/1.1 103 Early\r\nFoo : v\r\nX-A: a\001b\r\n: e\r\n\r\n";
	struct kbal_http_msg m;
	char out[256];

	kbal_http_init_response(&m);
	if (!ASSERT_EQ(kbal_http_lines(&m, buf, 2, sizeof(buf) - 1), KBAL_LINES_REFUSED, "read"))
		return;
	ASSERT_EQ(m.status, 103, "its status");
	ASSERT_EQ(m.head_len, (uint32_t)(strstr(buf, "\r\n\r\n") + 4 - buf), "its end");
	ASSERT_EQ(m.nheaders, 3, "its lines");
	ASSERT_EQ(kbal_http_build_response(&m, buf, NULL, 0, NULL, NULL,
					   KBAL_RESP_KEEP | KBAL_RESP_INTERIM, out, sizeof(out)),
		  (ssize_t)strlen(want), "written");
	ASSERT_STREQ(out, want, "written as httpd writes it");

	kbal_http_init_response(&m);
	ASSERT_EQ(kbal_http_lines(&m, SL "Foo : v\r\n\r\n", 0, sizeof(SL "Foo : v\r\n\r\n") - 1),
		  KBAL_LINES_REFUSED, "a final head");
	ASSERT_EQ(m.nheaders + m.head_len + m.done, 0, "a final head: not read");
	/* a code under 100 is no interim one (found by fuzz_response) */
	kbal_http_init_response(&m);
	ASSERT_EQ(kbal_http_lines(&m, "HTTP/1.1 010 X\r\nFoo : v\r\n\r\n", 0, 27),
		  KBAL_LINES_REFUSED, "status 010");
	ASSERT_EQ(m.done, 0, "status 010: not read as an interim head");
}
