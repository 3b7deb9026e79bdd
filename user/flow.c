// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * flow.c - one epoll loop; every socket non-blocking and edge-triggered.
 * Each wake-up runs conn_progress(), which moves both directions of a
 * connection as far as they go (read, parse, write, splice) and returns
 * when nothing more can move; the next edge resumes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "flow.h"
#include "log.h"
#include "manager.h"
#include "splice_packet.h"
#include "splice_sockmap.h"

#define BUF_SIZE   16384          /* first request/response head limit */
#define OUT_SIZE   (BUF_SIZE + 2048)
#define DRAIN_MAX_NS (10ull * 1000000000ull) /* give up waiting for in-flight bytes */
#define DRAIN_POLL_US 50          /* how often a FIN waiting for them looks again, */
#define DRAIN_FAST_NS 2000000ull  /* for this long; then every ms */
#define DRAIN_RELAY_NS 1000000ull /* the same for one copied the other way */
#define RESTART_WAIT_NS (5ull * 1000000000ull) /* first exchanges under way, at a restart */

enum { UP = 0, DOWN = 1 };        /* direction i reads fd[i], writes fd[!i] */
enum { C = 0, M = 1 };            /* fd index: client, member */

enum phase { P_HEAD, P_BODY, P_FLUSH, P_SPLICED, P_RELAY, P_CLOSED };

/* Everything the first exchange needs; freed at the handover. */
struct kbal_first {
	uint32_t len[2];              /* bytes in buf[i] */
	uint32_t fed[2];              /* of which the parser has seen */
	uint32_t fwd[2];              /* of which went out (or were replaced) */
	uint32_t ready[2];            /* in HEAD: raw bytes that may go out (1xx) */
	uint64_t msg_total[2];        /* bytes read from fd[i] up to the end of the
				       * first message (the buffer is reused) */
	char *out[2];                 /* rewritten head to write to fd[!i] first */
	uint32_t out_len[2], out_sent[2];
	uint8_t out_owned[2];         /* out[i] was malloc'd (manager page) */
	uint8_t fd_wait;              /* the member picked, no descriptor free to
				       * connect: tried again as flows end */
	int pass;                     /* ProxyPass rule */
	uint64_t deadline;
	uint64_t progress;            /* rd[DOWN] + wr[C] when the deadline was set */
	struct kbal_lb_tried tried;
	char route[KBAL_ROUTE_LEN];   /* sticky route of the request */
	char host[256];               /* client's Host, for ProxyPassReverse */
	struct kbal_http_msg msg[2];
	/* not zeroed: */
	char buf[2][BUF_SIZE];        /* bytes read from fd[i] */
	char outbuf[2][OUT_SIZE];
};

struct kbal_conn {
	struct kbal_list node;        /* in d->first, d->spliced or d->draining */
	struct kbal_list ready;       /* in d->ready: more to do, no event will say */
	int fd[2];
	uint8_t phase[2];
	uint8_t fin[2];               /* EOF seen on fd[i] */
	uint8_t empty[2];             /* last read of fd[i] found nothing */
	uint8_t rdhup;                /* bit i: EPOLLRDHUP seen on fd[i] */
	uint8_t fin_goal;             /* bit i: base[!i] is what fd[!i] must
				       * have sent for direction i's FIN to go */
	uint8_t connected;            /* fd[M] established */
	uint8_t local;                /* kbald answers itself, then closes */
	uint8_t flow_in_map;
	uint8_t paused;               /* bit i: spliced direction i paused (backpressure) */
	uint16_t flow_slot;           /* 1 + its place in the pending updates */
	uint8_t changed;              /* route changed: send the cookie */
	uint8_t splice_mode;
	uint8_t dead;                 /* closed; freed after this epoll batch */
	uint8_t once;                 /* the client asked for no second request */
	uint8_t upgrade;              /* Upgrade/101: a long-lived byte stream */
	uint8_t handed;               /* both directions spliced or copied */
	uint8_t pool;                 /* one request, and the member's connection
				       * is kept for the next client (pool.h) */
	uint8_t reused;               /* fd[M] came from the pool */
	uint16_t member_lport;        /* fd[M]'s local port */
	uint8_t want_packet;          /* KbalSplice packet and eligible so far */
	uint8_t pkt;                  /* 0, PKT_SWITCHING or PKT_JOINED */
	uint8_t why;                  /* enum kbal_flow_why: not the path asked for */
	int16_t member;               /* -1 until picked */
	int16_t balancer;
	struct kbal_pkt_flow *pf;     /* the packet path's entries */
	uint64_t pkt_bytes[2];        /* joined bytes up/down added to the member */
	uint64_t pkt_since;           /* when the flow was handed to the packet path */
	uint64_t cookie[2];
	uint64_t rd[2], wr[2];        /* bytes kbald read from / wrote to fd[i] */
	uint64_t base[2];             /* fd[i]'s sent counter minus wr[i], at splice */
	uint64_t drain_since;         /* a FIN waits for bytes in flight: since the last progress */
	uint64_t drain_sent;          /* ... which the peer's send counter showed then */
	struct kbal_flow_key key;
	struct kbal_first *f;
};

/* what a spliced connection costs kbald: this, and no buffer (malloc's
 * chunk for 193..200 bytes is the one for 192: 208) */
_Static_assert(sizeof(struct kbal_conn) <= 200, "spliced connections stay small");
_Static_assert(KBAL_MAX_MEMBERS <= INT16_MAX && KBAL_MAX_BALANCERS <= INT16_MAX, "int16_t indexes");

enum { PKT_SWITCHING = 1, PKT_JOINED = 2 };
#define PKT_FIRST_MAX (1u << 20)      /* a longer first response: sockmap */
#define PKT_EARLY_MAX (16u << 10)     /* a first response written after the handover */
#define PKT_LINGER_NS (1000000000ull) /* both FINs passed, one never acknowledged */
#define PKT_SCAN_NS   (1000000000ull) /* every flow looked at, events lost or not */
#define PKT_IDLE_NS   (600ull * 1000000000ull)

/* Descriptors kept out of the connections' budget beyond those open at
 * start: the packet program's links on interfaces met later (two each),
 * getifaddrs(), the raw socket that ends flows, a log file. */
#define FD_SPARE      16
#define FD_RESUME     16   /* accept again with room for this many connections */
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

/* epoll tags, in the low 3 bits: connection pointer | side (0, 1),
 * listener index << 3 | 2, signal, idle member connection (pool.h) */
#define TAG_MASK     7ull
#define TAG_LISTENER 2ull
#define TAG_SIGNAL   3ull
#define TAG_SK_EVENTS 5ull
#define TAG_PKT_EVENTS 6ull
_Static_assert(KBAL_POOL_TAG == 4, "pool tag");

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define conn_of(n) ((struct kbal_conn *)((char *)(n) - offsetof(struct kbal_conn, node)))
#define conn_of_ready(n) ((struct kbal_conn *)((char *)(n) - offsetof(struct kbal_conn, ready)))

/* ---------------------------------------------------------------- close */

/*
 * kbal_flows is written once per loop turn, in two batches (deletes, then
 * updates): a one-request connection costs no syscall of its own for its
 * entry, and one that ends in the turn it began never reaches the map.
 */
#define FLOW_BATCH 256
struct kbal_flow_batch {
	unsigned nupd, ndel;
	struct kbal_conn *upd_conn[FLOW_BATCH];  /* NULL: closed since */
	struct kbal_flow_key upd_key[FLOW_BATCH];
	struct kbal_flow upd_val[FLOW_BATCH];
	struct kbal_flow_key del_key[FLOW_BATCH];
};

static void flow_flush(struct kbal_daemon *d)
{
	struct kbal_flow_batch *fb = d->flow_batch;
	unsigned n = 0;
	__u32 count;

	if (fb->ndel) {
		count = fb->ndel;
		/* an entry gone already stops the batch: the rest one by one */
		if (bpf_map_delete_batch(d->maps.flows_fd, fb->del_key, &count, NULL))
			for (unsigned i = count; i < fb->ndel; i++)
				bpf_map_delete_elem(d->maps.flows_fd, &fb->del_key[i]);
		fb->ndel = 0;
	}
	for (unsigned i = 0; i < fb->nupd; i++) {
		if (!fb->upd_conn[i])
			continue;
		fb->upd_conn[n] = fb->upd_conn[i];
		fb->upd_key[n] = fb->upd_key[i];
		fb->upd_val[n] = fb->upd_val[i];
		n++;
	}
	fb->nupd = 0;
	if (!n)
		return;
	count = n;
	/* the map full (-E2BIG) stops it: those after are left out */
	bpf_map_update_batch(d->maps.flows_fd, fb->upd_key, fb->upd_val, &count, NULL);
	for (unsigned i = 0; i < n; i++) {
		fb->upd_conn[i]->flow_slot = 0;
		fb->upd_conn[i]->flow_in_map |= i < count;
	}
}

static void flow_update(struct kbal_daemon *d, struct kbal_conn *c, unsigned state)
{
	struct kbal_flow_batch *fb = d->flow_batch;
	struct kbal_flow v = {
		.member = c->member,
		.state = state,
		.path = c->pkt ? KBAL_PATH_PACKET :
			c->phase[UP] == P_SPLICED || c->phase[DOWN] == P_SPLICED ? KBAL_PATH_SOCKMAP :
			c->phase[UP] == P_RELAY || c->phase[DOWN] == P_RELAY ? KBAL_PATH_COPY :
			KBAL_PATH_NONE,
		.client_cookie = c->cookie[C],
		.member_cookie = c->cookie[M],
		.start_ns = d->now,
	};
	v.member_lport = c->member_lport;
	v.why = c->why;
	if (c->flow_slot) {
		fb->upd_val[c->flow_slot - 1] = v;
		return;
	}
	if (fb->nupd == FLOW_BATCH)
		flow_flush(d);
	fb->upd_conn[fb->nupd] = c;
	fb->upd_key[fb->nupd] = c->key;
	fb->upd_val[fb->nupd] = v;
	c->flow_slot = ++fb->nupd;
}

/* the entry goes with the connection (at the next flush) */
static void flow_delete(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_flow_batch *fb = d->flow_batch;

	if (c->flow_slot) {
		fb->upd_conn[c->flow_slot - 1] = NULL;
		c->flow_slot = 0;
	}
	if (!c->flow_in_map)
		return;
	if (fb->ndel == FLOW_BATCH)
		flow_flush(d);
	fb->del_key[fb->ndel++] = c->key;
	c->flow_in_map = 0;
}

/*
 * The first-exchange state is ~70 KiB and lives for one exchange: a few
 * are kept for the next connections rather than given back to malloc,
 * which would trim and refault the heap at every new connection.
 */
#define FIRST_CACHE 16
static struct kbal_first *first_cache[FIRST_CACHE];
static unsigned first_cached;

static struct kbal_first *first_alloc(void)
{
	struct kbal_first *f = first_cached ? first_cache[--first_cached] : malloc(sizeof(*f));

	if (f)
		memset(f, 0, offsetof(struct kbal_first, buf));
	return f;
}

static void first_free(struct kbal_conn *c)
{
	if (!c->f)
		return;
	for (int i = 0; i < 2; i++)
		if (c->f->out_owned[i])
			free(c->f->out[i]);
	if (first_cached < FIRST_CACHE)
		first_cache[first_cached++] = c->f;
	else
		free(c->f);
	c->f = NULL;
}

static void first_cache_drop(void)
{
	while (first_cached)
		free(first_cache[--first_cached]);
}

/* A joined flow's bytes so far (kbal_pkt) into its member's counters. */
static void pkt_account(struct kbal_daemon *d, struct kbal_conn *c, uint64_t up, uint64_t down)
{
	struct kbal_member *m;

	if (c->member < 0)
		return;
	m = &d->maps.members[c->member];
	if (up > c->pkt_bytes[UP])
		m->bytes_to += up - c->pkt_bytes[UP];
	if (down > c->pkt_bytes[DOWN])
		m->bytes_from += down - c->pkt_bytes[DOWN];
	c->pkt_bytes[UP] = up;
	c->pkt_bytes[DOWN] = down;
}

/* The packet path's entries of c are gone or never were: its slot names
 * no connection (an event for it is ignored), its record is freed. */
static void pkt_flow_drop(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (!c->pf)
		return;
	if (d->pkt_conn && c->pf->slot < KBAL_MAX_FLOWS && d->pkt_conn[c->pf->slot] == c)
		d->pkt_conn[c->pf->slot] = NULL;
	free(c->pf);
	c->pf = NULL;
}

/* c's flow has its kbal_pkt_seen slot: the program's events name it */
static void pkt_flow_named(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (d->pkt_conn && c->pf->counted && c->pf->slot < KBAL_MAX_FLOWS)
		d->pkt_conn[c->pf->slot] = c;
}

/*
 * Descriptors the connections may hold: two each (client, member) until
 * joined, when the client-side socket goes; one each then; and the idle
 * connections kept for reuse. Counted, not asked of the kernel: what
 * kbald may still open for a connection is reserved from its accept on,
 * so that no member connect runs out (docs/operating.md, "Descriptors").
 */
static uint64_t fds_held(const struct kbal_daemon *d)
{
	return 2 * d->nconns - d->njoined + d->pool.nidle;
}

