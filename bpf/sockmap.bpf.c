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
#include <bpf/bpf_core_read.h>
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

/* kbald's alone, not pinned: a report is for the image that reads it */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KBAL_SK_EVENTS_SIZE);
} kbal_sk_events SEC(".maps");

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* skb->_sk_redir: the target bpf_sk_redirect_hash() chose, flags in the
 * low bits (the kernel's BPF_F_PTR_MASK) */
#define KBAL_SK_REDIR_FLAGS 3ul
/* sk->sk_user_data: the psock, flags in the low bits (SK_USER_DATA_PTRMASK) */
#define KBAL_SK_USER_DATA_FLAGS 7ul
/* bytes waiting for the target's worker before the source is paused, as
 * the queue's length times this skb's (the queue keeps no byte count; a
 * bulk stream's skbs are alike). A transfer to a local reader that keeps up
 * queues megabytes here at times (128 loopback skbs, 8 MiB, paused the e2e
 * 64 MiB transfers); a reader that stops lets it grow without end. */
#define KBAL_SK_QUEUE_BYTES (128ull << 20)

/* Backpressure (kbal_shared.h, struct kbal_sk_event): the target's psock
 * worker has about KBAL_SK_QUEUE_BYTES waiting, a queue with no bound of
 * its own. The target is read from what bpf_sk_redirect_hash() stored in the
 * skb, its psock from sk_user_data: two reads, no lookup. Said for every
 * skb while it lasts; kbald's pause ends it. A full ring loses a report,
 * the next skb makes it again. */
static __always_inline void kbal_check_target(struct __sk_buff *skb, __u64 cookie, int len)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	unsigned long to = kskb->_sk_redir & ~KBAL_SK_REDIR_FLAGS, ud;
	struct sk_psock *psock;
	struct sock *sk;
	struct kbal_sk_event ev;

	if (!to)
		return;
	sk = bpf_rdonly_cast((void *)to, bpf_core_type_id_kernel(struct sock));
	ud = (unsigned long)sk->sk_user_data & ~KBAL_SK_USER_DATA_FLAGS;
	if (!ud)
		return;
	psock = bpf_rdonly_cast((void *)ud, bpf_core_type_id_kernel(struct sk_psock));
	if ((__u64)psock->ingress_skb.qlen * (__u32)len < KBAL_SK_QUEUE_BYTES)
		return;
	ev.cookie = cookie;
	bpf_ringbuf_output(&kbal_sk_events, &ev, sizeof(ev), 0);
	kbal_stat_add(KBAL_STAT_SK_BACKLOG, 1);
}

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
	kbal_check_target(skb, cookie, len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
