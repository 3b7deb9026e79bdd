/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * stamp.bpf.h - httpd's Date and Server lines on the answer heads the
 * kernel carries (kbal_shared.h, struct kbal_stamp_at).
 *
 * A verdict cannot make a message longer (docs/design.md, "Why the kernel
 * adds no header"), but an sk_msg program can, as the bytes are sent: the
 * psock worker sends a redirected skb to its target with sendmsg()
 * (skb_send_sock()), which on a socket with an sk_msg program is
 * tcp_bpf_sendmsg(), one run of the program a piece. That copies every
 * byte sent to the socket, so only client sockets whose member leaves a
 * line out (or puts the lines elsewhere than first) get the program
 * (kbal_sk_stamp): kbald would copy their every answer otherwise.
 *
 * The member's parser, keeping such a head, arms the client's entry:
 * where in the client's stream (its write_seq) the head starts, and where
 * its lines are. The sk_msg program acts on the piece that holds that
 * byte and on nothing else (kbald's own writes, the bodies), and writes
 * the head as own_head_proxied() does: the status line, Date (the
 * member's first one's value, else now), Server (the member's, else the
 * banner), the other lines in their order.
 */
#ifndef KBAL_STAMP_BPF_H
#define KBAL_STAMP_BPF_H

/* the client sockets of members that leave a line out (or misplace it):
 * the sk_msg program's only map (kbal_sk_src holds them too, with no
 * sk_msg one) */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KBAL_MAX_FLOWS);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_sk_stamp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KBAL_MAX_FLOWS);
	__type(key, __u64);
	__type(value, struct kbal_stamp_at);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_stamp_at SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kbal_stamp_text);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_stamp_text SEC(".maps");

/*
 * The member's parser, at a final answer head p that lacks Date or
 * Server, or has them elsewhere than first (head_dates()) (st the
 * member's socket's state, cookie its cookie): the client's entry, and in
 * *seq where the head starts in the client's stream, where the client's
 * sk_msg program can add or move them; NULL where kbald must write
 * the head (the client not stamped, a head before it not sent yet, lines
 * the program does not move: more than one Date or Server, a long one; a
 * held direction). Armed (stamp_arm()) only once the head is kept.
 */
static __always_inline struct kbal_stamp_at *stamp_ready(const struct kbal_sk_http *st,
							__u64 cookie,
							const struct head_parse *p, __u32 *seq)
{
	struct kbal_stamp_at *at = bpf_map_lookup_elem(&kbal_stamp_at, &st->peer);
	struct bpf_sock *bs;
	struct tcp_sock *tp;

	if (!at || at->member != cookie || p->ndate > 1 || p->nserver > 1 || !p->sl_end ||
	    p->date_end - p->date_ls > KBAL_STAMP_LINE_MAX ||
	    p->server_end - p->server_ls > KBAL_STAMP_LINE_MAX ||
	    (st->flags & KBAL_SKF_HELD) || st->peer_back)
		return NULL;
	/* one at a time: the program clears it once it wrote the head before */
	if (__sync_fetch_and_add(&at->armed, 0))
		return NULL;
	if (st->flags & KBAL_SKF_BASE) {
		/* every byte the verdict and kbald gave the client since
		 * seq_base, which the program moves by what it adds */
		*seq = st->seq_base + (__u32)(st->kept + st->held);
		return at;
	}
	/* nothing redirected since the splice: the client's stream ends with
	 * what kbald wrote */
	bs = bpf_map_lookup_elem(&kbal_sk_dst, &cookie);
	if (!bs)
		return NULL;
	tp = bpf_skc_to_tcp_sock(bs);
	if (tp)
		*seq = tp->write_seq + (__u32)(st->kept + st->held);
	bpf_sk_release(bs);
	return tp ? at : NULL;
}

static __always_inline void stamp_arm(struct kbal_stamp_at *at, __u32 seq,
				      const struct head_parse *p)
{
	at->seq = seq;
	at->sl_end = p->sl_end;
	at->date_ls = p->date_ls;
	at->date_end = p->date_end;
	at->server_ls = p->server_ls;
	at->server_end = p->server_end;
	__sync_fetch_and_or(&at->armed, 1);   /* after the fields (a full barrier) */
}

/* what the program writes: "Date: " value CRLF "Server: " value CRLF */
#define STAMP_OUT_MAX (2 * KBAL_STAMP_LINE_MAX + 32)

/* a member's line, and where its value starts (a bpf_loop()'s: a loop
 * that ends at a byte would give the verifier a state per byte) */
struct stamp_line {
	__u8 b[KBAL_STAMP_LINE_MAX];
	__u32 i, end;
};

