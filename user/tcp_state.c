// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcp_state.c - a socket's TCP state as the packet path reads it in
 * repair mode (TCP_REPAIR: sequence numbers, clock, windows), and the
 * socket let go again or closed without a segment.
 */
#include <errno.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include "packet_int.h"

int pkt_repair(int fd, int on)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ? -errno : 0;
}

/*
 * Out of repair mode, quietly (no window probe). The kernel's repair mode
 * overrides SO_REUSEADDR and leaving it clears the flag: a client-side
 * socket (accepted, so it had the listener's) gets it back, or once it is
 * closed and lingering a restarted kbald could not bind its listener.
 */
void kbal_packet_thaw(int fd, int reuseaddr)
{
	int one = 1;

	pkt_repair(fd, TCP_REPAIR_OFF_NO_WP);
	if (reuseaddr)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
}

/* send_base (the first byte's sequence number) and the bytes acked and
 * queued since: the send queue's end, without selecting it in repair mode.
 * An ACK between the two reads moves bytes from one to the other: read
 * again until the queue stayed the same. */
int pkt_send_end(int fd, uint32_t send_base, struct tcp_info *ti, uint32_t *end)
{
	for (int tries = 0; tries < 8; tries++) {
		socklen_t len = sizeof(*ti);
		int q1, q2;

		if (ioctl(fd, SIOCOUTQ, &q1) ||
		    getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) ||
		    ioctl(fd, SIOCOUTQ, &q2))
			return -errno;
		if (q1 == q2) {
			*end = send_base + (uint32_t)ti->tcpi_bytes_acked + (uint32_t)q1;
			return 0;
		}
	}
	return -EAGAIN;
}

/* The TSval fd's socket would send now (its clock read again), or
 * read_before where that fails: a segment kbald writes for the socket
 * (pkt_retract_windows()) must not carry a TSval behind one the socket
 * sent since its state was read (PAWS drops a segment 2 behind) */
uint32_t pkt_tsval_now(int fd, uint32_t read_before)
{
	uint32_t v;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &v, &len))
		return read_before;
	return (int32_t)(v - read_before) > 0 ? v : read_before;
}

/*
 * in repair mode: the queues' sequence numbers and the socket's clock.
 * send_base: where the send queue's sequence numbers start, if known
 * (kbal_packet_learn()): then the send queue is not selected. A socket in
 * repair mode with its send queue selected "sends" whatever the kernel
 * transmits from it meanwhile without it leaving (tcp_write_xmit(): an ACK
 * processed from the backlog at release_sock(), the TSQ tasklet deferred
 * to it): on kbald's live client-side socket, with the end of a first
 * response not sent yet (the client's window full), those bytes were
 * lost until a retransmission timeout (seen: snd_nxt jumping to write_seq
 * past the client's window, a loss probe, an RTO 200 ms later).
 */
int pkt_read_state(int fd, struct tcp_state *st, const uint32_t *send_base)
{
	int q;
	socklen_t len = sizeof(uint32_t);

	q = TCP_SEND_QUEUE;
	if (!send_base &&
	    (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	     getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &st->snd_nxt, &len)))
		return -errno;
	q = TCP_RECV_QUEUE;
	len = sizeof(uint32_t);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &st->rcv_nxt, &len))
		return -errno;
	/* the receive queue stays selected: pkt_rcv_nxt() reads it again */
	len = sizeof(uint32_t);
	if (getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &st->tsval, &len))
		return -errno;
	len = sizeof(st->ti);
	if (send_base) {
		int err = pkt_send_end(fd, *send_base, &st->ti, &st->snd_nxt);

		if (err)
			return err;
	} else if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &st->ti, &len)) {
		return -errno;
	}
	len = sizeof(uint32_t);
	if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &st->mss_clamp, &len))
		return -errno;
	len = sizeof(st->win);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &st->win, &len))
		return -errno;
	len = sizeof(uint32_t);
	if (getsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &st->window_clamp, &len))
		return -errno;
	if (ioctl(fd, SIOCOUTQ, &q))
		return -errno;
	st->snd_una = st->snd_nxt - (uint32_t)q;
	st->snd_sent = st->snd_nxt - st->ti.tcpi_notsent_bytes;
	return 0;
}

/* in repair mode, after pkt_read_state(): the receive queue's sequence now */
uint32_t pkt_rcv_nxt(int fd)
{
	uint32_t seq = 0;
	socklen_t len = sizeof(seq);

	getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &len);
	return seq;
}

void kbal_packet_close_frozen(int fd)
{
	int on = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));
	close(fd);
}
