/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * exchange_pipe.h - a long body kbald relays itself on a kept member
 * connection (a request it decided: its body up, its answer's down),
 * moved from one socket to the other with splice(2) through a pipe of the
 * connection's own, one per direction: the pages go by reference, no byte
 * is copied to kbald and back, and a call moves up to the pipe's size,
 * not the head buffer's 16 KiB. The connection keeps its pipes for its
 * next long bodies while kbald decides its requests (an idle keep-alive
 * client's too), until it ends or is handed to the kernel.
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

/* the pipes open, two descriptors each (kbal_fds_held()): those the
 * connections keep between two long bodies too */
unsigned exch_pipes_held(void);

/* The pipes no exchange has taken (a client's between two requests, or
 * one whose exchange has no long body of that direction yet) closed: the
 * budget's first give when descriptors run short (kbal_fds_room()). The
 * number closed. */
unsigned exch_pipes_release(void);

/* Read direction dir's source: into the pipe, and on to its destination,
 * where the body may go so; -1 where it may not (exch_read() reads it),
 * else 1 on progress, 0 without. */
int exch_pipe_read(struct kbal_daemon *d, struct kbal_conn *c, int dir);

/* What direction dir's pipe holds, written on; 1 on progress. The rest of
 * the direction waits while it holds any (f->in_pipe[dir]). */
int exch_pipe_write(struct kbal_conn *c, int dir);

/* The exchange is over, the connection goes on (its next request): its
 * pipes kept for the next long bodies, empty, but for one still holding
 * bytes its exchange did not write on (a peer gone), closed. */
void exch_pipe_rest(struct kbal_conn *c);

/* the connection's pipes closed (it ends, or the kernel takes it) */
void exch_pipe_close(struct kbal_conn *c);

/* the slots' memory freed, once no connection is left */
void exch_pipes_fini(void);

#endif
