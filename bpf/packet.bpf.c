// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * packet.bpf.c - the packet-level splice: a tc program that joins two TCP
 * connections packet by packet once kbald has frozen its own sockets.
 *
 * A packet of one leg (client <-> kbald, or kbald <-> member) whose 4-tuple
 * is in kbal_pkt is rewritten into a packet of the other leg: addresses and
 * ports, sequence and acknowledgement numbers (a delta per direction), the
 * TCP timestamps (TSval/TSecr between the two legs' clocks), SACK edges,
 * the window where the legs' window scales differ, and the checksums,
 * incrementally. Packets of kbald's frozen sockets are dropped. Everything
 * else passes untouched.
 *
 * Three attach points share one body (docs/packet.md):
 *   kbal_pkt_splice   tc egress of lo: both legs on loopback, every action
 *                     (a rewritten packet goes on to lo's ingress as it is)
 *   kbal_pkt_ingress  tc ingress of a real interface: what the peers send
 *                     (LEARN, SWITCH, REWRITE); a rewritten packet is sent
 *                     out of the other leg's interface by bpf_redirect_neigh
 *   kbal_pkt_egress   tc egress of a real interface: what kbald's own
 *                     sockets send (HOLD, DROP); forwarded packets pass
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "csum.bpf.h"
#include "kbal_maps.bpf.h"
#include "tcp_opts.bpf.h"
#include "pkt_frame.bpf.h"

#define ETH_P_IP     0x0800
#define IPPROTO_TCP_ 6
#define TC_ACT_NEXT_ (-1)    /* TC_ACT_UNSPEC, TCX_NEXT: not ours, next program */
#define TC_ACT_SHOT_ 2

/* Not preallocated: a preallocated table lays its 144-byte elements end to
 * end, so that one direction's counters, written at every packet by one
 * CPU, shared a cache line with the head of the other direction's element,
 * which the other CPU's lookup reads; allocated ones come from a 192-byte
 * size class, whole cache lines each (and memory only for the flows). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KBAL_MAX_FLOWS * 4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kbal_pkt_key);
	__type(value, struct kbal_pkt_rw);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_pkt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_pkt_live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KBAL_MAX_FLOWS * 2);
	__type(key, __u32);
	__type(value, struct kbal_pkt_seen);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_pkt_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KBAL_PKT_EVENTS_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_pkt_events SEC(".maps");

/* kbald's listeners: what a packet of the second chance must be for */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KBAL_MAX_SERVICES);
	__type(key, struct kbal_service);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_services SEC(".maps");

/* this host's id and the other kbal hosts (KbalHost): entry 0 self */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KBAL_MAX_HOSTS);
	__type(key, __u32);
	__type(value, struct kbal_host);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_hosts SEC(".maps");

/* Tell kbald that the flow of entry rw switched or ended. The ring wakes
 * kbald only when it has read every earlier record, so a busy kbald is not
 * woken once per record. */
static __always_inline void flow_event(const struct kbal_pkt_rw *rw, __u16 kind)
{
	struct kbal_pkt_event ev = { .slot = rw->slot >> 1, .gen = rw->gen, .kind = kind };

	if (bpf_ringbuf_output(&kbal_pkt_events, &ev, sizeof(ev), 0))
		kbal_stat_add(KBAL_STAT_PKT_EV_LOST, 1);
}

/* the give-back and the decisions (after the maps and flow_event(), which
 * it uses) */
#include "pkt_back.bpf.h"

/* the kbal_pkt_seen entry of the direction at slot, if still this flow's */
static __always_inline struct kbal_pkt_seen *seen_at(__u32 slot, __u16 gen)
{
	struct kbal_pkt_seen *s = bpf_map_lookup_elem(&kbal_pkt_seen, &slot);

	return s && s->gen == gen ? s : NULL;
}

/*
 * The handover came before the first response was written, so the client
 * has sent nothing since its request: what kbald could not know of it is
 * learned here, from kbald's first packet to it, which passes before the
 * client can send the packet that switches. hold is the HOLD entry (its
 * address fields: the member's entry), up the SWITCH entry.
 *   TS_LEARN: the client's clock is the TSecr (its latest TSval, echoed):
 *             tsval_delta from the base in last_tsval, the member's entry
 *             the inverse. Idempotent: a second packet computes the same.
 *   IF_LEARN: the client's packets come in by the interface this one
 *             leaves by (lo: 1), where the member's rewritten packets must
 *             go; only if the legs are both on lo or neither (up->ifindex:
 *             the member's leg, 0 on lo).
 */
