// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_proxy_server.c - mod_proxy's server-wide settings: ProxyRequests,
 * ProxyPreserveHost, what the heads sent carry (ProxyAddHeaders, ProxyVia,
 * ProxyPassReverseCookiePath/-Domain), how the members' connections are
 * made (ProxySourceAddress, ProxyReceiveBufferSize), what a malformed
 * answer is (ProxyBadHeader) and which answers kbald replaces with its own
 * (ProxyErrorOverride). The balancers, members and rules are
 * conf_proxy.c's.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include "conf_parse.h"
#include "inaddr.h"

static int kw_proxyrequests(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int on;

	if (conf_parse_onoff(p, "ProxyRequests", argv[1], &on))
		return -1;
	if (on)
		return perr(p, "forward proxy (ProxyRequests On) is not supported: kbal is a reverse proxy");
	return 0;
}

/* ProxyErrorOverride On|Off [CODE...], as mod_proxy's
 * set_proxy_error_override() reads it: codes only after On, each 400..599;
 * inside a <VirtualHost> or a <Location> its codes join those before
 * (merge_proxy_dir_config()) */
static int kw_error_override(struct conf_parser *p, int argc, char **argv)
{
	int in_vhost = p->ctx == C_VHOST;
	struct kbal_conf_location *l = p->ctx == C_LOCATION ? &p->conf->location[p->loc] : NULL;
	int *on = l ? &l->error_override : in_vhost ? &p->conf->vhost[p->vhost].error_override :
		  &p->conf->error_override;
	unsigned *n = l ? &l->nerror_codes : in_vhost ? &p->conf->vhost[p->vhost].nerror_codes :
		      &p->conf->nerror_codes;
	uint16_t *codes = l ? l->error_codes : in_vhost ? p->conf->vhost[p->vhost].error_codes :
			  p->conf->error_codes;

	if (l)
		p->conf->error_locations = 1;
	if (!strcasecmp(argv[1], "on"))
		*on = 1;
	else if (!strcasecmp(argv[1], "off"))
		*on = 0;
	else
		return perr(p, "ProxyErrorOverride first parameter must be one of: off | on");
	for (int i = 2; i < argc; i++) {
		unsigned code;
		char *end;

		code = (unsigned)strtoul(argv[i], &end, 10);
		if (!*argv[i] || *end)
			return perr(p, "ProxyErrorOverride: status codes to intercept must be "
				    "numeric");
		if (!*on)
			return perr(p, "ProxyErrorOverride: status codes must follow a value of "
				    "'on'");
		if (code < 400 || code > 599)
			return perr(p, "ProxyErrorOverride: status codes to intercept must be "
				    "valid HTTP Status Codes >=400 && <600");
		if (*n == KBAL_CONF_ERROR_CODES)
			return perr(p, "ProxyErrorOverride: more than %d status codes",
				    KBAL_CONF_ERROR_CODES);
		codes[(*n)++] = (uint16_t)code;
	}
	return 0;
}

static int kw_preservehost(struct conf_parser *p, UNUSED int argc, char **argv)
{
	return conf_parse_onoff(p, "ProxyPreserveHost", argv[1], p->ctx == C_VHOST ?
				&p->conf->vhost[p->vhost].preserve_host : &p->conf->preserve_host);
}

/* ProxyPassReverseCookiePath|Domain INTERNAL PUBLIC, as mod_proxy's
 * cookie_path() and cookie_domain() */
static int cookie_map(struct conf_parser *p, int argc, char **argv, const char *what,
		      struct kbal_conf_cookie_map *maps, unsigned *n)
{
	struct kbal_conf_cookie_map *m = &maps[*n];

	if (argc == 4 && !strcasecmp(argv[3], "interpolate"))
		return perr(p, "%s: interpolate is not supported by kbal (no environment "
			    "variables)", what);
	if (argc != 3)
		return perr(p, "%s: too many arguments", what);
	if (*n == KBAL_CONF_MAX_COOKIE_MAP)
		return perr(p, "too many %s rules (at most %d)", what, KBAL_CONF_MAX_COOKIE_MAP);
	if (conf_copy(p, m->fake, sizeof(m->fake), argv[1], what) ||
	    conf_copy(p, m->real, sizeof(m->real), argv[2], what))
		return -1;
	if (strpbrk(m->real, ";,\"") || strpbrk(m->fake, ";"))
		return perr(p, "%s: a cookie attribute has no ';', ',' or '\"'", what);
	m->vhost = p->vhost;
	m->line = p->line;
	(*n)++;
	return 0;
}

static int kw_cookie_path(struct conf_parser *p, int argc, char **argv)
{
	return cookie_map(p, argc, argv, "ProxyPassReverseCookiePath", p->conf->cookie_path,
			  &p->conf->ncookie_path);
}

static int kw_cookie_domain(struct conf_parser *p, int argc, char **argv)
{
	return cookie_map(p, argc, argv, "ProxyPassReverseCookieDomain", p->conf->cookie_domain,
			  &p->conf->ncookie_domain);
}

/* ProxySourceAddress ADDR: the local address of the members' connections
 * (an IPv4 or IPv6 address; it binds those to members of its family) */
