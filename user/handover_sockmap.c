// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * handover_sockmap.c - the sockmap path, a connection's side of it: each
 * direction, once quiet, enters the sockhashes and the verdict program
 * (bpf/sockmap.bpf.c) redirects its later bytes in the kernel
 * (docs/design.md; the primitives are in splice_sockmap.c).
 *
 *   take      a quiet direction spliced (if worth it: else copied)
 *   event     kbald reads no spliced socket: its events say FIN or RST
 *   progress  a FIN passed on only once the bytes before it are
 *   tick      those FINs looked at again; held directions copied
 *   events    backpressure: a direction held, its target's worker far
 *             behind (kbal_sk_events; copied by kbald: sockmap_held.c)
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "exchange.h"
#include "handover.h"
#include "log.h"
#include "mailbox.h"
#include "member.h"
#include "sockmap_held.h"
#include "splice_sockmap.h"
#include "stamp.h"

#define DRAIN_MAX_NS (10ull * 1000000000ull) /* give up waiting for in-flight bytes */
#define DRAIN_POLL_US 50          /* how often a FIN waiting for them looks again, */
#define DRAIN_FAST_NS 2000000ull  /* for this long; then every ms */
#define DRAIN_RELAY_NS 1000000ull /* the same for one copied the other way */

/* ------------------------------------------ spliced directions by cookie */

static uint32_t ctab_hash(uint64_t cookie)
{
	cookie ^= cookie >> 33;
	cookie *= 0xff51afd7ed558ccdull;
	cookie ^= cookie >> 33;
	return (uint32_t)cookie;
}

static int ctab_grow(struct kbal_sockmap_state *t)
{
	uint32_t oldsize = t->slot ? t->mask + 1 : 0, size = oldsize ? oldsize * 2 : 256;
	struct kbal_ctab_slot *old = t->slot, *s = calloc(size, sizeof(*s));

	if (!s)
		return -ENOMEM;
	t->slot = s;
	t->mask = size - 1;
	for (uint32_t i = 0; i < oldsize; i++) {
		uint32_t j;

		if (!old[i].cookie)
			continue;
		for (j = ctab_hash(old[i].cookie) & t->mask; s[j].cookie; j = (j + 1) & t->mask)
			;
		s[j] = old[i];
	}
	free(old);
	return 0;
}

/* Out of memory, the direction is left out: its hold's report is not
 * found (the held bytes' EPOLLIN finds it). */
static void ctab_put(struct kbal_sockmap_state *t, uint64_t cookie, struct kbal_conn *c)
{
	uint32_t j;

	if (!cookie || ((t->n + 1) * 2 > (t->slot ? t->mask + 1 : 0) && ctab_grow(t)))
		return;
	for (j = ctab_hash(cookie) & t->mask; t->slot[j].cookie; j = (j + 1) & t->mask)
		if (t->slot[j].cookie == cookie) {
			t->slot[j].c = c;
			return;
		}
	t->slot[j].cookie = cookie;
	t->slot[j].c = c;
	t->n++;
}

static struct kbal_conn *ctab_get(const struct kbal_sockmap_state *t, uint64_t cookie)
{
	if (!t->n || !cookie)
		return NULL;
	for (uint32_t j = ctab_hash(cookie) & t->mask; t->slot[j].cookie; j = (j + 1) & t->mask)
		if (t->slot[j].cookie == cookie)
			return t->slot[j].c;
	return NULL;
}

/* backward-shift deletion: the entries after it that may move up do */
static void ctab_del(struct kbal_sockmap_state *t, uint64_t cookie, const struct kbal_conn *c)
{
	uint32_t i, j;

	if (!t->n || !cookie)
		return;
	for (i = ctab_hash(cookie) & t->mask; t->slot[i].cookie != cookie; i = (i + 1) & t->mask)
		if (!t->slot[i].cookie)
			return;
	if (t->slot[i].c != c)
		return;
	t->n--;
	for (j = i;;) {
		uint32_t home;

		t->slot[i].cookie = 0;
		do {
			j = (j + 1) & t->mask;
			if (!t->slot[j].cookie)
				return;
			home = ctab_hash(t->slot[j].cookie) & t->mask;
		} while (i <= j ? (i < home && home <= j) : (i < home || home <= j));
		t->slot[i] = t->slot[j];
		i = j;
	}
}

