/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kbal_shared.h - the one header that crosses the kernel/user boundary.
 *
 * Every map key and value, the status bits, the limits and the map names.
 * Only fixed-width types and explicit padding, with a size assertion per
 * struct so that clang (BPF) and gcc (user) both catch drift.
 *
 * String fields are char arrays on purpose: bpftool prints char[] as a
 * string, which is what an operator reading `bpftool map dump` wants.
 */
#ifndef KBAL_SHARED_H
#define KBAL_SHARED_H

#ifdef __BPF__
/* vmlinux.h already defines the __u* and __be* types */
#else
#include <linux/types.h>
#endif

/* Bumped whenever a struct below changes: pinned maps of another layout
 * are recreated, never reused (see kbal_layout in user/maps.c). */
#define KBAL_LAYOUT_VERSION 20

#ifndef KBAL_MAX_BALANCERS
#define KBAL_MAX_BALANCERS 64
#endif
#ifndef KBAL_MAX_MEMBERS
#define KBAL_MAX_MEMBERS 256
#endif
#ifndef KBAL_MAX_FLOWS
#define KBAL_MAX_FLOWS 65536
#endif
#define KBAL_ROUTE_LEN 32
#define KBAL_NAME_LEN 64

/* Map names: at most 15 characters, pinned by name under the pin dir. */
#define KBAL_MAP_META      "kbal_meta"
#define KBAL_MAP_BALANCERS "kbal_balancers"
#define KBAL_MAP_MEMBERS   "kbal_members"
#define KBAL_MAP_MEMBERS_CONF "kbal_members_conf"
#define KBAL_MAP_FLOWS     "kbal_flows"
#define KBAL_MAP_SK_SRC    "kbal_sk_src"
#define KBAL_MAP_SK_DST    "kbal_sk_dst"
#define KBAL_MAP_STATS     "kbal_stats"
#define KBAL_MAP_SK_HTTP   "kbal_sk_http"
#define KBAL_MAP_RULES     "kbal_rules"
#define KBAL_DEFAULT_PIN_DIR "/sys/fs/bpf/kbal"

/* Member status bits, Apache's letters in comments. 0 means OK. */
enum kbal_member_status {
	KBAL_ST_DISABLED     = 1u << 0, /* D: takes no new request */
	KBAL_ST_STOPPED      = 1u << 1, /* S: administratively stopped */
	KBAL_ST_ERROR        = 1u << 2, /* E: failed, retried after retry_sec */
	KBAL_ST_HOT_STANDBY  = 1u << 3, /* H: used only when no other is usable */
	KBAL_ST_DRAIN        = 1u << 4, /* N: only sticky requests */
	KBAL_ST_IGNORE_ERR   = 1u << 5, /* I: errors never set E */
	KBAL_ST_HC_FAIL      = 1u << 7, /* C: failed mod_proxy_hcheck's health
					 * checks (hcheck.c); takes no request */
	KBAL_ST_SPARE        = 1u << 6, /* R: hot spare, stands in for an
					 * unusable member of its lbset */
};

enum kbal_lbmethod {
	KBAL_LB_BYREQUESTS  = 0,
	KBAL_LB_BYTRAFFIC   = 1,
	KBAL_LB_BYBUSYNESS  = 2,
};

enum kbal_balancer_flags {
	KBAL_BF_NOFAILOVER = 1u << 0, /* sticky member down: 503, no other */
	KBAL_BF_MAX_SET    = 1u << 2, /* maxattempts= given (or the manager's b_max):
				       * Apache's XML view shows it then */
	KBAL_BF_SPLICE_SET = 1u << 1, /* KbalSplice given: splice is asked for
				       * by name (unset, it reads packet and means
				       * sockmap for keep-alive connections) */
	KBAL_BF_NO_RECOVERY = 1u << 3, /* forcerecovery=Off: with every member
				       * in error, 503 until a retry= ends */
	KBAL_BF_FAIL_TIMEOUT = 1u << 4, /* failontimeout=On: a member that keeps
				       * an answer waiting for its timeout
				       * enters the error state */
	KBAL_BF_PACKET_FRAMED = 1u << 5, /* the packet path, on a host with a
				       * KbalHost id (its program decides no
				       * request), by default or where the
				       * configuration may decide a keep-alive
				       * connection's later requests otherwise:
				       * those connections take sockmap, framed */
	KBAL_BF_WORKER = 1u << 6,     /* not a balancer: mod_proxy's plain worker
				       * (ProxyPass PATH http://HOST:PORT/...),
				       * its one member; no BALANCER_* variables,
				       * not on the balancer-manager */
};

/* kbal_meta[0]: what wrote these maps. */
struct kbal_meta {
	__u32 layout;        /* KBAL_LAYOUT_VERSION */
	__u32 nbalancers;    /* entries used in kbal_balancers */
	__u32 nmembers;      /* entries given to balancers in kbal_members:
			      * their members and free slots */
	__u32 pid;           /* the kbald that owns the pins */
	__u64 started_ns;    /* CLOCK_REALTIME of its start (of the image, at a
			      * restart in place) */
	__u32 restarts;      /* restarts in place that took over */
	__u32 refused;       /* restarts refused (the configuration did not load) */
	__u64 beat_ns;       /* CLOCK_MONOTONIC of kbald's last loop turn (one a
			      * second at least): a stopped or wedged kbald is
			      * told from a live one (kbalctl host check) */
	__u32 host_state;    /* enum kbal_host_state: written by kbalctl host,
			      * kept across a restart in place, read by the
			      * health check that drives the BGP announcement */
	__u32 pad;
	__u64 host_since_ns; /* CLOCK_REALTIME of the last host_state change */
};
_Static_assert(sizeof(struct kbal_meta) == 56, "ABI kbal_meta");

/* The host's part in a cluster of kbal hosts behind one address
 * (docs/scale-out.md): only an active host's health check passes, so only
 * it announces the service address to the router. */
enum kbal_host_state {
	KBAL_HOST_ACTIVE   = 0,
	KBAL_HOST_DRAINING = 1,   /* announcement withdrawn: no new flows */
};

/* kbal_balancers[i], i < meta.nbalancers. Written at start-up. */
struct kbal_balancer {
	char  name[KBAL_NAME_LEN];     /* "mycluster" (without balancer://) */
	char  sticky[KBAL_ROUTE_LEN];  /* sticky cookie name, "" for none */
	__u32 lbmethod;                /* enum kbal_lbmethod */
	__u32 flags;                   /* enum kbal_balancer_flags */
	__u32 first_member;            /* index of its first kbal_members entry */
	__u32 nmembers;                /* its members are contiguous: first_member
					* to first_member + nmembers - 1; written
					* last when a member is added (release) */
	__u32 timeout_ms;              /* timeout=: how long a request waits for a
					* usable member when there is none (Apache's
					* find_best_worker), 0: not at all (503) */
	__u32 splice;                  /* enum kbal_splice_mode */
	__u32 gen;                     /* bumped by whatever changes a member's
					* status (kbald, the manager, kbalctl): a
					* request the kernel keeps was decided
					* under the same generation (kbal_sk_http) */
	__u32 slots;                   /* its entries: nmembers members, then
					* slots - nmembers free ones (growth=), where
					* the manager or kbalctl add adds a member.
					* A free slot is no member: nothing picks,
					* lists or counts it (url "") */
	__u32 max_attempts;            /* maxattempts=: failovers after a failed
					* member before 503 (Apache's default: its
					* members less one) */
	__u8  sticky_sep;              /* stickysessionsep= ('.'), 0: Off (the
					* route is the whole value) */
	__u8  scolon;                  /* scolonpathdelim=On: ';' ends a URL's value */
	__u16 _pad;
	char  sticky_path[KBAL_ROUTE_LEN]; /* stickysession=COOKIE|URLPARAM's
					* second name (else the cookie's): what
					* the URL carries */
};
_Static_assert(sizeof(struct kbal_balancer) == 168, "ABI kbal_balancer");

