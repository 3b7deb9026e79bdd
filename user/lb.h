/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * lb.h - Apache's lbmethods and sticky routing, over the members map.
 *
 * Everything is read from and written to the kbal_members entries (the
 * mmapped map), so a status set by kbalctl counts for the next pick.
 */
#ifndef KBAL_LB_H
#define KBAL_LB_H

#include <stddef.h>
#include <stdint.h>
#include "kbal_shared.h"

/* members a request has already failed on, to not try them twice */
struct kbal_lb_tried {
	uint64_t bits[KBAL_MAX_MEMBERS / 64];
};

/*
 * Pick a member of balancer b for a request whose sticky route is `route`
 * ("" for none), as Apache's proxy_balancer_pre_request(): force_recovery()
 * (forcerecovery=On: every member in error, all recovered), then the
 * route's member (its lbstatus weighed as Apache weighs a sticky request),
 * else the lbmethod's pick over lbsets, spares and standbys. Returns the
 * member's index, -1 when none is usable (503, or the balancer's timeout=
 * waits), -2 when nofailover=On refuses another than the route's (503). *changed is set as Apache sets BALANCER_ROUTE_CHANGED: the member
 * has a route and it differs from the sticky one (or there was none).
 */
int kbal_lb_pick(struct kbal_balancer *b, struct kbal_member *members,
		 const char *route, const struct kbal_lb_tried *tried,
		 uint64_t now_ns, int *changed);

/* The same with Apache's find_best_worker() only (no sticky route, no
 * forced recovery): the balancer's timeout= looks again with it. */
int kbal_lb_pick_best(struct kbal_balancer *b, struct kbal_member *members,
		      const char *route, const struct kbal_lb_tried *tried,
		      uint64_t now_ns, int *changed);

/* The sticky requests the kernel kept (kbal_member.sticky_kept) weighed
 * into lbstatus as Apache weighs each (kbal_lb_pick does it first). */
void kbal_lb_weigh_kept(struct kbal_balancer *b, struct kbal_member *members,
			uint64_t now_ns);

/* A connect to member i failed or timed out: error state for retry_sec. */
void kbal_lb_failed(struct kbal_member *m, uint64_t now_ns);

/* Usable for new requests (not D/S, not in E unless retry_sec passed or
 * errors are ignored). */
int kbal_lb_usable(const struct kbal_member *m, uint64_t now_ns);

/* loadfactor=N[.DD] in hundredths as Apache's set_worker_param() stores it
 * ((int)(N.DD * 100.0): 100 to 10000), or -1 */
int kbal_lbfactor_parse(const char *s);

/* hundredths as a load factor is written: "1", "1.5", "1.25" */
const char *kbal_lbfactor_str(unsigned lbfactor, char *buf, size_t len);

static inline void kbal_lb_mark(struct kbal_lb_tried *t, unsigned i)
{
	t->bits[i / 64] |= 1ull << (i % 64);
}

static inline int kbal_lb_was_tried(const struct kbal_lb_tried *t, unsigned i)
{
	return !!(t->bits[i / 64] & (1ull << (i % 64)));
}

#endif
