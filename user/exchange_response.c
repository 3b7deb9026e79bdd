// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exchange_response.c - a member's answer's head, once parsed (exch_parse()
 * calls exch_response_head(), or exch_head_refused() where llhttp refused
 * it: httpd's 500 or 502): interim answers passed on as httpd's
 * ap_send_interim_response() writes them (and the 100 Continue owed before
 * a final answer), failonstatus=, the statuses after which httpd ends the
 * client's connection, ProxyErrorOverride's own page in its place, whether
 * the member's and the client's connections are kept after it, and its
 * head written for the client (heads_response()).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "pages.h"
#include "conn.h"
#include "pool.h"
#include "conn-t.h"
#include "daemon.h"
#include "exchange.h"
#include "handover.h"
#include "heads.h"
#include "log.h"
#include "member.h"

/* ap_status_drops_connection(): the answers after which httpd closes the
 * connection (kbald's own, and a member's) */
static int status_drops(unsigned status)
{
	return status == 400 || status == 408 || status == 411 || status == 413 ||
	       status == 414 || status == 500 || status == 501 || status == 503;
}

/*
 * ProxyErrorOverride: the member's error answer is not sent; kbald's own
 * error answer for its status goes instead (ErrorDocument's, else httpd's
 * page; a 401's WWW-Authenticate kept, as mod_proxy_http keeps it), and the
 * client keeps its connection where httpd's ap_die() keeps it. The member's
 * connection goes, its body unread (httpd reads it to keep the connection:
 * the member sees a close where it would see its next request).
 */
static void exch_override(struct kbal_daemon *d, struct kbal_conn *c, unsigned status)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_header *h = NULL;
	const struct kbal_http_msg *rs = &f->msg[DOWN];
	const char *line = f->buf[DOWN] + rs->start_line.off, *sp;
	char extra[512] = "", reason[128] = "";
	int keep = local_keeps(c) && !status_drops(status);
	ssize_t n;

	/* httpd's page names the member's reason phrase (its r->status_line) */
	sp = memchr(line, ' ', rs->start_line.len);
	if (sp && (sp = memchr(sp + 1, ' ', line + rs->start_line.len - sp - 1)))
		snprintf(reason, sizeof(reason), "%.*s", (int)(line + rs->start_line.len - sp - 1),
			 sp + 1);

	if (status == 401)
		h = kbal_http_find(&f->msg[DOWN], f->buf[DOWN], "WWW-Authenticate");
	if (h && h->value.len < sizeof(extra) - 24)
		snprintf(extra, sizeof(extra), "WWW-Authenticate: %.*s\r\n", (int)h->value.len,
			 f->buf[DOWN] + h->value.off);
	log_debug("conn %p: ProxyErrorOverride: the member's %u replaced", (void *)c, status);
	exch_drop_member(d, c);
	c->pool = c->relay_back = 0;
	n = heads_error_page_reason(d, f->vhost, f->host, status, reason[0] ? reason : NULL, keep,
				    extra[0] ? extra : NULL, f->outbuf[DOWN], OUT_SIZE);
	if (n <= 0)
		exch_error(d, c, status);
	else if (keep)
		exch_reply_keep(d, c, f->outbuf[DOWN], n, 0);
	else
		exch_reply(d, c, f->outbuf[DOWN], n, 0);
}

/* A response whose end its head tells (not the connection's close) */
static int response_framed(const struct kbal_http_msg *rs)
{
	return rs->content_length >= 0 || rs->chunked || rs->skip_body || rs->status == 204 ||
	       rs->status == 304;
}

/*
 * A member's interim answer (1xx but 101), as httpd's
 * ap_send_interim_response() passes it on: not to an HTTP/1.0 client (nor
 * one downgrade-1.0 made so, nor HTTP/0.9), and a 100 Continue only to a
 * client that asked for one (Expect: 100-continue). Dropped: it counts as
 * sent (where an earlier one still waits to go, it goes too).
 */
static int interim_dropped(const struct kbal_first *f)
{
	const struct kbal_http_msg *rq = &f->msg[UP];

	return rq->http_minor == 0 || (f->msg[DOWN].status == 100 && !rq->expect_continue);
}

