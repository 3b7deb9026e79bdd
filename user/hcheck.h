/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hcheck.h - mod_proxy_hcheck's health checks (hcmethod= TCP, OPTIONS, HEAD,
 * GET and their HTTP/1.1 forms), run from kbald's event loop: one
 * non-blocking connection per check, none while the member is stopped. A
 * member whose checks fail hcfails times (while it is healthy) gets the C
 * flag in kbal_members, which takes it out of every pick, kbald's and the
 * kernel's (its balancer's gen moves); one whose checks then pass hcpasses
 * times is cleared of C and of E, as httpd's hc_check() does. Without
 * ProxyHCExpr, a 2xx or 3xx status passes.
 */
#ifndef KBAL_HCHECK_H
#define KBAL_HCHECK_H

#include <stdint.h>

struct kbal_daemon;
struct hc_member;

struct kbal_hcheck {
	struct hc_member *m;          /* by kbal_members index, NULL: no checks */
	unsigned running;             /* checks with a socket open (descriptors) */
};

/* the members' hcmethod= from the configuration; 0 or -ENOMEM */
int kbal_hcheck_init(struct kbal_daemon *d);
void kbal_hcheck_fini(struct kbal_daemon *d);

/* start the checks that are due, end those past their time; from the
 * daemon's timers */
void kbal_hcheck_tick(struct kbal_daemon *d);

#endif
