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
		/* apr_isspace() trims VT and FF about a value: httpd takes it
		 * (llhttp's refusal stands: not ours to say) */
		{ "VT about a value", SL "X-A: \013v\014\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "obs-text in a value", SL "X-A: a\200b\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "a head httpd takes", SL "X-A:1\r\n\r\n", 0, KBAL_LINES_OTHER },
		{ "IIS's stray status line", SL "HTTP/1.0 200 OK\r\nX: y\r\n\r\n", 0, KBAL_LINES_OTHER },
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
		/* a 101 is kbald's tunnel: its refusal stands */
		{ "a 101", "HTTP/1.1 101 Switching\r\nFoo : v\r\n\r\n", 0, KBAL_LINES_OTHER },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = t[i].len ? t[i].len : strlen(t[i].head);

		ASSERT_EQ(kbal_http_lines(NULL, t[i].head, 0, (uint32_t)len), t[i].want, t[i].name);
	}
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
