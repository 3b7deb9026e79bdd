/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * conn.h - a connection's life in kbald (types in conn-t.h): accepted,
 * driven through its first exchange, handed over, closed.
 */
#ifndef KBAL_CONN_H
#define KBAL_CONN_H

#include <stdint.h>
#include "conn-t.h"

struct kbal_daemon;

/* What conn_new() takes on of a keep-alive connection a restart in place
 * handed over between two requests (restart.c) */
struct kbal_conn_was {
	uint64_t rd, wr;              /* what its socket carried so far */
	unsigned agent, bounded;      /* its c->agent and c->bounded, decide.h */
	uint32_t nreq;                /* its requests so far: MaxKeepAliveRequests
				       * counts on from there */
	uint64_t idle_since;          /* waiting for its next request since (the
				       * idle list's c->since), 0: not idle */
	const char *vhost;            /* the name of its last request's
				       * <VirtualHost> (conn_vhosts()) */
};

/* A client's connection, accepted (was: NULL, or what it carried across a
 * restart): its first exchange begins, or, idle, its wait for the next
 * request goes on. -ENOMEM (fd closed) stops accepting for this turn. */
int conn_new(struct kbal_daemon *d, int fd, const struct kbal_flow_key *key,
	     const struct kbal_conn_was *was);

/* c's <VirtualHost>s where one sets its timeouts (c->vhost_base,
 * vhost_req): its address's, and its last request's, found by the name
 * that <VirtualHost> answers to (a restart's: its ServerName in the
 * configuration before, "" or NULL: none, the address's then) */
void conn_vhosts(const struct kbal_daemon *d, struct kbal_conn *c, const char *name);

/* the member's counters get what its connection carried (busy, bytes),
 * once, as the connection or its member side ends */
void conn_account(struct kbal_daemon *d, struct kbal_conn *c);

/* The bytes side's socket received for this connection, in order (its
 * tcp_info count, the FIN's sequence number too): on a member's connection
 * from kbald's pool, less what it received for earlier clients
 * (c->member_rcvd0). 0, or -errno (socket gone). */
int conn_received(const struct kbal_conn *c, int side, uint64_t *recvd);

/* side's socket into the loop (again: it is there already, as the pool's) */
int conn_watch(struct kbal_daemon *d, struct kbal_conn *c, int side, int again);

/* Move the connection as far as it goes; -1 when it was closed. */
int conn_progress(struct kbal_daemon *d, struct kbal_conn *c);

/* an event on side's socket */
void conn_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t events);

/* The end: counters, its flow entry, its path's state, its sockets. The
 * struct is freed after the loop turn (later events may still name it). */
void conn_close(struct kbal_daemon *d, struct kbal_conn *c);

/* The end kbald gives it once its answer (its own, or the last one, with
 * Connection: close) is written: conn_close(), but a client that may
 * still be sending (a refused request's body, a request pipelined behind
 * the last) gets a lingering close (linger.h), as httpd's, not the reset
 * a close() with its bytes unread would send. */
void conn_end(struct kbal_daemon *d, struct kbal_conn *c);

/*
 * The end where httpd ends the connection by its lingering close (brief:
 * its short time, 2 s, else 30 s) whatever kbald knows of what its client
 * may send: at a clock (below), after an answer of kbald's own on a
 * connection the kernel carried (the sockmap path's 408 and 502 to a
 * request the kernel framed, kernel_clocks.c; the packet path's on the
 * client's leg taken back, packet_clocks.c). A socket the kernel carries
 * leaves the sockhashes first; on the packet path, the kept socket kbald
 * took the client's leg back onto lingers, the flow's SHIFT entries kept
 * until it is done (kbal_pkt_flow.lingers). A client whose EOF came, or
 * whose leg was not taken back, is closed plainly.
 */
void conn_linger_end(struct kbal_daemon *d, struct kbal_conn *c, int brief);

/*
 * A keep-alive client idle for KeepAliveTimeout (kbald's or the kernel's
 * clock): closed silently by httpd's short lingering close (2 s), as its
 * event MPM closes it (process_keepalive_queue() -> shutdown_connection()):
 * a request that crossed the close finds no reset: conn_linger_end(),
 * brief.
 */
void conn_keepalive_end(struct kbal_daemon *d, struct kbal_conn *c);

/*
 * A member that stopped mid-answer (its head and part of its body passed
 * to the client, then nothing for its Timeout): the answer ends there and
 * so does the connection, by httpd's full lingering close (30 s):
 * mod_proxy_http's body read times out ("error reading response"),
 * ap_proxy_backend_broke() ends the answer (no last chunk) and sets no
 * c->aborted, only c->keepalive = AP_CONN_CLOSE, so ap_start_lingering_close()
 * sends the FIN and the event MPM reads the client's bytes until its EOF
 * (CONN_STATE_LINGER_NORMAL): conn_linger_end(), not brief. The member's
 * connection closes (backend->close: a FIN; on the packet path where its
 * leg came back to kbald, packet_clocks.c, else a reset).
 */
void conn_member_stalled(struct kbal_daemon *d, struct kbal_conn *c);

/*
 * A first exchange a restart in place waited for as long as it may (its
 * state in kbald's buffers cannot go to the next image): cut where it
 * stands. httpd's graceful restart would let it finish (its old child
 * serves it to the end, GracefulShutdownTimeout bounds graceful-stop
 * alone); kbald ends it as a dying httpd ends a connection, where its
 * client may still send (a body on its way) by the short lingering close,
 * which the next image takes over (restart.c): a FIN after what went out,
 * not the reset a close() with the client's bytes unread would send. A
 * socket the kernel carries leaves the sockhashes first.
 */
void conn_restart_cut(struct kbal_daemon *d, struct kbal_conn *c);

/* The head limits of c's requests: those of the <VirtualHost> its address
 * picks without a Host (httpd's conn->base_server), else the server's */
const struct kbal_http_limits *conn_limits(const struct kbal_daemon *d,
					   const struct kbal_conn *c);

/* The <VirtualHost> its address picks without a Host (httpd's
 * conn->base_server, under which a head is read), -1: the server */
int conn_base_vhost(const struct kbal_daemon *d, const struct kbal_conn *c);

/* Its timeouts (ns), of the <VirtualHost>s c->vhost_base and vhost_req
 * name: Timeout for a request's head (its address's), Timeout for the
 * rest of its last request (that request's), KeepAliveTimeout between
 * two requests (kbal_conf_keepalive_wait()) */
uint64_t conn_head_timeout_ns(const struct kbal_daemon *d, const struct kbal_conn *c);
uint64_t conn_timeout_ns(const struct kbal_daemon *d, const struct kbal_conn *c);
uint64_t conn_keepalive_ns(const struct kbal_daemon *d, const struct kbal_conn *c);

/* reset by a peer: reset the other side too */
void conn_abort(struct kbal_daemon *d, struct kbal_conn *c);

/* once a loop turn: connections that stopped for their budget, the first
 * exchanges' deadlines, the closed ones freed */
void conn_run_ready(struct kbal_daemon *d);
void conn_run_timers(struct kbal_daemon *d);
void conn_free_dead(struct kbal_daemon *d);

#endif
