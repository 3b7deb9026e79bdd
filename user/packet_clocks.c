// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * packet_clocks.c - httpd's clocks on the flows the packet path joins,
 * from the program's framing of each direction (kbal_pkt_frame) and the
 * flow's last packet, looked at once a second (pkt_check()):
 * KeepAliveTimeout between requests, RequestReadTimeout on a request's
 * head or body, Timeout on an answer owed or under way. kernel_clocks.c
 * keeps the same clocks on the sockmap path.
 *
 * Where httpd answers 408 (RequestReadTimeout, the request line come, or a
 * body under way) or 502 (an answer owed, none of it begun), kbald takes
 * the client's leg back
 * onto its kept client-side socket (kbal_packet_take_client(): SHIFT
 * entries, docs/packet.md "Endings") and answers there as its other paths
 * do (decide_framed_error()), then ends it by httpd's lingering close (a
 * FIN, then 2 s after the 408, 30 s after the 502); the member's leg comes
 * back onto kbald's member-side socket too, which closes with a FIN (the
 * member reset where it cannot). At KeepAliveTimeout, where httpd closes
 * the connection without a word, the same without the answer, lingering
 * 2 s: the client gets a FIN, and a request that crossed it no reset; so
 * too a request line not whole at RequestReadTimeout (mod_reqtimeout: no
 * answer, the short lingering close). An answer begun whose member stopped
 * for Timeout ends the same way, lingering 30 s (as conn_member_stalled()).
 * Elsewhere (a request under way at Timeout, a flow not framed; no kept
 * socket: a KbalHost id; the client without all the member sent) the flow
 * ends with both peers reset (pkt_close()).
 */
#include <errno.h>
#include "conn.h"
#include "daemon.h"
#include "decide.h"
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
 * A joined flow with an answer under way: when the client's
 * acknowledgement stopped moving, the client behind, + Timeout, where the
 * member still sends (httpd's write to a client that reads nothing gives
 * up so; the sockmap path's client_stalled()). A client that reads
 * nothing acknowledges what its buffer holds and announces a zero window
 * (KBAL_PKT_WIN_SHUT on its entry), or, its buffer's memory full, drops
 * what comes and acknowledges less than the member sent: its
 * acknowledgement stops, and the member's window probes or
 * retransmissions go on (further and further apart). A member that
 * stopped sends nothing after the client's last ACK but its
 * acknowledgements of what the client still sends (keepalive probes; a
 * request held for kbald, sent again, is dropped before the member), and
 * the client is not behind: its flow's clock ends it (quiet_until():
 * before 2026-12-07 a client's keepalive probes made it a client that
 * takes nothing, both peers reset). Seen at kbald's looks (lg: the
 * entries read at this one): the clock starts at the first look that
 * finds the acknowledgement where it is, the client behind. ~0: not stuck
 * (yet).
 */
static uint64_t client_stuck_at(struct kbal_daemon *d, struct kbal_conn *c,
				const struct kbal_pkt_legs *lg)
{
	struct kbal_pkt_flow *fl = c->pf;

	if (!fl->acked_since || lg->client_ack != fl->acked || !lg->client_behind) {
		fl->acked = lg->client_ack;
		fl->acked_since = d->loop.now;
		return ~0ull;
	}
	return lg->last_ns[1] > fl->acked_since ? fl->acked_since + conn_timeout_ns(d, c) : ~0ull;
}

/*
 * When the flow last moved a byte either way (~ its last packet where
 * that is not known: lg NULL, or nothing seen move yet), as httpd's
 * Timeout counts a read: from the last bytes that came, the member's
 * (mod_proxy_http reading its answer) or the client's (the request sent
 * whole, or its body read), not from packets without a byte. A client's
 * ACKs, window or keepalive probes and retransmissions, and the member's
 * acknowledgements of them, are packets of the flow (their clock,
 * kbal_pkt_rw.last_ns) but move no byte (kbal_pkt_rw.bytes counts from
 * the highest sequence number seen): before, each put the member's
 * Timeout off. Seen at kbald's looks (lg: the entries read at this one):
 * a direction whose bytes moved since the look before sent its last new
 * one by its last packet, so never early and up to a look late.
 */
static uint64_t bytes_moved_at(struct kbal_pkt_flow *fl, const struct kbal_pkt_legs *lg,
			       uint64_t last)
{
	for (int i = 0; lg && i < 2; i++)
		if (lg->bytes[i] != fl->moved[i]) {
			fl->moved[i] = lg->bytes[i];
			fl->moved_ns[i] = lg->last_ns[i];
		}
	if (!lg || !(fl->moved_ns[0] | fl->moved_ns[1]))
		return last;
	return longer(fl->moved_ns[0], fl->moved_ns[1]);
}

