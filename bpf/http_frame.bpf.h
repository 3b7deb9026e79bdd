/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * http_frame.bpf.h - HTTP/1.1 message boundaries for the sockmap path's
 * stream parser and verdict (sockmap.bpf.c; the state is kbal_sk_http in
 * kbal_shared.h).
 *
 * The parser says how long the next message is: a head (up to its empty
 * line), a piece of a body, a chunk-size line, a trailer. The verdict reads
 * a head once, in a loop of steps (kbal_can_loop: the verifier checks the
 * step once, whatever the head's length): each step a run of bytes the parse
 * only checks or bounds, 8 a word (head_run()), and the byte that ends it
 * (head_byte()), and decides whether kbald would route
 * the request where the connection's requests go now. It is strict where
 * kbald's parser is strict, and stricter where being exact would cost code:
 * whatever it does not recognise goes to kbald, which decides it exactly
 * (a path with '%', a dot segment or a byte mod_proxy encodes, a URL
 * naming the sticky session, a cookie it would have to trim, HEAD,
 * Upgrade, Expect, a Connection but keep-alive, chunked requests).
 */
#ifndef KBAL_HTTP_FRAME_BPF_H
#define KBAL_HTTP_FRAME_BPF_H

#include "kbal_maps.bpf.h"

#define KBAL_HEAD_MAX  8192            /* a longer head goes to kbald */
#define KBAL_HEAD_MASK (KBAL_HEAD_MAX - 1)
#define KBAL_LINE_MAX  64              /* a chunk-size line */
#define KBAL_LEN_MAX   (1ull << 40)    /* a larger length goes to kbald */

enum {
	HDR_OTHER = 0,
	HDR_HOST,
	HDR_CL,
	HDR_COOKIE,
	HDR_TE,
	HDR_REWRITTEN,                 /* Location, Content-Location, URI, Destination:
					 * mod_proxy_http maps them (ProxyPassReverse) */
	HDR_CONN,                      /* Connection */
	HDR_UA,                        /* a request's User-Agent (where asked: ua) */
	HDR_REFUSED,                   /* a request kbald must see */
	HDR_DATE,                      /* a response's Date */
	HDR_SERVER,                    /* a response's Server */
	HDR_EXPIRES,                   /* a response's Expires */
	HDR_LASTMOD,                   /* a response's Last-Modified */
	HDR_HOP,                       /* a response's Keep-Alive, Upgrade, TE, Trailer,
					 * Proxy-Authenticate: mod_proxy_http drops them */
	HDR_SETCOOKIE,                 /* a response's Set-Cookie: httpd writes them last */
	HDR_KEEPALIVE,                 /* a response's Keep-Alive: an HDR_HOP line the
					 * kernel passes (hop_lines_back()) */
};

/* head_parse.stamps: a response's Date and Server lines seen (httpd adds
 * its own where a member sent none: kbald writes such a head) */
#define KBAL_STAMP_DATE   1
#define KBAL_STAMP_SERVER 2
#define KBAL_STAMPS       (KBAL_STAMP_DATE | KBAL_STAMP_SERVER)

/* A head's parse. It lives in the scratch map, not on the stack: the
 * verifier tracks a map value's fields as unknown, so the loop's states
 * converge (on the stack, each field's known value splits them). */
struct head_parse {
	char sticky[KBAL_ROUTE_LEN];   /* the balancer's sticky cookie name */
	__u32 sticky_len;              /* 0: none */
	char spath[KBAL_ROUTE_LEN];    /* the name the URL carries it under */
	__u32 spath_len;
	__u32 sep;                     /* stickysessionsep, 0: Off */
	__u32 n;                       /* the head's length */
	__u32 pos;                     /* the next byte head_step() reads */
	__u32 request;                 /* 1: a request, 0: a response */
	__u32 ls;                      /* where the current line starts */
	__u32 line;                    /* lines ended */
	__u32 sp1, sp2;                /* the first line's two spaces */
	__u32 path_end;                /* request: where its path ends */
	__u32 colon;                   /* a header line: after its ':', 0 before */
	__u32 hdr;                     /* HDR_* of the current line */
	__u32 host_off, host_end, nhost;
	__u32 ua;                      /* request: find the User-Agent (KBAL_SKF_UA) */
	__u32 ua_off, ua_end, nua;
	__u64 cl;
	__u32 ncl, cl_st;              /* Content-Length: seen, 1 digits, 2 after */
	__u32 te_off, te_end, nte;
	__u32 conn_off, conn_end, nconn;
	__u32 ck_st;                   /* Cookie: 0 looking, 2 in our value, 1 done */
	__u32 route_off, route_end, nroute;
	__u32 rewritten;
	__u32 stamps;                  /* a response's KBAL_STAMP_* */
	/* a response's: where its status line ends, and its first Date and
	 * Server lines [ls, end) (the CRLF in), and how many of each */
	__u32 sl_end;
	__u32 date_ls, date_end, ndate;
	__u32 server_ls, server_end, nserver;
	/* and its first Expires and Last-Modified lines (date_canon()'s
	 * too: head_dates()) */
	__u32 exp_ls, exp_end, nexp;
	__u32 lm_ls, lm_end, nlm;
	__u32 end;                     /* the empty line's end */
	__u32 bad;
	/* a response's: a line httpd writes otherwise (line_as_httpd()),
	 * or one it refuses (a name with a byte no token holds, none at
	 * all, a control byte in a value: a 500; a line without ':': a
	 * 502): the head is kbald's, not bad */
	__u32 relined;                 /* KBAL_RELINED_EOL: bare_eol() */
	__u32 nhop;                    /* a response's HDR_HOP lines (Keep-Alive too) */
	__u32 nka;                     /* of them, Keep-Alive lines */
	__u32 nsetck;                  /* a response's Set-Cookie lines so far */
	/* requests: httpd's limits (kbal_rules; 0: none); a head over one
	 * is bad here, kbald answers it as httpd does */
	__u32 max_line, max_field, max_fields;
};

struct chunk_parse {
	__u32 n;
	__u64 size;
	__u32 digits;
	__u32 ext;                     /* after ';': chunk extensions, ignored */
	__u32 bad;
};

/* A head the packet path's decision parsed whole and kept
 * (pkt_back.bpf.h): what the framing needs of it, so that it frames the
 * head without reading its bytes again (pkt_frame.bpf.h, frame_known()).
 * For this packet only: the program clears ok before each decision. */
#define KBAL_KNOWN_CL      1           /* a Content-Length (cl) */
#define KBAL_KNOWN_CHUNKED 2           /* a response's Transfer-Encoding: chunked */

struct head_known {
	__u32 ok;                      /* 1: the fields below are this packet's */
	__u32 hl;                      /* the head's length, from the payload's start */
	__u64 cl;                      /* Content-Length's value */
	__u16 status;                  /* a response's status code */
	__u16 flags;                   /* KBAL_KNOWN_* */
	__u32 pad;
};

/* a scan's place, in the scratch (a map value: the loop's states repeat) */
struct scan_state {
	__u32 pos;                     /* the next byte looked at */
	__u32 n;                       /* the bytes at hand */
	__u32 end;                     /* just past what was looked for, or 0 */
	__u32 head;                    /* 1: an empty line, 0: a line's end */
};

/* a walk over a span of the scratch's bytes (req_decide.bpf.h: the
 * User-Agent's hash, the sticky route's separator) */
struct span_state {
	__u64 h;                       /* the hash so far */
	__u32 pos;                     /* the next byte */
	__u32 end;                     /* just past the span */
	__u32 found;                   /* just past the byte looked for, or 0 */
	__u8 c;                        /* the byte looked for */
};

struct kbal_scratch {
	__u8 b[KBAL_HEAD_MAX];
	struct head_parse hp;
	struct chunk_parse cp;
	struct head_known known;
	struct scan_state sc;
	struct span_state sp;
};

/* a bpf_loop() step's context: the bytes, and the parse of them */
struct frame_ctx {
	__u8 *b;
	void *p;
};

/* a head's bytes, copied once per message: this CPU's */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kbal_scratch);
} kbal_scratch SEC(".maps");