/* ------------------------------------------------------ the cookie table */

static uint32_t ctab_hash(uint64_t cookie)
{
	cookie ^= cookie >> 33;
	cookie *= 0xff51afd7ed558ccdull;
	cookie ^= cookie >> 33;
	return (uint32_t)cookie;
}

static int ctab_grow(struct kbal_ctab *t)
{
	uint32_t oldsize = t->slot ? t->mask + 1 : 0, size = oldsize ? oldsize * 2 : 256;
	struct kbal_ctab_slot *old = t->slot, *s = calloc(size, sizeof(*s));

	if (!s)
		return -ENOMEM;
	t->slot = s;
	t->mask = size - 1;
	for (uint32_t i = 0; i < oldsize; i++) {
		uint32_t j;

		if (!old[i].cookie)
			continue;
		for (j = ctab_hash(old[i].cookie) & t->mask; s[j].cookie; j = (j + 1) & t->mask)
			;
		s[j] = old[i];
	}
	free(old);
	return 0;
}

/* Out of memory, the direction is left out: it cannot be paused. */
static void ctab_put(struct kbal_ctab *t, uint64_t cookie, struct kbal_conn *c)
{
	uint32_t j;

	if (!cookie || ((t->n + 1) * 2 > (t->slot ? t->mask + 1 : 0) && ctab_grow(t)))
		return;
	for (j = ctab_hash(cookie) & t->mask; t->slot[j].cookie; j = (j + 1) & t->mask)
		if (t->slot[j].cookie == cookie) {
			t->slot[j].c = c;
			return;
		}
	t->slot[j].cookie = cookie;
	t->slot[j].c = c;
	t->n++;
}

static struct kbal_conn *ctab_get(const struct kbal_ctab *t, uint64_t cookie)
{
	if (!t->n || !cookie)
		return NULL;
	for (uint32_t j = ctab_hash(cookie) & t->mask; t->slot[j].cookie; j = (j + 1) & t->mask)
		if (t->slot[j].cookie == cookie)
			return t->slot[j].c;
	return NULL;
}

/* backward-shift deletion: the entries after it that may move up do */
static void ctab_del(struct kbal_ctab *t, uint64_t cookie, const struct kbal_conn *c)
{
	uint32_t i, j;

	if (!t->n || !cookie)
		return;
	for (i = ctab_hash(cookie) & t->mask; t->slot[i].cookie != cookie; i = (i + 1) & t->mask)
		if (!t->slot[i].cookie)
			return;
	if (t->slot[i].c != c)
		return;
	t->n--;
	for (j = i;;) {
		uint32_t home;

		t->slot[i].cookie = 0;
		do {
			j = (j + 1) & t->mask;
			if (!t->slot[j].cookie)
				return;
			home = ctab_hash(t->slot[j].cookie) & t->mask;
		} while (i <= j ? (i < home && home <= j) : (i < home || home <= j));
		t->slot[i] = t->slot[j];
		i = j;
	}
}

/* ---------------------------------------------------------- backpressure */

/*
 * The kernel queues redirected skbs for the target's psock worker with no
 * bound: a receiver slower than its sender would have the sender's bytes
 * pile up in the balancer. The verdict reports a redirect to a worker far
 * behind (kbal_sk_events); kbald takes the source out of kbal_sk_src, so
 * that its bytes stay in its receive queue and TCP closes its window, and
 * once the kernel has sent what it took and the target has room, copies
 * the rest of that direction itself (paused_relay: the way back into the
 * sockhash loses bytes on this kernel). Looked at every loop turn, at
 * least every ms, while any is paused.
 */
static int paused_list(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->paused)
		return 0;
	if (d->npaused == d->paused_cap) {
		unsigned cap = d->paused_cap ? d->paused_cap * 2 : 64;
		struct kbal_conn **p = realloc(d->paused, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->paused = p;
		d->paused_cap = cap;
	}
	d->paused[d->npaused++] = c;
	return 0;
}

static void paused_unlist(struct kbal_daemon *d, struct kbal_conn *c)
{
	for (unsigned k = 0; k < d->npaused; k++)
		if (d->paused[k] == c) {
			d->paused[k] = d->paused[--d->npaused];
			return;
		}
}

static void conn_close(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (c->pkt == PKT_JOINED)
		d->njoined--;
	if (c->pkt)
		log_debug("conn %p: closing a joined flow (%s)", (void *)c,
			  c->pkt == PKT_JOINED ? "joined" : "switching");
	if (c->member >= 0) {
		struct kbal_member *m = &d->maps.members[c->member];
		uint64_t sent, recvd;

		if (c->connected) {
			if (m->busy)
				m->busy--;
			if (c->reused || c->pkt) {
				/* the socket's counters include earlier
				 * clients'; a reused one is only copied. A
				 * frozen one carried what kbald wrote and read
				 * (the handover checked), no syscall needed */
				m->bytes_to += c->wr[M];
				m->bytes_from += c->rd[M];
			} else if (kbal_sock_counts(c->fd[M], &sent, &recvd) == 0) {
				m->bytes_to += sent;
				m->bytes_from += recvd;
			}
		}
	}
	flow_delete(d, c);
	if (c->pf) {
		struct kbal_pkt_probe probe;
		int tell = 0;

		if (c->pkt) {
			struct kbal_pkt_state st;

			/* also tells whether the entries are still this flow's:
			 * a client reusing its port after the end had them
			 * deleted (a SYN on an ended flow) and may have new ones
			 * under the same keys, which forget must not remove */
			if (kbal_packet_poll(&d->pkt, c->pf, &st) == 0) {
				/* still open: the last tick's bytes too */
				if (!st.ended)
					kbal_packet_exact(&d->pkt, c->pf, &st);
				pkt_account(d, c, st.bytes_up, st.bytes_down);
				/* switched since the last look: the sockets'
				 * state is the past, they must go silently */
				if (st.switched)
					c->pkt = PKT_JOINED;
				/* still open (kbald stops, or it was idle too
				 * long): the peers are told, not left waiting */
				tell = c->pkt == PKT_JOINED && !st.ended && !c->drain_since &&
				       kbal_packet_end_prepare(&d->pkt, c->pf, &probe) == 0;
				log_debug("conn %p: ending a joined flow%s", (void *)c,
					  tell ? ", telling the peers" : "");
			}
		}
		kbal_packet_forget(&d->pkt, c->pf);
		if (c->pkt == PKT_SWITCHING && c->fd[M] >= 0) {
			/* nothing passed since the freeze: the member-side
			 * socket's state is still true, it can say goodbye */
			kbal_packet_thaw(c->fd[M], 0);
		} else if (c->pkt == PKT_JOINED) {
			/* the peers talk to each other now: kbald's sockets
			 * leave without a word */
			for (int i = 0; i < 2; i++)
				if (c->fd[i] >= 0) {
					kbal_packet_close_frozen(c->fd[i]);
					c->fd[i] = -1;
				}
			if (tell)
				kbal_packet_end_probe(&d->pkt, &probe);
		}
		pkt_flow_drop(d, c);
	}
	if (c->paused) {
		paused_unlist(d, c);
		c->paused = 0;
	}
	ctab_del(&d->ctab, c->cookie[0], c);
	ctab_del(&d->ctab, c->cookie[1], c);
	/* close() also takes the sockets out of the sockhashes */
	for (int i = 0; i < 2; i++)
		if (c->fd[i] >= 0)
			close(c->fd[i]);
	c->fd[C] = c->fd[M] = -1;
	if (c->f && c->f->fd_wait)
		d->nfd_wait--;
	list_del(&c->ready);
	list_del(&c->node);
	first_free(c);
	d->nconns--;
	/* later events of this epoll batch may still name it */
	c->dead = 1;
	list_add_tail(&d->dead, &c->node);
}

/* reset by a peer: reset the other side too */
static void conn_abort(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (int i = 0; i < 2; i++)
		if (c->fd[i] >= 0)
			setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_close(d, c);
}

/* ------------------------------------------------------------ responses */

/* Answer the client ourselves (error, manager), then close. */
static void conn_local_reply(struct kbal_conn *c, char *resp, size_t len, int owned)
{
	struct kbal_first *f = c->f;

	c->local = 1;
	f->len[DOWN] = f->fed[DOWN] = f->fwd[DOWN] = f->ready[DOWN] = 0;
	f->out[DOWN] = resp;
	f->out_len[DOWN] = len;
	f->out_sent[DOWN] = 0;
	f->out_owned[DOWN] = owned;
	c->phase[UP] = P_CLOSED;   /* nothing of the request goes anywhere */
	c->phase[DOWN] = P_FLUSH;
	c->fin[DOWN] = 1;          /* close once written */
}

static void conn_error(struct kbal_conn *c, unsigned status)
{
	ssize_t n = kbal_http_error_response(status, c->f->outbuf[DOWN], OUT_SIZE);

	if (c->fd[M] >= 0 && c->phase[DOWN] == P_HEAD) {
		/* nothing of the member's answer went out: drop its socket */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd[M], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	conn_local_reply(c, c->f->outbuf[DOWN], n > 0 ? (size_t)n : 0, 0);
}

/* ------------------------------------------------------------- members */

static int member_connect(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_member *m = &d->maps.members[c->member];
	const char *cc = d->conf->balancers[c->balancer].member_cc;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = m->addr,
				  .sin_port = htons(m->port) };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.u64 = (uint64_t)(uintptr_t)c | M };
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* checked when the configuration was read: a failure here leaves the
	 * system's default, which is no reason to refuse the request */
	if (cc[0])
		setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		return err;
	}
	c->fd[M] = fd;
	c->connected = 0;
	c->f->deadline = d->now + (uint64_t)(m->connect_timeout_ms ?:
					     d->maps.balancers[c->balancer].timeout_ms) * 1000000ull;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		close(fd);
		c->fd[M] = -1;
		return err;
	}
	return 0;
}

static void member_connected(struct kbal_daemon *d, struct kbal_conn *c);
static int build_request(struct kbal_daemon *d, struct kbal_conn *c);
static int conn_progress(struct kbal_daemon *d, struct kbal_conn *c);

/*
 * A request that may go twice (RFC 9110 9.2.2): a kept connection that the
 * member closed just as the request went out has it sent again on a new one
 * (member_retry); any other takes a new connection, which is kept after.
 */
static int request_idempotent(const struct kbal_conn *c)
{
	static const char *const methods[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };
	const struct kbal_span *mt = &c->f->msg[UP].method;

	for (unsigned i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (mt->len == strlen(methods[i]) &&
		    !memcmp(c->f->buf[UP] + mt->off, methods[i], mt->len))
			return 1;
	return 0;
}

/* A kept connection to the picked member, connected at once; -ENOENT if none. */
static int member_reuse(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.u64 = (uint64_t)(uintptr_t)c | M };
	uint16_t lport = 0;
	int fd = kbal_pool_take(&d->pool, c->member, &lport);

	if (fd < 0)
		return -ENOENT;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev)) {
		close(fd);
		return -ENOENT;
	}
	c->fd[M] = fd;
	c->reused = 1;
	c->member_lport = lport;
	member_connected(d, c);
	return 0;
}

/* The response has ended, all of it written: keep the member's connection. */
static void member_release(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m = &d->maps.members[c->member];

	if (m->busy)
		m->busy--;
	m->bytes_to += c->wr[M];
	m->bytes_from += c->rd[M];
	c->connected = 0;
	if (kbal_pool_put(&d->pool, c->member, c->fd[M], c->member_lport, d->now))
		close(c->fd[M]);
	c->fd[M] = -1;
}

/* kbald is out of descriptors (or socket memory): its own limit, not the
 * member's fault, and no reason to refuse the client */
