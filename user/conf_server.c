// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_server.c - the server's own directives: Listen, ServerName, Timeout
 * (and ProxyTimeout, which overrides it), LoadModule, Header, kbal's own
 * Kbal* directives, and those of its own answers (ServerAdmin,
 * ServerTokens, ServerSignature).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "conf_match.h"
#include "conf_parse.h"
#include "inaddr.h"
#include "proxy_header.h"

/* LoadModule NAME PATH: nothing is loaded; conf_include.c knows which
 * modules kbal implements (<IfModule> then finds them) */
static int kw_loadmodule(struct conf_parser *p, UNUSED int argc, char **argv)
{
	return conf_module_loaded(p, argv[1]) < 0 ? -1 : 0;
}

/* UseCanonicalName On|Off (DNS: not supported): what kbald's own
 * self-referential URLs name (a Redirect's relative target, the rewritten
 * Location of ProxyPassReverse): ServerName, or the client's Host */
static int kw_canonical_name(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (!strcasecmp(argv[1], "DNS"))
		return perr(p, "UseCanonicalName DNS is not supported by kbal (it looks no name "
			    "up)");
	return conf_parse_onoff(p, "UseCanonicalName", argv[1], &p->conf->canonical_name);
}

/* AllowEncodedSlashes On|Off|NoDecode, httpd's core: what a %2F in a
 * request's path is (kbal_conf_uri_path_ex()); at server level */
static int kw_encoded_slashes(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (!strcasecmp(argv[1], "on"))
		p->conf->encoded_slashes = KBAL_SLASHES_ON;
	else if (!strcasecmp(argv[1], "off"))
		p->conf->encoded_slashes = KBAL_SLASHES_OFF;
	else if (!strcasecmp(argv[1], "nodecode"))
		p->conf->encoded_slashes = KBAL_SLASHES_NODECODE;
	else
		return perr(p, "AllowEncodedSlashes must be On, Off, or NoDecode, not %s",
			    argv[1]);
	return 0;
}

/* KeepAlive On|Off, httpd's core: with Off every answer says
 * "Connection: close" and the connection ends after it
 * (ap_set_keepalive()); exchange.c treats each request as the last */
static int kw_keepalive(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int on;

	if (conf_parse_onoff(p, "KeepAlive", argv[1], &on))
		return -1;
	if (p->ctx == C_VHOST) {
		p->conf->vhost[p->vhost].keepalive = on;
		p->conf->vhost_keepalive = 1;
	} else {
		p->conf->keepalive_off = !on;
	}
	return 0;
}

/* Listen [IP:]PORT [http] */
static int kw_listen(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_listen *l = &c->listen[c->nlisten];
	const char *a = argv[1], *rest;
	char host[KBAL_NAME_LEN] = "", label[300];
	unsigned port;

	snprintf(label, sizeof(label), "Listen %s", a);
	if (argc > 2 && strcasecmp(argv[2], "http"))
		return perr(p, "%s %s: only http is supported (no TLS)", label, argv[2]);
	if (conf_split_host(a, host, sizeof(host), &rest) || (*rest && *rest != ':'))
		return perr(p, "%s: expected [IP:]PORT, an IPv6 address in brackets", label);
	if (!*rest) {                         /* "Listen 8080": the port alone */
		if (a[0] == '[')
			return perr(p, "%s: expected [IPV6]:PORT", label);
		rest = a;
		host[0] = '\0';
	} else {
		rest++;
	}
	if (conf_parse_uint(p, label, rest, 1, 65535, &port))
		return -1;
	if (c->nlisten == KBAL_CONF_MAX_LISTEN)
		return perr(p, "too many Listen directives (at most %d)", KBAL_CONF_MAX_LISTEN);
	if (conf_resolve(p, label, host, port, &l->addr))
		return -1;
	for (unsigned i = 0; i < c->nlisten; i++) {
		const struct sockaddr_in6 *o = &c->listen[i].addr;
		int same = !memcmp(&o->sin6_addr, &l->addr.sin6_addr, 16);

		/* [::] takes IPv4 too (httpd leaves IPV6_V6ONLY off) unless a
		 * 0.0.0.0 listener on its port does, so only one of a family's
		 * any and one of its addresses clash */
		if (o->sin6_port == l->addr.sin6_port &&
		    (same || (kbal_in6_family(&o->sin6_addr) == kbal_in6_family(&l->addr.sin6_addr) &&
			      (kbal_in6_is_any(&o->sin6_addr) || kbal_in6_is_any(&l->addr.sin6_addr)))))
			return perr(p, "%s: the Listen at %s already takes this port",
				    label, conf_at(p, c->listen[i].line));
	}
	l->line = p->line;
	c->nlisten++;
	return 0;
}

