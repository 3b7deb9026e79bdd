// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* proxy_header.c - the PROXY protocol header (proxy_header.h). */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "proxy_header.h"

/* version 2's signature, then "version 2, PROXY" and "TCP over IPv4" */
static const unsigned char pp2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

#define PP2_PROXY    0x21
#define PP2_TCP4     0x11
#define PP2_TCP4_LEN 12               /* two addresses, two ports */

ssize_t kbal_proxy_header(unsigned version, const struct sockaddr_in *src,
			  const struct sockaddr_in *dst, char *out, size_t cap)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
	unsigned char *p = (unsigned char *)out;
	uint16_t len = htons(PP2_TCP4_LEN);
	int n;

	switch (version) {
	case KBAL_PP_V1:
		if (!inet_ntop(AF_INET, &src->sin_addr, s, sizeof(s)) ||
		    !inet_ntop(AF_INET, &dst->sin_addr, d, sizeof(d)))
			return -1;
		n = snprintf(out, cap, "PROXY TCP4 %s %s %u %u\r\n", s, d,
			     ntohs(src->sin_port), ntohs(dst->sin_port));
		return n > 0 && (size_t)n < cap ? n : -1;
	case KBAL_PP_V2:
		if (cap < sizeof(pp2_sig) + 4 + PP2_TCP4_LEN)
			return -1;
		memcpy(p, pp2_sig, sizeof(pp2_sig));
		p += sizeof(pp2_sig);
		*p++ = PP2_PROXY;
		*p++ = PP2_TCP4;
		memcpy(p, &len, 2);
		p += 2;
		/* addresses and ports as they are: network order */
		memcpy(p, &src->sin_addr, 4);
		memcpy(p + 4, &dst->sin_addr, 4);
		memcpy(p + 8, &src->sin_port, 2);
		memcpy(p + 10, &dst->sin_port, 2);
		return sizeof(pp2_sig) + 4 + PP2_TCP4_LEN;
	}
	return -1;
}
