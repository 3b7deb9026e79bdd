// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sockmap_held.c - the sockmap path's backpressure: a direction the
 * verdict holds (its target's psock worker far behind) is copied by kbald
 * as fast as its target takes it, and let go once the verdict redirects
 * again (docs/design.md, "Backpressure"; the connection's side of the
 * path is handover_sockmap.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "member.h"
#include "sockmap_held.h"
#include "stamp.h"

/*
 * The kernel queues redirected skbs for the target's psock worker with no
 * bound: a receiver slower than its sender would have the sender's bytes
 * pile up in the balancer. The verdict holds such a direction
 * (KBAL_SKF_HELD, bpf/sockmap.bpf.c): its next messages are redirected to
 * the source's own ingress (its psock queue), charged to its receive
 * memory, so that TCP closes the sender's window. kbald copies them to the
 * target, after the worker has given the target all it queued before, and
 * only as fast as the target takes them; the verdict redirects again once
 * kbald has written every byte it held and the target has room. Nothing
 * leaves the sockhashes: the splice goes on.
 *
 * A held connection is listed; it is looked at on its sockets' events and
 * at least every ms. One buffer serves every step: a step writes at once
 * what it peeked at (what the target did not take is peeked at again) and
 * reads off only bytes already written, so it leaves nothing in it.
 */
#define HELD_BUF (64u << 10)
static char held_buf[HELD_BUF];
#define HELD_LOOK_NS 100000000ull     /* how often a held target's progress is looked at */
#define HELD_STUCK_NS 10000000ull     /* a target's worker still for this long: stuck? */
#define HELD_RCVBUF_STEP (1u << 20)   /* what a stuck worker's socket is given at a time */
#define HELD_RCVBUF_MAX (64u << 20)   /* and in all: past it, the connection ends */

struct kbal_held {
	struct kbal_conn *c;
	uint64_t base0[2];            /* by direction: its destination's base
				       * without a FIN's goal (c->fin_goal) */
	uint64_t acked[2], at[2];     /* the destination's acknowledged bytes, and
				       * when they last moved (Timeout) */
	uint64_t look_at;
	uint64_t wait_sent[2], wait_at[2];  /* the destination's sent bytes while the
				       * direction waits for its worker, and since when */
	uint32_t owed[2];             /* written, counted read, still to take off
				       * the source's queue (a read that found the
				       * stream parser busy: EAGAIN) */
};

static struct kbal_held *held_of(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	for (unsigned k = 0; k < d->sm.nheld; k++)
		if (d->sm.held[k]->c == c)
			return d->sm.held[k];
	return NULL;
}

int sm_entry(const struct kbal_daemon *d, uint64_t cookie, struct kbal_sk_http *st)
{
	return bpf_map_lookup_elem(d->maps.http_fd, &cookie, st) ? -errno : 0;
}

/* base[to] as the splice set it: a FIN's goal, if one is waiting, added
 * what kbald wrote and what the source received on this connection less
 * what it read (a copy moves kbald's reads and writes alike: still so),
 * taken off as that goal was worked out (fin_goal_part(): a member's
 * reset counts no sequence number, a FIN one) */
static uint64_t held_base0(const struct kbal_conn *c, int dir)
{
	uint64_t recvd;

	if (!(c->fin_goal & (1u << dir)) || conn_received(c, dir_src(dir), &recvd))
		return c->base[dir_dst(dir)];
	return c->base[dir_dst(dir)] - fin_goal_part(c, dir, recvd);
}

/* Direction dir of c is held (the verdict's report, or its held bytes
 * found): listed. Out of memory: -ENOMEM (the caller ends the connection:
 * its held bytes would wait for ever). */
int held_start(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	struct kbal_held *h = held_of(d, c);

	if (c->held & (1u << dir))
		return 0;
	if (!h) {
		if (d->sm.nheld == d->sm.held_cap) {
			unsigned cap = d->sm.held_cap ? d->sm.held_cap * 2 : 16;
			struct kbal_held **p = realloc(d->sm.held, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			d->sm.held = p;
			d->sm.held_cap = cap;
		}
		h = malloc(sizeof(*h));
		if (!h)
			return -ENOMEM;
		memset(h, 0, sizeof(*h));
		h->c = c;
		d->sm.held[d->sm.nheld++] = h;
	}
	h->base0[dir] = held_base0(c, dir);
	h->owed[dir] = 0;
	h->acked[dir] = 0;
	h->at[dir] = d->loop.now;
	c->held |= 1u << dir;
	log_debug("conn %p: %s held: its target's worker is far behind", (void *)c, dir_name(dir));
	return 0;
}

void held_end(struct kbal_daemon *d, struct kbal_conn *c)
{
	for (unsigned k = 0; k < d->sm.nheld; k++)
		if (d->sm.held[k]->c == c) {
			free(d->sm.held[k]);
			d->sm.held[k] = d->sm.held[--d->sm.nheld];
			break;
		}
	c->held = 0;
}

/*
 * The destination's psock worker takes, in one queue and in order, the
 * bytes the other direction redirects to it and those the destination
 * holds for kbald as a source (its own ingress). A held message at that
 * queue's head waits for room in the destination's receive memory, which
 * only kbald's copy of the other direction frees; that copy can wait on a
 * member that stopped reading because this direction's bytes, behind the
 * held message, do not come (an echo whose client reads nothing for a
 * while: both directions held, seen as a stall one run in ten). A worker
 * that sent nothing for HELD_STUCK_NS with its socket's receive memory
 * full and room to send is given receive room (SO_RCVBUFFORCE), a step at a time: the held
 * messages before ours are taken in and ours go out. Bounded: past
 * HELD_RCVBUF_MAX the connection ends (-1). Returns 0 otherwise: the
 * direction waits.
 */
static int held_unstick(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_held *h,
			int dir, uint64_t sent)
{
	int to = dir_dst(dir), val;
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	if (!(c->held & (1u << side_dir(to))))
		return 0;   /* the destination holds nothing of its own */
	if (sent != h->wait_sent[dir]) {
		h->wait_sent[dir] = sent;
		h->wait_at[dir] = d->loop.now;
		return 0;
	}
	/* stuck on a held message: its receive memory full, and not on its
	 * sending (a receiver that reads nothing fills the send buffer) */
	if (d->loop.now - h->wait_at[dir] < HELD_STUCK_NS ||
	    getsockopt(c->fd[to], SOL_SOCKET, SO_MEMINFO, mem, &len) ||
	    mem[SK_MEMINFO_RMEM_ALLOC] <= mem[SK_MEMINFO_RCVBUF] ||
	    mem[SK_MEMINFO_WMEM_QUEUED] + HELD_BUF >= mem[SK_MEMINFO_SNDBUF])
		return 0;
	if (mem[SK_MEMINFO_RCVBUF] >= HELD_RCVBUF_MAX) {
		log_info("a held connection's worker stays stuck (%u bytes of receive memory): closed",
			 mem[SK_MEMINFO_RMEM_ALLOC]);
		return -1;
	}
	/* the kernel doubles what it is given */
	val = (int)((mem[SK_MEMINFO_RMEM_ALLOC] + HELD_RCVBUF_STEP) / 2);
	if (setsockopt(c->fd[to], SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof(val)))
		return -1;
	h->wait_at[dir] = d->loop.now;
	log_debug("conn %p: %s waits on a worker stuck behind held bytes: receive memory %u, given %d",
		  (void *)c, dir_name(dir), mem[SK_MEMINFO_RMEM_ALLOC], 2 * val);
	return 0;
}

/*
 * One held direction moved as far as it goes: what the verdict held is
 * peeked at, written to the target as far as it takes it, and only that
 * much read off (so kbald holds no byte it has not written: a restart or a
 * FIN finds its counts whole), never past the held bytes (a head the
 * kernel hands back behind them is decide_take_back()'s), once the target
 * has taken everything the worker had queued before (its send counter past
 * what the verdict kept). 1 when the hold is over (the verdict redirects
 * again, or the direction ended), 0 while it lasts, -1 when a socket
 * failed.
 */
static int held_step(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_held *h, int dir,
		     int *moved)
{
	int from = dir_src(dir), to = dir_dst(dir), retry = 4;
	struct kbal_sk_http st;
	uint64_t sent, recvd, mine;
	ssize_t n, w, r;

	for (;;) {
		while (h->owed[dir]) {
			r = recv(c->fd[from], held_buf, h->owed[dir], MSG_DONTWAIT);
			if (r < 0 && (errno == EINTR || (errno == ESTRPIPE && retry-- > 0)))
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ESTRPIPE))
				return 0;   /* its queue is read while the parser is not */
			if (r <= 0)
				return -1;
			h->owed[dir] -= r;
		}
		if (c->phase[dir] != P_SPLICED)
			return 1;
		if (sm_entry(d, c->cookie[from], &st))
			return 1;   /* taken back: nothing is held */
		mine = c->rd[from] - st.rd_base < st.held ? st.held - (c->rd[from] - st.rd_base) : 0;
		if (!mine)
			return !(st.flags & KBAL_SKF_HELD);
		if (stamp_sock_counts(d, c, to, &sent, &recvd))
			return -1;
		if (sent - h->base0[dir] - c->wr[to] < st.kept)
			/* the worker still has some: they go first */
			return held_unstick(d, c, h, dir, sent);
		n = recv(c->fd[from], held_buf, mine < HELD_BUF ? mine : HELD_BUF,
			 MSG_DONTWAIT | MSG_PEEK);
		if (n < 0 && (errno == EINTR || (errno == ESTRPIPE && retry-- > 0)))
			continue;   /* a stopped parser's report, read by this */
		if (n <= 0)
			return 0;   /* not queued yet (the socket's worker queues it) */
		w = send(c->fd[to], held_buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || (errno == ESTRPIPE && retry-- > 0)))
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ESTRPIPE))
			return 0;
		if (w <= 0)
			return -1;
		/* the same bytes are taken off the queue (kbald alone takes
		 * from it) at the loop's top; counted read now, as written */
		h->owed[dir] = w;
		c->rd[from] += w;
		c->wr[to] += w;
		/* KeepAliveTimeout counts from the answer's last write, as
		 * httpd's: kbald's, here, not the member's last bytes */
		c->since = d->loop.now;
		*moved = 1;
	}
}

