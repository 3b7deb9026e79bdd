// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * local.c - what kbald answers itself (local.h): a <Location>'s handler,
 * the balancer-manager (manager.c, its forms manager_form.c) or kbal's
 * Prometheus view (metrics.c), behind the <Location>'s access rules
 * (authz.c, authn.c; the slow checks in authcheck.c's thread).
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "alias.h"
#include "authcheck.h"
#include "conn.h"
#include "daemon.h"
#include "exchange.h"
#include "flows.h"
#include "heads.h"
#include "local.h"
#include "inaddr.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "pages.h"

static const char *handler_name(const struct kbal_conn *c)
{
	return c->f->handler == KBAL_HANDLER_METRICS ? "kbal-metrics" :
	       c->f->handler ? "balancer-manager" : "a proxied path";
}

/* An access check's answer: 0 when granted, else -1 and the 401 or 403
 * given */
static int auth_verdict(struct kbal_daemon *d, struct kbal_conn *c, const struct kbal_authjob *j)
{
	char ip[INET6_ADDRSTRLEN], extra[200];

	if (j->result == KBAL_AUTHZ_GRANTED)
		return 0;
	kbal_in6_ntop(c->key.client_addr, ip, sizeof(ip));
	if (j->result == KBAL_AUTHZ_NEED_USER) {
		if (j->why && strcmp(j->why, "no credentials"))
			log_info("%s: %s: %s (401)", handler_name(c), ip, j->why);
		snprintf(extra, sizeof(extra), "WWW-Authenticate: Basic realm=\"%s\"\r\n",
			 j->authz->realm);
		exch_error_keep(d, c, 401, extra);
		return -1;
	}
	log_info("%s: %s%s%s%s refused by its access rules (403)", handler_name(c), ip,
		 kbal_authz_needs_host(j->authz) ? " (" : "",
		 kbal_authz_needs_host(j->authz) ? (j->cl.host ? j->cl.host : "no host name") : "",
		 kbal_authz_needs_host(j->authz) ? ")" : "");
	exch_error_keep(d, c, 403, NULL);
	return -1;
}

int local_authorize(struct kbal_daemon *d, struct kbal_conn *c, const struct kbal_authz *a,
		    const uint8_t *local)
{
	const struct kbal_http_msg *rq = &c->f->msg[UP];
	const struct kbal_http_header *h = kbal_http_find(rq, c->f->buf[UP], "Authorization");
	struct kbal_authz_client cl = { 0 };
	struct kbal_authjob *j;
	int queued, r;

	memcpy(cl.addr, c->key.client_addr, 16);
	memcpy(cl.local, local, 16);
	j = kbal_authcheck_start(&d->auth, a, &cl, h ? c->f->buf[UP] + h->value.off : NULL,
				 h ? h->value.len : 0, c, &queued);
	if (!j) {
		log_warn("%s: %u access checks waiting already, or no memory: 503",
			 handler_name(c), KBAL_AUTHCHECK_QUEUE);
		exch_error(d, c, 503);
		return -1;
	}
	if (queued) {
		c->f->authjob = j;
		return 1;
	}
	r = auth_verdict(d, c, j);
	kbal_authjob_free(&d->auth, j);
	return r;
}

/* a page kbald made (malloc'd), or 500 when err says it could not */
static void exch_page(struct kbal_daemon *d, struct kbal_conn *c, int err, char *page, size_t len, int keep)
{
	if (err)
		exch_error(d, c, 500);
	else if (keep)
		exch_reply_keep(d, c, page, len, 1);
	else
		exch_reply(d, c, page, len, 1);
}

/* the manager's answer: what the request changed (or why not), then the
 * page (manager_form.h) */
void local_form_done(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];
	const char *url = f->buf[UP] + rq->url.off, *q = memchr(url, '?', rq->url.len);
	const struct kbal_http_header *ref = kbal_http_find(rq, f->buf[UP], "Referer");
	struct kbal_manager_req mr = {
		.post = rq->method.len == 4 && !memcmp(f->buf[UP] + rq->method.off, "POST", 4),
		.query = q ? q + 1 : NULL,
		.query_len = q ? (size_t)(url + rq->url.len - q - 1) : 0,
		.referer = ref ? f->buf[UP] + ref->value.off : NULL,
		.referer_len = ref ? ref->value.len : 0,
		.server = f->host[0] ? f->host :
			  f->vhost >= 0 && d->conf->vhost[f->vhost].server_name[0] ?
			  d->conf->vhost[f->vhost].server_name : d->conf->server_name,
	};
	char action[256], msg[512], sig[KBAL_PAGE_SIG_SIZE];
	char *page;
	size_t len;
	int xml, json, err, status, frame, keep = local_keeps(c);

	/* the server's name, as Apache's safe_referer() compares it: the Host's
	 * name without its port */
	mr.server_len = strlen(mr.server);
	if (mr.server[0] != '[' && memchr(mr.server, ':', mr.server_len))
		mr.server_len = (const char *)memchr(mr.server, ':', mr.server_len) - mr.server;
	if (mr.post && rq->content_length > 0) {
		mr.body = f->buf[UP] + rq->head_len;
		mr.body_len = rq->content_length;
	}
	snprintf(action, sizeof(action), "%.*s", (int)(q ? q - url : (ptrdiff_t)rq->url.len), url);
	status = kbal_manager_apply(&d->maps, (const char (*)[KBAL_NONCE_LEN])d->nonce, &mr, msg,
				    sizeof(msg), &xml, &json);
	if (msg[0])
		log_info("balancer-manager: %s", msg);
	if (status != 200) {
		exch_error(d, c, status);   /* Apache's error page, and the connection goes */
		return;
	}
	kbal_flows_flush(d);   /* the page shows this turn's flows too */
	/* a view's framing where httpd's has no length (enum kbal_mgr_frame) */
	frame = rq->head ? KBAL_MGR_HEAD : rq->http_minor ? KBAL_MGR_CHUNKED : KBAL_MGR_CLOSE;
	err = json ? kbal_manager_json(&d->maps, &keep, &page, &len) :
	      xml ? kbal_manager_xml(&d->maps, &keep, frame, &page, &len) :
	      kbal_manager_page(&d->maps, (const char (*)[KBAL_NONCE_LEN])d->nonce, action, msg,
				heads_signature(d, f->vhost, f->host, "", sig, sizeof(sig)),
				&keep, frame, &page, &len);
	exch_page(d, c, err, page, len, keep);
}

