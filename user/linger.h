/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * linger.h - a lingering close, as httpd's (server/connection.c,
 * ap_lingering_close(); the event MPM's process_lingering_close()): a
 * client's socket that kbald ends while the client may still be sending
 * (a refused request's body, a request pipelined behind the last) is shut
 * down for writing once kbald's answer is written, then what the client
 * sends is read and dropped until its EOF, an error, or the time limit,
 * and only then closed. A close() with bytes unread makes Linux send a
 * reset in place of the FIN, which can cost the client the answer.
 */
#ifndef KBAL_LINGER_H
#define KBAL_LINGER_H

#include <stdint.h>
#include "list.h"

struct kbal_daemon;
struct kbal_pkt_flow;
struct kbal_to_conn;

/* the sockets lingering, by time limit (httpd's linger_q and short_linger_q),
 * each oldest first */
struct kbal_lingering {
	struct kbal_list wait[2];
	unsigned n;                   /* descriptors held (kbal_fds_held()) */
};

void linger_init(struct kbal_daemon *d);

/*
 * fd, a client's socket whose answer is written, is kbald's to end: its
 * FIN goes and the client's bytes are dropped until its EOF, closed then
 * or at the time limit (brief: httpd's short one, mod_reqtimeout's and
 * KeepAliveTimeout's). It takes fd, and client (kbal_client_key()), the
 * address's count in d->acc.clients, which goes down as fd closes.
 * shifted (else NULL): the record of the flow given back whose client
 * socket fd is (a joined flow's kept socket, taken back by kbald or given
 * back by the packet program), whose peer's bytes reach it through the
 * program's SHIFT entries: it takes the record, and hands it back to the
 * packet path as fd closes (pkt_given_back_closed(): the entries go a
 * while after, docs/packet.md "Endings"). A restart in place removes the
 * entries: linger_drop_shifted().
 */
void linger_start(struct kbal_daemon *d, int fd, uint32_t client, int brief,
		  struct kbal_pkt_flow *shifted);

/*
 * A restart in place removes the SHIFT entries of the flows given back
 * (they would outlive the image that knows them): the shifted sockets'
 * lingering closes end first (what came read, then closed: what a plain
 * close at their end did before), not handed to the next image, which
 * could not hear their clients.
 */
void linger_drop_shifted(struct kbal_daemon *d);

/*
 * fd's answer is written and it may hold nothing a while (a refusal that
 * bounds what one address holds, KbalMaxConnectionsPerClient): its FIN
 * goes, what the client sent so far is read and dropped, and it closes at
 * once. Only bytes still on their way find it closed (and get a reset).
 */
void linger_none(int fd);

/* once a loop turn: those past their time limit closed */
void linger_run_timers(struct kbal_daemon *d);

/* how long the loop may sleep before one's time limit, ~0: none lingers */
uint64_t linger_wake_us(const struct kbal_daemon *d);

/*
 * A restart in place hands the lingering sockets to the next image, as
 * httpd's old children finish theirs: out, one record each (flags
 * KBAL_TO_LINGER), oldest first; the number. They stay here too (an exec
 * that fails goes on with them).
 */
unsigned linger_export(const struct kbal_daemon *d, struct kbal_to_conn *out);

/* The next image: one handed over, lingering on to httpd's short limit
 * from when its FIN went (a dying httpd's, linger_q's timeout shortened);
 * the records come oldest first */
void linger_adopt(struct kbal_daemon *d, const struct kbal_to_conn *r);

/* all closed (kbald stops) */
void linger_fini(struct kbal_daemon *d);

#endif