/* The answer is the client's connection's last ("Connection: close"):
 * kbald follows it to its end, to close (no handover after it) */
static void answer_last(struct kbal_conn *c, const char *why)
{
	if (c->once || !response_framed(&c->f->msg[DOWN]))
		return;
	log_debug("conn %p: %s: the connection's last", (void *)c, why);
	c->last = c->once = c->agent = 1;
	c->bounded &= ~BOUND_PLANNED;
	if (!c->pool) {
		c->pool = 1;
		c->relay_back = 1;
	}
}

/* an HTTP/1.1 client's Expect: 100-continue: httpd's HTTP_IN filter
 * acts on r->expecting_100 for such a client only */
static int expecting_100_11(const struct kbal_http_msg *rq)
{
	return rq->expect_continue && rq->http_major == 1 && rq->http_minor;
}

/* the request's body has yet to come whole from the client */
static int body_owed(const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];

	return rq->chunked ? !rq->done :
	       rq->content_length > 0 && c->rd[CLIENT] < f->msg_total[UP];
}

/*
 * The member's first answer to a head that went with Expect: 100-continue
 * (do100: its body held in buf[UP]), as mod_proxy_http's
 * ap_proxy_http_process_response() takes it (do_send_body): a 100
 * Continue, or a final answer from a member that keeps its connection
 * (HTTP/1.1, no close), lets the body go; from one that closes, it never
 * goes (do100 2). Where the client asked for the 100 Continue and its
 * body has yet to come, httpd's HTTP_IN filter reads none after a final
 * answer that is not a 2xx (r->status): the body sent is short, and the
 * client gets httpd's 500 (Debian's apache2). 1: kbald answered so.
 */
static int continue_answered(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP], *rs = &f->msg[DOWN];

	if (f->do100 != 1)
		return 0;
	if (rs->status == 100) {
		f->do100 = 0;
		/* the socket's timeout back to the member's (ping= no more) */
		f->deadline = d->loop.now + member_timeout_ns(d, c);
		exch_write(c, UP);   /* the body it held */
		return 0;
	}
	if (rs->status < 200)
		return 0;   /* another interim answer: still waiting */
	if (!rs->keep_alive || rs->http_major != 1 || !rs->http_minor) {
		log_debug("conn %p: no 100 Continue, and the member closes: the body is not sent",
			  (void *)c);
		f->do100 = 2;
		return 0;
	}
	f->do100 = 0;
	if (expecting_100_11(rq) && !f->continued && body_owed(c) && rs->status >= 300) {
		log_info("a %u answer before the body of an Expect: 100-continue request: "
			 "500, as httpd (its input filter ends the body at that status)",
			 rs->status);
		exch_error(d, c, 500);
		return 1;
	}
	exch_write(c, UP);   /* the body it held goes before the answer */
	return 0;
}

/*
 * A final answer to a request with "Expect: 100-continue" whose body the
 * client has yet to send, from a member that did not say 100 Continue:
 * mod_proxy_http sends the body all the same where the member keeps its
 * connection (HTTP/1.1, no close: do_send_body), reading it with a
 * blocking read, at which httpd's HTTP_IN filter first tells an HTTP/1.1
 * client "100 Continue" (Debian's apache2: the client waiting for it gets
 * it, then the final answer). kbald writes that 100 Continue before the
 * final head (the body follows it to the member as it comes).
 */
static void continue_owed(struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP], *rs = &f->msg[DOWN];

	if (!rq->expect_continue || f->continued)
		return;
	if (body_owed(c) && f->do100 != 2 && rs->keep_alive && rs->http_major == 1 &&
	    rs->http_minor && rq->http_minor) {
		f->continued = 2;
		return;
	}
	/* no 100 Continue went to a client that asked for one (an HTTP/1.0
	 * one gets none): httpd's r->expecting_100 is still set in
	 * ap_set_keepalive(), and the client's connection ends with the
	 * answer ("Connection: close"), whether its body came with the head
	 * or the member closes before it (then httpd sends no body) */
	answer_last(c, "no 100 Continue went to the client that expected one");
}

