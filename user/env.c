// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* env.c - a request's environment (env.h), read from httpd's
 * mod_setenvif.c match_headers() and mod_env.c: a header's value is its
 * lines joined with ", " (apr_table_compress()), a header SetEnvIf names
 * that the request lacks is looked up among the variables set so far, a
 * value absent is "" (so that ^$ matches it), consecutive lines on the same
 * name read it once; a regex's $0..$9 go into the values (ap_pregsub()). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "conf_match.h"
#include "env.h"
#include "inaddr.h"
#include "http.h"

static char *arena_dup(struct kbal_env *e, const char *s, size_t n)
{
	char *p = e->arena + e->used;

	if (n + 1 > KBAL_ENV_ARENA - e->used)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	e->used += n + 1;
	return p;
}

static int find(const struct kbal_env *e, const char *name)
{
	for (unsigned i = 0; i < e->n; i++)
		if (!strcasecmp(e->v[i].name, name))
			return (int)i;
	return -1;
}

const char *kbal_env_get(const struct kbal_env *e, const char *name)
{
	int i = e ? find(e, name) : -1;

	return i < 0 ? NULL : e->v[i].val;
}

static void env_unset(struct kbal_env *e, const char *name)
{
	int i = find(e, name);

	if (i >= 0)
		e->v[i] = e->v[--e->n];
}

/* apr_table_setn(): the name's value replaced, or added */
static void env_set(struct kbal_env *e, const char *name, const char *val)
{
	int i = find(e, name);

	if (i < 0) {
		if (e->n == KBAL_ENV_MAX)
			return;
		i = (int)e->n++;
		e->v[i].name = name;
	}
	e->v[i].val = val;
}

/* the request's lines named name[0..nlen), joined with ", " */
static const char *header_value(struct kbal_env *e, const struct kbal_env_req *rq,
				const char *name, size_t nlen)
{
	const struct kbal_http_msg *m = rq->msg;
	char *out = NULL;
	size_t len = 0;

	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct kbal_http_header *h = &m->headers[i];

		if (h->name.len != nlen || strncasecmp(rq->buf + h->name.off, name, nlen))
			continue;
		if (!out) {
			out = e->arena + e->used;
		} else if (len + 2 + h->value.len + 1 <= KBAL_ENV_ARENA - e->used) {
			memcpy(out + len, ", ", 2);
			len += 2;
		} else {
			break;
		}
		if (len + h->value.len + 1 > KBAL_ENV_ARENA - e->used)
			break;
		memcpy(out + len, rq->buf + h->value.off, h->value.len);
		len += h->value.len;
	}
	if (!out)
		return NULL;
	out[len] = '\0';
	e->used += len + 1;
	return out;
}

/* what a SetEnvIf line compares */
static const char *attr_value(struct kbal_env *e, const struct kbal_conf_env *r,
			      const struct kbal_env_req *rq, char *tmp, size_t cap)
{
	const struct kbal_http_msg *m = rq->msg;
	const char *url = rq->buf + m->url.off, *s, *q;
	const char *val = NULL;
	switch (r->attr) {
	case KBAL_ENVA_REMOTE_ADDR:
	case KBAL_ENVA_REMOTE_HOST:           /* HostnameLookups Off: the address */
	case KBAL_ENVA_SERVER_ADDR:
		return kbal_in6_ntop(r->attr == KBAL_ENVA_SERVER_ADDR ? rq->local_addr :
				     rq->remote_addr, tmp, cap);
	case KBAL_ENVA_METHOD:
		return arena_dup(e, rq->buf + m->method.off, m->method.len);
	case KBAL_ENVA_PROTOCOL:
		snprintf(tmp, cap, "HTTP/%u.%u", m->proto_major, m->proto_minor);
		return tmp;
	case KBAL_ENVA_URI:
		/* r->uri when post_read_request runs: the path as sent (not
		 * yet decoded), without its query; an absolute-form target's */
		s = url;
		if (m->url.len && *url != '/' && *url != '*' &&
		    (q = memmem(url, m->url.len, "://", 3))) {
			s = memchr(q + 3, '/', url + m->url.len - q - 3);
			if (!s)
				return "";
		}
		q = memchr(s, '?', url + m->url.len - s);
		return arena_dup(e, s, (q ? q : url + m->url.len) - s);
	case KBAL_ENVA_HEADER:
		val = header_value(e, rq, r->name, strlen(r->name));
		return val ? val : kbal_env_get(e, r->name);
	case KBAL_ENVA_HEADER_RE:
		/* each name once, as the table has it; the last that matches */
		for (unsigned i = 0; i < m->nheaders; i++) {
			const struct kbal_http_header *h = &m->headers[i];
			const char *n = rq->buf + h->name.off;
			char name[128];
			unsigned j;

			for (j = 0; j < i; j++)
				if (m->headers[j].name.len == h->name.len &&
				    !strncasecmp(rq->buf + m->headers[j].name.off, n, h->name.len))
					break;
			if (j < i || h->name.len >= sizeof(name))
				continue;
			memcpy(name, n, h->name.len);
			name[h->name.len] = '\0';
			if (conf_regex_match(r->name, name, h->name.len) == 1)
				val = header_value(e, rq, n, h->name.len);
		}
		return val;
	}
	return NULL;
}

