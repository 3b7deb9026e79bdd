// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * handover.c - the one place that decides which data path takes a
 * connection after its first exchange (see handover.h).
 */
#include <string.h>
#include "conn-t.h"
#include "decide.h"
#include "daemon.h"
#include "exchange.h"
#include "handover.h"
#include "inaddr.h"
#include "log.h"
#include "logs.h"
#include "member.h"

/* a first request body or response longer than this is not followed to
 * its end by kbald: such a flow takes sockmap, not the packet path */
#define PKT_FIRST_MAX (1u << 20)

const struct kbal_handover_ops *const kbal_handovers[] = {
	&kbal_handover_packet,
	&kbal_handover_sockmap,
	&kbal_handover_copy,
};
const unsigned kbal_nhandovers = sizeof(kbal_handovers) / sizeof(kbal_handovers[0]);

static int packet_asked(const struct kbal_conf *conf)
{
	for (unsigned b = 0; b < conf->nbalancers; b++)
		if (conf->balancers[b].splice == KBAL_SPLICE_PACKET && conf->balancers[b].splice_set)
			return 1;
	return 0;
}

int handover_init(struct kbal_daemon *d, struct kbal_takeover *t)
{
	for_each_handover(ops) {
		int err = (*ops)->init ? (*ops)->init(d, t) : 0;

		if (!err)
			continue;
		if (*ops != &kbal_handover_packet || packet_asked(d->conf))
			return err;
		/* the default, not a request: sockmap does the job */
		log_warn("packet splice unavailable (%s): splicing with sockmap "
			 "(KbalSplice sockmap says so without this warning)", strerror(-err));
		for (unsigned b = 0; b < d->conf->nbalancers; b++)
			if (d->maps.balancers[b].splice == KBAL_SPLICE_PACKET)
				d->maps.balancers[b].splice = KBAL_SPLICE_SOCKMAP;
	}
	return 0;
}

void handover_fini(struct kbal_daemon *d)
{
	for_each_handover(ops)
		if ((*ops)->fini)
			(*ops)->fini(d);
}

/*
 * What a handover costs (a few syscalls per direction for sockmap, some
 * twenty and a member connection of its own for the packet path) pays off
 * over the requests that follow it; a connection of one or two requests
 * never earns it back, while kbald serving a request on a kept member
 * connection costs a read and a write each way. So kbald serves the first
 * request of a keep-alive connection itself, and hands the connection
 * over at its second keep-alive request (a "Connection: close" one is
 * served too, and the connection ends): a second request is the first
 * sign of a long one. KbalSplice off: kbald serves them all.
 */
int handover_copies(struct kbal_daemon *d, struct kbal_conn *c)
{
	return d->maps.balancers[c->balancer].splice == KBAL_SPLICE_OFF || c->served == 0 ||
	       c->agent;
}

/*
 * The packet path takes a quiet keep-alive exchange: no upgrade, nothing
 * queued behind the request; a body of a known length up to PKT_FIRST_MAX
 * is copied by kbald to its end first, as a first response is. The other
 * paths take whatever comes; why says why a flow did not get the path its
 * balancer asks for.
 */
void handover_plan(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *msg = &f->msg[UP];
	uint32_t queued;

	c->splice_mode = d->maps.balancers[c->balancer].splice;
	/* a connection whose later requests the kernel frames is spliced
	 * with sockmap, unless the packet path's program can decide each of
	 * them itself (decide_by_packet()): it would join it blindly */
	c->pkt_decide = 0;
	if (c->bounded && !c->pool && c->splice_mode == KBAL_SPLICE_PACKET) {
		c->pkt_decide = decide_by_packet(d, c);
		if (!c->pkt_decide)
			c->splice_mode = KBAL_SPLICE_SOCKMAP;
	}
	if (c->pool) {
		/* kbald serves it on a kept member connection: no path yet; one
		 * kbald decides request by request keeps decide_plan()'s why */
		c->want_packet = 0;
		if (c->once)
			c->why = KBAL_WHY_ONCE;
		else if (!c->agent || c->why == KBAL_WHY_NONE)
			c->why = KBAL_WHY_COPYING;
		return;
	}
	if (c->splice_mode != KBAL_SPLICE_PACKET) {
		c->want_packet = 0;
		c->why = c->once ? KBAL_WHY_ONCE : KBAL_WHY_NONE;
		return;
	}
	/* packet.bpf.c rewrites IPv4 headers only: sockmap for the rest (a
	 * member, not picked yet, is looked at before its connect:
	 * handover_packet.c) */
	if (!kbal_in6_is_v4(c->key.client_addr)) {
		c->want_packet = 0;
		c->why = c->once ? KBAL_WHY_ONCE : KBAL_WHY_IPV6;
		return;
	}
	/* bytes beyond the head in the buffer (none once it was compacted,
	 * after a request on a kept connection went out) */
	queued = f->len[UP] > msg->head_len ? f->len[UP] - msg->head_len : 0;
	c->want_packet = msg->keep_alive && !msg->upgrade && !msg->chunked &&
			 msg->content_length <= PKT_FIRST_MAX && !msg->expect_continue &&
			 queued <= (uint64_t)(msg->content_length > 0 ? msg->content_length : 0);
	c->why = c->want_packet ? KBAL_WHY_NONE :
		 !msg->keep_alive && !msg->upgrade ? KBAL_WHY_ONCE :
		 msg->upgrade || msg->expect_continue ? KBAL_WHY_UPGRADE :
		 KBAL_WHY_BUSY;
}