enum kbal_splice_mode {
	KBAL_SPLICE_SOCKMAP = 0,
	KBAL_SPLICE_OFF     = 1,   /* userspace copies (reference path) */
	KBAL_SPLICE_PACKET  = 2,   /* packet-level where eligible, else sockmap */
};

/*
 * kbal_members[i], i < meta.nmembers: the manager's state (entries past
 * their balancer's nmembers are free slots, see kbal_balancer.slots). kbald reads it
 * for every pick (mmap, no syscall) and kbalctl writes `status` in place,
 * so a change counts for the next connection. Counters are kbald's.
 */
struct kbal_member {
	char  route[KBAL_ROUTE_LEN];   /* route=N, "" when none */
	char  url[KBAL_NAME_LEN];      /* http://host:port as configured */
	__u32 balancer;                /* index into kbal_balancers */
	__u32 status;                  /* enum kbal_member_status bits */
	__u8  addr[16];                /* IPv6, or IPv4 as ::ffff:a.b.c.d */
	__u32 ping_ms;                 /* ping=: how long kbald waits for its answer
					* to a head with Expect: 100-continue, 0:
					* its timeout (was padding) */
	__u16 port;                    /* host order, readable in dumps */
	__u16 lbset;                   /* lower sets are tried first */
	__u32 lbfactor;                /* loadfactor= in hundredths, as Apache's
					* lbfactor: 100..10000 (1.5 is 150) */
	__u32 retry_sec;               /* how long E lasts */
	__u32 connect_timeout_ms;      /* connectiontimeout= / timeout= */
	__u32 idle;                    /* kept-alive connections in its pool now */
	__u64 error_until_ns;          /* CLOCK_MONOTONIC end of E */
	__s64 lbstatus;                /* byrequests/bybusyness running score, in
					* lbfactor units (Apache's) */
	__u64 elected;                 /* requests routed here */
	__u64 busy;                    /* connections open to it now */
	__u64 bytes_to;                /* bytes sent to it (ended flows + first req) */
	__u64 bytes_from;              /* bytes read from it */
	__u64 errors;                  /* failed connects */
	__u64 reused;                  /* requests sent on a pooled connection */
	char  redirect[KBAL_ROUTE_LEN];/* redirect=: a sticky request for this member
					* when it is unusable goes to the member of
					* this route (Apache's route redirection) */
	__u64 sticky_kept;             /* requests its sticky route sent here that
					* the kernel kept (the stream parser adds);
					* kbald weighs them into lbstatus as Apache
					* weighs a sticky request */
	__u32 timeout_ms;              /* timeout=: how long it may keep an answer
					* waiting, 0: Timeout / ProxyTimeout */
	__u32 flags;                   /* enum kbal_member_flags */
};
_Static_assert(sizeof(struct kbal_member) == 256, "ABI kbal_member");

enum kbal_member_flags {
	KBAL_MF_KEEPALIVE = 1u << 0,   /* keepalive=On: SO_KEEPALIVE on its connections */
};

/* kbal_members_conf[i]: what the configuration kbald loaded says of
 * kbal_members[i], where an operator may change it at run time (the
 * manager, kbalctl set): a change is a difference from this (kbalctl
 * status, the page), kbalctl reset writes it back, and a restart in place
 * keeps the changes. Written at start-up, and when a member is added. */
struct kbal_member_conf {
	__u32 status;                  /* KBAL_ST_* but E */
	__u32 lbfactor;                /* hundredths, as kbal_member's */
	__u32 lbset;
	__u32 flags;                   /* enum kbal_member_conf_flags */
	char  route[KBAL_ROUTE_LEN];
	char  redirect[KBAL_ROUTE_LEN];
};
_Static_assert(sizeof(struct kbal_member_conf) == 80, "ABI kbal_member_conf");

enum kbal_member_conf_flags {
	KBAL_MC_ADDED = 1u << 0,       /* no BalancerMember: added at run time into a
					* free slot (b_nwrkr, kbalctl add); the values
					* above are what it started with */
};

/* kbal_flows: one entry per live client connection, keyed by the client. */
struct kbal_flow_key {
	__u8   client_addr[16];        /* IPv6, or IPv4 as ::ffff:a.b.c.d */
	__be16 client_port;
	__u16  listen_port;            /* host order */
};
_Static_assert(sizeof(struct kbal_flow_key) == 20, "ABI kbal_flow_key");

enum kbal_flow_state {
	KBAL_FLOW_FIRST   = 0,  /* first exchange in kbald */
	KBAL_FLOW_SPLICED = 1,  /* handed over: both directions in the kernel
				 * (path sockmap) or copied by kbald (path copy) */
	KBAL_FLOW_CLOSING = 2,  /* one side ended, draining */
};

enum kbal_flow_path {
	KBAL_PATH_NONE    = 0,
	KBAL_PATH_SOCKMAP = 1,
	KBAL_PATH_COPY    = 2,  /* KbalSplice off: kbald copies */
	KBAL_PATH_PACKET  = 3,  /* joined packet by packet (bpf/packet.bpf.c) */
};

/* Why a flow took another path than its KbalSplice asked for. */
enum kbal_flow_why {
	KBAL_WHY_NONE     = 0,  /* the path configured (or not decided yet) */
	KBAL_WHY_ONCE,          /* no second request can come: copied unless large */
	KBAL_WHY_BUSY,          /* bytes beyond the first exchange (pipelined, a body) */
	KBAL_WHY_UPGRADE,       /* Upgrade or Expect */
	KBAL_WHY_RESPONSE,      /* a first response kbald does not follow to its end */
	KBAL_WHY_OPTIONS,       /* TCP options differ between the legs */
	KBAL_WHY_MSS,           /* a leg's segments would not fit the other's MSS */
	KBAL_WHY_UNSEEN,        /* a peer's packets (its clock) were not seen */
	KBAL_WHY_LEGS,          /* one leg on loopback, the other not */
	KBAL_WHY_RACE,          /* a packet arrived during the handover */
	KBAL_WHY_REPAIR,        /* TCP_REPAIR refused or failed */
	KBAL_WHY_MAP,           /* kbal_pkt could not take the entries */
	KBAL_WHY_COPYING,       /* kbald serves this request itself, on a kept
				 * member connection (the first of a keep-alive
				 * connection: it is handed over at the second) */
	KBAL_WHY_BACK,          /* the kernel handed a request (or response
				 * head) back: kbald decides each request since */
	KBAL_WHY_REWRITE,       /* its requests need what the kernel does not do
				 * (a path or Host rewritten, a Header on every
				 * response): kbald decides each request */
	KBAL_WHY_IPV6,          /* the packet path asked for, an IPv6 client or
				 * member: packet.bpf.c rewrites IPv4 headers only */
	KBAL_WHY_HTTP10,        /* an HTTP/1.0 keep-alive client: the kernel frames
				 * HTTP/1.1 only, kbald decides each request */
	KBAL_WHY_GIVEN_BACK,    /* the program gave a joined flow back at a request
				 * kbald asked for (a member's status changed) */
	KBAL_WHY_COOKIE,        /* the answer takes the route's cookie: kbald hands
				 * the connection over at a request that carries it */
	KBAL_WHY_MAX,
};

struct kbal_flow {
	__u32 member;                  /* index into kbal_members */
	__u32 state;                   /* enum kbal_flow_state */
	__u32 path;                    /* enum kbal_flow_path */
	__u16 member_lport;            /* kbald's source port towards the member */
	__u16 why;                     /* enum kbal_flow_why */
	__u64 client_cookie;           /* socket cookies: keys of kbal_sk_src/dst */
	__u64 member_cookie;
	__u64 start_ns;                /* CLOCK_MONOTONIC */
};
_Static_assert(sizeof(struct kbal_flow) == 40, "ABI kbal_flow");

