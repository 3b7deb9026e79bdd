// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * splice_packet.c - the packet-level handover (see docs/packet.md).
 *
 * At the member connect kbald installs LEARN entries, so that the program
 * notes the client's and the member's TCP clocks (their TSvals) during the
 * first exchange. At the handover:
 *   1. the member-side socket is frozen (TCP_REPAIR) and its sequence state
 *      read; the client-side socket is read in repair mode and let go again
 *      (TCP_REPAIR_OFF_NO_WP: no window probe), because it must stay able to
 *      retransmit the end of the first response until the client acks it;
 *   2. four entries are written: member->kbald REWRITE, kbald->member DROP,
 *      client->kbald SWITCH (passes to kbald's socket until the client's
 *      first packet that acks everything, then REWRITE), kbald->client HOLD
 *      (passes until that switch, then DROP);
 *   3. the sequence state is read again: a byte that reached a socket in
 *      between means the flow was not quiet, and the entries are removed.
 * After the switch kbald closes its client-side socket in repair mode
 * (nothing is sent); the member-side socket stays frozen until the flow
 * ends, reserving the port the member sees.
 *
 * Beside it: packet_attach.c (the program's object and its tcx links),
 * tcp_state.c (a socket read in repair mode), packet_segments.c (the
 * segments kbald sends itself: window retractions, end probes).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include "log.h"
#include "maps.h"
#include "splice_packet.h"
#include "packet_int.h"
#include "splice_sockmap.h"

static void key_of(struct kbal_pkt_key *k, const struct sockaddr_in *src,
		   const struct sockaddr_in *dst)
{
	memset(k, 0, sizeof(*k));
	k->saddr = src->sin_addr.s_addr;
	k->daddr = dst->sin_addr.s_addr;
	k->sport = src->sin_port;
	k->dport = dst->sin_port;
}

/* kbal_pkt_live: up before a flow's first entry is written, down once
 * its entries are gone, so that the program never skips a flow's packet */
static int count_flow(struct kbal_packet *p, struct kbal_pkt_flow *fl)
{
	uint32_t s;

	if (fl->counted)
		return 0;
	/* a slot in kbal_pkt_seen: the next free one from a rotating cursor */
	for (uint32_t i = 0; i < KBAL_MAX_FLOWS; i++) {
		s = (p->slot_next + i) % KBAL_MAX_FLOWS;
		if (!p->slot_used[s])
			goto found;
	}
	return -ENOSPC;
found:
	p->slot_used[s] = 1;
	p->slot_next = s + 1;
	fl->slot = s;
	/* zeroed and this flow's before any entry names it */
	for (int d = 0; d < 2; d++) {
		memset(&p->seen[2 * s + d], 0, sizeof(p->seen[0]));
		__atomic_store_n(&p->seen[2 * s + d].gen, fl->gen, __ATOMIC_RELEASE);
		/* the framing's: no message yet; seq and boundary at the
		 * handover (handover_entries()), before any entry frames */
		memset(&p->frame[2 * s + d], 0, sizeof(p->frame[0]));
		__atomic_store_n(&p->frame[2 * s + d].gen, fl->gen, __ATOMIC_RELEASE);
	}
	fl->counted = 1;
	__atomic_fetch_add(p->live, 1, __ATOMIC_SEQ_CST);
	return 0;
}

void kbal_packet_claim(struct kbal_packet *p, const struct kbal_pkt_flow *fl)
{
	if (p->slot_used && fl->counted && fl->slot < KBAL_MAX_FLOWS)
		p->slot_used[fl->slot] = 1;
	/* new flows' generations go on after the ones taken over: a flow on
	 * the 4-tuple of an old one must not share its generation, which is
	 * what tells whose entries are whose */
	if ((int16_t)(fl->gen - p->gen) > 0)
		p->gen = fl->gen;
}

static void uncount_flow(struct kbal_packet *p, struct kbal_pkt_flow *fl)
{
	if (!fl->counted)
		return;
	fl->counted = 0;
	p->slot_used[fl->slot] = 0;
	__atomic_fetch_sub(p->live, 1, __ATOMIC_SEQ_CST);
}

static int addr_of(int fd, int peer, const struct sockaddr_in *known, struct sockaddr_in *out)
{
	socklen_t l = sizeof(*out);

	if (known) {
		*out = *known;
		return 0;
	}
	return (peer ? getpeername(fd, (struct sockaddr *)out, &l) :
		       getsockname(fd, (struct sockaddr *)out, &l)) ? -errno : 0;
}

/*
 * A sender's segments are at most half the largest window its peer ever
 * announced (tcp_bound_to_half_wnd), and that largest window never goes
 * down, whatever is announced later. After the switch the member's peer is
 * the client, but the largest window it knows is the one kbald's
 * member-side socket announced (in its SYN, already 64 KB); against a
 * client whose whole window is smaller than such a segment, the member
 * sends only when its persist timer fires (sender-side silly window
 * avoidance: one window per 200 ms or more). So where the client's window
 * is smaller than a segment, kbald's member-side socket gets a receive
 * buffer no larger, before its SYN: every window it announces, and so the
 * member's segments, fit the client's. (Only such clients: for any other,
 * the member's segments fit the client's window anyway.)
 */
void kbal_packet_size_member(int mfd, int cfd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int v;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof(ti.tcpi_snd_wnd) ||
	    !ti.tcpi_snd_wnd || ti.tcpi_snd_wnd >= ti.tcpi_advmss)
		return;
	v = (int)ti.tcpi_snd_wnd;
	setsockopt(mfd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

/*
 * Where the client-side socket's send sequence starts (its first byte
 * after the SYN), so that the handover can tell the end of its send queue
 * without selecting that queue in repair mode (pkt_read_state()). Read here,
 * with nothing unsent in the queue (nothing of the response written yet):
 * the queue's end less what was acked and what is queued. Not known (and
 * the handover reads the queue as before) if something is unsent.
 */
static void learn_send_base(int cfd, struct kbal_pkt_flow *fl)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint32_t ws, end0;
	int q = TCP_SEND_QUEUE, ok;

	fl->send_base_known = 0;
	if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ti.tcpi_notsent_bytes ||
	    pkt_repair(cfd, 1))
		return;
	len = sizeof(ws);
	ok = !setsockopt(cfd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) &&
	     !getsockopt(cfd, IPPROTO_TCP, TCP_QUEUE_SEQ, &ws, &len) &&
	     !pkt_send_end(cfd, 0, &ti, &end0);
	kbal_packet_thaw(cfd, 1);
	if (ok) {
		fl->send_base = ws - end0;
		fl->send_base_known = 1;
	}
}

