/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pkt_rewrite.bpf.h - a joined packet written into the other leg's
 * (packet.bpf.c): its TCP header (options, ports, sequence and
 * acknowledgement numbers, the window between the legs' scales), its
 * addresses and checksums; and what kbald's client-side socket sends
 * before the switch (its window capped, its timestamps carrying the host
 * id). Included by packet.bpf.c after struct pkt and struct rewrite.
 */
#ifndef KBAL_PKT_REWRITE_BPF_H
#define KBAL_PKT_REWRITE_BPF_H

#include "csum.bpf.h"
#include "tcp_opts.bpf.h"

/*
 * A packet of kbald's client-side socket before the switch (HOLD): its
 * window no larger than cap. At the handover kbald retracted the window
 * that socket had promised the client to the member's real one (see
 * retract_windows() in user/splice_packet.c); what the socket still
 * sends (the first response written after the handover, retransmissions)
 * would promise the larger window again, and the client would send its
 * next request's body into it, beyond what the member accepts.
 */
static __always_inline void cap_window(struct __sk_buff *skb, __u32 l4off, __u32 cap)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcphdr *tcp = data + l4off;
	__u32 old_w, new_w;

	if ((void *)(tcp + 1) > data_end || bpf_ntohs(tcp->window) <= cap)
		return;
	__builtin_memcpy(&old_w, (__u8 *)tcp + 12, 4);
	tcp->window = bpf_htons(cap);
	__builtin_memcpy(&new_w, (__u8 *)tcp + 12, 4);
	bpf_l4_csum_replace(skb, l4off + offsetof(struct tcphdr, check), old_w, new_w, 4);
}

/*
 * Before the switch, with a host id (scale-out.md, "Second chance"): what
 * kbald's client-side socket sends (the HOLD entry, hold) carries the id
 * too, in the client's view of that socket's clock (times 8 from the
 * handover on, as the member's will be), so that a joined flow's client
 * echoes an id from the handover on, not only once the member has sent
 * it something; and what the client sends that socket until the switch
 * (the SWITCH entry, up) gets the socket's own TSval back in its TSecr
 * (an echo from before the handover, below the base, is left as it is).
 * In place, the checksum updated as cap_window() does.
 */
static __always_inline void ts_before_switch(struct __sk_buff *skb, __u32 l4off,
					     const struct kbal_pkt_rw *hold,
					     const struct kbal_pkt_rw *up)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcphdr *tcp = data + l4off;
	struct opt_pos pos = {};
	__u64 acc = 0;
	__u32 doff, v;
	__u8 *o;

	if ((void *)(tcp + 1) > data_end)
		return;
	doff = tcp->doff * 4;
	if (doff <= sizeof(*tcp) || (void *)tcp + doff > data_end ||
	    find_options(skb, tcp, data_end, l4off, doff, &pos) || !pos.ts)
		return;
	/* (find_options() moves no packet data: the pointers hold) */
	o = (__u8 *)tcp + (pos.ts & 63);
	if ((void *)(o + 10) > data_end)
		return;
	if (hold) {
		__builtin_memcpy(&v, o + 2, 4);
		v = (bpf_ntohl(v) + hold->tsval_delta) << KBAL_HOST_ID_BITS |
		    (hold->host_id & ((1u << KBAL_HOST_ID_BITS) - 1));
		put32(o + 2, v, &acc, (pos.ts + 2) & 1);
	} else {
		__s32 d;

		__builtin_memcpy(&v, o + 6, 4);
		d = (__s32)(bpf_ntohl(v) - up->ts_base);
		if (!v || d < 0)
			return;
		put32(o + 6, up->ts_mbase + (__u32)(d >> KBAL_HOST_ID_BITS) + up->tsecr_delta, &acc,
		      (pos.ts + 2) & 1);
	}
	bpf_l4_csum_replace(skb, l4off + offsetof(struct tcphdr, check), 0, csum_fold32(acc), 0);
}

/*
 * The TCP header into the other leg's: options (timestamps, SACK), ports,
 * sequence and acknowledgement numbers, the window between the legs'
 * scales; every changed word summed into r->acc. -1 for a header that does
 * not parse (dropped: it must not reach the frozen socket either, and the
 * sender retransmits).
 */
static __always_inline int pkt_rewrite(struct __sk_buff *skb, struct pkt *p,
				       struct kbal_pkt_rw *rw, struct rewrite *r)
{
	struct opt_pos pos = {};
	struct tcphdr *tcp = p->tcp;
	__u32 old_w, new_w;
	__u16 win;