#define KBAL_MAX_HOSTS     8           /* host ids 1..7 (KbalHost): three bits of a TSval */
#define KBAL_HOST_ID_BITS  3

/*
 * kbal_pkt: the packet-level splice (bpf/packet.bpf.c). One entry per
 * direction and per frozen socket of a flow, keyed by the 4-tuple a packet
 * carries when it reaches the program. REWRITE entries turn a packet of
 * one leg into a packet of the other; DROP entries swallow what kbald's
 * frozen sockets might still emit.
 */
struct kbal_pkt_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};
_Static_assert(sizeof(struct kbal_pkt_key) == 12, "ABI kbal_pkt_key");

enum kbal_pkt_action {
	KBAL_PKT_REWRITE = 0,
	KBAL_PKT_DROP    = 1,
	KBAL_PKT_LEARN   = 2,          /* pass, noting the sender's TSval */
	KBAL_PKT_SWITCH  = 3,          /* pass to kbald's live socket until a packet
					* acks switch_ack with seq switch_seq, then
					* become REWRITE (that packet included) */
	KBAL_PKT_HOLD    = 4,          /* kbald's live socket: pass while the entry
					* of the reverse 4-tuple is SWITCH, then DROP */
	KBAL_PKT_SHIFT   = 5,          /* a flow given back to kbald by
					* offsets; rewritten as REWRITE, the 4-tuple
					* kept (the entry's own), acted on at every
					* hook (ingress: the peer's, egress: kbald's) */
};

/* A packet kbald sends with this mark (SO_MARK) passes
 * the program untouched: the ACK kbald gives its kept client-side socket
 * at the switch (the switching packet, which acknowledged the socket's
 * last bytes, went to the member) */
#define KBAL_PKT_MARK 0x6b62616cu

enum kbal_pkt_flags {          /* set by the program */
	KBAL_PKT_FIN = 1u << 0,    /* a FIN passed in this direction */
	KBAL_PKT_RST = 1u << 1,    /* a RST passed */
	KBAL_PKT_SWITCHED = 1u << 2, /* kbal_pkt_seen: the SWITCH entry became REWRITE */
	KBAL_PKT_GONE = 1u << 3,   /* kbal_pkt_seen: the program deleted the flow's
				    * entries (a SYN after its end) */
	KBAL_PKT_TS_LEARN = 1u << 4, /* set by kbald on a SWITCH entry whose peer's
				    * clock is not known yet: last_tsval holds the
				    * other leg's TSval + 1 at the handover, and the
				    * first packet of the HOLD entry (its TSecr: the
				    * peer's clock) gives tsval_delta, and the
				    * reverse leg's tsecr_delta; then cleared */
	KBAL_PKT_IF_LEARN = 1u << 5, /* the same for the interface the peer's
				    * packets come in by: the one kbald's first
				    * packet to it leaves by, into the reverse
				    * entry's ifindex (if both legs are on lo or
				    * neither; else the flag stays, and the SWITCH
				    * with it: kbald takes the flow back) */
	KBAL_PKT_PEER_FIN = 1u << 6, /* the other direction's FIN passed: fin_ack
				    * is the acknowledgement that covers it */
	KBAL_PKT_ACKED_FIN = 1u << 7, /* this direction acknowledged the other's
				    * FIN (also in kbal_pkt_seen): with both
				    * directions so, nothing of the flow is left
				    * to deliver and it ends (kbal_pkt_events) */
	KBAL_PKT_ID_ECHO = 1u << 9, /* set by kbald on a client -> member entry
				    * whose reverse entry has a host_id: the
				    * client's TSecr echoes TSvals that carry it,
				    * decoded by ts_base and ts_mbase */
	KBAL_PKT_DECIDE = 1u << 10, /* set by kbald on a client -> member entry:
				    * the program decides each request as kbald
				    * would (kbal_pkt_decide), and the entry
				    * switches only once kbal_pkt_back is armed */
	KBAL_PKT_MEMBER_GONE = 1u << 11, /* a decided flow's member -> client
				    * entry: the member ended its connection
				    * between answers, a reset or a FIN with
				    * an answer's last bytes (taken off:
				    * kbal_pkt_member_ended()); its resets are
				    * dropped from here, the client's next
				    * request (or FIN) is kbald's */
	KBAL_PKT_WIN_SHUT = 1u << 12, /* a REWRITE entry: the sender's last ACK
				    * announced a window of 0, as rewritten for
				    * the other leg's scale (the sender takes
				    * nothing: packet_clocks.c,
				    * client_stuck_at()) */
	KBAL_PKT_WIN_CAP = 1u << 8, /* set by kbald on a HOLD entry: the window
				    * field of what kbald's client-side socket
				    * still sends is capped at win_cap (the
				    * member's window, in the client leg's scale),
				    * so that the client never again believes the
				    * larger window that socket had promised */
};

struct kbal_pkt_rw {
	__be32 saddr;                  /* the other leg's addresses and ports;
	                                  HOLD: the 4-tuple of the reverse leg's
	                                  entry (KBAL_PKT_TS_LEARN, _IF_LEARN) */
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	union {
		__u32 seq_delta;       /* seq += (mod 2^32) */
		__u32 win_cap;         /* HOLD with KBAL_PKT_WIN_CAP: the largest
		                          window field it lets pass */
	};
	__u32 ack_delta;               /* ack and SACK edges += */
	__u32 tsval_delta;             /* TSval += */
	__u32 tsecr_delta;             /* TSecr += */
	__s8  win_shift;               /* window = window << shift (>> -shift) */
	__u8  action;                  /* enum kbal_pkt_action */
	__u16 gen;                     /* kbald's flow generation: whose entry */
	__u32 flags;                   /* enum kbal_pkt_flags, set by the program */
	__u32 ifindex;                 /* REWRITE: 0 pass on (lo), else leave by it;
	                                  LEARN: where the peer's packets came in */
	__u32 last_tsval;              /* LEARN: the last TSval seen; SWITCH with
	                                  KBAL_PKT_TS_LEARN: the base (see there);
	                                  REWRITE, SHIFT: the sender's last TSval
	                                  (as it came: the give-back's clocks) */
	__u32 switch_ack;              /* SWITCH: kbald's snd_nxt at the handover;
	                                  REWRITE, SHIFT: the last ack as it came */
	__u32 switch_seq;              /* SWITCH: kbald's rcv_nxt at the handover;
	                                  REWRITE: the highest sequence number seen + 1 */
	__u32 slot;                    /* this direction's kbal_pkt_seen entry */
	__u32 fin_ack;                 /* KBAL_PKT_PEER_FIN: the acknowledgement
	                                  number (as this direction's packets carry
	                                  it) that covers the other's FIN */
	/* host_id set (docs/scale-out.md, "Second chance"): the member -> client
	 * entry sends the client TSval = ((TSval + tsval_delta) << 3) | host_id,
	 * and so does the HOLD entry for kbald's client-side socket until the
	 * switch; the client -> member entry (KBAL_PKT_ID_ECHO) maps an echo x
	 * of those back exactly: TSecr = ts_mbase + ((s32)(x - ts_base) >> 3),
	 * and, while it is SWITCH, + tsecr_delta for kbald's socket */
	__u32 ts_base;                 /* client -> member: the client's view of the
	                                  member's TSval ts_mbase, low 3 bits 0 */
	__u32 ts_mbase;
	__u8  host_id;                 /* 0: none, TSvals as the deltas alone say */
	/* HTTP framing (bpf/pkt_frame.bpf.h), the part a body segment needs:
	 * here, not in kbal_pkt_frame, so that a body segment touches no other
	 * memory than its entry (an mmapped array's vmalloc'ed pages cost a
	 * TLB miss; kbal-pktbench: ~150 ns a packet). kbald sets fr_flags
	 * KBAL_PKT_FR_ON and fr_seq (= kbal_pkt_frame's seq) with the entry. */
	__u8  fr_state;                /* enum kbal_frame_state */
	__u8  fr_flags;                /* KBAL_PKT_FR_ON, KBAL_PKT_FR_LOST */
	__u8  hold;                    /* the program's, KBAL_PKT_DECIDE: a request
					* that must go to kbald came before the flow
					* was quiet; the client's bytes from it on are
					* dropped until it can be given back */
	__u32 fr_seq;                  /* framed up to (the sender's numbers) */
	__u32 fr_pad;
	__u64 fr_left;                 /* BODY, CHUNK_DATA: bytes left */
	__u64 packets;
	__u64 bytes;                   /* the stream's bytes (retransmissions once) */
	__u64 last_ns;                 /* bpf_ktime_get_ns() of the last packet */
};
_Static_assert(sizeof(struct kbal_pkt_rw) == 112, "ABI kbal_pkt_rw");