static __always_inline struct kbal_scratch *frame_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&kbal_scratch, &zero);
}

/* n bytes of skb from off, 1 <= n <= KBAL_HEAD_MAX, into the scratch */
static __always_inline __u8 *frame_load(struct __sk_buff *skb, __u32 off, __u32 n)
{
	struct kbal_scratch *s = frame_scratch();

	if (!s || n == 0 || n > KBAL_HEAD_MAX)
		return NULL;
	if (bpf_skb_load_bytes(skb, off, s->b, n))
		return NULL;
	return s->b;
}

#define B(i) (b[(i) & KBAL_HEAD_MASK])

/* the index of the lowest byte of a word flagged 0x80 in t (t != 0) */
static __always_inline __u32 first_flagged(__u64 t)
{
	return (((t & -t) >> 7) * 0x0001020304050607ull) >> 56;
}

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

/* a word's bytes equal to c flagged 0x80 (the lowest such exactly) */
static __always_inline __u64 bytes_eq(__u64 v, __u8 c)
{
	__u64 d = v ^ (ONES * c);

	return (d - ONES) & ~d & HIGH;
}

/* ------------------------------------------- where a head or a line ends */


/*
 * The scan's steps (scan_state in the scratch s): to the next LF, 8 bytes
 * a word (a word's lowest flagged byte is exact: bytes_eq()), then whether
 * it ends what is looked for: any LF a line (a chunk-size line), for a head
 * an LF after an LF or a CRLF ("\r\n\r\n", or bare "\n\n": kbald's parser
 * refuses those, so the head goes back to kbald; the parser must still end
 * the head there, or the request would wait for bytes that never come).
 * A global function: the verifier checks it once, not at each call.
 */
__noinline int scan_steps(struct kbal_scratch *s)
{
	if (!s)
		return 0;
	while (kbal_can_loop) {
		__u32 i = s->sc.pos, n = s->sc.n;
		__u8 *b = s->b;

		if (i >= n || i >= KBAL_HEAD_MAX)
			break;
		if (i + 8 <= n) {
			__u64 t = bytes_eq(*(const __u64 *)&b[i & KBAL_HEAD_MASK], '\n');

			if (!t) {
				s->sc.pos = i + 8;
				continue;
			}
			i += first_flagged(t);
		} else if (B(i) != '\n') {
			s->sc.pos = i + 1;
			continue;
		}
		s->sc.pos = i + 1;
		if (!s->sc.head ||
		    (i && (B(i - 1) == '\n' || (i >= 2 && B(i - 1) == '\r' && B(i - 2) == '\n')))) {
			s->sc.end = i + 1;
			break;
		}
	}
	return 0;
}

/* How long what starts at off is, up to the end of its head (head 1) or
 * of its line (head 0) within max bytes: 0 while it is incomplete, or all
 * of avail when it does not end within max (a message that then goes back
 * to kbald, which answers as Apache does). */
static __always_inline __u32 frame_scan(struct __sk_buff *skb, __u32 off, __u32 avail, __u32 max,
					__u32 head)
{
	struct kbal_scratch *s = frame_scratch();
	__u32 n = avail < max ? avail : max;

	if (!s || !frame_load(skb, off, n))
		return avail;
	s->sc.pos = 0;
	s->sc.n = n;
	s->sc.end = 0;
	s->sc.head = head;
	scan_steps(s);
	if (s->sc.end)
		return s->sc.end;
	return avail >= max ? avail : 0;
}

