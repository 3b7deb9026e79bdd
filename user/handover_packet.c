// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * handover_packet.c - the packet path, a connection's side of it: after the
 * first exchange kbald's sockets are frozen and bpf/packet.bpf.c joins the
 * client's and the member's TCP connections packet by packet
 * (docs/packet.md; the kernel primitives are in splice_packet.c).
 *
 *   prepare       at the member connect: LEARN entries (the peers' clocks)
 *   before_write  the response read, none written: hand over first
 *   take          both directions quiet: hand over
 *   event         until the switch kbald's client socket still hears: the
 *                 client leaving, or bytes that raced the switch
 *   tick, events  the program reports switches and ends (kbal_pkt_events);
 *                 once a second every flow is looked at too
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <bpf/libbpf.h>
#include "conn.h"
#include "daemon.h"
#include "exchange.h"
#include "flows.h"
#include "handover.h"
#include "inaddr.h"
#include "log.h"
#include "logs.h"
#include "splice_packet.h"
#include "splice_sockmap.h"

#define PKT_EARLY_MAX (16u << 10)     /* a first response written after the handover */
#define PKT_LINGER_NS (1000000000ull) /* both FINs passed, one never acknowledged */
#define PKT_SCAN_NS   (1000000000ull) /* every flow looked at, events lost or not */

static void pkt_linger_expire(struct kbal_daemon *d, int all);

/* A joined flow's bytes so far (kbal_pkt) into its member's counters. */
void pkt_account(struct kbal_daemon *d, struct kbal_conn *c, uint64_t up, uint64_t down)
{
	struct kbal_member *m;

	if (c->member < 0)
		return;
	m = &d->maps.members[c->member];
	if (up > c->pkt_bytes[UP])
		m->bytes_to += up - c->pkt_bytes[UP];
	if (down > c->pkt_bytes[DOWN])
		m->bytes_from += down - c->pkt_bytes[DOWN];
	c->pkt_bytes[UP] = up;
	c->pkt_bytes[DOWN] = down;
}

/* c's flow's slot names no connection any more (an event for it is
 * ignored) */
static void pkt_flow_unnamed(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (d->pk.by_slot && c->pf->slot < KBAL_MAX_FLOWS && d->pk.by_slot[c->pf->slot] == c)
		d->pk.by_slot[c->pf->slot] = NULL;
}

/* The packet path's entries of c are gone or never were: its slot names
 * no connection, its record is freed. */
static void pkt_flow_drop(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (!c->pf)
		return;
	pkt_flow_unnamed(d, c);
	free(c->pf);
	c->pf = NULL;
}

/* c's flow has its kbal_pkt_seen slot: the program's events name it */
static void pkt_flow_named(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (d->pk.by_slot && c->pf->counted && c->pf->slot < KBAL_MAX_FLOWS)
		d->pk.by_slot[c->pf->slot] = c;
}

void pkt_give_up(struct kbal_daemon *d, struct kbal_conn *c, enum kbal_flow_why why)
{
	c->want_packet = 0;
	c->why = why;
	if (c->pf) {
		kbal_packet_forget(&d->pk.p, c->pf);
		pkt_flow_drop(d, c);
	}
}

/* The handover undone (nothing switched yet): the entries go, the member
 * side thaws; -1 with the connection closed where it cannot be. */
static int pkt_undo(struct kbal_daemon *d, struct kbal_conn *c, const char *what)
{
	if (kbal_packet_take_back(&d->pk.p, c->pf, c->fd[MEMBER])) {
		log_warn("conn %p: %s after the packet handover: closing", (void *)c, what);
		conn_close(d, c);
		return -1;
	}
	pkt_flow_drop(d, c);
	return 0;
}

/*
 * The client's next request reached kbald's client socket instead of being
 * switched (docs/packet.md): splice the flow with sockmap after all, which
 * carries what waits in that socket to the member. Too late for that (the
 * member already answered through the program): the connection is lost.
 */
static void pkt_take_back(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (pkt_undo(d, c, "client bytes reached kbald"))
		return;
	if (c->pkt_decide) {
		/* a decided flow not armed in time: kbald decides the request
		 * that came, as one given back (pkt_given_back()); never
		 * spliced unframed */
		if (pkt_kbalds_again(d, c, KBAL_WHY_RACE, 0) || conn_watch(d, c, CLIENT, 1)) {
			conn_close(d, c);
			return;
		}
		kbal_flows_update(d, c, KBAL_FLOW_FIRST);
		log_debug("conn %p: decided flow's request reached kbald: kbald decides it",
			  (void *)c);
		conn_progress(d, c);
		return;
	}
	c->pkt = PKT_NONE;
	c->drain_since = 0;
	c->want_packet = 0;
	c->why = KBAL_WHY_RACE;
	conn_watch(d, c, MEMBER, 0);
	/* buffers, should a direction have to be copied after all */
	c->f = first_alloc();
	if (!c->f) {
		conn_close(d, c);
		return;
	}
	list_del(&c->node);
	list_add_tail(&d->first, &c->node);
	/* the member's side first: the request waiting in kbald's client
	 * socket goes out the moment that side is spliced, and a member that
	 * answers and closes at once must find its socket already spliced */
	kbal_handover_sockmap.take(d, c, DOWN);
	kbal_handover_sockmap.take(d, c, UP);
	kbal_flows_update(d, c, KBAL_FLOW_SPLICED);
	log_debug("conn %p: packet handover taken back: sockmap", (void *)c);
	conn_progress(d, c);
}

/* Both directions are quiet after the first exchange (or all but the
 * response's write: pkt_before_write): freeze and join. HANDOVER_GONE
 * when the flow is the program's (or closed), HANDOVER_MOVED when refused
 * (another path takes it). */
static int pkt_try(struct kbal_daemon *d, struct kbal_conn *c)
{
	uint64_t pending = exch_pending(c, DOWN);
	enum kbal_flow_why why;
	int err;

	c->pf->decide = c->pkt_decide;
	/* a kept member connection's socket carried earlier clients' bytes */
	err = kbal_packet_handover(&d->pk.p, c->fd[CLIENT], c->fd[MEMBER], c->rd[CLIENT],
				   c->reused ? KBAL_PKT_RD_QUEUE : c->rd[MEMBER], (uint32_t)pending,
				   c->pf, &why);
	if (err) {
		log_debug("conn %p: packet path refused (%s): sockmap", (void *)c,
			  kbal_why_name(why));
		pkt_give_up(d, c, why);
		return HANDOVER_MOVED;
	}
	/* a decided flow armed before the response goes out, its bytes
	 * counted as written: the client's next request may come at once
	 * (armed after the write, a client quick to ask again beat the
	 * arming now and then: its request reached kbald's socket, which
	 * took the connection back from the packet path, every run of
	 * test_member_faults_joined) */
	if (c->pkt_decide)
		pkt_arm_decided(d, c, (uint32_t)pending);
	if (pending) {
		/* the response, after the entries made for its end */
		exch_write(c, DOWN);
		if (!exch_all_written(c, DOWN)) {
			/* not all of it went (the client gone, or a full
			 * socket): the client cannot have acknowledged what
			 * it has not got, so nothing switched; the flow goes
			 * on as before the handover, to sockmap */
			if (pkt_undo(d, c, "the first response not written at once"))
				return HANDOVER_GONE;
			pkt_give_up(d, c, KBAL_WHY_BUSY);
			log_debug("conn %p: first response not written at once: sockmap",
				  (void *)c);
			return HANDOVER_MOVED;
		}
	}
	if (c->reused) {
		c->pf->kept_sent = c->f->reused_sent;
		c->pf->kept_recvd = c->f->reused_recvd;
	}
	/* kbald's member socket is frozen: no more events from it */
	kbal_loop_del(&d->loop, c->fd[MEMBER]);
	c->pkt = PKT_SWITCHING;
	if (c->pkt_decide)
		c->bounded = 0;   /* the program frames it, not the stream parser */
	c->since = d->loop.now;
	c->phase[UP] = c->phase[DOWN] = P_SPLICED;
	c->handed = 1;
	kbal_flows_update(d, c, KBAL_FLOW_SPLICED);
	list_del(&c->node);
	list_add_tail(&d->pk.switching, &c->node);
	kbal_logs_request(d, c, '+');
	first_free(c);
	log_debug("conn %p: joined packet by packet%s", (void *)c,
		  pending ? ", before the response" : "");
	return HANDOVER_GONE;
}

/* Is from's socket read dry, kbald having read it to the end of its first
 * message? A request whose Content-Length body kbald read to its end and
 * no further (decide_body_bounded(): what comes behind it is the kernel's
 * to frame) leaves that unknown, the last read having got all it asked
 * for: its queue then says, once (an edge clears it again: conn_event()).
 * Until 2026-12-06 such a flow waited for a read dry that no read would
 * make: a keep-alive client's request after a body over kbald's buffer was
 * never read (`KbalSplice packet`, two members: the upload benchmark). */
static int read_dry(struct kbal_conn *c, int dir)
{
	int from = dir_src(dir);

	if (c->empty[from])
		return 1;
	if (c->fin[from] || c->rd[from] != c->f->msg_total[dir] || kbal_sock_unread(c->fd[from]))
		return 0;
	c->empty[from] = 1;
	return 1;
}

/* c's direction dir is read to the end of its first message, quiet, and
 * all of it written */
static int msg_quiet(struct kbal_conn *c, int dir)
{
	int from = dir_src(dir);

	return c->phase[dir] == P_FLUSH && !c->fin[from] && c->rd[from] == c->f->msg_total[dir] &&
	       read_dry(c, dir);
}

/*
 * The first exchange is over but for the response's write to the client:
 * the request is out and quiet, the whole response is read and none of it
 * written, and it is small enough for one send into an empty socket. Then
 * the handover goes first and the response after it: the client cannot
 * send its next request before the entries that switch it exist, where a
 * handover after the write races a client quick to ask again.
 */
static int pkt_before_write(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	if (dir != DOWN || !c->want_packet || c->pkt || c->local || c->pool || !c->connected ||
	    !c->pf || c->wr[CLIENT] != c->f->exch_wr || exch_pending(c, DOWN) > PKT_EARLY_MAX ||
	    !msg_quiet(c, DOWN) || !msg_quiet(c, UP) || !exch_all_written(c, UP) ||
	    !kbal_packet_early(&d->pk.p, c->pf))   /* last: may look up addresses */
		return HANDOVER_PASS;
	return pkt_try(d, c);
}

static int pkt_take(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	int from = dir_src(dir);

	if (!c->want_packet)
		return HANDOVER_PASS;
	/* the first request's body still coming: kbald copies it to its
	 * end, then the flow may join */
	if (c->rd[from] < c->f->msg_total[dir])
		return HANDOVER_WAIT;
	/* a byte beyond the first message: not quiet */
	if (c->rd[from] != c->f->msg_total[dir]) {
		pkt_give_up(d, c, KBAL_WHY_BUSY);
		return HANDOVER_PASS;
	}
	/* both directions quiet: join them (a client's FIN after its
	 * request is for the handover to refuse, not to wait for) */
	if (dir == DOWN && c->phase[UP] == P_FLUSH && exch_all_written(c, UP) &&
	    c->rd[CLIENT] == c->f->msg_total[UP]) {
		if (read_dry(c, UP) || c->fin[CLIENT])
			return pkt_try(d, c);
		/* the client's next request came already, behind a body
		 * kbald read to its end: not quiet, and no read of kbald's
		 * will take it (decide_up_waits()): the stream parser will */
		pkt_give_up(d, c, KBAL_WHY_BUSY);
		return HANDOVER_PASS;
	}
	return HANDOVER_WAIT;
}

/* a member-side socket no larger than a small client's window (the member
 * would otherwise keep its segments to a size the client cannot take:
 * splice_packet.h) */
static void pkt_before_connect(struct kbal_daemon *d, struct kbal_conn *c, int fd)
{
	/* packet.bpf.c rewrites IPv4 headers only: an IPv6 member's flow
	 * takes sockmap (the client's family: handover_plan()) */
	if (c->want_packet && !kbal_in6_is_v4(d->maps.members[c->member].addr)) {
		c->want_packet = 0;
		c->why = KBAL_WHY_IPV6;
	}
	if (c->want_packet)
		kbal_packet_size_member(fd, c->fd[CLIENT]);
}

static void pkt_prepare(struct kbal_daemon *d, struct kbal_conn *c, const struct sockaddr_in *local)
{
	const struct kbal_member *m = &d->maps.members[c->member];
	/* what accept and the configuration said: no syscall to ask */
	/* IPv4 both (handover.c gives the rest to sockmap) */
	struct sockaddr_in client = { .sin_family = AF_INET,
				      .sin_addr.s_addr = kbal_in6_v4(c->key.client_addr),
				      .sin_port = c->key.client_port };
	struct sockaddr_in member = { .sin_family = AF_INET, .sin_addr.s_addr = kbal_in6_v4(m->addr),
				      .sin_port = htons(m->port) };

	if (!c->want_packet)
		return;
	if (c->pf) {
		/* a flow given back keeps SHIFT entries on the client's
		 * 4-tuple: it stays off the packet path */
		c->want_packet = 0;
		c->why = KBAL_WHY_GIVEN_BACK;
		return;
	}
	if (!kbal_in6_is_v4(m->addr)) {       /* a kept connection: no connect */
		c->want_packet = 0;
		c->why = KBAL_WHY_IPV6;
		return;
	}
	c->pf = calloc(1, sizeof(*c->pf));
	if (!c->pf || kbal_packet_learn(&d->pk.p, c->fd[CLIENT], c->fd[MEMBER], c->pf, &client,
					local, &member)) {
		free(c->pf);
		c->pf = NULL;
		c->want_packet = 0;
		c->why = KBAL_WHY_MAP;
		return;
	}
	c->pf->bgen = d->maps.balancers[c->balancer].gen;
	pkt_flow_named(d, c);
}

/*
 * A decided flow whose framing the program lost (KBAL_PKT_EV_LOST, or
 * found so at kbald's look: a member's answer it could not follow, an
 * unasked head in a segment's middle): it passes nothing of the flow any
 * more, which can no longer be decided as Apache would; kbald ends the
 * connection, both peers reset (pkt_close()).
 */
static void pkt_decided_lost(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->dead || c->pkt != PKT_JOINED || !c->pf || !c->pf->decide || c->pf->given_back)
		return;
	log_warn("conn %p: a decided flow's framing lost (%s): ended", (void *)c,
		 kbal_packet_frame_why(&d->pk.p, c->pf));
	conn_close(d, c);
}

