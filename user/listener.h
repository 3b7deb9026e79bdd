/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * listener.h - the listening sockets, accept, and the descriptor budget.
 */
#ifndef KBAL_LISTENER_H
#define KBAL_LISTENER_H

struct kbal_daemon;
struct kbal_conf_listen;
struct kbal_takeover;

/* Why the listeners are out of the loop (the kernel's backlog holds the
 * clients meanwhile): a failed accept (again in 100 ms), the descriptor
 * budget (again as connections end), a restart in place (the next image's). */
enum { ACCEPT_ON, ACCEPT_RETRY, ACCEPT_FULL, ACCEPT_RESTART };

void listener_init(struct kbal_daemon *d);
void listener_fini(struct kbal_daemon *d);

/* Listen on cl, or take t's listener bound to the same address (its queue
 * of clients with it): 0 or -errno (logged, naming the configuration). */
int listener_open(struct kbal_daemon *d, const struct kbal_conf_listen *cl,
		  struct kbal_takeover *t);

void listener_pause(struct kbal_daemon *d, int why);
/* the listeners back in, when why allows (once a loop turn) */
void listener_resume(struct kbal_daemon *d);

/* RLIMIT_NOFILE raised to its hard limit and the connections' share of it
 * worked out: after everything else is open. */
void listener_budget_init(struct kbal_daemon *d);

#endif
