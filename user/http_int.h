/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * http_int.h - what http.c (the llhttp glue) and http_edit.c (a request's
 * line, de-chunking, head editing) share; the rest of kbald uses http.h.
 */
#ifndef KBAL_HTTP_INT_H
#define KBAL_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>
#include "http.h"

#define msg_of(p) ((struct kbal_http_msg *)((char *)(p) - \
			offsetof(struct kbal_http_msg, parser)))

/* http.c */
int http_feed_error(struct kbal_http_msg *m, llhttp_errno_t err);
int http_refuse(struct kbal_http_msg *m, unsigned status, const char *why);
int http_head_limits(struct kbal_http_msg *m, const char *base, uint32_t from, uint32_t to);

/* http_edit.c */
int http_request_line(struct kbal_http_msg *m, const char *base, size_t off, size_t len,
		      size_t *next);
int http_on_body(llhttp_t *p, const char *at, size_t len);

#endif /* KBAL_HTTP_INT_H */
