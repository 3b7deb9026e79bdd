// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_proxy.c - mod_proxy and mod_proxy_balancer: <Proxy> sections,
 * BalancerMember and ProxySet with their parameter tables, ProxyPass,
 * ProxyPassReverse, ProxyRequests, ProxyPreserveHost. A new BalancerMember
 * or ProxySet parameter is one entry in member_params or balancer_params.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include "conf_parse.h"
#include "conf_match.h"
#include "lb.h"

static int is_balancer_url(const char *s)
{
	return !strncasecmp(s, "balancer://", strlen("balancer://"));
}

/* "balancer://NAME[/PATH]": the index of NAME, created on first use as
 * httpd does, so that ProxyPass may name a balancer defined further down.
 * *path gets "/PATH" or ""; without path, nothing but "/" may follow.
 * NAME ends at one of stops ("/", and "/$" for ProxyPassMatch's $N). */
/* Balancer i named again here: the server's are every virtual host's
 * (httpd merges them in); one a <VirtualHost> named first is its own, and
 * kbal keeps one balancer per name (the manager and kbalctl name them) */
static int balancer_seen(struct conf_parser *p, unsigned i)
{
	const struct kbal_conf_balancer *b = &p->conf->balancers[i];

	if (b->vhost < 0 || b->vhost == p->vhost)
		return i;
	return perr(p, "%s%s: named in the <VirtualHost> at %s first (at %s), and kbal keeps "
		    "one balancer per name: give this %s one a name of its own, or define it "
		    "at server level, before the <VirtualHost>s, for all of them",
		    kbal_bal_scheme(b->flags), b->name,
		    conf_at(p, p->conf->vhost[b->vhost].line), conf_at(p, b->ref_line),
		    p->vhost >= 0 ? "<VirtualHost>'s" : "server's");
}

/* Balancer i defined here (<Proxy>, BalancerMember, ProxySet): inside a
 * <VirtualHost> it must be that one's own, not the server's */
static int balancer_def(struct conf_parser *p, int i)
{
	const struct kbal_conf_balancer *b;

	if (i < 0 || p->vhost < 0 || p->conf->balancers[i].vhost == p->vhost)
		return i;       /* an error said already, or this one's own */
	b = &p->conf->balancers[i];
	return perr(p, "%s%s: the server's (named at %s); kbal keeps one balancer per name, "
		    "so a <VirtualHost> defines no balancer of the server's: define it in one "
		    "place, or give this one a name of its own", kbal_bal_scheme(b->flags),
		    b->name, conf_at(p, b->ref_line));
}

static int balancer_ref_at(struct conf_parser *p, const char *url, const char **path,
			   const char *stops)
{
	struct kbal_conf *c = p->conf;
	const char *name = url + strlen("balancer://");
	size_t n = strcspn(name, stops);
	unsigned i;

	if (!n || n >= KBAL_NAME_LEN)
		return perr(p, "%s: a balancer name has 1 to %d characters", url, KBAL_NAME_LEN - 1);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i]))
			return perr(p, "%s: bad character '%c' in the balancer name", url, name[i]);
	if (path)
		*path = name + n;
	else if (name[n] && strcmp(name + n, "/"))
		return perr(p, "%s: no path may follow the balancer name here", url);
	for (i = 0; i < c->nbalancers; i++)
		if (strlen(c->balancers[i].name) == n && !strncasecmp(c->balancers[i].name, name, n))
			return balancer_seen(p, i);
	if (c->nbalancers == KBAL_MAX_BALANCERS)
		return perr(p, "too many balancers (at most %d)", KBAL_MAX_BALANCERS);
	c->balancers[i].vhost = p->vhost;
	c->balancers[i].ref_line = p->line;
	memcpy(c->balancers[i].name, name, n);
	c->balancers[i].lbmethod = KBAL_LB_BYREQUESTS;
	c->balancers[i].max_attempts = -1;
	c->nbalancers++;
	return i;
}

static int balancer_ref(struct conf_parser *p, const char *url, const char **path)
{
	return balancer_ref_at(p, url, path, "/");
}

/* ---- BalancerMember and ProxySet parameters ---- */

/* route= and redirect= (the route a sticky request for this member goes
 * to while it is unusable) */
static int m_route(struct conf_parser *p, void *obj, const struct conf_param *pd,
		   const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;
	char *dst = pd->name[0] == 'r' && pd->name[2] == 'd' ? m->redirect : m->route;

	for (const unsigned char *s = (const unsigned char *)val; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || strchr(";,\"\\", *s))
			return perr(p, "%s: a route is printable ASCII without ; , \" or \\", label);
	return conf_copy(p, dst, KBAL_ROUTE_LEN, val, label);
}

