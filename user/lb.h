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
 * ("" for none). Returns the member's index or -1 when none is usable
 * (503). *changed is set as Apache sets BALANCER_ROUTE_CHANGED: the member
 * has a route and it differs from the sticky one (or there was none).
 */
int kbal_lb_pick(struct kbal_balancer *b, struct kbal_member *members,
		 const char *route, const struct kbal_lb_tried *tried,
		 uint64_t now_ns, int *changed);

/* A connect to member i failed or timed out: error state for retry_sec. */
void kbal_lb_failed(struct kbal_member *m, uint64_t now_ns);

/* Usable for new requests (not D/S, not in E unless retry_sec passed). */
int kbal_lb_usable(const struct kbal_member *m, uint64_t now_ns);

static inline void kbal_lb_mark(struct kbal_lb_tried *t, unsigned i)
{
	t->bits[i / 64] |= 1ull << (i % 64);
}

static inline int kbal_lb_was_tried(const struct kbal_lb_tried *t, unsigned i)
{
	return !!(t->bits[i / 64] & (1ull << (i % 64)));
}

#endif
