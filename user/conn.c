// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conn.c - a connection's life in kbald and the small driver that moves
 * it. Every socket is non-blocking and edge-triggered; each wake-up runs
 * conn_progress(), which moves both directions as far as they go (read,
 * parse, write: exchange.c; hand over once quiet: handover.c) and returns
 * when nothing more can move; the next edge resumes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "exchange.h"
#include "exchange_pipe.h"
#include "flows.h"
#include "handover.h"
#include "inaddr.h"
#include "linger.h"
#include "log.h"
#include "logs.h"
#include "member.h"
#include "splice_sockmap.h"

#define CONN_TURNS 64             /* rounds of one connection per wake-up */

int conn_watch(struct kbal_daemon *d, struct kbal_conn *c, int side, int again)
{
	uint32_t ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	unsigned tag = side == CLIENT ? KBAL_TAG_CLIENT : KBAL_TAG_MEMBER;

	return again ? kbal_loop_mod(&d->loop, c->fd[side], ev, tag, (uintptr_t)c) :
		       kbal_loop_add(&d->loop, c->fd[side], ev, tag, (uintptr_t)c);
}

void conn_account(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m;
	uint64_t sent, recvd;

	if (c->member < 0 || !c->connected)
		return;
	m = &d->maps.members[c->member];
	if (m->busy)
		m->busy--;
	if (c->reused || c->pkt) {
		/* the socket's counters include earlier clients'; a reused
		 * one is only copied. A frozen one carried what kbald wrote
		 * and read (the handover checked), no syscall needed; the
		 * packet path counts what the program carried */
		m->bytes_to += c->wr[MEMBER];
		m->bytes_from += c->rd[MEMBER];
	} else if (kbal_sock_payload(c->fd[MEMBER], &sent, &recvd) == 0) {
		m->bytes_to += sent;
		m->bytes_from += recvd;
	}
}

int conn_received(const struct kbal_conn *c, int side, uint64_t *recvd)
{
	int err = kbal_sock_received(c->fd[side], recvd);

	if (!err && side == MEMBER)
		*recvd -= c->member_rcvd0;
	return err;
}

/* The client's socket is kbald's alone and its client may still send: no
 * EOF read from it (nor a reset), no byte of it moved by the kernel (in
 * no sockhash: spliced up, or framed there, BOUND_UP), no packet path */
static int client_may_send(const struct kbal_conn *c)
{
	return c->fd[CLIENT] >= 0 && !c->fin[CLIENT] && !c->pkt && c->phase[UP] != P_SPLICED &&
	       !(c->bounded & BOUND_UP);
}

/* the end; linger: the client's socket lingers (linger.h), brief: for
 * httpd's short time */
static void conn_finish(struct kbal_daemon *d, struct kbal_conn *c, int linger, int brief)
{
	uint32_t client = kbal_client_key(c->key.client_addr);

	if (c->f && c->f->kept) {
		/* lent, not coming back: closed below */
		kbal_pool_forget(&d->pool, c->f->kept);
		c->f->kept = NULL;
	}
	if (c->f)
		kbal_logs_request(d, c, c->f->msg[DOWN].done || c->f->answered ? '-' : 'X');
	else
		kbal_logs_flow(d, c);
	conn_account(d, c);
	kbal_flows_delete(d, c);
	/* a given-back flow's SHIFT entries outlive its lingering close: the
	 * packet path leaves its record to go with the socket */
	if (c->pf)
		c->pf->lingers = linger;
	/* the paths' part first: the packet path closes its frozen sockets
	 * without a word */
	handover_close(d, c);
	/* close() also takes the sockets out of the sockhashes */
	if (c->fd[MEMBER] >= 0)
		close(c->fd[MEMBER]);
	/* a lingering client's socket takes its count with it */
	if (linger) {
		linger_start(d, c->fd[CLIENT], client, brief, c->pf);
		c->pf = NULL;
	} else if (c->fd[CLIENT] >= 0) {
		close(c->fd[CLIENT]);
	}
	c->fd[CLIENT] = c->fd[MEMBER] = -1;
	if (c->f && c->f->fd_wait)
		d->acc.nfd_wait--;
	list_del(&c->ready);
	list_del(&c->node);
	first_free(c);
	d->nconns--;
	if (!linger)
		kbal_client_count_dec(&d->acc.clients, client);
	/* later events of this loop turn may still name it */
	c->dead = 1;
	list_add_tail(&d->dead, &c->node);
}

