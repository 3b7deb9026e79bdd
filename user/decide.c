// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * decide.c - every request decided as kbald decides it (decide.h), per
 * connection: whether the kernel may carry its later requests, what its
 * framing compares (the socket's kbal_sk_http). A connection taken back
 * at the request or response head the kernel hands over: takeback.c; the
 * clocks of what the kernel frames: kernel_clocks.c. What the
 * configuration lets the kernel keep at all: decide_rules.c.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "authz.h"
#include "balancers.h"
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "inaddr.h"
#include "env.h"
#include "headers.h"
#include "exchange.h"
#include "handover.h"
#include "log.h"
#include "splice_sockmap.h"

/* Would the kernel forward this rule's requests as kbald does, byte for
 * byte? kbald rewrites a path the rule maps elsewhere, and the Host
 * without ProxyPreserveHost. (X-Forwarded-For, -Host and -Server are
 * kbald's only: docs/configuration.md.) */
static int kernel_forwards_as_is(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_conf_pass *p = &d->conf->pass[c->f->pass];

	return d->decide.exact[c->f->vhost + 1] && !d->decide.every_response &&
	       kbal_conf_preserve_host(d->conf, c->f->vhost) &&
	       !p->regex && strcmp(p->path, p->target) == 0 && c->f->host[0] &&
	       strlen(c->f->host) <= KBAL_HOST_LEN;
}

/* The answer will take the route's cookie: the balancer is sticky, a
 * Header rule sets the cookie where the route changed, and the request
 * names no route (mod_proxy_balancer's find_best_worker() then sets
 * BALANCER_ROUTE_CHANGED). A route naming no usable member changes too,
 * which only the pick finds out: such a request is planned as before,
 * and its next one handed back. */
int decide_route_cookie_owed(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_balancer *b = &d->maps.balancers[c->balancer];

	if (!d->decide.route_cookie || !b->sticky[0] || c->f->route[0])
		return 0;
	/* the route changes only to a member's that has one (lb.c's
	 * route_changed()): a balancer of members without route= sets none */
	return balancer_has_route(d, (unsigned)c->balancer);
}

/* failonstatus= and failontimeout= judge each answer: kbald must see them
 * all (the kernel frames none, the packet path joins none) */
static int sees_every_answer(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_conf_balancer *b = &d->conf->balancers[c->balancer];

	return b->nfailonstatus || (b->flags & KBAL_BF_FAIL_TIMEOUT);
}

/* Rules that look at nothing but the client's and the local address
 * (Require ip, local, all; Order/Allow/Deny): no user, no host name */
static int authz_by_address(const struct kbal_authz *a)
{
	if (kbal_authz_needs_host(a))
		return 0;   /* Require host, Allow/Deny from a name */
	for (unsigned i = 0; i < a->nnode; i++)
		if (a->node[i].kind == AZ_VALID_USER || a->node[i].kind == AZ_USER ||
		    a->node[i].kind == AZ_GROUP)
			return 0;
	return 1;
}

/*
 * <Location> access rules on proxied paths (d->decide.access): kbald
 * checks every request it sees (exchange.c). The kernel keeps a request
 * only where no rule can refuse it: where every section with rules on a
 * proxied path, of any virtual host, lets this client in by its address
 * alone, each of its requests is let in. A client one of them refuses,
 * and rules that need a user (Basic) or a host name, make kbald decide
 * every request of the connection.
 */
static int access_lets_all(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_conf *conf = d->conf;
	struct kbal_authz_client cl = { 0 };
	struct sockaddr_in6 local;

	if (!d->decide.access)
		return 1;
	kbal_in6_local(c->fd[CLIENT], &local);
	if (kbal_in6_is_any(&local.sin6_addr))
		return 0;
	memcpy(cl.addr, c->key.client_addr, 16);
	memcpy(cl.local, &local.sin6_addr, 16);
	for (uint32_t m = d->decide.access; m; m &= m - 1) {
		const struct kbal_authz *a = &conf->location[__builtin_ctz(m)].authz;

		if (!authz_by_address(a) || kbal_authz_check(a, &cl) != KBAL_AUTHZ_GRANTED)
			return 0;
	}
	return 1;
}

/* KbalSplice packet, asked for by name, on a connection whose later
 * requests the configuration decides all alike (kbal_conf_packet_alike()):
 * the packet path joins it, deciding none (its answers are not judged
 * either). Any other keep-alive connection is framed so that each request
 * is decided: by the packet program (decide_by_packet()), which the
 * default (KbalSplice unset) uses for all of them, or on sockmap. */
static int packet_by_name(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const char *why;

	if (d->maps.balancers[c->balancer].splice != KBAL_SPLICE_PACKET ||
	    !d->conf->balancers[c->balancer].splice_set || c->pf)
		return 0;   /* (a flow given back keeps its SHIFT entries: c->pf) */
	if (kbal_conf_packet_alike(d->conf, c->balancer, c->f->vhost, &why))
		return 1;
	/* several members, no sticky session: alike while one member is the
	 * balancer's only pick (decide_sole(): a member's status change moves
	 * the balancer's gen), where the program can give a joined flow back
	 * at its next request once that changes (kbald keeps the client-side
	 * socket where it has no KbalHost id: the program gives back
	 * without one only; kbal_pkt_keeps_client(), handover_packet.c) */
	if (!kbal_pkt_keeps_client(d) || d->maps.balancers[c->balancer].sticky[0] ||
	    !kbal_conf_packet_alike_several(d->conf, c->balancer, c->f->vhost, &why))
		return 0;
	for (unsigned i = 0; i < d->maps.balancers[c->balancer].nmembers; i++)
		if (decide_sole(d, d->maps.balancers[c->balancer].first_member + i))
			return 1;
	return 0;
}

/* The request's User-Agent, as the stream parser will compare the next
 * ones (KBAL_SKF_UA): its value's hash, or none; -1 with two or with one
 * longer than the parser hashes */
static int arm_user_agent(const struct kbal_first *f, struct kbal_sk_http *st)
{
	const struct kbal_http_msg *rq = &f->msg[UP];
	const struct kbal_http_header *ua = NULL;
	const char *v;
	size_t n;

	for (unsigned i = 0; i < rq->nheaders; i++) {
		const struct kbal_http_header *h = &rq->headers[i];

		if (h->name.len == 10 && !strncasecmp(f->buf[UP] + h->name.off, "User-Agent", 10)) {
			if (ua)
				return -1;
			ua = h;
		}
	}
	st->flags |= KBAL_SKF_UA;
	st->ua_none = !ua;
	st->ua_hash = KBAL_FNV_BASIS;
	if (!ua)
		return 0;
	v = f->buf[UP] + ua->value.off;
	n = ua->value.len;
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n > KBAL_UA_MAX)
		return -1;
	for (size_t k = 0; k < n; k++)
		st->ua_hash = (st->ua_hash ^ (uint8_t)v[k]) * KBAL_FNV_PRIME;
	return 0;
}

