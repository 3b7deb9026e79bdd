// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* test_authz.c - Require and Order/Allow/Deny as httpd combines them
 * (mod_authz_core, mod_authz_host, mod_access_compat), from configuration
 * text to the answer for a client address. */
#include <stdlib.h>
#include <arpa/inet.h>
#include "authz.h"
#include "conf.h"
#include "inaddr.h"
#include "unit.h"

/* s as kbald holds a client's address (inaddr.h: IPv4 mapped); a few
 * buffers in turn, so that one call may take two */
static const uint8_t *ip(const char *s)
{
	static uint8_t buf[4][16];
	static unsigned turn;
	uint8_t *a = buf[turn++ % 4];
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1)
		kbal_in6_set_v4(a, a4.s_addr);
	else
		inet_pton(AF_INET6, s, a);
	return a;
}

/* a network's prefix length, as written (IPv4: past its 96 mapped bits) */
static int prefix(const struct kbal_authz_net *n)
{
	int bits = 0;

	for (int i = 0; i < 16; i++)
		bits += __builtin_popcount(n->mask[i]);
	return n->v6 ? bits : bits - 96;
}

static int check(const struct kbal_authz *a, const char *addr, const char *user, const char *host)
{
	struct kbal_authz_client cl = { .user = user, .host = host };

	memcpy(cl.addr, ip(addr), 16);
	return kbal_authz_check(a, &cl);
}

/* the manager's <Location> with body; the client's verdict for each of
 * addrs, "1"/"0" per address, from local 192.0.2.1 */
static void expect(const char *body, const char *const *addrs, const char *want)
{
	static char text[4096];
	struct kbal_conf *c = calloc(1, sizeof(*c));
	char err[512];

	snprintf(text, sizeof(text), "Listen 8080\n<Proxy balancer://c>\nBalancerMember "
		 "http://127.0.0.1:9001\n</Proxy>\nProxyPass /bm !\nProxyPass / balancer://c/\n"
		 "<Location /bm>\nSetHandler balancer-manager\n%s</Location>\n", body);
	if (!ASSERT_EQ(kbal_conf_parse("t.conf", text, c, err, sizeof(err), NULL, NULL), 0, err)) {
		free(c);
		return;
	}
	for (int i = 0; addrs[i]; i++) {
		char what[600];
		int got = kbal_authz_allows(&c->location[0].authz, ip(addrs[i]), ip("192.0.2.1"));

		snprintf(what, sizeof(what), "%s from %s", body, addrs[i]);
		ASSERT_EQ(got, want[i] - '0', what);
	}
	free(c);
}

static const char *const A[] = { "127.0.0.1", "127.0.0.2", "10.1.2.3", "10.2.0.1", "192.0.2.1",
				 "192.0.2.77", "203.0.113.9", NULL };

UNIT_TEST(authz_require)
{
	/*                                                   127.0.0.1 .2  10.1.2.3 10.2 local .77 other */
	expect("", A,                                        "1100000");   /* none: loopback only */
	expect("Require all granted\n", A,                   "1111111");
	expect("Require all denied\n", A,                    "0000000");
	expect("Require ip 127.0.0.1\n", A,                  "1000000");
	expect("Require ip 10.1\n", A,                       "0010000");   /* partial: 10.1.0.0/16 */
	expect("Require ip 10.0.0.0/8 192.0.2.0/255.255.255.0\n", A, "0011110");
	expect("Require ip ::1\n", A,                        "0000000");   /* IPv6: no IPv4 client */
	expect("Require local\n", A,                         "1100100");   /* loopback, own address */
	expect("Require ip 10.1\nRequire local\n", A,        "1110100");   /* any of them */
	expect("<RequireAll>\nRequire ip 10.0.0.0/8 127.0.0.0/8\nRequire not ip 10.2 127.0.0.2\n"
	       "</RequireAll>\n", A,                         "1010000");
	expect("<RequireAll>\nRequire all granted\n<RequireNone>\nRequire ip 10.0.0.0/8\n"
	       "</RequireNone>\n</RequireAll>\n", A,         "1100111");
	expect("<RequireAny>\n<RequireAll>\nRequire local\nRequire not ip 127.0.0.2\n</RequireAll>\n"
	       "Require ip 203.0.113.9\n</RequireAny>\n", A, "1000101");
	/* <RequireNone> alone never grants */
	expect("<RequireNone>\nRequire ip 10.0.0.0/8\n</RequireNone>\n", A, "0000000");
}