/*
 * A flow on the packet path looked at again: at the program's event (it
 * switched, or it ended), and once a second for all (their bytes for the
 * members' counters, idle ones, and any whose event was lost). kbald's
 * client-side socket goes at the switch; the flow goes at its end, at
 * once: both FINs acknowledged leave nothing to deliver (packet.bpf.c,
 * fin_passed()). 1 if the connection was closed.
 */
static int pkt_check(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_pkt_state st = {};
	int err = kbal_packet_poll(&d->pk.p, c->pf, &st);

	if (!err)
		pkt_account(d, c, st.bytes_up, st.bytes_down);
	if (!err && st.switched && c->pkt == PKT_SWITCHING) {
		kbal_loop_del(&d->loop, c->fd[CLIENT]);
		if (kbal_pkt_keeps_client(d)) {
			/* the socket stays (idle, its packets dropped by the
			 * DROP entry), acknowledged up to its end by kbald's
			 * own ACK (docs/unswitch.md: else it retransmits into
			 * the DROP entry), so that the program can give the
			 * flow back at a request */
			c->pf->kept_client = 1;
			pkt_kept_linger(c->fd[CLIENT], 1);
			if (kbal_packet_ack_kept(&d->pk.p, c->pf))
				log_warn("conn %p: no ACK for the kept client socket", (void *)c);
			else
				pkt_arm(d, c);
		} else {
			kbal_packet_close_frozen(c->fd[CLIENT]);
			c->fd[CLIENT] = -1;
			d->pk.njoined++;
		}
		c->pkt = PKT_JOINED;
		list_del(&c->node);
		list_add_tail(&d->pk.joined, &c->node);
	}
	if (!err && !st.ended && c->pkt == PKT_JOINED && c->pf->decide && !c->pf->given_back &&
	    kbal_packet_frame_why(&d->pk.p, c->pf)[0] != '-') {
		pkt_decided_lost(d, c);   /* its event lost */
		return 1;
	}
	if (!err && !st.ended && c->pkt == PKT_JOINED) {
		if ((c->pf->asked == 1 || c->pf->watched) && !c->pf->given_back &&
		    c->pf->decide && kbal_sock_unread(c->fd[MEMBER]) > 0) {
			/* given back at an answer, its event lost: only then
			 * can the member-side socket have bytes to read */
			pkt_given_back_response(d, c);
			return c->dead;
		}
		if ((c->pf->asked == 1 || c->pf->watched) && !c->pf->given_back &&
		    kbal_sock_unread(c->fd[CLIENT]) > 0) {
			/* given back, its event lost (the ring was full): only
			 * then can the kept socket have bytes to read */
			pkt_given_back(d, c);
			return c->dead;
		}
		if (pkt_maybe_ask_back(d, c))
			return 1;
	}
	if (err || st.ended) {
		log_debug("conn %p: packet flow ended (%llu bytes up, %llu down)", (void *)c,
			  (unsigned long long)st.bytes_up, (unsigned long long)st.bytes_down);
		conn_close(d, c);
		return 1;
	}
	if (st.fins && !c->drain_since) {
		/* both FINs passed, one not acknowledged yet: its sender
		 * retransmits it until the ACK comes (the event) */
		c->drain_since = d->loop.now;
	} else if (st.fins && d->loop.now - c->drain_since >= PKT_LINGER_NS) {
		/* ... or its peer is gone: nothing came for a while */
		log_debug("conn %p: packet flow ended, a FIN never acknowledged", (void *)c);
		conn_close(d, c);
		return 1;
	}
	return pkt_clocks(d, c, st.last_ns);   /* packet_clocks.c */
}

