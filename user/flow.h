/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * flow.h - the daemon and the life of a client connection.
 *
 * A connection has two directions: up (client -> member) and down
 * (member -> client). Each goes through its own phases:
 *
 *   HEAD   kbald reads and parses the first request (up) / response (down)
 *   BODY   up only: a chunked first request body, parsed as it is copied
 *   FLUSH  everything read is written on; once the queue is empty, splice
 *   SPLICED the kernel moves the bytes (sockmap); kbald only watches for FIN
 *   RELAY  kbald copies (KbalSplice off, or the kernel refused the socket)
 *   CLOSED FIN passed on to the other side
 *
 * While spliced, a connection is ~200 bytes: the first-exchange buffers
 * (struct kbal_first) are freed at the handover.
 */
#ifndef KBAL_FLOW_H
#define KBAL_FLOW_H

#include <stdint.h>
#include <netinet/in.h>
#include "conf.h"
#include "http.h"
#include "list.h"
#include "lb.h"
#include "maps.h"
#include "pool.h"
#include "splice_packet.h"
#include "takeover.h"

struct kbal_flow_batch;
struct kbal_conn;
struct ring_buffer;

/* sockmap-spliced connections by the cookie of a direction's source
 * socket: what a kbal_sk_events report names (open addressing) */
struct kbal_ctab {
	struct kbal_ctab_slot {
		uint64_t cookie;    /* 0: free */
		struct kbal_conn *c;
	} *slot;
	uint32_t mask, n;
};

struct kbal_listener {
	int fd;
	uint16_t port;
};

struct kbal_rev_set {       /* ProxyPassReverse rules of one balancer */
	struct kbal_rev_rule *rules;
	size_t n;
};

struct kbal_daemon {
	const struct kbal_conf *conf;
	struct kbal_maps maps;
	int epfd;
	int sigfd;
	unsigned nlisteners;
	struct kbal_listener listeners[KBAL_CONF_MAX_LISTEN];
	struct kbal_rev_set rev[KBAL_MAX_BALANCERS];
	struct kbal_list first;     /* connections in their first exchange */
	struct kbal_list spliced;   /* handed over: only FIN/RST wake them */
	struct kbal_list draining;  /* spliced, a FIN waits for bytes in flight */
	struct kbal_list dead;      /* closed in this epoll batch, freed after it */
	struct kbal_list ready;     /* out of budget with work left: run again */
	struct kbal_list packet;    /* handed to the packet path, before the switch */
	struct kbal_list joined;    /* joined packet by packet */
	struct kbal_flow_batch *flow_batch; /* kbal_flows writes of this loop turn */
	struct kbal_pool pool;      /* idle kept-alive connections to members */
	uint64_t pool_scan;
	struct kbal_ctab ctab;      /* spliced directions' sources, by cookie */
	struct ring_buffer *sk_events; /* kbal_sk_events: a target is full */
	struct kbal_conn **paused;  /* with a direction paused (backpressure) */
	unsigned npaused, paused_cap;
	struct kbal_packet pkt;     /* the packet path, when a balancer uses it */
	int pkt_on;
	struct ring_buffer *pkt_events; /* kbal_pkt_events: flows switched or ended */
	struct kbal_conn **pkt_conn;    /* by kbal_pkt_seen slot: the events' flows */
	uint64_t njoined;           /* joined: their client-side socket is gone */
	int accept_paused;          /* listeners off: why (flow.c, ACCEPT_*) */
	uint64_t accept_resume;
	/* descriptors (flow.c, fds_held()): what connections may hold, of
	 * the RLIMIT_NOFILE; connections waiting for one to connect */
	uint64_t fd_budget, fd_limit;
	uint64_t fd_full;           /* times the budget held accepting back */
	uint64_t fd_full_logged;
	unsigned nfd_wait;
	uint64_t pkt_scan;
	uint64_t drain_fast_until;  /* a FIN began waiting: look again soon */
	uint64_t now;               /* CLOCK_MONOTONIC ns, per loop turn */
	uint64_t nconns;
	int stop;
	/* restart in place (SIGHUP, SIGUSR1; takeover.h): the first
	 * exchanges under way end first, then the image is replaced */
	int restarting;
	uint64_t restart_deadline;
	const char *exe;            /* the kbald binary to exec; NULL: no restart */
	char *const *argv;
};

/*
 * t: what a restarting image handed over (takeover.h), or NULL. Taken
 * over or, when that cannot be, closed (those flows end); either way t is
 * consumed.
 */
int kbal_daemon_init(struct kbal_daemon *d, const struct kbal_conf *conf, const char *pin_dir,
		     struct kbal_takeover *t);
int kbal_daemon_run(struct kbal_daemon *d);
void kbal_daemon_fini(struct kbal_daemon *d);

/* Fill the members/balancers maps from the configuration. */
int kbal_daemon_load_members(struct kbal_daemon *d);

#endif
