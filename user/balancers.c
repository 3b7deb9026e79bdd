// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * balancers.c - the configuration's balancers and members into the maps
 * (kbal_balancers, kbal_members), where kbald routes from and the manager,
 * kbalctl and bpftool read and write them; each balancer's
 * ProxyPassReverse rules; each member's pool of kept connections. A
 * balancer's growth= free slots follow its members; a member added into
 * one at run time gets its pool and rules when kbald sees it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include "balancers.h"
#include "proxy_header.h"
#include "daemon.h"
#include "handover.h"
#include "log.h"

/* kbald's side of member k of balancer b: its pool, a BalancerMember's
 * (a member added at run time has one without parameters) */
static void member_pool(struct kbal_daemon *d, unsigned b, const struct kbal_conf_member *cm,
			unsigned k)
{
	/* a member connection with a PROXY header is one client's: none is
	 * kept for another */
	kbal_pool_set(&d->pool, k,
		      cm->reuse && d->conf->balancers[b].proxy_protocol == KBAL_PP_OFF ?
		      cm->pool_max : 0, cm->pool_ttl_ms);
}

static void member_load(struct kbal_daemon *d, unsigned b, const struct kbal_conf_member *cm,
			unsigned nm)
{
	struct kbal_member *m = &d->maps.members[nm];

	snprintf(m->route, sizeof(m->route), "%s", cm->route);
	snprintf(m->redirect, sizeof(m->redirect), "%s", cm->redirect);
	snprintf(m->url, sizeof(m->url), "%s", cm->url);
	m->status = cm->status;
	memcpy(m->addr, &cm->addr.sin6_addr, 16);
	m->port = ntohs(cm->addr.sin6_port);
	m->lbset = cm->lbset;
	m->lbfactor = cm->lbfactor ?: 100;
	m->retry_sec = cm->retry_sec;
	m->connect_timeout_ms = cm->connect_timeout_ms;
	m->timeout_ms = cm->timeout_ms;
	m->ping_ms = cm->ping_ms;
	m->flags = cm->keepalive ? KBAL_MF_KEEPALIVE : 0;
	/* what run-time changes are told from (kbal_shared.h) */
	d->maps.members_conf[nm] = (struct kbal_member_conf){
		.status = m->status & ~KBAL_ST_ERROR, .lbfactor = m->lbfactor,
		.lbset = m->lbset,
	};
	memcpy(d->maps.members_conf[nm].route, m->route, sizeof(m->route));
	memcpy(d->maps.members_conf[nm].redirect, m->redirect, sizeof(m->redirect));
	member_pool(d, b, cm, nm);
}

/* a member of balancer b has a route (route=, or one given at run time) */
static int routes_scan(const struct kbal_maps *m, unsigned b)
{
	const struct kbal_balancer *bal = &m->balancers[b];
	unsigned n = __atomic_load_n(&bal->nmembers, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n && bal->first_member + i < KBAL_MAX_MEMBERS; i++)
		if (m->members[bal->first_member + i].route[0])
			return 1;
	return 0;
}

/* d->routed[b] as of the balancer's gen now: read before the routes, so
 * that a route written after them moves it past what is noted */
static void routes_note(struct kbal_daemon *d, unsigned b)
{
	d->routed[b].gen = __atomic_load_n(&d->maps.balancers[b].gen, __ATOMIC_ACQUIRE);
	d->routed[b].any = (uint8_t)routes_scan(&d->maps, b);
	d->routed[b].known = 1;
}

int balancer_has_route(const struct kbal_daemon *d, unsigned b)
{
	if (d->routed[b].known &&
	    __atomic_load_n(&d->maps.balancers[b].gen, __ATOMIC_ACQUIRE) == d->routed[b].gen)
		return d->routed[b].any;
	return routes_scan(&d->maps, b);   /* changed since balancers_sync() looked */
}

/*
 * Once the data paths are up (handover_init()): the balancers whose
 * keep-alive connections the packet path leaves to sockmap, framed
 * (KBAL_BF_PACKET_FRAMED, what the manager shows). Where the program keeps
 * no client socket for kbald (this host has a KbalHost id: kbal_pkt_keeps_client())
 * it decides no request: the default joins none there, and KbalSplice
 * packet by name only where the configuration routes every later request
 * alike (packet_by_name(), decide.c), on the server's addresses (a
 * <VirtualHost>'s may differ: kbald -t names them).
 */
void balancers_mark_paths(struct kbal_daemon *d)
{
	const struct kbal_conf *conf = d->conf;
	const char *why;

	for (unsigned b = 0; b < conf->nbalancers; b++) {
		struct kbal_balancer *mb = &d->maps.balancers[b];

		mb->flags &= ~KBAL_BF_PACKET_FRAMED;
		if (mb->splice == KBAL_SPLICE_PACKET && !kbal_pkt_keeps_client(d) &&
		    (!conf->balancers[b].splice_set || !kbal_conf_packet_alike(conf, b, -1, &why)))
			mb->flags |= KBAL_BF_PACKET_FRAMED;
	}
}

