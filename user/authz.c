// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * authz.c - Require and Order/Allow/Deny checked for a client (authz.h), as
 * mod_authz_core combines its providers: each one grants, denies or is
 * neutral (a "not" that does not match), and a request is served only when
 * the whole is granted.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include "authz.h"
#include "inaddr.h"

/* mod_authz_core's results: DENIED_NO_USER, a denial that a user might
 * turn into a grant (401 rather than 403) */
enum { DENIED, GRANTED, NEUTRAL, NO_USER };

static int net_has(const struct kbal_authz_net *n, const uint8_t *addr)
{
	if (n->v6 && kbal_in6_is_v4(addr))
		return 0;             /* apr_ipsubnet_test(): families apart */
	for (int i = 0; i < 16; i++)
		if ((addr[i] & n->mask[i]) != n->addr[i])
			return 0;
	return 1;
}

static int nets_have(const struct kbal_authz *a, unsigned first, unsigned count,
		     const uint8_t *addr)
{
	for (unsigned i = first; i < first + count && i < a->nnet; i++)
		if (net_has(&a->net[i], addr))
			return 1;
	return 0;
}

/* 127.0.0.0/8 or ::1 */
static int loopback(const uint8_t *addr)
{
	return kbal_in6_is_v4(addr) ? addr[12] == 127 :
	       IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)addr);
}

int kbal_authz_in_domain(const char *name, const char *host)
{
	size_t nl = strlen(name), hl = strlen(host);

	if (!nl || hl < nl || strcasecmp(name, host + hl - nl))
		return 0;
	return hl == nl || name[0] == '.' || host[hl - nl - 1] == '.';
}

/* a provider's own answer, before its "not" */
static int provider_matches(const struct kbal_authz *a, const struct kbal_authz_node *n,
			    const struct kbal_authz_client *cl)
{
	const uint8_t *addr = cl->addr;

	switch (n->kind) {
	case AZ_VALID_USER:
		return 1;                  /* with a user: eval() asks only then */
	case AZ_USER:
		for (unsigned i = n->net0; i < n->net0 + n->nnet && i < a->nuser; i++)
			if (!strcmp(a->user[i], cl->user))
				return 1;
		return 0;
	case AZ_GROUP:
		for (unsigned i = n->net0; i < n->net0 + n->nnet && i < a->nuser; i++)
			for (unsigned g = 0; cl->groups && cl->groups[g][0]; g++)
				if (!strcmp(a->user[i], cl->groups[g]))
					return 1;
		return 0;
	case AZ_HOST:
		/* mod_authz_host: no name (or a name that does not map back
		 * to the address) matches nothing */
		for (unsigned i = n->net0; cl->host && i < n->net0 + n->nnet && i < a->nhost; i++)
			if (kbal_authz_in_domain(a->host[i], cl->host))
				return 1;
		return 0;
	case AZ_GRANTED:
		return 1;
	case AZ_DENIED:
		return 0;
	case AZ_IP:
		return nets_have(a, n->net0, n->nnet, addr);
	case AZ_LOCAL:
		/* mod_authz_host: 127.0.0.0/8, ::1, or the server's own address */
		return loopback(addr) || !memcmp(addr, cl->local, 16);
	}
	return 0;
}

static int eval(const struct kbal_authz *a, int i, const struct kbal_authz_client *cl)
{
	const struct kbal_authz_node *n = &a->node[i];
	int granted = 0, denied = 0, no_user = 0, any = 0;

	if (n->kind != AZ_ANY && n->kind != AZ_ALL && n->kind != AZ_NONE) {
		int m;

		if ((n->kind == AZ_VALID_USER || n->kind == AZ_USER || n->kind == AZ_GROUP) &&
		    !cl->user)
			return NO_USER;
		m = provider_matches(a, n, cl);
		if (n->negate)
			return m ? DENIED : NEUTRAL;
		return m ? GRANTED : DENIED;
	}
	for (int j = i + 1; j < a->nnode; j++) {
		int r;

		if (a->node[j].parent != i)
			continue;
		r = eval(a, j, cl);
		any = 1;
		granted |= r == GRANTED;
		denied |= r == DENIED;
		no_user |= r == NO_USER;
	}
	switch (n->kind) {
	case AZ_ALL:
		return denied ? DENIED : no_user ? NO_USER : granted ? GRANTED : NEUTRAL;
	case AZ_NONE:
		/* the enclosed must all fail; it never grants by itself */
		return granted ? DENIED : no_user ? NO_USER : NEUTRAL;
	default:
		return granted ? GRANTED : no_user ? NO_USER : (denied || !any) ? DENIED : NEUTRAL;
	}
}

/* one of the names first..first+n, for a client named host (NULL: none
 * found, which matches none) */
