/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * takeover.h - a kbald restart in place (SIGHUP, SIGUSR1) that keeps the
 * connections: the running image execs the kbald binary again, and the
 * new image takes the listening sockets, the flock on the pin directory,
 * the packet program's tcx links and every handed-over connection's
 * sockets as inherited descriptors, and the flows' state from the pinned
 * maps plus one record per connection (a memfd named in KBAL_TAKEOVER).
 *
 * Nothing is ever without an owner: the listeners keep queueing new
 * clients while the image changes, the tcx links keep the program
 * attached (the new image swaps its own program into them with
 * BPF_LINK_UPDATE, atomically), and the frozen member-side sockets keep
 * their ports reserved. A new image that cannot take over (another map
 * layout, another record version) closes what it inherited: the flows end
 * as they would at a stop.
 */
#ifndef KBAL_TAKEOVER_H
#define KBAL_TAKEOVER_H

#include <stdint.h>
#include "kbal_shared.h"
#include "conf.h"
#include "splice_packet.h"

#define KBAL_TAKEOVER_ENV "KBAL_TAKEOVER"
/* bump when a record or the meaning of a field changes */
#define KBAL_TAKEOVER_VERSION 11


/* A handed-over connection: what struct kbal_conn holds once its first
 * exchange is done (restart.c fills and reads it). */
struct kbal_to_conn {
	int32_t fd[2];                 /* client, member; -1: none */
	int16_t member, balancer;      /* indexes in the old image's maps */
	uint8_t phase[2], fin[2];
	uint8_t rdhup, fin_goal, splice_mode, once;
	uint8_t upgrade, why, pkt, has_pf;
	uint16_t member_lport;
	uint16_t flags;                /* KBAL_TO_* */
	struct kbal_flow_key key;
	uint32_t nreq;                 /* its requests so far (MaxKeepAliveRequests) */
	uint32_t client;               /* LINGER: its address's key in the count by
					* address (kbal_client_key()) */
	char vhost[128];               /* its last request's <VirtualHost>: the name
					* it answers to (its ServerName, else the
					* server's), "" none (conn_vhosts()) */
	uint64_t cookie[2], rd[2], wr[2], base[2];
	uint64_t drain_since, since, pkt_bytes[2];
	uint64_t member_rcvd0;         /* what its member's socket had received
					* when the connection took it (pool.h) */
	struct kbal_pkt_flow pf;
};

enum {
	KBAL_TO_IN_MAP   = 1u << 0,    /* its kbal_flows entry was written */
	KBAL_TO_FRESH    = 1u << 1,    /* accepted, nothing read yet: a new client */
	KBAL_TO_RELAY    = 1u << 2,    /* copied by kbald (KbalSplice off), nothing
					* in its buffers */
	KBAL_TO_AGENT    = 1u << 3,    /* kbald decides each of its requests */
	KBAL_TO_BOUND    = 1u << 4,    /* bits 4-6: its BOUND_* (decide.h) */
	KBAL_TO_IDLE     = 1u << 7,    /* with FRESH: a keep-alive client between two
					* requests, idle since its since */
	KBAL_TO_LINGER   = 1u << 8,    /* no connection: a client's socket in its
					* lingering close (linger.h), fd[CLIENT],
					* its FIN gone at since */
};

struct kbal_takeover {
	int lock_fd;                   /* the pin directory, flock'ed */
	uint64_t exec_ns;              /* CLOCK_MONOTONIC when the old image exec'd */
	unsigned nlisten, nlinks, nconns;
	int32_t listen_fd[KBAL_CONF_MAX_LISTEN];
	struct kbal_pkt_link links[KBAL_PKT_MAX_IFS * 2];
	struct kbal_to_conn *conns;
	unsigned nmbox;                /* the sockmap path's mailboxes, by slot
					* (mailbox.c); -1: a slot without one */
	int32_t mbox_fd[KBAL_MBOX_POOL];
};

/*
 * Exec exe with argv, handing t over. Returns only on failure (-errno),
 * with every descriptor as it was (close-on-exec again).
 */
int kbal_takeover_exec(const struct kbal_takeover *t, const char *exe, char *const argv[]);

/* In the new image: 0 and *t filled (conns malloc'd), 1 when this is no
 * takeover, -errno when the handed state cannot be read (t then holds
 * what could be, for kbal_takeover_abandon). */
int kbal_takeover_read(struct kbal_takeover *t);

/* Close everything inherited: the connections end (a joined flow's frozen
 * sockets without a word, its program with its links). */
void kbal_takeover_abandon(struct kbal_takeover *t);

void kbal_takeover_free(struct kbal_takeover *t);

#endif
