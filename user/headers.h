/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * headers.h - mod_headers: the configuration's Header and RequestHeader
 * rules applied to a head, as httpd's do_headers_fixup() applies them.
 *
 * A head is a start line and "Name: value" lines, each ending in CRLF,
 * then an empty line. RequestHeader rules (KBAL_HDR_IN) change the
 * client's request before kbald builds what it sends (mod_proxy adds
 * X-Forwarded-* after them, as httpd's handler does after its fixups);
 * Header rules change a response: "onsuccess" ones (KBAL_HDR_OUT) the
 * headers the response came with, "always" ones (KBAL_HDR_ALWAYS) a
 * table of their own, sent before them, as httpd's err_headers_out.
 * kbald's own error answers get the "always" rules only, as httpd's error
 * documents. Connection and Keep-Alive are the server's (httpd's core
 * writes them after mod_headers): no rule sees or changes them.
 */
#ifndef KBAL_HEADERS_H
#define KBAL_HEADERS_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "env.h"

/* the variables httpd's mod_proxy_balancer sets for a request it routes
 * (NULL: not set), which mod_headers' %{VAR}e and env= and mod_log_config's
 * %{VAR}e see */
struct kbal_balancer_vars {
	const char *balancer;         /* BALANCER_NAME, "balancer://..." */
	const char *worker_name;      /* BALANCER_WORKER_NAME */
	const char *worker_route;     /* BALANCER_WORKER_ROUTE */
	const char *session_sticky;   /* BALANCER_SESSION_STICKY: the request */
	const char *session_route;    /* BALANCER_SESSION_ROUTE:  named a route */
	int route_changed;            /* BALANCER_ROUTE_CHANGED */
	const struct kbal_env *env;   /* the request's SetEnv and SetEnvIf ones
				       * (env.h), NULL: none */
};

/* variable name's value, NULL when not set: mod_proxy_balancer's (set
 * last, they win), else the request's env's */
const char *kbal_balancer_var(const struct kbal_balancer_vars *v, const char *name);

/* what a rule's env= condition and its value see */
struct kbal_hdr_env {
	struct kbal_balancer_vars v;
	uint64_t request_us;          /* %t: when the request came, µs since 1970 */
	uint64_t now_us;              /* %D: now - request_us */
	const char *request;          /* echo: the client's request head */
	size_t request_len;
	int vhost;                    /* the request's <VirtualHost>, -1: the server's:
				       * its Header rules after the server's */
	uint32_t locs;                /* the <Location>s its path takes (bit by index):
				       * their rules after those */
};

/* Apply the rules of the tables in mask (1u << enum kbal_header_table)
 * to head[0..len) (up to and with its empty line); the new head into
 * out. Its length, or -1 when it does not fit outlen or has more lines
 * than kbald keeps track of. */
ssize_t kbal_headers_apply(const struct kbal_conf *conf, unsigned mask,
			   const struct kbal_hdr_env *env, const char *head, size_t len,
			   char *out, size_t outlen);

/* Does conf have a rule of a table in mask? */
int kbal_headers_any(const struct kbal_conf *conf, unsigned mask);

/* Does a rule of a table in mask read the variable name (its env=
 * condition, a %{name}e in its value)? Names compare as apr's tables do,
 * without case. */
int kbal_headers_read_var(const struct kbal_conf *conf, unsigned mask, const char *name);

/* Could a rule of a table in mask change a head whose variables are env's
 * (its env= condition true or absent), in any virtual host? kbald's decision which requests
 * and answers the kernel may carry unchanged rests on it. */
int kbal_headers_may_apply(const struct kbal_conf *conf, unsigned mask,
			   const struct kbal_hdr_env *env);

#define KBAL_HDR_MASK(t) (1u << (t))

#endif /* KBAL_HEADERS_H */