void conn_close(struct kbal_daemon *d, struct kbal_conn *c)
{
	conn_finish(d, c, 0, 0);
}

void conn_end(struct kbal_daemon *d, struct kbal_conn *c)
{
	/* mod_reqtimeout's 408 lingers for httpd's short time (its
	 * "short-lingering-close") */
	conn_finish(d, c, client_may_send(c), c->f && c->f->read_timed_out);
}

void conn_linger_end(struct kbal_daemon *d, struct kbal_conn *c, int brief)
{
	int linger = c->fd[CLIENT] >= 0 && !c->fin[CLIENT] &&
		     (!c->pkt || (c->pf && c->pf->given_back));

	/* what the client sends later stays in its socket, for the linger
	 * to read (what a mailbox holds of it goes with the connection) */
	if (linger && (c->phase[UP] == P_SPLICED || (c->bounded & BOUND_UP)))
		decide_sock_leave(d, c, CLIENT);
	conn_finish(d, c, linger, brief);
}

void conn_keepalive_end(struct kbal_daemon *d, struct kbal_conn *c)
{
	conn_linger_end(d, c, 1);
}

void conn_member_stalled(struct kbal_daemon *d, struct kbal_conn *c)
{
	conn_linger_end(d, c, 0);
}

void conn_restart_cut(struct kbal_daemon *d, struct kbal_conn *c)
{
	conn_linger_end(d, c, 1);
}

