/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * exchange_pipe.h - a long response body kbald relays itself (a request it
 * decided, on a kept member connection), moved from the member's socket to
 * the client's with splice(2) through a pipe of the exchange's own: the
 * pages go by reference, no byte is copied to kbald and back, and a call
 * moves up to the pipe's size, not the head buffer's 16 KiB.
 *
 * Only a body of a known length (Content-Length), from where kbald's
 * buffer is written out to one byte before the body's end: llhttp is told
 * of the bytes that went by (its content_length), and reads the last one
 * itself, so it ends the message as for any other. The pipe is emptied
 * into the client before anything else is read: what kbald's buffer holds
 * next comes after it on the wire.
 */
#ifndef KBAL_EXCHANGE_PIPE_H
#define KBAL_EXCHANGE_PIPE_H

struct kbal_daemon;
struct kbal_conn;
struct kbal_first;

/* the pipes open, two descriptors each (kbal_fds_held()) */
unsigned exch_pipes_held(void);

/* Read the member's side: into the pipe, and on to the client, where the
 * body may go so; -1 where it may not (exch_read() reads it), else 1 on
 * progress, 0 without. */
int exch_pipe_read(struct kbal_daemon *d, struct kbal_conn *c);

/* What the pipe holds, written to the client; 1 on progress. The rest of
 * the response waits while it holds any (f->in_pipe). */
int exch_pipe_write(struct kbal_conn *c);

/* the exchange's pipe closed (its buffers freed or reused) */
void exch_pipe_close(struct kbal_first *f);

#endif