/* ap_pregsub(): $N from the match, a backslash keeps the next character */
static const char *substitute(struct kbal_env *e, const char *tpl, const char *val,
			      const long ov[2 * CONF_REGEX_NMATCH])
{
	char *out = e->arena + e->used;
	size_t n = 0, cap = KBAL_ENV_ARENA - e->used;

	for (const char *s = tpl; *s; s++) {
		const char *piece = s;
		size_t len = 1;

		if (*s == '$' && s[1] >= '0' && s[1] <= '9') {
			int g = *++s - '0';

			if (ov[2 * g] < 0 || ov[2 * g + 1] <= ov[2 * g])
				continue;
			piece = val + ov[2 * g];
			len = ov[2 * g + 1] - ov[2 * g];
		} else if (*s == '\\' && s[1]) {
			piece = ++s;
		}
		if (n + len + 1 > cap)
			return NULL;
		memcpy(out + n, piece, len);
		n += len;
	}
	if (n + 1 > cap)
		return NULL;
	out[n] = '\0';
	e->used += n + 1;
	return out;
}

static int matches(const struct kbal_conf_env *r, const char *val,
		   long ov[2 * CONF_REGEX_NMATCH])
{
	if (r->regex)
		return conf_regex_exec(r->match, val, strlen(val), 0, 0, ov) > 0;
	/* apr_strmatch(): a substring, case-insensitive for ...NoCase */
	if (!r->icase)
		return strstr(val, r->match) != NULL;
	return strcasestr(val, r->match) != NULL;
}

static void setenvif(const struct kbal_conf *conf, int vhost, const struct kbal_env_req *rq,
		     struct kbal_env *e)
{
	const struct kbal_conf_env *last = NULL;
	const char *val = NULL;
	char tmp[64];

	for (unsigned i = 0; i < conf->nenv; i++) {
		const struct kbal_conf_env *r = &conf->env[i];
		long ov[2 * CONF_REGEX_NMATCH];

		if (r->kind != KBAL_ENV_IF || r->vhost != vhost)
			continue;
		if (!last || last->attr != r->attr || strcasecmp(last->name, r->name)) {
			val = attr_value(e, r, rq, tmp, sizeof(tmp));
			if (val == tmp)
				val = arena_dup(e, tmp, strlen(tmp));
		}
		last = r;
		if (!matches(r, val ? val : "", ov))
			continue;
		for (unsigned k = 0; k < r->nvar; k++) {
			const struct kbal_conf_env_var *v = &r->var[k];
			const char *set = v->value;

			if (v->unset) {
				env_unset(e, v->name);
				continue;
			}
			if (r->regex && !(set = substitute(e, v->value, val ? val : "", ov)))
				continue;
			env_set(e, v->name, set);
		}
	}
}

/* mod_env: the server's SetEnv/UnsetEnv lines in order; a virtual host's
 * UnsetEnv names removed from them, then its own lines in order */
static void setenv_lines(const struct kbal_conf *conf, int vhost, struct kbal_env *vars)
{
	for (unsigned i = 0; i < conf->nenv; i++) {
		const struct kbal_conf_env *r = &conf->env[i];

		if (r->vhost == vhost && r->kind == KBAL_ENV_SET)
			env_set(vars, r->var[0].name, r->var[0].value);
		else if (r->vhost == vhost && r->kind == KBAL_ENV_UNSET)
			env_unset(vars, r->var[0].name);
	}
}

void kbal_env_request(const struct kbal_conf *conf, int vhost, const struct kbal_env_req *rq,
		      struct kbal_env *e)
{
	struct kbal_env vars;

	kbal_env_clear(&vars);
	kbal_env_clear(e);
	if (!conf->nenv)
		return;
	setenvif(conf, -1, rq, e);
	if (vhost >= 0)
		setenvif(conf, vhost, rq, e);
	e->no_proxy = find(e, "no-proxy") >= 0;
	setenv_lines(conf, -1, &vars);
	if (vhost >= 0) {
		for (unsigned i = 0; i < conf->nenv; i++)
			if (conf->env[i].vhost == vhost && conf->env[i].kind == KBAL_ENV_UNSET)
				env_unset(&vars, conf->env[i].var[0].name);
		setenv_lines(conf, vhost, &vars);
	}
	/* apr_table_overlay(subprocess_env, vars): SetEnvIf's value first */
	for (unsigned i = 0; i < vars.n; i++)
		if (find(e, vars.v[i].name) < 0)
			env_set(e, vars.v[i].name, vars.v[i].val);
}

/* what kbal_env_may_change() and kbal_env_changes() look for */
static const char *const changing[] = {
	"nokeepalive", "downgrade-1.0", "force-response-1.0", "force-proxy-request-1.0",
	"proxy-nokeepalive", "proxy-sendcl",
};

int kbal_env_may_change(const struct kbal_conf *conf)
{
	for (unsigned i = 0; i < sizeof(changing) / sizeof(changing[0]); i++)
		if (kbal_env_may_set(conf, changing[i], 0))
			return 1;
	return 0;
}

int kbal_env_changes(const struct kbal_env *e)
{
	for (unsigned i = 0; i < sizeof(changing) / sizeof(changing[0]); i++)
		if (kbal_env_get(e, changing[i]))
			return 1;
	return 0;
}

int kbal_env_may_set(const struct kbal_conf *conf, const char *name, int setenvif_only)
{
	for (unsigned i = 0; i < conf->nenv; i++) {
		const struct kbal_conf_env *r = &conf->env[i];

		if (r->kind == KBAL_ENV_UNSET || (setenvif_only && r->kind != KBAL_ENV_IF))
			continue;
		for (unsigned k = 0; k < r->nvar; k++)
			if (!r->var[k].unset && !strcasecmp(r->var[k].name, name))
				return 1;
	}
	return 0;
}
