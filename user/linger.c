// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * linger.c - the lingering close of a client's socket kbald ends itself
 * (linger.h), as httpd's event MPM does it (process_lingering_close(),
 * httpd 2.4 server/mpm/event/event.c):
 *
 *   - shutdown(SHUT_WR) once the answer is written: the FIN follows it;
 *   - what the client sends is read and dropped, non-blocking, each read
 *     into one scratch buffer, until EOF or an error: closed then;
 *   - closed at the latest MAX_SECS_TO_LINGER (30 s) after the FIN,
 *     SECONDS_TO_LINGER (2 s) for a connection mod_reqtimeout ended or
 *     one idle past KeepAliveTimeout ("short-lingering-close") or while
 *     the server goes away (httpd's dying: a restart in place here,
 *     restart.c, whose next image takes the sockets over and ends them
 *     so); one clock for the whole close, not one per read.
 *
 * A lingering socket is no connection any more (conn_close() ran, its
 * struct is gone): it holds its descriptor, counted in kbal_fds_held(),
 * and its place in its address's count (KbalMaxConnectionsPerClient)
 * until it closes. Its epoll entry is level-triggered: a client that
 * sends without pause costs a few reads per loop turn, never the turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "daemon.h"
#include "handover.h"
#include "linger.h"
#include "log.h"
#include "takeover.h"

#define LINGER_NS       (30ull * 1000000000ull)  /* httpd's MAX_SECS_TO_LINGER */
#define LINGER_SHORT_NS (2ull * 1000000000ull)   /* its SECONDS_TO_LINGER */
#define LINGER_READS    4                         /* reads of a socket per loop turn */

enum { WAIT_NORMAL = 0, WAIT_SHORT = 1 };

struct kbal_linger_sock {
	struct kbal_list node;        /* in d->lingering.wait[] */
	int fd;
	uint32_t client;              /* its count in d->acc.clients */
	uint64_t since;               /* its FIN went */
	struct kbal_pkt_flow *shifted; /* through its SHIFT entries (linger_start()) */
};

#define linger_of(n) kbal_container_of(n, struct kbal_linger_sock, node)

/* what the client sends is dropped here (one loop, one thread) */
static char scratch[32768];

/* The client's bytes read and dropped: 1 while it may send more (its
 * queue read dry, or this turn's reads spent), 0 at its EOF or an error */
