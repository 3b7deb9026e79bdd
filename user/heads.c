// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * heads.c - the heads kbald writes (see heads.h): a request's for its
 * member as mod_proxy_http builds it (the ProxyPass target, Host,
 * X-Forwarded-*, Via, the PROXY header, RequestHeader), an answer's for
 * the client (ProxyPassReverse, its cookie maps, Via, Header, httpd's Date
 * and Server where it has none), and
 * mod_headers' rules on kbald's own answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "pages.h"
#include "conn.h"
#include "daemon.h"
#include "headers.h"
#include "heads.h"
#include "hostname.h"
#include "inaddr.h"
#include "log.h"
#include "member.h"
#include "own_head.h"
#include "stamp.h"
#include "proxy_header.h"
#include "rewrite.h"

/* What Header rules see of a request in virtual host vhost (-1: the
 * server's) whose path takes the <Location>s locs, come at came (the
 * loop's clock): no variable, no head yet (hdr_env() adds an exchange's) */
static void own_env(const struct kbal_daemon *d, int vhost, uint32_t locs, uint64_t came,
		    struct kbal_hdr_env *e)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	*e = (struct kbal_hdr_env){
		.now_us = (uint64_t)now.tv_sec * 1000000u + now.tv_nsec / 1000,
		.vhost = vhost,
		.locs = locs,
	};
	e->request_us = e->now_us - (d->loop.now > came ? d->loop.now - came : 0) / 1000;
}

/* The variables mod_proxy_balancer sets once it has picked c's member
 * (none for a plain worker's): into e, the balancer's name into bal */
static void balancer_env(const struct kbal_daemon *d, const struct kbal_conn *c, const char *route,
			 char *bal, size_t cap, struct kbal_hdr_env *e)
{
	const struct kbal_balancer *b = &d->maps.balancers[c->balancer];
	const struct kbal_member *m = &d->maps.members[c->member];

	if (b->flags & KBAL_BF_WORKER)
		return;
	snprintf(bal, cap, "balancer://%s", b->name);
	e->v.balancer = bal;
	e->v.worker_name = m->url;
	e->v.worker_route = m->route;
	e->v.route_changed = c->changed;
	if (route && route[0]) {
		e->v.session_sticky = b->sticky;
		e->v.session_route = route;
	}
}

/* What the Header and RequestHeader rules of this exchange see: the
 * variables mod_proxy_balancer sets once it has a member (routed; none
 * yet for RequestHeader, which httpd runs in its fixups, before the
 * handler), the request's time (%t, %D) and head (Header echo). */
static void hdr_env(const struct kbal_daemon *d, const struct kbal_conn *c, int routed,
		    char *bal, size_t cap, struct kbal_hdr_env *e)
{
	const struct kbal_first *f = c->f;

	own_env(d, f->vhost, f->locs, f->rq_start ? f->rq_start : d->loop.now, e);
	e->request = f->buf[UP];
	e->request_len = f->msg[UP].head_len;
	e->v.env = &f->env;
	if (routed)
		balancer_env(d, c, f->route, bal, cap, e);
}

/* resp[0..len) with the rules of mask applied to its head as e sees
 * them, into *out (malloc'd): its length, or -1 (it does not fit) */
static ssize_t own_rules(const struct kbal_daemon *d, unsigned mask, const struct kbal_hdr_env *e,
			 const char *resp, size_t len, const char *end, char **out)
{
	static char head[OUT_SIZE];
	size_t hlen = end + 4 - resp, blen = len - hlen;
	ssize_t n = kbal_headers_apply(d->conf, mask, e, resp, hlen, head, sizeof(head));

	if (n < 0 || !(*out = malloc(n + blen)))
		return -1;
	memcpy(*out, head, n);
	memcpy(*out + n, resp + hlen, blen);
	return n + (ssize_t)blen;
}

/* kbald's own answer with mod_headers' rules: httpd's error documents get
 * the "always" ones only, a handler's page (2xx) both tables. resp[0..len)
 * is replaced by a malloc'd copy; 0, or -1 (left as it was) */
