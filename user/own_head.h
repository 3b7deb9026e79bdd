/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * own_head.h - the lines httpd writes around the head of an answer of its
 * own (basic_http_header() and its header filter, modules/http/
 * http_filters.c): Date and Server after the status line, Content-Type
 * last; kbald's own answers (its error pages, redirections, the manager's)
 * all take them here. A member's answer keeps its own Date and Server, as
 * httpd's proxied answers do, moved to that place, and gets httpd's where
 * it has none (own_head_proxied()).
 */
#ifndef KBAL_OWN_HEAD_H
#define KBAL_OWN_HEAD_H

#include <stddef.h>
#include <sys/types.h>

struct kbal_conf;

/* what the Server line says under ServerTokens tokens (enum
 * kbal_server_tokens), httpd's ap_get_server_banner() with kbal's product
 * and version: into out, out */
const char *own_head_banner(unsigned tokens, char *out, size_t cap);

/* the time now as an HTTP date (RFC 7231's IMF-fixdate, httpd's
 * ap_recent_rfc822_date()), written again once a second */
const char *own_head_date(void);

/*
 * The answer resp[0..len), its head as kbald wrote it, as httpd writes
 * it: the status line, Date, Server (conf's ServerTokens), the other lines
 * in their order (a Date or Server line among them dropped, as
 * basic_http_header() unsets them), then those httpd sets after the
 * handler's and mod_headers' ones: Content-Length (its content-length
 * filter), lines (llen bytes, each ending in CRLF: ap_set_keepalive()'s
 * Keep-Alive and Connection, or NULL), resp's own Connection line and
 * Transfer-Encoding (ap_set_keepalive()'s too), then Content-Type (httpd's
 * header filter sets it last), then the body. Into *out (malloc'd): its
 * length, or -1 (no head, no memory)
 */
ssize_t own_head_write(const struct kbal_conf *conf, const char *resp, size_t len,
		       const char *lines, size_t llen, char **out);

/*
 * A member's final answer's head[0..n) (up to its empty line, as kbald
 * writes it for the client) as httpd's basic_http_header() sends a proxied
 * one: Date (the member's first, else the time now) and Server (the
 * member's first, else the banner conf's ServerTokens says) right after
 * the status line, every other Date and Server line gone, the rest in
 * their order. Into out (of cap): its length; 0 where that is the head as
 * it is (the member's one Date and one Server first, in that order: the
 * kernel passes such a head, bpf/sockmap.bpf.c's response_head()); -1 when
 * it does not fit.
 */
ssize_t own_head_proxied(const struct kbal_conf *conf, const char *head, size_t n, char *out,
			 size_t cap);

#endif /* KBAL_OWN_HEAD_H */
