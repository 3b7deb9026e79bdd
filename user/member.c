// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * member.c - a connection's member: picked by the balancer's lbmethod (or
 * its sticky route), connected (or a connection kept from an earlier
 * one-request client taken instead), failed over, released to the pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "conn.h"
#include "daemon.h"
#include "exchange.h"
#include "flows.h"
#include "handover.h"
#include "heads.h"
#include "inaddr.h"
#include "log.h"
#include "member.h"

/* ProxySourceAddress binds the connections to members of its family
 * (family: the socket's) */
int member_socket_source(const struct kbal_conf *conf, int fd, int family)
{
	union kbal_sa src;
	socklen_t len = kbal_sa_make(&src, &conf->proxy_source, 0);
	int v = (int)conf->proxy_rcvbuf;

	if (v)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (!kbal_in6_is_any(&conf->proxy_source) && src.sa.sa_family == family &&
	    bind(fd, &src.sa, len))
		return -errno;
	return 0;
}

static int member_connect(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_member *m = &d->maps.members[c->member];
	const char *cc = d->conf->balancers[c->balancer].member_cc;
	union kbal_sa sa;
	socklen_t salen = kbal_sa_make(&sa, m->addr, htons(m->port));
	int fd, one = 1, err;

	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = member_socket_source(d->conf, fd, sa.sa.sa_family);
	if (err) {
		close(fd);
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* keepalive=On: Apache's APR_SO_KEEPALIVE, the system's probe times */
	if (m->flags & KBAL_MF_KEEPALIVE)
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	/* checked when the configuration was read: a failure here leaves the
	 * system's default, which is no reason to refuse the request */
	if (cc[0])
		setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc));
	handover_before_connect(d, c, fd);
	if (connect(fd, &sa.sa, salen) && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	c->fd[MEMBER] = fd;
	c->connected = 0;
	/* connectiontimeout=, else its timeout=, else ProxyTimeout / Timeout
	 * of the request's virtual host (ap_proxy_connect_backend() is
	 * given r->server) */
	c->f->deadline = d->loop.now + (m->connect_timeout_ms ?
					(uint64_t)m->connect_timeout_ms * 1000000ull :
					conn_timeout_ns(d, c));
	err = conn_watch(d, c, MEMBER, 0);
	if (err) {
		close(fd);
		c->fd[MEMBER] = -1;
	}
	c->empty[MEMBER] = !err;   /* as a kept one's (member_reuse()) */
	return err;
}

/*
 * A request that may go twice (RFC 9110 9.2.2): a kept connection that the
 * member closed just as the request went out has it sent again on a new one
 * (member_retry); any other takes a new connection, which is kept after.
 */
