// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * daemon.c - kbald's start, its loop turn and its stop: what runs when,
 * not how (each concern is in its own file, daemon.h lists them).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include "balancers.h"
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "exchange.h"
#include "flows.h"
#include "handover.h"
#include "linger.h"
#include "listener.h"
#include "log.h"
#include "logfile.h"
#include "notify.h"
#include "persist.h"
#include "member.h"
#include "restart.h"
#include "stamp.h"

#define POOL_SCAN_NS   1000000000ull  /* kept member connections past their ttl */
#define RESTART_POLL_US 10000
#define FIRST_POLL_US  100000         /* the first exchanges' deadlines */
#define RETRY_POLL_US  100000         /* a failed accept, tried again */
#define IDLE_POLL_US   1000000

_Static_assert(KBAL_POOL_TAG == KBAL_TAG_POOL, "the pool's tag is the loop's");

static void on_conn(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	conn_event(data, (struct kbal_conn *)obj, tag == KBAL_TAG_CLIENT ? CLIENT : MEMBER, events);
}

/* a kept member connection: lent, its connection's event; idle, the
 * member sent something or hung up (a write edge means nothing) */
static void on_pool(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;
	struct kbal_pooled *pc = (struct kbal_pooled *)obj;

	(void)tag;
	if (pc->dead)
		return;
	if (pc->owner)
		conn_event(d, pc->owner, MEMBER, events);
	else if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		kbal_pool_event(&d->pool, pc, events);
}

static void on_signal(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;
	struct signalfd_siginfo si;

	(void)obj, (void)tag, (void)events;
	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1) {
			if (!d->restarting)
				restart_begin(d);
		} else if (si.ssi_signo == SIGUSR2) {
			kbal_logfiles_reopen();   /* logrotate moved them */
		} else {
			d->stop = 1;
		}
	}
}

/* the manager's access checks that authcheck's thread answered */
static void on_auth(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;
	struct kbal_authjob *j = kbal_authcheck_take(&d->auth), *next;

	(void)obj, (void)tag, (void)events;
	for (; j; j = next) {
		struct kbal_conn *c = j->owner;

		next = j->next;
		exch_auth_done(d, c, j);
		conn_progress(d, c);
	}
}

/* SIGINT and SIGTERM stop, SIGHUP and SIGUSR1 (Apache's graceful)
 * restart in place, SIGUSR2 opens the log files again: read from a
 * signalfd in the loop */
static int signals_init(struct kbal_daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	kbal_loop_on(&d->loop, KBAL_TAG_SIGNAL, on_signal);
	return kbal_loop_add(&d->loop, d->sigfd, EPOLLIN, KBAL_TAG_SIGNAL, 0);
}

int kbal_daemon_init(struct kbal_daemon *d, const struct kbal_conf *conf, const char *pin_dir,
		     struct kbal_takeover *t)
{
	struct takeover_snap *snap = NULL;
	int err;

	memset(d, 0, sizeof(*d));
	d->conf = conf;
	d->sigfd = -1;
	d->auth.efd = -1;
	list_init(&d->first);
	list_init(&d->idle);
	list_init(&d->spliced);
	list_init(&d->dead);
	list_init(&d->ready);
	list_init(&d->sm.draining);
	list_init(&d->pk.switching);
	list_init(&d->pk.joined);
	err = kbal_loop_init(&d->loop, d);
	if (err)
		goto fail;
	kbal_loop_on(&d->loop, KBAL_TAG_CLIENT, on_conn);
	kbal_loop_on(&d->loop, KBAL_TAG_MEMBER, on_conn);
	kbal_loop_on(&d->loop, KBAL_TAG_POOL, on_pool);
	kbal_loop_on(&d->loop, KBAL_TAG_AUTH, on_auth);
	linger_init(d);
	err = kbal_authcheck_init(&d->auth);
	if (!err)
		err = kbal_loop_add(&d->loop, d->auth.efd, EPOLLIN, KBAL_TAG_AUTH, 0);
	if (err)
		goto fail;
	err = kbal_maps_create(&d->maps, pin_dir, t ? t->lock_fd : -1, t != NULL,
			       kbal_packet_end_stale);
	if (t)
		t->lock_fd = -1;   /* the maps' now, or closed */
	if (err && t) {
		log_warn("restart: the pinned maps cannot be taken over: "
			 "the previous image's connections end");
		kbal_takeover_abandon(t);
		t = NULL;
		err = kbal_maps_create(&d->maps, pin_dir, -1, 0, kbal_packet_end_stale);
	}
	if (err)
		goto fail;
	stamp_init(d);
	/* afresh: a drained host stays drained, from the moment its maps
	 * (and pid) are there (a restart in place kept kbal_meta) */
	if (!t)
		persist_host_load(d);
	if (t) {
		snap = calloc(1, sizeof(*snap));
		if (!snap) {
			err = -ENOMEM;
			goto fail;
		}
		restart_snapshot(d, snap);
	}
	kbal_pool_init(&d->pool, d->maps.members);
	d->pool.epfd = d->loop.epfd;
	err = kbal_flows_init(d);
	if (!err)
		err = balancers_load(d);
	if (!err)
		err = decide_init(d);
	if (err)
		goto fail;
	if (snap)
		restart_carry_members(d, snap);
	else
		persist_load(d);   /* BalancerPersist On: the last run's changes */
	err = handover_init(d, t);
	if (!err) {
		balancers_mark_paths(d);
		err = signals_init(d);
	}
	if (err)
		goto fail;
	listener_init(d);
	for (unsigned i = 0; i < conf->nlisten; i++) {
		err = listener_open(d, &conf->listen[i], t);
		if (err)
			goto fail;
	}
	if (t) {
		restart_take_conns(d, t, snap);
		/* listeners of addresses no longer configured, links of
		 * interfaces no longer used: closed */
		kbal_takeover_abandon(t);
	}
	free(snap);
	listener_budget_init(d);
	return kbal_hcheck_init(d);
fail:
	if (t)
		kbal_takeover_abandon(t);
	free(snap);
	kbal_daemon_fini(d);
	return err;
}