/* ---------------------------------------------------------- backpressure */

/* The verdict's report of a direction it holds (sockmap_held.c copies it) */
static int sk_event_record(void *ctx, void *data, size_t len)
{
	struct kbal_daemon *d = ctx;
	const struct kbal_sk_event *ev = data;
	struct kbal_conn *c;
	int dir;

	if (len < sizeof(*ev))
		return 0;
	c = ctab_get(&d->sm, ev->cookie);
	if (!c || c->dead)
		return 0;
	dir = side_dir(c->cookie[CLIENT] == ev->cookie ? CLIENT : MEMBER);
	if (c->phase[dir] != P_SPLICED || (c->held & (1u << dir)))
		return 0;
	if (held_start(d, c, dir)) {
		log_warn("a held direction's buffer: out of memory: closing its connection");
		conn_abort(d, c);
		return 0;
	}
	/* the copy starts at the connection's next look: every ms */
	return 0;
}

static void sk_events_ready(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;

	(void)obj, (void)tag, (void)events;
	ring_buffer__consume(d->sm.events);
}

/* ------------------------------------------------------------ mailboxes */

static int sm_gone(struct kbal_daemon *d, uint64_t cookie)
{
	const struct kbal_conn *c = ctab_get(&d->sm, cookie);

	return !c || c->dead;
}

/* A mailbox got bytes: its socket's connection looks, as at the socket's
 * own readable event when the verdict queued them on it (sm_sock_event()) */
static void sm_mbox_ready(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;
	unsigned slot = obj >> KBAL_TAG_BITS;
	uint64_t cookie = mbox_owner(d, slot);
	struct kbal_conn *c;
	int side;

	(void)tag, (void)events;
	if (mbox_drain(d, slot))
		return;
	c = mbox_reader(d, slot, &side);
	if (c && !c->dead) {
		/* taken back: the exchange reads it before the socket, as
		 * at the socket's own readable event */
		conn_event(d, c, side, EPOLLIN);
		return;
	}
	c = ctab_get(&d->sm, cookie);
	if (!c || c->dead)
		return;
	if (handover_event(d, c, c->cookie[CLIENT] == cookie ? CLIENT : MEMBER, EPOLLIN) >= 0)
		conn_progress(d, c);
}

/* ---------------------------------------------------------------- splice */

/*
 * Splicing costs a few syscalls per direction and pays off on the bytes
 * that follow. A connection whose client asked for one request only
 * (Connection: close, HTTP/1.0) has nothing after its request, and a small
 * remaining response is cheaper to copy than to hand over.
 */
static int worth_splicing(const struct kbal_conn *c, int dir)
{
	const struct kbal_http_msg *rs = &c->f->msg[DOWN];

	/* kbald decides its requests: a tunnel's bytes are copied (its
	 * client may be in the sockhash already, handed back) */
	if (c->splice_mode == KBAL_SPLICE_OFF || c->agent)
		return 0;
	if (c->upgrade || c->f->msg[UP].upgrade || !c->once)
		return 1;
	if (dir == UP)
		return 0;
	return rs->content_length < 0 ||
	       rs->content_length - (int64_t)(c->f->len[DOWN] - rs->head_len) > 65536;
}

/* An unframed direction's entry: its backpressure state only (the verdict
 * redirects every byte, and holds the direction when its target's worker
 * is far behind). Written before the socket enters kbal_sk_src. */
static int raw_arm(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	int from = dir_src(dir);
	struct kbal_sk_http st = {
		.mode = KBAL_SKM_RAW,
		.peer = c->cookie[!from],
		.rd_base = c->rd[from],
	};

	if (bpf_map_update_elem(d->maps.http_fd, &c->cookie[from], &st, BPF_ANY))
		return -1;
	c->raw |= 1u << from;
	return 0;
}