/* httpd's server_hostname_port(): "[scheme://]name[:port]"; the name
 * without the port is server_hostname (%v, X-Forwarded-Server), the port
 * the server's (%p, 80 without one) */
void conf_split_server_name(const char *name, char *host, size_t cap, unsigned *port)
{
	const char *s = strstr(name, "://"), *colon;

	s = s ? s + 3 : name;
	colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
	if (colon && s[0] == '[')
		colon++;
	*port = colon ? (unsigned)atoi(colon + 1) : 0;
	snprintf(host, cap, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
}

static int kw_servername(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (p->ctx == C_VHOST) {
		struct kbal_conf_vhost *v = &p->conf->vhost[p->vhost];

		if (conf_copy(p, v->server_name, sizeof(v->server_name), argv[1], "ServerName"))
			return -1;
		conf_split_server_name(v->server_name, v->server_host, sizeof(v->server_host),
				       &v->server_port);
		return 0;
	}
	if (conf_copy(p, p->conf->server_name, sizeof(p->conf->server_name), argv[1], "ServerName"))
		return -1;
	conf_split_server_name(p->conf->server_name, p->conf->server_host,
			       sizeof(p->conf->server_host), &p->conf->server_port);
	return 0;
}

/* ServerAdmin ADDRESS: named on httpd's 500 page (the <VirtualHost>'s, else
 * the server's) */
static int kw_serveradmin(struct conf_parser *p, UNUSED int argc, char **argv)
{
	char *to = p->ctx == C_VHOST ? p->conf->vhost[p->vhost].server_admin :
				       p->conf->server_admin;

	return conf_copy(p, to, sizeof(p->conf->server_admin), argv[1], "ServerAdmin");
}

/* ServerTokens Prod[uctOnly]|Major|Minor|Min[imal]|OS|Full: the Server
 * line of kbald's own answers (own_head.c), httpd's set_serv_tokens();
 * server-wide only, as httpd's (GLOBAL_ONLY) */
static int kw_server_tokens(struct conf_parser *p, UNUSED int argc, char **argv)
{
	static const struct {
		const char *name;
		uint8_t tokens;
	} opt[] = {
		{ "OS", KBAL_TOKENS_OS }, { "Min", KBAL_TOKENS_MIN },
		{ "Minimal", KBAL_TOKENS_MIN }, { "Major", KBAL_TOKENS_MAJOR },
		{ "Minor", KBAL_TOKENS_MINOR }, { "Prod", KBAL_TOKENS_PROD },
		{ "ProductOnly", KBAL_TOKENS_PROD }, { "Full", KBAL_TOKENS_FULL },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(opt); i++)
		if (!strcasecmp(argv[1], opt[i].name)) {
			p->conf->server_tokens = opt[i].tokens;
			return 0;
		}
	return perr(p, "ServerTokens takes 1 argument: 'Prod(uctOnly)', 'Major', 'Minor', "
		    "'Min(imal)', 'OS', or 'Full'");
}

/* ServerSignature On|Off|EMail: the line httpd's ap_psignature() ends
 * kbald's pages with (error pages, redirections, the manager's), the
 * <VirtualHost>'s, else the server's; httpd's set_signature_flag(). httpd
 * takes it in <Directory>, <Location> and .htaccess too: kbal refuses it
 * there (the keyword table's contexts) */
static int kw_server_signature(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int sig = !strcasecmp(argv[1], "On") ? KBAL_SIG_ON : !strcasecmp(argv[1], "Off") ?
		  KBAL_SIG_OFF : !strcasecmp(argv[1], "EMail") ? KBAL_SIG_EMAIL : -1;

	if (sig < 0)
		return perr(p, "ServerSignature: use one of: off | on | email");
	if (p->ctx == C_VHOST)
		p->conf->vhost[p->vhost].server_signature = sig;
	else
		p->conf->server_signature = (uint8_t)sig;
	return 0;
}

/* ServerAlias NAME...: more names of its <VirtualHost>, '*' and '?' wild */
static int kw_serveralias(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf_vhost *v = &p->conf->vhost[p->vhost];

	for (int i = 1; i < argc; i++) {
		if (v->nalias == KBAL_CONF_VHOST_ALIASES)
			return perr(p, "ServerAlias: more than %d names in one <VirtualHost>",
				    KBAL_CONF_VHOST_ALIASES);
		if (conf_copy(p, v->alias[v->nalias], sizeof(v->alias[0]), argv[i], "ServerAlias"))
			return -1;
		v->nalias++;
	}
	return 0;
}

/* one address of <VirtualHost>: *, _default_, an IPv4 address, [an IPv6
 * one] or a host name, then :PORT, :* or nothing (any port) */
static int vhost_addr(struct conf_parser *p, const char *a, struct sockaddr_in6 *sa)
{
	const char *rest;
	char host[KBAL_NAME_LEN] = "", label[300];
	unsigned port = 0;

	snprintf(label, sizeof(label), "<VirtualHost %s>", a);
	if (conf_split_host(a, host, sizeof(host), &rest) || (*rest && *rest != ':'))
		return perr(p, "%s: expected ADDR[:PORT], an IPv6 address in brackets", label);
	if (*rest && strcmp(rest + 1, "*") && conf_parse_uint(p, label, rest + 1, 1, 65535, &port))
		return -1;
	if (!strcasecmp(host, "_default_"))
		strcpy(host, "*");
	return conf_resolve(p, label, host, port, sa);
}

/* <VirtualHost ADDR[:PORT] ...>: several on one address are told apart
 * by each request's Host (name-based), as httpd 2.4 does without
 * NameVirtualHost */
static int kw_virtualhost(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_vhost *v = &c->vhost[c->nvhost];

	if (c->nvhost == KBAL_CONF_MAX_VHOST)
		return perr(p, "too many <VirtualHost> sections (at most %d)", KBAL_CONF_MAX_VHOST);
	if (argc - 1 > KBAL_CONF_VHOST_ADDRS)
		return perr(p, "<VirtualHost>: more than %d addresses", KBAL_CONF_VHOST_ADDRS);
	memset(v, 0, sizeof(*v));
	v->preserve_host = -1;
	v->error_override = -1;
	v->server_signature = -1;
	v->via = v->add_headers = v->pp_inherit = v->bal_inherit = -1;
	v->keepalive = v->max_keepalive = -1;
	v->limits = c->limits;            /* the server's so far (ap_new_vhost()) */
	v->limit_set = p->limit_set & 7;
	for (int i = 1; i < argc; i++) {
		struct sockaddr_in6 *sa = &v->addr[v->naddr];

		if (vhost_addr(p, argv[i], sa))
			return -1;
		v->naddr++;
	}
	v->line = p->line;
	p->vhost = c->nvhost++;
	conf_open_section(p, C_VHOST, "VirtualHost", argv[1]);
	snprintf(p->vhost_arg, sizeof(p->vhost_arg), "%s", argv[1]);
	return 0;
}

/* Timeout and ProxyTimeout: the latter wins, whatever the order; a
 * <VirtualHost>'s own, else the server's (conf_check.c) */
static int kw_timeout(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int proxy = !strcasecmp(argv[0], "ProxyTimeout");

	if (p->ctx == C_VHOST) {
		struct kbal_conf_vhost *v = &p->conf->vhost[p->vhost];

		p->conf->vhost_timeouts = 1;
		return conf_parse_time(p, argv[0], argv[1], proxy ? &v->own_proxy_timeout_ms :
								    &v->own_timeout_ms);
	}
	return conf_parse_time(p, argv[0], argv[1], proxy ? &p->proxy_timeout_ms : &p->timeout_ms);
}
static int kw_keepalive_timeout(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (p->ctx == C_VHOST) {
		p->conf->vhost_timeouts = 1;
		return conf_parse_time(p, argv[0], argv[1],
				       &p->conf->vhost[p->vhost].own_keepalive_timeout_ms);
	}
	return conf_parse_time(p, argv[0], argv[1], &p->conf->keepalive_timeout_ms);
}

/* LimitRequestLine, LimitRequestFieldSize, LimitRequestFields,
 * LimitRequestBody: httpd's, with its defaults (conf_check.c) */
static int kw_limit(struct conf_parser *p, UNUSED int argc, char **argv)
{
	static const char *const names[] = { "LimitRequestLine", "LimitRequestFieldSize",
					     "LimitRequestFields", "LimitRequestBody" };
	struct kbal_conf *c = p->conf;
	unsigned k = 0, v;

	while (strcasecmp(argv[0], names[k]))
		k++;
	if (k == 3) {
		/* bytes, 0: no limit; httpd takes up to 2^63 - 1 */
		char *end;
		unsigned long long b = strtoull(argv[1], &end, 10);

		if (!argv[1][0] || *end || argv[1][0] == '-' || b > (1ull << 62))
			return perr(p, "LimitRequestBody %s: must be a number of bytes", argv[1]);
		if (p->ctx == C_VHOST) {
			c->vhost[p->vhost].limit_body = b;
			c->vhost[p->vhost].limit_body_set = 1;
			return 0;
		}
		c->limit_body = b;
	} else {
		struct kbal_http_limits *lim = p->ctx == C_VHOST ? &c->vhost[p->vhost].limits :
						       &c->limits;

		if (conf_parse_uint(p, names[k], argv[1], k == 2 ? 0 : 1, 1u << 30, &v))
			return -1;
		if (k == 0)
			lim->line = v;
		else if (k == 1)
			lim->field = v;
		else
			lim->fields = v;
		/* what kbal's head buffer and parser hold */
		if (k < 2 && v + 2 > KBAL_HTTP_HEAD_BUF)
			conf_pwarn(p, p->line, "%s %u: kbald reads request heads of %d bytes at most, "
				   "and answers a longer one 431", names[k], v, KBAL_HTTP_HEAD_BUF);
		if (k == 2 && (!v || v >= KBAL_HTTP_MAX_HEADERS))
			conf_pwarn(p, p->line, "LimitRequestFields %u: kbald parses %d header "
				   "fields at most, and answers more with 400", v,
				   KBAL_HTTP_MAX_HEADERS - 1);
	}
	if (p->ctx == C_VHOST)
		c->vhost[p->vhost].limit_set |= 1u << k;
	else
		p->limit_set |= 1u << k;
	return 0;
}

/* MaxKeepAliveRequests N: httpd's (core; its default 100 in conf_check.c,
 * 0: no bound). httpd takes atoi()'s reading of anything; kbal a number */
static int kw_max_keepalive_requests(struct conf_parser *p, UNUSED int argc, char **argv)
{
	unsigned v;

	if (conf_parse_uint(p, argv[0], argv[1], 0, INT32_MAX, &v))
		return -1;
	if (p->ctx == C_VHOST) {
		p->conf->vhost[p->vhost].max_keepalive = (int)v;
		p->conf->vhost_keepalive = 1;
		return 0;
	}
	p->conf->max_keepalive_requests = v;
	p->max_keepalive_set = 1;
	return 0;
}

/* KbalMaxConnectionsPerClient N: kbal's own (httpd has none) */
static int kw_max_per_client(struct conf_parser *p, UNUSED int argc, char **argv)
{
	return conf_parse_uint(p, argv[0], argv[1], 0, 1u << 24, &p->conf->max_per_client);
}

/* AcceptFilter PROTOCOL FILTER, httpd's core: on Linux any filter but
 * "none" is TCP_DEFER_ACCEPT of 30 s (server/listen.c); kbal listens for
 * http alone, so an https line is read and changes nothing. */
static int kw_accept_filter(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (!strcasecmp(argv[1], "http"))
		p->conf->accept_filter_none = !strcasecmp(argv[2], "none");
	return 0;
}

/* RequestReadTimeout [handshake=T] [header=T[-MAX][,MinRate=R]]
 * [body=T[-MAX][,MinRate=R]] (mod_reqtimeout's syntax) */
static int kw_reqtimeout(struct conf_parser *p, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		struct kbal_read_bound *b, v = { 0 };
		char *end;
		unsigned long t, max = 0, rate = 0;

		if (!eq)
			return perr(p, "RequestReadTimeout %s: expected header=, body= or handshake=", a);
		if (!strncasecmp(a, "handshake=", 10))
			continue;             /* TLS: nothing of kbal's */
		if (!strncasecmp(a, "header=", 7))
			b = &p->conf->reqtimeout.header;
		else if (!strncasecmp(a, "body=", 5))
			b = &p->conf->reqtimeout.body;
		else
			return perr(p, "RequestReadTimeout %s: unknown stage (handshake, header, body)", a);
		t = strtoul(eq + 1, &end, 10);
		if (end == eq + 1)
			return perr(p, "RequestReadTimeout %s: the timeout must be a number of seconds", a);
		if (*end == '-') {
			const char *m = end + 1;

			max = strtoul(m, &end, 10);
			if (end == m || max <= t)
				return perr(p, "RequestReadTimeout %s: the maximum must be more than "
					    "the timeout", a);
		}
		if (!strncasecmp(end, ",MinRate=", 9)) {
			const char *r = end + 9;

			rate = strtoul(r, &end, 10);
			if (end == r || !rate)
				return perr(p, "RequestReadTimeout %s: MinRate must be a number of "
					    "bytes per second", a);
		}
		if (*end || t > 86400 || max > 86400)
			return perr(p, "RequestReadTimeout %s: not TIMEOUT[-MAX][,MinRate=RATE]", a);
		if (max && !rate)
			return perr(p, "RequestReadTimeout %s: a maximum needs MinRate", a);
		v.ms = t * 1000;
		v.max_ms = max * 1000;
		v.rate = rate;
		*b = v;
		p->reqtimeout_set |= b == &p->conf->reqtimeout.header ? 1 : 2;
	}
	return 0;
}

