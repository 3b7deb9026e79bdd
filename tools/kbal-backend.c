/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kbal-backend - the HTTP/1.1 member that kbal's demo, tests and benchmarks
 * balance to. One thread, one edge-triggered epoll set, no allocation per
 * request: a connection's buffers come from a free list and /bytes/N is sent
 * straight out of a 2 MiB table holding one period of its pattern.
 *
 *   kbal-backend --listen 127.0.0.1:18081 --name WAS1 [--log FILE]
 *                [--shared IP:PORT]
 *
 * Port 0 picks a free port; the ready line on stdout names the real one:
 *   "kbal-backend WAS1 listening on 127.0.0.1:18081"
 * --shared listens on a second address with SO_REUSEPORT, which any number
 * of backends can share: the kernel spreads the connections to it over
 * them (the benchmark's no-proxy baseline over both members).
 *
 * Requests are answered one at a time in arrival order (pipelining): the next
 * request is parsed only once the previous response is in the socket, so a
 * pipelined request waits in the input buffer or the kernel, never in memory
 * we allocate. Endpoints, first match wins:
 *   Upgrade: websocket   101, then every byte read is echoed until EOF
 *   request with a body  "len=N crc32=%08x\n" (after "100 Continue" if asked)
 *   /echo-headers        the request head exactly as received
 *   /bytes/N             N bytes, byte i = (i * 7 + (i >> 13)) & 0xff
 *   /redirect            302 to http://OWN_ADDR/landing
 *   anything else        "backend=NAME path=URL\n"
 *   /proxy-client        "proxy=IP:PORT\n": the client the connection's PROXY
 *                        header named ("proxy=none" without --proxy-protocol)
 * /close adds "Connection: close"; /then-close closes the connection after
 * the response without saying so (a keep-alive timeout's end, at once),
 * /then-reset resets it (RST);
 * /slow-head holds its response 300 ms.
 * Faults, for the tests of a member that misbehaves (the rest of the
 * connection is read and dropped, never answered):
 *   /fault-mid           a 200 head with Content-Length 100000, 1000 bytes of
 *                        it, then a close (FIN)
 *   /fault-hang          nothing: the request is read, never answered, and
 *                        the connection stays open until the peer closes it
 *   /fault-garbage       bytes that are not HTTP, then a close
 *   /fault-reset         a RST before any answer (SO_LINGER 0 and close)
 *   /fault-chunked-cut   a chunked 200 with two chunks, then a close before
 *                        the last chunk
 *   /fault-smuggle       a whole 200 with Content-Length followed, in the
 *                        same write, by a second whole "HTTP/1.1 200 OK" that
 *                        nobody asked for; the connection stays open
 * --proxy-protocol: every connection must start with a PROXY protocol header
 * (version 1 or 2, TCP4; else 400 and closed); the log lines end in
 * " proxy=IP:PORT".
 * Malformed requests get 400 and the connection is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "llhttp.h"

#define KB_IN_CAP        (32 * 1024)         /* a request head must fit */
#define KB_OUT_CAP       (KB_IN_CAP + 4096)  /* echo-headers: head + our head */
#define KB_PATTERN_LEN   (1u << 21)          /* the pattern's period */
#define KB_BYTES_MAX     (1ull << 34)
#define KB_SLOW_NS       (300ull * 1000000)
#define KB_LINGER_NS     (2000ull * 1000000)  /* read-and-drop after close */
#define KB_MAX_EVENTS    256
#define KB_NAME_MAX      64

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* What a request gets, decided when its head is complete. */
enum kb_kind {
	KB_DEFAULT = 0,
	KB_ECHO_HEAD,
	KB_BYTES,
	KB_CRC,
	KB_REDIRECT,
	KB_WEBSOCKET,
	KB_PROXY_CLIENT,
	KB_FAULT_MID,
	KB_FAULT_HANG,
	KB_FAULT_GARBAGE,
	KB_FAULT_RESET,
	KB_FAULT_CUT,
	KB_FAULT_SMUGGLE,
};

/* The /fault-* paths, in enum kb_kind's order from KB_FAULT_MID. */
static const char *const kb_fault_paths[] = {
	"/fault-mid", "/fault-hang", "/fault-garbage", "/fault-reset",
	"/fault-chunked-cut", "/fault-smuggle",
};

#define KB_FAULT_MID_LEN   100000ull     /* /fault-mid's Content-Length */
#define KB_FAULT_MID_SENT  1000ull       /* what it sends of it */

/* Which callback paused llhttp: the parse loop acts on each in turn. */
enum kb_pause {
	KB_PAUSE_NONE = 0,
	KB_PAUSE_HEAD,
	KB_PAUSE_MSG,
};

struct kb_conn;

/* A FIFO of connections waiting for a deadline. Every entry of one queue has
 * the same delay, so the queue is sorted by insertion and the head is next. */
struct kb_timerq {
	struct kb_conn *head, *tail;
	unsigned long long delay_ns;
};

struct kb_conn {
	int fd;                       /* -1 once closed, until recycled */
	llhttp_t parser;

	/* input: [0, in_len) read, [0, in_parsed) given to llhttp */
	unsigned in_len, in_parsed;
	int msg_start;                /* offset of a head still being read, -1 */
	unsigned head_off, head_len;  /* the last complete head (body-less only) */
	unsigned url_off, url_len;
	unsigned char readable;       /* EPOLLIN seen and not yet drained */
	unsigned char hup;            /* EPOLLRDHUP seen: a FIN waits behind the data */
	unsigned char eof;
	unsigned char pause;          /* enum kb_pause */
	unsigned char echo;           /* websocket: echo in[echo_off, in_len) */
	unsigned echo_off;
	unsigned char pp_wait;        /* --proxy-protocol: its header not read yet */
	char pp[48];                  /* the PROXY header's source "IP:PORT" */

	/* the request being read */
	unsigned char kind;           /* enum kb_kind */
	unsigned char close_path;     /* /close */
	unsigned char then_close;     /* /then-close, 2: /then-reset */
	unsigned char slow;           /* /slow-head */
	unsigned char is_head;        /* HEAD: no body in the response */
	unsigned long long nbytes;    /* /bytes/N */
	unsigned long long body_len;
	uLong crc;
	char ws_accept[32];           /* Sec-WebSocket-Accept, "" if no key */

	/* output: out[out_off, out_len), then stream_left pattern bytes */
	unsigned out_len, out_off;
	unsigned long long stream_pos, stream_left;
	unsigned char resp_active;    /* a final response is being written */
	unsigned char close_after;
	unsigned char reset_after;    /* /then-reset: closed with a RST */
	unsigned char lingering;      /* write side shut, dropping input */
	unsigned char mute;           /* a fault: input dropped, never answered */

	/* timers: /slow-head hold, lingering close */
	struct kb_timerq *tq;
	struct kb_conn *tprev, *tnext;
	unsigned long long deadline_ns;

	struct kb_conn *next_free;
	struct kb_conn *next_all;     /* every connection allocated, freed at exit */
	char in[KB_IN_CAP];
	char out[KB_OUT_CAP];
};

struct kb_server {
	int epfd, lfd[2], sfd, logfd;   /* lfd[1]: --shared, or -1 */
	const char *name;
	int proxy_protocol;           /* --proxy-protocol */
	char addr[64];                /* "ip:port" as bound */
	llhttp_settings_t settings;
	struct kb_conn *free_list;    /* recycled connections */
	struct kb_conn *dead;         /* closed during this batch of events */
	struct kb_conn *all;          /* through next_all */
	struct kb_timerq slowq, lingerq;
};

static unsigned char kb_pattern[KB_PATTERN_LEN];

/* The epoll_event.data.ptr of the non-connection fds. */
static char kb_tag_listen[2], kb_tag_signal;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* (i * 7 + (i >> 13)) & 0xff repeats every 2^21 bytes: 7 * 2^21 and
 * 2^21 >> 13 = 256 are both multiples of 256. */
static void pattern_init(void)
{
	for (unsigned i = 0; i < KB_PATTERN_LEN; i++)
		kb_pattern[i] = (unsigned char)((i * 7u + (i >> 13)) & 0xff);
}

/* ---- SHA-1 and base64, for Sec-WebSocket-Accept only ---------------- */

static uint32_t rol32(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e, f, k, t;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
	for (int i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d); k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d; k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d; k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d; d = c; c = rol32(b, 30); b = a; a = t;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	unsigned char blk[64];
	size_t i = 0, rest;
	unsigned long long bits = (unsigned long long)len * 8;

	for (; i + 64 <= len; i += 64)
		sha1_block(h, msg + i);
	rest = len - i;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, msg + i, rest);
	blk[rest] = 0x80;
	if (rest >= 56) {
		sha1_block(h, blk);
		memset(blk, 0, sizeof(blk));
	}
	for (int j = 0; j < 8; j++)
		blk[63 - j] = (unsigned char)(bits >> (8 * j));
	sha1_block(h, blk);
	for (int j = 0; j < 5; j++) {
		out[4 * j] = h[j] >> 24; out[4 * j + 1] = h[j] >> 16;
		out[4 * j + 2] = h[j] >> 8; out[4 * j + 3] = h[j];
	}
}

static void base64(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*out++ = tab[in[i] >> 2];
		*out++ = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
		*out++ = tab[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		*out++ = tab[in[i + 2] & 63];
	}
	if (i < len) {
		*out++ = tab[in[i] >> 2];
		if (i + 1 < len) {
			*out++ = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
			*out++ = tab[(in[i + 1] & 15) << 2];
		} else {
			*out++ = tab[(in[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

/* base64(sha1(key GUID)) into out[29] */
static void ws_accept(const char *key, size_t len, char *out)
{
	char buf[64 + sizeof(WS_GUID)];
	unsigned char dig[20];

	if (len > 64)
		len = 64;
	memcpy(buf, key, len);
	memcpy(buf + len, WS_GUID, sizeof(WS_GUID) - 1);
	sha1((unsigned char *)buf, len + sizeof(WS_GUID) - 1, dig);
	base64(dig, 20, out);
}

/* ---- timers ----------------------------------------------------------- */

static void timer_add(struct kb_timerq *q, struct kb_conn *c)
{
	c->tq = q;
	c->deadline_ns = now_ns() + q->delay_ns;
	c->tnext = NULL;
	c->tprev = q->tail;
	if (q->tail)
		q->tail->tnext = c;
	else
		q->head = c;
	q->tail = c;
}

static void timer_del(struct kb_conn *c)
{
	struct kb_timerq *q = c->tq;

	if (!q)
		return;
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		q->head = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	else
		q->tail = c->tprev;
	c->tq = NULL;
	c->tprev = c->tnext = NULL;
}

/* ---- connections ------------------------------------------------------ */

static void conn_close(struct kb_server *s, struct kb_conn *c)
{
	if (c->fd < 0)
		return;
	timer_del(c);
	close(c->fd);
	c->fd = -1;
	/* events for it may still be in this batch: recycle after the batch */
	c->next_free = s->dead;
	s->dead = c;
}

/* Close once the response is out. Shut our side and drop what the client
 * still sends, so that unread input does not turn our FIN into a RST that
 * could destroy the response before the client has read it. */
static void conn_linger(struct kb_server *s, struct kb_conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(s, c);
		return;
	}
	c->lingering = 1;
	timer_add(&s->lingerq, c);
}

static void msg_reset(struct kb_conn *c)
{
	c->msg_start = -1;
	c->kind = KB_DEFAULT;
	c->close_path = c->then_close = c->slow = c->is_head = 0;
	c->nbytes = c->body_len = 0;
	c->crc = crc32(0L, Z_NULL, 0);
	c->ws_accept[0] = '\0';
	c->pause = KB_PAUSE_NONE;
}

static struct kb_conn *conn_new(struct kb_server *s, int fd)
{
	struct kb_conn *c = s->free_list;

	if (c) {
		s->free_list = c->next_free;
	} else {
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->next_all = s->all;
		s->all = c;
	}
	c->fd = fd;
	llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
	c->parser.data = c;
	c->in_len = c->in_parsed = 0;
	c->head_off = c->head_len = c->url_off = c->url_len = 0;
	c->readable = 1;
	c->eof = c->echo = c->hup = 0;
	c->echo_off = 0;
	c->pp_wait = s->proxy_protocol;
	strcpy(c->pp, "none");
	c->out_len = c->out_off = 0;
	c->stream_pos = c->stream_left = 0;
	c->resp_active = c->close_after = c->reset_after = c->lingering = 0;
	c->mute = 0;
	c->tq = NULL;
	c->tprev = c->tnext = NULL;
	c->next_free = NULL;
	msg_reset(c);
	return c;
}

__attribute__((format(printf, 2, 3)))
static void out_printf(struct kb_conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->out + c->out_len, KB_OUT_CAP - c->out_len, fmt, ap);
	va_end(ap);
	/* sizes are bounded by KB_IN_CAP and the name length; never truncates */
	if (n > 0)
		c->out_len += (unsigned)n < KB_OUT_CAP - c->out_len ?
			      (unsigned)n : KB_OUT_CAP - c->out_len - 1;
}

static void out_put(struct kb_conn *c, const char *p, size_t n)
{
	if (n > KB_OUT_CAP - c->out_len)
		n = KB_OUT_CAP - c->out_len;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* Status line and the headers every final response has. */
static void resp_head(struct kb_server *s, struct kb_conn *c, int keep_alive,
		      const char *status, const char *ctype,
		      unsigned long long clen)
{
	const char *conn = "";

	if (!keep_alive)
		conn = "Connection: close\r\n";
	else if (c->parser.http_major == 1 && c->parser.http_minor == 0)
		conn = "Connection: keep-alive\r\n";
	out_printf(c, "HTTP/1.1 %s\r\nX-Backend: %s\r\n%s%s%s"
		   "Content-Length: %llu\r\n%s\r\n",
		   status, s->name, ctype ? "Content-Type: " : "",
		   ctype ? ctype : "", ctype ? "\r\n" : "", clen, conn);
}

static void bad_request(struct kb_server *s, struct kb_conn *c,
			const char *status)
{
	static const char body[] = "bad request\n";

	c->out_len = c->out_off = 0;
	c->stream_left = 0;
	c->is_head = 0;
	resp_head(s, c, 0, status, "text/plain", sizeof(body) - 1);
	out_put(c, body, sizeof(body) - 1);
	c->resp_active = 1;
	c->close_after = 1;
}

static int ieq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

static int has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, tok, tl) == 0)
			return 1;
	return 0;
}

static void log_request(struct kb_server *s, struct kb_conn *c,
			const char *method, size_t mlen)
{
	char pp[64];
	struct iovec iov[5] = {
		{ (void *)method, mlen },
		{ (void *)" ", 1 },
		{ c->in + c->url_off, c->url_len },
		{ pp, 0 },
		{ (void *)"\n", 1 },
	};

	if (s->proxy_protocol)
		iov[3].iov_len = snprintf(pp, sizeof(pp), " proxy=%s", c->pp);
	if (s->logfd >= 0 && writev(s->logfd, iov, 5) < 0) {
		/* a full disk must not stop the server */
	}
}

/*
 * The head in[msg_start, end) is complete and llhttp accepted it. Pick the
 * response and check what llhttp lets through but a member must refuse:
 * white space between a field name and its colon (RFC 9112 5.1).
 * Returns 0, or -1 for a bad request.
 */
static int request_head(struct kb_server *s, struct kb_conn *c, unsigned end)
{
	const char *h = c->in + c->msg_start, *e = c->in + end;
	const char *p, *eol, *sp1, *sp2, *exp = NULL, *upg = NULL;
	size_t exp_len = 0, upg_len = 0;
	uint16_t flags = c->parser.flags;
	const char *url;

	c->head_off = c->msg_start;
	c->head_len = end - c->msg_start;
	c->msg_start = -1;

	eol = memchr(h, '\n', e - h);
	if (!eol)
		return -1;
	sp1 = memchr(h, ' ', eol - h);
	if (!sp1)
		return -1;
	sp2 = memchr(sp1 + 1, ' ', eol - sp1 - 1);
	if (!sp2)
		return -1;
	c->url_off = sp1 + 1 - c->in;
	c->url_len = sp2 - sp1 - 1;

	for (p = eol + 1; p < e; p = eol + 1) {
		const char *colon, *v, *ve;

		eol = memchr(p, '\n', e - p);
		if (!eol)
			eol = e - 1;
		ve = eol;
		if (ve > p && ve[-1] == '\r')
			ve--;
		if (ve == p)
			break;                  /* the blank line */
		colon = memchr(p, ':', ve - p);
		if (!colon || colon == p || colon[-1] == ' ' || colon[-1] == '\t')
			return -1;
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (ieq(p, colon - p, "expect")) {
			exp = v; exp_len = ve - v;
		} else if (ieq(p, colon - p, "upgrade")) {
			upg = v; upg_len = ve - v;
		} else if (ieq(p, colon - p, "sec-websocket-key")) {
			ws_accept(v, ve - v, c->ws_accept);
		}
	}

	log_request(s, c, h, sp1 - h);

	url = c->in + c->url_off;
	c->is_head = c->parser.method == HTTP_HEAD;
	c->close_path = c->url_len >= 6 && memcmp(url, "/close", 6) == 0 &&
			(c->url_len == 6 || url[6] == '?');
	c->then_close = c->url_len >= 11 && memcmp(url, "/then-close", 11) == 0 &&
			(c->url_len == 11 || url[11] == '?');
	if (c->url_len >= 11 && memcmp(url, "/then-reset", 11) == 0 &&
	    (c->url_len == 11 || url[11] == '?'))
		c->then_close = 2;
	c->slow = c->url_len >= 10 && memcmp(url, "/slow-head", 10) == 0 &&
		  (c->url_len == 10 || url[10] == '?');

	if (c->parser.upgrade && upg && has_token(upg, upg_len, "websocket")) {
		c->kind = KB_WEBSOCKET;
	} else if (flags & (F_CHUNKED | F_CONTENT_LENGTH)) {
		c->kind = KB_CRC;
		if (exp && ieq(exp, exp_len, "100-continue") &&
		    ((flags & F_CHUNKED) || c->parser.content_length > 0))
			out_put(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	} else if (ieq(url, c->url_len, "/echo-headers")) {
		c->kind = KB_ECHO_HEAD;
	} else if (c->url_len > 7 && memcmp(url, "/bytes/", 7) == 0) {
		unsigned long long n = 0;

		for (unsigned i = 7; i < c->url_len; i++) {
			if (url[i] < '0' || url[i] > '9' || n > KB_BYTES_MAX)
				return -1;
			n = n * 10 + (url[i] - '0');
		}
		if (n > KB_BYTES_MAX)
			return -1;
		c->kind = KB_BYTES;
		c->nbytes = n;
	} else if (ieq(url, c->url_len, "/redirect")) {
		c->kind = KB_REDIRECT;
	} else if (ieq(url, c->url_len, "/proxy-client")) {
		c->kind = KB_PROXY_CLIENT;
	} else {
		for (unsigned i = 0; i < sizeof(kb_fault_paths) / sizeof(kb_fault_paths[0]); i++)
			if (ieq(url, c->url_len, kb_fault_paths[i]))
				c->kind = KB_FAULT_MID + i;
	}
	return 0;
}

/*
 * A /fault-* request is complete: queue what the fault sends, if anything,
 * and how the connection ends. Whatever the peer sends next is dropped.
 */
static void request_fault(struct kb_server *s, struct kb_conn *c)
{
	static const char garbage[] = "\x16\x03\x01 this is not HTTP \x00\xff\r\n\r\n";
	static const char smuggled[] = "HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\n"
				       "Content-Length: 9\r\n\r\nsmuggled\n";

	c->mute = 1;
	c->resp_active = 1;
	c->close_after = 1;
	switch (c->kind) {
	case KB_FAULT_MID:
		resp_head(s, c, 1, "200 OK", "application/octet-stream",
			  KB_FAULT_MID_LEN);
		c->stream_pos = 0;
		c->stream_left = KB_FAULT_MID_SENT;
		break;
	case KB_FAULT_HANG:
		c->resp_active = c->close_after = 0;
		break;
	case KB_FAULT_GARBAGE:
		out_put(c, garbage, sizeof(garbage) - 1);
		break;
	case KB_FAULT_RESET:
		c->reset_after = 1;
		break;
	case KB_FAULT_CUT:
		out_printf(c, "HTTP/1.1 200 OK\r\nX-Backend: %s\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n"
			   "10\r\n0123456789abcdef\r\n6\r\nfedcba\r\n", s->name);
		break;
	case KB_FAULT_SMUGGLE:
		resp_head(s, c, 1, "200 OK", "text/plain", 6);
		out_put(c, "first\n", 6);
		out_put(c, smuggled, sizeof(smuggled) - 1);
		c->close_after = 0;
		break;
	}
	msg_reset(c);
}

/* The request is complete: queue its response (held if /slow-head). */
static void request_done(struct kb_server *s, struct kb_conn *c)
{
	int keep_alive = llhttp_should_keep_alive(&c->parser) && !c->close_path;
	char line[128];

	if (c->parser.upgrade && c->kind != KB_WEBSOCKET)
		keep_alive = 0;         /* CONNECT, h2c: answered, then closed */
	if (c->kind >= KB_FAULT_MID) {
		request_fault(s, c);
		return;
	}

	switch (c->kind) {
	case KB_WEBSOCKET:
		out_printf(c, "HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Accept: %s\r\n\r\n",
			   c->ws_accept[0] ? c->ws_accept : "none");
		/* bytes after the head are the first to echo */
		c->echo = 1;
		c->echo_off = c->in_parsed;
		msg_reset(c);
		return;
	case KB_CRC: {
		int n = snprintf(line, sizeof(line), "len=%llu crc32=%08lx\n",
				 c->body_len, (unsigned long)c->crc);

		resp_head(s, c, keep_alive, "200 OK", "text/plain", n);
		if (!c->is_head)
			out_put(c, line, n);
		break;
	}
	case KB_ECHO_HEAD:
		resp_head(s, c, keep_alive, "200 OK", "text/plain", c->head_len);
		if (!c->is_head)
			out_put(c, c->in + c->head_off, c->head_len);
		break;
	case KB_BYTES:
		resp_head(s, c, keep_alive, "200 OK", "application/octet-stream",
			  c->nbytes);
		c->stream_pos = 0;
		c->stream_left = c->is_head ? 0 : c->nbytes;
		break;
	case KB_PROXY_CLIENT: {
		int n = snprintf(line, sizeof(line), "proxy=%s\n", c->pp);

		resp_head(s, c, keep_alive, "200 OK", "text/plain", n);
		if (!c->is_head)
			out_put(c, line, n);
		break;
	}
	case KB_REDIRECT:
		out_printf(c, "HTTP/1.1 302 Found\r\nX-Backend: %s\r\n"
			   "Location: http://%s/landing\r\nContent-Length: 0\r\n%s\r\n",
			   s->name, s->addr, keep_alive ? "" : "Connection: close\r\n");
		break;
	default: {
		/* "backend=" NAME " path=" URL "\n" */
		unsigned long long n = 8 + strlen(s->name) + 6 + c->url_len + 1;

		resp_head(s, c, keep_alive, "200 OK", "text/plain", n);
		if (!c->is_head) {
			out_printf(c, "backend=%s path=", s->name);
			out_put(c, c->in + c->url_off, c->url_len);
			out_put(c, "\n", 1);
		}
		break;
	}
	}
	c->resp_active = 1;
	c->close_after = !keep_alive || c->then_close;
	c->reset_after = c->then_close == 2;
	if (c->slow)
		timer_add(&s->slowq, c);
	msg_reset(c);
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
	struct kb_conn *c = p->data;

	(void)len;
	if (c->msg_start < 0)
		c->msg_start = at - c->in;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	((struct kb_conn *)p->data)->pause = KB_PAUSE_HEAD;
	return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct kb_conn *c = p->data;

	c->crc = crc32(c->crc, (const Bytef *)at, len);
	c->body_len += len;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	((struct kb_conn *)p->data)->pause = KB_PAUSE_MSG;
	return HPE_PAUSED;
}

/*
 * Feed llhttp what was read. Stops at the end of a request (its response is
 * queued) or of the input. llhttp pauses at the end of each head and each
 * message, so error_pos says exactly where the head and the message end.
 */
/*
 * The PROXY protocol header at the start of the connection (HAProxy's
 * proxy-protocol.txt), TCP over IPv4: its length, 0 while incomplete, -1 if
 * it is not one. c->pp gets the source "IP:PORT".
 */
static int proxy_header(struct kb_conn *c)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					       0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	const unsigned char *b = (const unsigned char *)c->in;
	char ip[INET_ADDRSTRLEN], s1[16], d1[16];
	unsigned n = c->in_len, sp, dp;
	const char *eol;

	if (n >= 1 && b[0] == 0x0d) {
		/* version 2: signature, ver_cmd, family, length, addresses */
		if (n < 16)
			return memcmp(b, sig, n) ? -1 : 0;
		if (memcmp(b, sig, 12) || b[12] != 0x21 || b[13] != 0x11 ||
		    ((b[14] << 8) | b[15]) < 12)
			return -1;
		if (n < 16u + ((b[14] << 8) | b[15]))
			return 0;
		inet_ntop(AF_INET, b + 16, ip, sizeof(ip));
		snprintf(c->pp, sizeof(c->pp), "%s:%u", ip, (b[24] << 8) | b[25]);
		return 16 + ((b[14] << 8) | b[15]);
	}
	/* version 1: "PROXY TCP4 SRC DST SPORT DPORT\r\n", 107 bytes at most */
	if (memcmp(c->in, "PROXY ", n < 6 ? n : 6))
		return -1;
	eol = memchr(c->in, '\n', n < 107 ? n : 107);
	if (!eol)
		return n < 107 ? 0 : -1;
	if (eol == c->in || eol[-1] != '\r' ||
	    sscanf(c->in, "PROXY TCP4 %15s %15s %u %u\r", s1, d1, &sp, &dp) != 4 ||
	    sp > 65535 || dp > 65535)
		return -1;
	snprintf(c->pp, sizeof(c->pp), "%s:%u", s1, sp);
	return eol + 1 - c->in;
}

static void conn_parse(struct kb_server *s, struct kb_conn *c)
{
	int again = 0;   /* llhttp must run once more, even on no input */

	if (c->pp_wait) {
		int n = proxy_header(c);

		if (n < 0) {
			bad_request(s, c, "400 Bad Request");
			return;
		}
		if (n == 0)
			return;
		memmove(c->in, c->in + n, c->in_len - n);
		c->in_len -= n;
		c->pp_wait = 0;
	}

	while (again || c->in_parsed < c->in_len) {
		llhttp_errno_t err;
		unsigned pos;

		again = 0;
		err = llhttp_execute(&c->parser, c->in + c->in_parsed,
				     c->in_len - c->in_parsed);
		if (err == HPE_OK) {
			c->in_parsed = c->in_len;
			return;
		}
		if (err != HPE_PAUSED) {
			bad_request(s, c, "400 Bad Request");
			return;
		}
		pos = llhttp_get_error_pos(&c->parser) - c->in;
		c->in_parsed = pos;
		llhttp_resume(&c->parser);
		if (c->pause == KB_PAUSE_HEAD) {
			c->pause = KB_PAUSE_NONE;
			if (request_head(s, c, pos) < 0) {
				bad_request(s, c, "400 Bad Request");
				return;
			}
			again = 1;  /* a body-less request completes right here */
		} else if (c->pause == KB_PAUSE_MSG) {
			request_done(s, c);
			return;
		}
	}
}

/*
 * Write what is queued. Returns 0 when all is out, 1 when the socket is full
 * or the response is held by a timer, -1 on error.
 */
static int conn_flush(struct kb_conn *c)
{
	ssize_t n;

	if (c->tq && !c->lingering)
		return 1;               /* /slow-head: held until its timer */
	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | (c->stream_left ? MSG_MORE : 0));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -1;
		}
		c->out_off += n;
	}
	c->out_len = c->out_off = 0;
	while (c->stream_left) {
		size_t off = c->stream_pos & (KB_PATTERN_LEN - 1);
		size_t len = KB_PATTERN_LEN - off;

		if (len > c->stream_left)
			len = c->stream_left;
		n = send(c->fd, kb_pattern + off, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -1;
		}
		c->stream_pos += n;
		c->stream_left -= n;
	}
	while (c->echo && c->echo_off < c->in_len) {
		n = send(c->fd, c->in + c->echo_off, c->in_len - c->echo_off,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -1;
		}
		c->echo_off += n;
	}
	return 0;
}

