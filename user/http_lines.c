// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http_lines.c - a member's head llhttp refused, read again as httpd reads
 * it (see http.h, kbal_http_lines()): mod_proxy_http's
 * ap_proxy_read_headers() takes each line up to its first ':' as a name and
 * the rest, without the white space (apr_isspace()) around it, as its
 * value, and gives up at a line without ':' or with a NUL (ap_rgetline()):
 * a 502; the HTTP_HEADER output filter's check_headers() then refuses a
 * final head with an empty name, a name of other bytes than a token's, or
 * a value with a control byte (but tab): a 500. An interim head, a 101
 * too, goes out without that check (ap_send_interim_response()), its
 * lines as read.
 * Its lines end at an LF, a CR before it dropped (ap_rgetline()): a bare
 * LF ends a line too, and a CR before a line's CRLF is a value's white
 * space; VT and FF about a value are too (apr_isspace()), and IIS's stray
 * status line is skipped. llhttp refuses those; a head whose lines httpd
 * reads and keeps, with one of them, is written again as httpd read it
 * (kbal_http_lines_write()), which llhttp parses.
 */
#include <string.h>
#include "http.h"
#include "reqline.h"

/* apr_isspace(): what ap_proxy_read_headers() trims about a value */
static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* [*v, *e) without the apr_isspace() bytes about it: a value as
 * ap_proxy_read_headers() keeps it; 1 where one of them is neither SP nor
 * HT (llhttp refuses those) */
static int trim(const char **v, const char **e)
{
	int odd = 0;

	while (*v < *e && is_space(**v)) {
		odd |= **v != ' ' && **v != '\t';
		(*v)++;
	}
	while (*e > *v && is_space((*e)[-1])) {
		(*e)--;
		odd |= **e != ' ' && **e != '\t';
	}
	return odd;
}

/* The line at base[ls], up to its LF within base[0, len): *le its end
 * without a CR before the LF (ap_rgetline() takes a bare LF as a line's
 * end too), *next just past the LF; 0 while no LF comes, 2 for a bare LF */
static int next_line(const char *base, uint32_t ls, uint32_t len, uint32_t *le, uint32_t *next)
{
	const char *lf = ls < len ? memchr(base + ls, '\n', len - ls) : NULL;

	if (!lf)
		return 0;
	*next = (uint32_t)(lf - base) + 1;
	*le = *next - 1;
	if (*le > ls && base[*le - 1] == '\r') {
		(*le)--;
		return 1;
	}
	return 2;
}

/* the bytes of s[0, n) are field content (ap_scan_http_field_content():
 * visible, obs-text, SP, HT) */
