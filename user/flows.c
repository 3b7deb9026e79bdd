// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* flows.c - kbal_flows, written in batches (see flows.h). */
#include <errno.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include "conn-t.h"
#include "daemon.h"
#include "flows.h"

#define FLOW_BATCH 256

struct kbal_flow_batch {
	unsigned nupd, ndel;
	struct kbal_conn *upd_conn[FLOW_BATCH];  /* NULL: closed since */
	struct kbal_flow_key upd_key[FLOW_BATCH];
	struct kbal_flow upd_val[FLOW_BATCH];
	struct kbal_flow_key del_key[FLOW_BATCH];
};

void kbal_flows_flush(struct kbal_daemon *d)
{
	struct kbal_flow_batch *fb = d->flow_batch;
	unsigned n = 0;
	__u32 count;

	if (fb->ndel) {
		count = fb->ndel;
		/* an entry gone already stops the batch: the rest one by one */
		if (bpf_map_delete_batch(d->maps.flows_fd, fb->del_key, &count, NULL))
			for (unsigned i = count; i < fb->ndel; i++)
				bpf_map_delete_elem(d->maps.flows_fd, &fb->del_key[i]);
		fb->ndel = 0;
	}
	for (unsigned i = 0; i < fb->nupd; i++) {
		if (!fb->upd_conn[i])
			continue;
		fb->upd_conn[n] = fb->upd_conn[i];
		fb->upd_key[n] = fb->upd_key[i];
		fb->upd_val[n] = fb->upd_val[i];
		n++;
	}
	fb->nupd = 0;
	if (!n)
		return;
	count = n;
	/* the map full (-E2BIG) stops it: those after are left out */
	bpf_map_update_batch(d->maps.flows_fd, fb->upd_key, fb->upd_val, &count, NULL);
	for (unsigned i = 0; i < n; i++) {
		fb->upd_conn[i]->flow_slot = 0;
		fb->upd_conn[i]->flow_in_map |= (i < count);
	}
}

void kbal_flows_update(struct kbal_daemon *d, struct kbal_conn *c, unsigned state)
{
	struct kbal_flow_batch *fb = d->flow_batch;
	struct kbal_flow v = {
		.member = c->member,
		.state = state,
		/* a keep-alive client's request on a kept member connection:
		 * kbald copies, request by request */
		.path = c->pkt ? KBAL_PATH_PACKET : c->pool && !c->once ? KBAL_PATH_COPY :
			c->phase[UP] == P_SPLICED || c->phase[DOWN] == P_SPLICED ? KBAL_PATH_SOCKMAP :
			c->phase[UP] == P_RELAY || c->phase[DOWN] == P_RELAY ? KBAL_PATH_COPY :
			KBAL_PATH_NONE,
		.client_cookie = c->cookie[CLIENT],
		.member_cookie = c->cookie[MEMBER],
		.start_ns = d->loop.now,
	};
	v.member_lport = c->member_lport;
	v.why = c->why;
	if (c->flow_slot) {
		fb->upd_val[c->flow_slot - 1] = v;
		return;
	}
	if (fb->nupd == FLOW_BATCH)
		kbal_flows_flush(d);
	fb->upd_conn[fb->nupd] = c;
	fb->upd_key[fb->nupd] = c->key;
	fb->upd_val[fb->nupd] = v;
	c->flow_slot = ++fb->nupd;
}

void kbal_flows_delete(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_flow_batch *fb = d->flow_batch;

	if (c->flow_slot) {
		fb->upd_conn[c->flow_slot - 1] = NULL;
		c->flow_slot = 0;
	}
	if (!c->flow_in_map)
		return;
	if (fb->ndel == FLOW_BATCH)
		kbal_flows_flush(d);
	fb->del_key[fb->ndel++] = c->key;
	c->flow_in_map = 0;
}

int kbal_flows_init(struct kbal_daemon *d)
{
	d->flow_batch = calloc(1, sizeof(*d->flow_batch));
	return d->flow_batch ? 0 : -ENOMEM;
}

void kbal_flows_fini(struct kbal_daemon *d)
{
	if (!d->flow_batch)
		return;
	kbal_flows_flush(d);
	free(d->flow_batch);
	d->flow_batch = NULL;
}
