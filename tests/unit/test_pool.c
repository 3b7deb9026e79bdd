// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * user/pool.c: kept member connections, on socketpairs in a real epoll set
 * (no member, no network): the newest goes first, max= caps what is kept,
 * ttl= and a member out of service empty a list, an event from an idle one
 * closes it, and a taken or closed one is freed only after the batch; and
 * on a loopback TCP connection, what its socket had received when kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "pool.h"
#include "unit.h"

#define S 1000000000ull

struct fixture {
	struct kbal_member members[KBAL_MAX_MEMBERS];
	struct kbal_pool pool;
	int peer[8];           /* the "member" ends of the socketpairs */
};

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* a connection to put: one end kept by the pool, the other by the test */
static int pair(struct fixture *fx, int i)
{
	int sv[2];
	struct epoll_event ev = { .events = EPOLLIN };

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		return -1;
	fx->peer[i] = sv[1];
	/* kbald's connections are in its epoll set when they are put back */
	if (epoll_ctl(fx->pool.epfd, EPOLL_CTL_ADD, sv[0], &ev)) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	return sv[0];
}

static struct fixture *setup(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return NULL;
	kbal_pool_init(&fx->pool, fx->members);
	fx->pool.epfd = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < 8; i++)
		fx->peer[i] = -1;
	return fx;
}

static void teardown(struct fixture *fx)
{
	kbal_pool_fini(&fx->pool);
	for (int i = 0; i < 8; i++)
		if (fx->peer[i] >= 0)
			close(fx->peer[i]);
	close(fx->pool.epfd);
	free(fx);
}

UNIT_TEST(pool_newest_first_and_max)
{
	struct fixture *fx = setup();
	struct kbal_pooled *a, *b;
	int fd[3], owner;

	if (!ASSERT_TRUE(fx, "setup"))
		return;
	kbal_pool_set(&fx->pool, 0, 2, 60000);
	for (int i = 0; i < 3; i++)
		fd[i] = pair(fx, i);
	ASSERT_EQ(kbal_pool_put(&fx->pool, 0, fd[0], 1000, 1 * S, 0, 0), 0, "first kept");
	ASSERT_EQ(kbal_pool_put(&fx->pool, 0, fd[1], 1001, 2 * S, 0, 0), 0, "second kept");
	ASSERT_EQ(kbal_pool_put(&fx->pool, 0, fd[2], 1002, 3 * S, 0, 0), -1, "third: max=2");
	close(fd[2]);
	ASSERT_EQ(fx->members[0].idle, 2, "idle");
	a = kbal_pool_lend(&fx->pool, 0, &owner);
	if (!ASSERT_TRUE(a != NULL, "lent"))
		goto out;
	ASSERT_EQ(a->fd, fd[1], "the newest first");
	ASSERT_EQ(a->lport, 1001, "its local port");
	ASSERT_TRUE(a->owner == &owner, "its events go to the owner");
	b = kbal_pool_lend(&fx->pool, 0, &owner);
	ASSERT_TRUE(b && b->fd == fd[0], "then the older");
	ASSERT_TRUE(kbal_pool_lend(&fx->pool, 0, &owner) == NULL, "then none");
	ASSERT_EQ(fx->members[0].idle, 0, "idle after the lends");
	ASSERT_EQ(fx->members[0].reused, 2, "reused");
	/* one comes back, idle again; the other is forgotten (its owner closes it) */
	ASSERT_EQ(kbal_pool_give_back(&fx->pool, a, 4 * S), 0, "given back");
	ASSERT_TRUE(a->owner == NULL, "no owner once idle");
	ASSERT_EQ(fx->members[0].idle, 1, "idle after the give-back");
	if (b)
		kbal_pool_forget(&fx->pool, b);
	close(fd[0]);
	ASSERT_TRUE(kbal_pool_lend(&fx->pool, 0, &owner) == a, "the given-back one lent again");
	kbal_pool_forget(&fx->pool, a);
	close(fd[1]);
out:
	kbal_pool_free_dead(&fx->pool);
	teardown(fx);
}

