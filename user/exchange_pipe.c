// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* exchange_pipe.c - a long response body spliced through a pipe (exchange_pipe.h) */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "exchange.h"
#include "exchange_pipe.h"

/* a body this long (what is left of it) takes a pipe: below, its three
 * syscalls to open and close one cost more than the copies they save */
#define PIPE_BODY_MIN  (64u << 10)
/* the pipe's size asked for (the system's pipe-max-size is 1 MiB by
 * default; a refusal leaves 64 KiB): each round trip moves this much */
#define PIPE_SIZE      (256u << 10)

static unsigned pipes;

unsigned exch_pipes_held(void)
{
	return pipes;
}

void exch_pipe_close(struct kbal_first *f)
{
	if (!f->piped)
		return;
	close(f->pipe[0]);
	close(f->pipe[1]);
	f->piped = 0;
	f->in_pipe = 0;
	pipes--;
}

/* what is left of the body past what llhttp was given, 0 where the body
 * is not one to splice: a Content-Length body of a response kbald follows
 * to its end on a kept member connection, and its buffer written out */
static uint64_t body_left(const struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *rs = &f->msg[DOWN];

	if (c->phase[DOWN] != P_BODY || !c->pool || c->local || f->dechunk || rs->chunked ||
	    rs->content_length < 0 || rs->done || rs->error || c->mboxed)
		return 0;
	if (f->fed[DOWN] != f->len[DOWN] || f->fwd[DOWN] != f->len[DOWN] ||
	    f->out_sent[DOWN] != f->out_len[DOWN])
		return 0;
	return rs->parser.content_length;
}

static int pipe_open(struct kbal_daemon *d, struct kbal_first *f)
{
	/* two descriptors more than the budget counts: none past it */
	if (kbal_fds_held(d) + 2 > d->acc.fd_budget)
		return -1;
	if (pipe2(f->pipe, O_NONBLOCK | O_CLOEXEC))
		return -1;
	(void)fcntl(f->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	f->piped = 1;
	f->in_pipe = 0;
	pipes++;
	return 0;
}

int exch_pipe_write(struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	int moved = 0;

	while (f->in_pipe) {
		ssize_t n = splice(f->pipe[0], NULL, c->fd[CLIENT], NULL, f->in_pipe,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

		if (n > 0) {
			f->in_pipe -= n;
			c->wr[CLIENT] += n;
			moved = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* EAGAIN: the client's next write edge; else it is gone (as
		 * exch_write()'s send_failed(): fin 2) */
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS))
			c->fin[CLIENT] = 2;
		break;
	}
	return moved;
}

int exch_pipe_read(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	uint64_t left = body_left(c);
	int moved = 0;

	/* the last byte is llhttp's (it ends the message), and a short body
	 * is read as any other */
	if (left < 2 || (!f->piped && (left < PIPE_BODY_MIN || pipe_open(d, f))))
		return -1;
	if (c->fin[MEMBER] || c->fd[CLIENT] < 0 || c->fin[CLIENT])
		return 0;
	for (;;) {
		uint64_t ask = left - 1;
		ssize_t n;

		/* the pipe is emptied before it is filled again: a fill never
		 * finds it full, and EAGAIN means the member's side is dry */
		moved |= exch_pipe_write(c);
		if (f->in_pipe || c->fin[CLIENT] || c->empty[MEMBER])
			return moved;
		if (ask > PIPE_SIZE)
			ask = PIPE_SIZE;
		n = splice(c->fd[MEMBER], NULL, f->pipe[1], NULL, ask,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			f->in_pipe = n;
			c->rd[MEMBER] += n;
			/* as if llhttp had read them: its count of the body */
			f->msg[DOWN].parser.content_length -= n;
			left -= n;
			moved = 1;
			if (left < 2)
				return exch_pipe_write(c) | moved;
			continue;
		}
		if (n == 0) {
			c->fin[MEMBER] = 1;   /* the body cut short (conn_dir_step()) */
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->empty[MEMBER] = 1;
		else
			c->fin[MEMBER] = 2;   /* reset: handled as an abort */
		return moved;
	}
}
