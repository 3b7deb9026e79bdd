// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * takeback.c - a connection the sockmap path frames taken back at the
 * request or response head the kernel hands over (decide.h,
 * decide_take_back()): the kernel done with it, what it queued for kbald
 * read, the connection kbald's again from that boundary on. Planning and
 * arming the framing: decide.c.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "inaddr.h"
#include "exchange.h"
#include "flows.h"
#include "log.h"
#include "mailbox.h"
#include "member.h"
#include "sockmap_held.h"
#include "splice_sockmap.h"
#include "stamp.h"

/* How many responses the member still owes kbald (0 or 1: the kernel keeps
 * one request at a time), or -1 while the kernel is not done. */
static int owed_now(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_sk_http *k,
		    const struct kbal_sk_http *m)
{
	uint64_t recvd;

	if (m->mode == KBAL_SKM_AGENT) {
		/* a response head came back. Taking the client's socket lock
		 * lets a verdict that ran on it meanwhile end first: then its
		 * count of kept requests is final (the member's verdict made
		 * the client's AGENT) */
		kbal_sock_received(c->fd[CLIENT], &recvd);
		if (sk_state(d, c->cookie[CLIENT], k))
			return -2;
		/* an answer to no request, every kept one answered: it goes
		 * with the member's connection, which httpd would not reuse
		 * either (data waiting on it), and the client's goes on */
		if (m->why == KBAL_SKB_UNASKED && m->expect == KBAL_SKX_HEAD &&
		    k->msgs + m->owed == m->msgs)
			return 0;
		if ((m->why != KBAL_SKB_RESPONSE && m->why != KBAL_SKB_PEER) ||
		    m->expect != KBAL_SKX_HEAD || k->msgs + m->owed != m->msgs + 1)
			return -2;   /* framing lost within a response */
		return 1;
	}
	if (m->msgs != k->msgs + m->owed || m->expect != KBAL_SKX_HEAD)
		return -1;   /* the kernel still carries an answer */
	return 0;
}

int decide_stopped(const struct kbal_conn *c, int side)
{
	int err = 0;
	socklen_t len = sizeof(err);

	/* Reading SO_ERROR clears it: the socket's next read is a read. None
	 * at all: a report read already (an event of the same epoll batch
	 * took the connection back first) */
	return getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
	       (err == ESTRPIPE || err == 0);
}

void decide_sock_leave(struct kbal_daemon *d, struct kbal_conn *c, int side)
{
	bpf_map_delete_elem(d->maps.src_fd, &c->cookie[side]);
	bpf_map_delete_elem(d->maps.dst_fd, &c->cookie[side]);
	if (side == CLIENT)
		stamp_sock_leave(d, c);
}

/* n bytes read from the mailbox (or the socket, fd) into the direction's
 * buffer; a mailbox's psock worker may still be moving the last of them
 * (a verdict that ran as the socket left): waited for, a moment. From a
 * mailbox, no more than the buffer takes: the rest, *left, is read from
 * there before the socket (exch_read()). 0, or -1 */