static const char *const B[] = { "::1", "2001:db8::5", "2001:db9::1", "127.0.0.1", NULL };

/* IPv6 clients: mod_authz_host's networks of either family, each holding
 * only its own family's clients */
UNIT_TEST(authz_require_ipv6)
{
	/*                                                   ::1 db8::5 db9::1 127.0.0.1 */
	expect("", B,                                        "1001");      /* loopback: ::1 too */
	expect("Require local\n", B,                         "1001");
	expect("Require ip ::1\n", B,                        "1000");
	expect("Require ip 2001:db8::/32\n", B,              "0100");
	expect("Require ip 2001:db8::5 127.0.0.1\n", B,      "0101");
	expect("Require ip 0.0.0.0/0\n", B,                  "0001");      /* IPv4's all */
	expect("Require ip ::/0\n", B,                       "1110");      /* IPv6's all */
	expect("Order Allow,Deny\nAllow from 2001:db8::/16\nDeny from 2001:db9::1\n", B,
	       "0100");
}

UNIT_TEST(authz_order_allow_deny)
{
	expect("Order Deny,Allow\nDeny from all\nAllow from 127.0.0.1 10.1\n", A, "1010000");
	expect("Order Allow,Deny\nAllow from all\nDeny from 10.0.0.0/8\n", A,    "1100111");
	expect("Order Allow,Deny\nAllow from 10.0.0.0/8\nDeny from 10.2\n", A,   "0010000");
	expect("Order Deny,Allow\nDeny from 10.0.0.0/8\n", A,                    "1100111");
	/* an address in both lists: the second Order word wins */
	expect("Order Deny,Allow\nDeny from 10.0.0.0/8\nAllow from 10.1\n", A,   "1110111");
	expect("Order Allow,Deny\nAllow from 10.0.0.0/8\nDeny from 10.1\n", A,   "0001000");
	expect("Order Mutual-failure\nAllow from 10.0.0.0/8\nDeny from 10.1\n", A, "0001000");
	/* without Order: Deny,Allow */
	expect("Deny from all\nAllow from 192.0.2\n", A,                         "0000110");
	/* both kinds (Satisfy All): each must let the client through */
	expect("Order Deny,Allow\nDeny from 10.0.0.0/8\nRequire ip 10.0.0.0/8 127.0.0.1\n", A,
	       "1000000");
}

UNIT_TEST(authz_parse_net)
{
	struct kbal_authz_net n;

	ASSERT_EQ(kbal_authz_parse_net("10.1.2.3", &n), 0, "full");
	ASSERT_EQ(prefix(&n), 32, "full: /32");
	ASSERT_EQ(kbal_authz_parse_net("10.1.", &n), 0, "partial, trailing dot");
	ASSERT_EQ(prefix(&n), 16, "partial: /16");
	ASSERT_EQ(kbal_authz_parse_net("10.1.2.3/20", &n), 0, "CIDR");
	ASSERT_TRUE(!memcmp(n.addr, ip("10.1.0.0"), 16), "CIDR: the network");
	ASSERT_EQ(kbal_authz_parse_net("0.0.0.0/0", &n), 0, "/0");
	ASSERT_EQ(prefix(&n), 0, "/0: every IPv4 address");
	ASSERT_EQ(kbal_authz_parse_net("fe80::/10", &n), 0, "IPv6 network");
	ASSERT_EQ(n.v6, 1, "IPv6");
	ASSERT_EQ(prefix(&n), 10, "IPv6: /10");
	ASSERT_EQ(kbal_authz_parse_net("::1", &n), 0, "IPv6 address");
	ASSERT_EQ(prefix(&n), 128, "IPv6 address: /128");
	ASSERT_EQ(kbal_authz_parse_net("::1/129", &n), -1, "/129");
	ASSERT_EQ(kbal_authz_parse_net("10.1.2.3/33", &n), -1, "/33");
	ASSERT_EQ(kbal_authz_parse_net("10.1.2.3.4", &n), -1, "five parts");
	ASSERT_EQ(kbal_authz_parse_net("10.a", &n), -1, "letters");
	ASSERT_EQ(kbal_authz_parse_net("", &n), -1, "empty");
	ASSERT_EQ(kbal_authz_parse_net("10.0.0.0/255.255.0.255", &n), -1, "holes in the mask");
}

