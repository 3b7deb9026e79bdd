// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sockmap.bpf.c - the in-kernel splice of an established socket pair.
 *
 * Two sockhashes, so that a socket becomes a redirect target before any
 * socket starts redirecting to it:
 *   kbal_sk_dst[cookie(X)] = Y   where X's bytes go (no program attached)
 *   kbal_sk_src[cookie(X)] = X   X's ingress runs kbal_parser, kbal_verdict
 * kbald inserts dst before src for each direction, so the verdict never
 * meets a missing target during the handover (that would drop data).
 * The sockhash key is the *source's* cookie: one lookup, no flow table.
 * No per-socket byte counter: kbald derives what is still in flight from
 * the sockets' own tcp_info (see splice_sockmap.c), which keeps the per-skb
 * work at one hash lookup and this CPU's line of counters.
 *
 * Why a stream parser that only says "take what is there": without one
 * (BPF_SK_SKB_VERDICT) the kernel reads the receive queue with
 * tcp_read_skb(), which hands over whole skbs and ignores copied_seq. A
 * segment that partly overlaps bytes already received (a retransmission
 * after reordering and loss) is queued untrimmed, its old head is
 * redirected a second time and the peer gets a stretch of bytes twice.
 * The strparser reads with tcp_read_sock() from copied_seq on, so it starts
 * such an skb at an offset; the parser must then count from that offset.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kbal_maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KBAL_MAX_FLOWS * 2);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_sk_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KBAL_MAX_FLOWS * 2);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_sk_dst SEC(".maps");

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/* Where the strparser's message starts in skb, and how long it is (0 before
 * the parser ran): skb is a clone of a whole receive-queue skb and
 * skb->len counts the bytes before that offset too. */
static __always_inline struct strp_msg *kbal_strp_msg(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

	return &((struct sk_skb_cb *)kskb->cb)->strp.strp;
}

/* BPF_SK_SKB_STREAM_PARSER: one message per read, exactly the bytes that
 * follow the offset. skb->len alone would be too long by the offset after
 * an overlapping retransmission, and the strparser would hold the tail of
 * the data back until that many more bytes arrive (a stall at the end of a
 * response), and be misaligned the same way for the messages after it. */
SEC("sk_skb")
int kbal_parser(struct __sk_buff *skb)
{
	int off = kbal_strp_msg(skb)->offset;
	int len = skb->len;

	return off > 0 && off < len ? len - off : len;
}

/* BPF_SK_SKB_STREAM_VERDICT */
SEC("sk_skb")
int kbal_verdict(struct __sk_buff *skb)
{
	__u64 cookie;
	long verdict;

	int len = kbal_strp_msg(skb)->full_len;

	/* kbald passes FINs on itself: nothing to carry (the strparser hands
	 * over no empty message; kept for safety). */
	if (skb->len == 0 || len == 0)
		return SK_DROP;
	cookie = bpf_get_socket_cookie(skb);
	verdict = bpf_sk_redirect_hash(skb, &kbal_sk_dst, &cookie, 0);
	if (verdict != SK_PASS) {
		/* Cannot happen while kbald inserts dst before src; counted
		 * so that a bug shows in `kbalctl stats`, not as a hang. */
		kbal_stat_add(KBAL_STAT_NO_PEER, 1);
		return verdict;
	}
	kbal_stat_add(KBAL_STAT_REDIRECTED, 1);
	kbal_stat_add(KBAL_STAT_BYTES, len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
