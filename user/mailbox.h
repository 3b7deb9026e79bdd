/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * mailbox.h - the sockmap path's mailboxes (kbal_shared.h): sockets of
 * kbald's that the verdict queues a handed-back socket's bytes in while
 * its stream parser cannot stop yet; kbald reads them there before the
 * socket's own receive queue (takeback.c).
 */
#ifndef KBAL_MAILBOX_H
#define KBAL_MAILBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "kbal_shared.h"

struct kbal_daemon;
struct kbal_takeover;

struct kbal_mailboxes {
	int fd[KBAL_MBOX_POOL];        /* by slot */
	unsigned n;                    /* slots 0..n-1 exist */
	uint64_t *owner;               /* kbal_mbox_owner, mapped: the socket a
					* taken slot's bytes come from (0: free) */
	uint64_t drain_until[KBAL_MBOX_POOL]; /* a slot whose socket ended
					* before kbald read it: emptied until then,
					* free after (0: not draining) */
	struct kbal_conn *conn[KBAL_MBOX_POOL]; /* taken back, its bytes read
					* by the connection's exchange (exch_read(),
					* c->mboxed), whose events it wakes */
	uint8_t side[KBAL_MBOX_POOL];  /* ... before side's socket */
	uint32_t left[KBAL_MBOX_POOL]; /* ... bytes still to read */
};

/* the pool made, or a restart's taken over (t): 0 or -errno */
int mbox_init(struct kbal_daemon *d, struct kbal_takeover *t);
/* the socket (its cookie) whose bytes wait in slot, 0 if none; and the
 * slot's descriptor */
uint64_t mbox_owner(const struct kbal_daemon *d, unsigned slot);
int mbox_fd(const struct kbal_daemon *d, unsigned slot);
/* read from slot (kbal_sk_http.mbox - 1) as recv(MSG_DONTWAIT) does */
ssize_t mbox_read(struct kbal_daemon *d, unsigned slot, void *buf, size_t n);
/* are n bytes there to read? (1: yes) */
int mbox_holds(struct kbal_daemon *d, unsigned slot, size_t n);
/* kbald read all the verdict queued in slot: free again */
void mbox_release(struct kbal_daemon *d, unsigned slot);
/* slot's last left bytes are c's to read before side's socket, past the
 * take-back (exch_read()) */
void mbox_hand(struct kbal_daemon *d, unsigned slot, struct kbal_conn *c, int side,
	       uint32_t left);
/* the connection that reads slot (*side: before which socket), NULL none */
struct kbal_conn *mbox_reader(const struct kbal_daemon *d, unsigned slot, int *side);
/* c's bytes in a mailbox before side's socket: read as recv(MSG_DONTWAIT)
 * does; -2 (errno 0) when there are none */
ssize_t mbox_conn_read(struct kbal_conn *c, int side, void *buf, size_t n);
/* how many are left */
uint32_t mbox_conn_left(const struct kbal_conn *c, int side);
/* c read its mailboxes to their end: freed; c ends: its slots (read by its
 * exchange, or taken by its sockets) emptied, then freed */
void mbox_conn_step(struct kbal_daemon *d, struct kbal_conn *c);
void mbox_conn_close(struct kbal_daemon *d, struct kbal_conn *c);
/* slot's socket ended unread, bytes perhaps still coming: emptied for a
 * while, then free */
void mbox_abandon(struct kbal_daemon *d, unsigned slot);
/* a slot's readable event: 1 if it was a draining one's (emptied) */
int mbox_drain(struct kbal_daemon *d, unsigned slot);
/* each second or so: drains over freed, slots of sockets gone forgotten
 * (gone(cookie) says whether kbald still has the socket) */
void mbox_tick(struct kbal_daemon *d, int (*gone)(struct kbal_daemon *d, uint64_t cookie));
/* is a slot taken or draining? (1: it needs mbox_tick()) */
int mbox_taken(const struct kbal_daemon *d);
/* a restart: the pool's descriptors into t */
void mbox_export(const struct kbal_daemon *d, struct kbal_takeover *t);
void mbox_fini(struct kbal_daemon *d);

#endif
