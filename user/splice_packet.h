/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * splice_packet.h - hand a connection to bpf/packet.bpf.c: its two legs
 * joined packet by packet, kbald's sockets carrying nothing.
 *
 *   kbal_packet_learn()     at the member connect: note both peers' clocks
 *   kbal_packet_handover()  after the first exchange: freeze and join
 *   kbal_packet_poll()      the flow's state: switched, ended
 *   kbal_packet_forget()    remove the entries
 */
#ifndef KBAL_SPLICE_PACKET_H
#define KBAL_SPLICE_PACKET_H

#include <stdint.h>
#include <netinet/in.h>
#include "kbal_shared.h"

struct packet_bpf;

#define KBAL_PKT_MAX_IFS   32
#define KBAL_PKT_MAX_ADDRS 64

/* An interface the program is attached to: lo at egress only, others at
 * ingress (what the peers send) and egress (what kbald's sockets send).
 * tcx links: they go when kbald's descriptors go, a crash included, so
 * that no program of a dead kbald rewrites into ports nobody holds. */
struct kbal_pkt_if {
	int ifindex;
	int link_fd[2];                /* [0] ingress, [1] egress; -1: none */
};

/* A tcx link handed over by a restarting kbald (takeover.h). */
struct kbal_pkt_link {
	int32_t fd;
	int32_t ifindex;
	int32_t egress;
};

struct kbal_packet {
	struct packet_bpf *skel;
	int pkt_fd;
	int lo;                        /* lo's ifindex */
	int nifs;
	struct kbal_pkt_if ifs[KBAL_PKT_MAX_IFS];
	/* kbald's local addresses -> their interfaces (getifaddrs) */
	int naddrs;
	struct { uint32_t addr; int ifindex; } addrs[KBAL_PKT_MAX_ADDRS];
	uint64_t addrs_read_ns;
	int raw_fd;                    /* SOCK_RAW for kbal_packet_end_probe(); -1 */
	int raw_mark_fd;               /* SOCK_RAW with SO_MARK
	                                  KBAL_PKT_MARK (the program lets it pass); -1 */
	int events_fd;                 /* kbal_pkt_events: flows switched or ended */
	uint64_t *live;                /* kbal_pkt_live, mmapped: flows with entries */
	size_t live_len;
	struct kbal_pkt_seen *seen;    /* kbal_pkt_seen, mmapped: what the program saw */
	size_t seen_len;
	struct kbal_pkt_frame *frame;  /* kbal_pkt_frame, mmapped: each direction's
					* HTTP framing, at the kbal_pkt_seen slots */
	size_t frame_len;
	int back_fd;                   /* kbal_pkt_back (the program's, not pinned) */
	int decide_fd;                 /* kbal_pkt_decide (the program's, not pinned) */
	uint8_t *slot_used;            /* KBAL_MAX_FLOWS: slots given to flows */
	uint32_t slot_next;
	uint16_t gen;                  /* the last flow generation given */
	uint8_t host_id;               /* KbalHost: this host's id, 0: none */
};