/* the bytes before the final answer's head (out[DOWN], made): 0, or -1
 * where they do not fit */
static int before_head(struct kbal_first *f, const char *s, uint32_t n)
{
	if (f->out_sent[DOWN] || f->out[DOWN] != f->outbuf[DOWN] ||
	    f->out_len[DOWN] + n > OUT_SIZE)
		return -1;
	memmove(f->outbuf[DOWN] + n, f->outbuf[DOWN], f->out_len[DOWN]);
	memcpy(f->outbuf[DOWN], s, n);
	f->out_len[DOWN] += n;
	return 0;
}

/* The final answer's head is out[DOWN]: the interim answers that came in
 * front of it and have not gone yet go before it (they were skipped with
 * the head's bytes), and the 100 Continue owed (continue_owed()) */
static void interim_first(struct kbal_first *f)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (f->continued == 2 && before_head(f, cont, sizeof(cont) - 1))
		log_info("a 100 Continue does not fit before the final head: not sent");
	if (f->fwd[DOWN] < f->ready[DOWN] &&
	    before_head(f, f->buf[DOWN] + f->fwd[DOWN], f->ready[DOWN] - f->fwd[DOWN]))
		log_info("interim answers do not fit before the final head: not sent");
	f->fwd[DOWN] = f->ready[DOWN];
}

/* buf[DOWN]'s [from, to) replaced by head[0, n), the bytes after it moved
 * with it (they are raw: what counts the member's bytes past a message's
 * end holds); -1 where the buffer has no room for it */
static int head_replaced(struct kbal_first *f, uint32_t from, uint32_t to, const char *head,
			 ssize_t n)
{
	if (n < 0 || f->len[DOWN] - (to - from) + (size_t)n > BUF_SIZE)
		return -1;
	memmove(f->buf[DOWN] + from + n, f->buf[DOWN] + to, f->len[DOWN] - to);
	memcpy(f->buf[DOWN] + from, head, (size_t)n);
	f->len[DOWN] = f->len[DOWN] - (to - from) + (uint32_t)n;
	return 0;
}

/*
 * The interim head just parsed, buf[DOWN]'s [ready, fed), replaced by what
 * httpd's ap_send_interim_response() writes for it (heads_interim()), or
 * by nothing where it is dropped (head_replaced()). Where the buffer has
 * no room for it, it goes as the member wrote it.
 */
static void interim_written(struct kbal_daemon *d, struct kbal_conn *c, int dropped)
{
	static char head[OUT_SIZE];
	struct kbal_first *f = c->f;
	uint32_t from = f->ready[DOWN], to = f->fed[DOWN];
	ssize_t n = dropped ? 0 : heads_interim(d, c, head, sizeof(head));

	if (head_replaced(f, from, to, head, n)) {
		log_info("an interim head does not fit once written as httpd writes it: "
			 "as the member wrote it");
		return;
	}
	f->fed[DOWN] = from + (uint32_t)n;
}

/*
 * A 101 switches to the protocol the request asked for, or is refused:
 * mod_proxy_http's ap_proxy_http_process_response() answers 502 "Unexpected
 * Upgrade: THEIRS (expecting OURS)" where the member's Upgrade is none,
 * or the request took none to it (none asked, or its upgrade= let none
 * through: req->upgrade), or the two differ but for case (strcasecmp());
 * the member's connection goes (backend->close at the failure), the
 * client's goes on where a 502 of mod_proxy's leaves it. 1 where refused
 * (kbald answered).
 */