static int out_of_fds(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

/*
 * No descriptor for the member's connection (the budget reserved one at
 * the accept, so something else took it): the connection waits, with its
 * request, for flows to end (run_fd_waiters), within its Timeout.
 */
static void member_wait_fd(struct kbal_daemon *d, struct kbal_conn *c, int err)
{
	if (!d->nfd_wait)
		log_warn("connect to %s: %s: waiting for a descriptor (%llu connections)",
			 d->maps.members[c->member].url, strerror(-err),
			 (unsigned long long)d->nconns);
	c->f->fd_wait = 1;
	d->nfd_wait++;
}

/*
 * A kept connection ended before a byte of the response: the member closed
 * it (its keep-alive timeout) as the request went out. The request is
 * idempotent and bodiless (it took a kept connection): send it again on a
 * new connection to the same member, as Apache does.
 */
static int member_retry(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m = &d->maps.members[c->member];
	int err;

	log_debug("conn %p: kept connection to %s closed under the request: again on a new one",
		  (void *)c, m->url);
	close(c->fd[M]);
	c->fd[M] = -1;
	if (m->busy)
		m->busy--;
	c->connected = 0;
	c->reused = 0;
	c->member_lport = 0;
	c->fin[M] = 0;
	c->empty[M] = 0;
	c->rdhup &= ~(1u << M);
	c->wr[M] = c->rd[M] = 0;
	c->f->out_sent[UP] = 0;       /* the rewritten head, whole in out[UP] */
	c->phase[UP] = P_FLUSH;
	err = member_connect(d, c);
	if (out_of_fds(err)) {
		member_wait_fd(d, c, err);
		return 0;
	}
	if (err) {
		log_warn("connect to %s: %s", m->url, strerror(-err));
		conn_error(c, 503);
	}
	return err;
}

/* The picked member's connection: a kept one, or a new connect. */
static int member_open(struct kbal_daemon *d, struct kbal_conn *c)
{
	int err = c->pool && request_idempotent(c) ? member_reuse(d, c) : -ENOENT;

	if (err)
		err = member_connect(d, c);
	/* kept member connections are the first descriptors to give back */
	if ((err == -EMFILE || err == -ENFILE) && kbal_pool_release(&d->pool))
		err = member_connect(d, c);
	return err;
}

/* Pick (again) and connect; on no member left, 503. */
static void member_pick_connect(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	int changed = 0;

	for (;;) {
		int idx = kbal_lb_pick(b, d->maps.members, c->f->route, &c->f->tried,
				       d->now, &changed);
		if (idx < 0) {
			log_debug("no usable member in balancer://%s: 503", b->name);
			conn_error(c, 503);
			return;
		}
		kbal_lb_mark(&c->f->tried, idx);
		c->member = idx;
		c->changed = changed;
		if (c->pool && !kbal_pool_enabled(&d->pool, idx))
			c->pool = 0;   /* disablereuse=On: the client's Connection: close goes */
		/* built now, while the head is in the buffer: the pending out
		 * keeps the buffer from being reused until it is sent */
		if (build_request(d, c)) {
			conn_error(c, 431);
			return;
		}
		int err = member_open(d, c);
		if (!err)
			return;
		if (out_of_fds(err)) {
			member_wait_fd(d, c, err);
			return;
		}
		log_warn("connect to %s: %s", d->maps.members[idx].url, strerror(-err));
		if (err == -EADDRNOTAVAIL) {
			/* no local port left towards it: kbald's limit too */
			conn_error(c, 503);
			return;
		}
		kbal_lb_failed(&d->maps.members[idx], d->now);
	}
}

/* Connections waiting for a descriptor: connect those that can now. */
static void run_fd_waiters(struct kbal_daemon *d)
{
	struct kbal_list *n, *next;

	for (n = d->first.next; n != &d->first && d->nfd_wait; n = next) {
		struct kbal_conn *c = conn_of(n);
		int err;

		next = n->next;
		if (!c->f->fd_wait)
			continue;
		err = member_open(d, c);
		if (out_of_fds(err))
			return;
		c->f->fd_wait = 0;
		d->nfd_wait--;
		if (err) {
			log_warn("connect to %s: %s", d->maps.members[c->member].url, strerror(-err));
			if (err != -EADDRNOTAVAIL)
				kbal_lb_failed(&d->maps.members[c->member], d->now);
			member_pick_connect(d, c);
		}
		conn_progress(d, c);
	}
}

/* The connect to fd[M] failed (refused, reset, or timed out). */
static void member_failed(struct kbal_daemon *d, struct kbal_conn *c, const char *why)
{
	struct kbal_member *m = &d->maps.members[c->member];

	log_warn("member %s (route %s) %s: error state for %u s", m->url, m->route, why,
		 m->retry_sec);
	kbal_lb_failed(m, d->now);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd[M], NULL);
	close(c->fd[M]);
	c->fd[M] = -1;
	member_pick_connect(d, c);
}

static void member_connected(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_member *m = &d->maps.members[c->member];

	c->connected = 1;
	m->busy++;
	/* Apache clears the error state on the first success after retry */
	m->status &= ~KBAL_ST_ERROR;
	struct sockaddr_in local = { 0 };
	const struct sockaddr_in *known_local = NULL;

	if (!c->member_lport) {
		socklen_t sl = sizeof(local);

		if (!getsockname(c->fd[M], (struct sockaddr *)&local, &sl)) {
			c->member_lport = ntohs(local.sin_port);
			known_local = &local;
		}
	}
	c->f->deadline = d->now + (uint64_t)d->conf->timeout_ms * 1000000ull;
	flow_update(d, c, KBAL_FLOW_FIRST);
	if (c->want_packet) {
		/* what accept and the configuration said: no syscall to ask */
		struct sockaddr_in client = { .sin_family = AF_INET,
					      .sin_addr.s_addr = c->key.client_addr,
					      .sin_port = c->key.client_port };
		struct sockaddr_in member = { .sin_family = AF_INET, .sin_addr.s_addr = m->addr,
					      .sin_port = htons(m->port) };

		c->pf = calloc(1, sizeof(*c->pf));
		if (!c->pf || kbal_packet_learn(&d->pkt, c->fd[C], c->fd[M], c->pf, &client,
						known_local, &member)) {
			free(c->pf);
			c->pf = NULL;
			c->want_packet = 0;
			c->why = KBAL_WHY_MAP;
		} else {
			pkt_flow_named(d, c);
		}
	}
}

/* --------------------------------------------------------- first request */

static void pkt_give_up(struct kbal_daemon *d, struct kbal_conn *c, enum kbal_flow_why why);
static void pkt_take_back(struct kbal_daemon *d, struct kbal_conn *c);
static int conn_progress(struct kbal_daemon *d, struct kbal_conn *c);
static void splice_dir(struct kbal_daemon *d, struct kbal_conn *c, int i);
static int dir_write(struct kbal_daemon *d, struct kbal_conn *c, int i);
static int dir_all_written(const struct kbal_conn *c, int i);

static void build_set_cookie(struct kbal_daemon *d, struct kbal_conn *c, char *out, size_t len)
{
	const struct kbal_member *m = &d->maps.members[c->member];
	const struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	size_t o = 0;

	out[0] = '\0';
	for (unsigned h = 0; h < d->conf->nheader; h++) {
		const struct kbal_conf_header *hd = &d->conf->header[h];

		if (hd->env[0] && !(c->changed && strcmp(hd->env, "BALANCER_ROUTE_CHANGED") == 0))
			continue;
		o += snprintf(out + o, o < len ? len - o : 0, "%s: ", hd->name);
		for (const char *p = hd->value; *p && o < len; p++) {
			const char *end;

			if (p[0] == '%' && p[1] == '{' && (end = strstr(p, "}e"))) {
				size_t n = end - (p + 2);
				const char *v = "";

				if (n == 21 && !strncmp(p + 2, "BALANCER_WORKER_ROUTE", n))
					v = m->route;
				else if (n == 20 && !strncmp(p + 2, "BALANCER_WORKER_NAME", n))
					v = m->url;
				else if (n == 13 && !strncmp(p + 2, "BALANCER_NAME", n))
					v = b->name;
				o += snprintf(out + o, len - o, "%s%s",
					      n == 13 && !strncmp(p + 2, "BALANCER_NAME", n) ?
					      "balancer://" : "", v);
				p = end + 1;
				continue;
			}
			out[o++] = *p;
		}
		o += snprintf(out + o, o < len ? len - o : 0, "\r\n");
	}
	if (o >= len)
		out[0] = '\0';
}

/* The first request's head is complete: route it. */
static void on_request_head(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];
	const char *url = f->buf[UP] + rq->url.off;
	const struct kbal_http_header *h;
	int pass = kbal_conf_match_pass(d->conf, url, rq->url.len);

	h = kbal_http_find(rq, f->buf[UP], "Host");
	if (!h && rq->http_minor >= 1) {
		conn_error(c, 400);   /* HTTP/1.1 requires Host (RFC 9112 3.2) */
		return;
	}
	if (h && h->value.len < sizeof(f->host)) {
		memcpy(f->host, f->buf[UP] + h->value.off, h->value.len);
		f->host[h->value.len] = '\0';
	}
	if (pass < 0 || d->conf->pass[pass].exclude) {
		char *page;
		size_t len;

		int manager = kbal_conf_match_location(d->conf, url, rq->url.len) ==
			      KBAL_HANDLER_MANAGER;

		if (manager)
			flow_flush(d);   /* the page shows this turn's flows too */
		if (manager && kbal_manager_page(&d->maps, &page, &len) == 0) {
			conn_local_reply(c, page, len, 1);
			return;
		}
		conn_error(c, 404);
		return;
	}
	f->pass = pass;
	if (rq->method.len == 4 && !memcmp(f->buf[UP] + rq->method.off, "HEAD", 4))
		f->msg[DOWN].skip_body = 1;   /* its response has no body */
	c->balancer = d->conf->pass[pass].balancer;
	c->splice_mode = d->maps.balancers[c->balancer].splice;
	if (c->splice_mode != KBAL_SPLICE_PACKET) {
		c->want_packet = 0;
		c->why = c->once ? KBAL_WHY_ONCE : KBAL_WHY_NONE;
	}
	if (d->maps.balancers[c->balancer].sticky[0])
		kbal_http_sticky_route(rq, f->buf[UP], d->maps.balancers[c->balancer].sticky,
				       f->route, sizeof(f->route));
	member_pick_connect(d, c);
}

/* Connected: build the head to send (needs the member for Host). */
static int build_request(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_conf_pass *p = &d->conf->pass[f->pass];
	char ip[INET_ADDRSTRLEN];
	char hostport[KBAL_NAME_LEN];
	const struct kbal_member *m = &d->maps.members[c->member];
	struct kbal_req_rewrite rw = {
		.strip = strlen(p->path),
		.target = p->target,
		.client_ip = inet_ntop(AF_INET, &c->key.client_addr, ip, sizeof(ip)),
		.server_name = d->conf->server_name,
		.keep_alive = c->pool,
	};
	ssize_t n;

	if (!d->conf->preserve_host) {
		/* url is http://host[:port] */
		const char *hp = strstr(m->url, "://");

		snprintf(hostport, sizeof(hostport), "%s", hp ? hp + 3 : m->url);
		hostport[strcspn(hostport, "/")] = '\0';
		rw.host = hostport;
	}
	/* "ProxyPass / balancer://x/" strips "/" and adds "/"; a "/" rule on
	 * "/" target is the identity, kept as such */
	if (strcmp(p->path, "/") == 0 && strcmp(p->target, "/") == 0)
		rw.target = NULL, rw.strip = 0;
	n = kbal_http_build_request(&f->msg[UP], f->buf[UP], &rw, f->outbuf[UP], OUT_SIZE);
	if (n < 0)
		return -1;
	f->out[UP] = f->outbuf[UP];
	f->out_len[UP] = n;
	f->out_sent[UP] = 0;
	return 0;
}

/* The response head is complete: add the cookie, rewrite Location. */
static int build_response(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_rev_set *rs = &d->rev[c->balancer];
	char extra[1024], base[300];
	ssize_t n;

	build_set_cookie(d, c, extra, sizeof(extra));
	snprintf(base, sizeof(base), "http://%s", f->host[0] ? f->host : d->conf->server_name);
	/* c->pool: the member keeps its connection, kbald closes the client's */
	n = kbal_http_build_response(&f->msg[DOWN], f->buf[DOWN], rs->rules, rs->n, base,
				     extra[0] ? extra : NULL, c->pool, f->outbuf[DOWN], OUT_SIZE);
	if (n < 0)
		return -1;
	f->out[DOWN] = f->outbuf[DOWN];
	f->out_len[DOWN] = n;
	f->out_sent[DOWN] = 0;
	return 0;
}

