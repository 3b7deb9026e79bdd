/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pkt_back.bpf.h - a joined flow given back to kbald by the packet program
 * (packet.bpf.c), and each request and answer of a decided flow judged as
 * kbald would (docs/packet.md, "Given back at a request", "Each request
 * decided"): the entries' flip into SHIFT entries at a request's first
 * byte P or an answer's first byte R, where that is exact, the decisions
 * that ask for it (bpf/req_decide.bpf.h, the sockmap verdict's rules), and
 * a decided flow whose framing was lost ended instead (decided_lost()).
 * Included by packet.bpf.c after its maps (kbal_pkt, kbal_pkt_events),
 * which it reads and writes, and flow_event().
 */
#ifndef KBAL_PKT_BACK_BPF_H
#define KBAL_PKT_BACK_BPF_H

#include "kbal_maps.bpf.h"
#include "pkt_frame.bpf.h"
#include "req_decide.bpf.h"

/* what kbald stored for giving a joined flow back (kbal_pkt_give_back()) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KBAL_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct kbal_pkt_back);
} kbal_pkt_back SEC(".maps");

/* a decided flow's SWITCH entry becomes the joined flow only once kbald has
 * armed it (kbal_pkt_back, decide): before, its requests would reach the
 * member undecided */
static __always_inline int pkt_decide_armed(const struct kbal_pkt_rw *rw)
{
	__u32 slot = rw->slot >> 1;
	const struct kbal_pkt_back *bk = bpf_map_lookup_elem(&kbal_pkt_back, &slot);

	return bk && bk->armed && bk->decide && bk->gen == rw->gen;
}

/* the flow's other direction's entry, if any (k: its key, built here): rw
 * rewrites its packets into packets of kbald's socket of the other leg to
 * the peer there (the client's into the member-side socket's, the
 * member's into the client-side one's), and that peer's own packets come
 * the reverse way: the key is rw's new addresses reversed */
static __always_inline struct kbal_pkt_rw *other_entry(struct kbal_pkt_key *k,
						       const struct kbal_pkt_rw *rw)
{
	k->saddr = rw->daddr;
	k->daddr = rw->saddr;
	k->sport = rw->dport;
	k->dport = rw->sport;
	return bpf_map_lookup_elem(&kbal_pkt, k);
}

/*
 * A joined flow given back to kbald by the program itself, at the first
 * byte P of a request, where kbald asked for it (a member's status changed:
 * kbald decides that request; docs/packet.md, "Given back at a request").
 * kbald keeps its client-side socket at the switch and stored in
 * kbal_pkt_back what the offsets need (docs/unswitch.md): the four entries
 * become SHIFT entries on kbald's own 4-tuples, P lands in the kept socket
 * as its next byte, and kbald's member-side socket, thawed, goes on from
 * where it was frozen. Only when that is exact: P at the request side's
 * framed boundary, as many final responses framed as requests (the
 * member's answer complete), and both directions quiet (P acknowledges all
 * the member sent; the member acknowledged all the client sent); else the
 * flow stays joined and the next request's first byte tries again (a
 * decided flow's request, which must not reach the member, is held
 * instead: dropped until the client sends it again on a quiet flow).
 */

struct back_scratch {
	struct kbal_pkt_rw e;
	struct kbal_pkt_key k;
	struct kbal_pkt_event ev;
	/* the offsets' terms (docs/unswitch.md): B the client's next byte,
	 * Mm the member's, M = Mm in the client's numbers, Km = B in the
	 * member's; S0, K0, MS0, MK0 kbald's sockets'; dc, dm their clocks */
	__u32 B, M, Mm, Km, dc, dm;
	__u32 up_slot, down_slot, up_last, down_last;
	__be32 kc, cl, km, mb;          /* kbald's client-side address, the
					 * client's, kbald's member-side, the member's */
	__be16 kcp, clp, kmp, mbp;
	__u16 gen;
};

/* (off the stack: splice() leaves a global function little of it) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct back_scratch);
} kbal_pkt_back_rw SEC(".maps");

/* x->e as the SHIFT entry of 4-tuple (saddr, daddr, sport, dport) */
static __always_inline int back_put(struct back_scratch *x, __be32 saddr, __be32 daddr,
				    __be16 sport, __be16 dport)
{
	x->k.saddr = x->e.saddr = saddr;
	x->k.daddr = x->e.daddr = daddr;
	x->k.sport = x->e.sport = sport;
	x->k.dport = x->e.dport = dport;
	return bpf_map_update_elem(&kbal_pkt, &x->k, &x->e, BPF_EXIST);
}

/*
 * kbal_pkt_decide (by flow slot; kbald writes it before it arms the flow,
 * kbal_pkt_back.decide 1): the decision each request of the flow is held
 * to, as the sockmap path's client socket has it (struct kbal_sk_http, the
 * client's fields; msgs counts the requests the program kept). A hash map
 * without preallocation: memory for the flows that use it only. Pinned: a
 * restart in place's next image arms its flows again with the decisions
 * (and the counts) the image before wrote (pkt_adopt()).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KBAL_MAX_FLOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct kbal_sk_http);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_pkt_decide SEC(".maps");

/*
 * A decided flow's request at P (rw: the client -> member entry), whose
 * payload is at where >> 16, where & 0xffff bytes: 0 when kbald would send
 * it to the flow's member too (bpf/req_decide.bpf.h) and it is whole in P
 * with nothing after it, the request then counted as kept; else why kbald
 * decides it (a KBAL_SKB_* reason). A request that does not end in P (a
 * head or a body in several segments, an upload) or that has another one
 * behind it in P goes to kbald: the program gives a flow back only at a
 * segment's first byte, so every later request must start one. Only for a
 * flow armed with a decision whose balancer's gen has not moved (else it
 * is given back anyway). A global function, called from splice() itself:
 * its stack and kbal_pkt_give_back()'s are not on one chain.
 */
__noinline int kbal_pkt_decide_request(struct __sk_buff *skb, struct kbal_pkt_rw *rw, __u32 where)
{
	__u32 off = where >> 16, len = where & 0xffff, slot;
	const struct kbal_balancer *bal;
	const struct kbal_pkt_back *bk;
	struct kbal_sk_http *st;
	struct req_kept k = {};
	__u8 why;

	if (!skb || !rw)
		return KBAL_SKB_MEMBER;
	slot = rw->slot >> 1;
	bk = bpf_map_lookup_elem(&kbal_pkt_back, &slot);
	st = bpf_map_lookup_elem(&kbal_pkt_decide, &slot);
	if (!bk || !bk->armed || !bk->decide || bk->gen != rw->gen || !st)
		return KBAL_SKB_MEMBER;
	slot = bk->balancer;
	bal = bpf_map_lookup_elem(&kbal_balancers, &slot);
	if (!bal || bal->gen != bk->bgen)
		return KBAL_SKB_MEMBER;
	if (st->why == KBAL_SKB_UNASKED)
		return KBAL_SKB_UNASKED;  /* an answer nobody asked for waits:
					   * kbald's, with the member's connection */
	if (len > KBAL_HEAD_MAX)
		return KBAL_SKB_SYNTAX;
	/* (a head that goes on in the next segment does not parse) */
	why = request_decide(skb, st, off, len, &k, 1);
	if (why != KBAL_SKB_NONE)
		return why;
	if ((__u64)k.hl + k.cl != len)
		return KBAL_SKB_BUSY;     /* not all of it here, or more behind it */
	st->msgs++;
	request_kept(&k);
	kbal_stat_add(KBAL_STAT_PKT_KEPT, 1);
	{
		/* framed from what the parse found (kept requests are never
		 * HEAD and have no Transfer-Encoding) */
		struct kbal_scratch *sc = frame_scratch();

		if (sc)
			sc->known = (struct head_known){ .ok = 1, .hl = k.hl, .cl = k.cl,
							 .flags = k.cl ? KBAL_KNOWN_CL : 0 };
	}
	return KBAL_SKB_NONE;
}

enum { BACK_NOT_NOW = 0, BACK_GIVEN = 1, BACK_HOLD = 2 };

/* kbal_pkt_give_back_response()'s unasked: an answer no request asked
 * for, or the member's FIN between answers */
enum { UNASKED_HEAD = 1, UNASKED_FIN = 2 };

/* what no give-back of the flow's may wait for: a FIN or RST either way,
 * host ids (the program writes no host id's TSval form in SHIFT entries) */
static __always_inline int back_never(const struct kbal_pkt_rw *up, const struct kbal_pkt_rw *down)
{
	return ((up->flags | down->flags) & (KBAL_PKT_FIN | KBAL_PKT_RST | KBAL_PKT_PEER_FIN)) ||
	       up->host_id || down->host_id || (up->flags & KBAL_PKT_ID_ECHO);
}

/* Quiet as docs/unswitch.md defines it, at a packet of snd's (seq0, ack0
 * as they came; oth the other direction's entry, fo its frame entry): the
 * packet is snd's next byte (nothing beyond it seen), every byte of oth's
 * framed to its boundary, the packet acknowledges all oth sent, and oth's
 * last ACK acknowledged all snd sent. Then x has B, Mm (each side's next
 * byte), M (Mm in the client's numbers) and Km (B in the member's); snd is
 * the member's entry where response. 1: quiet. */
static __always_inline int back_quiet(struct back_scratch *x, const struct kbal_pkt_rw *snd,
				      const struct kbal_pkt_rw *oth, const struct kbal_pkt_frame *fo,
				      __u32 seq0, __u32 ack0, int response)
{
	__u32 s = snd->switch_seq, o = oth->switch_seq;

	if (seq0 != s || oth->fr_seq != o || fo->boundary != o)
		return 0;   /* bytes beyond this one, or the other's not all framed */
	if (ack0 != o + oth->seq_delta || oth->switch_ack != s + snd->seq_delta)
		return 0;   /* not quiet */
	x->B = response ? o : s;
	x->Mm = response ? s : o;
	x->M = x->Mm + (response ? snd : oth)->seq_delta;
	x->Km = x->B + (response ? oth : snd)->seq_delta;
	return 1;
}

/* client -> kbald: the client's entry as a SHIFT entry (P's own, for a
 * request) */
static __always_inline int back_client(struct back_scratch *x, const struct kbal_pkt_back *bk)
{
	__builtin_memset(&x->e, 0, sizeof(x->e));
	kbal_pkt_shift_from_peer(&x->e, x->B, x->M, bk->c_rcv_nxt, bk->c_snd_nxt, x->dc);
	x->e.gen = x->gen;
	x->e.slot = x->up_slot;
	x->e.last_tsval = x->up_last;
	return back_put(x, x->cl, x->kc, x->clp, x->kcp);
}

/* an answer's flip stopped after the client's entry (an allocation
 * failed): the client's entry goes rather than stay half flipped (its
 * packets then meet kbald's kept socket unshifted, which takes none of
 * them: the connection is lost, and ends at kbald's idle look) */
static __always_inline int back_undo_client(struct back_scratch *x)
{
	x->k.saddr = x->cl;
	x->k.daddr = x->kc;
	x->k.sport = x->clp;
	x->k.dport = x->kcp;
	bpf_map_delete_elem(&kbal_pkt, &x->k);
	return BACK_NOT_NOW;
}

/*
 * The flip (x: B, M, Mm, Km computed; up, down: the flow's two entries):
 * the four entries become SHIFT entries. For a request (response 0), in
 * the order below ("The four writes"); for an answer (response 1: at the
 * first byte R of a response head kbald must write, docs/packet.md, "Each
 * request decided"), the client's entry first: the client may send at any
 * moment (a pipelined request), and from that write on its bytes reach
 * kbald's kept socket, never the member; the member's entry last, R's
 * own: the member's packets are one sender's, in order, so none but R
 * runs before it is written, and R is rewritten after this returns.
 */
static __always_inline int back_flip(struct back_scratch *x, const struct kbal_pkt_back *bk,
				     const struct kbal_pkt_rw *up, const struct kbal_pkt_rw *down,
				     int response)
{
	x->dc = x->dm = 0;
	if (bk->ts) {
		/* kbald's sockets' clocks now, put just past the last TSval
		 * each peer saw (PAWS); their echoes map back exactly */
		__u32 now = bpf_ktime_get_ns() / 1000000;

		/* a peer nothing of the other reached yet through the flow
		 * (a decided flow given back at its switching packet) saw
		 * kbald's socket last, whose clock only went on: none */
		x->dc = kbal_pkt_shift_clock(down, now + bk->c_tsoff);
		x->dm = kbal_pkt_shift_clock(up, now + bk->m_tsoff);
	}
	/* what the entries are read for, before any is replaced */
	x->kc = down->saddr;
	x->cl = down->daddr;
	x->kcp = down->sport;
	x->clp = down->dport;
	x->km = up->saddr;
	x->mb = up->daddr;
	x->kmp = up->sport;
	x->mbp = up->dport;
	x->up_slot = up->slot;
	x->down_slot = down->slot;
	x->up_last = up->last_tsval;
	x->down_last = down->last_tsval;
	/*
	 * The four writes, in an order that no packet can see half done to
	 * its harm (docs/packet.md, "The flip"; BPF test
	 * pkt_given_back_order_of_the_writes runs each sender's packets
	 * through every prefix). Each write replaces a whole entry (the hash
	 * map swaps in a new element under RCU: a packet meets the old entry
	 * or the new one, never a mix), so only the order matters:
	 *
	 * 1, 2. kbald -> client, kbald -> member. Until the flow is kbald's,
	 *    neither socket sends: the kept client socket has nothing unsent
	 *    or unacknowledged and hears nothing (the client's packets go to
	 *    the member), the member-side one is frozen (repair mode). So a
	 *    flip stopped after them (3 failed: an allocation) leaves the
	 *    flow joined as before, and the next request writes them again.
	 * 3. client -> kbald, P's own: from here the flow is kbald's. P is
	 *    rewritten after this function returns, so kbald's sockets hear
	 *    nothing before all is written. The client's packets are one
	 *    sender's, in order (its socket's lock on lo, one receive queue
	 *    elsewhere): no other one of them runs meanwhile.
	 * 4. member -> kbald, last: the member is quiet (P acknowledges all
	 *    it sent, it acknowledged all the client sent), so only a
	 *    keep-alive probe, a window update or a FIN could come, and
	 *    until this write it reaches the client by the old entry, in the
	 *    client's numbers, which are also those of the kbald -> client
	 *    entry (K0 is M): what the client would have had a moment
	 *    before P. Should it fail, the entry goes (a delete allocates
	 *    nothing): the member's packets then meet kbald's member-side
	 *    socket unshifted, which kbald closes at the event; nothing of
	 *    the member's reaches the client past P.
	 *
	 * One record that all four entries reference, flipped by one store,
	 * would cost every packet of every joined flow a lookup more; this
	 * order costs nothing outside the give-back.
	 */
	if (response && back_client(x, bk))
		return BACK_NOT_NOW;    /* nothing changed */
	__builtin_memset(&x->e, 0, sizeof(x->e));
	kbal_pkt_shift_to_peer(&x->e, x->B, x->M, bk->c_rcv_nxt, bk->c_snd_nxt, x->dc);
	x->e.gen = x->gen;
	x->e.slot = x->down_slot;       /* kbald -> client */
	if (back_put(x, x->kc, x->cl, x->kcp, x->clp))
		return response ? back_undo_client(x) : BACK_NOT_NOW;
	kbal_pkt_shift_to_peer(&x->e, x->Mm, x->Km, bk->m_rcv_nxt, bk->m_snd_nxt, x->dm);
	x->e.slot = x->up_slot;         /* kbald -> member */
	if (back_put(x, x->km, x->mb, x->kmp, x->mbp))
		return response ? back_undo_client(x) : BACK_NOT_NOW;
	if (!response && back_client(x, bk))
		return BACK_NOT_NOW;    /* joined as before (above) */
	__builtin_memset(&x->e, 0, sizeof(x->e));
	kbal_pkt_shift_from_peer(&x->e, x->Mm, x->Km, bk->m_rcv_nxt, bk->m_snd_nxt, x->dm);
	x->e.gen = x->gen;
	x->e.slot = x->down_slot;       /* member -> kbald (R's own, for an answer) */
	x->e.last_tsval = x->down_last;
	if (back_put(x, x->mb, x->km, x->mbp, x->kmp))
		bpf_map_delete_elem(&kbal_pkt, &x->k);
	x->ev.slot = x->up_slot >> 1;
	x->ev.gen = x->gen;
	x->ev.kind = response ? KBAL_PKT_EV_BACK_RESPONSE : KBAL_PKT_EV_BACK;
	if (bpf_ringbuf_output(&kbal_pkt_events, &x->ev, sizeof(x->ev), 0))
		kbal_stat_add(KBAL_STAT_PKT_EV_LOST, 1);
	kbal_stat_add(KBAL_STAT_PKT_BACK, 1);
	return BACK_GIVEN;
}

/* rw: the client -> kbald entry (REWRITE), P's sequence and acknowledgement
 * numbers as they came; decided: kbal_pkt_decide_request()'s answer for a
 * decided flow (0 there: the member's request), else 1. BACK_GIVEN: given
 * back (rw's key is now a SHIFT entry); BACK_NOT_NOW: the request goes on
 * to the member; BACK_HOLD (a decided flow whose request must go to kbald,
 * not quiet yet: an answer still under way, a pipelined request): P is
 * dropped, the client sends it again. A global function: verified once. */
__noinline int kbal_pkt_give_back(struct kbal_pkt_rw *rw, __u32 seq0, __u32 ack0, __u32 decided)
{
	struct kbal_pkt_frame *fq, *fs;
	struct kbal_pkt_back *bk;
	struct kbal_pkt_rw *down;
	struct back_scratch *x;
	__u32 slot, zero = 0;
	int wait;

	if (!rw)
		return 0;
	x = bpf_map_lookup_elem(&kbal_pkt_back_rw, &zero);
	if (!x)
		return 0;
	x->gen = rw->gen;
	slot = rw->slot;
	fq = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (!fq || fq->gen != x->gen)
		return 0;
	slot = rw->slot >> 1;
	bk = bpf_map_lookup_elem(&kbal_pkt_back, &slot);
	if (!bk || !bk->armed || bk->gen != x->gen)
		/* a decided flow this program has no arming of (a restart
		 * in place: the next image's kbal_pkt_back is its own, which
		 * kbald fills at once, pkt_adopt()): its request waits for
		 * it, never passed on undecided */
		return (rw->flags & KBAL_PKT_DECIDE) && !fq->flags ? BACK_HOLD : 0;
	if (!fq->back)
		return 0;   /* nothing asked: the flow's request as ever */
	if (fq->back != KBAL_PKT_BACK_ASKED) {
		/* watched: asked once the balancer's gen moved; decided:
		 * also once the request is not one kbald would send to the
		 * flow's member (pkt_decide()) */
		struct kbal_balancer *bal;

		slot = bk->balancer;
		bal = bpf_map_lookup_elem(&kbal_balancers, &slot);
		if (!bal)
			return 0;
		if (bal->gen == bk->bgen && (!bk->decide || !decided))
			return 0;
	}
	/* A decided flow's request must not reach the member: where the flow
	 * cannot be given back yet only because something is still under way
	 * (an answer, the ACKs of the last exchange, bytes the client sent
	 * before P), P is dropped until it can (BACK_HOLD; the client sends
	 * it again). What would never pass (a FIN, a framing lost) lets it
	 * go on to the member as a watched flow's request does. */
	wait = bk->decide ? BACK_HOLD : BACK_NOT_NOW;
	if (fq->flags || fq->state != KBAL_FRAME_HEAD || fq->hlen || fq->boundary != seq0)
		return 0;
	slot = rw->slot;
	slot ^= 1;
	fs = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (!fs || fs->gen != x->gen || fs->flags)
		return 0;
	if (fs->state != KBAL_FRAME_HEAD || fs->hlen || fs->messages != fq->messages)
		return wait;   /* an answer under way */
	/* the member's entry */
	down = other_entry(&x->k, rw);
	if (!down || down->gen != x->gen || down->action != KBAL_PKT_REWRITE ||
	    down->fr_flags != KBAL_PKT_FR_ON)
		return 0;
	if (back_never(rw, down))
		return 0;
	if (down->fr_state != KBAL_FRAME_HEAD || !back_quiet(x, rw, down, fs, seq0, ack0, 0))
		return wait;
	return back_flip(x, bk, rw, down, 0);
}


/* how many requests framed on down's flow have no answer head yet (the
 * heads of both sides counted as the framing does: interim ones are not
 * answers); -1 where the framing is not at hand */
static __always_inline int answers_owed(const struct kbal_pkt_rw *down)
{
	__u32 slot = down->slot;
	const struct kbal_pkt_frame *fs = bpf_map_lookup_elem(&kbal_pkt_frame, &slot), *fq;

	slot ^= 1;
	fq = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (!fs || !fq || fs->gen != down->gen || fq->gen != down->gen)
		return -1;
	return (__s32)(fq->heads - fs->heads);
}

/* a request framed on down's flow has no answer head yet */
static __always_inline int answer_owed(const struct kbal_pkt_rw *down)
{
	int n = answers_owed(down);

	return n > 0 || n == -1;   /* (-1: the framing's own check stands) */
}

/* an answer's head p (status), kept as it is: what its framing needs
 * (struct head_known); 0, the answer's verdict */
static __always_inline int answer_known(struct kbal_scratch *sc, const struct head_parse *p,
					__u32 status)
{
	sc->known = (struct head_known){ .ok = 1, .hl = p->end, .cl = p->cl, .status = status,
					 .flags = (p->ncl ? KBAL_KNOWN_CL : 0) |
						  (p->nte ? KBAL_KNOWN_CHUNKED : 0) };
	return 0;
}

/*
 * A decided flow's response head at R (down: the member -> client entry),
 * its payload at where >> 16, where & 0xffff bytes: 0 when it may reach
 * the client as it is, else why kbald must write it, as the sockmap path's
 * framing decides (sockmap.bpf.c, response_head()): a header
 * ProxyPassReverse maps (where it applies: KBAL_SKF_REVERSE), a Connection
 * but keep-alive, a status httpd ends the client's connection after, a
 * final answer without Date or without Server (httpd adds its own), a
 * head or framing it does not parse (an answer that ends at the close, a
 * head that goes on in the next segment, a line httpd refuses: its 500 or
 * 502). An interim (1xx) head passes where httpd writes it as it is.
 * KBAL_SKB_UNASKED: an answer to no request (every request framed has had
 * its answer), which kbald drops with the member's connection, as httpd
 * does not reuse a member connection with data waiting on it.
 */
__noinline int kbal_pkt_decide_response(struct __sk_buff *skb, struct kbal_pkt_rw *down,
					__u32 where)
{
	__u32 off = where >> 16, len = where & 0xffff, slot, status;
	struct kbal_scratch *sc = frame_scratch();
	const struct kbal_pkt_back *bk;
	const struct kbal_sk_http *st;
	struct head_parse *p;
	__u8 *b;

	if (!skb || !down || !sc)
		return KBAL_SKB_SYNTAX;
	slot = down->slot >> 1;
	bk = bpf_map_lookup_elem(&kbal_pkt_back, &slot);
	st = bpf_map_lookup_elem(&kbal_pkt_decide, &slot);
	if (!bk || !bk->armed || bk->gen != down->gen)
		return KBAL_SKB_PEER;   /* not armed yet (a restart in place): held */
	if (!bk->decide || !st)
		return 0;   /* not decided: as a joined flow's */
	/* every request framed has its answer head already: this one answers
	 * nothing, and must not answer the client's next request (once seen,
	 * for good: held, the member sends it again, maybe after that
	 * request) */
	if (st->why == KBAL_SKB_UNASKED || !answer_owed(down))
		return KBAL_SKB_UNASKED;
	/* the head within the first KBAL_HEAD_MAX bytes (a segment may carry
	 * much of the body after it: a GSO one up to 64 KiB) */
	if (len > KBAL_HEAD_MAX)
		len = KBAL_HEAD_MAX;
	if (len < 16)
		return KBAL_SKB_SYNTAX;   /* no status line and empty line in it */
	p = &sc->hp;
	__builtin_memset(p, 0, sizeof(*p));
	b = frame_parse_head_more(skb, off, len, p, 1);
	if (!b || p->bad)
		return KBAL_SKB_SYNTAX;
	if (p->rewritten && (st->flags & KBAL_SKF_REVERSE))
		return KBAL_SKB_RESPONSE;
	/* a Connection line or another hop-by-hop one httpd drops
	 * (hop_lines_back(): keep-alive's pass): kbald writes the head */
	if (hop_lines_back(b, p))
		return KBAL_SKB_RESPONSE;
	if (b[9] < '0' || b[9] > '9' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
		return KBAL_SKB_SYNTAX;
	status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (status < 100 || status == 101)
		return KBAL_SKB_SYNTAX;
	if (status < 200)
		/* an interim answer: the final one's head must start a
		 * segment, where it is judged; one httpd writes otherwise
		 * is kbald's (interim_as_httpd()) */
		return p->end < len || !interim_as_httpd(p) ? KBAL_SKB_RESPONSE :
		       answer_known(sc, p, status);
	if (status == 400 || status == 408 || status == 411 || status == 413 ||
	    status == 414 || status == 500 || status == 501 || status == 503)
		return KBAL_SKB_RESPONSE;
	/* httpd adds its Date or Server, writes them first, writes a date
	 * again (date_canon()): kbald's (head_dates()) */
	if (head_dates(sc, p) != KBAL_DATES_AS_IS)
		return KBAL_SKB_RESPONSE;
	if (p->nte)
		return p->ncl || p->te_end - p->te_off != 7 ||
		       !name_is(b, p->te_off, 7, "chunked", 7) ? KBAL_SKB_SYNTAX :
		       answer_known(sc, p, status);
	if (status == 204 || status == 304 || p->ncl)
		return answer_known(sc, p, status);
	return KBAL_SKB_SYNTAX;   /* ends at the close */
}

/* down: the member -> client entry (REWRITE), R's sequence and
 * acknowledgement numbers as they came: the flow given back at R, whose
 * head kbald must write (kbal_pkt_decide_response()), where that is exact:
 * R at the response side's framed boundary, the answer owed to the last
 * request framed (one request answered at a time), every byte of the
 * client's framed and acknowledged by the member (R's ack), every byte of
 * the member's before R acknowledged by the client; else BACK_HOLD (R is
 * dropped until then, the member sends it again) or, where it would never
 * be (a FIN, a framing lost), BACK_NOT_NOW. unasked: an answer to no
 * request (kbal_pkt_decide_response()), given back with nothing owed
 * (nothing under way from the client either); UNASKED_FIN: the member's
 * FIN between answers, likewise, but where a request is under way (the
 * member closed with it unanswered, as httpd meets it too) it passes
 * (BACK_NOT_NOW): the client's connection ends with it, and the member's
 * reset, one past its FIN, counts. A global function. */
__noinline int kbal_pkt_give_back_response(struct kbal_pkt_rw *down, __u32 seq0, __u32 ack0,
					  __u32 unasked)
{
	struct kbal_pkt_frame *fq, *fs;
	struct kbal_pkt_back *bk;
	struct kbal_pkt_rw *up;
	struct back_scratch *x;
	__u32 slot, zero = 0;

	if (!down)
		return BACK_NOT_NOW;
	x = bpf_map_lookup_elem(&kbal_pkt_back_rw, &zero);
	if (!x)
		return BACK_NOT_NOW;
	x->gen = down->gen;
	slot = down->slot >> 1;
	bk = bpf_map_lookup_elem(&kbal_pkt_back, &slot);
	if (!bk || !bk->armed || bk->gen != x->gen)
		return BACK_HOLD;   /* a decided flow not armed yet: it will be */
	if (!bk->decide)
		return BACK_NOT_NOW;
	slot = down->slot;
	fs = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	slot ^= 1;
	fq = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (!fs || !fq || fs->gen != x->gen || fq->gen != x->gen || fs->flags || fq->flags)
		return BACK_NOT_NOW;
	if (fs->state != KBAL_FRAME_HEAD || fs->hlen || fs->boundary != seq0)
		return BACK_NOT_NOW;
	if (unasked == UNASKED_FIN &&
	    (fq->state != KBAL_FRAME_HEAD || fq->hlen || fq->messages != fs->messages))
		return BACK_NOT_NOW;
	if (unasked) {
		/* marked for good (kbal_pkt_decide_response(), and every
		 * request given back meanwhile); kbald reads it in the
		 * decision: no answer owed, the member's connection goes */
		struct kbal_sk_http *st;

		slot = down->slot >> 1;
		st = bpf_map_lookup_elem(&kbal_pkt_decide, &slot);
		if (!st)
			return BACK_NOT_NOW;
		st->why = KBAL_SKB_UNASKED;
	}
	if (fq->state != KBAL_FRAME_HEAD || fq->hlen ||
	    fq->messages != fs->messages + (unasked ? 0 : 1))
		return BACK_HOLD;   /* a request under way, or pipelined */
	up = other_entry(&x->k, down);   /* the client's entry */
	if (!up || up->gen != x->gen || up->action != KBAL_PKT_REWRITE ||
	    up->fr_flags != KBAL_PKT_FR_ON)
		return BACK_NOT_NOW;
	if (back_never(up, down))
		return BACK_NOT_NOW;
	if (up->fr_state != KBAL_FRAME_HEAD || !back_quiet(x, down, up, fq, seq0, ack0, 1))
		return BACK_HOLD;
	return back_flip(x, bk, up, down, 1);
}

/*
 * down: a decided flow's member -> client entry (REWRITE), where the member
 * ends its connection at its framed boundary at (between answers): a reset
 * of its at at, or a FIN riding with the last bytes of an answer, at just
 * past them (member_fin_with_answer()). httpd finds such a connection gone
 * at the client's next request and sends it on another (a member's
 * keep-alive end, or one that died idle): the end is not the client's.
 * Where nothing is under way (every request framed answered), the decision
 * is marked for good as at a FIN between answers (KBAL_SKB_UNASKED: the
 * client's next request is given back to kbald, which closes the member's
 * connection) and the entry KBAL_PKT_MEMBER_GONE (the member's stack
 * answers each packet of the client's with a reset from here: all
 * dropped; the client's FIN is given back): 1, the reset dropped or the
 * FIN taken off. A request under way (the member ended with it
 * unanswered, as httpd meets it too): 0, the end passes, and the client's
 * connection ends with it; so it does where the client ended first (its
 * FIN passed, with its last request: the member's end answers it). A
 * global function.
 */
__noinline int kbal_pkt_member_ended(struct kbal_pkt_rw *down, __u32 at)
{
	struct kbal_pkt_frame *fq, *fs;
	struct kbal_pkt_back *bk;
	struct kbal_sk_http *st;
	__u32 slot;

	if (!down)
		return 0;
	slot = down->slot >> 1;
	bk = bpf_map_lookup_elem(&kbal_pkt_back, &slot);
	st = bpf_map_lookup_elem(&kbal_pkt_decide, &slot);
	if (!bk || !bk->armed || !bk->decide || bk->gen != down->gen || !st ||
	    (down->flags & KBAL_PKT_PEER_FIN))
		return 0;
	slot = down->slot;
	fs = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	slot ^= 1;
	fq = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (!fs || !fq || fs->gen != down->gen || fq->gen != down->gen || fs->flags || fq->flags ||
	    fs->state != KBAL_FRAME_HEAD || fs->hlen || fs->boundary != at ||
	    fq->state != KBAL_FRAME_HEAD || fq->hlen || fq->messages != fs->messages)
		return 0;
	st->why = KBAL_SKB_UNASKED;
	__sync_fetch_and_or(&down->flags, KBAL_PKT_MEMBER_GONE);
	return 1;
}

/*
 * down: a decided flow's member -> client entry, at a segment of its with
 * payload and a FIN, framed (end: the sequence number past its bytes). An
 * application that writes its answer and closes at once sends the FIN in
 * the segment of the answer's last bytes: the member closing between
 * answers as at a FIN alone (kbal_pkt_give_back_response(), UNASKED_FIN),
 * but the answer's bytes must reach the client, and a FIN held would keep
 * them back a retransmission timeout. So where the segment ends an answer
 * and every request framed is answered (kbal_pkt_member_ended()), the FIN
 * is taken off the segment (1): the client gets the answer and keeps its
 * connection; its next request, or its FIN, is given back to kbald at
 * once (the member's stack has closed: a request sent on would meet a
 * reset); the member, its FIN not acknowledged, sends it again alone, and
 * the flow is given back at it where the client sent nothing before. A
 * retransmission of the segment loses its FIN again (the entry already
 * KBAL_PKT_MEMBER_GONE). 0: the FIN passes, as ever (a request under way,
 * an answer not ended: the client's connection ends with it; the client's
 * own FIN passed before: the member's answers it).
 */
static __always_inline int member_fin_with_answer(struct kbal_pkt_rw *down, __u32 end)
{
	if (down->fr_flags != KBAL_PKT_FR_ON || down->action != KBAL_PKT_REWRITE ||
	    down->fr_state != KBAL_FRAME_HEAD || down->fr_seq != end)
		return 0;
	return (down->flags & KBAL_PKT_MEMBER_GONE) || kbal_pkt_member_ended(down, end);
}

/* up: a client -> member entry whose member ended between answers
 * (kbal_pkt_member_ended()) */
static __always_inline int member_gone(const struct kbal_pkt_rw *up)
{
	struct kbal_pkt_key k;
	const struct kbal_pkt_rw *down = other_entry(&k, up);

	return down && down->gen == up->gen && (down->flags & KBAL_PKT_MEMBER_GONE);
}

/*
 * A decided flow's direction whose framing was lost in this segment (a
 * member's answer it cannot follow: a head where no request is owed in a
 * segment's middle, a bad chunk size, ...; docs/packet.md, "Each request
 * decided"): the flow can no longer be decided as kbald would, so none of
 * it passes from here, this segment included (the caller drops it; both
 * directions marked lost), and kbald, told at once, ends the connection,
 * both peers reset (at the numbers they expect: sent, the highest byte
 * seen before this segment). sent: rw's switch_seq before it.
 * Nothing undecided reaches a peer; the client sees its connection end.
 */
static __always_inline void decided_lost(struct kbal_pkt_rw *rw, __u32 sent)
{
	struct kbal_pkt_key k;
	struct kbal_pkt_rw *o;

	/* this segment does not pass: the receiver's next byte is where it
	 * was (the RST kbald sends it must carry that number) */
	rw->switch_seq = sent;
	o = other_entry(&k, rw);
	if (o && o->gen == rw->gen)
		o->fr_flags |= KBAL_PKT_FR_LOST;
	flow_event(rw, KBAL_PKT_EV_LOST);
}

#endif /* KBAL_PKT_BACK_BPF_H */