/* Read once. Returns 1 when something (data or EOF) came, 0 when the
 * socket is drained, -1 on error. */
static int conn_read(struct kb_server *s, struct kb_conn *c)
{
	size_t room;
	ssize_t n;

	if (!c->readable)
		return 0;
	if (c->echo || c->lingering || c->mute) {
		c->in_len = c->echo_off = 0;   /* flushed or dropped */
	} else if (c->msg_start >= 0) {
		/* a head is still coming: keep it whole, at the front */
		if (c->msg_start > 0 && KB_IN_CAP - c->in_len < KB_IN_CAP / 4) {
			memmove(c->in, c->in + c->msg_start, c->in_len - c->msg_start);
			c->in_len -= c->msg_start;
			c->in_parsed -= c->msg_start;
			c->msg_start = 0;
		}
		if (c->in_len == KB_IN_CAP) {
			bad_request(s, c, "431 Request Header Fields Too Large");
			return 1;
		}
	} else if (c->in_parsed == c->in_len) {
		c->in_len = c->in_parsed = 0;  /* all parsed: bodies are not kept */
	}
	room = KB_IN_CAP - c->in_len;
	for (;;) {
		n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n > 0) {
		c->in_len += n;
		/* edge-triggered: a short read drained the socket, and data that
		 * arrives later raises a new edge; but a FIN that came with the
		 * data (a client half-closing after its request) raises none:
		 * with one seen, read on to the EOF */
		if ((size_t)n < room && !c->hup)
			c->readable = 0;
		return 1;
	}
	if (n == 0) {
		c->eof = 1;
		return 1;
	}
	if (errno == EAGAIN) {
		c->readable = 0;
		return 0;
	}
	return -1;
}

