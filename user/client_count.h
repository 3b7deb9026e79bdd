/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * client_count.h - how many connections each client address holds, so
 * that KbalMaxConnectionsPerClient can refuse one more (listener.c): a
 * count per IPv4 address, up at a connection's start, down at its end.
 */
#ifndef KBAL_CLIENT_COUNT_H
#define KBAL_CLIENT_COUNT_H

#include <stdint.h>

struct kbal_client_slot {
	uint32_t addr;                    /* network order; 0: free (0.0.0.0 connects to no one) */
	uint32_t n;
};

struct kbal_client_count {
	struct kbal_client_slot *slot;
	uint32_t mask;                    /* slots - 1, a power of two */
	uint32_t used;
};

/* the key of a 16-byte address (inaddr.h): IPv4's own, an IPv6 one's
 * FNV-1a hash (two may share a count, one chance in 2^32: the table stays
 * one of 8-byte slots, as for IPv4) */
static inline uint32_t kbal_client_key(const uint8_t *a16)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint32_t h = 2166136261u;

	if (!__builtin_memcmp(a16, mapped, 12)) {
		__builtin_memcpy(&h, a16 + 12, 4);
		return h;
	}
	for (int i = 0; i < 16; i++)
		h = (h ^ a16[i]) * 16777619u;
	return h ?: 1;
}

/* addr's connections now */
uint32_t kbal_client_count_get(const struct kbal_client_count *t, uint32_t addr);
/* one more for addr: 0, or -ENOMEM (not counted) */
int kbal_client_count_inc(struct kbal_client_count *t, uint32_t addr);
/* one less */
void kbal_client_count_dec(struct kbal_client_count *t, uint32_t addr);
void kbal_client_count_fini(struct kbal_client_count *t);

#endif
