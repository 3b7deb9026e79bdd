/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * decide.h - every request decided as kbald (and Apache) decides it, on
 * connections the kernel carries (docs/design.md, "Every request decided").
 *
 * A keep-alive connection handed to the sockmap path keeps its later
 * requests in the kernel only while the stream parser and verdict
 * (bpf/sockmap.bpf.c, bpf/http_frame.bpf.h) find each one decided the same:
 * same ProxyPass rule, Host, sticky route, member usable. decide_arm()
 * writes what they compare before a direction enters the sockhash. The
 * first request (or response head) they cannot keep is queued on its own
 * socket for kbald; decide_take_back() then takes the connection at that
 * boundary, and kbald decides each of its requests from there on (agent).
 */
#ifndef KBAL_DECIDE_H
#define KBAL_DECIDE_H

#include "conn-t.h"

struct kbal_daemon;
struct kbal_conn;

/* c->bounded: bits */
enum {
	BOUND_PLANNED = 1u << 0,      /* its later requests are framed in the kernel */
	BOUND_UP      = 1u << 1,      /* the client's entry is in kbal_sk_http */
	BOUND_DOWN    = 1u << 2,      /* the member's */
};

/* what the configuration lets the kernel keep (d->decide) */
struct kbal_decide {
	uint8_t exact[KBAL_RULE_TABLES];  /* by kbal_rules table (virtual host + 1):
				       * it decides as kbald does */
	int route_cookie;             /* a Header rule for requests without their
				       * route (env=BALANCER_ROUTE_CHANGED) */
	int every_response;           /* a Header rule that may change an answer
				       * the kernel would pass, or a RequestHeader
				       * rule: kbald decides every request */
	int ua;                       /* SetEnvIf lines that set nokeepalive or
				       * no-proxy read the User-Agent: the kernel
				       * keeps a request only with the connection's */
	uint32_t access;              /* the <Location>s with access rules on a
				       * proxied path, by index: kbald checks each
				       * request it sees, the kernel keeps one only
				       * where none can refuse it */
	uint64_t clocks_at;           /* decide_timeouts()' next look */
};

/* kbal_rules from the configuration; 0 or -errno */
int decide_init(struct kbal_daemon *d);

/* At a request's head (c->f routed it to f->pass, on c->balancer; the
 * connection's last request was on last_balancer): does the kernel frame
 * this connection's later requests (c->bounded), or does kbald decide each
 * of them itself (c->agent)? Neither for the packet path asked for by name,
 * a tunnel, or a connection without a second request. A connection kbald
 * decides is looked at again at each request: the kernel takes it again at
 * a request for the balancer of the one before (re-armed). */
void decide_plan(struct kbal_daemon *d, struct kbal_conn *c, int last_balancer);

/* Is member the one member its balancer's lbmethod can pick for a request
 * without a sticky route, until a member's status changes (which bumps the
 * balancer's gen)? Then the kernel keeps such requests on it: it is no
 * spare or standby itself, each member of a lower lbset is disabled,
 * stopped or draining, each other member of its set is too or a hot
 * standby, and a hot spare of its set only where no other member is there
 * for it to stand in for (Apache's ap_proxy_balancer_get_best_worker()).
 * One in error counts as usable: Apache retries it once `retry` has
 * passed, with no status change the kernel would see. */
int decide_sole(const struct kbal_daemon *d, int member);

/* the answer to c's request takes the route's cookie (a sticky balancer,
 * a Header rule on BALANCER_ROUTE_CHANGED, no route in the request): no
 * handover starts at it (decide_plan()) */
int decide_route_cookie_owed(const struct kbal_daemon *d, const struct kbal_conn *c);

/* Would the kernel keep a request like the one kbald just routed to
 * c->member (its sticky route names that member, or there is none and the
 * member is its balancer's sole candidate)? */
int decide_keepable(const struct kbal_daemon *d, const struct kbal_conn *c);

/* A bounded connection's request went out whole: the client's next bytes
 * stay in its socket until the kernel frames them, which it does once the
 * member's side is spliced (its framing must start where the response
 * kbald writes ends; a request it saw first could find it unframed). */
static inline int decide_up_waits(const struct kbal_conn *c)
{
	return (c->bounded & BOUND_PLANNED) && !c->agent && !c->pool && c->f &&
	       c->phase[UP] == P_FLUSH && c->rd[CLIENT] >= c->f->msg_total[UP];
}

/* The Content-Length body of a bounded connection's request is still
 * coming: kbald reads it to its end and no further (exch_read()), so that
 * what the client sent behind it waits for the stream parser too. */
static inline int decide_body_bounded(const struct kbal_conn *c)
{
	return (c->bounded & BOUND_PLANNED) && !c->agent && !c->pool && c->f &&
	       c->phase[UP] == P_FLUSH;
}

/* A bounded connection the packet path may join all the same, its program
 * deciding each later request, and judging each response head, as the
 * sockmap path's framing would (KbalSplice packet asked for by name,
 * kbald keeping the client-side socket): c->pkt_decide. */
int decide_by_packet(const struct kbal_daemon *d, const struct kbal_conn *c);