UNIT_TEST(pool_off_and_out_of_service)
{
	struct fixture *fx = setup();
	int fd;

	if (!ASSERT_TRUE(fx, "setup"))
		return;
	fd = pair(fx, 0);
	/* max=0 (disablereuse): nothing kept, nothing taken */
	ASSERT_EQ(kbal_pool_enabled(&fx->pool, 1), 0, "member 1 has no pool");
	ASSERT_EQ(kbal_pool_put(&fx->pool, 1, fd, 1, 0, 0, 0), -1, "put to a member without pool");
	ASSERT_TRUE(kbal_pool_lend(&fx->pool, 1, fx) == NULL, "lend from it");
	/* a disabled member gets no request: its connections are not kept */
	kbal_pool_set(&fx->pool, 2, 8, 60000);
	fx->members[2].status = KBAL_ST_DISABLED;
	ASSERT_EQ(kbal_pool_put(&fx->pool, 2, fd, 1, 0, 0, 0), -1, "put to a disabled member");
	/* kept, then the member goes into error: the next sweep closes it */
	fx->members[2].status = 0;
	ASSERT_EQ(kbal_pool_put(&fx->pool, 2, fd, 1, 0, 0, 0), 0, "put");
	fx->members[2].status = KBAL_ST_ERROR;
	kbal_pool_expire(&fx->pool, 3, 1 * S);
	ASSERT_EQ(fx->members[2].idle, 0, "swept when in error");
	ASSERT_EQ(fd_open(fd), 0, "and closed");
	kbal_pool_free_dead(&fx->pool);
	teardown(fx);
}

UNIT_TEST(pool_ttl_and_release)
{
	struct fixture *fx = setup();
	int fd[3];

	if (!ASSERT_TRUE(fx, "setup"))
		return;
	kbal_pool_set(&fx->pool, 0, 8, 2000);   /* ttl=2 s */
	for (int i = 0; i < 3; i++)
		fd[i] = pair(fx, i);
	kbal_pool_put(&fx->pool, 0, fd[0], 1, 10 * S, 0, 0);
	kbal_pool_put(&fx->pool, 0, fd[1], 2, 11 * S, 0, 0);
	kbal_pool_put(&fx->pool, 0, fd[2], 3, 12 * S, 0, 0);
	kbal_pool_expire(&fx->pool, 1, 12 * S + S / 2);
	ASSERT_EQ(fx->members[0].idle, 2, "the one idle 2.5 s went");
	ASSERT_EQ(fd_open(fd[0]), 0, "closed");
	ASSERT_EQ(fd_open(fd[1]), 1, "the others stay");
	/* out of descriptors: all go, how many said */
	ASSERT_EQ(kbal_pool_release(&fx->pool), 2, "released");
	ASSERT_EQ(fx->members[0].idle, 0, "none idle");
	ASSERT_EQ(fd_open(fd[2]), 0, "closed too");
	kbal_pool_free_dead(&fx->pool);
	teardown(fx);
}

UNIT_TEST(pool_stale_epollin_keeps_an_idle_one)
{
	/* an EPOLLIN collected before the connection's owner read the bytes
	 * and gave it back (the same epoll batch): nothing there now, kept;
	 * a byte really there: the member spoke out of turn, closed */
	struct fixture *fx = setup();
	struct kbal_pooled *pc;
	struct epoll_event ev;
	char c;
	int fd;

	if (!ASSERT_TRUE(fx, "setup"))
		return;
	kbal_pool_set(&fx->pool, 0, 8, 60000);
	fd = pair(fx, 0);
	kbal_pool_put(&fx->pool, 0, fd, 1, 0, 0, 0);
	if (!ASSERT_EQ(write(fx->peer[0], "x", 1), 1, "the member's byte") ||
	    !ASSERT_EQ(epoll_wait(fx->pool.epfd, &ev, 1, 1000), 1, "its event"))
		goto out;
	pc = (struct kbal_pooled *)(uintptr_t)(ev.data.u64 & ~7ull);
	ASSERT_EQ(read(fd, &c, 1), 1, "read by the owner before the event is handled");
	kbal_pool_event(&fx->pool, pc, EPOLLIN);
	ASSERT_EQ(fx->members[0].idle, 1, "a stale EPOLLIN: still kept");
	ASSERT_EQ(fd_open(fd), 1, "still open");
	ASSERT_EQ(write(fx->peer[0], "y", 1), 1, "a byte out of turn");
	kbal_pool_event(&fx->pool, pc, EPOLLIN);
	ASSERT_EQ(fx->members[0].idle, 0, "a byte there: dropped");
	ASSERT_EQ(fd_open(fd), 0, "closed");
out:
	kbal_pool_free_dead(&fx->pool);
	teardown(fx);
}

