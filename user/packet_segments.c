// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * packet_segments.c - the segments kbald sends itself from its side of a
 * joined flow's legs, through a raw socket: the ACKs that retract a window
 * kbald's socket promised at the handover, and the probes that tell both
 * peers a flow is over (docs/packet.md, "Windows at the switch", "Endings").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include "log.h"
#include "maps.h"
#include "packet_int.h"

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * The raw socket kbald sends its own segments from (made at start, or on
 * first use where that failed). IPPROTO_RAW: it sends headers kbald
 * writes and receives nothing; a raw IPPROTO_TCP socket would get a copy
 * of every TCP packet the host receives, never read.
 */
int pkt_raw_socket(int *raw_fd)
{
	int one = 1;

	if (*raw_fd >= 0)
		return 0;
	*raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (*raw_fd < 0 || setsockopt(*raw_fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) {
		log_warn("packet splice: a raw socket for kbald's own segments: %s",
			 strerror(errno));
		if (*raw_fd >= 0)
			close(*raw_fd);
		*raw_fd = -1;
		return -1;
	}
	return 0;
}

/* An ACK from k's source to k's destination, no data: seq, ack, the window
 * field as is (scaled), and a timestamp option if ts. */
static int send_ack(int *raw_fd, const struct kbal_pkt_key *k, uint32_t seq, uint32_t ack,
		    uint16_t win, int ts, uint32_t tsval, uint32_t tsecr)
{
	struct {
		struct iphdr ip;
		struct tcphdr tcp;
		uint8_t opt[12];
	} pkt = {};
	_Static_assert(sizeof(pkt) == 52, "IPv4 and TCP headers, NOP NOP TS");
	size_t tcplen = sizeof(pkt.tcp) + (ts ? sizeof(pkt.opt) : 0);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr.s_addr = k->daddr };
	uint32_t sum = 0;
	const uint16_t *w;

	if (pkt_raw_socket(raw_fd))
		return -1;
	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.ttl = 64;
	pkt.ip.protocol = IPPROTO_TCP;
	pkt.ip.tot_len = htons(sizeof(pkt.ip) + tcplen);
	pkt.ip.saddr = k->saddr;
	pkt.ip.daddr = k->daddr;               /* id and checksum: the kernel's */
	pkt.tcp.source = k->sport;
	pkt.tcp.dest = k->dport;
	pkt.tcp.seq = htonl(seq);
	pkt.tcp.ack_seq = htonl(ack);
	pkt.tcp.doff = tcplen / 4;
	pkt.tcp.ack = 1;
	pkt.tcp.window = htons(win);
	if (ts) {
		uint32_t v = htonl(tsval), e = htonl(tsecr);

		pkt.opt[0] = pkt.opt[1] = 1;   /* NOP NOP */
		pkt.opt[2] = 8;                /* TS */
		pkt.opt[3] = 10;
		memcpy(&pkt.opt[4], &v, 4);
		memcpy(&pkt.opt[8], &e, 4);
	}
	/* pseudo header, then the TCP header and its options */
	sum += (k->saddr & 0xffff) + (k->saddr >> 16) + (k->daddr & 0xffff) +
	       (k->daddr >> 16) + htons(IPPROTO_TCP) + htons(tcplen);
	w = (const uint16_t *)&pkt.tcp;
	for (size_t n = 0; n < tcplen / 2; n++)
		sum += w[n];
	pkt.tcp.check = csum_fold(sum);
	if (sendto(*raw_fd, &pkt, sizeof(pkt.ip) + tcplen, 0, (struct sockaddr *)&dst,
		   sizeof(dst)) < 0) {
		log_debug("packet splice: an ACK of kbald's own: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* one probe: an ACK to k's destination from k's source, seq 1.5 GiB before
 * what the peer expects (outside any window) */
static void send_probe(int *raw_fd, const struct kbal_pkt_key *k, uint32_t expected, uint32_t ack)
{
	send_ack(raw_fd, k, expected - 0x60000000u, ack, 0, 0, 0, 0);
}

/* the window field that announces at most bytes at scale (rounded down) */
static uint16_t win_field(int32_t bytes, int scale)
{
	if (bytes <= 0)
		return 0;
	bytes >>= scale;
	return bytes > 65535 ? 65535 : (uint16_t)bytes;
}

/*
 * Each peer believes the window that kbald's socket of its leg last
 * announced; after the switch its sender must keep to the other peer's.
 * Linux takes a smaller window only from a segment that acknowledges new
 * data or comes after the one that announced the last (tcp_may_update_window:
 * a later SEG.SEQ than snd_wl1, or the same and a larger window, or a
 * zero one). The first packet the other peer's side sends after the switch
 * is neither: the client's next request starts at the very sequence number
 * of kbald's last ACK to the member and acknowledges nothing new, so a
 * member to which kbald's socket (its receive buffer autotuned by the
 * first response) had announced 1.5 MB kept sending into it where the
 * client had announced 120 KB: segments beyond the client's window,
 * dropped (Linux 6.17+), never SACKed, and a retransmission timeout.
 *
 * So where a peer was promised more than the other peer offers, kbald
 * retracts the promise before any packet is joined: from its own 4-tuple,
 * an ACK with a zero window (which Linux takes from a segment at snd_wl1),
 * then one with the other peer's window (a larger one at the same
 * sequence number: taken too). Neither carries data nor acknowledges
 * anything new; what the peer may send is then at most what the other
 * peer will accept, and the other peer's own packets only ever widen it.
 * The member leg's two go out before the entries (the DROP entry would
 * swallow them); the client side's socket stays live until the switch,
 * so its HOLD entry also caps the window of what it still sends.
 * A handover refused after this leaves a peer with a smaller window than
 * kbald's socket promised, which that socket's next segment widens again.
 */
void pkt_retract_windows(struct kbal_packet *p, const struct kbal_pkt_flow *fl, int cfd, int mfd,
			 const struct tcp_state *c, const struct tcp_state *m,
			 uint32_t c_sent, int ts, uint32_t client_tsval, uint32_t member_tsval,
			 struct kbal_pkt_rw *hold)
{
	int ms = m->ti.tcpi_rcv_wscale, cs = c->ti.tcpi_rcv_wscale;
	/* member -> client: the client's right edge as kbald's client-side
	 * socket last heard it, past the end of the first response
	 * (c->snd_nxt: pending included), is what the member may fill */
	uint16_t f = win_field((int32_t)(c->snd_una + c->win.snd_wnd - c->snd_nxt), ms);
	uint32_t promised = m->win.rcv_wup + m->win.rcv_wnd - m->rcv_nxt;

	if ((uint32_t)f << ms < promised) {
		/* the socket's clock now: frozen, it may still have sent a
		 * delayed ACK since m was read (repair mode does not stop
		 * the delayed-ACK timer: measured, a socket frozen just after
		 * data came sends its ACK some 42 ms later; after the
		 * entries, the DROP entry swallows it) */
		uint32_t v = ts ? pkt_tsval_now(mfd, m->tsval) : 0;

		send_ack(&p->raw_fd, &fl->drop_m, m->snd_nxt, m->rcv_nxt, 0, ts, v, member_tsval);
		if (f)
			send_ack(&p->raw_fd, &fl->drop_m, m->snd_nxt, m->rcv_nxt, f, ts, v,
				 member_tsval);
		log_debug("packet path: the member's window retracted from %u to %u "
			  "(the client's)", promised, (uint32_t)f << ms);
	}
	/* client -> member: the member's right edge, from what it acked (all
	 * kbald sent: m->snd_una == m->snd_nxt), is what the client may fill */
	f = win_field((int32_t)(m->snd_una + m->win.snd_wnd - m->snd_nxt), cs);
	promised = c->win.rcv_wup + c->win.rcv_wnd - c->rcv_nxt;
	if ((uint32_t)f << cs < promised) {
		/* (live until the switch, it may have sent since c was read) */
		uint32_t v = ts ? pkt_tsval_now(cfd, c->tsval) : 0;

		send_ack(&p->raw_fd, &fl->hold_c, c_sent, c->rcv_nxt, 0, ts, v, client_tsval);
		if (f)
			send_ack(&p->raw_fd, &fl->hold_c, c_sent, c->rcv_nxt, f, ts, v,
				 client_tsval);
		hold->flags |= KBAL_PKT_WIN_CAP;
		hold->win_cap = f;
		log_debug("packet path: the client's window retracted from %u to %u "
			  "(the member's)", promised, (uint32_t)f << cs);
	}
}

void kbal_packet_end_probe(struct kbal_packet *p, const struct kbal_pkt_probe *pr)
{
	for (int i = 0; i < 2; i++)
		if (pr->to[i].dport)   /* (a key left zero: that peer is not told) */
			send_probe(&p->raw_fd, &pr->to[i], pr->seq[i], pr->ack[i]);
}

unsigned kbal_packet_end_stale(const char *pin_dir)
{
	struct kbal_pkt_key key, next, *prev = NULL;
	char path[PATH_MAX];
	unsigned told = 0;
	int fd, raw = -1;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, KBAL_MAP_PKT);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kbal_pkt_rw rw, rev;
		struct kbal_pkt_key rk, to;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &rw) || rw.action != KBAL_PKT_REWRITE ||
		    rw.flags & (KBAL_PKT_FIN | KBAL_PKT_RST))
			continue;
		/* the other direction's entry: keyed by what this one's packets
		 * become, reversed; the same flow if the same generation */
		rk = (struct kbal_pkt_key){ .saddr = rw.daddr, .daddr = rw.saddr,
					    .sport = rw.dport, .dport = rw.sport };
		if (bpf_map_lookup_elem(fd, &rk, &rev) || rev.action != KBAL_PKT_REWRITE ||
		    rev.gen != rw.gen || rev.flags & KBAL_PKT_RST)
			continue;
		/* this entry's sender, from kbald's side of its leg; what it
		 * expects next is what the other direction carried */
		to = (struct kbal_pkt_key){ .saddr = key.daddr, .daddr = key.saddr,
					    .sport = key.dport, .dport = key.sport };
		send_probe(&raw, &to, rev.switch_seq + rev.seq_delta, rw.switch_seq);
		told++;
	}
	if (raw >= 0)
		close(raw);
	close(fd);
	return told;
}