/*
 * The deadline of a flow quiet since last (the kernel's clock of its last
 * packet either way), by what its framing says is under way:
 * - a request's head or body begun: RequestReadTimeout's bound on it
 *   (header or body, with MinRate), counted from the first look that saw
 *   that request begun (so up to a second late: never early), else Timeout;
 * - an answer under way that the client does not take (its
 *   acknowledgement not moving while the member's packets still come):
 *   Timeout from when kbald saw it stop (client_stuck_at(), *stuck);
 * - an answer owed or under way: the member's Timeout (its timeout=, the
 *   virtual host's ProxyTimeout or Timeout) from the last byte either way
 *   (the member's last, or its request's: bytes_moved_at()), not the last
 *   packet;
 * - nothing: KeepAliveTimeout from the last packet (the last answer's end
 *   or the client's acknowledgement of it), where keep-alive has one.
 * *status: httpd's answer at that deadline (408, 502) or 0, *came when its
 * request (or its stage) began, *head: a head not whole, *cut: its request
 * line not whole at RequestReadTimeout (no answer), *idle: between
 * requests (httpd closes without an answer), *stalled: an answer begun
 * (its member stopped mid-answer, at that deadline).
 */
static uint64_t quiet_until(struct kbal_daemon *d, struct kbal_conn *c, uint64_t last,
			    const char **what, unsigned *status, uint64_t *came, int *head,
			    int *cut, int *idle, int *stalled, int *stuck)
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
		/* nothing of an answer under way, nor owed but the body's own
		 * request's (its head counted at its end) */
		if (at != ~0ull && ph.owed <= (ph.request == KBAL_PKT_RQ_BODY) && !ph.answering) {
			*what = ph.request == KBAL_PKT_RQ_HEAD ? "a request's head: RequestReadTimeout"
							       : "a request's body: RequestReadTimeout";
			/* as mod_reqtimeout: 408 once the request line came (a
			 * body's: mod_proxy_http's ap_map_http_request_error());
			 * before, httpd closes without a word (*cut) */
			*head = ph.request == KBAL_PKT_RQ_HEAD;
			*status = *head && !ph.line ? 0 : 408;
			*cut = !*status;
			*came = fl->req_since;
			return at;
		}
	} else {
		fl->req_since = 0;
	}
	if (ph.owed || ph.answering || ph.request != KBAL_PKT_RQ_NONE) {
		struct kbal_pkt_legs lg;
		int have = !kbal_packet_legs(&d->pk.p, fl, &lg);   /* two lookups */
		uint64_t moved = bytes_moved_at(fl, have ? &lg : NULL, last);

		if (ph.answering && ph.request == KBAL_PKT_RQ_NONE) {
			/* a client that takes nothing of an answer under way
			 * (a member that stopped: below, with the member's own
			 * timeout) */
			uint64_t at = have ? client_stuck_at(d, c, &lg) : ~0ull;

			if (at != ~0ull) {
				*what = "a client that takes nothing of its answer: Timeout";
				*stuck = 1;
				return at;
			}
			/* the client behind: the member's bytes wait for it,
			 * not it for them; the flow's quiet (no probe, no
			 * retransmission either way) as before */
			if (have && lg.client_behind)
				moved = last;
		} else {
			fl->acked_since = 0;
		}
		*what = "an answer owed or a request under way: Timeout";
		/* mod_proxy_http's read timeout: 502, where none of it began */
		*status = ph.owed && !ph.answering && ph.request == KBAL_PKT_RQ_NONE ? 502 : 0;
		*stalled = ph.answering && ph.request == KBAL_PKT_RQ_NONE;
		*came = have && fl->moved_ns[0] ? fl->moved_ns[0] : last;
		return moved + longer(member_timeout_ns(d, c), ph.request ? conn_timeout_ns(d, c) : 0);
	}
	fl->acked_since = 0;
	ka = conn_keepalive_ns(d, c);
	*what = "between requests: KeepAliveTimeout";
	*idle = 1;
	return last + (ka ? ka : conn_timeout_ns(d, c));
}

/*
 * httpd's answer at a clock's end (status; 0: none, KeepAliveTimeout's
 * close or, stalled, the end of an answer its member stopped), by kbald on
 * the client's leg taken back (kbal_packet_take_client()): the answer
 * written on the kept client-side socket as the sockmap path writes its
 * own, and that socket ended by httpd's lingering close (conn.h,
 * conn_linger_end()): the FIN after the answer, then what the client
 * still sends read and dropped, 2 s after mod_reqtimeout's 408 and
 * KeepAliveTimeout (httpd's short-lingering-close), 30 s after the 502
 * (its Connection: close) and an answer its member stopped; the client's
 * bytes reach the kept socket through the SHIFT entries, which outlive
 * the lingering close a while (pkt_close(), given back). The member's leg
 * comes back onto kbald's member-side socket where it can (the member has
 * all the client sent), which closes as httpd closes its backend
 * connection, a FIN; else that socket is closed frozen and the member
 * reset (the probe). The answer's signature names the Host of the
 * flow's requests where the program decided them (it keeps only those of
 * the Host in the flow's decision, kbal_pkt_decide, as the sockmap path's
 * framing), else (a flow joined undecided) ServerName. 1 when done (the
 * connection closed), 0 where the client's leg could not be taken
 * (nothing changed).
 */
