// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* hcheck.c - mod_proxy_hcheck's health checks, from the event loop (hcheck.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "daemon.h"
#include "hcheck.h"
#include "inaddr.h"
#include "hcexpr.h"
#include "http.h"
#include "log.h"
#include "member.h"

enum { RUN_CONNECT, RUN_SEND, RUN_READ };

struct hc_run {
	int fd;
	unsigned member;
	uint8_t stage;
	uint8_t head;                 /* the response's head came */
	size_t sent;
	uint64_t deadline;
	struct kbal_http_msg msg;
	char buf[4096];
	char *body;                   /* its first KBAL_HCEXPR_BODY bytes, when the
				       * condition reads them (hc('body')) */
	size_t body_len;
};

struct hc_member {
	uint8_t method;               /* enum kbal_hc_method, NONE: no checks */
	char req[512];                /* the request of an HTTP check */
	size_t req_len;
	union kbal_sa addr;               /* of the member's family */
	socklen_t addrlen;
	unsigned passes, fails, pcount, fcount;
	uint64_t interval_ns, connect_ns, read_ns;
	uint64_t next_at;
	struct hc_run *run;
	struct kbal_hcexpr *expr;     /* hcexpr=: its condition, NULL: 2xx or 3xx */
};

static const char *const method_name[] = {
	[KBAL_HC_NONE] = "NONE", [KBAL_HC_TCP] = "TCP", [KBAL_HC_OPTIONS] = "OPTIONS",
	[KBAL_HC_HEAD] = "HEAD", [KBAL_HC_GET] = "GET", [KBAL_HC_OPTIONS11] = "OPTIONS",
	[KBAL_HC_HEAD11] = "HEAD", [KBAL_HC_GET11] = "GET",
};

/* create_hcheck_req(): OPTIONS *, or METHOD <the member URL's path>/<hcuri> */
static void build_request(struct hc_member *h, const struct kbal_conf_member *cm)
{
	const char *proto = h->method >= KBAL_HC_OPTIONS11 ? "HTTP/1.1" : "HTTP/1.0";
	const char *path = strchr(cm->url + 7, '/');   /* after "http://" */
	int n;

	if (h->method == KBAL_HC_OPTIONS || h->method == KBAL_HC_OPTIONS11)
		n = snprintf(h->req, sizeof(h->req), "OPTIONS * %s\r\nHost: %s\r\n\r\n", proto,
			     cm->hostport);
	else
		n = snprintf(h->req, sizeof(h->req), "%s %s%s%s %s\r\nHost: %s\r\n\r\n",
			     method_name[h->method], path ? path : "",
			     path && cm->hc_uri[0] && path[strlen(path) - 1] != '/' &&
			     cm->hc_uri[0] != '/' ? "/" : "", cm->hc_uri[0] ? cm->hc_uri :
			     path ? "" : "/", proto, cm->hostport);
	h->req_len = n > 0 && (size_t)n < sizeof(h->req) ? (size_t)n : 0;
}

static void on_check(void *data, uintptr_t obj, unsigned tag, uint32_t events);

int kbal_hcheck_init(struct kbal_daemon *d)
{
	const struct kbal_conf *conf = d->conf;

	d->hc.m = NULL;
	d->hc.running = 0;
	kbal_loop_on(&d->loop, KBAL_TAG_HCHECK, on_check);
	for (unsigned b = 0; b < conf->nbalancers; b++) {
		const struct kbal_conf_balancer *cb = &conf->balancers[b];

		for (unsigned k = 0; k < cb->nmembers; k++) {
			const struct kbal_conf_member *cm = &cb->members[k];
			unsigned i = d->maps.balancers[b].first_member + k;
			struct hc_member *h;

			if (cm->hc_method == KBAL_HC_NONE || i >= KBAL_MAX_MEMBERS)
				continue;
			if (!d->hc.m && !(d->hc.m = calloc(KBAL_MAX_MEMBERS, sizeof(*d->hc.m))))
				return -ENOMEM;
			h = &d->hc.m[i];
			h->method = cm->hc_method;
			h->addrlen = kbal_sa_make(&h->addr, &cm->addr.sin6_addr,
						  cm->addr.sin6_port);
			h->passes = cm->hc_passes ? cm->hc_passes : 1;
			h->fails = cm->hc_fails ? cm->hc_fails : 1;
			h->interval_ns = (uint64_t)(cm->hc_interval_ms ? cm->hc_interval_ms :
						    KBAL_HC_INTERVAL_MS) * 1000000ull;
			/* the server's ProxyTimeout / Timeout where the member
			 * sets none (the watchdog's server_rec) */
			h->connect_ns = (uint64_t)(cm->connect_timeout_ms ?: conf->timeout_ms) *
					1000000ull;
			h->read_ns = (uint64_t)(cm->timeout_ms ? cm->timeout_ms : conf->timeout_ms) *
				     1000000ull;
			/* httpd's watchdog: the first check one interval after the start */
			h->next_at = d->loop.now + h->interval_ns;
			if (h->method != KBAL_HC_TCP)
				build_request(h, cm);
			for (unsigned x = 0; cm->hc_expr[0] && x < conf->nhcexpr && !h->expr; x++) {
				char err[256];

				if (!strcmp(conf->hcexpr[x].name, cm->hc_expr) &&
				    !(h->expr = kbal_hcexpr_compile(conf->hcexpr[x].text, err,
								    sizeof(err))))
					log_warn("ProxyHCExpr %s: %s", cm->hc_expr, err);
			}
		}
	}
	return 0;
}

