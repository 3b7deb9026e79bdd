// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* headers.c - mod_headers' Header and RequestHeader rules (see headers.h),
 * read from httpd's modules/metadata/mod_headers.c: the actions on an
 * apr table (set keeps the first line's place, append and merge change the
 * first line, edit moves the edited lines to the end), the value formats
 * (%t, %D, %{VAR}e, "(null)" for a variable not set). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include "conf_match.h"
#include "headers.h"

#define LINES_MAX 160            /* lines of a head kbald keeps track of */
#define ARENA_SIZE 8192          /* the values rules make, per head */

struct line {
	const char *name, *val;
	uint32_t nlen, vlen;
	uint8_t table;               /* enum kbal_header_table */
	uint8_t dead;
	uint8_t fixed;               /* Connection, Keep-Alive: the server's */
};

struct head {
	struct line l[LINES_MAX];
	unsigned n;
	char arena[ARENA_SIZE];
	size_t used;
	int full;                    /* something did not fit: the head fails */
};

static int name_eq(const struct line *l, const char *name)
{
	return !l->dead && !l->fixed && l->nlen == strlen(name) &&
	       !strncasecmp(l->name, name, l->nlen);
}

static char *arena_put(struct head *h, const char *s, size_t n)
{
	char *p = h->arena + h->used;

	if (n > ARENA_SIZE - h->used) {
		h->full = 1;
		return NULL;
	}
	memcpy(p, s, n);
	h->used += n;
	return p;
}

static struct line *line_add(struct head *h, unsigned table, const char *name, size_t nlen,
			     const char *val, size_t vlen)
{
	struct line *l;

	if (h->n == LINES_MAX) {
		h->full = 1;
		return NULL;
	}
	l = &h->l[h->n++];
	*l = (struct line){ .name = name, .nlen = nlen, .val = val, .vlen = vlen, .table = table };
	return l;
}

/* "Name: value" lines, OWS around the value dropped */
static int parse_lines(struct head *h, const char *head, size_t len, unsigned table,
		       size_t *start_len)
{
	const char *p = memchr(head, '\n', len), *end = head + len;

	if (!p)
		return -1;
	*start_len = p + 1 - head;
	for (p++; p < end;) {
		const char *eol = memchr(p, '\n', end - p), *colon, *v, *ve;
		struct line *l;

		if (!eol)
			return -1;
		ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (ve == p)
			break;                       /* the empty line */
		colon = memchr(p, ':', ve - p);
		if (!colon)
			return -1;
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		l = line_add(h, table, p, colon - p, v, ve - v);
		if (!l)
			return -1;
		l->fixed = table != KBAL_HDR_IN &&
			   ((l->nlen == 10 && !strncasecmp(p, "Connection", 10)) ||
			    (l->nlen == 10 && !strncasecmp(p, "Keep-Alive", 10)));
		p = eol + 1;
	}
	return 0;
}

static const char *balancer_var(const struct kbal_balancer_vars *v, const char *name)
{
	if (!strcmp(name, "BALANCER_NAME"))
		return v->balancer;
	if (!strcmp(name, "BALANCER_WORKER_NAME"))
		return v->worker_name;
	if (!strcmp(name, "BALANCER_WORKER_ROUTE"))
		return v->worker_route;
	if (!strcmp(name, "BALANCER_SESSION_STICKY"))
		return v->session_sticky;
	if (!strcmp(name, "BALANCER_SESSION_ROUTE"))
		return v->session_route;
	if (!strcmp(name, "BALANCER_ROUTE_CHANGED"))
		return v->route_changed ? "1" : NULL;
	return NULL;
}

const char *kbal_balancer_var(const struct kbal_balancer_vars *v, const char *name)
{
	const char *val = balancer_var(v, name);

	return val ? val : kbal_env_get(v->env, name);
}

static int applies(const struct kbal_conf_header *r, const struct kbal_hdr_env *e)
{
	return !r->env[0] || !kbal_balancer_var(&e->v, r->env) == !!r->env_not;
}