static __always_inline void learn_peer(struct __sk_buff *skb, struct tcphdr *tcp,
				       void *data_end, __u32 l4off,
				       const struct kbal_pkt_rw *hold, struct kbal_pkt_rw *up)
{
	struct kbal_pkt_key dk = {
		.saddr = hold->saddr, .daddr = hold->daddr,
		.sport = hold->sport, .dport = hold->dport,
	};
	struct kbal_pkt_rw *down = bpf_map_lookup_elem(&kbal_pkt, &dk);
	struct opt_pos pos = {};
	__u32 doff = tcp->doff * 4, ecr, delta;

	if (!down || down->gen != up->gen)
		return;
	if (up->flags & KBAL_PKT_IF_LEARN) {
		int client_lo = skb->ifindex == 1, member_lo = up->ifindex == 0;

		if (client_lo == member_lo) {
			down->ifindex = client_lo ? 0 : skb->ifindex;
			__sync_fetch_and_and(&up->flags, ~KBAL_PKT_IF_LEARN);
		}
	}
	if (!(up->flags & KBAL_PKT_TS_LEARN) ||
	    doff <= sizeof(*tcp) || (void *)tcp + doff > data_end ||
	    find_options(skb, tcp, data_end, l4off, doff, &pos) || !pos.ts ||
	    bpf_skb_load_bytes(skb, l4off + (pos.ts & 63) + 6, &ecr, 4))
		return;
	ecr = bpf_ntohl(ecr);
	if (!ecr)
		return;   /* nothing echoed yet: the next packet */
	delta = up->last_tsval - ecr;
	down->tsecr_delta = -delta;
	up->tsval_delta = delta;
	__sync_fetch_and_and(&up->flags, ~KBAL_PKT_TS_LEARN);
}

/*
 * The end of a flow, by TCP's rules: each FIN acknowledged by the other
 * side. Then every byte either way has been acknowledged, and what could
 * still come is only the retransmission of a FIN whose last ACK was lost
 * past this program; it meets kbald's stack, which resets it, and the peer,
 * in LAST_ACK, takes that as the end it waits for. So kbald releases the
 * flow's socket and entries at once (docs/packet.md, "Endings").
 *
 * A FIN of rw's direction, end: the sequence number past it (in the
 * receiver's numbers): the other direction's entry notes what its packets
 * must acknowledge (one lookup, at a FIN only).
 */
static __always_inline void fin_passed(struct kbal_pkt_rw *rw, __u32 end)
{
	struct kbal_pkt_key rk = {
		.saddr = rw->daddr, .daddr = rw->saddr,
		.sport = rw->dport, .dport = rw->sport,
	};
	struct kbal_pkt_rw *rev;

	__sync_fetch_and_or(&rw->flags, KBAL_PKT_FIN);
	rev = bpf_map_lookup_elem(&kbal_pkt, &rk);
	if (!rev || rev->gen != rw->gen)
		return;
	rev->fin_ack = end;
	__sync_fetch_and_or(&rev->flags, KBAL_PKT_PEER_FIN);
}

/* rw's direction acknowledged the other's FIN: with both so, it ended */
static __always_inline void fin_acked(struct kbal_pkt_rw *rw)
{
	struct kbal_pkt_seen *seen, *other;

	__sync_fetch_and_or(&rw->flags, KBAL_PKT_ACKED_FIN);
	seen = seen_at(rw->slot, rw->gen);
	other = seen_at(rw->slot ^ 1, rw->gen);
	if (!seen || !other)
		return;
	/* the two directions may get here at once on two CPUs: each sets its
	 * own flag before it reads the other's (a locked instruction, a full
	 * barrier), so at least one of them sees both */
	__sync_fetch_and_or(&seen->flags, KBAL_PKT_ACKED_FIN);
	if (__sync_fetch_and_or(&other->flags, 0) & KBAL_PKT_ACKED_FIN)
		flow_event(rw, KBAL_PKT_EV_ENDED);
}

enum hook { HOOK_LO, HOOK_INGRESS, HOOK_EGRESS };

/* a TCP/IPv4 packet as the program sees it */
struct pkt {
	void *data_end;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 l4off;                   /* where the TCP header starts */
	__u32 ihl, ip_len;             /* IP header length, IP total length */
	__u32 doff;                    /* TCP header length (rewrite) */
	struct kbal_pkt_key key;       /* its 4-tuple: the kbal_pkt key */
};

