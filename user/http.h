/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * http.h - llhttp glue for the first exchange of a connection.
 *
 * kbald parses only the first request and the first response of each
 * client connection; everything after is spliced. Spans are offsets into
 * the connection's own buffer (base), so nothing is copied while parsing.
 * Parsing is strict: anything two parsers could frame differently is an
 * error here (Content-Length with Transfer-Encoding, differing duplicate
 * Content-Lengths, bad chunk sizes, white space before a colon), because
 * once spliced the member frames the bytes on its own.
 *
 * http.c parses (http_edit.c: the request line, de-chunking, a parsed
 * head edited in place); http_head.c reads a parsed head and builds the
 * heads kbald sends on.
 */
#ifndef KBAL_HTTP_H
#define KBAL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <llhttp.h>

#define KBAL_HTTP_MAX_HEADERS 128
#define KBAL_HTTP_HEAD_BUF    16384    /* kbald reads a request head this long at most */

/* httpd's limits on a request head (LimitRequestLine, LimitRequestFieldSize,
 * LimitRequestFields; 0: none), measured as httpd reads lines: a line of
 * limit + 2 bytes or more, its CRLF aside, is over the limit */
struct kbal_http_limits {
	uint32_t line;                 /* default 8190: 414 */
	uint32_t field;                /* default 8190: 400 */
	uint32_t fields;               /* default 100: 400 */
};

enum kbal_http_rc {
	KBAL_HTTP_ERROR = -1,  /* malformed: 400 (request) / 502 (response) */
	KBAL_HTTP_AGAIN = 0,   /* everything given was consumed, need more */
	KBAL_HTTP_HEAD  = 1,   /* header block complete; *used ends at it */
	KBAL_HTTP_DONE  = 2,   /* message complete; *used ends at it */
};

struct kbal_span {
	uint32_t off;          /* from base */
	uint32_t len;
};

struct kbal_http_header {
	struct kbal_span name;
	struct kbal_span value;
};

struct kbal_http_msg {
	llhttp_t parser;
	struct kbal_span method;       /* requests */
	struct kbal_span url;          /* requests: request-target as sent */
	struct kbal_span start_line;   /* request-/status-line without CRLF (after HEAD) */
	unsigned status;               /* responses */
	unsigned http_major, http_minor; /* requests: 1.1 for any version from
					  * 1.1 up (what llhttp was told) */
	unsigned proto_major, proto_minor; /* requests: the version as sent
					    * (HTTP/2.0), for logs and Via */
	unsigned nheaders;
	struct kbal_http_header headers[KBAL_HTTP_MAX_HEADERS];
	uint32_t head_len;             /* offset just past the blank line (after HEAD) */
	uint32_t msg_end;              /* offset just past the message (after DONE) */
	int64_t content_length;        /* -1 when absent */
	uint8_t chunked;
	uint8_t upgrade;               /* Upgrade/CONNECT that llhttp accepted */
	uint8_t keep_alive;            /* llhttp_should_keep_alive() at HEAD */
	uint8_t expect_continue;
	uint8_t head_done;
	uint8_t done;
	uint8_t in_value;              /* callback state: joining split spans */
	uint8_t skip_body;             /* responses: set by the caller before feeding
	                                * when the request was HEAD, so the head is
	                                * the whole message (kept by kbal_http_next) */
	char *dc_buf;                  /* kbal_http_feed_dechunked(): the buffer */
	size_t dc_at;                  /* and where the next body byte goes */
	const char *error;             /* llhttp's reason, after ERROR */
	unsigned refuse;               /* after ERROR: the answer's status when
					* not 400 (414: a request line too long) */
	/* requests: the head's lines against the limits, as they come */
	const struct kbal_http_limits *limits;  /* NULL: none */
	uint32_t ls;                   /* where the current line starts */
	uint32_t nlines;               /* lines of the head ended, the blank
					* ones before the request line aside */
	uint8_t lim_started;
	uint8_t rl_started;
	uint32_t rl_from;              /* requests: where the line under way starts */
	uint8_t line_done;             /* requests: the request line read (reqline.h) */
	uint8_t http09;                /* requests: an HTTP/0.9 line, the whole request
					* (no header block, no body; 1.0 to
					* llhttp's fields, 0.9 as sent) */
	uint8_t head;                  /* requests: the line's method is HEAD, whether
					* the line is taken or refused (httpd's
					* header_only, set as it reads the method) */
	uint8_t synth;                 /* llhttp is reading the line kbald gives it */
	/* internal: where the current feed started, to turn pointers into offsets */
	const char *base;
};