static int upgrade_unexpected(struct kbal_daemon *d, struct kbal_conn *c)
{
	static char why[256];
	struct kbal_first *f = c->f;
	const struct kbal_http_header *h = kbal_http_find(&f->msg[DOWN], f->buf[DOWN], "Upgrade");
	const char *theirs = h ? f->buf[DOWN] + h->value.off : "n/a";
	size_t tlen = h ? h->value.len : 3;
	size_t kept = f->upgrade_len < sizeof(f->upgrade_asked) ? f->upgrade_len :
		      sizeof(f->upgrade_asked);

	/* a value longer than the bytes kept is compared on those and its
	 * length */
	if (h && f->upgrade_len && tlen == f->upgrade_len &&
	    !strncasecmp(theirs, f->upgrade_asked, kept))
		return 0;
	snprintf(why, sizeof(why), "Unexpected Upgrade: %.*s (expecting %.*s)",
		 (int)(tlen < 100 ? tlen : 100), theirs, f->upgrade_len ? (int)kept : 3,
		 f->upgrade_len ? f->upgrade_asked : "n/a");
	log_info("a member's 101 that names no Upgrade the request asked for: 502, as httpd");
	member_answered(d, c, 502, 0);
	/* the member's 101 and what follows it go with its connection, even
	 * where kbald's 502 ends the client's (the connection's last
	 * request: MaxKeepAliveRequests) */
	exch_drop_member(d, c);
	exch_proxy_error(d, c, 502, why);
	return 1;
}

/*
 * The member's answer's head is parsed (f->msg[DOWN], KBAL_HTTP_HEAD): an
 * interim one passed on or dropped, the final one acted on and its head
 * written for the client (out[DOWN]). 1: exch_parse() parses on (the final
 * head after an interim one, the body kbald follows); 0: it stops there
 * (the head written, or the answer replaced by kbald's own).
 */
int exch_response_head(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	struct kbal_http_msg *msg = &f->msg[DOWN];

	if (msg->status >= 100 && msg->status < 200 && msg->status != 101) {
		/* an interim 1xx (bodyless: done at HEAD) goes out as
		 * httpd writes it; then parse the final response's head */
		int dropped = interim_dropped(f);

		interim_written(d, c, dropped);
		if (!dropped && msg->status == 100)
			f->continued = 1;
		continue_answered(d, c);
		f->ready[DOWN] = f->fed[DOWN];
		kbal_http_next(msg);
		return 1;
	}
	if (continue_answered(d, c))
		return 0;
	continue_owed(c);
	if (msg->status == 101 && upgrade_unexpected(d, c))
		return 0;
	member_answered(d, c, msg->status, 0);   /* failonstatus= */
	if (f->member_close)
		msg->keep_alive = 0;   /* its connection ends with it */
	/* httpd's ap_set_keepalive(): an answer of a status
	 * that drops the connection is its last (the kernel
	 * hands such a head back) */
	if (status_drops(msg->status))
		answer_last(c, "an answer of a status that drops the connection");
	/* a status kbald has no page of httpd's for passes */
	if (kbal_conf_error_override(d->conf, f->vhost, f->locs, msg->status) &&
	    kbal_page_known(msg->status)) {
		exch_override(d, c, msg->status);
		return 0;
	}
	if (msg->chunked && !msg->skip_body && f->msg[UP].http_minor == 0)
		exch_dechunk_plan(c);
	else if (!response_framed(msg) && msg->status != 101)
		exch_eof_plan(c);
	if (c->last && !c->pool && f->msg[UP].upgrade && msg->status != 101 &&
	    response_framed(msg)) {
		/* an Upgrade request past MaxKeepAliveRequests the member
		 * answers as any other: its answer ends the connection, with
		 * httpd's "Connection: close" (request_counted()), the
		 * member's connection going after it */
		c->pool = 1;
		c->relay_back = 1;
	}
	/* a member that closes after this response keeps nothing */
	if (c->pool && !c->relay_back && (!msg->keep_alive || msg->status == 101)) {
		member_unkeep(d, c);
		if (msg->status != 101 && !c->once && response_framed(msg)) {
			/* Apache keeps the client's connection:
			 * the answer goes without the member's
			 * Connection: close, and the member's
			 * connection goes after it */
			c->relay_back = 1;
		} else {
			c->pool = 0;
		}
	} else if (!c->pool && (c->bounded & BOUND_PLANNED) && !c->once &&
		   !msg->keep_alive && msg->status != 101 && response_framed(msg)) {
		/* the same at the request the connection was to
		 * be handed over at: kbald follows this answer to
		 * its end, the member's connection goes, and the
		 * next request starts the handover again */
		c->pool = 1;
		c->relay_back = 1;
	}
	handover_keep_or_take(d, c);
	if (heads_response(d, c)) {
		exch_error(d, c, 502);
		return 0;
	}
	interim_first(f);
	f->fwd[DOWN] = msg->head_len;  /* replaced by out[DOWN] */
	c->upgrade |= msg->status == 101;
	c->phase[DOWN] = P_FLUSH;
	if (c->pool && !msg->done) {
		/* parse the body too: the connection is kept at its end */
		c->phase[DOWN] = P_BODY;
		return 1;
	}
	if (handover_follow_response(d, c)) {
		/* parse the body too: the handover waits for its end */
		c->phase[DOWN] = P_BODY;
		return 1;
	}
	f->msg_total[DOWN] = c->rd[MEMBER] - (f->len[DOWN] - msg->head_len);
	return 0;
}