int kbal_packet_learn(struct kbal_packet *p, int cfd, int mfd, struct kbal_pkt_flow *fl,
			    const struct sockaddr_in *cpeer, const struct sockaddr_in *mlocal,
			    const struct sockaddr_in *mpeer)
{
	struct sockaddr_in cl, cp, ml, mp;
	struct kbal_pkt_rw learn = { .action = KBAL_PKT_LEARN };
	int ifindex, err;

	fl->gen = learn.gen = ++p->gen;

	/* kbald's own address towards the client: the listener may be bound
	 * to any address, so it is always asked */
	if ((err = addr_of(cfd, 0, NULL, &cl)) || (err = addr_of(cfd, 1, cpeer, &cp)) ||
	    (err = addr_of(mfd, 0, mlocal, &ml)) || (err = addr_of(mfd, 1, mpeer, &mp)))
		return err;
	/* A guess from the addresses (routing may differ): the program
	 * notes in the LEARN entries where the peers' packets really come
	 * in, and a flow whose packets it has not seen is not joined. */
	if ((ifindex = pkt_ifindex_of(p, cl.sin_addr.s_addr)))
		pkt_attach_if(p, ifindex);
	if ((ifindex = pkt_ifindex_of(p, ml.sin_addr.s_addr)))
		pkt_attach_if(p, ifindex);
	key_of(&fl->up, &cp, &cl);
	key_of(&fl->hold_c, &cl, &cp);
	key_of(&fl->down, &mp, &ml);
	key_of(&fl->drop_m, &ml, &mp);
	struct kbal_pkt_key keys[2] = { fl->up, fl->down };
	struct kbal_pkt_rw vals[2] = { learn, learn };
	__u32 n = 2;

	learn_send_base(cfd, fl);
	if ((err = count_flow(p, fl)))
		return err;
	vals[0].slot = 2 * fl->slot;
	vals[1].slot = 2 * fl->slot + 1;
	if (bpf_map_update_batch(p->pkt_fd, keys, vals, &n, NULL)) {
		err = -errno;
		kbal_packet_forget(p, fl);
		return err;
	}
	return 0;
}