static void pkt_scan(struct kbal_daemon *d, struct kbal_list *head)
{
	struct kbal_list *n, *next;

	/* a switching flow that switches moves to the tail of the joined
	 * list: seen twice if that is the list walked, which does no harm */
	for (n = head->next; n != head; n = next) {
		next = n->next;
		pkt_check(d, conn_of(n));
	}
}

/* joined flows that kbald itself asks back once their balancer's gen
 * moves (kept socket, not watched by the program, not yet asked) */
static unsigned pkt_unwatched(struct kbal_daemon *d)
{
	unsigned n = 0;

	d->pk.unarmed = 0;
	for (struct kbal_list *l = d->pk.joined.next; l != &d->pk.joined; l = l->next) {
		const struct kbal_pkt_flow *fl = conn_of(l)->pf;
		int un = fl && fl->kept_client && !fl->watched && !fl->asked && !fl->given_back;

		n += un;
		d->pk.unarmed += un && fl->decide;
	}
	return n;
}

#define ASK_POLL_US 20000   /* a status change seen within this by kbald */

static void pkt_tick(struct kbal_daemon *d)
{
	if (d->pk.linger)
		pkt_linger_expire(d, 0);
	if (kbal_pkt_keeps_client(d) && d->pk.unwatched) {
		/* a member's status changed (its balancer's gen: kbalctl set
		 * writes it in the pinned map, kbald sees it in memory): the
		 * joined flows of that balancer that the program does not
		 * watch asked back at once, not at the once-a-second look
		 * (kbald wakes every ASK_POLL_US: pkt_wake_us()) */
		uint64_t sig = 0;
		struct kbal_list *n, *next;

		for (unsigned b = 0; b < d->maps.meta->nbalancers; b++)
			sig = sig * 1000003u + d->maps.balancers[b].gen;
		if (sig != d->pk.bgen_sig || d->pk.unarmed) {
			d->pk.bgen_sig = sig;
			for (n = d->pk.joined.next; n != &d->pk.joined; n = next) {
				next = n->next;
				pkt_maybe_ask_back(d, conn_of(n));
			}
		}
	}
	if (!d->pk.on || d->loop.now - d->pk.scan < PKT_SCAN_NS)
		return;
	d->pk.scan = d->loop.now;
	pkt_scan(d, &d->pk.switching);
	pkt_scan(d, &d->pk.joined);
	d->pk.unwatched = pkt_unwatched(d);
}