/* loadfactor=N[.DD]: Apache 2.4 keeps hundredths, (int)(N.DD * 100.0) */
static int m_loadfactor(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
			const char *val, const char *label)
{
	int lf = kbal_lbfactor_parse(val);

	if (lf < 0)
		return perr(p, "%s: must be a number from 1 to 100 (hundredths count, as "
			    "Apache's: 1.5, 2.25)", label);
	((struct kbal_conf_member *)obj)->lbfactor = lf;
	return 0;
}

static int m_lbset(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		   const char *val, const char *label)
{
	return conf_parse_uint(p, label, val, 0, 99, &((struct kbal_conf_member *)obj)->lbset);
}

static int m_retry(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		   const char *val, const char *label)
{
	return conf_parse_uint(p, label, val, 0, 86400, &((struct kbal_conf_member *)obj)->retry_sec);
}

/* httpd's status=: [+|-]LETTER..., the sign holding until the next one.
 * C (a failed health check) is mod_proxy_hcheck's, which kbal does not
 * have: refused rather than read as a D nothing would ever clear. */
static int m_status(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		    const char *val, const char *label)
{
	static const struct { char letter; unsigned bit; } st[] = {
		{ 'D', KBAL_ST_DISABLED }, { 'S', KBAL_ST_STOPPED }, { 'E', KBAL_ST_ERROR },
		{ 'H', KBAL_ST_HOT_STANDBY }, { 'N', KBAL_ST_DRAIN }, { 'I', KBAL_ST_IGNORE_ERR },
		{ 'R', KBAL_ST_SPARE },
	};
	struct kbal_conf_member *m = obj;
	int add = 1;

	for (const char *s = val; *s; s++) {
		size_t i = 0;

		if (*s == '+' || *s == '-')
			add = *s++ == '+';
		if (toupper((unsigned char)*s) == 'C')
			return perr(p, "%s: C is the state the health checks set (hcmethod=), "
				    "not a starting one (D disables a member)", label);
		while (i < ARRAY_SIZE(st) && st[i].letter != toupper((unsigned char)*s))
			i++;
		if (i == ARRAY_SIZE(st))
			return perr(p, "%s: status is [+|-]LETTER..., LETTER one of D S E H R N I", label);
		if (add)
			m->status |= st[i].bit;
		else
			m->status &= ~st[i].bit;
	}
	return 0;
}

/* whole seconds, as Apache's atoi() reads timeout= (a unit after the
 * number would be ignored there: refused here) */
static int parse_seconds(struct conf_parser *p, const char *label, const char *val, unsigned *ms)
{
	unsigned s;

	if (conf_parse_uint(p, label, val, 1, 86400, &s))
		return perr(p, "%s: whole seconds from 1 to 86400, as Apache reads it", label);
	*ms = s * 1000;
	return 0;
}

/* timeout=: how long the member may keep an answer waiting (Apache's
 * socket timeout towards it), and its connect timeout unless
 * connectiontimeout= (which wins, whatever the order) gives one */
static int m_timeout(struct conf_parser *p, void *obj, const struct conf_param *pd,
		     const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;
	int connect = !strcmp(pd->name, "connectiontimeout");
	unsigned ms;

	if (connect ? conf_parse_time(p, label, val, &ms) : parse_seconds(p, label, val, &ms))
		return -1;
	if (!connect)
		m->timeout_ms = ms;
	if (connect || !p->ctimeout_set)
		m->connect_timeout_ms = ms;
	p->ctimeout_set |= connect;
	return 0;
}

/* keepalive=On: TCP keep-alive probes on its connections (SO_KEEPALIVE) */
static int m_keepalive(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		       const char *val, const char *label)
{
	return conf_parse_onoff(p, label, val, &((struct kbal_conf_member *)obj)->keepalive);
}

static int m_pool_max(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		      const char *val, const char *label)
{
	return conf_parse_uint(p, label, val, 0, 65535, &((struct kbal_conf_member *)obj)->pool_max);
}

static int m_pool_ttl(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		      const char *val, const char *label)
{
	return conf_parse_time(p, label, val, &((struct kbal_conf_member *)obj)->pool_ttl_ms);
}

/* ping=: mod_proxy_http's ping_timeout (ap_timeout_parameter_parse(),
 * seconds by default, at least a millisecond): a request with a body goes
 * with Expect: 100-continue, and the member has that long to answer
 * (exchange_response.c) */
static int m_ping(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		  const char *val, const char *label)
{
	unsigned ms;

	if (conf_parse_time(p, label, val, &ms))
		return -1;
	((struct kbal_conf_member *)obj)->ping_ms = ms;
	return 0;
}

