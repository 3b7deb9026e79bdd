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

/* addr's connections now */
uint32_t kbal_client_count_get(const struct kbal_client_count *t, uint32_t addr);
/* one more for addr: 0, or -ENOMEM (not counted) */
int kbal_client_count_inc(struct kbal_client_count *t, uint32_t addr);
/* one less */
void kbal_client_count_dec(struct kbal_client_count *t, uint32_t addr);
void kbal_client_count_fini(struct kbal_client_count *t);

#endif