static int take_bytes(struct kbal_daemon *d, struct kbal_conn *c, int side, int slot, uint64_t n,
		      uint64_t *left)
{
	struct kbal_first *f = c->f;
	int dir = side_dir(side), waits = 20;

	while (n) {
		if (slot >= 0 && f->len[dir] == BUF_SIZE)
			break;
		size_t room = BUF_SIZE - f->len[dir];
		ssize_t r = slot >= 0 ? mbox_read(d, (unsigned)slot, f->buf[dir] + f->len[dir],
						  n < room ? n : room)
				      : recv(c->fd[side], f->buf[dir] + f->len[dir],
					     n < room ? n : room, MSG_DONTWAIT);

		if (r < 0 && (errno == EINTR || (slot < 0 && errno == ESTRPIPE)))
			continue;
		if (r < 0 && errno == EAGAIN && slot >= 0 && waits-- > 0) {
			struct pollfd p = { .fd = mbox_fd(d, (unsigned)slot), .events = POLLIN };

			poll(&p, 1, 5);
			continue;
		}
		if (r <= 0) {
			/* counted as queued, yet not there */
			int e = errno;

			log_debug("conn %p: %s: %llu byte(s) counted queued%s: read %zd (%s), %d unread",
				  (void *)c, side == CLIENT ? "client" : "member", (unsigned long long)n,
				  slot >= 0 ? " in a mailbox" : "", r, r < 0 ? strerror(e) : "none",
				  kbal_sock_unread(c->fd[side]));
			return -1;
		}
		f->len[dir] += r;
		c->rd[side] += r;
		n -= r;
		/* on its own ingress, what the verdict queued since the count
		 * was read is taken too: leaving the sockhashes drops it */
		if (!n && slot < 0)
			n = (uint64_t)kbal_sock_unread(c->fd[side]);
	}
	*left = n;
	return 0;
}

/* What the verdict queued for kbald (st->passed bytes: one head, or what
 * came while the socket's worker still sent, KBAL_SK_PASS_MAX at most; the
 * stream parser stops after it) is read into the direction's buffer, from
 * the socket's mailbox (mailbox.c) or, none free, its own ingress; the
 * socket leaves the sockhashes, and everything after it, still in its TCP
 * receive queue, is read as from any socket. 0, or -1. */
static int take_queued(struct kbal_daemon *d, struct kbal_conn *c, int side,
		       const struct kbal_sk_http *st)
{
	int err;

	if (st->mbox) {
		struct kbal_sk_http last;
		uint64_t recvd, left = 0;
		unsigned slot = st->mbox - 1u;

		/* out first; then a call that takes the socket's lock waits for
		 * a verdict still running on it: the count is final after */
		decide_sock_leave(d, c, side);
		kbal_sock_received(c->fd[side], &recvd);
		err = take_bytes(d, c, side, (int)slot,
				 sm_entry(d, c->cookie[side], &last) ? st->passed : last.passed, &left);
		if (err) {
			mbox_abandon(d, slot);
		} else if (left) {
			/* read from there first (exch_read()), then the socket */
			mbox_hand(d, slot, c, side, (uint32_t)left);
		} else {
			mbox_release(d, slot);
		}
	} else {
		uint64_t left;

		err = take_bytes(d, c, side, -1, st->passed, &left);
		decide_sock_leave(d, c, side);
	}
	bpf_map_delete_elem(d->maps.http_fd, &c->cookie[side]);
	c->bounded &= ~(side == CLIENT ? BOUND_UP : BOUND_DOWN);
	return err;
}

/* the <VirtualHost> of the requests the kernel kept: the connection's
 * address and their Host, f->host */
static int kept_vhost(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	struct sockaddr_in6 local;

	if (!d->conf->nvhost)
		return -1;
	kbal_in6_local(c->fd[CLIENT], &local);
	return kbal_conf_vhost(d->conf, &local, c->f->host, strlen(c->f->host));
}

/* the verdict counted them queued; the psock's worker (the mailbox's, or
 * the socket's own) may still be moving them to where a read finds them */
static int queued_there(struct kbal_daemon *d, const struct kbal_conn *c, int side,
			const struct kbal_sk_http *st)
{
	if (st->mbox)
		return mbox_holds(d, st->mbox - 1u, st->passed);
	return !st->passed || (uint64_t)kbal_sock_unread(c->fd[side]) >= st->passed;
}

void decide_agent_again(struct kbal_conn *c, uint8_t why)
{
	c->back = 0;
	c->agent = 1;
	c->rearm = 0;
	/* the sockets were the kernel's: whether kbald's last read found them
	 * dry says nothing now (a handed back request waits unread) */
	c->empty[CLIENT] = c->empty[MEMBER] = 0;
	c->why = why;
	c->handed = 0;
	c->drain_since = 0;
	c->fin_goal = 0;
	/* the sockets' FINs are read again, after what is queued */
	c->fin[CLIENT] = c->fin[MEMBER] = 0;
}