static void run_end(struct kbal_daemon *d, struct hc_member *h)
{
	struct hc_run *r = h->run;

	if (!r)
		return;
	if (r->fd >= 0) {
		kbal_loop_del(&d->loop, r->fd);
		close(r->fd);
	}
	free(r->body);
	free(r);
	h->run = NULL;
	d->hc.running--;
}

void kbal_hcheck_fini(struct kbal_daemon *d)
{
	if (!d->hc.m)
		return;
	for (unsigned i = 0; i < KBAL_MAX_MEMBERS; i++) {
		run_end(d, &d->hc.m[i]);
		kbal_hcexpr_free(d->hc.m[i].expr);
	}
	free(d->hc.m);
	d->hc.m = NULL;
}

/* hc_check()'s verdict on a member: the counts, then C (and E) */
static void verdict(struct kbal_daemon *d, unsigned i, int ok, const char *why)
{
	struct hc_member *h = &d->hc.m[i];
	struct kbal_member *m = &d->maps.members[i];
	unsigned st = __atomic_load_n(&m->status, __ATOMIC_ACQUIRE), was = st;

	run_end(d, h);
	h->next_at = d->loop.now + h->interval_ns;
	if (st & (KBAL_ST_HC_FAIL | KBAL_ST_ERROR)) {
		if (ok && ++h->pcount >= h->passes) {
			st &= ~(KBAL_ST_HC_FAIL | KBAL_ST_ERROR);
			h->pcount = 0;
			log_info("health check ENABLING %s (%s passed %u time(s))", m->url,
				 method_name[h->method], h->passes);
		}
	} else if (!ok && ++h->fcount >= h->fails) {
		st |= KBAL_ST_HC_FAIL;
		h->fcount = 0;
		log_info("health check DISABLING %s (%s: %s)", m->url, method_name[h->method], why);
	}
	if (st == was)
		return;
	__atomic_store_n(&m->status, st, __ATOMIC_RELEASE);
	/* what the kernel keeps is decided again (decide.h) */
	__atomic_add_fetch(&d->maps.balancers[m->balancer].gen, 1, __ATOMIC_RELEASE);
}

static void run_fail(struct kbal_daemon *d, struct hc_run *r, const char *why)
{
	verdict(d, r->member, 0, why);
}

/* bytes of the answer's body, kept for hc('body') up to its cap (as they
 * come: a chunked body's size lines too) */
static void keep_body(struct hc_run *r, const char *p, size_t n)
{
	if (!r->body || r->body_len >= KBAL_HCEXPR_BODY)
		return;
	if (n > KBAL_HCEXPR_BODY - r->body_len)
		n = KBAL_HCEXPR_BODY - r->body_len;
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
}

/* the response so far: once it has all come, a 2xx or 3xx status passes,
 * or its hcexpr= condition decides */