static int kw_splice(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_conf_balancer *b = &p->conf->balancers[p->bal];
	unsigned mode;

	if (!strcasecmp(argv[1], "sockmap"))
		mode = KBAL_SPLICE_SOCKMAP;
	else if (!strcasecmp(argv[1], "off"))
		mode = KBAL_SPLICE_OFF;
	else if (!strcasecmp(argv[1], "packet"))
		mode = KBAL_SPLICE_PACKET;
	else
		return perr(p, "KbalSplice %s: must be packet, sockmap or off", argv[1]);
	if (p->ctx == C_BALANCER) {
		b->splice = mode;
		b->splice_set = 1;
	} else {
		p->conf->splice = mode;
		p->conf->splice_set = 1;
	}
	return 0;
}

/* KbalHost ID ADDRESS: one of the kbal hosts behind the service address
 * (docs/scale-out.md); every host has the same lines */
static int kw_host(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct in_addr a;
	char *end;
	unsigned long id = strtoul(argv[1], &end, 10);

	if (*end || end == argv[1] || id < 1 || id >= KBAL_MAX_HOSTS)
		return perr(p, "KbalHost %s: the id must be 1 to %d", argv[1], KBAL_MAX_HOSTS - 1);
	if (inet_pton(AF_INET, argv[2], &a) != 1 || !a.s_addr)
		return perr(p, "KbalHost %s %s: not an IPv4 address (the host's own)", argv[1],
			    argv[2]);
	if (c->host[id].addr)
		return perr(p, "KbalHost %lu: given twice (line %d)", id, c->host[id].line);
	for (unsigned i = 1; i < KBAL_MAX_HOSTS; i++)
		if (c->host[i].addr == a.s_addr)
			return perr(p, "KbalHost %s: %s is host %u's already", argv[1], argv[2], i);
	c->host[id].addr = a.s_addr;
	c->host[id].line = p->line;
	c->nhost++;
	return 0;
}

