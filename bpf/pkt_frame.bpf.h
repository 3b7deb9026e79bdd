/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pkt_frame.bpf.h - HTTP/1.1 framing in the packet program (packet.bpf.c):
 * each direction of a joined flow, requests (client -> member) and
 * responses (member -> client), cut into messages across TCP segments,
 * with exact counts (struct kbal_pkt_frame in kbal_shared.h, one 64-byte
 * entry per direction in kbal_pkt_frame, mmapped by kbald as kbal_pkt_seen
 * is, at the same slot).
 *
 * No byte is kept between segments: a head, a chunk-size line or a trailer
 * is parsed by a state machine whose state (what the framing
 * needs of it: the line's position, the header-name candidates, the
 * Content-Length's digits so far, Transfer-Encoding's last token, a
 * response's status, a request's method HEAD) is a few fields of the
 * entry, so a split anywhere (inside CRLFCRLF, inside a number, inside a
 * name) costs nothing more than the bytes themselves. What it parses is
 * only what framing needs; kbald's parser stays the judge of everything
 * else (this parser is looser: it frames what kbald would answer 400 to,
 * where the framing is still unambiguous).
 *
 * In order only: a segment frames the bytes past seq. A retransmission of
 * framed bytes changes nothing; a partial overlap frames the new bytes; a
 * segment beyond a gap is framed if the gap lies in a body or a chunk's
 * data (its bytes need not be read: the count is all; when they come they
 * are retransmissions of framed bytes); otherwise the gap's bytes must be
 * parsed first: one such segment of at most 2 KiB is kept per direction
 * (kbal_frame_stash) and framed when the gap fills; a second one, or a
 * larger one, loses the direction for good (KBAL_FRAME_LOST, why GAP):
 * keeping all would cost up to a window of memory per flow.
 *
 * Cost: a body segment in order, not its body's last, is a subtraction
 * in the kbal_pkt_rw entry (pkt_frame(), inlined: fr_seq, fr_state,
 * fr_left live there, not in the mmapped array); anything else is
 * kbal_frame_seg() (a global function: verified once, not once per attach
 * point), a bpf_loop() of steps: a body or chunk-data piece (a
 * subtraction); a line the framing needs nothing more of, skipped to its
 * LF 8 bytes a word (known from its first 16 bytes read as two words: a
 * request line past its method, a status line past its code, a header
 * that is neither Content-Length nor Transfer-Encoding; a trailer, a chunk
 * extension); else a byte (Content-Length's value, a size line, a name
 * cut by a segment's end).
 */
#ifndef KBAL_PKT_FRAME_BPF_H
#define KBAL_PKT_FRAME_BPF_H

#include "kbal_maps.bpf.h"
#include "http_frame.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KBAL_MAX_FLOWS * 2);
	__type(key, __u32);
	__type(value, struct kbal_pkt_frame);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_pkt_frame SEC(".maps");

#define FRAME_WIN   2048               /* the window's buffer: a kept segment fits
					 * (copied in 4 pieces of 512) */
#define FRAME_LOAD  512                /* bytes read from the packet at once */
#define FRAME_STEPS (1u << 17)         /* a run's steps: a 64 KiB GSO segment's bytes */

/* this CPU's run: the window of bytes and where the run is. In a map
 * value, not on the stack: the verifier tracks its fields as unknown, so
 * the loop's states converge. */
struct frame_run {
	__u8 b[FRAME_WIN];
	__u32 off;                     /* the segment's new bytes: where they start in the skb */
	__u32 len;                     /* how many */
	__u32 seq;                     /* the first one's sequence number */
	__u32 pos;                     /* framed up to, from off */
	__u32 wstart, wend;            /* the window b holds, from off */
	__u32 slot;                    /* the direction's: even, requests */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frame_run);
} kbal_frame_run SEC(".maps");

/*
 * One segment beyond a gap in a head or a line, per direction, kept until
 * the gap fills (then framed from here), if it is at most FRAME_WIN bytes
 * (a segment of a 1500-byte MTU; a GRO packet of several is larger): a
 * request or a head's end reordered on a real link. A second one before
 * the gap fills, or a larger one, loses the framing. LRU: a direction that
 * never fills its gap loses its stash to others (and its framing, when
 * the gap fills).
 */
struct frame_stash {
	__u32 seq;                     /* its first byte's */
	__u32 len;                     /* <= FRAME_WIN */
	__u16 gen;                     /* the flow's */
	__u16 pad[3];
	__u8 b[FRAME_WIN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);     /* 2 MiB: directions with a gap at once */
	__type(key, __u32);            /* the direction's slot */
	__type(value, struct frame_stash);
} kbal_frame_stash SEC(".maps");

/* where a stash is made before it is stored: this CPU's */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frame_stash);
} kbal_frame_stash_tmp SEC(".maps");

/* a bpf_loop() step's context */
struct frame_loop {
	struct __sk_buff *skb;
	struct kbal_pkt_frame *fr;
	struct frame_run *r;
};