void conn_abort(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (int side = 0; side < 2; side++)
		if (c->fd[side] >= 0)
			setsockopt(c->fd[side], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_close(d, c);
}

const struct kbal_http_limits *conn_limits(const struct kbal_daemon *d,
					   const struct kbal_conn *c)
{
	int v;

	if (!d->conf->vhost_limits)
		return &d->conf->limits;
	v = conn_base_vhost(d, c);
	return v >= 0 ? &d->conf->vhost[v].limits : &d->conf->limits;
}

int conn_base_vhost(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	struct sockaddr_in6 local;

	if (d->conf->vhost_timeouts || !d->conf->nvhost)
		return c->vhost_base - 1;
	/* httpd reads a head as the server its address picks
	 * (ap_update_vhost_given_ip()), before any Host is known; the
	 * connection keeps it only where its timeouts need it (spliced ones
	 * stay small): asked again where it is wanted */
	kbal_in6_local(c->fd[CLIENT], &local);
	return kbal_conf_vhost(d->conf, &local, NULL, 0);
}

uint64_t conn_head_timeout_ns(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	return (uint64_t)kbal_conf_timeout(d->conf, c->vhost_base - 1) * 1000000ull;
}

uint64_t conn_timeout_ns(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	return (uint64_t)kbal_conf_timeout(d->conf, c->vhost_req - 1) * 1000000ull;
}

uint64_t conn_keepalive_ns(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	return (uint64_t)kbal_conf_keepalive_wait(d->conf, c->vhost_req - 1, c->vhost_base - 1) *
	       1000000ull;
}

/* the shortest KeepAliveTimeout a connection may wait (the idle list's
 * are in the order they began) */
static uint64_t keepalive_min_ns(const struct kbal_conf *conf)
{
	unsigned ms = conf->keepalive_timeout_ms;

	for (unsigned v = 0; conf->vhost_timeouts && v < conf->nvhost; v++)
		if (conf->vhost[v].keepalive_timeout_ms < ms)
			ms = conf->vhost[v].keepalive_timeout_ms;
	return (uint64_t)ms * 1000000ull;
}

void conn_vhosts(const struct kbal_daemon *d, struct kbal_conn *c, const char *name)
{
	int named = name && name[0] && d->conf->nvhost, base;
	struct sockaddr_in6 local;

	if (!d->conf->vhost_timeouts && !named)
		return;
	kbal_in6_local(c->fd[CLIENT], &local);
	base = kbal_conf_vhost(d->conf, &local, NULL, 0);
	if (d->conf->vhost_timeouts)
		c->vhost_base = (uint8_t)(base + 1);
	c->vhost_req = (uint8_t)((named ? kbal_conf_vhost(d->conf, &local, name, strlen(name)) :
				  base) + 1);
}

int conn_new(struct kbal_daemon *d, int fd, const struct kbal_flow_key *key,
	     const struct kbal_conn_was *was)
{
	static const struct kbal_conn_was accepted;
	struct kbal_conn *c = calloc(1, sizeof(*c));

	if (c)
		c->f = first_alloc();
	if (!c || !c->f) {
		log_err("out of memory for a connection");
		free(c);
		close(fd);
		return -ENOMEM;
	}
	if (!was)
		was = &accepted;
	c->fd[CLIENT] = fd;
	conn_vhosts(d, c, was->vhost);
	kbal_http_init_request(&c->f->msg[UP], conn_limits(d, c));
	kbal_http_init_response(&c->f->msg[DOWN]);
	c->fd[MEMBER] = -1;
	c->member = -1;
	c->key = *key;
	/* a restart's: kbald decides each request of it (its client may
	 * still be in the sockhash, the kernel handing it all back) */
	c->agent = !!was->agent;
	c->bounded = was->bounded;
	c->nreq = was->nreq;      /* a restart's: its requests so far */
	/* the socket's counters say what it carried since it was accepted:
	 * kbald's say the same (the FIN and handover checks compare them) */
	c->rd[CLIENT] = c->f->exch_rd = was->rd;
	c->wr[CLIENT] = c->f->exch_wr = was->wr;
	c->f->deadline = d->loop.now + conn_head_timeout_ns(d, c);
	d->nconns++;
	kbal_client_count_inc(&d->acc.clients, kbal_client_key(key->client_addr));
	if (was->idle_since) {
		/* between two requests: its KeepAliveTimeout runs on from its
		 * last answer (conn_run_timers()); its next bytes wake it, those
		 * that came meanwhile at once (epoll reports them as the
		 * socket is added) */
		first_free(c);
		c->since = was->idle_since;
		list_add_tail(&d->idle, &c->node);
		if (conn_watch(d, c, CLIENT, 0))
			conn_close(d, c);
		return 0;
	}
	/* TCP_NODELAY comes from the listener (accept copies it) */
	list_add_tail(&d->first, &c->node);
	if (conn_watch(d, c, CLIENT, 0)) {
		conn_close(d, c);
		return 0;
	}
	conn_progress(d, c);
	return 0;
}

/* what one direction's turn left the connection in */
enum step {
	STEP_ON,        /* go on with the other direction */
	STEP_BREAK,     /* the buffers went (handed over): no more turns */
	STEP_LEFT,      /* the connection left the driver (the packet path) */
	STEP_CLOSED,    /* closed */
	STEP_ABORT,     /* a peer reset: reset the other side, close */
	STEP_DONE,      /* over: close */
};

/* The exchange is over and the client keeps its connection: the next
 * exchange, or the idle list until its next request. */
static void next_request(struct kbal_daemon *d, struct kbal_conn *c)
{
	int drained = c->empty[CLIENT];

	exch_next(d, c);
	/* Bytes may wait in the client's socket with no edge to come: queued
	 * while the kernel had it (handed back), or arrived during this
	 * exchange, their edge spent then (conn_event()). A socket kbald read
	 * dry since has had no edge (edge-triggered: the next bytes make one),
	 * and costs no look. */
	if (!c->f && !drained && kbal_sock_unread(c->fd[CLIENT]) > 0 && !exch_wake(d, c) &&
	    !list_linked(&c->ready))
		list_add_tail(&d->ready, &c->ready);
}

/* The member reset its connection before a byte of its answer went to the
 * client: the client gets a 502, as from Apache, where a close before the
 * answer gets one too (conn_dir_step()), not a reset. */
static int member_reset_unanswered(const struct kbal_conn *c)
{
	return c->fin[MEMBER] == 2 && c->fin[CLIENT] != 2 && c->phase[DOWN] == P_HEAD &&
	       c->f->out_len[DOWN] == 0 && c->wr[CLIENT] == c->f->exch_wr;
}

/*
 * The member reset a tunnel (a 101's; a read or a send of kbald's met it,
 * as when it closed with the client's bytes unread): httpd's
 * ap_proxy_tunnel_run() bails out at the failed read or write ("Real
 * failure"), and the client's connection ends as any other, with
 * ap_lingering_close() once what it was owed is out: a FIN, what the
 * client sends after read and dropped. kbald writes what it holds for the
 * client, then ends so (conn_dir_step()); until 2026-12-07 it reset the
 * client at once. Bytes the client does not take then: a reset still.
 */
static int member_reset_tunnel(const struct kbal_conn *c)
{
	return c->upgrade && c->fin[MEMBER] == 2 && c->fin[CLIENT] != 2 && c->f;
}

/*
 * Direction dir's turn: what is pending written, its source read and
 * parsed, written again, its EOF passed on, and its handover once quiet.
 */
static enum step conn_dir_step(struct kbal_daemon *d, struct kbal_conn *c, int dir, int *moved)
{
	int from = dir_src(dir), to = dir_dst(dir), r, ended;

	*moved |= exch_write(c, dir);
	exch_compact(c, dir);
	if (c->phase[dir] != P_CLOSED && !c->local) {
		/* a long body: spliced, not read (exchange_pipe.h) */
		r = exch_pipe_read(d, c, dir);
		*moved |= r >= 0 ? r : exch_read(c, dir);
	}
	if (dir == DOWN && c->fin[MEMBER] && c->reused && c->rd[MEMBER] == 0) {
		/* a kept connection closed under the request */
		member_retry(d, c);
		*moved = 1;
		return STEP_ON;
	}
	if (c->fin[from] == 2 && !member_reset_unanswered(c) && !member_reset_tunnel(c))
		return STEP_ABORT;
	exch_parse(d, c, dir);
	if (c->dead)
		return STEP_CLOSED;
	if (!c->f)
		return STEP_BREAK;
	if (dir == DOWN) {
		exch_eof(c);   /* the end of an answer that ends at the close */
		r = handover_before_write(d, c, DOWN);
		if (r == HANDOVER_GONE)
			return c->dead ? STEP_CLOSED : STEP_LEFT;
	}
	*moved |= exch_write(c, dir);
	exch_compact(c, dir);
	if (member_reset_tunnel(c) && exch_all_written(c, DOWN)) {
		conn_linger_end(d, c, 0);   /* httpd's lingering close */
		return STEP_CLOSED;
	}
	/* a send found its peer gone; a kept connection that went before
	 * its answer is retried, when its turn comes */
	if (c->fin[CLIENT] == 2 || (c->fin[MEMBER] == 2 && !(c->reused && c->rd[MEMBER] == 0) &&
				    !member_reset_unanswered(c)))
		return STEP_ABORT;
	if (dir == DOWN && c->local && c->f->local_keep && exch_all_written(c, DOWN)) {
		/* kbald's own answer is out and the client keeps its
		 * connection, as Apache's does: its next request */
		c->local = 0;
		next_request(d, c);
		return STEP_LEFT;
	}
	if (dir == DOWN && c->local && !c->f->local_keep && exch_all_written(c, DOWN))
		/* kbald's own answer that ends the connection is out: a kept
		 * member connection (kbald decides every request) has no FIN
		 * to wait for */
		return STEP_DONE;
	/* a kept member connection that the member closed after its whole
	 * answer (P_FLUSH: kbald parsed it to its end) ends nothing of the
	 * client's: as with Apache, the client's next request goes on another */
	ended = dir == DOWN && c->pool && c->fin[MEMBER] == 1 && c->phase[DOWN] == P_FLUSH;
	/* the client's end before its request's body did, on a kept member
	 * connection (which hears no FIN of the client's, below): httpd's
	 * ap_proxy_read_input() fails, its 400 (ap_map_http_request_error()),
	 * and the member's connection, which had part of the body, goes.
	 * Before, the member waited for the rest until Timeout. */
	if (dir == UP && c->pool && c->fin[CLIENT] == 1 && c->phase[UP] == P_FLUSH &&
	    c->rd[CLIENT] < c->f->msg_total[UP]) {
		if (c->phase[DOWN] != P_HEAD || c->f->out_len[DOWN])
			return STEP_DONE;   /* an answer under way: it ends there */
		if (c->fd[MEMBER] >= 0)
			exch_drop_member(d, c);
		exch_error(d, c, 400);
		*moved = 1;
		return STEP_ON;
	}
	/* EOF from the source with nothing of it left to write */
	if (c->fin[from] && !ended && exch_all_written(c, dir) &&
	    (c->phase[dir] == P_FLUSH || c->phase[dir] == P_RELAY || c->local)) {
		if (c->local)
			return STEP_DONE;
		/* a kept member connection hears no client's FIN */
		if (c->fd[to] >= 0 && !(dir == UP && c->pool))
			shutdown(c->fd[to], SHUT_WR);
		c->phase[dir] = P_CLOSED;
		*moved = 1;
	} else if (c->fin[from] && (c->phase[dir] == P_HEAD || c->phase[dir] == P_BODY)) {
		/* the message was cut short */
		if (dir == DOWN && c->f->out_len[DOWN] == 0) {
			if (exch_member_failed(d, c))
				return STEP_CLOSED;
			*moved = 1;
		} else {
			return STEP_DONE;
		}
	}
	if (c->pool && dir == UP && c->agent && exch_request_out(c)) {
		/* the request is out, body and all: the rest is the next's */
		c->phase[UP] = P_CLOSED;
		*moved = 1;
		return STEP_ON;
	}
	if (dir == UP && decide_up_waits(c)) {
		/* the request is out; the kernel frames the next once the
		 * response's side is spliced: it must know where that ends */
		if (c->phase[DOWN] < P_SPLICED || !exch_all_written(c, UP) || !c->connected)
			return STEP_ON;
		switch (handover_quiet(d, c, UP)) {
		case HANDOVER_GONE:
			return c->dead ? STEP_CLOSED : STEP_LEFT;
		case HANDOVER_MOVED:
			*moved = 1;
			break;
		}
		return STEP_ON;
	}
	/* the response is out but for what the member sent past it
	 * (exch_past_response()): they go with the member's connection, which
	 * httpd does not reuse either (data waiting on it), and a client that
	 * keeps its connection sends its next request, to a new one */
	if (dir == DOWN) {
		uint32_t past = exch_past_response(c);

		if (past && c->f->out_sent[DOWN] == c->f->out_len[DOWN] &&
		    c->f->fwd[DOWN] + past == c->f->len[DOWN]) {
			if (c->once || c->fin[CLIENT] || c->rdhup & (1u << CLIENT) ||
			    !(exch_all_written(c, UP) || (c->agent && c->phase[UP] == P_CLOSED)))
				return STEP_DONE;
			member_unkeep(d, c);
			decide_member_done(d, c);
			next_request(d, c);
			return STEP_LEFT;
		}
	}
	/* quiet: all written, its queue found empty; not the client's side
	 * while a head with Expect: 100-continue waits for the member's
	 * answer: the body that comes meanwhile waits in kbald (do100) */
	if (c->phase[dir] != P_FLUSH || c->local || ((c->fin[from] || !c->empty[from]) && !ended) ||
	    !exch_all_written(c, dir) || !c->connected || (dir == UP && c->f->do100))
		return STEP_ON;
	if (c->pool && dir == UP) {
		if (c->agent)
			return STEP_ON;   /* its body is still to come */
		/* the request is out; nothing else of the client's may reach
		 * the kept connection */
		c->phase[UP] = P_CLOSED;
		*moved = 1;
		return STEP_ON;
	}
	if (c->pool && c->agent && !c->once && !c->fin[CLIENT] && c->phase[UP] != P_CLOSED &&
	    !exch_request_out(c))
		/* the answer came before the request's body ended (a member
		 * that did not wait for it, Expect: 100-continue): the body
		 * goes on to the member first, as httpd sends it before it
		 * reads the answer (do_send_body), then the next request */
		return STEP_ON;
	if (c->pool) {
		/* the response ended and went out: nothing past it came, the
		 * member's connection is clean for the next client; this one
		 * closes, or sends its next request */
		int clean = c->rd[MEMBER] == c->f->msg_total[DOWN] &&
			    (exch_all_written(c, UP) || (c->agent && c->phase[UP] == P_CLOSED));

		if (clean && (c->relay_back || ended)) {
			member_unkeep(d, c);       /* not for another client */
			decide_member_done(d, c);
		} else if (clean) {
			member_release(d, c);
		}
		/* a client that half-closed behind its request is answered,
		 * then closed, as Apache does */
		if (c->once || !clean || c->fin[CLIENT] || c->rdhup & (1u << CLIENT))
			return STEP_DONE;
		next_request(d, c);
		return STEP_LEFT;
	}
	switch (handover_quiet(d, c, dir)) {
	case HANDOVER_GONE:
		return c->dead ? STEP_CLOSED : STEP_LEFT;
	case HANDOVER_MOVED:
		*moved = 1;
		break;
	}
	return STEP_ON;
}

int conn_progress(struct kbal_daemon *d, struct kbal_conn *c)
{
	/* a flow on the packet path is the program's; an exchange whose
	 * access check is out waits for it (exch_auth_done()) */
	if (c->pkt || (c->f && c->f->authjob))
		return 0;
	for (int turn = 0; turn < CONN_TURNS; turn++) {
		int moved = 0;

		for (int dir = 0; dir < 2; dir++) {
			enum step s;

			if (!c->f || !exch_buffered(c, dir))
				continue;
			s = conn_dir_step(d, c, dir, &moved);
			if (s == STEP_BREAK)
				break;
			if (s == STEP_LEFT)
				return 0;
			if (s == STEP_CLOSED)
				return -1;
			if (s == STEP_ABORT) {
				conn_abort(d, c);
				return -1;
			}
			if (s == STEP_DONE) {
				conn_end(d, c);
				return -1;
			}
		}
		/* both directions decided: the flow entry says how */
		if (c->f && !c->handed && c->phase[UP] >= P_SPLICED && c->phase[DOWN] >= P_SPLICED) {
			c->handed = 1;
			kbal_flows_update(d, c, KBAL_FLOW_SPLICED);
		}
		if (c->f && (c->phase[UP] == P_SPLICED || c->phase[UP] == P_CLOSED) &&
		    (c->phase[DOWN] == P_SPLICED || c->phase[DOWN] == P_CLOSED))
			handover_done(d, c);
		if (c->phase[UP] == P_CLOSED && c->phase[DOWN] == P_CLOSED)
			goto done;
		if (handover_progress(d, c, &moved) < 0)
			return -1;
		if (c->phase[UP] == P_CLOSED && c->phase[DOWN] == P_CLOSED)
			goto done;
		if (!moved)
			return 0;
	}
	/* Budget spent with work left: edge-triggered epoll will not say so
	 * again, so come back to it after the others had their turn. */
	if (!list_linked(&c->ready))
		list_add_tail(&d->ready, &c->ready);
	return 0;
done:
	conn_close(d, c);
	return -1;
}

void conn_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t ev)
{
	if (c->dead)
		return;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		c->rdhup |= 1u << side;
	/* bytes came since its last read found it dry (the exchange may not
	 * read this side now: conn_dir_step() looks again at its end) */
	if (ev & EPOLLIN)
		c->empty[side] = 0;
	if (c->pkt) {
		handover_event(d, c, side, ev);
		return;
	}
	if (!c->f && c->phase[UP] == P_HEAD) {
		/* a keep-alive client kbald served: its next request (or its
		 * end); a write edge of the last answer means nothing now */
		if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
		if (exch_wake(d, c)) {
			conn_close(d, c);
			return;
		}
	}
	if (side == MEMBER && c->f && !c->connected && c->fd[MEMBER] >= 0) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (ev & (EPOLLERR | EPOLLHUP) ||
		    getsockopt(c->fd[MEMBER], SOL_SOCKET, SO_ERROR, &err, &len) || err)
			member_failed(d, c, err ? strerror(err) : "refused the connection");
		else if (ev & EPOLLOUT)
			member_connected(d, c);
	} else if (handover_event(d, c, side, ev) < 0) {
		return;
	}
	conn_progress(d, c);
}

