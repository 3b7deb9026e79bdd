// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exchange.c - a connection's first exchange in kbald: each direction's
 * bytes read into a buffer, parsed with llhttp (requests strictly: what
 * two parsers could frame differently is a 400 and reaches no member),
 * the request routed (exchange_head.c: ProxyPass, the manager, sticky
 * route), the member's answer acted on (exchange_response.c: interim
 * answers, ProxyErrorOverride, the connections kept or not), its head and
 * the response's written for their destination (heads.c), and everything
 * written on.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "pages.h"
#include "conn.h"
#include "pool.h"
#include "conn-t.h"
#include "daemon.h"
#include "alias.h"
#include "authcheck.h"
#include "decide.h"
#include "env.h"
#include "exchange.h"
#include "exchange_pipe.h"
#include "inaddr.h"
#include "flows.h"
#include "handover.h"
#include "heads.h"
#include "local.h"
#include "log.h"
#include "mailbox.h"
#include "logs.h"
#include "member.h"


/*
 * The first-exchange state is ~70 KiB and lives for one exchange: the last
 * FIRST_CACHE given back are kept for the next connections (their pages
 * stay mapped: no fault at every new connection); the others are mapped
 * for themselves and unmapped when done, so that a burst of clients
 * leaves nothing resident behind it. (From malloc, whether such a block
 * went back to the system depended on its mmap threshold, which moves
 * with what was freed before: a burst left up to 12 KiB per client.)
 */
#define FIRST_CACHE 64

static struct kbal_first *first_cache[FIRST_CACHE];

static unsigned first_cached;

struct kbal_first *first_alloc(void)
{
	struct kbal_first *f;

	if (first_cached) {
		f = first_cache[--first_cached];
	} else {
		f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (f == MAP_FAILED)
			return NULL;
	}
	memset(f, 0, offsetof(struct kbal_first, env));
	kbal_env_clear(&f->env);
	f->vhost = -1;   /* the server's, until a request head picks one */
	return f;
}

/* the buffers back (the connection's pipes are exch_next()'s to keep) */
static void first_drop(struct kbal_conn *c)
{
	if (!c->f)
		return;
	if (c->f->authjob)
		kbal_authjob_cancel(c->f->authjob);   /* freed when answered */
	kbal_alog_release(&c->f->alog);
	for (int i = 0; i < 2; i++)
		if (c->f->out_owned[i])
			free(c->f->out[i]);
	if (c->f->spooled)
		close(c->f->spool_fd);
	if (first_cached < FIRST_CACHE)
		first_cache[first_cached++] = c->f;
	else
		munmap(c->f, sizeof(*c->f));
	c->f = NULL;
}

void first_free(struct kbal_conn *c)
{
	exch_pipe_close(c);   /* an idle client's too, which has no buffers */
	first_drop(c);
}

void first_cache_drop(void)
{
	while (first_cached)
		munmap(first_cache[--first_cached], sizeof(struct kbal_first));
}

/*
 * A request kbald serves itself on a kept member connection (pool.h),
 * which outlives the exchange: HTTP/1.1, bodiless, nothing queued behind
 * it, and Connection options kbald may drop (an HTTP/1.0 keep-alive
 * client's too, once kbald decides its requests: heads_request() asks the
 * member to keep the connection). A one-request client's
 * ("Connection: close"): kbald answers with "Connection: close" and keeps
 * the member's connection. A keep-alive client's where the paths say so
 * (handover_copies()): after the answer kbald waits for its next request.
 */
