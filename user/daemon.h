/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * daemon.h - kbald's state: the configuration, the maps, the event loop,
 * the listeners, the connections by stage, and each data path's own.
 *
 * A connection's life, by file (docs/design.md has the map):
 *   listener.c   accepted (within the descriptor budget)
 *   conn.c       driven: its sockets' events, its progress, its close
 *   exchange.c   the first exchange: read, parsed, routed, written
 *                (exchange_head.c: the request's head;
 *                exchange_response.c: the answer's; exchange_body.c;
 *                exchange_reply.c: kbald's own answers)
 *   member.c     its member picked, connected (or a kept connection)
 *   rewrite.c    the heads rewritten as Apache does
 *   handover.c   after the first exchange: which path moves its bytes,
 *                handover_packet.c, handover_sockmap.c, handover_copy.c
 *   flows.c      its entry in kbal_flows
 *   restart.c    carried across a restart in place
 */
#ifndef KBAL_DAEMON_H
#define KBAL_DAEMON_H

#include <stdint.h>
#include "accesslog.h"
#include "authcheck.h"
#include "hcheck.h"
#include "linger.h"
#include "client_count.h"
#include "conf.h"
#include "list.h"
#include "decide.h"
#include "exchange_pipe.h"
#include "loop.h"
#include "mailbox.h"
#include "maps.h"
#include "manager_form.h"
#include "pool.h"
#include "rewrite.h"
#include "splice_packet.h"
#include "takeover.h"

struct kbal_flow_batch;
struct kbal_conn;
struct ring_buffer;

struct kbal_listener {
	int fd;
	uint16_t port;
};

/* the sockmap path's state (handover_sockmap.c) */
struct kbal_held;

struct kbal_sockmap_state {
	/* spliced directions' source sockets by cookie, what a kbal_sk_events
	 * report names (open addressing) */
	struct kbal_ctab_slot {
		uint64_t cookie;        /* 0: free */
		struct kbal_conn *c;
	} *slot;
	uint32_t mask, n;
	struct ring_buffer *events; /* kbal_sk_events: a target's worker is far behind */
	struct kbal_held **held;    /* with a direction held (backpressure):
				     * kbald copies what the verdict holds */
	unsigned nheld, held_cap;
	struct kbal_list draining;  /* spliced, a FIN waits for bytes in flight */
	uint64_t drain_fast_until;  /* a FIN began waiting: look again soon */
	struct kbal_mailboxes mbox; /* what is handed back while a parser cannot
				     * stop yet (mailbox.c) */
	uint64_t mbox_tick_at;      /* the mailboxes' next look */
};

/* the packet path's state (handover_packet.c) */
struct kbal_packet_state {
	int on;                     /* a balancer uses it and it loaded */
	struct kbal_packet p;       /* the program, its maps, links (splice_packet.h) */
	struct ring_buffer *events; /* kbal_pkt_events: flows switched or ended */
	struct kbal_conn **by_slot; /* by kbal_pkt_seen slot: the events' flows */
	struct kbal_list switching; /* handed over, before the switch */
	struct kbal_list joined;    /* joined packet by packet */
	uint64_t njoined;           /* joined: their client-side socket is gone */
	uint64_t scan;              /* the last look at every flow */
	struct pkt_linger *linger;  /* taken-back flows closed: entries kept a while */
	unsigned unwatched;         /* joined flows kbald asks back itself (their
				     * arming failed), as of the last look */
	unsigned unarmed;           /* of them, decided ones (a restart in place):
				     * asked back at each look until they are */
	uint64_t bgen_sig;          /* the balancers' gens as last seen (given back
				     * at a request: handover_packet.c) */
};

/* accepting, and the descriptors it may spend (listener.c) */
struct kbal_accept_state {
	unsigned n;
	struct kbal_listener l[KBAL_CONF_MAX_LISTEN];
	int paused;                 /* listeners off: why (ACCEPT_*, listener.c) */
	uint64_t resume;            /* ACCEPT_RETRY: when */
	uint64_t fd_budget;         /* what connections may hold (kbal_fds_held) */
	uint64_t fd_limit;          /* RLIMIT_NOFILE */
	uint64_t fd_full;           /* times the budget held accepting back */
	uint64_t fd_full_logged;
	unsigned nfd_wait;          /* connections waiting for one to connect */
	struct kbal_client_count clients; /* connections by client address */
	uint64_t refused;           /* KbalMaxConnectionsPerClient refusals */
	uint64_t refused_logged;
};

struct kbal_daemon {
	const struct kbal_conf *conf;
	struct kbal_maps maps;
	struct kbal_loop loop;      /* loop.now: CLOCK_MONOTONIC ns at the wake-up */
	int sigfd;
	struct kbal_accept_state acc;
	struct kbal_rev_set rev[KBAL_MAX_BALANCERS];  /* ProxyPassReverse, by balancer */
	char nonce[KBAL_MAX_BALANCERS][KBAL_NONCE_LEN]; /* the manager's (manager_form.h) */
	unsigned set_up[KBAL_MAX_BALANCERS]; /* members whose pool and rules kbald set up;
					      * fewer than the map's nmembers once one was
					      * added at run time (balancers_sync) */
	struct {
		uint32_t gen;       /* the balancer's gen when its routes were read */
		uint8_t any;        /* one of its members has a route */
		uint8_t known;      /* read since balancers_load() */
	} routed[KBAL_MAX_BALANCERS]; /* balancer_has_route() */
	struct kbal_list first;     /* connections in their first exchange */
	struct kbal_list idle;      /* keep-alive clients between two requests kbald
				     * served, oldest first: no buffers */
	struct kbal_list spliced;   /* handed over to sockmap: only FIN/RST wake them */
	struct kbal_list dead;      /* closed in this loop turn, freed after it */
	struct kbal_list ready;     /* out of budget with work left: run again */
	struct kbal_lingering lingering; /* client sockets kbald ended, lingering
				     * (linger.h): a descriptor each, no connection */
	uint64_t nconns;
	struct kbal_flow_batch *flow_batch; /* kbal_flows writes of this loop turn */
	struct kbal_pool pool;      /* idle kept-alive connections to members */
	uint64_t pool_scan;
	struct kbal_sockmap_state sm;
	struct kbal_decide decide;  /* what the kernel may keep (decide.c) */
	struct kbal_authcheck auth; /* the manager's slow access checks */
	struct kbal_alog alog;      /* CustomLog files and formats (logs.c) */
	struct kbal_hcheck hc;      /* health checks (hcheck.c) */
	struct kbal_packet_state pk;
	int stop;
	/* restart in place (SIGHUP, SIGUSR1; restart.c): the first
	 * exchanges under way end first, then the image is replaced */
	int restarting;
	uint64_t restart_deadline;
	const char *exe;            /* the kbald binary to exec; NULL: no restart */
	char *const *argv;
};

/*
 * Descriptors the connections may hold: two each (client, member) until
 * joined, when the client-side socket goes; one each then; the idle
 * connections kept for reuse; and the client sockets in their lingering
 * close. Counted, not asked of the kernel: what a
 * connection may still open is reserved from its accept on, so that no
 * member connect runs out (docs/operating.md, "Descriptors").
 */
static inline uint64_t kbal_fds_held(const struct kbal_daemon *d)
{
	return 2 * d->nconns - d->pk.njoined + d->pool.nidle + d->hc.running + d->lingering.n +
	       2 * exch_pipes_held();
}

/* room for n descriptors more than the connections hold: where there is
 * none, the pipes they keep idle are closed for it first (exchange_pipe.h) */
static inline int kbal_fds_room(const struct kbal_daemon *d, uint64_t n)
{
	if (kbal_fds_held(d) + n <= d->acc.fd_budget)
		return 1;
	return exch_pipes_release() && kbal_fds_held(d) + n <= d->acc.fd_budget;
}

/*
 * t: what a restarting image handed over (takeover.h), or NULL. Taken
 * over or, when that cannot be, closed (those flows end); either way t is
 * consumed.
 */
int kbal_daemon_init(struct kbal_daemon *d, const struct kbal_conf *conf, const char *pin_dir,
		     struct kbal_takeover *t);
int kbal_daemon_run(struct kbal_daemon *d);
void kbal_daemon_fini(struct kbal_daemon *d);

#endif
