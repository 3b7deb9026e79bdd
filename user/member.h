/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * member.h - a connection's member: picked, connected, failed over,
 * released (member.c).
 */
#ifndef KBAL_MEMBER_H
#define KBAL_MEMBER_H

#include <stdint.h>

struct kbal_daemon;
struct kbal_conn;

/* Pick (again: members tried are skipped) and connect; with none left,
 * the client gets a 503. Out of descriptors, the connection waits. */
void member_pick_connect(struct kbal_daemon *d, struct kbal_conn *c);

/* fd[MEMBER] is established (or a kept connection was taken) */
void member_connected(struct kbal_daemon *d, struct kbal_conn *c);

/* the connect failed (refused, reset, timed out): the member in error
 * state for its retry time, the next one tried */
void member_failed(struct kbal_daemon *d, struct kbal_conn *c, const char *why);

/* A kept connection ended before a byte of its answer: the request again
 * on a new connection. 0, or -errno with the client answered 503. */
int member_retry(struct kbal_daemon *d, struct kbal_conn *c);

/* The response has ended, all of it written: the member's connection
 * goes to the pool for the next one-request client. */
void member_release(struct kbal_daemon *d, struct kbal_conn *c);

/* A kept member connection lent for one request becomes the connection's
 * own (the pool forgets it, the loop gives its events to the connection):
 * it will not go back to the pool. */
void member_unkeep(struct kbal_daemon *d, struct kbal_conn *c);

/* c's kept member connection (c->reused) counted from now on by its
 * socket's own counters (conn_account() at its close), as one of c's own:
 * those hold earlier clients' bytes too, counted when those ended, which
 * come off its member's now. Nothing where it is c's own already. */
void member_own_kept(struct kbal_daemon *d, struct kbal_conn *c);

/* A connection waiting for a usable member (the balancer's timeout=):
 * looked at again, or 503 once its deadline passed. */
void member_wait_tick(struct kbal_daemon *d, struct kbal_conn *c);

/* The member answered status (timedout: nothing within its timeout, the
 * client gets a 502): the balancer's failonstatus= and failontimeout=. */
void member_answered(struct kbal_daemon *d, struct kbal_conn *c, unsigned status, int timedout);

/* How long c's member may keep an answer waiting: its timeout=, else the
 * Timeout / ProxyTimeout of c's request's <VirtualHost> (conn_timeout_ns()),
 * in ns. */
uint64_t member_timeout_ns(const struct kbal_daemon *d, const struct kbal_conn *c);
/* the same, or its ping= while its answer to a head with Expect:
 * 100-continue is owed (member_continue_timeout() after it) */
uint64_t member_answer_ns(const struct kbal_daemon *d, const struct kbal_conn *c);
void member_continue_timeout(struct kbal_daemon *d, struct kbal_conn *c);

/* a socket for a member, as mod_proxy makes it: bound to
 * ProxySourceAddress, its receive buffer ProxyReceiveBufferSize. 0 or
 * -errno (the bind failed) */
struct kbal_conf;
int member_socket_source(const struct kbal_conf *conf, int fd, int family);

/* mod_proxy_http's ap_proxy_worker_can_upgrade(): may a request's Upgrade
 * (proto, len bytes) go to member (its upgrade=)? */
int member_upgrades(const struct kbal_daemon *d, int member, const char *proto, size_t len);

/* Connections waiting for a descriptor to connect: those that can now. */
void member_run_fd_waiters(struct kbal_daemon *d);

#endif
