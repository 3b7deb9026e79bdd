// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_uri.c - a request-target's path as httpd has it (its r->uri): the
 * absolute-form's authority skipped, %XX decoded as AllowEncodedSlashes
 * says, dot segments removed, slashes merged; what httpd answers where it
 * cannot (400, 404), and what it keeps of such a path for %U. The match
 * functions (conf_match.c) and the access log (accesslog.c) read it.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include "conf.h"
#include "hostname.h"

#define URI_MAX 8192

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

/* r->uri where httpd's ap_unescape_url() refused the path (a bad escape:
 * 400, a %2F or %00: 404): every escape it could decode decoded, a bad one
 * kept as it came, the string ending at a %00; no dot segment looked at
 * again. The path of an origin-form target (others: -1) into out, its
 * length. */
int kbal_conf_uri_unescaped(const char *u, size_t len, char *out)
{
	size_t n = 0;

	if (!len || u[0] != '/')
		return -1;
	for (size_t i = 0; i < len && u[i] != '?' && u[i] != '#'; i++) {
		int hi, lo;

		if (u[i] == '%' && i + 2 < len && (hi = hexval(u[i + 1])) >= 0 &&
		    (lo = hexval(u[i + 2])) >= 0) {
			if (!(hi << 4 | lo))
				break;
			out[n++] = hi << 4 | lo;
			i += 2;
		} else {
			out[n++] = u[i];
		}
	}
	out[n] = '\0';
	return n;
}

int kbal_conf_uri_path(const char *uri, size_t len, char *out, size_t outlen)
{
	return kbal_conf_uri_path_ex(uri, len, out, outlen, KBAL_SLASHES_OFF);
}

