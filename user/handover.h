/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * handover.h - after the first exchange, who moves a connection's bytes.
 *
 * Three data paths, each one ops table in a file of its own:
 *   handover_packet.c   the tc program joins the two TCP connections
 *                       packet by packet (kbald's sockets frozen; a
 *                       joined flow given back to kbald:
 *                       handover_packet_back.c)
 *   handover_sockmap.c  the sockmap verdict splices each direction
 *   handover_copy.c     kbald copies (KbalSplice off, one-request
 *                       connections, what the kernel refuses)
 * handover.c holds the one place that decides among them: at the request
 * (what the configuration and the request allow), at the response (what
 * kbald must follow to its end first), and when a direction is quiet
 * (each path in turn, packet then sockmap then copy, takes it or passes).
 */
#ifndef KBAL_HANDOVER_H
#define KBAL_HANDOVER_H

#include <stdint.h>
#include <netinet/in.h>
#include "kbal_shared.h"

struct kbal_daemon;
struct kbal_conn;
struct kbal_takeover;
struct kbal_pkt_flow;

/* what take() and before_write() did with the connection */
enum {
	HANDOVER_PASS  = 0,   /* not this path's: the next one is asked */
	HANDOVER_WAIT  = 1,   /* this path's, not yet: nothing moved */
	HANDOVER_MOVED = 2,   /* the direction's state changed: go on */
	HANDOVER_GONE  = 3,   /* the connection left the driver (the path
			       * has it, or it was closed: c->dead) */
};

struct kbal_handover_ops {
	const char *name;
	/* at start: what the path needs (programs, maps, loop entries);
	 * t: a restart's inheritance. -errno: the path is unavailable */
	int (*init)(struct kbal_daemon *d, struct kbal_takeover *t);
	void (*fini)(struct kbal_daemon *d);
	/* kbald's member-side socket fd, before its connect: what the path
	 * needs set on it before its SYN */
	void (*before_connect)(struct kbal_daemon *d, struct kbal_conn *c, int fd);
	/* the member is connected (local: kbald's address towards it, if
	 * known): what the path must see of the first exchange */
	void (*prepare)(struct kbal_daemon *d, struct kbal_conn *c,
			const struct sockaddr_in *local);
	/* direction dir's source is read to the end of its message and
	 * about to be written: a path that must come before the write */
	int (*before_write)(struct kbal_daemon *d, struct kbal_conn *c, int dir);
	/* direction dir is quiet: all read was written, its queue is empty */
	int (*take)(struct kbal_daemon *d, struct kbal_conn *c, int dir);
	/* an event on one of the connection's sockets once this path has it:
	 * -1 when the connection was closed */
	int (*event)(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t events);
	/* after the driver moved the connection's directions: the path's
	 * own work on it; -1 when it was closed */
	int (*progress)(struct kbal_daemon *d, struct kbal_conn *c, int *moved);
	/* a connection handed over by the previous image (restart.c) */
	void (*adopt)(struct kbal_daemon *d, struct kbal_conn *c);
	/* once a loop turn */
	void (*tick)(struct kbal_daemon *d);
	/* how long the loop may sleep for this path's sake, in µs */
	uint64_t (*wake_us)(const struct kbal_daemon *d);
	/* the connection closes: the path's part of it goes */
	void (*close)(struct kbal_daemon *d, struct kbal_conn *c);
	/* a restart in place is about to exec: 1 while the path still holds
	 * a connection it cannot hand over as it is */
	int (*settle)(struct kbal_daemon *d);
};

extern const struct kbal_handover_ops kbal_handover_packet;
extern const struct kbal_handover_ops kbal_handover_sockmap;
extern const struct kbal_handover_ops kbal_handover_copy;

/* every path, in the order they are asked: packet, sockmap, copy */
extern const struct kbal_handover_ops *const kbal_handovers[];
extern const unsigned kbal_nhandovers;

#define for_each_handover(ops) \
	for (const struct kbal_handover_ops *const *ops = kbal_handovers; \
	     ops < kbal_handovers + kbal_nhandovers; ops++)

/* the paths' init, in order; the packet path's failure falls back to
 * sockmap where the configuration did not ask for it explicitly */
