// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * lb.c - mod_lbmethod_byrequests / bytraffic / bybusyness and
 * mod_proxy_balancer's find_session_route, on kbal_members entries.
 */
#include <string.h>
#include "lb.h"

int kbal_lb_usable(const struct kbal_member *m, uint64_t now_ns)
{
	if (m->status & (KBAL_ST_DISABLED | KBAL_ST_STOPPED))
		return 0;
	/* Apache retries a worker in error once `retry` has passed; the
	 * E bit is cleared when a connect succeeds (see member.c). */
	if ((m->status & KBAL_ST_ERROR) && now_ns < m->error_until_ns)
		return 0;
	return 1;
}

void kbal_lb_failed(struct kbal_member *m, uint64_t now_ns)
{
	m->errors++;
	if (m->status & KBAL_ST_IGNORE_ERR)
		return;
	m->status |= KBAL_ST_ERROR;
	m->error_until_ns = now_ns + (uint64_t)m->retry_sec * 1000000000ull;
}

/* The score a method minimises (bybusyness, bytraffic) or 0 (byrequests). */
static uint64_t method_load(unsigned method, const struct kbal_member *m)
{
	switch (method) {
	case KBAL_LB_BYBUSYNESS:
		return m->busy;
	case KBAL_LB_BYTRAFFIC:
		return (m->bytes_to + m->bytes_from) / (m->loadfactor ?: 1);
	default:
		return 0;
	}
}

/*
 * One pass of Apache's lbmethods over the lowest lbset that has a usable
 * member, hot standbys only when no other member is usable. byrequests:
 * every candidate gains its loadfactor, the highest wins and pays back the
 * total. bybusyness/bytraffic: least loaded, ties broken the same way.
 */
static int pick_by_method(struct kbal_balancer *b, struct kbal_member *ms,
			  const struct kbal_lb_tried *tried, uint64_t now)
{
	for (int standby = 0; standby < 2; standby++) {
		unsigned best_set = ~0u;

		for (unsigned i = 0; i < b->nmembers; i++) {
			const struct kbal_member *m = &ms[b->first_member + i];

			if (!!(m->status & KBAL_ST_HOT_STANDBY) != standby ||
			    (m->status & KBAL_ST_DRAIN) ||
			    (tried && kbal_lb_was_tried(tried, b->first_member + i)) ||
			    !kbal_lb_usable(m, now))
				continue;
			if (m->lbset < best_set)
				best_set = m->lbset;
		}
		if (best_set == ~0u)
			continue;

		struct kbal_member *cand = NULL;
		int64_t total = 0;
		int idx = -1;

		for (unsigned i = 0; i < b->nmembers; i++) {
			struct kbal_member *m = &ms[b->first_member + i];

			if (!!(m->status & KBAL_ST_HOT_STANDBY) != standby ||
			    (m->status & KBAL_ST_DRAIN) || m->lbset != best_set ||
			    (tried && kbal_lb_was_tried(tried, b->first_member + i)) ||
			    !kbal_lb_usable(m, now))
				continue;
			m->lbstatus += m->loadfactor;
			total += m->loadfactor;
			if (!cand ||
			    method_load(b->lbmethod, m) < method_load(b->lbmethod, cand) ||
			    (method_load(b->lbmethod, m) == method_load(b->lbmethod, cand) &&
			     m->lbstatus > cand->lbstatus)) {
				cand = m;
				idx = b->first_member + i;
			}
		}
		cand->lbstatus -= total;
		return idx;
	}
	return -1;
}

/* Apache's find_route_worker(): the member of route, usable (a draining
 * one still takes its sticky requests); unusable, the member its redirect=
 * names, followed as far as the members go. -1: none; -2: the route's
 * member, unusable, with no usable redirection */
static int route_member(const struct kbal_balancer *b, const struct kbal_member *ms,
			const char *route, const struct kbal_lb_tried *tried, uint64_t now_ns)
{
	for (unsigned hop = 0; hop <= b->nmembers && route[0]; hop++) {
		const struct kbal_member *m = NULL;
		unsigned k = 0;

		for (unsigned i = 0; i < b->nmembers && !m; i++)
			if (!strncmp(ms[b->first_member + i].route, route, KBAL_ROUTE_LEN))
				m = &ms[k = b->first_member + i];
		if (!m)
			return hop ? -2 : -1;
		if (kbal_lb_usable(m, now_ns) && !(tried && kbal_lb_was_tried(tried, k)))
			return k;
		route = m->redirect;
	}
	return -2;
}

int kbal_lb_pick(struct kbal_balancer *b, struct kbal_member *ms, const char *route,
		 const struct kbal_lb_tried *tried, uint64_t now_ns, int *changed)
{
	int idx = -1;

	if (route && *route) {
		idx = route_member(b, ms, route, tried, now_ns);
		if (idx == -2 && (b->flags & KBAL_BF_NOFAILOVER))
			return -1;
	}
	if (idx < 0)
		idx = pick_by_method(b, ms, tried, now_ns);
	if (idx < 0)
		return -1;
	/* the kernel adds the requests it keeps to the same counter */
	__atomic_add_fetch(&ms[idx].elected, 1, __ATOMIC_RELAXED);
	/* Apache's BALANCER_ROUTE_CHANGED: a sticky balancer's request whose
	 * route names no usable member, or none; never without stickysession */
	*changed = b->sticky[0] && ms[idx].route[0] &&
		   (!route || strncmp(route, ms[idx].route, sizeof(ms[idx].route)) != 0);
	return idx;
}