struct kbal_pkt_flow {
	struct kbal_pkt_key up;        /* client -> kbald (rewritten to the member) */
	struct kbal_pkt_key down;      /* member -> kbald (rewritten to the client) */
	struct kbal_pkt_key hold_c;    /* kbald -> client: live until the switch */
	struct kbal_pkt_key drop_m;    /* kbald -> member: frozen, dropped */
	uint16_t gen;                  /* in its entries: a later flow on the same
	                                  4-tuple has another, and kbald removes
	                                  only its own */
	uint8_t lost;                  /* an entry was found gone or another's:
	                                  remove the rest one by one, checking */
	uint8_t counted;               /* in kbal_pkt_live: it may have entries, and
	                                  owns kbal_pkt_seen[2 * slot], [2 * slot + 1] */
	uint32_t slot;
	uint32_t send_base;            /* the client-side socket's first byte's
	                                  sequence number (if send_base_known) */
	uint8_t send_base_known;
	/* the client-side socket kept open after the switch, so that the
	 * program can give the flow back at a request (docs/unswitch.md) */
	uint8_t kept_client;           /* kbald kept its client-side socket */
	uint8_t given_back;            /* given back: SHIFT entries */
	uint8_t ts;                    /* timestamps on the flow */
	uint8_t take_tries;            /* looks past a clock's end that could
					* not take the client's leg back */
	uint64_t unseen_since;         /* the first look that found no packet
					* stamped on the joined entries */
	uint32_t c_rcv_nxt, c_snd_nxt; /* the client-side socket's at the handover */
	/* given back at a request (docs/packet.md, "Given back at a
	 * request"): kbald asked the program for it (kbal_pkt_back written,
	 * kbal_pkt_frame's request entry's back set) */
	uint8_t asked;                 /* 1 asked, 2 cannot be (not again) */
	uint8_t watched;               /* the program watches the balancer's gen */
	uint32_t bgen;                 /* the balancer's gen when the flow joined */
	/* decided: the program decides each request as kbald would
	 * (KBAL_PKT_DECIDE on its client -> member entry, kbal_pkt_decide) */
	uint8_t decide;
	/* set as it closes (conn.c): its client socket lingers (given back:
	 * the record goes with it, linger.h, and its SHIFT entries stay
	 * until its close, pkt_given_back_closed()) */
	uint8_t lingers;
	/* packet_clocks.c: the request head or body in progress, as kbald
	 * last saw it (its boundary), and since when kbald has seen it */
	uint32_t req_at;
	uint64_t req_since;
	/* packet_clocks.c: the client's acknowledgement (as it came) while an
	 * answer is under way, and since when kbald has seen it there (0:
	 * none under way) */
	uint32_t acked;
	uint64_t acked_since;
	/* packet_clocks.c: each direction's stream bytes as kbald last saw
	 * them ([0] the client's, [1] the member's), and the kernel's clock
	 * at that direction's last packet at the look that first saw them so:
	 * when each last sent a new byte (never early, up to a look late; 0:
	 * not seen yet) */
	uint64_t moved[2];
	uint64_t moved_ns[2];
	/* a member connection kept by kbald's pool joined (c->reused): what
	 * its socket carried for earlier clients (kbal_first's reused_*,
	 * which goes at the join), for an answer owed at its give-back
	 * (pkt_kbalds_again(), member_own_kept()) */
	uint64_t kept_sent, kept_recvd;
};

struct kbal_pkt_state {
	int switched;                  /* the client's packets go to the member now:
	                                  kbald's client socket can go */
	int ended;                     /* both FINs acknowledged, or a RST */
	int fins;                      /* FIN both ways (acknowledged or not) */
	uint64_t last_ns;              /* the last packet either way (idle reaping) */
	uint64_t bytes_up, bytes_down; /* TCP payload since the handover */
};

/* Load the program (kbal_pkt from the pins: a restart keeps its entries)
 * and attach it to lo. links: a previous image's tcx links, which get this
 * image's program in place of theirs (BPF_LINK_UPDATE, no moment without
 * one) and become this image's; closed on failure. */
int kbal_packet_init(struct kbal_packet *p, const char *pin_dir,
		     const struct kbal_pkt_link *links, unsigned nlinks);
void kbal_packet_fini(struct kbal_packet *p);

/*
 * KbalHost: the kbal hosts behind the service address, addrs[id] (network
 * order, 0: none; the configuration's, the same on every host). This
 * host's id is the one whose address is one of its own; it goes into the
 * TSvals its joined flows send their clients. The others go into
 * kbal_hosts with the interface that reaches each, where the program is
 * attached (both ways): a packet of theirs that lands here is sent on
 * (the second chance, docs/scale-out.md), if it is for one of svc,
 * kbald's listeners. 0, or -errno.
 */