static __always_inline __u32 frame_head(struct __sk_buff *skb, __u32 off, __u32 avail)
{
	return frame_scan(skb, off, avail, KBAL_HEAD_MAX, 1);
}

static __always_inline __u32 frame_line(struct __sk_buff *skb, __u32 off, __u32 avail)
{
	return frame_scan(skb, off, avail, KBAL_LINE_MAX, 0);
}

/* ------------------------------------------------------------ a head */

static __always_inline int is_tchar(__u8 c)
{
	if (c >= 'a' && c <= 'z')
		return 1;
	if (c >= 'A' && c <= 'Z')
		return 1;
	if (c >= '0' && c <= '9')
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
	case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return 1;
	}
	return 0;
}

/* a byte of a path (printable, not '#', '%' or '?') that mod_proxy's
 * canonicaliser sends %-encoded (ap_proxy_canonenc(): alphanumerics,
 * '/' and "~$-_.+!*'(),;:@&=" go as they are): kbald's to send so */
static __always_inline int path_encoded(__u8 c)
{
	switch (c) {
	case '"': case '<': case '>': case '[': case '\\': case ']': case '^': case '`':
	case '{': case '|': case '}':
		return 1;
	}
	return 0;
}

/* b[off, off + len) is the lower-case name lit, of length len */
static __always_inline int name_is(const __u8 *b, __u32 off, __u32 len, const char *lit,
				   __u32 litlen)
{
	if (len != litlen)
		return 0;
	for (__u32 k = 0; k < 20; k++) {
		if (k >= litlen)
			break;
		if ((B(off + k) | 0x20) != lit[k])
			return 0;
	}
	return 1;
}

/* name (len bytes) at b[i] (exactly, as kbald's compare) */
static __always_inline int name_at(const __u8 *b, __u32 i, const char *name, __u32 len)
{
	for (__u32 k = 0; k < KBAL_ROUTE_LEN; k++) {
		if (k >= len)
			return 1;
		if (B(i + k) != (__u8)name[k])
			return 0;
	}
	return 1;
}

/* the sticky cookie's name at b[i] */
static __always_inline int sticky_at(const __u8 *b, __u32 i, const struct head_parse *p)
{
	return name_at(b, i, p->sticky, p->sticky_len);
}

static __always_inline __u32 header_kind(const __u8 *b, struct head_parse *p, __u32 len)
{
	__u32 off = p->ls;

	if (name_is(b, off, len, "content-length", 14))
		return HDR_CL;
	if (name_is(b, off, len, "transfer-encoding", 17))
		return p->request ? HDR_REFUSED : HDR_TE;
	if (p->request) {
		if (name_is(b, off, len, "host", 4))
			return HDR_HOST;
		if (name_is(b, off, len, "cookie", 6))
			return HDR_COOKIE;
		if (p->ua && name_is(b, off, len, "user-agent", 10))
			return HDR_UA;
		if (name_is(b, off, len, "expect", 6) || name_is(b, off, len, "upgrade", 7))
			return HDR_REFUSED;
		if (name_is(b, off, len, "connection", 10))
			return HDR_CONN;
		return HDR_OTHER;
	}
	if (name_is(b, off, len, "location", 8) || name_is(b, off, len, "uri", 3) ||
	    name_is(b, off, len, "content-location", 16) ||
	    name_is(b, off, len, "destination", 11))
		return HDR_REWRITTEN;
	if (name_is(b, off, len, "connection", 10))
		return HDR_CONN;
	if (name_is(b, off, len, "date", 4))
		return HDR_DATE;
	if (name_is(b, off, len, "server", 6))
		return HDR_SERVER;
	if (name_is(b, off, len, "expires", 7))
		return HDR_EXPIRES;
	if (name_is(b, off, len, "last-modified", 13))
		return HDR_LASTMOD;
	if (name_is(b, off, len, "keep-alive", 10))
		return HDR_KEEPALIVE;
	if (name_is(b, off, len, "upgrade", 7) ||
	    name_is(b, off, len, "te", 2) || name_is(b, off, len, "trailer", 7) ||
	    name_is(b, off, len, "proxy-authenticate", 18))
		return HDR_HOP;
	if (name_is(b, off, len, "set-cookie", 10))
		return HDR_SETCOOKIE;
	return HDR_OTHER;
}

/* a byte of the request line: METHOD SP /path[?query] SP HTTP/1.1 */
static __always_inline void request_line_byte(const __u8 *b, struct head_parse *p, __u32 i,
					      __u8 c, __u8 prev)
{

	if (!p->sp1) {
		if (c == ' ') {
			/* kbald follows HEAD's response and CONNECT's tunnel */
			if (i == 0 || (i == 4 && B(0) == 'H' && B(1) == 'E' && B(2) == 'A' &&
				       B(3) == 'D') || (i == 7 && B(0) == 'C' && B(1) == 'O'))
				p->bad = 1;
			p->sp1 = i;
		} else if (c < 'A' || c > 'Z') {
			p->bad = 1;
		}
		return;
	}
	if (!p->sp2) {
		if (c == ' ') {
			if (i == p->sp1 + 1)
				p->bad = 1;
			p->sp2 = i;
			if (!p->path_end)
				p->path_end = i;
			return;
		}
		if (c <= 0x20 || c >= 0x7f || c == '#') {
			p->bad = 1;
			return;
		}
		if (i == p->sp1 + 1) {
			if (c != '/')
				p->bad = 1;   /* absolute-form, '*': kbald's */
			return;
		}
		if (!p->path_end) {
			/* a path kbald would normalise before matching */
			if (c == '?')
				p->path_end = i;
			else if (c == '%' || (prev == '/' && (c == '/' || c == '.')) ||
				 path_encoded(c))
				p->bad = 1;
		}
		/* a session named in the URL wins over the cookie: httpd's
		 * get_path_param() finds its name anywhere in it (strstr) */
		if (p->spath_len && c == (__u8)p->spath[0] && name_at(b, i, p->spath, p->spath_len))
			p->bad = 1;
		return;
	}
	if (c <= 0x20 || c >= 0x7f)
		p->bad = 1;
}