/* what the rewrite leaves for the accounting and the checksums */
struct rewrite {
	__u64 acc;                     /* the TCP header's changed words, summed */
	__u32 seq0, ack0;              /* sequence and ack as they came */
	__u32 payload;                 /* TCP payload bytes */
};

#define GO_ON (-100)                   /* pkt_act(): a joined packet, rewrite it */

/* the rewrite itself, and what kbald's socket sends before the switch */
#include "pkt_rewrite.bpf.h"

/* 0 when skb is a TCP/IPv4 packet with its whole TCP header at hand */
static __always_inline int pkt_parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	struct ethhdr *eth = data;

	p->data_end = (void *)(long)skb->data_end;
	if ((void *)(eth + 1) > p->data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	p->ip = (void *)(eth + 1);
	if ((void *)(p->ip + 1) > p->data_end || p->ip->protocol != IPPROTO_TCP_ ||
	    p->ip->version != 4)
		return -1;
	/* fragments carry no (whole) TCP header: not ours */
	if (p->ip->frag_off & bpf_htons(0x3fff))
		return -1;
	p->ihl = p->ip->ihl * 4;
	if (p->ihl < sizeof(*p->ip))
		return -1;
	p->ip_len = bpf_ntohs(p->ip->tot_len);
	p->l4off = sizeof(*eth) + p->ihl;
	p->tcp = data + p->l4off;
	if ((void *)(p->tcp + 1) > p->data_end)
		return -1;
	p->key.saddr = p->ip->saddr;
	p->key.daddr = p->ip->daddr;
	p->key.sport = p->tcp->source;
	p->key.dport = p->tcp->dest;
	return 0;
}

/*
 * What the entry says to do with the packet, before any rewrite: HOLD,
 * DROP, SWITCH (which becomes REWRITE at the switching packet), LEARN, and
 * a SYN on the 4-tuple. Returns the verdict, or GO_ON for a packet to
 * rewrite into the other leg.
 */