int kbal_packet_hosts(struct kbal_packet *p, const uint32_t addrs[KBAL_MAX_HOSTS],
		      const struct kbal_service *svc, unsigned nsvc);

/* Before the member connect of a flow that may take the packet path: a
 * client whose window is smaller than a segment gets a member-side socket
 * whose receive buffer is no larger, so that the member never learns a
 * window (and a segment size) the client cannot take. */
void kbal_packet_size_member(int mfd, int cfd);

/* Installs the LEARN entries and attaches the program to the interfaces
 * that hold the two sockets' local addresses, if it is not there yet. */
/* Addresses the caller knows already (each NULL: asked of the socket): the
 * client's (from accept), the member-side socket's own and the member's. */
int kbal_packet_learn(struct kbal_packet *p, int cfd, int mfd, struct kbal_pkt_flow *fl,
		      const struct sockaddr_in *cpeer, const struct sockaddr_in *mlocal,
		      const struct sockaddr_in *mpeer);

/* rd_m of a member-side socket that carried earlier clients' exchanges (a
 * kept connection): its receive queue is looked at instead */
#define KBAL_PKT_RD_QUEUE UINT64_MAX

/*
 * Join the flow. cfd/mfd must have nothing unread and mfd nothing unacked:
 * rd_c, rd_m are the bytes kbald has read from each (compared with what
 * the socket received: nothing else may be waiting; or KBAL_PKT_RD_QUEUE). pending: the bytes of
 * the first response kbald has yet to write to cfd, right after (the
 * entries are made for cfd's sequence numbers past them). Returns 0 (mfd
 * is left frozen in repair mode; cfd stays live until kbal_packet_poll()
 * says switched), or -errno with both sockets as they were (the caller
 * splices with sockmap instead). why receives a reason.
 */
int kbal_packet_handover(struct kbal_packet *p, int cfd, int mfd, uint64_t rd_c, uint64_t rd_m,
			 uint32_t pending, struct kbal_pkt_flow *fl, enum kbal_flow_why *why);

/* 1 if the handover may come before the first response is written (its
 * pending bytes): the interface the client's packets come in by is known
 * (seen since the member connect, lo for a client on 127/8) or can be
 * guessed from kbald's address towards it (the program corrects it) */
int kbal_packet_early(struct kbal_packet *p, const struct kbal_pkt_flow *fl);

/* 0, or -ENOENT: the entries are gone (or another flow's now) */
int kbal_packet_poll(struct kbal_packet *p, struct kbal_pkt_flow *fl,
		     struct kbal_pkt_state *st);

/* A joined flow's two directions as its kbal_pkt entries have them,
 * exact (two lookups): [0] the client's (client -> member), [1] the
 * member's */
struct kbal_pkt_legs {
	uint32_t client_ack;           /* the client's last acknowledgement, as it came */
	int client_behind;             /* the client holds the member up: its
	                                  window shut (KBAL_PKT_WIN_SHUT), or its
	                                  acknowledgement behind the member's bytes */
	uint64_t bytes[2];             /* each one's stream bytes since the handover
	                                  (a retransmission, an ACK, a probe: none) */
	uint64_t last_ns[2];           /* the kernel's clock at each one's last packet */
};

/* 0, or -ENOENT (not joined, or the entries gone) */
int kbal_packet_legs(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		     struct kbal_pkt_legs *lg);

/* A joined flow's bytes and last packet from its kbal_pkt entries, exact
 * (kbal_pkt_seen has them as of the last clock tick a packet passed in,
 * or the last FIN/RST): two lookups, for the close of a flow still open.
 * 0, or -ENOENT (not joined, or the entries gone): st as it was. */
int kbal_packet_exact(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		      struct kbal_pkt_state *st);