/* the raw socket whose segments the program lets pass (KBAL_PKT_MARK) */
int pkt_raw_mark_socket(struct kbal_packet *p)
{
	uint32_t mark = KBAL_PKT_MARK;

	if (p->raw_mark_fd >= 0)
		return 0;
	if (pkt_raw_socket(&p->raw_mark_fd))
		return -1;
	if (setsockopt(p->raw_mark_fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		log_warn("packet: the kept socket's ACK: SO_MARK: %s", strerror(errno));
		close(p->raw_mark_fd);
		p->raw_mark_fd = -1;
		return -1;
	}
	return 0;
}

/* the kept client socket's ACK at the switch: see splice_packet.h */
int kbal_packet_ack_kept(struct kbal_packet *p, const struct kbal_pkt_flow *fl)
{
	struct kbal_pkt_rw up;

	if (pkt_raw_mark_socket(p))
		return -1;
	/* the client's TSval in the switching packet (the program noted it),
	 * so that the socket's PAWS takes it */
	if (bpf_map_lookup_elem(p->pkt_fd, &fl->up, &up) || up.gen != fl->gen)
		return -1;
	return send_ack(&p->raw_mark_fd, &fl->up, fl->c_rcv_nxt, fl->c_snd_nxt, 0, fl->ts,
			up.last_tsval, 0);
}
