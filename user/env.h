/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * env.h - a request's environment variables as httpd's mod_setenvif and
 * mod_env set them (the configuration's SetEnvIf... and SetEnv lines,
 * conf_env.c): what Header and RequestHeader's env= and %{VAR}e, and
 * LogFormat's %{VAR}e, see besides mod_proxy_balancer's BALANCER_*.
 * kbald honours some of them itself: nokeepalive (the connection ends
 * after the answer, httpd's ap_set_keepalive()), no-proxy (mod_proxy
 * does not proxy the request), downgrade-1.0 and force-response-1.0 (the
 * answer as to an HTTP/1.0 request, http_filters.c), force-proxy-request-1.0
 * proxy-nokeepalive and proxy-sendcl (the member's request, mod_proxy_http.c).
 */
#ifndef KBAL_ENV_H
#define KBAL_ENV_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"

#define KBAL_ENV_MAX   32             /* variables a request holds */
#define KBAL_ENV_ARENA 2048           /* their values */

struct kbal_env {
	unsigned n;
	uint8_t no_proxy;             /* SetEnvIf set no-proxy (mod_proxy reads it
				       * before mod_env's SetEnv) */
	struct { const char *name, *val; } v[KBAL_ENV_MAX];
	size_t used;
	char arena[KBAL_ENV_ARENA];
};

struct kbal_http_msg;

/* what a request gives SetEnvIf */
struct kbal_env_req {
	const struct kbal_http_msg *msg;  /* its head, parsed */
	const char *buf;                  /* msg's spans are in it */
	const uint8_t *remote_addr;       /* 16 bytes (inaddr.h) */
	const uint8_t *local_addr;        /* the address it reached, the same */
};

/* The variables of a request in vhost (-1: the server's): SetEnvIf's lines
 * (post_read_request: the server's, then the virtual host's), then
 * SetEnv's where SetEnvIf set no such name (mod_env's fixup overlays). */
void kbal_env_request(const struct kbal_conf *conf, int vhost, const struct kbal_env_req *rq,
		      struct kbal_env *e);

/* no variable set (what a request without SetEnv lines has; its 2.5 KiB
 * of values need no zeroing) */
static inline void kbal_env_clear(struct kbal_env *e)
{
	e->n = 0;
	e->used = 0;
	e->no_proxy = 0;
}

/* name's value (case-insensitive, as an apr table), NULL when not set */
const char *kbal_env_get(const struct kbal_env *e, const char *name);

/* Does a line of conf set name (with SetEnvIf only: when only SetEnvIf's
 * variables count, as for no-proxy, read before mod_env's fixup)? */
int kbal_env_may_set(const struct kbal_conf *conf, const char *name, int setenvif_only);

/* Does a line of conf set a variable that changes how kbald sends a
 * request or its answer (nokeepalive, downgrade-1.0, force-response-1.0,
 * force-proxy-request-1.0, proxy-nokeepalive, proxy-sendcl; no-proxy is
 * asked apart)? */
int kbal_env_may_change(const struct kbal_conf *conf);

/* Is one of them set for this request? */
int kbal_env_changes(const struct kbal_env *e);

#endif