/* Move a connection as far as it can go without blocking. */
static void conn_run(struct kb_server *s, struct kb_conn *c)
{
	for (;;) {
		int r = conn_flush(c);

		if (r < 0) {
			conn_close(s, c);
			return;
		}
		if (r > 0)
			return;                 /* EPOLLOUT or the timer resumes */
		if (c->resp_active) {
			c->resp_active = 0;
			if (c->reset_after) {
				struct linger lg = { .l_onoff = 1, .l_linger = 0 };

				setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				conn_close(s, c);
				return;
			}
			if (c->close_after) {
				conn_linger(s, c);
				if (c->fd < 0)
					return;
			}
		}
		if (c->lingering || c->mute) {
			if (c->eof) {
				conn_close(s, c);
				return;
			}
		} else if (!c->echo) {
			conn_parse(s, c);
			if (c->resp_active || c->out_len)
				continue;
		}
		if (c->eof) {
			/* requests already read were answered above */
			conn_close(s, c);
			return;
		}
		r = conn_read(s, c);
		if (r < 0) {
			conn_close(s, c);
			return;
		}
		if (r == 0)
			return;
	}
}

static void do_accept(struct kb_server *s, int lfd)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
		struct kb_conn *c;
		int one = 1;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				fprintf(stderr, "kbal-backend: accept: %s\n", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = conn_new(s, fd);
		if (!c) {
			close(fd);
			continue;
		}
		ev.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			conn_close(s, c);
			continue;
		}
		conn_run(s, c);
	}
}

