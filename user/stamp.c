// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * stamp.c - kbald's side of the Date and Server lines the kernel adds to
 * a member's answers (stamp.h, bpf/stamp.bpf.h).
 *
 * Which connections: kbald writes a connection's first answer (and every
 * one the kernel hands back); where one of them lacked Date or Server, or
 * had them elsewhere than first (own_head_proxied() added or moved them),
 * its member is taken to be one that does so every time (an application
 * server: Go, Node.js, Tomcat leave them out; nginx sends Server first),
 * and the connection's client socket joins kbal_sk_stamp at the next
 * splice of the answers, for the rest of the connection. Its every byte
 * sent is a copy from then on (tcp_bpf_sendmsg()); a connection whose
 * answers all have both, first, never pays it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "own_head.h"
#include "splice_sockmap.h"
#include "stamp.h"

void stamp_init(struct kbal_daemon *d)
{
	struct kbal_stamp_text *t = d->maps.stamp_text;
	char banner[KBAL_BANNER_LEN];

	if (!t)
		return;
	own_head_banner(d->conf->server_tokens, banner, sizeof(banner));
	memcpy(t->banner, banner, strlen(banner));
	t->banner_len = (uint32_t)strlen(banner);
	stamp_tick(d);
}

void stamp_tick(struct kbal_daemon *d)
{
	struct kbal_stamp_text *t = d->maps.stamp_text;
	const char *now = own_head_date();
	uint32_t next;

	if (!t || strlen(now) != KBAL_STAMP_DATE_LEN)
		return;
	next = __atomic_load_n(&t->idx, __ATOMIC_RELAXED) & 1;
	if (!memcmp(t->date[next], now, KBAL_STAMP_DATE_LEN))
		return;   /* this second's already */
	/* the slot readers do not take, then the flip: a program that took
	 * idx before it reads a slot written a second ago */
	next ^= 1;
	memcpy(t->date[next], now, KBAL_STAMP_DATE_LEN);
	__atomic_store_n(&t->idx, next, __ATOMIC_RELEASE);
}

void stamp_want(struct kbal_conn *c)
{
	c->stamp |= STAMP_WANT;
}

int stamp_join(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_stamp_at at = {};
	uint64_t val = (uint64_t)c->fd[CLIENT];

	if (!(c->stamp & STAMP_WANT))
		return 0;
	if (c->cookie[CLIENT] == 0)
		c->cookie[CLIENT] = kbal_sock_cookie(c->fd[CLIENT]);
	if (!(c->stamp & STAMP_IN)) {
		if (bpf_map_update_elem(d->maps.stamp_fd, &c->cookie[CLIENT], &val, BPF_NOEXIST))
			goto fail;
		c->stamp |= STAMP_IN;
		log_debug("conn %p: its member leaves Date or Server out: the kernel adds them",
			  (void *)c);
	}
	/* what it added before stays counted: kbald's bases hold it */
	bpf_map_lookup_elem(d->maps.stamp_at_fd, &c->cookie[CLIENT], &at);
	at.member = c->cookie[MEMBER];
	at.armed = 0;
	if (!bpf_map_update_elem(d->maps.stamp_at_fd, &c->cookie[CLIENT], &at, BPF_ANY))
		return 0;
fail:
	log_debug("conn %p: the kernel cannot add Date and Server: %s", (void *)c,
		  strerror(errno));
	/* an entry left from before names no member now: the parser arms
	 * none for a client the program is not on (it hands the heads back) */
	if (!(c->stamp & STAMP_IN) &&
	    !bpf_map_lookup_elem(d->maps.stamp_at_fd, &c->cookie[CLIENT], &at)) {
		at.member = 0;
		at.armed = 0;
		bpf_map_update_elem(d->maps.stamp_at_fd, &c->cookie[CLIENT], &at, BPF_ANY);
	}
	return -1;
}

int stamp_sock_counts(const struct kbal_daemon *d, const struct kbal_conn *c, int side,
		      uint64_t *sent, uint64_t *received)
{
	struct kbal_stamp_at at;
	int err = kbal_sock_counts(c->fd[side], sent, received);

	/* (the entry outlives the socket's time in kbal_sk_stamp) */
	if (err || side != CLIENT || !(c->stamp & STAMP_WANT))
		return err;
	if (!bpf_map_lookup_elem(d->maps.stamp_at_fd, &c->cookie[CLIENT], &at))
		*sent -= at.added;
	return 0;
}

void stamp_sock_leave(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->stamp & STAMP_IN)
		bpf_map_delete_elem(d->maps.stamp_fd, &c->cookie[CLIENT]);
	c->stamp &= ~STAMP_IN;
}

void stamp_leave(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->stamp & STAMP_WANT)
		bpf_map_delete_elem(d->maps.stamp_at_fd, &c->cookie[CLIENT]);
	c->stamp = 0;
}

void stamp_adopt(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_stamp_at at;
	uint64_t sock;

	if (!c->cookie[CLIENT] ||
	    bpf_map_lookup_elem(d->maps.stamp_at_fd, &c->cookie[CLIENT], &at))
		return;
	c->stamp = STAMP_WANT;
	if (!bpf_map_lookup_elem(d->maps.stamp_fd, &c->cookie[CLIENT], &sock))
		c->stamp |= STAMP_IN;
}
