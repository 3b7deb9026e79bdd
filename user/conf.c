// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf.c - reads Apache httpd's mod_proxy_balancer configuration.
 *
 * Lines are joined and split into words as httpd does it (ap_cfg_getline,
 * ap_getword_conf). Each directive is looked up in one keyword table (name,
 * where it may appear, how many arguments, handler), BalancerMember and
 * ProxySet parameters in two more. What kbal cannot honour is an error, not
 * silently ignored: a configuration that loads is routed as httpd would
 * route it, and a warning says where the splice makes it differ.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "conf.h"

#define LINE_LEN    8192              /* httpd's MAX_STRING_LEN */
#define MAX_ARGS    64
#define FILE_MAX    (1 << 20)
#define URI_MAX     8192
#define TIME_MAX_MS (24u * 3600 * 1000)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED      __attribute__((unused))

enum ctx {
	C_SERVER   = 1 << 0,
	C_PROXY    = 1 << 1,              /* <Proxy *> */
	C_BALANCER = 1 << 2,              /* <Proxy balancer://NAME> */
	C_LOCATION = 1 << 3,              /* <Location PATH> */
	C_SECTION  = C_PROXY | C_BALANCER | C_LOCATION,
};

struct parser {
	struct kbal_conf *conf;
	const char *file;
	int line;                         /* first line of the current directive */
	char *err;
	size_t errlen;
	kbal_conf_warn_fn warn;
	void *data;
	unsigned ctx;                     /* enum ctx of the open section */
	const char *sect_name;            /* "Proxy", "Location" */
	char sect_arg[KBAL_CONF_PATH_LEN];
	int sect_line;
	int bal;                          /* C_BALANCER: its index */
	int loc;                          /* C_LOCATION: its index */
	int loc_pass;                     /* line of the ProxyPass inside it */
	int order_line, allow_first, allow_all; /* Order/Allow of the section */
	int ctimeout_set;                 /* connectiontimeout= on this member */
	unsigned timeout_ms, proxy_timeout_ms;
	char words[LINE_LEN];             /* the current line, split */
};

__attribute__((format(printf, 3, 4)))
static int perr_at(struct parser *p, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->file, msg);
	return -1;
}
#define perr(p, ...) perr_at(p, (p)->line, __VA_ARGS__)