/* Feed what was read of direction i to its parser and act on it. */
static void parse_dir(struct kbal_daemon *d, struct kbal_conn *c, int i)
{
	struct kbal_first *f = c->f;
	struct kbal_http_msg *msg = &f->msg[i];

	while (f->fed[i] < f->len[i] && (c->phase[i] == P_HEAD || c->phase[i] == P_BODY)) {
		size_t used = 0;
		int rc = kbal_http_feed(msg, f->buf[i], f->fed[i], f->len[i] - f->fed[i], &used);

		f->fed[i] += used;
		if (rc == KBAL_HTTP_ERROR) {
			log_debug("malformed %s: %s", i == UP ? "request" : "response",
				  msg->error ? msg->error : "?");
			if (i == UP)
				conn_error(c, 400);
			else
				conn_error(c, 502);
			return;
		}
		if (rc == KBAL_HTTP_AGAIN)
			return;
		if (i == UP && rc == KBAL_HTTP_HEAD) {
			f->fwd[UP] = msg->head_len;
			c->once = !msg->keep_alive && !msg->upgrade;
			/* HTTP/1.1 "Connection: close", bodiless, nothing behind:
			 * a kept connection to the member can carry it */
			c->pool = c->once && msg->http_major == 1 && msg->http_minor == 1 &&
				  !msg->chunked && msg->content_length <= 0 &&
				  !msg->expect_continue && f->len[UP] == msg->head_len &&
				  kbal_http_close_only(msg, f->buf[UP]);
			/* the packet path takes a quiet keep-alive exchange: no
			 * upgrade, nothing queued behind the request; a body
			 * of a known length up to PKT_FIRST_MAX is copied by
			 * kbald to its end first, as a first response is */
			c->want_packet = msg->keep_alive && !msg->upgrade && !msg->chunked &&
					 msg->content_length <= PKT_FIRST_MAX &&
					 !msg->expect_continue &&
					 f->len[UP] - msg->head_len <=
					 (uint64_t)(msg->content_length > 0 ? msg->content_length : 0);
			c->why = c->want_packet ? KBAL_WHY_NONE :
				 !msg->keep_alive && !msg->upgrade ? KBAL_WHY_ONCE :
				 msg->upgrade || msg->expect_continue ? KBAL_WHY_UPGRADE :
				 KBAL_WHY_BUSY;
			f->msg_total[UP] = c->rd[UP] - (f->len[UP] - msg->head_len);
			if (c->want_packet && msg->content_length > 0)
				f->msg_total[UP] += msg->content_length;
			if (!msg->chunked)   /* Content-Length framing: nothing left to check */
				c->phase[UP] = P_FLUSH;
			else
				c->phase[UP] = P_BODY;
			on_request_head(d, c);
			if (c->local)
				return;
		} else if (i == UP && rc == KBAL_HTTP_DONE) {
			c->phase[UP] = P_FLUSH;
		} else if (i == DOWN && rc == KBAL_HTTP_HEAD) {
			if (msg->status >= 100 && msg->status < 200 && msg->status != 101) {
				/* an interim 1xx (bodyless: done at HEAD) goes out
				 * raw; then parse the final response's head */
				f->ready[DOWN] = f->fed[DOWN];
				kbal_http_next(msg);
				continue;
			}
			/* a member that closes after this response keeps nothing */
			if (c->pool && (!msg->keep_alive || msg->status == 101))
				c->pool = 0;
			if (build_response(d, c)) {
				conn_error(c, 502);
				return;
			}
			f->fwd[DOWN] = msg->head_len;  /* replaced by out[DOWN] */
			c->upgrade |= msg->status == 101;
			c->phase[DOWN] = P_FLUSH;
			if (c->pool && !msg->done) {
				/* parse the body too: the connection is kept at its end */
				c->phase[DOWN] = P_BODY;
				continue;
			}
			if (c->want_packet && !c->upgrade && !msg->done && msg->content_length >= 0 &&
			    msg->content_length <= PKT_FIRST_MAX) {
				/* parse the body too: the handover waits for its end */
				c->phase[DOWN] = P_BODY;
				continue;
			}
			if (c->want_packet && (!msg->done || c->upgrade))
				pkt_give_up(d, c, c->upgrade ? KBAL_WHY_UPGRADE : KBAL_WHY_RESPONSE);
			f->msg_total[DOWN] = c->rd[DOWN] - (f->len[DOWN] - msg->head_len);
			return;
		} else if (i == DOWN && rc == KBAL_HTTP_DONE) {
			f->msg_total[DOWN] = c->rd[DOWN] - (f->len[DOWN] - msg->msg_end);
			c->phase[DOWN] = P_FLUSH;
			return;
		}
	}
}

/* ------------------------------------------------------------- handover */

/* the flow will take the sockmap path after all */
static void pkt_give_up(struct kbal_daemon *d, struct kbal_conn *c, enum kbal_flow_why why)
{
	c->want_packet = 0;
	c->why = why;
	if (c->pf) {
		kbal_packet_forget(&d->pkt, c->pf);
		pkt_flow_drop(d, c);
	}
}

/*
 * The client's next request reached kbald's client socket instead of being
 * switched (docs/packet.md): splice the flow with sockmap after all, which
 * carries what waits in that socket to the member. Too late for that (the
 * member already answered through the program): the connection is lost.
 */
/* the handover undone (nothing switched yet): the entries go, the member
 * side thaws; -1 with the connection closed where it cannot be */
static int pkt_undo(struct kbal_daemon *d, struct kbal_conn *c, const char *what)
{
	if (kbal_packet_take_back(&d->pkt, c->pf, c->fd[M])) {
		log_warn("conn %p: %s after the packet handover: closing", (void *)c, what);
		conn_close(d, c);
		return -1;
	}
	pkt_flow_drop(d, c);
	return 0;
}

static void pkt_take_back(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.u64 = (uint64_t)(uintptr_t)c | M };

	if (pkt_undo(d, c, "client bytes reached kbald"))
		return;
	c->pkt = 0;
	c->drain_since = 0;
	c->want_packet = 0;
	c->why = KBAL_WHY_RACE;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, c->fd[M], &ev);
	/* buffers, should a direction have to be copied after all */
	c->f = first_alloc();
	if (!c->f) {
		conn_close(d, c);
		return;
	}
	list_del(&c->node);
	list_add_tail(&d->first, &c->node);
	/* the member's side first: the request waiting in kbald's client
	 * socket goes out the moment that side is spliced, and a member that
	 * answers and closes at once must find its socket already spliced */
	splice_dir(d, c, DOWN);
	splice_dir(d, c, UP);
	flow_update(d, c, KBAL_FLOW_SPLICED);
	log_debug("conn %p: packet handover taken back: sockmap", (void *)c);
	conn_progress(d, c);
}

/* what kbald has yet to write of direction i's buffer */
static uint64_t dir_pending(const struct kbal_conn *c, int i)
{
	const struct kbal_first *f = c->f;

	return (uint64_t)(f->out_len[i] - f->out_sent[i]) + (f->len[i] - f->fwd[i]);
}

/*
 * The first exchange is over but for the response's write to the client:
 * the request is out and quiet, the whole response is read and none of it
 * written, and it is small enough for one send into an empty socket. Then
 * the handover goes first and the response after it (pkt_try): the client
 * cannot send its next request before the entries that switch it exist,
 * where a handover after the write races a client quick to ask again.
 */
static int pkt_early(struct kbal_daemon *d, const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;

	return c->want_packet && !c->pkt && !c->local && !c->pool && c->connected && c->pf &&
	       c->wr[C] == 0 && dir_pending(c, DOWN) <= PKT_EARLY_MAX &&
	       c->phase[DOWN] == P_FLUSH && !c->fin[DOWN] && c->empty[DOWN] &&
	       c->rd[DOWN] == f->msg_total[DOWN] &&
	       c->phase[UP] == P_FLUSH && !c->fin[UP] && c->empty[UP] &&
	       dir_all_written(c, UP) && c->rd[UP] == f->msg_total[UP] &&
	       kbal_packet_early(&d->pkt, c->pf);   /* last: may look up addresses */
}

/* Both directions are quiet after the first exchange (or all but the
 * response's write: pkt_early): try the packet path. */
static void pkt_try(struct kbal_daemon *d, struct kbal_conn *c)
{
	uint64_t pending = dir_pending(c, DOWN);
	enum kbal_flow_why why;
	int err;

	err = kbal_packet_handover(&d->pkt, c->fd[C], c->fd[M], c->rd[C], c->rd[M],
				   (uint32_t)pending, c->pf, &why);
	if (err) {
		log_debug("conn %p: packet path refused (%s): sockmap", (void *)c,
			  kbal_why_name(why));
		pkt_give_up(d, c, why);
		return;
	}
	if (pending) {
		/* the response, after the entries made for its end */
		dir_write(d, c, DOWN);
		if (!dir_all_written(c, DOWN)) {
			/* not all of it went (the client gone, or a full
			 * socket): the client cannot have acknowledged what
			 * it has not got, so nothing switched; the flow goes
			 * on as before the handover, to sockmap */
			if (pkt_undo(d, c, "the first response not written at once"))
				return;
			pkt_give_up(d, c, KBAL_WHY_BUSY);
			log_debug("conn %p: first response not written at once: sockmap",
				  (void *)c);
			return;
		}
	}
	/* kbald's member socket is frozen: no more events from it */
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd[M], NULL);
	c->pkt = PKT_SWITCHING;
	c->pkt_since = d->now;
	c->phase[UP] = c->phase[DOWN] = P_SPLICED;
	c->handed = 1;
	flow_update(d, c, KBAL_FLOW_SPLICED);
	list_del(&c->node);
	list_add_tail(&d->packet, &c->node);
	first_free(c);
	log_debug("conn %p: joined packet by packet%s", (void *)c,
		  pending ? ", before the response" : "");
}

/*
 * Splicing costs a few syscalls per direction and pays off on the bytes
 * that follow. A connection whose client asked for one request only
 * (Connection: close, HTTP/1.0) has nothing after its request, and a small
 * remaining response is cheaper to copy than to hand over.
 */
static int worth_splicing(const struct kbal_conn *c, int i)
{
	const struct kbal_http_msg *rs = &c->f->msg[DOWN];

	if (c->splice_mode == KBAL_SPLICE_OFF || c->reused)
		return 0;   /* a kept connection's socket counters are not this flow's */
	if (c->upgrade || c->f->msg[UP].upgrade || !c->once)
		return 1;
	if (i == UP)
		return 0;
	return rs->content_length < 0 ||
	       rs->content_length - (int64_t)(c->f->len[DOWN] - rs->head_len) > 65536;
}

static int sk_event(void *ctx, void *data, size_t len)
{
	struct kbal_daemon *d = ctx;
	const struct kbal_sk_event *ev = data;
	struct kbal_conn *c;
	int i;

	if (len < sizeof(*ev))
		return 0;
	c = ctab_get(&d->ctab, ev->cookie);
	if (!c || c->dead)
		return 0;
	i = c->cookie[0] == ev->cookie ? 0 : 1;
	if (c->phase[i] != P_SPLICED || (c->paused & (1u << i)) || paused_list(d, c))
		return 0;
	if (kbal_splice_pause(&d->maps, ev->cookie)) {
		if (!c->paused)
			paused_unlist(d, c);
		return 0;
	}
	c->paused |= 1u << i;
	log_debug("conn %p: %s paused: its target's worker is far behind", (void *)c, i == UP ? "up" : "down");
	return 0;
}

/* Everything the stream parser took from fd[i] has left the psock for
 * fd[!i]'s send queue: nothing of direction i is in the kernel's hands but
 * what is still in fd[i]'s receive queue. */
static int paused_drained(const struct kbal_conn *c, int i)
{
	uint64_t consumed, unread, sent, tmp, goal;

	if (kbal_sock_consumed(c->fd[i], &consumed, &unread) ||
	    kbal_sock_counts(c->fd[!i], &sent, &tmp))
		return 1;   /* a socket gone: the copy finds out */
	/* a FIN that began waiting before the pause left its goal in base:
	 * every byte fd[i] received, of which `unread` have not left it */
	goal = c->fin_goal & (1u << i) ? c->base[!i] - unread :
	       c->base[!i] + c->wr[!i] + (consumed - c->rd[i]);
	return sent >= goal;
}

/*
 * A paused direction does not go back into the sockhash: on this kernel,
 * putting a socket back into the map the stream parser left loses bytes
 * it then takes (seen under kbal's own tests). Once the kernel has sent
 * all it took, kbald copies the rest of that direction itself, which reads
 * only as fast as the receiver takes: a receiver slow enough to fill its
 * socket is no place for the kernel's speed anyway. The connection takes
 * the first exchange's buffers again (d->first, as with KbalSplice off).
 */
static int paused_relay(struct kbal_daemon *d, struct kbal_conn *c, int i)
{
	if (!c->f) {
		c->f = first_alloc();
		if (!c->f)
			return -ENOMEM;
		c->f->deadline = ~0ull;
		list_del(&c->node);
		list_add_tail(&d->first, &c->node);
	}
	c->phase[i] = P_RELAY;
	c->fin[i] = 0;             /* the copy reads on to the EOF itself */
	c->fin_goal &= ~(1u << i);
	c->empty[i] = 0;
	ctab_del(&d->ctab, c->cookie[i], c);
	if (!list_linked(&c->ready))
		list_add_tail(&d->ready, &c->ready);
	log_debug("conn %p: %s copied by kbald after a pause", (void *)c, i == UP ? "up" : "down");
	return 0;
}

static void run_paused(struct kbal_daemon *d)
{
	for (unsigned k = 0; k < d->npaused;) {
		struct kbal_conn *c = d->paused[k];
		int gone = 0;

		for (int i = 0; i < 2 && !gone; i++) {
			if (!(c->paused & (1u << i)) || !paused_drained(c, i) ||
			    !kbal_sock_writable(c->fd[!i]))
				continue;
			if (paused_relay(d, c, i)) {
				conn_abort(d, c);    /* out of memory; unlists it */
				gone = 1;
				continue;
			}
			c->paused &= ~(1u << i);
		}
		if (gone)
			continue;            /* another took its place at k */
		if (!c->paused)
			d->paused[k] = d->paused[--d->npaused];
		else
			k++;
	}
}

/* A restart hands flows over spliced, copied (nothing buffered) or joined,
 * not paused: those the kernel has drained are copied from now on; 1 while
 * others still wait for it. */
static int paused_settle(struct kbal_daemon *d)
{
	for (unsigned k = 0; k < d->npaused;) {
		struct kbal_conn *c = d->paused[k];

		for (int i = 0; i < 2; i++)
			if (c->paused & (1u << i) && paused_drained(c, i) && !paused_relay(d, c, i))
				c->paused &= ~(1u << i);
		if (!c->paused)
			d->paused[k] = d->paused[--d->npaused];
		else
			k++;
	}
	return d->npaused > 0;
}

