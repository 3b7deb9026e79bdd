/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * local.h - what kbald answers itself: the handler of the <Location> a
 * request matched (SetHandler balancer-manager, SetHandler kbal-metrics),
 * once its access rules let the client in (a check the thread makes comes
 * back through exch_auth_done(), exchange.h).
 */
#ifndef KBAL_LOCAL_H
#define KBAL_LOCAL_H

#include <stdint.h>

struct kbal_daemon;
struct kbal_conn;
struct kbal_authz;

/* c->f->handler set: check the rules (authz, with the address the client
 * reached, network order), then answer, now or once the check is done */
void local_answer(struct kbal_daemon *d, struct kbal_conn *c, const struct kbal_authz *authz,
		  uint32_t local_addr);

/* a manager form's body came whole (f->manager_wait): the answer */
void local_form_done(struct kbal_daemon *d, struct kbal_conn *c);

#endif
