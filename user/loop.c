// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* loop.c - the epoll set and its dispatch (see loop.h). */
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "loop.h"

#define TAG_MASK    ((1ull << KBAL_TAG_BITS) - 1)
#define LOOP_EVENTS 256

_Static_assert(KBAL_TAG_MAX == TAG_MASK + 1, "a tag fits the low bits");

uint64_t kbal_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int kbal_loop_init(struct kbal_loop *l, void *data)
{
	*l = (struct kbal_loop){ .data = data, .now = kbal_now_ns() };
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void kbal_loop_fini(struct kbal_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

static int ctl(struct kbal_loop *l, int op, int fd, uint32_t events, unsigned tag, uintptr_t obj)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)obj | tag };

	return epoll_ctl(l->epfd, op, fd, &ev) ? -errno : 0;
}

int kbal_loop_add(struct kbal_loop *l, int fd, uint32_t events, unsigned tag, uintptr_t obj)
{
	return ctl(l, EPOLL_CTL_ADD, fd, events, tag, obj);
}

int kbal_loop_mod(struct kbal_loop *l, int fd, uint32_t events, unsigned tag, uintptr_t obj)
{
	return ctl(l, EPOLL_CTL_MOD, fd, events, tag, obj);
}

void kbal_loop_del(struct kbal_loop *l, int fd)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int kbal_loop_wait(struct kbal_loop *l, uint64_t timeout_us)
{
	struct epoll_event evs[LOOP_EVENTS];
	struct timespec ts = { .tv_sec = timeout_us / 1000000,
			       .tv_nsec = (timeout_us % 1000000) * 1000 };
	int n = epoll_pwait2(l->epfd, evs, LOOP_EVENTS, &ts, NULL);

	if (n < 0 && errno != EINTR)
		return -errno;
	l->now = kbal_now_ns();
	for (int i = 0; i < n; i++) {
		unsigned tag = evs[i].data.u64 & TAG_MASK;

		if (l->fn[tag])
			l->fn[tag](l->data, (uintptr_t)(evs[i].data.u64 & ~TAG_MASK), tag,
				   evs[i].events);
	}
	return 0;
}
