// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* accesslog.c - CustomLog lines in mod_log_config's language (accesslog.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "accesslog.h"
#include "conf.h"
#include "inaddr.h"
#include "headers.h"
#include "http.h"
#include "logfile.h"

enum {
	A_LIT, A_CLIENT, A_DASH, A_TIME, A_REQUEST, A_STATUS, A_BYTES_CLF, A_BYTES, A_DUR_US,
	A_DUR, A_HDR, A_ENV, A_METHOD, A_PATH, A_QUERY, A_PROTO, A_PORT, A_SERVER, A_SERVER_REQ, A_CONN,
	A_KEEPALIVE, A_PID, A_IN, A_OUT, A_PERCENT,
};

enum { UNIT_S, UNIT_MS, UNIT_US };                 /* %{UNIT}T */
enum { PORT_CANONICAL, PORT_LOCAL, PORT_REMOTE };  /* %{canonical|local|remote}p */

static int add(struct kbal_alog_fmt *f, uint8_t kind, char *err, size_t errlen)
{
	if (f->n == KBAL_ALOG_MAX_ITEMS) {
		snprintf(err, errlen, "LogFormat: more than %d items", KBAL_ALOG_MAX_ITEMS);
		return -1;
	}
	memset(&f->item[f->n], 0, sizeof(f->item[0]));
	f->item[f->n++].kind = kind;
	return 0;
}

static int add_lit(struct kbal_alog_fmt *f, const char *s, size_t len, char *err, size_t errlen)
{
	if (!len)
		return 0;
	if (f->nlit + len > sizeof(f->lit)) {
		snprintf(err, errlen, "LogFormat: too much text between its items");
		return -1;
	}
	if (add(f, A_LIT, err, errlen))
		return -1;
	memcpy(f->lit + f->nlit, s, len);
	f->item[f->n - 1].arg = f->nlit;
	f->item[f->n - 1].len = len;
	f->nlit += len;
	return 0;
}

static int hdr_index(char hdrs[KBAL_ALOG_MAX_HDR][48], unsigned *nhdrs, const char *name)
{
	for (unsigned i = 0; i < *nhdrs; i++)
		if (!strcasecmp(hdrs[i], name))
			return i;
	if (*nhdrs == KBAL_ALOG_MAX_HDR)
		return -1;
	snprintf(hdrs[*nhdrs], 48, "%s", name);
	return (*nhdrs)++;
}