static __always_inline int pkt_act(struct __sk_buff *skb, struct pkt *p, struct kbal_pkt_rw *rw,
				   const enum hook hook)
{
	struct tcphdr *tcp = p->tcp;
	struct kbal_pkt_seen *seen;

	/* On a real interface the peers' packets arrive at ingress and
	 * kbald's own leave at egress: each hook acts on its half only. */
	if (hook == HOOK_INGRESS &&
	    (rw->action == KBAL_PKT_HOLD || rw->action == KBAL_PKT_DROP))
		return TC_ACT_NEXT_;
	/* SHIFT: a flow given back to kbald by offsets keeps its
	 * 4-tuples; kbald's own packets are shifted at egress, the peers'
	 * at ingress (each key matches only its own half anyway) */
	if (hook == HOOK_EGRESS && rw->action != KBAL_PKT_HOLD &&
	    rw->action != KBAL_PKT_DROP && rw->action != KBAL_PKT_SHIFT)
		return TC_ACT_NEXT_;

	if (rw->action == KBAL_PKT_HOLD) {
		/* kbald's client-side socket stays live until the client has
		 * acknowledged all it sent, so that it can retransmit */
		struct kbal_pkt_key rev = {
			.saddr = p->key.daddr, .daddr = p->key.saddr,
			.sport = p->key.dport, .dport = p->key.sport,
		};
		struct kbal_pkt_rw *up = bpf_map_lookup_elem(&kbal_pkt, &rev);

		if (up && up->action == KBAL_PKT_SWITCH) {
			if (up->flags & (KBAL_PKT_TS_LEARN | KBAL_PKT_IF_LEARN))
				learn_peer(skb, tcp, p->data_end, p->l4off, rw, up);
			if (rw->flags & KBAL_PKT_WIN_CAP)
				cap_window(skb, p->l4off, rw->win_cap);
			if (rw->host_id)
				ts_before_switch(skb, p->l4off, rw, NULL);
			return TC_ACT_NEXT_;
		}
		rw->action = KBAL_PKT_DROP;
	}
	if (rw->action == KBAL_PKT_DROP) {
		__sync_fetch_and_add(&rw->packets, 1);
		kbal_stat_add(KBAL_STAT_PKT_DROPPED, 1);
		return TC_ACT_SHOT_;
	}
	if (rw->action == KBAL_PKT_SWITCH) {
		/* The first packet that acknowledges everything kbald's socket
		 * sent and carries the next byte kbald's socket expects is the
		 * first of the joined flow; before it, kbald's socket is the
		 * peer. (A pure ACK before it simply reaches kbald's socket.)
		 * The client's clock or interface still unknown (no packet of
		 * kbald's passed since the handover, which it acks; or the
		 * legs' interfaces do not go together): not switched, kbald's
		 * socket takes the packet and kbald the flow back. */
		if (!tcp->ack || tcp->syn ||
		    (__s32)(bpf_ntohl(tcp->ack_seq) - rw->switch_ack) < 0 ||
		    bpf_ntohl(tcp->seq) != rw->switch_seq ||
		    (rw->flags & (KBAL_PKT_TS_LEARN | KBAL_PKT_IF_LEARN)) ||
		    ((rw->flags & KBAL_PKT_DECIDE) && !pkt_decide_armed(rw))) {
			if (rw->flags & KBAL_PKT_ID_ECHO)
				ts_before_switch(skb, p->l4off, NULL, rw);
			return TC_ACT_NEXT_;
		}
		rw->action = KBAL_PKT_REWRITE;
		/* from here the client's highest TSval (the give-back's clock)
		 * (TS_LEARN's base was the other leg's clock) */
		rw->last_tsval = 0;
		seen = seen_at(rw->slot, rw->gen);
		if (seen)
			__sync_fetch_and_or(&seen->flags, KBAL_PKT_SWITCHED);
		/* kbald's client-side socket can go */
		flow_event(rw, KBAL_PKT_EV_SWITCHED);
	}
	if (rw->action == KBAL_PKT_LEARN) {
		/* before the handover: the TSval tells the sender's clock */
		struct opt_pos pos = {};
		__u32 doff = tcp->doff * 4;

		if (doff > sizeof(*tcp) && (void *)tcp + doff <= p->data_end &&
		    !find_options(skb, tcp, p->data_end, p->l4off, doff, &pos) && pos.ts) {
			__u32 tsval;

			if (bpf_skb_load_bytes(skb, p->l4off + (pos.ts & 63) + 2, &tsval, 4) == 0)
				rw->last_tsval = bpf_ntohl(tsval);
		}
		/* where the peer's packets come in: the interface that
		 * the other leg's rewritten packets must leave by */
		if (rw->ifindex != skb->ifindex)
			rw->ifindex = skb->ifindex;
		/* kbald reads both at the handover, in memory */
		seen = seen_at(rw->slot, rw->gen);
		if (seen) {
			seen->last_tsval = rw->last_tsval;
			seen->ifindex = rw->ifindex;
		}
		return TC_ACT_NEXT_;
	}
	if (tcp->syn) {
		/* A flow in the map is established: a SYN is a new connection
		 * on its 4-tuple, and belongs to the stack. Once the flow has
		 * ended (the client may reuse its port at once when the member
		 * closed first), its entries go, this one's and the reverse
		 * (kbald's SYN-ACK would meet it), or they would take the new
		 * connection's packets; kbald finds them gone and closes the
		 * rest. A SYN on a live flow (an old duplicate) changes nothing. */
		if (rw->flags & (KBAL_PKT_FIN | KBAL_PKT_RST)) {
			struct kbal_pkt_key rev = {
				.saddr = p->key.daddr, .daddr = p->key.saddr,
				.sport = p->key.dport, .dport = p->key.sport,
			};

			/* kbald learns it from the flow's two seen entries */
			seen = seen_at(rw->slot, rw->gen);
			if (seen)
				__sync_fetch_and_or(&seen->flags, KBAL_PKT_GONE);
			seen = seen_at(rw->slot ^ 1, rw->gen);
			if (seen)
				__sync_fetch_and_or(&seen->flags, KBAL_PKT_GONE);
			bpf_map_delete_elem(&kbal_pkt, &p->key);
			bpf_map_delete_elem(&kbal_pkt, &rev);
			kbal_stat_add(KBAL_STAT_PKT_REUSED, 1);
			flow_event(rw, KBAL_PKT_EV_ENDED);
		}
		return TC_ACT_NEXT_;
	}
	return GO_ON;
}

/* What a give-back's answer (kbal_pkt_give_back*()) makes of the packet
 * of *rw: held (dropped, its sender sends it again: TC_ACT_SHOT_), on
 * through the entry it now meets (GO_ON, *rw the flipped one), gone with
 * it (TC_ACT_NEXT_), or on as before (GO_ON, the hold let go). */