void decide_plan(struct kbal_daemon *d, struct kbal_conn *c, int last_balancer)
{
	const struct kbal_http_msg *msg = &c->f->msg[UP];

	if (c->once || msg->upgrade)
		return;
	if (msg->http_minor == 0) {
		/* an HTTP/1.0 keep-alive client: the stream parser frames
		 * HTTP/1.1 only (it hands anything else back), so kbald decides
		 * each request, on a kept member connection (exch_on_kept()) */
		c->agent = 1;
		c->why = KBAL_WHY_HTTP10;
		return;
	}
	if (sees_every_answer(d, c)) {
		c->agent = 1;
		c->why = KBAL_WHY_REWRITE;
		return;
	}
	if (packet_by_name(d, c))
		return;
	if (d->maps.balancers[c->balancer].splice == KBAL_SPLICE_OFF) {
		c->agent = 1;   /* kbald copies: each request its own, bodies too */
		return;
	}
	if (msg->chunked && !c->agent && c->bounded) {
		/* the handover is at this request, and the client's side cannot
		 * be armed behind a chunked body (its end is kbald's to find):
		 * kbald decides the requests after it, rather than the kernel
		 * passing them unframed to this member */
		decide_unbound(d, c);
		c->agent = 1;
		c->why = KBAL_WHY_BUSY;
		return;
	}
	if (c->agent) {
		/* kbald decided the last request. If the kernel could have
		 * kept it (its answer took no cookie), one for the same
		 * balancer next is where a run of them starts (a member
		 * drained, a sticky route moved: all of them): the kernel
		 * takes the connection again, on this request's member. One for
		 * another balancer stays kbald's, and one after an answer with
		 * the route's cookie (a client that keeps no cookie gets one
		 * every time): each would have a member connection opened,
		 * spliced and handed back. */
		if (!c->rearm || c->balancer != last_balancer)
			return;
		c->agent = 0;
		c->bounded = 0;
	} else if (c->bounded & (BOUND_UP | BOUND_DOWN)) {
		return;
	} else if (c->bounded) {
		/* planned at the connection's first request (served on a kept
		 * member connection): the handover is at this one, which is
		 * planned again on its own, its rule, its pipelined requests
		 * (the plan of a "/" request went on for an "/api/x" after it
		 * on "ProxyPass /api balancer://api", and the kernel kept the
		 * "/api/y" after that as it came: the member got /api/y) */
		c->bounded = 0;
	}
	if (decide_route_cookie_owed(d, c)) {
		/* its answer takes the route's cookie (Header ... env=
		 * BALANCER_ROUTE_CHANGED: a sticky balancer, a request with no
		 * route), and so would the next request's, without it: the
		 * kernel would hand that back, after a handover paid for
		 * nothing (every connection of a client that keeps no cookie:
		 * an API client, a probe, wrk). One that keeps it sends it
		 * with the next request, which is planned as a first one
		 * (c->rearm: exch_next()). */
		c->agent = 1;
		c->why = KBAL_WHY_COOKIE;
		return;
	}
	if (msg->chunked) {
		/* the handover would be at this request (a connection's first,
		 * or the first of a run kbald gives back to the kernel), and
		 * the kernel cannot frame what follows a chunked body: kbald
		 * decides the requests after it (they went to this member
		 * unframed: decide_arm() refuses such a request's side) */
		c->agent = 1;
		c->why = KBAL_WHY_BUSY;
		return;
	}
	if (!msg->chunked && c->f->len[UP] > msg->head_len + (uint64_t)(msg->content_length > 0 ?
									 msg->content_length : 0)) {
		/* the next requests came with this one (pipelined): kbald has
		 * them already, and decides them, each on its own */
		c->agent = 1;
		c->why = KBAL_WHY_BUSY;
		return;
	}
	/* SetEnvIf on the User-Agent: two of them or a long one, which the
	 * parser does not compare, or nokeepalive set but not applied (the
	 * request came through a proxy, Via: the next one may not), or another
	 * variable kbald honours set (env.h): kbald decides every request of
	 * the connection */
	if (d->decide.ua) {
		struct kbal_sk_http probe = {};

		if (arm_user_agent(c->f, &probe) || kbal_env_changes(&c->f->env)) {
			c->agent = 1;
			c->why = KBAL_WHY_REWRITE;
			return;
		}
	}
	if (kernel_forwards_as_is(d, c) && access_lets_all(d, c)) {
		c->bounded = BOUND_PLANNED;
	} else {
		c->agent = 1;
		c->why = KBAL_WHY_REWRITE;
	}
}