static int kw_source_address(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct in_addr a4;
	struct in6_addr *a = &p->conf->proxy_source;

	if (inet_pton(AF_INET, argv[1], &a4) == 1)
		kbal_in6_set_v4(a, a4.s_addr);
	else if (inet_pton(AF_INET6, argv[1], a) != 1)
		memset(a, 0, sizeof(*a));
	if (kbal_in6_is_any(a))
		return perr(p, "ProxySourceAddress %s: give an IP address of this host",
			    argv[1]);
	return 0;
}

/* ProxyReceiveBufferSize N: 0, or 512 and more (mod_proxy's bound) */
static int kw_receive_buffer(struct conf_parser *p, UNUSED int argc, char **argv)
{
	unsigned v;

	if (conf_parse_uint(p, "ProxyReceiveBufferSize", argv[1], 0, 1u << 30, &v))
		return -1;
	if (v && v < 512)
		return perr(p, "ProxyReceiveBufferSize must be >= 512 bytes, or 0 for system "
			    "default.");
	p->conf->proxy_rcvbuf = v;
	return 0;
}

/* ProxyBadHeader IsError|Ignore|StartBody: kbal refuses a member's
 * malformed header line with 502, httpd's default */
static int kw_bad_header(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (!strcasecmp(argv[1], "IsError"))
		return 0;
	if (!strcasecmp(argv[1], "Ignore") || !strcasecmp(argv[1], "StartBody"))
		return perr(p, "ProxyBadHeader %s is not supported by kbal: a member's malformed "
			    "answer is a 502 (IsError, httpd's default)", argv[1]);
	return perr(p, "ProxyBadHeader must be one of: IsError | Ignore | StartBody");
}

/* ProxyAddHeaders On|Off: X-Forwarded-For, -Host, -Server (default On);
 * a <VirtualHost>'s overrides the server's */
static int kw_addheaders(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int on;

	if (conf_parse_onoff(p, "ProxyAddHeaders", argv[1], &on))
		return -1;
	if (p->ctx == C_VHOST)
		p->conf->vhost[p->vhost].add_headers = on;
	else
		p->conf->no_xfwd = !on;
	return 0;
}

/* ProxyPassInherit On|Off, BalancerInherit On|Off (mod_proxy's
 * set_ppinherit(), set_inherit()): at server level the default of every
 * <VirtualHost>, inside one its own */
static int kw_pp_inherit(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int on;

	if (conf_parse_onoff(p, "ProxyPassInherit", argv[1], &on))
		return -1;
	if (p->ctx == C_VHOST)
		p->conf->vhost[p->vhost].pp_inherit = on;
	else
		p->conf->no_pp_inherit = !on;
	return 0;
}

static int kw_bal_inherit(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int on;

	if (conf_parse_onoff(p, "BalancerInherit", argv[1], &on))
		return -1;
	if (p->ctx == C_VHOST)
		p->conf->vhost[p->vhost].bal_inherit = on;
	else
		p->conf->no_bal_inherit = !on;
	return 0;
}

/* ProxyVia Off|On|Full|Block, as mod_proxy's set_via_opt() */
static int kw_via(struct conf_parser *p, UNUSED int argc, char **argv)
{
	static const char *const opt[] = {
		[KBAL_VIA_OFF] = "Off", [KBAL_VIA_ON] = "On", [KBAL_VIA_FULL] = "Full",
		[KBAL_VIA_BLOCK] = "Block",
	};

	for (unsigned i = 0; i < ARRAY_SIZE(opt); i++)
		if (!strcasecmp(argv[1], opt[i])) {
			if (p->ctx == C_VHOST)
				p->conf->vhost[p->vhost].via = (int)i;
			else
				p->conf->via = i;
			return 0;
		}
	return perr(p, "ProxyVia accepts one of 'Off', 'On', 'Full' or 'Block'");
}

const struct conf_keyword conf_kw_proxy_server[] = {
	{ "ProxyRequests",     C_SERVER,              1, 1,             kw_proxyrequests },
	{ "ProxyPreserveHost", C_SERVER | C_VHOST,    1, 1,             kw_preservehost },
	{ "ProxyErrorOverride", C_SERVER | C_VHOST | C_LOCATION, 1, CONF_MAX_ARGS - 1,
	  kw_error_override },
	{ "ProxyAddHeaders",   C_SERVER | C_VHOST,    1, 1,             kw_addheaders },
	{ "ProxyPassInherit",  C_SERVER | C_VHOST,    1, 1,             kw_pp_inherit },
	{ "BalancerInherit",   C_SERVER | C_VHOST,    1, 1,             kw_bal_inherit },
	{ "ProxySourceAddress", C_SERVER,             1, 1,             kw_source_address },
	{ "ProxyReceiveBufferSize", C_SERVER,         1, 1,             kw_receive_buffer },
	{ "ProxyBadHeader",    C_SERVER,              1, 1,             kw_bad_header },
	{ "ProxyPassReverseCookiePath",   C_SERVER | C_VHOST, 2, 3,     kw_cookie_path },
	{ "ProxyPassReverseCookieDomain", C_SERVER | C_VHOST, 2, 3,     kw_cookie_domain },
	{ "ProxyVia",          C_SERVER | C_VHOST,    1, 1,             kw_via },
	{ NULL }
};