/* Has each socket had all the kernel gave it, and kbald copied all the
 * verdict held for it? (1: yes) */
static int kernel_done(struct kbal_daemon *d, struct kbal_conn *c, const struct kbal_sk_http *k,
		       const struct kbal_sk_http *m)
{
	uint64_t sent, recvd;

	/* what the verdict held for kbald to copy (its report perhaps not
	 * read yet: a hand-back holds the peer's later bytes, sockmap.bpf.c's
	 * peer_back) goes first; taken back now, the member's would be lost */
	for (int side = 0; side < 2; side++) {
		const struct kbal_sk_http *st = side == CLIENT ? k : m;

		if (st->held != c->rd[side] - st->rd_base) {
			held_found(d, c, side_dir(side));
			return 0;
		}
	}
	/* kbald writes to the client only after all the kernel took for it,
	 * and ends the connection only after it too: the psock's worker may
	 * still hold an answer the verdict kept when what came after it was
	 * handed back, and closing now would drop it */
	if (stamp_sock_counts(d, c, CLIENT, &sent, &recvd) ||
	    sent < c->base[CLIENT] + c->wr[CLIENT] + m->kept)
		return 0;
	/* and the member all the kernel took for it (a request's body the
	 * member's worker still sends would go with its queue), while it
	 * can take it: one that closed or reset takes nothing more */
	return c->member_gone || c->fin[MEMBER] ||
	       (!kbal_sock_counts(c->fd[MEMBER], &sent, &recvd) &&
		sent >= c->base[MEMBER] + c->wr[MEMBER] + k->kept);
}