UNIT_TEST(authz_users)
{
	static char text[2048];
	struct kbal_conf *c = calloc(1, sizeof(*c));
	char err[512];
	const struct kbal_authz *a;

	snprintf(text, sizeof(text), "Listen 8080\n<Proxy balancer://c>\nBalancerMember "
		 "http://127.0.0.1:9001\n</Proxy>\nProxyPass /bm !\nProxyPass / balancer://c/\n"
		 "<Location /bm>\nSetHandler balancer-manager\nAuthType Basic\nAuthName \"BM\"\n"
		 "AuthUserFile /dev/null\n<RequireAny>\nRequire ip 10.1\n<RequireAll>\n"
		 "Require user alice bob\nRequire not ip 10.2\n</RequireAll>\n</RequireAny>\n"
		 "</Location>\n");
	if (!ASSERT_EQ(kbal_conf_parse("t.conf", text, c, err, sizeof(err), NULL, NULL), 0, err)) {
		free(c);
		return;
	}
	a = &c->location[0].authz;
	ASSERT_STREQ(a->realm, "BM", "AuthName");
	ASSERT_EQ(a->nuser, 2, "users");
	ASSERT_EQ(check(a, "10.1.0.5", NULL, NULL), KBAL_AUTHZ_GRANTED, "10.1: the address");
	ASSERT_EQ(check(a, "10.3.0.5", NULL, NULL), KBAL_AUTHZ_NEED_USER, "10.3: a user could");
	ASSERT_EQ(check(a, "10.3.0.5", "bob", NULL), KBAL_AUTHZ_GRANTED, "10.3 as bob");
	ASSERT_EQ(check(a, "10.3.0.5", "carol", NULL), KBAL_AUTHZ_DENIED, "10.3 as carol");
	ASSERT_EQ(check(a, "10.2.0.5", "bob", NULL), KBAL_AUTHZ_DENIED, "10.2 as bob");
	free(c);
}

UNIT_TEST(authz_host)
{
	static char text[2048];
	struct kbal_conf *c = calloc(1, sizeof(*c));
	char err[512];
	const struct kbal_authz *a;

	/* httpd's in_domain(): whole labels only */
	ASSERT_EQ(kbal_authz_in_domain("example.org", "www.example.org"), 1, "a subdomain");
	ASSERT_EQ(kbal_authz_in_domain(".example.org", "www.example.org"), 1, "a leading dot");
	ASSERT_EQ(kbal_authz_in_domain("example.org", "EXAMPLE.ORG"), 1, "case");
	ASSERT_EQ(kbal_authz_in_domain("example.org", "badexample.org"), 0, "not a label");
	ASSERT_EQ(kbal_authz_in_domain("www.example.org", "example.org"), 0, "longer");
	ASSERT_EQ(kbal_authz_in_domain("", "example.org"), 0, "empty");
	snprintf(text, sizeof(text), "Listen 8080\n<Proxy balancer://c>\nBalancerMember "
		 "http://127.0.0.1:9001\n</Proxy>\nProxyPass /bm !\nProxyPass / balancer://c/\n"
		 "<Location /bm>\nSetHandler balancer-manager\n<RequireAll>\n"
		 "Require host admin.example .ops.example\nRequire not host bad.ops.example\n"
		 "</RequireAll>\n</Location>\n");
	if (!ASSERT_EQ(kbal_conf_parse("t.conf", text, c, err, sizeof(err), NULL, NULL), 0, err)) {
		free(c);
		return;
	}
	a = &c->location[0].authz;
	ASSERT_EQ(kbal_authz_needs_host(a), 1, "needs the host name");
	ASSERT_EQ(a->nhost, 3, "names");
	ASSERT_EQ(check(a, "10.0.0.1", NULL, "admin.example"), KBAL_AUTHZ_GRANTED, "the name");
	ASSERT_EQ(check(a, "10.0.0.1", NULL, "x.ops.example"), KBAL_AUTHZ_GRANTED, "the domain");
	ASSERT_EQ(check(a, "10.0.0.1", NULL, "bad.ops.example"), KBAL_AUTHZ_DENIED, "not host");
	ASSERT_EQ(check(a, "10.0.0.1", NULL, "nadmin.example"), KBAL_AUTHZ_DENIED, "another");
	ASSERT_EQ(check(a, "127.0.0.1", NULL, NULL), KBAL_AUTHZ_DENIED, "no name found");
	free(c);
	c = calloc(1, sizeof(*c));
	snprintf(text, sizeof(text), "Listen 8080\n<Location /bm>\nSetHandler balancer-manager\n"
		 "Require host bad_name\n</Location>\n");
	ASSERT_EQ(kbal_conf_parse("t.conf", text, c, err, sizeof(err), NULL, NULL), -1, "bad name");
	ASSERT_STREQ(err, "t.conf:4: Require host bad_name: not a host or domain name", "error");
	free(c);
}