static void splice_dir(struct kbal_daemon *d, struct kbal_conn *c, int i)
{
	uint64_t sent, recvd;
	int err;

	if (c->cookie[i] == 0)
		c->cookie[i] = kbal_sock_cookie(c->fd[i]);
	/* Everything kbald wrote to fd[!i] is in its send counter now; what
	 * comes on top is the kernel's: the base lets the FIN logic tell. */
	if (kbal_sock_counts(c->fd[!i], &sent, &recvd) == 0)
		c->base[!i] = sent - c->wr[!i];
	err = kbal_splice_dir(&d->maps, c->fd[i], c->cookie[i], c->fd[!i]);
	if (err) {
		log_debug("splice %s: %s: copying in kbald", i == UP ? "up" : "down",
			  strerror(-err));
		c->phase[i] = P_RELAY;
		return;
	}
	c->phase[i] = P_SPLICED;
	ctab_put(&d->ctab, c->cookie[i], c);
	log_debug("conn %p: %s spliced after rd %llu wr %llu", (void *)c, i == UP ? "up" : "down",
		  (unsigned long long)c->rd[i], (unsigned long long)c->wr[!i]);
}

static void conn_handed_over(struct kbal_daemon *d, struct kbal_conn *c)
{
	list_del(&c->node);
	list_add_tail(&d->spliced, &c->node);
	first_free(c);
}

/* ------------------------------------------------------------- progress */

static int dir_has_buffer(const struct kbal_conn *c, int i)
{
	return c->phase[i] == P_HEAD || c->phase[i] == P_BODY || c->phase[i] == P_FLUSH ||
	       (c->phase[i] == P_RELAY && c->f);
}

/* a send failed: EAGAIN waits for the next edge, anything else is the
 * peer gone (fin 2, as a reset read), whose error no event will repeat */
static void send_failed(struct kbal_conn *c, int to)
{
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS)
		c->fin[to] = 2;
}

/* write out[i] then the raw bytes of direction i; 1 if progress */
static int dir_write(struct kbal_daemon *d, struct kbal_conn *c, int i)
{
	struct kbal_first *f = c->f;
	int to = !i, moved = 0;
	uint32_t limit;

	(void)d;
	if (c->fd[to] < 0 || (to == M && !c->connected))
		return 0;
	/* A chunked first request goes out only once the parser has seen all
	 * of it, so that a malformed one reaches no member; unless it is
	 * larger than the buffer, or the client waits for a 100 Continue. */
	if (i == UP && c->phase[UP] == P_BODY && f->len[UP] < BUF_SIZE &&
	    !f->msg[UP].expect_continue)
		return 0;
	/* raw bytes: in HEAD only interim 1xx responses; in BODY only what
	 * the parser has accepted; after that, everything. They follow the
	 * rewritten head in the same send: one segment for a small answer. */
	limit = c->phase[i] == P_HEAD ? f->ready[i] :
		c->phase[i] == P_BODY ? f->fed[i] : f->len[i];
	for (;;) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		uint32_t head = f->out_len[i] - f->out_sent[i];
		ssize_t n;

		if (head)
			iov[mh.msg_iovlen++] = (struct iovec){ f->out[i] + f->out_sent[i], head };
		if (f->fwd[i] < limit)
			iov[mh.msg_iovlen++] = (struct iovec){ f->buf[i] + f->fwd[i],
							       limit - f->fwd[i] };
		if (!mh.msg_iovlen)
			return moved;
		n = sendmsg(c->fd[to], &mh, MSG_NOSIGNAL);
		if (n < 0)
			send_failed(c, to);
		if (n <= 0)
			return moved;
		c->wr[to] += n;
		moved = 1;
		if ((size_t)n <= head) {
			f->out_sent[i] += n;
			continue;
		}
		f->out_sent[i] = f->out_len[i];
		f->fwd[i] += n - head;
	}
}

/* compact the buffer of direction i once all of it went out */
static void dir_compact(struct kbal_conn *c, int i)
{
	struct kbal_first *f = c->f;

	if (c->phase[i] == P_HEAD || f->out_sent[i] < f->out_len[i] || f->fwd[i] < f->len[i])
		return;
	if (c->phase[i] == P_BODY && f->fed[i] < f->len[i])
		return;
	f->len[i] = f->fed[i] = f->fwd[i] = 0;
}

/* read into direction i's buffer; 1 if progress */
static int dir_read(struct kbal_conn *c, int i)
{
	struct kbal_first *f = c->f;
	int moved = 0;

	if (c->fin[i] || c->fd[i] < 0 || (i == M && !c->connected))
		return 0;
	if (f->len[i] == BUF_SIZE)
		c->empty[i] = 0;  /* unknown: not a state to hand over in */
	while (f->len[i] < BUF_SIZE) {
		ssize_t n = recv(c->fd[i], f->buf[i] + f->len[i], BUF_SIZE - f->len[i], MSG_DONTWAIT);

		if (n > 0) {
			size_t asked = BUF_SIZE - f->len[i];

			f->len[i] += n;
			c->rd[i] += n;
			moved = 1;
			/* A TCP read returns less than asked only when the
			 * queue ran dry: as good as EAGAIN, a syscall less.
			 * Data or a FIN after it makes a new edge; a FIN that
			 * came with the data made its edge already (RDHUP):
			 * then read on to the EOF. */
			c->empty[i] = (size_t)n < asked && !(c->rdhup & (1u << i));
			if (c->empty[i])
				return moved;
			continue;
		}
		if (n == 0) {
			c->fin[i] = 1;
			return 1;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->empty[i] = 1;
		else if (errno != EINTR)
			c->fin[i] = 2;   /* reset: handled as an abort */
		return moved;
	}
	return moved;
}

static int dir_all_written(const struct kbal_conn *c, int i)
{
	const struct kbal_first *f = c->f;

	return f->out_sent[i] == f->out_len[i] && f->fwd[i] == f->len[i];
}

/*
 * Spliced direction i saw FIN: pass it on once the kernel delivered all.
 * What fd[!i] must have sent by then is fixed once the FIN is in: worked
 * out at the first look (base[!i] then holds it, bit i of fin_goal set);
 * the looks after it, every 50 µs at first, read fd[!i]'s counter only.
 */
static int spliced_fin_delivered(struct kbal_conn *c, int i, uint64_t *sent_now)
{
	uint64_t sent, tmp, recvd;

	if (!(c->fin_goal & (1u << i))) {
		if (kbal_sock_received(c->fd[i], &recvd))
			return 1;  /* socket gone: nothing more to wait for */
		/* recvd counts the FIN's sequence number too */
		c->base[!i] += c->wr[!i] + (recvd - 1 - c->rd[i]);
		c->fin_goal |= 1u << i;
	}
	if (kbal_sock_counts(c->fd[!i], &sent, &tmp))
		return 1;
	*sent_now = sent;
	return sent >= c->base[!i];
}

/* returns -1 when the connection was closed */
static int conn_progress(struct kbal_daemon *d, struct kbal_conn *c)
{
	/* a flow on the packet path is the program's; run_packet() ends it */
	if (c->pkt)
		return 0;
	for (int turn = 0; turn < 64; turn++) {
		int moved = 0;

		for (int i = 0; i < 2; i++) {
			if (!c->f || !dir_has_buffer(c, i))
				continue;
			moved |= dir_write(d, c, i);
			dir_compact(c, i);
			if (c->phase[i] != P_CLOSED && !c->local)
				moved |= dir_read(c, i);
			if (i == DOWN && c->fin[DOWN] && c->reused && c->rd[DOWN] == 0) {
				member_retry(d, c);
				moved = 1;
				continue;
			}
			if (c->fin[i] == 2)
				goto abort;
			parse_dir(d, c, i);
			if (!c->f)
				break;
			if (i == DOWN && pkt_early(d, c)) {
				pkt_try(d, c);
				if (c->pkt)
					return 0;
				if (!c->f || c->dead)
					return -1;
			}
			moved |= dir_write(d, c, i);
			dir_compact(c, i);
			/* a send found its peer gone; a kept connection that went
			 * before its answer is retried, when its turn comes */
			if (c->fin[C] == 2 || (c->fin[M] == 2 && !(c->reused && c->rd[DOWN] == 0)))
				goto abort;
			/* EOF from fd[i] with nothing of it left to write */
			if (c->fin[i] && dir_all_written(c, i) &&
			    (c->phase[i] == P_FLUSH || c->phase[i] == P_RELAY || c->local)) {
				if (c->local)
					goto done;
				/* a kept member connection hears no client's FIN */
				if (c->fd[!i] >= 0 && !(i == UP && c->pool))
					shutdown(c->fd[!i], SHUT_WR);
				c->phase[i] = P_CLOSED;
				moved = 1;
			} else if (c->fin[i] && (c->phase[i] == P_HEAD || c->phase[i] == P_BODY)) {
				/* the message was cut short */
				if (i == DOWN && c->f->out_len[DOWN] == 0) {
					conn_error(c, 502);
					moved = 1;
				} else {
					goto done;
				}
			}
			/* handover: all written, queue found empty */
			if (c->phase[i] == P_FLUSH && !c->local && !c->fin[i] && c->empty[i] &&
			    dir_all_written(c, i) && c->connected) {
				if (c->pool && i == UP) {
					/* the request is out; nothing else of the
					 * client's may reach the kept connection */
					c->phase[UP] = P_CLOSED;
					moved = 1;
					continue;
				}
				if (c->pool) {
					/* the response ended and went out: nothing
					 * past it came, the member's connection is
					 * clean for the next client; this one closes */
					if (c->rd[DOWN] == c->f->msg_total[DOWN] && dir_all_written(c, UP))
						member_release(d, c);
					goto done;
				}
				/* the first request's body still coming: kbald
				 * copies it to its end, then the flow may join */
				if (c->want_packet && c->rd[i] < c->f->msg_total[i])
					continue;
				/* a byte beyond the first message: not quiet */
				if (c->want_packet && c->rd[i] != c->f->msg_total[i])
					pkt_give_up(d, c, KBAL_WHY_BUSY);
				if (c->want_packet) {
					/* both directions quiet: join them */
					if (i == DOWN && c->phase[UP] == P_FLUSH && c->empty[UP] &&
					    dir_all_written(c, UP) && c->rd[UP] == c->f->msg_total[UP]) {
						pkt_try(d, c);
						if (c->pkt)
							return 0;
						moved = 1;
					}
					continue;
				}
				if (worth_splicing(c, i))
					splice_dir(d, c, i);
				else
					c->phase[i] = P_RELAY;
				moved = 1;
			}
		}
		/* both directions decided: the flow entry says how */
		if (c->f && !c->handed && c->phase[UP] >= P_SPLICED && c->phase[DOWN] >= P_SPLICED) {
			c->handed = 1;
			flow_update(d, c, KBAL_FLOW_SPLICED);
		}
		if (c->f && (c->phase[UP] == P_SPLICED || c->phase[UP] == P_CLOSED) &&
		    (c->phase[DOWN] == P_SPLICED || c->phase[DOWN] == P_CLOSED))
			conn_handed_over(d, c);
		if (c->phase[UP] == P_CLOSED && c->phase[DOWN] == P_CLOSED)
			goto done;
		/* spliced directions: pass FIN on once the bytes before it are */
		int waiting = 0;
		for (int i = 0; i < 2; i++) {
			uint64_t sent = 0;

			if (c->phase[i] != P_SPLICED || !c->fin[i] || c->paused & (1u << i))
				continue;   /* a paused one is copied to its end */
			if (spliced_fin_delivered(c, i, &sent)) {
				shutdown(c->fd[!i], SHUT_WR);
				c->phase[i] = P_CLOSED;
				moved = 1;
			} else if (!c->drain_since || sent > c->drain_sent) {
				/* a slow reader is no reason to give up: the
				 * limit counts from the last byte that went */
				if (!c->drain_since)
					d->drain_fast_until = d->now + DRAIN_FAST_NS;
				c->drain_since = d->now;
				c->drain_sent = sent;
				waiting = 1;
			} else if (d->now - c->drain_since > DRAIN_MAX_NS) {
				log_warn("bytes in flight did not move for %llu s: closing",
					 DRAIN_MAX_NS / 1000000000ull);
				goto done;
			} else {
				waiting = 1;
			}
		}
		if (c->f && waiting) {
			/* copied one way after a pause (d->first): run_timers
			 * looks at the other way's FIN again */
			c->f->deadline = d->now + DRAIN_RELAY_NS;
		} else if (!c->f) {
			/* spliced: polled while waiting, else only woken by events */
			list_del(&c->node);
			list_add_tail(waiting ? &d->draining : &d->spliced, &c->node);
			if (!waiting)
				c->drain_since = 0;
		}
		if (c->phase[UP] == P_CLOSED && c->phase[DOWN] == P_CLOSED)
			goto done;
		if (!moved)
			return 0;
	}
	/* Budget spent with work left: edge-triggered epoll will not say so
	 * again, so come back to it after the others had their turn. */
	if (!list_linked(&c->ready))
		list_add_tail(&d->ready, &c->ready);
	return 0;
abort:
	conn_abort(d, c);
	return -1;
done:
	conn_close(d, c);
	return -1;
}

/* ---------------------------------------------------------------- events */

static void conn_event(struct kbal_daemon *d, struct kbal_conn *c, int side, uint32_t ev)
{
	if (c->dead)
		return;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		c->rdhup |= 1u << side;
	if (c->pkt) {
		/* Only kbald's client socket still hears anything, until the
		 * switch: the client leaving before it ends the flow, and
		 * bytes that slipped past the switch take it back. */
		if (side == C && c->pkt == PKT_SWITCHING && ev & EPOLLIN && kbal_sock_unread(c->fd[C]))
			pkt_take_back(d, c);
		else if (side == C && ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_close(d, c);
		return;
	}
	if (side == M && c->f && !c->connected && c->fd[M] >= 0) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (ev & (EPOLLERR | EPOLLHUP) ||
		    getsockopt(c->fd[M], SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			member_failed(d, c, err ? strerror(err) : "refused the connection");
		} else if (ev & EPOLLOUT) {
			member_connected(d, c);
		}
	} else if (c->phase[side] == P_SPLICED || c->phase[side] == P_CLOSED) {
		/* kbald does not read a spliced socket: the events tell */
		if (ev & EPOLLERR) {
			c->fin[side] = 2;
			conn_abort(d, c);
			return;
		}
		if (ev & (EPOLLRDHUP | EPOLLHUP) && c->phase[side] == P_SPLICED && !c->fin[side])
			c->fin[side] = 1;
	}
	conn_progress(d, c);
}

/* Listeners out of the epoll set: the kernel's backlog holds the clients.
 * why: ACCEPT_RETRY (a failed accept: again in 100 ms) or ACCEPT_FULL
 * (the descriptor budget: again as flows end). */
enum { ACCEPT_ON, ACCEPT_RETRY, ACCEPT_FULL, ACCEPT_RESTART };

static void pause_accepting(struct kbal_daemon *d, int why)
{
	if (!d->accept_paused)
		for (unsigned i = 0; i < d->nlisteners; i++)
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->listeners[i].fd, NULL);
	d->accept_paused = why;
	d->accept_resume = why == ACCEPT_RETRY ? d->now + 100000000ull : UINT64_MAX;
}

static void resume_accepting(struct kbal_daemon *d)
{
	if (!d->accept_paused || d->accept_paused == ACCEPT_RESTART)
		return;
	/* past the budget: again once a connection fits, and a few more
	 * (a sixteenth of the budget at most), not at every descriptor */
	if (d->accept_paused == ACCEPT_FULL ?
	    fds_held(d) + 2 + MIN(2 * FD_RESUME, d->fd_budget / 16) > d->fd_budget && d->nconns :
	    d->now < d->accept_resume)
		return;
	for (unsigned i = 0; i < d->nlisteners; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = ((uint64_t)i << 3) | TAG_LISTENER };

		epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listeners[i].fd, &ev);
	}
	d->accept_paused = ACCEPT_ON;
}

