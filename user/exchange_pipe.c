// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* exchange_pipe.c - a long body spliced through a pipe (exchange_pipe.h) */
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
	for (int dir = 0; dir < 2; dir++) {
		if (!(f->piped & (1u << dir)))
			continue;
		close(f->pipe[dir][0]);
		close(f->pipe[dir][1]);
		f->in_pipe[dir] = 0;
		pipes--;
	}
	f->piped = 0;
}

/* a direction's buffer has nothing kbald has yet to parse or write */
static int buffer_out(const struct kbal_first *f, int dir)
{
	return f->fed[dir] == f->len[dir] && f->fwd[dir] == f->len[dir] &&
	       f->out_sent[dir] == f->out_len[dir];
}

/* What is left of direction dir's body to splice, 0 where it is not one
 * to: a request kbald sends on a kept member connection, its Content-
 * Length body all but what kbald read with the head (nothing to check,
 * nothing waiting for a 100 Continue, no spool, no chunks); an answer
 * kbald follows to its end there, past what llhttp was given. */
static uint64_t body_left(const struct kbal_conn *c, int dir)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *m = &f->msg[dir];

	if (!c->pool || c->local || c->mboxed || !c->connected || !buffer_out(f, dir))
		return 0;
	if (dir == UP) {
		if (c->phase[UP] != P_FLUSH || m->chunked || m->content_length <= 0 || f->do100 ||
		    f->spool || f->spooled || f->ck_stream || m->expect_continue ||
		    c->rd[CLIENT] >= f->msg_total[UP])
			return 0;
		return f->msg_total[UP] - c->rd[CLIENT];
	}
	if (c->phase[DOWN] != P_BODY || f->dechunk || m->chunked || m->content_length < 0 ||
	    m->done || m->error)
		return 0;
	/* the last byte is llhttp's: it ends the message */
	return m->parser.content_length > 1 ? m->parser.content_length - 1 : 0;
}

/* f->piped: bit dir, pipe[dir] open; bit 2 + dir, none to be had for this
 * exchange (it copies, without asking again at each read) */
#define PIPE_NONE(dir)  (4u << (dir))

static int pipe_open(struct kbal_daemon *d, struct kbal_first *f, int dir)
{
	f->piped |= PIPE_NONE(dir);
	/* two descriptors more than the budget counts: none past it */
	if (kbal_fds_held(d) + 2 > d->acc.fd_budget)
		return -1;
	if (pipe2(f->pipe[dir], O_NONBLOCK | O_CLOEXEC))
		return -1;
	/* refused (a user past pipe-user-pages-soft, kbald's dedicated one
	 * without CAP_SYS_RESOURCE, gets pipes of two pages): a pipe smaller
	 * than the head buffer moves less per call than a copy does */
	if (fcntl(f->pipe[dir][1], F_SETPIPE_SZ, PIPE_SIZE) < 0 &&
	    fcntl(f->pipe[dir][1], F_GETPIPE_SZ) < (int)PIPE_BODY_MIN) {
		close(f->pipe[dir][0]);
		close(f->pipe[dir][1]);
		return -1;
	}
	f->piped = (f->piped & ~PIPE_NONE(dir)) | 1u << dir;
	f->in_pipe[dir] = 0;
	pipes++;
	return 0;
}

int exch_pipe_write(struct kbal_conn *c, int dir)
{
	struct kbal_first *f = c->f;
	int to = dir_dst(dir), moved = 0;

	while (f->in_pipe[dir]) {
		ssize_t n = splice(f->pipe[dir][0], NULL, c->fd[to], NULL, f->in_pipe[dir],
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

		if (n > 0) {
			f->in_pipe[dir] -= n;
			c->wr[to] += n;
			moved = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			c->fin[to] = 2;
		else
			exch_send_failed(c, to);
		break;
	}
	return moved;
}

int exch_pipe_read(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	struct kbal_first *f = c->f;
	uint64_t left = body_left(c, dir);
	int from = dir_src(dir), to = dir_dst(dir), moved = 0;

	if (!left || (!(f->piped & (1u << dir)) && (left < PIPE_BODY_MIN ||
						    (f->piped & PIPE_NONE(dir)) ||
						    pipe_open(d, f, dir))))
		return -1;
	/* (fin 1 on the destination is its EOF read: it may still be
	 * written to; 2 is gone) */
	if (c->fin[from] || c->fd[to] < 0 || c->fin[to] == 2)
		return 0;
	while (left) {
		uint64_t ask = left < PIPE_SIZE ? left : PIPE_SIZE;
		ssize_t n;

		/* the pipe is emptied before it is filled again: a fill never
		 * finds it full, and EAGAIN means the source is dry */
		moved |= exch_pipe_write(c, dir);
		if (f->in_pipe[dir] || c->fin[to] == 2 || c->empty[from])
			return moved;
		n = splice(c->fd[from], NULL, f->pipe[dir][1], NULL, ask,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			f->in_pipe[dir] = n;
			c->rd[from] += n;
			if (dir == DOWN)   /* as if llhttp had read them */
				f->msg[DOWN].parser.content_length -= n;
			left -= n;
			moved = 1;
			continue;
		}
		if (n == 0) {
			c->fin[from] = 1;   /* the body cut short (conn_dir_step()) */
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->empty[from] = 1;
		else
			c->fin[from] = 2;   /* reset: handled as an abort */
		return moved;
	}
	return exch_pipe_write(c, dir) | moved;
}