#define KBAL_PKT_FRAMING 1             /* kbal_pkt_rw has fr_* (kbal-pktbench) */
enum {
	KBAL_PKT_FR_ON   = 1,          /* kbal_pkt_rw.fr_flags: this direction is framed */
	KBAL_PKT_FR_LOST = 2,          /* its framing was lost (kbal_pkt_frame.why) */
};

/*
 * A joined flow's timestamps with host id (kbald at the handover, and the
 * BPF tests): c_tsval is the TSval kbald's client-side socket sends now,
 * m_last the member's last TSval seen. The client's view of both clocks
 * starts at the next multiple of 8 past c_tsval (so it never goes back:
 * PAWS): the member's (down, its TSval + *tsval_delta, times 8) from
 * m_last, that of kbald's socket until the switch (hold, *hold_delta) from
 * c_tsval. An echo x of either maps back by its distance from *ts_base:
 * to the member's clock after the switch (*ts_mbase + that / 8), to kbald's
 * socket's before it (+ *pre_delta).
 */
static inline void kbal_pkt_ts_id(__u32 c_tsval, __u32 m_last, __u32 *tsval_delta,
				  __u32 *ts_base, __u32 *ts_mbase, __u32 *hold_delta,
				  __u32 *pre_delta)
{
	__u32 v0 = (c_tsval >> KBAL_HOST_ID_BITS) + 1;

	*tsval_delta = v0 - m_last;
	*ts_base = v0 << KBAL_HOST_ID_BITS;
	*ts_mbase = m_last;
	*hold_delta = v0 - c_tsval;
	*pre_delta = c_tsval - m_last;
}

/*
 * kbal_hosts (BPF_F_MMAPABLE array, KBAL_MAX_HOSTS entries, index: a host
 * id): the kbal hosts that share a service address (KbalHost, written by
 * kbald at start-up). Entry 0 holds this host's own id (self); entry i
 * another host's address and the interface that reaches it. The packet
 * program puts self in the TSvals of joined flows, and forwards a packet
 * of an established flow that no socket here holds to the host its TSecr
 * names (the second chance, docs/scale-out.md).
 */
#define KBAL_MAP_HOSTS     "kbal_hosts"

struct kbal_host {
	__be32 addr;                   /* the host's own address, 0: no such host */
	__u32  ifindex;                /* the interface that reaches it (the shared
	                                  segment); entry 0: unused */
	__u32  self;                   /* entry 0: this host's id, 0: none */
	__u32  peers;                  /* entry 0: other hosts known, 0: no second
	                                  chance (nothing is forwarded) */
};
_Static_assert(sizeof(struct kbal_host) == 16, "ABI kbal_host");

/* kbal_services (hash, kbald's Listen sockets, value unused): the second
 * chance forwards only a packet whose listener here is kbald's, by the
 * address and port the listener is bound to (0.0.0.0 for Listen PORT) */
#define KBAL_MAP_SERVICES  "kbal_services"
#define KBAL_MAX_SERVICES  64

struct kbal_service {
	__be32 addr;
	__u16  port;                   /* host order, as struct bpf_sock's src_port */
	__u16  pad;
};
_Static_assert(sizeof(struct kbal_service) == 8, "ABI kbal_service");

/*
 * kbal_pkt_seen: what the program saw of one direction of a flow, in a
 * BPF_F_MMAPABLE array that kbald reads in memory (no syscall per poll).
 * Flags as they happen; bytes and last_ns at most once a clock tick (and
 * at a FIN or RST): kbald reads the kbal_pkt entries where it must be
 * exact (kbal_packet_exact).
 * Entry 2s is a flow's client -> member direction, 2s + 1 the other; kbald
 * writes gen when it gives the slot to a flow, and the program writes only
 * where gen is its entry's (a packet still in the program when a slot is
 * given to another flow changes nothing).
 */
struct kbal_pkt_seen {
	__u16 gen;                     /* kbald's flow generation */
	__u16 pad;
	__u32 flags;                   /* enum kbal_pkt_flags */
	__u32 last_tsval;              /* LEARN: the sender's last TSval */
	__u32 ifindex;                 /* LEARN: where its packets come in */
	__u64 bytes;                   /* as kbal_pkt_rw.bytes */
	__u64 last_ns;                 /* as kbal_pkt_rw.last_ns */
};
_Static_assert(sizeof(struct kbal_pkt_seen) == 32, "ABI kbal_pkt_seen");

#define KBAL_MAP_PKT_SEEN  "kbal_pkt_seen"

/*
 * kbal_pkt_frame (BPF_F_MMAPABLE array, indexed as kbal_pkt_seen: 2s is a
 * joined flow's client -> member direction, its requests; 2s + 1 the
 * member's responses): HTTP/1.1 framing of what the packet program
 * rewrites (bpf/pkt_frame.bpf.h, docs/packet.md "Framing"). kbald writes
 * gen, seq = boundary (the sender's sequence number at which its next
 * message starts, in the sender's own numbers: before the rewrite) and
 * state HEAD when it gives the slot (and the kbal_pkt_rw entry's fr_*);
 * the program frames only where gen is its entry's, and only in-order
 * bytes: seq is how far the stream is framed, state what comes next, as
 * of the last segment that was not a body's middle (those only count down
 * kbal_pkt_rw's fr_left: kbald reads messages, boundary and flags). One writer per direction (as kbal_pkt_rw's
 * counters); the response side reads the request side's head_ring. 64
 * bytes: a cache line per direction.
 */
#define KBAL_MAP_PKT_FRAME "kbal_pkt_frame"

enum kbal_frame_state {
	KBAL_FRAME_HEAD       = 0,     /* a head (possibly begun: hlen bytes of it) */
	KBAL_FRAME_BODY       = 1,     /* a Content-Length body, left bytes of it */
	KBAL_FRAME_CHUNK_SIZE = 2,     /* a chunk-size line (hlen bytes of it) */
	KBAL_FRAME_CHUNK_DATA = 3,     /* left bytes of chunk data, then its CRLF */
	KBAL_FRAME_CHUNK_CRLF = 4,     /* the CRLF after a chunk's data */
	KBAL_FRAME_TRAILER    = 5,     /* trailer lines up to the empty one */
	KBAL_FRAME_CLOSE      = 6,     /* a response body to the connection's end */
};

enum kbal_frame_flags {
	KBAL_FRAME_LOST = 1u << 0,     /* framing lost for good: why says why */
	KBAL_FRAME_STASHED = 1u << 1,  /* a segment beyond a gap in a head or line
					* kept (kbal_frame_stash) until the gap fills */
};