int exch_on_kept(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *msg = &f->msg[UP];

	/* a connection kbald decides request by request (decide.h): any
	 * HTTP/1.1 request but a tunnel's, with its body; what the client sent
	 * behind it waits for the next exchange (exch_request_end()) */
	if (c->agent && (!c->once || c->last))
		return msg->http_major == 1 && !msg->upgrade &&
		       (msg->http_minor == 1 || !msg->chunked) &&
		       (kbal_http_keepalive_only(msg, f->buf[UP]) ||
			(c->once && kbal_http_close_only(msg, f->buf[UP])));
	if (msg->http_major != 1 || msg->http_minor != 1 || msg->chunked ||
	    msg->content_length > 0 || msg->expect_continue || msg->upgrade ||
	    f->len[UP] != msg->head_len)
		return 0;
	if (c->once)
		return kbal_http_close_only(msg, f->buf[UP]);
	return handover_copies(d, c) && kbal_http_keepalive_only(msg, f->buf[UP]);
}

/*
 * The exchange on a kept member connection is over (its answer written,
 * the member's connection back in the pool) and the client keeps its
 * connection: until its next request it costs what a handed-over one
 * does (the buffers go back to the cache) and waits on the idle list, for
 * KeepAliveTimeout at most (conn_run_timers). Nothing of the client's was
 * read beyond the request (exch_on_kept()).
 */
uint32_t exch_request_end(const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	uint64_t start = c->rd[CLIENT] - f->len[UP];   /* where buf[UP] starts */

	if (c->phase[UP] == P_HEAD || c->phase[UP] == P_BODY)
		return f->fed[UP];
	if (f->msg_total[UP] <= start)
		return 0;
	return f->msg_total[UP] - start < f->len[UP] ? (uint32_t)(f->msg_total[UP] - start) :
						       f->len[UP];
}

int exch_request_out(const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;

	/* not before its member is picked and its head built: a request
	 * waiting for a usable member (timeout=) or a descriptor has nothing
	 * written, which is not all of it (it was closed, and never sent) */
	if (c->member < 0 || f->member_wait || f->fd_wait || !f->out_len[UP])
		return 0;
	return c->phase[UP] == P_FLUSH && f->out_sent[UP] == f->out_len[UP] && !f->in_pipe[UP] &&
	       (!f->ck_stream[UP] || f->ck_last[UP]) && (!f->spooled || f->spool_sent == f->spool_len) &&
	       c->rd[CLIENT] >= f->msg_total[UP] && f->fwd[UP] >= exch_request_end(c);
}

/* The client's next request, read with the last: a new exchange on the
 * same buffers, at once. */
static void exch_carry(struct kbal_daemon *d, struct kbal_conn *c, uint32_t left)
{
	struct kbal_first *f = c->f;

	memmove(f->buf[UP], f->buf[UP] + f->len[UP] - left, left);
	for (int i = 0; i < 2; i++)
		if (f->out_owned[i])
			free(f->out[i]);
	if (f->spooled)
		close(f->spool_fd);
	kbal_alog_release(&f->alog);
	memset(f, 0, offsetof(struct kbal_first, env));
	kbal_env_clear(&f->env);
	f->vhost = -1;
	f->len[UP] = left;
	kbal_http_init_request(&f->msg[UP], conn_limits(d, c));
	kbal_http_init_response(&f->msg[DOWN]);
	f->exch_rd = c->rd[CLIENT] - left;
	f->exch_wr = c->wr[CLIENT];
	f->deadline = d->loop.now + conn_head_timeout_ns(d, c);
	list_del(&c->node);
	list_add_tail(&d->first, &c->node);
	if (!list_linked(&c->ready))
		list_add_tail(&d->ready, &c->ready);
}

