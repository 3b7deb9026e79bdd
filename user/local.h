/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * local.h - what kbald answers itself: the handler of the <Location> a
 * request matched (SetHandler balancer-manager, SetHandler kbal-metrics),
 * once its access rules let the client in (a check the thread makes comes
 * back through exch_auth_done(), exchange.h); and the same access rules
 * on a proxied path.
 */
#ifndef KBAL_LOCAL_H
#define KBAL_LOCAL_H

#include <stdint.h>

struct kbal_daemon;
struct kbal_conn;
struct kbal_authz;

/* c->f->handler set: check the rules (authz, with the address the client
 * reached, 16 bytes: inaddr.h), then answer, now or once the check is done */
void local_answer(struct kbal_daemon *d, struct kbal_conn *c, const struct kbal_authz *authz,
		  const uint8_t *local_addr);

/* Require, Order/Allow/Deny and Basic credentials of the <Location> a
 * request matched (authz.h, authn.h), as httpd checks them: the address
 * first, the user only where the rules need one (authcheck.h); for what
 * kbald answers itself and for proxied paths alike. 0 when granted; -1
 * when the answer (401, 403, 503) is given; 1 when the check went to the
 * thread, the exchange waiting for exch_auth_done() */
int local_authorize(struct kbal_daemon *d, struct kbal_conn *c, const struct kbal_authz *authz,
		    const uint8_t *local_addr);

/* a manager form's body came whole (f->manager_wait): the answer */
void local_form_done(struct kbal_daemon *d, struct kbal_conn *c);

#endif