/*
 * Apache's ap_proxy_balancer_get_best_worker() (lb.c) over the statuses
 * the kernel sees unchanged while the balancer's gen is: a member in error
 * may be retried at any time, so it counts as usable. member is the only
 * pick when it is a member of its own (no spare, no standby), every member
 * of a lower lbset is disabled, stopped or draining (a spare or a standby
 * there would be picked first), no other member of its set may be usable,
 * and no spare of its set may stand in for another member there that is
 * not (with only member as a member of its set, none would).
 */
int decide_sole(const struct kbal_daemon *d, int member)
{
	/* their changes move the balancer's gen (a failed health check's too) */
	const unsigned out = KBAL_ST_DISABLED | KBAL_ST_STOPPED | KBAL_ST_DRAIN | KBAL_ST_HC_FAIL;
	const struct kbal_member *ms = d->maps.members, *me = &ms[member];
	const struct kbal_balancer *b = &d->maps.balancers[me->balancer];
	unsigned others = 0, spares = 0;

	if (me->status & (out | KBAL_ST_SPARE | KBAL_ST_HOT_STANDBY))
		return 0;
	for (unsigned i = 0; i < b->nmembers; i++) {
		const struct kbal_member *o = &ms[b->first_member + i];

		if (o == me || o->lbset > me->lbset)
			continue;
		if (o->lbset < me->lbset) {
			if (!(o->status & out))
				return 0;
		} else if (o->status & KBAL_ST_SPARE) {
			spares += !(o->status & out);
		} else if (!(o->status & KBAL_ST_HOT_STANDBY)) {
			if (!(o->status & out))
				return 0;
			others++;
		}
	}
	return !(spares && others);
}

