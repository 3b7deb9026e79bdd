// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pool.c - kept-alive connections to members (see pool.h). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "pool.h"
#include "splice_sockmap.h"

/* a member in these states gets no request: its idle connections go */
#define OUT_OF_SERVICE (KBAL_ST_DISABLED | KBAL_ST_STOPPED | KBAL_ST_ERROR)

#define pooled_of(n) kbal_container_of(n, struct kbal_pooled, node)

void kbal_pool_init(struct kbal_pool *p, struct kbal_member *members)
{
	p->epfd = -1;
	p->members = members;
	for (unsigned i = 0; i < KBAL_MAX_MEMBERS; i++) {
		list_init(&p->idle[i]);
		p->max[i] = 0;
	}
	p->nidle = 0;
	list_init(&p->dead);
}

void kbal_pool_set(struct kbal_pool *p, unsigned member, unsigned max, unsigned ttl_ms)
{
	if (member >= KBAL_MAX_MEMBERS)
		return;
	p->max[member] = max > UINT16_MAX ? UINT16_MAX : max;
	p->ttl_ns[member] = ttl_ms * 1000000ull;
}

/* off its list, closed, and freed after this epoll batch */
static void drop(struct kbal_pool *p, struct kbal_pooled *pc, int close_fd)
{
	list_del(&pc->node);
	p->nidle--;
	if (p->members[pc->member].idle)
		p->members[pc->member].idle--;
	if (close_fd)
		close(pc->fd);
	pc->dead = 1;
	list_add_tail(&p->dead, &pc->node);
}

int kbal_pool_put(struct kbal_pool *p, unsigned member, int fd, uint16_t lport, uint64_t now,
		  uint64_t sent, uint64_t recvd)
{
	struct kbal_member *m = &p->members[member];
	struct kbal_pooled *pc;
	/* EPOLLOUT for the connections it is lent to; an idle one ignores
	 * it (daemon.c) */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };

	if (!kbal_pool_enabled(p, member) || m->idle >= p->max[member] ||
	    m->status & OUT_OF_SERVICE)
		return -1;
	pc = malloc(sizeof(*pc));
	if (!pc)
		return -1;
	pc->fd = fd;
	pc->member = member;
	pc->lport = lport;
	pc->dead = 0;
	pc->since = now;
	pc->sent = sent;
	pc->recvd = recvd;
	/* read once here, not at each lend (a syscall a request): recvd is
	 * kbald's reads, and a connection the kernel carried, then gave back
	 * with an answer owed, received more. (None on a socket that is no
	 * TCP one, the unit tests': 0) */
	if (kbal_sock_received(fd, &pc->sock_recvd))
		pc->sock_recvd = 0;
	pc->owner = NULL;
	ev.data.u64 = (uint64_t)(uintptr_t)pc | KBAL_POOL_TAG;
	if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev)) {
		free(pc);
		return -1;
	}
	list_add_tail(&p->idle[member], &pc->node);
	p->nidle++;
	m->idle++;
	return 0;
}

struct kbal_pooled *kbal_pool_lend(struct kbal_pool *p, unsigned member, void *owner)
{
	struct kbal_pooled *pc;

	if (!kbal_pool_enabled(p, member) || !list_linked(&p->idle[member]))
		return NULL;
	/* No peek at it: a hang-up still on its way to our epoll set shows as
	 * an EOF before any answer, and the caller sends the request again. */
	pc = pooled_of(p->idle[member].prev);
	list_del(&pc->node);
	p->nidle--;
	if (p->members[member].idle)
		p->members[member].idle--;
	p->members[member].reused++;
	pc->owner = owner;
	return pc;
}

int kbal_pool_give_back(struct kbal_pool *p, struct kbal_pooled *pc, uint64_t now)
{
	struct kbal_member *m = &p->members[pc->member];

	if (!kbal_pool_enabled(p, pc->member) || m->idle >= p->max[pc->member] ||
	    m->status & OUT_OF_SERVICE) {
		kbal_pool_forget(p, pc);
		return -1;
	}
	pc->owner = NULL;
	pc->since = now;
	list_add_tail(&p->idle[pc->member], &pc->node);
	p->nidle++;
	m->idle++;
	return 0;
}

void kbal_pool_forget(struct kbal_pool *p, struct kbal_pooled *pc)
{
	pc->owner = NULL;
	pc->dead = 1;
	list_add_tail(&p->dead, &pc->node);
}

void kbal_pool_event(struct kbal_pool *p, struct kbal_pooled *pc, uint32_t events)
{
	char c;

	if (pc->dead || pc->owner)
		return;
	/* EPOLLIN alone may be stale: collected in the epoll batch in which
	 * the connection's last owner read that answer's end and gave it back
	 * (the owner's other event came first). Only a byte or an end that is
	 * really there means the member spoke out of turn, or left */
	if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
	    recv(pc->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	drop(p, pc, 1);
}

void kbal_pool_expire(struct kbal_pool *p, unsigned nmembers, uint64_t now)
{
	for (unsigned i = 0; i < nmembers && i < KBAL_MAX_MEMBERS; i++) {
		int out = p->members[i].status & OUT_OF_SERVICE;

		while (list_linked(&p->idle[i])) {
			struct kbal_pooled *pc = pooled_of(p->idle[i].next);

			if (!out && now - pc->since < p->ttl_ns[i])
				break;
			drop(p, pc, 1);
		}
	}
}

unsigned kbal_pool_release(struct kbal_pool *p)
{
	unsigned n = 0;

	for (unsigned i = 0; i < KBAL_MAX_MEMBERS; i++)
		for (; list_linked(&p->idle[i]); n++)
			drop(p, pooled_of(p->idle[i].next), 1);
	return n;
}

void kbal_pool_free_dead(struct kbal_pool *p)
{
	while (list_linked(&p->dead)) {
		struct kbal_list *n = p->dead.next;

		list_del(n);
		free(pooled_of(n));
	}
}

void kbal_pool_fini(struct kbal_pool *p)
{
	kbal_pool_release(p);
	kbal_pool_free_dead(p);
}
