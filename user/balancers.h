/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* balancers.h - the configuration's balancers and members into the maps. */
#ifndef KBAL_BALANCERS_H
#define KBAL_BALANCERS_H

struct kbal_daemon;

/* Fill kbal_balancers and kbal_members from the configuration, with each
 * balancer's ProxyPassReverse rules: 0, -E2BIG (too many members) or
 * -ENOMEM. */
int balancers_load(struct kbal_daemon *d);
/* after handover_init(): which balancers' keep-alive connections the packet
 * path leaves to sockmap, framed (KBAL_BF_PACKET_FRAMED) */
void balancers_mark_paths(struct kbal_daemon *d);
void balancers_fini(struct kbal_daemon *d);

/* Members added at run time (the manager, kbalctl add) since kbald last
 * looked: their pool and the balancer's ProxyPassReverse rules, logged.
 * Each loop turn; a member added is disabled, so nothing picks it before. */
void balancers_sync(struct kbal_daemon *d);

/* Does a member of balancer b have a route? Noted per balancer
 * (d->routed) by balancers_sync(), again whenever the balancer's gen
 * moved, which every change of a route moves (the manager, kbalctl set,
 * reset and add, BalancerPersist); looked for among the members while it
 * has moved since (decide_route_cookie_owed()). */
int balancer_has_route(const struct kbal_daemon *d, unsigned b);

#endif
