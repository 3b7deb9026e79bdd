/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * flows.h - a connection's entry in kbal_flows (kbal_shared.h): what the
 * manager page, kbalctl and bpftool show of it. Written once per loop
 * turn, in two batches (deletes, then updates): a one-request connection
 * costs no syscall of its own for its entry, and one that ends in the turn
 * it began never reaches the map.
 */
#ifndef KBAL_FLOWS_H
#define KBAL_FLOWS_H

struct kbal_daemon;
struct kbal_conn;

int kbal_flows_init(struct kbal_daemon *d);
void kbal_flows_fini(struct kbal_daemon *d);

/* c's entry says state (enum kbal_flow_state) and its path, at the flush */
void kbal_flows_update(struct kbal_daemon *d, struct kbal_conn *c, unsigned state);

/* c's entry goes with it, at the flush */
void kbal_flows_delete(struct kbal_daemon *d, struct kbal_conn *c);

/* write this turn's changes */
void kbal_flows_flush(struct kbal_daemon *d);

#endif