int decide_keepable(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_member *m;

	if (c->member < 0 || !c->f)
		return 0;
	m = &d->maps.members[c->member];
	if (c->f->route[0] && m->route[0])
		return !strncmp(c->f->route, m->route, sizeof(m->route));
	return decide_sole(d, c->member);
}

/* what the member's framing starts from: the response kbald is writing */
static int arm_member(const struct kbal_daemon *d, const struct kbal_conn *c,
		      struct kbal_sk_http *st)
{
	uint64_t end;

	if (exch_response_end(c, &end))
		return -EPROTO;   /* no end kbald knows of: it follows such a one */
	if (c->rd[MEMBER] > end)
		return -EPROTO;   /* bytes past the response */
	st->left = end - c->rd[MEMBER];
	st->expect = st->left ? KBAL_SKX_BODY : KBAL_SKX_HEAD;
	st->owed = st->left ? 1 : 0;
	st->active_ns = d->loop.now;
	return 0;
}

/* what the client's framing starts from: the end of the request kbald wrote */
static int arm_client(struct kbal_daemon *d, const struct kbal_conn *c, struct kbal_sk_http *st)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];
	uint64_t end = f->msg_total[UP];

	if (rq->chunked || c->rd[CLIENT] > end)
		return -EPROTO;   /* bytes past the request went on with it */
	st->client = 1;
	st->member = c->member;
	st->pass = f->pass;
	st->bgen = d->maps.balancers[c->balancer].gen;
	if (decide_sole(d, c->member))
		st->flags |= KBAL_SKF_SOLE;
	if (d->decide.route_cookie && d->maps.members[c->member].route[0] &&
	    d->maps.balancers[c->balancer].sticky[0])
		st->flags |= KBAL_SKF_ROUTE_COOKIE;
	/* the connection's requests so far, this one's included: the kernel
	 * counts on from there (MaxKeepAliveRequests) */
	st->reqs = c->nreq;
	st->host_len = strlen(f->host);
	if (st->host_len > KBAL_HOST_LEN)
		return -ENAMETOOLONG;
	memcpy(st->host, f->host, st->host_len);
	st->rules = f->vhost + 1;   /* the Host stays: so does its virtual host */
	if (d->decide.ua && arm_user_agent(f, st))
		return -EPROTO;     /* decide_plan() planned none such */
	st->left = end - c->rd[CLIENT];
	st->expect = st->left ? KBAL_SKX_BODY : KBAL_SKX_HEAD;
	/* a body still to come keeps its clock (RequestReadTimeout) */
	st->active_ns = d->loop.now;
	if (st->left) {
		st->stage = KBAL_SKS_BODY;
		st->stage_ns = f->body_start ? f->body_start : d->loop.now;
		st->stage_bytes = c->rd[CLIENT] - f->exch_rd - rq->head_len;
	}
	return 0;
}

int decide_pkt_record(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_sk_http *st)
{
	memset(st, 0, sizeof(*st));
	/* the program judges the answers' heads too: ProxyPassReverse's */
	if (d->rev[c->balancer].n)
		st->flags |= KBAL_SKF_REVERSE;
	return arm_client(d, c, st);
}

int decide_by_packet(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	/* the packet path (packet_by_name()); kbald keeps the client-side
	 * socket (the program gives back only then); the request armable as
	 * the sockmap path's client side would be */
	return d->maps.balancers[c->balancer].splice == KBAL_SPLICE_PACKET && !c->pf &&
	       kbal_pkt_keeps_client(d) && decide_client_armable(c);
}

int decide_client_armable(const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;

	return f && !f->msg[UP].chunked && c->rd[CLIENT] <= f->msg_total[UP] &&
	       strlen(f->host) <= KBAL_HOST_LEN;
}