/* parse bits (kbal_pkt_frame.pst) */
#define P_HDRS    KBAL_FRAME_PST_HDRS  /* past the first line */
#define P_VALUE   0x02                 /* a header line: past its ':' */
#define P_CL      0x04                 /* Content-Length seen */
#define P_TE      0x08                 /* Transfer-Encoding seen */
#define P_CHUNKED 0x10                 /* its last token is chunked */
#define P_DIG     0x20                 /* a number: a digit seen */
#define P_NUMEND  0x40                 /* a number: ended (OWS, a chunk extension) */
#define P_NOTHEAD 0x80                 /* a request: the method is not HEAD */

/* hdr: in a name, the names it can no longer be (0: any); in a value, whose
 * (0 is the start: kbald writes a zeroed entry) */
#define X_CL 1
#define X_TE 2
#define H_CL 1
#define H_TE 2
#define H_OTHER 3

/* the names, 8 bytes a word, little-endian (constants, not .rodata: clang
 * folds small const arrays away and leaves .rodata's BTF wrong) */
#define LIT_CONTENT_ 0x2d746e65746e6f63ull /* "content-" */
#define LIT_LENGTH   0x00006874676e656cull /* "length" */
#define LIT_TRANSFER 0x726566736e617274ull /* "transfer" */
#define LIT_ENCODIN  0x6e69646f636e652dull /* "-encodin" */
#define LIT_G        0x0000000000000067ull /* "g" */
#define LIT_CHUNKED  0x0064656b6e756863ull /* "chunked" */
#define LIT_HEAD     0x0000000044414548ull /* "HEAD" */
#define LIT_HTTP     0x0000002f50545448ull /* "HTTP/" */

/* the byte i of the literal of words a, b, c */
static __always_inline __u8 lit_at(__u64 a, __u64 b, __u64 c, __u32 i)
{
	__u64 v = i < 8 ? a : i < 16 ? b : c;

	return (__u8)(v >> ((i & 7) * 8));
}

static __always_inline void frame_lost(struct kbal_pkt_frame *fr, __u32 why, __u32 seq)
{
	fr->flags |= KBAL_FRAME_LOST;
	fr->why = why;
	fr->lost_at = seq;
	kbal_stat_add(KBAL_STAT_PKT_FRAME_LOST, 1);
}

/* a head (or a line) begins: nothing of it parsed */
static __always_inline void frame_piece(struct kbal_pkt_frame *fr, __u32 req)
{
	fr->num = 0;
	fr->hlen = 0;
	fr->lpos = 0;
	fr->status = 0;
	fr->hdr = 0;
	fr->pst = 0;
	fr->tk = 0;
}

/* a message ended just before next: the next one's head */
static __always_inline void frame_done(struct kbal_pkt_frame *fr, __u32 req, __u32 next)
{
	fr->messages++;
	fr->boundary = next;
	fr->state = KBAL_FRAME_HEAD;
	frame_piece(fr, req);
}

/* a chunk's data read: its CRLF */
static __always_inline void frame_chunk_end(struct kbal_pkt_frame *fr)
{
	fr->state = KBAL_FRAME_CHUNK_CRLF;
	fr->lpos = 0;
}

/* a head ended: its body of Content-Length bytes next (nothing of the
 * head's parse kept: a head framed from the decision's parse, frame_known(),
 * ends as one framed byte by byte) */
static __always_inline void frame_body(struct kbal_pkt_frame *fr)
{
	fr->state = KBAL_FRAME_BODY;
	fr->left = fr->num;
	frame_piece(fr, 0);
}

/* a head of the direction at slot ended just before next: what follows it */
static __always_inline void frame_head_end(struct kbal_pkt_frame *fr, __u32 slot, __u32 next)
{
	__u32 req = !(slot & 1);
	__u8 pst = fr->pst;

	if (req) {
		__u64 bit = 1ull << (fr->heads & 63);

		/* the ring before the count: the response side reads the
		 * count, then the ring */
		if (!(pst & P_NOTHEAD))
			fr->head_ring |= bit;
		else
			fr->head_ring &= ~bit;
		__sync_fetch_and_add(&fr->heads, 1);
		if (pst & P_TE) {
			/* RFC 9112 6.3: a request's TE must end in chunked */
			if (!(pst & P_CHUNKED)) {
				frame_lost(fr, KBAL_FRAME_WHY_TE, next);
				return;
			}
			fr->state = KBAL_FRAME_CHUNK_SIZE;
			frame_piece(fr, 0);
		} else if ((pst & P_CL) && fr->num) {
			frame_body(fr);
		} else {
			frame_done(fr, req, next);
		}
		return;
	}
	{
		__u32 st = fr->status, idx = fr->heads, rslot = slot ^ 1, n;
		struct kbal_pkt_frame *rq;
		int was_head;

		if (st == 101) {
			frame_lost(fr, KBAL_FRAME_WHY_UPGRADE, next);
			return;
		}
		if (st < 200) {
			/* 1xx: interim, no body; the final response follows */
			fr->interim++;
			fr->boundary = next;
			frame_piece(fr, 0);
			return;
		}
		/* the request it answers: the idx-th, whose head the request
		 * side framed before (it passed here before the member had it) */
		rq = bpf_map_lookup_elem(&kbal_pkt_frame, &rslot);
		if (!rq || rq->gen != fr->gen) {
			frame_lost(fr, KBAL_FRAME_WHY_NO_REQUEST, next);
			return;
		}
		n = __sync_fetch_and_add(&rq->heads, 0) - idx;
		if ((__s32)n <= 0 || n > 64) {
			frame_lost(fr, KBAL_FRAME_WHY_NO_REQUEST, next);
			return;
		}
		was_head = (rq->head_ring >> (idx & 63)) & 1;
		fr->heads++;
		if (was_head || st == 204 || st == 304) {
			frame_done(fr, 0, next);
		} else if (pst & P_TE) {
			if (pst & P_CHUNKED) {
				fr->state = KBAL_FRAME_CHUNK_SIZE;
				frame_piece(fr, 0);
			} else {
				fr->state = KBAL_FRAME_CLOSE;   /* RFC 9112 6.3 (6) */
			}
		} else if (pst & P_CL) {
			if (fr->num) {
				frame_body(fr);
			} else {
				frame_done(fr, 0, next);
			}
		} else {
			fr->state = KBAL_FRAME_CLOSE;
		}
	}
}

