/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy_header.h - the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) kbald writes first on each member connection of a
 * balancer with KbalProxyProtocol: the client's address and port, and the
 * address and port it connected to. Such a connection carries one client's
 * requests only (docs/configuration.md).
 */
#ifndef KBAL_PROXY_HEADER_H
#define KBAL_PROXY_HEADER_H

#include <stddef.h>
#include <sys/types.h>
#include <netinet/in.h>

enum kbal_proxy_protocol {
	KBAL_PP_UNSET = 0,            /* inherits the server's; none there: off */
	KBAL_PP_OFF,
	KBAL_PP_V1,                   /* "PROXY TCP4 src dst sport dport\r\n" (TCP6) */
	KBAL_PP_V2,                   /* binary, 28 bytes for TCP over IPv4, 52 over IPv6 */
};

#define KBAL_PP_MAX 108               /* the longest version 1 line */

/* The header for a TCP connection from src to dst (IPv4 mapped, inaddr.h);
 * its length, or -1 if cap is too small or the version unknown. */
ssize_t kbal_proxy_header(unsigned version, const struct sockaddr_in6 *src,
			  const struct sockaddr_in6 *dst, char *out, size_t cap);

#endif
