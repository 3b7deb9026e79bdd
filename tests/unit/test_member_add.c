// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * user/member_add.c on maps in memory (the pinned maps' layout, no BPF): a
 * member goes into its balancer's first free slot, disabled, and becomes a
 * member only when nmembers says so; a member already, no free slot, a slot
 * another add holds; free slots are no members for the walkers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "maps.h"
#include "member_add.h"
#include "unit.h"

struct fixture {
	struct kbal_meta meta;
	struct kbal_balancer bal[KBAL_MAX_BALANCERS];
	struct kbal_member mem[KBAL_MAX_MEMBERS];
	struct kbal_member_conf mem_conf[KBAL_MAX_MEMBERS];
	struct kbal_maps m;
};

/* two balancers: a (1 member, 2 free slots), b (1 member, none free) */
static struct fixture *setup(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->m.meta = &fx->meta;
	fx->m.balancers = fx->bal;
	fx->m.members = fx->mem;
	fx->m.members_conf = fx->mem_conf;
	fx->meta.nbalancers = 2;
	fx->meta.nmembers = 4;
	fx->bal[0] = (struct kbal_balancer){ .name = "a", .first_member = 0, .nmembers = 1,
					     .slots = 3, .timeout_ms = 7000 };
	fx->bal[1] = (struct kbal_balancer){ .name = "b", .first_member = 3, .nmembers = 1,
					     .slots = 1 };
	strcpy(fx->mem[0].url, "http://127.0.0.1:1");
	fx->mem[1].balancer = fx->mem[2].balancer = 0;
	strcpy(fx->mem[3].url, "http://127.0.0.1:4");
	fx->mem[3].balancer = 1;
	return fx;
}

static unsigned count_members(const struct kbal_maps *m)
{
	unsigned n = 0;

	kbal_for_each_member(m, i)
		n++;
	return n;
}

UNIT_TEST(member_add_into_free_slots)
{
	struct fixture *fx = setup();
	char msg[512];
	int k;

	ASSERT_EQ(count_members(&fx->m), 2, "free slots are no members");
	k = kbal_member_add(&fx->m, 0, "http://127.0.0.1:2/", 1, msg, sizeof(msg));
	ASSERT_EQ(k, 1, msg);
	ASSERT_STREQ(msg, "added to balancer://a: member http://127.0.0.1:2, disabled (as Apache "
		     "starts one); 1 free slot(s) left", "what the page says");
	ASSERT_EQ(fx->bal[0].nmembers, 2, "published");
	ASSERT_EQ(fx->bal[0].gen, 1, "generation bumped");
	ASSERT_EQ(fx->mem[1].status, KBAL_ST_DISABLED, "starts disabled");
	ASSERT_EQ(fx->mem[1].connect_timeout_ms, 0, "Timeout's, not the balancer's wait");
	ASSERT_EQ(fx->mem[1].port, 2, "port");
	ASSERT_EQ(fx->mem_conf[1].flags, KBAL_MC_ADDED, "marked added");
	ASSERT_EQ(fx->mem_conf[1].status, KBAL_ST_DISABLED, "started disabled");
	ASSERT_EQ(count_members(&fx->m), 3, "a member now");
	ASSERT_EQ(kbal_member_find(&fx->m, 0, "HTTP://127.0.0.1:2"), 1, "found, case aside");

	ASSERT_EQ(kbal_member_add(&fx->m, 0, "http://127.0.0.1:2", 1, msg, sizeof(msg)), -EEXIST,
		  "twice");
	ASSERT_HAS(msg, "nothing added to balancer://a: http://127.0.0.1:2 is a member already", msg);
	ASSERT_EQ(kbal_member_add(&fx->m, 1, "http://127.0.0.1:5", 1, msg, sizeof(msg)), -ENOSPC,
		  "no free slot");
	ASSERT_HAS(msg, "no free slot for http://127.0.0.1:5 (1 of 1 used", msg);
	ASSERT_EQ(kbal_member_add(&fx->m, 0, "ftp://x", 1, msg, sizeof(msg)), -EINVAL, "bad URL");
	ASSERT_HAS(msg, "only http://HOST[:PORT] members are supported", msg);
	/* another add holds the next slot (its URL's first byte set) */
	fx->mem[2].url[0] = 'h';
	ASSERT_EQ(kbal_member_add(&fx->m, 0, "http://127.0.0.1:3", 1, msg, sizeof(msg)), -EBUSY,
		  "a slot being filled");
	ASSERT_EQ(fx->bal[0].nmembers, 2, "nothing published by the refused adds");
	ASSERT_EQ(count_members(&fx->m), 3, "members after the refused adds");
	free(fx);
}