/* Remove the entry at k if it is this flow's. The program deletes (a SYN
 * after the end) but never creates, and kbald is the only writer: the
 * lookup and the delete cannot be split by a new owner. */
void pkt_forget_key(struct kbal_packet *p, const struct kbal_pkt_key *k, uint16_t gen)
{
	struct kbal_pkt_rw rw;

	if (bpf_map_lookup_elem(p->pkt_fd, k, &rw) == 0 && rw.gen == gen)
		bpf_map_delete_elem(p->pkt_fd, k);
}

void kbal_packet_forget(struct kbal_packet *p, struct kbal_pkt_flow *fl)
{
	if (fl->decide && p->decide_fd >= 0)
		bpf_map_delete_elem(p->decide_fd, &fl->slot);
	if (!fl->lost) {
		/* all four are this flow's: one syscall. The batch stops at
		 * the first key missing (not written yet, or deleted by the
		 * program at a SYN since the last poll): then one by one. */
		struct kbal_pkt_key keys[4] = { fl->down, fl->drop_m, fl->up, fl->hold_c };
		__u32 n = 4;

		if (bpf_map_delete_batch(p->pkt_fd, keys, &n, NULL) == 0 && n == 4) {
			uncount_flow(p, fl);
			return;
		}
	}
	pkt_forget_key(p, &fl->up, fl->gen);
	pkt_forget_key(p, &fl->down, fl->gen);
	pkt_forget_key(p, &fl->hold_c, fl->gen);
	pkt_forget_key(p, &fl->drop_m, fl->gen);
	uncount_flow(p, fl);
}

/* rewritten packets leave as if kbald's socket of 4-tuple k had sent them */
void pkt_send_as(struct kbal_pkt_rw *rw, const struct kbal_pkt_key *k)
{
	rw->saddr = k->saddr;
	rw->daddr = k->daddr;
	rw->sport = k->sport;
	rw->dport = k->dport;
}

/*
 * The largest segment the peer of socket st may send: its MSS is at most
 * what kbald advertised, and its segments at most half the largest window
 * kbald's socket announced (tcp_bound_to_half_wnd), which is at most the
 * socket's window clamp. After the switch the peer sends to the other
 * peer: a segment larger than any window that one ever announced would
 * only go out by the persist timer (kbal_packet_size_member()).
 */
static uint32_t seg_bound(const struct tcp_state *st)
{
	uint32_t half = st->window_clamp / 2;

	return st->ti.tcpi_advmss < half ? st->ti.tcpi_advmss : half;
}

#define OPTS_COMPARED (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE | TCPI_OPT_ECN)

/* what the program saw of the two peers before the handover */
struct seen_peers {
	struct kbal_pkt_rw up, down;   /* ifindex, last_tsval of each LEARN entry */
	uint32_t unsent;               /* bytes kbald's client-side socket sends after
				        * the entries: the program learns from them */
	int if_learn;                  /* the client's interface guessed: learned */
};

/*
 * Step 0, in memory (kbal_pkt_seen): where each peer's packets come in and
 * its clock. A handover before the first response is written (pending)
 * may come before any packet of the client's since its request: a client
 * on 127/8 comes in by lo; another's interface is guessed from kbald's
 * address towards it, and the program learns the real one from kbald's
 * first packet to it (KBAL_PKT_IF_LEARN), as it learns the client's clock
 * (KBAL_PKT_TS_LEARN). The same holds after the write while kbald's socket
 * still holds bytes it has not sent (a client slow to read): they go out
 * after the entries exist, and the client cannot switch before it acks
 * them (asked of the socket only when needed: a syscall).
 */