void conn_run_ready(struct kbal_daemon *d)
{
	struct kbal_list batch;

	if (!list_linked(&d->ready))
		return;
	/* take the list: a connection re-queued now waits for the next turn */
	list_take(&batch, &d->ready);
	while (list_linked(&batch)) {
		struct kbal_conn *c = conn_of_ready(batch.next);

		list_del(&c->ready);
		conn_progress(d, c);
	}
}

/* RequestReadTimeout (mod_reqtimeout): by when the request under way must
 * have come as far as it has, from its first byte (the head) or the head's
 * end (the body); ~0: no bound now */
static uint64_t read_deadline(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_read_bound *b;
	uint64_t start, got;

	if (c->phase[UP] == P_HEAD && f->rq_start) {
		b = &d->conf->reqtimeout.header;
		start = f->rq_start;
		got = c->rd[CLIENT] - f->exch_rd;
	} else if (f->body_start && (c->phase[UP] == P_BODY ||
				     (c->phase[UP] == P_FLUSH && c->rd[CLIENT] < f->msg_total[UP]))) {
		b = &d->conf->reqtimeout.body;
		start = f->body_start;
		got = c->rd[CLIENT] - f->exch_rd - f->msg[UP].head_len;
	} else {
		return ~0ull;
	}
	return kbal_read_bound_at(b, start, got);
}

