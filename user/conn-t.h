/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * conn-t.h - a client connection's types: what every file that moves a
 * connection shares (prototypes in conn.h, exchange.h, member.h, ...).
 *
 * A connection has two sides, each a socket: the client's (accepted) and
 * the member's (connected by kbald). It has two directions: up (read from
 * the client side, written to the member side) and down (the other way).
 * Each direction goes through its own phases:
 *
 *   HEAD    kbald reads and parses the first request (up) / response (down)
 *   BODY    up, or down for a response kbald follows: parsed as it is copied
 *   FLUSH   everything read is written on; once the queue is empty, hand over
 *   SPLICED the kernel moves the bytes (sockmap, or the packet path)
 *   RELAY   kbald copies (KbalSplice off, or the kernel refused the socket)
 *   CLOSED  FIN passed on to the other side
 *
 * Handed over, a connection costs kbald this struct and no buffer: the
 * first exchange's (struct kbal_first) are freed at the handover.
 */
#ifndef KBAL_CONN_T_H
#define KBAL_CONN_T_H

#include <stdint.h>
#include "accesslog.h"
#include "env.h"
#include "http.h"
#include "kbal_shared.h"
#include "lb.h"
#include "list.h"

#define BUF_SIZE   KBAL_HTTP_HEAD_BUF /* first request/response head limit */
#define OUT_SIZE   (BUF_SIZE + 2048)

/* the two sides, by their socket: fd[CLIENT], fd[MEMBER] */
enum kbal_side { CLIENT = 0, MEMBER = 1 };
/* kbal_conn.stamp's bits */
enum { STAMP_WANT = 1, STAMP_IN = 2 };

/* the two directions: UP reads the client side and writes the member
 * side, DOWN the other way (dir_src(), dir_dst()) */
enum kbal_dir { UP = 0, DOWN = 1 };

static inline int dir_src(int dir) { return dir == UP ? CLIENT : MEMBER; }
static inline int dir_dst(int dir) { return dir == UP ? MEMBER : CLIENT; }
/* the direction a side is the source of */
static inline int side_dir(int side) { return side == CLIENT ? UP : DOWN; }
static inline const char *dir_name(int dir) { return dir == UP ? "up" : "down"; }

enum kbal_phase { P_HEAD, P_BODY, P_FLUSH, P_SPLICED, P_RELAY, P_CLOSED };

/* c->pkt: where the packet path's handover stands */
enum kbal_pkt_stage { PKT_NONE = 0, PKT_SWITCHING = 1, PKT_JOINED = 2 };

struct kbal_pkt_flow;

/* Everything the first exchange needs; freed at the handover. Arrays
 * of two are by direction. */