int kbal_conf_uri_path_ex(const char *uri, size_t len, char *out, size_t outlen,
			  unsigned slashes)
{
	const char *s = uri, *end = uri + len, *t = uri;
	size_t n = 0, r = 0, w = 0;
	unsigned clamp = slashes & KBAL_URI_CLAMP;

	slashes &= ~KBAL_URI_CLAMP;

	/* absolute-form: skip scheme://authority */
	while (t < end && (isalnum((unsigned char)*t) || *t == '+' || *t == '-' || *t == '.'))
		t++;
	if (t > uri && isalpha((unsigned char)*uri) && end - t >= 3 && !memcmp(t, "://", 3)) {
		for (s = t + 3; s < end && *s != '/' && *s != '?' && *s != '#'; s++)
			;
		if (s == end || *s != '/') {
			s = "/";
			end = s + 1;
		}
	}
	for (t = s; t < end && *t != '?' && *t != '#'; t++)
		;
	end = t;
	if (s == end || *s != '/')
		return -EINVAL;
	for (; s < end; s++) {
		int ch = (unsigned char)*s, hi, lo;

		if (ch == '%') {
			if (end - s < 3 || (hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0)
				return -EBADMSG;  /* httpd: a bad escape, 400 */
			ch = hi << 4 | lo;
			if (ch == '/' && slashes == KBAL_SLASHES_OFF)
				return -ENOENT;   /* httpd: AllowEncodedSlashes Off, 404 */
			if (ch == '/' && slashes == KBAL_SLASHES_NODECODE) {
				/* kept as it came: no segment ends there */
				if (n + 3 >= outlen)
					return -ENAMETOOLONG;
				memcpy(out + n, s, 3);
				n += 3;
				s += 2;
				continue;
			}
			s += 2;
		}
		if (!ch)
			return -ENOENT;           /* httpd: %00, 404 */
		if (n + 1 >= outlen)
			return -ENAMETOOLONG;
		out[n++] = ch;
	}
	/* dot segments (RFC 3986 5.2.4), in place: w never passes r */
	while (r < n) {
		size_t e = r + 1, seg;

		while (e < n && out[e] != '/')
			e++;
		seg = e - r - 1;
		if (seg == 1 && out[r + 1] == '.') {
			if (e == n)
				out[w++] = '/';
		} else if (seg == 2 && out[r + 1] == '.' && out[r + 2] == '.') {
			if (!w && !clamp)
				return -ERANGE;   /* above the root: httpd answers 400 */
			while (w && out[--w] != '/')
				;
			if (e == n)
				out[w++] = '/';
		} else {
			memmove(out + w, out + r, e - r);
			w += e - r;
		}
		r = e;
	}
	/* then MergeSlashes */
	for (r = n = 0; r < w; r++)
		if (out[r] != '/' || !n || out[n - 1] != '/')
			out[n++] = out[r];
	out[n] = '\0';
	return n;
}

unsigned kbal_conf_uri_refused(const char *uri, size_t len, unsigned slashes)
{
	char path[URI_MAX];
	int n = kbal_conf_uri_path_ex(uri, len, path, sizeof(path), slashes);

	return n == -EBADMSG || n == -ERANGE ? 400 : 0;
}

enum kbal_target kbal_conf_uri_target(const char *method, size_t mlen, const char *url,
				      size_t len)
{
	size_t k = 0;

	if (mlen == 7 && !memcmp(method, "CONNECT", 7))
		return KBAL_TARGET_OK;
	if (memchr(url, '#', len))
		return KBAL_TARGET_BAD;
	if (len == 1 && url[0] == '*')
		return mlen == 7 && !memcmp(method, "OPTIONS", 7) ? KBAL_TARGET_OPTIONS_STAR :
								      KBAL_TARGET_BAD;
	if (len && url[0] == '/')
		return KBAL_TARGET_OK;
	/* apr_uri_parse(): a scheme (alphanumerics, '+', '-', '.'), then "://" */
	while (k < len && (isalnum((unsigned char)url[k]) || url[k] == '+' || url[k] == '-' ||
			   url[k] == '.'))
		k++;
	return k && k + 3 <= len && !memcmp(url + k, "://", 3) ? KBAL_TARGET_OK : KBAL_TARGET_BAD;
}

int kbal_conf_uri_absolute_host(const char *url, size_t len, char *out, size_t cap)
{
	const char *a, *end, *colon = NULL;
	size_t n, k = 0;

	if (len < 7 || strncasecmp(url, "http://", 7))
		return 0;
	a = url + 7;
	for (end = a; end < url + len && *end != '/' && *end != '?' && *end != '#'; end++)
		if (*end == ':' && (*a != '[' || (end > a && end[-1] == ']')))
			colon = end;
	if (memchr(a, '@', end - a))
		return -1;
	n = (colon ? colon : end) - a;
	if ((size_t)(end - a) >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[k++] = (char)tolower((unsigned char)a[i]);
	if (k && *a != '[' && out[k - 1] == '.')
		k--;
	if (colon)
		for (const char *p = colon; p < end; p++)
			out[k++] = *p;
	out[k] = '\0';
	return kbal_host_valid(out, k) ? 1 : -1;
}

int kbal_conf_uri_connect_host(const char *url, size_t len, char *out, size_t cap)
{
	const char *end = url + len, *colon, *p;
	size_t k = 0, n;

	if (len && url[0] == '[') {
		colon = memchr(url, ']', len);
		if (!colon || colon + 1 == end || colon[1] != ':')
			return -1;
		colon++;
	} else {
		colon = memchr(url, ':', len);
	}
	if (!colon || len >= cap)
		return -1;
	p = colon + 1;
	if (p < end && (*p == '+' || *p == '-'))
		p++;
	if (p == end)
		return -1;
	for (; p < end; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	n = colon - url;
	for (size_t i = 0; i < n; i++)
		out[k++] = (char)tolower((unsigned char)url[i]);
	if (k && url[0] != '[' && out[k - 1] == '.')
		k--;
	if (!kbal_host_valid(out, k))   /* empty, as httpd takes ":443" */
		return -1;
	memcpy(out + k, colon, end - colon);
	out[k + (end - colon)] = '\0';
	return 1;
}