static int handover_seen(struct kbal_packet *p, const struct kbal_pkt_flow *fl, int cfd,
			 uint32_t pending, struct seen_peers *sp, enum kbal_flow_why *why)
{
	const struct kbal_pkt_seen *su = &p->seen[2 * fl->slot], *sd = su + 1;

	sp->up.ifindex = __atomic_load_n(&su->ifindex, __ATOMIC_ACQUIRE);
	sp->up.last_tsval = __atomic_load_n(&su->last_tsval, __ATOMIC_ACQUIRE);
	sp->down.ifindex = __atomic_load_n(&sd->ifindex, __ATOMIC_ACQUIRE);
	sp->down.last_tsval = __atomic_load_n(&sd->last_tsval, __ATOMIC_ACQUIRE);
	sp->unsent = pending;
	if (!sp->up.ifindex && !sp->unsent) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		if (!getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &tl))
			sp->unsent = ti.tcpi_notsent_bytes;
	}
	if (!sp->up.ifindex && sp->unsent) {
		if (pkt_loopback_addr(fl->up.saddr))
			sp->up.ifindex = p->lo;
		else if ((sp->up.ifindex = pkt_ifindex_of(p, fl->up.daddr)))
			sp->if_learn = 1;
		/* a service address on lo (several hosts behind a router,
		 * docs/scale-out.md) says nothing of where the client is: the
		 * route towards it does */
		if (sp->if_learn && sp->up.ifindex == (uint32_t)p->lo)
			sp->up.ifindex = pkt_ifindex_towards(p, fl->up.saddr);
	}
	/* where the peers' packets came in: each leg's rewritten packets
	 * leave by the other's interface (on lo they just go on) */
	if (!sp->up.ifindex || !sp->down.ifindex) {
		log_debug("packet path: no packet seen of the %s", sp->up.ifindex ? "member" :
			  "client");
		*why = KBAL_WHY_UNSEEN;
		return -EPROTO;
	}
	if ((sp->up.ifindex == (uint32_t)p->lo) != (sp->down.ifindex == (uint32_t)p->lo)) {
		*why = KBAL_WHY_LEGS;
		return -EPROTO;
	}
	return 0;
}

/*
 * Step 1, on the sockets' state: what makes two legs joinable. The same
 * TCP options; both clocks known (or to be learned); each leg's segments
 * fitting the other leg (the member sends at most the MSS kbald advertised
 * to it, and the client must accept that much, and no segment may exceed
 * the other peer's largest window; tcpi_snd_mss is no measure: the kernel
 * also bounds it by half the largest window seen); and quiet: what each
 * socket received is what kbald read, the member has all kbald sent.
 */
static int handover_check(const struct tcp_state *c, const struct tcp_state *m, int mfd,
			  uint64_t rd_c, uint64_t rd_m, const struct seen_peers *sp,
			  enum kbal_flow_why *why)
{
	if ((c->ti.tcpi_options & OPTS_COMPARED) != (m->ti.tcpi_options & OPTS_COMPARED)) {
		*why = KBAL_WHY_OPTIONS;
		return -EPROTO;
	}
	if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS &&
	    (!sp->down.last_tsval ||
	     (!sp->up.last_tsval && !sp->unsent && !c->ti.tcpi_notsent_bytes))) {
		log_debug("packet path: no clock seen of the %s", sp->down.last_tsval ? "client" :
			  "member");
		*why = KBAL_WHY_UNSEEN;
		return -EPROTO;
	}
	if (m->ti.tcpi_advmss > c->mss_clamp || c->ti.tcpi_advmss > m->mss_clamp ||
	    seg_bound(m) > c->win.max_window || seg_bound(c) > m->win.max_window) {
		log_debug("packet path: MSS: kbald advertised %u to the member, %u to the client; "
			  "the client's MSS %u, the member's %u; segments up to %u and %u, "
			  "largest windows %u and %u", m->ti.tcpi_advmss,
			  c->ti.tcpi_advmss, c->mss_clamp, m->mss_clamp, seg_bound(m), seg_bound(c),
			  c->win.max_window, m->win.max_window);
		*why = KBAL_WHY_MSS;
		return -EPROTO;
	}
	if (c->ti.tcpi_bytes_received != rd_c ||
	    (rd_m == KBAL_PKT_RD_QUEUE ? kbal_sock_unread(mfd) != 0 :
	     m->ti.tcpi_bytes_received != rd_m) ||
	    m->ti.tcpi_unacked || m->ti.tcpi_notsent_bytes) {
		*why = KBAL_WHY_BUSY;
		return -EAGAIN;
	}
	return 0;
}

