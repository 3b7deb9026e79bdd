// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http.c - llhttp glue for the first exchange of a connection.
 *
 * llhttp is paused in on_headers_complete and on_message_complete so that
 * llhttp_get_error_pos() gives the exact end of the head and of the
 * message: kbald splices from there on and must not lose or repeat a byte.
 *
 * llhttp 8.1 without lenient flags already rejects Content-Length with
 * Transfer-Encoding, duplicate Content-Length, bad chunk sizes, control
 * characters and bare LF in header values. It accepts, and so this file
 * rejects: white space before the colon, a response's line with no name
 * (what httpd makes of such a head: http_lines.c), obs-fold (but in a response's
 * header other than Content-Length, Transfer-Encoding and Connection,
 * which it joins as httpd does: unfold()), a response's version
 * other than 1.x, Transfer-Encoding other than exactly "chunked" (it lets
 * "gzip, chunked" through, and any coding in a response), more than one
 * Host, a Host httpd's vhost.c refuses (hostname.c), and more headers than
 * there are slots.
 *
 * A request's line is kbald's own to read (reqline.c, as httpd reads it:
 * any method token, any HTTP/D.D from 1.0); llhttp is given a line of its
 * own in its place ("GET / HTTP/1.1", or 1.0), in a call of its own, then
 * the header block from kbald's buffer, so that every span still points
 * there and the body is framed as for any method (http_edit.c, with the
 * de-chunking of bodies and the editing of a parsed head).
 *
 * What a parsed head says (a header, its tokens, the sticky route) and the
 * heads kbald sends on, built from it: http_head.c.
 */
#include <string.h>
#include <strings.h>
#include "hostname.h"
#include "http.h"
#include "http_int.h"

/* in_value: where the header callbacks are */
enum { HDR_NONE, HDR_NAME, HDR_VALUE };

static uint32_t off_of(const struct kbal_http_msg *m, const char *at)
{
	return (uint32_t)(at - m->base);
}

static int fail(struct kbal_http_msg *m, const char *why)
{
	m->error = why;
	llhttp_set_error_reason(&m->parser, why);
	return HPE_USER;
}

static int span_eq(const struct kbal_http_msg *m, struct kbal_span s, const char *str)
{
	size_t n = strlen(str);

	return s.len == n && strncasecmp(m->base + s.off, str, n) == 0;
}

/* Bytes arriving in pieces give several callbacks for one span: join them. */
static void span_add(struct kbal_http_msg *m, struct kbal_span *s,
		     const char *at, size_t len)
{
	if (s->len == 0)
		s->off = off_of(m, at);
	s->len += len;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
	struct kbal_http_msg *m = msg_of(p);

	if (!m->synth)
		span_add(m, &m->method, at, len);
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct kbal_http_msg *m = msg_of(p);

	if (!m->synth)
		span_add(m, &m->url, at, len);
	return 0;
}

/* Responses: the version is the first span; "HTTP/" comes just before it. */
static int on_version(llhttp_t *p, const char *at, size_t len)
{
	struct kbal_http_msg *m = msg_of(p);

	(void)len;
	if (p->type == HTTP_RESPONSE && m->start_line.len == 0 &&
	    off_of(m, at) >= 5) {
		m->start_line.off = off_of(m, at) - 5;
		m->start_line.len = 1; /* marks it found; the end comes at HEAD */
	}
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct kbal_http_msg *m = msg_of(p);
	struct kbal_http_header *h;

	if (m->head_done)       /* chunked trailers: not ours to forward */
		return 0;
	if (p->http_major != 1) /* HTTP/0.9 parses a header block too */
		return fail(m, "unsupported HTTP version");
	if (m->in_value != HDR_NAME) {
		if (m->nheaders == KBAL_HTTP_MAX_HEADERS)
			return fail(m, "too many headers");
		h = &m->headers[m->nheaders++];
		h->name.off = off_of(m, at);
		h->name.len = len;
		/* an empty value gets no callback: put it after the colon */
		h->value.off = h->name.off + len + 1;
		h->value.len = 0;
		m->in_value = HDR_NAME;
		return 0;
	}
	m->headers[m->nheaders - 1].name.len += len;
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct kbal_http_msg *m = msg_of(p);
	struct kbal_http_header *h;

	if (m->head_done)
		return 0;
	h = &m->headers[m->nheaders - 1];
	h->value.off = h->name.off + h->name.len + 1;
	/* a response's line with no name: httpd refuses it (kbal_http_lines()) */
	if (p->type == HTTP_RESPONSE && !h->name.len)
		return fail(m, "empty header name");
	/* llhttp keeps "Host " as a name; a proxy that trims it would see Host */
	if (memchr(m->base + h->name.off, ' ', h->name.len) ||
	    memchr(m->base + h->name.off, '\t', h->name.len))
		return fail(m, "white space before colon");
	return 0;
}