/* upgrade=PROTO[,PROTO...] or *: mod_proxy_http's (2.4.47+) */
static int m_upgrade(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		     const char *val, const char *label)
{
	return conf_copy(p, ((struct kbal_conf_member *)obj)->upgrade,
			 sizeof(((struct kbal_conf_member *)obj)->upgrade), val, label);
}

/* disablereuse=On and enablereuse=Off say the same: one connection per client */
static int m_reuse(struct conf_parser *p, void *obj, const struct conf_param *pd,
		   const char *val, const char *label)
{
	int on = 0;

	if (conf_parse_onoff(p, label, val, &on))
		return -1;
	((struct kbal_conf_member *)obj)->reuse = pd->name[0] == 'e' ? on : !on;
	return 0;
}

static const struct conf_param member_params[] = {
	{ "route",             m_route },
	{ "redirect",          m_route },
	{ "loadfactor",        m_loadfactor },
	{ "lbset",             m_lbset },
	{ "retry",             m_retry },
	{ "status",            m_status },
	{ "timeout",           m_timeout },
	{ "connectiontimeout", m_timeout },
	/* the pool of kept-alive connections (docs/configuration.md) */
	{ "max",               m_pool_max },
	{ "ttl",               m_pool_ttl },
	{ "disablereuse",      m_reuse },
	{ "enablereuse",       m_reuse },
	/* buffers and probes: no effect on which member gets a request */
	{ "min",               conf_pm_num },
	{ "smax",              conf_pm_num },
	{ "acquire",           conf_pm_time },
	{ "ping",              m_ping },
	{ "flushwait",         conf_pm_num },
	{ "iobuffersize",      conf_pm_num },
	{ "receivebuffersize", conf_pm_num },
	{ "responsefieldsize", conf_pm_num },
	{ "keepalive",         m_keepalive },
	{ "flushpackets",      conf_pm_choice, "On|Off|Auto" },
	{ "secret",            conf_pm_unsupported, "secret= is for AJP members, which kbal does not support" },
	{ "upgrade",           m_upgrade },
	/* mod_proxy_hcheck (conf_hcheck.c, hcheck.c) */
	{ "hcmethod",          conf_hc_method },
	{ "hcuri",             conf_hc_uri },
	{ "hcinterval",        conf_hc_interval },
	{ "hcpasses",          conf_hc_count },
	{ "hcfails",           conf_hc_count },
	{ "hctemplate",        conf_hc_template },
	{ "hcexpr",            conf_hc_expr },
	{ "addressttl",        conf_pm_unsupported, "not supported: kbal resolves members once, at load time" },
};

static int b_lbmethod(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		      const char *val, const char *label)
{
	static const char *const names[] = {
		[KBAL_LB_BYREQUESTS] = "byrequests",
		[KBAL_LB_BYTRAFFIC]  = "bytraffic",
		[KBAL_LB_BYBUSYNESS] = "bybusyness",
	};

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcasecmp(val, names[i])) {
			((struct kbal_conf_balancer *)obj)->lbmethod = i;
			return 0;
		}
	}
	if (!strcasecmp(val, "heartbeat"))
		return perr(p, "%s: lbmethod heartbeat is not supported by kbal", label);
	return perr(p, "%s: unknown lbmethod (byrequests, bytraffic or bybusyness)", label);
}

/* stickysession=COOKIE[|URLPARAM]: the cookie's name, and the name the
 * URL carries it under (Tomcat's JSESSIONID|jsessionid); one name, both */
static int b_sticky(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		    const char *val, const char *label)
{
	struct kbal_conf_balancer *b = obj;
	size_t n = strcspn(val, "|");
	const char *path = val[n] ? val + n + 1 : val;

	if (n >= sizeof(b->sticky) || strlen(path) >= sizeof(b->sticky_path))
		return perr(p, "%s: longer than %zu characters", label, sizeof(b->sticky) - 1);
	memcpy(b->sticky, val, n);
	b->sticky[n] = '\0';
	snprintf(b->sticky_path, sizeof(b->sticky_path), "%.*s", (int)(val[n] ? strlen(path) : n),
		 path);
	if (!conf_is_token(b->sticky) || !b->sticky_path[0] || strchr(b->sticky_path, '|'))
		return perr(p, "%s: COOKIE or COOKIE|URLPARAM, names without spaces", label);
	return 0;
}

/* stickysessionsep=C (one character) or Off: what the route follows in
 * the value (set_balancer_param()'s rule) */
