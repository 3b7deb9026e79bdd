// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * client_count.c - connections per client address (client_count.h): an
 * open-addressing table with linear probing, no tombstones (an entry that
 * goes back to zero is removed by shifting its run back), grown at half
 * full.
 */
#include <errno.h>
#include <stdlib.h>
#include "client_count.h"

static uint32_t slot_of(uint32_t addr, uint32_t mask)
{
	uint32_t h = addr * 0x9e3779b1u;   /* Fibonacci hashing */

	return (h ^ (h >> 16)) & mask;
}

static int grow(struct kbal_client_count *t)
{
	uint32_t nmask = t->slot ? t->mask * 2 + 1 : 63;
	struct kbal_client_slot *ns = calloc((size_t)nmask + 1, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; t->slot && i <= t->mask; i++) {
		uint32_t j;

		if (!t->slot[i].addr)
			continue;
		for (j = slot_of(t->slot[i].addr, nmask); ns[j].addr; j = (j + 1) & nmask)
			;
		ns[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = ns;
	t->mask = nmask;
	return 0;
}

static struct kbal_client_slot *find(const struct kbal_client_count *t, uint32_t addr)
{
	if (!t->slot)
		return NULL;
	for (uint32_t j = slot_of(addr, t->mask); t->slot[j].addr; j = (j + 1) & t->mask)
		if (t->slot[j].addr == addr)
			return &t->slot[j];
	return NULL;
}

uint32_t kbal_client_count_get(const struct kbal_client_count *t, uint32_t addr)
{
	const struct kbal_client_slot *s = find(t, addr);

	return s ? s->n : 0;
}

int kbal_client_count_inc(struct kbal_client_count *t, uint32_t addr)
{
	struct kbal_client_slot *s = find(t, addr);
	uint32_t j;

	if (s) {
		s->n++;
		return 0;
	}
	if (!addr)
		return 0;
	if ((!t->slot || (t->used + 1) * 2 > t->mask + 1) && grow(t))
		return -ENOMEM;
	for (j = slot_of(addr, t->mask); t->slot[j].addr; j = (j + 1) & t->mask)
		;
	t->slot[j] = (struct kbal_client_slot){ .addr = addr, .n = 1 };
	t->used++;
	return 0;
}

void kbal_client_count_dec(struct kbal_client_count *t, uint32_t addr)
{
	struct kbal_client_slot *s = find(t, addr);
	uint32_t i, j;

	if (!s || --s->n)
		return;
	/* remove: shift back the entries of the run that may sit past it */
	i = (uint32_t)(s - t->slot);
	t->slot[i].addr = 0;
	t->used--;
	for (j = (i + 1) & t->mask; t->slot[j].addr; j = (j + 1) & t->mask) {
		uint32_t home = slot_of(t->slot[j].addr, t->mask);

		/* j's entry may move to i when i lies cyclically in [home, j) */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->slot[i] = t->slot[j];
			t->slot[j].addr = 0;
			i = j;
		}
	}
}

void kbal_client_count_fini(struct kbal_client_count *t)
{
	free(t->slot);
	t->slot = NULL;
	t->mask = t->used = 0;
}