/* a response's status line: HTTP/1.x SSS reason. httpd writes
 * "HTTP/1.1 " and the member's from its code on (mod_proxy_http's
 * r->status_line), "SSS " where it has no reason: only "HTTP/1.1 SSS "
 * and a reason (or none) is as httpd writes it */
static __always_inline void status_line_end(const __u8 *b, struct head_parse *p, __u32 i)
{
	__u32 ls = p->ls;

	if (i < ls + 13 || B(ls) != 'H' || B(ls + 1) != 'T' || B(ls + 2) != 'T' ||
	    B(ls + 3) != 'P' || B(ls + 4) != '/' || B(ls + 5) != '1' || B(ls + 6) != '.' ||
	    B(ls + 8) != ' ' || (B(ls + 12) != ' ' && B(ls + 12) != '\r'))
		p->bad = 1;
	else if (B(ls + 7) != '1' || B(ls + 12) != ' ')
		p->relined = 1;
}

/*
 * A response's header line, its ':' before colon and its CR at cr, as
 * httpd writes it: ap_proxy_read_headers() keeps the value without the
 * white space around it, and httpd writes "Name: value" (an empty value:
 * "Name: "). So ": ", then a value neither starting nor ending with a
 * blank (control bytes but tab, and a space before ':', are bad already).
 * Three bytes a line.
 */
static __always_inline int line_as_httpd(const __u8 *b, __u32 colon, __u32 cr)
{
	__u8 c = B(colon + 1), e = B(cr - 1);

	return B(colon) == ' ' &&
	       (colon + 1 == cr || (c != ' ' && c != '\t' && e != ' ' && e != '\t'));
}

/* the request line's end: its version */
static __always_inline void request_line_end(const __u8 *b, struct head_parse *p, __u32 i)
{
	__u32 v = p->sp2 + 1;

	if (!p->sp2 || i != v + 9 || B(v) != 'H' || B(v + 1) != 'T' || B(v + 2) != 'T' ||
	    B(v + 3) != 'P' || B(v + 4) != '/' || B(v + 5) != '1' || B(v + 6) != '.' ||
	    B(v + 7) != '1')
		p->bad = 1;
}

static __always_inline void value_byte(const __u8 *b, struct head_parse *p, __u32 i, __u8 c,
				       __u8 prev)
{
	int ows = c == ' ' || c == '\t';

	if ((c < 0x20 && c != '\t') || c == 0x7f) {
		/* a response's: httpd's check_headers() answers 500 (kbald) */
		if (p->request)
			p->bad = 1;
		else
			p->relined = 1;
		return;
	}
	switch (p->hdr) {
	case HDR_HOST:
		if (!ows) {
			if (!p->host_off)
				p->host_off = i;
			p->host_end = i + 1;
		}
		break;
	case HDR_TE:
		if (!ows) {
			if (!p->te_off)
				p->te_off = i;
			p->te_end = i + 1;
		}
		break;
	case HDR_UA:
		if (!ows) {
			if (!p->ua_off)
				p->ua_off = i;
			p->ua_end = i + 1;
		}
		break;
	case HDR_CONN:
		if (!ows) {
			if (!p->conn_off)
				p->conn_off = i;
			p->conn_end = i + 1;
		}
		break;
	case HDR_CL:
		if (c >= '0' && c <= '9' && p->cl_st < 2) {
			p->cl = p->cl * 10 + (c - '0');
			p->cl_st = 1;
			if (p->cl > KBAL_LEN_MAX)
				p->bad = 1;
		} else if (ows) {
			if (p->cl_st == 1)
				p->cl_st = 2;
		} else {
			p->bad = 1;
		}
		break;
	case HDR_COOKIE:
		/* kbald's cookie_param(): the first NAME that starts the value
		 * or follows ';', ',' or white space; its value runs to ';'
		 * or ','. White space it would trim, and a space before '=',
		 * send the request to kbald. */
		if (!p->sticky_len || p->ck_st == 1)
			break;
		if (p->ck_st == 2) {
			if (i < p->route_off)
				break;
			if (c == ';' || c == ',') {
				p->route_end = i;
				p->ck_st = 1;
			} else if (ows) {
				p->bad = 1;
			}
			break;
		}
		if ((i == p->colon || prev == ';' || prev == ',' || prev == ' ' || prev == '\t') &&
		    sticky_at(b, i, p)) {
			if (B(i + p->sticky_len) != '=') {
				p->bad = 1;
				break;
			}
			p->nroute++;
			p->route_off = i + p->sticky_len + 1;
			p->ck_st = 2;
		}
		break;
	}
}

/* k bytes from i of a value whose first and last non-white bytes are kept,
 * none of them white (head_run()): as value_byte() would track them */
static __always_inline void value_run(struct head_parse *p, __u32 i, __u32 k)
{
	__u32 *off, *end;

	switch (p->hdr) {
	case HDR_HOST:
		off = &p->host_off;
		end = &p->host_end;
		break;
	case HDR_TE:
		off = &p->te_off;
		end = &p->te_end;
		break;
	case HDR_UA:
		off = &p->ua_off;
		end = &p->ua_end;
		break;
	default:
		off = &p->conn_off;
		end = &p->conn_end;
		break;
	}
	if (!*off)
		*off = i;
	*end = i + k;
}

