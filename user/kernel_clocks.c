// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kernel_clocks.c - httpd's clocks on the connections the sockmap path
 * frames (decide.h, decide_timeouts()), read from the kernel's in
 * kbal_sk_http once a second: RequestReadTimeout on a request's head or
 * body (408), Timeout on an answer owed (502) and on a client that takes
 * none of its answer, KeepAliveTimeout between requests, and Timeout on a
 * tunnel (Upgrade) carried or copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "heads.h"
#include "log.h"
#include "member.h"
#include "splice_sockmap.h"
#include "stamp.h"

/* kbald's error answer of status to a request the kernel framed (or the
 * packet program: packet_clocks.c), on the client's socket, with the
 * "always" Header rules of its virtual host (heads_framed_error()), as
 * httpd's ap_die() would send it: a head not whole is read as the
 * connection's address's server (c->base_server: its Host is not applied
 * yet), no variable set; a request read whole has its Host's (the kernel
 * keeps only requests of the connection's Host: its last request's) and
 * mod_proxy_balancer's variables (it picked the member before the body
 * was read). came: when the request (its stage) began */
void decide_framed_error(struct kbal_daemon *d, struct kbal_conn *c, unsigned status, int head,
			 const char *host, uint64_t came)
{
	int vhost = head ? conn_base_vhost(d, c) : c->vhost_req - 1;
	char *page;
	ssize_t n;

	n = heads_framed_error(d, c, status, vhost, head ? NULL : host, !head, came, &page);
	if (n <= 0)
		return;
	if (send(c->fd[CLIENT], page, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("conn %p: %u: %s", (void *)c, status, strerror(errno));
	free(page);
}

const char *decide_framed_host(const struct kbal_sk_http *cl, char *out, size_t cap)
{
	size_t n = cl->host_len < sizeof(cl->host) ? cl->host_len : sizeof(cl->host);

	snprintf(out, cap, "%.*s", (int)n, cl->host);
	return out;
}

/* A request the kernel frames that is over RequestReadTimeout: 408 where
 * nothing of an answer is under way (a head whose request line came: none
 * of it reached the member; a body: the member's request is cut, its
 * connection closed with a FIN, as httpd's mod_proxy_http closes its
 * backend's: apr_socket_close(), no SO_LINGER; the kernel resets it
 * anyway where the member sent something unread), then the connection
 * ends, as httpd ends it: by the short
 * lingering close mod_reqtimeout asks for (2 s: the FIN after the 408, or
 * after nothing where the request line did not come, then what the client
 * still sends read and dropped, its socket out of the sockhashes first,
 * conn_linger_end()), as the copy path's and the packet path's 408. Where
 * an answer is under way (the psock may hold some of it, which the
 * socket's leaving would drop as its close does), a plain close. */
static void kernel_request_late(struct kbal_daemon *d, struct kbal_conn *c,
				const struct kbal_sk_http *cl, int answering)
{
	int head = cl->stage == KBAL_SKS_HEAD;
	char host[KBAL_HOST_LEN + 1];

	log_info("a request's %s did not come within RequestReadTimeout (the kernel framed it)",
		 head ? "head" : "body");
	if (!answering && (!head || (cl->flags & KBAL_SKF_LINE)))
		decide_framed_error(d, c, 408, head, decide_framed_host(cl, host, sizeof(host)),
				    cl->stage_ns);
	if (answering)
		conn_close(d, c);
	else
		conn_linger_end(d, c, 1);
}

/* Is an answer under way, which a 408 would cut into? During a head: the
 * one before it (kbald's still, or the kernel's not ended); during a body:
 * its own, begun (one request at a time: no other) */
static int answering(const struct kbal_conn *c, const struct kbal_sk_http *cl,
		     const struct kbal_sk_http *mb, int have_mb)
{
	int head = cl->stage == KBAL_SKS_HEAD;

	if (c->f)
		return head || c->phase[DOWN] != P_HEAD;
	if (head)
		return !have_mb || mb->expect != KBAL_SKX_HEAD || mb->msgs != cl->msgs + mb->owed;
	return have_mb && mb->expect != KBAL_SKX_HEAD;
}

/* How long ago t was, at the loop's now: the kernel's clocks (bpf_ktime)
 * may be later than the loop's wake-up, which is no time ago, not 2^64 ns */
static uint64_t ago(const struct kbal_daemon *d, uint64_t t)
{
	return d->loop.now > t ? d->loop.now - t : 0;
}

/* Has the client acknowledged all the member sent: what kbald wrote and
 * what the kernel took for it (mb: the member's entry, kept since the
 * arming, as the take-back counts it, takeback.c)? Not what the member's
 * socket received less what kbald read, as the FIN's check counts it
 * (handover_sockmap.c): a member connection kbald kept (its pool) received
 * earlier clients' bytes too, which rd[MEMBER] never counted, and the
 * client would never have them all (the stalled answer the first on its
 * connection, another's exchange just put in the pool). */
static int answer_delivered(const struct kbal_daemon *d, const struct kbal_conn *c,
			    const struct kbal_sk_http *mb, uint64_t *acked)
{
	uint64_t sent, recvd;
	int outq = 0;

	*acked = 0;
	if (c->fin_goal || stamp_sock_counts(d, c, CLIENT, &sent, &recvd) ||
	    ioctl(c->fd[CLIENT], SIOCOUTQ, &outq))
		return 0;
	*acked = sent - (uint64_t)outq;
	return outq == 0 && sent >= c->base[CLIENT] + c->wr[CLIENT] + mb->kept;
}

/* Has mark (bytes a connection moved) stood still for to_ns? Counted from
 * the first look that saw it where it is (c->stall) */
static int still(struct kbal_daemon *d, struct kbal_conn *c, uint64_t mark, uint64_t to_ns)
{
	if (!c->stall.at || mark != c->stall.acked) {
		c->stall.acked = mark;
		c->stall.at = d->loop.now;
		return 0;
	}
	return ago(d, c->stall.at) >= to_ns;
}

/* The member's whole answer is the kernel's to deliver (in the client's
 * psock and send queue), and the client takes none of it: httpd gives up a
 * write to the client after Timeout without progress, and so does kbald,
 * counting from the last look that saw the client acknowledge more (looked
 * at once KeepAliveTimeout found the connection quiet). 1 when it was
 * closed. */
static int client_stalled(struct kbal_daemon *d, struct kbal_conn *c, uint64_t acked,
			  uint64_t to_ns)
{
	if (!still(d, c, acked, to_ns))
		return 0;
	log_info("a client took nothing of its answer for Timeout (the kernel carried it): closed");
	conn_abort(d, c);
	return 1;
}

/* An answer the kernel frames that the member owes and has sent nothing of
 * for Timeout since the request and its own last bytes: 502 where none of
 * it began (Apache 2.4's answer to a read timeout; Connection: close),
 * then the connection ends (no error state for the member: a timeout is
 * not a connect failure) by httpd's full lingering close (30 s, as the
 * packet path's 502: the FIN after the answer, a request that crossed it
 * read and dropped, not reset), the member's connection closed with a FIN
 * (it sent nothing); where it began and the client has all of it, the
 * same lingering close (conn_member_stalled()), else a plain close. 1
 * when it was closed. */
static int kernel_answer_late(struct kbal_daemon *d, struct kbal_conn *c,
			      const struct kbal_sk_http *cl, const struct kbal_sk_http *mb,
			      uint64_t last)
{
	uint64_t to_ns = member_timeout_ns(d, c), acked;
	int begun = mb->expect != KBAL_SKX_HEAD;
	char host[KBAL_HOST_LEN + 1];

	if (!begun && mb->msgs == cl->msgs + mb->owed)
		return 0;        /* nothing owed */
	if (mb->active_ns > last)
		last = mb->active_ns;
	if (ago(d, last) < to_ns)
		return 0;
	log_info("a member's answer did not come within Timeout (the kernel framed it)");
	if (!begun) {
		decide_framed_error(d, c, 502, 0, decide_framed_host(cl, host, sizeof(host)),
				    cl->active_ns);
		conn_linger_end(d, c, 0);
	} else if (answer_delivered(d, c, mb, &acked)) {
		/* stopped mid-answer, all it sent with the client (none left
		 * in a psock, which the socket's leaving would drop) */
		conn_member_stalled(d, c);
	} else {
		conn_close(d, c);
	}
	return 1;
}

/* One connection's clocks: 1 when it was closed */
static int kernel_clocks(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_reqtimeout *rt = &d->conf->reqtimeout;
	uint64_t to_ns = conn_timeout_ns(d, c), ka_ns = conn_keepalive_ns(d, c);
	struct kbal_sk_http cl, mb = {};
	int have_mb;
	uint64_t last = 0, acked;

	if (!(c->bounded & BOUND_UP) || c->pkt || c->phase[UP] != P_SPLICED ||
	    sk_state(d, c->cookie[CLIENT], &cl) || cl.mode != KBAL_SKM_KERNEL)
		return 0;
	if (cl.stage == KBAL_SKS_HEAD || cl.stage == KBAL_SKS_BODY) {
		const struct kbal_read_bound *b = cl.stage == KBAL_SKS_HEAD ? &rt->header : &rt->body;

		if (d->loop.now < kbal_read_bound_at(b, cl.stage_ns, cl.stage_bytes))
			return 0;
	} else {
		/* between two requests: KeepAliveTimeout from the last answer's
		 * end, Timeout for an answer owed (the member's side looked at
		 * only once the client's is idle that long: one lookup a
		 * second for most connections) */
		uint64_t mto = member_timeout_ns(d, c);

		last = c->since > cl.active_ns ? c->since : cl.active_ns;
		if ((!ka_ns || ago(d, last) < ka_ns) && ago(d, last) < to_ns &&
		    ago(d, last) < mto)
			return 0;
	}
	have_mb = (c->bounded & BOUND_DOWN) && !sk_state(d, c->cookie[MEMBER], &mb) &&
		  mb.mode == KBAL_SKM_KERNEL;
	if (cl.stage == KBAL_SKS_HEAD || cl.stage == KBAL_SKS_BODY) {
		kernel_request_late(d, c, &cl, answering(c, &cl, &mb, have_mb));
		return 1;
	}
	if (have_mb && kernel_answer_late(d, c, &cl, &mb, last))
		return 1;
	if (mb.active_ns > last)
		last = mb.active_ns;
	/* every request the kernel kept answered to its end, that long ago,
	 * and the answers delivered: not only read from the member (the
	 * psock may hold much of one for a slow reader) but acknowledged by
	 * the client. Until then KeepAliveTimeout has not begun: its clock
	 * starts at the last look that found an answer under way. */
	if (!have_mb || mb.expect != KBAL_SKX_HEAD || mb.msgs != cl.msgs + mb.owed ||
	    ago(d, last) < (ka_ns && ka_ns < to_ns ? ka_ns : to_ns))
		return 0;
	if (!answer_delivered(d, c, &mb, &acked)) {
		c->since = d->loop.now;
		return client_stalled(d, c, acked, to_ns);
	}
	c->stall.at = 0;
	if (!ka_ns || ago(d, last) < ka_ns)
		return 0;
	log_debug("conn %p: idle for KeepAliveTimeout, closed", (void *)c);
	conn_keepalive_end(d, c);
	return 1;
}

/* A tunnel (Upgrade, 101) the kernel carries or kbald copies: httpd's
 * proxy tunnel gives up after Timeout with no byte either way (Debian's
 * apache2, side by side: an idle WebSocket closed after Timeout, a busy one
 * not). Progress is what the two sockets received; looked at once a second.
 * 1 when it was closed. */
static int tunnel_clock(struct kbal_daemon *d, struct kbal_conn *c)
{
	uint64_t to_ns = conn_timeout_ns(d, c), a, b;

	if (!c->upgrade || c->pkt || c->fd[CLIENT] < 0 || c->fd[MEMBER] < 0 ||
	    c->phase[UP] < P_SPLICED || c->phase[DOWN] < P_SPLICED ||
	    kbal_sock_received(c->fd[CLIENT], &a) || kbal_sock_received(c->fd[MEMBER], &b))
		return 0;
	if (!still(d, c, a + b, to_ns))
		return 0;
	log_info("a tunnel (Upgrade) carried nothing either way for Timeout: closed");
	conn_close(d, c);
	return 1;
}

void decide_timeouts(struct kbal_daemon *d)
{
	struct kbal_list *lists[] = { &d->spliced, &d->first }, *n, *next;

	if (d->loop.now < d->decide.clocks_at)
		return;
	d->decide.clocks_at = d->loop.now + DECIDE_CLOCKS_NS;
	for (unsigned i = 0; i < 2; i++)
		for (n = lists[i]->next; n != lists[i]; n = next) {
			next = n->next;
			if (!tunnel_clock(d, conn_of(n)))
				kernel_clocks(d, conn_of(n));
		}
}