int handover_init(struct kbal_daemon *d, struct kbal_takeover *t);
void handover_fini(struct kbal_daemon *d);

/* 1 when kbald should serve this keep-alive request itself (on a kept
 * member connection) rather than hand the connection over after it */
int handover_copies(struct kbal_daemon *d, struct kbal_conn *c);

/* The request's head is parsed and its balancer known: which paths the
 * request and the configuration allow (c->want_packet, c->why). */
void handover_plan(struct kbal_daemon *d, struct kbal_conn *c);

/* The response's head is parsed, for a request kbald serves itself on a
 * kept member connection: a long answer is not copied, the connection is
 * handed over after the exchange instead (1 when so). */
int handover_keep_or_take(struct kbal_daemon *d, struct kbal_conn *c);

/* The response's head is parsed: 1 when a path needs kbald to follow its
 * body to its end before the handover; else the paths it rules out go. */
int handover_follow_response(struct kbal_daemon *d, struct kbal_conn *c);

void handover_before_connect(struct kbal_daemon *d, struct kbal_conn *c, int fd);
void handover_prepare(struct kbal_daemon *d, struct kbal_conn *c,
		      const struct sockaddr_in *local);
int handover_progress(struct kbal_daemon *d, struct kbal_conn *c, int *moved);
int handover_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t events);
void handover_adopt(struct kbal_daemon *d, struct kbal_conn *c);
void handover_tick(struct kbal_daemon *d);
uint64_t handover_wake_us(const struct kbal_daemon *d);
void handover_close(struct kbal_daemon *d, struct kbal_conn *c);
int handover_settle(struct kbal_daemon *d);
int handover_before_write(struct kbal_daemon *d, struct kbal_conn *c, int dir);
int handover_quiet(struct kbal_daemon *d, struct kbal_conn *c, int dir);

/* The packet path will not take the flow after all (why): another will. */
void pkt_give_up(struct kbal_daemon *d, struct kbal_conn *c, enum kbal_flow_why why);

/* handover_packet_back.c, for handover_packet.c: a joined flow given back
 * to kbald, and its arming for that (each function's comment says more) */
int pkt_kbalds_again(struct kbal_daemon *d, struct kbal_conn *c, uint8_t why, int owed);
void pkt_arm_decided(struct kbal_daemon *d, struct kbal_conn *c, uint32_t to_write);
int pkt_maybe_ask_back(struct kbal_daemon *d, struct kbal_conn *c);
int pkt_rearm_decided(struct kbal_daemon *d, struct kbal_conn *c);
void pkt_given_back(struct kbal_daemon *d, struct kbal_conn *c);
void pkt_given_back_response(struct kbal_daemon *d, struct kbal_conn *c);
void pkt_kept_linger(int fd, int on);
void pkt_arm(struct kbal_daemon *d, struct kbal_conn *c);

/* handover_packet.c, for linger.c: the client socket of a flow given back
 * (fl, its record, freed) closed at the end of its lingering close: the
 * flow's SHIFT entries go a few seconds after (its last segments) */
void pkt_given_back_closed(struct kbal_daemon *d, struct kbal_pkt_flow *fl);

/* handover_packet.c: a joined flow's bytes so far (the program's counts,
 * up and down) into its member's counters, each byte once */
void pkt_account(struct kbal_daemon *d, struct kbal_conn *c, uint64_t up, uint64_t down);

/* packet_clocks.c: httpd's clocks on a joined flow quiet since last (the
 * kernel's clock of its last packet): 1 when they ended it */
int pkt_clocks(struct kbal_daemon *d, struct kbal_conn *c, uint64_t last);

/* both directions handed over: the buffers go (conn.c's driver) */
void handover_done(struct kbal_daemon *d, struct kbal_conn *c);

/* Whether kbald keeps a joined flow's client-side socket at the switch, so
 * that the program can give the flow back at a request (docs/packet.md,
 * "Given back at a request"): the packet path on and no KbalHost id here
 * (the program's give-back does not write the host id's TSval form) */
int kbal_pkt_keeps_client(const struct kbal_daemon *d);

#endif