static __always_inline long line_end(const __u8 *b, struct head_parse *p, __u32 i)
{
	__u32 len = i - 1 - p->ls;     /* the CR before i is checked */

	if (p->line == 0 && p->max_line && len > p->max_line)
		p->bad = 1;
	else if (p->line && len && ((p->max_field && len > p->max_field) ||
				    (p->max_fields && p->line > p->max_fields)))
		p->bad = 1;
	if (p->line == 0) {
		if (p->request) {
			request_line_end(b, p, i);
		} else {
			status_line_end(b, p, i);
			p->sl_end = i + 1;
		}
	} else if (i == p->ls + 1) {
		p->end = i + 1;        /* the empty line */
		return 1;
	} else if (!p->colon) {
		/* a response's line without ':': httpd answers 502 (kbald) */
		if (p->request)
			p->bad = 1;
		else
			p->relined = 1;
	} else if (p->hdr == HDR_CL && p->cl_st == 0) {
		p->bad = 1;
	} else if (p->hdr == HDR_COOKIE && p->ck_st == 2) {
		p->route_end = i - 1;
		p->ck_st = 1;
	} else if (p->hdr == HDR_DATE && !p->date_end) {
		p->date_end = i + 1;
	} else if (p->hdr == HDR_SERVER && !p->server_end) {
		p->server_end = i + 1;
	} else if (p->hdr == HDR_EXPIRES && !p->exp_end) {
		p->exp_end = i + 1;
	} else if (p->hdr == HDR_LASTMOD && !p->lm_end) {
		p->lm_end = i + 1;
	}
	/* a response's header line httpd writes otherwise (Server's:
	 * head_dates(), the stamp program writes it trimmed) */
	if (p->line && p->colon && !p->request && p->hdr != HDR_SERVER &&
	    !line_as_httpd(b, p->colon, i - 1))
		p->relined = 1;
	p->line++;
	p->ls = i + 1;
	p->colon = 0;
	p->hdr = HDR_OTHER;
	return p->bad ? 1 : 0;
}

/*
 * How many bytes from i on (up to 64, within the head's n) hold none of
 * what the byte path looks at: a byte under lim (0x20: a control byte, tab
 * included; 0x21: white space too), DEL, s1 or s2 (DEL again where there
 * is no other). 8 bytes a word; a word's lowest flagged byte is exact (a
 * borrow flags only bytes above a true one), so the run ends right at it.
 */
static __always_inline __u32 plain_run(const __u8 *b, __u32 i, __u32 n, __u8 lim, __u8 s1,
				       __u8 s2)
{
	__u32 k = 0;

#pragma unroll
	for (int w = 0; w < 8; w++) {
		__u64 v, t;

		if (i + k + 8 > n)
			break;
		v = *(const __u64 *)&b[(i + k) & KBAL_HEAD_MASK];
		t = ((v - ONES * lim) & ~v & HIGH) | bytes_eq(v, 0x7f);
		if (s1 != 0x7f)
			t |= bytes_eq(v, s1);
		if (s2 != 0x7f)
			t |= bytes_eq(v, s2);
		if (t)
			return k + first_flagged(t);
		k += 8;
	}
	return k;
}

/* a byte after which a cookie's name may start (kbald's cookie_param()) */
static __always_inline int cookie_sep(__u8 c)
{
	return c == ';' || c == ',' || c == ' ' || c == '\t';
}

/* a byte of a request's target past its first that request_line_byte()
 * must see: white space and what no target holds, the name of a session
 * in the URL, and in the path what kbald would normalise or mod_proxy
 * encode, a '/' or '.' (after a '/' it may begin a dot segment or a run
 * of slashes), the query's '?' */
static __always_inline int target_stop(const struct head_parse *p, __u8 c)
{
	if (c <= 0x20 || c >= 0x7f || c == '#')
		return 1;
	if (p->spath_len && c == (__u8)p->spath[0])
		return 1;
	if (p->path_end)
		return 0;
	return c == '?' || c == '%' || c == '/' || c == '.' || path_encoded(c);
}

/*
 * A run of bytes head_step() need not take one by one, from i: a response's
 * status line (control bytes only are looked for), a request line's
 * version, a header value whose bytes are only checked (lim 0x20) or whose
 * first and last non-white byte are kept (lim 0x21: Host,
 * Transfer-Encoding, User-Agent, Connection), a Cookie value's bytes that
 * can neither start a cookie's name nor end the sticky one's value, a
 * header name's token bytes, a request target's bytes but those
 * target_stop() names. Its length (0: the byte path). Content-Length's
 * value, the request line's method and every line's end go byte by byte.
 */
static __always_inline __u32 head_run(const __u8 *b, struct head_parse *p, __u32 i)
{
	__u32 k = 0;

	if (p->line == 0) {
		if (!p->request)
			k = plain_run(b, i, p->n, 0x20, 0x7f, 0x7f);
		else if (p->sp2)
			k = plain_run(b, i, p->n, 0x21, 0x7f, 0x7f);
		else if (p->sp1 && i > p->sp1 + 1)
			for (__u32 j = 0; j < 64; j++) {
				if (i + k >= p->n || target_stop(p, B(i + k)))
					break;
				k++;
			}
	} else if (!p->colon) {
		for (__u32 j = 0; j < 32; j++) {
			if (i + k >= p->n || !is_tchar(B(i + k)))
				break;
			k++;
		}
	} else {
		switch (p->hdr) {
		case HDR_OTHER:
		case HDR_DATE:
		case HDR_SERVER:
		case HDR_EXPIRES:
		case HDR_LASTMOD:
		case HDR_REWRITTEN:
		case HDR_HOP:
		case HDR_KEEPALIVE:
			k = plain_run(b, i, p->n, 0x20, 0x7f, 0x7f);
			break;
		case HDR_COOKIE:
			/* looking for the sticky name: not where one may
			 * start; in its value: up to its end (the name and
			 * '=' before the value hold no byte that ends it) */
			if (!p->sticky_len || p->ck_st == 1)
				k = plain_run(b, i, p->n, 0x20, 0x7f, 0x7f);
			else if ((p->ck_st == 0 && i > p->colon && !cookie_sep(B(i - 1))) ||
				 p->ck_st == 2)
				k = plain_run(b, i, p->n, 0x21, ';', ',');
			break;
		case HDR_HOST:
		case HDR_TE:
		case HDR_UA:
		case HDR_CONN:
			k = plain_run(b, i, p->n, 0x21, 0x7f, 0x7f);
			if (k)
				value_run(p, i, k);
			break;
		}
	}
	return k;
}

