/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tcp_opts.bpf.h - the TCP options that carry sequence numbers or clocks
 * (timestamps, SACK): found in any layout, rewritten in place.
 */
#ifndef KBAL_TCP_OPTS_BPF_H
#define KBAL_TCP_OPTS_BPF_H

#include <bpf/bpf_helpers.h>
#include "csum.bpf.h"
#include "kbal_shared.h"

#define TCP_OPT_MAX  40     /* option bytes a TCP header can carry */

#define TCPOPT_EOL   0
#define TCPOPT_NOP   1
#define TCPOPT_SACK  5
#define TCPOPT_TS    8

/* where the options that carry sequence numbers or clocks are */
struct opt_pos {
	__u32 ts;                      /* offset of the TS option, 0: none */
	__u32 sack;                    /* offset of the SACK option, 0: none */
	__u32 sack_blocks;
};

struct opt_walk {
	__u8 opts[TCP_OPT_MAX];        /* the options, copied from the packet */
	__u32 len;                     /* how many of them */
	__u32 i;
	int err;
	struct opt_pos pos;
};

/*
 * One option per call of bpf_loop(): a loop the verifier checks once,
 * whatever the layout (an unrolled walk over 40 bytes exceeds its limit).
 * Stack bytes are read one at a time at variable offsets.
 */
static long walk_option(__u32 n, struct opt_walk *w)
{
	__u32 i = w->i;
	__u8 kind, len;

	if (i >= w->len || i >= TCP_OPT_MAX)
		return 1;
	kind = w->opts[i];
	if (kind == TCPOPT_EOL)
		return 1;
	if (kind == TCPOPT_NOP) {
		w->i = i + 1;
		return 0;
	}
	if (i + 1 >= w->len || i + 1 >= TCP_OPT_MAX) {
		w->err = 1;
		return 1;
	}
	len = w->opts[i + 1];
	if (len < 2 || i + len > w->len) {
		w->err = 1;
		return 1;
	}
	if (kind == TCPOPT_TS) {
		if (len != 10) {
			w->err = 1;
			return 1;
		}
		w->pos.ts = sizeof(struct tcphdr) + i;
	} else if (kind == TCPOPT_SACK) {
		if ((len - 2) % 8 || len < 10 || len > 34) {
			w->err = 1;
			return 1;
		}
		w->pos.sack = sizeof(struct tcphdr) + i;
		w->pos.sack_blocks = (len - 2) / 8;
	}
	w->i = i + len;
	return 0;
}

/*
 * Find the timestamp and SACK options (offsets from the TCP header).
 * Returns -1 for a layout that does not parse (a length running past the
 * header, a TS or SACK of the wrong size): such a packet is dropped, never
 * half-rewritten.
 */
static __always_inline int find_options(struct __sk_buff *skb, struct tcphdr *tcp,
					void *data_end, __u32 l4off, __u32 doff,
					struct opt_pos *pos)
{
	struct opt_walk w = {};
	__u32 len = doff - sizeof(struct tcphdr);
	__u8 *o = (__u8 *)(tcp + 1);

	if (len == 0)
		return 0;
	/* Linux's own layouts, read in place: NOP NOP TS, then NOP NOP SACK
	 * with 1 to 3 blocks; anything else is walked below */
	if ((len == 12 || len == 24 || len == 32 || len == 40) &&
	    (void *)(o + 16) <= data_end &&
	    o[0] == TCPOPT_NOP && o[1] == TCPOPT_NOP && o[2] == TCPOPT_TS && o[3] == 10) {
		if (len == 12) {
			pos->ts = sizeof(struct tcphdr) + 2;
			return 0;
		}
		if (o[12] == TCPOPT_NOP && o[13] == TCPOPT_NOP && o[14] == TCPOPT_SACK &&
		    o[15] == len - 14) {
			pos->ts = sizeof(struct tcphdr) + 2;
			pos->sack = sizeof(struct tcphdr) + 14;
			pos->sack_blocks = (len - 16) / 8;
			return 0;
		}
	}
	if (len > TCP_OPT_MAX ||
	    bpf_skb_load_bytes(skb, l4off + sizeof(struct tcphdr), w.opts, len & 63))
		return -1;
	w.len = len;
	bpf_loop(TCP_OPT_MAX, walk_option, &w, 0);
	if (w.err)
		return -1;
	*pos = w.pos;
	return 0;
}

