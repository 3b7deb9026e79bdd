// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exchange_head.c - a request's head, once parsed (exch_parse() calls
 * exch_request_head()): httpd's checks of its target and Host, its
 * <VirtualHost>, the variables it sets (mod_setenvif, mod_env) and what
 * they change, what answers it locally (errors, Redirect, the <Location>
 * handlers and access rules) and, for a proxied path, its balancer, its
 * member and how the kernel may carry what follows (exch_proxy_request()).
 */
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include "conn-t.h"
#include "daemon.h"
#include "alias.h"
#include "decide.h"
#include "env.h"
#include "exchange.h"
#include "handover.h"
#include "heads.h"
#include "local.h"
#include "log.h"
#include "logs.h"
#include "member.h"

/* Does the request's Upgrade go to the member (httpd 2.4.47+, upgrade=)?
 * Decided now when its balancer's members agree; else once one is picked.
 * Dropped, the request is an ordinary one, as mod_proxy_http sends it. */
static void upgrade_plan(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_header *h = kbal_http_find(&f->msg[UP], f->buf[UP], "Upgrade");
	const struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	unsigned yes = 0;

	if (!f->msg[UP].upgrade || !h)
		return;   /* CONNECT, or none */
	for (unsigned i = 0; i < b->nmembers; i++)
		yes += member_upgrades(d, b->first_member + i, f->buf[UP] + h->value.off,
				       h->value.len);
	if (yes == b->nmembers)
		return;
	if (yes) {
		f->upgrade_pick = 1;
		return;
	}
	f->msg[UP].upgrade = 0;
	f->no_upgrade = 1;
}

/*
 * The variables of httpd's that kbald honours besides nokeepalive and
 * no-proxy (env.h), as httpd reads them. downgrade-1.0: the request is an
 * HTTP/1.0 one to its answer (basic_http_header_check(), before
 * ap_set_keepalive()): kept alive only by "Connection: keep-alive", a
 * chunked answer de-chunked; the member still gets HTTP/1.1 (its request
 * was made before). force-response-1.0, on an HTTP/1.0 request (downgraded
 * or sent so): the answer's status line says HTTP/1.0 and the connection
 * ends after it. force-proxy-request-1.0 (ap_proxy_create_hdrbrgd()): the
 * member gets HTTP/1.0, without Connection lines, its body with a length
 * (a chunked one that came whole: exch_body_whole(); a longer one spooled, as
 * with proxy-sendcl: exch_spool_body()), and its connection ends with the
 * answer, as with proxy-nokeepalive, which says "Connection: close" to it.
 */
static void env_honour(struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	struct kbal_http_msg *rq = &f->msg[UP];
	const struct kbal_env *e = &f->env;

	/* (not an Upgrade's: its tunnel is planned on HTTP/1.1) */
	if (rq->http_minor && !rq->upgrade && kbal_env_get(e, "downgrade-1.0")) {
		rq->http_minor = 0;
		rq->keep_alive = f->ka_token &&
				 !kbal_http_find_token(rq, f->buf[UP], "Connection", "close");
		if (!rq->keep_alive && !c->once) {
			log_debug("conn %p: downgrade-1.0: the connection's last request",
				  (void *)c);
			c->last = c->once = c->agent = 1;
		}
	}
	if (!rq->http_minor && kbal_env_get(e, "force-response-1.0")) {
		f->resp10 = 1;
		c->last = c->once = c->agent = 1;
	}
	f->http10 = !!kbal_env_get(e, "force-proxy-request-1.0");
	f->member_close = f->http10 || kbal_env_get(e, "proxy-nokeepalive");
	/* ap_proxy_http_prefetch(): a chunked body that did not come whole
	 * is spooled to send its length, for HTTP/1.0 and with proxy-sendcl
	 * (proxy-sendchunked or -sendchunks undo that) */
	f->spool = f->http10 || (kbal_env_get(e, "proxy-sendcl") &&
				 !kbal_env_get(e, "proxy-sendchunked") &&
				 !kbal_env_get(e, "proxy-sendchunks"));
}

