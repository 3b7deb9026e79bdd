// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sockmap.bpf.c - the in-kernel splice of an established socket pair.
 *
 * Two sockhashes, so that a socket becomes a redirect target before any
 * socket starts redirecting to it:
 *   kbal_sk_dst[cookie(X)] = Y   where X's bytes go (no program attached)
 *   kbal_sk_src[cookie(X)] = X   X's ingress runs kbal_parser, kbal_verdict
 * kbald inserts dst before src for each direction, so the verdict never
 * meets a missing target during the handover (that would drop data).
 * The sockhash key is the *source's* cookie: one lookup, no flow table.
 * Each source has a kbal_sk_http entry (kbald writes it before the socket
 * enters kbal_sk_src): its framing, and its backpressure state (a held
 * direction, kbal_shared.h). The per-message work is that one lookup and
 * this CPU's line of counters; a held message adds a kbal_sk_dst lookup.
 *
 * Why a stream parser that only says "take what is there": without one
 * (BPF_SK_SKB_VERDICT) the kernel reads the receive queue with
 * tcp_read_skb(), which hands over whole skbs and ignores copied_seq. A
 * segment that partly overlaps bytes already received (a retransmission
 * after reordering and loss) is queued untrimmed, its old head is
 * redirected a second time and the peer gets a stretch of bytes twice.
 * The strparser reads with tcp_read_sock() from copied_seq on, so it starts
 * such an skb at an offset; the parser must then count from that offset.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "kbal_maps.bpf.h"
#include "http_frame.bpf.h"
#include "req_decide.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KBAL_MAX_FLOWS * 2);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_sk_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KBAL_MAX_FLOWS * 2);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_sk_dst SEC(".maps");

/* each spliced socket's framing and the decision its requests keep
 * (kbal_shared.h, "Request boundaries") */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KBAL_MAX_FLOWS * 2);
	__type(key, __u64);
	__type(value, struct kbal_sk_http);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_sk_http SEC(".maps");

/* the mailboxes (kbal_shared.h): kbald's sockets by slot, the free slots,
 * and each taken slot's socket. Pinned: a restart in place hands the
 * sockets over, and the verdict of the next image finds them */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KBAL_MBOX_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_sk_mbox SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, KBAL_MBOX_MAX);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_mbox_free SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KBAL_MBOX_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_mbox_owner SEC(".maps");

#include "stamp.bpf.h"

/* the largest body sent in one message with its head (it came whole) */
#define KBAL_MERGE_MAX (16u << 10)

#ifndef ESTRPIPE
#define ESTRPIPE 86
#endif

/* kbald's alone, not pinned: a report is for the image that reads it */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KBAL_SK_EVENTS_SIZE);
} kbal_sk_events SEC(".maps");

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* skb->_sk_redir: the target bpf_sk_redirect_hash() chose, flags in the
 * low bits (the kernel's BPF_F_PTR_MASK) */
#define KBAL_SK_REDIR_FLAGS 3ul
/* bytes waiting for the target's worker before the direction is held:
 * about what the target's own send buffer takes (tcp_wmem's 4 MiB). A
 * receiver slower than its sender fills any queue (a 64 MiB response from a
 * loopback member to the e2e tests' reader queued 61 MiB here with no
 * bound); a hold costs kbald's copy while it lasts, and ends when the
 * sender pauses (docs/design.md, "Backpressure"). */
#ifndef KBAL_SK_QUEUE_BYTES
#define KBAL_SK_QUEUE_BYTES (4ull << 20)
#endif

/* The direction is held from its next message on (its messages queued on
 * its own socket for kbald, who copies them), and kbald told at once. */
static __always_inline void kbal_hold(struct kbal_sk_http *st, __u64 cookie)
{
	struct kbal_sk_event ev;

	if (st->flags & KBAL_SKF_HELD)
		return;
	st->flags |= KBAL_SKF_HELD;
	ev.cookie = cookie;
	/* a full ring loses the report: kbald finds the hold at the held
	 * bytes' EPOLLIN, or at its look a second */
	bpf_ringbuf_output(&kbal_sk_events, &ev, sizeof(ev), 0);
	kbal_stat_add(KBAL_STAT_SK_BACKLOG, 1);
}

/* Backpressure (kbal_shared.h, struct kbal_sk_event): after a redirect,
 * the target's psock worker has about KBAL_SK_QUEUE_BYTES waiting, a queue
 * with no bound of its own: the direction is held from its next message
 * on. The target is read from what bpf_sk_redirect_hash() stored in the
 * skb: no lookup. Its write_seq counts, from seq_base (noted at the first
 * redirect, when it had all kbald wrote and nothing of the kernel's),
 * every byte the worker gave it, and, once a hold is over, every byte
 * kbald copied: what the worker still has is kept + held less that (this
 * skb, counted in kept, is not queued yet). */
static __always_inline void kbal_check_target(struct __sk_buff *skb, struct kbal_sk_http *st,
					      __u64 cookie, int len)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	unsigned long to = kskb->_sk_redir & ~KBAL_SK_REDIR_FLAGS;
	struct tcp_sock *tp;
	__u32 queued;

	if (!to || !st)
		return;
	tp = bpf_rdonly_cast((void *)to, bpf_core_type_id_kernel(struct tcp_sock));
	if (!(st->flags & KBAL_SKF_BASE)) {
		st->seq_base = tp->write_seq - (__u32)(st->kept + st->held - len);
		st->flags |= KBAL_SKF_BASE;
	}
	queued = (__u32)(st->kept + st->held - len) - (tp->write_seq - st->seq_base);
	if (queued < KBAL_SK_QUEUE_BYTES || queued > (1u << 31))
		return;
	kbal_hold(st, cookie);
}

