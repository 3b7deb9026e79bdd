// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http_edit.c - what http.c's llhttp glue does around the parser: a
 * request's line read by kbald and llhttp given one of its own in its
 * place (an HTTP/0.9 one, the whole request, given none), a chunked body
 * de-chunked in place (an answer for an HTTP/1.0 client, a request for its
 * member), and a parsed head edited in place (a header's value, the
 * request-target).
 */
#include <errno.h>
#include <string.h>
#include "http.h"
#include "http_int.h"
#include "reqline.h"

/* de-chunking: the body's bytes moved down over the framing before them */
int http_on_body(llhttp_t *p, const char *at, size_t len)
{
	struct kbal_http_msg *m = msg_of(p);

	if (m->dc_buf) {
		memmove(m->dc_buf + m->dc_at, at, len);
		m->dc_at += len;
	}
	return 0;
}

/*
 * A request's line, read from base[m->rl_from, off + len) once it has
 * come whole (its limits checked as it comes, the line under way kept
 * from m->rl_from): the method, the target and the version as httpd takes
 * them, then llhttp told "GET / HTTP/1.1" (or 1.0) in their place, which
 * frames the body as for any method (CONNECT's tunnel aside: httpd makes
 * none without mod_proxy_connect). 1 with *next where the header block
 * starts, 0 when the line has not ended (all consumed), or ERROR. 2 for
 * an HTTP/0.9 line, which is the whole request (httpd reads no header
 * block after it): the message ends there, llhttp is given nothing.
 */
int http_request_line(struct kbal_http_msg *m, const char *base, size_t off, size_t len,
		      size_t *next)
{
	static const char l11[] = "GET / HTTP/1.1\r\n", l10[] = "GET / HTTP/1.0\r\n";
	const char *s = base + m->rl_from, *end = base + off + len, *lf;
	struct kbal_reqline rl;
	llhttp_errno_t err;
	size_t n;

	/* blank lines before it are skipped, as httpd and llhttp skip them */
	while (s < end && (*s == '\r' || *s == '\n'))
		s++;
	m->rl_from = (uint32_t)(s - base);
	lf = memchr(s, '\n', end - s);
	if (m->limits && http_head_limits(m, base, off, lf ? (uint32_t)(lf + 1 - base) : off + len))
		return KBAL_HTTP_ERROR;
	if (!lf)
		return 0;
	/* Strict: the line ends in CRLF (httpd's AP_GETLINE_CRLF) */
	n = lf - s;
	m->head = n > 5 && !memcmp(s, "HEAD ", 5);
	if (!n || s[n - 1] != '\r' || kbal_reqline_parse(s, n - 1, &rl))
		return http_refuse(m, 400, "malformed request line");
	m->method = (struct kbal_span){ (uint32_t)(s - base), rl.method_len };
	m->url = (struct kbal_span){ (uint32_t)(s - base) + rl.url_off, rl.url_len };
	m->proto_major = rl.major;
	m->proto_minor = rl.minor;
	m->http_major = 1;
	m->http_minor = kbal_reqline_is_11(&rl);
	if (!rl.major) {
		/* the line as httpd has it (the_request): without the SP
		 * that may end it */
		m->start_line = (struct kbal_span){ m->method.off,
						    m->url.off + m->url.len - m->method.off };
		m->http09 = m->line_done = m->head_done = m->done = 1;
		m->keep_alive = 0;
		m->head_len = m->msg_end = (uint32_t)(lf + 1 - base);
		*next = lf + 1 - base;
		return 2;
	}
	m->synth = 1;
	err = llhttp_execute(&m->parser, m->http_minor ? l11 : l10, sizeof(l11) - 1);
	m->synth = 0;
	if (err != HPE_OK)
		return http_feed_error(m, err);
	m->line_done = 1;
	*next = lf + 1 - base;
	return 1;
}

int kbal_http_feed_dechunked(struct kbal_http_msg *m, char *base, size_t off, size_t len,
			     size_t *used, size_t *kept)
{
	int rc;

	m->dc_buf = base;
	m->dc_at = off;
	rc = kbal_http_feed(m, base, off, len, used);
	*kept = m->dc_at - off;
	m->dc_buf = NULL;
	if (rc == KBAL_HTTP_DONE)
		m->msg_end = (uint32_t)(off + *kept);
	return rc;
}

/* base[off..off+old) of a parsed head becomes val[0..vlen): the bytes
 * after it move, and the spans of headers first.. with them */
static int head_replace(struct kbal_http_msg *m, char *base, uint32_t *len, uint32_t cap,
			uint32_t off, uint32_t old, const char *val, uint32_t vlen, unsigned first,
			long *delta)
{
	uint32_t end = off + old;
	long d = (long)vlen - (long)old;

	if (end > *len || (long)*len + d > (long)cap)
		return -ENOSPC;
	memmove(base + end + d, base + end, *len - end);
	memcpy(base + off, val, vlen);
	for (unsigned k = first; k < m->nheaders; k++) {
		m->headers[k].name.off += d;
		m->headers[k].value.off += d;
	}
	m->head_len += d;
	if (m->done)
		m->msg_end += d;
	if (m->ls >= end)
		m->ls += d;
	*len += d;
	*delta = d;
	return 0;
}

int kbal_http_set_value(struct kbal_http_msg *m, char *base, uint32_t *len, uint32_t cap,
			unsigned i, const char *val, uint32_t vlen, long *delta)
{
	struct kbal_span *v;

	if (i >= m->nheaders)
		return -ENOSPC;
	v = &m->headers[i].value;
	if (head_replace(m, base, len, cap, v->off, v->len, val, vlen, i + 1, delta))
		return -ENOSPC;
	v->len = vlen;
	return 0;
}

int kbal_http_set_target(struct kbal_http_msg *m, char *base, uint32_t *len, uint32_t cap,
			 const char *val, uint32_t vlen, long *delta)
{
	if (head_replace(m, base, len, cap, m->url.off, m->url.len, val, vlen, 0, delta))
		return -ENOSPC;
	m->url.len = vlen;
	m->start_line.len += *delta;
	return 0;
}
