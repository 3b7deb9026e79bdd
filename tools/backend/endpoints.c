/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * endpoints.c - what each request gets, decided when its head is complete,
 * first match wins:
 *   Upgrade: websocket   101, then every byte read is echoed until EOF
 *   request with a body  "len=N crc32=%08x\n" (after "100 Continue" if asked)
 *   /echo-headers        the request head exactly as received
 *   /bytes/N             N bytes, byte i = (i * 7 + (i >> 13)) & 0xff
 *   /redirect            302 to http://OWN_ADDR/landing
 *   /cookies             204 with Set-Cookie lines whose Path and Domain
 *                        are the member's (ProxyPassReverseCookie*)
 *   /proxy-client        "proxy=IP:PORT\n": the client the connection's PROXY
 *                        header named ("proxy=none" without --proxy-protocol)
 *   /peer                "peer=IP:PORT\n": the connection's own peer (which
 *                        kbal host of a cluster connected, from its address)
 *   /status/NNN          status NNN (200..599), "member said NNN\n", with a
 *                        WWW-Authenticate for 401 (ProxyErrorOverride)
 *   /close-delimited     a 200 whose body ("backend=NAME path=URL\n") ends
 *                        with the connection: no Content-Length, no
 *                        Transfer-Encoding, no Connection: close (a legacy
 *                        member's answer), then a close (FIN); with
 *                        /close-delimited/N, N pattern bytes as /bytes/N's
 *   /fault-*             faults.c
 *   anything else        "backend=NAME path=URL\n"
 * /close adds "Connection: close"; /then-close closes the connection after
 * the response without saying so (a keep-alive timeout's end, at once),
 * /then-reset resets it (RST); /then-close-at-once closes it as an
 * application that writes its answer and close()s at once: the FIN rides
 * in the segment of the answer's last bytes (corked until the close), and
 * /close-at-once the same with "Connection: close"; /slow-head holds its
 * response 300 ms.
 * Every final response has Date and Server (kbal-backend) after its status
 * line, but the one a request's "X-Omit: date, server" names (either).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "backend.h"

unsigned char kb_pattern[KB_PATTERN_LEN];

/* (i * 7 + (i >> 13)) & 0xff repeats every 2^21 bytes: 7 * 2^21 and
 * 2^21 >> 13 = 256 are both multiples of 256. */
void pattern_init(void)
{
	for (unsigned i = 0; i < KB_PATTERN_LEN; i++)
		kb_pattern[i] = (unsigned char)((i * 7u + (i >> 13)) & 0xff);
}

/* the path is p, or p and a query */
static int path_is(const char *url, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && memcmp(url, p, n) == 0 && (len == n || url[n] == '?');
}

/* A count in a path (/bytes/N): digits alone, at most KB_BYTES_MAX */
static int url_count(const char *p, size_t len, unsigned long long *n)
{
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9' || *n > KB_BYTES_MAX)
			return -1;
		*n = *n * 10 + (p[i] - '0');
	}
	return *n > KB_BYTES_MAX ? -1 : 0;
}

/*
 * The head in[msg_start, end) is complete and llhttp accepted it. Pick the
 * response and check what llhttp lets through but a member must refuse:
 * white space between a field name and its colon (RFC 9112 5.1).
 * Returns 0, or -1 for a bad request.
 */
int request_head(struct kb_server *s, struct kb_conn *c, unsigned end)
{
	const char *h = c->in + c->msg_start, *e = c->in + end;
	const char *p, *eol, *sp1, *sp2, *exp = NULL, *upg = NULL;
	size_t exp_len = 0, upg_len = 0;
	uint16_t flags = c->parser.flags;
	const char *url;

	c->head_off = c->msg_start;
	c->head_len = end - c->msg_start;
	c->msg_start = -1;
	c->omit = 0;

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
		} else if (ieq(p, colon - p, "x-omit")) {
			c->omit = (has_token(v, ve - v, "date") ? KB_OMIT_DATE : 0) |
				  (has_token(v, ve - v, "server") ? KB_OMIT_SERVER : 0);
		} else if (ieq(p, colon - p, "sec-websocket-key")) {
			ws_accept(v, ve - v, c->ws_accept);
		}
	}

	log_request(s, c, h, sp1 - h);

	url = c->in + c->url_off;
	c->is_head = c->parser.method == HTTP_HEAD;
	c->close_path = path_is(url, c->url_len, "/close") ||
			path_is(url, c->url_len, "/close-at-once");
	c->then_close = c->url_len >= 11 && memcmp(url, "/then-close", 11) == 0 &&
			(c->url_len == 11 || url[11] == '?');
	if (c->url_len >= 11 && memcmp(url, "/then-reset", 11) == 0 &&
	    (c->url_len == 11 || url[11] == '?'))
		c->then_close = 2;
	if (path_is(url, c->url_len, "/then-close-at-once") ||
	    path_is(url, c->url_len, "/close-at-once"))
		c->then_close = 3;
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
		if (url_count(url + 7, c->url_len - 7, &c->nbytes))
			return -1;
		c->kind = KB_BYTES;
	} else if (c->url_len >= 16 && memcmp(url, "/close-delimited", 16) == 0 &&
		   (c->url_len == 16 || url[16] == '?' || url[16] == '/')) {
		c->kind = KB_CLOSE_DELIM;
		c->nbytes = 0;
		if (c->url_len > 17 && url[16] == '/' &&
		    url_count(url + 17, c->url_len - 17, &c->nbytes))
			return -1;
	} else if (ieq(url, c->url_len, "/redirect")) {
		c->kind = KB_REDIRECT;
	} else if (ieq(url, c->url_len, "/cookies")) {
		c->kind = KB_COOKIES;
	} else if (ieq(url, c->url_len, "/proxy-client")) {
		c->kind = KB_PROXY_CLIENT;
	} else if (ieq(url, c->url_len, "/peer")) {
		c->kind = KB_PEER;
	} else if (c->url_len == 11 && memcmp(url, "/status/", 8) == 0 &&
		   url[8] >= '2' && url[8] <= '5' && url[9] >= '0' && url[9] <= '9' &&
		   url[10] >= '0' && url[10] <= '9') {
		c->kind = KB_STATUS;
		c->nbytes = (url[8] - '0') * 100 + (url[9] - '0') * 10 + (url[10] - '0');
	} else {
		int kind = fault_kind(url, c->url_len);

		if (kind >= 0)
			c->kind = kind;
	}
	return 0;
}