/* A flow given back by the program (its entries SHIFT entries now, whose
 * own counts start at the flip, and kbal_pkt_seen as the last tick had
 * it): the bytes the program carried each way up to the flip, exact, from
 * the kbald -> member SHIFT entry's offsets (kbal_pkt_shift_to_peer(): the
 * member's next byte each way, against the member-side socket frozen at
 * the switch, where the program's counts start), mod 2^32 on top of last
 * (the counts as last taken, at most 4 GiB behind). 0, or -ENOENT (no such
 * entry): bytes unchanged. */
int kbal_packet_back_bytes(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			   const uint64_t last[2], uint64_t bytes[2]);

void kbal_packet_forget(struct kbal_packet *p, struct kbal_pkt_flow *fl);

/* Leave repair mode without a window probe; reuseaddr: the socket had
 * SO_REUSEADDR (an accepted one), which repair mode cleared. */
void kbal_packet_thaw(int fd, int reuseaddr);

/*
 * Before the switch: the client's next bytes reached kbald's client socket
 * (they passed tc a moment before the SWITCH entry existed, and reached TCP
 * after kbald's last look), so the flow can never switch. If nothing of the
 * member has been rewritten yet, undo the handover: the member-side socket
 * thawed, the entries gone; 0, or -EBUSY when it is too late.
 */
int kbal_packet_take_back(struct kbal_packet *p, struct kbal_pkt_flow *fl, int mfd);

/*
 * Ending a joined flow that is still open (kbald stops, or the flow was idle
 * too long): both peers are told at once rather than at their next packet.
 * kbal_packet_end_prepare() reads the flow's sequence numbers before its
 * entries go (0, or -ENOENT when they are not this flow's); once the entries
 * are gone and the frozen socket closed, kbal_packet_end_probe() sends each
 * peer an ACK far out of its window, from kbald's side of its leg. The peer
 * answers with an ACK of its own (RFC 793), which now meets no joined flow
 * and no socket but kbald's listener: the stack answers it with a RST whose
 * sequence number is the one the peer expects (RFC 5961), and the peer's
 * connection ends.
 */
struct kbal_pkt_probe {
	struct kbal_pkt_key to[2];     /* kbald -> client, kbald -> member */
	uint32_t seq[2], ack[2];
};

int kbal_packet_end_prepare(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			    struct kbal_pkt_probe *pr);
/* (a peer whose key in pr->to is left zero is not told) */
void kbal_packet_end_probe(struct kbal_packet *p, const struct kbal_pkt_probe *pr);

/*
 * A joined flow's client leg taken back by kbald, to answer the client
 * itself where httpd's clock ran out (408, 502: packet_clocks.c), on its
 * kept client-side socket cfd (kept_client, no KbalHost id). The member's
 * entries go first (from there nothing of the member's reaches the
 * client), then the client's two become SHIFT entries onto cfd
 * (docs/unswitch.md, kbal_pkt_shift_from_peer()), and cfd's window is the
 * client's largest again (kbald's own ACK at the switch announced none).
 * Only where the client has all the member sent: nothing of the member's
 * answer would come again. The member's two entries become SHIFT entries
 * too, onto kbald's frozen member-side socket mfd, which leaves repair
 * mode, where the member has all the client sent and mfd nothing to read
 * or send: then pr->to[1] is left zero, and mfd's close sends the member
 * a FIN. 0: cfd is the client's connection (write, then close: the SHIFT
 * entries must outlive it), pr the member's probe where its leg stayed
 * (kbal_packet_end_probe() once mfd, still frozen, is closed). -EAGAIN:
 * nothing changed (the caller ends the flow as before). -EBUSY: the
 * entries are partly gone, pr tells both peers (the caller ends the flow,
 * then probes).
 */
int kbal_packet_take_client(struct kbal_packet *p, struct kbal_pkt_flow *fl, int cfd, int mfd,
			    struct kbal_pkt_probe *pr);

/* The joined flows a kbald that died (killed, crashed) left in the pinned
 * kbal_pkt of pin_dir: each open one's peers are probed as above (its
 * program went with that kbald, and no socket holds the 4-tuples any more:
 * the answers are reset). Before the pins go; how many peers were told. */