static __always_inline int back_taken(int back, struct kbal_pkt_rw **rw,
				      const struct kbal_pkt_key *key)
{
	if (back == BACK_HOLD) {
		(*rw)->hold = 1;
		kbal_stat_add(KBAL_STAT_PKT_HELD, 1);
		return TC_ACT_SHOT_;
	}
	if (back == BACK_GIVEN) {
		*rw = bpf_map_lookup_elem(&kbal_pkt, key);
		return *rw ? GO_ON : TC_ACT_NEXT_;
	}
	if ((*rw)->hold)
		(*rw)->hold = 0;   /* it goes on after all */
	return GO_ON;
}

/*
 * What kbald must know of the flow: its end (FIN, the FINs acknowledged,
 * RST), its packets and stream bytes, and, in kbal_pkt_seen, a mirror of
 * them at a FIN or RST and otherwise once a clock tick.
 */
static __always_inline void pkt_account(struct pkt *p, struct kbal_pkt_rw *rw,
					const struct rewrite *r)
{
	struct tcphdr *tcp = p->tcp;
	struct kbal_pkt_seen *seen;
	/* RFC 5961: a reset counts only at the sequence number the receiver
	 * expects next (after a FIN, one past it). Any other goes on to the
	 * receiver, whose stack answers it with a challenge ACK; the flow
	 * stays, so that a blind reset cannot end it in kbald's view. */
	int reset = tcp->rst &&
		    r->seq0 == rw->switch_seq + ((rw->flags & KBAL_PKT_FIN) ? 1 : 0);

	if (tcp->fin)
		fin_passed(rw, r->seq0 + rw->seq_delta + r->payload + 1);
	if (tcp->ack && (rw->flags & (KBAL_PKT_PEER_FIN | KBAL_PKT_ACKED_FIN)) == KBAL_PKT_PEER_FIN &&
	    (__s32)(r->ack0 - rw->fin_ack) >= 0)
		fin_acked(rw);
	if (reset) {
		/* the receiver drops its connection: nothing is left to carry */
		__sync_fetch_and_or(&rw->flags, KBAL_PKT_RST);
		flow_event(rw, KBAL_PKT_EV_ENDED);
	} else if (tcp->rst) {
		kbal_stat_add(KBAL_STAT_PKT_RST_IGNORED, 1);
	}
	/* One writer per entry (a direction's packets leave one socket, under
	 * its lock, or come in on one receive queue): plain adds, no locked
	 * instruction per packet. The coarse clock (a tick's resolution) is
	 * enough for idle reaping. */
	rw->packets++;
	/* the stream's bytes, as the members' counters have them: from the
	 * highest sequence number seen, so that a retransmission is not
	 * counted again (a GSO packet is one skb, its payload whole) */
	if (!tcp->rst) {
		/* (a reset carries no stream byte, and a blind one's number
		 * means nothing) */
		__u32 end = r->seq0 + r->payload;

		if ((__s32)(end - rw->switch_seq) > 0) {
			rw->bytes += end - rw->switch_seq;
			rw->switch_seq = end;
		}
	}
	/* kbald's view, in kbal_pkt_seen: at a FIN or RST, and otherwise
	 * once a tick (bytes and last packet are for accounting and idle
	 * reaping; kbald reads the entry itself where it must be exact).
	 * Not at every packet: that array is the costliest memory the
	 * program touches under load. */
	{
		__u64 now = bpf_ktime_get_coarse_ns();

		if (tcp->fin || reset || now != rw->last_ns) {
			rw->last_ns = now;
			seen = seen_at(rw->slot, rw->gen);
			if (seen) {
				if (tcp->fin)
					__sync_fetch_and_or(&seen->flags, KBAL_PKT_FIN);
				if (reset)
					__sync_fetch_and_or(&seen->flags, KBAL_PKT_RST);
				seen->bytes = rw->bytes;
				seen->last_ns = now;
			}
		}
	}
}

/* a packet of a flow another host holds */
#include "pkt_forward.bpf.h"