void exch_next(struct kbal_daemon *d, struct kbal_conn *c)
{
	uint32_t left = c->f->len[UP] - exch_request_end(c);
	int pending = 0;

	kbal_logs_request(d, c, '+');
	if (c->served < UINT8_MAX)
		c->served++;
	/* an answer that took the route's cookie would be handed back again,
	 * and a request the balancer's lbmethod decided among several members;
	 * but a request that named no route, planned for none for that alone
	 * (decide_route_cookie_owed()): the next is planned on its own */
	c->rearm = c->agent && ((!(c->changed && d->decide.route_cookie) && decide_keepable(d, c)) ||
				decide_route_cookie_owed(d, c));
	/* the next request may wait in a mailbox (mailbox.h), not the socket */
	if (!left && c->mboxed && mbox_conn_left(c, CLIENT))
		pending = 1;
	/* its pipes wait for its next long body (exchange_pipe.h) */
	exch_pipe_rest(c);
	if (!left && !pending)
		first_drop(c);
	c->phase[UP] = c->phase[DOWN] = P_HEAD;
	c->member = -1;
	c->pool = c->reused = c->changed = c->once = c->relay_back = c->last = 0;
	c->want_packet = 0;
	c->why = KBAL_WHY_NONE;
	c->empty[CLIENT] = c->empty[MEMBER] = 0;
	c->fin[MEMBER] = 0;
	c->rdhup &= ~(1u << MEMBER);
	/* the released connection's, counted */
	c->rd[MEMBER] = c->wr[MEMBER] = c->member_rcvd0 = 0;
	c->member_lport = 0;
	c->since = d->loop.now;
	if (left || pending) {
		exch_carry(d, c, left);
		return;
	}
	list_del(&c->node);
	list_add_tail(&d->idle, &c->node);
}

/* An idle keep-alive client sent something (its next request, or its
 * end): the buffers again, and the first exchange's steps. 0, or -ENOMEM. */
int exch_wake(struct kbal_daemon *d, struct kbal_conn *c)
{
	c->f = first_alloc();
	if (!c->f)
		return -ENOMEM;
	kbal_http_init_request(&c->f->msg[UP], conn_limits(d, c));
	kbal_http_init_response(&c->f->msg[DOWN]);
	c->f->exch_rd = c->rd[CLIENT];
	c->f->exch_wr = c->wr[CLIENT];
	c->f->deadline = d->loop.now + conn_head_timeout_ns(d, c);
	list_del(&c->node);
	list_add_tail(&d->first, &c->node);
	return 0;
}


/* the address the client reached (all zero where it cannot be read),
 * read once for the request: *known says it was */
const uint8_t *client_local(const struct kbal_conn *c, struct sockaddr_in6 *local,
			    int *known)
{
	if (!*known)
		kbal_in6_local(c->fd[CLIENT], local);
	*known = 1;
	return local->sin6_addr.s6_addr;
}

/* MaxKeepAliveRequests, as httpd's ap_set_keepalive(): once a connection's
 * requests answered keep-alive reach it (with KeepAlive Off, at once), the
 * next one is answered with
 * Connection: close and the connection ends after it (what the client sent
 * behind it goes unanswered). kbald decides that request (agent: on a kept
 * member connection, its body too), whether it came to kbald or the kernel
 * handed it back (KBAL_SKB_LAST). */
static void request_counted(const struct kbal_daemon *d, struct kbal_conn *c)
{
	int vhost = -1;
	unsigned max;

	if (c->nreq < UINT32_MAX)
		c->nreq++;
	if (c->once)
		return;
	if (d->conf->vhost_keepalive) {
		/* the request's <VirtualHost>'s (r->server's), by its Host */
		const struct kbal_http_msg *rq = &c->f->msg[UP];
		const struct kbal_http_header *h = kbal_http_find(rq, c->f->buf[UP], "Host");
		struct sockaddr_in6 local;
		int known = 0;

		client_local(c, &local, &known);
		vhost = kbal_conf_vhost(d->conf, &local, h ? c->f->buf[UP] + h->value.off : NULL,
					h ? h->value.len : 0);
	}
	max = kbal_conf_max_keepalive(d->conf, vhost);
	if (!kbal_conf_keepalive_off(d->conf, vhost) && (!max || c->nreq <= max))
		return;
	log_debug("conn %p: request %u, past MaxKeepAliveRequests %u: the connection's last",
		  (void *)c, c->nreq, max);
	c->last = 1;
	c->once = 1;
	c->agent = 1;
}