enum kbal_frame_why {                  /* why the framing was lost */
	KBAL_FRAME_WHY_GAP = 1,        /* a segment beyond a gap, the gap in a head or line */
	KBAL_FRAME_WHY_HEAD_MAX,       /* a head or trailer over KBAL_FRAME_HEAD_MAX */
	KBAL_FRAME_WHY_LINE_MAX,       /* a chunk-size line over KBAL_FRAME_LINE_MAX */
	KBAL_FRAME_WHY_BAD,            /* a head or line that does not parse */
	KBAL_FRAME_WHY_TE,             /* a request's Transfer-Encoding not chunked */
	KBAL_FRAME_WHY_UPGRADE,        /* 101: the stream is no longer HTTP */
	KBAL_FRAME_WHY_NO_REQUEST,     /* a final response whose request was not framed */
	KBAL_FRAME_WHY_STEPS,          /* a segment of more pieces than one run frames */
	KBAL_FRAME_WHY_LOAD,           /* bytes the program could not read */
};

#define KBAL_FRAME_HEAD_MAX 8192       /* as http_frame.bpf.h's KBAL_HEAD_MAX */
#define KBAL_FRAME_LINE_MAX 64         /* as KBAL_LINE_MAX */

struct kbal_pkt_frame {
	__u16 gen;                     /* kbald's flow generation */
	__u8  state;                   /* enum kbal_frame_state: what comes next */
	__u8  flags;                   /* enum kbal_frame_flags */
	__u32 seq;                     /* framed up to (the next byte's seq) */
	__u32 boundary;                /* where the message in progress started, or
					* the next one starts (state HEAD, hlen 0) */
	__u32 messages;                /* complete messages (responses: final ones) */
	__u32 heads;                   /* heads complete (responses: final ones) */
	union {
		__u32 interim;         /* responses: 1xx heads (no body, not final) */
		__u32 back;            /* requests: kbald asks for the flow back at the
					* next request boundary (KBAL_PKT_BACK_ASKED;
					* the program only reads it: kbal_pkt_back) */
	};
	__u64 left;                    /* BODY, CHUNK_DATA: bytes left */
	__u64 head_ring;               /* requests: bit i % 64: request i was HEAD */
	/* the piece being parsed, across segments: no byte is kept */
	__u64 num;                     /* Content-Length, chunk size, so far */
	__u16 hlen;                    /* bytes of the head (line) so far */
	__u16 lpos;                    /* bytes of the current line (no CR) */
	__u16 status;                  /* a response's status code */
	__u8  hdr;                     /* a name: candidates; a value: whose */
	__u8  pst;                     /* parse bits (pkt_frame.bpf.h; the first:
					* KBAL_FRAME_PST_HDRS) */
	__u8  tk;                      /* "chunked" matched in a TE token */
	__u8  why;                     /* enum kbal_frame_why */
	__u16 gaps;                    /* segments past a gap framed (the gap in a
					* body) or kept (KBAL_FRAME_STASHED) */
	__u32 lost_at;                 /* the seq at which the framing was lost */
};
_Static_assert(sizeof(struct kbal_pkt_frame) == 64, "ABI kbal_pkt_frame");
/* kbal_pkt_frame.pst: past the head's first line (a request's: its
 * request line came, after which httpd answers a head cut by
 * RequestReadTimeout with 408) */
#define KBAL_FRAME_PST_HDRS 0x01

#define KBAL_MAP_PKT       "kbal_pkt"
/* kbal_pkt_live: one __u64, the flows that have entries in kbal_pkt (kbald
 * counts them, BPF_F_MMAPABLE). While it is 0 the program looks nothing up:
 * a packet of a host with no flow on the packet path costs one load. */
#define KBAL_MAP_PKT_LIVE  "kbal_pkt_live"

/*
 * kbal_pkt_events (ring buffer, pinned: a restart in place reads on where
 * the last image stopped): what kbald must act on at once, so that it
 * sleeps instead of polling. A flow's client-side socket can go once the
 * flow switched; its frozen socket, its entries and its kbal_pkt_seen
 * slot once it ended (both FINs acknowledged, or a RST, or its 4-tuple
 * taken by a new connection). A record names the flow (slot, generation);
 * kbald reads the flow's state in kbal_pkt_seen, so a record read twice or
 * late does no harm, and one lost (the ring full: pkt_ev_lost) is found by
 * kbald's once-a-second look at every flow.
 */
#define KBAL_MAP_PKT_EVENTS "kbal_pkt_events"
#define KBAL_PKT_EVENTS_SIZE (256 * 1024)

enum kbal_pkt_event_kind {
	KBAL_PKT_EV_SWITCHED = 1,
	KBAL_PKT_EV_ENDED    = 2,
	KBAL_PKT_EV_BACK     = 3,      /* the program gave the flow back to kbald at
					* a request's first byte (SHIFT entries) */
	KBAL_PKT_EV_BACK_RESPONSE = 4, /* ... at a response head's first byte, which
					* kbald writes (ProxyPassReverse, a close):
					* the answer to the last request kept is owed */
	KBAL_PKT_EV_LOST     = 5,      /* a decided flow's framing lost: the program
					* passes nothing more of it, kbald ends it */
};

/*
 * kbal_pkt_back (an array indexed by the flow's slot, not pinned): what the
 * program needs to give a joined flow back to kbald by itself, at the first
 * byte of a framed request, once kbald asked for it (kbal_pkt_frame's
 * request entry, back = KBAL_PKT_BACK_ASKED): kbald's kept client-side
 * socket's and its frozen member-side socket's sequence numbers and TCP
 * clocks (each clock as an offset from bpf_ktime_get_ns() / 1e6: the
 * socket's TSval now is that plus the offset). Written by kbald before it
 * asks; the program turns the flow's four entries into SHIFT entries
 * (docs/packet.md, "Given back at a request").
 */
#define KBAL_PKT_BACK_ASKED 1
/* back = KBAL_PKT_BACK_WATCH: the program asks by itself, at a request's
 * first byte, once kbal_balancers[balancer].gen is no longer bgen (a
 * member's status changed: what the sockmap path's framing compares) */
#define KBAL_PKT_BACK_WATCH 2

/* kbal_pkt_decide (bpf/pkt_back.bpf.h): by flow slot, a decided flow's
 * decision (struct kbal_sk_http), pinned: a restart in place arms the flow
 * again with it */
#define KBAL_MAP_PKT_DECIDE "kbal_pkt_decide"

struct kbal_pkt_back {
	__u16 gen;                     /* the flow's generation */
	__u8  ts;                      /* timestamps on the flow */
	__u8  armed;                   /* 1: written by kbald (a zeroed entry, as
					* the next image's program has after a
					* restart, gives nothing back, even to a
					* flow whose generation is 0) */
	__u32 c_rcv_nxt;               /* S0: the kept client-side socket's */
	__u32 c_snd_nxt;               /* K0 */
	__u32 m_rcv_nxt;               /* MS0: the frozen member-side socket's */
	__u32 m_snd_nxt;               /* MK0 */
	__u32 c_tsoff;                 /* client-side socket's TSval - ms clock */
	__u32 m_tsoff;                 /* member-side socket's */
	__u32 balancer;                /* KBAL_PKT_BACK_WATCH: the flow's balancer */
	__u32 bgen;                    /* and its gen when the flow joined */
	__u32 decide;                  /* 1: kbal_pkt_decide has the flow's decision:
					* each request kept only where kbald would
					* decide it alike (bpf/req_decide.bpf.h) */
};
_Static_assert(sizeof(struct kbal_pkt_back) == 40, "ABI kbal_pkt_back");

