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

/* A client's connection, accepted (rd, wr: what its socket carried
 * before, for a keep-alive connection taken over between two requests;
 * agent, bounded: its c->agent and c->bounded then, decide.h; nreq: its
 * requests so far, MaxKeepAliveRequests counts on from there):
 * its first exchange begins. -ENOMEM (fd closed) stops accepting for this
 * turn. */
int conn_new(struct kbal_daemon *d, int fd, const struct kbal_flow_key *key, uint64_t rd,
	     uint64_t wr, unsigned agent, unsigned bounded, uint32_t nreq);

/* the member's counters get what its connection carried (busy, bytes),
 * once, as the connection or its member side ends */
void conn_account(struct kbal_daemon *d, struct kbal_conn *c);

/* side's socket into the loop (again: it is there already, as the pool's) */
int conn_watch(struct kbal_daemon *d, struct kbal_conn *c, int side, int again);

/* Move the connection as far as it goes; -1 when it was closed. */
int conn_progress(struct kbal_daemon *d, struct kbal_conn *c);

/* an event on side's socket */
void conn_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t events);

/* The end: counters, its flow entry, its path's state, its sockets. The
 * struct is freed after the loop turn (later events may still name it). */
void conn_close(struct kbal_daemon *d, struct kbal_conn *c);
/* The head limits of c's requests: those of the <VirtualHost> its address
 * picks without a Host (httpd's conn->base_server), else the server's */
const struct kbal_http_limits *conn_limits(const struct kbal_daemon *d,
					   const struct kbal_conn *c);

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