UNIT_TEST(authz_compat_host)
{
	static char text[2048];
	struct kbal_conf *c = calloc(1, sizeof(*c));
	char err[512];
	const struct kbal_authz *a;

	/* mod_access_compat: a word that is no address is a name (T_HOST) */
	snprintf(text, sizeof(text), "Listen 8080\n<Location /bm>\nSetHandler balancer-manager\n"
		 "Order deny,allow\nDeny from all\nAllow from localhost .ops.example 10.9.0.0/16\n"
		 "Deny from bad.ops.example\n</Location>\n");
	if (!ASSERT_EQ(kbal_conf_parse("t.conf", text, c, err, sizeof(err), NULL, NULL), 0, err)) {
		free(c);
		return;
	}
	a = &c->location[0].authz;
	ASSERT_EQ(kbal_authz_needs_host(a), 1, "needs the host name");
	ASSERT_EQ(a->nallow_host, 2, "allowed names");
	ASSERT_EQ(a->ndeny_host, 1, "denied names");
	ASSERT_EQ(check(a, "127.0.0.1", NULL, "localhost"), KBAL_AUTHZ_GRANTED, "localhost");
	ASSERT_EQ(check(a, "127.0.0.1", NULL, NULL), KBAL_AUTHZ_DENIED, "no name found");
	ASSERT_EQ(check(a, "10.1.0.1", NULL, "x.ops.example"), KBAL_AUTHZ_GRANTED, "the domain");
	/* Order deny,allow: an Allow match wins over a Deny */
	ASSERT_EQ(check(a, "10.1.0.1", NULL, "bad.ops.example"), KBAL_AUTHZ_GRANTED,
		  "deny,allow: allowed by the domain");
	ASSERT_EQ(check(a, "10.9.1.1", NULL, NULL), KBAL_AUTHZ_GRANTED, "the network, no name");
	ASSERT_EQ(check(a, "10.1.0.1", NULL, "xops.example"), KBAL_AUTHZ_DENIED, "not a label");
	free(c);
	c = calloc(1, sizeof(*c));
	snprintf(text, sizeof(text), "Listen 8080\n<Location /bm>\nSetHandler balancer-manager\n"
		 "Order allow,deny\nAllow from .ops.example\nDeny from bad.ops.example\n"
		 "</Location>\n");
	if (ASSERT_EQ(kbal_conf_parse("t.conf", text, c, err, sizeof(err), NULL, NULL), 0, err)) {
		a = &c->location[0].authz;
		ASSERT_EQ(check(a, "10.1.0.1", NULL, "bad.ops.example"), KBAL_AUTHZ_DENIED,
			  "allow,deny: a Deny match wins");
		ASSERT_EQ(check(a, "10.1.0.1", NULL, "ok.ops.example"), KBAL_AUTHZ_GRANTED, "allowed");
	}
	free(c);
	c = calloc(1, sizeof(*c));
	snprintf(text, sizeof(text), "Listen 8080\n<Location /bm>\nSetHandler balancer-manager\n"
		 "Allow from bad_name\n</Location>\n");
	ASSERT_EQ(kbal_conf_parse("t.conf", text, c, err, sizeof(err), NULL, NULL), -1, "bad name");
	ASSERT_STREQ(err, "t.conf:4: Allow from bad_name: not an address, network or host name",
		     "error");
	free(c);
}
