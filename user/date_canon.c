// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * date_canon.c - mod_proxy_http's date_canon() with apr-util's own
 * functions (see date_canon.h), so that every form apr reads is read as
 * httpd reads it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_date.h>
#include <apr_time.h>
#include "date_canon.h"

_Static_assert(KBAL_DATE_CANON_LEN == APR_RFC822_DATE_LEN, "apr's length");

int kbal_date_header(const char *name, size_t len)
{
	static const char *const names[] = { "Date", "Expires", "Last-Modified" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (len == strlen(names[i]) && !strncasecmp(name, names[i], len))
			return 1;
	return 0;
}

const char *kbal_date_canon(const char *v, size_t len, char *out, size_t *n)
{
	char small[256], *s = len < sizeof(small) ? small : malloc(len + 1);
	apr_time_t t;

	*n = len;
	if (!s)
		return v;
	/* apr reads a NUL-terminated string (and what follows a date's
	 * fields, whatever it is, as its zone: the whole value counts) */
	memcpy(s, v, len);
	s[len] = '\0';
	t = apr_date_parse_http(s);
	if (s != small)
		free(s);
	/* 0: not a date (and 1970's first second, which date_canon() keeps
	 * as it came too) */
	if (!t || apr_rfc822_date(out, t) != APR_SUCCESS)
		return v;
	*n = strlen(out);
	return out;
}
