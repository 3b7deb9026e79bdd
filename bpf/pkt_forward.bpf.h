/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pkt_forward.bpf.h - the packet program's second chance (docs/scale-out.md):
 * a packet of a joined flow another host holds, sent on to it. Included by
 * packet.bpf.c after its maps and struct pkt.
 */
#ifndef KBAL_PKT_FORWARD_BPF_H
#define KBAL_PKT_FORWARD_BPF_H

/*
 * The second chance (docs/scale-out.md): a packet that came in here, of no
 * joined flow of this host. When the router has moved a flow from the host
 * that holds it (that host drained, or another added), its packets land on
 * a host with no socket for them. A joined flow's client echoes, in the low
 * bits of its TSecr, the id of the host that holds the flow (ts_with_id()):
 * such a packet is sent on to that host, on the segment the hosts share, as
 * it came (the owner's program takes it in by its kbal_pkt entry). Only an
 * established flow's packet (no SYN), to a service of kbald's here (one of
 * its listening sockets, kbal_services) that no socket of this host holds, and
 * not the ACK that completes a SYN cookie handshake; a TSecr that names no
 * other known host leaves the packet to the stack (which resets it).
 */
static __noinline int second_chance(struct __sk_buff *skb, struct pkt *p, __u32 self)
{
	struct bpf_sock_tuple t = {};
	struct kbal_host *peer;
	struct bpf_sock *sk;
	struct opt_pos pos = {};
	struct iphdr iph;
	__u8 th[60] = {};
	__u32 doff = p->tcp->doff * 4, ecr, id;

	if (p->tcp->syn || doff <= sizeof(struct tcphdr) || doff > sizeof(th) ||
	    (void *)p->tcp + doff > p->data_end ||
	    find_options(skb, p->tcp, p->data_end, p->l4off, doff, &pos) || !pos.ts ||
	    bpf_skb_load_bytes(skb, p->l4off + (pos.ts & 63) + 6, &ecr, 4))
		return TC_ACT_NEXT_;
	id = bpf_ntohl(ecr) & ((1u << KBAL_HOST_ID_BITS) - 1);
	if (!ecr || !id || id == self)
		return TC_ACT_NEXT_;
	peer = bpf_map_lookup_elem(&kbal_hosts, &id);
	if (!peer || !peer->addr || !peer->ifindex)
		return TC_ACT_NEXT_;
	t.ipv4.saddr = p->key.saddr;
	t.ipv4.daddr = p->key.daddr;
	t.ipv4.sport = p->key.sport;
	t.ipv4.dport = p->key.dport;
	sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return TC_ACT_NEXT_;      /* no service of ours there */
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);       /* a socket holds it: the stack's */
		return TC_ACT_NEXT_;
	}
	{
		/* a listener of kbald's (another service's packets are its own) */
		struct kbal_service svc = { .addr = sk->src_ip4, .port = sk->src_port };

		if (!bpf_map_lookup_elem(&kbal_services, &svc)) {
			bpf_sk_release(sk);
			return TC_ACT_NEXT_;
		}
	}
	/* a listener only; the ACK of a SYN cookie is that listener's
	 * (copies: the helper wants the whole TCP header, of any length) */
	if (bpf_skb_load_bytes(skb, p->l4off - p->ihl, &iph, sizeof(iph)) ||
	    bpf_skb_load_bytes(skb, p->l4off, th, doff) ||
	    !bpf_tcp_check_syncookie(sk, &iph, sizeof(iph), (struct tcphdr *)th, doff)) {
		bpf_sk_release(sk);
		return TC_ACT_NEXT_;
	}
	bpf_sk_release(sk);
	{
		struct bpf_redir_neigh nh = { .nh_family = 2 /* AF_INET */, .ipv4_nh = peer->addr };

		kbal_stat_add(KBAL_STAT_PKT_FORWARDED, 1);
		return bpf_redirect_neigh(peer->ifindex, &nh, sizeof(nh), 0);
	}
}

#endif