static int b_stickysep(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		       const char *val, const char *label)
{
	struct kbal_conf_balancer *b = obj;

	if (!strcasecmp(val, "off"))
		b->sticky_sep = 0;
	else if (strlen(val) == 1)
		b->sticky_sep = val[0];
	else
		return perr(p, "%s: stickysessionsep must be a single character or Off", label);
	b->sticky_sep_set = 1;
	return 0;
}

static int b_nofailover(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
			const char *val, const char *label)
{
	struct kbal_conf_balancer *b = obj;
	int on;

	if (conf_parse_onoff(p, label, val, &on))
		return -1;
	b->flags = on ? b->flags | KBAL_BF_NOFAILOVER : b->flags & ~KBAL_BF_NOFAILOVER;
	return 0;
}

/* timeout=N: how long a request waits for a usable member (Apache's
 * find_best_worker() looks again every N/100) */
static int b_timeout(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		     const char *val, const char *label)
{
	return parse_seconds(p, label, val, &((struct kbal_conf_balancer *)obj)->timeout_ms);
}

/* an On|Off that sets (on == set_on) or clears a balancer flag */
static int b_flag(struct conf_parser *p, struct kbal_conf_balancer *b, const char *val,
		  const char *label, unsigned flag, int set_on)
{
	int on;

	if (conf_parse_onoff(p, label, val, &on))
		return -1;
	b->flags = on == set_on ? b->flags | flag : b->flags & ~flag;
	return 0;
}

/* forcerecovery=Off: with every member in error, 503 until a retry ends
 * (On, Apache's default: all taken out of error at once) */
static int b_forcerecovery(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
			   const char *val, const char *label)
{
	return b_flag(p, obj, val, label, KBAL_BF_NO_RECOVERY, 0);
}

static int b_failontimeout(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
			   const char *val, const char *label)
{
	return b_flag(p, obj, val, label, KBAL_BF_FAIL_TIMEOUT, 1);
}

/* failonstatus=CODE[,CODE...] (commas or blanks): the list replaces one
 * given before, as Apache's does */
static int b_failonstatus(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
			  const char *val, const char *label)
{
	struct kbal_conf_balancer *b = obj;
	unsigned n = 0;

	for (const char *s = val; *s;) {
		char code[8] = "";
		size_t len;
		unsigned v;

		s += strspn(s, ", ");
		len = strcspn(s, ", ");
		if (!len)
			break;
		if (len < sizeof(code))
			memcpy(code, s, len);
		if (conf_parse_uint(p, label, code, 100, 599, &v))
			return perr(p, "%s: one or more HTTP status codes (100 to 599)", label);
		if (n == KBAL_FAILONSTATUS_MAX)
			return perr(p, "%s: at most %d codes", label, KBAL_FAILONSTATUS_MAX);
		b->failonstatus[n++] = v;
		s += len;
	}
	if (!n)
		return perr(p, "%s: one or more HTTP status codes (100 to 599)", label);
	b->nfailonstatus = n;
	return 0;
}

/* scolonpathdelim=On: a ';' ends the session's value in the URL too */
static int b_scolon(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		    const char *val, const char *label)
{
	return conf_parse_onoff(p, label, val, &((struct kbal_conf_balancer *)obj)->scolon);
}

/* nonce=: what the manager's forms must carry to change anything here
 * (None: nothing is changed through it; unset: a random one per start) */
static int b_nonce(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		   const char *val, const char *label)
{
	struct kbal_conf_balancer *b = obj;

	b->nonce_none = !strcmp(val, "None");
	if (b->nonce_none)
		return 0;
	if (!*val || strlen(val) >= sizeof(b->nonce) || strcspn(val, "&=%+#? \t\"<>") != strlen(val))
		return perr(p, "%s: 1 to %zu characters, none of &=%%+#?\"<> or blanks", label,
			    sizeof(b->nonce) - 1);
	strcpy(b->nonce, val);
	return 0;
}

/* growth=N: N free member slots (Apache's limit: 1 to 100) */
static int b_growth(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		    const char *val, const char *label)
{
	return conf_parse_uint(p, label, val, 1, 100, &((struct kbal_conf_balancer *)obj)->growth);
}

/* maxattempts=N: failovers before 503 */
static int b_maxattempts(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
			 const char *val, const char *label)
{
	unsigned v;

	if (conf_parse_uint(p, label, val, 0, 99, &v))
		return -1;
	((struct kbal_conf_balancer *)obj)->max_attempts = v;
	return 0;
}