/*
 * The timestamps of a joined flow whose host has an id (KbalHost,
 * docs/scale-out.md): the client's view of the member's clock is that
 * clock, offset, times 8, with the id in the low 3 bits, so that a host
 * the router sends the flow to can read the owner from the client's
 * TSecr. Times 8 and not the low bits overwritten: every TSecr maps back
 * exactly (the member's RTT samples and its undo of spurious
 * retransmissions read it), and the client's view runs 8 times faster,
 * never backwards (PAWS: it wraps in 6 days, against a reap at 10 minutes
 * idle). The echo is decoded against the base set at the handover, as a
 * signed distance: an echo of a TSval of kbald's own socket (before the
 * switch, below the base) maps below the member's clock at the handover.
 * The base moves forward with the echoes (by 2^30 of the client's view,
 * 2^27 of the member's: the same mapping), so that no flow is too long
 * for it; one writer, as the entry's counters.
 */
static __always_inline void ts_with_id(__u8 *p, struct kbal_pkt_rw *rw, __u64 *acc, int odd)
{
	__u32 v;

	__builtin_memcpy(&v, p + 2, 4);
	v = bpf_ntohl(v) + rw->tsval_delta;
	if (rw->host_id)
		v = v << KBAL_HOST_ID_BITS | (rw->host_id & ((1u << KBAL_HOST_ID_BITS) - 1));
	put32(p + 2, v, acc, odd);
	/* TSecr 0 means "no echo" (RFC 7323 3.2): it stays 0 */
	__builtin_memcpy(&v, p + 6, 4);
	if (!v)
		return;
	v = bpf_ntohl(v);
	if (rw->flags & KBAL_PKT_ID_ECHO) {
		__s32 d = (__s32)(v - rw->ts_base);

		v = rw->ts_mbase + (__u32)(d >> KBAL_HOST_ID_BITS);
		if (d >= (1 << 30)) {
			rw->ts_base += 1u << 30;
			rw->ts_mbase += 1u << (30 - KBAL_HOST_ID_BITS);
		}
	} else
		v += rw->tsecr_delta;
	put32(p + 6, v, acc, odd);
}

static __always_inline int rewrite_options(void *tcp, void *data_end, const struct opt_pos *pos,
					   struct kbal_pkt_rw *rw, __u64 *acc)
{
	if (pos->ts) {
		__u8 *p = tcp + (pos->ts & 63);

		if ((void *)(p + 10) > data_end)
			return -1;
		int odd = (pos->ts + 2) & 1;
		__u32 ecr;

		if (rw->host_id || (rw->flags & KBAL_PKT_ID_ECHO)) {
			ts_with_id(p, rw, acc, odd);
		} else {
			rw32(p + 2, rw->tsval_delta, acc, odd);
			/* TSecr 0 means "no echo" (RFC 7323 3.2): it stays 0 */
			__builtin_memcpy(&ecr, p + 6, 4);
			if (ecr)
				rw32(p + 6, rw->tsecr_delta, acc, odd);
		}
	}
	if (pos->sack) {
		for (__u32 b = 0; b < 4; b++) {
			__u8 *e = tcp + (pos->sack & 63) + 2 + b * 8;

			if (b >= pos->sack_blocks)
				break;
			if ((void *)(e + 8) > data_end)
				return -1;
			rw32(e, rw->ack_delta, acc, (pos->sack + 2) & 1);
			rw32(e + 4, rw->ack_delta, acc, (pos->sack + 2) & 1);
		}
	}
	return 0;
}

#endif /* KBAL_TCP_OPTS_BPF_H */