/*
 * Step 2: the four entries. up turns the client's packets into the
 * member-side socket's numbers (SWITCH until the switch), down the
 * member's into the client-side socket's; hold and drop are kbald's own
 * sockets'. Each leg's clock is mapped onto the other's, 1 ms ahead so that
 * a translated TSval never goes back (PAWS); TSecr gets the exact inverse,
 * so that RTT samples stay exact.
 */
static void handover_entries(const struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			     const struct tcp_state *c, const struct tcp_state *m,
			     const struct seen_peers *sp, struct kbal_pkt_rw *up,
			     struct kbal_pkt_rw *down, struct kbal_pkt_rw *hold)
{
	up->gen = down->gen = fl->gen;
	up->slot = 2 * fl->slot;
	down->slot = 2 * fl->slot + 1;
	up->action = KBAL_PKT_SWITCH;
	pkt_send_as(up, &fl->drop_m);
	up->seq_delta = m->snd_nxt - c->rcv_nxt;
	up->ack_delta = m->rcv_nxt - c->snd_nxt;
	up->win_shift = (int)c->ti.tcpi_snd_wscale - (int)m->ti.tcpi_rcv_wscale;
	up->ifindex = sp->down.ifindex == (uint32_t)p->lo ? 0 : sp->down.ifindex;
	up->switch_ack = c->snd_nxt;
	up->switch_seq = c->rcv_nxt;
	/* each request decided by the program: switched only once armed
	 * (kbal_packet_ask_back() with the decision) */
	if (fl->decide) {
		up->flags |= KBAL_PKT_DECIDE;
		down->flags |= KBAL_PKT_DECIDE;   /* its response heads judged too */
	}
	down->action = KBAL_PKT_REWRITE;
	pkt_send_as(down, &fl->hold_c);
	down->seq_delta = c->snd_nxt - m->rcv_nxt;
	down->ack_delta = c->rcv_nxt - m->snd_nxt;
	down->win_shift = (int)m->ti.tcpi_snd_wscale - (int)c->ti.tcpi_rcv_wscale;
	down->switch_seq = m->rcv_nxt;   /* the member's bytes are counted from it */
	/* the member's last acknowledgement as kbald's socket had it: the
	 * give-back's quiet test (the member acknowledged all the client
	 * sent) holds at a first request before the member sends again */
	down->switch_ack = m->snd_una;
	/* HTTP framing (docs/packet.md, "Framing"): each direction from its
	 * next byte, a message boundary (the first exchange was read to its
	 * end, nothing beyond it) */
	up->fr_flags = down->fr_flags = KBAL_PKT_FR_ON;
	up->fr_seq = c->rcv_nxt;
	down->fr_seq = m->rcv_nxt;
	p->frame[up->slot].seq = p->frame[up->slot].boundary = c->rcv_nxt;
	p->frame[down->slot].seq = p->frame[down->slot].boundary = m->rcv_nxt;
	down->ifindex = sp->up.ifindex == (uint32_t)p->lo ? 0 : sp->up.ifindex;
	if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS && p->host_id) {
		/* this host's id in every TSval the client gets
		 * (docs/scale-out.md, "Second chance") */
		kbal_pkt_ts_id(c->tsval, sp->down.last_tsval, &down->tsval_delta, &up->ts_base,
			       &up->ts_mbase, &hold->tsval_delta, &up->tsecr_delta);
		down->host_id = hold->host_id = p->host_id;
		up->flags |= KBAL_PKT_ID_ECHO;
	} else if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS) {
		down->tsval_delta = c->tsval - sp->down.last_tsval + 1;
		up->tsecr_delta = -down->tsval_delta;
	}
	if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS) {
		if (sp->up.last_tsval) {
			up->tsval_delta = m->tsval - sp->up.last_tsval + 1;
			down->tsecr_delta = -up->tsval_delta;
		} else {
			/* the program works out both from the client's
			 * clock, before the client can switch */
			up->flags |= KBAL_PKT_TS_LEARN;
			up->last_tsval = m->tsval + 1;
			pkt_send_as(hold, &fl->down);
		}
	}
	if (sp->if_learn) {
		up->flags |= KBAL_PKT_IF_LEARN;
		pkt_send_as(hold, &fl->down);
	}
}

