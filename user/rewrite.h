/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * rewrite.h - what kbald changes in the heads it passes on, as Apache's
 * mod_proxy does: the Host sent to a member and the ProxyPassReverse rules
 * of a balancer (mod_headers' rules: headers.h). Pure functions of the
 * configuration and the maps; the heads themselves are built by http_head.c.
 */
#ifndef KBAL_REWRITE_H
#define KBAL_REWRITE_H

#include <stddef.h>
#include <sys/types.h>
#include "conf.h"
#include "http.h"
#include "kbal_shared.h"

struct kbal_rev_set {          /* ProxyPassReverse rules of one balancer */
	struct kbal_rev_rule *rules;
	size_t n;
	int vhosts;                /* some are a <VirtualHost>'s (rev_for() picks) */
};

/* The Host a request to member m carries (ProxyPreserveHost Off): the
 * host[:port] of its URL. */
void kbal_rewrite_member_host(const struct kbal_member *m, char *out, size_t len);

/* Balancer b's ProxyPassReverse rules: each of its members' URL (members,
 * its kbal_members entries, those added at run time too) + the rule's
 * target maps to the rule's path. 0 or -ENOMEM; kbal_rewrite_rev_free()
 * frees them. */
int kbal_rewrite_rev_build(const struct kbal_conf *conf, unsigned b,
			   const struct kbal_member *members, unsigned nmembers,
			   struct kbal_rev_set *rs);
void kbal_rewrite_rev_free(struct kbal_rev_set *rs);
/* rs's rules for a request of virtual host vhost (-1: the server's): the
 * server's, then that one's, into out (max of them); how many */
size_t kbal_rewrite_rev_for(const struct kbal_rev_set *rs, int vhost, struct kbal_rev_rule *out,
			    size_t max);

/* ProxyPassReverseCookiePath and -Domain on a response head as kbald sends
 * it (head[0..len), to its empty line), for a request of virtual host
 * vhost (-1: the server's; the server's maps, then the virtual host's):
 * each Set-Cookie line's path= and domain= mapped, into out. Its length,
 * or -1 when it does not fit. */
ssize_t kbal_rewrite_cookies(const struct kbal_conf *conf, int vhost, const char *head,
			     size_t len, char *out, size_t cap);

#endif
