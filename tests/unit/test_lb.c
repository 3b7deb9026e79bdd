// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* lbmethods and sticky routing over kbal_members entries (lb.c). */
#include <stdio.h>
#include <string.h>
#include "lb.h"
#include "unit.h"

static struct kbal_member ms[8];
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
		ms[i].lbfactor = 100;
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
	ms[0].lbfactor = 300;
	for (int i = 0; i < 1000; i++) {
		int k = pick("", &changed);

		/* Apache's lbstatus walk for 3:1: 1 1 2 1, again and again */
		if (i < 8)
			ASSERT_EQ(k, i % 4 == 2 ? 1 : 0, "the order of a 3:1 cycle");
		n[k]++;
	}
	ASSERT_EQ(n[0], 750, "3:1 share of member 1 over 1,000");
	ASSERT_EQ(n[1], 250, "3:1 share of member 2 over 1,000");
	ASSERT_EQ(ms[0].lbstatus + ms[1].lbstatus, 0, "the sum of lbstatus never moves");
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
	ASSERT_EQ(pick("2", &changed), -2, "nofailover: 503 (no wait)");
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
	ASSERT_EQ(pick("1", &changed), -2, "a loop of unusable ones, nofailover: none");
	bal.flags = 0;
	ASSERT_EQ(pick("1", &changed), 1, "without nofailover: the lbmethod's pick");
	strcpy(ms[0].redirect, "9");
	bal.flags |= KBAL_BF_NOFAILOVER;
	ASSERT_EQ(pick("1", &changed), -2, "a redirect to no member, nofailover: none");
}

/* set_worker_param(): loadfactor=1.5 is lbfactor 150; the shares follow */
UNIT_TEST(lb_byrequests_decimal_factor)
{
	int changed, n[2] = {};

	ASSERT_EQ(kbal_lbfactor_parse("1.5"), 150, "1.5");
	ASSERT_EQ(kbal_lbfactor_parse("100"), 10000, "100");
	ASSERT_EQ(kbal_lbfactor_parse("1.15"), 114, "1.15: (int)(1.15 * 100.0), as Apache");
	ASSERT_EQ(kbal_lbfactor_parse("0.5"), -1, "below 1");
	ASSERT_EQ(kbal_lbfactor_parse("1e2"), -1, "not a plain number");
	ASSERT_EQ(kbal_lbfactor_parse("100.009"), 10000, "100.009: 10000, truncated");
	ASSERT_EQ(kbal_lbfactor_parse("101"), -1, "above 100");
	/* (an int's overflow before: UBSan in the configuration's fuzzer) */
	ASSERT_EQ(kbal_lbfactor_parse("11111111110"), -1, "far above 100");
	ASSERT_EQ(kbal_lbfactor_parse("9999999999999999"), -1, "16 digits");
	setup(2, KBAL_LB_BYREQUESTS);
	ms[0].lbfactor = 150;
	for (int i = 0; i < 1000; i++)
		n[pick("", &changed)]++;
	ASSERT_EQ(n[0], 600, "1.5:1 share of member 1");
	ASSERT_EQ(n[1], 400, "1.5:1 share of member 2");
}

/* proxy_balancer_pre_request(): a sticky pick gives every usable member
 * its lbfactor and takes the total from the member picked (no lbmethod of
 * Apache's has updatelbstatus), so requests without a route make up for it */
UNIT_TEST(lb_sticky_moves_lbstatus)
{
	int changed, seq[5];

	setup(3, KBAL_LB_BYREQUESTS);
	ms[2].status = KBAL_ST_DISABLED;   /* not usable: untouched */
	ms[2].lbstatus = 7;
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(pick("2", &changed), 1, "sticky to member 2");
	ASSERT_EQ(ms[0].lbstatus, 300, "member 1 gained its factor 3 times");
	ASSERT_EQ(ms[1].lbstatus, -300, "member 2 paid the total 3 times");
	ASSERT_EQ(ms[2].lbstatus, 7, "a disabled member is left alone");
	/* 400:-200, 300:-100, 200:0, 100:100 (equal: the first), then 0:200 */
	for (int i = 0; i < 5; i++)
		seq[i] = pick("", &changed);
	ASSERT_EQ(seq[0] + seq[1] + seq[2] + seq[3], 0, "member 1 catches up: 4 in a row");
	ASSERT_EQ(seq[4], 1, "then member 2 again");

	/* the same when the kernel kept the sticky requests: kbald weighs
	 * them in before its next pick */
	setup(2, KBAL_LB_BYREQUESTS);
	ms[1].sticky_kept = 3;
	ASSERT_EQ(pick("", &changed), 0, "kept sticky requests weighed in");
	ASSERT_EQ(ms[1].sticky_kept, 0, "and counted once");
	ASSERT_EQ(pick("", &changed), 0, "member 1 again");
	ASSERT_EQ(pick("", &changed), 0, "and again");
	ASSERT_EQ(pick("", &changed), 0, "and again (equal: the first)");
	ASSERT_EQ(pick("", &changed), 1, "then member 2");
}

/* ap_proxy_balancer_get_best_worker(): each lbset's hot standbys come
 * before the next lbset's members */