static uint64_t pkt_wake_us(const struct kbal_daemon *d)
{
	return kbal_pkt_keeps_client(d) && d->pk.unwatched ? ASK_POLL_US : UINT64_MAX;
}

/* A restart in place: flows given back and closed keep their SHIFT
 * entries a while (pkt_given_back_closed()), which the next image would
 * not know of, nor ever remove: they go now (a late segment of kbald's
 * closed sockets then leaves unshifted, as after the linger), and the
 * lingering closes of their client sockets end first. Nothing to wait
 * for. */
static int pkt_settle(struct kbal_daemon *d)
{
	linger_drop_shifted(d);   /* their entries go now */
	if (d->pk.linger)
		pkt_linger_expire(d, 1);
	return 0;
}

/* kbal_pkt_events: the flow of a slot switched or ended */
static int pkt_event_record(void *ctx, void *data, size_t len)
{
	struct kbal_daemon *d = ctx;
	const struct kbal_pkt_event *ev = data;
	struct kbal_conn *c;

	if (len < sizeof(*ev) || ev->slot >= KBAL_MAX_FLOWS)
		return 0;
	c = d->pk.by_slot[ev->slot];
	/* the slot may be another flow's by now, or this one's before its
	 * handover was taken back: the generation and the state tell */
	if (!c || c->dead || !c->pkt || !c->pf || c->pf->gen != ev->gen)
		return 0;
	if (ev->kind == KBAL_PKT_EV_LOST) {
		pkt_decided_lost(d, c);
		return 0;
	}
	if (ev->kind == KBAL_PKT_EV_BACK || ev->kind == KBAL_PKT_EV_BACK_RESPONSE) {
		if (c->pkt == PKT_JOINED && (c->pf->asked == 1 || c->pf->watched) &&
		    !c->pf->given_back) {
			if (ev->kind == KBAL_PKT_EV_BACK)
				pkt_given_back(d, c);
			else
				pkt_given_back_response(d, c);
		}
		return 0;
	}
	pkt_check(d, c);
	return 0;
}