int decide_take_back(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_sk_http k, m;
	int owed;

	if (c->agent || !(c->bounded & BOUND_UP) || sk_state(d, c->cookie[CLIENT], &k)) {
		c->back = 0;
		return 0;
	}
	/* (the client's side closed is its FIN passed on: a head handed back
	 * after it is owed all the same, its reader read EOF again after) */
	if (!(c->bounded & BOUND_DOWN) || c->phase[DOWN] != P_SPLICED ||
	    (c->phase[UP] != P_SPLICED && c->phase[UP] != P_CLOSED) ||
	    sk_state(d, c->cookie[MEMBER], &m)) {
		/* kbald still writes the response (or copies it): looked at
		 * again once the member's side is framed */
		c->back = k.mode == KBAL_SKM_AGENT;
		return 0;
	}
	if (k.mode == KBAL_SKM_KERNEL && m.mode == KBAL_SKM_KERNEL) {
		c->back = 0;          /* a FIN's event, nothing handed back */
		return 0;
	}
	c->back = 1;
	if (!kernel_done(d, c, &k, &m))
		return c->dead ? -1 : 0;
	owed = owed_now(d, c, &k, &m);
	if (owed == -1)
		return 0;
	/* A stream parser stops only once its socket's worker has sent all
	 * (no -ESTRPIPE while it sends: sockmap.bpf.c, kbal_egress_pending());
	 * until then the verdict queues what comes for kbald. The reads of the
	 * counts in kernel_done() took each socket's lock, after any verdict
	 * that ran on it: the counts are final now, read again, and judged
	 * again (a verdict that framed the answer's end had not yet counted
	 * its message kept or held: taken back on the first read, the
	 * member's last 70 KB, held for kbald, went with its socket; seen
	 * 3 times in about 5,000 connections of a pipelining client,
	 * 2026-12-06). */
	if (sk_state(d, c->cookie[CLIENT], &k) || sk_state(d, c->cookie[MEMBER], &m) ||
	    !kernel_done(d, c, &k, &m))
		return c->dead ? -1 : 0;
	if (owed < -1) {
		/* handed back at its first byte: nothing of it went out,
		 * and the client's connection ends as httpd ends it on a
		 * later request, with no answer and a FIN
		 * (exch_member_failed()) */
		log_warn("conn %p: a member's response does not parse where it began: closing",
			 (void *)c);
		conn_linger_end(d, c, 0);
		return -1;
	}
	if (!queued_there(d, c, CLIENT, &k) || (owed && !queued_there(d, c, MEMBER, &m)))
		return 0;
	log_debug("conn %p: handed back (client %s, member %s), %d response owed, %llu request(s) "
		  "kept", (void *)c, kbal_sk_back_name(k.why), kbal_sk_back_name(m.why), owed,
		  (unsigned long long)k.msgs);
	if (!owed)
		decide_member_done(d, c);
	/* the stopped stream parser's report, if not read yet: the sockets'
	 * next calls are theirs */
	for (int side = 0; side < 2; side++)
		if (c->fd[side] >= 0)
			decide_stopped(c, side);
	decide_agent_again(c, KBAL_WHY_BACK);
	c->member_gone = 0;
	/* rd[CLIENT] is where kbald is in the client's bytes: past those the
	 * kernel carried to the member too (what counts the client's bytes
	 * still in flight at a later splice, its FIN's included, starts there;
	 * the exchange that begins now too) */
	c->rd[CLIENT] += k.kept;
	/* the requests the kernel kept count as the connection's own
	 * (MaxKeepAliveRequests): kbald counts on from there */
	c->nreq = c->nreq + k.msgs < UINT32_MAX ? (uint32_t)(c->nreq + k.msgs) : UINT32_MAX;
	if (exch_wake(d, c)) {
		conn_close(d, c);
		return -1;
	}
	c->phase[UP] = c->phase[DOWN] = P_HEAD;
	if (take_queued(d, c, CLIENT, &k) ||
	    (owed && take_queued(d, c, MEMBER, &m))) {
		log_warn("conn %p: what the kernel handed back is not there: closing", (void *)c);
		conn_abort(d, c);
		return -1;
	}
	c->f->pass = k.pass;
	memcpy(c->f->host, k.host, k.host_len < sizeof(c->f->host) ? k.host_len : 0);
	/* the kept requests' virtual host (the kernel kept only those with
	 * this Host): its ProxyPassReverse and Header rules for the answer owed */
	c->f->vhost = kept_vhost(d, c);
	if (owed)
		decide_owed_answer(d, c);
	kbal_flows_update(d, c, KBAL_FLOW_FIRST);
	return 1;
}

/*
 * The member's answer to the last request the kernel kept is owed (a
 * response head handed or given back): kbald writes its head as it would
 * have (ProxyPassReverse), and the member's connection goes after it; the
 * client's next request waits in its socket meanwhile. Both kernels'
 * take-backs (above, and the packet path's pkt_kbalds_again()). The
 * member's connection is counted by its socket's counters from here on
 * (conn_account() at its close: what kbald moved of this connection
 * before, and the answer; not what the packet program carried, which
 * passed the frozen socket by and was counted as it went): a kept one's
 * (the packet path joins one with a long first answer, and keeps it
 * c->reused) held earlier clients' bytes too, which come off its member's
 * counters now (member_own_kept(), as the sockmap path's handover does;
 * before, they were counted again at its close).
 */
void decide_owed_answer(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_http_msg *rq = &c->f->msg[UP];

	/* the request kbald did not read: what the kernel keeps is an
	 * HTTP/1.1 keep-alive one (its answer's interim heads go to the
	 * client, and kbald's own answer leaves the connection open) */
	rq->http_major = rq->http_minor = 1;
	rq->keep_alive = 1;
	c->pool = 1;
	c->relay_back = 1;
	member_own_kept(d, c);
	c->phase[UP] = P_CLOSED;
	c->rd[MEMBER] = c->wr[MEMBER] = 0;
}
