// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * reqline.c - the request line as httpd 2.4's tokenize_request_line() and
 * r_assign_protocol() take it under HttpProtocolOptions' default (Strict,
 * LenientMethods): see reqline.h.
 */
#include <string.h>
#include "reqline.h"

/* httpd's ap_scan_vchar_obstext(): visible characters and obs-text */
static int is_vchar_obs(unsigned char c)
{
	return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int kbal_reqline_parse(const char *line, size_t len, struct kbal_reqline *out)
{
	size_t i = 0, u, p;

	/* the method: tokens only (LenientMethods: any of them), then one SP */
	while (i < len && kbal_is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ' ')
		return -1;
	out->method_len = (uint32_t)i;
	u = ++i;
	/* the target: visible characters, then one SP (none: HTTP/0.9) */
	while (i < len && is_vchar_obs((unsigned char)line[i]))
		i++;
	if (i == u || (i < len && line[i] != ' '))
		return -1;
	out->url_off = (uint32_t)u;
	out->url_len = (uint32_t)(i - u);
	if (i == len || i + 1 == len) {
		/* no protocol: HTTP/0.9, a GET alone (Strict refuses HEAD's,
		 * whose method number is GET's, and any other) */
		if (out->method_len != 3 || memcmp(line, "GET", 3))
			return -1;
		out->major = 0;
		out->minor = 9;
		return 0;
	}
	p = ++i;
	/* the protocol: exactly "HTTP/D.D", upper case (Strict), major not 0,
	 * and nothing after it, not even white space */
	if (len - p != 8 || memcmp(line + p, "HTTP/", 5) || !is_digit(line[p + 5]) ||
	    line[p + 6] != '.' || !is_digit(line[p + 7]) || line[p + 5] == '0')
		return -1;
	out->major = (uint8_t)(line[p + 5] - '0');
	out->minor = (uint8_t)(line[p + 7] - '0');
	return 0;
}