unsigned kbal_packet_end_stale(const char *pin_dir);

/* A restart in place: the slot of a flow taken over is this image's too,
 * and new flows' generations follow its. */
void kbal_packet_claim(struct kbal_packet *p, const struct kbal_pkt_flow *fl);

/*
 * At the switch, with the client-side socket kept (docs/unswitch.md): the switching packet acknowledged that socket's last bytes
 * and went to the member; the socket gets an ACK of its own (seq: its
 * rcv_nxt, ack: its snd_nxt, the client's last TSval, window 0), which
 * the program lets pass (KBAL_PKT_MARK), or it would retransmit into the
 * DROP entry until it timed out.
 */
int kbal_packet_ack_kept(struct kbal_packet *p, const struct kbal_pkt_flow *fl);

/*
 * Ask the program to give the joined flow fl back to kbald at the first
 * byte of its next request where that is exact (bpf/packet.bpf.c,
 * kbal_pkt_give_back()): kbald's kept client-side socket cfd and frozen
 * member-side socket mfd read (sequence numbers, clocks) into
 * kbal_pkt_back, then the request entry of kbal_pkt_frame marked. The
 * program reports KBAL_PKT_EV_BACK once it has; kbald then thaws mfd
 * (kbal_packet_thaw()). how: KBAL_PKT_BACK_ASKED (now), or
 * KBAL_PKT_BACK_WATCH (at the switch: the program asks by itself once
 * kbal_balancers[balancer].gen is no longer bgen). dec (with a watch):
 * the decision the program holds each request to (kbal_pkt_decide), for
 * a flow handed over with fl->decide; NULL for none. to_write: bytes
 * kbald is about to write to cfd, all at once (the handover's first
 * answer: a decided flow is armed before it, so that the client's next
 * request cannot come before the arming), counted as written. 0, or
 * -errno (nothing asked).
 */
int kbal_packet_ask_back(struct kbal_packet *p, struct kbal_pkt_flow *fl, int cfd, int mfd,
			 unsigned how, uint32_t balancer, uint32_t bgen,
			 const struct kbal_sk_http *dec, uint32_t to_write);

/* Close a socket in repair mode: it sends nothing (no FIN, no RST). */
void kbal_packet_close_frozen(int fd);

/* why the program lost fl's framing ("request: ...", "answer: ..."), "-"
 * while both directions are framed */
const char *kbal_packet_frame_why(const struct kbal_packet *p, const struct kbal_pkt_flow *fl);

/* Where a joined flow's exchanges are, from its framing (kbal_pkt_frame,
 * both directions), for httpd's clocks (packet_clocks.c) */
enum kbal_pkt_request {
	KBAL_PKT_RQ_NONE = 0,          /* between requests: the next one not begun */
	KBAL_PKT_RQ_HEAD,              /* a request's head begun, not whole */
	KBAL_PKT_RQ_BODY,              /* a request's body (or chunks) under way */
};
struct kbal_pkt_phase {
	enum kbal_pkt_request request;
	uint32_t boundary;             /* where that request began (the sender's seq) */
	uint32_t got;                  /* its bytes so far */
	uint32_t owed;                 /* requests whose final answer has not ended */
	int answering;                 /* an answer's head or body under way */
	int line;                      /* a head's request line came */
};

/* fl's phase: 0, or -ENOENT where fl is not framed or its framing was
 * lost (nothing known then). The entries are the program's, read without
 * a lock: exact when no packet of the flow runs meanwhile, which is when
 * the clocks look (the flow quiet). */
int kbal_packet_phase(const struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		      struct kbal_pkt_phase *ph);

/* A decided flow's decision (kbal_pkt_decide): 0, or -errno. */
int kbal_packet_decision(const struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			 struct kbal_sk_http *st);

#endif
