// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exchange_reply.c - what kbald answers a client itself, in place of a
 * member's answer: its error pages (mod_proxy's 502 and 503, a 400, a
 * 403 or 404 that keeps the connection), the manager's and the other local
 * pages, as httpd writes them (a HEAD's without a body, force-response-1.0's
 * HTTP/1.0); the member's connection dropped first where it goes; a member
 * that failed before its answer began.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conn.h"
#include "pool.h"
#include "conn-t.h"
#include "daemon.h"
#include "decide.h"
#include "exchange.h"
#include "heads.h"
#include "log.h"

/* Can kbald's own answer to this request leave the connection open, as
 * Apache's does (a 200 of the manager, a 403, a 404)? A keep-alive request
 * whose body, if any, kbald has read whole; one that asked for an Upgrade
 * too, which httpd answers as any other where it switches nothing (its
 * ap_set_keepalive() looks for "close" in the Connection, not "Upgrade";
 * mod_proxy_http's 502s and a member's 200 alike): what follows its head
 * is the next request */
int local_keeps(const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];

	return !c->once && rq->keep_alive && !rq->chunked &&
	       (rq->content_length <= 0 ||
		f->len[UP] >= rq->head_len + (uint64_t)rq->content_length);
}

/*
 * A HEAD's answer has no body (httpd's r->header_only, set as soon as the
 * request line's method is read, whether the line is taken or refused):
 * kbald's own answers go without theirs; an error or a redirection
 * without its Content-Length too, as httpd's ap_send_error_response()
 * makes no page for a HEAD (Debian's apache2: "HEAD /a" with no version,
 * refused, is a 400 head alone).
 */
static void head_only(struct kbal_first *f, char **resp, size_t *len, int owned)
{
	static const char cl[] = "\r\nContent-Length: ";
	char *end = memmem(*resp, *len, "\r\n\r\n", 4), *line, *eol;

	if (!end)
		return;
	*len = (size_t)(end + 4 - *resp);
	if (f->answered < 300 || !(line = memmem(*resp, *len, cl, sizeof(cl) - 1)))
		return;
	if (!owned && *resp != f->outbuf[DOWN]) {
		/* a shared page: copied first */
		if (*len > OUT_SIZE)
			return;
		memmove(f->outbuf[DOWN], *resp, *len);
		line = f->outbuf[DOWN] + (line - *resp);
		*resp = f->outbuf[DOWN];
	}
	eol = memmem(line + 2, *len - (size_t)(line + 2 - *resp), "\r\n", 2);
	memmove(line, eol, *len - (size_t)(eol - *resp));
	*len -= (size_t)(eol - line);
}

/* Answer the client ourselves (error, manager): its head as httpd writes
 * its own, after mod_headers' rules, with ap_set_keepalive()'s lines where
 * keep (the connection goes on after it) */
static void reply(struct kbal_daemon *d, struct kbal_conn *c, char *resp, size_t len, int owned,
		  int keep)
{
	struct kbal_first *f = c->f;

	if (heads_own_answer(d, c, &resp, &len, &owned))
		log_info("Header always: kbald's own answer does not fit once changed: sent as is");
	if (len && heads_own_finish(d, c, keep, &resp, &len, &owned))
		log_info("kbald's own answer: no memory for its Date and Server lines: sent without");
	if (f->resp10 && len >= 9 && !memcmp(resp, "HTTP/1.1 ", 9) &&
	    (owned || len <= OUT_SIZE)) {
		/* force-response-1.0: kbald's own answers say HTTP/1.0 too
		 * (basic_http_header_check() sees every answer); a shared
		 * page is copied first */
		if (!owned && resp != f->outbuf[DOWN]) {
			memmove(f->outbuf[DOWN], resp, len);
			resp = f->outbuf[DOWN];
		}
		resp[7] = '0';
	}
	c->local = 1;
	/* its status, for the access log */
	f->answered = len >= 12 && !memcmp(resp, "HTTP/1.", 7) ? (uint16_t)atoi(resp + 9) : 0;
	if (f->msg[UP].head)
		head_only(f, &resp, &len, owned);
	f->len[DOWN] = f->fed[DOWN] = f->fwd[DOWN] = f->ready[DOWN] = 0;
	f->out[DOWN] = resp;
	f->out_len[DOWN] = len;
	f->out_sent[DOWN] = 0;
	f->out_owned[DOWN] = owned;
	if (f->msg[UP].http09) {
		/* an HTTP/0.9 request's answer is its body alone (httpd's
		 * assbackwards): the head counts as sent */
		const char *end = memmem(resp, len, "\r\n\r\n", 4);

		if (end)
			f->out_sent[DOWN] = (uint32_t)(end + 4 - resp);
	}
	c->phase[UP] = P_CLOSED;   /* nothing of the request goes anywhere */
	c->phase[DOWN] = P_FLUSH;
	c->fin[MEMBER] = !keep;    /* the answer is all there is: close once written */
}

/* Answer the client ourselves, then close. */
void exch_reply(struct kbal_daemon *d, struct kbal_conn *c, char *resp, size_t len, int owned)
{
	reply(d, c, resp, len, owned, 0);
}

