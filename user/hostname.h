/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hostname.h - a request's Host header as httpd's vhost.c checks it
 * (fix_hostname() with HttpProtocolOptions Strict, its default): a value
 * it refuses is a 400, and nothing of that request reaches a member.
 */
#ifndef KBAL_HOSTNAME_H
#define KBAL_HOSTNAME_H

#include <stddef.h>

/* 1: host[0..len) is a Host value httpd accepts (empty, a name or dotted
 * address with an optional :port, an IPv6 literal in brackets); 0 not */
int kbal_host_valid(const char *host, size_t len);

/* r->hostname as fix_hostname() leaves a Host httpd accepts (the name
 * ap_get_server_name() gives under UseCanonicalName Off): no port, no
 * brackets, no trailing dot, lower case, into out; *port its port, 0 none
 * (port may be NULL). out, or NULL where host is empty, refused, or does
 * not fit */
const char *kbal_host_name(const char *host, char *out, size_t cap, unsigned long *port);

#endif