static int sm_take(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	int from = dir_src(dir), to = dir_dst(dir);
	uint64_t sent, recvd;
	int err;

	if (!worth_splicing(c, dir))
		return HANDOVER_PASS;
	/* a kept connection becomes this flow's, counted by its socket's
	 * counters at the close. (Not the counters less what kbald read:
	 * bytes of this answer waiting in the socket would be taken off too,
	 * and lost.) */
	member_own_kept(d, c);
	if (c->cookie[from] == 0)
		c->cookie[from] = kbal_sock_cookie(c->fd[from]);
	/* Everything kbald wrote to the destination is in its send counter
	 * now; what comes on top is the kernel's: the base lets the FIN logic
	 * tell. */
	if (stamp_sock_counts(d, c, to, &sent, &recvd) == 0)
		c->base[to] = sent - c->wr[to];
	/* its later requests framed, and kept only where decided the same */
	if (dir == DOWN && c->bounded && c->phase[UP] < P_SPLICED && !decide_client_armable(c))
		decide_unbound(d, c);
	if (c->bounded && decide_arm(d, c, dir)) {
		if (c->held) {
			/* the other way's hold lives in the entry unframing
			 * drops: its held bytes would be stranded */
			log_warn("conn %p: its framing failed while held: closing", (void *)c);
			conn_abort(d, c);
			return HANDOVER_GONE;
		}
		decide_unbound(d, c);
	}
	if (!c->bounded && raw_arm(d, c, dir))
		log_debug("conn %p: %s without backpressure: %s", (void *)c, dir_name(dir),
			  strerror(errno));
	/* the client's sk_msg program ready before the member's first
	 * verdict can arm it */
	if (dir == DOWN && c->bounded)
		stamp_join(d, c);
	err = kbal_splice_dir(&d->maps, c->fd[from], c->cookie[from], c->fd[to]);
	if (err) {
		if (c->raw & (1u << from)) {
			bpf_map_delete_elem(d->maps.http_fd, &c->cookie[from]);
			c->raw &= ~(1u << from);
		}
		log_debug("splice %s: %s: copying in kbald", dir_name(dir), strerror(-err));
		c->phase[dir] = P_RELAY;
		return HANDOVER_MOVED;
	}
	c->phase[dir] = P_SPLICED;
	ctab_put(&d->sm, c->cookie[from], c);
	log_debug("conn %p: %s spliced after rd %llu wr %llu", (void *)c, dir_name(dir),
		  (unsigned long long)c->rd[from], (unsigned long long)c->wr[to]);
	return HANDOVER_MOVED;
}

/* ------------------------------------------------------------- endings */

/* kbald does not read a spliced socket: its events say FIN or RST */
static int sm_sock_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t ev)
{
	int dir = side_dir(side);

	if (c->phase[dir] != P_SPLICED && c->phase[dir] != P_CLOSED)
		return 0;
	if (ev & EPOLLERR && (c->bounded || c->agent) && decide_stopped(c, side)) {
		/* the stream parser stopped where it hands back (or, on a
		 * connection taken back already, stopped again before the
		 * socket left the sockhash: its report is spent) */
		if (!c->agent)
			c->back = 1;
		ev &= ~EPOLLERR;
	}
	if (side == MEMBER && ev & EPOLLERR && !c->fin[MEMBER] && c->bounded && !c->agent) {
		/* the member reset its connection: between two answers, it
		 * ends nothing of the client's (judged once all it sent has
		 * gone, in sm_progress); within one, the client's goes too */
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd[MEMBER], SOL_SOCKET, SO_ERROR, &err, &len);
		c->member_gone = GONE_RESET;
		c->fin[MEMBER] = 1;
		return 0;
	}
	if (ev & EPOLLERR && side == MEMBER && c->upgrade && !c->fin[CLIENT]) {
		/* the member reset a tunnel the kernel carries: what it sent
		 * is the client's already, which gets httpd's lingering
		 * close, not a reset (conn.c's member_reset_tunnel()) */
		c->fin[MEMBER] = 2;
		conn_linger_end(d, c, 0);
		return -1;
	}
	if (ev & EPOLLERR) {
		c->fin[side] = 2;
		conn_abort(d, c);
		return -1;
	}
	if (ev & (EPOLLRDHUP | EPOLLHUP) && c->phase[dir] == P_SPLICED && !c->fin[side])
		c->fin[side] = 1;
	/* bytes the verdict held for kbald, if no report said so */
	if (ev & EPOLLIN && c->phase[dir] == P_SPLICED && !(c->held & (1u << dir))) {
		held_found(d, c, dir);
		if (c->dead)
			return -1;
	}
	/* a framed socket is readable only with what the kernel handed back
	 * (or its FIN): decide_take_back() tells */
	if (ev & EPOLLIN && c->phase[dir] == P_SPLICED && !c->agent &&
	    c->bounded & (side == CLIENT ? BOUND_UP : BOUND_DOWN))
		c->back = 1;
	return 0;
}

