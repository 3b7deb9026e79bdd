/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * authz.h - who may reach a <Location>: Apache 2.4's Require (mod_authz_core,
 * mod_authz_host: all, ip, local, host; <RequireAny>, <RequireAll>, <RequireNone>,
 * "not") and the older Order/Allow/Deny (mod_access_compat), read by
 * conf_access.c and checked by kbald for each request the section serves.
 */
#ifndef KBAL_AUTHZ_H
#define KBAL_AUTHZ_H

#include <stdint.h>

#define KBAL_AUTHZ_NODES 32
#define KBAL_AUTHZ_NETS  64
#define KBAL_AUTHZ_USERS 16
#define KBAL_AUTHZ_NAME  64
#define KBAL_AUTHZ_HOSTS 16

enum kbal_authz_kind {
	AZ_ANY = 0,                       /* <RequireAny>, and the section's own list */
	AZ_ALL,                           /* <RequireAll> */
	AZ_NONE,                          /* <RequireNone> */
	AZ_GRANTED,                       /* Require all granted */
	AZ_DENIED,                        /* Require all denied */
	AZ_IP,                            /* Require ip NET ... */
	AZ_LOCAL,                         /* Require local */
	AZ_VALID_USER,                    /* Require valid-user */
	AZ_USER,                          /* Require user NAME ... */
	AZ_HOST,                          /* Require host NAME ... */
	AZ_GROUP,                         /* Require group NAME ... (AuthGroupFile) */
};

/* a network of either family, as inaddr.h's 16 bytes: an IPv4 one is
 * ::ffff:a.b.c.d with its mask's first 96 bits set, so that it holds no
 * IPv6 client; an IPv6 one (v6) holds no IPv4 client, ::/0 neither (httpd's
 * apr_ipsubnet_test(): a v4-mapped client is IPv4 there too) */
struct kbal_authz_net {
	uint8_t addr[16], mask[16];
	uint8_t v6;
};

struct kbal_authz_node {
	uint8_t kind;                     /* enum kbal_authz_kind */
	uint8_t negate;                   /* Require not ... */
	int8_t parent;                    /* -1: node 0, the section's list, is the root */
	uint8_t net0, nnet;               /* AZ_IP: its networks in net[];
					   * AZ_USER, AZ_GROUP: its names in user[];
					   * AZ_HOST: its names in host[] */
};

/* mod_access_compat's Order */
enum kbal_authz_order {
	AZ_ORDER_DENY_ALLOW = 0,          /* the default */
	AZ_ORDER_ALLOW_DENY,
	AZ_ORDER_MUTUAL_FAILURE,
};

struct kbal_authz {
	uint8_t nnode;                    /* 0: no Require at all */
	uint8_t nnet;
	struct kbal_authz_node node[KBAL_AUTHZ_NODES];
	struct kbal_authz_net net[KBAL_AUTHZ_NETS];
	/* Order, Allow from, Deny from */
	uint8_t compat;                   /* any of them given */
	uint8_t order;                    /* enum kbal_authz_order */
	uint8_t allow_all, deny_all;
	uint8_t allow0, nallow, deny0, ndeny;   /* their networks in net[] */
	uint8_t allow_host0, nallow_host;       /* their host and domain names in host[] */
	uint8_t deny_host0, ndeny_host;
	/* AuthType Basic (mod_auth_basic, mod_authn_file) */
	uint8_t basic;                    /* AuthType Basic */
	uint8_t nuser;
	char realm[128];                  /* AuthName */
	char userfile[256];               /* AuthUserFile: read at each check, as httpd */
	char groupfile[256];              /* AuthGroupFile (mod_authz_groupfile): the same */
	char user[KBAL_AUTHZ_USERS][KBAL_AUTHZ_NAME];
	/* Require host: the client's name, double-reverse looked up */
	uint8_t nhost;
	char host[KBAL_AUTHZ_HOSTS][KBAL_AUTHZ_NAME];
};

/* Who asks: the client at addr (16 bytes, inaddr.h), connected to local; user,
 * the one its credentials proved (NULL: none); host, its name as the
 * double-reverse lookup found it (NULL: none found, or not looked up) */
struct kbal_authz_client {
	uint8_t addr[16], local[16];
	const char *user;
	const char *host;
	/* the groups user is in, as AuthGroupFile lists them ("" ends) */
	const char (*groups)[KBAL_AUTHZ_NAME];
};


/* what the rules say of a request */
enum kbal_authz_result {
	KBAL_AUTHZ_DENIED = 0,            /* 403 */
	KBAL_AUTHZ_GRANTED,
	KBAL_AUTHZ_NEED_USER,             /* 401: only a user (Require user,
					   * valid-user) could be granted */
};

/* The rules for a client. Neither Require nor Order/Allow/Deny given:
 * loopback clients only. */
int kbal_authz_check(const struct kbal_authz *a, const struct kbal_authz_client *cl);

/* Do the rules ask for the client's host name (Require host)? Its lookup
 * may take long: kbald makes it off its loop (authcheck.h). */
static inline int kbal_authz_needs_host(const struct kbal_authz *a)
{
	return a->nhost != 0;
}

/* httpd's in_domain(): is host name, or in the domain name ("example.org"
 * or ".example.org" take "www.example.org", not "badexample.org")? */
int kbal_authz_in_domain(const char *name, const char *host);

/* Apache's partial address, CIDR or netmask forms ("10.1", "10.1.0.0/16",
 * "10.1.0.0/255.255.0.0", an IPv6 address or network): 0, or -1 */
int kbal_authz_parse_net(const char *s, struct kbal_authz_net *n);

/* May a client at addr, connected to local (16 bytes, inaddr.h), be served?
 * Neither Require nor Order/Allow/Deny given: only loopback clients
 * (what kbal asks of a balancer-manager without rules, unlike httpd). */
int kbal_authz_allows(const struct kbal_authz *a, const uint8_t *addr, const uint8_t *local);

#endif
