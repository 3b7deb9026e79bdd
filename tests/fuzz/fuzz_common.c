// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* fuzz_common.c - what the fuzz targets share (see fuzz.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sanitizer/asan_interface.h>
#include "fuzz.h"

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

uint8_t fuzz_byte(struct fuzz_in *in)
{
	if (!in->len)
		return 0;
	in->len--;
	return *in->p++;
}

char *fuzz_dup(const uint8_t *p, size_t len)
{
	char *b = malloc(len ? len : 1);

	if (!b)
		abort();
	memcpy(b, p, len);
	return b;
}

void fuzz_feed(struct kbal_http_msg *m, char *buf, size_t len, size_t step,
	       fuzz_head_fn on_head, void *arg, struct fuzz_run *r)
{
	size_t have = 0, off = 0, used;
	int rc, fresh = 0;

	memset(r, 0, sizeof(*r));
	ASAN_POISON_MEMORY_REGION(buf, len);
	for (;;) {
		if (off == have && !fresh) {
			if (have == len) {
				r->last = KBAL_HTTP_AGAIN;
				break;
			}
			size_t was = have;

			have = step && have + step < len ? have + step : len;
			ASAN_UNPOISON_MEMORY_REGION(buf + was, have - was);
		}
		rc = kbal_http_feed(m, buf, off, have - off, &used);
		FUZZ_CHECK(used <= have - off);
		/* every byte given is consumed, or the call says where it stopped */
		FUZZ_CHECK(rc != KBAL_HTTP_AGAIN || used == have - off);
		off += used;
		fresh = rc == KBAL_HTTP_HEAD;
		r->last = rc;
		if (rc == KBAL_HTTP_AGAIN)
			continue;
		if (r->n < FUZZ_EVENTS) {
			r->rc[r->n] = rc;
			r->at[r->n] = off;
		}
		r->n++;
		fuzz_check_msg(m, have);
		if (rc == KBAL_HTTP_HEAD && on_head && on_head(m, buf, have, arg)) {
			kbal_http_next(m);
			fresh = 0;
			continue;
		}
		if (rc != KBAL_HTTP_HEAD)
			break;
		/* a message that ends with its head is DONE at the next call */
		FUZZ_CHECK(!m->done || m->msg_end == m->head_len);
	}
	ASAN_UNPOISON_MEMORY_REGION(buf, len);
	if (r->last == KBAL_HTTP_ERROR)
		FUZZ_CHECK(m->error != NULL);
}

static void check_span(struct kbal_span s, size_t end)
{
	FUZZ_CHECK((size_t)s.off + s.len <= end);
}

void fuzz_check_msg(const struct kbal_http_msg *m, size_t len)
{
	/* after an ERROR, head_len may not be set: within the bytes given */
	int head = m->head_done && !m->error;
	size_t end = head ? m->head_len : len;

	FUZZ_CHECK(m->nheaders <= KBAL_HTTP_MAX_HEADERS);
	if (head)
		FUZZ_CHECK(m->head_len <= len);
	if (m->done && !m->error)
		FUZZ_CHECK(m->msg_end >= m->head_len && m->msg_end <= len);
	check_span(m->method, end);
	check_span(m->url, end);
	if (!head)      /* a header under way is placed after its colon */
		return;
	check_span(m->start_line, end);
	for (unsigned i = 0; i < m->nheaders; i++) {
		check_span(m->headers[i].name, end);
		check_span(m->headers[i].value, end);
	}
}

void fuzz_check_same(const struct kbal_http_msg *a, const struct fuzz_run *ra,
		     const struct kbal_http_msg *b, const struct fuzz_run *rb)
{
	FUZZ_CHECK(ra->n == rb->n && ra->last == rb->last);
	/* where an ERROR stops depends on where llhttp's callback came:
	 * the rest must agree */
	for (int k = 0; k < ra->n && k < FUZZ_EVENTS; k++)
		FUZZ_CHECK(ra->rc[k] == rb->rc[k] &&
			   (ra->rc[k] == KBAL_HTTP_ERROR || ra->at[k] == rb->at[k]));
	FUZZ_CHECK(!a->error == !b->error && a->refuse == b->refuse);
	if (a->error)           /* how far it went differs too */
		return;
	FUZZ_CHECK(a->head_done == b->head_done && a->done == b->done);
	if (!a->head_done)
		return;
	FUZZ_CHECK(a->head_len == b->head_len && a->msg_end == b->msg_end);
	FUZZ_CHECK(!memcmp(&a->method, &b->method, sizeof(a->method)));
	FUZZ_CHECK(!memcmp(&a->url, &b->url, sizeof(a->url)));
	FUZZ_CHECK(!memcmp(&a->start_line, &b->start_line, sizeof(a->start_line)));
	FUZZ_CHECK(a->nheaders == b->nheaders);
	FUZZ_CHECK(!memcmp(a->headers, b->headers, a->nheaders * sizeof(a->headers[0])));
	FUZZ_CHECK(a->status == b->status && a->content_length == b->content_length);
	FUZZ_CHECK(a->chunked == b->chunked && a->upgrade == b->upgrade);
	FUZZ_CHECK(a->keep_alive == b->keep_alive && a->expect_continue == b->expect_continue);
}