/* A held direction's hold ends (the verdict redirects again) once its
 * target has taken everything: what the worker had queued and every byte
 * kbald copied of those passed (write_seq has moved by kept + held since
 * seq_base; the target's worker queue is then empty too), and it has room.
 * Only then can the next redirected message not overtake a byte kbald
 * holds or has still to read. A held message looks its target up: the
 * skb carries none yet. */
static __always_inline int kbal_held_over(struct kbal_sk_http *st, __u64 cookie)
{
	struct bpf_sock *bs;
	struct tcp_sock *tp;
	int over = 0;

	if (!(st->flags & KBAL_SKF_BASE))
		return 1;
	bs = bpf_map_lookup_elem(&kbal_sk_dst, &cookie);
	if (!bs)
		return 0;
	tp = bpf_skc_to_tcp_sock(bs);
	if (tp)
		over = (__u32)(tp->write_seq - st->seq_base) == (__u32)(st->kept + st->held) &&
		       tp->inet_conn.icsk_inet.sk.sk_wmem_queued <
		       tp->inet_conn.icsk_inet.sk.sk_sndbuf;
	bpf_sk_release(bs);
	if (over)
		st->flags &= ~KBAL_SKF_HELD;
	return over;
}

/*
 * Does this socket's psock worker still have bytes its peer's verdict
 * redirected to it (or kbald a held byte of them to copy)? What the peer
 * sent counts from seq_base as in kbal_check_target().
 */
static __always_inline int kbal_egress_pending(const struct kbal_sk_http *peer, __u64 peer_cookie)
{
	struct bpf_sock *bs;
	struct tcp_sock *tp;
	__u32 queued = 0;

	if (!(peer->flags & KBAL_SKF_BASE))
		/* nothing redirected to this socket yet, or the first
		 * redirect under way (kept counted, seq_base not noted) */
		return peer->kept != 0;
	bs = bpf_map_lookup_elem(&kbal_sk_dst, &peer_cookie);
	if (!bs)
		return 0;   /* the peer's bytes do not come this way */
	tp = bpf_skc_to_tcp_sock(bs);
	if (tp)
		queued = (__u32)(peer->kept + peer->held) - (tp->write_seq - peer->seq_base);
	bpf_sk_release(bs);
	return queued && queued < (1u << 31);
}

/*
 * Handed back: may the stream parser stop before this message (its bytes
 * left in the TCP receive queue for kbald)? A stopped parser reports
 * -ESTRPIPE in sk_err, and the psock worker's next send to this socket
 * finds it there (tcp_sendmsg_locked() fails on any sk_err and takes it):
 * the worker counts that a hard error, sends nothing more for good, and
 * what it had queued is lost (a pipelined request behind a held 64 MiB
 * answer stalled so, 2 of about 100 runs under load). So not while the
 * worker has bytes of the peer's to send: the message goes to kbald
 * through the verdict then, queued behind the worker's bytes, as long as
 * kbald takes what the verdict so queued (KBAL_SK_PASS_MAX, its head
 * buffer's share; KBAL_SK_MBOX_BYTES in a mailbox, which kbald reads
 * before the socket); past that the parser stops anyway (the caller's
 * bound). Not covered (docs/design.md): a stop while
 * the worker is idle for a moment in the middle of the peer's message,
 * whose next bytes reach the worker before kbald has read the report.
 * (Stopping only once the peer's message is over, or never once some went
 * through the verdict, strands what the verdict queued: a socket with a
 * stream parser reads none of it while its TCP receive queue holds bytes
 * a stopped parser does not take, tcp_bpf_recvmsg_parser(); a
 * differential test found that at once.)
 */
