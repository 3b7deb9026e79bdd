// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * packet_clocks.c - httpd's clocks on the flows the packet path joins,
 * from the program's framing of each direction (kbal_pkt_frame) and the
 * flow's last packet, looked at once a second (pkt_check()):
 * KeepAliveTimeout between requests, RequestReadTimeout on a request's
 * head or body, Timeout on an answer owed or under way. kernel_clocks.c
 * keeps the same clocks on the sockmap path.
 *
 * A joined flow has no socket of kbald's in step with either peer, so
 * where httpd would close the client's connection (KeepAliveTimeout: a
 * FIN), answer 408 or 502, the flow ends with both peers reset
 * (pkt_close()): the client sees its connection end at the same moment,
 * without httpd's status line.
 */
#include "conn.h"
#include "daemon.h"
#include "handover.h"
#include "log.h"
#include "member.h"
#include "splice_packet.h"

static uint64_t longer(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* How long the flow may stay quiet where its framing says nothing (not
 * framed, or lost): it cannot tell a connection idle between requests
 * (httpd closes it after KeepAliveTimeout) from one waiting for its answer
 * (httpd gives up after Timeout); past the longer of the two, httpd's
 * connection would be gone either way. */
static uint64_t unframed_ns(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	return longer(conn_timeout_ns(d, c), conn_keepalive_ns(d, c));
}

/*
 * The deadline of a flow quiet since last (the kernel's clock of its last
 * packet either way), by what its framing says is under way:
 * - a request's head or body begun: RequestReadTimeout's bound on it
 *   (header or body, with MinRate), counted from the first look that saw
 *   that request begun (so up to a second late: never early), else Timeout;
 * - an answer owed or under way: the member's Timeout (its timeout=, the
 *   virtual host's ProxyTimeout or Timeout) from the last packet;
 * - nothing: KeepAliveTimeout from the last packet (the last answer's end
 *   or the client's acknowledgement of it), where keep-alive has one.
 */
static uint64_t quiet_until(struct kbal_daemon *d, struct kbal_conn *c, uint64_t last,
			    const char **what)
{
	const struct kbal_reqtimeout *rt = &d->conf->reqtimeout;
	struct kbal_pkt_flow *fl = c->pf;
	struct kbal_pkt_phase ph;
	uint64_t ka;

	if (c->pkt != PKT_JOINED || fl->given_back || kbal_packet_phase(&d->pk.p, fl, &ph)) {
		*what = "unframed: KeepAliveTimeout and Timeout";
		return last + unframed_ns(d, c);
	}
	if (ph.request != KBAL_PKT_RQ_NONE) {
		const struct kbal_read_bound *b =
			ph.request == KBAL_PKT_RQ_HEAD ? &rt->header : &rt->body;
		uint64_t at;

		if (!fl->req_since || fl->req_at != ph.boundary) {
			fl->req_at = ph.boundary;
			fl->req_since = d->loop.now;
		}
		at = kbal_read_bound_at(b, fl->req_since, ph.got);
		if (at != ~0ull && !ph.owed && !ph.answering) {
			*what = ph.request == KBAL_PKT_RQ_HEAD ? "a request's head: RequestReadTimeout"
							       : "a request's body: RequestReadTimeout";
			return at;
		}
	} else {
		fl->req_since = 0;
	}
	if (ph.owed || ph.answering || ph.request != KBAL_PKT_RQ_NONE) {
		*what = "an answer owed or a request under way: Timeout";
		return last + longer(member_timeout_ns(d, c), ph.request ? conn_timeout_ns(d, c) : 0);
	}
	ka = conn_keepalive_ns(d, c);
	*what = "between requests: KeepAliveTimeout";
	return last + (ka ? ka : conn_timeout_ns(d, c));
}

int pkt_clocks(struct kbal_daemon *d, struct kbal_conn *c, uint64_t last)
{
	const char *what = "";

	/* last may be newer than d->loop.now: it is the kernel's clock at a
	 * packet after this loop turn began */
	if (!last || !c->pf || last >= d->loop.now || d->loop.now < quiet_until(d, c, last, &what))
		return 0;
	log_debug("conn %p: packet flow quiet past its clock (%s): ended", (void *)c, what);
	conn_close(d, c);
	return 1;
}