/* a byte of a head; seq: the sequence number past it */
static __always_inline void frame_head_byte(struct kbal_pkt_frame *fr, struct frame_run *r,
					    __u8 c, __u32 seq)
{
	__u32 req = !(r->slot & 1);
	__u32 lpos = fr->lpos;
	__u8 pst = fr->pst;

	if (++fr->hlen > KBAL_FRAME_HEAD_MAX) {
		frame_lost(fr, KBAL_FRAME_WHY_HEAD_MAX, seq);
		return;
	}
	if (c == '\r')
		return;                /* a line's end is its LF */
	if (c == '\n') {
		if (!(pst & P_HDRS)) {
			if (lpos == 0 && req) {
				/* an empty line before a request line: ignored
				 * (RFC 9112 2.2), the request starts after it */
				fr->hlen = 0;
				fr->boundary = seq;
				return;
			}
			if (req ? lpos < 5 : lpos < 12 || fr->status < 100) {
				frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
				return;
			}
			fr->pst = pst | P_HDRS;
		} else if (lpos == 0) {
			frame_head_end(fr, r->slot, seq);
			return;
		} else if ((!(pst & P_VALUE) && fr->hdr != (X_CL | X_TE)) ||
			   ((pst & P_VALUE) && fr->hdr == H_CL && !(pst & P_DIG))) {
			frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
			return;
		} else {
			if (fr->hdr == H_TE && fr->tk == 7)
				pst |= P_CHUNKED;
			fr->pst = pst & ~P_VALUE;
		}
		fr->lpos = 0;
		fr->hdr = 0;
		return;
	}
	if (!(pst & P_HDRS)) {
		/* the first line: a request's method, a response's status */
		if (req) {
			if (lpos < 4) {
				if (c != lit_at(LIT_HEAD, 0, 0, lpos))
					fr->pst = pst | P_NOTHEAD;
			} else if (lpos == 4 && c != ' ') {
				fr->pst = pst | P_NOTHEAD;
			}
		} else if (lpos < 5) {
			if (c != lit_at(LIT_HTTP, 0, 0, lpos))
				frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
		} else if (lpos == 8) {
			if (c != ' ')
				frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
		} else if (lpos >= 9 && lpos <= 11) {
			if (c < '0' || c > '9')
				frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
			else
				fr->status = fr->status * 10 + (c - '0');
		}
		if (lpos < 0xffff)
			fr->lpos = lpos + 1;
		return;
	}
	if (pst & P_VALUE) {
		int ows = c == ' ' || c == '\t';
		__u8 hdr = fr->hdr;

		if (hdr == H_CL) {
			if (c >= '0' && c <= '9' && !(pst & P_NUMEND)) {
				fr->num = fr->num * 10 + (c - '0');
				fr->pst = pst | P_DIG;
				if (fr->num > (1ull << 40))
					frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
			} else if (ows) {
				if (pst & P_DIG)
					fr->pst = pst | P_NUMEND;
			} else {
				frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
			}
		} else if (hdr == H_TE) {
			__u8 tk = fr->tk;

			if (ows || c == ',') {
				if (tk == 7)
					fr->pst = pst | P_CHUNKED;
				fr->tk = 0;
			} else {
				if (tk == 0)
					fr->pst = pst & ~P_CHUNKED;   /* a later token */
				if (tk < 7 && (c | 0x20) == lit_at(LIT_CHUNKED, 0, 0, tk))
					fr->tk = tk + 1;
				else
					fr->tk = 0xff;
			}
		}
		if (lpos < 0xffff)
			fr->lpos = lpos + 1;
		return;
	}
	/* a header's name: is it one of those that frame? */
	if (c == ':') {
		__u8 hdr = fr->hdr;

		if (lpos == 0) {
			frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
			return;
		}
		hdr = !(hdr & X_CL) && lpos == 14 ? H_CL : !(hdr & X_TE) && lpos == 17 ? H_TE : H_OTHER;
		if (hdr == H_CL) {
			if (pst & P_CL) {
				/* two Content-Lengths: kbald answers 400 */
				frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
				return;
			}
			pst |= P_CL;
			fr->num = 0;
		} else if (hdr == H_TE) {
			pst = (pst | P_TE) & ~P_CHUNKED;
			fr->tk = 0;
		}
		fr->hdr = hdr;
		fr->pst = pst | P_VALUE;
		fr->lpos = lpos + 1;
		return;
	}
	if (c == ' ' || c == '\t' || c < 0x21 || c == 0x7f) {
		/* obs-fold, white space before ':' */
		frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
		return;
	}
	{
		__u8 hdr = fr->hdr, lc = c | 0x20;

		if (!(hdr & X_CL) && (lpos >= 14 || lc != lit_at(LIT_CONTENT_, LIT_LENGTH, 0, lpos)))
			hdr |= X_CL;
		if (!(hdr & X_TE) && (lpos >= 17 || lc != lit_at(LIT_TRANSFER, LIT_ENCODIN, LIT_G, lpos)))
			hdr |= X_TE;
		fr->hdr = hdr;
	}
	if (lpos < 0xffff)
		fr->lpos = lpos + 1;
}

