// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * decide_rules.c - what the configuration lets the kernel keep (decide.h):
 * the ProxyPass rules as the stream parser compares them (kbal_rules, one
 * table per virtual host), httpd's limits on a head, and the rules the
 * kernel cannot apply (Header, SetEnvIf, ProxyErrorOverride, access rules
 * on proxied paths, Redirect in a <Location>) that make kbald decide more,
 * worked out once at start (struct kbal_decide).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <bpf/bpf.h>
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "env.h"
#include "headers.h"
#include "log.h"

/* a ProxyPass path as the kernel compares it: runs of '/' as one (kbald's
 * alias match lets a run in the rule match any run in the path, and the
 * kernel keeps no path with a run) */
static size_t rule_path(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in; in++) {
		if (*in == '/' && n && out[n - 1] == '/')
			continue;
		if (n + 1 >= cap)
			return 0;
		out[n++] = *in;
	}
	out[n] = '\0';
	return n;
}

static void rules_add(struct kbal_rules *r, const struct kbal_conf *conf, unsigned i)
{
	struct kbal_rule *rule;
	size_t len;

	if (r->n == KBAL_RULES_MAX) {
		r->exact = 0;
		return;
	}
	if (conf->pass[i].regex) {
		/* ProxyPassMatch: the kernel compares prefixes, not regexes,
		 * and a later prefix rule is tried only where the regex fails */
		r->exact = 0;
		return;
	}
	rule = &r->rule[r->n];
	len = rule_path(conf->pass[i].path, rule->path, sizeof(rule->path));
	if (!len) {
		r->exact = 0;
		return;
	}
	rule->len = len;
	rule->pass = i;
	rule->exclude = conf->pass[i].exclude;
	r->n++;
}

/* Does a Header or RequestHeader rule read (env=, %{VAR}e) a variable
 * that a SetEnv or SetEnvIf line may set? (Apache's example reads only
 * BALANCER_ROUTE_CHANGED, which the balancer sets: Debian's BrowserMatch
 * lines beside it set none that a rule reads.) */
static int env_read_by_headers(const struct kbal_conf *conf)
{
	const unsigned all = KBAL_HDR_MASK(KBAL_HDR_IN) | KBAL_HDR_MASK(KBAL_HDR_OUT) |
			     KBAL_HDR_MASK(KBAL_HDR_ALWAYS);

	for (unsigned i = 0; i < conf->nenv; i++)
		for (unsigned k = 0; k < conf->env[i].nvar; k++)
			if (conf->env[i].kind != KBAL_ENV_UNSET &&
			    kbal_headers_read_var(conf, all, conf->env[i].var[k].name))
				return 1;
	return 0;
}

/* Do the request's variables (env.h) change a request or an answer? A
 * Header or RequestHeader rule may read those the lines set (env=,
 * %{VAR}e), and no-proxy, nokeepalive and the others kbald honours
 * (env.h) change the request or the answer themselves. The kernel
 * computes none: with such lines kbald decides every request, or those
 * with another User-Agent (env_by_user_agent()). (LogFormat's %{VAR}e
 * needs no more: the kernel's requests have their flow's line.) */
static int env_per_request(const struct kbal_conf *conf)
{
	return conf->nenv && (env_read_by_headers(conf) ||
			      kbal_env_may_change(conf) ||
			      kbal_env_may_set(conf, "no-proxy", 1));
}

/* SetEnvIf lines that read nothing a kept-alive connection's requests may
 * change but the User-Agent: the addresses (the connection's), the
 * User-Agent header (BrowserMatch: Debian's setenvif.conf sets nokeepalive
 * so). With no Header rule to read the variables they set, their requests
 * are the same to them as long as the User-Agent is, which the kernel
 * compares (KBAL_SKF_UA) */
static int env_by_user_agent(const struct kbal_conf *conf)
{
	if (env_read_by_headers(conf))
		return 0;
	for (unsigned i = 0; i < conf->nenv; i++) {
		const struct kbal_conf_env *r = &conf->env[i];

		if (r->kind != KBAL_ENV_IF || r->attr == KBAL_ENVA_REMOTE_ADDR ||
		    r->attr == KBAL_ENVA_REMOTE_HOST || r->attr == KBAL_ENVA_SERVER_ADDR)
			continue;
		if (r->attr != KBAL_ENVA_HEADER || strcasecmp(r->name, "User-Agent"))
			return 0;
	}
	return 1;
}