/* What a spliced direction's destination must have sent, on top of its
 * base, for the FIN its source sent to go on: what kbald wrote, and what
 * the source received that kbald did not read. recvd (conn_received():
 * this connection's alone) counts the FIN's sequence number too (none
 * after a reset). */
uint64_t fin_goal_part(const struct kbal_conn *c, int dir, uint64_t recvd)
{
	int from = dir_src(dir);
	int reset = from == MEMBER &&
		    (c->member_gone == GONE_RESET || c->member_gone == GONE_HELD_RESET);

	return c->wr[dir_dst(dir)] + (recvd - (reset ? 0 : 1) - c->rd[from]);
}

/*
 * Spliced direction dir saw FIN: pass it on once the kernel delivered all.
 * What its destination must have sent by then is fixed once the FIN is
 * in: worked out at the first look (base[to] then holds it, bit dir of
 * fin_goal set); the looks after it, every 50 µs at first, read the
 * destination's counter only.
 */
static int spliced_fin_delivered(const struct kbal_daemon *d, struct kbal_conn *c, int dir,
				 uint64_t *sent_now)
{
	int from = dir_src(dir), to = dir_dst(dir);
	uint64_t sent, tmp, recvd;

	if (!(c->fin_goal & (1u << dir))) {
		if (conn_received(c, from, &recvd))
			return 1;  /* socket gone: nothing more to wait for */
		c->base[to] += fin_goal_part(c, dir, recvd);
		c->fin_goal |= 1u << dir;
	}
	if (stamp_sock_counts(d, c, to, &sent, &tmp))
		return 1;
	*sent_now = sent;
	return sent >= c->base[to];
}

/* A FIN held: base[to] is the splice's base again (the take-back and a
 * later look count from it) */
static void fin_goal_undo(struct kbal_conn *c, int dir)
{
	uint64_t recvd;

	if ((c->fin_goal & (1u << dir)) && !conn_received(c, dir_src(dir), &recvd))
		c->base[dir_dst(dir)] -= fin_goal_part(c, dir, recvd);
	c->fin_goal &= ~(1u << dir);
}

/* Spliced directions: a FIN passed on once the bytes before it are. The
 * connection waits on the draining list meanwhile (polled), or on the
 * spliced one (woken by events only). -1 when it was closed. */
