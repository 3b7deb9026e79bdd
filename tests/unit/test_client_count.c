// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* test_client_count.c - connections per client address: counts that go up
 * and down in any order, addresses that collide in the table, removal in
 * the middle of a probe run, growth */
#include <stdlib.h>
#include "client_count.h"
#include "unit.h"

UNIT_TEST(client_count_against_a_reference)
{
	enum { ADDRS = 700 };
	static uint32_t ref[ADDRS];
	struct kbal_client_count t = { 0 };
	unsigned seed = 7;
	int bad = 0;

	for (int step = 0; step < 200000; step++) {
		unsigned k;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 8) % ADDRS;
		/* addresses spread and clustered: k and k * 64 share low bits */
		if ((seed >> 4) & 1 || !ref[k]) {
			if (kbal_client_count_inc(&t, (k + 1) * 64))
				bad++;
			ref[k]++;
		} else {
			kbal_client_count_dec(&t, (k + 1) * 64);
			ref[k]--;
		}
		if (step % 1000 == 0)
			for (unsigned i = 0; i < ADDRS; i++)
				bad += kbal_client_count_get(&t, (i + 1) * 64) != ref[i];
	}
	ASSERT_EQ(bad, 0, "counts as the reference's");
	for (unsigned i = 0; i < ADDRS; i++)
		while (ref[i]--)
			kbal_client_count_dec(&t, (i + 1) * 64);
	ASSERT_EQ(t.used, 0, "every address gone at zero");
	ASSERT_EQ(kbal_client_count_get(&t, 64), 0, "none left");
	kbal_client_count_dec(&t, 12345);   /* never counted: nothing happens */
	ASSERT_EQ(t.used, 0, "still none");
	kbal_client_count_fini(&t);
}