/*
 * A connection may need two descriptors (client, member): one comes in
 * only with room for both. Otherwise kept member connections go first;
 * with none left, accepting waits for flows to end and the kernel's
 * backlog holds the clients: a slower accept, never an error to a client.
 */
static int fds_room(struct kbal_daemon *d)
{
	while (fds_held(d) + 2 > d->fd_budget)
		if (!kbal_pool_release(&d->pool)) {
			if (d->now - d->fd_full_logged >= 10000000000ull) {
				d->fd_full_logged = d->now;
				log_warn("%llu connections hold the descriptor budget (%llu of "
					 "RLIMIT_NOFILE %llu): accepting as they end",
					 (unsigned long long)d->nconns,
					 (unsigned long long)d->fd_budget,
					 (unsigned long long)d->fd_limit);
			}
			d->fd_full++;
			pause_accepting(d, ACCEPT_FULL);
			return 0;
		}
	return 1;
}

/* A client's connection, accepted: its first exchange begins. -ENOMEM
 * (fd closed) stops accepting for this turn. */
static int client_new(struct kbal_daemon *d, int fd, const struct kbal_flow_key *key)
{
	struct kbal_conn *c = calloc(1, sizeof(*c));

	if (c)
		c->f = first_alloc();
	if (!c || !c->f) {
		log_err("out of memory for a connection");
		free(c);
		close(fd);
		return -ENOMEM;
	}
	kbal_http_init_request(&c->f->msg[UP]);
	kbal_http_init_response(&c->f->msg[DOWN]);
	c->fd[C] = fd;
	c->fd[M] = -1;
	c->member = -1;
	c->key = *key;
	c->f->deadline = d->now + (uint64_t)d->conf->timeout_ms * 1000000ull;
	/* TCP_NODELAY comes from the listener (accept copies it) */
	list_add_tail(&d->first, &c->node);
	d->nconns++;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.u64 = (uint64_t)(uintptr_t)c | C };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		conn_close(d, c);
		return 0;
	}
	conn_progress(d, c);
	return 0;
}

static void accept_clients(struct kbal_daemon *d, struct kbal_listener *l)
{
	for (int n = 0; n < 64 && fds_room(d); n++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) && kbal_pool_release(&d->pool))
				continue;   /* kept member connections go first */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The listener stays readable: without a pause the
				 * loop would spin on it. Retry in 100 ms. */
				if (!d->accept_paused)
					log_warn("accept: %s: not accepting for 100 ms (%llu connections)",
						 strerror(errno), (unsigned long long)d->nconns);
				pause_accepting(d, ACCEPT_RETRY);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		struct kbal_flow_key key = { .client_addr = sa.sin_addr.s_addr,
					     .client_port = sa.sin_port, .listen_port = l->port };
		if (client_new(d, fd, &key))
			return;
	}
}

/* first-exchange deadlines and spliced connections waiting to drain */
static void run_timers(struct kbal_daemon *d)
{
	struct kbal_list *n, *next, batch;

	if (d->now - d->pool_scan >= 1000000000ull) {
		d->pool_scan = d->now;
		kbal_pool_expire(&d->pool, d->maps.meta->nmembers, d->now);
	}

	for (n = d->first.next; n != &d->first; n = next) {
		struct kbal_conn *c = conn_of(n);

		next = n->next;
		if (d->now < c->f->deadline)
			continue;
		if (c->f->fd_wait) {
			/* no descriptor came free within Timeout */
			c->f->fd_wait = 0;
			d->nfd_wait--;
			conn_error(c, 503);
			c->f->deadline = ~0ull;
			conn_progress(d, c);
			continue;
		}
		if (c->phase[UP] >= P_SPLICED && c->phase[DOWN] >= P_SPLICED) {
			/* copied by kbald: as idle-proof as a spliced one */
			c->f->deadline = ~0ull;
			if (c->drain_since)
				conn_progress(d, c);   /* the spliced way's FIN waits */
			continue;
		}
		if (c->fd[M] >= 0 && !c->connected) {
			member_failed(d, c, "timed out");
			conn_progress(d, c);
		} else if (c->phase[UP] == P_HEAD && c->rd[C] == 0) {
			conn_close(d, c);          /* idle: Apache closes silently */
		} else if (c->phase[UP] == P_HEAD) {
			conn_error(c, 408);
			c->f->deadline = ~0ull;
			conn_progress(d, c);
		} else if (c->phase[DOWN] == P_HEAD && !c->local) {
			conn_error(c, 504);
			c->f->deadline = ~0ull;
			conn_progress(d, c);
		} else if (c->rd[DOWN] + c->wr[C] != c->f->progress) {
			/* a first response still moving: Timeout is how long
			 * nothing moves, as Apache's */
			c->f->progress = c->rd[DOWN] + c->wr[C];
			c->f->deadline = d->now + (uint64_t)d->conf->timeout_ms * 1000000ull;
		} else {
			conn_close(d, c);
		}
	}
	/* conn_progress() puts a connection still waiting back at the tail
	 * of d->draining: walk a batch taken off it, or with two waiting the
	 * walk never ends (d->now stands still within it) */
	list_take(&batch, &d->draining);
	while (list_linked(&batch)) {
		struct kbal_conn *c = conn_of(batch.next);

		list_del(&c->node);
		list_add_tail(&d->draining, &c->node);
		conn_progress(d, c);
	}
}

/* connections that stopped for their budget, not for want of work */
static void run_ready(struct kbal_daemon *d)
{
	struct kbal_list batch;

	if (!list_linked(&d->ready))
		return;
	/* take the list: a connection re-queued now waits for the next turn */
	list_take(&batch, &d->ready);
	while (list_linked(&batch)) {
		struct kbal_conn *c = conn_of_ready(batch.next);

		list_del(&c->ready);
		conn_progress(d, c);
	}
}

/*
 * A flow on the packet path looked at again: at the program's event (it
 * switched, or it ended), and once a second for all (their bytes for the
 * members' counters, idle ones, and any whose event was lost). kbald's
 * client-side socket goes at the switch; the flow goes at its end, at
 * once: both FINs acknowledged leave nothing to deliver (packet.bpf.c,
 * fin_passed()). 1 if the connection was closed.
 */
static int pkt_check(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_pkt_state st = {};
	int err = kbal_packet_poll(&d->pkt, c->pf, &st);

	if (!err)
		pkt_account(d, c, st.bytes_up, st.bytes_down);
	if (!err && st.switched && c->pkt == PKT_SWITCHING) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd[C], NULL);
		kbal_packet_close_frozen(c->fd[C]);
		c->fd[C] = -1;
		c->pkt = PKT_JOINED;
		d->njoined++;
		list_del(&c->node);
		list_add_tail(&d->joined, &c->node);
	}
	if (err || st.ended) {
		log_debug("conn %p: packet flow ended (%llu bytes up, %llu down)", (void *)c,
			  (unsigned long long)st.bytes_up, (unsigned long long)st.bytes_down);
		conn_close(d, c);
		return 1;
	}
	if (st.fins && !c->drain_since) {
		/* both FINs passed, one not acknowledged yet: its sender
		 * retransmits it until the ACK comes (the event) */
		c->drain_since = d->now;
	} else if (st.fins && d->now - c->drain_since >= PKT_LINGER_NS) {
		/* ... or its peer is gone: nothing came for a while */
		log_debug("conn %p: packet flow ended, a FIN never acknowledged", (void *)c);
		conn_close(d, c);
		return 1;
	}
	/* last_ns may be newer than d->now: it is the kernel's clock at a
	 * packet after this loop turn began */
	if (st.last_ns && st.last_ns < d->now && d->now - st.last_ns > PKT_IDLE_NS) {
		conn_close(d, c);
		return 1;
	}
	return 0;
}

static void scan_packet(struct kbal_daemon *d, struct kbal_list *head)
{
	struct kbal_list *n, *next;

	/* a switching flow that switches moves to the tail of d->joined:
	 * seen twice if that is the list walked, which does no harm */
	for (n = head->next; n != head; n = next) {
		next = n->next;
		pkt_check(d, conn_of(n));
	}
}

static void run_packet(struct kbal_daemon *d)
{
	if (d->now - d->pkt_scan < PKT_SCAN_NS)
		return;
	d->pkt_scan = d->now;
	scan_packet(d, &d->packet);
	scan_packet(d, &d->joined);
}

/* kbal_pkt_events: the flow of a slot switched or ended */
static int pkt_event(void *ctx, void *data, size_t len)
{
	struct kbal_daemon *d = ctx;
	const struct kbal_pkt_event *ev = data;
	struct kbal_conn *c;

	if (len < sizeof(*ev) || ev->slot >= KBAL_MAX_FLOWS)
		return 0;
	c = d->pkt_conn[ev->slot];
	/* the slot may be another flow's by now, or this one's before its
	 * handover was taken back: the generation and the state tell */
	if (c && !c->dead && c->pkt && c->pf && c->pf->gen == ev->gen)
		pkt_check(d, c);
	return 0;
}

static void free_dead(struct kbal_daemon *d)
{
	kbal_pool_free_dead(&d->pool);
	while (list_linked(&d->dead)) {
		struct kbal_list *n = d->dead.next;

		list_del(n);
		free(conn_of(n));
	}
}

/* ------------------------------------------------------------- restart */

/* the maps' identity of a member, across configurations */
struct member_id {
	char balancer[KBAL_NAME_LEN];
	char url[KBAL_NAME_LEN];
	char route[KBAL_ROUTE_LEN];
};

/*
 * What a handed-over connection carries from one image to the next, in
 * one list for both directions (a field added is carried both ways or not
 * at all). fd, member and balancer go separately: the new image maps the
 * indexes onto its configuration.
 */
#define TO_SCALARS(X) X(rdhup) X(fin_goal) X(splice_mode) X(once) X(upgrade) X(why) X(pkt) \
	X(member_lport) X(key) X(drain_since) X(pkt_since)
#define TO_ARRAYS(X) X(fd) X(phase) X(fin) X(cookie) X(rd) X(wr) X(base) X(pkt_bytes)
#define TO_SAME_SIZE(f) _Static_assert(sizeof(((struct kbal_conn *)0)->f) == \
				       sizeof(((struct kbal_to_conn *)0)->f), "record field " #f);
TO_SCALARS(TO_SAME_SIZE)
TO_ARRAYS(TO_SAME_SIZE)
#define TO_COPY(f) memcpy(&to->f, &from->f, sizeof(to->f));

static void conn_export(const struct kbal_conn *from, struct kbal_to_conn *to)
{
	memset(to, 0, sizeof(*to));
	TO_SCALARS(TO_COPY)
	TO_ARRAYS(TO_COPY)
	to->member = from->member;
	to->balancer = from->balancer;
	to->flags = from->flow_in_map ? KBAL_TO_IN_MAP : 0;
	if (from->pf) {
		to->has_pf = 1;
		to->pf = *from->pf;
	}
}