/* A request for the manager: answered once its body (a POST's fields, a
 * form's few hundred bytes) is in */
static void manager_request(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_http_msg *rq = &f->msg[UP];

	if (rq->chunked) {
		exch_error(d, c, 411);   /* a form's body has a length */
		return;
	}
	if (rq->content_length > 0 &&
	    ((uint64_t)rq->content_length > BUF_SIZE - rq->head_len ||
	     (kbal_conf_limit_body(d->conf, f->vhost) &&
	      (uint64_t)rq->content_length > kbal_conf_limit_body(d->conf, f->vhost)))) {
		exch_error(d, c, 413);   /* also httpd's LimitRequestBody, which it applies
				       * to its handlers, not to proxied requests */
		return;
	}
	if (rq->content_length > 0 && f->len[UP] < rq->head_len + rq->content_length) {
		f->manager_wait = 1;  /* exch_parse() answers at its end */
		c->phase[UP] = P_BODY;
		return;
	}
	local_form_done(d, c);
}

/* The Prometheus endpoint: GET only (a scraper's) */
static void metrics_request(struct kbal_daemon *d, struct kbal_conn *c)
{
	const struct kbal_http_msg *rq = &c->f->msg[UP];
	int keep = local_keeps(c), err;
	char *page;
	size_t len;

	if (rq->method.len != 3 || memcmp(c->f->buf[UP] + rq->method.off, "GET", 3)) {
		exch_error_keep(d, c, 405, "Allow: GET\r\n");
		return;
	}
	kbal_flows_flush(d);
	err = kbal_metrics_response(d, keep, &page, &len);
	exch_page(d, c, err, page, len, keep);
}

/* what kbald answers itself, once its access rules let the client in */
static void local_request(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (alias_location_redirect(d, c))
		return;
	if (c->f->handler == KBAL_HANDLER_METRICS)
		metrics_request(d, c);
	else
		manager_request(d, c);
}

void exch_auth_done(struct kbal_daemon *d, struct kbal_conn *c, struct kbal_authjob *j)
{
	c->f->authjob = NULL;
	if (!auth_verdict(d, c, j)) {
		if (c->f->handler)
			local_request(d, c);
		else
			exch_proxy_request(d, c);   /* a proxied path's rules let it in */
	}
	kbal_authjob_free(&d->auth, j);
	if (!c->local)
		exch_parse(d, c, UP);   /* a form's body read meanwhile */
}

void local_answer(struct kbal_daemon *d, struct kbal_conn *c, const struct kbal_authz *authz,
		  const uint8_t *local_addr)
{
	if (!local_authorize(d, c, authz, local_addr))
		local_request(d, c);
}