int balancers_load(struct kbal_daemon *d)
{
	const struct kbal_conf *conf = d->conf;
	unsigned nm = 0;
	int err;

	for (unsigned b = 0; b < conf->nbalancers; b++) {
		const struct kbal_conf_balancer *cb = &conf->balancers[b];
		struct kbal_balancer *mb = &d->maps.balancers[b];

		memset(mb, 0, sizeof(*mb));
		snprintf(mb->name, sizeof(mb->name), "%s", cb->name);
		snprintf(mb->sticky, sizeof(mb->sticky), "%s", cb->sticky);
		snprintf(mb->sticky_path, sizeof(mb->sticky_path), "%s", cb->sticky_path);
		mb->sticky_sep = cb->sticky_sep_set ? cb->sticky_sep : '.';
		mb->scolon = !!cb->scolon;
		mb->lbmethod = cb->lbmethod;
		mb->flags = cb->flags;
		mb->first_member = nm;
		mb->nmembers = cb->nmembers;
		mb->timeout_ms = cb->timeout_ms;   /* waiting for a member: 0 none */
		mb->splice = cb->splice;
		if (cb->splice_set)
			mb->flags |= KBAL_BF_SPLICE_SET;
		mb->slots = cb->nmembers + cb->growth;
		/* Apache's default (init_balancer_members()): one try on each
		 * other member, set as if configured (the XML view shows it);
		 * a balancer of one member has none, unset */
		mb->max_attempts = cb->max_attempts >= 0 ? (unsigned)cb->max_attempts :
				   cb->nmembers > 1 ? cb->nmembers - 1 : 0;
		if (cb->max_attempts >= 0 || cb->nmembers > 1)
			mb->flags |= KBAL_BF_MAX_SET;
		if (nm + mb->slots > KBAL_MAX_MEMBERS)
			return -E2BIG;
		for (unsigned i = 0; i < mb->slots; i++, nm++) {
			struct kbal_member *m = &d->maps.members[nm];

			memset(m, 0, sizeof(*m));
			memset(&d->maps.members_conf[nm], 0, sizeof(d->maps.members_conf[nm]));
			m->balancer = b;
			if (i < cb->nmembers)
				member_load(d, b, &cb->members[i], nm);
		}
		d->set_up[b] = cb->nmembers;
		/* looked at in the loop (balancers_sync()): BalancerPersist and a
		 * restart's carried members may give routes first, the latter
		 * without moving the gen */
		d->routed[b].known = 0;
		/* the manager's nonce: as configured, or a random one per start
		 * (Apache makes one per start too) */
		if (cb->nonce_none) {
			d->nonce[b][0] = '\0';
		} else if (cb->nonce[0]) {
			snprintf(d->nonce[b], sizeof(d->nonce[b]), "%s", cb->nonce);
		} else {
			unsigned char r[16];

			if (getrandom(r, sizeof(r), 0) != sizeof(r))
				return -EIO;
			for (unsigned k = 0; k < sizeof(r); k++)
				snprintf(d->nonce[b] + 2 * k, 3, "%02x", r[k]);
		}
		err = kbal_rewrite_rev_build(conf, b, &d->maps.members[mb->first_member],
					     cb->nmembers, &d->rev[b]);
		if (err)
			return err;
	}
	d->maps.meta->nbalancers = conf->nbalancers;
	d->maps.meta->nmembers = nm;
	return 0;
}

void balancers_sync(struct kbal_daemon *d)
{
	for (unsigned b = 0; b < d->maps.meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		const struct kbal_balancer *bal = &d->maps.balancers[b];
		unsigned n = __atomic_load_n(&bal->nmembers, __ATOMIC_ACQUIRE);
		struct kbal_conf_member defaults;
		struct kbal_rev_set rs;

		if (!d->routed[b].known ||
		    __atomic_load_n(&bal->gen, __ATOMIC_ACQUIRE) != d->routed[b].gen)
			routes_note(d, b);
		if (n == d->set_up[b])
			continue;
		kbal_conf_member_defaults(&defaults);
		for (unsigned i = d->set_up[b]; i < n && bal->first_member + i < KBAL_MAX_MEMBERS; i++) {
			member_pool(d, b, &defaults, bal->first_member + i);
			log_info("balancer://%s: member %s added at run time (%s), slot %u of %u",
				 bal->name, d->maps.members[bal->first_member + i].url,
				 d->maps.members[bal->first_member + i].status & KBAL_ST_DISABLED ?
				 "disabled" : "enabled", i + 1, bal->slots);
		}
		d->set_up[b] = n;
		/* ProxyPassReverse covers it too, as Apache's balancer's workers */
		if (kbal_rewrite_rev_build(d->conf, b, &d->maps.members[bal->first_member], n, &rs)) {
			kbal_rewrite_rev_free(&rs);
			log_warn("balancer://%s: out of memory: ProxyPassReverse leaves out the "
				 "members added at run time", bal->name);
			continue;
		}
		kbal_rewrite_rev_free(&d->rev[b]);
		d->rev[b] = rs;
	}
}

void balancers_fini(struct kbal_daemon *d)
{
	for (unsigned b = 0; b < KBAL_MAX_BALANCERS; b++)
		kbal_rewrite_rev_free(&d->rev[b]);
}
