/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz/ share (fuzz_common.c):
 * reading option bytes off the input, feeding a message to user/http.c as
 * kbald does, and the checks every parsed message must pass. A failed
 * check aborts: libFuzzer keeps the input as a crash.
 */
#ifndef KBAL_FUZZ_H
#define KBAL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include "http.h"

/* abort with what was wrong: the fuzzer records the input */
#define FUZZ_CHECK(c) \
	((c) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #c))
__attribute__((noreturn)) void fuzz_fail(const char *file, int line, const char *what);

/* The input's first bytes as options, the rest as the message */
struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

/* the next option byte (0 when the input has run out) */
uint8_t fuzz_byte(struct fuzz_in *in);

/* What a feed saw: each HEAD/DONE/ERROR and where it came */
#define FUZZ_EVENTS 8
struct fuzz_run {
	int rc[FUZZ_EVENTS];
	size_t at[FUZZ_EVENTS];
	int n;
	int last;                  /* the last rc: AGAIN when the input ran out */
};

/* called at each HEAD with the bytes arrived so far; returns 1 to go on
 * with kbal_http_next() (an interim 1xx response), else 0 */
typedef int (*fuzz_head_fn)(struct kbal_http_msg *m, const char *buf, size_t have, void *arg);

/*
 * Feed buf[0, len) to m as kbald's exch_parse() does: bytes arrive `step`
 * at a time (0: all at once) into one buffer, and after HEAD the rest is
 * fed again (even nothing). The bytes not yet arrived are poisoned, so
 * that ASan reports a read of them. Stops at DONE, ERROR or the input's
 * end. buf must be len bytes of the heap (a read past it is reported).
 */
void fuzz_feed(struct kbal_http_msg *m, char *buf, size_t len, size_t step,
	       fuzz_head_fn on_head, void *arg, struct fuzz_run *r);

/* m's spans lie within the head (or the bytes fed), its counts within
 * their arrays */
void fuzz_check_msg(const struct kbal_http_msg *m, size_t len);

/* a and b, the same bytes fed in different pieces, came out the same */
void fuzz_check_same(const struct kbal_http_msg *a, const struct fuzz_run *ra,
		     const struct kbal_http_msg *b, const struct fuzz_run *rb);

/* a heap copy of exactly len bytes (one byte when len is 0): ASan sees a
 * read past the end */
char *fuzz_dup(const uint8_t *p, size_t len);

#endif /* KBAL_FUZZ_H */
