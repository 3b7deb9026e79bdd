/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * manager_form.h - changes asked of the balancer-manager, in Apache's field
 * names and under Apache's checks (mod_proxy_balancer's balancer_handler):
 * the fields of a GET's query (b, w, nonce, xml only) or of a POST's body,
 * dropped as a whole when the Referer is not this server's, and applied
 * only with the balancer's nonce. Written into the pinned maps, as
 * `kbalctl set` writes them.
 */
#ifndef KBAL_MANAGER_FORM_H
#define KBAL_MANAGER_FORM_H

#include <stddef.h>

struct kbal_maps;

#define KBAL_NONCE_LEN 40                 /* 32 hex digits, or ProxySet nonce= */

/* one request to the manager, as kbald read it */
struct kbal_manager_req {
	int post;
	const char *query;                /* after '?', or NULL */
	size_t query_len;
	const char *body;                 /* a POST's body, or NULL */
	size_t body_len;
	const char *referer;              /* the header's value, or NULL */
	size_t referer_len;
	const char *server;               /* the request's server name: its Host
					   * without the port, else ServerName */
	size_t server_len;
};

/* What the request asks, done or refused; a sentence for the page and the
 * log in msg (empty: it asked nothing). nonces: each balancer's, by index.
 * *xml: the XML view was asked for (an "xml" field that passed the
 * Referer check, as Apache's; without a same-site Referer it shows HTML).
 * *json: kbal's JSON view was asked for ("json" in a GET's query; a view
 * of what anyone allowed to read the page sees, so no Referer needed).
 * Returns the answer's status: 200 (the page), or 400 for an add of a
 * member that failed, as Apache's balancer_handler() answers it (the other
 * changes of the request are made, as Apache's are). */
int kbal_manager_apply(struct kbal_maps *m, const char (*nonces)[KBAL_NONCE_LEN],
		       const struct kbal_manager_req *q, char *msg, size_t msglen, int *xml,
		       int *json);

#endif