static const struct conf_param balancer_params[] = {
	{ "nonce",            b_nonce },
	{ "lbmethod",         b_lbmethod },
	{ "stickysession",    b_sticky },
	{ "stickysessionsep", b_stickysep },
	{ "nofailover",       b_nofailover },
	{ "timeout",          b_timeout },
	{ "growth",           b_growth },
	{ "maxattempts",      b_maxattempts },
	{ "forcerecovery",    b_forcerecovery },
	{ "failonstatus",     b_failonstatus },
	{ "failontimeout",    b_failontimeout },
	{ "scolonpathdelim",  b_scolon },
};

/* ---- directives ---- */

void kbal_conf_member_defaults(struct kbal_conf_member *m)
{
	memset(m, 0, sizeof(*m));
	m->lbfactor = 100;
	m->retry_sec = 60;
	m->reuse = 1;
	m->pool_max = KBAL_POOL_MAX;
	m->pool_ttl_ms = KBAL_POOL_TTL_MS;
}

/* m's defaults and its URL (http://HOST[:PORT][/]), as BalancerMember
 * takes it (an IPv6 address in brackets); the host's address resolved
 * (numeric: given) */
static int member_url(struct conf_parser *p, struct kbal_conf_member *m, const char *url,
		      int numeric)
{
	const char *h, *e;
	char host[KBAL_NAME_LEN], label[300];
	unsigned port = 80;
	struct in_addr a;
	struct in6_addr a6;
	int v6;

	kbal_conf_member_defaults(m);
	m->line = p->line;

	snprintf(label, sizeof(label), "BalancerMember %s", url);
	if (!strncasecmp(url, "https://", 8))
		return perr(p, "%s: https members need TLS, not supported", label);
	if (strncasecmp(url, "http://", 7))
		return perr(p, "%s: only http://HOST[:PORT] members are supported", label);
	h = url + 7;
	if (conf_split_host(h, host, sizeof(host), &e) || !*host || (*e && *e != ':' && *e != '/') ||
	    strcspn(host, "?#@") != strlen(host))
		return perr(p, "%s: expected http://HOST[:PORT], an IPv6 address in brackets", label);
	if (*e == ':') {
		char digits[8] = "";

		h = e + 1;
		e = h + strcspn(h, "/");
		if ((size_t)(e - h) < sizeof(digits))
			memcpy(digits, h, e - h);
		if (conf_parse_uint(p, label, digits, 1, 65535, &port))
			return -1;
	}
	if (*e && strcmp(e, "/"))
		return perr(p, "%s: a member URL has no path (kbal does not rewrite paths)", label);
	if ((size_t)(e - url) >= sizeof(m->url))
		return perr(p, "%s: longer than %zu characters", label, sizeof(m->url) - 1);
	memcpy(m->url, url, e - url);
	v6 = strchr(host, ':') != NULL;      /* the Host it is sent: [::1]:8080 */
	if (port == 80)
		snprintf(m->hostport, sizeof(m->hostport), v6 ? "[%.46s]" : "%.48s", host);
	else
		snprintf(m->hostport, sizeof(m->hostport), v6 ? "[%.46s]:%u" : "%.48s:%u", host, port);
	if (numeric && inet_pton(AF_INET, host, &a) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
		return perr(p, "%s: give an IP address here: kbald does not look a name up "
			    "while it serves (it would hold every connection); kbalctl add does",
			    label);
	return conf_resolve(p, label, host, port, &m->addr);
}

int kbal_conf_member_url(const char *url, int numeric, struct kbal_conf_member *m, char *err,
			 size_t errlen)
{
	struct conf_parser p = { .err = err, .errlen = errlen };

	return member_url(&p, m, url, numeric);
}

/* BalancerMember [balancer://NAME] http://HOST[:PORT][/] [key=value...] */
int conf_member_param(struct conf_parser *p, void *obj, const char *word)
{
	return conf_apply_param(p, member_params, ARRAY_SIZE(member_params), obj, "BalancerMember",
				word);
}

static int kw_member(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_balancer *b;
	struct kbal_conf_member *m;
	char label[300];
	unsigned total = 0, k;
	int bi = p->bal, i = 1;

	if (p->ctx != C_BALANCER) {
		if (argc < 3 || !is_balancer_url(argv[1]))
			return perr(p, "BalancerMember outside <Proxy balancer://NAME> needs balancer://NAME first");
		if ((bi = balancer_def(p, balancer_ref(p, argv[i++], NULL))) < 0)
			return -1;
	}
	b = &c->balancers[bi];
	if (!b->line)
		b->line = p->line;
	for (k = 0; k < c->nbalancers; k++)
		total += c->balancers[k].nmembers;
	if (total == KBAL_MAX_MEMBERS)
		return perr(p, "too many members (at most %d in all balancers)", KBAL_MAX_MEMBERS);
	m = &b->members[b->nmembers];
	snprintf(label, sizeof(label), "BalancerMember %s", argv[i]);
	if (member_url(p, m, argv[i++], 0))
		return -1;
	for (k = 0; k < b->nmembers; k++)
		if (!strcasecmp(b->members[k].url, m->url))
			return perr(p, "%s: already a member of balancer://%s (%s)",
				    label, b->name, conf_at(p, b->members[k].line));

	p->ctimeout_set = 0;
	for (; i < argc; i++)
		if (conf_member_param(p, m, argv[i]))
			return -1;
	for (k = 0; m->route[0] && k < b->nmembers; k++)
		if (!strcmp(b->members[k].route, m->route))
			return perr(p, "%s: route=%s is already used by the member at %s",
				    label, m->route, conf_at(p, b->members[k].line));
	b->nmembers++;
	return 0;
}

/* ProxySet [balancer://NAME] key=value... */
static int kw_proxyset(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	int b = p->bal, i = 1;

	if (p->ctx != C_BALANCER) {
		if (strstr(argv[1], "://") && !is_balancer_url(argv[1]))
			return perr(p, "ProxySet %s: give member parameters on its BalancerMember line", argv[1]);
		if (!is_balancer_url(argv[1]))
			return perr(p, "ProxySet outside <Proxy balancer://NAME> needs balancer://NAME first");
		if ((b = balancer_def(p, balancer_ref(p, argv[i++], NULL))) < 0)
			return -1;
		if (!c->balancers[b].line)
			c->balancers[b].line = p->line;
	}
	if (i == argc)
		return perr(p, "ProxySet: no parameters");
	for (; i < argc; i++)
		if (conf_apply_param(p, balancer_params, ARRAY_SIZE(balancer_params),
				     &c->balancers[b], "ProxySet", argv[i]))
			return -1;
	return 0;
}

/* "http://HOST[:PORT][/PATH]" (mod_proxy's plain worker): the index of the
 * one-member balancer kbal keeps it as (KBAL_BF_WORKER), named by its
 * scheme, host and port, created on first use and shared by the rules
 * naming the same one, as httpd shares a worker. *path gets "/PATH" or "".
 * *made: 1 when this call made it (its parameters are this rule's). */
static int worker_ref(struct conf_parser *p, const char *what, const char *url,
		      const char **path, int *made)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_balancer *b;
	const char *h = url + strcspn(url, ":") + 3;
	size_t n = h + strcspn(h, "/$") - url;
	char name[KBAL_NAME_LEN];
	unsigned i, total = 0;

	*made = 0;
	if (n >= sizeof(name))
		return perr(p, "%s %s: a worker URL has at most %d characters before its path",
			    what, url, KBAL_NAME_LEN - 1);
	memcpy(name, url, n);
	name[n] = '\0';
	*path = url + n;
	for (i = 0; i < c->nbalancers; i++)
		if ((c->balancers[i].flags & KBAL_BF_WORKER) &&
		    !strcasecmp(c->balancers[i].name, name))
			return balancer_seen(p, i);
	if (c->nbalancers == KBAL_MAX_BALANCERS)
		return perr(p, "too many balancers and workers (at most %d)", KBAL_MAX_BALANCERS);
	for (unsigned k = 0; k < c->nbalancers; k++)
		total += c->balancers[k].nmembers;
	if (total == KBAL_MAX_MEMBERS)
		return perr(p, "too many members and workers (at most %d)", KBAL_MAX_MEMBERS);
	b = &c->balancers[i];
	memset(b, 0, sizeof(*b));
	if (member_url(p, &b->members[0], name, 0))
		return -1;
	memcpy(b->name, name, n);
	b->lbmethod = KBAL_LB_BYREQUESTS;
	b->max_attempts = -1;
	/* a worker in error answers 503 until its retry= ends: httpd's
	 * forcerecovery is the balancer's, not a worker's */
	b->flags = KBAL_BF_WORKER | KBAL_BF_NO_RECOVERY;
	b->nmembers = 1;
	b->line = p->line;
	b->vhost = p->vhost;
	b->ref_line = p->line;
	c->nbalancers++;
	*made = 1;
	return i;
}