int kbal_packet_handover(struct kbal_packet *p, int cfd, int mfd, uint64_t rd_c, uint64_t rd_m,
			 uint32_t pending, struct kbal_pkt_flow *fl, enum kbal_flow_why *why)
{
	struct tcp_state c = {}, m = {};
	struct seen_peers sp = {};
	struct kbal_pkt_rw up = {}, down = {};
	struct kbal_pkt_rw hold = { .action = KBAL_PKT_HOLD, .gen = fl->gen };
	struct kbal_pkt_rw drop = { .action = KBAL_PKT_DROP, .gen = fl->gen };
	int err;

	*why = KBAL_WHY_NONE;
	if (!fl->counted || fl->lost) {
		fl->lost = 1;
		*why = KBAL_WHY_MAP;
		return -ENOENT;
	}
	if ((err = handover_seen(p, fl, cfd, pending, &sp, why)))
		return err;
	/* 1. freeze the member side for good, peek at the client side */
	if ((err = pkt_repair(mfd, 1)))
		goto fail_why;
	if ((err = pkt_repair(cfd, 1))) {
		kbal_packet_thaw(mfd, 0);
		goto fail_why;
	}
	err = pkt_read_state(cfd, &c, fl->send_base_known ? &fl->send_base : NULL);
	if (!err)
		err = pkt_read_state(mfd, &m, NULL);
	if (err) {
		*why = KBAL_WHY_REPAIR;
		goto thaw;
	}
	/* the client-side socket as it will be once kbald has written the
	 * rest of the first response (its rcv_nxt, what pkt_rcv_nxt() compares
	 * in step 3, is not moved) */
	c.snd_nxt += pending;
	if ((err = handover_check(&c, &m, mfd, rd_c, rd_m, &sp, why)))
		goto thaw;

	/* 2. the entries; no peer may go on believing a window larger than
	 * the other's (before the entries: the DROP entry would swallow the
	 * member's retraction) */
	handover_entries(p, fl, &c, &m, &sp, &up, &down, &hold);
	pkt_retract_windows(p, fl, cfd, mfd, &c, &m, c.snd_sent,
			    !!(c.ti.tcpi_options & TCPI_OPT_TIMESTAMPS),
			    sp.up.last_tsval, sp.down.last_tsval, &hold);
	{
		/* one syscall; the kernel writes them in this order: what
		 * kbald's sockets emit first */
		struct kbal_pkt_key keys[4] = { fl->drop_m, fl->hold_c, fl->down, fl->up };
		struct kbal_pkt_rw vals[4] = { drop, hold, down, up };
		__u32 n = 4;

		if (bpf_map_update_batch(p->pkt_fd, keys, vals, &n, NULL)) {
			err = -errno;
			*why = KBAL_WHY_MAP;
			goto unmap;
		}
	}
	/* 3. nothing may have reached either socket since the read */
	if (pkt_rcv_nxt(cfd) != c.rcv_nxt || pkt_rcv_nxt(mfd) != m.rcv_nxt) {
		*why = KBAL_WHY_RACE;
		err = -EAGAIN;
		goto unmap;
	}
	/* the client side goes on (it may have to retransmit), quietly */
	kbal_packet_thaw(cfd, 1);
	/* what the switch leaves a kept client socket at (given back later) */
	fl->c_rcv_nxt = c.rcv_nxt;
	fl->c_snd_nxt = c.snd_nxt;
	fl->ts = !!(c.ti.tcpi_options & TCPI_OPT_TIMESTAMPS);
	return 0;

unmap:
	kbal_packet_forget(p, fl);
thaw:
	kbal_packet_thaw(cfd, 1);
	kbal_packet_thaw(mfd, 0);
	return err;
fail_why:
	*why = KBAL_WHY_REPAIR;
	return err;
}

int kbal_packet_early(struct kbal_packet *p, const struct kbal_pkt_flow *fl)
{
	return fl->counted && !fl->lost &&
	       (pkt_loopback_addr(fl->up.saddr) ||
		__atomic_load_n(&p->seen[2 * fl->slot].ifindex, __ATOMIC_ACQUIRE) ||
		pkt_ifindex_of(p, fl->up.daddr));
}

