// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * own_head.c - Date, Server and the order of the lines of kbald's own
 * answers' heads, as httpd writes its own (see own_head.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "conf.h"
#include "own_head.h"

#ifndef KBAL_VERSION
#error "KBAL_VERSION: the Makefile names it (tools/debian/changelog)"
#endif

/* kbal's own product token (httpd's AP_SERVER_BASEPRODUCT) and platform
 * (httpd's PLATFORM: "Unix" as built by the ASF, "Debian" by Debian) */
#define PRODUCT "kbal"
#define PLATFORM "Linux"

const char *own_head_banner(unsigned tokens, char *out, size_t cap)
{
	const char *v = KBAL_VERSION, *dot = strchr(v, '.');
	/* Major: up to the first dot; Minor: up to the second (httpd's
	 * AP_SERVER_MINORREVISION); Min: the whole version */
	size_t major = dot ? (size_t)(dot - v) : strlen(v),
	       minor = dot && strchr(dot + 1, '.') ? (size_t)(strchr(dot + 1, '.') - v) : strlen(v);

	switch (tokens) {
	case KBAL_TOKENS_PROD:
		snprintf(out, cap, PRODUCT);
		break;
	case KBAL_TOKENS_MAJOR:
		snprintf(out, cap, PRODUCT "/%.*s", (int)major, v);
		break;
	case KBAL_TOKENS_MINOR:
		snprintf(out, cap, PRODUCT "/%.*s", (int)minor, v);
		break;
	case KBAL_TOKENS_MIN:
		snprintf(out, cap, PRODUCT "/%s", v);
		break;
	default:
		/* OS, and Full: no module adds a component of its own */
		snprintf(out, cap, PRODUCT "/%s (" PLATFORM ")", v);
		break;
	}
	return out;
}

const char *own_head_date(void)
{
	static const char wday[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
					 "Sep", "Oct", "Nov", "Dec" };
	static char date[40];
	static time_t made = -1;
	time_t now = time(NULL);
	struct tm tm;

	/* the names in English whatever the locale (strftime()'s follow it) */
	if (now != made && gmtime_r(&now, &tm)) {
		snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT", wday[tm.tm_wday],
			 tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		made = now;
	}
	return date;
}

/* is the header line [l, e) named name (its colon included)? */
static int named(const char *l, const char *e, const char *name)
{
	size_t n = strlen(name);

	return (size_t)(e - l) >= n && !strncasecmp(l, name, n);
}

/* the line at l (its CRLF included, before end) at out + o, if any: o
 * after it */
static size_t put_line(char *out, size_t o, const char *l, const char *end)
{
	size_t n;

	if (!l)
		return o;
	n = (size_t)((const char *)memmem(l, (size_t)(end - l), "\r\n", 2) + 2 - l);
	memcpy(out + o, l, n);
	return o + n;
}

ssize_t own_head_write(const struct kbal_conf *conf, const char *resp, size_t len,
		       const char *lines, size_t llen, char **out)
{
	const char *line_end = memmem(resp, len, "\r\n", 2);
	const char *head_end = memmem(resp, len, "\r\n\r\n", 4);
	/* the lines httpd sets after the handler's and mod_headers' ones:
	 * Content-Length (its content-length filter), Connection and
	 * Transfer-Encoding (ap_set_keepalive()), Content-Type (last) */
	const char *cl = NULL, *conn = NULL, *te = NULL, *type = NULL, *l, *e;
	char banner[64];
	size_t o, cap;
	int n;

	if (!line_end || !head_end)
		return -1;
	own_head_banner(conf->server_tokens, banner, sizeof(banner));
	cap = len + llen + sizeof(banner) + 64;
	if (!(*out = malloc(cap)))
		return -1;
	o = (size_t)(line_end + 2 - resp);
	memcpy(*out, resp, o);
	n = snprintf(*out + o, cap - o, "Date: %s\r\nServer: %s\r\n", own_head_date(), banner);
	o += (size_t)n;
	/* the lines between the status line and the empty one, each in turn */
	for (l = line_end + 2; l < head_end + 2; l = e + 2) {
		e = memmem(l, (size_t)(head_end + 2 - l), "\r\n", 2);
		if (named(l, e, "Content-Type:"))
			type = l;
		else if (named(l, e, "Content-Length:"))
			cl = l;
		else if (named(l, e, "Connection:"))
			conn = l;
		else if (named(l, e, "Transfer-Encoding:"))
			te = l;
		else if (!named(l, e, "Date:") && !named(l, e, "Server:"))
			o = put_line(*out, o, l, head_end + 2);
	}
	o = put_line(*out, o, cl, head_end + 2);
	if (llen) {
		memcpy(*out + o, lines, llen);
		o += llen;
	}
	o = put_line(*out, o, conn, head_end + 2);
	o = put_line(*out, o, te, head_end + 2);
	o = put_line(*out, o, type, head_end + 2);
	/* the empty line and the body */
	memcpy(*out + o, head_end + 2, len - (size_t)(head_end + 2 - resp));
	o += len - (size_t)(head_end + 2 - resp);
	return (ssize_t)o;
}

/* the value of the first header line named name in [l, end): its start
 * and length, or NULL */
static const char *first_value(const char *l, const char *end, const char *name, size_t *len)
{
	const char *e;

	for (; l < end; l = e + 2) {
		e = memmem(l, (size_t)(end - l), "\r\n", 2);
		if (!e)
			return NULL;
		if (named(l, e, name)) {
			for (l += strlen(name); l < e && (*l == ' ' || *l == '\t'); l++)
				;
			*len = (size_t)(e - l);
			return l;
		}
	}
	return NULL;
}

ssize_t own_head_proxied(const struct kbal_conf *conf, const char *head, size_t n, char *out,
			 size_t cap)
{
	const char *line_end = memmem(head, n, "\r\n", 2), *lines, *end, *date, *server, *l, *e;
	size_t dlen = 0, slen = 0, o;
	char banner[64];
	int k;

	if (!line_end || n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4))
		return -1;
	lines = line_end + 2;
	end = head + n - 2;   /* the empty line */
	date = first_value(lines, end, "Date:", &dlen);
	server = first_value(lines, end, "Server:", &slen);
	if (!date) {
		date = own_head_date();
		dlen = strlen(date);
	}
	if (!server) {
		server = own_head_banner(conf->server_tokens, banner, sizeof(banner));
		slen = strlen(server);
	}
	o = (size_t)(lines - head);
	if (o > cap)
		return -1;
	memcpy(out, head, o);
	k = snprintf(out + o, cap - o, "Date: %.*s\r\nServer: %.*s\r\n", (int)dlen, date,
		     (int)slen, server);
	if (k < 0 || (size_t)k >= cap - o)
		return -1;
	o += (size_t)k;
	/* the other lines in their order, every Date and Server line gone
	 * (basic_http_header() unsets them) */
	for (l = lines; l < end + 2; l = e + 2) {
		e = memmem(l, (size_t)(end + 2 - l), "\r\n", 2);
		if (named(l, e, "Date:") || named(l, e, "Server:"))
			continue;
		if (o + (size_t)(e + 2 - l) > cap)
			return -1;
		memcpy(out + o, l, (size_t)(e + 2 - l));
		o += (size_t)(e + 2 - l);
	}
	/* the member's own lines, in httpd's places already: as it is */
	return o == n && !memcmp(out, head, n) ? 0 : (ssize_t)o;
}
