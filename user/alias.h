/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * alias.h - mod_alias's redirections as kbald answers them (read by
 * conf_alias.c): Redirect and RedirectMatch for a path no ProxyPass rule
 * proxies (httpd's translate_name), and Redirect inside a <Location>
 * (its fixups: proxied paths too, after the access rules).
 */
#ifndef KBAL_ALIAS_H
#define KBAL_ALIAS_H

#include <stddef.h>

struct kbal_daemon;
struct kbal_conn;

/* the server's (and the request's virtual host's) Redirect rules for the
 * request-target url: 1 when one answered (a 3xx, or 410, 403, 404
 * without a URL; 500 where its substitution failed), 0 for none */
int alias_redirect(struct kbal_daemon *d, struct kbal_conn *c, const char *url, size_t len);

/* A <Location>'s Redirect for the request: 1 when it answered */
int alias_location_redirect(struct kbal_daemon *d, struct kbal_conn *c);

#endif