int kbal_packet_poll(struct kbal_packet *p, struct kbal_pkt_flow *fl,
		     struct kbal_pkt_state *st)
{
	const struct kbal_pkt_seen *up, *down;
	uint32_t fu, fd;

	if (!fl->counted || fl->lost) {
		fl->lost = 1;
		return -ENOENT;
	}
	/* in memory (kbal_pkt_seen), not a syscall per direction */
	up = &p->seen[2 * fl->slot];
	down = up + 1;
	fu = __atomic_load_n(&up->flags, __ATOMIC_ACQUIRE);
	fd = __atomic_load_n(&down->flags, __ATOMIC_ACQUIRE);
	if ((fu | fd) & KBAL_PKT_GONE) {
		/* deleted by the program (a SYN after the end): the keys may
		 * be another flow's by now */
		fl->lost = 1;
		return -ENOENT;
	}
	st->last_ns = __atomic_load_n(&up->last_ns, __ATOMIC_RELAXED);
	if (__atomic_load_n(&down->last_ns, __ATOMIC_RELAXED) > st->last_ns)
		st->last_ns = __atomic_load_n(&down->last_ns, __ATOMIC_RELAXED);
	st->bytes_up = __atomic_load_n(&up->bytes, __ATOMIC_RELAXED);
	st->bytes_down = __atomic_load_n(&down->bytes, __ATOMIC_RELAXED);
	/* the client's packets are rewritten: kbald's client socket is out */
	st->switched = !!(fu & KBAL_PKT_SWITCHED);
	st->fins = fu & KBAL_PKT_FIN && fd & KBAL_PKT_FIN;
	st->ended = (fu | fd) & KBAL_PKT_RST || (fu & fd & KBAL_PKT_ACKED_FIN);
	return 0;
}

/* the two entries of a joined flow, if both are still this flow's */
int pkt_joined_entries(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			  struct kbal_pkt_rw *up, struct kbal_pkt_rw *down)
{
	if (fl->lost || bpf_map_lookup_elem(p->pkt_fd, &fl->up, up) ||
	    bpf_map_lookup_elem(p->pkt_fd, &fl->down, down) || up->gen != fl->gen ||
	    down->gen != fl->gen || up->action != KBAL_PKT_REWRITE ||
	    down->action != KBAL_PKT_REWRITE)
		return -ENOENT;
	return 0;
}

int kbal_packet_legs(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		     struct kbal_pkt_legs *lg)
{
	struct kbal_pkt_rw up, down;

	if (pkt_joined_entries(p, fl, &up, &down))
		return -ENOENT;
	lg->client_ack = up.switch_ack;
	/* the client's acknowledgement in the member's numbers, against the
	 * member's highest sequence number seen (its end) */
	lg->client_behind = (up.flags & KBAL_PKT_WIN_SHUT) ||
			    (int32_t)(up.switch_ack + up.ack_delta - down.switch_seq) < 0;
	lg->bytes[0] = up.bytes;
	lg->bytes[1] = down.bytes;
	lg->last_ns[0] = up.last_ns;
	lg->last_ns[1] = down.last_ns;
	return 0;
}

int kbal_packet_exact(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		      struct kbal_pkt_state *st)
{
	struct kbal_pkt_legs lg;

	if (kbal_packet_legs(p, fl, &lg))
		return -ENOENT;
	st->bytes_up = lg.bytes[0];
	st->bytes_down = lg.bytes[1];
	st->last_ns = lg.last_ns[0] > lg.last_ns[1] ? lg.last_ns[0] : lg.last_ns[1];
	return 0;
}

int kbal_packet_back_bytes(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			   const uint64_t last[2], uint64_t bytes[2])
{
	struct kbal_pkt_rw e;
	/* seq_delta Km - MK0: the client's bytes in the member's numbers;
	 * ack_delta Mm - MS0: the member's */
	uint32_t carried[2];

	if (fl->lost || bpf_map_lookup_elem(p->pkt_fd, &fl->drop_m, &e) || e.gen != fl->gen ||
	    e.action != KBAL_PKT_SHIFT)
		return -ENOENT;
	carried[0] = e.seq_delta;
	carried[1] = e.ack_delta;
	for (int i = 0; i < 2; i++)
		bytes[i] = last[i] + (uint32_t)(carried[i] - (uint32_t)last[i]);
	return 0;
}

