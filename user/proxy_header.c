// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* proxy_header.c - the PROXY protocol header (proxy_header.h). */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "inaddr.h"
#include "proxy_header.h"

/* version 2's signature, then "version 2, PROXY" and "TCP over IPv4/6" */
static const unsigned char pp2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

#define PP2_PROXY    0x21
#define PP2_TCP4     0x11
#define PP2_TCP4_LEN 12               /* two addresses, two ports */
#define PP2_TCP6     0x21
#define PP2_TCP6_LEN 36

ssize_t kbal_proxy_header(unsigned version, const struct sockaddr_in6 *src,
			  const struct sockaddr_in6 *dst, char *out, size_t cap)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	unsigned char *p = (unsigned char *)out;
	/* a socket's two ends are of one family: IPv4 both, or TCP6 */
	int v4 = kbal_in6_is_v4(&src->sin6_addr) && kbal_in6_is_v4(&dst->sin6_addr);
	unsigned alen = v4 ? 4 : 16, off = v4 ? 12 : 0;
	uint16_t len = htons(v4 ? PP2_TCP4_LEN : PP2_TCP6_LEN);
	int n;

	switch (version) {
	case KBAL_PP_V1:
		if (v4 ? !kbal_in6_ntop(&src->sin6_addr, s, sizeof(s)) ||
			 !kbal_in6_ntop(&dst->sin6_addr, d, sizeof(d)) :
			 !inet_ntop(AF_INET6, &src->sin6_addr, s, sizeof(s)) ||
			 !inet_ntop(AF_INET6, &dst->sin6_addr, d, sizeof(d)))
			return -1;
		n = snprintf(out, cap, "PROXY TCP%c %s %s %u %u\r\n", v4 ? '4' : '6', s, d,
			     ntohs(src->sin6_port), ntohs(dst->sin6_port));
		return n > 0 && (size_t)n < cap ? n : -1;
	case KBAL_PP_V2:
		if (cap < sizeof(pp2_sig) + 4 + 2 * alen + 4)
			return -1;
		memcpy(p, pp2_sig, sizeof(pp2_sig));
		p += sizeof(pp2_sig);
		*p++ = PP2_PROXY;
		*p++ = v4 ? PP2_TCP4 : PP2_TCP6;
		memcpy(p, &len, 2);
		p += 2;
		/* addresses and ports as they are: network order */
		memcpy(p, src->sin6_addr.s6_addr + off, alen);
		memcpy(p + alen, dst->sin6_addr.s6_addr + off, alen);
		memcpy(p + 2 * alen, &src->sin6_port, 2);
		memcpy(p + 2 * alen + 2, &dst->sin6_port, 2);
		return sizeof(pp2_sig) + 4 + 2 * alen + 4;
	}
	return -1;
}