/* limits (may be NULL) are checked as the head comes (kbal_http_feed():
 * ERROR with m->refuse) and must outlive m */
void kbal_http_init_request(struct kbal_http_msg *m, const struct kbal_http_limits *limits);

/* The status for a request head that filled len bytes of buffer without
 * its end: 414 (its request line is over LimitRequestLine), 400 (the line
 * under way is over LimitRequestFieldSize), else 431 (more than kbal's
 * buffer, within httpd's limits) */
unsigned kbal_http_head_overflow(const struct kbal_http_msg *m, uint32_t len);
void kbal_http_init_response(struct kbal_http_msg *m);

/*
 * Parse base[off, off+len). Returns HEAD once at the end of the header
 * block (m->head_len set) and DONE at the end of the message (m->msg_end
 * set), each time with *used = bytes of this call consumed up to that
 * point; call again with the rest. AGAIN: all consumed. The same base
 * must be passed on every call (spans are offsets from it). A response
 * whose status is 1xx (but 101) ends as DONE; call kbal_http_next() and
 * feed the rest for the final response.
 *
 * When the message ends with its head (no body), m->done is already set
 * when HEAD is returned, and the next call returns DONE with *used = 0
 * even when len is 0; after DONE every call returns DONE until
 * kbal_http_next(). DONE with m->upgrade: the bytes after msg_end belong
 * to another protocol (Upgrade, CONNECT, 101). A response framed by the
 * connection's close never reaches DONE. ERROR sets m->error and sticks.
 */
int kbal_http_feed(struct kbal_http_msg *m, const char *base, size_t off,
		   size_t len, size_t *used);

/*
 * kbal_http_feed() on a chunked message's body, for a client that cannot
 * read chunks (HTTP/1.0, as httpd de-chunks a member's answer for it), or
 * a request's, which goes with its length or chunked again (exchange.c):
 * the body bytes of base[off, off + *used) are moved to base[off, off +
 * *kept), in order, their chunk framing (sizes, extensions, CRLFs, the
 * last chunk, trailers) dropped. The caller closes the gap (base[off +
 * *used..] moved to off + *kept); after DONE, m->msg_end is off + *kept.
 */
int kbal_http_feed_dechunked(struct kbal_http_msg *m, char *base, size_t off, size_t len,
			     size_t *used, size_t *kept);

/* Reset for the next message on the same connection (after a 1xx): a
 * parser anew. */
void kbal_http_next(struct kbal_http_msg *m);

/* kbal_http_lines(): what httpd makes of a member's head llhttp refused */
enum {
	KBAL_LINES_OTHER = 0,  /* none of the below: llhttp's refusal stands */
	KBAL_LINES_AGAIN,      /* the head does not end within the bytes yet */
	KBAL_LINES_BAD,        /* a line without ':', or with a NUL: mod_proxy_http's
				* 502 (ap_proxy_read_headers() gives up) */
	KBAL_LINES_REFUSED,    /* a line check_headers() refuses (an empty name, a
				* byte no token holds in one, a control byte but
				* tab in a value): a final head's 500; an interim
				* one goes with its lines as read */
	KBAL_LINES_AS_READ,    /* none of those, but a form llhttp refuses that
				* httpd reads (a bare LF, a CR before a line's
				* CRLF, VT or FF about a value, IIS's stray status
				* line): the head as httpd read it parses
				* (kbal_http_lines_write()) */
};

/*
 * The member's head at base[off, len) (its status line first, HTTP/1.x),
 * which llhttp refused, as httpd reads it (http_lines.c): KBAL_LINES_*.
 * With m, an interim head's (1xx, a 101 too) REFUSED fills m as a parse would
 * have (its status line, status, its lines as httpd keeps them: the name
 * up to ':', the value without the white space around it; head_len, done),
 * for its head to be written as httpd writes it.
 */
int kbal_http_lines(struct kbal_http_msg *m, const char *base, uint32_t off, uint32_t len);

/*
 * The head at base[off, len) (KBAL_LINES_AS_READ) written to out as httpd
 * read it: its status line, each line "Name: value" (the value without
 * the apr_isspace() bytes about it), IIS's stray status lines left out,
 * every line ending in CRLF. Its length (*end: where the head ended in
 * base), or -1 where it does not fit in outlen.
 */