/* A request that did not come within RequestReadTimeout: as httpd, a
 * request line under way ends the connection silently, a head or a body
 * under way gets 408 (a member that had part of the body is reset), or the
 * connection ends where an answer is under way already */
static void read_timed_out(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	int head = c->phase[UP] == P_HEAD;

	log_info("a request's %s did not come within RequestReadTimeout", head ? "head" : "body");
	f->rq_start = f->body_start = 0;
	f->read_timed_out = 1;
	if (head && !f->msg[UP].nlines) {
		conn_end(d, c);   /* its client may be sending still */
		return;
	}
	if (!head && (c->phase[DOWN] != P_HEAD || c->local)) {
		conn_abort(d, c);           /* the member's request was cut short */
		return;
	}
	exch_error(d, c, 408);
	f->deadline = ~0ull;
	conn_progress(d, c);
}

/* Has all kbald read of the member's answer gone out to the client (no
 * rewritten head, buffered byte or pipe's byte of it waiting)? Then an
 * answer that stands still waits for its member, not for its client */
static int answer_passed(const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;

	return f->out_sent[DOWN] == f->out_len[DOWN] && f->fwd[DOWN] == f->len[DOWN] &&
	       !f->in_pipe[DOWN];
}

/* The first exchanges' deadlines: Timeout, as Apache's; RequestReadTimeout;
 * and keep-alive clients idle for KeepAliveTimeout. A client that sent
 * nothing within Timeout is closed silently, lingering as httpd's (its
 * ap_read_request() fails, CONN_STATE_LINGER: a lingering close of the
 * full 30 s, no module asked for the short one). An answer with nothing
 * moving for Timeout: where its member stopped (all it sent passed on),
 * the same lingering close (conn_member_stalled()); where the client took
 * nothing of what kbald holds for it, a plain close, as httpd's where its
 * write to the client failed (c->aborted: ap_start_lingering_close() does
 * not linger). */
