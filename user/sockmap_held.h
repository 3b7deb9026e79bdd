/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* sockmap_held.h - the sockmap path's held directions (sockmap_held.c),
 * for the connection's side of the path (handover_sockmap.c) */
#ifndef KBAL_SOCKMAP_HELD_H
#define KBAL_SOCKMAP_HELD_H

#include <stdint.h>

struct kbal_daemon;
struct kbal_conn;
struct kbal_sk_http;

/* the socket's kbal_sk_http entry: 0, or -errno (none: taken back) */
int sm_entry(const struct kbal_daemon *d, uint64_t cookie, struct kbal_sk_http *st);
/* direction dir of c is held: listed (-ENOMEM: the caller ends c) */
int held_start(struct kbal_daemon *d, struct kbal_conn *c, int dir);

/* handover_sockmap.c: what a spliced direction's destination must have
 * sent, on top of its base, for the FIN its source sent to go on (recvd:
 * what the source received, conn_received()) */
uint64_t fin_goal_part(const struct kbal_conn *c, int dir, uint64_t recvd);
/* is dir held by the verdict though no report said so? listed if so */
void held_found(struct kbal_daemon *d, struct kbal_conn *c, int dir);
/* c's held directions copied as far as they go; -1 when c was closed */
int held_run(struct kbal_daemon *d, struct kbal_conn *c, int *moved);
/* every held connection's, each ms */
void held_run_all(struct kbal_daemon *d);
/* kbald still has held bytes of c to copy (what is handed back waits) */
int held_busy(const struct kbal_daemon *d, const struct kbal_conn *c);
/* c no longer held */
void held_end(struct kbal_daemon *d, struct kbal_conn *c);
/* a restart: 1 while bytes kbald wrote are still on a source's queue */
int held_settle(struct kbal_daemon *d);
void held_fini(struct kbal_daemon *d);

#endif
