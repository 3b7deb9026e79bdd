/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * packet_int.h - what the packet path's own files share (splice_packet.c:
 * the handover and a joined flow's life; packet_back.c: its legs back to
 * kbald; packet_attach.c, tcp_state.c, packet_segments.c); the rest of
 * kbald uses splice_packet.h.
 */
#ifndef KBAL_PACKET_INT_H
#define KBAL_PACKET_INT_H

#include <stdint.h>
#include <linux/tcp.h>
#include "splice_packet.h"

struct tcp_state {
	uint32_t snd_nxt, rcv_nxt, tsval;  /* snd_nxt: the send queue's end (write_seq) */
	uint32_t snd_una, snd_sent;    /* the first byte not acknowledged, not sent */
	uint32_t mss_clamp;            /* the peer's MSS (TCP_MAXSEG in repair mode) */
	uint32_t window_clamp;         /* the largest window this socket announces */
	struct tcp_info ti;
	struct tcp_repair_window win;  /* the peer's window (snd_wnd, from snd_una) and
	                                  the one this socket promised (rcv_wup + rcv_wnd) */
};

/* splice_packet.c */
/* the two entries of a joined flow, if both are still this flow's: 0, or
 * -ENOENT */
int pkt_joined_entries(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		       struct kbal_pkt_rw *up, struct kbal_pkt_rw *down);
/* the entry at k out of kbal_pkt, if still the flow's of generation gen */
void pkt_forget_key(struct kbal_packet *p, const struct kbal_pkt_key *k, uint16_t gen);
/* rewritten packets leave as if kbald's socket of 4-tuple k had sent them */
void pkt_send_as(struct kbal_pkt_rw *rw, const struct kbal_pkt_key *k);

/* packet_attach.c */
int pkt_loopback_addr(uint32_t a);
int pkt_ifindex_of(struct kbal_packet *p, uint32_t a);
int pkt_ifindex_towards(struct kbal_packet *p, uint32_t a);
int pkt_attach_if(struct kbal_packet *p, int ifindex);

/* tcp_state.c */
int pkt_repair(int fd, int on);
int pkt_send_end(int fd, uint32_t send_base, struct tcp_info *ti, uint32_t *end);
int pkt_read_state(int fd, struct tcp_state *st, const uint32_t *send_base);
uint32_t pkt_rcv_nxt(int fd);
uint32_t pkt_tsval_now(int fd, uint32_t read_before);

/* packet_segments.c */
int pkt_raw_socket(int *raw_fd);
/* the raw socket of the kept sockets' ACKs (SO_MARK KBAL_PKT_MARK), opened at start */
int pkt_raw_mark_socket(struct kbal_packet *p);
void pkt_retract_windows(struct kbal_packet *p, const struct kbal_pkt_flow *fl, int cfd, int mfd,
			 const struct tcp_state *c, const struct tcp_state *m,
			 uint32_t c_sent, int ts, uint32_t client_tsval, uint32_t member_tsval,
			 struct kbal_pkt_rw *hold);

#endif