void conn_run_timers(struct kbal_daemon *d)
{
	uint64_t ka = keepalive_min_ns(d->conf), rd_by;
	struct kbal_list *n, *next;

	/* in the order their wait began: none past the first that waited
	 * less than the shortest KeepAliveTimeout */
	for (n = d->idle.next; n != &d->idle && d->loop.now - conn_of(n)->since >= ka; n = next) {
		next = n->next;
		if (d->loop.now - conn_of(n)->since >= conn_keepalive_ns(d, conn_of(n)))
			conn_keepalive_end(d, conn_of(n));
	}
	decide_timeouts(d);   /* those the kernel frames */

	for (n = d->first.next; n != &d->first; n = next) {
		struct kbal_conn *c = conn_of(n);

		next = n->next;
		if (c->f->member_wait) {
			member_wait_tick(d, c);   /* the balancer's timeout= */
			continue;
		}
		rd_by = c->f->authjob || c->f->fd_wait ? ~0ull : read_deadline(d, c);
		if (d->loop.now < c->f->deadline && d->loop.now < rd_by)
			continue;
		if (d->loop.now >= rd_by) {
			read_timed_out(d, c);
			continue;
		}
		if (c->f->authjob) {
			/* the host name lookup or the password check took
			 * longer than Timeout (the thread ends it later) */
			kbal_authjob_cancel(c->f->authjob);
			c->f->authjob = NULL;
			log_warn("balancer-manager: the access check took longer than Timeout: 503");
			exch_error(d, c, 503);
			c->f->deadline = ~0ull;
			conn_progress(d, c);
			continue;
		}
		if (c->f->fd_wait) {
			/* no descriptor came free within Timeout */
			c->f->fd_wait = 0;
			d->acc.nfd_wait--;
			exch_error(d, c, 503);
			c->f->deadline = ~0ull;
			conn_progress(d, c);
			continue;
		}
		if (c->phase[UP] >= P_SPLICED && c->phase[DOWN] >= P_SPLICED) {
			/* copied by kbald: bounded as a spliced one (a
			 * tunnel by Timeout: kernel_clocks.c, tunnel_clock) */
			c->f->deadline = ~0ull;
			if (c->drain_since)
				conn_progress(d, c);   /* the spliced way's FIN waits */
			continue;
		}
		if (c->fd[MEMBER] >= 0 && !c->connected) {
			member_failed(d, c, "timed out");
			conn_progress(d, c);
		} else if (c->phase[UP] == P_HEAD && c->rd[CLIENT] == c->f->exch_rd) {
			conn_end(d, c);   /* idle: closed silently, lingering (above) */
		} else if (c->phase[UP] == P_HEAD || c->f->manager_wait) {
			/* a head, or a form's body for the manager, that did
			 * not come whole within Timeout */
			exch_error(d, c, 408);
			c->f->deadline = ~0ull;
			conn_progress(d, c);
		} else if (c->phase[DOWN] == P_HEAD && !c->local && c->f->do100 == 1) {
			/* nor to a head with Expect: 100-continue: 503, and
			 * another member where the balancer has one */
			member_continue_timeout(d, c);
			conn_progress(d, c);
		} else if (c->phase[DOWN] == P_HEAD && !c->local) {
			/* no head from the member within its timeout: 502, as
			 * Apache 2.4's mod_proxy_http answers a read timeout */
			member_answered(d, c, 502, 1);
			exch_proxy_error(d, c, 502, "Error reading from remote server");
			c->f->deadline = ~0ull;
			conn_progress(d, c);
		} else if (c->rd[MEMBER] + c->wr[CLIENT] != c->f->progress) {
			/* a first response still moving: Timeout is how long
			 * nothing moves, as Apache's */
			c->f->progress = c->rd[MEMBER] + c->wr[CLIENT];
			c->f->deadline = d->loop.now + member_timeout_ns(d, c);
		} else if (!c->local && c->phase[DOWN] != P_HEAD && answer_passed(c)) {
			log_info("a member's answer stopped for Timeout: the client's "
				 "connection ends, lingering");
			conn_member_stalled(d, c);
		} else {
			conn_close(d, c);   /* the client took nothing for Timeout */
		}
	}
}

void conn_free_dead(struct kbal_daemon *d)
{
	kbal_pool_free_dead(&d->pool);
	while (list_linked(&d->dead)) {
		struct kbal_list *n = d->dead.next;

		list_del(n);
		free(conn_of(n));
	}
}
