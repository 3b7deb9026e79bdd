/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * exchange_pipe.h - a long body kbald relays itself on a kept member
 * connection (a request it decided: its body up, its answer's down),
 * moved from one socket to the other with splice(2) through a pipe of the
 * exchange's own, one per direction: the pages go by reference, no byte
 * is copied to kbald and back, and a call moves up to the pipe's size,
 * not the head buffer's 16 KiB.
 *
 * Only a body of a known length (Content-Length), from where kbald's
 * buffer of that direction is written out: a request's to its end (kbald
 * knows where it ends, llhttp has nothing to check in it), an answer's to
 * one byte before its end (llhttp is told of the bytes that went by, its
 * content_length, and reads the last one itself, so it ends the message
 * as for any other). The pipe is emptied before anything else of its
 * direction is read or written: what kbald's buffer holds next comes after
 * it on the wire.
 */
#ifndef KBAL_EXCHANGE_PIPE_H
#define KBAL_EXCHANGE_PIPE_H

struct kbal_daemon;
struct kbal_conn;
struct kbal_first;

/* the pipes open, two descriptors each (kbal_fds_held()) */
unsigned exch_pipes_held(void);

/* Read direction dir's source: into the pipe, and on to its destination,
 * where the body may go so; -1 where it may not (exch_read() reads it),
 * else 1 on progress, 0 without. */
int exch_pipe_read(struct kbal_daemon *d, struct kbal_conn *c, int dir);

/* What direction dir's pipe holds, written on; 1 on progress. The rest of
 * the direction waits while it holds any (f->in_pipe[dir]). */
int exch_pipe_write(struct kbal_conn *c, int dir);

/* the exchange's pipes closed (its buffers freed or reused) */
void exch_pipe_close(struct kbal_first *f);

#endif
