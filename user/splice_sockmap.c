// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include "maps.h"
#include "splice_sockmap.h"

uint64_t kbal_sock_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
	return cookie;
}

int kbal_sock_unread(int fd)
{
	int n = 0;

	return ioctl(fd, SIOCINQ, &n) ? 0 : n;
}

int kbal_sock_counts(int fd, uint64_t *sent, uint64_t *received)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ioctl(fd, SIOCOUTQ, &outq))
		return -errno;
	/* bytes_acked + unacked queue = everything handed to TCP (up to the
	 * SYN's sequence number, which the caller's offset absorbs) */
	*sent = ti.tcpi_bytes_acked + (uint64_t)outq;
	*received = ti.tcpi_bytes_received;
	return 0;
}

int kbal_sock_payload(int fd, uint64_t *sent, uint64_t *received)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);
	int outq = 0, fin_out, fin_in;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ioctl(fd, SIOCOUTQ, &outq))
		return -errno;
	/* a FIN queued takes a sequence number (tcp_send_fin(): write_seq),
	 * acked or not; one received moved rcv_nxt (tcp_data_queue()). (The
	 * BPF_TCP_* states are the kernel's TCP_* ones.) */
	fin_out = ti.tcpi_state == BPF_TCP_FIN_WAIT1 || ti.tcpi_state == BPF_TCP_FIN_WAIT2 ||
		  ti.tcpi_state == BPF_TCP_CLOSING || ti.tcpi_state == BPF_TCP_TIME_WAIT ||
		  ti.tcpi_state == BPF_TCP_LAST_ACK;
	fin_in = ti.tcpi_state == BPF_TCP_CLOSE_WAIT || ti.tcpi_state == BPF_TCP_LAST_ACK ||
		 ti.tcpi_state == BPF_TCP_CLOSING || ti.tcpi_state == BPF_TCP_TIME_WAIT;
	*sent = ti.tcpi_bytes_acked + (uint64_t)outq;
	/* the SYN: acked with the handshake (tcp_ack()'s snd_una from the
	 * ISN), the socket having connected (an accepted one starts past it) */
	if (*sent)
		(*sent)--;
	if (fin_out && *sent)
		(*sent)--;
	*received = ti.tcpi_bytes_received - (fin_in && ti.tcpi_bytes_received);
	return 0;
}

int kbal_sock_received(int fd, uint64_t *received)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -errno;
	*received = ti.tcpi_bytes_received;
	return 0;
}

int kbal_splice_dir(const struct kbal_maps *m, int from_fd, uint64_t from_cookie, int to_fd)
{
	uint64_t key = from_cookie, val;
	int one = 1;

	/* target first: the verdict must never meet a missing target */
	val = (uint64_t)to_fd;
	if (bpf_map_update_elem(m->dst_fd, &key, &val, BPF_ANY))
		return -errno;
	val = (uint64_t)from_fd;
	if (bpf_map_update_elem(m->src_fd, &key, &val, BPF_ANY)) {
		int err = -errno;

		bpf_map_delete_elem(m->dst_fd, &key);
		return err;
	}
	/* Bytes that arrived after kbald's last read sit in the receive
	 * queue until the next data_ready; this runs it now (the strparser
	 * starts at copied_seq, so an skb kbald read part of is not sent
	 * twice). */
	setsockopt(from_fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	return 0;
}
