// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sockmap.bpf.c - the in-kernel splice of an established socket pair.
 *
 * Two sockhashes, so that a socket becomes a redirect target before any
 * socket starts redirecting to it:
 *   kbal_sk_dst[cookie(X)] = Y   where X's bytes go (no program attached)
 *   kbal_sk_src[cookie(X)] = X   X's ingress runs kbal_verdict
 * kbald inserts dst before src for each direction, so the verdict never
 * meets a missing target during the handover (that would drop data).
 * The sockhash key is the *source's* cookie: one lookup, no flow table.
 * No per-socket byte counter: kbald derives what is still in flight from
 * the sockets' own tcp_info (see splice_sockmap.c), which keeps the per-skb
 * work at one hash lookup and one per-CPU counter.
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

SEC("sk_skb")
int kbal_verdict(struct __sk_buff *skb)
{
	__u64 cookie;
	long verdict;

	/* A FIN arrives as an empty skb, often after kbald has seen the FIN
	 * (tcp_fin() wakes epoll before data_ready runs this program) and
	 * closed the pair. kbald passes FINs on itself: nothing to carry. */
	if (skb->len == 0)
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
	kbal_stat_add(KBAL_STAT_BYTES, skb->len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