/* process_tags(): the value with its formats expanded, into the arena */
static const char *expand(struct head *h, const char *fmt, const struct kbal_hdr_env *e,
			  size_t *n)
{
	char *start = h->arena + h->used, num[32];

	for (const char *s = fmt; *s; s++) {
		const char *put = s, *close;
		size_t k = 1;

		if (*s == '\\' && (s[1] == '\\' || s[1] == 't')) {
			put = s[1] == 't' ? "\t" : "\\";
			s++;
		} else if (*s == '%' && (s[1] == '%' || !s[1])) {
			put = "%";
			s += !!s[1];
		} else if (*s == '%' && s[1] == 't') {
			k = snprintf(num, sizeof(num), "t=%" PRIu64, e->request_us);
			put = num;
			s++;
		} else if (*s == '%' && s[1] == 'D') {
			k = snprintf(num, sizeof(num), "D=%" PRIu64, e->now_us - e->request_us);
			put = num;
			s++;
		} else if (*s == '%' && s[1] == '{' && (close = strchr(s, '}'))) {
			/* %{VAR}e, checked when read (conf_server.c) */
			char var[64];

			snprintf(var, sizeof(var), "%.*s", (int)(close - s - 2), s + 2);
			put = kbal_balancer_var(&e->v, var) ?: "(null)";
			k = strlen(put);
			s = close + 1;
		}
		if (!arena_put(h, put, k))
			return NULL;
	}
	*n = h->arena + h->used - start;
	return start;
}

/* ap_pregsub(): $0..$9 from the match, \c as c */
static int pregsub(struct head *h, const char *repl, size_t rlen, const char *src,
		   const long *ov)
{
	for (size_t i = 0; i < rlen; i++) {
		if (repl[i] == '$' && i + 1 < rlen && repl[i + 1] >= '0' && repl[i + 1] <= '9') {
			int g = repl[++i] - '0';

			if (ov[2 * g] >= 0 && !arena_put(h, src + ov[2 * g], ov[2 * g + 1] - ov[2 * g]))
				return -1;
			continue;
		}
		if (repl[i] == '\\' && i + 1 < rlen)
			i++;
		if (!arena_put(h, repl + i, 1))
			return -1;
	}
	return 0;
}

/* one match from pos (push_match()): what comes before it and the
 * replacement, pos past it; 1, 0 (none) or -1 */
static int push_match(struct head *h, const char *v, size_t len, size_t *pos, int nonempty,
		      const char *pattern, const char *repl, size_t rlen, long *so)
{
	long ov[2 * CONF_REGEX_NMATCH];
	int rc = conf_regex_exec(pattern, v, len, *pos, nonempty, ov);

	if (rc <= 0)
		return rc;
	if (!arena_put(h, v + *pos, ov[0] - *pos) || pregsub(h, repl, rlen, v, ov))
		return -1;
	*so = ov[0];
	*pos = ov[1];
	return 1;
}

/* process_regexp(): the first match (edit) or every one (edit*) replaced,
 * stepping past empty matches as pcre2_substitute() and Perl's /g do */
static int edit_value(struct head *h, const struct kbal_conf_header *r,
		      const struct kbal_hdr_env *e, struct line *l)
{
	size_t len = l->vlen, pos = 0, rlen;
	const char *v, *repl;
	long so;
	char *out;
	int rc;

	/* the value as a string of its own, the replacement's formats */
	if (!(v = arena_put(h, l->val, len)) || !(repl = expand(h, r->value, e, &rlen)))
		return -1;
	out = h->arena + h->used;
	rc = push_match(h, v, len, &pos, 0, r->match, repl, rlen, &so);
	if (rc <= 0)
		return rc;            /* no match: no change */
	while (r->action == KBAL_HEADER_EDIT_ALL && pos < len) {
		int here = (size_t)so == pos;

		rc = push_match(h, v, len, &pos, here, r->match, repl, rlen, &so);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (!here)
				break;
			if (!arena_put(h, v + pos++, 1))
				return -1;
		}
	}
	if (!arena_put(h, v + pos, len - pos))
		return -1;
	l->val = out;
	l->vlen = h->arena + h->used - out;
	return 0;
}

/* a merge's token test, as mod_headers' modified ap_get_token() */
static int has_token(const char *val, size_t vlen, const char *tok, size_t tlen)
{
	const char *s = val, *end = val + vlen;

	while (s < end) {
		const char *t;

		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		t = s;
		while (s < end && *s != ',') {
			if (*s++ == '"')
				while (s < end)
					if (*s++ == '"')
						break;
		}
		if ((size_t)(s - t) == tlen && !memcmp(t, tok, tlen))
			return 1;
		if (s < end)
			s++;
	}
	return 0;
}