/*
 * A response's header value h continued at at on an obs-fold line:
 * httpd's ap_rgetline() (AP_GETLINE_FOLD) joins the line to the one before
 * it without its CRLF, the continuation's white space kept ("X-A: a",
 * " b": "a  b"). The value's bytes so far move two bytes on, over the CRLF,
 * to meet the continuation, and the two bytes they leave become spaces
 * (the buffer, base's, is kbald's own: the head stays one that parses as
 * the value does, one line fewer). 0, or -1 where the gap is no fold.
 */
static int unfold(struct kbal_http_msg *m, struct kbal_http_header *h, const char *at)
{
	char *b = (char *)m->base;    /* base points into kbald's writable buffer */
	uint32_t end = h->value.off + h->value.len, i;

	if (off_of(m, at) < end + 2 || b[end] != '\r' || b[end + 1] != '\n')
		return -1;
	for (i = end + 2; i < off_of(m, at); i++)
		if (b[i] != ' ' && b[i] != '\t')
			return -1;
	if (i == end + 2 && at[0] != ' ' && at[0] != '\t')
		return -1;
	memmove(b + h->value.off + 2, b + h->value.off, h->value.len);
	b[h->value.off] = b[h->value.off + 1] = ' ';
	h->value.off += 2;
	h->value.len = off_of(m, at) - h->value.off;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct kbal_http_msg *m = msg_of(p);
	struct kbal_http_header *h;

	if (m->head_done)
		return 0;
	h = &m->headers[m->nheaders - 1];
	if (m->in_value != HDR_VALUE) {
		h->value.off = off_of(m, at);
		h->value.len = len;
		m->in_value = HDR_VALUE;
		return 0;
	}
	/* split reads stay contiguous; llhttp resumes a folded line after CRLF */
	if (off_of(m, at) != h->value.off + h->value.len &&
	    (p->type != HTTP_RESPONSE || span_eq(m, h->name, "content-length") ||
	     span_eq(m, h->name, "transfer-encoding") || span_eq(m, h->name, "connection") ||
	     unfold(m, h, at)))
		return fail(m, "obs-fold line folding");
	h->value.len += len;
	return 0;
}

static unsigned count_named(const struct kbal_http_msg *m, const char *name)
{
	unsigned i, n = 0;

	for (i = 0; i < m->nheaders; i++)
		n += span_eq(m, m->headers[i].name, name);
	return n;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct kbal_http_msg *m = msg_of(p);
	struct kbal_http_header *h;
	const char *v;

	if (m->head_done)
		return 0;
	m->in_value = HDR_NONE;
	h = &m->headers[m->nheaders - 1];
	/* llhttp drops leading OWS but keeps trailing OWS */
	v = m->base + h->value.off;
	while (h->value.len && (v[h->value.len - 1] == ' ' || v[h->value.len - 1] == '\t'))
		h->value.len--;

	if (span_eq(m, h->name, "transfer-encoding")) {
		/* a coding after chunked, or none at all, is framed by close in
		 * a response and rejected in a request: only chunked is safe */
		if (count_named(m, "transfer-encoding") > 1 || !span_eq(m, h->value, "chunked"))
			return fail(m, "unsupported Transfer-Encoding");
	} else if (p->type == HTTP_REQUEST && span_eq(m, h->name, "host")) {
		if (count_named(m, "host") > 1)
			return fail(m, "more than one Host header");
		/* httpd's vhost.c checks it (strict) for an origin-form target;
		 * an absolute-form one's authority replaces it there */
		if (m->url.len && (m->base[m->url.off] == '/' || m->base[m->url.off] == '*') &&
		    !kbal_host_valid(m->base + h->value.off, h->value.len))
			return fail(m, "malformed Host header");
	} else if (p->type == HTTP_REQUEST && span_eq(m, h->name, "expect")) {
		if (span_eq(m, h->value, "100-continue"))
			m->expect_continue = 1;
	}
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct kbal_http_msg *m = msg_of(p);

	if (p->http_major != 1)
		return fail(m, "unsupported HTTP version");
	/* "chunked" followed by a tab passes the check above (trailing OWS is
	 * trimmed) but is not chunked to llhttp, which would frame such a
	 * response by the close while the head sent on says chunked */
	if (count_named(m, "transfer-encoding") && !(p->flags & F_CHUNKED))
		return fail(m, "unsupported Transfer-Encoding");
	if (m->skip_body)
		p->flags |= F_SKIPBODY; /* what returning 1 would do, but we pause */
	/* a member's Content-Length its Connection names: mod_proxy_http's
	 * ap_proxy_http_process_response() drops it with the Connection line
	 * (ap_proxy_clear_connection()) before it frames the body from what
	 * is left, so the body ends at the member's close (exch_eof_plan());
	 * llhttp reads the flags after this callback */
	if (p->type == HTTP_RESPONSE && (p->flags & F_CONTENT_LENGTH) &&
	    kbal_http_connection_names(m, m->base, "Content-Length")) {
		p->flags &= ~F_CONTENT_LENGTH;
		p->content_length = 0;
	}
	if (p->type == HTTP_RESPONSE) {
		m->http_major = p->http_major;
		m->http_minor = p->http_minor;
	}
	m->status = p->type == HTTP_RESPONSE ? (unsigned)p->status_code : 0;
	m->content_length = p->flags & F_CONTENT_LENGTH ? (int64_t)p->content_length : -1;
	m->chunked = !!(p->flags & F_CHUNKED);
	m->keep_alive = llhttp_should_keep_alive(p);
	m->head_done = 1;
	return HPE_PAUSED; /* 1 and 2 mean skip body / upgrade here, 21 pauses */
}