/* Fire due timers: release held responses, end lingering closes. */
static void run_timers(struct kb_server *s)
{
	unsigned long long now = now_ns();
	struct kb_conn *c;

	while ((c = s->slowq.head) && c->deadline_ns <= now) {
		timer_del(c);
		conn_run(s, c);
	}
	while ((c = s->lingerq.head) && c->deadline_ns <= now)
		conn_close(s, c);
}

static int next_timeout_ms(struct kb_server *s)
{
	unsigned long long now = now_ns(), next = ~0ull;

	if (s->slowq.head)
		next = s->slowq.head->deadline_ns;
	if (s->lingerq.head && s->lingerq.head->deadline_ns < next)
		next = s->lingerq.head->deadline_ns;
	if (next == ~0ull)
		return -1;
	if (next <= now)
		return 0;
	return (int)((next - now + 999999) / 1000000);
}

static int parse_listen(const char *arg, struct sockaddr_in *sa)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(arg, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - arg) >= sizeof(ip))
		return -1;
	memcpy(ip, arg, colon - arg);
	ip[colon - arg] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

/* a listening socket on sa with option opt (SO_REUSEADDR or SO_REUSEPORT)
 * set; -1 with the reason printed */
static int listen_on(const struct sockaddr_in *sa, int opt, const char *what)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, opt, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
		fprintf(stderr, "kbal-backend: %s: %s\n", what, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kbal-backend --listen IP:PORT --name NAME [--log FILE] [--shared IP:PORT]\n"
		   "                    [--proxy-protocol]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'L' },
		{ "shared", required_argument, NULL, 's' },
		{ "proxy-protocol", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct epoll_event evs[KB_MAX_EVENTS];
	struct kb_server s = { .epfd = -1, .lfd = { -1, -1 }, .sfd = -1, .logfd = -1 };
	const char *listen_arg = NULL, *log_path = NULL, *shared_arg = NULL;
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_in sa, shared_sa;
	socklen_t salen = sizeof(sa);
	char ip[INET_ADDRSTRLEN];
	sigset_t mask;
	int opt, ret = 1, running = 1;

	while ((opt = getopt_long(argc, argv, "l:n:L:s:Ph", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen_arg = optarg; break;
		case 'n': s.name = optarg; break;
		case 'L': log_path = optarg; break;
		case 's': shared_arg = optarg; break;
		case 'P': s.proxy_protocol = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!listen_arg || !s.name || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strlen(s.name) > KB_NAME_MAX) {
		fprintf(stderr, "kbal-backend: name longer than %d\n", KB_NAME_MAX);
		return 2;
	}
	if (parse_listen(listen_arg, &sa) < 0) {
		fprintf(stderr, "kbal-backend: bad --listen '%s' (want IP:PORT)\n", listen_arg);
		return 2;
	}
	if (shared_arg && (parse_listen(shared_arg, &shared_sa) < 0 || !shared_sa.sin_port)) {
		fprintf(stderr, "kbal-backend: bad --shared '%s' (want IP:PORT, port not 0)\n",
			shared_arg);
		return 2;
	}

	pattern_init();
	llhttp_settings_init(&s.settings);
	s.settings.on_method = on_method;
	s.settings.on_headers_complete = on_headers_complete;
	s.settings.on_body = on_body;
	s.settings.on_message_complete = on_message_complete;
	s.slowq.delay_ns = KB_SLOW_NS;
	s.lingerq.delay_ns = KB_LINGER_NS;

	if (log_path) {
		s.logfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (s.logfd < 0) {
			fprintf(stderr, "kbal-backend: %s: %s\n", log_path, strerror(errno));
			goto cleanup;
		}
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	if (s.sfd < 0) {
		fprintf(stderr, "kbal-backend: signalfd: %s\n", strerror(errno));
		goto cleanup;
	}
	s.lfd[0] = listen_on(&sa, SO_REUSEADDR, listen_arg);
	if (s.lfd[0] < 0 || getsockname(s.lfd[0], (struct sockaddr *)&sa, &salen) < 0)
		goto cleanup;
	if (shared_arg && (s.lfd[1] = listen_on(&shared_sa, SO_REUSEPORT, shared_arg)) < 0)
		goto cleanup;
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(s.addr, sizeof(s.addr), "%s:%u", ip, ntohs(sa.sin_port));

	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.epfd < 0) {
		fprintf(stderr, "kbal-backend: epoll: %s\n", strerror(errno));
		goto cleanup;
	}
	for (int i = 0; i < 2; i++) {
		ev.data.ptr = &kb_tag_listen[i];
		if (s.lfd[i] >= 0)
			epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.lfd[i], &ev);
	}
	ev.data.ptr = &kb_tag_signal;
	epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.sfd, &ev);

	printf("kbal-backend %s listening on %s\n", s.name, s.addr);
	fflush(stdout);

	while (running) {
		int n = epoll_wait(s.epfd, evs, KB_MAX_EVENTS, next_timeout_ms(&s));

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "kbal-backend: epoll_wait: %s\n", strerror(errno));
			goto cleanup;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			struct kb_conn *c = tag;

			if (tag == &kb_tag_listen[0] || tag == &kb_tag_listen[1]) {
				do_accept(&s, s.lfd[tag == &kb_tag_listen[1]]);
			} else if (tag == &kb_tag_signal) {
				running = 0;
			} else if (c->fd >= 0) {
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					c->readable = 1;
				if (evs[i].events & (EPOLLRDHUP | EPOLLHUP))
					c->hup = 1;
				conn_run(&s, c);
			}
		}
		run_timers(&s);
		while (s.dead) {
			struct kb_conn *c = s.dead;

			s.dead = c->next_free;
			c->next_free = s.free_list;
			s.free_list = c;
		}
	}
	ret = 0;
cleanup:
	/* open connections close with the process; their memory is freed,
	 * so that a leak checker (make SANITIZE=1) reports only real leaks */
	while (s.all) {
		struct kb_conn *c = s.all;

		s.all = c->next_all;
		free(c);
	}
	if (s.epfd >= 0)
		close(s.epfd);
	for (int i = 0; i < 2; i++)
		if (s.lfd[i] >= 0)
			close(s.lfd[i]);
	if (s.sfd >= 0)
		close(s.sfd);
	if (s.logfd >= 0)
		close(s.logfd);
	return ret;
}