static struct line *first_of(struct head *h, unsigned table, const char *name)
{
	for (unsigned i = 0; i < h->n; i++)
		if (h->l[i].table == table && name_eq(&h->l[i], name))
			return &h->l[i];
	return NULL;
}

/* apr_table_mergen(): ", v" after the first line's value, else a line */
static void merge_into(struct head *h, struct line *l, unsigned table, const char *name,
		       const char *v, size_t vlen)
{
	char *s;

	if (!l) {
		line_add(h, table, name, strlen(name), v, vlen);
		return;
	}
	s = h->arena + h->used;
	if (!arena_put(h, l->val, l->vlen) || !arena_put(h, ", ", 2) || !arena_put(h, v, vlen))
		return;
	l->val = s;
	l->vlen += 2 + vlen;
}

static void echo(struct head *h, const struct kbal_conf_header *r, const struct kbal_hdr_env *e)
{
	struct head *req = NULL;
	static struct head scratch;
	size_t start;

	if (!e->request)
		return;
	req = &scratch;
	req->n = 0;
	req->used = 0;
	if (parse_lines(req, e->request, e->request_len, KBAL_HDR_IN, &start))
		return;
	for (unsigned i = 0; i < req->n; i++) {
		const struct line *q = &req->l[i];
		const char *name = arena_put(h, q->name, q->nlen);
		const char *val = arena_put(h, q->val, q->vlen);
		char n[128];

		snprintf(n, sizeof(n), "%.*s", (int)q->nlen, q->name);
		if (name && val && conf_regex_match(r->match, n, strlen(n)) > 0)
			line_add(h, r->table, name, q->nlen, val, q->vlen);
	}
}

static void apply_rule(struct head *h, const struct kbal_conf_header *r,
		       const struct kbal_hdr_env *e)
{
	struct line *l = r->name[0] ? first_of(h, r->table, r->name) : NULL;
	const char *v = NULL;
	size_t vlen = 0;

	switch (r->action) {
	case KBAL_HEADER_UNSET:
	case KBAL_HEADER_ECHO:
	case KBAL_HEADER_EDIT:
	case KBAL_HEADER_EDIT_ALL:
		break;
	default:
		if (!(v = expand(h, r->value, e, &vlen)))
			return;
	}
	switch (r->action) {
	case KBAL_HEADER_ADD:
		line_add(h, r->table, r->name, strlen(r->name), v, vlen);
		break;
	case KBAL_HEADER_SETIFEMPTY:
		if (l)
			break;
		/* fall through */
	case KBAL_HEADER_SET:
		if (!l) {
			line_add(h, r->table, r->name, strlen(r->name), v, vlen);
			break;
		}
		l->val = v;
		l->vlen = vlen;
		for (struct line *o = l + 1; o < h->l + h->n; o++)
			if (o->table == r->table && name_eq(o, r->name))
				o->dead = 1;
		break;
	case KBAL_HEADER_APPEND:
		merge_into(h, l, r->table, r->name, v, vlen);
		break;
	case KBAL_HEADER_MERGE:
		if (!l || !has_token(l->val, l->vlen, v, vlen))
			merge_into(h, l, r->table, r->name, v, vlen);
		break;
	case KBAL_HEADER_UNSET:
		for (unsigned i = 0; i < h->n; i++)
			if (h->l[i].table == r->table && name_eq(&h->l[i], r->name))
				h->l[i].dead = 1;
		break;
	case KBAL_HEADER_ECHO:
		echo(h, r, e);
		break;
	case KBAL_HEADER_EDIT:
	case KBAL_HEADER_EDIT_ALL:
		/* each line edited, then all of them moved to the table's end
		 * (apr_table_unset(), then added again) */
		for (unsigned i = 0, n = h->n; l && i < n; i++) {
			struct line *o = &h->l[i], *moved;

			if (o->table != r->table || !name_eq(o, r->name))
				continue;
			if (edit_value(h, r, e, o)) {
				h->full = 1;
				return;
			}
			moved = line_add(h, o->table, o->name, o->nlen, o->val, o->vlen);
			o = &h->l[i];
			o->dead = 1;
			if (!moved)
				return;
		}
		break;
	}
}