	p->doff = tcp->doff * 4;
	if (p->doff < sizeof(*tcp) || (void *)tcp + p->doff > p->data_end ||
	    find_options(skb, tcp, p->data_end, p->l4off, p->doff, &pos))
		return -1;
	/* the sender's TSval as it came (the give-back's clocks) */
	if (pos.ts) {
		__u32 tsv;

		/* the highest (serial arithmetic): a packet processed out of
		 * order must not lower it */
		if (bpf_skb_load_bytes(skb, p->l4off + (pos.ts & 63) + 2, &tsv, 4) == 0 &&
		    (!rw->last_tsval || (__s32)(bpf_ntohl(tsv) - rw->last_tsval) > 0))
			rw->last_tsval = bpf_ntohl(tsv);
	}
	/* bpf_skb_load_bytes() leaves the packet where it was, but the
	 * verifier wants the pointers proven again */
	p->data_end = (void *)(long)skb->data_end;
	tcp = p->tcp = (void *)(long)skb->data + p->l4off;
	if ((void *)(tcp + 1) > p->data_end ||
	    rewrite_options(tcp, p->data_end, &pos, rw, &r->acc))
		return -1;

	/* ports: one 32-bit word (memcpy: no type punning through pointers) */
	{
		__u32 old, new;
		__be16 ports[2] = { rw->sport, rw->dport };

		__builtin_memcpy(&old, &tcp->source, 4);
		__builtin_memcpy(&new, ports, 4);
		__builtin_memcpy(&tcp->source, &new, 4);
		csum_acc(&r->acc, old, new);
	}
	/* the TCP payload: a GSO packet's is the skb's whole; a frame padded
	 * to the Ethernet minimum has bytes past the IP length */
	r->payload = skb->len - p->l4off - p->doff;
	if (p->ip_len && p->ip_len >= p->ihl + p->doff && p->ip_len - p->ihl - p->doff < r->payload)
		r->payload = p->ip_len - p->ihl - p->doff;
	r->seq0 = bpf_ntohl(tcp->seq);
	r->ack0 = bpf_ntohl(tcp->ack_seq);
	/* what the give-back needs (quiet, offsets): the sender's last
	 * acknowledgement and TSval, as they came */
	if (tcp->ack)
		rw->switch_ack = r->ack0;
	rw32(&tcp->seq, rw->seq_delta, &r->acc, 0);
	if (tcp->ack)
		rw32(&tcp->ack_seq, rw->ack_delta, &r->acc, 0);

	/* the window, in the word it shares with data offset and flags */
	__builtin_memcpy(&old_w, (__u8 *)tcp + 12, 4);
	win = bpf_ntohs(tcp->window);
	if (rw->win_shift > 0) {
		__u32 w = (__u32)win << (rw->win_shift & 15);

		win = w > 0xffff ? 0xffff : w;
	} else if (rw->win_shift < 0) {
		/* rounding down keeps the window a promise the receiver can keep */
		win = win >> ((-rw->win_shift) & 15);
	}
	/* the window shut, as the receiver's peer reads it (a small one
	 * rounds down to 0 where the legs' scales differ): what tells kbald a
	 * client that takes nothing of its answer from a member that stopped
	 * (both acknowledge each other's probes); written where it changes */
	if (tcp->ack && !win && !(rw->flags & KBAL_PKT_WIN_SHUT))
		__sync_fetch_and_or(&rw->flags, KBAL_PKT_WIN_SHUT);
	else if (tcp->ack && win && (rw->flags & KBAL_PKT_WIN_SHUT))
		__sync_fetch_and_and(&rw->flags, ~KBAL_PKT_WIN_SHUT);
	tcp->window = bpf_htons(win);
	__builtin_memcpy(&new_w, (__u8 *)tcp + 12, 4);
	csum_acc(&r->acc, old_w, new_w);
	return 0;
}

/*
 * The addresses, in the IP header and the TCP pseudo header: the IP
 * checksum updated here (RFC 1624), the TCP one by two helper calls. The
 * helpers may move the packet: no packet pointer is used after them.
 */
static __always_inline void pkt_readdress(struct __sk_buff *skb, struct pkt *p,
					  const struct kbal_pkt_rw *rw, __u64 acc)
{
	struct iphdr *ip = p->ip;
	__u64 pseudo = 0;
	__u16 check;

	csum_acc(&pseudo, ip->saddr, rw->saddr);
	csum_acc(&pseudo, ip->daddr, rw->daddr);
	check = csum_fold16(csum_fold32(pseudo + (__u16)~ip->check));
	ip->check = ~check;
	ip->saddr = rw->saddr;
	ip->daddr = rw->daddr;
	/* the payload-side changes (a no-op on CHECKSUM_PARTIAL skbs, whose
	 * TCP checksum covers only the pseudo header), then the pseudo
	 * header's */
	bpf_l4_csum_replace(skb, p->l4off + offsetof(struct tcphdr, check), 0,
			    csum_fold32(acc), 0);
	bpf_l4_csum_replace(skb, p->l4off + offsetof(struct tcphdr, check), 0,
			    csum_fold32(pseudo), BPF_F_PSEUDO_HDR);
}

#endif
