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
 * rejects: white space before the colon, obs-fold, a response's version
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
 */
#include <ctype.h>
#include <stdio.h>
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
	/* llhttp keeps "Host " as a name; a proxy that trims it would see Host */
	if (memchr(m->base + h->name.off, ' ', h->name.len) ||
	    memchr(m->base + h->name.off, '\t', h->name.len))
		return fail(m, "white space before colon");
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
	if (off_of(m, at) != h->value.off + h->value.len)
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
	llhttp_resume(&m->parser);
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

const struct kbal_http_header *kbal_http_find(const struct kbal_http_msg *m,
					      const char *base, const char *name)
{
	size_t n = strlen(name);
	unsigned i;

	for (i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *h = &m->headers[i];

		if (h->name.len == n && strncasecmp(base + h->name.off, name, n) == 0)
			return h;
	}
	return NULL;
}

static int name_is(const char *base, const struct kbal_http_header *h, const char *name)
{
	size_t n = strlen(name);

	return h->name.len == n && strncasecmp(base + h->name.off, name, n) == 0;
}

/* how many Connection headers the message has, -1 if one says anything
 * but token alone */
static int connection_only(const struct kbal_http_msg *m, const char *base, const char *token)
{
	size_t tl = strlen(token);
	unsigned i;
	int n = 0;

	for (i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *h = &m->headers[i];
		const char *v = base + h->value.off;
		size_t len = h->value.len;

		if (!name_is(base, h, "Connection"))
			continue;
		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len != tl || strncasecmp(v, token, tl))
			return -1;
		n++;
	}
	return n;
}

int kbal_http_close_only(const struct kbal_http_msg *m, const char *base)
{
	return connection_only(m, base, "close") > 0;
}

int kbal_http_keepalive_only(const struct kbal_http_msg *m, const char *base)
{
	return connection_only(m, base, "keep-alive") >= 0;
}

/* what ap_find_token() stops a token at: a CTL, white space, a separator */
static int token_stop(unsigned char c)
{
	return c < 0x20 || c == 0x7f || strchr(" \t()<>@,;:\\\"/[]?={}", c);
}

/* httpd's ap_proxy_clear_connection(): is h a header the request's
 * Connection names (its tokens, without case)? Such go with Connection */
static int connection_names(const struct kbal_http_msg *m, const char *base,
			    const struct kbal_http_header *h)
{
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *c = &m->headers[i];
		const char *v = base + c->value.off, *end = v + c->value.len, *t;

		if (c == h || !name_is(base, c, "Connection"))
			continue;
		while (v < end) {
			while (v < end && token_stop((unsigned char)*v))
				v++;
			for (t = v; v < end && !token_stop((unsigned char)*v); v++)
				;
			if (v > t && (size_t)(v - t) == h->name.len &&
			    !strncasecmp(t, base + h->name.off, h->name.len))
				return 1;
		}
	}
	return 0;
}

int kbal_http_find_token(const struct kbal_http_msg *m, const char *base, const char *name,
			 const char *tok)
{
	size_t tl = strlen(tok);
	unsigned i;

	/* httpd merges a request's repeated headers with ", " as it reads
	 * them: each value alone finds the same tokens */
	for (i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *h = &m->headers[i];
		const char *v = base + h->value.off, *end = v + h->value.len, *t;

		if (!name_is(base, h, name))
			continue;
		while (v < end) {
			while (v < end && token_stop((unsigned char)*v))
				v++;
			for (t = v; v < end && !token_stop((unsigned char)*v); v++)
				;
			/* ap_cstr_casecmpn(token, tok, its length): a token that
			 * starts tok matches ("keep" finds "keep-alive") */
			if (v > t && (size_t)(v - t) <= tl && !strncasecmp(t, tok, v - t))
				return 1;
		}
	}
	return 0;
}

/*
 * Apache's get_path_param(), but the name must start a parameter (after
 * ';', '?' or '&') and the value also ends at ';' (scolonpathdelim) and '#'.
 * An empty value is skipped, as there.
 */
/* get_path_param(): name then '=' anywhere in the URL (strstr, as
 * httpd), the value as apr_strtok() takes it: delimiters before it
 * skipped, then up to the next one ("?&", with scolon ";?&") */