static __always_inline int kbal_may_stop(const struct kbal_sk_http *st)
{
	struct kbal_sk_http *peer = bpf_map_lookup_elem(&kbal_sk_http, &st->peer);

	if (!peer)
		return 1;
	/* The worker may be idle only for a moment: the peer's message (a
	 * long answer, say) may go on after the stop, and its next bytes
	 * would meet the error. So the peer's verdict holds them for kbald
	 * from now on (peer_back: kbal_verdict()), and what it redirected
	 * before is waited for. Two sockets, two CPUs, no common lock: the
	 * flag is written, then kept read (an atomic, a full barrier); the
	 * peer's verdict adds to kept, then reads the flag. One of the two
	 * sees the other's write, so no byte reaches the worker unseen. */
	__sync_fetch_and_or(&peer->peer_back, 1);
	return !kbal_egress_pending(peer, st->peer);
}

/* Where the strparser's message starts in skb, and how long it is (0 before
 * the parser ran): skb is a clone of a whole receive-queue skb and
 * skb->len counts the bytes before that offset too. */
static __always_inline struct strp_msg *kbal_strp_msg(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

	return &((struct sk_skb_cb *)kskb->cb)->strp.strp;
}

/* ------------------------------------------------- request boundaries */

/* The socket's requests (or responses) go to kbald from this message on. */
static __always_inline void sk_back(struct kbal_sk_http *st, __u8 why)
{
	st->mode = KBAL_SKM_AGENT;
	st->why = why;
	kbal_stat_add(KBAL_STAT_SK_BACK, 1);
	if (why == KBAL_SKB_LAST)
		kbal_stat_add(KBAL_STAT_SK_LAST, 1);
}

/* The member's socket (the client's redirect target) is still open both
 * ways: no FIN or RST came from the member. */
static __always_inline int member_open(__u64 client_cookie)
{
	struct bpf_sock *sk = bpf_map_lookup_elem(&kbal_sk_dst, &client_cookie);
	__u32 state;

	if (!sk)
		return 0;
	state = sk->state;
	bpf_sk_release(sk);
	return state == BPF_TCP_ESTABLISHED;
}

/* a client's request enters a stage (kbal_sk_stage): its clock starts */
static __always_inline void stage_begin(struct kbal_sk_http *st, __u32 stage)
{
	st->stage = stage;
	st->stage_ns = bpf_ktime_get_coarse_ns();   /* kbald looks once a second */
	st->stage_bytes = 0;
	st->flags &= ~KBAL_SKF_LINE;
}

/* A request head: kept (redirected to the connection's member) when kbald
 * would send it there too; else the socket goes back to kbald. */
static __always_inline void request_head(struct __sk_buff *skb, struct kbal_sk_http *st,
					 __u64 cookie, __u32 off, __u32 len)
{
	const struct kbal_sk_http *mem = bpf_map_lookup_elem(&kbal_sk_http, &st->peer);
	struct req_kept k = {};
	__u8 why;

	/* one request at a time: with a response still under way, a response
	 * head kbald must rewrite could be followed by answers to requests it
	 * never saw */
	if (!mem || mem->mode != KBAL_SKM_KERNEL || mem->msgs != st->msgs + mem->owed)
		return sk_back(st, KBAL_SKB_BUSY);
	/* the member closed its connection after its last answer (its
	 * keep-alive timeout, a restart): kbald takes this request to a
	 * connection the member has open, as Apache would; the client's
	 * connection goes on */
	if (!member_open(cookie))
		return sk_back(st, KBAL_SKB_GONE);
	why = request_decide(skb, st, off, len, &k, 0);
	if (why != KBAL_SKB_NONE)
		return sk_back(st, why);
	st->msgs++;
	request_kept(&k);
	kbal_stat_add(KBAL_STAT_SK_KEPT, 1);
	st->stage = KBAL_SKS_IDLE;
	if (k.cl) {
		st->expect = KBAL_SKX_BODY;
		st->left = k.cl;
		stage_begin(st, KBAL_SKS_BODY);
	}
}

/* The member's messages go back to kbald, and its client's requests too:
 * none may reach the member before kbald has answered this one. */