/* The decision a packet-decided connection's later requests are held to:
 * the client side's kbal_sk_http as decide_arm() would write it. 0, or
 * -errno (then the flow is not armed, and does not join). */
int decide_pkt_record(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_sk_http *st);

/* Before direction dir of a bounded connection enters the sockhash: its
 * entry in kbal_sk_http. 0, or -errno (the direction is then copied). */
int decide_arm(struct kbal_daemon *d, struct kbal_conn *c, int dir);

/* A spliced socket of a bounded connection is readable: the kernel handed
 * something back (takeback.c, with decide_stopped() and
 * decide_agent_again()). 1: the connection is kbald's again (c->f, in its
 * first exchange's steps), 0: not yet (looked at again), -1: closed. */
int decide_take_back(struct kbal_daemon *d, struct kbal_conn *c);

/* an answer owed to the last request the kernel kept: kbald writes it
 * (takeback.c) */
void decide_owed_answer(struct kbal_daemon *d, struct kbal_conn *c);

/* The member's side of a framed connection is between two answers: no
 * response under way, no request on its way to it, nothing handed back.
 * Its connection ending now (FIN, RST) ends nothing of the client's: the
 * stream parser hands the client's next request to kbald, which sees the
 * member's socket closed. */
int decide_member_idle(struct kbal_daemon *d, const struct kbal_conn *c);

/* The member's side of a framed connection is at an answer's first byte
 * with a request of the client's waiting for it: a member that ends its
 * connection now leaves the client without a byte of that answer. */
int decide_member_unanswered(struct kbal_daemon *d, const struct kbal_conn *c);

/* EPOLLERR on a framed socket: the stream parser stopped where it hands
 * the rest back (-ESTRPIPE, bpf/sockmap.bpf.c), not a failure. Clears it. */
int decide_stopped(const struct kbal_conn *c, int side);

/* The socket leaves the sockhashes: no verdict runs on it after, and the
 * kernel's bytes that come later stay in its TCP receive queue (kbald's
 * to read: a take-back, a lingering close) */
void decide_sock_leave(struct kbal_daemon *d, struct kbal_conn *c, int side);

/* the member's socket, which the kernel carried, is to be closed by kbald:
 * its entries in the maps go, and its cookie (a new member connection's
 * socket gets its own at its handover) */
void decide_member_forget(struct kbal_daemon *d, struct kbal_conn *c);

/* The member answered everything it was sent: its connection goes (it was
 * in the sockhashes; kbald keeps no such socket for later clients). */
void decide_member_done(struct kbal_daemon *d, struct kbal_conn *c);

/* The connection is kbald's again, taken back from the kernel for why
 * (KBAL_WHY_*): it decides each request from here on, and its sockets'
 * state is read afresh (what the kernel left unread, their FINs) */
void decide_agent_again(struct kbal_conn *c, uint8_t why);

/* Would the client's side arm (decide_arm(UP))? Asked before the member's
 * is spliced, which is armed first: a direction spliced already keeps its
 * entry (its backpressure state) only if the connection stays framed. */
int decide_client_armable(const struct kbal_conn *c);

/* The kernel frames the connection no longer: where kbald cannot follow
 * its boundaries (bytes past a request went on with it), its later
 * requests follow the connection's member as before this (docs/design.md).
 * Counted in KBAL_WHY_UNBOUND's log. */
void decide_unbound(struct kbal_daemon *d, struct kbal_conn *c);

/* the connection's kbal_sk_http entries, at its end */
void decide_forget(struct kbal_daemon *d, struct kbal_conn *c);

/* A socket's kbal_sk_http entry (by its cookie), as the kernel's framing left it:
 * 0, or -errno (decide.c; the take-back and the clocks read it too) */
int sk_state(const struct kbal_daemon *d, uint64_t cookie, struct kbal_sk_http *st);

/* Once a second (kernel_clocks.c): the connections the kernel frames against
 * RequestReadTimeout (a request's head or body under way, by the kernel's
 * clocks in kbal_sk_http) and KeepAliveTimeout (nothing under way since the
 * last answer's end), as httpd bounds those it reads; what is over its
 * bound ends (408 where httpd answers one) */
#define DECIDE_CLOCKS_NS 1000000000ull
void decide_timeouts(struct kbal_daemon *d);

/* kbald's own answer of status (408, 502) to a request the kernel or the
 * packet program framed, written to the client's socket as the copy path
 * writes its own (kernel_clocks.c): head, the head not whole; host, the
 * Host its requests carry (the kernel keeps only those of one Host; NULL:
 * unknown, its signature names ServerName); came, when the request (its
 * stage) began */
void decide_framed_error(struct kbal_daemon *d, struct kbal_conn *c, unsigned status, int head,
			 const char *host, uint64_t came);
/* the Host every request the kernel keeps carries (arm_client(): a
 * client's kbal_sk_http, or a decided packet flow's kbal_pkt_decide
 * record), as a string in out */
const char *decide_framed_host(const struct kbal_sk_http *cl, char *out, size_t cap);

#endif
