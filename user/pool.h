/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pool.h - kept-alive connections to members, for one-request clients.
 *
 * A client that asks for one request only (Connection: close) has nothing
 * to splice: kbald copies its exchange. What costs is the connection to the
 * member: a handshake, an accept and a close on both sides for one request.
 * As Apache's mod_proxy does, kbald keeps that connection once the response
 * has ended and sends the next one-request client's request on it.
 *
 * Idle connections stay in kbald's epoll set: the member closing one (its
 * keep-alive timeout) closes it here at once. Each member's list is oldest
 * first; a take uses the newest, the one least likely to be timed out.
 */
#ifndef KBAL_POOL_H
#define KBAL_POOL_H

#include <stdint.h>
#include "kbal_shared.h"
#include "list.h"

/* epoll tag of an idle connection: its struct kbal_pooled | KBAL_POOL_TAG */
#define KBAL_POOL_TAG 4ull

struct kbal_pooled {
	struct kbal_list node;      /* in its member's list, or the dead list */
	int fd;
	uint16_t member;
	uint16_t lport;             /* local port, for the flow entry */
	uint8_t dead;               /* forgotten or closed: later events of the
				     * same epoll batch may still name it */
	uint64_t since;             /* CLOCK_MONOTONIC ns it went idle */
	uint64_t sent, recvd;       /* what earlier clients' exchanges carried on it
				     * (kbald's counts, added to the member as each
				     * ended): its socket's counters less these are
				     * the current owner's */
	uint64_t sock_recvd;        /* its socket's received count (tcp_info's, all
				     * it ever received: that of a connection the
				     * kernel carried too) as it went idle: where
				     * the next owner's bytes start (member_rcvd0) */
	void *owner;                /* lent: the connection using it, which gets its
				     * events (the loop entry stays the pool's: no
				     * epoll_ctl per request); NULL while idle */
};

struct kbal_pool {
	int epfd;
	struct kbal_member *members;                  /* kbal_members: idle, reused */
	struct kbal_list idle[KBAL_MAX_MEMBERS];     /* oldest first */
	uint16_t max[KBAL_MAX_MEMBERS];              /* 0: no reuse */
	uint64_t ttl_ns[KBAL_MAX_MEMBERS];
	struct kbal_list dead;                        /* freed after the batch */
	unsigned nidle;                               /* idle connections, all members */
};

void kbal_pool_init(struct kbal_pool *p, struct kbal_member *members);
void kbal_pool_set(struct kbal_pool *p, unsigned member, unsigned max, unsigned ttl_ms);

static inline int kbal_pool_enabled(const struct kbal_pool *p, unsigned member)
{
	return member < KBAL_MAX_MEMBERS && p->max[member];
}

/* Keep fd, whose last response has ended: 0, or -1 and the caller closes it. */
int kbal_pool_put(struct kbal_pool *p, unsigned member, int fd, uint16_t lport, uint64_t now,
		  uint64_t sent, uint64_t recvd);

/* The newest idle connection to member, lent to owner: its loop entry
 * stays the pool's, and the loop hands its events to owner (pc->owner);
 * NULL when none. The member may have closed it an instant ago: only a
 * request that may go twice takes one (member.c). */
struct kbal_pooled *kbal_pool_lend(struct kbal_pool *p, unsigned member, void *owner);

/* A lent connection whose response ended clean: idle again (0), or, when
 * the pool does not keep it (max=, the member out of service), forgotten
 * (-1: the caller closes pc's descriptor, which it still has). */
int kbal_pool_give_back(struct kbal_pool *p, struct kbal_pooled *pc, uint64_t now);

/* A lent connection that does not come back (its owner closes it, or
 * keeps it under a loop entry of its own): freed after this epoll batch. */
void kbal_pool_forget(struct kbal_pool *p, struct kbal_pooled *pc);

/* An event on an idle connection: the member sent something or hung up,
 * and it is closed; an EPOLLIN with nothing there (stale) is ignored. */
void kbal_pool_event(struct kbal_pool *p, struct kbal_pooled *pc, uint32_t events);

/* Close those idle past their ttl, and all of members out of service. */
void kbal_pool_expire(struct kbal_pool *p, unsigned nmembers, uint64_t now);

/* Out of descriptors: close every idle connection; how many. */
unsigned kbal_pool_release(struct kbal_pool *p);

void kbal_pool_free_dead(struct kbal_pool *p);
void kbal_pool_fini(struct kbal_pool *p);

#endif