ssize_t kbal_http_lines_write(const char *base, uint32_t off, uint32_t len, char *out,
			      size_t outlen, uint32_t *end);

/* The value of the first header called name (case-insensitive), or NULL. */
const struct kbal_http_header *kbal_http_find(const struct kbal_http_msg *m,
					      const char *base, const char *name);

/* A parsed head's header i given the value val[0..vlen) in place: the
 * bytes after it in base[0..*len) (cap at most) move, and every span past
 * it with them (m parsed to HEAD; the parser goes on from the caller's
 * offset, which moves by *delta too). 0, or -ENOSPC (nothing moved). */
int kbal_http_set_value(struct kbal_http_msg *m, char *base, uint32_t *len, uint32_t cap,
			unsigned i, const char *val, uint32_t vlen, long *delta);

/* The same for the request-target (parsed to HEAD): the header spans
 * after it move. */
int kbal_http_set_target(struct kbal_http_msg *m, char *base, uint32_t *len, uint32_t cap,
			 const char *val, uint32_t vlen, long *delta);

/* a balancer's stickysession= (cookie, URL parameter), stickysessionsep=
 * (0: Off) and scolonpathdelim= */
struct kbal_sticky {
	const char *cookie;
	const char *path;
	char sep;
	int scolon;
};

/*
 * Apache's sticky route (find_session_route()): the URL's parameter first,
 * as get_path_param() finds it (s->path followed by '=' anywhere in the
 * request-target, its value up to '?' or '&', or ';' too with
 * scolonpathdelim), else the value of cookie s->cookie in any Cookie
 * header; then what follows its first s->sep ("route.2" -> "2"; none:
 * no route; sep 0: the whole value). A URL value stops the cookie being
 * read. Returns the route's length (copied, NUL-terminated, into route),
 * or 0 when there is none or it does not fit in routelen.
 */
size_t kbal_http_sticky_route(const struct kbal_http_msg *m, const char *base,
			      const struct kbal_sticky *s, char *route, size_t routelen);

/*
 * 1 when the message has Connection headers and each says "close" alone:
 * the one-request connection whose member side may be kept for the next.
 */
int kbal_http_close_only(const struct kbal_http_msg *m, const char *base);

/*
 * 1 when the message has no Connection header, or only ones that say
 * "keep-alive" alone: a keep-alive request whose connection options kbald
 * may drop towards a kept member connection (nothing else is named
 * hop-by-hop, nothing asks for an upgrade).
 */
int kbal_http_keepalive_only(const struct kbal_http_msg *m, const char *base);

/* httpd's ap_proxy_clear_connection(): 1 where a Connection header of m
 * names the header name (one of its tokens, the whole token, without case) */
int kbal_http_connection_names(const struct kbal_http_msg *m, const char *base, const char *name);

/* httpd's ap_find_token() over the values of every header name: the
 * token tok, without case, where the value holds a token that starts it
 * (httpd compares the value's token's length only) */
int kbal_http_find_token(const struct kbal_http_msg *m, const char *base, const char *name,
			 const char *tok);

struct kbal_req_rewrite {
	size_t strip;              /* bytes of the URL path matched by ProxyPass */
	const char *target;        /* ProxyPass target path, e.g. "/" */
	const char *client_ip;     /* for X-Forwarded-For */
	const char *host;          /* Host to send; NULL keeps the client's */
	const char *server_name;   /* for X-Forwarded-Server */
	int keep_alive;            /* drop Connection and Keep-Alive: the member's
	                            * connection outlives the client's (pool) */
	int no_upgrade;            /* drop Connection and Upgrade: the member may
	                            * not switch protocols (no upgrade= for it),
	                            * as mod_proxy_http clears them */
	int close;                 /* drop Connection and Keep-Alive, say
	                            * "Connection: close": the connection's last
	                            * request (MaxKeepAliveRequests) on a member
	                            * connection of its own, which ends with it */
	int ka_line;               /* drop Connection and Keep-Alive, say
	                            * "Connection: Keep-Alive": the member's
	                            * connection is kept (mod_proxy_http's
	                            * terminate_headers() on a reusable one) */
	int http10;                /* force-proxy-request-1.0: "HTTP/1.0", and
	                            * Connection and Keep-Alive dropped, none
	                            * said (mod_proxy_http's force10) */
	int body_cl;               /* a chunked body that came whole goes
	                            * de-chunked (kbal_http_feed_dechunked()):
	                            * Transfer-Encoding and Content-Length
	                            * dropped, "Content-Length: body_len" last */
	uint64_t body_len;
	int no_xfwd;               /* ProxyAddHeaders Off: no X-Forwarded-* */
	const char *via;           /* ProxyVia On|Full: merged into Via, NULL none */
	int expect;                /* 1: "Expect: 100-Continue" added where the
	                            * client sent none (ping=); -1: the client's
	                            * Expect dropped (no do_100_continue) */
	int via_block;             /* ProxyVia Block: the client's Via lines dropped */
};