static int field_content(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* "HTTP/#.# ###*" (apr_date_checkmask()) at s, n bytes */
static int status_mask(const char *s, size_t n)
{
	return n >= 12 && !memcmp(s, "HTTP/", 5) && s[5] >= '0' && s[5] <= '9' && s[6] == '.' &&
	       s[7] >= '0' && s[7] <= '9' && s[8] == ' ' && s[9] >= '0' && s[9] <= '9' &&
	       s[10] >= '0' && s[10] <= '9' && s[11] >= '0' && s[11] <= '9';
}

/* the line [ls, le) a header line's: name [ls, colon), its value trimmed */
static void add_line(struct kbal_http_msg *m, const char *base, uint32_t ls, uint32_t colon,
		     uint32_t le)
{
	struct kbal_http_header *h = &m->headers[m->nheaders++];
	const char *v = base + colon + 1, *e = base + le;

	trim(&v, &e);
	h->name = (struct kbal_span){ ls, colon - ls };
	h->value = (struct kbal_span){ (uint32_t)(v - base), (uint32_t)(e - v) };
}

int kbal_http_lines(struct kbal_http_msg *m, const char *base, uint32_t off, uint32_t len)
{
	const char *sl = base + off;
	uint32_t first, ls, le, next, end = 0, status;
	int refused = 0, folded = 0, ignored = 0, odd = 0, eol;

	eol = next_line(base, off, len, &le, &first);
	if (!eol)
		return KBAL_LINES_AGAIN;
	if (!status_mask(sl, le - off) || sl[5] != '1')
		return KBAL_LINES_OTHER;
	odd |= eol == 2;
	status = (uint32_t)((sl[9] - '0') * 100 + (sl[10] - '0') * 10 + (sl[11] - '0'));
	for (ls = first; ; ls = next) {
		const char *line = base + ls, *colon, *v, *e;
		size_t n;

		eol = next_line(base, ls, len, &le, &next);
		if (!eol)
			return KBAL_LINES_AGAIN;
		odd |= eol == 2;
		n = le - ls;
		if (!n) {
			end = next;
			break;
		}
		/* ap_rgetline() refuses a line with a NUL */
		if (memchr(line, '\0', n))
			return KBAL_LINES_BAD;
		if (line[0] == ' ' || line[0] == '\t') {
			/* obs-fold: joined to the line before (AP_GETLINE_FOLD) */
			refused |= !field_content(line, n);
			folded = 1;
			continue;
		}
		colon = memchr(line, ':', n);
		if (!colon) {
			/* IIS's stray status line among the lines is ignored
			 * (ProxyBadHeader's default, IsError, spares it) */
			if (status_mask(line, n)) {
				ignored = 1;
				continue;
			}
			return KBAL_LINES_BAD;
		}
		if (colon == line)
			refused = 1;
		for (const char *p = line; p < colon && !refused; p++)
			refused = !kbal_is_tchar((unsigned char)*p);
		/* the value as it keeps it, without apr_isspace() about it */
		v = colon + 1;
		e = line + n;
		odd |= trim(&v, &e);
		refused |= !field_content(v, (size_t)(e - v));
	}
	if (!refused) {
		/* read and kept as httpd reads it: written so where llhttp
		 * refuses its form (a fold: llhttp's own unfold()) */
		return (odd || ignored) && !folded ? KBAL_LINES_AS_READ : KBAL_LINES_OTHER;
	}
	if (!m || status >= 200 || status < 100)
		return KBAL_LINES_REFUSED;
	/* an interim head (a 101 too: ap_send_interim_response() writes it
	 * before the tunnel): its lines as read, for kbal_http_build_response()
	 * (a fold, a stray status line or a bare LF among them: left to
	 * llhttp's refusal) */
	if (folded || ignored || odd)
		return KBAL_LINES_OTHER;
	m->nheaders = 0;
	for (ls = first; ls + 2 < end; ls = next) {
		const char *line = base + ls;

		next_line(base, ls, end, &le, &next);
		if (m->nheaders == KBAL_HTTP_MAX_HEADERS)
			return KBAL_LINES_OTHER;
		add_line(m, base, ls, (uint32_t)((const char *)memchr(line, ':', le - ls) - base), le);
	}
	m->start_line = (struct kbal_span){ off, first - 2 - off };
	m->status = status;
	m->http_major = 1;
	m->http_minor = (unsigned)(sl[7] - '0');
	m->head_len = m->msg_end = end;
	m->head_done = m->done = 1;
	m->upgrade = status == 101;
	return KBAL_LINES_REFUSED;
}

ssize_t kbal_http_lines_write(const char *base, uint32_t off, uint32_t len, char *out,
			      size_t outlen, uint32_t *end)
{
	uint32_t ls, le, next;
	size_t o = 0;

#define PUT(s, n) do {                                   \
		if (o + (n) > outlen)                    \
			return -1;                       \
		memcpy(out + o, (s), (n));               \
		o += (n);                                \
	} while (0)
	if (!next_line(base, off, len, &le, &next))
		return -1;
	PUT(base + off, le - off);
	PUT("\r\n", 2);
	for (ls = next; ; ls = next) {
		const char *line = base + ls, *colon, *v, *e;

		if (!next_line(base, ls, len, &le, &next))
			return -1;
		if (le == ls)
			break;
		colon = memchr(line, ':', le - ls);
		if (!colon)
			continue;   /* IIS's stray status line: skipped */
		v = colon + 1;
		e = base + le;
		trim(&v, &e);
		PUT(line, (size_t)(colon - line));
		PUT(": ", 2);
		PUT(v, (size_t)(e - v));
		PUT("\r\n", 2);
	}
	PUT("\r\n", 2);
#undef PUT
	*end = next;
	return (ssize_t)o;
}