/* BalancerPersist On|Off (Apache's), KbalPersistFile PATH (kbal's) */
static int kw_persist(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (!strcasecmp(argv[0], "BalancerPersist"))
		return conf_parse_onoff(p, "BalancerPersist", argv[1], &p->conf->balancer_persist);
	return conf_root_relative(p, "KbalPersistFile", argv[1], p->conf->persist_file,
				  sizeof(p->conf->persist_file));
}

/* KbalProxyProtocol v1|v2|off: the PROXY header on member connections */
static int kw_proxy_protocol(struct conf_parser *p, UNUSED int argc, char **argv)
{
	unsigned v;

	if (!strcasecmp(argv[1], "v1"))
		v = KBAL_PP_V1;
	else if (!strcasecmp(argv[1], "v2"))
		v = KBAL_PP_V2;
	else if (!strcasecmp(argv[1], "off"))
		v = KBAL_PP_OFF;
	else
		return perr(p, "KbalProxyProtocol %s: must be v1, v2 or off", argv[1]);
	if (p->ctx == C_BALANCER)
		p->conf->balancers[p->bal].proxy_protocol = v;
	else
		p->conf->proxy_protocol = v;
	return 0;
}

/* Can a socket of this host use congestion control name? Those the kernel
 * has loaded are listed in /proc; others may be a module that TCP_CONGESTION
 * loads (with CAP_NET_ADMIN), so a socket is asked before saying no. */
