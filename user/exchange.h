/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * exchange.h - the first exchange of a connection, in kbald's buffers
 * (struct kbal_first, conn-t.h): read, parsed, routed, rewritten, written.
 * The driver (conn.c) calls these per direction until the direction is
 * quiet and handed over (handover.h).
 */
#ifndef KBAL_EXCHANGE_H
#define KBAL_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

struct kbal_daemon;
struct kbal_conn;

/* The buffers, from a small cache: a connection's for its first exchange. */
struct kbal_first *first_alloc(void);
void first_free(struct kbal_conn *c);
void first_cache_drop(void);

/* exchange_reply.c: kbald answers the client itself (an error, the manager
 * page) and closes; owned: resp was malloc'd and is freed with the buffers */
void exch_reply(struct kbal_daemon *d, struct kbal_conn *c, char *resp, size_t len, int owned);
void exch_error(struct kbal_daemon *d, struct kbal_conn *c, unsigned status);
void exch_drop_member(struct kbal_daemon *d, struct kbal_conn *c);
/* the same as mod_proxy's ap_proxyerror() answers: "STATUS Proxy Error",
 * why on the page where httpd's shows it */
void exch_proxy_error(struct kbal_daemon *d, struct kbal_conn *c, unsigned status,
		      const char *why);
/* mod_proxy_http's own 502 (its handler's HTTP_BAD_GATEWAY: a head it
 * cannot read): httpd's page, no notes; the client's connection goes on
 * where local_keeps(), the member's goes */
void exch_bad_gateway(struct kbal_daemon *d, struct kbal_conn *c);
/* the member failed before its answer's first byte: a 502 on a connection's
 * first request, the connection ended on a later one (httpd's); 1: ended */
int exch_member_failed(struct kbal_daemon *d, struct kbal_conn *c);
/* the same, leaving a keep-alive connection open where Apache's does:
 * keep_reply always, keep_error for 401, 403, 404 (when local_keeps()) */
void exch_reply_keep(struct kbal_daemon *d, struct kbal_conn *c, char *resp, size_t len,
		     int owned);
void exch_error_keep(struct kbal_daemon *d, struct kbal_conn *c, unsigned status,
		     const char *extra);
/* may kbald's own answer to this request leave the connection open? */
int local_keeps(const struct kbal_conn *c);

/* read direction dir's source / write to its destination; 1 if progress */
int exch_read(struct kbal_conn *c, int dir);
int exch_write(struct kbal_conn *c, int dir);
/* a send to side `to` failed (errno): EAGAIN (or EINTR, ENOBUFS) waits for
 * the next edge, anything else is the peer gone (fin 2, as a reset read),
 * whose error no event will repeat (exch_write(), exch_pipe_write()) */
void exch_send_failed(struct kbal_conn *c, int to);

/* feed what was read of direction dir to its parser and act on it: the
 * request routed and its member picked, the response's head rewritten */
void exch_parse(struct kbal_daemon *d, struct kbal_conn *c, int dir);
/* A proxied request (f->pass) whose access rules let it in: its
 * balancer, its member, how the kernel may carry what follows */
void exch_proxy_request(struct kbal_daemon *d, struct kbal_conn *c);

/* An access check that went to authcheck's thread answered (the
 * manager's, or a proxied path's):
 * the exchange goes on (kbald's loop, KBAL_TAG_AUTH, then conn_progress()) */
struct kbal_authjob;
void exch_auth_done(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_authjob *j);

/* the exchange on a kept member connection is over, the client's goes on:
 * it waits for its next request without buffers (the idle list) */
void exch_next(struct kbal_daemon *d, struct kbal_conn *c);

/* Where the request ends in buf[UP] (its parsed part while it is still
 * read); and whether all of it went out: on a kept member connection
 * (c->pool) what follows it is the next exchange's. */
uint32_t exch_request_end(const struct kbal_conn *c);
int exch_request_out(const struct kbal_conn *c);
/* ... which came: 0, or -ENOMEM */
int exch_wake(struct kbal_daemon *d, struct kbal_conn *c);

/* the buffer of direction dir emptied once all of it went out */
void exch_compact(struct kbal_conn *c, int dir);

/* direction dir's bytes are still in kbald's buffers */
int exch_buffered(const struct kbal_conn *c, int dir);
/* everything read of direction dir went out */
int exch_all_written(const struct kbal_conn *c, int dir);
/* what kbald has yet to write of direction dir */
uint64_t exch_pending(const struct kbal_conn *c, int dir);
/* where the response ends in the member's stream; -EPROTO: not known */
int exch_response_end(const struct kbal_conn *c, uint64_t *end);
/* what the member sent past its response: never written (0: nothing) */
uint32_t exch_past_response(const struct kbal_conn *c);

/* may the exchange go on a kept member connection (c->pool)? */
int exch_on_kept(struct kbal_daemon *d, struct kbal_conn *c);
/* the address the client reached, read once for the request (*known) */
struct sockaddr_in6;
const uint8_t *client_local(const struct kbal_conn *c, struct sockaddr_in6 *local, int *known);

/* exchange_head.c: the request's head parsed: checked, its <VirtualHost>,
 * answered locally or its member picked (exch_proxy_request()) */
void exch_request_head(struct kbal_daemon *d, struct kbal_conn *c);

/* exchange_response.c: the member's answer's head parsed: an interim one
 * passed on or dropped, the final one acted on and written for the client;
 * 1: exch_parse() parses on, 0: it stops there */
int exch_response_head(struct kbal_daemon *d, struct kbal_conn *c);
/* the member's head llhttp refused, as httpd reads it (kbal_http_lines()):
 * a final head with a line httpd refuses answered 500, a line without ':'
 * 502; an interim one passed on; a form of lines httpd reads written as it
 * read them; 1: exch_parse() parses on (an interim head passed, or the
 * head written anew), -1: it stops (answered, or the head's end awaited), 0:
 * none of these, llhttp's refusal stands */
int exch_head_refused(struct kbal_daemon *d, struct kbal_conn *c);

/* exchange_body.c: bodies as httpd sends them on */
/* an answer that ends at the member's close: chunked to an HTTP/1.1
 * client, with Connection: close to an HTTP/1.0 one; followed to its end */
void exch_eof_plan(struct kbal_conn *c);
/* the member's EOF ends such an answer: its last chunk owed */
void exch_eof(struct kbal_conn *c);
/* a chunked answer to an HTTP/1.0 client: de-chunked, the connection's last */
void exch_dechunk_plan(struct kbal_conn *c);
/* the body parsed from f->fed[i] on, de-chunked in place; as kbal_http_feed() */
int exch_feed_dechunked(struct kbal_first *f, int i, size_t *used);
/* a chunked request's body that came whole: sent with its length; -1: answered */
int exch_body_whole(struct kbal_daemon *d, struct kbal_conn *c);
/* the buffer's body bytes to the spool (proxy-sendcl); 0 or -errno */
int exch_spool_body(struct kbal_daemon *d, struct kbal_conn *c);
/* the next chunk line of a body sent chunked (again) in direction dir; 1:
 * out[dir] has it */
int exch_chunk_next(struct kbal_conn *c, int dir, uint32_t limit);

#endif
