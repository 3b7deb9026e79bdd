// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exchange_body.c - bodies as httpd sends them on (exchange.c's and
 * exchange_response.c's steps call these): a chunked request's body
 * de-chunked as it is parsed, sent with its length where it came whole (or
 * was spooled: proxy-sendcl, force-proxy-request-1.0), else chunked again
 * piece by piece; a chunked answer de-chunked for an HTTP/1.0 client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "conn-t.h"
#include "daemon.h"
#include "decide.h"
#include "exchange.h"
#include "heads.h"
#include "log.h"

/*
 * A chunked answer to an HTTP/1.0 client, which cannot read chunks: httpd
 * sends it the body de-chunked, without Transfer-Encoding, and closes the
 * connection after it (nothing else tells where the body ends), whether
 * the client asked to keep it or not. kbald follows the answer to its end
 * (on the member's connection, kept or carried for this client alone),
 * dropping the chunks' framing as it parses (exch_parse()); the member's
 * connection is kept as any other after it. A HEAD's answer has no body
 * to frame: httpd passes its Transfer-Encoding line on, and the
 * connection goes on as after any other (exch_response_head() calls none).
 */
void exch_dechunk_plan(struct kbal_conn *c)
{
	struct kbal_first *f = c->f;

	log_debug("conn %p: a chunked answer to an HTTP/1.0 client: de-chunked, the last",
		  (void *)c);
	f->dechunk = 1;
	c->last = c->once = c->agent = 1;
	c->bounded &= ~BOUND_PLANNED;   /* no handover after it */
	if (!c->pool || !f->msg[DOWN].keep_alive) {
		/* a connection of the member's that ends with the answer goes */
		c->pool = 1;
		c->relay_back = 1;
	}
}

/*
 * An answer whose body ends at the member's close (no Content-Length, not
 * chunked: a legacy member's, HTTP/1.0 or 1.1): httpd's mod_proxy_http
 * reads it to the member's EOF, and ap_set_keepalive() sends it to an
 * HTTP/1.1 client chunked, the connection kept after it (unless the client
 * asked for no more: then with "Connection: close" too); to one that
 * cannot read chunks (HTTP/1.0), with "Connection: close", the
 * connection's end its end. kbald follows it on the member's connection,
 * which goes after it: its EOF ends the answer (exch_eof()), and the
 * client's next request goes on a new one (on the connections the kernel
 * carries, the head is given back to kbald: its framing cannot follow it).
 */
void exch_eof_plan(struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];

	f->eof_body = 1;
	/* r->chunked is set for an HTTP/1.1 request whether the connection
	 * goes on or not (the client's Connection: close,
	 * MaxKeepAliveRequests): then it ends after the last chunk; not
	 * where r->expecting_100 is still set (no 100 Continue went to a
	 * client that asked for one), which ends the connection before */
	if (rq->http_major == 1 && rq->http_minor && !f->resp10 &&
	    !(rq->expect_continue && !f->continued)) {
		f->ck_stream[DOWN] = 1;
		f->ck_end[DOWN] = f->msg[DOWN].head_len;
	}
	log_debug("conn %p: an answer that ends at the member's close:%s%s", (void *)c,
		  f->ck_stream[DOWN] ? " chunked" : "",
		  c->once || !f->ck_stream[DOWN] ? " the connection's last" : "");
	if (c->once || !f->ck_stream[DOWN]) {
		c->last = c->once = c->agent = 1;
		c->bounded &= ~BOUND_PLANNED;   /* no handover after it */
	}
	c->pool = 1;
	c->relay_back = 1;
}

/* The member's EOF, its answer's body parsed to it: the end of an answer
 * that ends at the close (exch_eof_plan()); its last chunk owed */
void exch_eof(struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	struct kbal_http_msg *msg = &f->msg[DOWN];

	if (!f->eof_body || c->fin[MEMBER] != 1 || c->phase[DOWN] != P_BODY || msg->done ||
	    f->fed[DOWN] != f->len[DOWN])
		return;
	msg->done = 1;
	msg->msg_end = f->len[DOWN];
	f->msg_total[DOWN] = c->rd[MEMBER];
	c->phase[DOWN] = P_FLUSH;
}

/* The bytes of the body parsed from f->fed[i] on, de-chunked in place (the
 * answer's: exch_dechunk_plan(); the request's: rq_dechunk): what follows them
 * in the buffer moves down over the framing dropped. As kbal_http_feed(). */
