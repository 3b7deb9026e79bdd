// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * lb.c - mod_lbmethod_byrequests / bytraffic / bybusyness over proxy_util's
 * ap_proxy_balancer_get_best_worker() (lbsets, hot spares, hot standbys),
 * and mod_proxy_balancer's force_recovery() and find_session_route(), on
 * kbal_members entries. Apache 2.4's sources are the reference: each step
 * names the function it follows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lb.h"

int kbal_lb_usable(const struct kbal_member *m, uint64_t now_ns)
{
	if (m->status & (KBAL_ST_DISABLED | KBAL_ST_STOPPED | KBAL_ST_HC_FAIL))
		return 0;
	/* Apache retries a worker in error once `retry` has passed (at once
	 * with "ignore errors"); the E bit is cleared when a connect
	 * succeeds (see member.c) */
	if ((m->status & KBAL_ST_ERROR) && !(m->status & KBAL_ST_IGNORE_ERR) &&
	    now_ns < m->error_until_ns)
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

/* What an lbmethod's is_best() callback keeps across one pick. */
struct best {
	unsigned method;
	struct kbal_member *m;
	int idx;
	int64_t total;          /* byrequests, bybusyness: the factors handed out */
	uint64_t min_traffic;   /* bytraffic */
};

/*
 * is_best_byrequests(), is_best_bybusyness(), is_best_bytraffic(): called
 * for each candidate in Apache's order, the first of equals wins.
 * byrequests and bybusyness hand each candidate its lbfactor; bytraffic
 * weighs the bytes each way, each divided by the lbfactor.
 */
static void consider(struct best *bs, struct kbal_member *m, int idx)
{
	int better;

	if (bs->method == KBAL_LB_BYTRAFFIC) {
		uint32_t lf = m->lbfactor ?: 100;
		uint64_t traffic = m->bytes_to / lf + m->bytes_from / lf;

		better = !bs->m || traffic < bs->min_traffic;
		if (better)
			bs->min_traffic = traffic;
	} else {
		m->lbstatus += m->lbfactor;
		bs->total += m->lbfactor;
		if (bs->method == KBAL_LB_BYBUSYNESS)
			better = !bs->m || m->busy < bs->m->busy ||
				 (m->busy == bs->m->busy && m->lbstatus > bs->m->lbstatus);
		else
			better = !bs->m || m->lbstatus > bs->m->lbstatus;
	}
	if (better) {
		bs->m = m;
		bs->idx = idx;
	}
}

/*
 * ap_proxy_balancer_get_best_worker(): lbsets from 0 up, the first that
 * gives a member wins. In a set: its usable members are weighed; as many
 * of its usable hot spares (R) as it has members that are not usable
 * (disabled, stopped, in error, draining, tried already) are weighed after
 * them, in order; its hot standbys (H) only when neither gave one. A
 * member both R and H is a spare; a draining spare or standby is skipped.
 */
static int best_worker(struct kbal_balancer *b, struct kbal_member *ms,
		       const struct kbal_lb_tried *tried, uint64_t now)
{
	uint16_t spares[KBAL_MAX_MEMBERS], standbys[KBAL_MAX_MEMBERS];
	struct best bs = { .method = b->lbmethod, .idx = -1 };
	unsigned next;

	/* the sets its members use, lowest first: an empty one gives nothing,
	 * and one pass finds the next (not lbset 0 to 99 one by one) */
	for (unsigned set = 0; !bs.m && set != ~0u; set = next) {
		unsigned unusable = 0, nspares = 0, nstandbys = 0;

		next = ~0u;
		for (unsigned i = 0; i < b->nmembers; i++) {
			unsigned k = b->first_member + i;
			struct kbal_member *m = &ms[k];
			int usable;

			if (m->lbset > set && m->lbset < next)
				next = m->lbset;
			if (m->lbset != set)
				continue;
			if (m->status & KBAL_ST_DRAIN) {
				if (!(m->status & (KBAL_ST_SPARE | KBAL_ST_HOT_STANDBY)))
					unusable++;
				continue;
			}
			usable = kbal_lb_usable(m, now) && !(tried && kbal_lb_was_tried(tried, k));
			if (m->status & KBAL_ST_SPARE) {
				if (usable)
					spares[nspares++] = k;
			} else if (m->status & KBAL_ST_HOT_STANDBY) {
				if (usable)
					standbys[nstandbys++] = k;
			} else if (usable) {
				consider(&bs, m, k);
			} else {
				unusable++;
			}
		}
		for (unsigned i = 0; i < nspares && i < unusable; i++)
			consider(&bs, &ms[spares[i]], spares[i]);
		for (unsigned i = 0; !bs.m && i < nstandbys; i++)
			consider(&bs, &ms[standbys[i]], standbys[i]);
	}
	/* find_best_byrequests(), find_best_bybusyness(): the winner pays
	 * back what was handed out */
	if (bs.m)
		bs.m->lbstatus -= bs.total;
	return bs.idx;
}

/*
 * proxy_balancer_pre_request()'s update for a sticky pick (no lbmethod of
 * Apache's has an updatelbstatus()): every usable member of the balancer,
 * whatever its lbset, spare or standby, gains its lbfactor n times, and the
 * member picked pays back the total n times.
 */
static void sticky_weigh(struct kbal_balancer *b, struct kbal_member *ms, unsigned idx,
			 uint64_t n, uint64_t now)
{
	int64_t total = 0;

	for (unsigned i = 0; i < b->nmembers; i++) {
		struct kbal_member *m = &ms[b->first_member + i];

		if (!kbal_lb_usable(m, now))
			continue;
		m->lbstatus += (int64_t)m->lbfactor * (int64_t)n;
		total += m->lbfactor;
	}
	ms[idx].lbstatus -= total * (int64_t)n;
}

void kbal_lb_weigh_kept(struct kbal_balancer *b, struct kbal_member *ms, uint64_t now_ns)
{
	for (unsigned i = 0; i < b->nmembers; i++) {
		struct kbal_member *m = &ms[b->first_member + i];
		uint64_t n;

		if (!__atomic_load_n(&m->sticky_kept, __ATOMIC_RELAXED))
			continue;
		n = __atomic_exchange_n(&m->sticky_kept, 0, __ATOMIC_RELAXED);
		if (n)
			sticky_weigh(b, ms, b->first_member + i, n, now_ns);
	}
}

/*
 * force_recovery(): with every member in error, still in error once its
 * retry is looked at (a stopped one is not retried), forcerecovery=On
 * (Apache's default) takes them all out of error at once. A member that is
 * not in error, even disabled or stopped, means no recovery. 1: recovered.
 */
static int force_recovery(struct kbal_balancer *b, struct kbal_member *ms, uint64_t now)
{
	if (!b->nmembers)
		return 0;
	for (unsigned i = 0; i < b->nmembers; i++) {
		const struct kbal_member *m = &ms[b->first_member + i];

		if (!(m->status & KBAL_ST_ERROR))
			return 0;
		if (!(m->status & KBAL_ST_STOPPED) &&
		    ((m->status & KBAL_ST_IGNORE_ERR) || now >= m->error_until_ns))
			return 0;
	}
	if (b->flags & KBAL_BF_NO_RECOVERY)
		return 0;
	for (unsigned i = 0; i < b->nmembers; i++)
		ms[b->first_member + i].status &= ~KBAL_ST_ERROR;
	/* a status changed: requests decided before are not kept (decide.h) */
	__atomic_add_fetch(&b->gen, 1, __ATOMIC_RELEASE);
	return 1;
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

/* find_best_worker(): the lbmethod's pick, counted */
static int pick_best(struct kbal_balancer *b, struct kbal_member *ms,
		     const struct kbal_lb_tried *tried, uint64_t now_ns)
{
	int idx = best_worker(b, ms, tried, now_ns);

	/* the kernel adds the requests it keeps to the same counter */
	if (idx >= 0)
		__atomic_add_fetch(&ms[idx].elected, 1, __ATOMIC_RELAXED);
	return idx;
}

/* Apache's BALANCER_ROUTE_CHANGED: a sticky balancer's request whose
 * route names no usable member, or none; never without stickysession */
static int route_changed(const struct kbal_balancer *b, const struct kbal_member *m,
			 const char *route)
{
	return b->sticky[0] && m->route[0] &&
	       (!route || strncmp(route, m->route, sizeof(m->route)) != 0);
}

int kbal_lb_pick(struct kbal_balancer *b, struct kbal_member *ms, const char *route,
		 const struct kbal_lb_tried *tried, uint64_t now_ns, int *changed)
{
	int idx = -1;

	kbal_lb_weigh_kept(b, ms, now_ns);
	force_recovery(b, ms, now_ns);
	if (route && *route && b->sticky[0]) {
		idx = route_member(b, ms, route, tried, now_ns);
		if (idx == -2 && (b->flags & KBAL_BF_NOFAILOVER))
			return -2;
		if (idx >= 0) {
			sticky_weigh(b, ms, idx, 1, now_ns);
			__atomic_add_fetch(&ms[idx].elected, 1, __ATOMIC_RELAXED);
		}
	}
	if (idx < 0)
		idx = pick_best(b, ms, tried, now_ns);
	if (idx < 0)
		return -1;
	*changed = route_changed(b, &ms[idx], route);
	return idx;
}

int kbal_lb_pick_best(struct kbal_balancer *b, struct kbal_member *ms, const char *route,
		      const struct kbal_lb_tried *tried, uint64_t now_ns, int *changed)
{
	int idx;

	kbal_lb_weigh_kept(b, ms, now_ns);
	idx = pick_best(b, ms, tried, now_ns);
	if (idx >= 0)
		*changed = route_changed(b, &ms[idx], route);
	return idx;
}

int kbal_lbfactor_parse(const char *s)
{
	const char *p = s;
	double v;
	int ival;

	/* digits, then '.' and digits: what Apache's atof() reads of the
	 * forms its documentation gives (anything else is refused here) */
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s)
		return -1;
	if (*p == '.' && p[1] >= '0' && p[1] <= '9')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p || p - s > 16)
		return -1;
	/* set_worker_param(): ival = fval * 100.0, truncated as Apache's */
	v = strtod(s, NULL);
	if (v >= 101.0)
		return -1;   /* refused there too (its int overflows: x86's INT_MIN) */
	ival = (int)(v * 100.0);
	return ival >= 100 && ival <= 10000 ? ival : -1;
}

const char *kbal_lbfactor_str(unsigned lf, char *buf, size_t len)
{
	if (lf % 100 == 0)
		snprintf(buf, len, "%u", lf / 100);
	else if (lf % 10 == 0)
		snprintf(buf, len, "%u.%u", lf / 100, lf % 100 / 10);
	else
		snprintf(buf, len, "%u.%02u", lf / 100, lf % 100);
	return buf;
}