static int hosts_have(const struct kbal_authz *a, unsigned first, unsigned n, const char *host)
{
	for (unsigned i = first; host && i < first + n && i < a->nhost; i++)
		if (kbal_authz_in_domain(a->host[i], host))
			return 1;
	return 0;
}

/* mod_access_compat's check */
static int compat_allows(const struct kbal_authz *a, const struct kbal_authz_client *cl)
{
	int allowed = a->allow_all || nets_have(a, a->allow0, a->nallow, cl->addr) ||
		      hosts_have(a, a->allow_host0, a->nallow_host, cl->host);
	int denied = a->deny_all || nets_have(a, a->deny0, a->ndeny, cl->addr) ||
		     hosts_have(a, a->deny_host0, a->ndeny_host, cl->host);

	switch (a->order) {
	case AZ_ORDER_ALLOW_DENY:
		/* denied unless allowed; a Deny match wins */
		return allowed && !denied;
	case AZ_ORDER_MUTUAL_FAILURE:
		return allowed && !denied;
	default:
		/* allowed unless denied; an Allow match wins */
		return !denied || allowed;
	}
}

int kbal_authz_check(const struct kbal_authz *a, const struct kbal_authz_client *cl)
{
	int r;

	if (!a->nnode && !a->compat)
		return loopback(cl->addr) ? KBAL_AUTHZ_GRANTED : KBAL_AUTHZ_DENIED;
	/* Satisfy All (httpd's default): both checks must pass */
	if (a->compat && !compat_allows(a, cl))
		return KBAL_AUTHZ_DENIED;
	if (!a->nnode)
		return KBAL_AUTHZ_GRANTED;
	r = eval(a, 0, cl);
	return r == GRANTED ? KBAL_AUTHZ_GRANTED : r == NO_USER ? KBAL_AUTHZ_NEED_USER :
	       KBAL_AUTHZ_DENIED;
}

int kbal_authz_allows(const struct kbal_authz *a, const uint8_t *addr, const uint8_t *local)
{
	struct kbal_authz_client cl = { 0 };

	memcpy(cl.addr, addr, 16);
	memcpy(cl.local, local, 16);
	return kbal_authz_check(a, &cl) == KBAL_AUTHZ_GRANTED;
}

/* the first bits of mask set, the rest clear; addr cut to it */
static void net_cut(struct kbal_authz_net *n, unsigned bits)
{
	for (unsigned i = 0; i < 16; i++, bits = bits > 8 ? bits - 8 : 0)
		n->mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
	for (unsigned i = 0; i < 16; i++)
		n->addr[i] &= n->mask[i];
}

int kbal_authz_parse_net(const char *s, struct kbal_authz_net *n)
{
	char buf[64], *slash;
	struct in6_addr a6;
	struct in_addr a4;
	unsigned bits = 32;

	memset(n, 0, sizeof(*n));
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (strchr(buf, ':')) {
		char *end;
		unsigned long b;

		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return -1;
		if (slash) {
			b = strtoul(slash, &end, 10);
			if (*end || !*slash || b > 128)
				return -1;
			bits = b;
		} else {
			bits = 128;
		}
		n->v6 = 1;
		memcpy(n->addr, &a6, 16);
		net_cut(n, bits);
		return 0;
	}
	if (slash) {
		char *end;
		unsigned long b;

		if (inet_pton(AF_INET, buf, &a4) != 1)
			return -1;
		if (strchr(slash, '.')) {
			struct in_addr m;
			uint32_t hm;

			if (inet_pton(AF_INET, slash, &m) != 1)
				return -1;
			hm = ntohl(m.s_addr);
			if (hm & (~hm >> 1))  /* not contiguous ones, then zeroes */
				return -1;
			kbal_in6_set_v4(n->addr, a4.s_addr);
			net_cut(n, 96 + (unsigned)__builtin_popcount(hm));
			return 0;
		}
		b = strtoul(slash, &end, 10);
		if (*end || !*slash || b > 32)
			return -1;
		bits = b;
	} else {
		/* a partial address: "10.1" is 10.1.0.0/16 (a trailing dot too) */
		unsigned parts = 0, v[4] = { 0 };
		const char *p = buf;

		while (*p && parts < 4) {
			char *end;
			unsigned long x = strtoul(p, &end, 10);

			if (end == p || x > 255)
				return -1;
			v[parts++] = x;
			p = end;
			if (*p == '.')
				p++;
			else if (*p)
				return -1;
		}
		if (*p || !parts)
			return -1;
		a4.s_addr = htonl(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
		bits = parts * 8;
	}
	kbal_in6_set_v4(n->addr, a4.s_addr);
	net_cut(n, 96 + bits);
	return 0;
}