int decide_arm(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	struct kbal_sk_http st = {};
	int side = dir_src(dir), err;

	for (int s = 0; s < 2; s++)
		if (!c->cookie[s])
			c->cookie[s] = kbal_sock_cookie(c->fd[s]);
	st.peer = c->cookie[!side];
	st.rd_base = c->rd[side];
	if (dir == UP) {
		err = arm_client(d, c, &st);
	} else {
		err = arm_member(d, c, &st);
		if (d->rev[c->balancer].n)
			st.flags |= KBAL_SKF_REVERSE;
	}
	if (!err && bpf_map_update_elem(d->maps.http_fd, &c->cookie[side], &st, BPF_ANY))
		err = -errno;
	if (err) {
		log_debug("conn %p: %s framed by kbald: %s", (void *)c, dir == UP ? "up" : "down",
			  strerror(-err));
		return err;
	}
	c->bounded |= dir == UP ? BOUND_UP : BOUND_DOWN;
	return 0;
}

void decide_forget(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->bounded & BOUND_UP)
		bpf_map_delete_elem(d->maps.http_fd, &c->cookie[CLIENT]);
	if (c->bounded & BOUND_DOWN)
		bpf_map_delete_elem(d->maps.http_fd, &c->cookie[MEMBER]);
	c->bounded &= BOUND_PLANNED;
}

int sk_state(const struct kbal_daemon *d, uint64_t cookie, struct kbal_sk_http *st)
{
	return bpf_map_lookup_elem(d->maps.http_fd, &cookie, st) ? -errno : 0;
}

void decide_unbound(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_sk_http k;

	/* something handed back already is taken back all the same */
	if ((c->bounded & BOUND_UP) && !sk_state(d, c->cookie[CLIENT], &k) &&
	    k.mode == KBAL_SKM_AGENT)
		return;
	log_debug("conn %p: its later requests unframed (follow its member)", (void *)c);
	decide_forget(d, c);
	c->bounded = 0;
}

/* both sides framed by the kernel, their stream parsers' states in k, m
 * (1), or not (0) */
static int framed_states(struct kbal_daemon *d, const struct kbal_conn *c,
			 struct kbal_sk_http *k, struct kbal_sk_http *m)
{
	return !c->agent && (c->bounded & (BOUND_UP | BOUND_DOWN)) == (BOUND_UP | BOUND_DOWN) &&
	       c->phase[UP] == P_SPLICED && c->phase[DOWN] == P_SPLICED && !c->held &&
	       !sk_state(d, c->cookie[CLIENT], k) && !sk_state(d, c->cookie[MEMBER], m) &&
	       m->mode == KBAL_SKM_KERNEL;
}

int decide_member_idle(struct kbal_daemon *d, const struct kbal_conn *c)
{
	struct kbal_sk_http k, m;

	/* the client's side at a request's first byte, every request kept
	 * answered; its side may have been handed back there already (the
	 * stream parser saw the member's socket closed: KBAL_SKB_GONE), the
	 * request then kbald's, not the member's */
	return framed_states(d, c, &k, &m) && k.expect == KBAL_SKX_HEAD &&
	       m.expect == KBAL_SKX_HEAD && m.msgs == k.msgs + m.owed;
}

int decide_member_unanswered(struct kbal_daemon *d, const struct kbal_conn *c)
{
	struct kbal_sk_http k, m;

	return framed_states(d, c, &k, &m) && m.expect == KBAL_SKX_HEAD &&
	       m.msgs != k.msgs + m.owed;
}

void decide_member_forget(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (!c->cookie[MEMBER])
		return;
	bpf_map_delete_elem(d->maps.dst_fd, &c->cookie[MEMBER]);
	if (c->bounded & BOUND_DOWN)
		bpf_map_delete_elem(d->maps.http_fd, &c->cookie[MEMBER]);
	c->bounded &= ~BOUND_DOWN;
	c->cookie[MEMBER] = 0;
}

void decide_member_done(struct kbal_daemon *d, struct kbal_conn *c)
{
	conn_account(d, c);
	decide_member_forget(d, c);
	close(c->fd[MEMBER]);   /* and out of the sockhashes */
	c->fd[MEMBER] = -1;
	c->connected = 0;
	c->member = -1;
}