/* parse, look up, act, rewrite, account, readdress, send */
static __always_inline int splice(struct __sk_buff *skb, const enum hook hook)
{
	struct rewrite r = {};
	__u32 sent;
	struct kbal_pkt_rw *rw = NULL;
	struct kbal_scratch *known = NULL;
	struct kbal_host *hosts = NULL;
	int fin_stays = 0;
	struct pkt p = {};
	__u32 zero = 0;
	__u64 *live;
	int verdict;

	/* no flow on the packet path and no second chance: nothing to look
	 * up (an array lookup is inlined: one load) */
	live = bpf_map_lookup_elem(&kbal_pkt_live, &zero);
	if (hook == HOOK_INGRESS) {
		hosts = bpf_map_lookup_elem(&kbal_hosts, &zero);
		if (hosts && !hosts->peers)
			hosts = NULL;
	}
	if ((!live || !*live) && !hosts)
		return TC_ACT_NEXT_;
	if (pkt_parse(skb, &p))
		return TC_ACT_NEXT_;
	/* kbald's own ACK for its kept client socket (kbal_packet_ack_kept()),
	 * unless the flow was given back before it came (a decided flow can
	 * be, at its switching packet): the socket hears the client itself
	 * then, and this ACK's window of 0 would stall its answer */
	if (skb->mark == KBAL_PKT_MARK) {
		if (live && *live) {
			rw = bpf_map_lookup_elem(&kbal_pkt, &p.key);
			if (rw && rw->action == KBAL_PKT_SHIFT)
				return TC_ACT_SHOT_;
		}
		return TC_ACT_NEXT_;
	}
	if (live && *live)
		rw = bpf_map_lookup_elem(&kbal_pkt, &p.key);
	if (!rw)
		return hosts ? second_chance(skb, &p, hosts->self) : TC_ACT_NEXT_;
	verdict = pkt_act(skb, &p, rw, hook);
	if (verdict != GO_ON)
		return verdict;
	/* a segment with payload on a framed joined flow: a request's first
	 * byte where the framing has it (a head next, at the framed sequence
	 * number) is given back if kbald asked for it or the flow's decision
	 * says so (kbal_pkt_give_back()), and so is a decided flow's answer
	 * whose head kbald must write (kbal_pkt_decide_response()); the
	 * packet is then shifted into kbald's socket by the new entry. A
	 * decided flow's request with the client's FIN in its segment (a
	 * client that writes its last request and shuts down at once) is
	 * decided as any: kept, the FIN passing with it, or given back with
	 * its FIN (kbald answers, then ends the connection, as httpd); a
	 * watched flow's goes on as ever. An answer's head with the member's
	 * FIN is judged (a member that writes its answer and closes at once:
	 * member_fin_with_answer() below) unless a request after it is owed
	 * too: the member ended with that one unanswered, and the FIN ends the
	 * client's connection, as ever (held, it would be held for good) */
	if (rw->fr_flags == KBAL_PKT_FR_ON && rw->action == KBAL_PKT_REWRITE &&
	    (!(rw->slot & 1) || (rw->flags & KBAL_PKT_DECIDE)) &&
	    p.ip_len > p.ihl + p.tcp->doff * 4 && !p.tcp->syn && !p.tcp->rst) {
		__u32 seq = bpf_ntohl(p.tcp->seq), hl = p.ihl + p.tcp->doff * 4;
		__u32 where = (p.l4off + p.tcp->doff * 4) << 16 | (p.ip_len - hl);

		if (rw->fr_state == KBAL_FRAME_HEAD && seq == rw->fr_seq && p.tcp->ack &&
		    (!p.tcp->fin || ((rw->slot & 1) ? answers_owed(rw) <= 1 :
				     (rw->flags & KBAL_PKT_DECIDE) != 0))) {
			__u32 ack = bpf_ntohl(p.tcp->ack_seq);
			int back;

			/* a head the decision keeps parsed whole: framed
			 * from its parse (frame_known()) */
			known = frame_scratch();
			if (known)
				known->known.ok = 0;
			if (rw->slot & 1) {
				int why = kbal_pkt_decide_response(skb, rw, where);

				back = why ? kbal_pkt_give_back_response(rw, seq, ack,
									 why == KBAL_SKB_UNASKED ?
									 UNASKED_HEAD : 0) :
				       BACK_NOT_NOW;
				/* a head kbald must write passing as it is
				 * (the flow could not be given back): its FIN
				 * too, as ever */
				fin_stays = why && back == BACK_NOT_NOW;
			} else
				back = kbal_pkt_give_back(rw, seq, ack,
							  (rw->flags & KBAL_PKT_DECIDE) ?
							  kbal_pkt_decide_request(skb, rw, where) : 1);
			if (back != BACK_NOT_NOW)
				known = NULL;
			verdict = back_taken(back, &rw, &p.key);
			if (verdict != GO_ON)
				return verdict;
		} else if ((rw->flags & KBAL_PKT_DECIDE) &&
			   (rw->hold || (rw->fr_state == KBAL_FRAME_HEAD &&
					 (__s32)(seq - rw->fr_seq) > 0) ||
			    frame_gap_unkept(rw, seq, p.ip_len - hl))) {
			/* a decided flow: bytes behind a request or an answer
			 * held for kbald, a head beyond a gap (its first byte
			 * must be a segment's first, where it is judged), or
			 * bytes beyond a gap its framing could not keep (else
			 * the framing is lost, and with it the decisions):
			 * dropped, the sender sends them again in order */
			kbal_stat_add(KBAL_STAT_PKT_HELD, 1);
			return TC_ACT_SHOT_;
		}
	}
	/* A decided flow's member closing its connection between answers
	 * (its keep-alive timeout): its FIN is not the client's end. httpd
	 * finds the connection closed and sends the client's next request on
	 * another; here the FIN is given back as an answer nobody asked for
	 * (kbald closes the member's connection, the client's goes on: the
	 * decision marked so for good, the client's next request kbald's) where
	 * that is exact, and held (the member sends it again) until then. */
	else if ((rw->slot & 1) && (rw->flags & KBAL_PKT_DECIDE) &&
		 rw->fr_flags == KBAL_PKT_FR_ON && rw->action == KBAL_PKT_REWRITE &&
		 p.tcp->fin && p.tcp->ack && !p.tcp->syn && !p.tcp->rst &&
		 p.ip_len == p.ihl + p.tcp->doff * 4 && rw->fr_state == KBAL_FRAME_HEAD &&
		 bpf_ntohl(p.tcp->seq) == rw->fr_seq) {
		int back = kbal_pkt_give_back_response(rw, bpf_ntohl(p.tcp->seq),
						       bpf_ntohl(p.tcp->ack_seq), UNASKED_FIN);

		verdict = back_taken(back, &rw, &p.key);
		if (verdict != GO_ON)
			return verdict;
	}
	/* A decided flow's member resetting its connection between answers:
	 * not the client's end either (kbal_pkt_member_ended()); nor any
	 * reset of its after that */
	else if ((rw->slot & 1) && (rw->flags & KBAL_PKT_DECIDE) && p.tcp->rst &&
		 ((rw->flags & KBAL_PKT_MEMBER_GONE) ||
		  (rw->fr_flags == KBAL_PKT_FR_ON && rw->action == KBAL_PKT_REWRITE &&
		   rw->fr_state == KBAL_FRAME_HEAD && bpf_ntohl(p.tcp->seq) == rw->fr_seq &&
		   bpf_ntohl(p.tcp->seq) == rw->switch_seq &&
		   kbal_pkt_member_ended(rw, bpf_ntohl(p.tcp->seq)))))
		return TC_ACT_SHOT_;
	/* and the client's FIN after that, no request having come: given back
	 * at it as that request would have been, for kbald to end the
	 * connection as httpd does (sent on, it would meet only the member's
	 * stack, whose reset is dropped) */
	else if (!(rw->slot & 1) && (rw->flags & KBAL_PKT_DECIDE) && p.tcp->fin && p.tcp->ack &&
		 !p.tcp->syn && !p.tcp->rst && p.ip_len == p.ihl + p.tcp->doff * 4 &&
		 rw->fr_flags == KBAL_PKT_FR_ON && rw->action == KBAL_PKT_REWRITE &&
		 rw->fr_state == KBAL_FRAME_HEAD && bpf_ntohl(p.tcp->seq) == rw->fr_seq &&
		 member_gone(rw)) {
		int back = kbal_pkt_give_back(rw, bpf_ntohl(p.tcp->seq), bpf_ntohl(p.tcp->ack_seq),
					      KBAL_SKB_UNASKED);

		verdict = back_taken(back, &rw, &p.key);
		if (verdict != GO_ON)
			return verdict;
	}
	/* a decided flow whose framing was lost (decided_lost()): nothing
	 * more of it passes undecided; kbald ends it */
	if ((rw->flags & KBAL_PKT_DECIDE) && (rw->fr_flags & KBAL_PKT_FR_LOST) &&
	    p.ip_len > p.ihl + p.tcp->doff * 4)
		return TC_ACT_SHOT_;
	if (pkt_rewrite(skb, &p, rw, &r)) {
		kbal_stat_add(KBAL_STAT_PKT_UNPARSED, 1);
		return TC_ACT_SHOT_;
	}
	sent = rw->switch_seq;
	/* HTTP framing of the stream (pkt_frame.bpf.h): reads the payload,
	 * changes nothing of the packet */
	if (!p.tcp->rst) {
		__u32 done = known ? frame_known(rw, r.seq0, r.payload, &known->known) : 0;

		if (done < r.payload)
			pkt_frame(skb, rw, r.seq0 + done, p.l4off + p.doff + done, r.payload - done);
	}
	/* A decided flow's member writing its answer and closing at once: the
	 * FIN in the segment of the answer's last bytes is not the client's
	 * end (member_fin_with_answer()): taken off, before the accounting
	 * sees it */
	if (p.tcp->fin && r.payload && (rw->slot & 1) && (rw->flags & KBAL_PKT_DECIDE) &&
	    !fin_stays && member_fin_with_answer(rw, r.seq0 + r.payload)) {
		__u32 old_w, new_w;

		__builtin_memcpy(&old_w, (__u8 *)p.tcp + 12, 4);
		p.tcp->fin = 0;
		__builtin_memcpy(&new_w, (__u8 *)p.tcp + 12, 4);
		csum_acc(&r.acc, old_w, new_w);
	}
	pkt_account(&p, rw, &r);
	pkt_readdress(skb, &p, rw, r.acc);
	if ((rw->flags & KBAL_PKT_DECIDE) && (rw->fr_flags & KBAL_PKT_FR_LOST)) {
		decided_lost(rw, sent);
		return TC_ACT_SHOT_;   /* this segment does not pass */
	}
	kbal_stat_add(KBAL_STAT_PKT_REWRITTEN, 1);
	/* On lo the packet goes on to lo's ingress and the peer's socket.
	 * Elsewhere its source is now one of our addresses, which the stack
	 * would refuse as martian: it leaves by the other leg's interface,
	 * the route and neighbour looked up by the kernel (no forwarding
	 * sysctl needed, gateways handled). */
	if (rw->ifindex)
		return bpf_redirect_neigh(rw->ifindex, NULL, 0, 0);
	return TC_ACT_NEXT_;
}