/* Which requests mod_headers' rules leave as they are, as far as the
 * kernel is concerned. The kernel keeps a request (and passes its answer)
 * only where its route named the connection's member (nothing changed), or
 * where it named none and the member is its balancer's only candidate.
 * Rules that may change such an answer, and RequestHeader rules (run on
 * every request before the balancer sets anything), make kbald decide
 * every request; rules that only a request without its route sees
 * (env=BALANCER_ROUTE_CHANGED: Apache's example) make the kernel hand
 * back the requests without the route cookie. */
static void headers_plan(struct kbal_daemon *d)
{
	const unsigned resp = KBAL_HDR_MASK(KBAL_HDR_OUT) | KBAL_HDR_MASK(KBAL_HDR_ALWAYS);
	const struct kbal_hdr_env routed = { .v = {
		.balancer = "b", .worker_name = "w", .worker_route = "r",
		.session_sticky = "s", .session_route = "r",
	} }, unrouted = { .v = { .balancer = "b", .worker_name = "w", .worker_route = "r",
				 .route_changed = 1 } }, none = { .request_us = 0 };
	int workers = 0;

	for (unsigned b = 0; b < d->conf->nbalancers; b++)
		workers |= !!(d->conf->balancers[b].flags & KBAL_BF_WORKER);
	/* a plain worker's answers see no variable at all */
	d->decide.every_response = kbal_headers_may_apply(d->conf, resp, &routed) ||
				   (workers && kbal_headers_may_apply(d->conf, resp, &none)) ||
				   kbal_headers_may_apply(d->conf, KBAL_HDR_MASK(KBAL_HDR_IN),
							  &none) ||
				   /* every head changed (a virtual host's too) */
				   kbal_conf_via_any(d->conf) ||
				   /* a Set-Cookie the kernel would pass unmapped */
				   d->conf->ncookie_path || d->conf->ncookie_domain;
	d->decide.route_cookie = kbal_headers_may_apply(d->conf, resp, &unrouted);
	if (!d->decide.every_response && kbal_conf_ping_any(d->conf)) {
		d->decide.every_response = 1;
		log_info("%s: kbald decides every request", PING_WHY);
	}
	if (!d->decide.every_response && kbal_conf_error_override_any(d->conf)) {
		d->decide.every_response = 1;
		log_info("ProxyErrorOverride On, which judges every answer: kbald decides every "
			 "request");
	}
	if (!d->decide.every_response && env_per_request(d->conf) &&
	    env_by_user_agent(d->conf)) {
		d->decide.ua = 1;
		log_info("SetEnvIf or BrowserMatch lines on the User-Agent that set nokeepalive, "
			 "no-proxy or another variable kbald honours: the kernel keeps a request "
			 "only with its connection's User-Agent");
	} else if (!d->decide.every_response && env_per_request(d->conf)) {
		d->decide.every_response = 1;
		log_info("SetEnv, SetEnvIf or BrowserMatch lines whose variables a Header or "
			 "RequestHeader rule reads, or that set nokeepalive, no-proxy or another "
			 "variable kbald honours: the kernel does not compute them, kbald decides "
			 "every request");
	}
}

/* Table t of kbal_rules: the rules a request in virtual host vhost (-1:
 * the server's) takes, in conf_match_pass_path()'s order: a <Location>'s
 * own rules first, the last matching one (so: backwards, the virtual
 * host's sections before the server's), then the others in order, the
 * server's before the virtual host's */
static void rules_table(struct kbal_rules *r, const struct kbal_conf *conf, int vhost)
{
	for (int pass = vhost >= 0; pass >= 0; pass--)
		for (unsigned i = conf->npass; i-- > 0;)
			if (conf->pass[i].vhost == (pass ? vhost : -1) && conf->pass[i].location >= 0)
				rules_add(r, conf, i);
	for (int pass = 0; pass < (vhost >= 0 ? 2 : 1); pass++)
		for (unsigned i = 0; i < conf->npass; i++)
			if (conf->pass[i].vhost == (pass ? vhost : -1) && conf->pass[i].location < 0)
				rules_add(r, conf, i);
}