static void pkt_events_ready(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;

	(void)obj, (void)tag, (void)events;
	ring_buffer__consume(d->pk.events);
}

/* Until the switch, kbald's client socket is the only one that still
 * hears anything: the client leaving before it ends the flow, and bytes
 * that slipped past the switch take it back. */
static int pkt_sock_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t ev)
{
	if (side != CLIENT)
		return 0;
	if (c->pkt == PKT_SWITCHING && ev & EPOLLIN && kbal_sock_unread(c->fd[CLIENT])) {
		/* a decided flow's request given back by the switching packet
		 * itself (its switch and its give-back in one run): the
		 * flow's state says so */
		if (c->pf->watched && (pkt_check(d, c) || c->pkt != PKT_SWITCHING))
			return c->dead ? -1 : 0;
		pkt_take_back(d, c);
		return c->dead ? -1 : 0;
	}
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		conn_close(d, c);
		return -1;
	}
	return 0;
}

static void pkt_adopt(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->pf) {
		kbal_packet_claim(&d->pk.p, c->pf);
		pkt_flow_named(d, c);
	}
	d->pk.njoined += c->pkt == PKT_JOINED && !(c->pf && c->pf->kept_client);
	if (c->pkt == PKT_JOINED && c->pf && c->pf->kept_client && !c->pf->given_back &&
	    c->pf->asked != 2) {
		/* armed by the image before: this program's kbal_pkt_back is
		 * empty (pkt_arm()); asked (the gen moved) stays asked */
		/* a decided flow: armed again with its decision
		 * (pkt_rearm_decided()); its requests wait meanwhile */
		unsigned how = c->pf->asked == 1 ? KBAL_PKT_BACK_ASKED : KBAL_PKT_BACK_WATCH;
		int err;

		c->pf->asked = c->pf->watched = 0;
		if (c->balancer < 0 || !kbal_pkt_keeps_client(d))
			err = -EINVAL;
		else if (c->pf->decide && how == KBAL_PKT_BACK_WATCH)
			err = pkt_rearm_decided(d, c);
		else
			err = kbal_packet_ask_back(&d->pk.p, c->pf, c->fd[CLIENT], c->fd[MEMBER],
						   how, c->balancer, c->pf->bgen, NULL, 0);
		if (err && err != -EAGAIN)
			log_debug("conn %p: joined flow not armed again: %s", (void *)c,
				  strerror(-err));
		d->pk.unwatched += err != 0 && (how == KBAL_PKT_BACK_WATCH || c->pf->decide);
		d->pk.unarmed += err != 0 && c->pf->decide;
	}
}

