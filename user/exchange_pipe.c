// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* exchange_pipe.c - a long body spliced through a pipe (exchange_pipe.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "exchange.h"
#include "exchange_pipe.h"

/* a body this long (what is left of it) takes a pipe: below, the splices
 * in and out of it save too little over a copy (and a connection's first
 * would pay the pipe's opening, three syscalls, and its two closes) */
#define PIPE_BODY_MIN  (64u << 10)
/* the pipe's size asked for (the system's pipe-max-size is 1 MiB by
 * default; a refusal leaves 64 KiB): each round trip moves this much */
#define PIPE_SIZE      (256u << 10)

/*
 * A connection's pipes, by direction, from the first long body that took
 * one to the connection's end or its handover (exch_pipe_close()): the
 * long bodies after it on the connection take them again, without a
 * pipe2(), fcntl() and two close() each. struct kbal_conn has no room for
 * four descriptors (its size is what a spliced connection costs): it holds
 * its slot's number (c->pipes: 1 + the slot here, 0: none).
 */
struct pipe_slot {
	int fd[2][2];         /* by direction: read, write end */
	uint8_t open;         /* bit dir: fd[dir] is a pipe */
	uint8_t idle;         /* bit dir: an open one no exchange has taken:
			       * empty (exch_pipe_rest()), closed first when
			       * descriptors run short (exch_pipes_release()) */
	uint32_t next_free;   /* a free slot's: 1 + the next free one, 0 none */
};

static struct pipe_slot *slots;
static uint32_t nslots;
static uint32_t free_slot;   /* 1 + the first free slot, 0: none */
static unsigned pipes;       /* open */
static unsigned idle;        /* of which idle */

unsigned exch_pipes_held(void)
{
	return pipes;
}

static struct pipe_slot *slot_of(const struct kbal_conn *c)
{
	return c->pipes ? &slots[c->pipes - 1] : NULL;
}

/* c's slot, a free one where it has none (more of them made); NULL: no
 * memory. Slots move when more are made: none is held across a call. */
static struct pipe_slot *slot_take(struct kbal_conn *c)
{
	struct pipe_slot *s;

	if (c->pipes)
		return &slots[c->pipes - 1];
	if (!free_slot) {
		uint32_t n = nslots ? 2 * nslots : 16;

		if (nslots > UINT32_MAX / 4 || !(s = realloc(slots, n * sizeof(*s))))
			return NULL;
		slots = s;
		for (uint32_t i = nslots; i < n; i++)
			slots[i] = (struct pipe_slot){ .next_free = i + 1 < n ? i + 2 : 0 };
		free_slot = nslots + 1;
		nslots = n;
	}
	c->pipes = free_slot;
	s = &slots[free_slot - 1];
	free_slot = s->next_free;
	s->next_free = 0;
	return s;
}

/* direction dir's pipe closed: its two descriptors back to the budget */
static void pipe_shut(struct pipe_slot *s, int dir)
{
	close(s->fd[dir][0]);
	close(s->fd[dir][1]);
	if (s->idle & (1u << dir))
		idle--;
	s->open &= ~(1u << dir);
	s->idle &= ~(1u << dir);
	pipes--;
}

void exch_pipe_close(struct kbal_conn *c)
{
	struct pipe_slot *s = slot_of(c);

	if (c->f) {
		c->f->in_pipe[UP] = c->f->in_pipe[DOWN] = 0;
		c->f->piped = 0;
	}
	if (!s)
		return;
	for (int dir = 0; dir < 2; dir++)
		if (s->open & (1u << dir))
			pipe_shut(s, dir);
	s->next_free = free_slot;
	free_slot = c->pipes;
	c->pipes = 0;
}

void exch_pipe_rest(struct kbal_conn *c)
{
	struct pipe_slot *s = slot_of(c);

	if (!s)
		return;
	for (int dir = 0; dir < 2; dir++) {
		unsigned bit = 1u << dir;

		if (!(s->open & bit) || (s->idle & bit))
			continue;
		/* bytes its exchange did not write on would go before the next
		 * body's: such a pipe is not kept */
		if (c->f && c->f->in_pipe[dir]) {
			pipe_shut(s, dir);
			continue;
		}
		s->idle |= bit;
		idle++;
	}
	if (c->f) {
		c->f->in_pipe[UP] = c->f->in_pipe[DOWN] = 0;
		c->f->piped = 0;
	}
}

unsigned exch_pipes_release(void)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < nslots && idle; i++)
		for (int dir = 0; dir < 2; dir++)
			if (slots[i].idle & (1u << dir)) {
				pipe_shut(&slots[i], dir);
				n++;
			}
	return n;
}

void exch_pipes_fini(void)
{
	free(slots);
	slots = NULL;
	nslots = free_slot = 0;
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
		    f->spool || f->spooled || f->ck_stream[UP] || m->expect_continue ||
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

/* f->piped: bit dir, this exchange's body of direction dir goes through
 * the connection's pipe; bit 2 + dir, none to be had for this exchange
 * (it copies, without asking again at each read) */
#define PIPE_NONE(dir)  (4u << (dir))

/* direction dir's pipe for this exchange: the connection's, or a new one */
static int pipe_take(struct kbal_daemon *d, struct kbal_conn *c, int dir)
{
	struct kbal_first *f = c->f;
	struct pipe_slot *s = slot_of(c);
	unsigned bit = 1u << dir;
	int fd[2];

	f->piped |= PIPE_NONE(dir);
	if (!s || !(s->open & bit)) {
		/* two descriptors more than the budget counts: none past it */
		if (kbal_fds_held(d) + 2 > d->acc.fd_budget)
			return -1;
		if (pipe2(fd, O_NONBLOCK | O_CLOEXEC))
			return -1;
		/* refused (a user past pipe-user-pages-soft, kbald's dedicated
		 * one without CAP_SYS_RESOURCE, gets pipes of two pages): a
		 * pipe smaller than the head buffer moves less per call than
		 * a copy does */
		if ((fcntl(fd[1], F_SETPIPE_SZ, PIPE_SIZE) < 0 &&
		     fcntl(fd[1], F_GETPIPE_SZ) < (int)PIPE_BODY_MIN) || !(s = slot_take(c))) {
			close(fd[0]);
			close(fd[1]);
			return -1;
		}
		s->fd[dir][0] = fd[0];
		s->fd[dir][1] = fd[1];
		s->open |= bit;
		pipes++;
	} else if (s->idle & bit) {
		/* empty: its last exchange wrote all of it on (exch_pipe_rest()) */
		s->idle &= ~bit;
		idle--;
	}
	f->piped = (f->piped & ~PIPE_NONE(dir)) | bit;
	f->in_pipe[dir] = 0;
	return 0;
}

int exch_pipe_write(struct kbal_conn *c, int dir)
{
	struct kbal_first *f = c->f;
	int to = dir_dst(dir), moved = 0;

	while (f->in_pipe[dir]) {
		ssize_t n = splice(slot_of(c)->fd[dir][0], NULL, c->fd[to], NULL, f->in_pipe[dir],
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
						    pipe_take(d, c, dir))))
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
		n = splice(c->fd[from], NULL, slot_of(c)->fd[dir][1], NULL, ask,
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