struct kbal_first {
	uint32_t len[2];              /* bytes in buf[dir] */
	uint32_t fed[2];              /* of which the parser has seen */
	uint32_t fwd[2];              /* of which went out (or were replaced) */
	uint32_t ready[2];            /* in HEAD: raw bytes that may go out (1xx) */
	uint64_t msg_total[2];        /* bytes read from the direction's source up
				       * to the end of the first message (the
				       * buffer is reused) */
	char *out[2];                 /* rewritten head to write before buf[dir] */
	uint32_t out_len[2], out_sent[2];
	uint8_t out_owned[2];         /* out[dir] was malloc'd (manager page) */
	uint8_t manager_wait;         /* a POST to the manager: answered at its end */
	int8_t vhost;                 /* the <VirtualHost> of a request kbald
				       * answers itself, -1: the server's */
	struct kbal_authjob *authjob; /* its access check, out in authcheck's
				       * thread: the exchange waits */
	uint8_t local_keep;           /* kbald's own answer: the connection goes on */
	uint8_t dechunk;              /* the answer's body goes de-chunked (HTTP/1.0) */
	uint8_t body_cl;              /* the chunked request's body came whole: it
				       * goes de-chunked, with its length */
	uint8_t rq_dechunk;           /* the chunked request's body is de-chunked
				       * in place as it is parsed */
	uint8_t ck_stream[2];         /* by direction: the body goes chunked
				       * (again), piece by piece (chunk_next()):
				       * up, a chunked request's that did not
				       * come whole; down, an answer's that ends
				       * at the member's close (eof_body) */
	uint8_t ck_open[2];           /* a piece went out: its CRLF is owed */
	uint8_t ck_last[2];           /* the last chunk is out[dir] (or went) */
	uint32_t ck_end[2];           /* where the piece under way ends in buf[dir] */
	char ckbuf[2][24];            /* its chunk line, out[dir] once the head went */
	uint8_t eof_body;             /* the answer's body ends at the member's
				       * close (no length, not chunked): kbald
				       * follows it, its end the EOF (exch_eof()) */
	uint8_t spool;                /* force-proxy-request-1.0, proxy-sendcl: a
				       * chunked body that does not come whole is
				       * spooled, to go with its length (httpd's
				       * RB_SPOOL_CL) */
	uint8_t spooled;              /* spool_fd is open */
	int spool_fd;                 /* a memfd: the body's bytes before buf[UP]'s */
	uint64_t spool_len, spool_sent;
	uint64_t body_len;            /* body_cl: the body's length */
	uint8_t http10;               /* force-proxy-request-1.0: HTTP/1.0 to the member */
	uint8_t member_close;         /* the member's connection ends with the answer
				       * (proxy-nokeepalive, force-proxy-request-1.0) */
	uint8_t resp10;               /* force-response-1.0: "HTTP/1.0" to the client */
	uint8_t continued;            /* Expect: 100-continue: a 100 Continue went
				       * to the client (the member's), or is owed
				       * before the final answer (2) */
	uint8_t do100;                /* mod_proxy_http's do_100_continue: the head
				       * went with Expect: 100-continue, and the
				       * body waits in buf[UP] for the member's
				       * answer (heads_request(), exch_write(),
				       * exchange_response.c); 2: the member
				       * closes without it, so it never goes */
	uint16_t proxy_status;        /* a member's failure's status, and why, as */
	const char *proxy_why;        /* mod_proxy's ap_proxyerror() leaves them in
				       * r->status_line and error-notes: kbald's
				       * answer of that status names them */
	uint8_t ka_token;             /* the request's Connection holds keep-alive
				       * (read at its head: a body moves the head
				       * out of buf[UP]) */
	uint8_t handler;              /* enum kbal_handler: what kbald answers itself */
	uint16_t answered;            /* the status kbald answered itself, 0: none */
	uint8_t read_timed_out;       /* RequestReadTimeout ended its request: its
				       * lingering close is httpd's short one */
	uint8_t no_upgrade;           /* its Upgrade is dropped: no upgrade= lets it */
	uint8_t upgrade_pick;         /* some of its balancer's members let it: the
				       * member picked decides (heads_request) */
	uint16_t upgrade_len;         /* the Upgrade that went to the member (its
				       * upgrade= let it), the whole value's length,
				       * 0: none; its first bytes (a 101 must name
				       * it: exch_response_head()) */
	char upgrade_asked[64];
	struct kbal_alog_req alog;    /* its request's part of the CustomLog line */
	uint8_t fd_wait;              /* the member picked, no descriptor free to
				       * connect: tried again as flows end */
	uint8_t member_wait;          /* no usable member: the balancer's timeout=
				       * has it look again until deadline */
	uint64_t exch_rd, exch_wr;    /* rd[CLIENT], wr[CLIENT] when this exchange began */
	uint64_t rq_start;            /* when its request's first byte came, 0 none yet */
	uint64_t body_start;          /* when its head was whole (RequestReadTimeout) */
	struct kbal_pooled *kept;     /* fd[MEMBER] is lent by the pool (pool.h) */
	uint64_t reused_sent, reused_recvd; /* what fd[MEMBER] carried for earlier
				       * clients, when c->reused (pool.h) */
	int pass;                     /* ProxyPass rule */
	uint64_t deadline;
	uint64_t progress;            /* rd[MEMBER] + wr[CLIENT] when the deadline was set */
	struct kbal_lb_tried tried;
	uint32_t failovers;           /* members that failed it (maxattempts) */
	char route[KBAL_ROUTE_LEN];   /* sticky route of the request */
	char host[256];               /* client's Host, for ProxyPassReverse */
	struct kbal_http_msg msg[2];
	uint32_t locs;                /* the <Location>s its path takes, where a
				       * Header rule is in one (heads.c) */
	uint32_t in_pipe[2];          /* by direction: bytes in the connection's
				       * pipe, not written on (exchange_pipe.h) */
	uint8_t piped;                /* bit dir: its body goes through the pipe
				       * (and exchange_pipe.c's own bits) */
	/* not zeroed (env: its count only, kbal_env_clear()): */
	struct kbal_env env;          /* its request's variables (SetEnv, SetEnvIf) */
	char buf[2][BUF_SIZE];        /* bytes read from the direction's source */
	char outbuf[2][OUT_SIZE];
};

