// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* lbmethods and sticky routing over kbal_members entries (lb.c). */
#include <stdio.h>
#include <string.h>
#include "lb.h"
#include "unit.h"

static struct kbal_member ms[4];
static struct kbal_balancer bal;

static void setup(unsigned n, unsigned method)
{
	memset(ms, 0, sizeof(ms));
	memset(&bal, 0, sizeof(bal));
	bal.nmembers = n;
	bal.lbmethod = method;
	strcpy(bal.sticky, "ROUTEID");
	for (unsigned i = 0; i < n; i++) {
		snprintf(ms[i].route, sizeof(ms[i].route), "%u", i + 1);
		ms[i].loadfactor = 1;
		ms[i].retry_sec = 60;
	}
}

static int pick(const char *route, int *changed)
{
	return kbal_lb_pick(&bal, ms, route, NULL, 1000, changed);
}

UNIT_TEST(lb_byrequests_alternates)
{
	int changed, seq[6];

	setup(2, KBAL_LB_BYREQUESTS);
	for (int i = 0; i < 6; i++)
		seq[i] = pick("", &changed);
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(seq[i], i % 2, "alternation");
	ASSERT_EQ(ms[0].elected, 3, "elected 1");
	ASSERT_EQ(ms[1].elected, 3, "elected 2");
	ASSERT_TRUE(changed, "no cookie: route changed");
}

UNIT_TEST(lb_byrequests_weighted)
{
	int changed, n[2] = {};

	setup(2, KBAL_LB_BYREQUESTS);
	ms[0].loadfactor = 3;
	for (int i = 0; i < 400; i++)
		n[pick("", &changed)]++;
	ASSERT_EQ(n[0], 300, "3:1 share of member 1");
	ASSERT_EQ(n[1], 100, "3:1 share of member 2");
}

UNIT_TEST(lb_sticky)
{
	int changed = -1;

	setup(2, KBAL_LB_BYREQUESTS);
	ASSERT_EQ(pick("2", &changed), 1, "sticky route 2");
	ASSERT_EQ(changed, 0, "same route: no cookie");
	ASSERT_EQ(pick("2", &changed), 1, "sticky again");
	ASSERT_EQ(ms[1].elected, 2, "elected counts sticky requests");
	/* unknown route: the lbmethod picks and the route changes */
	pick("9", &changed);
	ASSERT_EQ(changed, 1, "unknown route changes");
}

UNIT_TEST(lb_route_changed_only_with_stickysession)
{
	int changed = -1;

	/* Apache sets BALANCER_ROUTE_CHANGED only on a sticky balancer */
	setup(2, KBAL_LB_BYREQUESTS);
	bal.sticky[0] = '\0';
	pick("", &changed);
	ASSERT_EQ(changed, 0, "no stickysession, no route: unchanged");
	pick("9", &changed);
	ASSERT_EQ(changed, 0, "no stickysession, an unknown route: unchanged");
}

UNIT_TEST(lb_sticky_member_unusable)
{
	int changed;

	setup(2, KBAL_LB_BYREQUESTS);
	ms[1].status = KBAL_ST_DISABLED;
	ASSERT_EQ(pick("2", &changed), 0, "disabled sticky member: another");
	ASSERT_EQ(changed, 1, "new cookie");
	ms[1].status = 0;
	kbal_lb_failed(&ms[1], 1000);
	ASSERT_TRUE(ms[1].status & KBAL_ST_ERROR, "error state");
	ASSERT_EQ(ms[1].errors, 1, "error counted");
	ASSERT_EQ(pick("2", &changed), 0, "member in error: another");
	/* after retry_sec the member is tried again */
	ASSERT_EQ(kbal_lb_pick(&bal, ms, "2", NULL, 1000 + 61000000000ull, &changed), 1,
		  "retried after retry");
	bal.flags = KBAL_BF_NOFAILOVER;
	ms[1].status = KBAL_ST_STOPPED;
	ASSERT_EQ(pick("2", &changed), -1, "nofailover: 503");
}

UNIT_TEST(lb_standby_and_sets)
{
	int changed;
	struct kbal_lb_tried tried = {};

	setup(3, KBAL_LB_BYREQUESTS);
	ms[2].status = KBAL_ST_HOT_STANDBY;
	for (int i = 0; i < 4; i++)
		ASSERT_TRUE(pick("", &changed) != 2, "standby unused while others are up");
	ms[0].status = ms[1].status = KBAL_ST_STOPPED;
	ASSERT_EQ(pick("", &changed), 2, "standby when none else");
	ms[2].status = KBAL_ST_STOPPED;
	ASSERT_EQ(pick("", &changed), -1, "none usable");

	setup(2, KBAL_LB_BYREQUESTS);
	ms[1].lbset = 1;
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pick("", &changed), 0, "lower lbset first");
	kbal_lb_mark(&tried, 0);
	ASSERT_EQ(kbal_lb_pick(&bal, ms, "", &tried, 1000, &changed), 1, "tried member skipped");
}

UNIT_TEST(lb_bybusyness)
{
	int changed;

	setup(2, KBAL_LB_BYBUSYNESS);
	ms[0].busy = 5;
	ASSERT_EQ(pick("", &changed), 1, "least busy");
	ms[1].busy = 9;
	ASSERT_EQ(pick("", &changed), 0, "least busy again");
}

/* Apache's route redirection (find_route_worker()): a sticky request for
 * an unusable member goes to the member its redirect= names, followed on,
 * with BALANCER_ROUTE_CHANGED; a usable member keeps its own requests */
UNIT_TEST(lb_route_redirect)
{
	int changed = -1;

	setup(4, KBAL_LB_BYREQUESTS);
	strcpy(ms[0].redirect, "3");
	ASSERT_EQ(pick("1", &changed), 0, "member 1 usable: its own");
	ASSERT_EQ(changed, 0, "no change");
	ms[0].status = KBAL_ST_DISABLED;
	ASSERT_EQ(pick("1", &changed), 2, "member 1 disabled: its redirect, member 3");
	ASSERT_EQ(changed, 1, "route changed");
	ms[2].status = KBAL_ST_STOPPED;
	strcpy(ms[2].redirect, "4");
	ASSERT_EQ(pick("1", &changed), 3, "member 3 stopped too: its redirect, member 4");
	strcpy(ms[3].redirect, "1");
	ms[3].status = KBAL_ST_DISABLED;
	bal.flags |= KBAL_BF_NOFAILOVER;
	ASSERT_EQ(pick("1", &changed), -1, "a loop of unusable ones, nofailover: none");
	bal.flags = 0;
	ASSERT_EQ(pick("1", &changed), 1, "without nofailover: the lbmethod's pick");
	strcpy(ms[0].redirect, "9");
	bal.flags |= KBAL_BF_NOFAILOVER;
	ASSERT_EQ(pick("1", &changed), -1, "a redirect to no member, nofailover: none");
}
