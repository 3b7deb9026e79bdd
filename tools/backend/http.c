/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * http.c - requests read with llhttp, one at a time in arrival order
 * (pipelining: the next request is parsed only once the previous response
 * is in the socket), after the PROXY header with --proxy-protocol;
 * malformed requests get 400 and the connection is closed. And the heads
 * of responses, and the request log.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

#include "backend.h"

__attribute__((format(printf, 2, 3)))
void out_printf(struct kb_conn *c, const char *fmt, ...)
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

void out_put(struct kb_conn *c, const char *p, size_t n)
{
	if (n > KB_OUT_CAP - c->out_len)
		n = KB_OUT_CAP - c->out_len;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* The status line, then Date and Server as a web server sends them (each
 * unless the request's X-Omit names it), then X-Backend. */
void resp_status(struct kb_server *s, struct kb_conn *c, const char *status)
{
	static char date[48];
	static time_t made = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != made && gmtime_r(&now, &tm)) {
		strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		made = now;
	}
	out_printf(c, "HTTP/1.1 %s\r\n%s%sX-Backend: %s\r\n", status,
		   c->omit & KB_OMIT_DATE ? "" : date,
		   c->omit & KB_OMIT_SERVER ? "" : "Server: kbal-backend\r\n", s->name);
}

/* Status line and the headers every final response has. */
void resp_head(struct kb_server *s, struct kb_conn *c, int keep_alive,
		      const char *status, const char *ctype,
		      unsigned long long clen)
{
	const char *conn = "";

	if (!keep_alive)
		conn = "Connection: close\r\n";
	else if (c->parser.http_major == 1 && c->parser.http_minor == 0)
		conn = "Connection: keep-alive\r\n";
	resp_status(s, c, status);
	out_printf(c, "%s%s%s"
		   "Content-Length: %llu\r\n%s\r\n",
		   ctype ? "Content-Type: " : "",
		   ctype ? ctype : "", ctype ? "\r\n" : "", clen, conn);
}

void bad_request(struct kb_server *s, struct kb_conn *c,
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

int ieq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

int has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, tok, tl) == 0)
			return 1;
	return 0;
}

void log_request(struct kb_server *s, struct kb_conn *c,
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

void http_settings_init(llhttp_settings_t *settings)
{
	llhttp_settings_init(settings);
	settings->on_method = on_method;
	settings->on_headers_complete = on_headers_complete;
	settings->on_body = on_body;
	settings->on_message_complete = on_message_complete;
}

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

/*
 * Feed llhttp what was read. Stops at the end of a request (its response is
 * queued) or of the input. llhttp pauses at the end of each head and each
 * message, so error_pos says exactly where the head and the message end.
 */
void conn_parse(struct kb_server *s, struct kb_conn *c)
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