/*
 * A keep-alive client's request on a kept member connection whose response
 * is too long to copy (more than SPLICE_MIN bytes past its head, or of no
 * known length): the member's connection becomes the client's, and the
 * connection takes a path after this exchange, as one of its own would.
 */
#define SPLICE_MIN 65536

int handover_keep_or_take(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *rs = &f->msg[DOWN];
	uint64_t rest;

	if (!c->pool || c->once || c->relay_back || c->agent)
		return 0;   /* kbald follows it: its connection goes on after it */
	rest = rs->content_length < 0 ? UINT64_MAX :
	       (uint64_t)rs->content_length - (f->len[DOWN] - rs->head_len);
	if (rs->done || (rs->content_length >= 0 && rest <= SPLICE_MIN))
		return 0;
	c->pool = 0;
	member_unkeep(d, c);
	c->phase[UP] = P_FLUSH;   /* the client's next bytes are this flow's */
	handover_plan(d, c);
	handover_prepare(d, c, NULL);
	log_debug("conn %p: a long answer on a kept connection: it is the client's now", (void *)c);
	return 1;
}

int handover_follow_response(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_http_msg *msg = &c->f->msg[DOWN];

	/* the kernel frames a response from where kbald leaves it: a known
	 * length, or its end (a chunked one, or one that ends at the close) */
	if (c->bounded && !c->upgrade && !msg->done && msg->content_length < 0)
		return 1;
	if (!c->want_packet)
		return 0;
	if (!c->upgrade && !msg->done && msg->content_length >= 0 &&
	    msg->content_length <= PKT_FIRST_MAX)
		return 1;
	/* a stream (101), or a response of no known end or too long */
	if (!msg->done || c->upgrade)
		pkt_give_up(d, c, c->upgrade ? KBAL_WHY_UPGRADE : KBAL_WHY_RESPONSE);
	return 0;
}

void handover_before_connect(struct kbal_daemon *d, struct kbal_conn *c, int fd)
{
	for_each_handover(ops)
		if ((*ops)->before_connect)
			(*ops)->before_connect(d, c, fd);
}

void handover_prepare(struct kbal_daemon *d, struct kbal_conn *c, const struct sockaddr_in *local)
{
	for_each_handover(ops)
		if ((*ops)->prepare)
			(*ops)->prepare(d, c, local);
}

int handover_before_write(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	for_each_handover(ops) {
		int r = (*ops)->before_write ? (*ops)->before_write(d, c, dir) : HANDOVER_PASS;

		if (r != HANDOVER_PASS)
			return r;
	}
	return HANDOVER_PASS;
}

int handover_quiet(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	for_each_handover(ops) {
		int r = (*ops)->take(d, c, dir);

		if (r != HANDOVER_PASS)
			return r;
	}
	return HANDOVER_PASS;   /* not reached: copying takes anything */
}

int handover_progress(struct kbal_daemon *d, struct kbal_conn *c, int *moved)
{
	for_each_handover(ops)
		if ((*ops)->progress && (*ops)->progress(d, c, moved) < 0)
			return -1;
	return 0;
}

/* An event on a handed-over socket: the path that has the connection (the
 * packet path: the whole of it; sockmap: the side's spliced direction) */
int handover_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t events)
{
	if (c->pkt)
		return kbal_handover_packet.event(d, c, side, events);
	return kbal_handover_sockmap.event(d, c, side, events);
}

void handover_adopt(struct kbal_daemon *d, struct kbal_conn *c)
{
	for_each_handover(ops)
		if ((*ops)->adopt)
			(*ops)->adopt(d, c);
}

void handover_tick(struct kbal_daemon *d)
{
	for_each_handover(ops)
		if ((*ops)->tick)
			(*ops)->tick(d);
}

uint64_t handover_wake_us(const struct kbal_daemon *d)
{
	uint64_t us = UINT64_MAX;

	for_each_handover(ops)
		if ((*ops)->wake_us) {
			uint64_t w = (*ops)->wake_us(d);

			us = w < us ? w : us;
		}
	return us;
}

void handover_close(struct kbal_daemon *d, struct kbal_conn *c)
{
	for_each_handover(ops)
		if ((*ops)->close)
			(*ops)->close(d, c);
}

int handover_settle(struct kbal_daemon *d)
{
	int busy = 0;

	for_each_handover(ops)
		if ((*ops)->settle)
			busy |= (*ops)->settle(d);
	return busy;
}

void handover_done(struct kbal_daemon *d, struct kbal_conn *c)
{
	list_del(&c->node);
	list_add_tail(&d->spliced, &c->node);
	kbal_logs_request(d, c, '+');
	first_free(c);
	if (!c->pkt)
		c->since = d->loop.now;   /* KeepAliveTimeout's clock (decide_timeouts()) */
}