static int put(char **o, char *end, const char *s, size_t n)
{
	if ((size_t)(end - *o) < n)
		return -1;
	memcpy(*o, s, n);
	*o += n;
	return 0;
}

ssize_t kbal_headers_apply(const struct kbal_conf *conf, unsigned mask,
			   const struct kbal_hdr_env *env, const char *head, size_t len,
			   char *out, size_t outlen)
{
	/* one head at a time: kbald runs these on its main thread only */
	static struct head h;
	static const unsigned order[] = { KBAL_HDR_ALWAYS, KBAL_HDR_OUT, KBAL_HDR_IN };
	unsigned table = mask & KBAL_HDR_MASK(KBAL_HDR_IN) ? KBAL_HDR_IN : KBAL_HDR_OUT;
	char *o = out, *end = out + outlen;
	size_t start;

	h.n = 0;
	h.used = 0;
	h.full = 0;
	if (parse_lines(&h, head, len, table, &start))
		return -1;
	/* httpd runs err_headers_out's rules first, then headers_out's */
	/* each table's rules: the server's, then the virtual host's, then
	 * those of the <Location>s the request takes, in httpd's location
	 * walk (the server's sections, then the virtual host's; httpd's
	 * merge appends them) */
	for (unsigned t = 0; t < 3; t++) {
		if (!(mask & KBAL_HDR_MASK(order[t])))
			continue;
		for (int v = 0; v < (env->vhost >= 0 ? 2 : 1); v++)
			for (unsigned i = 0; i < conf->nheader; i++)
				if (conf->header[i].table == order[t] && conf->header[i].location < 0 &&
				    conf->header[i].vhost == (v ? env->vhost : -1) &&
				    applies(&conf->header[i], env))
					apply_rule(&h, &conf->header[i], env);
		for (int v = 0; env->locs && v < (env->vhost >= 0 ? 2 : 1); v++)
			for (unsigned l = 0; l < conf->nlocation; l++) {
				if (!(env->locs & (1u << l)) ||
				    conf->location[l].vhost != (v ? env->vhost : -1))
					continue;
				for (unsigned i = 0; i < conf->nheader; i++)
					if (conf->header[i].table == order[t] &&
					    conf->header[i].location == (int)l &&
					    applies(&conf->header[i], env))
						apply_rule(&h, &conf->header[i], env);
			}
	}
	if (h.full || put(&o, end, head, start))
		return -1;
	/* sent as httpd sends them: err_headers_out, then headers_out */
	for (unsigned t = 0; t < 3; t++)
		for (unsigned i = 0; i < h.n; i++) {
			const struct line *l = &h.l[i];

			if (l->dead || l->table != order[t])
				continue;
			if (put(&o, end, l->name, l->nlen) || put(&o, end, ": ", 2) ||
			    put(&o, end, l->val, l->vlen) || put(&o, end, "\r\n", 2))
				return -1;
		}
	if (put(&o, end, "\r\n", 2))
		return -1;
	return o - out;
}

int kbal_headers_any(const struct kbal_conf *conf, unsigned mask)
{
	for (unsigned i = 0; i < conf->nheader; i++)
		if (mask & KBAL_HDR_MASK(conf->header[i].table))
			return 1;
	return 0;
}

/* a %{name}e in the format fmt */
static int format_reads(const char *fmt, const char *name)
{
	size_t n = strlen(name);

	for (const char *s = strstr(fmt, "%{"); s; s = strstr(s + 2, "%{"))
		if (!strncasecmp(s + 2, name, n) && s[2 + n] == '}' && s[3 + n] == 'e')
			return 1;
	return 0;
}

int kbal_headers_read_var(const struct kbal_conf *conf, unsigned mask, const char *name)
{
	for (unsigned i = 0; i < conf->nheader; i++) {
		const struct kbal_conf_header *r = &conf->header[i];

		if ((mask & KBAL_HDR_MASK(r->table)) &&
		    (!strcasecmp(r->env, name) || format_reads(r->value, name)))
			return 1;
	}
	return 0;
}

int kbal_headers_may_apply(const struct kbal_conf *conf, unsigned mask,
			   const struct kbal_hdr_env *env)
{
	for (unsigned i = 0; i < conf->nheader; i++)
		if ((mask & KBAL_HDR_MASK(conf->header[i].table)) && applies(&conf->header[i], env))
			return 1;
	return 0;
}
