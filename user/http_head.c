// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http_head.c - a head http.c parsed, read and written out again: a header
 * found, what the Connection headers say, a token in any header's values
 * (ap_find_token()), the sticky route (find_session_route(): the URL's
 * parameter, else the cookie), and the heads kbald sends on, built from it
 * as httpd builds them: the member's request (mod_proxy_http: Host,
 * X-Forwarded-*, Via merged) and the client's answer (ProxyPassReverse on
 * Location and its kin). What goes into them: heads.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "date_canon.h"
#include "http.h"

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

/* httpd's ap_proxy_clear_connection(): does a Connection line of m (but
 * skip) name the header name[0, len) (a token of it, without case)? */
static int named_by_connection(const struct kbal_http_msg *m, const char *base, const char *name,
			       size_t len, const struct kbal_http_header *skip)
{
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *c = &m->headers[i];
		const char *v = base + c->value.off, *end = v + c->value.len, *t;

		if (c == skip || !name_is(base, c, "Connection"))
			continue;
		while (v < end) {
			while (v < end && token_stop((unsigned char)*v))
				v++;
			for (t = v; v < end && !token_stop((unsigned char)*v); v++)
				;
			if (v > t && (size_t)(v - t) == len && !strncasecmp(t, name, len))
				return 1;
		}
	}
	return 0;
}

/* is h a header the message's Connection names? Such go with Connection */
static int connection_names(const struct kbal_http_msg *m, const char *base,
			    const struct kbal_http_header *h)
{
	return named_by_connection(m, base, base + h->name.off, h->name.len, h);
}