static int is_worker_url(const char *s)
{
	return !strncasecmp(s, "http://", 7);
}

/* the balancer of a rule's URL; with regex, its name ends at a '$' too */
static int proxy_url_at(struct conf_parser *p, const char *what, const char *url,
			const char **target, int regex)
{
	int made;

	if (is_balancer_url(url))
		return balancer_ref_at(p, url, target, regex ? "/$" : "/");
	if (is_worker_url(url))
		return worker_ref(p, what, url, target, &made);
	if (!strncasecmp(url, "https://", 8))
		return perr(p, "%s %s: https needs TLS, which kbal does not have", what, url);
	if (strstr(url, "://"))
		return perr(p, "%s %s: only balancer:// and http:// URLs are supported", what, url);
	if (url[0] == '/' && p->ctx == C_LOCATION)
		return perr(p, "%s %s: inside <Location> the path is the <Location>'s; give only "
			    "the URL", what, url);
	return perr(p, "%s %s: expected balancer://NAME/", what, url);
}

static int proxy_url(struct conf_parser *p, const char *what, const char *url, const char **target)
{
	return proxy_url_at(p, what, url, target, 0);
}

/* ProxyPass PATH balancer://NAME/TARGET [params] | ProxyPass PATH !,
 * inside <Location PATH> without the PATH; regex: ProxyPassMatch REGEX
 * balancer://NAME[/TARGET-with-$N] [params] | ProxyPassMatch REGEX !, or
 * ProxyPass ~ REGEX ... (mod_proxy's add_pass()), at server level */