static int cc_usable(const char *name, char *avail, size_t availsz)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "re");
	int fd, ok = 0;

	avail[0] = 0;
	if (f) {
		if (fgets(avail, (int)availsz, f))
			avail[strcspn(avail, "\n")] = 0;
		fclose(f);
	}
	for (char *p = avail; *p && !ok; p += strcspn(p, " "), p += strspn(p, " "))
		ok = strlen(name) == strcspn(p, " ") && !strncmp(p, name, strlen(name));
	if (ok)
		return 1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		ok = !setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)strlen(name));
		close(fd);
	}
	return ok;
}

/* KbalMemberCongestion ALGO: the congestion control of kbald's connections
 * to members (TCP_CONGESTION), where the system's default suits its clients,
 * not a hop to the next rack (docs/configuration.md) */
static int kw_member_cc(struct conf_parser *p, UNUSED int argc, char **argv)
{
	char *dst = p->ctx == C_BALANCER ? p->conf->balancers[p->bal].member_cc :
					   p->conf->member_cc;
	char avail[256];

	if (strlen(argv[1]) >= KBAL_CC_LEN)
		return perr(p, "KbalMemberCongestion %s: a congestion control's name is at most "
			    "%d characters", argv[1], KBAL_CC_LEN - 1);
	if (!cc_usable(argv[1], avail, sizeof(avail)))
		return perr(p, "KbalMemberCongestion %s: not a congestion control this kernel "
			    "has (available: %s)", argv[1], avail[0] ? avail : "none listed");
	strcpy(dst, argv[1]);
	return 0;
}