int exch_feed_dechunked(struct kbal_first *f, int i, size_t *used)
{
	size_t kept, fed = f->fed[i];
	int rc = kbal_http_feed_dechunked(&f->msg[i], f->buf[i], fed, f->len[i] - fed,
					  used, &kept);

	if (rc == KBAL_HTTP_ERROR)
		return rc;
	memmove(f->buf[i] + fed + kept, f->buf[i] + fed + *used, f->len[i] - fed - *used);
	f->len[i] -= (uint32_t)(*used - kept);
	*used = kept;
	return rc;
}

/*
 * A chunked request's body that came whole before any of it went out (the
 * head waits for it, exch_write()): sent de-chunked with its length, as
 * httpd's ap_proxy_http_prefetch() sends a body that ended within what it
 * read ahead (16 KiB; kbald's buffer is as long), or one spooled
 * (exch_spool_body()). The head, built at the pick, is built again. A longer one
 * went chunked again (exch_chunk_next()), as httpd streams it.
 */
int exch_body_whole(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *msg = &f->msg[UP];

	/* de-chunked as it came (rq_dechunk), unless under way: chunked
	 * again (ck_stream) */
	if (c->local || !f->rq_dechunk || f->out_sent[UP] || f->fwd[UP] != msg->head_len)
		return 0;
	f->body_cl = 1;
	f->body_len = f->spool_len + (msg->msg_end - msg->head_len);
	f->ck_stream[UP] = 0;
	if (!f->out_len[UP] || c->member < 0)
		return 0;      /* the head is built at the pick, with its length */
	if (!heads_request(d, c))
		return 0;
	exch_error(d, c, 431);
	return -1;
}

/*
 * force-proxy-request-1.0, proxy-sendcl: a chunked body that fills the
 * buffer is spooled, as httpd's ap_proxy_spool_input() spools it (to a
 * file there, to memory here: a memfd), so that the member gets its
 * length (exch_body_whole(), then exch_write()). The buffer's body bytes, all
 * de-chunked, go to the spool; the head stays, for the member's head.
 * LimitRequestBody bounds it (httpd's input filter's 413).
 */
int exch_spool_body(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	uint32_t from = f->msg[UP].head_len, n = f->fed[UP] - from, done = 0;

	if (!n)
		return -ENOBUFS;       /* a head as long as the buffer: no room */
	if (kbal_conf_limit_body(d->conf, f->vhost) &&
	    f->spool_len + n > kbal_conf_limit_body(d->conf, f->vhost))
		return -EFBIG;
	if (!f->spooled) {
		f->spool_fd = memfd_create("kbal-spool", MFD_CLOEXEC);
		if (f->spool_fd < 0)
			return -errno;
		f->spooled = 1;
	}
	while (done < n) {
		ssize_t w = write(f->spool_fd, f->buf[UP] + from + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (uint32_t)w;
	}
	f->spool_len += n;
	memmove(f->buf[UP] + from, f->buf[UP] + f->fed[UP], f->len[UP] - f->fed[UP]);
	f->len[UP] -= n;
	f->fed[UP] = from;
	return 0;
}

/*
 * A body that goes chunked, piece by piece (ck_stream[dir]): a chunked
 * request's that did not come whole goes chunked again, as httpd's
 * stream_reqbody() sends it (RB_STREAM_CHUNKED); an answer's that ends at
 * the member's close goes chunked to a client that keeps its connection,
 * as httpd's chunk filter sends it (exch_eof_plan()). Each piece of
 * (de-chunked) bytes up to limit is a chunk, out[dir] its line once the
 * head went ("\r\n" ending the one before first), then "0\r\n\r\n", no
 * trailer, once the message is done; bytes after the body (a next
 * request) go as they came. 1 when out[dir] has something new.
 */
int exch_chunk_next(struct kbal_conn *c, int dir, uint32_t limit)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *msg = &f->msg[dir];
	uint32_t end = msg->done && msg->msg_end < limit ? msg->msg_end : limit;
	char *line = f->ckbuf[dir];
	int n;

	if (f->ck_last[dir])
		return 0;
	if (end > f->ck_end[dir]) {
		n = snprintf(line, sizeof(f->ckbuf[dir]), "%s%x\r\n",
			     f->ck_open[dir] ? "\r\n" : "", end - f->ck_end[dir]);
		f->ck_open[dir] = 1;
		f->ck_end[dir] = end;
	} else if (msg->done) {
		n = snprintf(line, sizeof(f->ckbuf[dir]), "%s0\r\n\r\n",
			     f->ck_open[dir] ? "\r\n" : "");
		f->ck_last[dir] = 1;
	} else {
		return 0;
	}
	f->out[dir] = line;
	f->out_len[dir] = (uint32_t)n;
	f->out_sent[dir] = 0;
	return 1;
}
