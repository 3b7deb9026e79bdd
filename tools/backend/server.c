/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * server.c - the connections: accepted, read, written (a response's head
 * and body from the connection's buffer, /bytes/N straight out of the
 * pattern table), held by timers (/slow-head, a lingering close) and
 * closed. No allocation per request: a connection's buffers come from a
 * free list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "backend.h"

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ---- timers ----------------------------------------------------------- */

void timer_add(struct kb_timerq *q, struct kb_conn *c)
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

void msg_reset(struct kb_conn *c)
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
void conn_run(struct kb_server *s, struct kb_conn *c)
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

void do_accept(struct kb_server *s, int lfd)
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
void run_timers(struct kb_server *s)
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

int next_timeout_ms(struct kb_server *s)
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