/* A bare LF or a CR alone in a response's head: httpd's ap_rgetline()
 * ends a line at an LF and drops a CR before it, so a bare LF ends a line
 * and a CR alone is a value's byte (apr_isspace() trims it before a CRLF,
 * check_headers() refuses it within a value: a 500). Bad for the framing
 * here, but a head kbald reads as httpd does (KBAL_RELINED_EOL: the
 * sockmap path hands it back as a response, not as a lost framing) */
#define KBAL_RELINED_EOL 2

static __always_inline void bare_eol(struct head_parse *p)
{
	if (!p->request)
		p->relined = KBAL_RELINED_EOL;
}

/* the byte at i, after the run before it: 1 where the head ends (its
 * empty line, or bad) */
static __always_inline long head_byte(const __u8 *b, struct head_parse *p, __u32 i)
{
	__u8 c, prev;

	c = B(i);
	prev = i ? B(i - 1) : 0;
	if (c == '\n') {
		p->bad = 1;            /* a bare LF (a CR takes its LF) */
		bare_eol(p);
		return 1;
	}
	if (c == '\r') {
		if (i + 1 >= p->n || B(i + 1) != '\n') {
			p->bad = 1;
			bare_eol(p);
			return 1;
		}
		p->pos = i + 2;        /* the LF with it */
		return line_end(b, p, i + 1);
	}
	if (p->line == 0) {
		if (p->request)
			request_line_byte(b, p, i, c, prev);
		else if (c < 0x20 || c == 0x7f)
			p->bad = 1;
		return p->bad ? 1 : 0;
	}
	if (p->colon) {
		value_byte(b, p, i, c, prev);
		return p->bad ? 1 : 0;
	}
	if (c == ':' && i > p->ls) {
		p->colon = i + 1;
		p->hdr = header_kind(b, p, i - p->ls);
		switch (p->hdr) {
		case HDR_HOST:
			p->nhost++;
			break;
		case HDR_UA:
			p->nua++;
			break;
		case HDR_CL:
			p->ncl++;
			break;
		case HDR_TE:
			p->nte++;
			break;
		case HDR_REWRITTEN:
			p->rewritten = 1;
			break;
		case HDR_CONN:
			p->nconn++;
			break;
		case HDR_DATE:
			p->stamps |= KBAL_STAMP_DATE;
			if (!p->ndate++)
				p->date_ls = p->ls;
			break;
		case HDR_SERVER:
			p->stamps |= KBAL_STAMP_SERVER;
			if (!p->nserver++)
				p->server_ls = p->ls;
			break;
		case HDR_EXPIRES:
			if (!p->nexp++)
				p->exp_ls = p->ls;
			break;
		case HDR_LASTMOD:
			if (!p->nlm++)
				p->lm_ls = p->ls;
			break;
		case HDR_REFUSED:
			p->bad = 1;
			break;
		case HDR_KEEPALIVE:
			p->nka++;
			p->nhop++;
			break;
		case HDR_HOP:
			p->nhop++;
			break;
		case HDR_SETCOOKIE:
			p->nsetck++;
			break;
		}
		/* a line after a Set-Cookie: httpd moves the Set-Cookie lines
		 * after the others (mod_proxy_http's apr_table_overlay()),
		 * kbald writes the head so */
		if (p->nsetck && p->hdr != HDR_SETCOOKIE)
			p->relined = 1;
		if (p->ncl > 1 || p->nhost > 1 || p->nte > 1)
			p->bad = 1;   /* kbald answers 400 */
	} else if (i == p->ls && p->line > 1 && !p->request && (c == ' ' || c == '\t')) {
		/* a response's obs-fold line: httpd joins it to the line
		 * before it, kbald too (a value of its own: the line's bytes
		 * only checked) */
		p->relined = 1;
		p->colon = i;
	} else if (!is_tchar(c)) {
		/* obs-fold in a request, a space before ':'; a response's name
		 * httpd refuses on output (check_headers(): a space before
		 * ':', a control byte, no name), a 500 kbald answers */
		if (p->request)
			p->bad = 1;
		else
			p->relined = 1;
	}
	return p->bad ? 1 : 0;
}

/* A step: a run (head_run()) and the byte that ends it, CR and LF at
 * once: a header line is about three steps (its name and ':', its value
 * and its end; Host's, Connection's and a cookie's white space one more).
 * The steps are a loop in the program (head_steps()), not calls: where
 * returns are dear (the kernel's mitigations of speculative returns), a
 * bpf_loop() of them cost a head its steps more than its bytes. (Two runs
 * a step would cost the verifier twice the step's paths: seconds more at
 * each load.) */
static long head_step(__u32 step, struct frame_ctx *x)
{
	struct head_parse *p = x->p;
	__u8 *b = x->b;
	__u32 i = p->pos;

	if (i >= p->n || p->bad)
		return 1;
	i += head_run(b, p, i);
	if (i >= p->n)
		return 1;
	p->pos = i + 1;
	return head_byte(b, p, i);
}

/* The steps of the head in the scratch s (its bytes, its parse s->hp), in
 * a loop of the program's own (may_goto: no call a step). A global
 * function: its stack is not its callers', and the verifier checks it once,
 * not at each call (a loop's body is checked until its states repeat: the
 * head parse's are many). */
__noinline int head_steps(struct kbal_scratch *s)
{
	struct frame_ctx x;

	if (!s)
		return 0;
	x.b = s->b;
	x.p = &s->hp;
	while (kbal_can_loop) {
		if (head_step(0, &x))
			break;
	}
	return 0;
}