__attribute__((format(printf, 3, 4)))
static void pwarn(struct parser *p, int line, const char *fmt, ...)
{
	char msg[768], out[1024];
	va_list ap;

	if (!p->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(out, sizeof(out), "%s:%d: %.767s", p->file, line, msg);
	p->warn(p->data, out);
}

/* ---- values ---- */

static int copy(struct parser *p, char *dst, size_t size, const char *src, const char *what)
{
	size_t n = strlen(src);

	if (n >= size)
		return perr(p, "%s: longer than %zu characters", what, size - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

static int parse_uint(struct parser *p, const char *label, const char *val,
		      unsigned min, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	const char *s;

	for (s = val; isdigit((unsigned char)*s) && v <= max; s++)
		v = v * 10 + (*s - '0');
	if (s == val || *s || v < min || v > max)
		return perr(p, "%s: must be an integer from %u to %u", label, min, max);
	*out = v;
	return 0;
}

/* httpd's ap_timeout_parameter_parse(): N[s|ms|mi|h], seconds by default */
static int parse_time(struct parser *p, const char *label, const char *val, unsigned *ms)
{
	static const struct { const char *unit; unsigned ms; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "mi", 60000 }, { "h", 3600000 },
	};
	unsigned long v = 0;
	const char *s;

	for (s = val; isdigit((unsigned char)*s) && v <= TIME_MAX_MS; s++)
		v = v * 10 + (*s - '0');
	for (size_t i = 0; s != val && v && i < ARRAY_SIZE(units); i++) {
		if (!strcasecmp(s, units[i].unit) && v <= TIME_MAX_MS / units[i].ms) {
			*ms = v * units[i].ms;
			return 0;
		}
	}
	return perr(p, "%s: must be a time from 1 ms to 24 h (N seconds, Nms, Nmi or Nh)", label);
}

static int parse_onoff(struct parser *p, const char *label, const char *val, int *on)
{
	if (!strcasecmp(val, "on"))
		*on = 1;
	else if (!strcasecmp(val, "off"))
		*on = 0;
	else
		return perr(p, "%s: must be On or Off", label);
	return 0;
}

static int is_token(const char *s)            /* RFC 9110 tchar+ */
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

static int is_balancer_url(const char *s)
{
	return !strncasecmp(s, "balancer://", strlen("balancer://"));
}

/* An IPv4 address for host ("" or "*": any), resolved now, once. */
static int resolve4(struct parser *p, const char *what, const char *host, unsigned port,
		    struct sockaddr_in *sa)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int rc;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	if (!*host || !strcmp(host, "*") || inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	rc = getaddrinfo(host, NULL, &hints, &ai);
	if (rc)
		return perr(p, "%s: cannot resolve host '%s': %s", what, host, gai_strerror(rc));
	sa->sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
	freeaddrinfo(ai);
	return 0;
}

static int check_path(struct parser *p, const char *what, const char *path, char *dst)
{
	if (path[0] != '/')
		return perr(p, "%s %s: the path must start with '/'", what, path);
	return copy(p, dst, KBAL_CONF_PATH_LEN, path, what);
}

/* "balancer://NAME[/PATH]": the index of NAME, created on first use as
 * httpd does, so that ProxyPass may name a balancer defined further down.
 * *path gets "/PATH" or ""; without path, nothing but "/" may follow. */
static int balancer_ref(struct parser *p, const char *url, const char **path)
{
	struct kbal_conf *c = p->conf;
	const char *name = url + strlen("balancer://");
	size_t n = strcspn(name, "/");
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
			return i;
	if (c->nbalancers == KBAL_MAX_BALANCERS)
		return perr(p, "too many balancers (at most %d)", KBAL_MAX_BALANCERS);
	memcpy(c->balancers[i].name, name, n);
	c->balancers[i].lbmethod = KBAL_LB_BYREQUESTS;
	c->nbalancers++;
	return i;
}

/* ---- BalancerMember and ProxySet parameters ---- */

struct param {
	const char *name;
	int (*fn)(struct parser *p, void *obj, const struct param *pd,
		  const char *val, const char *label);
	const char *arg;                  /* pm_choice: "a|b"; pm_unsupported: why */
};

static int apply_param(struct parser *p, const struct param *tab, size_t n, void *obj,
		       const char *what, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char label[320];
	size_t klen = eq ? (size_t)(eq - arg) : 0;

	snprintf(label, sizeof(label), "%s %s", what, arg);
	if (!klen || !eq[1])
		return perr(p, "%s: parameters have the form key=value", label);
	for (size_t i = 0; i < n; i++)
		if (strlen(tab[i].name) == klen && !strncasecmp(tab[i].name, arg, klen))
			return tab[i].fn(p, obj, &tab[i], eq + 1, label);
	return perr(p, "%s: unknown %s parameter '%.*s'", label, what, (int)klen, arg);
}

static int pm_num(struct parser *p, UNUSED void *obj, UNUSED const struct param *pd,
		  const char *val, const char *label)
{
	unsigned v;

	return parse_uint(p, label, val, 0, 0x7fffffff, &v);
}

static int pm_time(struct parser *p, UNUSED void *obj, UNUSED const struct param *pd,
		   const char *val, const char *label)
{
	unsigned v;

	return parse_time(p, label, val, &v);
}

static int pm_choice(struct parser *p, UNUSED void *obj, const struct param *pd,
		     const char *val, const char *label)
{
	size_t n = strlen(val);

	for (const char *a = pd->arg; *a; a += strcspn(a, "|"), a += !!*a)
		if (strcspn(a, "|") == n && !strncasecmp(a, val, n))
			return 0;
	return perr(p, "%s: must be one of %s", label, pd->arg);
}

static int pm_unsupported(struct parser *p, UNUSED void *obj, const struct param *pd,
			  UNUSED const char *val, const char *label)
{
	return perr(p, "%s: %s", label, pd->arg);
}

static int m_route(struct parser *p, void *obj, UNUSED const struct param *pd,
		   const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;

	for (const unsigned char *s = (const unsigned char *)val; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || strchr(";,\"\\", *s))
			return perr(p, "%s: a route is printable ASCII without ; , \" or \\", label);
	return copy(p, m->route, sizeof(m->route), val, label);
}

static int m_loadfactor(struct parser *p, void *obj, UNUSED const struct param *pd,
			const char *val, const char *label)
{
	return parse_uint(p, label, val, 1, 100, &((struct kbal_conf_member *)obj)->loadfactor);
}

static int m_lbset(struct parser *p, void *obj, UNUSED const struct param *pd,
		   const char *val, const char *label)
{
	return parse_uint(p, label, val, 0, 99, &((struct kbal_conf_member *)obj)->lbset);
}

static int m_retry(struct parser *p, void *obj, UNUSED const struct param *pd,
		   const char *val, const char *label)
{
	return parse_uint(p, label, val, 0, 86400, &((struct kbal_conf_member *)obj)->retry_sec);
}

/* httpd's status=: [+|-]LETTER..., the sign holding until the next one */
static int m_status(struct parser *p, void *obj, UNUSED const struct param *pd,
		    const char *val, const char *label)
{
	static const struct { char letter; unsigned bit; } st[] = {
		{ 'D', KBAL_ST_DISABLED }, { 'S', KBAL_ST_STOPPED }, { 'E', KBAL_ST_ERROR },
		{ 'H', KBAL_ST_HOT_STANDBY }, { 'N', KBAL_ST_DRAIN }, { 'I', KBAL_ST_IGNORE_ERR },
	};
	struct kbal_conf_member *m = obj;
	int add = 1;

	for (const char *s = val; *s; s++) {
		size_t i = 0;

		if (*s == '+' || *s == '-')
			add = *s++ == '+';
		while (i < ARRAY_SIZE(st) && st[i].letter != toupper((unsigned char)*s))
			i++;
		if (i == ARRAY_SIZE(st))
			return perr(p, "%s: status is [+|-]LETTER..., LETTER one of D S E H N I", label);
		if (add)
			m->status |= st[i].bit;
		else
			m->status &= ~st[i].bit;
	}
	return 0;
}

/* connectiontimeout= wins over timeout=, whatever their order */
static int m_timeout(struct parser *p, void *obj, const struct param *pd,
		     const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;
	int connect = !strcmp(pd->name, "connectiontimeout");
	unsigned ms;

	if (parse_time(p, label, val, &ms))
		return -1;
	if (connect || !p->ctimeout_set)
		m->connect_timeout_ms = ms;
	p->ctimeout_set |= connect;
	return 0;
}

static int m_pool_max(struct parser *p, void *obj, UNUSED const struct param *pd,
		      const char *val, const char *label)
{
	return parse_uint(p, label, val, 0, 65535, &((struct kbal_conf_member *)obj)->pool_max);
}

static int m_pool_ttl(struct parser *p, void *obj, UNUSED const struct param *pd,
		      const char *val, const char *label)
{
	return parse_time(p, label, val, &((struct kbal_conf_member *)obj)->pool_ttl_ms);
}

/* disablereuse=On and enablereuse=Off say the same: one connection per client */
static int m_reuse(struct parser *p, void *obj, const struct param *pd,
		   const char *val, const char *label)
{
	int on = 0;

	if (parse_onoff(p, label, val, &on))
		return -1;
	((struct kbal_conf_member *)obj)->reuse = pd->name[0] == 'e' ? on : !on;
	return 0;
}

static const struct param member_params[] = {
	{ "route",             m_route },
	{ "loadfactor",        m_loadfactor },
	{ "lbset",             m_lbset },
	{ "retry",             m_retry },
	{ "status",            m_status },
	{ "timeout",           m_timeout },
	{ "connectiontimeout", m_timeout },
	/* the pool of kept-alive connections (docs/config.md) */
	{ "max",               m_pool_max },
	{ "ttl",               m_pool_ttl },
	{ "disablereuse",      m_reuse },
	{ "enablereuse",       m_reuse },
	/* buffers and probes: no effect on which member gets a request */
	{ "min",               pm_num },
	{ "smax",              pm_num },
	{ "acquire",           pm_time },
	{ "ping",              pm_time },
	{ "flushwait",         pm_num },
	{ "iobuffersize",      pm_num },
	{ "receivebuffersize", pm_num },
	{ "responsefieldsize", pm_num },
	{ "keepalive",         pm_choice, "On|Off" },
	{ "flushpackets",      pm_choice, "On|Off|Auto" },
	{ "redirect",          pm_unsupported, "route redirection is not supported by kbal" },
	{ "secret",            pm_unsupported, "secret= is for AJP members, which kbal does not support" },
	{ "upgrade",           pm_unsupported, "upgrade= is not supported yet" },
	{ "addressttl",        pm_unsupported, "not supported: kbal resolves members once, at load time" },
};

static int b_lbmethod(struct parser *p, void *obj, UNUSED const struct param *pd,
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

/* stickysession=COOKIE[|URLPARAM]: kbal keeps the cookie's name */
static int b_sticky(struct parser *p, void *obj, UNUSED const struct param *pd,
		    const char *val, const char *label)
{
	struct kbal_conf_balancer *b = obj;
	size_t n = strcspn(val, "|");

	if (n >= sizeof(b->sticky))
		return perr(p, "%s: longer than %zu characters", label, sizeof(b->sticky) - 1);
	memcpy(b->sticky, val, n);
	b->sticky[n] = '\0';
	if (!is_token(b->sticky))
		return perr(p, "%s: not a cookie name", label);
	return 0;
}

static int b_stickysep(struct parser *p, UNUSED void *obj, UNUSED const struct param *pd,
		       const char *val, const char *label)
{
	if (strcmp(val, "."))
		return perr(p, "%s: only the default separator '.' is supported", label);
	return 0;
}

static int b_nofailover(struct parser *p, void *obj, UNUSED const struct param *pd,
			const char *val, const char *label)
{
	struct kbal_conf_balancer *b = obj;
	int on;

	if (parse_onoff(p, label, val, &on))
		return -1;
	b->flags = on ? b->flags | KBAL_BF_NOFAILOVER : b->flags & ~KBAL_BF_NOFAILOVER;
	return 0;
}

static int b_timeout(struct parser *p, void *obj, UNUSED const struct param *pd,
		     const char *val, const char *label)
{
	return parse_time(p, label, val, &((struct kbal_conf_balancer *)obj)->timeout_ms);
}

static const struct param balancer_params[] = {
	{ "lbmethod",         b_lbmethod },
	{ "stickysession",    b_sticky },
	{ "stickysessionsep", b_stickysep },
	{ "nofailover",       b_nofailover },
	{ "timeout",          b_timeout },
	/* accepted with no effect in kbal */
	{ "maxattempts",      pm_num },
	{ "growth",           pm_num },
	{ "scolonpathdelim",  pm_choice, "On|Off" },
	{ "forcerecovery",    pm_choice, "On|Off" },
	{ "failonstatus",     pm_unsupported, "failonstatus= is not supported yet" },
	{ "failontimeout",    pm_unsupported, "failontimeout= is not supported yet" },
};

/* ---- directives ---- */

static int kw_ignore(UNUSED struct parser *p, UNUSED int argc, UNUSED char **argv)
{
	return 0;
}

static int kw_loadmodule(struct parser *p, UNUSED int argc, char **argv)
{
	/* kbal has what these provide built in, or they change nothing here */
	static const char *const known[] = {
		"proxy_module", "proxy_http_module", "proxy_balancer_module",
		"slotmem_shm_module", "lbmethod_byrequests_module",
		"lbmethod_bytraffic_module", "lbmethod_bybusyness_module",
		"headers_module", "unixd_module", "authz_core_module",
		"authz_host_module", "access_compat_module", "mpm_event_module",
		"mpm_worker_module", "mpm_prefork_module", "log_config_module",
		"mime_module", "dir_module", "alias_module",
	};

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (!strcmp(argv[1], known[i]))
			return 0;
	return perr(p, "module %s is not supported by kbal", argv[1]);
}

/* Listen [IP:]PORT [http] */
static int kw_listen(struct parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_listen *l = &c->listen[c->nlisten];
	const char *a = argv[1], *colon = strrchr(a, ':');
	char host[KBAL_NAME_LEN] = "", label[300];
	unsigned port;

	snprintf(label, sizeof(label), "Listen %s", a);
	if (argc > 2 && strcasecmp(argv[2], "http"))
		return perr(p, "%s %s: only http is supported (no TLS)", label, argv[2]);
	if (a[0] == '[' || (colon && strchr(a, ':') != colon))
		return perr(p, "%s: IPv6 not supported yet", label);
	if (colon && (size_t)(colon - a) >= sizeof(host))
		return perr(p, "%s: host name too long", label);
	if (colon)
		memcpy(host, a, colon - a);
	if (parse_uint(p, label, colon ? colon + 1 : a, 1, 65535, &port))
		return -1;
	if (c->nlisten == KBAL_CONF_MAX_LISTEN)
		return perr(p, "too many Listen directives (at most %d)", KBAL_CONF_MAX_LISTEN);
	if (resolve4(p, label, host, port, &l->addr))
		return -1;
	for (unsigned i = 0; i < c->nlisten; i++) {
		const struct sockaddr_in *o = &c->listen[i].addr;

		if (o->sin_port == l->addr.sin_port &&
		    (o->sin_addr.s_addr == l->addr.sin_addr.s_addr ||
		     !o->sin_addr.s_addr || !l->addr.sin_addr.s_addr))
			return perr(p, "%s: the Listen at line %d already takes this port",
				    label, c->listen[i].line);
	}
	l->line = p->line;
	c->nlisten++;
	return 0;
}

static int kw_servername(struct parser *p, UNUSED int argc, char **argv)
{
	return copy(p, p->conf->server_name, sizeof(p->conf->server_name), argv[1], "ServerName");
}

/* Timeout and ProxyTimeout: the latter wins, whatever the order */
static int kw_timeout(struct parser *p, UNUSED int argc, char **argv)
{
	int proxy = !strcasecmp(argv[0], "ProxyTimeout");

	return parse_time(p, argv[0], argv[1], proxy ? &p->proxy_timeout_ms : &p->timeout_ms);
}

static int kw_proxyrequests(struct parser *p, UNUSED int argc, char **argv)
{
	int on;

	if (parse_onoff(p, "ProxyRequests", argv[1], &on))
		return -1;
	if (on)
		return perr(p, "forward proxy (ProxyRequests On) is not supported: kbal is a reverse proxy");
	return 0;
}

static int kw_preservehost(struct parser *p, UNUSED int argc, char **argv)
{
	return parse_onoff(p, "ProxyPreserveHost", argv[1], &p->conf->preserve_host);
}

static int kw_splice(struct parser *p, UNUSED int argc, char **argv)
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
static int kw_member_cc(struct parser *p, UNUSED int argc, char **argv)
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

/* The value is sent as is but for these formats, expanded per response. */
static int check_header_value(struct parser *p, const char *v)
{
	static const char *const vars[] = {
		"BALANCER_WORKER_ROUTE", "BALANCER_NAME", "BALANCER_WORKER_NAME",
	};

	for (const char *s = v; *s; s++) {
		const char *e = NULL;
		size_t i = ARRAY_SIZE(vars);

		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return perr(p, "Header: control character in the value");
		if (*s != '%' || *++s == '%')
			continue;
		if (*s == '{' && (e = strchr(s, '}')) && e[1] == 'e')
			for (i = 0; i < ARRAY_SIZE(vars); i++)
				if ((size_t)(e - s - 1) == strlen(vars[i]) && !strncmp(s + 1, vars[i], e - s - 1))
					break;
		if (i == ARRAY_SIZE(vars))
			return perr(p, "Header: format %%%.*s is not supported by kbal (only %%%%, "
				    "%%{BALANCER_WORKER_ROUTE}e, %%{BALANCER_NAME}e and "
				    "%%{BALANCER_WORKER_NAME}e)", e ? (int)(e - s + 2) : 1, s);
		s = e + 1;
	}
	return 0;
}

/* Header [onsuccess] add|set NAME VALUE [env=VAR] */
static int kw_header(struct parser *p, int argc, char **argv)
{
	/* these frame the response kbal splices, or are hop-by-hop */
	static const char *const framing[] = {
		"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Upgrade", "Trailer", "TE", "Proxy-Connection",
	};
	struct kbal_conf *c = p->conf;
	struct kbal_conf_header *h = &c->header[c->nheader];
	int i = 1;

	if (c->nheader == KBAL_CONF_MAX_HEADER)
		return perr(p, "too many Header directives (at most %d)", KBAL_CONF_MAX_HEADER);
	if (!strcasecmp(argv[i], "always"))
		return perr(p, "Header always is not supported yet (kbal adds headers to proxied responses)");
	i += !strcasecmp(argv[i], "onsuccess");
	if (!strcasecmp(argv[i], "add"))
		h->action = KBAL_HEADER_ADD;
	else if (!strcasecmp(argv[i], "set"))
		h->action = KBAL_HEADER_SET;
	else
		return perr(p, "Header %s is not supported by kbal (only add and set)", argv[i]);
	if (argc - i < 3)
		return perr(p, "Header %s: needs a header name and a value", argv[i]);
	if (!is_token(argv[i + 1]))
		return perr(p, "Header %s: not a header name", argv[i + 1]);
	for (size_t k = 0; k < ARRAY_SIZE(framing); k++)
		if (!strcasecmp(argv[i + 1], framing[k]))
			return perr(p, "Header %s: kbal does not change this header", argv[i + 1]);
	if (copy(p, h->name, sizeof(h->name), argv[i + 1], "Header name") ||
	    check_header_value(p, argv[i + 2]) ||
	    copy(p, h->value, sizeof(h->value), argv[i + 2], "Header value"))
		return -1;
	i += 3;
	if (i < argc) {
		const char *cond = argv[i++];

		if (strncasecmp(cond, "env=", 4))
			return perr(p, "Header %s: not supported by kbal (only env=VAR)", cond);
		if (cond[4] == '!')
			return perr(p, "Header %s: env=!VAR is not supported by kbal", cond);
		if (strcmp(cond + 4, "BALANCER_ROUTE_CHANGED"))
			return perr(p, "Header %s: only env=BALANCER_ROUTE_CHANGED is supported", cond);
		strcpy(h->env, cond + 4);
	}
	if (i < argc)
		return perr(p, "Header: too many arguments");
	h->line = p->line;
	c->nheader++;
	return 0;
}

/* BalancerMember [balancer://NAME] http://HOST[:PORT][/] [key=value...] */
static int kw_member(struct parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_balancer *b;
	struct kbal_conf_member *m;
	const char *url, *h, *e;
	char host[KBAL_NAME_LEN], label[300];
	unsigned port = 80, total = 0, k;
	int bi = p->bal, i = 1;

	if (p->ctx == C_SERVER) {
		if (argc < 3 || !is_balancer_url(argv[1]))
			return perr(p, "BalancerMember outside <Proxy balancer://NAME> needs balancer://NAME first");
		if ((bi = balancer_ref(p, argv[i++], NULL)) < 0)
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
	memset(m, 0, sizeof(*m));
	m->loadfactor = 1;
	m->retry_sec = 60;
	m->reuse = 1;
	m->pool_max = KBAL_POOL_MAX;
	m->pool_ttl_ms = KBAL_POOL_TTL_MS;
	m->line = p->line;

	url = argv[i++];
	snprintf(label, sizeof(label), "BalancerMember %s", url);
	if (!strncasecmp(url, "https://", 8))
		return perr(p, "%s: https members need TLS, not supported", label);
	if (strncasecmp(url, "http://", 7))
		return perr(p, "%s: only http://HOST[:PORT] members are supported", label);
	h = url + 7;
	if (*h == '[')
		return perr(p, "%s: IPv6 not supported yet", label);
	e = h + strcspn(h, ":/?#@");
	if (e == h || *e == '@' || *e == '?' || *e == '#' || (size_t)(e - h) >= sizeof(host))
		return perr(p, "%s: expected http://HOST[:PORT]", label);
	memcpy(host, h, e - h);
	host[e - h] = '\0';
	if (*e == ':') {
		char digits[8] = "";

		h = e + 1;
		e = h + strcspn(h, "/");
		if ((size_t)(e - h) < sizeof(digits))
			memcpy(digits, h, e - h);
		if (parse_uint(p, label, digits, 1, 65535, &port))
			return -1;
	}
	if (*e && strcmp(e, "/"))
		return perr(p, "%s: a member URL has no path (kbal does not rewrite paths)", label);
	if ((size_t)(e - url) >= sizeof(m->url))
		return perr(p, "%s: longer than %zu characters", label, sizeof(m->url) - 1);
	memcpy(m->url, url, e - url);
	if (port == 80)
		strcpy(m->hostport, host);
	else
		snprintf(m->hostport, sizeof(m->hostport), "%.48s:%u", host, port);
	for (k = 0; k < b->nmembers; k++)
		if (!strcasecmp(b->members[k].url, m->url))
			return perr(p, "%s: already a member of balancer://%s (line %d)",
				    label, b->name, b->members[k].line);

	p->ctimeout_set = 0;
	for (; i < argc; i++)
		if (apply_param(p, member_params, ARRAY_SIZE(member_params), m, "BalancerMember", argv[i]))
			return -1;
	for (k = 0; m->route[0] && k < b->nmembers; k++)
		if (!strcmp(b->members[k].route, m->route))
			return perr(p, "%s: route=%s is already used by the member at line %d",
				    label, m->route, b->members[k].line);
	if (resolve4(p, label, host, port, &m->addr))
		return -1;
	b->nmembers++;
	return 0;
}

/* ProxySet [balancer://NAME] key=value... */
static int kw_proxyset(struct parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	int b = p->bal, i = 1;

	if (p->ctx == C_SERVER) {
		if (strstr(argv[1], "://") && !is_balancer_url(argv[1]))
			return perr(p, "ProxySet %s: give member parameters on its BalancerMember line", argv[1]);
		if (!is_balancer_url(argv[1]))
			return perr(p, "ProxySet outside <Proxy balancer://NAME> needs balancer://NAME first");
		if ((b = balancer_ref(p, argv[i++], NULL)) < 0)
			return -1;
		if (!c->balancers[b].line)
			c->balancers[b].line = p->line;
	}
	if (i == argc)
		return perr(p, "ProxySet: no parameters");
	for (; i < argc; i++)
		if (apply_param(p, balancer_params, ARRAY_SIZE(balancer_params),
				&c->balancers[b], "ProxySet", argv[i]))
			return -1;
	return 0;
}

static int proxy_url(struct parser *p, const char *what, const char *url, const char **target)
{
	if (is_balancer_url(url))
		return balancer_ref(p, url, target);
	if (strstr(url, "://"))
		return perr(p, "%s to a single URL is not supported yet; use a balancer "
			    "(balancer://NAME/)", what);
	if (url[0] == '/' && p->ctx == C_LOCATION)
		return perr(p, "%s %s: inside <Location> the path is the <Location>'s; give only "
			    "the URL", what, url);
	return perr(p, "%s %s: expected balancer://NAME/", what, url);
}

/* ProxyPass PATH balancer://NAME/TARGET [params] | ProxyPass PATH !,
 * inside <Location PATH> without the PATH */
static int kw_proxypass(struct parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_pass *r = &c->pass[c->npass];
	const char *path, *url, *target;
	int i = 1;

	if (c->npass == KBAL_CONF_MAX_PASS)
		return perr(p, "too many ProxyPass rules (at most %d)", KBAL_CONF_MAX_PASS);
	if (p->ctx == C_LOCATION) {
		if (p->loc_pass)
			return perr(p, "ProxyPass: this <Location> has one already (line %d)", p->loc_pass);
		path = c->location[p->loc].path;
		r->location = p->loc;
	} else {
		if (argc < 3)
			return perr(p, "ProxyPass needs a path and a URL (or !)");
		path = argv[i++];
		r->location = -1;
	}
	url = argv[i++];
	if (check_path(p, "ProxyPass", path, r->path))
		return -1;
	if (!strcmp(url, "!")) {
		if (i < argc)
			return perr(p, "ProxyPass %s !: takes no parameters", path);
		r->exclude = 1;
		r->balancer = -1;
	} else {
		if ((r->balancer = proxy_url(p, "ProxyPass", url, &target)) < 0 ||
		    copy(p, r->target, sizeof(r->target), target, "ProxyPass target"))
			return -1;
		for (; i < argc; i++) {
			if (strchr(argv[i], '=')) {
				/* as in httpd, they set the balancer's parameters */
				if (apply_param(p, balancer_params, ARRAY_SIZE(balancer_params),
						&c->balancers[r->balancer], "ProxyPass", argv[i]))
					return -1;
			} else if (strcasecmp(argv[i], "nocanon")) {
				/* nocanon is accepted: kbal passes the request-target on as received */
				return perr(p, "ProxyPass %s: %s is not supported by kbal", path, argv[i]);
			}
		}
	}
	r->line = p->line;
	if (p->ctx == C_LOCATION)
		p->loc_pass = p->line;
	c->npass++;
	return 0;
}

/* ProxyPassReverse PATH balancer://NAME/TARGET, inside <Location> without PATH */
static int kw_reverse(struct parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_reverse *r = &c->reverse[c->nreverse];
	const char *path = argv[1], *url = argv[2], *target;

	if (p->ctx == C_LOCATION) {
		if (argc != 2)
			return perr(p, "ProxyPassReverse inside <Location> takes only the URL");
		path = c->location[p->loc].path;
		url = argv[1];
	} else if (argc != 3) {
		return perr(p, "ProxyPassReverse needs a path and a URL");
	}
	if (c->nreverse == KBAL_CONF_MAX_PASS)
		return perr(p, "too many ProxyPassReverse rules (at most %d)", KBAL_CONF_MAX_PASS);
	if (check_path(p, "ProxyPassReverse", path, r->path) ||
	    (r->balancer = proxy_url(p, "ProxyPassReverse", url, &target)) < 0 ||
	    copy(p, r->target, sizeof(r->target), target, "ProxyPassReverse target"))
		return -1;
	r->line = p->line;
	c->nreverse++;
	return 0;
}

static void open_section(struct parser *p, unsigned ctx, const char *name, const char *arg)
{
	p->ctx = ctx;
	p->sect_name = name;
	p->sect_line = p->line;
	snprintf(p->sect_arg, sizeof(p->sect_arg), "%s", arg);
	p->order_line = p->allow_first = p->allow_all = 0;
	p->loc_pass = 0;
}

static int close_section(struct parser *p, const char *name)
{
	if (p->ctx == C_SERVER)
		return perr(p, "</%s> without matching <%s> section", name, name);
	if (strcasecmp(name, p->sect_name))
		return perr(p, "Expected </%s> but saw </%s> (<%s %s> is at line %d)", p->sect_name,
			    name, p->sect_name, p->sect_arg, p->sect_line);
	if (p->order_line && p->allow_first && !p->allow_all)
		return perr_at(p, p->order_line, "Order allow,deny without \"Allow from all\" denies "
			       "requests: access control is not supported by kbal yet");
	p->ctx = C_SERVER;
	return 0;
}

static int kw_proxy_section(struct parser *p, UNUSED int argc, char **argv)
{
	const char *a = argv[1];

	if (!strcmp(a, "*")) {
		open_section(p, C_PROXY, "Proxy", a);
		return 0;
	}
	if (!is_balancer_url(a))
		return perr(p, "<Proxy %s> is not supported: only <Proxy *> and <Proxy balancer://NAME>", a);
	if ((p->bal = balancer_ref(p, a, NULL)) < 0)
		return -1;
	if (!p->conf->balancers[p->bal].line)
		p->conf->balancers[p->bal].line = p->line;
	open_section(p, C_BALANCER, "Proxy", a);
	return 0;
}

static int kw_location_section(struct parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_location *l = &c->location[c->nlocation];

	if (argc > 2 || !strcmp(argv[1], "~"))
		return perr(p, "<Location ~ ...> (regular expressions) is not supported by kbal");
	if (argv[1][strcspn(argv[1], "*?[")])
		return perr(p, "<Location %s>: wildcards are not supported by kbal", argv[1]);
	if (c->nlocation == KBAL_CONF_MAX_LOCATION)
		return perr(p, "too many <Location> sections (at most %d)", KBAL_CONF_MAX_LOCATION);
	if (check_path(p, "<Location>", argv[1], l->path))
		return -1;
	l->line = p->line;
	p->loc = c->nlocation++;
	open_section(p, C_LOCATION, "Location", argv[1]);
	return 0;
}

static int kw_sethandler(struct parser *p, UNUSED int argc, char **argv)
{
	if (strcasecmp(argv[1], "balancer-manager"))
		return perr(p, "SetHandler %s is not supported by kbal (only balancer-manager)", argv[1]);
	p->conf->location[p->loc].handler = KBAL_HANDLER_MANAGER;
	return 0;
}

/* Access control: what grants everything is accepted, what restricts is an
 * error, since kbal would otherwise let through what httpd refuses. */
static int no_acl(struct parser *p, int argc, char **argv)
{
	char what[256] = "";

	for (int i = 0, n = 0; i < argc && n < (int)sizeof(what); i++)
		n += snprintf(what + n, sizeof(what) - n, "%s%s", i ? " " : "", argv[i]);
	return perr(p, "%s: access control is not supported by kbal yet", what);
}

static int kw_order(struct parser *p, int argc, char **argv)
{
	if (!strcasecmp(argv[1], "deny,allow"))
		p->allow_first = 0;
	else if (!strcasecmp(argv[1], "allow,deny") || !strcasecmp(argv[1], "mutual-failure"))
		p->allow_first = 1;
	else
		return no_acl(p, argc, argv);
	p->order_line = p->line;
	return 0;
}

static int kw_allow(struct parser *p, int argc, char **argv)
{
	if (argc != 3 || strcasecmp(argv[1], "from") || strcasecmp(argv[2], "all"))
		return no_acl(p, argc, argv);
	p->allow_all = 1;
	return 0;
}

static int kw_require(struct parser *p, int argc, char **argv)
{
	if (argc != 3 || strcasecmp(argv[1], "all") || strcasecmp(argv[2], "granted"))
		return no_acl(p, argc, argv);
	return 0;
}

struct keyword {
	const char *name;
	unsigned ctx;                     /* where it may appear, enum ctx */
	int min, max;                     /* arguments after the name */
	int (*fn)(struct parser *p, int argc, char **argv);
};

static const struct keyword keywords[] = {
	{ "LoadModule",        C_SERVER,              2, 2,        kw_loadmodule },
	{ "Listen",            C_SERVER,              1, 2,        kw_listen },
	{ "ServerName",        C_SERVER,              1, 1,        kw_servername },
	{ "Timeout",           C_SERVER,              1, 1,        kw_timeout },
	{ "ProxyTimeout",      C_SERVER,              1, 1,        kw_timeout },
	{ "ProxyRequests",     C_SERVER,              1, 1,        kw_proxyrequests },
	{ "ProxyPreserveHost", C_SERVER,              1, 1,        kw_preservehost },
	{ "KbalSplice",        C_SERVER | C_BALANCER, 1, 1,        kw_splice },
	{ "KbalMemberCongestion", C_SERVER | C_BALANCER, 1, 1,     kw_member_cc },
	{ "Header",            C_SERVER,              3, 5,        kw_header },
	{ "<Proxy",            C_SERVER,              1, 1,        kw_proxy_section },
	{ "<Location",         C_SERVER,              1, 2,        kw_location_section },
	{ "BalancerMember",    C_SERVER | C_BALANCER, 1, MAX_ARGS, kw_member },
	{ "ProxySet",          C_SERVER | C_BALANCER, 1, MAX_ARGS, kw_proxyset },
	{ "ProxyPass",         C_SERVER | C_LOCATION, 1, MAX_ARGS, kw_proxypass },
	{ "ProxyPassReverse",  C_SERVER | C_LOCATION, 1, 2,        kw_reverse },
	{ "SetHandler",        C_LOCATION,            1, 1,        kw_sethandler },
	{ "Order",             C_SECTION,             1, 1,        kw_order },
	{ "Allow",             C_SECTION,             1, MAX_ARGS, kw_allow },
	{ "Deny",              C_SECTION,             1, MAX_ARGS, no_acl },
	{ "Require",           C_SECTION,             1, MAX_ARGS, kw_require },
	/* only logging or error pages: nothing about what goes where */
	{ "LogLevel",          C_SERVER,              1, MAX_ARGS, kw_ignore },
	{ "ServerAdmin",       C_SERVER,              1, 1,        kw_ignore },
	{ "ServerTokens",      C_SERVER,              1, 1,        kw_ignore },
	{ "ServerSignature",   C_SERVER,              1, 1,        kw_ignore },
};

/* ap_getword_conf(): words split on white space; "..." or '...' quote,
 * and inside them \" (\') and \\ escape. */
static int split(struct parser *p, const char *s, char **argv)
{
	char *w = p->words;
	int argc = 0;

	for (;;) {
		char q;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return argc;
		if (argc == MAX_ARGS)
			return perr(p, "more than %d words on one line", MAX_ARGS - 1);
		argv[argc++] = w;
		q = *s;
		if (q == '"' || q == '\'') {
			for (s++; *s != q; *w++ = *s++) {
				if (!*s)
					return perr(p, "unterminated %c quote", q);
				s += *s == '\\' && (s[1] == q || s[1] == '\\');
			}
			s++;
		} else {
			for (; *s && !isspace((unsigned char)*s); *w++ = *s++)
				s += *s == '\\' && s[1] == '\\';
		}
		*w++ = '\0';
	}
}

static const char *ctx_name(unsigned ctx)
{
	return ctx == C_SERVER ? "at server level" : ctx == C_PROXY ? "inside <Proxy *>" :
	       ctx == C_BALANCER ? "inside <Proxy balancer://...>" : "inside <Location>";
}

static int directive(struct parser *p, char *s)
{
	char *argv[MAX_ARGS];
	const struct keyword *kw = NULL;
	const char *gt;
	int argc;

	s += strspn(s, " \t\f\v");
	if (!*s || *s == '#')
		return 0;
	if (*s == '<') {
		size_t n = strlen(s);

		while (isspace((unsigned char)s[n - 1]))
			n--;
		if (s[n - 1] != '>')
			return perr(p, "%.*s> directive missing closing '>'", (int)strcspn(s, " \t"), s);
		s[n - 1] = '\0';
	}
	if ((argc = split(p, s, argv)) <= 0)
		return argc;
	if (!strncmp(argv[0], "</", 2)) {
		if (argc > 1)
			return perr(p, "%s> takes no arguments", argv[0]);
		return close_section(p, argv[0] + 2);
	}
	for (size_t i = 0; !kw && i < ARRAY_SIZE(keywords); i++)
		if (!strcasecmp(argv[0], keywords[i].name))
			kw = &keywords[i];
	if (!kw)
		return perr(p, "Invalid command '%s', perhaps misspelled or not supported by kbal", argv[0]);
	gt = kw->name[0] == '<' ? ">" : "";
	if (!(kw->ctx & p->ctx) && p->ctx == C_SERVER)
		return perr(p, "%s%s is not allowed %s", kw->name, gt, ctx_name(p->ctx));
	if (!(kw->ctx & p->ctx))
		return perr(p, "%s%s is not allowed %s (<%s %s> at line %d)", kw->name, gt,
			    ctx_name(p->ctx), p->sect_name, p->sect_arg, p->sect_line);
	if (argc - 1 < kw->min)
		return perr(p, "%s%s: missing argument", kw->name, gt);
	if (argc - 1 > kw->max)
		return perr(p, "%s%s: too many arguments", kw->name, gt);
	return kw->fn(p, argc, argv);
}

/* ---- matching ---- */

/* httpd's alias_match() (mod_alias, mod_proxy): does rule match the start
 * of path? A run of slashes in the rule matches any run in the path, and
 * the rule must end at the end of a path segment: "/app" matches "/app" and
 * "/app/x" but not "/apple"; "/app/" does not match "/app". */
static int alias_match(const char *path, size_t len, const char *rule)
{
	const char *r = rule, *u = path, *end = path + len;

	while (*r && u < end) {
		if (*r == '/') {
			if (*u != '/')
				return 0;
			while (*r == '/')
				r++;
			while (u < end && *u == '/')
				u++;
		} else if (*u++ != *r++) {
			return 0;
		}
	}
	return !*r && r > rule && (r[-1] == '/' || u == end || *u == '/');
}

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

int kbal_conf_uri_path(const char *uri, size_t len, char *out, size_t outlen)
{
	const char *s = uri, *end = uri + len, *t = uri;
	size_t n = 0, r = 0, w = 0;

	/* absolute-form: skip scheme://authority */
	while (t < end && (isalnum((unsigned char)*t) || *t == '+' || *t == '-' || *t == '.'))
		t++;
	if (t > uri && isalpha((unsigned char)*uri) && end - t >= 3 && !memcmp(t, "://", 3)) {
		for (s = t + 3; s < end && *s != '/' && *s != '?' && *s != '#'; s++)
			;
		if (s == end || *s != '/') {
			s = "/";
			end = s + 1;
		}
	}
	for (t = s; t < end && *t != '?' && *t != '#'; t++)
		;
	end = t;
	if (s == end || *s != '/')
		return -EINVAL;
	for (; s < end; s++) {
		int ch = (unsigned char)*s, hi, lo;

		if (ch == '%') {
			if (end - s < 3 || (hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0)
				return -EINVAL;
			ch = hi << 4 | lo;
			s += 2;
			if (ch == '/')
				return -EINVAL;   /* httpd: AllowEncodedSlashes Off */
		}
		if (!ch)
			return -EINVAL;
		if (n + 1 >= outlen)
			return -ENAMETOOLONG;
		out[n++] = ch;
	}
	/* dot segments (RFC 3986 5.2.4), in place: w never passes r */
	while (r < n) {
		size_t e = r + 1, seg;

		while (e < n && out[e] != '/')
			e++;
		seg = e - r - 1;
		if (seg == 1 && out[r + 1] == '.') {
			if (e == n)
				out[w++] = '/';
		} else if (seg == 2 && out[r + 1] == '.' && out[r + 2] == '.') {
			if (!w)
				return -EINVAL;   /* above the root: httpd answers 400 */
			while (out[--w] != '/')
				;
			if (e == n)
				out[w++] = '/';
		} else {
			memmove(out + w, out + r, e - r);
			w += e - r;
		}
		r = e;
	}
	/* then MergeSlashes */
	for (r = n = 0; r < w; r++)
		if (out[r] != '/' || !n || out[n - 1] != '/')
			out[n++] = out[r];
	out[n] = '\0';
	return n;
}

static int match_pass_path(const struct kbal_conf *c, const char *path, size_t len)
{
	int found = -1;

	/* a <Location>'s own ProxyPass is tried first, the last matching one */
	for (unsigned i = 0; i < c->npass; i++)
		if (c->pass[i].location >= 0 && alias_match(path, len, c->pass[i].path))
			found = i;
	for (unsigned i = 0; found < 0 && i < c->npass; i++)
		if (c->pass[i].location < 0 && alias_match(path, len, c->pass[i].path))
			found = i;
	return found;
}

int kbal_conf_match_pass(const struct kbal_conf *conf, const char *uri, size_t len)
{
	char path[URI_MAX];
	int n = kbal_conf_uri_path(uri, len, path, sizeof(path));

	return n < 0 ? -1 : match_pass_path(conf, path, n);
}

unsigned kbal_conf_match_location(const struct kbal_conf *conf, const char *uri, size_t len)
{
	char path[URI_MAX];
	int n = kbal_conf_uri_path(uri, len, path, sizeof(path));
	unsigned handler = KBAL_HANDLER_NONE;

	for (unsigned i = 0; n >= 0 && i < conf->nlocation; i++)
		if (conf->location[i].handler && alias_match(path, n, conf->location[i].path))
			handler = conf->location[i].handler;
	return handler;
}

/* ---- end of file: references, defaults, warnings ---- */

/* The rule that takes every request rule i would get, or -1: a <Location>'s
 * rule (tried first, the last matching one), else an earlier server rule. */
static int shadowed_by(const struct kbal_conf *c, unsigned i)
{
	const struct kbal_conf_pass *b = &c->pass[i];

	for (int loc = 1; loc >= 0; loc--) {
		for (unsigned a = 0; a < c->npass; a++) {
			const struct kbal_conf_pass *r = &c->pass[a];

			if (a == i || (r->location >= 0) != loc ||
			    !alias_match(b->path, strlen(b->path), r->path))
				continue;
			if (loc ? (b->location < 0 || a > i) : (b->location < 0 && a < i))
				return a;
		}
	}
	return -1;
}

static void check_rules(struct parser *p)
{
	const struct kbal_conf *c = p->conf;
	int proxied = -1, excluded = -1, manager = -1;

	for (unsigned i = 0; i < c->npass; i++) {
		const struct kbal_conf_pass *b = &c->pass[i], *r;
		size_t pl = strlen(b->path), tl = strlen(b->target);
		int a = shadowed_by(c, i);

		if (a >= 0) {
			r = &c->pass[a];
			if (b->location >= 0)
				pwarn(p, b->line, "ProxyPass inside <Location %s> is never applied: <Location %s> "
				      "(ProxyPass at line %d) also matches and comes later; the last matching "
				      "<Location> wins", b->path, r->path, r->line);
			else if (r->location >= 0)
				pwarn(p, b->line, "ProxyPass %s is never applied: the ProxyPass inside "
				      "<Location %s> at line %d matches first (a <Location>'s ProxyPass is "
				      "tried before the server's)", b->path, r->path, r->line);
			else
				pwarn(p, b->line, "ProxyPass %s is never applied: ProxyPass %s at line %d "
				      "matches first (Apache matches in configuration order); move it above "
				      "line %d", b->path, r->path, r->line, r->line);
			continue;
		}
		if (b->exclude) {
			excluded = excluded < 0 ? (int)i : excluded;
			continue;
		}
		proxied = proxied < 0 ? (int)i : proxied;
		if ((b->path[pl - 1] == '/') != (tl && b->target[tl - 1] == '/'))
			pwarn(p, b->line, "ProxyPass %s balancer://%s%s: only one of them ends with '/', "
			      "so members get paths with a slash missing or doubled", b->path,
			      c->balancers[b->balancer].name, b->target);
	}
	for (unsigned i = 0; i < c->nlocation; i++) {
		const struct kbal_conf_location *l = &c->location[i];
		int r;

		if (!l->handler)
			continue;
		r = match_pass_path(c, l->path, strlen(l->path));
		if (r >= 0 && !c->pass[r].exclude)
			pwarn(p, l->line, "SetHandler balancer-manager in <Location %s> is never reached: "
			      "ProxyPass %s at line %d proxies it first; put \"ProxyPass %s !\" before "
			      "that rule", l->path, c->pass[r].path, c->pass[r].line, l->path);
		else if (manager < 0)
			manager = i;
	}
	if (proxied >= 0 && (manager >= 0 || excluded >= 0))
		pwarn(p, c->pass[proxied].line, "requests after the first on a spliced connection follow "
		      "its first request's route: a later request for %s (line %d) on a keep-alive "
		      "connection reaches the member; serve %s on a listener of its own",
		      manager >= 0 ? c->location[manager].path : c->pass[excluded].path,
		      manager >= 0 ? c->location[manager].line : c->pass[excluded].line,
		      manager >= 0 ? "the balancer-manager" : "it");
	for (unsigned i = 0; i < c->nbalancers; i++) {
		const struct kbal_conf_balancer *b = &c->balancers[i];
		unsigned k = 0;

		while (b->sticky[0] && k < b->nmembers && !b->members[k].route[0])
			k++;
		if (b->sticky[0] && k == b->nmembers)
			pwarn(p, b->line, "balancer://%s: stickysession=%s but no member has a route=, "
			      "so no request sticks", b->name, b->sticky);
	}
}

static int finish(struct parser *p)
{
	struct kbal_conf *c = p->conf;

	if (p->ctx != C_SERVER)
		return perr_at(p, p->sect_line, "<%s %s> was not closed", p->sect_name, p->sect_arg);
	if (!c->nlisten)
		return perr_at(p, 0, "no Listen directive");
	for (unsigned i = 0; i < c->npass; i++)
		if (!c->pass[i].exclude && !c->balancers[c->pass[i].balancer].nmembers)
			return perr_at(p, c->pass[i].line, "ProxyPass %s: balancer://%s is not defined "
				       "(no BalancerMember for it)", c->pass[i].path,
				       c->balancers[c->pass[i].balancer].name);
	for (unsigned i = 0; i < c->nreverse; i++)
		if (!c->balancers[c->reverse[i].balancer].nmembers)
			return perr_at(p, c->reverse[i].line, "ProxyPassReverse %s: balancer://%s is not "
				       "defined (no BalancerMember for it)", c->reverse[i].path,
				       c->balancers[c->reverse[i].balancer].name);
	c->timeout_ms = p->proxy_timeout_ms ? p->proxy_timeout_ms :
			p->timeout_ms ? p->timeout_ms : 60000;
	for (unsigned i = 0; i < c->nbalancers; i++) {
		struct kbal_conf_balancer *b = &c->balancers[i];

		if (!b->nmembers)
			return perr_at(p, b->line, "balancer://%s has no BalancerMember", b->name);
		if (!b->splice_set && c->splice_set) {
			b->splice = c->splice;
			b->splice_set = 1;
		} else if (!b->splice_set) {
			/* the default: packet where eligible (sockmap where
			 * not, or where the packet program cannot load) */
			b->splice = KBAL_SPLICE_PACKET;
		}
		if (!b->member_cc[0])
			strcpy(b->member_cc, c->member_cc);
		if (!b->timeout_ms)
			b->timeout_ms = c->timeout_ms;
		for (unsigned k = 0; k < b->nmembers; k++)
			if (!b->members[k].connect_timeout_ms)
				b->members[k].connect_timeout_ms = b->timeout_ms;
	}
	if (!c->server_name[0] && gethostname(c->server_name, sizeof(c->server_name) - 1))
		strcpy(c->server_name, "localhost");
	check_rules(p);
	return 0;
}

int kbal_conf_parse(const char *name, const char *text, struct kbal_conf *conf,
		    char *err, size_t errlen, kbal_conf_warn_fn warn, void *data)
{
	struct parser *p = calloc(1, sizeof(*p));
	char *line = malloc(LINE_LEN);
	int lineno = 0, rc = -1;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->file, sizeof(conf->file), "%s", name);
	if (errlen)
		err[0] = '\0';
	if (!p || !line) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto cleanup;
	}
	*p = (struct parser){ .conf = conf, .file = name, .err = err, .errlen = errlen,
			      .warn = warn, .data = data, .ctx = C_SERVER };
	while (*text) {
		size_t n = 0, len;

		p->line = lineno + 1;
		for (;;) {   /* ap_cfg_getline(): a trailing \ (not \\) continues the line */
			len = strcspn(text, "\n");
			lineno++;
			if (n + len >= LINE_LEN) {
				perr(p, "line longer than %d characters", LINE_LEN - 1);
				goto cleanup;
			}
			memcpy(line + n, text, len);
			n += len;
			text += len + (text[len] == '\n');
			n -= n && line[n - 1] == '\r';
			if (n < 2 || line[n - 1] != '\\' || line[n - 2] == '\\' || !*text)
				break;
			n--;
		}
		line[n] = '\0';
		if (directive(p, line))
			goto cleanup;
	}
	rc = finish(p);
cleanup:
	free(line);
	free(p);
	return rc;
}

int kbal_conf_load(const char *path, struct kbal_conf *conf,
		   char *err, size_t errlen, kbal_conf_warn_fn warn, void *data)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int rc = -1;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	buf = malloc(FILE_MAX + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto cleanup;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto cleanup;
	}
	if (n > FILE_MAX || memchr(buf, '\0', n)) {
		snprintf(err, errlen, "%s: not a configuration file (NUL byte, or over %d bytes)",
			 path, FILE_MAX);
		goto cleanup;
	}
	buf[n] = '\0';
	rc = kbal_conf_parse(path, buf, conf, err, errlen, warn, data);
cleanup:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}
