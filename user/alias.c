// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * alias.c - mod_alias's redirections as kbald answers them (alias.h): the
 * page httpd writes, the Location made absolute as ap_construct_url()
 * makes it, the connection kept where httpd keeps it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alias.h"
#include "conn.h"
#include "daemon.h"
#include "exchange.h"
#include "heads.h"
#include "pages.h"

/* a redirection to target (relative: made absolute with the server's
 * name, as httpd's ap_construct_url(): heads_self_url()) */
static void redirect_to(struct kbal_daemon *d, struct kbal_conn *c, unsigned st,
			const char *target)
{
	char location[BUF_SIZE + 300], sig[KBAL_PAGE_SIG_SIZE];
	char *page;
	ssize_t n;

	if (target[0] == '/') {
		char self[300];

		heads_self_url(d, c, self, sizeof(self));
		snprintf(location, sizeof(location), "%s%s", self, target);
	} else {
		snprintf(location, sizeof(location), "%s", target);
	}
	/* ap_send_error_response()'s page, its signature included */
	heads_signature(d, c->f->vhost, c->f->host, "<hr>\n", sig, sizeof(sig));
	page = malloc(sizeof(location) + sizeof(sig) + 1024);
	n = page ? kbal_page_redirect(st, location, sig, local_keeps(c), page,
				      sizeof(location) + sizeof(sig) + 1024) : -1;
	if (n < 0) {
		free(page);
		exch_error(d, c, 500);
	} else if (local_keeps(c)) {
		exch_reply_keep(d, c, page, (size_t)n, 1);
	} else {
		exch_reply(d, c, page, (size_t)n, 1);
	}
}

int alias_redirect(struct kbal_daemon *d, struct kbal_conn *c, const char *url, size_t len)
{
	struct kbal_first *f = c->f;
	char target[BUF_SIZE];
	int st = kbal_conf_match_redirect(d->conf, f->vhost, url, len, target, sizeof(target));

	if (!st)
		return 0;
	if (st < 0)
		exch_error(d, c, 500);
	else if (st < 300 || st > 399)
		exch_error_keep(d, c, (unsigned)st, NULL);
	else
		redirect_to(d, c, (unsigned)st, target);
	return 1;
}

int alias_location_redirect(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];
	const char *url = f->buf[UP] + rq->url.off, *q, *target;
	char t[BUF_SIZE];
	unsigned st;

	if (!d->conf->location_redirects)
		return 0;
	st = kbal_conf_location_redirect(d->conf, f->vhost, url, rq->url.len, &target);
	if (!st)
		return 0;
	/* the request's query, where the target has none of its own */
	q = memchr(url, '?', rq->url.len);
	if (q && !strchr(target, '?'))
		snprintf(t, sizeof(t), "%s%.*s", target, (int)(url + rq->url.len - q), q);
	else
		snprintf(t, sizeof(t), "%s", target);
	redirect_to(d, c, st, t);
	return 1;
}