SEC("tc")
int kbal_pkt_splice(struct __sk_buff *skb)
{
	return splice(skb, HOOK_LO);
}

SEC("tc")
int kbal_pkt_ingress(struct __sk_buff *skb)
{
	return splice(skb, HOOK_INGRESS);
}

SEC("tc")
int kbal_pkt_egress(struct __sk_buff *skb)
{
	/* rewritten at another interface's ingress and redirected here:
	 * already done (its new 4-tuple is kbald's own, DROP's key) */
	if (skb->ingress_ifindex)
		return TC_ACT_NEXT_;
	return splice(skb, HOOK_EGRESS);
}

/*
 * kbal-pktbench only (not loaded unless asked for: "?tc"): the framing's
 * cost with the caches warm, in the kernel's own repeat loop. Each run
 * first puts the state of frame_bench back (the packet's entry's fr_*, the
 * direction's kbal_pkt_frame entry and the request side's), so that every
 * repeat frames the same segment anew; frame_bench.on 0 leaves the
 * entry's framing off (the same restore, no framing: the baseline).
 */
struct frame_bench {
	struct kbal_pkt_frame st;      /* the direction's state before */
	struct kbal_pkt_frame req;     /* the request side's (slot ^ 1) */
	__u32 on;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frame_bench);
} kbal_frame_bench SEC(".maps");