/* The first request's head is complete: route it. */
/* httpd's checks of the request-target (kbal_conf_uri_target()): a 400,
 * or core's own answer to "OPTIONS *" (200, no body). 1 when answered. */
static int target_answered(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_http_msg *rq = &c->f->msg[UP];
	static char options_star[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static char options_star_close[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
					   "Connection: close\r\n\r\n";

	switch (kbal_conf_uri_target(c->f->buf[UP] + rq->method.off, rq->method.len,
				     c->f->buf[UP] + rq->url.off, rq->url.len)) {
	case KBAL_TARGET_OK:
		return 0;
	case KBAL_TARGET_OPTIONS_STAR:
		if (local_keeps(c))
			exch_reply_keep(d, c, options_star, sizeof(options_star) - 1, 0);
		else
			exch_reply(d, c, options_star_close, sizeof(options_star_close) - 1, 0);
		return 1;
	default:
		/* read_request_line()'s error: an HTTP/0.9 line that fails is
		 * answered as an HTTP/1.0 one's, with its head (rrl_failed) */
		rq->http09 = 0;
		exch_error(d, c, 400);
		return 1;
	}
}

/*
 * httpd's ap_check_request_header(), after its Host check: an Expect other
 * than 100-continue (any case; an empty one is none) is a 417 that no
 * module sees, and the connection ends (ap_read_request() fails; the body,
 * if any, unread), though the answer's head says what ap_set_keepalive()
 * would (no "Connection: close" on a keep-alive request). Repeated Expect
 * lines are one, joined by ", ", as httpd's table merges them. 1: answered
 */
static int expect_failed(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];
	char value[8192];
	size_t len = 0, take;
	unsigned seen = 0;
	ssize_t n;

	for (unsigned i = 0; i < rq->nheaders; i++) {
		const struct kbal_http_header *e = &rq->headers[i];

		if (e->name.len != 6 || strncasecmp(f->buf[UP] + e->name.off, "Expect", 6))
			continue;
		/* as much as fits (the page may show less: pages.c) */
		if (seen++ && len + 2 < sizeof(value)) {
			memcpy(value + len, ", ", 2);
			len += 2;
		}
		take = e->value.len < sizeof(value) - 1 - len ? e->value.len :
								  sizeof(value) - 1 - len;
		memcpy(value + len, f->buf[UP] + e->value.off, take);
		len += take;
	}
	value[len] = '\0';
	if (!len || !strcasecmp(value, "100-continue"))
		return 0;
	log_debug("client sent an unrecognized expectation value of Expect: %.*s",
		  len > 200 ? 200 : (int)len, value);
	n = heads_error_page_notes(d, f->vhost, f->host, 417, NULL, value,
				   rq->keep_alive && !c->once, NULL, f->outbuf[DOWN], OUT_SIZE);
	if (n > 0 && rq->keep_alive && !c->once) {
		/* its Keep-Alive lines as httpd's, and closed all the same */
		exch_reply_keep(d, c, f->outbuf[DOWN], (size_t)n, 0);
		c->fin[MEMBER] = 1;
		f->local_keep = 0;
	} else {
		/* (nothing where the page did not fit: it does, pages.c) */
		exch_reply(d, c, f->outbuf[DOWN], n > 0 ? (size_t)n : 0, 0);
	}
	return 1;
}

void exch_request_head(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];
	const char *url = f->buf[UP] + rq->url.off;
	const struct kbal_http_header *h;
	int pass, known = 0, alen, connect;
	struct sockaddr_in6 local = { 0 };
	char ahost[256];

	kbal_logs_capture(d, c);   /* CustomLog: its request's part of the line */
	if (target_answered(d, c))
		return;
	h = kbal_http_find(rq, f->buf[UP], "Host");
	/* httpd without mod_proxy_connect takes CONNECT's "host:port" as an
	 * absolute-form target's authority, and "/" for its path */
	connect = rq->method.len == 7 && !memcmp(f->buf[UP] + rq->method.off, "CONNECT", 7);
	alen = connect ? kbal_conf_uri_connect_host(url, rq->url.len, ahost, sizeof(ahost)) :
			 kbal_conf_uri_absolute_host(url, rq->url.len, ahost, sizeof(ahost));
	if (alen < 0) {
		exch_error(d, c, 400);
		return;
	}
	if (alen && h) {
		long delta;

		if (kbal_http_set_value(&f->msg[UP], f->buf[UP], &f->len[UP], BUF_SIZE,
					(unsigned)(h - rq->headers), ahost, (uint32_t)strlen(ahost),
					&delta)) {
			exch_error(d, c, 431);
			return;
		}
		f->fed[UP] += delta;
		f->fwd[UP] += delta;
	}
	if (connect) {
		/* the member gets "CONNECT /" (the access log has the line
		 * as it came: kbal_logs_capture()); "/" is never longer than
		 * the target it replaces */
		long delta = 0;

		kbal_http_set_target(&f->msg[UP], f->buf[UP], &f->len[UP], BUF_SIZE, "/", 1, &delta);
		f->fed[UP] += delta;
		f->fwd[UP] += delta;
	}
	/* the <VirtualHost> of this request: the address the client
	 * reached, then its Host (each request's: a kept-alive client may
	 * send another; an absolute-form target's host replaced it) */
	if (d->conf->nvhost) {
		client_local(c, &local, &known);
		f->vhost = kbal_conf_vhost(d->conf, &local, h ? f->buf[UP] + h->value.off : NULL,
					   h ? h->value.len : 0);
		/* its timeouts (a restart carries it: vhost_timeouts may
		 * be set only in the next configuration) */
		c->vhost_req = (uint8_t)(f->vhost + 1);
	} else {
		f->vhost = -1;
	}
	if ((!h || (!h->value.len && !alen)) && rq->http_minor >= 1) {
		/* HTTP/1.1 requires Host (RFC 9112 3.2); httpd's protocol.c
		 * takes an empty one for none (fix_hostname() sets no name),
		 * unless an absolute-form target named the host (empty too) */
		exch_error(d, c, 400);
		return;
	}
	/* (before the Expect check: httpd's 417 page's signature names the
	 * Host, ap_read_request() has applied it by then) */
	if (h && h->value.len < sizeof(f->host)) {
		memcpy(f->host, f->buf[UP] + h->value.off, h->value.len);
		f->host[h->value.len] = '\0';
	}
	if (expect_failed(d, c))
		return;
	pass = kbal_conf_match_pass(d->conf, f->vhost, url, rq->url.len);
	/* once for its request's head and its answer's (Header and
	 * ProxyErrorOverride in <Location>) */
	if (d->conf->header_locations || d->conf->error_locations)
		f->locs = kbal_conf_match_locations(d->conf, f->vhost, url, rq->url.len);
	if (d->conf->nenv) {
		/* mod_setenvif's post_read_request and mod_env's fixup */
		kbal_env_request(d->conf, f->vhost, &(const struct kbal_env_req){
			.msg = rq, .buf = f->buf[UP], .remote_addr = c->key.client_addr,
			.local_addr = client_local(c, &local, &known) }, &f->env);
		/* mod_proxy's translate_name declines it (SetEnv comes later,
		 * in the fixups: only SetEnvIf's counts, as in httpd) */
		if (pass >= 0 && f->env.no_proxy)
			pass = -1;
		/* httpd's ap_set_keepalive(): this answer is the connection's
		 * last, unless the request came through a proxy (Via) */
		if (kbal_env_get(&f->env, "nokeepalive") && !c->once &&
		    !kbal_http_find(rq, f->buf[UP], "Via")) {
			log_debug("conn %p: nokeepalive: the connection's last request", (void *)c);
			c->last = c->once = c->agent = 1;
		}
		env_honour(c);
	}
	if (pass < 0 || d->conf->pass[pass].exclude) {
		const struct kbal_authz *authz;
		unsigned refused;

		/* httpd's ap_process_request_internal(): a path that does not
		 * normalise or unescape is answered before any module sees it */
		if (pass < 0 &&
		    (refused = kbal_conf_uri_refused(url, rq->url.len, d->conf->encoded_slashes))) {
			exch_error(d, c, refused);
			return;
		}

		/* the <Location>s of the server and of that <VirtualHost> */
		/* mod_alias translates after mod_proxy and before any handler */
		if (d->conf->nredirect && alias_redirect(d, c, url, rq->url.len))
			return;
		f->handler = kbal_conf_match_location_authz(d->conf, f->vhost, url, rq->url.len,
							    &authz);
		/* a <Location>'s Redirect on a path no ProxyPass takes answers
		 * before the section's access rules, as httpd's does (on a
		 * proxied one, after them: exch_proxy_request()). It used to
		 * answer, then the access check answered again over it (a
		 * 403, and the redirect's page leaked: the ASan run's find) */
		if (alias_location_redirect(d, c))
			return;
		if (!f->handler)
			exch_error_keep(d, c, 404, NULL);
		else
			local_answer(d, c, authz, client_local(c, &local, &known));
		return;
	}
	f->pass = pass;
	if (d->conf->pass[pass].regex) {
		char target[BUF_SIZE];

		/* httpd answers 500 where the substitution fails or names no
		 * balancer (balancer://NAME$1, $1 not starting with '/') */
		if (kbal_conf_pass_target(&d->conf->pass[pass], url, rq->url.len, target,
					  sizeof(target)) < 0) {
			exch_error(d, c, 500);
			return;
		}
	}
	/* the <Location>s' access rules, after mod_proxy's translation and
	 * before its handler, as httpd checks them */
	if (d->decide.access) {
		const struct kbal_authz *authz;

		kbal_conf_match_location_authz(d->conf, f->vhost, url, rq->url.len, &authz);
		if (authz->nnode || authz->compat) {
			if (local_authorize(d, c, authz, client_local(c, &local, &known)))
				return;   /* answered, or exch_auth_done() goes on */
		}
	}
	exch_proxy_request(d, c);
}