static int sm_progress(struct kbal_daemon *d, struct kbal_conn *c, int *moved)
{
	int waiting = 0;

	/* a mailbox read to its end is free again */
	if (c->mboxed)
		mbox_conn_step(d, c);
	if (c->held && held_run(d, c, moved) < 0)
		return -1;
	if (c->back) {
		uint64_t cookie[2] = { c->cookie[CLIENT], c->cookie[MEMBER] };
		int r;

		/* a FIN's goal (what the destination must have sent before
		 * it goes on) counts bytes the take-back counts too: looked
		 * at afresh after it. (Left in, the take-back waited for the
		 * member's answer twice over, for ever: the client's request,
		 * handed back because the member had just closed, unread.) */
		fin_goal_undo(c, UP);
		fin_goal_undo(c, DOWN);
		/* what the kernel handed back comes after the held bytes */
		r = c->held && held_busy(d, c) ? 0 : decide_take_back(d, c);

		if (r < 0)
			return -1;
		if (r > 0) {
			/* kbald's again: its first exchange's steps go on */
			ctab_del(&d->sm, cookie[CLIENT], c);
			ctab_del(&d->sm, cookie[MEMBER], c);
			if (c->held)
				held_end(d, c);
			*moved = 1;
			return 0;
		}
		/* its FINs wait for kbald, who reads what came before them */
		waiting = c->back;
	}
	for (int dir = 0; dir < 2 && !c->back; dir++) {
		int from = dir_src(dir);
		uint64_t sent = 0;

		if (c->phase[dir] != P_SPLICED || !c->fin[from])
			continue;
		if (dir == DOWN && c->member_gone >= GONE_HELD_FIN && c->phase[UP] == P_SPLICED)
			continue;   /* held until the client ends its side */
		if (spliced_fin_delivered(d, c, dir, &sent)) {
			if (dir == DOWN && c->phase[UP] == P_SPLICED && decide_member_idle(d, c)) {
				/* the member closed its connection between two
				 * answers: as with Apache, the client's goes on;
				 * its next request is kbald's (the stream parser
				 * sees the member's socket closed) */
				fin_goal_undo(c, dir);
				c->member_gone = c->member_gone == GONE_RESET ? GONE_HELD_RESET :
						 GONE_HELD_FIN;
				log_debug("conn %p: its member's connection ended between two answers",
					  (void *)c);
				continue;
			}
			if (c->member_gone == GONE_RESET && dir == DOWN &&
			    decide_member_unanswered(d, c)) {
				/* reset before a byte of the answer a request
				 * waits for: httpd ends the client's
				 * connection with no answer and a FIN
				 * (exch_member_failed()) */
				conn_linger_end(d, c, 0);
				return -1;
			}
			if (c->member_gone == GONE_RESET) {
				conn_abort(d, c);   /* reset within an answer */
				return -1;
			}
			shutdown(c->fd[dir_dst(dir)], SHUT_WR);
			c->phase[dir] = P_CLOSED;
			*moved = 1;
		} else if (!c->drain_since || (uint32_t)sent != c->drain_sent) {
			/* a slow reader is no reason to give up: the limit
			 * counts from the last byte that went */
			if (!c->drain_since)
				d->sm.drain_fast_until = d->loop.now + DRAIN_FAST_NS;
			c->drain_since = d->loop.now;
			c->drain_sent = (uint32_t)sent;
			waiting = 1;
		} else if (d->loop.now - c->drain_since > DRAIN_MAX_NS) {
			log_warn("bytes in flight did not move for %llu s: closing",
				 DRAIN_MAX_NS / 1000000000ull);
			conn_close(d, c);
			return -1;
		} else {
			waiting = 1;
		}
	}
	if (c->f && waiting && !c->back) {
		/* one way still kbald's (d->first): the first exchanges'
		 * timer looks at the other way's FIN again (one handed
		 * back waits for kbald's exchange instead) */
		c->f->deadline = d->loop.now + DRAIN_RELAY_NS;
	} else if (!c->f && c->phase[UP] >= P_SPLICED && c->phase[DOWN] >= P_SPLICED) {
		list_del(&c->node);
		list_add_tail(waiting ? &d->sm.draining : &d->spliced, &c->node);
		if (!waiting)
			c->drain_since = 0;
	}
	return 0;
}

