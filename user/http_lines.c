// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http_lines.c - a member's head llhttp refused, read again as httpd reads
 * it (see http.h, kbal_http_lines()): mod_proxy_http's
 * ap_proxy_read_headers() takes each line up to its first ':' as a name and
 * the rest, without the white space (apr_isspace()) around it, as its
 * value, and gives up at a line without ':' or with a NUL (ap_rgetline()):
 * a 502; the HTTP_HEADER output filter's check_headers() then refuses a
 * final head with an empty name, a name of other bytes than a token's, or
 * a value with a control byte (but tab): a 500. An interim head goes out
 * without that check (ap_send_interim_response()), its lines as read.
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
 * ap_proxy_read_headers() keeps it */
static void trim(const char **v, const char **e)
{
	while (*v < *e && is_space(**v))
		(*v)++;
	while (*e > *v && is_space((*e)[-1]))
		(*e)--;
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
	const char *sl = base + off, *crlf;
	uint32_t first, ls, le, end = 0, status;
	int refused = 0, folded = 0, ignored = 0;

	crlf = memmem(sl, len - off, "\r\n", 2);
	if (!crlf)
		return KBAL_LINES_AGAIN;
	if (!status_mask(sl, (size_t)(crlf - sl)) || sl[5] != '1')
		return KBAL_LINES_OTHER;
	status = (uint32_t)((sl[9] - '0') * 100 + (sl[10] - '0') * 10 + (sl[11] - '0'));
	first = (uint32_t)(crlf - base) + 2;   /* the status line's end */
	for (ls = first; ; ls = le + 2) {
		const char *line = base + ls, *colon, *v, *e;
		size_t n;

		crlf = ls < len ? memmem(line, len - ls, "\r\n", 2) : NULL;
		if (!crlf)
			return KBAL_LINES_AGAIN;
		le = (uint32_t)(crlf - base);
		n = le - ls;
		if (!n) {
			end = le + 2;
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
		trim(&v, &e);
		refused |= !field_content(v, (size_t)(e - v));
	}
	if (!refused)
		return KBAL_LINES_OTHER;
	if (status == 101)
		return KBAL_LINES_OTHER;   /* kbald's tunnel: its refusal */
	if (!m || status >= 200 || status < 100)
		return KBAL_LINES_REFUSED;
	/* an interim head: its lines as read, for heads_interim() (a fold or
	 * a stray status line among them: left to llhttp's refusal) */
	if (folded || ignored)
		return KBAL_LINES_OTHER;
	m->nheaders = 0;
	for (ls = first; ls + 2 < end; ls = le + 2) {
		const char *line = base + ls;

		le = (uint32_t)((const char *)memmem(line, end - ls, "\r\n", 2) - base);
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
	return KBAL_LINES_REFUSED;
}