UNIT_TEST(pool_member_hangs_up_on_an_idle_one)
{
	struct fixture *fx = setup();
	struct epoll_event ev;
	int fd, n;

	if (!ASSERT_TRUE(fx, "setup"))
		return;
	kbal_pool_set(&fx->pool, 0, 8, 60000);
	fd = pair(fx, 0);
	kbal_pool_put(&fx->pool, 0, fd, 1, 0, 0, 0);
	close(fx->peer[0]);                     /* the member's keep-alive timeout */
	fx->peer[0] = -1;
	n = epoll_wait(fx->pool.epfd, &ev, 1, 1000);
	if (!ASSERT_EQ(n, 1, "an event for the idle connection"))
		goto out;
	ASSERT_EQ(ev.data.u64 & 7, KBAL_POOL_TAG, "tagged as the pool's");
	kbal_pool_event(&fx->pool, (struct kbal_pooled *)(uintptr_t)(ev.data.u64 & ~7ull),
			ev.events);
	ASSERT_EQ(fx->members[0].idle, 0, "gone from the pool");
	ASSERT_EQ(fd_open(fd), 0, "closed");
	ASSERT_TRUE(kbal_pool_lend(&fx->pool, 0, fx) == NULL, "nothing to lend");
	/* a later event of the same batch names it still: ignored, not freed twice */
	kbal_pool_event(&fx->pool, (struct kbal_pooled *)(uintptr_t)(ev.data.u64 & ~7ull),
			ev.events);
	ASSERT_EQ(fx->members[0].idle, 0, "still none");
out:
	kbal_pool_free_dead(&fx->pool);
	teardown(fx);
}

/* a loopback TCP connection, its two ends in fd[0] (kbald's, in the pool's
 * epoll set) and fd[1] (the "member's"); 0, or -1 */
static int tcp_pair(struct fixture *fx, int fd[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct epoll_event ev = { .events = EPOLLIN };
	int l = socket(AF_INET, SOCK_STREAM, 0);

	fd[0] = fd[1] = -1;
	if (l < 0)
		return -1;
	if (!bind(l, (struct sockaddr *)&a, sizeof(a)) && !listen(l, 1) &&
	    !getsockname(l, (struct sockaddr *)&a, &len) &&
	    (fd[0] = socket(AF_INET, SOCK_STREAM, 0)) >= 0 &&
	    !connect(fd[0], (struct sockaddr *)&a, sizeof(a)))
		fd[1] = accept(l, NULL, NULL);
	close(l);
	if (fd[1] < 0 || epoll_ctl(fx->pool.epfd, EPOLL_CTL_ADD, fd[0], &ev)) {
		if (fd[0] >= 0)
			close(fd[0]);
		if (fd[1] >= 0)
			close(fd[1]);
		return -1;
	}
	return 0;
}

UNIT_TEST(pool_keeps_what_its_socket_received)
{
	/* the socket's own count, not the caller's (kbald's reads, which
	 * miss what the kernel carried of a connection taken back): where
	 * the next owner's bytes start (member_rcvd0, the sockmap path's
	 * FIN goal) */
	struct fixture *fx = setup();
	struct kbal_pooled *pc;
	char buf[9];
	int fd[2], owner;

	if (!ASSERT_TRUE(fx, "setup"))
		return;
	kbal_pool_set(&fx->pool, 0, 8, 60000);
	if (!ASSERT_EQ(tcp_pair(fx, fd), 0, "a loopback TCP connection"))
		goto out;
	fx->peer[0] = fd[1];
	if (!ASSERT_EQ(write(fd[1], "an answer", 9), 9, "the member's answer") ||
	    !ASSERT_EQ(recv(fd[0], buf, 9, MSG_WAITALL), 9, "read by kbald"))
		goto out;
	ASSERT_EQ(kbal_pool_put(&fx->pool, 0, fd[0], 1, 0, 4, 2), 0, "kept");
	pc = kbal_pool_lend(&fx->pool, 0, &owner);
	if (!ASSERT_TRUE(pc != NULL, "lent"))
		goto out;
	ASSERT_EQ(pc->recvd, 2, "the caller's count");
	ASSERT_EQ(pc->sock_recvd, 9, "the socket's count");
	kbal_pool_forget(&fx->pool, pc);
	close(fd[0]);
out:
	kbal_pool_free_dead(&fx->pool);
	teardown(fx);
}