static int path_param(const char *url, size_t ulen, const char *name, int scolon,
		      const char **val, size_t *vlen)
{
	const char *delims = scolon ? ";?&" : "?&";
	size_t n = strlen(name), i, j;

	for (i = 0; n && i + n < ulen; i++) {
		if (url[i + n] != '=' || memcmp(url + i, name, n) != 0)
			continue;
		j = i + n + 1;
		while (j < ulen && strchr(delims, url[j]))
			j++;
		if (j == ulen) {
			if (j == i + n + 1)
				continue;   /* "name=" at the end: httpd looks on */
			return 0;           /* only delimiters: apr_strtok() finds none */
		}
		*val = url + j;
		for (*vlen = 0; j < ulen && !strchr(delims, url[j]); j++)
			(*vlen)++;
		return 1;
	}
	return 0;
}

/*
 * Apache's get_cookie_param(): the name starts the header or follows ';',
 * ',' or white space, may be followed by white space before '=', and the
 * value, from right after the '=', runs to ';' or ',' (white space
 * included). Several Cookie headers are searched as Apache searches them
 * merged with ", ".
 */
static int cookie_param(const struct kbal_http_msg *m, const char *base,
			const char *name, const char **val, size_t *vlen)
{
	size_t n = strlen(name);
	unsigned h;

	for (h = 0; h < m->nheaders; h++) {
		const char *v = base + m->headers[h].value.off;
		size_t len = m->headers[h].value.len, i, j;

		if (!name_is(base, &m->headers[h], "Cookie"))
			continue;
		for (i = 0; i + n <= len; i++) {
			if (memcmp(v + i, name, n) != 0)
				continue;
			if (i > 0 && v[i - 1] != ';' && v[i - 1] != ',' &&
			    !isspace((unsigned char)v[i - 1]))
				continue;
			j = i + n;
			while (j < len && isspace((unsigned char)v[j]))
				j++;
			if (j >= len || v[j] != '=' || j + 1 >= len)
				continue;
			j++;
			*val = v + j;
			while (j < len && v[j] != ';' && v[j] != ',')
				j++;
			*vlen = v + j - *val;
			/* white space before a ';' or ',' is the value's, as
			 * httpd's (its route "1 " names no member); the header's
			 * own trailing white space is not (httpd strips it) */
			while (j == len && *vlen && isspace((unsigned char)(*val)[*vlen - 1]))
				(*vlen)--;
			return 1;
		}
	}
	return 0;
}

size_t kbal_http_sticky_route(const struct kbal_http_msg *m, const char *base,
			      const struct kbal_sticky *s, char *route, size_t routelen)
{
	const char *val, *r;
	size_t vlen, rlen;

	if (!s || !s->cookie || !*s->cookie || routelen == 0)
		return 0;
	/* find_session_route(): the URL first, the cookie only without one */
	if (!path_param(base + m->url.off, m->url.len, s->path && *s->path ? s->path : s->cookie,
			s->scolon, &val, &vlen) &&
	    !cookie_param(m, base, s->cookie, &val, &vlen))
		return 0;
	r = val;
	if (s->sep) {
		r = memchr(val, s->sep, vlen);
		if (!r)
			return 0;
		r++;
	}
	rlen = val + vlen - r;
	if (rlen == 0 || rlen >= routelen)
		return 0;
	memcpy(route, r, rlen);
	route[rlen] = '\0';
	return rlen;
}

struct obuf {
	char *p;
	size_t len, cap;
	int over;
};