static void run_read(struct kbal_daemon *d, struct hc_run *r)
{
	const struct hc_member *h = &d->hc.m[r->member];

	for (;;) {
		ssize_t n = recv(r->fd, r->buf, sizeof(r->buf), MSG_DONTWAIT);
		size_t off = 0, used;
		int rc;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			return run_fail(d, r, strerror(errno));
		if (n == 0) {
			/* the end: whole only for a response framed by the close */
			if (r->head && r->msg.content_length < 0 && !r->msg.chunked)
				break;
			return run_fail(d, r, "the response ended short");
		}
		if (r->head)
			keep_body(r, r->buf, n);
		do {
			int had_head = r->head;

			rc = kbal_http_feed(&r->msg, r->buf, off, n - off, &used);
			off += used;
			if (rc == KBAL_HTTP_HEAD && !had_head)
				keep_body(r, r->buf + off, n - off);
			if (rc == KBAL_HTTP_ERROR)
				return run_fail(d, r, "a response that does not parse");
			if (rc == KBAL_HTTP_HEAD)
				r->head = 1;
			if (rc != KBAL_HTTP_DONE && !r->msg.done)
				continue;
			/* an interim 1xx: the final head follows */
			if (r->msg.status >= 100 && r->msg.status < 200 && r->msg.status != 101) {
				kbal_http_next(&r->msg);
				r->head = 0;
				continue;
			}
			goto done;
		} while (rc != KBAL_HTTP_AGAIN && off < (size_t)n);
	}
done:
	if (h->expr) {
		if (!kbal_hcexpr_eval(h->expr, r->msg.status, r->body, r->body_len))
			return run_fail(d, r, "its condition failed (hcexpr=)");
		return verdict(d, r->member, 1, NULL);
	}
	if (r->msg.status < 200 || r->msg.status > 399) {
		char why[48];

		snprintf(why, sizeof(why), "status %u", r->msg.status);
		return run_fail(d, r, why);
	}
	verdict(d, r->member, 1, NULL);
}

static void on_check(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;
	struct hc_run *r = (struct hc_run *)obj;
	struct hc_member *h = &d->hc.m[r->member];
	int err = 0;
	socklen_t len = sizeof(err);

	(void)tag;
	if (r->stage == RUN_CONNECT) {
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
			return run_fail(d, r, err ? strerror(err) : "connect");
		if (!(events & EPOLLOUT))
			return;
		if (h->method == KBAL_HC_TCP)
			return verdict(d, r->member, 1, NULL);
		r->stage = RUN_SEND;
		r->deadline = d->loop.now + h->read_ns;
	}
	if (r->stage == RUN_SEND) {
		ssize_t n = send(r->fd, h->req + r->sent, h->req_len - r->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN)
			return run_fail(d, r, strerror(errno));
		if (n > 0)
			r->sent += n;
		if (r->sent < h->req_len)
			return;
		r->stage = RUN_READ;
		kbal_loop_mod(&d->loop, r->fd, EPOLLIN | EPOLLRDHUP, KBAL_TAG_HCHECK, (uintptr_t)r);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		run_read(d, r);
}

static void run_start(struct kbal_daemon *d, unsigned i)
{
	struct hc_member *h = &d->hc.m[i];
	struct hc_run *r;
	int err;

	if (h->method != KBAL_HC_TCP && !h->req_len) {
		h->next_at = d->loop.now + h->interval_ns;   /* no request fits: said at start */
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->member = i;
	r->fd = socket(h->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	h->run = r;
	d->hc.running++;
	kbal_http_init_response(&r->msg);
	/* HEAD and OPTIONS answer with a head alone (httpd's header_only) */
	r->msg.skip_body = h->method != KBAL_HC_GET && h->method != KBAL_HC_GET11 &&
			   h->method != KBAL_HC_TCP;
	if (kbal_hcexpr_wants_body(h->expr) && !r->msg.skip_body)
		r->body = malloc(KBAL_HCEXPR_BODY);
	r->deadline = d->loop.now + h->connect_ns;
	/* the members' connections' source, as mod_proxy's
	 * ap_proxy_connect_backend() makes it for the checks too */
	err = r->fd < 0 ? -errno : member_socket_source(d->conf, r->fd, h->addr.sa.sa_family);
	if (!err && connect(r->fd, &h->addr.sa, h->addrlen) &&
	    errno != EINPROGRESS)
		err = -errno;
	if (err) {
		run_fail(d, r, strerror(-err));
		return;
	}
	if (kbal_loop_add(&d->loop, r->fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, KBAL_TAG_HCHECK,
			  (uintptr_t)r))
		run_fail(d, r, "epoll");
}

void kbal_hcheck_tick(struct kbal_daemon *d)
{
	if (!d->hc.m)
		return;
	for (unsigned i = 0; i < KBAL_MAX_MEMBERS; i++) {
		struct hc_member *h = &d->hc.m[i];

		if (h->method == KBAL_HC_NONE)
			continue;
		if (h->run) {
			if (d->loop.now >= h->run->deadline)
				run_fail(d, h->run, h->run->stage == RUN_CONNECT ?
					 "no connection within its timeout" :
					 "no whole answer within Timeout");
			continue;
		}
		/* none while stopped, as httpd's watchdog; none while the
		 * connections hold every descriptor (the next tick) */
		if (d->loop.now < h->next_at ||
		    (d->maps.members[i].status & KBAL_ST_STOPPED) ||
		    !kbal_fds_room(d, 1))
			continue;
		run_start(d, i);
	}
}