static unsigned export_list(struct kbal_list *head, struct kbal_to_conn *out)
{
	unsigned n = 0;

	for (struct kbal_list *l = head->next; l != head; l = l->next)
		conn_export(conn_of(l), &out[n++]);
	return n;
}

/* SIGHUP / SIGUSR1: check the configuration, stop accepting (the
 * listeners keep queueing for the next image), let the first exchanges
 * under way end */
static void restart_begin(struct kbal_daemon *d)
{
	struct kbal_conf *conf;
	char msg[512];

	if (!d->exe) {
		log_warn("restart: the kbald binary is unknown: not restarting");
		return;
	}
	conf = malloc(sizeof(*conf));
	if (!conf || kbal_conf_load(d->conf->file, conf, msg, sizeof(msg), NULL, NULL)) {
		log_err("restart refused, still running the old configuration: %s",
			conf ? msg : "out of memory");
		free(conf);
		d->maps.meta->refused++;
		return;
	}
	free(conf);
	pause_accepting(d, ACCEPT_RESTART);
	d->restarting = 1;
	d->restart_deadline = d->now + RESTART_WAIT_NS;
	kbal_pool_release(&d->pool);
	log_info("restarting: %llu connection(s) open", (unsigned long long)d->nconns);
}

/*
 * A connection of the first list that can be handed over as it is: a
 * client that sent nothing yet (the next image starts its first exchange),
 * or one copied by kbald with nothing in its buffers.
 */
static unsigned first_handable(const struct kbal_conn *c)
{
	if (c->reused || c->pool)
		return 0;
	if (c->phase[UP] == P_HEAD && c->rd[C] == 0 && c->fd[M] < 0 && !c->fin[C] &&
	    !c->local && c->f->out_len[DOWN] == 0)
		return KBAL_TO_FRESH;
	for (int i = 0; i < 2; i++)
		if (c->phase[i] < P_SPLICED || c->fin[i] ||
		    (c->phase[i] == P_RELAY && !dir_all_written(c, i)))
			return 0;
	return KBAL_TO_RELAY;
}

/* No first exchange left (or the wait is over): exec the next image. */
static void restart_exec(struct kbal_daemon *d)
{
	struct kbal_takeover t = { .lock_fd = d->maps.lock_fd };
	struct kbal_list *n, *next;
	unsigned closed = 0;
	int err;

	if (paused_settle(d) && d->now < d->restart_deadline)
		return;
	for (n = d->first.next; n != &d->first && d->now < d->restart_deadline; n = n->next)
		if (!first_handable(conn_of(n)))
			return;
	flow_flush(d);
	t.conns = calloc(d->nconns ?: 1, sizeof(*t.conns));
	if (!t.conns) {
		err = -ENOMEM;
		goto failed;
	}
	for (n = d->first.next; n != &d->first; n = next) {
		struct kbal_conn *c = conn_of(n);
		unsigned how = first_handable(c);

		next = n->next;
		if (how) {
			conn_export(c, &t.conns[t.nconns]);
			t.conns[t.nconns++].flags |= how;
			continue;
		}
		/* its state is in kbald's buffers: it cannot go */
		conn_close(d, c);
		closed++;
	}
	while (d->npaused) {
		/* paused, and the kernel still holds bytes of it */
		conn_close(d, d->paused[0]);
		closed++;
	}
	if (closed)
		log_warn("restart: %u connection(s) still in their first exchange after %llu s: "
			 "closed", closed, RESTART_WAIT_NS / 1000000000ull);
	kbal_pool_release(&d->pool);
	flow_flush(d);
	free_dead(d);
	t.nconns += export_list(&d->spliced, t.conns + t.nconns);
	t.nconns += export_list(&d->draining, t.conns + t.nconns);
	t.nconns += export_list(&d->packet, t.conns + t.nconns);
	t.nconns += export_list(&d->joined, t.conns + t.nconns);
	t.nlisten = d->nlisteners;
	for (unsigned i = 0; i < d->nlisteners; i++)
		t.listen_fd[i] = d->listeners[i].fd;
	for (int i = 0; d->pkt_on && i < d->pkt.nifs; i++)
		for (int eg = 0; eg < 2; eg++)
			if (d->pkt.ifs[i].link_fd[eg] >= 0)
				t.links[t.nlinks++] = (struct kbal_pkt_link){
					.fd = d->pkt.ifs[i].link_fd[eg],
					.ifindex = d->pkt.ifs[i].ifindex, .egress = eg };
	log_info("restarting: handing %u connection(s) to %s", t.nconns, d->exe);
	err = kbal_takeover_exec(&t, d->exe, d->argv);
failed:
	free(t.conns);
	log_err("restart: exec %s: %s; still running", d->exe, strerror(-err));
	d->maps.meta->refused++;
	d->restarting = 0;
	d->accept_paused = ACCEPT_RETRY;
	d->accept_resume = 0;     /* the listeners back in at once */
}

/* The new image: the connections of the old one, in this one's lists. */
static int conn_import(struct kbal_daemon *d, const struct kbal_to_conn *r, int16_t member,
		       int16_t balancer)
{
	struct kbal_conn *c;
	struct kbal_list *list;

	if (r->flags & KBAL_TO_FRESH) {
		client_new(d, r->fd[C], &r->key);   /* fd taken, even on failure */
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (r->has_pf) {
		c->pf = malloc(sizeof(*c->pf));
		if (!c->pf) {
			free(c);
			return -ENOMEM;
		}
		*c->pf = r->pf;
		kbal_packet_claim(&d->pkt, c->pf);
		pkt_flow_named(d, c);
	}
	{
		const struct kbal_to_conn *from = r;
		struct kbal_conn *to = c;

		TO_SCALARS(TO_COPY)
		TO_ARRAYS(TO_COPY)
	}
	c->member = member;
	c->balancer = balancer;
	c->flow_in_map = !!(r->flags & KBAL_TO_IN_MAP);
	c->connected = 1;
	c->handed = 1;
	if (r->flags & KBAL_TO_RELAY) {
		/* copied by kbald: buffers again, as idle-proof as spliced */
		c->f = first_alloc();
		if (!c->f) {
			free(c->pf);
			free(c);
			return -ENOMEM;
		}
		c->f->deadline = ~0ull;
	}
	if (member >= 0)
		d->maps.members[member].busy++;
	d->nconns++;
	d->njoined += c->pkt == PKT_JOINED;
	/* kbald's live sockets back under watch (an edge that came while no
	 * image watched is reported at once: epoll looks at the state when a
	 * socket is added); a frozen one never was */
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					  .data.u64 = (uint64_t)(uintptr_t)c | i };

		if (c->fd[i] < 0 || (c->pkt && (i == M || c->pkt == PKT_JOINED)))
			continue;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, c->fd[i], &ev))
			log_warn("restart: watching a connection's socket: %s", strerror(errno));
	}
	for (int i = 0; i < 2; i++)
		if (c->phase[i] == P_SPLICED)
			ctab_put(&d->ctab, c->cookie[i], c);
	list = c->f ? &d->first : c->pkt == PKT_SWITCHING ? &d->packet :
	       c->pkt ? &d->joined : &d->spliced;
	list_add_tail(list, &c->node);
	if (!c->pkt)
		conn_progress(d, c);   /* a FIN seen meanwhile, a drain under way */
	return 0;
}

/* The old image's balancers and members, read from the maps before this
 * configuration overwrites them, and where each is now (-1: gone). */
struct takeover_snap {
	unsigned nbal, nmem;
	char bal[KBAL_MAX_BALANCERS][KBAL_NAME_LEN];
	struct kbal_member mem[KBAL_MAX_MEMBERS];
	int16_t bal_now[KBAL_MAX_BALANCERS];
	int16_t mem_now[KBAL_MAX_MEMBERS];
};

static void takeover_snapshot(struct kbal_daemon *d, struct takeover_snap *s)
{
	s->nbal = d->maps.meta->nbalancers < KBAL_MAX_BALANCERS ?
		  d->maps.meta->nbalancers : KBAL_MAX_BALANCERS;
	s->nmem = d->maps.meta->nmembers < KBAL_MAX_MEMBERS ?
		  d->maps.meta->nmembers : KBAL_MAX_MEMBERS;
	for (unsigned b = 0; b < s->nbal; b++)
		snprintf(s->bal[b], sizeof(s->bal[b]), "%s", d->maps.balancers[b].name);
	memcpy(s->mem, d->maps.members, s->nmem * sizeof(s->mem[0]));
}

/*
 * Match the old members to this configuration's by balancer, URL and
 * route: their counters go on. busy and idle are this image's own (its
 * connections, its pool, empty).
 */
static void takeover_members(struct kbal_daemon *d, struct takeover_snap *s)
{
	const struct kbal_meta *meta = d->maps.meta;

	for (unsigned b = 0; b < s->nbal; b++) {
		s->bal_now[b] = -1;
		for (unsigned n = 0; n < meta->nbalancers; n++)
			if (!strcmp(s->bal[b], d->maps.balancers[n].name))
				s->bal_now[b] = n;
	}
	for (unsigned i = 0; i < s->nmem; i++) {
		const struct kbal_member *o = &s->mem[i];

		s->mem_now[i] = -1;
		if (o->balancer >= s->nbal || s->bal_now[o->balancer] < 0)
			continue;
		for (unsigned j = 0; j < meta->nmembers; j++) {
			struct kbal_member *m = &d->maps.members[j];

			if (m->balancer != (unsigned)s->bal_now[o->balancer] ||
			    strcmp(m->url, o->url) || strcmp(m->route, o->route))
				continue;
			s->mem_now[i] = j;
			m->elected = o->elected;
			m->lbstatus = o->lbstatus;
			m->bytes_to = o->bytes_to;
			m->bytes_from = o->bytes_from;
			m->errors = o->errors;
			m->reused = o->reused;
			break;
		}
	}
}

/* Take over t's connections; those that cannot be are closed. */
static void takeover_conns(struct kbal_daemon *d, struct kbal_takeover *t,
			   const struct takeover_snap *s)
{
	unsigned taken = 0, joined = 0;

	for (unsigned i = 0; i < t->nconns; i++) {
		struct kbal_to_conn *r = &t->conns[i];
		int16_t member = r->member >= 0 && (unsigned)r->member < s->nmem ?
				 s->mem_now[r->member] : -1;
		int16_t bal = r->balancer >= 0 && (unsigned)r->balancer < s->nbal ?
			      s->bal_now[r->balancer] : -1;

		if ((r->pkt && !d->pkt_on) || conn_import(d, r, member, bal)) {
			for (int k = 0; k < 2; k++)
				if (r->fd[k] >= 0)
					close(r->fd[k]);
			continue;
		}
		taken++;
		joined += r->pkt != 0;
		if (member != r->member && r->flags & KBAL_TO_IN_MAP) {
			struct kbal_flow v;

			/* the flow's member has another index now */
			if (!bpf_map_lookup_elem(d->maps.flows_fd, &r->key, &v)) {
				v.member = member >= 0 ? (uint32_t)member : UINT32_MAX;
				bpf_map_update_elem(d->maps.flows_fd, &r->key, &v, BPF_EXIST);
			}
		}
	}
	t->nconns = 0;
	d->maps.meta->restarts++;
	log_info("restarted: took over %u connection(s) (%u on the packet path) and %u listener(s), "
		 "%.1f ms after the exec", taken, joined, t->nlisten,
		 (double)(now_ns() - t->exec_ns) / 1e6);
	if (taken < t->nconns)
		log_warn("restart: %u connection(s) could not be taken over: closed",
			 t->nconns - taken);
}

/* ------------------------------------------------------------ lifecycle */

/* t: a listener of the previous image bound to the same address is
 * taken (its queue of clients with it) instead of a new one */
static int listen_on(struct kbal_daemon *d, const struct kbal_conf_listen *cl,
		     struct kbal_takeover *t)
{
	struct kbal_listener *l = &d->listeners[d->nlisteners];
	struct epoll_event ev = { .events = EPOLLIN };
	char ip[INET_ADDRSTRLEN];
	int one = 1;

	inet_ntop(AF_INET, &cl->addr.sin_addr, ip, sizeof(ip));
	l->fd = -1;
	for (unsigned i = 0; t && i < t->nlisten && l->fd < 0; i++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);

		if (t->listen_fd[i] >= 0 &&
		    !getsockname(t->listen_fd[i], (struct sockaddr *)&sa, &sl) &&
		    sa.sin_family == AF_INET && sa.sin_port == cl->addr.sin_port &&
		    sa.sin_addr.s_addr == cl->addr.sin_addr.s_addr) {
			l->fd = t->listen_fd[i];
			t->listen_fd[i] = -1;
		}
	}
	if (l->fd < 0) {
		l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (l->fd < 0)
			return -errno;
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* inherited by every accepted socket: no setsockopt per client */
		setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (bind(l->fd, (const struct sockaddr *)&cl->addr, sizeof(cl->addr)) ||
		    listen(l->fd, 4096)) {
			int err = -errno;

			log_err("%s:%d: Listen %s:%u: %s", d->conf->file, cl->line, ip,
				ntohs(cl->addr.sin_port), strerror(-err));
			close(l->fd);
			return err;
		}
	}
	l->port = ntohs(cl->addr.sin_port);
	ev.data.u64 = ((uint64_t)d->nlisteners << 3) | TAG_LISTENER;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, l->fd, &ev)) {
		close(l->fd);
		return -errno;
	}
	d->nlisteners++;
	log_info("listening on %s:%u", ip, l->port);
	return 0;
}