/* Feed what was read of direction i to its parser and act on it. */
void exch_parse(struct kbal_daemon *d, struct kbal_conn *c, int i)
{
	struct kbal_first *f = c->f;
	struct kbal_http_msg *msg = &f->msg[i];

	if (i == UP && c->phase[UP] == P_HEAD && !f->rq_start && f->len[UP] > f->fed[UP])
		f->rq_start = d->loop.now;   /* RequestReadTimeout's header stage */
	while (f->fed[i] < f->len[i] && (c->phase[i] == P_HEAD || c->phase[i] == P_BODY)) {
		size_t used = 0;
		int rc = c->phase[i] == P_BODY && (i == DOWN ? f->dechunk : f->rq_dechunk) ?
			 exch_feed_dechunked(f, i, &used) :
			 kbal_http_feed(msg, f->buf[i], f->fed[i], f->len[i] - f->fed[i], &used);

		f->fed[i] += used;
		if (rc == KBAL_HTTP_ERROR) {
			log_debug("malformed %s: %s", i == UP ? "request" : "response",
				  msg->error ? msg->error : "?");
			/* a request over httpd's limits gets httpd's status */
			if (i == DOWN) {
				/* a line httpd refuses, or one after which it
				 * reads no more: its 500 or 502 */
				int r = c->phase[DOWN] == P_HEAD ? exch_head_refused(d, c) : 0;

				if (r > 0)
					continue;   /* an interim head passed */
				if (!r) {
					member_answered(d, c, 502, 0);
					exch_member_failed(d, c);
				}
				return;
			}
			if (c->phase[UP] == P_HEAD)
				kbal_logs_refused(d, c);   /* httpd logs it too */
			exch_error(d, c, msg->refuse ? msg->refuse : 400);
			return;
		}
		if (rc == KBAL_HTTP_AGAIN && i == UP && c->phase[UP] == P_BODY && f->spool &&
		    f->rq_dechunk && f->len[UP] == BUF_SIZE && !c->local) {
			int err = exch_spool_body(d, c);

			if (err) {
				log_info("a chunked request body to spool: %s", strerror(-err));
				exch_error(d, c, err == -EFBIG ? 413 : 500);
			}
			return;
		}
		if (rc == KBAL_HTTP_AGAIN) {
			/* a head that does not fit the buffer would wait for
			 * room that never comes: over httpd's limits, httpd's
			 * answer (414, 400), else 431; a member's is a 502 */
			if (c->phase[i] == P_HEAD && f->len[i] == BUF_SIZE) {
				unsigned st = i == DOWN ? 502 :
					      kbal_http_head_overflow(msg, f->len[UP]);

				log_debug("a %s head larger than %d bytes: %u",
					  i == UP ? "request" : "response", BUF_SIZE, st);
				if (i == UP)
					kbal_logs_refused(d, c);
				exch_error(d, c, st);
			}
			return;
		}
		if (i == UP && rc == KBAL_HTTP_HEAD) {
			f->body_start = d->loop.now;
			f->fwd[UP] = msg->head_len;
			c->once = !msg->keep_alive && !msg->upgrade;
			f->ka_token = !!kbal_http_find_token(msg, f->buf[UP], "Connection",
							     "keep-alive");
			request_counted(d, c);
			/* an HTTP/1.0 client's one request goes to the member in
			 * HTTP/1.1 (heads.c), which keeps its connection open:
			 * kbald follows the answer to its end, on a kept member
			 * connection (exch_on_kept()), and ends the client's
			 * after it with "Connection: close", as httpd does */
			if (c->once && msg->http_minor == 0)
				c->last = c->agent = 1;
			/* the first message's end: its head, and a body of a
			 * known length */
			f->msg_total[UP] = c->rd[CLIENT] - (f->len[UP] - msg->head_len);
			if (msg->content_length > 0)
				f->msg_total[UP] += msg->content_length;
			if (!msg->chunked)   /* Content-Length framing: nothing left to check */
				c->phase[UP] = P_FLUSH;
			else
				c->phase[UP] = P_BODY;
			/* a chunked body goes as httpd's ap_proxy_http_prefetch()
			 * sends it: de-chunked as it comes, with its length if it
			 * ends within the buffer (exch_body_whole()), else chunked
			 * again piece by piece (exch_chunk_next()): the client's chunk
			 * extensions and trailers stay behind, as there */
			f->rq_dechunk = msg->chunked;
			exch_request_head(d, c);
			if (c->local || f->authjob)
				return;
		} else if (i == UP && rc == KBAL_HTTP_DONE) {
			if (msg->chunked && c->phase[UP] == P_BODY && exch_body_whole(d, c))
				return;
			f->msg_total[UP] = c->rd[CLIENT] - (f->len[UP] - msg->msg_end);
			c->phase[UP] = P_FLUSH;
			if (f->manager_wait) {
				f->manager_wait = 0;
				local_form_done(d, c);
				return;
			}
		} else if (i == DOWN && rc == KBAL_HTTP_HEAD) {
			if (!exch_response_head(d, c))
				return;
		} else if (i == DOWN && rc == KBAL_HTTP_DONE) {
			f->msg_total[DOWN] = c->rd[MEMBER] - (f->len[DOWN] - msg->msg_end);
			c->phase[DOWN] = P_FLUSH;
			return;
		}
	}
}

