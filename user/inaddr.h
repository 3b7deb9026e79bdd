/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * inaddr.h - one form for an address of either family, as the pinned maps
 * hold it (kbal_flow_key.client_addr, kbal_member.addr): 16 bytes, IPv4 as
 * ::ffff:a.b.c.d. The configuration keeps a struct sockaddr_in6 in that
 * form; a socket is made of the family the address really is, so that an
 * IPv4 member or listener costs what it did (no dual-stack socket).
 */
#ifndef KBAL_INADDR_H
#define KBAL_INADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* a socket address of the family it should have: IPv4 for a mapped one */
union kbal_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

static inline int kbal_in6_is_v4(const void *a16)
{
	return IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a16);
}

/* the IPv4 address of a mapped one, network order */
static inline uint32_t kbal_in6_v4(const void *a16)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)a16 + 12, 4);
	return v;
}

static inline void kbal_in6_set_v4(void *a16, uint32_t v4)
{
	static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };

	memcpy(a16, pfx, 12);
	memcpy((uint8_t *)a16 + 12, &v4, 4);
}

/* any address: ::, or 0.0.0.0 ("Listen 8080", "*") */
static inline int kbal_in6_is_any(const void *a16)
{
	return IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)a16) ||
	       (kbal_in6_is_v4(a16) && !kbal_in6_v4(a16));
}

/* sa's address into a16 and its port (network order) into *port: 0, or -1
 * for another family. A v4-mapped IPv6 peer (a [::] listener's IPv4
 * client) is kept as the IPv4 address it is, as APR does. */
static inline int kbal_in6_of_sa(const struct sockaddr *sa, void *a16, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

		kbal_in6_set_v4(a16, s->sin_addr.s_addr);
		if (port)
			*port = s->sin_port;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;

		memcpy(a16, &s->sin6_addr, 16);
		if (port)
			*port = s->sin6_port;
		return 0;
	}
	return -1;
}

/* fd's local address (getsockname), as the configuration keeps one: a
 * struct sockaddr_in6, IPv4 mapped; all zero if it cannot be had */
static inline void kbal_in6_local(int fd, struct sockaddr_in6 *out)
{
	union kbal_sa u;
	socklen_t len = sizeof(u);

	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	if (getsockname(fd, &u.sa, &len) ||
	    kbal_in6_of_sa(&u.sa, &out->sin6_addr, &out->sin6_port))
		memset(&out->sin6_addr, 0, 16);
}

/* the socket address of a16 and port (network order): its length */
static inline socklen_t kbal_sa_make(union kbal_sa *u, const void *a16, uint16_t port)
{
	memset(u, 0, sizeof(*u));
	if (kbal_in6_is_v4(a16)) {
		u->in.sin_family = AF_INET;
		u->in.sin_addr.s_addr = kbal_in6_v4(a16);
		u->in.sin_port = port;
		return sizeof(u->in);
	}
	u->in6.sin6_family = AF_INET6;
	memcpy(&u->in6.sin6_addr, a16, 16);
	u->in6.sin6_port = port;
	return sizeof(u->in6);
}

static inline int kbal_in6_family(const void *a16)
{
	return kbal_in6_is_v4(a16) ? AF_INET : AF_INET6;
}

/* a16 as text, IPv4 dotted (INET6_ADDRSTRLEN is room for either) */
static inline const char *kbal_in6_ntop(const void *a16, char *buf, socklen_t cap)
{
	if (kbal_in6_is_v4(a16)) {
		uint32_t v = kbal_in6_v4(a16);

		return inet_ntop(AF_INET, &v, buf, cap);
	}
	return inet_ntop(AF_INET6, a16, buf, cap);
}

#endif