static int on_message_complete(llhttp_t *p)
{
	struct kbal_http_msg *m = msg_of(p);

	m->done = 1;
	/* 101 switches protocols even without "Connection: upgrade" */
	m->upgrade = p->upgrade || m->status == 101;
	return HPE_PAUSED;
}

static const llhttp_settings_t request_settings = {
	.on_body = http_on_body,       /* a chunked request's, de-chunked (exchange.c) */
	.on_method = on_method,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

static const llhttp_settings_t response_settings = {
	.on_body = http_on_body,
	.on_version = on_version,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

static void msg_clear(struct kbal_http_msg *m)
{
	llhttp_t parser = m->parser;
	uint8_t skip_body = m->skip_body;

	memset(m, 0, sizeof(*m));
	m->parser = parser;
	m->skip_body = skip_body;
	m->content_length = -1;
}

void kbal_http_init_request(struct kbal_http_msg *m, const struct kbal_http_limits *limits)
{
	memset(m, 0, sizeof(*m));
	llhttp_init(&m->parser, HTTP_REQUEST, &request_settings);
	m->content_length = -1;
	m->limits = limits;
}

void kbal_http_init_response(struct kbal_http_msg *m)
{
	memset(m, 0, sizeof(*m));
	llhttp_init(&m->parser, HTTP_RESPONSE, &response_settings);
	m->content_length = -1;
}

void kbal_http_next(struct kbal_http_msg *m)
{
	msg_clear(m);
	/* a parser anew for the final head: after an HTTP/1.0 member's
	 * interim head llhttp took what follows for a closed connection's
	 * bytes (no callback, no error: the answer never ended), and one
	 * kbal_http_lines() read leaves llhttp's error, which sticks */
	llhttp_init(&m->parser, m->parser.type,
		    m->parser.type == HTTP_REQUEST ? &request_settings : &response_settings);
}

int http_feed_error(struct kbal_http_msg *m, llhttp_errno_t err)
{
	if (!m->error)
		m->error = llhttp_get_error_reason(&m->parser);
	if (!m->error)
		m->error = llhttp_errno_name(err);
	return KBAL_HTTP_ERROR;
}

int http_refuse(struct kbal_http_msg *m, unsigned status, const char *why)
{
	m->refuse = status;
	m->error = why;
	return KBAL_HTTP_ERROR;
}

/* The head's lines in base[from, to) against httpd's limits, as its
 * ap_rgetline() reads them: a line as long as limit + 2, its CRLF aside,
 * or a field past LimitRequestFields, is refused (httpd's statuses) */
int http_head_limits(struct kbal_http_msg *m, const char *base, uint32_t from, uint32_t to)
{
	const struct kbal_http_limits *lim = m->limits;

	for (uint32_t i = from; i < to; i++) {
		uint32_t len, start = m->ls;

		if (base[i] != '\n')
			continue;
		len = i - start - (i > start && base[i - 1] == '\r');
		m->ls = i + 1;
		/* blank lines before the request line, as llhttp skips them: any
		 * CRs and LFs ("\r\r\n" too, which would else count as the
		 * request line and the next "\r\n" as the head's end, leaving
		 * the real lines unchecked) */
		if (!m->nlines && strspn(base + start, "\r") >= i - start)
			continue;
		if (!len)
			break;                 /* the head's end */
		if (!m->nlines && lim->line && len >= lim->line + 2)
			return http_refuse(m, 414, "request line longer than LimitRequestLine");
		if (m->nlines && lim->field && len >= lim->field + 2)
			return http_refuse(m, 400, "Size of a request header field exceeds server limit "
					      "(LimitRequestFieldSize)");
		if (m->nlines && lim->fields && m->nlines > lim->fields)
			return http_refuse(m, 400, "The number of request header fields exceeds this "
					      "server's limit (LimitRequestFields)");
		m->nlines++;
	}
	return 0;
}

unsigned kbal_http_head_overflow(const struct kbal_http_msg *m, uint32_t len)
{
	const struct kbal_http_limits *lim = m->limits;
	uint32_t partial = len - m->ls;

	if (!lim)
		return 431;
	if (!m->nlines)
		return lim->line && partial >= lim->line + 2 ? 414 : 431;
	return lim->field && partial >= lim->field + 2 ? 400 : 431;
}

/* The start line ends at the first line end of the head. */
static void set_start_line(struct kbal_http_msg *m)
{
	uint32_t off = m->parser.type == HTTP_REQUEST ? m->method.off : m->start_line.off;
	uint32_t end = off;

	while (end < m->head_len && m->base[end] != '\r' && m->base[end] != '\n')
		end++;
	m->start_line.off = off;
	m->start_line.len = end - off;
}
static int feed_parser(struct kbal_http_msg *m, const char *base, size_t off, size_t len,
		       size_t *used);

int kbal_http_feed(struct kbal_http_msg *m, const char *base, size_t off,
		   size_t len, size_t *used)
{
	size_t next, pre;
	int rc;

	m->base = base;
	*used = 0;
	if (m->error)
		return KBAL_HTTP_ERROR;
	if (m->parser.type != HTTP_REQUEST || m->line_done)
		return feed_parser(m, base, off, len, used);
	if (m->limits && !m->lim_started) {
		m->ls = off;                   /* the head starts here */
		m->lim_started = 1;
	}
	if (!m->rl_started) {
		m->rl_from = (uint32_t)off;
		m->rl_started = 1;
	}
	rc = http_request_line(m, base, off, len, &next);
	if (rc <= 0) {
		*used = rc == 0 ? len : 0;
		return rc == 0 ? KBAL_HTTP_AGAIN : rc;
	}
	pre = next - off;
	if (rc == 2) {
		*used = pre;                   /* HTTP/0.9: done with its line */
		return KBAL_HTTP_HEAD;
	}
	rc = feed_parser(m, base, next, len - pre, used);
	*used += pre;
	return rc;
}

static int feed_parser(struct kbal_http_msg *m, const char *base, size_t off, size_t len,
		       size_t *used)
{
	const char *start = base + off, *pos;
	llhttp_errno_t err;
	int in_head;

	m->base = base;
	*used = 0;
	if (m->error)
		return KBAL_HTTP_ERROR;
	if (m->done)
		return KBAL_HTTP_DONE;

	if (m->limits && !m->lim_started) {
		m->ls = off;                   /* the head starts here */
		m->lim_started = 1;
	}
	in_head = m->limits && !m->head_done;
	err = llhttp_execute(&m->parser, start, len);
	if (err == HPE_OK) {
		*used = len;
		if (in_head && http_head_limits(m, base, off, off + len))
			return KBAL_HTTP_ERROR;
		return KBAL_HTTP_AGAIN;
	}
	pos = llhttp_get_error_pos(&m->parser);
	if (pos && pos >= start && pos <= start + len)
		*used = pos - start;
	/* the head's bytes up to where llhttp stopped: a line over a limit
	 * is what httpd would answer first */
	if (in_head && http_head_limits(m, base, off, off + *used))
		return KBAL_HTTP_ERROR;
	if (err == HPE_PAUSED_UPGRADE) {
		/* on_message_complete pauses before this; kept for safety */
		m->done = 1;
		m->upgrade = 1;
		m->msg_end = pos - base;
		return KBAL_HTTP_DONE;
	}
	if (err != HPE_PAUSED)
		return http_feed_error(m, err);
	if (m->done) {
		m->msg_end = pos - base;
		return KBAL_HTTP_DONE;
	}

	/* paused at the end of the head */
	m->head_len = pos - base;
	set_start_line(m);
	llhttp_resume(&m->parser);
	/*
	 * Run llhttp on no bytes: it decides the body's framing and, when
	 * there is no body, completes the message here. Then m->done is set
	 * along with HEAD, and DONE is returned by the next call even if no
	 * more bytes come.
	 */
	err = llhttp_execute(&m->parser, pos, 0);
	if (err == HPE_PAUSED && m->done) {
		m->msg_end = m->head_len;
	} else if (err == HPE_PAUSED_UPGRADE) {
		m->done = 1;
		m->upgrade = 1;
		m->msg_end = m->head_len;
	} else if (err != HPE_OK) {
		return http_feed_error(m, err);
	}
	return KBAL_HTTP_HEAD;
}