/* a Header value's formats as mod_headers' parse_format_tag() reads them:
 * %%, %t, %D and %{VAR}e; \t and \\ (\r and \n would end the line) */
static int check_header_value(struct conf_parser *p, const char *dir, const char *v)
{
	if (!strncmp(v, "expr=", 5))
		return perr(p, "%s: expr= values are not supported by kbal (no ap_expr "
			    "outside health checks)", dir);
	for (const char *s = v; *s; s++) {
		const char *e;

		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return perr(p, "%s: control character in the value", dir);
		if (*s == '\\' && (s[1] == 'r' || s[1] == 'n'))
			return perr(p, "%s: \\%c in the value would end the header line", dir, s[1]);
		if (*s == '\\' && (s[1] == '\\' || s[1] == 't')) {
			s++;            /* an escape; any other '\\' stays as it is */
			continue;
		}
		if (*s != '%' || !s[1] || s[1] == '%' || s[1] == 't' || s[1] == 'D') {
			s += *s == '%' && s[1];
			continue;
		}
		if (s[1] == '{' && (e = strchr(s, '}')) && e[1] == 'e' && e - s - 2 < 64) {
			s = e + 1;
			continue;
		}
		if (s[1] == '{' && (e = strchr(s, '}')) && e[1] == 's')
			return perr(p, "%s: %%{...}s needs mod_ssl: kbal has no TLS", dir);
		if (s[1] == 'l' || s[1] == 'i' || s[1] == 'b')
			return perr(p, "%s: %%%c (httpd's worker load) is not supported by kbal",
				    dir, s[1]);
		return perr(p, "%s: Unrecognized header format %%%c", dir, s[1]);
	}
	return 0;
}

/* Header [always|onsuccess] ACTION NAME [VALUE [REPLACEMENT]] [env=[!]VAR]
 * and RequestHeader ACTION ..., as mod_headers' header_inout_cmd() reads
 * them */
