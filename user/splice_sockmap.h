/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * splice_sockmap.h - hand one direction of a connection to the kernel.
 *
 * kbal_splice_dir(from, to): `from`'s later bytes go to `to` through the
 * verdict program, with no copy through kbald. The caller guarantees that
 * it has written everything it read from `from` into `to` and that its last
 * read of `from` found the queue empty, so that no byte overtakes another.
 */
#ifndef KBAL_SPLICE_SOCKMAP_H
#define KBAL_SPLICE_SOCKMAP_H

#include <stdint.h>

struct kbal_maps;

/* SO_COOKIE of a socket: its key in the sockhashes. */
uint64_t kbal_sock_cookie(int fd);

/* Bytes the socket has taken for sending since it was connected, and the
 * bytes it received in order: from tcp_info and SIOCOUTQ. */
int kbal_sock_counts(int fd, uint64_t *sent, uint64_t *received);

/* The same as bytes of data, for a member's counters, of a socket kbald
 * connected: the sequence numbers its SYN and FINs took are not bytes
 * (tcpi_bytes_acked counts the SYN of a socket that connected and a FIN
 * acked, bytes_received a FIN received, and the send queue holds a FIN
 * queued). */
int kbal_sock_payload(int fd, uint64_t *sent, uint64_t *received);

/* The received half of it alone (tcp_info, no ioctl). */
int kbal_sock_received(int fd, uint64_t *received);

/* Bytes waiting in the socket's receive queue (SIOCINQ), 0 on error. */
int kbal_sock_unread(int fd);

/* 0, or -errno: -EOPNOTSUPP when a socket is no longer established (the
 * caller then copies that direction itself). */
int kbal_splice_dir(const struct kbal_maps *m, int from_fd, uint64_t from_cookie, int to_fd);

#endif
