// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * handover_copy.c - the copy path: kbald goes on copying a direction with
 * the first exchange's buffers (conn.c's driver does the reads and
 * writes). It takes what the other paths pass on: KbalSplice off, a
 * one-request connection's small rest, a socket the kernel refused.
 */
#include "conn-t.h"
#include "handover.h"

static int copy_take(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	(void)d;
	c->phase[dir] = P_RELAY;
	return HANDOVER_MOVED;
}

const struct kbal_handover_ops kbal_handover_copy = {
	.name = "copy",
	.take = copy_take,
};