static int add_pass(struct conf_parser *p, int argc, char **argv, int regex)
{
	const char *what = regex ? "ProxyPassMatch" : "ProxyPass";
	struct kbal_conf *c = p->conf;
	struct kbal_conf_pass *r = &c->pass[c->npass];
	const char *path, *url, *target;
	char err[256];
	int i = 1;

	if (c->npass == KBAL_CONF_MAX_PASS)
		return perr(p, "too many ProxyPass and ProxyPassMatch rules (at most %d)",
			    KBAL_CONF_MAX_PASS);
	if (argc > 1 && !strcmp(argv[1], "~")) {
		if (regex)
			return perr(p, "ProxyPassMatch invalid syntax ('~' usage)");
		if (p->ctx == C_SERVER || p->ctx == C_VHOST) {
			regex = 1;        /* ProxyPass ~ REGEX: ProxyPassMatch's */
			i++;
		}
	}
	memset(r, 0, sizeof(*r));
	r->vhost = p->vhost;
	if (p->ctx == C_LOCATION) {
		if (regex)
			return perr(p, "%s inside <Location> is not supported by kbal: give it at "
				    "server level, with its regex (%s REGEX balancer://NAME...)",
				    what, what);
		if (p->loc_pass)
			return perr(p, "ProxyPass: this <Location> has one already (%s)", conf_at(p, p->loc_pass));
		path = c->location[p->loc].path;
		r->location = p->loc;
		if (c->location[p->loc].regex && !path[strcspn(path, "*?[")]) {
			/* httpd takes the section's pattern as a regex only when
			 * apr_fnmatch_test() finds a wildcard in it; else as a
			 * path prefix, which "^/..." never is */
			conf_pwarn(p, p->line, "ProxyPass inside <%s %s> never matches, as in "
				   "httpd: a pattern without '*', '?' or '[' is taken as a path "
				   "prefix; write ProxyPassMatch %s ... at server level",
				   p->sect_name, path, path);
			p->loc_pass = p->line;
			return 0;
		}
		regex = c->location[p->loc].regex;
	} else {
		if (argc - i < 2)
			return regex ? perr(p, "%s needs a regex and a URL (or !)", what) :
				       perr(p, "ProxyPass needs a path and a URL (or !)");
		path = argv[i++];
		r->location = -1;
	}
	url = argv[i++];
	if (regex) {
		if (conf_copy(p, r->path, sizeof(r->path), path, what))
			return -1;
		if (conf_regex_check(path, err, sizeof(err)))
			return perr(p, "%s %s: the regular expression does not compile: %s", what,
				    path, err);
		r->regex = 1;
	} else if (conf_check_path(p, "ProxyPass", path, r->path)) {
		return -1;
	}
	if (!strcmp(url, "!")) {
		if (i < argc)
			return perr(p, "%s %s !: takes no parameters", what, path);
		r->exclude = 1;
		r->balancer = -1;
	} else {
		int made = 0, worker = is_worker_url(url);

		r->balancer = worker ? worker_ref(p, what, url, &target, &made) :
			      proxy_url_at(p, what, url, &target, regex);
		if (r->balancer < 0 ||
		    conf_copy(p, r->target, sizeof(r->target), target, regex ? "ProxyPassMatch "
			      "target" : "ProxyPass target"))
			return -1;
		p->ctimeout_set = 0;
		for (; i < argc; i++) {
			if (strchr(argv[i], '=') && worker && !made) {
				/* httpd: "Ignoring parameter ... because of worker sharing" */
				conf_pwarn(p, p->line, "%s %s: ignoring %s: the worker %s has its "
					   "parameters from %s", what, path, argv[i],
					   c->balancers[r->balancer].name,
					   conf_at(p, c->balancers[r->balancer].line));
			} else if (strchr(argv[i], '=') && worker) {
				/* a worker's: those of BalancerMember */
				if (conf_apply_param(p, member_params, ARRAY_SIZE(member_params),
						     &c->balancers[r->balancer].members[0], what,
						     argv[i]))
					return -1;
			} else if (strchr(argv[i], '=')) {
				/* as in httpd, they set the balancer's parameters */
				if (conf_apply_param(p, balancer_params, ARRAY_SIZE(balancer_params),
						     &c->balancers[r->balancer], what, argv[i]))
					return -1;
			} else if (regex && !strcasecmp(argv[i], "nocanon")) {
				/* httpd would match the regex against the URL as
				 * sent, query and all: not kbal's */
				return perr(p, "%s %s: nocanon is not supported by kbal with a "
					    "regex", what, path);
			} else if (strcasecmp(argv[i], "nocanon")) {
				return perr(p, "%s %s: %s is not supported by kbal", what, path, argv[i]);
			} else {
				/* the rest of the request-target passed on as received */
				r->nocanon = 1;
			}
		}
	}
	r->line = p->line;
	if (p->ctx == C_LOCATION)
		p->loc_pass = p->line;
	c->npass++;
	return 0;
}