/* where the response kbald writes ends in the member's stream (its whole
 * length, or its head's and its Content-Length); -EPROTO with no end known */
int exch_response_end(const struct kbal_conn *c, uint64_t *end)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *rs = &f->msg[DOWN];

	if (rs->done)
		*end = f->msg_total[DOWN];
	else if (rs->content_length >= 0)
		*end = f->msg_total[DOWN] + (uint64_t)rs->content_length;
	else
		return -EPROTO;
	return 0;
}

/* Bytes the member sent past its response to the one request it got (a
 * second response nobody asked for): kbald writes none of them, as Apache
 * drops them with the member's connection. Their count, 0 for none, or
 * when the client sent more than the request (pipelined: their answers). */
uint32_t exch_past_response(const struct kbal_conn *c)
{
	uint64_t end;

	if (c->phase[DOWN] != P_FLUSH || c->upgrade || !c->f->msg[UP].done ||
	    c->rd[CLIENT] != c->f->msg_total[UP] || exch_response_end(c, &end) ||
	    c->rd[MEMBER] <= end)
		return 0;
	return c->rd[MEMBER] - end;
}

/* what kbald has yet to write of direction i's buffer */
uint64_t exch_pending(const struct kbal_conn *c, int i)
{
	const struct kbal_first *f = c->f;

	return (uint64_t)(f->out_len[i] - f->out_sent[i]) + (f->len[i] - f->fwd[i]) +
	       f->in_pipe[i];
}

int exch_buffered(const struct kbal_conn *c, int i)
{
	return c->phase[i] == P_HEAD || c->phase[i] == P_BODY || c->phase[i] == P_FLUSH ||
	       (c->phase[i] == P_RELAY && c->f);
}

void exch_send_failed(struct kbal_conn *c, int to)
{
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS)
		c->fin[to] = 2;
}