int heads_own_answer(struct kbal_daemon *d, struct kbal_conn *c, char **resp, size_t *len,
		     int *owned)
{
	const unsigned always = KBAL_HDR_MASK(KBAL_HDR_ALWAYS);
	const char *end = memmem(*resp, *len, "\r\n\r\n", 4);
	unsigned mask = always;
	struct kbal_hdr_env e;
	char *out, bal[KBAL_NAME_LEN + 16];
	ssize_t n;

	if (*len >= 13 && (*resp)[9] == '2')
		mask |= KBAL_HDR_MASK(KBAL_HDR_OUT);
	if (!end || !kbal_headers_any(d->conf, mask))
		return 0;
	/* a member picked: mod_proxy_balancer's variables are set (a 502,
	 * a 503 after failovers, ProxyErrorOverride's page) */
	hdr_env(d, c, c->member >= 0, bal, sizeof(bal), &e);
	if (e.vhost < 0)
		e.vhost = conn_base_vhost(d, c);   /* no Host read yet: r->server */
	n = own_rules(d, mask, &e, *resp, *len, end, &out);
	if (n < 0)
		return -1;
	if (*owned)
		free(*resp);
	*resp = out;
	*len = (size_t)n;
	*owned = 1;
	return 0;
}

ssize_t heads_framed_error(const struct kbal_daemon *d, const struct kbal_conn *c, unsigned status,
			   int vhost, const char *host, int routed, uint64_t came, char **out)
{
	const unsigned always = KBAL_HDR_MASK(KBAL_HDR_ALWAYS);
	static char page[OUT_SIZE];
	/* its 502 is a member's timeout: mod_proxy_http's ap_proxyerror() */
	const char *why = status == 502 ? "Error reading from remote server" : NULL;
	ssize_t n = heads_error_page_notes(d, vhost, host, status, why ? "Proxy Error" : NULL,
					   why, 0, NULL, page, sizeof(page));
	const char *end = n > 0 ? memmem(page, n, "\r\n\r\n", 4) : NULL;
	struct kbal_hdr_env e;
	char *ruled;

	if (n <= 0)
		return -1;
	if (end && kbal_headers_any(d->conf, always)) {
		char bal[KBAL_NAME_LEN + 16];
		ssize_t k;

		own_env(d, vhost, 0, came, &e);
		if (routed && c->member >= 0)
			balancer_env(d, c, NULL, bal, sizeof(bal), &e);
		if ((k = own_rules(d, always, &e, page, (size_t)n, end, &ruled)) >= 0) {
			/* Date, Server and the lines' order as exch_reply()'s */
			n = own_head_write(d->conf, ruled, (size_t)k, NULL, 0, out);
			free(ruled);
			return n;
		}
		log_info("Header always: kbald's own answer does not fit once changed: sent as is");
	}
	return own_head_write(d->conf, page, (size_t)n, NULL, 0, out);
}

/* httpd's ap_set_keepalive(), for an answer after which the client's
 * connection goes on, to a request whose Connection holds the keep-alive
 * token (browsers send it; HTTP/1.0 keep-alive clients must): the lines
 * "Keep-Alive: timeout=T, max=LEFT" ("timeout=T" alone under
 * MaxKeepAliveRequests 0) and "Connection: Keep-Alive" into out. T is
 * KeepAliveTimeout in whole seconds (apr_time_sec()), LEFT the bound less
 * the requests the connection answered before this one (httpd's
 * keepalives; c->nreq counts this one, the kernel's kept ones included).
 * Their length; 0 when none are due. */