/*
 * A flow given back keeps its SHIFT entries for as long
 * as kbald's sockets may still send or hear anything of it: their FINs
 * and last ACKs come after the connection is closed here. Kept a few
 * seconds (enough on lo; a TIME_WAIT socket's answer to a late
 * retransmitted FIN, up to 60 s later, would go out unshifted) after its
 * client socket's close, which a lingering close puts off (pf->lingers:
 * linger.c hands the record back as it closes).
 */
#define PKT_LINGER_GIVEN_BACK_NS (3000000000ull)

struct pkt_linger {
	struct pkt_linger *next;
	uint64_t until;
	struct kbal_pkt_flow fl;
};

void pkt_given_back_closed(struct kbal_daemon *d, struct kbal_pkt_flow *fl)
{
	struct pkt_linger *l = malloc(sizeof(*l));

	if (!l) {
		kbal_packet_forget(&d->pk.p, fl);
	} else {
		l->fl = *fl;
		l->until = d->loop.now + PKT_LINGER_GIVEN_BACK_NS;
		l->next = d->pk.linger;
		d->pk.linger = l;
	}
	free(fl);
}

static void pkt_linger_expire(struct kbal_daemon *d, int all)
{
	struct pkt_linger **pp = &d->pk.linger, *l;

	while ((l = *pp)) {
		if (all || d->loop.now >= l->until) {
			kbal_packet_forget(&d->pk.p, &l->fl);
			*pp = l->next;
			free(l);
		} else {
			pp = &l->next;
		}
	}
}