int kbal_alog_compile(const char *fmt, struct kbal_alog_fmt *f,
		      char hdrs[KBAL_ALOG_MAX_HDR][48], unsigned *nhdrs, char *err, size_t errlen)
{
	const char *s = fmt, *lit = fmt;

	memset(f, 0, sizeof(*f));
	while (*s) {
		char arg[48] = "", c, flag = 0;
		int k;

		if (*s != '%') {
			s++;
			continue;
		}
		if (add_lit(f, lit, s - lit, err, errlen))
			return -1;
		s++;
		if (*s == '<' || *s == '>')
			flag = *s++;
		if (*s == '{') {
			const char *end = strchr(s, '}');

			if (!end || end - s - 1 >= (int)sizeof(arg)) {
				snprintf(err, errlen, "LogFormat: an unterminated or too long %%{...}");
				return -1;
			}
			memcpy(arg, s + 1, end - s - 1);
			s = end + 1;
		}
		if (*s >= '0' && *s <= '9') {
			snprintf(err, errlen, "LogFormat: status conditions (%%%.8s) are not supported "
				 "by kbal", s);
			return -1;
		}
		c = *s ? *s++ : '\0';
		switch (c) {
		case 'h': case 'a': k = A_CLIENT; break;
		case 'l': case 'u': k = A_DASH; break;
		case 't': k = A_TIME; break;
		case 'r': k = A_REQUEST; break;
		case 's': k = A_STATUS; break;
		case 'b': k = A_BYTES_CLF; break;
		case 'B': k = A_BYTES; break;
		case 'D': k = A_DUR_US; break;
		case 'T': k = A_DUR; break;
		case 'i': k = A_HDR; break;
		case 'e': k = A_ENV; break;
		case 'm': k = A_METHOD; break;
		case 'U': k = A_PATH; break;
		case 'q': k = A_QUERY; break;
		case 'H': k = A_PROTO; break;
		case 'p': k = A_PORT; break;
		case 'v': k = A_SERVER; break;
		case 'V': k = A_SERVER_REQ; break;
		case 'X': k = A_CONN; break;
		case 'k': k = A_KEEPALIVE; break;
		case 'P': k = A_PID; break;
		case 'I': k = A_IN; break;
		case 'O': k = A_OUT; break;
		case '%': k = A_PERCENT; break;
		default:
			snprintf(err, errlen, "LogFormat: %%%c is not supported by kbal", c ? c : ' ');
			return -1;
		}
		if (add(f, k, err, errlen))
			return -1;
		struct kbal_alog_item *it = &f->item[f->n - 1];

		it->flag = flag;
		snprintf(it->name, sizeof(it->name), "%s", arg);
		if (k == A_HDR) {
			int h = arg[0] ? hdr_index(hdrs, nhdrs, arg) : -1;

			if (h < 0) {
				snprintf(err, errlen, "LogFormat: %%i needs a header's name, and at most "
					 "%d distinct ones", KBAL_ALOG_MAX_HDR);
				return -1;
			}
			it->arg = h;
		} else if (k == A_DUR) {
			it->flag = !arg[0] || !strcmp(arg, "s") ? UNIT_S : !strcmp(arg, "ms") ? UNIT_MS :
				   !strcmp(arg, "us") ? UNIT_US : 0xff;
			if (it->flag == 0xff) {
				snprintf(err, errlen, "LogFormat: %%{%s}T: the unit is s, ms or us", arg);
				return -1;
			}
		} else if (k == A_PORT) {
			/* mod_log_config's log_server_port(): anything else is
			 * the canonical port */
			it->flag = !strcmp(arg, "remote") ? PORT_REMOTE :
				   !strcmp(arg, "local") ? PORT_LOCAL : PORT_CANONICAL;
		} else if (k == A_ENV && !arg[0]) {
			snprintf(err, errlen, "LogFormat: %%e needs a variable's name");
			return -1;
		} else if (k == A_TIME && arg[0] && strchr(arg, ':')) {
			snprintf(err, errlen, "LogFormat: %%{%s}t: begin:/end: forms are not supported "
				 "by kbal", arg);
			return -1;
		}
		lit = s;
	}
	return add_lit(f, lit, s - lit, err, errlen);
}

int kbal_alog_logs_path(const struct kbal_alog_fmt *f)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->item[i].kind == A_PATH)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ capture */

int kbal_alog_capture(const struct kbal_alog *a, const struct kbal_http_msg *rq, const char *buf,
		      struct kbal_alog_req *out)
{
	const struct kbal_http_header *h[KBAL_ALOG_MAX_HDR] = { 0 };
	size_t need = rq->method.len + 2 * (rq->url.len + 1) + 16, at = 0;
	char *m;
	int n;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < a->nhdrs; i++) {
		h[i] = kbal_http_find(rq, buf, a->hdrs[i]);
		if (h[i])
			need += h[i]->value.len + 1;
	}
	m = malloc(need);
	if (!m)
		return -ENOMEM;
	out->mem = m;
#define PUT(dst, p, n) do { memcpy(m + at, (p), (n)); m[at + (n)] = '\0'; (dst) = m + at; \
			    at += (n) + 1; } while (0)
	PUT(out->method, buf + rq->method.off, rq->method.len);
	PUT(out->url, buf + rq->url.off, rq->url.len);
	/* httpd's r->uri, which %U logs: decoded, dot segments gone, slashes
	 * merged (never longer than the target); only where a format logs it */
	if (a->path) {
		n = kbal_conf_uri_path_ex(buf + rq->url.off, rq->url.len, m + at, rq->url.len + 1,
					  a->slashes);
		if (n == -EBADMSG || n == -ENOENT)
			n = kbal_conf_uri_unescaped(buf + rq->url.off, rq->url.len, m + at);
		else if (n == -ERANGE)
			n = kbal_conf_uri_path_ex(buf + rq->url.off, rq->url.len, m + at,
						  rq->url.len + 1, a->slashes | KBAL_URI_CLAMP);
		if (n >= 0) {
			out->path = m + at;
			at += n + 1;
		}
	}
	at += snprintf(m + at, need - at, "HTTP/%u.%u", rq->proto_major, rq->proto_minor) + 1;
	out->proto = m + at - 9;
	for (unsigned i = 0; i < a->nhdrs; i++)
		if (h[i])
			PUT(out->hdr[i], buf + h[i]->value.off, h[i]->value.len);