static int request_idempotent(const struct kbal_conn *c)
{
	static const char *const methods[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };
	const struct kbal_span *mt = &c->f->msg[UP].method;

	for (unsigned i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (mt->len == strlen(methods[i]) &&
		    !memcmp(c->f->buf[UP] + mt->off, methods[i], mt->len))
			return 1;
	return 0;
}

/* A kept connection to the picked member, connected at once; -ENOENT if none. */
static int member_reuse(struct kbal_daemon *d, struct kbal_conn *c)
{
	/* lent: its loop entry stays the pool's, its events come here */
	struct kbal_pooled *pc = kbal_pool_lend(&d->pool, c->member, c);

	if (!pc)
		return -ENOENT;
	c->f->kept = pc;
	c->f->reused_sent = pc->sent;
	c->f->reused_recvd = pc->recvd;
	c->member_rcvd0 = pc->sock_recvd;
	c->fd[MEMBER] = pc->fd;
	c->reused = 1;
	c->member_lport = pc->lport;
	/* nothing to read before the answer: what came while it was idle
	 * had the pool drop it (kbal_pool_event()), and a byte or an end
	 * from now on makes an edge, which comes here. So no read is tried
	 * before then: the one right after the request found nothing (0.7
	 * of a syscall a request on ka-small, of 5.7) */
	c->empty[MEMBER] = 1;
	member_connected(d, c);
	return 0;
}

/* The response has ended, all of it written: keep the member's connection. */
void member_release(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m = &d->maps.members[c->member];

	if (m->busy)
		m->busy--;
	m->bytes_to += c->wr[MEMBER];
	m->bytes_from += c->rd[MEMBER];
	c->connected = 0;
	if (c->f->kept) {
		c->f->kept->sent += c->wr[MEMBER];
		c->f->kept->recvd += c->rd[MEMBER];
		/* lent, it was copied: kbald read all it received */
		c->f->kept->sock_recvd += c->rd[MEMBER];
	}
	if (c->f->kept ? kbal_pool_give_back(&d->pool, c->f->kept, d->loop.now) :
	    kbal_pool_put(&d->pool, c->member, c->fd[MEMBER], c->member_lport, d->loop.now,
			  c->wr[MEMBER], c->rd[MEMBER]))
		close(c->fd[MEMBER]);
	c->f->kept = NULL;
	c->fd[MEMBER] = -1;
}

void member_unkeep(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (!c->f || !c->f->kept)
		return;
	kbal_pool_forget(&d->pool, c->f->kept);
	c->f->kept = NULL;
	if (c->fd[MEMBER] >= 0 && conn_watch(d, c, MEMBER, 1))
		log_warn("conn %p: the member connection into the loop: %s", (void *)c,
			 strerror(errno));
}

void member_own_kept(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m;

	if (!c->reused)
		return;
	if (c->member >= 0) {
		m = &d->maps.members[c->member];
		m->bytes_to -= c->f->reused_sent;
		m->bytes_from -= c->f->reused_recvd;
	}
	c->reused = 0;
}

/* A failure counted; a member that enters the error state changes what its
 * balancer decides: the kernel keeps no request decided before (decide.h) */
static void member_fail(struct kbal_daemon *d, struct kbal_member *m)
{
	unsigned before = m->status;

	kbal_lb_failed(m, d->loop.now);
	if (m->status != before)
		d->maps.balancers[m->balancer].gen++;
}

/* kbald is out of descriptors (or socket memory): its own limit, not the
 * member's fault, and no reason to refuse the client */
static int out_of_fds(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

/*
 * No descriptor for the member's connection (the budget reserved one at
 * the accept, so something else took it): the connection waits, with its
 * request, for flows to end (run_fd_waiters), within its Timeout.
 */
static void member_wait_fd(struct kbal_daemon *d, struct kbal_conn *c, int err)
{
	if (!d->acc.nfd_wait)
		log_warn("connect to %s: %s: waiting for a descriptor (%llu connections)",
			 d->maps.members[c->member].url, strerror(-err),
			 (unsigned long long)d->nconns);
	c->f->fd_wait = 1;
	d->acc.nfd_wait++;
	exch_pipes_release();   /* the pipes kept idle give theirs first */
}

/*
 * A kept connection ended before a byte of the response: the member closed
 * it (its keep-alive timeout) as the request went out. The request is
 * idempotent and bodiless (it took a kept connection): send it again on a
 * new connection to the same member, as Apache does.
 */
int member_retry(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m = &d->maps.members[c->member];
	int err;

	log_debug("conn %p: kept connection to %s closed under the request: again on a new one",
		  (void *)c, m->url);
	if (c->f->kept) {
		kbal_pool_forget(&d->pool, c->f->kept);
		c->f->kept = NULL;
	}
	close(c->fd[MEMBER]);
	c->fd[MEMBER] = -1;
	if (m->busy)
		m->busy--;
	c->connected = 0;
	c->reused = 0;
	c->member_lport = 0;
	c->fin[MEMBER] = 0;
	c->empty[MEMBER] = 0;
	c->rdhup &= ~(1u << MEMBER);
	c->wr[MEMBER] = c->rd[MEMBER] = c->member_rcvd0 = 0;
	c->f->out_sent[UP] = 0;       /* the rewritten head, whole in out[UP] */
	c->phase[UP] = P_FLUSH;
	err = member_connect(d, c);
	if (out_of_fds(err)) {
		member_wait_fd(d, c, err);
		return 0;
	}
	if (err) {
		log_warn("connect to %s: %s", m->url, strerror(-err));
		exch_error(d, c, 503);
	}
	return err;
}

/* The picked member's connection: a kept one, or a new connect. */
static int member_open(struct kbal_daemon *d, struct kbal_conn *c)
{
	int err = c->pool && request_idempotent(c) ? member_reuse(d, c) : -ENOENT;

	if (err)
		err = member_connect(d, c);
	/* kept member connections are the first descriptors to give back */
	if ((err == -EMFILE || err == -ENFILE) && kbal_pool_release(&d->pool))
		err = member_connect(d, c);
	return err;
}

/* A member (c->member) failed the request: Apache's maxattempts failovers
 * at most, then 503. One that ignores errors (+I) stays usable, and
 * proxy_handler() tries another only for a member that is not: its 503 at
 * once. 1: the answer is given. */
static int out_of_attempts(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	uint32_t max = __atomic_load_n(&b->max_attempts, __ATOMIC_ACQUIRE);

	if (c->member >= 0 && (d->maps.members[c->member].status & KBAL_ST_IGNORE_ERR)) {
		log_info("%s%s: member %s failed the request and ignores errors "
			 "(status I): 503, as Apache", kbal_bal_scheme(b->flags), b->name, d->maps.members[c->member].url);
		exch_error(d, c, 503);
		return 1;
	}

	if (++c->f->failovers <= max)
		return 0;
	log_info("%s%s: %u member(s) failed the request, maxattempts %u: 503",
		 kbal_bal_scheme(b->flags), b->name,
		 c->f->failovers, max);
	exch_error(d, c, 503);
	return 1;
}

uint64_t member_timeout_ns(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	uint32_t ms = c->member >= 0 ? d->maps.members[c->member].timeout_ms : 0;

	return ms ? (uint64_t)ms * 1000000ull : conn_timeout_ns(d, c);
}

/* How long the member may keep its answer's head waiting: its ping= while
 * a head with Expect: 100-continue waits for it (mod_proxy_http sets its
 * socket's timeout to the ping_timeout until the first answer), else its
 * timeout (member_timeout_ns()) */
uint64_t member_answer_ns(const struct kbal_daemon *d, const struct kbal_conn *c)
{
	uint32_t ping = c->member >= 0 ? d->maps.members[c->member].ping_ms : 0;

	return c->f->do100 == 1 && ping ? (uint64_t)ping * 1000000ull : member_timeout_ns(d, c);
}

/*
 * No answer to a head sent with Expect: 100-continue within
 * member_answer_ns(): mod_proxy_http's "Timeout on 100-Continue", a 503,
 * on which mod_proxy's proxy_handler() puts the member in error (unless
 * it ignores errors) and, for a balancer, tries another member within
 * maxattempts, with the body it held (kbald's buf[UP]: nothing of it went
 * out). The answer after the last: httpd's ap_proxyerror() page.
 */
void member_continue_timeout(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m = &d->maps.members[c->member];
	const struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	int usable = m->status & KBAL_ST_IGNORE_ERR;

	log_warn("member %s (route %s): no answer to Expect: 100-continue within %llu ms "
		 "(Timeout on 100-Continue)%s", m->url, m->route,
		 (unsigned long long)(member_answer_ns(d, c) / 1000000ull),
		 usable ? ": it ignores errors, 503" : ": error state");
	if (!usable)
		member_fail(d, m);
	exch_drop_member(d, c);
	c->f->deadline = ~0ull;
	/* a 503 after it, the next member's or none's, says so (httpd's
	 * r->status_line stays "503 Proxy Error") */
	c->f->proxy_status = 503;
	c->f->proxy_why = "Timeout on 100-Continue";
	if (usable || ++c->f->failovers > __atomic_load_n(&b->max_attempts, __ATOMIC_ACQUIRE)) {
		exch_error(d, c, 503);
		return;
	}
	/* the head again (built for the next member), then the body */
	c->f->out_sent[UP] = 0;
	member_pick_connect(d, c);
}

/*
 * No usable member: with the balancer's timeout=, Apache's
 * find_best_worker() looks again every timeout/100 until it has waited
 * timeout (kbald: each time its loop wakes, at least every 100 ms, until
 * the deadline); without, or when it is over, 503. 1: waiting.
 */
static int member_wait(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	uint32_t ms = __atomic_load_n(&b->timeout_ms, __ATOMIC_ACQUIRE);

	if (c->f->member_wait || !ms)
		return 0;
	log_debug("no usable member in %s%s: waiting up to %u ms", kbal_bal_scheme(b->flags),
		  b->name, ms);
	c->f->member_wait = 1;
	c->f->deadline = d->loop.now + (uint64_t)ms * 1000000ull;
	return 1;
}

/* Pick (again) and connect; on no member left, 503 (or a wait, above). */
void member_pick_connect(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	int changed = 0;

	for (;;) {
		int idx = c->f->member_wait ?
			  kbal_lb_pick_best(b, d->maps.members, c->f->route, &c->f->tried,
					    d->loop.now, &changed) :
			  kbal_lb_pick(b, d->maps.members, c->f->route, &c->f->tried,
				       d->loop.now, &changed);
		if (idx == -1 && (c->f->member_wait || member_wait(d, c)))
			return;   /* member_wait_tick() looks again */
		if (idx < 0) {
			log_debug("no usable member in %s%s: 503", kbal_bal_scheme(b->flags),
				  b->name);
			exch_error(d, c, 503);
			return;
		}
		c->f->member_wait = 0;
		kbal_lb_mark(&c->f->tried, idx);
		c->member = idx;
		c->changed = !!changed;
		if (c->pool && !c->agent && !kbal_pool_enabled(&d->pool, idx)) {
			/* disablereuse=On: a connection of its own, the
			 * client's Connection: close goes, the paths decide.
			 * (A connection kbald decides request by request
			 * keeps its one exchange: the member's connection,
			 * one of its own, is closed at its end, as Apache's
			 * is, and the next request is decided again.) */
			c->pool = 0;
			handover_plan(d, c);
		}
		/* built now, while the head is in the buffer: the pending out
		 * keeps the buffer from being reused until it is sent */
		if (heads_request(d, c)) {
			exch_error(d, c, 431);
			return;
		}
		int err = member_open(d, c);
		if (!err)
			return;
		if (out_of_fds(err)) {
			member_wait_fd(d, c, err);
			return;
		}
		log_warn("connect to %s: %s", d->maps.members[idx].url, strerror(-err));
		if (err == -EADDRNOTAVAIL) {
			/* no local port left towards it: kbald's limit too */
			exch_error(d, c, 503);
			return;
		}
		member_fail(d, &d->maps.members[idx]);
		if (out_of_attempts(d, c))
			return;
	}
}

void member_wait_tick(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (d->loop.now >= c->f->deadline) {
		log_info("%s%s: no usable member within its timeout=: 503",
			 kbal_bal_scheme(d->maps.balancers[c->balancer].flags),
			 d->maps.balancers[c->balancer].name);
		c->f->member_wait = 0;
		c->f->deadline = ~0ull;
		exch_error(d, c, 503);
		conn_progress(d, c);
		return;
	}
	member_pick_connect(d, c);
	if (!c->f->member_wait)
		conn_progress(d, c);
}

/*
 * proxy_balancer_post_request(): an answer whose status the balancer's
 * failonstatus= lists, or (failontimeout=On) one that did not come within
 * the member's timeout, puts the member in error, unless it ignores
 * errors. The answer itself goes to the client as it is.
 */
void member_answered(struct kbal_daemon *d, struct kbal_conn *c, unsigned status, int timedout)
{
	const struct kbal_conf_balancer *cb;
	struct kbal_member *m;
	int fail = 0;

	if (c->member < 0 || c->balancer < 0 || (unsigned)c->balancer >= d->conf->nbalancers)
		return;
	cb = &d->conf->balancers[c->balancer];
	m = &d->maps.members[c->member];
	if (m->status & KBAL_ST_IGNORE_ERR)
		return;
	for (unsigned i = 0; i < cb->nfailonstatus && !fail; i++)
		fail = cb->failonstatus[i] == status;
	if (timedout && (d->maps.balancers[c->balancer].flags & KBAL_BF_FAIL_TIMEOUT))
		fail = 1;
	if (!fail)
		return;
	log_warn("member %s (route %s): %s: error state for %u s", m->url, m->route,
		 timedout ? "no answer within its timeout (failontimeout)" :
		 "an answer failonstatus lists", m->retry_sec);
	member_fail(d, m);
}

/* Connections waiting for a descriptor: connect those that can now. */
void member_run_fd_waiters(struct kbal_daemon *d)
{
	struct kbal_list *n, *next;

	for (n = d->first.next; n != &d->first && d->acc.nfd_wait; n = next) {
		struct kbal_conn *c = conn_of(n);
		int err;

		next = n->next;
		if (!c->f->fd_wait)
			continue;
		err = member_open(d, c);
		if (out_of_fds(err))
			return;
		c->f->fd_wait = 0;
		d->acc.nfd_wait--;
		if (err) {
			log_warn("connect to %s: %s", d->maps.members[c->member].url, strerror(-err));
			if (err != -EADDRNOTAVAIL)
				member_fail(d, &d->maps.members[c->member]);
			if (err == -EADDRNOTAVAIL || !out_of_attempts(d, c))
				member_pick_connect(d, c);
		}
		conn_progress(d, c);
	}
}

/* The connect to fd[MEMBER] failed (refused, reset, or timed out). */
void member_failed(struct kbal_daemon *d, struct kbal_conn *c, const char *why)
{
	struct kbal_member *m = &d->maps.members[c->member];

	log_warn("member %s (route %s) %s: error state for %u s", m->url, m->route, why,
		 m->retry_sec);
	member_fail(d, m);
	kbal_loop_del(&d->loop, c->fd[MEMBER]);
	close(c->fd[MEMBER]);
	c->fd[MEMBER] = -1;
	if (!out_of_attempts(d, c))
		member_pick_connect(d, c);
}

void member_connected(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m = &d->maps.members[c->member];

	c->connected = 1;
	m->busy++;
	/* Apache clears the error state on the first success after retry */
	if (m->status & KBAL_ST_ERROR) {
		m->status &= ~KBAL_ST_ERROR;
		d->maps.balancers[m->balancer].gen++;   /* decide.h */
	}
	union kbal_sa local = { 0 };
	const struct sockaddr_in *known_local = NULL;

	if (!c->member_lport) {
		socklen_t sl = sizeof(local);

		if (!getsockname(c->fd[MEMBER], &local.sa, &sl)) {
			c->member_lport = ntohs(local.in.sin_port);  /* same place in sin6 */
			/* the packet path's 4-tuples are IPv4's (handover_packet.c) */
			if (local.sa.sa_family == AF_INET)
				known_local = &local.in;
		}
	}
	c->f->deadline = d->loop.now + member_answer_ns(d, c);
	kbal_flows_update(d, c, KBAL_FLOW_FIRST);
	handover_prepare(d, c, known_local);
}

/* mod_proxy_http's ap_proxy_worker_can_upgrade(): the member's upgrade=
 * ("*", the protocol itself, or a list naming it) lets a request's Upgrade
 * (proto, len bytes) through. A member added at run time has none. */
int member_upgrades(const struct kbal_daemon *d, int member, const char *proto, size_t len)
{
	const struct kbal_member *m = &d->maps.members[member];
	const struct kbal_conf_balancer *cb = &d->conf->balancers[m->balancer];
	unsigned k = member - d->maps.balancers[m->balancer].first_member;
	const char *w, *t;

	if (k >= cb->nmembers || !cb->members[k].upgrade[0])
		return 0;
	w = cb->members[k].upgrade;
	if (!strcmp(w, "*"))
		return 1;
	for (t = w; *t;) {
		size_t n = strcspn(t, ", \t");

		if (n == len && !strncasecmp(t, proto, len))
			return 1;
		t += n;
		t += strspn(t, ", \t");
	}
	return 0;
}