static int kw_proxypass(struct conf_parser *p, int argc, char **argv)
{
	return add_pass(p, argc, argv, 0);
}

static int kw_proxypassmatch(struct conf_parser *p, int argc, char **argv)
{
	return add_pass(p, argc, argv, 1);
}

/* ProxyPassReverse PATH balancer://NAME/TARGET, inside <Location> without PATH */
static int kw_reverse(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_reverse *r = &c->reverse[c->nreverse];
	const char *path = argv[1], *url = argv[2], *target;

	if (p->ctx == C_LOCATION) {
		if (argc != 2)
			return perr(p, "ProxyPassReverse inside <Location> takes only the URL");
		if (c->location[p->loc].regex)
			return perr(p, "ProxyPassReverse inside <%s>: httpd would write the pattern "
				    "itself into the answers' Location; give it at server level with "
				    "the path", p->sect_name);
		path = c->location[p->loc].path;
		url = argv[1];
	} else if (argc != 3) {
		return perr(p, "ProxyPassReverse needs a path and a URL");
	}
	if (c->nreverse == KBAL_CONF_MAX_PASS)
		return perr(p, "too many ProxyPassReverse rules (at most %d)", KBAL_CONF_MAX_PASS);
	if (conf_check_path(p, "ProxyPassReverse", path, r->path) ||
	    (r->balancer = proxy_url(p, "ProxyPassReverse", url, &target)) < 0 ||
	    conf_copy(p, r->target, sizeof(r->target), target, "ProxyPassReverse target"))
		return -1;
	r->vhost = p->vhost;
	r->line = p->line;
	c->nreverse++;
	return 0;
}

static int kw_proxy_section(struct conf_parser *p, UNUSED int argc, char **argv)
{
	const char *a = argv[1];

	if (!strcmp(a, "*")) {
		conf_open_section(p, C_PROXY, "Proxy", a);
		return 0;
	}
	if (!is_balancer_url(a))
		return perr(p, "<Proxy %s> is not supported: only <Proxy *> and <Proxy balancer://NAME>", a);
	if ((p->bal = balancer_def(p, balancer_ref(p, a, NULL))) < 0)
		return -1;
	if (!p->conf->balancers[p->bal].line)
		p->conf->balancers[p->bal].line = p->line;
	conf_open_section(p, C_BALANCER, "Proxy", a);
	return 0;
}

const struct conf_keyword conf_kw_proxy[] = {
	{ "<Proxy",            C_SERVER | C_VHOST,    1, 1,             kw_proxy_section },
	{ "BalancerMember",    C_SERVER | C_VHOST | C_BALANCER, 1, CONF_MAX_ARGS, kw_member },
	{ "ProxySet",          C_SERVER | C_VHOST | C_BALANCER, 1, CONF_MAX_ARGS, kw_proxyset },
	{ "ProxyPass",         C_SERVER | C_VHOST | C_LOCATION, 1, CONF_MAX_ARGS, kw_proxypass },
	{ "ProxyPassMatch",    C_SERVER | C_VHOST | C_LOCATION, 1, CONF_MAX_ARGS, kw_proxypassmatch },
	{ "ProxyPassReverse",  C_SERVER | C_VHOST | C_LOCATION, 1, 2,   kw_reverse },
	{ NULL }
};