/* The request is complete: queue its response (held if /slow-head). */
void request_done(struct kb_server *s, struct kb_conn *c)
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
	case KB_PEER: {
		struct sockaddr_in6 sa = { 0 };
		socklen_t len = sizeof(sa);
		char ip[INET6_ADDRSTRLEN + 2] = "?";
		int n;

		/* IPv6 in brackets: "peer=[::1]:PORT" (sin_port and sin6_port
		 * are at one place) */
		if (getpeername(c->fd, (struct sockaddr *)&sa, &len))
			;
		else if (sa.sin6_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, ip, sizeof(ip));
		else if (sa.sin6_family == AF_INET6 && inet_ntop(AF_INET6, &sa.sin6_addr, ip + 1,
								    sizeof(ip) - 2)) {
			ip[0] = '[';
			strcat(ip, "]");
		}
		n = snprintf(line, sizeof(line), "peer=%s:%u\n", ip, ntohs(sa.sin6_port));
		resp_head(s, c, keep_alive, "200 OK", "text/plain", n);
		if (!c->is_head)
			out_put(c, line, n);
		break;
	}
	case KB_STATUS: {
		int n = snprintf(line, sizeof(line), "member said %llu\n", c->nbytes);
		char status[32];

		snprintf(status, sizeof(status), "%llu Member", c->nbytes);
		resp_status(s, c, status);
		out_printf(c, "%s"
			   "Content-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n",
			   c->nbytes == 401 ?
			   "WWW-Authenticate: Basic realm=\"member\"\r\n" : "", n,
			   keep_alive ? "" : "Connection: close\r\n");
		if (!c->is_head)
			out_put(c, line, n);
		break;
	}
	case KB_CLOSE_DELIM:
		/* its end is the connection's: closed after it, whatever
		 * the request asked */
		resp_status(s, c, "200 OK");
		out_printf(c, "Content-Type: %s\r\n\r\n",
			   c->nbytes ? "application/octet-stream" : "text/plain");
		if (c->nbytes) {
			c->stream_pos = 0;
			c->stream_left = c->is_head ? 0 : c->nbytes;
		} else if (!c->is_head) {
			out_printf(c, "backend=%s path=", s->name);
			out_put(c, c->in + c->url_off, c->url_len);
			out_put(c, "\n", 1);
		}
		keep_alive = 0;
		break;
	case KB_COOKIES:
		resp_status(s, c, "204 No Content");
		out_printf(c, "Set-Cookie: a=1; Path=/app/x; Domain=Backend.Internal; HttpOnly\r\n"
			   "Set-Cookie: b=2;path=/other\r\n"
			   "Set-Cookie: c=3; domain=backend.internal.x; path=/app\r\n%s\r\n",
			   keep_alive ? "" : "Connection: close\r\n");
		break;
	case KB_REDIRECT:
		resp_status(s, c, "302 Found");
		out_printf(c, "Location: http://%s/landing\r\nContent-Length: 0\r\n%s\r\n",
			   s->addr, keep_alive ? "" : "Connection: close\r\n");
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
	if (c->then_close == 3) {
		/* corked: nothing leaves before the close, whose FIN goes in the
		 * answer's last segment (tcp_send_fin() sets it on the tail) */
		int one = 1;

		setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
	}
	if (c->slow)
		timer_add(&s->slowq, c);
	msg_reset(c);
}