/* kbald still has held bytes to copy: what the kernel hands back waits
 * behind them */
int held_busy(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_held *h = held_of(d, c);
	struct kbal_sk_http st;

	for (int dir = 0; h && dir < 2; dir++) {
		if (!(c->held & (1u << dir)))
			continue;
		if (h->owed[dir])
			return 1;
		if (!sm_entry(d, c->cookie[dir_src(dir)], &st) &&
		    st.held != c->rd[dir_src(dir)] - st.rd_base)
			return 1;
	}
	return 0;
}

/* A held target that took nothing for Timeout (the member's timeout= for
 * one it was sent to): as httpd gives up a write that makes no progress. 1
 * when the connection was closed. */
static int held_timed_out(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_held *h)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);

	if (d->loop.now < h->look_at)
		return 0;
	h->look_at = d->loop.now + HELD_LOOK_NS;
	for (int dir = 0; dir < 2; dir++) {
		int to = dir_dst(dir);
		uint64_t to_ns = to == MEMBER ? member_timeout_ns(d, c) : conn_timeout_ns(d, c);

		if (!(c->held & (1u << dir)) || c->fd[to] < 0 ||
		    getsockopt(c->fd[to], IPPROTO_TCP, TCP_INFO, &ti, &len))
			continue;
		if (ti.tcpi_bytes_acked != h->acked[dir]) {
			h->acked[dir] = ti.tcpi_bytes_acked;
			h->at[dir] = d->loop.now;
		} else if (d->loop.now - h->at[dir] >= to_ns) {
			log_info("a %s took nothing of its %s for Timeout (held back): closed",
				 to == CLIENT ? "client" : "member", to == CLIENT ? "answer" : "request");
			conn_abort(d, c);
			return 1;
		}
	}
	return 0;
}