static void sm_tick(struct kbal_daemon *d)
{
	struct kbal_list batch;

	if (d->sm.nheld)
		held_run_all(d);
	if (d->loop.now >= d->sm.mbox_tick_at) {
		d->sm.mbox_tick_at = d->loop.now + 1000000000ull;
		mbox_tick(d, sm_gone);
	}
	/* conn_progress() puts a connection still waiting back at the tail
	 * of the draining list: walk a batch taken off it, or with two
	 * waiting the walk never ends (d->loop.now stands still within it) */
	list_take(&batch, &d->sm.draining);
	while (list_linked(&batch)) {
		struct kbal_conn *c = conn_of(batch.next);

		list_del(&c->node);
		list_add_tail(&d->sm.draining, &c->node);
		conn_progress(d, c);
	}
}

/* µs: a FIN waiting for the kernel to send the bytes before it is looked
 * at again soon, or the client, which has all it asked for, closes first
 * and keeps the TIME_WAIT */
static uint64_t sm_wake_us(const struct kbal_daemon *d)
{
	if (list_linked(&d->sm.draining))
		return d->loop.now < d->sm.drain_fast_until ? DRAIN_POLL_US : 1000;
	if (d->sm.nheld)
		return 1000;
	if (!mbox_taken(d))
		return UINT64_MAX;
	/* a mailbox taken: its look, each second */
	return d->sm.mbox_tick_at > d->loop.now ? (d->sm.mbox_tick_at - d->loop.now) / 1000 : 0;
}

static void sm_adopt(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_sk_http st;

	stamp_adopt(d, c);
	for (int dir = 0; dir < 2; dir++) {
		if (c->phase[dir] != P_SPLICED)
			continue;
		ctab_put(&d->sm, c->cookie[dir_src(dir)], c);
		if (!sm_entry(d, c->cookie[dir_src(dir)], &st) && st.mode == KBAL_SKM_RAW)
			c->raw |= 1u << dir_src(dir);
		/* held by the verdict, or bytes of a hold still to copy: the
		 * last image wrote all it had read */
		held_found(d, c, dir);
	}
}

static void sm_close(struct kbal_daemon *d, struct kbal_conn *c)
{
	decide_forget(d, c);
	stamp_leave(d, c);
	for (int side = 0; side < 2; side++)
		if (c->raw & (1u << side))
			bpf_map_delete_elem(d->maps.http_fd, &c->cookie[side]);
	c->raw = 0;
	if (c->held)
		held_end(d, c);
	/* what was queued for kbald in a mailbox and not read goes */
	mbox_conn_close(d, c);
	ctab_del(&d->sm, c->cookie[CLIENT], c);
	ctab_del(&d->sm, c->cookie[MEMBER], c);
}

static int sm_init(struct kbal_daemon *d, struct kbal_takeover *t)
{
	int err;

	list_init(&d->sm.draining);
	d->sm.events = ring_buffer__new(d->maps.events_fd, sk_event_record, d, NULL);
	kbal_loop_on(&d->loop, KBAL_TAG_SK_EVENTS, sk_events_ready);
	err = d->sm.events ? kbal_loop_add(&d->loop, d->maps.events_fd, EPOLLIN,
					   KBAL_TAG_SK_EVENTS, 0) : -errno;
	if (err) {
		log_err("the sockmap path's reports (%s): %s", "kbal_sk_events", strerror(-err));
		return err;
	}
	kbal_loop_on(&d->loop, KBAL_TAG_MBOX, sm_mbox_ready);
	return mbox_init(d, t);
}

static void sm_fini(struct kbal_daemon *d)
{
	ring_buffer__free(d->sm.events);
	d->sm.events = NULL;
	held_fini(d);
	mbox_fini(d);
	free(d->sm.slot);
	d->sm.slot = NULL;
}

const struct kbal_handover_ops kbal_handover_sockmap = {
	.name = "sockmap",
	.init = sm_init,
	.fini = sm_fini,
	.take = sm_take,
	.event = sm_sock_event,
	.progress = sm_progress,
	.adopt = sm_adopt,
	.tick = sm_tick,
	.wake_us = sm_wake_us,
	.close = sm_close,
	.settle = held_settle,
};
