// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* member_add.c - a member added at run time (member_add.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include "conf.h"
#include "maps.h"
#include "member_add.h"

int kbal_member_find(const struct kbal_maps *m, unsigned b, const char *url)
{
	const struct kbal_balancer *bal = &m->balancers[b];
	unsigned n = __atomic_load_n(&bal->nmembers, __ATOMIC_ACQUIRE);
	size_t len = strlen(url);

	if (len && url[len - 1] == '/')
		len--;
	for (unsigned i = 0; i < n; i++) {
		unsigned k = bal->first_member + i;

		if (k < KBAL_MAX_MEMBERS && strlen(m->members[k].url) == len &&
		    !strncasecmp(m->members[k].url, url, len))
			return k;
	}
	return -1;
}

int kbal_member_place(struct kbal_maps *m, unsigned b, const struct kbal_member *mb,
		      const struct kbal_member_conf *mc)
{
	struct kbal_balancer *bal = &m->balancers[b];
	unsigned n = __atomic_load_n(&bal->nmembers, __ATOMIC_ACQUIRE), k;
	struct kbal_member *slot;
	char free_url = '\0';

	if (kbal_member_find(m, b, mb->url) >= 0)
		return -EEXIST;
	k = bal->first_member + n;
	if (n >= bal->slots || k >= KBAL_MAX_MEMBERS || !mb->url[0])
		return -ENOSPC;
	slot = &m->members[k];
	/* a free slot's URL is "": the first to set it owns the slot (kbalctl
	 * add and kbald's manager may both add) */
	if (!__atomic_compare_exchange_n(&slot->url[0], &free_url, mb->url[0], 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return -EBUSY;
	m->members_conf[k] = *mc;
	memcpy(slot->route, mb->route, sizeof(slot->route));
	memcpy(slot->url + 1, mb->url + 1, sizeof(slot->url) - 1);
	memcpy(&slot->balancer, &mb->balancer,
	       sizeof(*slot) - __builtin_offsetof(struct kbal_member, balancer));
	slot->balancer = b;
	slot->busy = slot->idle = 0;     /* kbald's own, from its connections */
	/* a member for whoever reads nmembers from now on */
	__atomic_store_n(&bal->nmembers, n + 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&bal->gen, 1, __ATOMIC_RELEASE);
	return k;
}

int kbal_member_add(struct kbal_maps *m, unsigned b, const char *url, int numeric, char *msg,
		    size_t msglen)
{
	struct kbal_balancer *bal = &m->balancers[b];
	struct kbal_conf_member cm;
	struct kbal_member mb = { 0 };
	struct kbal_member_conf mc = { 0 };
	char err[400];
	int k;

	if (kbal_conf_member_url(url, numeric, &cm, err, sizeof(err))) {
		snprintf(msg, msglen, "nothing added to balancer://%s: %s", bal->name, err);
		return -EINVAL;
	}
	/* a BalancerMember without parameters, disabled as Apache starts
	 * every worker it adds */
	memcpy(mb.url, cm.url, sizeof(mb.url));
	mb.status = KBAL_ST_DISABLED;
	memcpy(mb.addr, &cm.addr.sin6_addr, 16);
	mb.port = ntohs(cm.addr.sin6_port);
	mb.lbfactor = cm.lbfactor;
	mb.lbset = cm.lbset;
	mb.retry_sec = cm.retry_sec;
	mb.connect_timeout_ms = 0;   /* Timeout / ProxyTimeout, as Apache's */
	mc = (struct kbal_member_conf){ .status = mb.status, .lbfactor = mb.lbfactor,
					.lbset = mb.lbset, .flags = KBAL_MC_ADDED };
	k = kbal_member_place(m, b, &mb, &mc);
	if (k == -EEXIST)
		snprintf(msg, msglen, "nothing added to balancer://%s: %s is a member already",
			 bal->name, mb.url);
	else if (k == -ENOSPC)
		snprintf(msg, msglen, "nothing added to balancer://%s: no free slot for %s (%u of %u "
			 "used; ProxySet growth=N leaves N free)", bal->name, mb.url, bal->nmembers,
			 bal->slots);
	else if (k == -EBUSY)
		snprintf(msg, msglen, "nothing added to balancer://%s: another member took its free "
			 "slot at this instant; ask again", bal->name);
	else
		snprintf(msg, msglen, "added to balancer://%s: member %s, disabled (as Apache starts "
			 "one); %u free slot(s) left", bal->name, mb.url, bal->slots - bal->nmembers);
	return k;
}