/* c->member_gone: the spliced member's end, on a framed connection */
enum kbal_gone {
	GONE_NONE = 0,
	GONE_RESET,                   /* a reset, not judged yet */
	GONE_HELD_FIN,                /* after its last answer: the client's next */
	GONE_HELD_RESET,              /* request is kbald's, its end waits */
};

struct kbal_conn {
	struct kbal_list node;        /* in one of the daemon's lists (daemon.h) */
	struct kbal_list ready;       /* in d->ready: more to do, no event will say */
	int fd[2];                    /* by side; -1: none */
	uint8_t phase[2];             /* by direction, enum kbal_phase */
	uint8_t fin[2];               /* by side: EOF seen (2: reset) */
	uint8_t empty[2];             /* by side: its last read found nothing */
	uint8_t rdhup;                /* bit side: EPOLLRDHUP seen */
	uint8_t connected : 1;        /* fd[MEMBER] established */
	uint8_t local : 1;            /* kbald answers itself, then closes */
	uint8_t changed : 1;          /* route changed: send the cookie */
	uint8_t dead : 1;             /* closed; freed after this epoll batch */
	uint8_t reused : 1;           /* fd[MEMBER] came from the pool */
	uint8_t held : 2;             /* bit dir: spliced direction held, kbald copies
				       * what the verdict holds (backpressure) */
	uint8_t want_packet : 1;      /* KbalSplice packet and eligible so far */
	/* 1 + the <VirtualHost> (0: the server) whose timeouts apply: its
	 * address's, where one sets Timeout, ProxyTimeout or KeepAliveTimeout
	 * (vhost_timeouts; httpd's c->base_server: a request's head is read
	 * under its Timeout), its last request's wherever there are
	 * <VirtualHost>s (r->server: its Timeout and ProxyTimeout, a member's
	 * connect timeout, and its KeepAliveTimeout where it sets one; the
	 * kernel keeps only requests of that Host; a restart carries it) */
	uint8_t vhost_base;
	uint8_t vhost_req;            /* (vhost_base's comment) */
	uint8_t splice_mode;          /* enum kbal_splice_mode of its balancer */
	uint8_t once : 1;             /* no second request: the client asked for
				       * none, or MaxKeepAliveRequests (last) */
	uint8_t upgrade : 1;          /* Upgrade/101: a long-lived byte stream */
	uint8_t pool : 1;             /* one request, and the member's connection
				       * is kept for the next client (pool.h) */
	uint8_t stamp : 2;            /* STAMP_*: its member leaves Date or Server
				       * out, the kernel adds them (stamp.h) */
	uint8_t fin_goal : 2;         /* bit dir: base[dir_dst(dir)] is what the
				       * destination must have sent for the
				       * direction's FIN to go */
	uint16_t member_lport;        /* fd[MEMBER]'s local port */
	uint16_t flow_slot;           /* 1 + its place in the pending updates */
	uint8_t pkt;                  /* enum kbal_pkt_stage */
	uint8_t why;                  /* enum kbal_flow_why: not the path asked for */
	uint8_t bounded : 3;          /* BOUND_* (decide.h): the kernel frames its requests */
	uint8_t agent : 1;            /* kbald decides each of its requests (decide.h) */
	uint8_t back : 1;             /* the kernel handed something back: taken at
				       * the boundary (decide_take_back) */
	uint8_t relay_back : 1;       /* relaying the response whose head came back:
				       * the member's connection goes after it */
	uint8_t handed : 1;           /* both directions spliced or copied */
	uint8_t flow_in_map : 1;
	uint8_t served;               /* requests kbald served itself on kept member
				       * connections (at most 255): the first is, the
				       * second starts the handover (handover.c) */
	uint8_t rearm : 1;            /* kbald decided its last request, which the
				       * kernel could have kept: one for the same
				       * balancer next is the kernel's again (decide.h) */
	uint8_t member_gone : 2;      /* enum kbal_gone: the spliced member's
				       * connection ended (its end held from the
				       * client if after its last answer) */
	uint8_t last : 1;             /* this request reached MaxKeepAliveRequests:
				       * answered with Connection: close (once too),
				       * then the connection ends */
	uint8_t raw : 2;              /* bit side: its kbal_sk_http entry is an
				       * unframed one (KBAL_SKM_RAW: backpressure) */
	uint8_t pkt_decide : 1;       /* its later requests framed (bounded), joined
				       * on the packet path, whose program decides
				       * each of them as kbald would (decide.h) */
	uint8_t mboxed : 1;           /* what the kernel queued for kbald in a
				       * mailbox past the head buffer is read
				       * before a socket's bytes (mailbox.h) */
	int8_t balancer;
	int16_t member;               /* -1 until picked */
	uint32_t nreq;                /* the connection's requests so far, kbald's
				       * and (at a take-back) the kernel's: httpd's
				       * c->keepalives, for MaxKeepAliveRequests
				       * (kbal_sk_http.reqs when armed) */
	uint32_t drain_sent;          /* a FIN waits for bytes in flight (drain_since):
				       * the low 32 bits of the destination's send
				       * counter at the last progress (a change is
				       * progress: looked at every ms at least, it
				       * never moves 4 GiB between two looks) */
	struct kbal_pkt_flow *pf;     /* the packet path's entries */
	union {
		uint64_t pkt_bytes[2]; /* packet path: joined bytes up/down added
				        * to the member */
		/* sockmap path (kernel_clocks.c): how far the client acknowledged
		 * the kernel's answers (client_stalled), or a tunnel's bytes
		 * both ways (tunnel_clock), and when that last moved */
		struct {
			uint64_t acked;
			uint64_t at;
		} stall;
	};
	uint64_t since;               /* when the flow was handed to the packet path;
				       * kbald's between two requests: idle since */
	uint64_t cookie[2];           /* by side: SO_COOKIE, the sockhash key */
	uint64_t rd[2], wr[2];        /* by side: bytes kbald read / wrote */
	uint64_t base[2];             /* by side: its sent counter minus wr[side], at splice */
	uint64_t drain_since;         /* a FIN waits for bytes in flight: since the
				       * last progress; packet path: both FINs seen */
	uint64_t member_rcvd0;        /* what fd[MEMBER]'s socket had received (its
				       * tcp_info count) when this connection took
				       * it: earlier clients' bytes on one lent by
				       * kbald's pool (pool.h), which rd[MEMBER]
				       * never counted; 0 on one it connected
				       * (conn_received()) */
	struct kbal_flow_key key;
	uint32_t pipes;               /* its long bodies' pipes, kept from one to
				       * the next: 1 + their slot, 0 none
				       * (exchange_pipe.c) */
	struct kbal_first *f;
};

/* what a spliced connection costs kbald: this, and no buffer (malloc's
 * chunk for 201..216 bytes: 224; the key's 16-byte address, IPv6 or
 * mapped IPv4, took it past 200; member_rcvd0 fits in what narrower flags,
 * drain_sent and balancer gave back) */
_Static_assert(sizeof(struct kbal_conn) <= 216, "spliced connections stay small");
_Static_assert(KBAL_MAX_MEMBERS <= INT16_MAX && KBAL_MAX_BALANCERS <= INT8_MAX,
	       "int16_t, int8_t indexes");

#define conn_of(n) kbal_container_of(n, struct kbal_conn, node)
#define conn_of_ready(n) kbal_container_of(n, struct kbal_conn, ready)

#endif