void exch_proxy_request(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];
	int last_balancer, pass = f->pass;

	if (alias_location_redirect(d, c))
		return;   /* httpd's fixups, before mod_proxy's handler */
	if (!kbal_conf_balancer_in(d->conf, f->vhost, d->conf->pass[pass].balancer)) {
		/* BalancerInherit Off and ProxyPassInherit Off: a rule (the
		 * server's, inherited all the same) names a server's balancer
		 * this virtual host does not have: httpd's handler answers 503 */
		log_debug("conn %p: %s%s is the server's, not this <VirtualHost>'s "
			  "(BalancerInherit Off): 503", (void *)c,
			  kbal_bal_scheme(d->conf->balancers[d->conf->pass[pass].balancer].flags),
			  d->conf->balancers[d->conf->pass[pass].balancer].name);
		exch_error(d, c, 503);
		return;
	}

	if (rq->method.len == 4 && !memcmp(f->buf[UP] + rq->method.off, "HEAD", 4))
		f->msg[DOWN].skip_body = 1;   /* its response has no body */
	last_balancer = c->balancer;
	c->balancer = d->conf->pass[pass].balancer;
	/* the sticky route first: whether the answer takes the route's
	 * cookie is part of the plan (decide_plan()) */
	if (d->maps.balancers[c->balancer].sticky[0])
		kbal_http_sticky_route(rq, f->buf[UP], &(const struct kbal_sticky){
			.cookie = d->maps.balancers[c->balancer].sticky,
			.path = d->maps.balancers[c->balancer].sticky_path,
			.sep = (char)d->maps.balancers[c->balancer].sticky_sep,
			.scolon = d->maps.balancers[c->balancer].scolon }, f->route, sizeof(f->route));
	upgrade_plan(d, c);
	decide_plan(d, c, last_balancer);
	c->pool = !!exch_on_kept(d, c);
	handover_plan(d, c);
	member_pick_connect(d, c);
}