/* The state frame_bench holds put back for skb's entry: 0, or -1 where
 * there is none. A global function: its stack (a packet's parse) is not
 * on splice()'s chain, whose frames the verifier adds up (512 bytes). */
__noinline int frame_bench_restore(struct __sk_buff *skb)
{
	struct frame_bench *b;
	struct kbal_pkt_rw *rw;
	struct kbal_pkt_frame *f;
	struct pkt p = {};
	__u32 zero = 0, slot;

	b = bpf_map_lookup_elem(&kbal_frame_bench, &zero);
	if (!skb || !b || pkt_parse(skb, &p))
		return -1;
	rw = bpf_map_lookup_elem(&kbal_pkt, &p.key);
	if (!rw)
		return -1;
	rw->fr_flags = b->on ? KBAL_PKT_FR_ON : 0;
	rw->fr_seq = b->st.seq;
	rw->fr_state = b->st.state;
	rw->fr_left = b->st.left;
	slot = rw->slot;
	f = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (f)
		*f = b->st;
	slot ^= 1;
	f = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (f)
		*f = b->req;
	return 0;
}

SEC("?tc")
int kbal_pkt_frame_bench(struct __sk_buff *skb)
{
	if (frame_bench_restore(skb))
		return TC_ACT_SHOT_;
	return splice(skb, HOOK_LO);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
