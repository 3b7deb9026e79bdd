/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * stamp.h - kbald's side of the Date and Server lines the kernel adds to
 * a member's answers (bpf/stamp.bpf.h): the text they take, which client
 * sockets get the sk_msg program, and what it added to their streams.
 */
#ifndef KBAL_STAMP_H
#define KBAL_STAMP_H

#include <stdint.h>

struct kbal_daemon;
struct kbal_conn;

/* The banner (ServerTokens) and the time now into kbal_stamp_text: at
 * start; stamp_tick() writes the time again each second. */
void stamp_init(struct kbal_daemon *d);
void stamp_tick(struct kbal_daemon *d);

/* c's member left Date or Server out of an answer kbald wrote: from its
 * next splice on, the kernel adds them (c->stamp) */
void stamp_want(struct kbal_conn *c);

/* Before the member's socket enters kbal_sk_src (its answers to the
 * client spliced): where c->stamp says so, the client's socket in
 * kbal_sk_stamp and its kbal_stamp_at entry naming the member's socket.
 * -1 where it could not (the kernel then hands such heads back). */
int stamp_join(struct kbal_daemon *d, struct kbal_conn *c);

/* c's client socket leaves the sockhashes (kbald takes it back): out of
 * kbal_sk_stamp too, a plain TCP socket again while kbald writes to it,
 * as without the program (a psock's send keeps a stopped parser's error,
 * tcp_bpf_sendmsg(), where TCP's takes it); back in at the next splice */
void stamp_sock_leave(struct kbal_daemon *d, struct kbal_conn *c);

/* c ends: its kbal_stamp_at entry goes (its kbal_sk_stamp one goes with
 * the socket) */
void stamp_leave(struct kbal_daemon *d, struct kbal_conn *c);

/* a connection a restart in place handed over: c->stamp again from its
 * kbal_stamp_at entry */
void stamp_adopt(struct kbal_daemon *d, struct kbal_conn *c);

/* kbal_sock_counts() of c's socket on side, the bytes the kernel added to
 * the client's stream taken off its sent count: what kbald weighs against
 * the bytes the member sent */
int stamp_sock_counts(const struct kbal_daemon *d, const struct kbal_conn *c, int side,
		      uint64_t *sent, uint64_t *received);

#endif /* KBAL_STAMP_H */