UNIT_TEST(lb_standby_per_set)
{
	int changed;

	setup(3, KBAL_LB_BYREQUESTS);
	ms[1].status = KBAL_ST_HOT_STANDBY;
	ms[2].lbset = 1;
	ASSERT_EQ(pick("", &changed), 0, "lbset 0's member");
	ms[0].status = KBAL_ST_STOPPED;
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pick("", &changed), 1, "lbset 0's standby before lbset 1");
	ms[1].status |= KBAL_ST_DISABLED;
	ASSERT_EQ(pick("", &changed), 2, "lbset 1 when lbset 0 has none");
	ms[1].status = KBAL_ST_HOT_STANDBY | KBAL_ST_DRAIN;
	ASSERT_EQ(pick("", &changed), 2, "a draining standby is skipped");
}

/* hot spares (R) stand in for the members of their set that are not
 * usable, one for one, in their order; standbys only when neither gave one */
UNIT_TEST(lb_spares)
{
	int changed, n[5] = {};

	setup(5, KBAL_LB_BYREQUESTS);
	ms[2].status = KBAL_ST_SPARE;
	ms[3].status = KBAL_ST_SPARE;
	ms[4].status = KBAL_ST_HOT_STANDBY;
	for (int i = 0; i < 6; i++)
		n[pick("", &changed)]++;
	ASSERT_EQ(n[0] * 10 + n[1], 33, "members 1 and 2 while both are up");
	ms[0].status = KBAL_ST_DISABLED;
	memset(n, 0, sizeof(n));
	for (int i = 0; i < 6; i++)
		n[pick("", &changed)]++;
	ASSERT_EQ(n[1] * 10 + n[2], 33, "the first spare stands in for member 1");
	ASSERT_EQ(n[3], 0, "one spare for one member");
	ms[1].status = KBAL_ST_DRAIN;   /* draining: not usable, a spare stands in */
	memset(n, 0, sizeof(n));
	for (int i = 0; i < 6; i++)
		n[pick("", &changed)]++;
	ASSERT_EQ(n[2] * 10 + n[3], 33, "both spares for two members");
	ms[2].status = ms[3].status = KBAL_ST_SPARE | KBAL_ST_STOPPED;
	ASSERT_EQ(pick("", &changed), 4, "the standby when neither members nor spares");
	ms[3].status = KBAL_ST_SPARE;
	ASSERT_EQ(pick("", &changed), 3, "a spare before the standby");
	/* a spare of another set stands in for none here */
	setup(3, KBAL_LB_BYREQUESTS);
	ms[0].status = KBAL_ST_STOPPED;
	ms[1].lbset = 1;
	ms[2].status = KBAL_ST_SPARE;
	ms[2].lbset = 1;
	ASSERT_EQ(pick("", &changed), 1, "lbset 1: its member, its spare idle");
	ASSERT_EQ(pick("", &changed), 1, "again");
}

/* force_recovery(): every member in error and forcerecovery On (Apache's
 * default): all out of error at once */
UNIT_TEST(lb_forcerecovery)
{
	int changed;
	uint32_t gen;

	setup(2, KBAL_LB_BYREQUESTS);
	kbal_lb_failed(&ms[0], 1000);
	kbal_lb_failed(&ms[1], 1000);
	gen = bal.gen;
	ASSERT_EQ(pick("", &changed), 0, "recovered at once");
	ASSERT_EQ(ms[0].status | ms[1].status, 0, "both out of error");
	ASSERT_TRUE(bal.gen != gen, "a status change: the kernel decides again");
	ASSERT_EQ(pick("", &changed), 1, "both in rotation");

	kbal_lb_failed(&ms[0], 1000);
	kbal_lb_failed(&ms[1], 1000);
	bal.flags = KBAL_BF_NO_RECOVERY;
	ASSERT_EQ(pick("", &changed), -1, "forcerecovery=Off: 503 until retry");
	ASSERT_EQ(kbal_lb_pick(&bal, ms, "", NULL, 1000 + 61000000000ull, &changed) >= 0, 1,
		  "after retry=");

	/* a member not in error, even disabled, means no recovery */
	setup(2, KBAL_LB_BYREQUESTS);
	kbal_lb_failed(&ms[0], 1000);
	ms[1].status = KBAL_ST_DISABLED;
	ASSERT_EQ(pick("", &changed), -1, "one disabled, one in error: 503");
	ASSERT_TRUE(ms[0].status & KBAL_ST_ERROR, "still in error");
}

/* is_best_bytraffic(): the fewest bytes each way, each divided by the
 * lbfactor; the first of equals; lbstatus untouched */
UNIT_TEST(lb_bytraffic)
{
	int changed;

	setup(3, KBAL_LB_BYTRAFFIC);
	ASSERT_EQ(pick("", &changed), 0, "all equal: the first");
	ASSERT_EQ(pick("", &changed), 0, "still the first");
	ASSERT_EQ(ms[0].lbstatus, 0, "no lbstatus");
	ms[0].bytes_to = 1000;
	ms[1].bytes_from = 1500;
	ms[1].lbfactor = 200;
	ms[2].bytes_to = 800;
	ASSERT_EQ(pick("", &changed), 1, "1500 / 2 is the least");
	ms[2].bytes_to = 700;
	ASSERT_EQ(pick("", &changed), 1, "equal (7 and 7): the first");
	ms[2].bytes_to = 600;
	ASSERT_EQ(pick("", &changed), 2, "600 now");
}

/* is_best_bybusyness(): the least busy, ties to the highest lbstatus */
UNIT_TEST(lb_bybusyness_ties)
{
	int changed, seq[4];

	setup(2, KBAL_LB_BYBUSYNESS);
	for (int i = 0; i < 4; i++)
		seq[i] = pick("", &changed);
	ASSERT_EQ(seq[0] * 1000 + seq[1] * 100 + seq[2] * 10 + seq[3], 101, "equal: alternate");
}
