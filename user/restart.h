/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * restart.h - a restart in place, the daemon's side (restart.c); how
 * descriptors and records cross the exec is takeover.h.
 */
#ifndef KBAL_RESTART_H
#define KBAL_RESTART_H

#include <stdint.h>
#include "kbal_shared.h"

struct kbal_daemon;
struct kbal_takeover;

/* The old image's balancers and members, read from the maps before this
 * configuration overwrites them, and where each is now (-1: gone). */
struct takeover_snap {
	unsigned nbal, nmem;
	char bal[KBAL_MAX_BALANCERS][KBAL_NAME_LEN];
	unsigned bal_first[KBAL_MAX_BALANCERS], bal_used[KBAL_MAX_BALANCERS]; /* its members'
					* entries: the rest of its slots were free */
	struct kbal_member mem[KBAL_MAX_MEMBERS];
	struct kbal_member_conf mem_conf[KBAL_MAX_MEMBERS];  /* what the old image loaded */
	int16_t bal_now[KBAL_MAX_BALANCERS];
	int16_t mem_now[KBAL_MAX_MEMBERS];
};

/* SIGHUP / SIGUSR1: check the configuration (a bad one is refused, the old
 * one goes on), stop accepting, let the first exchanges under way end */
void restart_begin(struct kbal_daemon *d);

/* once a loop turn while restarting: exec the next image once no first
 * exchange is left (or the wait is over); returns only if that failed */
void restart_exec(struct kbal_daemon *d);

/* the new image, at init: the old maps' members before this configuration
 * is loaded, their counters carried to the new indexes after, then the
 * connections taken over (those that cannot be are closed) */
void restart_snapshot(struct kbal_daemon *d, struct takeover_snap *s);
void restart_carry_members(struct kbal_daemon *d, struct takeover_snap *s);
void restart_take_conns(struct kbal_daemon *d, struct kbal_takeover *t,
			const struct takeover_snap *s);

#endif