int kbal_http_connection_names(const struct kbal_http_msg *m, const char *base, const char *name)
{
	return named_by_connection(m, base, name, strlen(name), NULL);
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
	 * readable for a 1.0 client on the way back (exch_dechunk_plan());
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
		if (rw->expect < 0 && name_is(base, h, "Expect"))
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
	/* ap_proxy_create_hdrbrgd(): do_100_continue merges the token into
	 * the client's headers, before its own X-Forwarded-* lines */
	if (rw->expect > 0 && !kbal_http_find(m, base, "Expect"))
		put_str(&b, "Expect: 100-Continue\r\n");
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

/* Does mod_proxy_http leave h out of the member's head? Its Connection
 * where the client's connection does other than the member's (conn); from
 * every head (a 101's too: ap_send_interim_response() writes it), the lines
 * ap_proxy_clear_connection() and its hop_by_hop_hdrs drop: those
 * Connection names, Keep-Alive, Proxy-Authenticate, TE, Trailer, Upgrade.
 * A Content-Length the Connection names goes too: the body then ends at
 * the member's close, as on_headers_complete() frames it (httpd frames it
 * from the head it cleared). A Transfer-Encoding stays where kbald passes
 * the body chunked, named or not (httpd keeps the member's te to de-chunk
 * and chunks it again: the same bytes), and goes with no_te, and where
 * the Connection names it on an answer without a body (a HEAD's: httpd
 * sends no body, and chunks none) */
static int response_drops(const struct kbal_http_msg *m, const char *base,
			  const struct kbal_http_header *h, int conn, int no_te)
{
	if (name_is(base, h, "Transfer-Encoding"))
		return no_te || (m->skip_body && connection_names(m, base, h));
	if (name_is(base, h, "Content-Length"))
		return connection_names(m, base, h);
	if (name_is(base, h, "Connection"))
		return conn != KBAL_RESP_AS_IS;
	if (conn != KBAL_RESP_AS_IS && name_is(base, h, "Keep-Alive"))
		return 1;
	return name_is(base, h, "Keep-Alive") || name_is(base, h, "Proxy-Authenticate") ||
	       name_is(base, h, "TE") || name_is(base, h, "Trailer") ||
	       name_is(base, h, "Upgrade") || connection_names(m, base, h);
}

/* h as httpd writes it: "Name: value", a date written again
 * (process_proxy_header()'s date_canon()), a URL ProxyPassReverse maps */
static void put_response_line(struct obuf *b, const char *base, const struct kbal_http_header *h,
			      const struct kbal_rev_rule *rules, size_t nrules,
			      const char *client_base)
{
	if (kbal_date_header(base + h->name.off, h->name.len)) {
		char date[KBAL_DATE_CANON_LEN];
		size_t dn;
		const char *v = kbal_date_canon(base + h->value.off, h->value.len, date, &dn);

		put_span(b, base, h->name);
		put(b, ": ", 2);
		put(b, v, dn);
		put(b, "\r\n", 2);
		return;
	}
	if (!name_is(base, h, "Location") && !name_is(base, h, "Content-Location") &&
	    !name_is(base, h, "URI") && !name_is(base, h, "Destination")) {
		put_header(b, base, h);
		return;
	}
	put_span(b, base, h->name);
	put(b, ": ", 2);
	put_reverse(b, base + h->value.off, h->value.len, rules, nrules, client_base);
	put(b, "\r\n", 2);
}

ssize_t kbal_http_build_response(const struct kbal_http_msg *m, const char *base,
				 const struct kbal_rev_rule *rules, size_t nrules,
				 const char *client_base, const char *extra, int conn,
				 char *out, size_t outlen)
{
	struct obuf b = { out, 0, outlen, 0 };
	int no_te = conn & KBAL_RESP_NO_TE, v10 = conn & KBAL_RESP_V10,
	    interim = conn & KBAL_RESP_INTERIM, up = m->status == 101;
	const struct kbal_http_header *upgrade = up ? kbal_http_find(m, base, "Upgrade") : NULL;
	unsigned i, pass;

	conn &= ~(KBAL_RESP_NO_TE | KBAL_RESP_V10 | KBAL_RESP_INTERIM);
	if (interim || up)
		v10 = 0;
	/* a 101 as ap_send_interim_response() writes it: the member's lines
	 * but the hop-by-hop ones, then mod_proxy_http's "Connection:
	 * Upgrade" and the member's (first) Upgrade value, set anew at the
	 * end (ap_proxy_http_process_response()) */
	if (up)
		conn = KBAL_RESP_KEEP;
	if (m->start_line.len >= 8) {
		/* "HTTP/1.x" (on_headers_complete() refused another): httpd's
		 * basic_http_header() writes its own protocol, HTTP/1.1 (an
		 * HTTP/1.0 member's too), then r->status_line, the member's
		 * from its code on, "200 " where it gave no reason */
		put_str(&b, v10 ? "HTTP/1.0" : "HTTP/1.1");
		put(&b, base + m->start_line.off + 8, m->start_line.len - 8);
		if (m->start_line.len == 12)
			put(&b, " ", 1);
	} else {
		put_span(&b, base, m->start_line);
	}
	put(&b, "\r\n", 2);
	/* ap_proxy_http_process_response() tucks the Set-Cookie lines away
	 * as it reads the head and overlays them again: after the others,
	 * in their order (pass 1) */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < m->nheaders; i++) {
			const struct kbal_http_header *h = &m->headers[i];

			if (name_is(base, h, "Set-Cookie") != (int)pass ||
			    response_drops(m, base, h, conn, no_te))
				continue;
			put_response_line(&b, base, h, rules, nrules, client_base);
		}
	if (extra)
		put_str(&b, extra);
	if (up) {
		put_str(&b, "Connection: Upgrade\r\n");
		if (upgrade) {
			put_str(&b, "Upgrade: ");
			put_span(&b, base, upgrade->value);
			put(&b, "\r\n", 2);
		}
	}
	if (conn == KBAL_RESP_CLOSE)
		put_str(&b, "Connection: close\r\n");
	put(&b, "\r\n", 2);
	return obuf_end(&b);
}
