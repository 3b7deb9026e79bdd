// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_check.c - what only the whole file tells: references to balancers
 * defined further down, the defaults that come from the server's level,
 * and the warnings where kbal would route otherwise than one expects
 * (rules that never apply, a spliced connection's later requests).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conf_parse.h"
#include "inaddr.h"
#include "proxy_header.h"
#include "conf_match.h"

/* Does rule r (a path) take every request whose path starts with prefix
 * (so, every one a regex anchored on it matches)? Only where alias_match()
 * proves it for whatever follows: r ends with '/', or prefix has a '/' just
 * after what r matched. */
static int takes_all_under(const struct kbal_conf_pass *r, const char *prefix)
{
	size_t pl = strlen(prefix), rl = strlen(r->path);
	int m = conf_alias_match(prefix, pl, r->path);

	return m > 0 && (r->path[rl - 1] == '/' || (size_t)m < pl);
}

/* The rule that takes every request rule i would get, or -1: a <Location>'s
 * rule (tried first, the last matching one), else an earlier server rule.
 * A regex rule shadows nothing here (what it matches is not proven), and
 * is shadowed only by a path rule taking all its anchored prefix would. */
static int shadowed_by(const struct kbal_conf *c, unsigned i)
{
	const struct kbal_conf_pass *b = &c->pass[i];
	char prefix[KBAL_CONF_PATH_LEN] = "/";

	/* every path starts with '/': an unanchored regex's prefix */
	if (b->regex && conf_regex_prefix(b->path, prefix, sizeof(prefix)) && prefix[0] != '/')
		return -1;   /* "^x": it matches no path at all; not said here */
	if (!prefix[0])
		strcpy(prefix, "/");
	for (int loc = 1; loc >= 0; loc--) {
		for (unsigned a = 0; a < c->npass; a++) {
			const struct kbal_conf_pass *r = &c->pass[a];

			/* the server's rules come first in a virtual host, and
			 * its <Location>s' before the virtual host's */
			if (a == i || (r->location >= 0) != loc || r->regex ||
			    (r->vhost != b->vhost && (loc || r->vhost >= 0)))
				continue;
			if (b->regex ? !takes_all_under(r, prefix) :
			    !conf_alias_match(b->path, strlen(b->path), r->path))
				continue;
			if (loc ? (b->location < 0 || a > i) :
			    (b->location < 0 && (a < i || r->vhost != b->vhost)))
				return a;
		}
	}
	return -1;
}

/* A member of b is the only pick at start: decide_sole() (decide.c) on the
 * configuration's initial statuses (status=+D, +H, +R, lbset=), which is
 * where a balancer of several members joins on the packet path until a
 * status changes */
static int conf_sole_pick(const struct kbal_conf_balancer *b)
{
	const unsigned out = KBAL_ST_DISABLED | KBAL_ST_STOPPED | KBAL_ST_DRAIN | KBAL_ST_HC_FAIL;

	for (unsigned k = 0; k < b->nmembers; k++) {
		const struct kbal_conf_member *me = &b->members[k];
		unsigned others = 0, spares = 0, sole = 1;

		if (me->status & (out | KBAL_ST_SPARE | KBAL_ST_HOT_STANDBY))
			continue;
		for (unsigned i = 0; sole && i < b->nmembers; i++) {
			const struct kbal_conf_member *o = &b->members[i];

			if (o == me || o->lbset > me->lbset)
				continue;
			if (o->lbset < me->lbset) {
				sole = !!(o->status & out);
			} else if (o->status & KBAL_ST_SPARE) {
				spares += !(o->status & out);
			} else if (!(o->status & KBAL_ST_HOT_STANDBY)) {
				sole = !!(o->status & out);
				others++;
			}
		}
		if (sole && !(spares && others))
			return 1;
	}
	return 0;
}

/* A <VirtualHost> with BalancerInherit Off and ProxyPassInherit Off has
 * none of the server's balancers, but httpd gives it the server's rules
 * all the same: each of them (or of its own) that names one is said, once
 * per virtual host and rule, since httpd answers its requests 503 there */
static void check_inherit(struct conf_parser *p)
{
	const struct kbal_conf *c = p->conf;

	for (unsigned v = 0; v < c->nvhost; v++) {
		if (kbal_conf_bal_inherit(c, (int)v))
			continue;
		for (unsigned i = 0; i < c->npass; i++) {
			const struct kbal_conf_pass *r = &c->pass[i];

			if (r->exclude || (r->vhost >= 0 && r->vhost != (int)v) ||
			    kbal_conf_balancer_in(c, (int)v, (unsigned)r->balancer))
				continue;
			conf_pwarn(p, r->line, "%s%s names %s%s, the server's, which the "
				   "<VirtualHost> at %s does not inherit (BalancerInherit Off and "
				   "ProxyPassInherit Off): its requests there are answered 503, "
				   "as httpd's", r->regex ? "ProxyPassMatch " : "ProxyPass ",
				   r->path, kbal_bal_scheme(c->balancers[r->balancer].flags),
				   c->balancers[r->balancer].name, conf_at(p, c->vhost[v].line));
		}
	}
}

static void check_rules(struct conf_parser *p)
{
	const struct kbal_conf *c = p->conf;
	for (unsigned i = 0; i < c->npass; i++) {
		const struct kbal_conf_pass *b = &c->pass[i], *r;
		size_t pl = strlen(b->path), tl = strlen(b->target);
		int a = shadowed_by(c, i);

		if (a >= 0) {
			r = &c->pass[a];
			if (b->location >= 0)
				conf_pwarn(p, b->line, "ProxyPass inside <Location %s> is never applied: "
					   "<Location %s> (ProxyPass at %s) also matches and comes "
					   "later; the last matching <Location> wins",
					   b->path, r->path, conf_at(p, r->line));
			else if (b->regex)
				conf_pwarn(p, b->line, "ProxyPassMatch %s is never applied: every path "
					   "it matches starts with what %s %s at %s takes first "
					   "(Apache matches in configuration order)", b->path,
					   r->location >= 0 ? "the ProxyPass inside <Location>" :
					   "ProxyPass", r->path, conf_at(p, r->line));
			else if (r->location >= 0)
				conf_pwarn(p, b->line, "ProxyPass %s is never applied: the ProxyPass "
					   "inside <Location %s> at %s matches first (a "
					   "<Location>'s ProxyPass is tried before the server's)",
					   b->path, r->path, conf_at(p, r->line));
			else
				conf_pwarn(p, b->line, "ProxyPass %s is never applied: ProxyPass %s at "
					   "%s matches first (Apache matches in configuration "
					   "order); move it above %s",
					   b->path, r->path, conf_at(p, r->line), conf_at(p, r->line));
			continue;
		}
		if (b->exclude || b->regex)
			continue;
		if ((b->path[pl - 1] == '/') != (tl && b->target[tl - 1] == '/'))
			conf_pwarn(p, b->line, "ProxyPass %s %s%s%s: only one of them ends "
				   "with '/', so members get paths with a slash missing or doubled",
				   b->path, kbal_bal_scheme(c->balancers[b->balancer].flags),
				   c->balancers[b->balancer].name, b->target);
	}
	for (unsigned i = 0; i < c->nlocation; i++) {
		const struct kbal_conf_location *l = &c->location[i];
		int r;

		if (!l->handler || l->regex)
			continue;
		r = conf_match_pass_path(c, l->vhost, l->path, strlen(l->path));
		if (r >= 0 && !c->pass[r].exclude && c->pass[r].regex)
			conf_pwarn(p, l->line, "SetHandler balancer-manager in <Location %s> is not "
				   "reached at %s: ProxyPassMatch %s at %s proxies it first; put "
				   "\"ProxyPass %s !\" before that rule",
				   l->path, l->path, c->pass[r].path, conf_at(p, c->pass[r].line),
				   l->path);
		else if (r >= 0 && !c->pass[r].exclude)
			conf_pwarn(p, l->line, "SetHandler balancer-manager in <Location %s> is never "
				   "reached: ProxyPass %s at %s proxies it first; put "
				   "\"ProxyPass %s !\" before that rule",
				   l->path, c->pass[r].path, conf_at(p, c->pass[r].line), l->path);
	}
	/* the packet path joins the keep-alive connections whose later
	 * requests the configuration decides alike (decide.c), and, where
	 * kbald keeps its client-side sockets (no KbalHost ids), those whose
	 * requests its program decides one by one (decide_by_packet()); say
	 * where KbalSplice packet, asked for, joins none */
	for (unsigned i = 0; i < c->nbalancers; i++) {
		const struct kbal_conf_balancer *b = &c->balancers[i];
		const char *why = NULL;

		if (!b->splice_set || b->splice != KBAL_SPLICE_PACKET)
			continue;
		for (int v = -1; v < (int)c->nvhost; v++)
			if (!kbal_conf_packet_alike(c, i, v, &why) &&
			    (c->nhost || !kbal_conf_packet_why_decided(why)))
				break;
			else
				why = NULL;
		/* without KbalHost ids (kbald keeps its client-side sockets):
		 * a balancer of several members joins while one is the only
		 * pick, the program giving a flow back at a request once that
		 * changes (docs/packet.md, "Given back at a request"); said
		 * where none is at start (members picked among) */
		if (why && !c->nhost && !b->sticky[0] && conf_sole_pick(b)) {
			const char *why2 = NULL;
			int v;

			for (v = -1; v < (int)c->nvhost; v++)
				if (!kbal_conf_packet_alike_several(c, i, v, &why2))
					break;
			if (!why2)
				continue;
		}
		if (why)
			conf_pwarn(p, b->line, "%s%s: KbalSplice packet joins no keep-alive "
				   "connection of it%s: %s (%s); they take the sockmap path, "
				   "which decides each request",
				   kbal_bal_scheme(b->flags), b->name,
				   c->nvhost ? " on some of its addresses" : "", why,
				   !kbal_conf_packet_why_decided(why) ? "the packet path keeps no "
				   "such request" : "the packet path decides no request on a host "
				   "with KbalHost ids");
	}
	/* packet.bpf.c rewrites IPv4 headers only: an IPv6 client or member
	 * takes sockmap (handover.c, why "ipv6"); said where asked for */
	for (unsigned i = 0; i < c->nbalancers; i++) {
		const struct kbal_conf_balancer *b = &c->balancers[i];
		int v6 = 0;

		if (!b->splice_set || b->splice != KBAL_SPLICE_PACKET)
			continue;
		for (unsigned k = 0; k < b->nmembers; k++)
			v6 |= !kbal_in6_is_v4(&b->members[k].addr.sin6_addr);
		for (unsigned l = 0; l < c->nlisten; l++)
			v6 |= !kbal_in6_is_v4(&c->listen[l].addr.sin6_addr);
		if (v6)
			conf_pwarn(p, b->line, "%s%s: KbalSplice packet joins IPv4 connections "
				   "only: those of its IPv6 clients or members take the sockmap "
				   "path", kbal_bal_scheme(b->flags), b->name);
	}
	for (unsigned i = 0; i < c->nbalancers; i++) {
		const struct kbal_conf_balancer *b = &c->balancers[i];
		unsigned k = 0;

		while (b->sticky[0] && k < b->nmembers && !b->members[k].route[0])
			k++;
		if (b->sticky[0] && k == b->nmembers)
			conf_pwarn(p, b->line, "balancer://%s: stickysession=%s but no member has "
				   "a route=, so no request sticks", b->name, b->sticky);
	}
}

int conf_finish(struct conf_parser *p)
{
	struct kbal_conf *c = p->conf;

	if (!c->nlisten)
		return conf_perr_at(p, 0, "no Listen directive");
	for (unsigned i = 0; i < c->npass; i++)
		c->pass[i].encoded_slashes = c->encoded_slashes;   /* the rules' targets */
	for (unsigned i = 0; i < c->npass; i++)
		if (!c->pass[i].exclude && !c->balancers[c->pass[i].balancer].nmembers)
			return conf_perr_at(p, c->pass[i].line, "%s %s: balancer://%s is "
					    "not defined (no BalancerMember for it)",
					    c->pass[i].regex ? "ProxyPassMatch" : "ProxyPass", c->pass[i].path,
					    c->balancers[c->pass[i].balancer].name);
	for (unsigned i = 0; i < c->nreverse; i++)
		if (!c->balancers[c->reverse[i].balancer].nmembers)
			return conf_perr_at(p, c->reverse[i].line, "ProxyPassReverse %s: "
					    "balancer://%s is not defined (no BalancerMember for it)",
					    c->reverse[i].path, c->balancers[c->reverse[i].balancer].name);
	c->timeout_ms = p->proxy_timeout_ms ? p->proxy_timeout_ms :
			p->timeout_ms ? p->timeout_ms : 60000;
	if (!c->keepalive_timeout_ms)
		c->keepalive_timeout_ms = 5000;   /* Apache's default */
	for (unsigned v = 0; v < c->nvhost; v++) {
		struct kbal_conf_vhost *h = &c->vhost[v];

		/* mod_proxy's ProxyTimeout merged (the server's where it sets
		 * none), else r->server's Timeout (its own, else the server's) */
		h->timeout_ms = h->own_proxy_timeout_ms ?: p->proxy_timeout_ms ?:
				h->own_timeout_ms ?: p->timeout_ms ?: 60000;
		h->keepalive_timeout_ms = h->own_keepalive_timeout_ms ?: c->keepalive_timeout_ms;
	}
	if (!p->max_keepalive_set)
		c->max_keepalive_requests = 100;  /* httpd's DEFAULT_KEEPALIVE */
	/* httpd's defaults (LimitRequestBody: 1 GiB since 2.4.54) */
	if (!(p->limit_set & 1))
		c->limits.line = 8190;
	if (!(p->limit_set & 2))
		c->limits.field = 8190;
	if (!(p->limit_set & 4))
		c->limits.fields = 100;
	if (!(p->limit_set & 8))
		c->limit_body = 1ull << 30;
	for (unsigned v = 0; v < c->nvhost; v++) {
		struct kbal_conf_vhost *h = &c->vhost[v];

		if (!(h->limit_set & 1))
			h->limits.line = 8190;
		if (!(h->limit_set & 2))
			h->limits.field = 8190;
		if (!(h->limit_set & 4))
			h->limits.fields = 100;
		c->vhost_limits |= memcmp(&h->limits, &c->limits, sizeof(c->limits)) != 0;
	}
	/* mod_reqtimeout's defaults, which Debian's apache2 runs with, for
	 * the stages RequestReadTimeout does not name */
	if (!(p->reqtimeout_set & 1))
		c->reqtimeout.header = (struct kbal_read_bound){ 20000, 40000, 500 };
	if (!(p->reqtimeout_set & 2))
		c->reqtimeout.body = (struct kbal_read_bound){ 20000, 0, 500 };
	for (unsigned i = 0, slots = 0; i < c->nbalancers; i++) {
		struct kbal_conf_balancer *b = &c->balancers[i];

		/* growth= slots are kbal_members entries as members are */
		slots += c->balancers[i].nmembers + c->balancers[i].growth;
		if (slots > KBAL_MAX_MEMBERS)
			return conf_perr_at(p, b->line, "balancer://%s: too many members with the "
					    "free slots of growth= (at most %d in all balancers)",
					    b->name, KBAL_MAX_MEMBERS);
		if (!b->nmembers)
			return conf_perr_at(p, b->line, "balancer://%s has no BalancerMember", b->name);
		if (!b->splice_set && c->splice_set) {
			b->splice = c->splice;
			b->splice_set = 1;
		} else if (!b->splice_set) {
			/* the default: packet where eligible (sockmap where
			 * not, or where the packet program cannot load) */
			b->splice = KBAL_SPLICE_PACKET;
		}
		if (b->proxy_protocol == KBAL_PP_UNSET)
			b->proxy_protocol = c->proxy_protocol ? c->proxy_protocol : KBAL_PP_OFF;
		if (!b->member_cc[0])
			strcpy(b->member_cc, c->member_cc);
		/* a member's connect without connectiontimeout= or timeout=
		 * (connect_timeout_ms 0) waits the request's virtual host's
		 * ProxyTimeout / Timeout (member.c); the balancer's timeout=
		 * is no connect timeout */
	}
	for (unsigned v = 0; v < c->nvhost; v++) {
		const struct kbal_conf_vhost *h = &c->vhost[v];
		int listened = 0;

		for (unsigned i = 0; i < h->naddr; i++)
			for (unsigned l = 0; l < c->nlisten; l++) {
				const struct sockaddr_in6 *a = &h->addr[i], *la = &c->listen[l].addr;

				listened |= (!a->sin6_port || a->sin6_port == la->sin6_port) &&
					    (kbal_in6_is_any(&a->sin6_addr) ||
					     kbal_in6_is_any(&la->sin6_addr) ||
					     !memcmp(&a->sin6_addr, &la->sin6_addr, 16));
			}
		if (!listened)
			conf_pwarn(p, h->line, "<VirtualHost>: no Listen takes any of its "
				   "addresses: it serves nothing");
	}
	if (!c->server_name[0] && gethostname(c->server_name, sizeof(c->server_name) - 1))
		strcpy(c->server_name, "localhost");
	if (!c->server_host[0])
		conf_split_server_name(c->server_name, c->server_host, sizeof(c->server_host),
				       &c->server_port);
	check_rules(p);
	check_inherit(p);
	if (conf_hcheck_finish(p) || conf_privs_finish(p))
		return -1;
	return conf_log_finish(p);
}