/*
 * A flow's leg given back to kbald (docs/unswitch.md's table): its two
 * entries become SHIFT entries on their own 4-tuples, so that the peer's
 * next byte lands in kbald's socket of that leg as its next byte, and that
 * socket's bytes reach the peer at the numbers it expects. B: the peer's
 * next byte, M: the other peer's next byte in this peer's numbers; S0, K0:
 * kbald's socket's rcv_nxt and snd_nxt; d: its clock's offset
 * (kbal_pkt_shift_clock()). The member leg is the same with the member as
 * the peer (B = Mm, M = Km, S0 = MS0, K0 = MK0, d = dm). The caller zeroes
 * the entry first and sets gen, slot (and last_tsval for the peer's).
 * Shared by the program's give-back at a request or an answer
 * (bpf/pkt_back.bpf.h) and kbald's own at a clock's end (the client leg,
 * and the member's where it can: user/packet_back.c,
 * kbal_packet_take_client()).
 */
static inline void kbal_pkt_shift_from_peer(struct kbal_pkt_rw *e, __u32 B, __u32 M, __u32 S0,
					    __u32 K0, __u32 d)
{
	e->action = KBAL_PKT_SHIFT;
	e->seq_delta = S0 - B;
	e->ack_delta = K0 - M;
	e->tsecr_delta = -d;
	e->switch_seq = B;
}

static inline void kbal_pkt_shift_to_peer(struct kbal_pkt_rw *e, __u32 B, __u32 M, __u32 S0,
					  __u32 K0, __u32 d)
{
	e->action = KBAL_PKT_SHIFT;
	e->seq_delta = M - K0;
	e->ack_delta = B - S0;
	e->tsval_delta = d;
	e->switch_seq = K0;
}

/* kbald's socket's clock offset d for a peer (seen: the entry that carries
 * the other peer's packets to it; now: that socket's TSval now): its TSvals
 * go on just past the last one the peer saw (PAWS), and their echoes map
 * back exactly. 0 where the peer has seen nothing through the flow yet (it
 * last saw kbald's socket, whose clock only went on). */
static inline __u32 kbal_pkt_shift_clock(const struct kbal_pkt_rw *seen, __u32 now)
{
	return seen->packets ? seen->last_tsval + seen->tsval_delta - now + 1 : 0;
}

struct kbal_pkt_event {
	__u32 slot;                    /* the flow's: kbal_pkt_seen 2 * slot, + 1 */
	__u16 gen;                     /* the flow's generation */
	__u16 kind;                    /* enum kbal_pkt_event_kind */
};
_Static_assert(sizeof(struct kbal_pkt_event) == 8, "ABI kbal_pkt_event");

/* kbal_stats: the data path's counters, by index into struct kbal_stat_line. */
enum kbal_stat {
	KBAL_STAT_REDIRECTED = 0,  /* skbs redirected */
	KBAL_STAT_BYTES,           /* bytes redirected */
	KBAL_STAT_NO_PEER,         /* skbs dropped: peer not in kbal_sk_dst */
	KBAL_STAT_PKT_REWRITTEN,   /* packets joined to the other leg */
	KBAL_STAT_PKT_DROPPED,     /* packets of a frozen socket, dropped */
	KBAL_STAT_PKT_UNPARSED,    /* joined flow, header not understood: dropped */
	KBAL_STAT_PKT_REUSED,      /* ended flows whose 4-tuple a new SYN took */
	KBAL_STAT_SK_BACKLOG,      /* sockmap: directions held, their target's worker far
				    * behind (kbal_sk_events) */
	KBAL_STAT_PKT_EV_LOST,     /* kbal_pkt_events full: kbald's slow look finds the flow */
	KBAL_STAT_SK_KEPT,         /* sockmap: requests the kernel kept (decided as kbald would) */
	KBAL_STAT_SK_BACK,         /* sockmap: requests and response heads handed back to kbald */
	KBAL_STAT_PKT_RST_IGNORED, /* joined flow: resets off the next sequence number, passed
				    * on without ending it (RFC 5961) */
	KBAL_STAT_SK_LAST,         /* sockmap: of sk_back, requests handed back as their
				    * connection's last (MaxKeepAliveRequests, KBAL_SKB_LAST) */
	KBAL_STAT_SK_HELD,         /* sockmap: bytes of held directions (KBAL_SKF_HELD),
				    * which kbald copied */
	KBAL_STAT_PKT_FORWARDED,   /* second chance: packets of a flow no socket here
				    * holds, sent to the host their TSecr names */
	KBAL_STAT_PKT_FRAME_LOST,  /* joined flows' directions whose HTTP framing was lost
				    * (kbal_pkt_frame: why) */
	KBAL_STAT_PKT_KEPT,        /* packet path: requests a joined flow kept, decided as
				    * kbald would (KBAL_PKT_DECIDE) */
	KBAL_STAT_PKT_BACK,        /* packet path: joined flows given back at a request */
	KBAL_STAT_PKT_HELD,        /* packet path: client segments dropped while a request
				    * for kbald waited for the flow to be quiet */
	KBAL_STAT_SK_MBOX,         /* sockmap: handed-back sockets whose queued bytes went
				    * to a mailbox (KBAL_MAP_SK_MBOX) */
	KBAL_STAT_SK_MBOX_NONE,    /* ... that found no free mailbox: queued on the
				    * socket's own ingress, as before mailboxes */
	KBAL_STAT_SK_STAMPED,      /* sockmap: answer heads the kernel gave httpd's Date
				    * and Server (kbal_stamp) */
	KBAL_STAT_SK_STAMP_LOST,   /* ... armed, but the head was not at the place the
				    * sk_msg program looked for it (a bug: kbald's
				    * tests fail on it) */
	KBAL_STAT_MAX,
};

/*
 * kbal_stats is an array with one line per CPU (key: the CPU), each
 * counter written only by its CPU: a per-CPU array's memory cost the
 * program about 100 ns more per packet under load on these machines (its
 * chunks are vmalloc'ed; an array this small is not). Whole cache lines
 * a line (192 bytes, room for 24 counters): the array's values start 16
 * bytes into a cache line, and no two CPUs' counters may share one.
 */
struct kbal_stat_line {
	__u64 redirected_skbs;         /* KBAL_STAT_REDIRECTED, ... in order */
	__u64 redirected_bytes;
	__u64 dropped_no_peer;
	__u64 pkt_rewritten;
	__u64 pkt_dropped;
	__u64 pkt_unparsed;
	__u64 pkt_reused;
	__u64 sk_backlog;
	__u64 pkt_ev_lost;
	__u64 sk_kept;
	__u64 sk_back;
	__u64 pkt_rst_ignored;
	__u64 sk_last;
	__u64 sk_held;
	__u64 pkt_forwarded;
	__u64 pkt_frame_lost;
	__u64 pkt_kept;
	__u64 pkt_back;
	__u64 pkt_held;
	__u64 sk_mbox;
	__u64 sk_mbox_none;
	__u64 sk_stamped;
	__u64 sk_stamp_lost;
	__u64 spare[1];
};
_Static_assert(sizeof(struct kbal_stat_line) == 192, "ABI kbal_stat_line");
_Static_assert(KBAL_STAT_MAX * 8 == __builtin_offsetof(struct kbal_stat_line, spare),
	       "a field of kbal_stat_line per enum kbal_stat");
/* kbald sizes it to the possible CPUs before loading; this is what a
 * program loaded without it (the BPF tests) gets */
#define KBAL_STAT_CPUS 64

/*
 * kbal_sk_events (ring buffer, sockmap path): the kernel queues what the
 * verdict redirects for the target's psock worker with no limit of its
 * own, so a spliced direction whose receiver reads slower than its sender
 * sends would take the sender's bytes into the balancer's memory without
 * end (2.8 GiB in 8 s from one client, measured before this). When the
 * target's worker has about KBAL_SK_QUEUE_BYTES waiting, the verdict holds
 * the direction (KBAL_SKF_HELD in the source's kbal_sk_http): its next
 * messages are redirected to the source's own ingress (its psock queue),
 * charged to its receive memory, so that TCP closes the sender's window;
 * kbald copies them, and the verdict redirects again once kbald has
 * written all it held and the target has room (docs/design.md,
 * "Backpressure"). It
 * reports each hold here, so that kbald starts copying at once.
 */