_Static_assert(KBAL_CONF_MAX_VHOST + 1 <= KBAL_RULE_TABLES, "a rule table per virtual host");

/* The limits the kernel keeps a request within. A connection's are those
 * of the virtual host its address picks (conn.c), which the table, chosen
 * by the request's Host, does not tell: where the <VirtualHost>s' differ,
 * the smallest of all, so that a head over any goes back to kbald, which
 * knows the connection's (0: no bound, LimitRequestFields 0) */
static struct kbal_http_limits kernel_limits(const struct kbal_conf *conf)
{
	struct kbal_http_limits l = conf->limits;

	for (unsigned v = 0; conf->vhost_limits && v < conf->nvhost; v++) {
		const struct kbal_http_limits *h = &conf->vhost[v].limits;

		l.line = h->line < l.line ? h->line : l.line;
		l.field = h->field < l.field ? h->field : l.field;
		if (h->fields && (!l.fields || h->fields < l.fields))
			l.fields = h->fields;
	}
	return l;
}

int decide_init(struct kbal_daemon *d)
{
	const struct kbal_conf *conf = d->conf;
	const struct kbal_http_limits kl = kernel_limits(conf), *lim = &kl;
	int regex = 0, inexact = 0, redirect = 0;

	memset(&d->decide, 0, sizeof(d->decide));
	/* a <Location>'s Redirect on a proxied path catches requests of a
	 * ProxyPass rule the kernel would keep: kbald decides every request */
	for (unsigned i = 0; i < conf->nlocation; i++)
		redirect |= conf->location[i].redirect_status &&
			    kbal_conf_location_proxied(conf, i);
	/* one table per virtual host: the kernel keeps a request only with
	 * its connection's Host, so in the connection's virtual host, whose
	 * table kbald names when it arms the socket (kbal_sk_http.rules) */
	for (int t = 0; t <= (int)conf->nvhost; t++) {
		struct kbal_rules r = {
			.exact = 1,
			/* httpd refuses a line of limit + 2 bytes: limit + 1 is kept */
			.max_line = lim->line ? lim->line + 1 : 0,
			.max_field = lim->field ? lim->field + 1 : 0,
			.max_fields = lim->fields,
			/* the kernel hands back the request after that many */
			.max_requests = kbal_conf_max_keepalive(conf, t - 1),
		};
		__u32 key = t;

		rules_table(&r, conf, t - 1);
		if (redirect)
			r.exact = 0;
		d->decide.exact[t] = r.exact;
		inexact |= !r.exact;
		if (bpf_map_update_elem(d->maps.rules_fd, &key, &r, BPF_ANY))
			return -errno;
	}
	headers_plan(d);
	_Static_assert(KBAL_CONF_MAX_LOCATION <= 32, "decide.access is a 32-bit map");
	for (unsigned i = 0; i < conf->nlocation; i++)
		if ((conf->location[i].authz.nnode || conf->location[i].authz.compat) &&
		    kbal_conf_location_proxied(conf, i))
			d->decide.access |= 1u << i;
	for (unsigned i = 0; i < conf->npass; i++)
		regex |= conf->pass[i].regex;
	if (redirect)
		log_info("a Redirect inside a <Location> on a proxied path: kbald decides every "
			 "request");
	else if (regex)
		log_info("ProxyPassMatch rules, which the kernel does not compare: kbald "
			 "decides every request%s", conf->nvhost ? " where they apply (the server, "
			 "or a <VirtualHost> with them)" : "");
	else if (inexact)
		log_info("more ProxyPass rules than the kernel compares (%u), or a path of %u "
			 "bytes or more: kbald decides every request%s", KBAL_RULES_MAX,
			 KBAL_RULE_LEN, conf->nvhost ? " where they apply" : "");
	return 0;
}