int kbal_daemon_load_members(struct kbal_daemon *d)
{
	const struct kbal_conf *conf = d->conf;
	unsigned nm = 0;

	for (unsigned b = 0; b < conf->nbalancers; b++) {
		const struct kbal_conf_balancer *cb = &conf->balancers[b];
		struct kbal_balancer *mb = &d->maps.balancers[b];
		size_t nrules = 0;

		memset(mb, 0, sizeof(*mb));
		snprintf(mb->name, sizeof(mb->name), "%s", cb->name);
		snprintf(mb->sticky, sizeof(mb->sticky), "%s", cb->sticky);
		mb->lbmethod = cb->lbmethod;
		mb->flags = cb->flags;
		mb->first_member = nm;
		mb->nmembers = cb->nmembers;
		mb->timeout_ms = cb->timeout_ms ?: conf->timeout_ms;
		mb->splice = cb->splice;
		for (unsigned i = 0; i < cb->nmembers; i++, nm++) {
			const struct kbal_conf_member *cm = &cb->members[i];
			struct kbal_member *m = &d->maps.members[nm];

			if (nm >= KBAL_MAX_MEMBERS)
				return -E2BIG;
			memset(m, 0, sizeof(*m));
			snprintf(m->route, sizeof(m->route), "%s", cm->route);
			snprintf(m->url, sizeof(m->url), "%s", cm->url);
			m->balancer = b;
			m->status = cm->status;
			m->addr = cm->addr.sin_addr.s_addr;
			m->port = ntohs(cm->addr.sin_port);
			m->lbset = cm->lbset;
			m->loadfactor = cm->loadfactor ?: 1;
			m->retry_sec = cm->retry_sec;
			m->connect_timeout_ms = cm->connect_timeout_ms;
			kbal_pool_set(&d->pool, nm, cm->reuse ? cm->pool_max : 0, cm->pool_ttl_ms);
		}
		/* ProxyPassReverse: each member's URL + target maps to path */
		for (unsigned r = 0; r < conf->nreverse; r++)
			if (conf->reverse[r].balancer == (int)b)
				nrules += cb->nmembers;
		d->rev[b].rules = calloc(nrules ?: 1, sizeof(struct kbal_rev_rule));
		if (!d->rev[b].rules)
			return -ENOMEM;
		for (unsigned r = 0; r < conf->nreverse; r++) {
			const struct kbal_conf_reverse *cr = &conf->reverse[r];

			if (cr->balancer != (int)b)
				continue;
			for (unsigned i = 0; i < cb->nmembers; i++) {
				char *from;
				const char *url = cb->members[i].url;
				size_t ul = strlen(url);

				while (ul && url[ul - 1] == '/')
					ul--;
				if (asprintf(&from, "%.*s%s", (int)ul, url, cr->target) < 0)
					return -ENOMEM;
				d->rev[b].rules[d->rev[b].n].from = from;
				d->rev[b].rules[d->rev[b].n].to = cr->path;
				d->rev[b].n++;
			}
		}
	}
	d->maps.meta->nbalancers = conf->nbalancers;
	d->maps.meta->nmembers = nm;
	return 0;
}

static unsigned fds_open(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (!dir)
		return 64;   /* no /proc: a guess on the safe side */
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n - 1;    /* the directory's own */
}

/*
 * The descriptors connections may use: RLIMIT_NOFILE raised to its hard
 * limit (what the administrator allows; epoll has no FD_SETSIZE), less
 * those open now that are not a connection's (listeners, maps, programs,
 * epoll), two for each interface the packet program may be attached to
 * later, and a few spare.
 */
static void fd_budget_init(struct kbal_daemon *d)
{
	struct rlimit rl;
	uint64_t reserve, open = fds_open(), conns = fds_held(d);

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = 1024;
	} else if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	reserve = (open > conns ? open - conns : 0) + FD_SPARE;
	if (d->pkt_on) {
		struct if_nameindex *ifs = if_nameindex();
		unsigned nifs = 0;

		for (struct if_nameindex *i = ifs; i && i->if_index; i++)
			nifs++;
		if (ifs)
			if_freenameindex(ifs);
		reserve += 2 * (nifs < KBAL_PKT_MAX_IFS ? nifs : KBAL_PKT_MAX_IFS);
	}
	d->fd_limit = rl.rlim_cur;
	d->fd_budget = rl.rlim_cur > reserve + 2 ? rl.rlim_cur - reserve : 2;
	log_info("descriptors: %llu for connections (RLIMIT_NOFILE %llu), about %llu connections",
		 (unsigned long long)d->fd_budget, (unsigned long long)d->fd_limit,
		 (unsigned long long)d->fd_budget / 2);
}

static int takeover_wants_packet(const struct kbal_takeover *t)
{
	for (unsigned i = 0; t && i < t->nconns; i++)
		if (t->conns[i].pkt)
			return 1;
	return 0;
}

int kbal_daemon_init(struct kbal_daemon *d, const struct kbal_conf *conf, const char *pin_dir,
		     struct kbal_takeover *t)
{
	struct takeover_snap *snap = NULL;
	int want_pkt = takeover_wants_packet(t), asked_pkt = 0;
	sigset_t mask;
	int err;

	memset(d, 0, sizeof(*d));
	d->conf = conf;
	d->epfd = d->sigfd = -1;
	list_init(&d->first);
	list_init(&d->spliced);
	list_init(&d->draining);
	list_init(&d->dead);
	list_init(&d->ready);
	list_init(&d->packet);
	list_init(&d->joined);
	d->now = now_ns();
	err = kbal_maps_create(&d->maps, pin_dir, t ? t->lock_fd : -1, t != NULL);
	if (t)
		t->lock_fd = -1;   /* the maps' now, or closed */
	if (err && t) {
		log_warn("restart: the pinned maps cannot be taken over: "
			 "the previous image's connections end");
		kbal_takeover_abandon(t);
		t = NULL;
		want_pkt = 0;
		err = kbal_maps_create(&d->maps, pin_dir, -1, 0);
	}
	if (err)
		goto fail;
	if (t) {
		snap = calloc(1, sizeof(*snap));
		if (!snap) {
			err = -ENOMEM;
			goto fail;
		}
		takeover_snapshot(d, snap);
	}
	kbal_pool_init(&d->pool, d->maps.members);
	d->flow_batch = calloc(1, sizeof(*d->flow_batch));
	if (!d->flow_batch) {
		err = -ENOMEM;
		goto fail;
	}
	err = kbal_daemon_load_members(d);
	if (err)
		goto fail;
	if (snap)
		takeover_members(d, snap);
	for (unsigned b = 0; b < conf->nbalancers; b++) {
		want_pkt |= conf->balancers[b].splice == KBAL_SPLICE_PACKET;
		asked_pkt |= conf->balancers[b].splice == KBAL_SPLICE_PACKET &&
			     conf->balancers[b].splice_set;
	}
	if (want_pkt) {
		err = kbal_packet_init(&d->pkt, pin_dir, t ? t->links : NULL, t ? t->nlinks : 0);
		if (t)
			t->nlinks = 0;
		if (err && !asked_pkt) {
			/* the default, not a request: sockmap does the job */
			log_warn("packet splice unavailable (%s): splicing with sockmap "
				 "(KbalSplice sockmap says so without this warning)", strerror(-err));
			for (unsigned b = 0; b < conf->nbalancers; b++)
				if (d->maps.balancers[b].splice == KBAL_SPLICE_PACKET)
					d->maps.balancers[b].splice = KBAL_SPLICE_SOCKMAP;
			err = 0;
		} else if (err) {
			goto fail;
		} else {
			d->pkt_on = 1;
		}
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		err = -errno;
		goto fail;
	}
	d->pool.epfd = d->epfd;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };
	if (d->sigfd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev)) {
		err = -errno;
		goto fail;
	}
	d->sk_events = ring_buffer__new(d->maps.events_fd, sk_event, d, NULL);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = TAG_SK_EVENTS };
	if (!d->sk_events || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->maps.events_fd, &ev)) {
		err = -errno;
		log_err("the sockmap path's reports (%s): %s", "kbal_sk_events", strerror(-err));
		goto fail;
	}
	if (d->pkt_on) {
		d->pkt_conn = calloc(KBAL_MAX_FLOWS, sizeof(*d->pkt_conn));
		d->pkt_events = ring_buffer__new(d->pkt.events_fd, pkt_event, d, NULL);
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = TAG_PKT_EVENTS };
		if (!d->pkt_conn || !d->pkt_events ||
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->pkt.events_fd, &ev)) {
			err = d->pkt_conn ? -errno : -ENOMEM;
			log_err("the packet path's reports (%s): %s", KBAL_MAP_PKT_EVENTS,
				strerror(-err));
			goto fail;
		}
	}
	for (unsigned i = 0; i < conf->nlisten; i++) {
		err = listen_on(d, &conf->listen[i], t);
		if (err)
			goto fail;
	}
	if (t) {
		takeover_conns(d, t, snap);
		/* listeners of addresses no longer configured, links of
		 * interfaces no longer used: closed */
		kbal_takeover_abandon(t);
	}
	free(snap);
	fd_budget_init(d);
	return 0;
fail:
	if (t)
		kbal_takeover_abandon(t);
	free(snap);
	kbal_daemon_fini(d);
	return err;
}

static void read_signals(struct kbal_daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1) {
			if (!d->restarting)
				restart_begin(d);
		} else {
			d->stop = 1;
		}
	}
}

int kbal_daemon_run(struct kbal_daemon *d)
{
	struct epoll_event evs[256];

	while (!d->stop) {
		/* µs: a FIN waiting for the kernel to send the bytes before it
		 * is looked at again soon, or the client, which has all it
		 * asked for, closes first and keeps the TIME_WAIT */
		uint64_t timeout_us = list_linked(&d->ready) ? 0 : d->restarting ? 10000 :
				      d->accept_paused == ACCEPT_RETRY ? 100000 :
				      list_linked(&d->draining) ?
				      (d->now < d->drain_fast_until ? DRAIN_POLL_US : 1000) :
				      d->npaused ? 1000 :
				      list_linked(&d->first) ? 100000 : 1000000;
		struct timespec ts = { .tv_sec = timeout_us / 1000000,
				       .tv_nsec = (timeout_us % 1000000) * 1000 };
		int n = epoll_pwait2(d->epfd, evs, 256, &ts, NULL);

		if (n < 0 && errno != EINTR)
			return -errno;
		d->now = now_ns();
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if ((tag & TAG_MASK) == TAG_SIGNAL) {
				read_signals(d);
			} else if ((tag & TAG_MASK) == TAG_SK_EVENTS) {
				ring_buffer__consume(d->sk_events);
			} else if ((tag & TAG_MASK) == TAG_PKT_EVENTS) {
				ring_buffer__consume(d->pkt_events);
			} else if ((tag & TAG_MASK) == TAG_LISTENER) {
				accept_clients(d, &d->listeners[tag >> 3]);
			} else if ((tag & TAG_MASK) == KBAL_POOL_TAG) {
				kbal_pool_event(&d->pool,
						(struct kbal_pooled *)(uintptr_t)(tag & ~TAG_MASK));
			} else {
				conn_event(d, (struct kbal_conn *)(uintptr_t)(tag & ~TAG_MASK),
					   (int)(tag & 1), evs[i].events);
			}
		}
		run_ready(d);
		if (d->npaused)
			run_paused(d);
		run_timers(d);
		if (d->pkt_on)
			run_packet(d);
		if (d->nfd_wait)
			run_fd_waiters(d);
		resume_accepting(d);
		flow_flush(d);
		free_dead(d);
		if (d->restarting)
			restart_exec(d);
	}
	log_info("stopping");
	return 0;
}

void kbal_daemon_fini(struct kbal_daemon *d)
{
	while (list_linked(&d->first))
		conn_close(d, conn_of(d->first.next));
	while (list_linked(&d->spliced))
		conn_close(d, conn_of(d->spliced.next));
	while (list_linked(&d->draining))
		conn_close(d, conn_of(d->draining.next));
	while (list_linked(&d->packet))
		conn_close(d, conn_of(d->packet.next));
	while (list_linked(&d->joined))
		conn_close(d, conn_of(d->joined.next));
	if (d->flow_batch) {
		flow_flush(d);
		free(d->flow_batch);
		d->flow_batch = NULL;
	}
	free_dead(d);
	if (d->pool.members)
		kbal_pool_fini(&d->pool);
	first_cache_drop();
	for (unsigned i = 0; i < d->nlisteners; i++)
		close(d->listeners[i].fd);
	for (unsigned b = 0; b < KBAL_MAX_BALANCERS; b++) {
		for (size_t r = 0; r < d->rev[b].n; r++)
			free((char *)d->rev[b].rules[r].from);
		free(d->rev[b].rules);
	}
	if (d->sigfd >= 0)
		close(d->sigfd);
	ring_buffer__free(d->sk_events);
	ring_buffer__free(d->pkt_events);
	free(d->pkt_conn);
	free(d->paused);
	free(d->ctab.slot);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->pkt_on)
		kbal_packet_fini(&d->pkt);
	kbal_maps_close(&d->maps);
}
