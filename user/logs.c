// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* logs.c - ErrorLog, LogLevel and the CustomLog lines (logs.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "conn.h"
#include "daemon.h"
#include "hostname.h"
#include "log.h"
#include "logfile.h"
#include "logs.h"
#include "splice_sockmap.h"

int kbal_logs_open(struct kbal_daemon *d, int verbose)
{
	const struct kbal_conf *conf = d->conf;
	struct kbal_alog *a = &d->alog;
	char err[512];

	if (conf->loglevel && !verbose)
		kbal_log_level = conf->loglevel - 1;
	if (conf->errorlog[0]) {
		struct kbal_logfile *f = kbal_logfile_open(conf->errorlog, err, sizeof(err));

		if (!f) {
			log_err("ErrorLog %s", err);
			return -1;
		}
		kbal_log_to(f);
	}
	memset(a, 0, sizeof(*a));
	a->slashes = conf->encoded_slashes;
	for (unsigned i = 0; i < conf->ncustomlog; i++) {
		const struct kbal_conf_customlog *l = &conf->customlog[i];

		if (kbal_alog_compile(l->format, &a->fmt[i], a->hdrs, &a->nhdrs, err, sizeof(err))) {
			log_err("%s:%d: CustomLog %s: %s", KBAL_CONF_FILE(conf, l->line), KBAL_CONF_LINENO(l->line), l->path, err);
			return -1;
		}
		a->path |= kbal_alog_logs_path(&a->fmt[i]);
		a->file[i] = kbal_logfile_open(l->path, err, sizeof(err));
		if (!a->file[i]) {
			log_err("%s:%d: CustomLog %s", KBAL_CONF_FILE(conf, l->line), KBAL_CONF_LINENO(l->line), err);
			return -1;
		}
		a->n++;
	}
	return 0;
}

void kbal_logs_capture(struct kbal_daemon *d, struct kbal_conn *c)
{
	if (d->alog.n && !c->f->alog.mem &&
	    kbal_alog_capture(&d->alog, &c->f->msg[UP], c->f->buf[UP], &c->f->alog))
		log_debug("conn %p: no memory for its access log line", (void *)c);
}

void kbal_logs_refused(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_first *f = c->f;

	if (d->alog.n && !f->alog.mem &&
	    kbal_alog_capture_refused(&d->alog, &f->msg[UP], f->buf[UP], f->len[UP],
				      d->conf->limits.line, &f->alog))
		log_debug("conn %p: no memory for its access log line", (void *)c);
}

/* CLOCK_REALTIME of a CLOCK_MONOTONIC time */
static uint64_t wall(const struct kbal_daemon *d, uint64_t mono)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec * 1000000000ull + ts.tv_nsec;
	return now - (d->loop.now > mono ? d->loop.now - mono : 0);
}

static void member_part(const struct kbal_daemon *d, const struct kbal_conn *c,
			struct kbal_alog_rec *r)
{
	if (c->member >= 0) {
		const struct kbal_member *m = &d->maps.members[c->member];

		r->member = m->url;
		r->route = m->route;
		r->balancer = d->maps.balancers[m->balancer].name;
	}
	memcpy(r->client_addr, c->key.client_addr, 16);
	r->client_port = ntohs(c->key.client_port);
	r->local_port = c->key.listen_port;
	r->server = d->conf->server_host;
	r->server_port = d->conf->server_port;
}

/* %V: httpd's ap_get_server_name(): with UseCanonicalName Off the
 * request's Host as vhost.c keeps it (no port, no brackets, no trailing
 * dot, lower case), where it had one httpd accepted; else %v's name */
static const char *request_server(const struct kbal_daemon *d, const char *host, char *out,
				  size_t cap)
{
	return d->conf->canonical_name ? NULL : kbal_host_name(host, out, cap, NULL);
}

/* the answer's head, as kbald wrote it: its own reply's (out[DOWN] holds
 * it with its body), or the member's (rewritten, or as it came) */
static uint64_t head_written(const struct kbal_first *f)
{
	if (f->answered && f->out[DOWN]) {
		const char *e = memmem(f->out[DOWN], f->out_len[DOWN], "\r\n\r\n", 4);

		return e ? (uint64_t)(e + 4 - f->out[DOWN]) : f->out_len[DOWN];
	}
	return f->out[DOWN] ? f->out_len[DOWN] : f->msg[DOWN].head_len;
}

void kbal_logs_request(struct kbal_daemon *d, struct kbal_conn *c, char conn_status)
{
	struct kbal_first *f = c->f;
	struct kbal_alog_rec r = { 0 };
	uint64_t out, head;
	char name[256];

	if (!f || !f->alog.mem)
		return;
	if (d->alog.n) {
		member_part(d, c, &r);
		r.rq = &f->alog;
		r.start_ns = wall(d, f->rq_start ? f->rq_start : d->loop.now);
		r.duration_ns = f->rq_start && d->loop.now > f->rq_start ? d->loop.now - f->rq_start : 0;
		r.status = f->answered ? f->answered :
			   f->msg[DOWN].head_done ? f->msg[DOWN].status : 0;
		out = c->wr[CLIENT] - f->exch_wr;
		head = head_written(f);
		r.bytes_out = out;
		r.body = r.status && out > head ? out - head : 0;
		r.bytes_in = c->rd[CLIENT] - f->exch_rd;
		r.session_route = f->route[0] ? f->route : NULL;
		r.sticky = c->balancer >= 0 && d->maps.balancers[c->balancer].sticky[0] ?
			   d->maps.balancers[c->balancer].sticky : NULL;
		r.route_changed = c->changed;
		r.env = &f->env;
		if (f->vhost >= 0 && d->conf->vhost[f->vhost].server_name[0])
			r.server = d->conf->vhost[f->vhost].server_host;
		/* a <VirtualHost>'s own (none: 80, not the server's: as
		 * Debian's apache2 logs it) */
		if (f->vhost >= 0)
			r.server_port = d->conf->vhost[f->vhost].server_port;
		r.request_server = request_server(d, f->host, name, sizeof(name));
		r.conn_status = r.status ? conn_status : 'X';
		r.keepalive = c->served;
		kbal_alog_write(&d->alog, &r);
	}
	kbal_alog_release(&f->alog);
}

void kbal_logs_flow(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_alog_rec r = { 0 };
	uint64_t sent, recvd;

	if (!d->alog.n || c->f || (c->phase[UP] < P_SPLICED && !c->pkt))
		return;
	member_part(d, c, &r);
	r.flow_path = c->pkt ? "packet" : c->phase[UP] == P_RELAY || c->phase[DOWN] == P_RELAY ?
		      "copy" : "sockmap";
	r.start_ns = wall(d, c->since ? c->since : d->loop.now);
	r.duration_ns = c->since && d->loop.now > c->since ? d->loop.now - c->since : 0;
	/* what the member's side carried, as its counters will have it */
	if (c->pkt || c->reused) {
		r.bytes_in = c->pkt ? c->pkt_bytes[UP] : c->wr[MEMBER];
		r.bytes_out = c->pkt ? c->pkt_bytes[DOWN] : c->rd[MEMBER];
	} else if (c->fd[MEMBER] >= 0 && kbal_sock_payload(c->fd[MEMBER], &sent, &recvd) == 0) {
		r.bytes_in = sent;
		r.bytes_out = recvd;
	}
	r.body = r.bytes_out;
	r.conn_status = '-';
	r.keepalive = c->served;
	kbal_alog_write(&d->alog, &r);
}
