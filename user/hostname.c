// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* hostname.c - httpd's strict Host check (hostname.h), read from
 * server/vhost.c's fix_hostname() and APR's apr_parse_addr_port(): the
 * port split off the end, an IPv6 literal parsed, a name or address
 * refused where it holds anything but letters, digits, '-', '_' and '.',
 * ".." or no top-level domain starting with a letter, a dotted address
 * that is not four parts without leading zeroes, and a number alone. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "hostname.h"

/* fix_hostname_v6_literal(), after inet_pton() took it */
static int v6_ok(const char *s, size_t len)
{
	char a[64];

	if (!len || len >= sizeof(a) || memchr(s, '%', len))
		return 0;                 /* a scope id: httpd refuses it */
	memcpy(a, s, len);
	a[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		char n = i + 1 < len ? s[i + 1] : '\0';

		if (isxdigit((unsigned char)s[i]))
			continue;
		if (s[i] == ':' && n != '.')
			continue;
		if (s[i] == '.' && n != ':' && n != '.')
			continue;
		return 0;
	}
	struct in6_addr in;

	return inet_pton(AF_INET6, a, &in) == 1;
}

/* fix_hostname_non_v6() and strict_hostname_check() */
static int name_ok(const char *s, size_t len)
{
	int dotted = 1, zeroes = 0, dots = 0;
	size_t i;

	if (len && s[len - 1] == '.')
		len--;                    /* the trailing dot is dropped */
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (isalpha(c) || c == '-' || c == '_') {
			dotted = 0;
		} else if (c == '.') {
			if (i + 1 < len && s[i + 1] == '.')
				return 0;
			dots++;
			if (i + 2 < len && s[i + 1] == '0' && isdigit((unsigned char)s[i + 2]))
				zeroes = 1;
		} else if (!isdigit(c)) {
			return 0;         /* ' ', ',' (two Host lines merged), ':', '/'... */
		}
	}
	if (dotted) {
		if (!len || s[0] == '.' || (s[0] == '0' && len > 1 && isdigit((unsigned char)s[1])))
			zeroes = 1;
		return !zeroes && dots == 3;
	}
	/* the top-level domain starts with a letter (RFC 1123 2.1) */
	while (i > 0 && s[i - 1] != '.')
		i--;
	return i == 0 || i == len || isalpha((unsigned char)s[i]);
}

int kbal_host_valid(const char *s, size_t len)
{
	size_t i = len, host = len;
	unsigned long port = 0;

	if (!len)
		return 1;                 /* "the Host header field CAN be blank" */
	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i == 0)
		return 0;                 /* a number alone (RFC 3986 7.4) */
	if (s[i - 1] == ':' && i < len) {
		if (i == 1)
			return 0;         /* ":80" */
		for (size_t k = i; k < len; k++)
			if ((port = port * 10 + (s[k] - '0')) > 65535)
				return 0;
		if (!port)
			return 0;
		host = i - 1;
	}
	if (s[0] == '[')
		return host >= 2 && s[host - 1] == ']' && v6_ok(s + 1, host - 2);
	return name_ok(s, host);
}

const char *kbal_host_name(const char *host, char *out, size_t cap, unsigned long *port)
{
	size_t n = strlen(host), i;
	const char *colon;

	if (!n || n >= cap || !kbal_host_valid(host, n))
		return NULL;
	/* (valid: an IPv6 literal has its ']', a name no other ':') */
	colon = host[0] == '[' ? strchr(host, ']') + 1 : strchr(host, ':');
	if (colon && *colon != ':')
		colon = NULL;
	if (port)
		*port = colon ? strtoul(colon + 1, NULL, 10) : 0;
	if (host[0] == '[') {
		host++;
		n = strchr(host, ']') - host;
	} else if (colon) {
		n = colon - host;
	}
	if (n && host[n - 1] == '.')
		n--;
	for (i = 0; i < n; i++)
		out[i] = tolower((unsigned char)host[i]);
	out[i] = '\0';
	return out;
}
