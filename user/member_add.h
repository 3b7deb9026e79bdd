/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * member_add.h - a member added at run time, as Apache's balancer-manager
 * adds a worker (b_nwrkr with b_wyes=1): into a free slot that its
 * balancer's growth= left in kbal_members, disabled, with a
 * BalancerMember's defaults. The manager and kbalctl add call it on the
 * pinned maps; kbald sets up its side when it sees the member
 * (balancers_sync), a restart in place and BalancerPersist keep it.
 */
#ifndef KBAL_MEMBER_ADD_H
#define KBAL_MEMBER_ADD_H

#include <stddef.h>
#include "kbal_shared.h"

struct kbal_maps;

/* the member of balancer b whose URL is url (case and a trailing '/'
 * aside): its index, or -1 */
int kbal_member_find(const struct kbal_maps *m, unsigned b, const char *url);

/* mb (its url, address, values and counters) into balancer b's next free
 * slot, with mc as what it started with (kbal_members_conf), published
 * last and the balancer's generation bumped: its index, or -EEXIST (a
 * member has its URL), -ENOSPC (no free slot), -EBUSY (another add took
 * the slot this instant) */
int kbal_member_place(struct kbal_maps *m, unsigned b, const struct kbal_member *mb,
		      const struct kbal_member_conf *mc);

/* url parsed as a BalancerMember's (numeric: an IPv4 address only, no
 * lookup), added to balancer b disabled: its index, or -errno; either way
 * a sentence for the page, the log or the terminal in msg ("added: ..."
 * or "nothing added: why") */
int kbal_member_add(struct kbal_maps *m, unsigned b, const char *url, int numeric, char *msg,
		    size_t msglen);

#endif