static int pkt_answer(struct kbal_daemon *d, struct kbal_conn *c, unsigned status, int head,
		      uint64_t came, int stalled)
{
	struct kbal_pkt_probe pr;
	struct kbal_sk_http dec;
	char hostbuf[KBAL_HOST_LEN + 1];
	const char *host = status && !kbal_packet_decision(&d->pk.p, c->pf, &dec) ?
			   decide_framed_host(&dec, hostbuf, sizeof(hostbuf)) : NULL;
	struct kbal_pkt_state st;
	int err;

	/* the entries are taken: their last bytes (beyond kbal_pkt_seen's)
	 * counted before */
	if (!kbal_packet_exact(&d->pk.p, c->pf, &st))
		pkt_account(d, c, st.bytes_up, st.bytes_down);
	err = kbal_packet_take_client(&d->pk.p, c->pf, c->fd[CLIENT], c->fd[MEMBER], &pr);

	if (err == -EAGAIN || err == -EINVAL)
		return 0;
	if (err) {
		/* the entries partly gone: ended as before, both told */
		conn_close(d, c);
		kbal_packet_end_probe(&d->pk.p, &pr);
		return 1;
	}
	c->pf->given_back = 1;
	/* the member's leg not taken (it is told by the probe): its socket
	 * goes without a word; else conn_close() closes it, a FIN */
	if (c->fd[MEMBER] >= 0 && pr.to[1].dport) {
		kbal_packet_close_frozen(c->fd[MEMBER]);
		c->fd[MEMBER] = -1;
	}
	kbal_packet_end_probe(&d->pk.p, &pr);
	pkt_kept_linger(c->fd[CLIENT], 0);   /* a FIN at its close, not a RST */
	if (status)
		decide_framed_error(d, c, status, head, host, came);
	conn_linger_end(d, c, status == 408 || (!status && !stalled));
	return 1;
}

/* looks (a second apart) that try to take the client's leg back for kbald's
 * 408 or 502 before the connection ends with both peers reset */
#define PKT_TAKE_TRIES 3

int pkt_clocks(struct kbal_daemon *d, struct kbal_conn *c, uint64_t last)
{
	const char *what = "";
	unsigned status = 0;
	uint64_t came = 0;
	int head = 0, cut = 0, idle = 0, stalled = 0, stuck = 0;

	if (!c->pf)
		return 0;
	/* a flow whose entries stamped no packet yet (its answer all in
	 * before the join took, the client idle since: seen on a pooled
	 * member connection's long first answer, never ended at
	 * KeepAliveTimeout): its clocks count from the first look that
	 * found it so */
	if (!last) {
		if (!c->pf->unseen_since)
			c->pf->unseen_since = d->loop.now;
		last = c->pf->unseen_since;
	}
	/* last may be newer than d->loop.now: it is the kernel's clock at a
	 * packet after this loop turn began */
	if (last >= d->loop.now ||
	    d->loop.now < quiet_until(d, c, last, &what, &status, &came, &head, &cut, &idle,
				      &stalled, &stuck))
		return 0;
	if (stuck) {
		/* as the sockmap path's client_stalled(): the connection goes,
		 * both peers reset */
		log_info("a client took nothing of its answer for Timeout (the packet program "
			 "carried it): closed");
		conn_abort(d, c);
		return 1;
	}
	if (status) {
		log_info("%s (the packet program framed it): %u",
			 status == 408 ? "a request's head or body did not come within RequestReadTimeout"
				       : "a member's answer did not come within Timeout", status);
		if (pkt_answer(d, c, status, head, came, 0))
			return 1;
		/* not quiet at this look (the kept socket with a byte to read
		 * or one unacknowledged, the client without all of the
		 * member's bytes yet: a loaded host's moment): the next looks
		 * try again before both peers are reset (once, a 502 owed
		 * came as a reset under load) */
		if (++c->pf->take_tries < PKT_TAKE_TRIES) {
			log_debug("conn %p: the client's leg not quiet at its clock's end: "
				  "again at the next look", (void *)c);
			return 0;
		}
		log_info("the client's leg could not be taken back: both peers reset");
	} else if (cut) {
		/* mod_reqtimeout's: ap_read_request() fails without an answer,
		 * the short lingering close */
		log_info("a request line did not come within RequestReadTimeout (the packet "
			 "program framed it): the client's connection ends, lingering");
		if (pkt_answer(d, c, 0, 0, 0, 0))
			return 1;
	} else if (idle) {
		log_debug("conn %p: packet flow idle past KeepAliveTimeout: closed", (void *)c);
		if (pkt_answer(d, c, 0, 0, 0, 0))
			return 1;
	} else if (stalled) {
		log_info("a member's answer stopped for Timeout (the packet program framed it): "
			 "the client's connection ends, lingering");
		if (pkt_answer(d, c, 0, 0, 0, 1))
			return 1;
	}
	log_debug("conn %p: packet flow quiet past its clock (%s): ended", (void *)c, what);
	conn_close(d, c);
	return 1;
}