static long stamp_blank(__u32 k, struct stamp_line *l)
{
	__u8 c;

	if (l->i >= l->end || l->i >= KBAL_STAMP_LINE_MAX)
		return 1;
	c = l->b[l->i];
	if (c != ' ' && c != '\t')
		return 1;
	l->i++;
	return 0;
}

static long stamp_blank_end(__u32 k, struct stamp_line *l)
{
	__u8 c;

	if (l->end <= l->i || l->end > KBAL_STAMP_LINE_MAX)
		return 1;
	c = l->b[l->end - 1];
	if (c != ' ' && c != '\t')
		return 1;
	l->end--;
	return 0;
}

/* The value of the member's line [ls, end) of the pulled head at data,
 * without its name of n bytes, its colon and the blanks around it, as
 * kbald writes it (and httpd: ap_proxy_read_headers() trims a value), at
 * out + *o. Read with bpf_probe_read_kernel(): lengths, not bytes, are what the
 * verifier follows. */
static __always_inline int stamp_value(const __u8 *data, __u32 ls, __u32 end, __u32 n,
				       __u8 *out, __u32 *o)
{
	struct stamp_line l;
	__u32 len = end - ls, vlen;

	if (len > KBAL_STAMP_LINE_MAX || len < n + 3 ||
	    bpf_probe_read_kernel(l.b, len, data + ls))
		return -1;
	l.i = n + 1;
	l.end = len - 2;     /* the CRLF */
	bpf_loop(KBAL_STAMP_LINE_MAX, stamp_blank, &l, 0);
	bpf_loop(KBAL_STAMP_LINE_MAX, stamp_blank_end, &l, 0);
	if (l.i > l.end || l.end > KBAL_STAMP_LINE_MAX || *o > KBAL_STAMP_LINE_MAX + 16)
		return -1;
	vlen = l.end - l.i;
	if (vlen > KBAL_STAMP_LINE_MAX || l.i >= KBAL_STAMP_LINE_MAX ||
	    bpf_probe_read_kernel(out + *o, vlen, &l.b[l.i]))
		return -1;
	*o += vlen;
	return 0;
}

static const char stamp_date_name[] = "Date: ";
static const char stamp_server_name[] = "\r\nServer: ";

/* The lines to write for the head at off in msg (pulled): into out,
 * their length; -1 where something does not fit */
static __always_inline int stamp_lines(struct sk_msg_md *msg, const struct kbal_stamp_at *at,
				       __u32 off, __u32 need, __u8 *out)
{
	__u32 zero = 0, o = 6, idx, blen;
	struct kbal_stamp_text *t = bpf_map_lookup_elem(&kbal_stamp_text, &zero);
	__u8 *data;

	if (!t || bpf_msg_pull_data(msg, off, off + need, 0))
		return -1;
	data = msg->data;
	if (bpf_probe_read_kernel(out, 6, stamp_date_name))
		return -1;
	if (at->date_end) {
		if (stamp_value(data, at->date_ls, at->date_end, 4, out, &o))
			return -1;
	} else {
		idx = __sync_fetch_and_add(&t->idx, 0) & 1;
		if (bpf_probe_read_kernel(out + o, KBAL_STAMP_DATE_LEN, t->date[idx]))
			return -1;
		o += KBAL_STAMP_DATE_LEN;
	}
	if (o > KBAL_STAMP_LINE_MAX + 16 || bpf_probe_read_kernel(out + o, 10, stamp_server_name))
		return -1;
	o += 10;
	if (at->server_end) {
		if (stamp_value(data, at->server_ls, at->server_end, 6, out, &o))
			return -1;
	} else {
		blen = t->banner_len;
		if (blen > KBAL_BANNER_LEN || bpf_probe_read_kernel(out + o, blen, t->banner))
			return -1;
		o += blen;
	}
	if (o > STAMP_OUT_MAX - 2)
		return -1;
	out[o] = '\r';
	out[o + 1] = '\n';
	return (int)o + 2;
}

/* n bytes of out written over msg's [at, at + n), just pushed */
static __always_inline int stamp_write(struct sk_msg_md *msg, __u32 at, const __u8 *out, __u32 n)
{
	__u8 *data, *to, *q;

	if (bpf_msg_pull_data(msg, at, at + n, 0))
		return -1;
	data = msg->data;
	to = msg->data_end;
	for (__u32 k = 0; k < STAMP_OUT_MAX; k++) {
		if (k >= n)
			break;
		q = data + k;
		if (q + 1 > to)
			return -1;
		*q = out[k];
	}
	return 0;
}

#endif /* KBAL_STAMP_BPF_H */