static int header_rule(struct conf_parser *p, const char *dir, unsigned table, int argc,
		       char **argv)
{
	/* these frame what kbal splices, or are hop-by-hop: kbal keeps them */
	static const char *const framing[] = {
		"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Upgrade", "Trailer", "TE", "Proxy-Connection",
	};
	static const char *const actions[] = {
		[KBAL_HEADER_ADD] = "add", [KBAL_HEADER_SET] = "set",
		[KBAL_HEADER_SETIFEMPTY] = "setifempty", [KBAL_HEADER_APPEND] = "append",
		[KBAL_HEADER_MERGE] = "merge", [KBAL_HEADER_UNSET] = "unset",
		[KBAL_HEADER_ECHO] = "echo", [KBAL_HEADER_EDIT] = "edit",
		[KBAL_HEADER_EDIT_ALL] = "edit*",
	};
	struct kbal_conf *c = p->conf;
	struct kbal_conf_header *h = &c->header[c->nheader];
	const char *name, *value = NULL, *subs = NULL, *cond = NULL;
	char err[200];
	unsigned a;
	int i = 1;

	if (c->nheader == KBAL_CONF_MAX_HEADER)
		return perr(p, "too many Header and RequestHeader directives (at most %d)",
			    KBAL_CONF_MAX_HEADER);
	memset(h, 0, sizeof(*h));
	h->table = table;
	if (table != KBAL_HDR_IN && !strcasecmp(argv[i], "always")) {
		h->table = KBAL_HDR_ALWAYS;
		i++;
	} else if (table != KBAL_HDR_IN && !strcasecmp(argv[i], "onsuccess")) {
		i++;
	}
	if (i >= argc)
		return perr(p, "%s: needs an action and a header name", dir);
	for (a = 0; a < ARRAY_SIZE(actions); a++)
		if (!strcasecmp(argv[i], actions[a]))
			break;
	if (a == ARRAY_SIZE(actions)) {
		if (!strcasecmp(argv[i], "note"))
			return perr(p, "%s note: not supported by kbal (nothing reads notes)", dir);
		return perr(p, "%s %s: first argument must be 'add', 'set', 'setifempty', "
			    "'append', 'merge', 'unset', 'echo', 'edit', or 'edit*'", dir, argv[i]);
	}
	h->action = a;
	if (++i >= argc)
		return perr(p, "%s %s: needs a header name", dir, actions[a]);
	name = argv[i++];
	value = i < argc ? argv[i++] : NULL;
	subs = i < argc ? argv[i++] : NULL;
	cond = i < argc ? argv[i++] : NULL;
	if (i < argc)
		return perr(p, "%s has too many arguments", dir);
	if (a == KBAL_HEADER_EDIT || a == KBAL_HEADER_EDIT_ALL) {
		if (!subs)
			return perr(p, "%s %s requires a match and a substitution", dir, actions[a]);
	} else {
		if (cond)
			return perr(p, "%s: Too many arguments to directive", dir);
		cond = subs;
		subs = NULL;
	}
	if (a == KBAL_HEADER_UNSET || a == KBAL_HEADER_ECHO) {
		if (value && cond)
			return perr(p, "%s %s takes two arguments", dir, actions[a]);
		cond = value ?: cond;
		value = NULL;
		if (a == KBAL_HEADER_ECHO && table == KBAL_HDR_IN)
			return perr(p, "%s echo: only valid on Header directives", dir);
	} else if (!value) {
		return perr(p, "%s requires three arguments", dir);
	}
	if (cond) {
		if (!strcasecmp(cond, "early"))
			return perr(p, "%s %s: early is not supported by kbal", dir, cond);
		if (!strncasecmp(cond, "expr=", 5))
			return perr(p, "%s %s: expr= conditions are not supported by kbal", dir,
				    cond);
		if (strncasecmp(cond, "env=", 4))
			return perr(p, "%s: Unknown parameter: %s", dir, cond);
		h->env_not = cond[4] == '!';
		if (!cond[4 + h->env_not])
			return perr(p, "%s: missing environment variable name. envclause should "
				    "be in the form env=envar", dir);
		if (conf_copy(p, h->env, sizeof(h->env), cond + 4 + h->env_not, "env= variable"))
			return -1;
	}
	if (a == KBAL_HEADER_ECHO) {
		if (conf_regex_check(name, err, sizeof(err)))
			return perr(p, "%s echo regex could not be compiled: %s", dir, err);
		if (conf_copy(p, h->match, sizeof(h->match), name, "Header echo regex"))
			return -1;
	} else {
		size_t n = strcspn(name, ":");     /* "Name:" is the name */

		if (n >= sizeof(h->name))
			return perr(p, "%s %s: header name too long", dir, name);
		memcpy(h->name, name, n);
		if (!conf_is_token(h->name))
			return perr(p, "%s %s: not a header name", dir, name);
		for (size_t k = 0; k < ARRAY_SIZE(framing); k++)
			if (!strcasecmp(h->name, framing[k]))
				return perr(p, "%s %s: kbal does not change this header", dir,
					    h->name);
	}
	if (subs) {
		if (conf_regex_check(value, err, sizeof(err)))
			return perr(p, "%s edit regex could not be compiled: %s", dir, err);
		if (conf_copy(p, h->match, sizeof(h->match), value, "Header edit regex"))
			return -1;
		value = subs;
	}
	if (value && (check_header_value(p, dir, value) ||
		      conf_copy(p, h->value, sizeof(h->value), value, "Header value")))
		return -1;
	h->vhost = p->vhost;
	/* in a <Location>: after the server's and the virtual host's rules,
	 * for the requests it takes (mod_headers' merge of per-directory
	 * configurations appends them) */
	h->location = p->ctx == C_LOCATION ? p->loc : -1;
	c->header_locations |= h->location >= 0;
	h->line = p->line;
	c->nheader++;
	return 0;
}