int kbal_packet_take_back(struct kbal_packet *p, struct kbal_pkt_flow *fl, int mfd)
{
	struct kbal_pkt_rw up, down;
	struct kbal_pkt_key keys[4] = { fl->up, fl->hold_c, fl->down, fl->drop_m };
	__u32 n = 4;

	if (bpf_map_lookup_elem(p->pkt_fd, &fl->up, &up) ||
	    bpf_map_lookup_elem(p->pkt_fd, &fl->down, &down) ||
	    up.gen != fl->gen || down.gen != fl->gen)
		return -ENOENT;
	/* switched, or the member's packets went to the client already:
	 * the member-side socket's state is no longer the connection's */
	if (up.action != KBAL_PKT_SWITCH || down.packets)
		return -EBUSY;
	/* the member-side socket first (a packet of the member meanwhile
	 * reaches it, repair mode or not), then the entries */
	kbal_packet_thaw(mfd, 0);
	if (bpf_map_delete_batch(p->pkt_fd, keys, &n, NULL) || n != 4) {
		fl->lost = 1;
		kbal_packet_forget(p, fl);
	}
	uncount_flow(p, fl);
	return 0;
}

/* why the program lost the framing of fl (either direction: "request ..."
 * or "answer ..."), or "-" while both are framed */
const char *kbal_packet_frame_why(const struct kbal_packet *p, const struct kbal_pkt_flow *fl)
{
	static const char *const names[][10] = {
		{ "request", "request: a gap", "request: a head too long", "request: a line too long",
		  "request: a head or line that does not parse", "request: Transfer-Encoding",
		  "request: upgraded", "request: no request", "request: too many pieces",
		  "request: bytes not read" },
		{ "answer", "answer: a gap", "answer: a head too long", "answer: a line too long",
		  "answer: a head or line that does not parse", "answer: Transfer-Encoding",
		  "answer: upgraded", "answer: a head no request asked for",
		  "answer: too many pieces", "answer: bytes not read" },
	};

	if (!p->frame || !fl->counted)
		return "-";
	for (int d = 0; d < 2; d++) {
		const struct kbal_pkt_frame *f = &p->frame[2 * fl->slot + d];
		unsigned why;

		if (__atomic_load_n(&f->gen, __ATOMIC_ACQUIRE) != fl->gen ||
		    !(__atomic_load_n(&f->flags, __ATOMIC_ACQUIRE) & KBAL_FRAME_LOST))
			continue;
		why = f->why;
		return names[d][why < 10 ? why : 0];
	}
	return "-";
}

int kbal_packet_phase(const struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		      struct kbal_pkt_phase *ph)
{
	const struct kbal_pkt_frame *q, *r;

	if (!p->frame || !fl->counted)
		return -ENOENT;
	q = &p->frame[2 * fl->slot];
	r = q + 1;
	if (__atomic_load_n(&q->gen, __ATOMIC_ACQUIRE) != fl->gen ||
	    __atomic_load_n(&r->gen, __ATOMIC_ACQUIRE) != fl->gen ||
	    ((q->flags | r->flags) & KBAL_FRAME_LOST))
		return -ENOENT;
	if (q->state == KBAL_FRAME_HEAD)
		ph->request = q->hlen ? KBAL_PKT_RQ_HEAD : KBAL_PKT_RQ_NONE;
	else
		ph->request = KBAL_PKT_RQ_BODY;
	ph->boundary = q->boundary;
	ph->got = q->seq - q->boundary;
	ph->owed = q->heads - r->messages;
	ph->answering = r->state != KBAL_FRAME_HEAD || r->hlen;
	ph->line = ph->request == KBAL_PKT_RQ_HEAD && (q->pst & KBAL_FRAME_PST_HDRS);
	return 0;
}

int kbal_packet_decision(const struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			 struct kbal_sk_http *st)
{
	uint32_t key = fl->slot;

	if (!fl->decide || p->decide_fd < 0)
		return -EINVAL;
	return bpf_map_lookup_elem(p->decide_fd, &key, st) ? -errno : 0;
}