/*
 * The request head to send to the member, in HTTP/1.1 whatever the
 * client's version (mod_proxy_http's; HTTP/1.0 with rw->http10): request-target rewritten to
 * target + (url minus its first `strip` bytes), Host replaced when
 * rw->host (added after the request line when the client sent none),
 * the other headers kept in order, X-Forwarded-For/-Host/-Server (each
 * only when it has a value) merged as mod_proxy_http does
 * (appended as ", value" to an existing header, else added). Returns its
 * length, or -1 when it does not fit in outlen; out is NUL-terminated
 * when there is room left for it.
 */
ssize_t kbal_http_build_request(const struct kbal_http_msg *m, const char *base,
				const struct kbal_req_rewrite *rw,
				char *out, size_t outlen);

struct kbal_rev_rule {
	const char *from;          /* member URL prefix: "http://127.0.0.1:18081/" */
	const char *to;            /* local path: "/" */
	int vhost;                 /* its <VirtualHost>, -1: the server's (every one's) */
};

/*
 * The response head to send to the client: Location, Content-Location
 * and URI values starting with a rule's `from` are rewritten to
 * client_base + to + rest (ProxyPassReverse, first matching rule; no
 * "//" where `to` ends and rest starts with '/'; client_base is left out
 * when NULL or when `to` is a whole URL), and extra (complete header
 * lines, each ending in CRLF, or NULL) is added at the end of the header
 * block; Date, Expires and Last-Modified values go as mod_proxy_http's
 * date_canon() writes them (date_canon.h). conn says what the client's connection does after it, when that
 * is not what the member's does (a kept connection: the member's
 * Connection and Keep-Alive lines are dropped): KBAL_RESP_CLOSE, it ends
 * ("Connection: close" is said), KBAL_RESP_KEEP, it goes on (HTTP/1.1's
 * default: nothing is said); KBAL_RESP_AS_IS passes the member's
 * Connection lines on; KBAL_RESP_NO_TE (or'ed in) drops Transfer-Encoding.
 * From any head but a 101's, the lines mod_proxy_http drops go (those
 * Connection names but Content-Length and Transfer-Encoding, Keep-Alive,
 * Proxy-Authenticate, TE, Trailer, Upgrade); on any, the Set-Cookie lines
 * go after the others, in their order, as it writes them.
 * The status line is copied as received. Returns its length, or -1 if too
 * long; out is NUL-terminated when there is room left for it.
 */
enum { KBAL_RESP_AS_IS = 0, KBAL_RESP_CLOSE = 1, KBAL_RESP_KEEP = 2 };
/* or'ed into conn: the Transfer-Encoding lines dropped too (the body goes
 * de-chunked, kbal_http_feed_dechunked(), to a client that ends with it) */
#define KBAL_RESP_NO_TE 4
/* or'ed into conn: force-response-1.0, the status line says HTTP/1.0
 * (else HTTP/1.1 whatever the member's, as httpd writes it) */
#define KBAL_RESP_V10 8
/* or'ed into conn: an interim (1xx) head, as ap_send_interim_response()
 * writes it: "HTTP/1.1" (force-response-1.0 or not), without the lines
 * mod_proxy_http drops from every answer (Connection and those it names,
 * Keep-Alive, Proxy-Authenticate, TE, Trailer, Upgrade) */
#define KBAL_RESP_INTERIM 16
ssize_t kbal_http_build_response(const struct kbal_http_msg *m, const char *base,
				 const struct kbal_rev_rule *rules, size_t nrules,
				 const char *client_base, const char *extra, int conn,
				 char *out, size_t outlen);

#endif /* KBAL_HTTP_H */