static void pkt_close(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_pkt_probe probe;
	struct kbal_pkt_state st;
	int tell = 0;

	if (c->pkt == PKT_JOINED && !(c->pf && c->pf->kept_client))
		d->pk.njoined--;
	if (!c->pf)
		return;
	if (c->pf->given_back) {
		/* the record goes with the client socket: at once, or once
		 * its lingering close is over (conn.c) */
		pkt_flow_unnamed(d, c);
		if (!c->pf->lingers) {
			pkt_given_back_closed(d, c->pf);
			c->pf = NULL;
		}
		return;
	}
	if (c->pkt) {
		log_debug("conn %p: closing a joined flow (%s)", (void *)c,
			  c->pkt == PKT_JOINED ? "joined" : "switching");
		/* also tells whether the entries are still this flow's: a
		 * client reusing its port after the end had them deleted (a
		 * SYN on an ended flow) and may have new ones under the same
		 * keys, which forget must not remove */
		if (kbal_packet_poll(&d->pk.p, c->pf, &st) == 0) {
			/* the last tick's bytes too (kbal_pkt_seen lags by
			 * them, an ended flow's direction without a FIN too) */
			kbal_packet_exact(&d->pk.p, c->pf, &st);
			pkt_account(d, c, st.bytes_up, st.bytes_down);
			/* switched since the last look: the sockets' state is
			 * the past, they must go silently */
			if (st.switched)
				c->pkt = PKT_JOINED;
			/* still open (kbald stops, or it was idle too long):
			 * the peers are told, not left waiting */
			tell = c->pkt == PKT_JOINED && !st.ended && !c->drain_since &&
			       kbal_packet_end_prepare(&d->pk.p, c->pf, &probe) == 0;
			log_debug("conn %p: ending a joined flow%s", (void *)c,
				  tell ? ", telling the peers" : "");
		}
	}
	kbal_packet_forget(&d->pk.p, c->pf);
	if (c->pkt == PKT_SWITCHING && c->fd[MEMBER] >= 0) {
		/* nothing passed since the freeze: the member-side socket's
		 * state is still true, it can say goodbye */
		kbal_packet_thaw(c->fd[MEMBER], 0);
	} else if (c->pkt == PKT_JOINED) {
		/* the peers talk to each other now: kbald's sockets leave
		 * without a word */
		for (int side = 0; side < 2; side++)
			if (c->fd[side] >= 0) {
				kbal_packet_close_frozen(c->fd[side]);
				c->fd[side] = -1;
			}
		if (tell)
			kbal_packet_end_probe(&d->pk.p, &probe);
	}
	pkt_flow_drop(d, c);
}

