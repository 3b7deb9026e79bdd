// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * balancers.c - the configuration's balancers and members into the maps
 * (kbal_balancers, kbal_members), where kbald routes from and the manager,
 * kbalctl and bpftool read and write them; each balancer's
 * ProxyPassReverse rules; each member's pool of kept connections.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include "balancers.h"
#include "proxy_header.h"
#include "daemon.h"

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
		mb->lbmethod = cb->lbmethod;
		mb->flags = cb->flags;
		mb->first_member = nm;
		mb->nmembers = cb->nmembers;
		mb->timeout_ms = cb->timeout_ms ?: conf->timeout_ms;
		mb->splice = cb->splice;
		for (unsigned i = 0; i < cb->nmembers; i++, nm++) {
			const struct kbal_conf_member *cm = &cb->members[i];
			struct kbal_member *m = &d->maps.members[nm];

			if (nm >= KBAL_MAX_MEMBERS)
				return -E2BIG;
			memset(m, 0, sizeof(*m));
			snprintf(m->route, sizeof(m->route), "%s", cm->route);
			snprintf(m->url, sizeof(m->url), "%s", cm->url);
			m->balancer = b;
			m->status = cm->status;
			m->addr = cm->addr.sin_addr.s_addr;
			m->port = ntohs(cm->addr.sin_port);
			m->lbset = cm->lbset;
			m->loadfactor = cm->loadfactor ?: 1;
			m->retry_sec = cm->retry_sec;
			m->connect_timeout_ms = cm->connect_timeout_ms;
			/* what run-time changes are told from (kbal_shared.h) */
			d->maps.members_conf[nm] = (struct kbal_member_conf){
				.status = m->status & ~KBAL_ST_ERROR, .loadfactor = m->loadfactor,
				.lbset = m->lbset,
			};
			memcpy(d->maps.members_conf[nm].route, m->route, sizeof(m->route));
			/* a member connection with a PROXY header is one
			 * client's: none is kept for another */
			kbal_pool_set(&d->pool, nm,
				      cm->reuse && cb->proxy_protocol == KBAL_PP_OFF ? cm->pool_max : 0,
				      cm->pool_ttl_ms);
		}
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
		err = kbal_rewrite_rev_build(conf, b, &d->rev[b]);
		if (err)
			return err;
	}
	d->maps.meta->nbalancers = conf->nbalancers;
	d->maps.meta->nmembers = nm;
	return 0;
}

void balancers_fini(struct kbal_daemon *d)
{
	for (unsigned b = 0; b < KBAL_MAX_BALANCERS; b++)
		kbal_rewrite_rev_free(&d->rev[b]);
}