/* Parse the head of n bytes at off into p (the scratch's, zeroed but for
 * request and the sticky name); p->bad when the kernel does not keep it.
 * With more: the n bytes may go on past the head (its end in p->end), and
 * a head that does not end within them is bad. The bytes, or NULL. */
static __always_inline __u8 *frame_parse_head_more(struct __sk_buff *skb, __u32 off, __u32 n,
						   struct head_parse *p, int more)
{
	struct frame_ctx x = { .p = p };

	x.b = frame_load(skb, off, n);
	p->n = n;
	p->pos = 0;
	if (!x.b) {
		p->bad = 1;
		return NULL;
	}
	head_steps(frame_scratch());   /* (p is the scratch's) */
	if (!p->end || (p->end != n && !more))
		p->bad = 1;
	return x.b;
}

static __always_inline __u8 *frame_parse_head(struct __sk_buff *skb, __u32 off, __u32 n,
					      struct head_parse *p)
{
	return frame_parse_head_more(skb, off, n, p, 0);
}

/* ------------------------------------------------- a response's dates */

/*
 * httpd sends a member's Date, Expires and Last-Modified values as
 * mod_proxy_http's date_canon() writes them (apr_date_parse_http(), then
 * apr_rfc822_date(): RFC 850 and asctime() dates, a wrong weekday, made
 * RFC 1123), and its Date and Server lines first (basic_http_header()).
 * The kernel passes a head as it is only where that is provably the
 * head: each date "Www, DD Mon YYYY HH:MM:SS GMT" exactly, its fields in
 * range, its weekday the date's; anything else kbald writes, with apr's
 * own functions (user/date_canon.c). A year before 1970, which apr does
 * not read (and httpd passes as it is), is kbald's too.
 */

/* two digits: their value, 100 if they are not */
static __always_inline __u32 date_2digits(const __u8 *d)
{
	__u32 c0 = d[0], c1 = d[1];

	if (c0 < '0' || c0 > '9' || c1 < '0' || c1 > '9')
		return 100;
	return (c0 - '0') * 10 + (c1 - '0');
}

#define DATE_N3(x, y, z) ((__u32)(x) << 16 | (__u32)(y) << 8 | (__u32)(z))

static __always_inline __u32 date_3bytes(const __u8 *d)
{
	return DATE_N3(d[0], d[1], d[2]);
}

/* a month's name: 1..12, 0 if none */
static __always_inline __u32 date_month(__u32 n3)
{
	switch (n3) {
	case DATE_N3('J', 'a', 'n'): return 1;
	case DATE_N3('F', 'e', 'b'): return 2;
	case DATE_N3('M', 'a', 'r'): return 3;
	case DATE_N3('A', 'p', 'r'): return 4;
	case DATE_N3('M', 'a', 'y'): return 5;
	case DATE_N3('J', 'u', 'n'): return 6;
	case DATE_N3('J', 'u', 'l'): return 7;
	case DATE_N3('A', 'u', 'g'): return 8;
	case DATE_N3('S', 'e', 'p'): return 9;
	case DATE_N3('O', 'c', 't'): return 10;
	case DATE_N3('N', 'o', 'v'): return 11;
	case DATE_N3('D', 'e', 'c'): return 12;
	}
	return 0;
}

/* a weekday's name, 0 Sunday */
static __always_inline __u32 date_wday_name(__u32 wd)
{
	switch (wd) {
	case 0: return DATE_N3('S', 'u', 'n');
	case 1: return DATE_N3('M', 'o', 'n');
	case 2: return DATE_N3('T', 'u', 'e');
	case 3: return DATE_N3('W', 'e', 'd');
	case 4: return DATE_N3('T', 'h', 'u');
	case 5: return DATE_N3('F', 'r', 'i');
	}
	return DATE_N3('S', 'a', 't');
}

/* by month, 3 bits each from January: Sakamoto's weekday offsets
 * (0 3 2 5 0 3 5 1 4 6 2 4); 2 bits each: the month's days less 28
 * (February 29: a leap year's, looked at apart) */
#define DATE_WOFF 0x8b4358a98ull
#define DATE_DAYS 0xeefbb7u

/*
 * 1 where the header line [ls, end) of the head in s, its name nlen bytes,
 * is "name: " and a value date_canon() returns as it is. The weekday by
 * Sakamoto's method (the year from March, its leap days y/4 - y/100 +
 * y/400); no division: y/100 is (y * 5243) >> 19 and s/7 (s * 37450) >> 18,
 * exact for every year and sum here (below 20000; tried for each day of
 * 1970-9999). A global function: checked once.
 */
__noinline int head_date_ok(struct kbal_scratch *s, __u32 ls, __u32 end, __u32 nlen)
{
	__u32 v = ls + nlen + 2, day, mon, y, yc, hh, mm, ss, c, w;
	const __u8 *d;

	if (!s || end != v + 31 || v < 1 || v > KBAL_HEAD_MAX - 32)
		return 0;
	d = s->b + v;   /* its 29 bytes, and the space before them */
	if (d[-1] != ' ' || d[3] != ',' || d[4] != ' ' || d[7] != ' ' || d[11] != ' ' ||
	    d[16] != ' ' || d[19] != ':' || d[22] != ':' || d[25] != ' ' ||
	    date_3bytes(d + 26) != DATE_N3('G', 'M', 'T'))
		return 0;
	day = date_2digits(d + 5);
	mon = date_month(date_3bytes(d + 8));
	y = date_2digits(d + 12);
	yc = date_2digits(d + 14);
	hh = date_2digits(d + 17);
	mm = date_2digits(d + 20);
	ss = date_2digits(d + 23);
	if (!mon || y > 99 || yc > 99 || day < 1 || hh > 23 || mm > 59 || ss > 59)
		return 0;
	y = y * 100 + yc;
	if (y < 1970 || day > 28 + ((DATE_DAYS >> (2 * (mon - 1))) & 3))
		return 0;
	if (mon == 2 && day == 29) {
		c = (y * 5243) >> 19;
		if ((y & 3) || (c * 100 == y && (c & 3)))
			return 0;     /* not a leap year */
	}
	if (mon <= 2)
		y--;
	c = (y * 5243) >> 19;
	w = y + (y >> 2) - c + (c >> 2) + ((DATE_WOFF >> (3 * (mon - 1))) & 7) + day;
	w -= 7 * ((w * 37450) >> 18);
	return date_3bytes(d) == date_wday_name(w);
}