static int pkt_wanted(const struct kbal_daemon *d, const struct kbal_takeover *t)
{
	for (unsigned i = 0; t && i < t->nconns; i++)
		if (t->conns[i].pkt)
			return 1;   /* joined flows to go on with */
	for (unsigned b = 0; b < d->conf->nbalancers; b++)
		if (d->conf->balancers[b].splice == KBAL_SPLICE_PACKET)
			return 1;
	return 0;
}

/* Load the program (where a balancer uses the path, or a restart hands
 * joined flows over), watch its events. */
/* KbalHost, and kbald's listeners (IPv4, or both families): what the
 * second chance reads (scale-out.md) */
static int pkt_hosts_init(struct kbal_daemon *d)
{
	struct kbal_service svc[KBAL_MAX_SERVICES] = {};
	uint32_t addrs[KBAL_MAX_HOSTS];
	unsigned n = 0;

	for (unsigned i = 0; i < KBAL_MAX_HOSTS; i++)
		addrs[i] = d->conf->host[i].addr;
	for (unsigned i = 0; i < d->conf->nlisten && n < KBAL_MAX_SERVICES; i++) {
		const struct sockaddr_in6 *a = &d->conf->listen[i].addr;

		if (!kbal_in6_is_v4(&a->sin6_addr) && !kbal_in6_is_any(&a->sin6_addr))
			continue;
		svc[n].addr = kbal_in6_is_v4(&a->sin6_addr) ? kbal_in6_v4(&a->sin6_addr) : 0;
		svc[n++].port = ntohs(a->sin6_port);
	}
	return kbal_packet_hosts(&d->pk.p, addrs, svc, n);
}

static int pkt_init(struct kbal_daemon *d, struct kbal_takeover *t)
{
	int err;

	list_init(&d->pk.switching);
	list_init(&d->pk.joined);
	if (!pkt_wanted(d, t))
		return 0;
	err = kbal_packet_init(&d->pk.p, d->maps.pin_dir, t ? t->links : NULL, t ? t->nlinks : 0);
	if (t)
		t->nlinks = 0;   /* the links are the program's now, or closed */
	if (err)
		return err;
	d->pk.on = 1;
	if ((err = pkt_hosts_init(d)))
		return err;   /* fini undoes what was done */
	d->pk.by_slot = calloc(KBAL_MAX_FLOWS, sizeof(*d->pk.by_slot));
	d->pk.events = ring_buffer__new(d->pk.p.events_fd, pkt_event_record, d, NULL);
	kbal_loop_on(&d->loop, KBAL_TAG_PKT_EVENTS, pkt_events_ready);
	if (!d->pk.by_slot || !d->pk.events ||
	    (err = kbal_loop_add(&d->loop, d->pk.p.events_fd, EPOLLIN, KBAL_TAG_PKT_EVENTS, 0))) {
		err = !d->pk.by_slot ? -ENOMEM : err ?: -errno;
		log_err("the packet path's reports (%s): %s", KBAL_MAP_PKT_EVENTS, strerror(-err));
		return err;   /* fini undoes what was done */
	}
	return 0;
}

static void pkt_fini(struct kbal_daemon *d)
{
	pkt_linger_expire(d, 1);
	ring_buffer__free(d->pk.events);
	d->pk.events = NULL;
	free(d->pk.by_slot);
	d->pk.by_slot = NULL;
	if (d->pk.on)
		kbal_packet_fini(&d->pk.p);
	d->pk.on = 0;
}

const struct kbal_handover_ops kbal_handover_packet = {
	.name = "packet",
	.init = pkt_init,
	.fini = pkt_fini,
	.before_connect = pkt_before_connect,
	.prepare = pkt_prepare,
	.before_write = pkt_before_write,
	.take = pkt_take,
	.event = pkt_sock_event,
	.adopt = pkt_adopt,
	.tick = pkt_tick,
	.wake_us = pkt_wake_us,
	.settle = pkt_settle,
	.close = pkt_close,
};

int kbal_pkt_keeps_client(const struct kbal_daemon *d)
{
	return d->pk.on && !d->pk.p.host_id && d->pk.p.back_fd >= 0 && d->pk.p.frame;
}