static void put(struct obuf *b, const char *s, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_str(struct obuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_span(struct obuf *b, const char *base, struct kbal_span s)
{
	put(b, base + s.off, s.len);
}

static ssize_t obuf_end(struct obuf *b)
{
	if (b->over)
		return -1;
	if (b->len < b->cap)
		b->p[b->len] = '\0';
	return (ssize_t)b->len;
}

static void put_header(struct obuf *b, const char *base, const struct kbal_http_header *h)
{
	put_span(b, base, h->name);
	put(b, ": ", 2);
	put_span(b, base, h->value);
	put(b, "\r\n", 2);
}

/* mod_proxy_http's apr_table_mergen() of the X-Forwarded-* headers */
struct xfwd {
	const char *name;
	const char *add;          /* NULL: leave the header alone */
	size_t addlen;
	int seen;
};

ssize_t kbal_http_build_request(const struct kbal_http_msg *m, const char *base,
				const struct kbal_req_rewrite *rw,
				char *out, size_t outlen)
{
	const struct kbal_http_header *host = kbal_http_find(m, base, "Host");
	struct obuf b = { out, 0, outlen, 0 };
	struct xfwd xf[4] = {
		{ "X-Forwarded-For", rw->no_xfwd ? NULL : rw->client_ip },
		{ "X-Forwarded-Host", host && !rw->no_xfwd ? base + host->value.off : NULL },
		{ "X-Forwarded-Server", rw->no_xfwd ? NULL : rw->server_name },
		{ "Via", rw->via },
	};
	unsigned i, j, k;

	for (k = 0; k < 4; k++)
		if (xf[k].add)
			xf[k].addlen = k == 1 ? host->value.len : strlen(xf[k].add);

	put_span(&b, base, m->method);
	put(&b, " ", 1);
	if (rw->target) {
		/* Apache concatenates the target and the rest of the URL as is */
		size_t strip = rw->strip < m->url.len ? rw->strip : m->url.len;

		put_str(&b, rw->target);
		put(&b, base + m->url.off + strip, m->url.len - strip);
	} else {
		put_span(&b, base, m->url);
	}
	/* mod_proxy_http speaks HTTP/1.1 to the member whatever the client's
	 * version (HTTP/1.0 and HTTP/2.0 alike); the answer's framing is made
	 * readable for a 1.0 client on the way back (exchange.c);
	 * force-proxy-request-1.0 makes it HTTP/1.0 */
	put_str(&b, rw->http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	if (rw->host && !host) {
		/* mod_proxy_http always sends a Host, first (HTTP/1.0 clients) */
		put_str(&b, "Host: ");
		put_str(&b, rw->host);
		put(&b, "\r\n", 2);
	}

	for (i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *h = &m->headers[i];

		if ((rw->keep_alive || rw->close || rw->http10 || rw->ka_line) &&
		    (name_is(base, h, "Connection") || name_is(base, h, "Keep-Alive") ||
		     connection_names(m, base, h)))
			continue;
		/* ap_proxy_create_hdrbrgd() leaves both out, add_cl() says
		 * the length after the other lines */
		if (rw->body_cl && (name_is(base, h, "Transfer-Encoding") ||
				    name_is(base, h, "Content-Length")))
			continue;
		if (rw->no_upgrade && (name_is(base, h, "Connection") ||
				       name_is(base, h, "Upgrade")))
			continue;
		if (rw->host && name_is(base, h, "Host")) {
			put_span(&b, base, h->name);
			put(&b, ": ", 2);
			put_str(&b, rw->host);
			put(&b, "\r\n", 2);
			continue;
		}
		if (rw->via_block && name_is(base, h, "Via"))
			continue;
		for (k = 0; k < 4; k++)
			if (xf[k].add && name_is(base, h, xf[k].name))
				break;
		if (k == 4) {
			put_header(&b, base, h);
			continue;
		}
		if (xf[k].seen++)
			continue; /* merged into the first one */
		/* Apache merges repeated request headers with ", " on reading */
		put_span(&b, base, h->name);
		put(&b, ": ", 2);
		for (j = i; j < m->nheaders; j++) {
			if (!name_is(base, &m->headers[j], xf[k].name))
				continue;
			put_span(&b, base, m->headers[j].value);
			put(&b, ", ", 2);
		}
		put(&b, xf[k].add, xf[k].addlen);
		put(&b, "\r\n", 2);
	}
	for (k = 0; k < 4; k++) {
		if (!xf[k].add || xf[k].seen)
			continue;
		put_str(&b, xf[k].name);
		put(&b, ": ", 2);
		put(&b, xf[k].add, xf[k].addlen);
		put(&b, "\r\n", 2);
	}
	if (rw->body_cl) {
		char cl[40];

		put(&b, cl, snprintf(cl, sizeof(cl), "Content-Length: %llu\r\n",
				     (unsigned long long)rw->body_len));
	}
	/* terminate_headers(): an HTTP/1.0 request says nothing */
	if (rw->close && !rw->http10)
		put_str(&b, "Connection: close\r\n");
	else if (rw->ka_line && !rw->http10)
		put_str(&b, "Connection: Keep-Alive\r\n");
	put(&b, "\r\n", 2);
	return obuf_end(&b);
}

/* ap_is_url(): a scheme, then ':' */
static int is_url(const char *s)
{
	size_t i;

	for (i = 0; isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'; i++)
		;
	return i > 0 && s[i] == ':';
}

/*
 * ap_proxy_location_reverse_map(): scheme and authority compare without
 * case, the path with it. Returns the length of from matched, or 0.
 */
static size_t rev_match(const char *from, const char *v, size_t vlen)
{
	size_t n = strlen(from), auth_end = 0;
	const char *s = strstr(from, "://");

	if (n == 0 || vlen < n)
		return 0;
	if (s) {
		const char *slash = strchr(s + 3, '/');

		auth_end = slash ? (size_t)(slash - from) : n;
	}
	if (strncasecmp(from, v, auth_end) != 0 ||
	    memcmp(from + auth_end, v + auth_end, n - auth_end) != 0)
		return 0;
	return n;
}

static void put_reverse(struct obuf *b, const char *v, size_t vlen,
			const struct kbal_rev_rule *rules, size_t nrules,
			const char *client_base)
{
	size_t i, n, tlen;
	const char *rest;

	for (i = 0; i < nrules; i++) {
		n = rev_match(rules[i].from, v, vlen);
		if (n)
			break;
	}
	if (i == nrules) {
		put(b, v, vlen);
		return;
	}
	rest = v + n;
	vlen -= n;
	tlen = strlen(rules[i].to);
	if (client_base && !is_url(tlen ? rules[i].to : rest))
		put_str(b, client_base);
	put_str(b, rules[i].to);
	/* ap_proxy_location_reverse_map() avoids "//" where `to` is "/" alone
	 * (a `to` like "/m/" gets "/m//x" there, and here) */
	if (tlen == 1 && rules[i].to[0] == '/' && vlen && rest[0] == '/') {
		rest++;
		vlen--;
	}
	put(b, rest, vlen);
}

ssize_t kbal_http_build_response(const struct kbal_http_msg *m, const char *base,
				 const struct kbal_rev_rule *rules, size_t nrules,
				 const char *client_base, const char *extra, int conn,
				 char *out, size_t outlen)
{
	struct obuf b = { out, 0, outlen, 0 };
	int no_te = conn & KBAL_RESP_NO_TE, vers = conn & (KBAL_RESP_V10 | KBAL_RESP_V11);
	unsigned i;

	conn &= ~(KBAL_RESP_NO_TE | KBAL_RESP_V10 | KBAL_RESP_V11);
	if (vers && m->start_line.len >= 8) {
		/* "HTTP/1.x" (on_headers_complete() refused another) */
		put_str(&b, vers == KBAL_RESP_V10 ? "HTTP/1.0" : "HTTP/1.1");
		put(&b, base + m->start_line.off + 8, m->start_line.len - 8);
	} else {
		put_span(&b, base, m->start_line);
	}
	put(&b, "\r\n", 2);
	for (i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *h = &m->headers[i];

		if (no_te && name_is(base, h, "Transfer-Encoding"))
			continue;
		if (conn != KBAL_RESP_AS_IS &&
		    (name_is(base, h, "Connection") || name_is(base, h, "Keep-Alive")))
			continue;
		if (!name_is(base, h, "Location") && !name_is(base, h, "Content-Location") &&
		    !name_is(base, h, "URI") && !name_is(base, h, "Destination")) {
			put_header(&b, base, h);
			continue;
		}
		put_span(&b, base, h->name);
		put(&b, ": ", 2);
		put_reverse(&b, base + h->value.off, h->value.len, rules, nrules, client_base);
		put(&b, "\r\n", 2);
	}
	if (extra)
		put_str(&b, extra);
	if (conn == KBAL_RESP_CLOSE)
		put_str(&b, "Connection: close\r\n");
	put(&b, "\r\n", 2);
	return obuf_end(&b);
}