struct kbal_sk_event {
	__u64 cookie;                  /* the source socket's (its kbal_sk_src key) */
};
#define KBAL_SK_EVENTS_SIZE (64 * 1024)

/*
 * Request boundaries on the sockmap path (docs/design.md, "Every request
 * decided"). The stream parser frames each HTTP/1.1 message: a head up to
 * its empty line, a body by Content-Length (responses: also chunk by
 * chunk), each piece below the socket's receive buffer. The verdict keeps
 * a request in the kernel only when kbald would decide it the same: the
 * same ProxyPass rule (kbal_rules, the first match as kbald's), the same
 * Host, a sticky route that names the member or none, the member usable
 * and its balancer's generation unchanged. Anything else, and anything it
 * does not parse, goes back to kbald at its first byte: the socket's mode
 * becomes AGENT and every later byte is queued on the socket itself, where
 * kbald reads it. A response head that needs rewriting (ProxyPassReverse)
 * does the same on the member's socket, and makes the client's AGENT too.
 *
 * kbal_sk_http: one entry per spliced socket, keyed by its cookie. kbald
 * writes it before the socket enters kbal_sk_src and never after (the
 * verdict alone changes it then); it deletes it with the flow.
 */
#define KBAL_RULES_MAX 16
/* kbal_rules' tables: the server's, then one per <VirtualHost> */
#define KBAL_RULE_TABLES 17
#define KBAL_RULE_LEN  64
#define KBAL_HOST_LEN  64

struct kbal_rule {
	char  path[KBAL_RULE_LEN];     /* ProxyPass path, runs of '/' as one */
	__u16 len;
	__u16 pass;                    /* kbald's index of the rule */
	__u8  exclude;                 /* ProxyPass PATH ! */
	__u8  pad[3];
};
_Static_assert(sizeof(struct kbal_rule) == 72, "ABI kbal_rule");

/* kbal_rules[t]: the ProxyPass rules of table t (0: the server's; v + 1:
 * those a request in <VirtualHost> v takes, its own merged after the
 * server's) in the order kbald tries them, and
 * httpd's limits on a request head, which the kernel keeps a request
 * within only (a head over one goes to kbald, which answers it) */
struct kbal_rules {
	__u32 n;
	__u32 exact;                   /* 0: kbald's rules cannot be written as
					* this table: the kernel keeps nothing */
	__u32 max_line;                /* longest request line kept (bytes, CRLF
					* aside): LimitRequestLine + 1, as httpd */
	__u32 max_field;               /* longest header line: LimitRequestFieldSize + 1 */
	__u32 max_fields;              /* most header lines: LimitRequestFields,
					* 0 none */
	__u32 max_requests;            /* MaxKeepAliveRequests, 0 none: a connection
					* whose requests (kbal_sk_http.reqs + msgs)
					* reached it hands its next one back to
					* kbald, which answers it with Connection:
					* close and closes, as httpd */
	struct kbal_rule rule[KBAL_RULES_MAX];
};
_Static_assert(sizeof(struct kbal_rules) == 24 + 72 * KBAL_RULES_MAX, "ABI kbal_rules");

enum kbal_sk_mode {
	KBAL_SKM_KERNEL = 0,           /* framed; kept where kbald would decide the same */
	KBAL_SKM_AGENT  = 1,           /* every byte queued for kbald on the socket */
	KBAL_SKM_RAW    = 2,           /* not framed: every byte redirected (a tunnel,
					* a direction kbald cannot frame); the
					* entry holds its backpressure state only */
};

enum kbal_sk_expect {                  /* what the next byte starts */
	KBAL_SKX_HEAD = 0,
	KBAL_SKX_BODY,                 /* left bytes of a Content-Length body */
	KBAL_SKX_CHUNK,                /* a chunk-size line */
	KBAL_SKX_CHUNK_DATA,           /* left bytes of chunk data and its CRLF */
	KBAL_SKX_TRAILER,              /* trailer fields and the empty line */
};

enum kbal_sk_back {                    /* why a socket became AGENT */
	KBAL_SKB_NONE = 0,
	KBAL_SKB_SYNTAX,               /* a head the kernel does not parse, or a
					* request kbald must see (HEAD, Upgrade,
					* Expect, a chunked body, a path to normalise) */
	KBAL_SKB_RULE,                 /* another ProxyPass rule (or none) */
	KBAL_SKB_HOST,                 /* another Host */
	KBAL_SKB_ROUTE,                /* a sticky route naming another member,
					* or none where a cookie must be set */
	KBAL_SKB_MEMBER,               /* the member or its balancer changed */
	KBAL_SKB_RESPONSE,             /* a response head kbald rewrites */
	KBAL_SKB_PEER,                 /* the other side went back to kbald */
	KBAL_SKB_BUSY,                 /* a response still under way (pipelined) */
	KBAL_SKB_GONE,                 /* the member's connection ended (its FIN
					* or RST) after its last response */
	KBAL_SKB_UNASKED,              /* a response to no request: every request
					* kept was answered */
	KBAL_SKB_BALANCE,              /* no sticky route, and the balancer's
					* lbmethod may pick another member */
	KBAL_SKB_LAST,                 /* the connection's last request: its
					* requests reached MaxKeepAliveRequests
					* (kbal_rules.max_requests) */
	KBAL_SKB_AGENT_UA,             /* another User-Agent, where SetEnvIf's lines
					* read it (nokeepalive) */
	KBAL_SKB_MAX,
};

enum kbal_sk_flags {
	KBAL_SKF_ROUTE_COOKIE = 1u << 0, /* client: a request without the member's
					  * route gets Set-Cookie (Header ...
					  * env=BALANCER_ROUTE_CHANGED) */
	KBAL_SKF_REVERSE      = 1u << 1, /* member: ProxyPassReverse applies: heads
					  * with Location, Content-Location or URI
					  * go to kbald */
	KBAL_SKF_HEAD         = 1u << 2, /* set by the parser: the message it framed
					  * is a head it decided (the verdict clears it) */
	KBAL_SKF_LINE         = 1u << 3, /* client: the head under way has its
					  * request line whole (RequestReadTimeout:
					  * 408, else the connection just ends) */
	KBAL_SKF_SOLE         = 1u << 4, /* client: its member is the only one its
					  * balancer's lbmethod can pick until a
					  * status changes (the balancer's gen): a
					  * request without a sticky route is kept */
	KBAL_SKF_HELD         = 1u << 5, /* set and cleared by the verdict: the
					  * target's worker was far behind; its
					  * messages are held for kbald, who
					  * copies them (kbal_sk_events) */
	KBAL_SKF_BASE         = 1u << 6, /* set by the verdict: seq_base is known */
	KBAL_SKF_UA           = 1u << 7, /* client: a request is kept only with the
					  * connection's User-Agent (ua_hash): SetEnvIf
					  * lines read it (BrowserMatch ... nokeepalive) */
};

/* What the verdict may queue on a socket for kbald after a hand-back while
 * the stream parser cannot stop yet (its socket's worker still sends):
 * kbald takes it into a head buffer of 16 KiB (KBAL_HTTP_HEAD_BUF), half
 * of which may hold the connection's own bytes already. */
#define KBAL_SK_PASS_MAX 8192u

/*
 * Mailboxes: sockets of kbald's with no stream parser (connected UDP
 * sockets, in kbal_sk_mbox by slot) that a handed-back socket's bytes are
 * redirected into (BPF_F_INGRESS) while its parser cannot stop yet, not
 * into the socket's own ingress: a redirect to itself that the psock's
 * worker queues while the parser reads leaves the socket's TCP copied_seq
 * behind for good once the parser stops (6.18, docs/design.md). The free
 * slots wait in kbal_mbox_free (a queue); kbal_mbox_owner names each
 * taken slot's socket (its cookie) for kbald's wake-up on the mailbox.
 */