static __always_inline void member_back(struct kbal_sk_http *st, __u8 why)
{
	struct kbal_sk_http *client = bpf_map_lookup_elem(&kbal_sk_http, &st->peer);

	sk_back(st, why);
	if (client && client->mode == KBAL_SKM_KERNEL) {
		client->mode = KBAL_SKM_AGENT;
		client->why = KBAL_SKB_PEER;
	}
}

static __always_inline void response_ended(struct kbal_sk_http *st)
{
	st->stage = KBAL_SKS_IDLE;
	st->expect = KBAL_SKX_HEAD;
	st->msgs++;
}

/* A response head: its body's framing; kbald's when it rewrites it */
static __always_inline void response_head(struct __sk_buff *skb, struct kbal_sk_http *st,
					  __u64 cookie, __u32 off, __u32 len)
{
	struct kbal_scratch *sc = frame_scratch();
	const struct kbal_sk_http *client;
	struct kbal_stamp_at *at = NULL;
	struct head_parse *p;
	__u32 status, seq = 0;
	__u8 *b;

	if (!sc)
		return member_back(st, KBAL_SKB_SYNTAX);
	/* The client's socket was handed back (a pipelined request for
	 * another member, say): its stream parser stopped with an error on the
	 * socket, and until kbald has read it every send to the client fails,
	 * the psock's too (tcp_sendmsg() checks sk_err), losing what it had to
	 * send. So an answer that begins now goes to kbald, which writes it. */
	client = bpf_map_lookup_elem(&kbal_sk_http, &st->peer);
	if (!client || client->mode != KBAL_SKM_KERNEL)
		return member_back(st, KBAL_SKB_PEER);
	/* every request kept has its answer (msgs counts the one under way
	 * when armed too): this one answers nothing, and must not answer
	 * the client's next request; kbald drops it */
	if (st->msgs >= client->msgs + st->owed)
		return member_back(st, KBAL_SKB_UNASKED);
	p = &sc->hp;
	__builtin_memset(p, 0, sizeof(*p));
	b = frame_parse_head(skb, off, len, p);
	/* a head whose lines end otherwise than httpd's reading of them
	 * (bare_eol()) is kbald's to write, its framing not lost */
	if (b && p->bad && p->relined == KBAL_RELINED_EOL)
		return member_back(st, KBAL_SKB_RESPONSE);
	if (!b || p->bad)
		return member_back(st, KBAL_SKB_SYNTAX);
	if (p->rewritten && (st->flags & KBAL_SKF_REVERSE))
		return member_back(st, KBAL_SKB_RESPONSE);
	/* a Connection line or another hop-by-hop one httpd drops
	 * (hop_lines_back(): keep-alive's pass): kbald writes the head (and
	 * where the member closes after this answer, the client's connection
	 * goes on without this member connection, as Apache's does) */
	if (hop_lines_back(b, p))
		return member_back(st, KBAL_SKB_RESPONSE);
	if (b[9] < '0' || b[9] > '9' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
		return member_back(st, KBAL_SKB_SYNTAX);
	status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (status < 100 || status == 101)
		return member_back(st, KBAL_SKB_SYNTAX);
	/* interim: the final head follows; one httpd writes otherwise is
	 * kbald's (interim_as_httpd()) */
	if (status < 200) {
		if (!interim_as_httpd(p))
			return member_back(st, KBAL_SKB_RESPONSE);
		return;
	}
	/* httpd ends the client's connection after an answer of one of these
	 * (ap_status_drops_connection()): kbald writes it, with Connection:
	 * close, and ends it */
	if (status == 400 || status == 408 || status == 411 || status == 413 ||
	    status == 414 || status == 500 || status == 501 || status == 503)
		return member_back(st, KBAL_SKB_RESPONSE);
	/* a final answer without Date or without Server, or with them
	 * elsewhere than first: httpd's basic_http_header() writes them
	 * first (its own where there is none), and so does kbald, or the
	 * client's sk_msg program where kbald put the client in
	 * kbal_sk_stamp (stamp.bpf.h), armed once the head is kept; a date
	 * date_canon() would write again is kbald's (head_dates()) */
	switch (head_dates(sc, p)) {
	case KBAL_DATES_AS_IS:
		break;
	case KBAL_DATES_MOVE:
		at = stamp_ready(st, cookie, p, &seq);
		if (!at)
			return member_back(st, KBAL_SKB_RESPONSE);
		break;
	default:
		return member_back(st, KBAL_SKB_RESPONSE);
	}
	if (p->nte) {
		/* "chunked" alone; anything else kbald follows to its end */
		if (p->ncl || p->te_end - p->te_off != 7 ||
		    !name_is(b, p->te_off, 7, "chunked", 7))
			return member_back(st, KBAL_SKB_SYNTAX);
		st->expect = KBAL_SKX_CHUNK;
	} else if (status == 204 || status == 304 || (p->ncl && p->cl == 0)) {
		response_ended(st);
	} else if (!p->ncl) {
		/* ends at the member's close: kbald follows it, and writes it
		 * chunked as httpd does (exchange_body.c, exch_eof_plan()) */
		return member_back(st, KBAL_SKB_RESPONSE);
	} else {
		st->expect = KBAL_SKX_BODY;
		st->left = p->cl;
	}
	if (at)
		stamp_arm(at, seq, p);
}

/* the verdict's part: what this message is, and whether it is kept */
static __always_inline void frame_message(struct __sk_buff *skb, struct kbal_sk_http *st,
					  __u32 off, __u32 len)
{
	__s64 size;

	/* a head: the parser decided it, and set what follows it */
	if (st->flags & KBAL_SKF_HEAD) {
		st->flags &= ~KBAL_SKF_HEAD;
		return;
	}
	if (st->client) {
		/* a chunked body's first bytes start its stage */
		if (st->stage != KBAL_SKS_BODY)
			stage_begin(st, KBAL_SKS_BODY);
		st->stage_bytes += len;
	}
	switch (st->expect) {
	case KBAL_SKX_HEAD:
		return;               /* not reached: heads are the parser's */
	case KBAL_SKX_BODY:
		st->left -= len < st->left ? len : st->left;
		if (!st->left) {
			if (st->client) {
				st->expect = KBAL_SKX_HEAD;
				st->stage = KBAL_SKS_IDLE;
			} else {
				response_ended(st);
			}
		}
		return;
	case KBAL_SKX_CHUNK:
		size = frame_chunk_size(skb, off, len);
		if (size < 0 || size > (__s64)KBAL_LEN_MAX)
			return member_back(st, KBAL_SKB_SYNTAX);
		if (size == 0) {
			st->expect = KBAL_SKX_TRAILER;
		} else {
			st->expect = KBAL_SKX_CHUNK_DATA;
			st->left = size + 2;
		}
		return;
	case KBAL_SKX_CHUNK_DATA:
		st->left -= len < st->left ? len : st->left;
		if (!st->left)
			st->expect = KBAL_SKX_CHUNK;
		return;
	case KBAL_SKX_TRAILER:
		response_ended(st);
		return;
	}
}

/* the parser's part: how long the next message is */
static __always_inline __u32 frame_next(struct __sk_buff *skb, const struct kbal_sk_http *st,
					__u32 off, __u32 avail)
{
	__u8 *b;

	switch (st->expect) {
	case KBAL_SKX_HEAD:
		return frame_head(skb, off, avail);
	case KBAL_SKX_BODY:
	case KBAL_SKX_CHUNK_DATA:
		if (!st->left)
			return avail;
		return st->left < avail ? st->left : avail;
	case KBAL_SKX_CHUNK:
		return frame_line(skb, off, avail);
	case KBAL_SKX_TRAILER:
		if (avail < 2)
			return 0;
		b = frame_load(skb, off, 2);
		if (b && b[0] == '\r' && b[1] == '\n')
			return 2;
		return frame_head(skb, off, avail);
	}
	return avail;
}

/* bytes of the message the strparser gathered before this read */
static __always_inline int kbal_strp_accum(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

	return ((struct sk_skb_cb *)kskb->cb)->strp.accum_len;
}

/* A whole head, in the parser: the parser runs once for a message whose
 * length it gave, before its verdict, and only the parser can leave the
 * message where it is. Kept: its length (the verdict redirects it);
 * handed back: -ESTRPIPE, the head and all after it left in the TCP
 * receive queue for kbald; or, for a head the strparser gathered from
 * several reads (which it has taken out of that queue), or one that came
 * while the socket's worker still sends (kbal_may_stop()), its length,
 * the verdict then queueing it on the socket for kbald. */
static __always_inline int frame_decide(struct __sk_buff *skb, struct kbal_sk_http *st,
					__u64 cookie, __u32 off, __u32 len, __u32 avail)
{
	if (st->client)
		request_head(skb, st, cookie, off, len);
	else
		response_head(skb, st, cookie, off, len);
	if (st->mode != KBAL_SKM_KERNEL && !kbal_strp_accum(skb) &&
	    (kbal_may_stop(st) || st->passed + len > KBAL_SK_PASS_MAX))
		return -ESTRPIPE;
	st->flags |= KBAL_SKF_HEAD;
	/* A body of a known length that came whole with its head goes with it,
	 * one message: one parser and verdict run less, and one redirected skb
	 * (one send to the peer) instead of two. */
	if (st->mode == KBAL_SKM_KERNEL && st->expect == KBAL_SKX_BODY && st->left &&
	    st->left <= KBAL_MERGE_MAX && len + st->left <= avail) {
		len += st->left;
		st->left = 0;
		if (st->client) {
			st->expect = KBAL_SKX_HEAD;
			st->stage = KBAL_SKS_IDLE;
		} else {
			response_ended(st);
		}
	}
	return len;
}

/* BPF_SK_SKB_STREAM_PARSER: one message per read. A socket kbald framed
 * (kbal_sk_http) gets HTTP messages; any other, exactly the bytes that
 * follow the offset. skb->len alone would be too long by the offset after
 * an overlapping retransmission, and the strparser would hold the tail of
 * the data back until that many more bytes arrive (a stall at the end of a
 * response), and be misaligned the same way for the messages after it. */
SEC("sk_skb")
int kbal_parser(struct __sk_buff *skb)
{
	int off = kbal_strp_msg(skb)->offset;
	int len = skb->len;
	__u32 start = off > 0 && off < len ? off : 0;
	__u32 avail = len - start;
	struct kbal_sk_http *st;
	__u64 cookie;

	cookie = bpf_get_socket_cookie(skb);
	st = bpf_map_lookup_elem(&kbal_sk_http, &cookie);
	if (!st || !avail || st->mode == KBAL_SKM_RAW)
		return avail;
	/* Handed back: the strparser stops here and leaves this byte and all
	 * after it in the TCP receive queue (-ESTRPIPE before anything of the
	 * message was taken), where kbald reads them once it took the socket
	 * out of the sockhash. A head the strparser is gathering already
	 * cannot be left there: framed, and queued for kbald by the verdict;
	 * so are the bytes that come while the socket's worker still sends
	 * (kbal_may_stop()). */
	if (st->mode != KBAL_SKM_KERNEL && !kbal_strp_accum(skb)) {
		/* what may be queued: the head buffer's share, or with a
		 * mailbox (kbal_to_mailbox()) what kbald reads from there first;
		 * past it the parser stops anyway */
		__u32 limit = st->mbox ? KBAL_SK_MBOX_BYTES : KBAL_SK_PASS_MAX;

		if (kbal_may_stop(st) || st->passed >= limit)
			return -ESTRPIPE;
		return avail < limit - st->passed ? (int)avail : (int)(limit - st->passed);
	}
	/* for kbald's timeouts: bytes came; a client's head under way, so far */
	st->active_ns = bpf_ktime_get_coarse_ns();
	if (st->client && st->expect == KBAL_SKX_HEAD) {
		if (st->stage != KBAL_SKS_HEAD)
			stage_begin(st, KBAL_SKS_HEAD);
		st->stage_bytes = avail;
	}
	len = frame_next(skb, st, start, avail);
	if (len > 0 && st->mode == KBAL_SKM_KERNEL && st->expect == KBAL_SKX_HEAD)
		return frame_decide(skb, st, cookie, start, len, avail);
	/* a head split over reads: whether its request line is whole yet */
	if (!len && st->client && st->expect == KBAL_SKX_HEAD && !(st->flags & KBAL_SKF_LINE) &&
	    frame_scan(skb, start, avail, KBAL_HEAD_MAX, 0))
		st->flags |= KBAL_SKF_LINE;
	return len;
}

/* A held message: queued on its own socket for kbald, charged to its
 * receive memory (its window closes), after what the target's worker has.
 * Redirected to its own ingress, not passed: the stream parser's read
 * counts a passed message read by TCP only when the program passed it in
 * the same read, so one passed while kbald has not read an earlier one
 * moves copied_seq past rcv_nxt, and later data no longer wakes the parser
 * (tcp_bpf_strp_read_sock(): kbald's copy stalled, seen on 6.18). A message
 * that comes from another socket's ingress redirect is TCP's read at once;
 * its receive memory is charged when the socket's worker queues it, which
 * waits while that is full. (The parser reads on after a hold, and each
 * read sets copied_seq again: a redirect to itself that the worker queued
 * during a read, which 6.18 counts in that read, is set right by the next.) */
static __always_inline int kbal_to_kbald(struct __sk_buff *skb, __u64 cookie, __u64 *count,
					 int len)
{
	long verdict = bpf_sk_redirect_hash(skb, &kbal_sk_src, &cookie, BPF_F_INGRESS);

	if (verdict != SK_PASS) {
		kbal_stat_add(KBAL_STAT_NO_PEER, 1);
		return verdict;
	}
	*count += len;
	return SK_PASS;
}

/* A handed-back socket's message, while its stream parser cannot stop yet
 * (kbal_may_stop()): queued in a mailbox of kbald's, in order, for kbald
 * to read before the socket's TCP receive queue. Not on its own ingress:
 * the parser stops soon after, and a redirect to itself that the psock's
 * worker queues while that last read runs (sk_psock_skb_ingress_enqueue()
 * adds to ingress_bytes outside the socket's lock) leaves TCP's copied_seq
 * behind the bytes the parser took, for good: the socket's next plain read
 * finds a hole, and tcp_collapse() a BUG_ON under memory pressure (6.18,
 * docs/design.md). A slot is taken at the socket's first such message and
 * kept until kbald takes the socket back; none free (more sockets at once
 * than kbald's pool): its own ingress, as before. */
static __always_inline int kbal_to_mailbox(struct __sk_buff *skb, struct kbal_sk_http *st,
					   __u64 cookie, int len)
{
	__u32 slot;

	if (!st->mbox && !st->passed) {
		if (bpf_map_pop_elem(&kbal_mbox_free, &slot) == 0 && slot < KBAL_MBOX_MAX) {
			bpf_map_update_elem(&kbal_mbox_owner, &slot, &cookie, BPF_ANY);
			st->mbox = slot + 1;
			kbal_stat_add(KBAL_STAT_SK_MBOX, 1);
		} else {
			kbal_stat_add(KBAL_STAT_SK_MBOX_NONE, 1);
		}
	}
	if (!st->mbox)
		return kbal_to_kbald(skb, cookie, &st->passed, len);
	slot = st->mbox - 1;
	if (bpf_sk_redirect_hash(skb, &kbal_sk_mbox, &slot, BPF_F_INGRESS) != SK_PASS) {
		/* kbald closed the mailbox (it stops): nothing reads it */
		kbal_stat_add(KBAL_STAT_NO_PEER, 1);
		return SK_DROP;
	}
	st->passed += len;
	return SK_PASS;
}

static __always_inline int kbal_held_message(struct __sk_buff *skb, struct kbal_sk_http *st,
					     __u64 cookie, int len)
{
	int verdict = kbal_to_kbald(skb, cookie, &st->held, len);

	if (verdict == SK_PASS)
		kbal_stat_add(KBAL_STAT_SK_HELD, len);
	return verdict;
}

/* BPF_SK_SKB_STREAM_VERDICT */
SEC("sk_skb")
int kbal_verdict(struct __sk_buff *skb)
{
	struct strp_msg *msg = kbal_strp_msg(skb);
	struct kbal_sk_http *st;
	__u64 cookie;
	long verdict;
	int len = msg->full_len;

	/* kbald passes FINs on itself: nothing to carry (the strparser hands
	 * over no empty message; kept for safety). */
	if (skb->len == 0 || len == 0)
		return SK_DROP;
	cookie = bpf_get_socket_cookie(skb);
	st = bpf_map_lookup_elem(&kbal_sk_http, &cookie);
	if (st) {
		if (st->mode == KBAL_SKM_KERNEL)
			frame_message(skb, st, msg->offset, len);
		if (st->mode == KBAL_SKM_AGENT)
			/* queued, in order, for kbald to read */
			return kbal_to_mailbox(skb, st, cookie, len);
		if (!st->peer_back && (!(st->flags & KBAL_SKF_HELD) || kbal_held_over(st, cookie))) {
			/* to be redirected: counted first, then the target's
			 * hand-back looked at (kbal_may_stop()'s other half) */
			__sync_fetch_and_add(&st->kept, len);
			if (!__sync_fetch_and_or(&st->peer_back, 0))
				goto redirect;
			__sync_fetch_and_sub(&st->kept, len);
		}
		if (st->peer_back)
			/* the target's socket was handed back: its worker
			 * gets nothing more, kbald copies the rest */
			kbal_hold(st, cookie);
		return kbal_held_message(skb, st, cookie, len);
	}
redirect:
	verdict = bpf_sk_redirect_hash(skb, &kbal_sk_dst, &cookie, 0);
	if (verdict != SK_PASS) {
		/* Cannot happen while kbald inserts dst before src; counted
		 * so that a bug shows in `kbalctl stats`, not as a hang. */
		kbal_stat_add(KBAL_STAT_NO_PEER, 1);
		return verdict;
	}
	kbal_stat_add(KBAL_STAT_REDIRECTED, 1);
	kbal_stat_add(KBAL_STAT_BYTES, len);
	kbal_check_target(skb, st, cookie, len);
	return SK_PASS;
}

/* The armed head is done with (written, or lost), the member's count of
 * what the client's stream holds moved by delta */
static __always_inline void stamp_done(struct kbal_stamp_at *at, int delta, __u32 stat)
{
	struct kbal_sk_http *mem = bpf_map_lookup_elem(&kbal_sk_http, &at->member);

	if (delta) {
		if (mem)
			__sync_fetch_and_add(&mem->seq_base, (__u32)delta);
		__sync_fetch_and_add(&at->added, (__s64)delta);
	}
	kbal_stat_add(stat, 1);
	__sync_fetch_and_and(&at->armed, 0);
}

/* BPF_SK_MSG_VERDICT on kbal_sk_stamp: each piece sent to a client socket
 * there, the psock worker's and kbald's alike; only the piece holding the
 * first byte of a head the member's parser armed (stamp.bpf.h) is
 * changed, the rest pass as they are. */
SEC("sk_msg")
int kbal_stamp(struct sk_msg_md *msg)
{
	__u8 out[STAMP_OUT_MAX];
	struct kbal_stamp_at *at;
	struct bpf_sock *sk = msg->sk;
	struct tcp_sock *tp;
	__u32 off, need, ls0, end0, ls1, end1, lines;
	__u64 cookie;
	int n;

	if (!sk)
		return SK_PASS;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return SK_PASS;
	cookie = tp->inet_conn.icsk_inet.sk.__sk_common.skc_cookie.counter;
	at = bpf_map_lookup_elem(&kbal_stamp_at, &cookie);
	if (!at || !__sync_fetch_and_add(&at->armed, 0))
		return SK_PASS;
	/* nothing is corked but what this program corked: write_seq is this
	 * piece's first byte */
	off = at->seq - tp->write_seq;
	if ((__s32)off < 0) {
		stamp_done(at, 0, KBAL_STAT_SK_STAMP_LOST);
		return SK_PASS;
	}
	if (off >= msg->size)
		return SK_PASS;   /* the head comes later */
	need = at->sl_end;
	if (at->date_end > need)
		need = at->date_end;
	if (at->server_end > need)
		need = at->server_end;
	if (off > 0xffff || need > 0xffff)
		goto lost;
	if (off + need > msg->size) {
		/* the piece ends within the head: the lines wait for the rest
		 * of it (kbald's copy, a page boundary) */
		bpf_msg_cork_bytes(msg, off + need);
		return SK_PASS;
	}
	n = stamp_lines(msg, at, off, need, out);
	if (n <= 0 || n > (int)STAMP_OUT_MAX)
		goto lost;
	/* the new lines after the status line, then the member's Date and
	 * Server lines taken out (moved up), the later one first */
	if (bpf_msg_push_data(msg, off + at->sl_end, n, 0))
		goto lost;
	if (stamp_write(msg, off + at->sl_end, out, n)) {
		/* the room made for the lines, unwritten: taken out again, so
		 * that the head goes as it came rather than with n bytes of
		 * nothing in it */
		bpf_msg_pop_data(msg, off + at->sl_end, n, 0);
		goto lost;
	}
	ls0 = at->date_ls;
	end0 = at->date_end;
	ls1 = at->server_ls;
	end1 = at->server_end;
	if (ls0 > ls1) {
		ls0 = at->server_ls;
		end0 = at->server_end;
		ls1 = at->date_ls;
		end1 = at->date_end;
	}
	lines = (end0 - ls0) + (end1 - ls1);
	if (end1 && bpf_msg_pop_data(msg, off + n + ls1, end1 - ls1, 0))
		goto lost;
	if (end0 && bpf_msg_pop_data(msg, off + n + ls0, end0 - ls0, 0))
		goto lost;
	stamp_done(at, n - (int)lines, KBAL_STAT_SK_STAMPED);
	return SK_PASS;
lost:
	stamp_done(at, 0, KBAL_STAT_SK_STAMP_LOST);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
