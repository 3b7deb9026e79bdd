/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * backend.h - what kbal-backend's files share (main.c describes the
 * program): its limits, a connection, the server, and each file's entry
 * points. One thread; every function runs on it.
 *
 *   main.c       options, listening sockets, the epoll loop
 *   server.c     connections: accept, read, write, timers, close
 *   http.c       requests read with llhttp (and the PROXY header), response
 *                heads written
 *   endpoints.c  what each path answers (/bytes/N, /echo-headers, ...)
 *   faults.c     the /fault-* paths: members that misbehave
 *   websocket.c  Sec-WebSocket-Accept (SHA-1, base64)
 */
#ifndef KBAL_BACKEND_H
#define KBAL_BACKEND_H

#include <stddef.h>
#include <stdint.h>
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
	KB_COOKIES,
	KB_WEBSOCKET,
	KB_PROXY_CLIENT,
	KB_PEER,
	KB_STATUS,                    /* /status/NNN */
	KB_CLOSE_DELIM,               /* /close-delimited[/N] */
	KB_FAULT_MID,
	KB_FAULT_HANG,
	KB_FAULT_GARBAGE,
	KB_FAULT_RESET,
	KB_FAULT_CUT,
	KB_FAULT_SMUGGLE,
	KB_FAULT_STALL,
};

/* X-Omit: date, server (any case, either or both): the response has no
 * such line (a member that sends none: kbald adds httpd's own) */
#define KB_OMIT_DATE   1
#define KB_OMIT_SERVER 2

#define KB_FAULT_MID_LEN   100000ull     /* /fault-mid's (/fault-stall's) Content-Length */
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
	unsigned char then_close;     /* /then-close, 2: /then-reset,
				       * 3: /then-close-at-once, /close-at-once */
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
	unsigned char omit;           /* the request's X-Omit: KB_OMIT_* */

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

/* server.c */
void timer_add(struct kb_timerq *q, struct kb_conn *c);
void msg_reset(struct kb_conn *c);
void conn_run(struct kb_server *s, struct kb_conn *c);
void do_accept(struct kb_server *s, int lfd);
void run_timers(struct kb_server *s);
int next_timeout_ms(struct kb_server *s);

/* http.c */
__attribute__((format(printf, 2, 3)))
void out_printf(struct kb_conn *c, const char *fmt, ...);
void out_put(struct kb_conn *c, const char *p, size_t n);
void resp_status(struct kb_server *s, struct kb_conn *c, const char *status);
void resp_head(struct kb_server *s, struct kb_conn *c, int keep_alive,
	       const char *status, const char *ctype, unsigned long long clen);
void bad_request(struct kb_server *s, struct kb_conn *c, const char *status);
int ieq(const char *a, size_t alen, const char *b);
int has_token(const char *v, size_t n, const char *tok);
void log_request(struct kb_server *s, struct kb_conn *c, const char *method, size_t mlen);
void http_settings_init(llhttp_settings_t *settings);
void conn_parse(struct kb_server *s, struct kb_conn *c);

/* endpoints.c */
extern unsigned char kb_pattern[KB_PATTERN_LEN];   /* /bytes/N's period */
void pattern_init(void);
int request_head(struct kb_server *s, struct kb_conn *c, unsigned end);
void request_done(struct kb_server *s, struct kb_conn *c);

/* faults.c */
int fault_kind(const char *url, size_t len);      /* enum kb_kind, or -1 */
void request_fault(struct kb_server *s, struct kb_conn *c);

/* websocket.c: base64(sha1(key GUID)) into out[29] */
void ws_accept(const char *key, size_t len, char *out);

#endif