/* The same, and the connection goes on after it (conn.c: the next request) */
void exch_reply_keep(struct kbal_daemon *d, struct kbal_conn *c, char *resp, size_t len,
		     int owned)
{
	reply(d, c, resp, len, owned, 1);
	c->f->local_keep = 1;
}

/* an error answer that leaves a keep-alive connection open where Apache's
 * does (403, 404) */
void exch_error_keep(struct kbal_daemon *d, struct kbal_conn *c, unsigned status,
		     const char *extra)
{
	int keep = local_keeps(c) && (status == 401 || status == 403 || status == 404);
	ssize_t n = heads_error_page(d, c->f->vhost, c->f->host, status, keep, extra,
				     c->f->outbuf[DOWN], OUT_SIZE);

	if (n <= 0) {
		exch_error(d, c, status);
		return;
	}
	if (keep)
		exch_reply_keep(d, c, c->f->outbuf[DOWN], n, 0);
	else
		exch_reply(d, c, c->f->outbuf[DOWN], n, 0);
}

/* The member's connection goes, what it sent unread (a kept one lent by
 * the pool does not come back): closed and counted, nothing of it left to
 * write; kbald answers, or the request goes again (a failover) */
void exch_drop_member(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;

	if (f->kept) {
		kbal_pool_forget(&d->pool, f->kept);
		f->kept = NULL;
	}
	conn_account(d, c);
	decide_member_forget(d, c);
	kbal_loop_del(&d->loop, c->fd[MEMBER]);
	close(c->fd[MEMBER]);
	c->fd[MEMBER] = -1;
	c->connected = c->reused = 0;
	c->member_lport = 0;
	c->fin[MEMBER] = c->empty[MEMBER] = 0;
	c->rdhup &= ~(1u << MEMBER);
	c->rd[MEMBER] = c->wr[MEMBER] = c->member_rcvd0 = 0;
	kbal_http_init_response(&f->msg[DOWN]);
	f->len[DOWN] = f->fed[DOWN] = f->fwd[DOWN] = f->ready[DOWN] = 0;
}

void exch_error(struct kbal_daemon *d, struct kbal_conn *c, unsigned status)
{
	exch_proxy_error(d, c, status, c->f->proxy_status == status ? c->f->proxy_why : NULL);
}

/* kbald's answer of status, why in its notes (NULL: none, httpd's own
 * page); with keep, the client's connection goes on where local_keeps() */
static void proxy_error(struct kbal_daemon *d, struct kbal_conn *c, unsigned status,
			const char *why, int keep)
{
	ssize_t n;

	keep = keep && local_keeps(c);
	n = heads_error_page_notes(d, c->f->vhost, c->f->host, status, why ? "Proxy Error" : NULL,
				   why, keep, NULL, c->f->outbuf[DOWN], OUT_SIZE);
	if (keep && n > 0) {
		if (c->fd[MEMBER] >= 0)
			exch_drop_member(d, c);
		c->pool = c->relay_back = 0;
		exch_reply_keep(d, c, c->f->outbuf[DOWN], n, 0);
		return;
	}

	/* the member's connection closes with the client's (conn.c) as
	 * httpd closes its backend's after a failure (backend->close:
	 * proxy_util.c's socket_cleanup() clears the socket's pool, whose
	 * cleanup is apr_socket_close(), a close() with no SO_LINGER): a FIN
	 * (until 2026-12-07 a reset where nothing of its answer went out);
	 * the kernel still resets one whose bytes wait unread, or that sends
	 * on after the close */
	exch_reply(d, c, c->f->outbuf[DOWN], n > 0 ? (size_t)n : 0, 0);
}

void exch_proxy_error(struct kbal_daemon *d, struct kbal_conn *c, unsigned status,
		      const char *why)
{
	/* a 502 of mod_proxy's leaves the client's connection open, where
	 * its request was read whole (502 is no status httpd's
	 * ap_set_keepalive() closes after): the member's goes */
	proxy_error(d, c, status, why, status == 502 && why);
}

void exch_bad_gateway(struct kbal_daemon *d, struct kbal_conn *c)
{
	proxy_error(d, c, 502, NULL, 1);
}

/*
 * The member failed before a byte of its answer went out (a head that does
 * not parse, a close or a reset before one): httpd answers 502 to a
 * connection's first request, and ends the connection without a byte on a
 * later one (mod_proxy_http's ap_proxy_http_process_response(): "Closing
 * connection to client because reading from backend server failed", where
 * c->keepalives), so that the client may send it again on a new
 * connection, as on connections the kernel carries (decide_take_back()).
 * It ends it as any other, with its lingering close: a FIN (Debian's
 * apache2, watched on the wire; until 2026-12-07 kbald reset it, which a
 * browser takes as a failure of the request rather than of a kept
 * connection it may retry on). 1 when the connection was ended (c is dead).
 */
int exch_member_failed(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->nreq > 1) {
		log_debug("conn %p: the member failed on request %u of the connection: ended "
			  "without an answer, as httpd", (void *)c, c->nreq);
		conn_linger_end(d, c, 0);
		return 1;
	}
	exch_proxy_error(d, c, 502, "Error reading from remote server");
	return 0;
}
