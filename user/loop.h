/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * loop.h - kbald's event loop: one epoll set, edge-triggered sockets, and
 * a handler per kind of descriptor. The loop knows nothing of what the
 * handlers do.
 *
 * An entry names its handler by a tag in the low three bits of its epoll
 * data, next to a pointer (8-byte aligned) or a small index: a connection
 * is registered twice, once per socket, the tag telling which side.
 */
#ifndef KBAL_LOOP_H
#define KBAL_LOOP_H

#include <stdint.h>

enum kbal_tag {
	KBAL_TAG_CLIENT     = 0,   /* a connection's client-side socket */
	KBAL_TAG_MEMBER     = 1,   /* its member-side socket */
	KBAL_TAG_LISTENER   = 2,   /* a listener, by index */
	KBAL_TAG_SIGNAL     = 3,
	KBAL_TAG_POOL       = 4,   /* an idle member connection (pool.h) */
	KBAL_TAG_SK_EVENTS  = 5,   /* kbal_sk_events (sockmap backpressure) */
	KBAL_TAG_PKT_EVENTS = 6,   /* kbal_pkt_events (packet path) */
	KBAL_TAG_AUTH       = 7,   /* access checks answered (authcheck.h) */
	KBAL_TAG_HCHECK     = 8,   /* a health check's socket (hcheck.h) */
	KBAL_TAG_MBOX       = 9,   /* a sockmap mailbox, by slot (mailbox.h) */
	KBAL_TAG_LINGER     = 10,  /* a client's socket in its lingering close (linger.h) */
	KBAL_TAG_MAX        = 16,
};

/* The tag rides in an entry's low bits: a pointer registered with one is
 * malloc's (16-aligned), an index is shifted by KBAL_TAG_BITS */
#define KBAL_TAG_BITS 4

/* obj: the pointer or index registered with it */
typedef void (*kbal_loop_fn)(void *data, uintptr_t obj, unsigned tag, uint32_t events);

struct kbal_loop {
	int epfd;
	uint64_t now;                  /* CLOCK_MONOTONIC ns, at the last wake-up */
	void *data;                    /* the handlers' first argument */
	kbal_loop_fn fn[KBAL_TAG_MAX];
};

int kbal_loop_init(struct kbal_loop *l, void *data);
void kbal_loop_fini(struct kbal_loop *l);

static inline void kbal_loop_on(struct kbal_loop *l, unsigned tag, kbal_loop_fn fn)
{
	l->fn[tag] = fn;
}

/* add (or, with mod, change) fd's entry: 0 or -errno */
int kbal_loop_add(struct kbal_loop *l, int fd, uint32_t events, unsigned tag, uintptr_t obj);
int kbal_loop_mod(struct kbal_loop *l, int fd, uint32_t events, unsigned tag, uintptr_t obj);
void kbal_loop_del(struct kbal_loop *l, int fd);

/* Wait at most timeout_us, update now, run the handlers of what is ready:
 * 0, or -errno from epoll (EINTR is no error). */
int kbal_loop_wait(struct kbal_loop *l, uint64_t timeout_us);

uint64_t kbal_now_ns(void);

#endif