static int kw_header(struct conf_parser *p, int argc, char **argv)
{
	return header_rule(p, "Header", KBAL_HDR_OUT, argc, argv);
}

static int kw_request_header(struct conf_parser *p, int argc, char **argv)
{
	return header_rule(p, "RequestHeader", KBAL_HDR_IN, argc, argv);
}

const struct conf_keyword conf_kw_server[] = {
	{ "LoadModule",        C_SERVER,              2, 2,             kw_loadmodule },
	{ "Listen",            C_SERVER,              1, 2,             kw_listen },
	{ "ServerName",        C_SERVER | C_VHOST,    1, 1,             kw_servername },
	{ "ServerAlias",       C_VHOST,               1, CONF_MAX_ARGS - 1, kw_serveralias },
	{ "<VirtualHost",      C_SERVER,              1, KBAL_CONF_VHOST_ADDRS, kw_virtualhost },
	{ "Timeout",           C_SERVER | C_VHOST,    1, 1,             kw_timeout },
	{ "ProxyTimeout",      C_SERVER | C_VHOST,    1, 1,             kw_timeout },
	{ "KeepAlive",         C_SERVER | C_VHOST,    1, 1,             kw_keepalive },
	{ "UseCanonicalName",  C_SERVER,              1, 1,             kw_canonical_name },
	{ "AllowEncodedSlashes", C_SERVER,            1, 1,             kw_encoded_slashes },
	{ "KeepAliveTimeout",  C_SERVER | C_VHOST,    1, 1,             kw_keepalive_timeout },
	{ "MaxKeepAliveRequests", C_SERVER | C_VHOST, 1, 1,             kw_max_keepalive_requests },
	{ "RequestReadTimeout", C_SERVER,             1, 3,             kw_reqtimeout },
	{ "KbalMaxConnectionsPerClient", C_SERVER,    1, 1,             kw_max_per_client },
	{ "AcceptFilter",      C_SERVER,              2, 2,             kw_accept_filter },
	{ "LimitRequestLine",  C_SERVER | C_VHOST,    1, 1,             kw_limit },
	{ "LimitRequestFieldSize", C_SERVER | C_VHOST, 1, 1,            kw_limit },
	{ "LimitRequestFields", C_SERVER | C_VHOST,   1, 1,             kw_limit },
	{ "LimitRequestBody",  C_SERVER | C_VHOST,    1, 1,             kw_limit },
	{ "KbalSplice",        C_SERVER | C_BALANCER, 1, 1,             kw_splice },
	{ "KbalHost",          C_SERVER,              2, 2,             kw_host },
	{ "KbalMemberCongestion", C_SERVER | C_BALANCER, 1, 1,          kw_member_cc },
	{ "KbalProxyProtocol", C_SERVER | C_BALANCER, 1, 1,             kw_proxy_protocol },
	{ "BalancerPersist",   C_SERVER,              1, 1,             kw_persist },
	{ "KbalPersistFile",   C_SERVER,              1, 1,             kw_persist },
	{ "Header",            C_SERVER | C_VHOST | C_LOCATION, 2, 6,   kw_header },
	{ "RequestHeader",     C_SERVER | C_VHOST | C_LOCATION, 2, 5,   kw_request_header },
	/* only logging or error pages: nothing about what goes where */
	{ "ServerAdmin",       C_SERVER | C_VHOST,    1, 1,             kw_serveradmin },
	{ "ServerTokens",      C_SERVER,              1, 1,             kw_server_tokens },
	{ "ServerSignature",   C_SERVER | C_VHOST,    1, 1,             kw_server_signature },
	{ NULL }
};