static int drain(int fd)
{
	for (int i = 0; i < LINGER_READS; i++) {
		ssize_t r = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (r > 0)
			continue;
		/* ESTRPIPE: the sockmap verdict's word on a socket still in
		 * its sockhash (a restart's), not the socket's end */
		if (r < 0 && (errno == EINTR || errno == ESTRPIPE))
			continue;
		return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
	return 1;
}

void linger_none(int fd)
{
	if (!shutdown(fd, SHUT_WR))
		drain(fd);
	close(fd);
}

/* fd closed; a shifted one's entries go a while after (its last segments) */
static void close_counted(struct kbal_daemon *d, int fd, uint32_t client,
			  struct kbal_pkt_flow *shifted)
{
	close(fd);
	kbal_client_count_dec(&d->acc.clients, client);
	if (shifted)
		pkt_given_back_closed(d, shifted);
}

static void linger_end(struct kbal_daemon *d, struct kbal_linger_sock *l)
{
	list_del(&l->node);
	d->lingering.n--;
	close_counted(d, l->fd, l->client, l->shifted);   /* close() takes it out of epoll */
	free(l);
}

static void on_linger(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_linger_sock *l = (struct kbal_linger_sock *)obj;

	(void)tag, (void)events;
	if (!drain(l->fd))
		linger_end(data, l);
}

void linger_init(struct kbal_daemon *d)
{
	list_init(&d->lingering.wait[WAIT_NORMAL]);
	list_init(&d->lingering.wait[WAIT_SHORT]);
	d->lingering.n = 0;
	kbal_loop_on(&d->loop, KBAL_TAG_LINGER, on_linger);
}

/* fd, its FIN gone at since, in list w (its last in time) */
static void linger_wait(struct kbal_daemon *d, int fd, uint32_t client, uint64_t since, int w,
			struct kbal_pkt_flow *shifted)
{
	uint32_t ev = EPOLLIN | EPOLLRDHUP;   /* level-triggered: drain()'s bound */
	struct kbal_linger_sock *l = malloc(sizeof(*l));

	if (!l) {
		close_counted(d, fd, client, shifted);
		return;
	}
	*l = (struct kbal_linger_sock){ .fd = fd, .client = client, .since = since,
					.shifted = shifted };
	/* the socket is in the loop as its connection's: this entry takes
	 * its place (an event of this turn still naming the connection
	 * finds it dead) */
	if (kbal_loop_mod(&d->loop, fd, ev, KBAL_TAG_LINGER, (uintptr_t)l) &&
	    kbal_loop_add(&d->loop, fd, ev, KBAL_TAG_LINGER, (uintptr_t)l)) {
		free(l);
		close_counted(d, fd, client, shifted);
		return;
	}
	list_add_tail(&d->lingering.wait[w], &l->node);
	d->lingering.n++;
}

void linger_start(struct kbal_daemon *d, int fd, uint32_t client, int brief,
		  struct kbal_pkt_flow *shifted)
{
	/* a client gone already (reset: the FIN fails), or whose EOF is in:
	 * nothing to wait for; what came before its EOF is read first, or
	 * the close would still reset */
	if (shutdown(fd, SHUT_WR) || !drain(fd)) {
		close_counted(d, fd, client, shifted);
		return;
	}
	linger_wait(d, fd, client, d->loop.now, brief ? WAIT_SHORT : WAIT_NORMAL, shifted);
}

void linger_drop_shifted(struct kbal_daemon *d)
{
	for (int w = 0; w < 2; w++) {
		struct kbal_list *h = &d->lingering.wait[w], *n, *next;

		for (n = h->next; n != h; n = next) {
			next = n->next;
			if (!linger_of(n)->shifted)
				continue;
			drain(linger_of(n)->fd);
			linger_end(d, linger_of(n));
		}
	}
}

unsigned linger_export(const struct kbal_daemon *d, struct kbal_to_conn *out)
{
	const struct kbal_list *n[2] = { d->lingering.wait[0].next, d->lingering.wait[1].next };
	unsigned k = 0;

	/* the two lists, each in time, merged: the next image's one list
	 * stays in time too */
	for (;;) {
		int w = n[1] == &d->lingering.wait[1] ? 0 :
			n[0] == &d->lingering.wait[0] ? 1 :
			linger_of(n[1])->since < linger_of(n[0])->since;
		const struct kbal_linger_sock *l;

		if (n[w] == &d->lingering.wait[w])
			return k;
		l = linger_of(n[w]);
		n[w] = n[w]->next;
		out[k++] = (struct kbal_to_conn){
			.fd = { l->fd, -1 }, .member = -1, .balancer = -1,
			.flags = KBAL_TO_LINGER, .client = l->client, .since = l->since,
		};
	}
}

void linger_adopt(struct kbal_daemon *d, const struct kbal_to_conn *r)
{
	kbal_client_count_inc(&d->acc.clients, r->client);
	linger_wait(d, r->fd[0], r->client, r->since, WAIT_SHORT, NULL);
}

/* a list's time limit: a restart in place shortens them all, as httpd's
 * dying process does */
static uint64_t limit_ns(const struct kbal_daemon *d, int w)
{
	return w == WAIT_SHORT || d->restarting ? LINGER_SHORT_NS : LINGER_NS;
}

void linger_run_timers(struct kbal_daemon *d)
{
	for (int w = 0; w < 2; w++) {
		struct kbal_list *h = &d->lingering.wait[w];
		uint64_t limit = limit_ns(d, w);

		/* in the order their FIN went: none past the first that is
		 * within its limit */
		while (list_linked(h) && d->loop.now - linger_of(h->next)->since >= limit) {
			log_debug("a client still sending %llu s after its answer's end: closed",
				  (unsigned long long)(limit / 1000000000ull));
			linger_end(d, linger_of(h->next));
		}
	}
}

uint64_t linger_wake_us(const struct kbal_daemon *d)
{
	uint64_t us = ~0ull;

	for (int w = 0; w < 2; w++) {
		const struct kbal_list *h = &d->lingering.wait[w];
		uint64_t at, left;

		if (!list_linked(h))
			continue;
		at = linger_of(h->next)->since + limit_ns(d, w);
		left = at > d->loop.now ? (at - d->loop.now + 999) / 1000 : 0;
		if (left < us)
			us = left;
	}
	return us;
}

void linger_fini(struct kbal_daemon *d)
{
	for (int w = 0; w < 2; w++)
		while (list_linked(&d->lingering.wait[w]))
			linger_end(d, linger_of(d->lingering.wait[w].next));
}