/* how long the loop may sleep: until the soonest of what waits */
static uint64_t next_wake_us(const struct kbal_daemon *d)
{
	uint64_t us = handover_wake_us(d), linger = linger_wake_us(d);

	if (linger < us)
		us = linger;
	if (list_linked(&d->ready))
		return 0;
	if (d->restarting && us > RESTART_POLL_US)
		us = RESTART_POLL_US;
	if (d->acc.paused == ACCEPT_RETRY && us > RETRY_POLL_US)
		us = RETRY_POLL_US;
	if ((list_linked(&d->first) || d->hc.running) && us > FIRST_POLL_US)
		us = FIRST_POLL_US;   /* also: health checks' timeouts */
	return us < IDLE_POLL_US ? us : IDLE_POLL_US;
}

int kbal_daemon_run(struct kbal_daemon *d)
{
	while (!d->stop) {
		int err = kbal_loop_wait(&d->loop, next_wake_us(d));

		if (err)
			return err;
		/* the health check's sign of life: a stopped or wedged kbald
		 * stops the host's BGP announcement (kbalctl host check) */
		__atomic_store_n(&d->maps.meta->beat_ns, d->loop.now, __ATOMIC_RELAXED);
		stamp_tick(d);
		conn_run_ready(d);
		conn_run_timers(d);
		linger_run_timers(d);
		kbal_hcheck_tick(d);
		handover_tick(d);
		balancers_sync(d);
		if (d->loop.now - d->pool_scan >= POOL_SCAN_NS) {
			d->pool_scan = d->loop.now;
			kbal_pool_expire(&d->pool, d->maps.meta->nmembers, d->loop.now);
		}
		if (d->acc.nfd_wait)
			member_run_fd_waiters(d);
		listener_resume(d);
		kbal_flows_flush(d);
		conn_free_dead(d);
		if (d->restarting)
			restart_exec(d);
	}
	log_info("stopping");
	kbal_notify_stopping();
	persist_save(d);
	return 0;
}

static void close_all(struct kbal_daemon *d, struct kbal_list *head)
{
	while (list_linked(head))
		conn_close(d, conn_of(head->next));
}

void kbal_daemon_fini(struct kbal_daemon *d)
{
	close_all(d, &d->first);
	close_all(d, &d->idle);
	close_all(d, &d->spliced);
	close_all(d, &d->sm.draining);
	close_all(d, &d->pk.switching);
	close_all(d, &d->pk.joined);
	linger_fini(d);
	kbal_flows_fini(d);
	kbal_hcheck_fini(d);
	conn_free_dead(d);
	if (d->pool.members)
		kbal_pool_fini(&d->pool);
	first_cache_drop();
	exch_pipes_fini();
	listener_fini(d);
	balancers_fini(d);
	if (d->sigfd >= 0)
		close(d->sigfd);
	handover_fini(d);
	kbal_authcheck_fini(&d->auth);
	kbal_loop_fini(&d->loop);
	kbal_maps_close(&d->maps);
}