#undef PUT
	return 0;
}

int kbal_alog_capture_refused(const struct kbal_alog *a, const struct kbal_http_msg *rq,
			      const char *buf, size_t len, size_t max_line,
			      struct kbal_alog_req *out)
{
	const char *base = buf, *eol = memchr(buf, '\n', len), *sp1, *sp2;
	size_t n = eol ? (size_t)(eol - buf) : len, need;
	char *m;

	/* httpd skips blank lines before the request line; so does llhttp */
	while (n == 0 || (n == 1 && buf[0] == '\r')) {
		if (!eol)
			break;
		len -= eol + 1 - buf;
		buf = eol + 1;
		eol = memchr(buf, '\n', len);
		n = eol ? (size_t)(eol - buf) : len;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	if (max_line && n > max_line + 1) {
		/* 414: httpd keeps LimitRequestLine + 1 bytes of it (what its
		 * read saw over the limit), and takes no word from it */
		n = max_line + 1;
		eol = NULL;
	}
	if (eol && rq->line_done) {
		/* the line parsed: the request's own fields */
		if (kbal_alog_capture(a, rq, base, out))
			return -ENOMEM;
	} else {
		memset(out, 0, sizeof(*out));
	}
	need = 3 * n + 32;
	m = malloc(need);
	if (!m) {
		kbal_alog_release(out);
		return -ENOMEM;
	}
	memcpy(m, buf, n);
	m[n] = '\0';
	out->line = m;
	sp1 = memchr(m, ' ', n);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', m + n - sp1 - 1) : NULL;
	if (out->mem && !rq->http_major && sp2) {
		/* llhttp refused a field before it told the version: the
		 * line's third word */
		char *w = m + n + 1;

		memcpy(w, sp2 + 1, m + n - sp2 - 1);
		w[m + n - sp2 - 1] = '\0';
		out->proto = w;
	}
	if (!out->mem) {
		/* words of a line llhttp refused: httpd's read_request_line()
		 * takes the first as the method, "/" without a target, and
		 * HTTP/1.0 without a protocol; a line that never ended has none */
		char *w = m + n + 1;

		out->mem = m;
		if (!eol) {
			out->method = "-";
			out->url = NULL;
		} else {
			size_t ml = sp1 ? (size_t)(sp1 - m) : n;
			size_t ul = sp1 ? (size_t)((sp2 ? sp2 : m + n) - sp1 - 1) : 0;

			memcpy(w, m, ml);
			w[ml] = '\0';
			out->method = w;
			w += ml + 1;
			memcpy(w, ul ? sp1 + 1 : "/", ul ? ul : 1);
			w[ul ? ul : 1] = '\0';
			out->url = w;
		}
		out->proto = "HTTP/1.0";
	} else {
		out->line_mem = m;
	}
	return 0;
}

void kbal_alog_release(struct kbal_alog_req *r)
{
	free(r->line_mem);
	free(r->mem);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------- render */

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* ap_escape_logitem(): '"' and '\' escaped, control and 8-bit bytes as \xhh */
static void put_esc(struct out *o, const char *s)
{
	char hex[5];

	if (!s || !*s) {
		put(o, "-", 1);
		return;
	}
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			hex[0] = '\\';
			hex[1] = c;
			put(o, hex, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(hex, sizeof(hex), "\\x%02x", c);
			put(o, hex, 4);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
}

static void put_u(struct out *o, unsigned long long v)
{
	char b[24];

	put(o, b, snprintf(b, sizeof(b), "%llu", v));
}

static void put_time(struct out *o, uint64_t ns, const char *fmt)
{
	time_t t = ns / 1000000000ull;
	struct tm tm;
	char b[128];
	size_t n;

	localtime_r(&t, &tm);
	n = strftime(b, sizeof(b), fmt[0] ? fmt : "[%d/%b/%Y:%H:%M:%S %z]", &tm);
	put(o, b, n);
}

static const char *env(const struct kbal_alog_rec *r, const char *name)
{
	const struct kbal_balancer_vars v = {
		.balancer = r->balancer, .worker_name = r->member, .worker_route = r->route,
		.session_sticky = r->sticky, .session_route = r->session_route,
		.route_changed = r->route_changed, .env = r->env,
	};

	return kbal_balancer_var(&v, name);
}

size_t kbal_alog_render(const struct kbal_alog_fmt *f, const struct kbal_alog_rec *r, char *buf,
			size_t cap)
{
	struct out o = { .p = buf, .cap = cap };
	const struct kbal_alog_req *rq = r->rq;
	const char *method = rq ? rq->method : "FLOW", *url = rq ? rq->url : r->flow_path;
	const char *q = url ? strchr(url, '?') : NULL;
	char addr[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < f->n; i++) {
		const struct kbal_alog_item *it = &f->item[i];

		switch (it->kind) {
		case A_LIT:
			put(&o, f->lit + it->arg, it->len);
			break;
		case A_CLIENT:
			kbal_in6_ntop(r->client_addr, addr, sizeof(addr));
			puts_(&o, addr);
			break;
		case A_DASH:
			put(&o, "-", 1);
			break;
		case A_TIME:
			put_time(&o, r->start_ns, it->name);
			break;
		case A_REQUEST:
			if (rq && rq->line) {
				put_esc(&o, rq->line);
				break;
			}
			put_esc(&o, method);
			put(&o, " ", 1);
			put_esc(&o, url);
			/* an HTTP/0.9 request's line has no protocol (httpd's
			 * the_request); a line that named 0.9 was refused whole */
			if (rq && !strcmp(rq->proto, "HTTP/0.9"))
				break;
			put(&o, " ", 1);
			put_esc(&o, rq ? rq->proto : "-");
			break;
		case A_STATUS:
			if (r->status)
				put_u(&o, r->status);
			else
				put(&o, "-", 1);
			break;
		case A_BYTES_CLF:
			if (r->body)
				put_u(&o, r->body);
			else
				put(&o, "-", 1);
			break;
		case A_BYTES:
			put_u(&o, r->body);
			break;
		case A_DUR_US:
			put_u(&o, r->duration_ns / 1000);
			break;
		case A_DUR:
			put_u(&o, it->flag == UNIT_US ? r->duration_ns / 1000 :
				  it->flag == UNIT_MS ? r->duration_ns / 1000000 :
				  r->duration_ns / 1000000000ull);
			break;
		case A_HDR:
			put_esc(&o, rq ? rq->hdr[it->arg] : NULL);
			break;
		case A_ENV:
			put_esc(&o, env(r, it->name));
			break;
		case A_METHOD:
			put_esc(&o, method);
			break;
		case A_PATH:
			if (r->rq && r->rq->path)
				put_esc(&o, r->rq->path);
			else if (url)
				put(&o, url, q ? (size_t)(q - url) : strlen(url));
			else
				put(&o, "-", 1);
			break;
		case A_QUERY:
			if (q)
				puts_(&o, q);
			break;
		case A_PROTO:
			puts_(&o, rq ? rq->proto : "-");
			break;
		case A_PORT:
			put_u(&o, it->flag == PORT_REMOTE ? r->client_port :
				  it->flag == PORT_LOCAL ? r->local_port :
				  r->server_port ? r->server_port : 80);
			break;
		case A_SERVER:
			put_esc(&o, r->server);
			break;
		case A_SERVER_REQ:
			put_esc(&o, r->request_server ? r->request_server : r->server);
			break;
		case A_CONN:
			put(&o, &r->conn_status, 1);
			break;
		case A_KEEPALIVE:
			put_u(&o, r->keepalive);
			break;
		case A_PID:
			put_u(&o, (unsigned)getpid());
			break;
		case A_IN:
			put_u(&o, r->bytes_in);
			break;
		case A_OUT:
			put_u(&o, r->bytes_out);
			break;
		case A_PERCENT:
			put(&o, "%", 1);
			break;
		}
	}
	return o.len;
}

void kbal_alog_write(const struct kbal_alog *a, const struct kbal_alog_rec *r)
{
	/* httpd's lines have no bound; a request line of LimitRequestLine
	 * bytes (8190 by default), escaped, and the header fields a format
	 * names fit this */
	static char line[65536];

	for (unsigned i = 0; i < a->n; i++)
		kbal_logfile_write(a->file[i], line, kbal_alog_render(&a->fmt[i], r, line,
								      sizeof(line)));
}