/*
 * A final response head's hop-by-hop lines that make it kbald's (1):
 * httpd drops a member's Connection line and the lines it names,
 * Keep-Alive, Upgrade, TE, Trailer and Proxy-Authenticate (kbald writes
 * the head so). The kernel passes a lone "Connection: keep-alive" and
 * Keep-Alive lines as they came: the answers it carries lack httpd's own
 * Keep-Alive and Connection lines anyway (docs/operating.md, "Keep-Alive
 * on answers"), and a member that says keep-alive on every answer (nginx,
 * Node.js) would otherwise have every answer copied by kbald.
 */
static __always_inline int hop_lines_back(const __u8 *b, const struct head_parse *p)
{
	if (p->nconn && (p->nconn > 1 || p->conn_end - p->conn_off != 10 ||
			 !name_is(b, p->conn_off, 10, "keep-alive", 10)))
		return 1;
	return p->nhop > p->nka;
}

/*
 * An interim (1xx) head p as httpd's ap_send_interim_response() writes it
 * (kbald writes any other, as httpd: user/heads.c, heads_interim()): each
 * line as httpd writes it (p->relined, its status line's too), no line
 * mod_proxy_http drops (Connection and its tokens, HDR_HOP), and no date
 * date_canon() could write again nor a Server line whose blanks it trims
 * (rare in a 1xx head: kbald's without looking closer). No Date or
 * Server of httpd's is added to it.
 */
static __always_inline int interim_as_httpd(const struct head_parse *p)
{
	return !p->relined && !p->nconn && !p->nhop && !p->stamps && !p->nexp && !p->nlm;
}

/* head_dates(): the head goes as it is; Date or Server must be added or
 * moved up (stamp.bpf.h can); kbald must write it */
#define KBAL_DATES_AS_IS 0
#define KBAL_DATES_MOVE  1
#define KBAL_DATES_AGENT 2

/* a final response head p parsed in s: KBAL_DATES_* (a line httpd
 * writes otherwise, p->relined: kbald's too) */
static __always_inline int head_dates(struct kbal_scratch *s, const struct head_parse *p)
{
	const __u8 *b = s->b;

	if (p->relined || p->ndate > 1 || p->nexp > 1 || p->nlm > 1 ||
	    (p->date_end && !head_date_ok(s, p->date_ls, p->date_end, 4)) ||
	    (p->exp_end && !head_date_ok(s, p->exp_ls, p->exp_end, 7)) ||
	    (p->lm_end && !head_date_ok(s, p->lm_ls, p->lm_end, 13)))
		return KBAL_DATES_AGENT;
	/* "Date: " right after the status line, "Server: " and a value with
	 * no white space around it (httpd trims it) right after it, one of
	 * each */
	if (p->stamps != KBAL_STAMPS || p->nserver > 1 || p->date_ls != p->sl_end ||
	    p->server_ls != p->date_end || !name_at(b, p->date_ls, "Date", 4) ||
	    !name_at(b, p->server_ls, "Server: ", 8) || p->server_end < p->server_ls + 11 ||
	    B(p->server_ls + 8) == ' ' || B(p->server_ls + 8) == '\t' ||
	    B(p->server_end - 3) == ' ' || B(p->server_end - 3) == '\t')
		return KBAL_DATES_MOVE;
	return KBAL_DATES_AS_IS;
}

#undef DATE_N3
#undef DATE_WOFF
#undef DATE_DAYS

/* ------------------------------------------------------- chunk lines */

static long chunk_step(__u32 i, struct frame_ctx *x)
{
	struct chunk_parse *p = x->p;
	__u8 *b = x->b;
	__u8 c;
	int d;

	if (i >= p->n)
		return 1;
	c = B(i);
	if (c == '\r' || c == '\n')
		return 1;
	if (p->ext)
		return 0;
	d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ?
	    (c | 0x20) - 'a' + 10 : -1;
	if (d >= 0 && p->digits < 10) {
		p->size = p->size * 16 + d;
		p->digits++;
		return 0;
	}
	if (c == ';' && p->digits) {
		p->ext = 1;
		return 0;
	}
	p->bad = 1;
	return 1;
}

/* the chunk size a line of n bytes at off announces; -1 if none */
static __always_inline __s64 frame_chunk_size(struct __sk_buff *skb, __u32 off, __u32 n)
{
	struct kbal_scratch *s = frame_scratch();
	struct frame_ctx x = {};
	struct chunk_parse *p;

	if (!s || n < 3 || n > KBAL_LINE_MAX)
		return -1;
	p = &s->cp;
	__builtin_memset(p, 0, sizeof(*p));
	x.p = p;
	x.b = frame_load(skb, off, n);
	if (!x.b)
		return -1;
	p->n = n;
	bpf_loop(KBAL_LINE_MAX, chunk_step, &x, 0);
	if (p->bad || !p->digits || x.b[(n - 1) & KBAL_HEAD_MASK] != '\n' ||
	    x.b[(n - 2) & KBAL_HEAD_MASK] != '\r')
		return -1;
	return p->size;
}

#undef ONES
#undef HIGH
#undef B

#endif /* KBAL_HTTP_FRAME_BPF_H */