/*
 * httpd's answer to a final head its HTTP_HEADER filter refuses: ap_die(500)
 * from within the filter, whose page goes without Content-Length (its
 * body ends with the connection, which ends after it:
 * ap_status_drops_connection()); the member's connection goes too.
 */
static void refused_500(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	ssize_t n = heads_error_page(d, f->vhost, f->host, 500, 0, NULL, f->outbuf[DOWN], OUT_SIZE);
	char *o = f->outbuf[DOWN];
	char *cl = n > 0 ? memmem(o, (size_t)n, "\r\nContent-Length: ", 18) : NULL;
	char *end = cl ? memmem(cl + 2, (size_t)(o + n - cl - 2), "\r\n", 2) : NULL;

	log_info("a member's head with a line httpd refuses: 500, as httpd");
	if (!end) {
		exch_error(d, c, 500);
		return;
	}
	memmove(cl, end, (size_t)(o + n - end));
	n -= end - cl;
	exch_reply(d, c, o, (size_t)n, 0);
}

/*
 * A head llhttp refused for a form httpd reads (KBAL_LINES_AS_READ: a
 * bare LF, VT or FF about a value, ...): written again in buf[DOWN] as
 * ap_proxy_read_headers() read it (head_replaced()), and parsed anew (1).
 * The head so written is one llhttp parses or refuses for another reason,
 * which kbal_http_lines() leaves standing (0: it does not come here
 * twice). 0 where it does not fit.
 */
static int head_as_read(struct kbal_conn *c)
{
	static char head[BUF_SIZE];
	struct kbal_first *f = c->f;
	uint32_t from = f->ready[DOWN], to = 0;
	ssize_t n = kbal_http_lines_write(f->buf[DOWN], from, f->len[DOWN], head, sizeof(head),
					  &to);

	if (head_replaced(f, from, to, head, n))
		return 0;
	log_debug("conn %p: a member's head in a form llhttp refuses: as httpd read it",
		  (void *)c);
	f->fed[DOWN] = from;
	kbal_http_next(&f->msg[DOWN]);
	return 1;
}

int exch_head_refused(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	struct kbal_http_msg *msg = &f->msg[DOWN];

	switch (kbal_http_lines(msg, f->buf[DOWN], f->ready[DOWN], f->len[DOWN])) {
	case KBAL_LINES_AGAIN:
		/* the head's end awaited (one that does not fit: a 502) */
		return f->len[DOWN] == BUF_SIZE ? 0 : -1;
	case KBAL_LINES_BAD:
		log_info("a member's head with a line without ':': 502, as httpd");
		member_answered(d, c, 502, 0);
		exch_bad_gateway(d, c);
		return -1;
	case KBAL_LINES_AS_READ:
		return head_as_read(c);
	case KBAL_LINES_REFUSED:
		if (msg->done) {
			/* an interim head, its lines as httpd read them (a
			 * 101's too, written and then the tunnel: it stops) */
			f->fed[DOWN] = msg->head_len;
			return exch_response_head(d, c) ? 1 : -1;
		}
		refused_500(d, c);
		return -1;
	}
	return 0;
}
