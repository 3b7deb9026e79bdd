/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * reqline.h - the request line as httpd 2.4 reads it (HttpProtocolOptions
 * Strict LenientMethods, its default): tokenize_request_line() and
 * r_assign_protocol(). kbald reads the line itself rather than letting
 * llhttp do it, because llhttp knows a fixed list of methods and only
 * HTTP/1.0 and 1.1, where httpd forwards any method token ("FOO", "get")
 * and serves any HTTP/D.D from HTTP/1.0 up (HTTP/1.2, HTTP/2.0).
 */
#ifndef KBAL_REQLINE_H
#define KBAL_REQLINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* RFC 9110 tchar, httpd's ap_scan_http_token() */
static inline int kbal_is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct kbal_reqline {
	uint32_t method_len;           /* the method starts the line */
	uint32_t url_off, url_len;     /* the request-target, from the line's start */
	uint8_t major, minor;          /* the version as sent: 1.0 .. 9.9; 0.9 for
				        * none (HTTP/0.9) */
};

/*
 * line[0..len) is a request line without its CRLF. 0 with *out filled
 * when httpd would take it: a method of token characters, one SP, a
 * target of visible characters (or obs-text), one SP, "HTTP/D.D" with D
 * from 1 for the major version, nothing after; or, HTTP/0.9 (Allow0.9,
 * httpd's default: 0.9 in *out), "GET" (exactly), one SP, the target and
 * at most one SP. -1 where httpd answers 400: white space before the
 * method or more than one SP, a control character, no target, no
 * protocol with a method other than GET (HEAD, "get"), "http/1.1",
 * "HTTP/0.9", "HTTP/10.0", trailing text.
 */
int kbal_reqline_parse(const char *line, size_t len, struct kbal_reqline *out);

/* HTTP/1.1 or later: what llhttp is told (the persistence and the Host
 * rules of HTTP/1.1, as httpd's proto_num >= 1.1 gives them) */
static inline int kbal_reqline_is_11(const struct kbal_reqline *rl)
{
	return rl->major > 1 || (rl->major == 1 && rl->minor >= 1);
}

#endif /* KBAL_REQLINE_H */
