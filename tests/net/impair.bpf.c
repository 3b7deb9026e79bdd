// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * impair.bpf.c - loss, duplication and reordering for the namespace tests,
 * on kernels without sch_netem (this one has none): a tc egress program on
 * a test veth. Only IPv4 TCP is touched (ARP and the rest pass), each
 * packet independently, with the rates below (per 100,000):
 *   loss     dropped
 *   dup      sent twice (bpf_clone_redirect to the same egress; the copy
 *            carries DUP_MARK so that it is not impaired again)
 *   reorder  put in the slow HTB class 1:2 (skb->priority): it leaves
 *            after packets sent later, which take HTB's direct queue
 * Loaded by tests/net/kbal-impair.c; the test sets up the HTB qdisc.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define ETH_P_IP    0x0800
#define TC_ACT_OK   0
#define TC_ACT_SHOT 2
#define DUP_MARK    0x6b62696d     /* "kbim" */
#define SLOW_CLASS  0x00010002     /* HTB 1:2 */

const volatile __u32 loss, dup, reorder;   /* per 100,000 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} impair_counts SEC(".maps");       /* [0] seen [1] lost [2] duplicated [3] delayed */

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&impair_counts, &i);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int chance(__u32 per100k)
{
	return per100k && bpf_get_prandom_u32() % 100000 < per100k;
}

SEC("tc")
int impair(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if (skb->mark == DUP_MARK) {
		skb->mark = 0;
		return TC_ACT_OK;
	}
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != 6)
		return TC_ACT_OK;
	count(0);
	if (chance(loss)) {
		count(1);
		return TC_ACT_SHOT;
	}
	if (chance(reorder)) {
		count(3);
		skb->priority = SLOW_CLASS;
	}
	if (chance(dup)) {
		__u32 mark = skb->mark;

		count(2);
		skb->mark = DUP_MARK;
		bpf_clone_redirect(skb, skb->ifindex, 0);
		skb->mark = mark;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