#define KBAL_MAP_SK_MBOX    "kbal_sk_mbox"
#define KBAL_MAP_MBOX_FREE  "kbal_mbox_free"
#define KBAL_MAP_MBOX_OWNER "kbal_mbox_owner"
#define KBAL_MBOX_MAX 1024u
/* the mailboxes kbald keeps (a pair of descriptors per two): a socket
 * takes one only while kbald has not read a handed-back head that came
 * as an answer was still being sent to it (pipelining) */
#define KBAL_MBOX_POOL 64u
/* what a socket with a mailbox may queue for kbald (what kbald reads from
 * there before its socket, past its head buffer): a request's body sent
 * behind an answer still under way (a stop then would cost that answer's
 * unsent bytes, above); without a mailbox, KBAL_SK_PASS_MAX */
#define KBAL_SK_MBOX_BYTES (1u << 20)

/*
 * Date and Server on the answers the kernel carries (docs/design.md, "The
 * lines the kernel adds to an answer"): httpd writes its own where a
 * member sent none, right after the status line (basic_http_header()).
 * A client socket whose member leaves one out (kbald saw an answer of it
 * lacking either) sits in kbal_sk_stamp too, whose only program is an
 * sk_msg one (kbal_stamp): the member's verdict, keeping such a head,
 * arms the client's kbal_stamp_at entry with where the head starts in
 * the client's stream and where its lines are, and the sk_msg program
 * writes the head as kbald's own_head_proxied() does as the bytes are
 * sent: the status line, "Date: " the member's first Date's value or now,
 * "Server: " the member's first Server's value or the banner, the other
 * lines in their order.
 */
#define KBAL_MAP_SK_STAMP   "kbal_sk_stamp"
#define KBAL_MAP_STAMP_AT   "kbal_stamp_at"
#define KBAL_MAP_STAMP_TEXT "kbal_stamp_text"
/* the longest Date or Server line of a member's (CRLF included) the
 * kernel moves up: a longer one goes to kbald */
#define KBAL_STAMP_LINE_MAX 128u
#define KBAL_STAMP_DATE_LEN 29u        /* an IMF-fixdate */
#define KBAL_BANNER_LEN 64u

/* kbal_stamp_at (hash, key: the client socket's cookie): kbald makes the
 * entry (zero but member) as the member's socket enters kbal_sk_src; the
 * member's verdict arms it, the sk_msg program disarms it once done */
struct kbal_stamp_at {
	__u64 member;                  /* the member socket's cookie: its
					* kbal_sk_http's seq_base moves by the
					* bytes added (backpressure's count) */
	__u64 added;                   /* bytes the sk_msg program added to the
					* client's stream (less those it moved):
					* kbald takes them off the socket's sent
					* count where it weighs that against what
					* the member sent */
	__u32 armed;                   /* 1: a head waits at seq */
	__u32 seq;                     /* the client's write_seq at its first byte */
	__u16 sl_end;                  /* the status line's end (after its CRLF) */
	__u16 date_ls, date_end;       /* the member's Date line, 0 0: none */
	__u16 server_ls, server_end;   /* the member's Server line, 0 0: none */
	__u16 pad[3];
};
_Static_assert(sizeof(struct kbal_stamp_at) == 40, "ABI kbal_stamp_at");

/* kbal_stamp_text (array of one, mmapped by kbald): the banner
 * (ServerTokens, written at start and at each reload) and the time now
 * as an IMF-fixdate, written each second into the slot idx does not name,
 * then idx flipped: a reader that took idx reads a slot kbald will not
 * write for a second */
struct kbal_stamp_text {
	__u32 idx;                     /* 0 or 1: the date slot to read */
	__u32 banner_len;
	__u8  date[2][32];             /* KBAL_STAMP_DATE_LEN bytes each */
	__u8  banner[KBAL_BANNER_LEN];
};
_Static_assert(sizeof(struct kbal_stamp_text) == 136, "ABI kbal_stamp_text");

struct kbal_sk_http {
	__u8  mode;                    /* enum kbal_sk_mode */
	__u8  expect;                  /* enum kbal_sk_expect */
	__u8  client;                  /* 1: the client's socket (requests) */
	__u8  why;                     /* enum kbal_sk_back */
	__u16 member;                  /* client: where its requests go */
	__u16 pass;                    /* client: the ProxyPass rule */
	__u32 bgen;                    /* client: the balancer's gen when armed */
	__u32 flags;                   /* enum kbal_sk_flags */
	__u32 owed;                    /* member: a response under way when armed (0/1) */
	__u32 host_len;                /* client: the Host each kept request carries */
	__u64 left;                    /* body or chunk bytes still to come */
	__u64 msgs;                    /* client: requests kept; member: responses ended */
	__u64 kept;                    /* bytes redirected to the other side */
	__u64 passed;                  /* bytes queued for kbald */
	__u64 peer;                    /* the other side's cookie */
	char  host[KBAL_HOST_LEN];
	/* how long things take, for kbald's timeouts (CLOCK_MONOTONIC ns) */
	__u64 active_ns;               /* the last bytes from this socket */
	__u64 stage_ns;                /* client: when the request's stage began */
	__u64 stage_bytes;             /* client: bytes of it come so far */
	__u32 stage;                   /* client: enum kbal_sk_stage */
	__u32 reqs;                    /* client: the connection's requests before
					* those the kernel keeps (kbald's count when
					* it armed the socket; msgs adds the kernel's) */
	/* backpressure (KBAL_SKF_HELD) */
	__u64 held;                    /* bytes held for kbald (its own ingress): kbald
					* writes them to the target itself */
	__u64 rd_base;                 /* kbald's reads of this socket when it armed
					* it: what it read since, of held bytes */
	__u32 seq_base;                /* the target's write_seq at the first verdict,
					* (all kbald wrote before): the target has
					* taken every byte the verdict redirected and
					* kbald copied when write_seq - seq_base ==
					* kept + held (mod 2^32) */
	__u16 rules;                   /* client: its kbal_rules table, its virtual
					* host's (0 the server's, v + 1 <VirtualHost>
					* v's) */
	__u16 mbox;                    /* the mailbox (kbal_sk_mbox slot + 1) the
					* verdict queues this socket's handed-back
					* bytes in, popped off kbal_mbox_free at the
					* first; 0: none (its own ingress) */
	__u64 ua_hash;                 /* client, KBAL_SKF_UA: kbal_ua_hash() of the
					* User-Agent (none: of nothing, ua_none 1) */
	__u32 ua_none;                 /* the request had no User-Agent */
	__u32 peer_back;               /* set (atomically) by the other side's stream
					* parser when it hands its socket back: this
					* side's bytes no longer go to that socket's
					* worker, whose next send would meet the
					* stopped parser's error (sockmap.bpf.c,
					* kbal_may_stop()); they are held for kbald */
};
_Static_assert(sizeof(struct kbal_sk_http) == 200, "ABI kbal_sk_http");

/* The User-Agent's value (without its surrounding spaces) as kbald and the
 * stream parser both hash it: FNV-1a, 64 bits; longer than KBAL_UA_MAX:
 * not kept */
#define KBAL_UA_MAX 1024
#define KBAL_FNV_BASIS 0xcbf29ce484222325ull
#define KBAL_FNV_PRIME 0x100000001b3ull

/* kbal_sk_http.stage: where a client's request stands, as RequestReadTimeout
 * and KeepAliveTimeout see it (kbald checks them, handover_sockmap.c) */
enum kbal_sk_stage {
	KBAL_SKS_IDLE = 0,             /* between requests */
	KBAL_SKS_HEAD = 1,             /* a head under way */
	KBAL_SKS_BODY = 2,             /* its body under way */
};

#endif /* KBAL_SHARED_H */