size_t heads_keepalive_lines(const struct kbal_daemon *d, const struct kbal_conn *c, char *out,
			     size_t cap)
{
	const struct kbal_first *f = c->f;
	unsigned max = kbal_conf_max_keepalive(d->conf, f->vhost);
	unsigned t = kbal_conf_keepalive_timeout(d->conf, f->vhost) / 1000;   /* r->server's */
	int n;

	if (!f->ka_token)
		return 0;
	if (max)
		n = snprintf(out, cap, "Keep-Alive: timeout=%u, max=%u\r\nConnection: Keep-Alive\r\n",
			     t, max - (c->nreq ? c->nreq - 1 : 0));
	else
		n = snprintf(out, cap, "Keep-Alive: timeout=%u\r\nConnection: Keep-Alive\r\n", t);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* lines (len bytes, each ending in CRLF) before the empty line that ends
 * the head of n bytes in head (of cap): httpd adds its Connection and
 * Keep-Alive lines last (ap_set_keepalive() in its header filter, after
 * mod_proxy's and mod_headers' lines). The new length, or -1 */
static ssize_t head_append(char *head, size_t n, size_t cap, const char *lines, size_t len)
{
	if (n < 2 || n + len > cap || memcmp(head + n - 2, "\r\n", 2))
		return -1;
	memcpy(head + n - 2, lines, len);
	memcpy(head + n - 2 + len, "\r\n", 2);
	return (ssize_t)(n + len);
}

int heads_own_finish(const struct kbal_daemon *d, const struct kbal_conn *c, int keep,
		     char **resp, size_t *len, int *owned)
{
	char lines[128], *out;
	size_t k = keep ? heads_keepalive_lines(d, c, lines, sizeof(lines)) : 0;
	ssize_t n = own_head_write(d->conf, *resp, *len, lines, k, &out);

	if (n < 0)
		return -1;
	if (*owned)
		free(*resp);
	*resp = out;
	*len = (size_t)n;
	*owned = 1;
	return 0;
}

/* KbalProxyProtocol: the PROXY header that starts the member's connection
 * (a new one each time: such members keep none, balancers.c); its length */
static ssize_t proxy_prefix(const struct kbal_daemon *d, const struct kbal_conn *c, char *out,
			    size_t cap)
{
	unsigned v = d->conf->balancers[c->balancer].proxy_protocol;
	struct sockaddr_in6 src = { .sin6_family = AF_INET6 }, dst;

	if (v == KBAL_PP_OFF || v == KBAL_PP_UNSET)
		return 0;
	memcpy(&src.sin6_addr, c->key.client_addr, 16);
	src.sin6_port = c->key.client_port;
	kbal_in6_local(c->fd[CLIENT], &dst);
	if (kbal_in6_is_any(&dst.sin6_addr))
		return -1;
	return kbal_proxy_header(v, &src, &dst, out, cap);
}

/* RequestHeader: the client's head as the rules change it, parsed again
 * into *m (its framing is the client's: the rules may not touch it) */
static const char *request_headers(struct kbal_daemon *d, struct kbal_conn *c,
				   struct kbal_http_msg *m)
{
	static char head[BUF_SIZE];
	struct kbal_hdr_env e;
	char bal[KBAL_NAME_LEN + 16];
	size_t used;
	ssize_t n;

	hdr_env(d, c, 0, bal, sizeof(bal), &e);
	n = kbal_headers_apply(d->conf, KBAL_HDR_MASK(KBAL_HDR_IN), &e, c->f->buf[UP],
			       c->f->msg[UP].head_len, head, sizeof(head));
	if (n < 0)
		return NULL;
	kbal_http_init_request(m, NULL);
	if (kbal_http_feed(m, head, 0, n, &used) != KBAL_HTTP_HEAD)
		return NULL;
	return head;
}

/* r->server->port of virtual host vhost (-1: the server), 0 none: a
 * virtual host's is its ServerName's where it has one (0 without a port),
 * else its first address's, else the server's (ap_new_vhost(),
 * set_server_name()); the server's, its ServerName's */
static unsigned server_rec_port(const struct kbal_daemon *d, int vhost)
{
	const struct kbal_conf_vhost *v = vhost >= 0 ? &d->conf->vhost[vhost] : NULL;

	if (!v)
		return d->conf->server_port;
	return v->server_name[0] ? v->server_port : ntohs(v->addr[0].sin6_port) ?
	       ntohs(v->addr[0].sin6_port) : d->conf->server_port;
}

/* ProxyVia On|Full: "1.1 NAME[:PORT] [(kbal)]" as mod_proxy writes it: the
 * request's version, the server's ServerName (httpd's canonical name is
 * not the client's Host), ap_get_server_port() unless 80: the Host's port,
 * else its server's (the port of the ServerName of its virtual host, or
 * of the server's), never the listener's. NULL under Off and Block. */
static const char *via_value(const struct kbal_daemon *d, const struct kbal_conn *c, char *out,
			     size_t cap)
{
	const struct kbal_first *f = c->f;
	const char *name, *colon;
	unsigned port, via = kbal_conf_via(d->conf, f->vhost);
	size_t nlen;

	/* every request asks: nothing is looked at unless ProxyVia adds */
	if (via != KBAL_VIA_ON && via != KBAL_VIA_FULL)
		return NULL;
	name = f->vhost >= 0 && d->conf->vhost[f->vhost].server_name[0] ?
	       d->conf->vhost[f->vhost].server_name : d->conf->server_name;
	colon = f->host[0] != '[' ? strrchr(f->host, ':') : NULL;
	port = colon ? (unsigned)atoi(colon + 1) : 0;
	nlen = strcspn(name, ":");
	if (!port)
		port = server_rec_port(d, f->vhost);
	snprintf(out, cap, "%u.%u %.*s", f->msg[UP].proto_major, f->msg[UP].proto_minor,
		 (int)nlen, name);
	if (port && port != 80)
		snprintf(out + strlen(out), cap - strlen(out), ":%u", port);
	if (via == KBAL_VIA_FULL)
		snprintf(out + strlen(out), cap - strlen(out), " (kbal)");
	return out;
}

/* The Upgrade the request takes to its member (mod_proxy_http's
 * req->upgrade: its upgrade= lets it, no force-proxy-request-1.0), kept
 * for the answer: a 101 that names another is refused (exch_response_head()).
 * Kept here, as the head goes: a body moves the head out of buf[UP]. */
static void upgrade_asked(struct kbal_first *f)
{
	const struct kbal_http_header *h = kbal_http_find(&f->msg[UP], f->buf[UP], "Upgrade");

	f->upgrade_len = 0;
	if (!h || !f->msg[UP].upgrade || f->no_upgrade || f->http10)
		return;
	f->upgrade_len = h->value.len > UINT16_MAX ? UINT16_MAX : (uint16_t)h->value.len;
	memcpy(f->upgrade_asked, f->buf[UP] + h->value.off,
	       h->value.len < sizeof(f->upgrade_asked) ? h->value.len : sizeof(f->upgrade_asked));
}

/* Connected: build the head to send (needs the member for Host). */
int heads_request(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const struct kbal_conf_pass *p = &d->conf->pass[f->pass];
	char ip[INET6_ADDRSTRLEN];
	char host[KBAL_NAME_LEN], target[BUF_SIZE];
	const struct kbal_member *m = &d->maps.members[c->member];
	struct kbal_req_rewrite rw = {
		.client_ip = kbal_in6_ntop(c->key.client_addr, ip, sizeof(ip)),
		/* mod_proxy_http's X-Forwarded-Server: the request's server's
		 * server_hostname (its virtual host's; no port) */
		.server_name = f->vhost >= 0 && d->conf->vhost[f->vhost].server_host[0] ?
			       d->conf->vhost[f->vhost].server_host : d->conf->server_host,
		.keep_alive = c->pool,
		/* proxy-nokeepalive, force-proxy-request-1.0: the member's
		 * connection ends with the answer (ap_proxy_create_hdrbrgd()) */
		.close = (c->last && !c->pool) || f->member_close,
		.http10 = f->http10,
		.body_cl = f->body_cl,
		.body_len = f->body_len,
		.no_xfwd = kbal_conf_no_xfwd(d->conf, f->vhost),
		.via_block = kbal_conf_via(d->conf, f->vhost) == KBAL_VIA_BLOCK,
	};
	char via[KBAL_NAME_LEN + 160];
	ssize_t n, pp;
	const struct kbal_http_msg *req = &f->msg[UP];

	rw.via = via_value(d, c, via, sizeof(via));
	/* mod_proxy_http's do_100_continue, for the member picked (a
	 * failover builds again): the client's Expect: 100-continue (httpd's
	 * r->expecting_100, an HTTP/1.0 client's too; Proxy100Continue On,
	 * its default), or a body for a member with ping=; not with
	 * force-proxy-request-1.0, where ap_proxy_create_hdrbrgd() drops
	 * the client's Expect */
	f->do100 = !f->http10 && (req->expect_continue ||
				  (m->ping_ms && (req->chunked || req->content_length > 0)));
	rw.expect = f->do100 ? 1 : -1;

	if (!kbal_conf_preserve_host(d->conf, f->vhost)) {
		kbal_rewrite_member_host(m, host, sizeof(host));
		rw.host = host;
	} else if (!kbal_http_find(&f->msg[UP], f->buf[UP], "Host")) {
		/* ProxyPreserveHost with no Host to preserve (an HTTP/1.0
		 * request): ap_proxy_create_hdrbrgd() sends the server's name */
		rw.host = rw.server_name;
	}
	if (f->upgrade_pick) {
		const struct kbal_http_header *h = kbal_http_find(&f->msg[UP], f->buf[UP], "Upgrade");

		/* each member tried (a failover builds again) decides for itself */
		f->no_upgrade = !h || !member_upgrades(d, c->member, f->buf[UP] + h->value.off,
						       h->value.len);
		f->msg[UP].upgrade = !f->no_upgrade;
		if (f->no_upgrade)
			c->agent = 1;   /* planned as an upgrade, sent as an ordinary
					 * request: kbald decides the later ones */
	}
	rw.no_upgrade = f->no_upgrade;
	upgrade_asked(f);
	/* mod_proxy_http's terminate_headers(): "Connection: Keep-Alive" to
	 * a member connection that outlives the request, the client's
	 * Connection, the lines it names and Keep-Alive dropped; not where
	 * it ends with the request (a one-request client's without the
	 * pool: its Connection goes as it came, kbald waits for that end),
	 * nor for an Upgrade that goes on (its Connection: Upgrade) */
	rw.ka_line = !(c->once && !c->pool) && !f->msg[UP].upgrade;
	/* The target and the rest of the path as matched (decoded, dot
	 * segments removed, slashes merged, re-encoded as mod_proxy's
	 * canonicaliser does), not the bytes sent, whose "/app/../app/x"
	 * would leave the target. "ProxyPass / balancer://x/" strips "/" and
	 * adds "/": the identity for a path already in that form (the
	 * request-target goes as it came), not for "/%61pi//x", which httpd
	 * sends as "/api/x"; one the mapping cannot read (an asterisk-form)
	 * goes as it came too. */
	n = kbal_conf_pass_target(p, f->buf[UP] + f->msg[UP].url.off, f->msg[UP].url.len,
				  target, sizeof(target));
	if (!p->regex && strcmp(p->path, "/") == 0 && strcmp(p->target, "/") == 0 &&
	    (n < 0 || ((size_t)n == f->msg[UP].url.len &&
		       !memcmp(target, f->buf[UP] + f->msg[UP].url.off, n)))) {
		rw.target = NULL, rw.strip = 0;
	} else {
		if (n < 0)
			return -1;
		rw.target = target;
		rw.strip = f->msg[UP].url.len;
	}
	pp = proxy_prefix(d, c, f->outbuf[UP], OUT_SIZE);
	if (pp < 0)
		return -1;
	if (kbal_headers_any(d->conf, KBAL_HDR_MASK(KBAL_HDR_IN))) {
		static struct kbal_http_msg rq;
		const char *head = request_headers(d, c, &rq);

		if (!head) {
			log_info("RequestHeader: the request's head does not fit, or does "
				 "not parse, once changed");
			return -1;
		}
		n = kbal_http_build_request(&rq, head, &rw, f->outbuf[UP] + pp, OUT_SIZE - pp);
	} else {
		n = kbal_http_build_request(&f->msg[UP], f->buf[UP], &rw, f->outbuf[UP] + pp,
					    OUT_SIZE - pp);
	}
	if (n < 0)
		return -1;
	f->out[UP] = f->outbuf[UP];
	f->out_len[UP] = pp + n;
	f->out_sent[UP] = 0;
	return 0;
}

/*
 * The member's head (msg[DOWN]) as mod_proxy_http reads it into
 * r->headers_out, in out: its status line and lines as httpd writes them
 * (ProxyPassReverse, date_canon(), the lines it drops: conn, as
 * kbal_http_build_response() takes it), ProxyVia's line, the
 * ProxyPassReverseCookie* maps. Its length, or -1.
 */
static ssize_t member_head(struct kbal_daemon *d, struct kbal_conn *c, int conn, char *out,
			   size_t cap)
{
	struct kbal_first *f = c->f;
	const struct kbal_rev_set *rs = &d->rev[c->balancer];
	char base[300], via[KBAL_NAME_LEN + 160], line[KBAL_NAME_LEN + 170];
	static struct kbal_rev_rule rev[KBAL_CONF_MAX_PASS * KBAL_MAX_MEMBERS];
	const struct kbal_rev_rule *rules = rs->rules;
	size_t nrev = rs->n;
	ssize_t n;

	/* ProxyVia On|Full: one more Via line on the answer (apr_table_addn) */
	if (via_value(d, c, via, sizeof(via)))
		snprintf(line, sizeof(line), "Via: %s\r\n", via);
	else
		line[0] = '\0';

	heads_self_url(d, c, base, sizeof(base));
	/* c->pool: the member keeps its connection; the client's closes
	 * (it asked to) or goes on */
	/* the server's ProxyPassReverse rules and its virtual host's (a
	 * static array: one answer's head is built at a time) */
	if (rs->vhosts) {
		nrev = kbal_rewrite_rev_for(rs, f->vhost, rev, sizeof(rev) / sizeof(rev[0]));
		rules = rev;
	}
	n = kbal_http_build_response(&f->msg[DOWN], f->buf[DOWN], rules, nrev, base,
				     line[0] ? line : NULL, conn, out, cap);
	if (n < 0)
		return -1;
	if (d->conf->ncookie_path || d->conf->ncookie_domain) {
		/* mod_proxy maps the Set-Cookie lines as it reads the head */
		static char mapped[OUT_SIZE];

		n = kbal_rewrite_cookies(d->conf, f->vhost, out, n, mapped, sizeof(mapped));
		if (n < 0 || (size_t)n > cap) {
			log_info("ProxyPassReverseCookie*: the answer's head does not fit once "
				 "changed");
			return -1;
		}
		memcpy(out, mapped, n);
	}
	return n;
}

ssize_t heads_interim(struct kbal_daemon *d, struct kbal_conn *c, char *out, size_t cap)
{
	return member_head(d, c, KBAL_RESP_KEEP | KBAL_RESP_INTERIM, out, cap);
}

/* The response head is complete: add the cookie, rewrite Location. */
int heads_response(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;
	const unsigned mask = KBAL_HDR_MASK(KBAL_HDR_OUT) | KBAL_HDR_MASK(KBAL_HDR_ALWAYS);
	const struct kbal_http_msg *rsp = &f->msg[DOWN];
	size_t k;
	char ka[160];
	ssize_t n;
	int keep;

	/* the client's connection goes on after this answer: the member's
	 * Connection and Keep-Alive lines go (mod_proxy_http's
	 * ap_proxy_clear_connection() and hop-by-hop headers), httpd's own
	 * come last. A member connection carried for this client alone
	 * (!c->pool) that the member ends ends the client's too: its lines
	 * pass as they are. */
	keep = !c->once && rsp->status != 101 && (c->pool || rsp->keep_alive);
	n = member_head(d, c, (c->pool || keep ? KBAL_RESP_KEEP : KBAL_RESP_AS_IS) |
			(f->dechunk ? KBAL_RESP_NO_TE : 0) | (f->resp10 ? KBAL_RESP_V10 : 0),
			f->outbuf[DOWN], OUT_SIZE);
	if (n < 0)
		return -1;
	if (kbal_headers_any(d->conf, mask)) {
		/* mod_headers after mod_proxy's ProxyPassReverse, on the head
		 * as kbald sends it */
		static char head[OUT_SIZE];
		char bal[KBAL_NAME_LEN + 16];
		struct kbal_hdr_env e;

		hdr_env(d, c, 1, bal, sizeof(bal), &e);
		n = kbal_headers_apply(d->conf, mask, &e, f->outbuf[DOWN], n, head, sizeof(head));
		if (n < 0) {
			log_info("Header: the answer's head does not fit once changed");
			return -1;
		}
		memcpy(f->outbuf[DOWN], head, n);
	}
	/* basic_http_header(), after mod_headers: a final answer's Date
	 * and Server first, httpd's where it has none (a 101 and the interim
	 * ones go as ap_send_interim_response() sends them, without) */
	if (rsp->status >= 200) {
		static char stamped[OUT_SIZE];
		ssize_t m = own_head_proxied(d->conf, f->outbuf[DOWN], (size_t)n, stamped,
					     sizeof(stamped));

		if (m < 0) {
			log_info("the answer's head does not fit with httpd's Date and Server");
			return -1;
		}
		if (m) {
			memcpy(f->outbuf[DOWN], stamped, m);
			n = m;
			/* its next answers too, most likely: the kernel's
			 * (lines moved or added: bpf/stamp.bpf.h) */
			stamp_want(c);
		}
	}
	/* ap_set_keepalive(), after mod_headers: "Connection: close" where
	 * the client's connection ends with the member's kept (c->pool),
	 * Keep-Alive where it goes on and the request asked for it */
	k = c->pool && c->once ? strlen(strcpy(ka, "Connection: close\r\n")) :
	    keep ? heads_keepalive_lines(d, c, ka, sizeof(ka) - 32) : 0;
	/* an answer that ends at the member's close, chunked
	 * (exch_eof_plan()): its Transfer-Encoding last, as
	 * ap_http_header_filter() merges it after ap_set_keepalive() */
	if (f->ck_stream[DOWN])
		k += strlen(strcpy(ka + k, "Transfer-Encoding: chunked\r\n"));
	if (k && (n = head_append(f->outbuf[DOWN], (size_t)n, OUT_SIZE, ka, k)) < 0) {
		log_info("the answer's head does not fit with its Connection line");
		return -1;
	}
	f->out[DOWN] = f->outbuf[DOWN];
	/* an HTTP/0.9 request's answer is its body alone (httpd's
	 * assbackwards: no status line, no header) */
	f->out_len[DOWN] = f->msg[UP].http09 ? 0 : n;
	f->out_sent[DOWN] = 0;
	return 0;
}


ssize_t heads_error_page(const struct kbal_daemon *d, int vhost, const char *host,
			 unsigned status, int keep, const char *extra, char *out, size_t outlen)
{
	return heads_error_page_reason(d, vhost, host, status, NULL, keep, extra, out, outlen);
}

ssize_t heads_error_page_reason(const struct kbal_daemon *d, int vhost, const char *host,
				unsigned status, const char *reason, int keep, const char *extra,
				char *out, size_t outlen)
{
	return heads_error_page_notes(d, vhost, host, status, reason, NULL, keep, extra, out,
				      outlen);
}

/* r->server->server_admin: the virtual host's ServerAdmin, else the
 * server's, else httpd's DEFAULT_ADMIN */
static const char *server_admin(const struct kbal_daemon *d, int vhost)
{
	return vhost >= 0 && d->conf->vhost[vhost].server_admin[0] ?
	       d->conf->vhost[vhost].server_admin :
	       d->conf->server_admin[0] ? d->conf->server_admin : "[no address given]";
}

ssize_t heads_error_page_notes(const struct kbal_daemon *d, int vhost, const char *host,
			       unsigned status, const char *reason, const char *why, int keep,
			       const char *extra, char *out, size_t outlen)
{
	char sig[KBAL_PAGE_SIG_SIZE];

	/* ap_send_error_response(): the signature after the page's text,
	 * none on an ErrorDocument's own text (sent as it is) */
	heads_signature(d, vhost, host, "<hr>\n", sig, sizeof(sig));
	for (unsigned i = 0; i < d->conf->nerrdoc; i++) {
		const struct kbal_conf_errdoc *e = &d->conf->errdoc[i];
		ssize_t n;

		if (e->status != status)
			continue;
		/* ap_die(): a URL is a 302 there, a text the body */
		n = e->url ? kbal_page_redirect(302, e->text, sig, keep, out, outlen) :
			     kbal_page_text(status, reason, e->text, keep, extra, out, outlen);
		if (n > 0)
			return n;
		break;
	}
	/* a 500's page names ServerAdmin */
	if (status == 500 && !why)
		why = server_admin(d, vhost);
	return kbal_page_error_notes(status, reason, why, sig, keep, extra, out, outlen);
}

const char *heads_signature(const struct kbal_daemon *d, int vhost, const char *host,
			    const char *prefix, char *out, size_t cap)
{
	const struct kbal_conf *conf = d->conf;
	const struct kbal_conf_vhost *v = vhost >= 0 ? &conf->vhost[vhost] : NULL;
	int sig = v && v->server_signature >= 0 ? v->server_signature : conf->server_signature;
	char banner[64], name[256];
	unsigned long port = 0;

	if (sig == KBAL_SIG_OFF) {
		out[0] = '\0';
		return out;
	}
	/* ap_get_server_name(): UseCanonicalName Off names r->hostname (the
	 * client's Host), else (On, or no Host) r->server's server_hostname;
	 * ap_get_server_port(): the Host's port under Off, else
	 * r->server->port, else 80 (ap_default_port()) */
	if (conf->canonical_name || !host || !kbal_host_name(host, name, sizeof(name), &port))
		snprintf(name, sizeof(name), "%s", v && v->server_host[0] ? v->server_host :
			 conf->server_host);
	if (!port)
		port = server_rec_port(d, vhost);
	return kbal_page_signature((unsigned)sig, prefix,
				   own_head_banner(conf->server_tokens, banner, sizeof(banner)),
				   server_admin(d, vhost), name, port ? (unsigned)port : 80, out,
				   cap);
}

/* "http://" and the client's Host as httpd names itself by it: its
 * r->hostname (kbal_host_name()) and the Host's port as a number, none
 * for 80 (ap_get_server_port(), ap_construct_url()); -1 for an empty Host */
static int self_host(const char *host, char *out, size_t cap)
{
	char name[256];
	unsigned long port;

	if (!kbal_host_name(host, name, sizeof(name), &port))
		return -1;
	/* ap_get_server_name_for_url(): an IPv6 literal in brackets */
	snprintf(out, cap, strchr(name, ':') ? "http://[%s]" : "http://%s", name);
	if (port && port != 80)
		snprintf(out + strlen(out), cap - strlen(out), ":%lu", port);
	return 0;
}

void heads_self_url(const struct kbal_daemon *d, const struct kbal_conn *c, char *out, size_t cap)
{
	const char *host = c->f->host;
	int v = c->f->vhost;
	const char *name = v >= 0 && d->conf->vhost[v].server_name[0] ?
			   d->conf->vhost[v].server_name : d->conf->server_name;

	/* ap_construct_url(): UseCanonicalName On names the ServerName of the
	 * request's virtual host (with its port, 80 otherwise); Off the
	 * client's Host, that ServerName without one */
	if (d->conf->canonical_name || self_host(host, out, cap) < 0)
		snprintf(out, cap, "http://%s", name);
}
