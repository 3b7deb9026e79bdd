// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/http.c, kbal_http_set_value(): a header's value replaced in a
 * parsed head (an absolute-form target's host in place of the Host
 * header's), the bytes after it moved, the spans with them, and the
 * parser going on with the body from the moved offset. */
#include <errno.h>
#include <string.h>
#include "unit.h"
#include "http.h"

UNIT_TEST(http_set_value_moves_what_follows)
{
	static const char req[] = "POST http://Other.Test:81/x HTTP/1.1\r\nHost: a\r\n"
				  "X-After: yes\r\nContent-Length: 5\r\n\r\nhello";
	const char *vals[] = { "other.test:81", "", "b" };

	for (unsigned t = 0; t < 3; t++) {
		char buf[256];
		struct kbal_http_msg m;
		uint32_t len = sizeof(req) - 1, fed;
		size_t used;
		const struct kbal_http_header *h;
		long delta;

		memcpy(buf, req, len);
		kbal_http_init_request(&m, NULL);
		if (!ASSERT_EQ(kbal_http_feed(&m, buf, 0, len, &used), KBAL_HTTP_HEAD, "head"))
			return;
		fed = (uint32_t)used;
		h = kbal_http_find(&m, buf, "Host");
		ASSERT_EQ(kbal_http_set_value(&m, buf, &len, sizeof(buf), (unsigned)(h - m.headers),
					      vals[t], (uint32_t)strlen(vals[t]), &delta), 0, vals[t]);
		ASSERT_EQ(delta, (long)strlen(vals[t]) - 1, vals[t]);
		fed += delta;
		h = kbal_http_find(&m, buf, "Host");
		ASSERT_EQ(h->value.len, strlen(vals[t]), "the new value's length");
		ASSERT_EQ(memcmp(buf + h->value.off, vals[t], h->value.len), 0, "the new value");
		h = kbal_http_find(&m, buf, "X-After");
		ASSERT_EQ(h && h->value.len == 3 && !memcmp(buf + h->value.off, "yes", 3), 1,
			  "a header after it, moved with its span");
		ASSERT_EQ(m.head_len, fed, "the head's end moved");
		ASSERT_EQ(memcmp(buf + m.head_len, "hello", 5), 0, "the body after it");
		ASSERT_EQ(kbal_http_feed(&m, buf, fed, len - fed, &used), KBAL_HTTP_DONE,
			  "the body parsed from the moved offset");
		ASSERT_EQ(m.msg_end, len, "the message's end");
	}
	{
		char buf[64] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
		struct kbal_http_msg m;
		uint32_t len = (uint32_t)strlen(buf);
		size_t used;
		long delta;

		kbal_http_init_request(&m, NULL);
		kbal_http_feed(&m, buf, 0, len, &used);
		ASSERT_EQ(kbal_http_set_value(&m, buf, &len, sizeof(buf), 0, buf, 60, &delta), -ENOSPC,
			  "no room: refused, nothing moved");
		ASSERT_EQ(len, (uint32_t)strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "the length");
	}
	{
		/* a value 28 bytes shorter: a delta of -28 is no error (it was
		 * read as -ENOSPC: a 431 for a long Host and a short target host) */
		char buf[128] = "GET http://a/ HTTP/1.1\r\nHost: abcdefghijklmnopqrstuvwxyz123\r\n\r\n";
		struct kbal_http_msg m;
		uint32_t len = (uint32_t)strlen(buf);
		size_t used;
		long delta = 0;

		kbal_http_init_request(&m, NULL);
		kbal_http_feed(&m, buf, 0, len, &used);
		ASSERT_EQ(kbal_http_set_value(&m, buf, &len, sizeof(buf), 0, "a", 1, &delta), 0,
			  "a value 28 bytes shorter");
		ASSERT_EQ(delta, -28L, "its delta");
		ASSERT_EQ(memcmp(buf, "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", len), 0,
			  "the head after it");
	}
}

UNIT_TEST(http_set_target_moves_the_headers)
{
	char buf[128] = "CONNECT example.test:443 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct kbal_http_msg m;
	uint32_t len = (uint32_t)strlen(buf);
	size_t used;
	const struct kbal_http_header *h;
	long delta = 0;

	kbal_http_init_request(&m, NULL);
	kbal_http_feed(&m, buf, 0, len, &used);
	ASSERT_EQ(kbal_http_set_target(&m, buf, &len, sizeof(buf), "/", 1, &delta), 0, "set");
	ASSERT_EQ(delta, 1L - (long)strlen("example.test:443"), "its delta");
	ASSERT_EQ(memcmp(buf, "CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", len), 0, "the head");
	ASSERT_EQ(m.url.len, 1u, "the target's span");
	h = kbal_http_find(&m, buf, "Host");
	ASSERT_EQ(h && h->value.len == 1 && buf[h->value.off] == 'x', 1, "Host's span moved");
	ASSERT_EQ(m.head_len, len, "the head's end");
}