/* The connection's held directions moved; those whose hold is over are
 * let go. -1 when it was closed. */
int held_run(struct kbal_daemon *d, struct kbal_conn *c, int *moved)
{
	struct kbal_held *h = held_of(d, c);

	if (!h)
		return 0;
	for (int dir = 0; dir < 2; dir++) {
		int r;

		if (!(c->held & (1u << dir)))
			continue;
		r = held_step(d, c, h, dir, moved);
		if (r < 0) {
			conn_abort(d, c);
			return -1;
		}
		if (r > 0) {
			c->held &= ~(1u << dir);
			log_debug("conn %p: %s no longer held", (void *)c, dir_name(dir));
		}
	}
	if (!c->held)
		held_end(d, c);
	else if (held_timed_out(d, c, h))
		return -1;
	return 0;
}

/* Is direction dir held by the verdict, though no report said so (the ring
 * was full)? Its held bytes raised EPOLLIN. */
void held_found(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	struct kbal_sk_http st;

	if (c->phase[dir] != P_SPLICED || (c->held & (1u << dir)) ||
	    sm_entry(d, c->cookie[dir_src(dir)], &st) ||
	    (!(st.flags & KBAL_SKF_HELD) && st.held == c->rd[dir_src(dir)] - st.rd_base))
		return;
	if (held_start(d, c, dir))
		conn_abort(d, c);
}

void held_run_all(struct kbal_daemon *d)
{
	for (unsigned k = 0; k < d->sm.nheld;) {
		struct kbal_conn *c = d->sm.held[k]->c;
		int moved = 0;

		if (held_run(d, c, &moved) < 0 || !c->held)
			continue;            /* unlisted: another took its place at k */
		if (moved)
			conn_progress(d, c); /* a FIN that waited for the copy */
		if (k < d->sm.nheld && d->sm.held[k]->c == c)
			k++;
	}
}

/* A restart hands held directions over as spliced: the verdict holds them
 * on and the next image copies (sm_adopt() in handover_sockmap.c). Bytes
 * kbald wrote must be off the source's queue first (a read that found the
 * stream parser busy waits a moment): 1 while some are not; at the
 * restart's deadline their connections close. */
int held_settle(struct kbal_daemon *d)
{
	int late = d->loop.now >= d->restart_deadline;

	held_run_all(d);
	for (unsigned k = 0; k < d->sm.nheld;) {
		const struct kbal_held *h = d->sm.held[k];

		if (!h->owed[UP] && !h->owed[DOWN]) {
			k++;
		} else if (!late) {
			return 1;
		} else {
			log_warn("restart: a held connection's copy could not go on: closed");
			conn_abort(d, h->c);   /* unlisted: another took its place */
		}
	}
	return 0;
}


/* kbald stops: every list let go */
void held_fini(struct kbal_daemon *d)
{
	while (d->sm.nheld)
		held_end(d, d->sm.held[0]->c);
	free(d->sm.held);
	d->sm.held = NULL;
}