/* write out[dir] then the raw bytes of direction dir; 1 if progress */
int exch_write(struct kbal_conn *c, int dir)
{
	struct kbal_first *f = c->f;
	int to = dir_dst(dir), moved = 0, i = dir;
	uint32_t limit;

	if (c->fd[to] < 0 || (to == MEMBER && !c->connected))
		return 0;
	/* a long body's bytes in the pipe go first (exchange_pipe.h) */
	if (f->in_pipe[i]) {
		moved = exch_pipe_write(c, i);
		if (f->in_pipe[i])
			return moved;
	}
	/* A chunked first request goes out only once the parser has seen all
	 * of it, so that a malformed one reaches no member; unless it is
	 * larger than the buffer, or the client waits for a 100 Continue:
	 * then it goes chunked again (exch_chunk_next()), or, spooled, at its end. */
	if (i == UP && c->phase[UP] == P_BODY && ((f->len[UP] < BUF_SIZE &&
	    !f->msg[UP].expect_continue && !f->do100) || (f->spool && f->rq_dechunk)))
		return 0;            /* (spooled: all of it goes at its end) */
	if (i == UP && c->phase[UP] == P_BODY && f->rq_dechunk && !f->ck_stream[UP]) {
		f->ck_stream[UP] = 1;        /* the head says chunked: it goes so */
		f->ck_end[UP] = f->fwd[UP];
	}
	/* raw bytes: in HEAD only interim 1xx responses; in BODY only what
	 * the parser has accepted; after that, everything. They follow the
	 * rewritten head in the same send: one segment for a small answer. */
	limit = c->phase[i] == P_HEAD ? f->ready[i] :
		c->phase[i] == P_BODY ? f->fed[i] : f->len[i];
	/* a kept connection gets the request, not what follows it */
	if (i == UP && c->pool && c->phase[UP] == P_FLUSH)
		limit = exch_request_end(c);
	if (i == DOWN)
		limit -= exch_past_response(c);
	/* a head with Expect: 100-continue goes alone: the body waits for the
	 * member's answer (exch_response_head()), as mod_proxy_http's
	 * ap_proxy_http_request() sends header_brigade alone */
	if (i == UP && f->do100)
		limit = f->fwd[UP];
	for (;;) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		uint32_t head, raw = limit;
		ssize_t n;

		if (f->ck_stream[i] && !(i == UP && f->do100)) {
			/* the piece's bytes, then the next chunk line */
			if (f->out_sent[i] == f->out_len[i] && f->fwd[i] == f->ck_end[i])
				exch_chunk_next(c, i, limit);
			if (!f->ck_last[i])
				raw = f->ck_end[i];
		}
		if (i == UP && f->spooled && f->spool_sent < f->spool_len && !f->do100) {
			/* the head, then the spool, then the buffer's bytes */
			if (f->out_sent[UP] == f->out_len[UP]) {
				off_t at = (off_t)f->spool_sent;

				n = sendfile(c->fd[to], f->spool_fd, &at,
					     f->spool_len - f->spool_sent);
				if (n < 0)
					exch_send_failed(c, to);
				if (n <= 0)
					return moved;
				f->spool_sent += n;
				c->wr[to] += n;
				moved = 1;
				continue;
			}
			raw = f->fwd[UP];
		}
		head = f->out_len[i] - f->out_sent[i];
		if (head)
			iov[mh.msg_iovlen++] = (struct iovec){ f->out[i] + f->out_sent[i], head };
		if (f->fwd[i] < raw)
			iov[mh.msg_iovlen++] = (struct iovec){ f->buf[i] + f->fwd[i],
							       raw - f->fwd[i] };
		if (!mh.msg_iovlen)
			return moved;
		n = sendmsg(c->fd[to], &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == ESTRPIPE)
			continue;   /* where the stream parser stopped (decide.c) */
		if (n < 0)
			exch_send_failed(c, to);
		if (n <= 0)
			return moved;
		c->wr[to] += n;
		moved = 1;
		if ((size_t)n <= head) {
			f->out_sent[i] += n;
			continue;
		}
		f->out_sent[i] = f->out_len[i];
		f->fwd[i] += n - head;
	}
}