/* a byte of a chunk-size line: 1*HEXDIG [ BWS ; ext ] CRLF */
static __always_inline void frame_size_byte(struct kbal_pkt_frame *fr, struct frame_run *r,
					    __u8 c, __u32 seq)
{
	__u8 pst = fr->pst;
	int d;

	if (++fr->hlen > KBAL_FRAME_LINE_MAX) {
		frame_lost(fr, KBAL_FRAME_WHY_LINE_MAX, seq);
		return;
	}
	if (c == '\n') {
		if (!(pst & P_DIG)) {
			frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
		} else if (fr->num == 0) {
			fr->state = KBAL_FRAME_TRAILER;   /* the last chunk */
			frame_piece(fr, 0);
		} else {
			fr->state = KBAL_FRAME_CHUNK_DATA;
			fr->left = fr->num;
		}
		return;
	}
	if (c == '\r' || (pst & P_NUMEND))
		return;
	d = c >= '0' && c <= '9' ? c - '0' :
	    (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
	if (d >= 0) {
		if (fr->lpos >= 10) {  /* 2^40 as Content-Length's limit */
			frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
			return;
		}
		fr->num = fr->num * 16 + d;
		fr->pst = pst | P_DIG;
		fr->lpos++;
	} else if ((c == ';' || c == ' ' || c == '\t') && (pst & P_DIG)) {
		fr->pst = pst | P_NUMEND;
	} else {
		frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
	}
}

/* a byte of the CRLF after a chunk's data */
static __always_inline void frame_crlf_byte(struct kbal_pkt_frame *fr, __u8 c, __u32 seq)
{
	if (c == '\r' && fr->lpos == 0) {
		fr->lpos = 1;
	} else if (c == '\n') {
		fr->state = KBAL_FRAME_CHUNK_SIZE;
		frame_piece(fr, 0);
	} else {
		frame_lost(fr, KBAL_FRAME_WHY_BAD, seq);
	}
}

/* a byte of the trailer section, up to its empty line */
static __always_inline void frame_trailer_byte(struct kbal_pkt_frame *fr, struct frame_run *r,
					       __u8 c, __u32 seq)
{
	if (++fr->hlen > KBAL_FRAME_HEAD_MAX) {
		frame_lost(fr, KBAL_FRAME_WHY_HEAD_MAX, seq);
		return;
	}
	if (c == '\r')
		return;
	if (c == '\n') {
		if (fr->lpos == 0)
			frame_done(fr, !(r->slot & 1), seq);
		else
			fr->lpos = 0;
		return;
	}
	fr->lpos = 1;
}

/*
 * Where the framing needs nothing of a line but its end: a request line
 * past its method, a status line past its code, a header whose name is
 * neither Content-Length nor Transfer-Encoding (from its first byte that
 * says so), a trailer line, a chunk extension.
 */
static __always_inline int frame_skippable(const struct kbal_pkt_frame *fr, __u32 req)
{
	switch (fr->state) {
	case KBAL_FRAME_HEAD:
		if (!(fr->pst & P_HDRS))
			return fr->lpos >= (req ? 5 : 12);
		if (fr->pst & P_VALUE)
			return fr->hdr == H_OTHER;
		return fr->hdr == (X_CL | X_TE);
	case KBAL_FRAME_TRAILER:
		return fr->lpos > 0;
	case KBAL_FRAME_CHUNK_SIZE:
		return (fr->pst & P_NUMEND) != 0;
	}
	return 0;
}

/* How many bytes of the window from pos come before a LF (or the window's
 * end), up to 64: 8 bytes a word (a word with a zero byte where it is
 * xor'ed with LFs: the lowest such byte is the first LF). */
static __always_inline __u32 frame_to_lf(const struct frame_run *r, __u32 pos)
{
	__u32 idx = pos - r->wstart, wl = r->wend - pos, n = 0;

#pragma unroll
	for (int k = 0; k < 8; k++) {
		__u32 o = idx + n;
		__u64 v, t;

		if (n >= wl || o > FRAME_WIN - 8)
			break;
		v = *(const __u64 *)&r->b[o] ^ 0x0a0a0a0a0a0a0a0aull;
		t = (v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull;
		if (t) {
			n += (((t & -t) >> 7) * 0x0001020304050607ull) >> 56;
			break;
		}
		n += 8;
	}
	return n < wl ? n : wl;
}

/* n more bytes of the head or line in progress (skipped): 1 if too many
 * (the framing lost) */
static __always_inline int frame_count(struct kbal_pkt_frame *fr, __u32 n, __u32 seq)
{
	__u32 lim = fr->state == KBAL_FRAME_CHUNK_SIZE ? KBAL_FRAME_LINE_MAX : KBAL_FRAME_HEAD_MAX;

	if (fr->hlen + n > lim) {
		frame_lost(fr, lim == KBAL_FRAME_LINE_MAX ? KBAL_FRAME_WHY_LINE_MAX :
			   KBAL_FRAME_WHY_HEAD_MAX, seq);
		return 1;
	}
	fr->hlen += n;
	return 0;
}

/* w with the LFs among its low k bytes flagged (0x80 in the lowest such
 * byte at least): 0 if there is none */
static __always_inline __u64 lf_in(__u64 w, __u32 k)
{
	__u64 v = w ^ 0x0a0a0a0a0a0a0a0aull;

	return (v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull &
	       (k >= 8 ? ~0ull : (1ull << (k * 8)) - 1);
}

/*
 * The first line's start, from its first 16 bytes (w0, w1): a request's
 * method (HEAD or not: its first 5 bytes), a response's status (its first
 * 12: "HTTP/1.x SSS"). The bytes taken (5, 12), or 0 where the bytes must
 * be read one by one (a LF among them, a status line that does not parse:
 * the byte path says what it is).
 */
static __always_inline __u32 frame_line1(struct kbal_pkt_frame *fr, __u32 req, __u64 w0, __u64 w1)
{
	if (req) {
		if (lf_in(w0, 5) || (w0 & 0xff) == '\r')
			return 0;
		if ((w0 & 0xffffffffffull) != (LIT_HEAD | (0x20ull << 32)))
			fr->pst |= P_NOTHEAD;
		return 5;
	}
	{
		__u32 d1 = ((w1 >> 8) & 0xff) - '0', d2 = ((w1 >> 16) & 0xff) - '0',
		      d3 = ((w1 >> 24) & 0xff) - '0';

		if ((w0 & 0xffffffffffull) != LIT_HTTP || lf_in(w0, 8) || (w1 & 0xff) != ' ' ||
		    d1 > 9 || d2 > 9 || d3 > 9)
			return 0;
		fr->status = d1 * 100 + d2 * 10 + d3;
		return 12;
	}
}

/*
 * A header line's start, from its first 16 bytes: a name that is neither
 * Content-Length nor Transfer-Encoding (case-insensitive) is known from
 * them, and its line is skipped to its end. A match goes the byte path
 * (which checks it exactly: or-ing 0x20 also turns CR into '-').
 */
static __always_inline __u32 frame_name_words(struct kbal_pkt_frame *fr, __u64 w0, __u64 w1)
{
	__u8 c0 = w0 & 0xff;
	__u64 l0 = w0 | 0x2020202020202020ull, l1 = w1 | 0x2020202020202020ull;

	if (c0 <= 0x20 || c0 >= 0x7f || c0 == ':')
		return 0;              /* the byte path: an empty line, a fold */
	if (l0 == LIT_CONTENT_ && !((l1 ^ LIT_LENGTH) & 0xffffffffffffull)) {
		/* "Content-Length:" exactly (a letter or'ed with 0x20 is
		 * itself, or its capital; '-' could be a CR): its value next */
		if (((w0 >> 56) & 0xff) != '-' || ((w1 >> 48) & 0xff) != ':')
			return 0;
		if (fr->pst & P_CL) {
			frame_lost(fr, KBAL_FRAME_WHY_BAD, fr->boundary);
			return 0;
		}
		fr->pst |= P_CL | P_VALUE;
		fr->num = 0;
		fr->hdr = H_CL;
		return 15;
	}
	if (l0 == LIT_TRANSFER && l1 == LIT_ENCODIN)
		return 0;
	fr->hdr = X_CL | X_TE;
	return 0;
}

/* one step: a byte of a head or a line, or a piece of a body */
static long frame_step(__u32 i, struct frame_loop *x)
{
	struct kbal_pkt_frame *fr = x->fr;
	struct frame_run *r = x->r;
	__u32 pos = r->pos, len = r->len;
	int skip;
	__u8 c;

	if (pos >= len || (fr->flags & KBAL_FRAME_LOST))
		return 1;
	switch (fr->state) {
	case KBAL_FRAME_BODY:
	case KBAL_FRAME_CHUNK_DATA: {
		__u32 avail = len - pos;
		__u64 take = fr->left < avail ? fr->left : avail;

		fr->left -= take;
		r->pos = pos + take;
		if (fr->left == 0) {
			if (fr->state == KBAL_FRAME_BODY)
				frame_done(fr, !(r->slot & 1), r->seq + r->pos);
			else
				frame_chunk_end(fr);
		}
		return 0;
	}
	case KBAL_FRAME_CLOSE:
		r->pos = len;
		return 1;
	}
	if (pos >= r->wend || pos < r->wstart) {
		__u32 n = len - pos;

		if (n > FRAME_LOAD)
			n = FRAME_LOAD;
		if (n == 0 || bpf_skb_load_bytes(x->skb, r->off + pos, r->b, n)) {
			frame_lost(fr, KBAL_FRAME_WHY_LOAD, r->seq + pos);
			return 1;
		}
		r->wstart = pos;
		r->wend = pos + n;
	}
	/* a line's start, 16 bytes at hand: what the bytes would tell one by
	 * one, told by two words */
	if (fr->state == KBAL_FRAME_HEAD && fr->lpos == 0 && r->wend - pos >= 2 &&
	    pos - r->wstart <= FRAME_WIN - 16) {
		/* (bytes past wend are a former window's: only read where
		 * wend - pos says so) */
		__u32 o = pos - r->wstart, n, avail = r->wend - pos;
		__u64 w0 = *(const __u64 *)&r->b[o], w1 = *(const __u64 *)&r->b[o + 8];

		if ((fr->pst & (P_HDRS | P_VALUE)) == P_HDRS && fr->hdr == 0 &&
		    (w0 & 0xffff) == 0x0a0d) {
			/* the empty line: the head's end */
			if (frame_count(fr, 2, r->seq + pos + 2))
				return 1;
			pos += 2;
			r->pos = pos;
			frame_head_end(fr, r->slot, r->seq + pos);
			return 0;
		}
		if (avail < 16) {
			/* the byte path */
		} else if (!(fr->pst & P_HDRS)) {
			n = frame_line1(fr, !(r->slot & 1), w0, w1);
			if (n) {
				fr->hlen += n;
				fr->lpos = n;
				pos += n;
				r->pos = pos;
			}
		} else if (!(fr->pst & P_VALUE) && fr->hdr == 0) {
			n = frame_name_words(fr, w0, w1);
			if (fr->flags & KBAL_FRAME_LOST)
				return 1;
			if (n) {
				fr->hlen += n;
				fr->lpos = n;
				pos += n;
				r->pos = pos;
			}
		}
	}
	skip = frame_skippable(fr, !(r->slot & 1));
	if (skip) {
		__u32 n = frame_to_lf(r, pos);

		if (n) {
			__u32 lpos = fr->lpos + n;

			fr->lpos = lpos > 0xfff0 ? 0xfff0 : lpos;
			if (frame_count(fr, n, r->seq + pos + n))
				return 1;
			pos += n;
			r->pos = pos;
			if (pos >= r->wend)
				return 0;
		}
	}
	c = r->b[(pos - r->wstart) & (FRAME_WIN - 1)];
	r->pos = ++pos;
	if (skip && c != '\n') {
		/* (only where the words could not be read: a window's end) */
		if (fr->lpos < 0xfff0)
			fr->lpos++;
		return frame_count(fr, 1, r->seq + pos);
	}
	switch (fr->state) {
	case KBAL_FRAME_HEAD:
		frame_head_byte(fr, r, c, r->seq + pos);
		break;
	case KBAL_FRAME_CHUNK_SIZE:
		frame_size_byte(fr, r, c, r->seq + pos);
		break;
	case KBAL_FRAME_CHUNK_CRLF:
		frame_crlf_byte(fr, c, r->seq + pos);
		break;
	case KBAL_FRAME_TRAILER:
		frame_trailer_byte(fr, r, c, r->seq + pos);
		break;
	default:
		frame_lost(fr, KBAL_FRAME_WHY_BAD, r->seq + pos);
		return 1;
	}
	return 0;
}

/* Keep the len bytes at off of skb (sequence number seq), beyond a gap the
 * framing must read: 1 if kept (or kept already), 0 if they cannot be */
static __always_inline int frame_stash_put(struct __sk_buff *skb, struct kbal_pkt_frame *fr,
					   __u32 slot, __u32 seq, __u32 off, __u32 len)
{
	struct frame_stash *st;
	__u32 zero = 0;

	if (len == 0 || len > FRAME_WIN)
		return 0;
	if (fr->flags & KBAL_FRAME_STASHED) {
		/* the same segment again (a retransmission): kept */
		st = bpf_map_lookup_elem(&kbal_frame_stash, &slot);
		return st && st->gen == fr->gen && st->seq == seq && len <= st->len;
	}
	st = bpf_map_lookup_elem(&kbal_frame_stash_tmp, &zero);
	if (!st || bpf_skb_load_bytes(skb, off, st->b, len))
		return 0;
	st->seq = seq;
	st->len = len;
	st->gen = fr->gen;
	if (bpf_map_update_elem(&kbal_frame_stash, &slot, st, BPF_ANY))
		return 0;
	fr->flags |= KBAL_FRAME_STASHED;
	fr->gaps++;
	return 1;
}

/*
 * Frame the len payload bytes at off of skb, the first at sequence number
 * seq, for rw's direction (its kbal_pkt_frame entry at rw->slot, of its
 * generation). The framing's hot part (seq, state, left) lives in rw and
 * is copied into the frame entry for the run, then back. A global
 * function: verified once, whatever calls it.
 */
__noinline int kbal_frame_seg(struct __sk_buff *skb, struct kbal_pkt_rw *rw, __u32 seq,
			      __u32 off, __u32 len)
{
	struct frame_loop x = { .skb = skb };
	struct kbal_pkt_frame *fr;
	struct frame_run *r;
	__u32 zero = 0, slot;
	__s32 d;

	if (!skb || !rw || len == 0)
		return 0;
	slot = rw->slot;
	fr = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (!fr || fr->gen != rw->gen) {
		rw->fr_flags |= KBAL_PKT_FR_LOST;   /* no state of this flow's */
		return 0;
	}
	if (fr->flags & KBAL_FRAME_LOST) {
		rw->fr_flags |= KBAL_PKT_FR_LOST;
		return 0;
	}
	fr->seq = rw->fr_seq;
	fr->state = rw->fr_state;
	fr->left = rw->fr_left;
	d = (__s32)(seq - fr->seq);
	if (d < 0) {
		/* a retransmission of framed bytes, or a partial overlap:
		 * only the new bytes */
		if ((__u32)-d >= len)
			return 0;
		off += -d;
		len -= -d;
		seq += -d;
	} else if (d > 0) {
		/* beyond a gap: framed only if the gap lies in a body (its
		 * bytes need not be read; when they come, they are framed) */
		if ((fr->state == KBAL_FRAME_BODY || fr->state == KBAL_FRAME_CHUNK_DATA) &&
		    (__u64)d <= fr->left) {
			fr->left -= d;
			fr->gaps++;
			if (fr->left == 0) {
				if (fr->state == KBAL_FRAME_BODY)
					frame_done(fr, !(slot & 1), seq);
				else
					frame_chunk_end(fr);
			}
		} else if (fr->state != KBAL_FRAME_CLOSE) {
			if (frame_stash_put(skb, fr, slot, seq, off, len))
				return 0;
			frame_lost(fr, KBAL_FRAME_WHY_GAP, fr->seq);
			rw->fr_flags |= KBAL_PKT_FR_LOST;
			return 0;
		}
	}
	r = bpf_map_lookup_elem(&kbal_frame_run, &zero);
	if (!r)
		return 0;
	r->off = off;
	r->len = len;
	r->seq = seq;
	r->pos = 0;
	r->wstart = r->wend = 0;
	r->slot = slot;
	x.fr = fr;
	x.r = r;
	bpf_loop(FRAME_STEPS, frame_step, &x, 0);
	if (!(fr->flags & KBAL_FRAME_LOST) && r->pos < r->len)
		frame_lost(fr, KBAL_FRAME_WHY_STEPS, seq + r->pos);
	if (fr->flags & KBAL_FRAME_LOST) {
		rw->fr_flags |= KBAL_PKT_FR_LOST;
		return 0;
	}
	fr->seq = seq + len;
	if (fr->flags & KBAL_FRAME_STASHED) {
		/* the gap filled? then what was kept, past what is framed */
		struct frame_stash *st = bpf_map_lookup_elem(&kbal_frame_stash, &slot);
		__s32 k;

		if (!st || st->gen != fr->gen || st->len > FRAME_WIN) {
			frame_lost(fr, KBAL_FRAME_WHY_GAP, fr->seq);
			rw->fr_flags |= KBAL_PKT_FR_LOST;
			return 0;
		}
		k = (__s32)(fr->seq - st->seq);
		if (k >= 0) {
			fr->flags &= ~KBAL_FRAME_STASHED;
			if ((__u32)k < st->len) {
				/* (clang copies at most 512 bytes inline) */
				__builtin_memcpy(r->b, st->b, 512);
				__builtin_memcpy(r->b + 512, st->b + 512, 512);
				__builtin_memcpy(r->b + 1024, st->b + 1024, 512);
				__builtin_memcpy(r->b + 1536, st->b + 1536, 512);
				r->off = 0;
				r->len = st->len;
				r->seq = st->seq;
				r->pos = k;
				r->wstart = 0;
				r->wend = st->len;   /* all at hand: nothing loaded */
				bpf_loop(FRAME_STEPS, frame_step, &x, 0);
				if (!(fr->flags & KBAL_FRAME_LOST) && r->pos < r->len)
					frame_lost(fr, KBAL_FRAME_WHY_STEPS, r->seq + r->pos);
				if (fr->flags & KBAL_FRAME_LOST) {
					rw->fr_flags |= KBAL_PKT_FR_LOST;
					bpf_map_delete_elem(&kbal_frame_stash, &slot);
					return 0;
				}
				fr->seq = st->seq + st->len;
			}
			bpf_map_delete_elem(&kbal_frame_stash, &slot);
		}
	}
	rw->fr_seq = fr->seq;
	rw->fr_state = fr->state;
	rw->fr_left = fr->left;
	return 0;
}

/*
 * A segment of len payload bytes at seq beyond a gap in rw's framed
 * stream, which kbal_frame_seg() could neither bridge (a gap within a body
 * is) nor keep (the stash holds one segment of FRAME_WIN bytes at most):
 * its framing would be lost. A decided flow drops it instead (packet.bpf.c:
 * the sender sends it again, in order, once the gap is filled); a
 * retransmission of the kept segment is dropped too (it passed before).
 */
static __always_inline int frame_gap_unkept(const struct kbal_pkt_rw *rw, __u32 seq, __u32 len)
{
	__s32 d = (__s32)(seq - rw->fr_seq);
	const struct kbal_pkt_frame *fr;
	__u32 slot = rw->slot;

	if (d <= 0 || !len || rw->fr_flags != KBAL_PKT_FR_ON || rw->fr_state == KBAL_FRAME_CLOSE)
		return 0;
	if ((rw->fr_state == KBAL_FRAME_BODY || rw->fr_state == KBAL_FRAME_CHUNK_DATA) &&
	    (__u64)d <= rw->fr_left)
		return 0;
	if (len > FRAME_WIN)
		return 1;
	fr = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	return fr && fr->gen == rw->gen && (fr->flags & KBAL_FRAME_STASHED);
}

/*
 * A head the decision parsed whole (hk: the packet path's decision,
 * pkt_back.bpf.h, kept it), at seq, the first of the segment's payload
 * bytes, at a head's start: framed from what the parse found, not read
 * again, with the body bytes that follow it in the segment. The bytes
 * framed (0: none, where the framing is not at that head's start, or is
 * lost or holds a stash: the byte path frames them). The decision's parse
 * is stricter than the framing's (what it keeps, the framing takes), so
 * the entry ends as the byte path leaves it (tests/bpf: every head the
 * decided tests keep framed both ways).
 */
static __always_inline __u32 frame_known(struct kbal_pkt_rw *rw, __u32 seq, __u32 payload,
					 const struct head_known *hk)
{
	__u32 slot = rw->slot, hl = hk->hl, next;
	struct kbal_pkt_frame *fr;
	__u8 pst = P_HDRS;

	if (!hk->ok || !hl || hl > payload || rw->fr_flags != KBAL_PKT_FR_ON ||
	    rw->fr_seq != seq || rw->fr_state != KBAL_FRAME_HEAD)
		return 0;
	fr = bpf_map_lookup_elem(&kbal_pkt_frame, &slot);
	if (!fr || fr->gen != rw->gen || fr->flags || fr->hlen || fr->pst)
		return 0;
	if (hk->flags & KBAL_KNOWN_CL)
		pst |= P_CL;
	if (hk->flags & KBAL_KNOWN_CHUNKED)
		pst |= P_TE | P_CHUNKED;
	if (!(slot & 1))
		pst |= P_NOTHEAD;
	fr->seq = seq;
	fr->state = KBAL_FRAME_HEAD;
	fr->left = rw->fr_left;
	fr->pst = pst;
	fr->num = hk->cl;
	fr->status = hk->status;
	fr->hlen = hl;
	next = seq + hl;
	frame_head_end(fr, slot, next);
	if (fr->flags & KBAL_FRAME_LOST) {
		rw->fr_flags |= KBAL_PKT_FR_LOST;
		return payload;
	}
	if (fr->state == KBAL_FRAME_BODY) {
		__u64 take = payload - hl;

		if (take > fr->left)
			take = fr->left;
		fr->left -= take;
		next += take;
		if (!fr->left)
			frame_done(fr, !(slot & 1), next);
	}
	fr->seq = next;
	rw->fr_seq = next;
	rw->fr_state = fr->state;
	rw->fr_left = fr->left;
	return next - seq;
}

/*
 * A rewritten packet of rw's direction: its payload (payload bytes from
 * off, the first at seq0, the sender's number) framed. A body segment in
 * order that does not end its body is a subtraction here, in rw (no other
 * memory touched); a retransmission of framed bytes is nothing.
 */
static __always_inline void pkt_frame(struct __sk_buff *skb, struct kbal_pkt_rw *rw,
				      __u32 seq0, __u32 off, __u32 payload)
{
	__u32 end = seq0 + payload;
	__u8 st;

	if (!payload || rw->fr_flags != KBAL_PKT_FR_ON || (__s32)(end - rw->fr_seq) <= 0)
		return;
	st = rw->fr_state;
	if (seq0 == rw->fr_seq) {
		if ((st == KBAL_FRAME_BODY || st == KBAL_FRAME_CHUNK_DATA) && rw->fr_left > payload) {
			rw->fr_left -= payload;
			rw->fr_seq = end;
			return;
		}
		if (st == KBAL_FRAME_CLOSE) {
			rw->fr_seq = end;
			return;
		}
	}
	kbal_frame_seg(skb, rw, seq0, off, payload);
}

#endif /* KBAL_PKT_FRAME_BPF_H */