/* compact the buffer of direction i once all of it went out */
void exch_compact(struct kbal_conn *c, int i)
{
	struct kbal_first *f = c->f;

	if (c->phase[i] == P_HEAD || f->out_sent[i] < f->out_len[i] || f->fwd[i] < f->len[i])
		return;
	if (c->phase[i] == P_BODY && f->fed[i] < f->len[i])
		return;
	f->len[i] = f->fed[i] = f->fwd[i] = 0;
	f->ck_end[i] = 0;
}

/* read direction dir's source into its buffer; 1 if progress */
int exch_read(struct kbal_conn *c, int dir)
{
	struct kbal_first *f = c->f;
	int from = dir_src(dir), moved = 0;

	if (c->fin[from] || c->fd[from] < 0 || (from == MEMBER && !c->connected))
		return 0;
	/* read dry, and no edge since (conn_event() clears it): a recv()
	 * would say EAGAIN (edge-triggered, new bytes make an edge) */
	if (c->empty[from])
		return 0;
	/* the next request of a connection the kernel will frame: left in
	 * the socket, for the stream parser (decide_up_waits()) */
	if (dir == UP && decide_up_waits(c))
		return 0;
	if (f->len[dir] == BUF_SIZE)
		c->empty[from] = 0;  /* unknown: not a state to hand over in */
	while (f->len[dir] < BUF_SIZE) {
		size_t asked = BUF_SIZE - f->len[dir];
		ssize_t n;

		/* the body of a request the kernel frames the next one after:
		 * read to its end, not beyond (a next request sent right behind
		 * it, pipelined, stays in the socket for the stream parser,
		 * which hands it back: kbald decides it, as Apache would,
		 * rather than passing it on to this member with the body) */
		if (dir == UP && decide_body_bounded(c)) {
			uint64_t left = f->msg_total[UP] - c->rd[CLIENT];

			if (left < asked)
				asked = left;
			if (!asked)
				return moved;   /* decide_up_waits() now */
		}
		if (c->mboxed && (n = mbox_conn_read(c, from, f->buf[dir] + f->len[dir],
							 asked)) != -2) {
			/* what the kernel queued for kbald in a mailbox comes
			 * before the socket's bytes (takeback.c); the mailbox's
			 * readable event wakes the connection */
			if (n > 0) {
				f->len[dir] += n;
				c->rd[from] += n;
				moved = 1;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				c->empty[from] = 1;
			else
				c->fin[from] = 2;   /* cannot be: handled as an abort */
			return moved;
		}
		n = recv(c->fd[from], f->buf[dir] + f->len[dir], asked, MSG_DONTWAIT);
		if (n > 0) {

			f->len[dir] += n;
			c->rd[from] += n;
			moved = 1;
			/* A TCP read returns less than asked only when the
			 * queue ran dry: as good as EAGAIN, a syscall less.
			 * Data or a FIN after it makes a new edge; a FIN that
			 * came with the data made its edge already (RDHUP):
			 * then read on to the EOF. */
			c->empty[from] = (size_t)n < asked && !(c->rdhup & (1u << from));
			if (c->empty[from])
				return moved;
			continue;
		}
		if (n == 0) {
			c->fin[from] = 1;
			return 1;
		}
		if (errno == ESTRPIPE)
			continue;   /* the stream parser stopped there (decide.c) */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->empty[from] = 1;
		else if (errno != EINTR)
			c->fin[from] = 2;   /* reset: handled as an abort */
		return moved;
	}
	return moved;
}

int exch_all_written(const struct kbal_conn *c, int i)
{
	const struct kbal_first *f = c->f;

	if (f->in_pipe[i])
		return 0;   /* the pipe's bytes are owed (exch_pipe_write()) */

	if (f->ck_stream[i] && !f->ck_last[i] && f->msg[i].done)
		return 0;   /* the last chunk is owed (exch_chunk_next()) */
	if (i == UP && f->spooled && f->spool_sent < f->spool_len)
		return 0;   /* the spool is owed (exch_spool_body()) */
	return f->out_sent[i] == f->out_len[i] && f->fwd[i] == f->len[i];
}
