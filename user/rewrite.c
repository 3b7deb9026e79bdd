// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rewrite.c - the header values kbald adds or changes (see rewrite.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "rewrite.h"

void kbal_rewrite_member_host(const struct kbal_member *m, char *out, size_t len)
{
	/* url is http://host[:port][/...] */
	const char *hp = strstr(m->url, "://");

	snprintf(out, len, "%s", hp ? hp + 3 : m->url);
	out[strcspn(out, "/")] = '\0';
}

int kbal_rewrite_rev_build(const struct kbal_conf *conf, unsigned b,
			   const struct kbal_member *members, unsigned nmembers,
			   struct kbal_rev_set *rs)
{
	size_t nrules = 0;

	rs->n = 0;
	rs->vhosts = 0;
	for (unsigned r = 0; r < conf->nreverse; r++)
		if (conf->reverse[r].balancer == (int)b)
			nrules += nmembers;
	rs->rules = calloc(nrules ?: 1, sizeof(struct kbal_rev_rule));
	if (!rs->rules)
		return -ENOMEM;
	/* the server's first, then the virtual hosts' (httpd's merge appends
	 * a virtual host's to the server's; a request takes the server's and
	 * its own virtual host's: kbal_rewrite_rev_for()) */
	for (unsigned k = 0; k < 2 * conf->nreverse; k++) {
		unsigned r = k % conf->nreverse;
		const struct kbal_conf_reverse *cr = &conf->reverse[r];

		if (cr->balancer != (int)b || (cr->vhost < 0) != (k < conf->nreverse))
			continue;
		for (unsigned i = 0; i < nmembers; i++) {
			const char *url = members[i].url;
			size_t ul = strlen(url);
			char *from;

			while (ul && url[ul - 1] == '/')
				ul--;
			/* httpd compares the member's URL alone where the rule's
			 * balancer URL has no path past its '/', else the URL and
			 * that path; a plain worker's URL as written
			 * (ap_proxy_location_reverse_map()) */
			if (asprintf(&from, "%.*s%s", (int)ul, url,
				     strcmp(cr->target, "/") || (conf->balancers[b].flags &
								 KBAL_BF_WORKER) ?
				     cr->target : "") < 0)
				return -ENOMEM;
			rs->rules[rs->n].from = from;
			rs->rules[rs->n].to = cr->path;
			rs->rules[rs->n].vhost = cr->vhost;
			rs->vhosts |= cr->vhost >= 0;
			rs->n++;
		}
	}
	return 0;
}

size_t kbal_rewrite_rev_for(const struct kbal_rev_set *rs, int vhost, struct kbal_rev_rule *out,
			    size_t max)
{
	size_t n = 0;

	for (size_t r = 0; r < rs->n && n < max; r++)
		if (rs->rules[r].vhost < 0 || rs->rules[r].vhost == vhost)
			out[n++] = rs->rules[r];
	return n;
}

void kbal_rewrite_rev_free(struct kbal_rev_set *rs)
{
	for (size_t r = 0; r < rs->n; r++)
		free((char *)rs->rules[r].from);
	free(rs->rules);
	rs->rules = NULL;
	rs->n = 0;
}

/* the first of maps whose INTERNAL starts val[0..l): the server's, then
 * vhost's (merge_proxy_dir_config() appends them) */
static const struct kbal_conf_cookie_map *cookie_map_find(const struct kbal_conf_cookie_map *maps,
							  unsigned n, int vhost, const char *val,
							  size_t l, int nocase)
{
	for (int pass = 0; pass < (vhost >= 0 ? 2 : 1); pass++)
		for (unsigned k = 0; k < n; k++) {
			size_t fl = strlen(maps[k].fake);

			if (maps[k].vhost == (pass ? vhost : -1) && l >= fl &&
			    !(nocase ? strncasecmp(maps[k].fake, val, fl) :
				       strncmp(maps[k].fake, val, fl)))
				return &maps[k];
		}
	return NULL;
}

/* the last ATTR= token of a cookie (';'-separated, leading spaces
 * skipped, as apr_strtok() splits them) whose value one of maps maps (the
 * server's, then vhost's: merge_proxy_dir_config() appends them): where
 * its value starts, how long it is, and the map's value */
static const char *cookie_attr(const char *v, size_t len, const char *attr, size_t alen,
			       const struct kbal_conf_cookie_map *maps, unsigned n, int vhost,
			       int nocase, size_t *off, size_t *vlen)
{
	const char *real = NULL;

	for (size_t i = 0; i < len;) {
		size_t end = i, l;

		while (end < len && v[end] != ';')
			end++;
		while (i < end && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (end - i >= alen && !strncasecmp(v + i, attr, alen)) {
			const char *val = v + i + alen;

			const struct kbal_conf_cookie_map *m;

			l = end - i - alen;
			m = cookie_map_find(maps, n, vhost, val, l, nocase);
			if (m) {
				real = m->real;
				*off = val - v;
				*vlen = l;
			}
		}
		i = end + 1;
	}
	return real;
}

static int put(char **o, const char *end, const char *s, size_t n)
{
	if ((size_t)(end - *o) < n)
		return -1;
	memcpy(*o, s, n);
	*o += n;
	return 0;
}

ssize_t kbal_rewrite_cookies(const struct kbal_conf *conf, int vhost, const char *head,
			     size_t len, char *out, size_t cap)
{
	const char *p = head, *hend = head + len;
	char *o = out, *oend = out + cap;

	while (p < hend) {
		const char *eol = memchr(p, '\n', hend - p), *v, *ve;
		const char *path, *domain;
		size_t poff = 0, plen = 0, doff = 0, dlen = 0;

		eol = eol ? eol + 1 : hend;
		if (eol - p < 11 || strncasecmp(p, "Set-Cookie:", 11)) {
			if (put(&o, oend, p, eol - p))
				return -1;
			p = eol;
			continue;
		}
		for (v = p + 11; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == '\n' || ve[-1] == '\r'); ve--)
			;
		path = cookie_attr(v, ve - v, "path=", 5, conf->cookie_path, conf->ncookie_path,
				   vhost, 0, &poff, &plen);
		domain = cookie_attr(v, ve - v, "domain=", 7, conf->cookie_domain,
				     conf->ncookie_domain, vhost, 1, &doff, &dlen);
		/* the two replaced in the order they stand */
		if (domain && path && doff < poff) {
			const char *t = path;
			size_t a = poff, b = plen;

			path = domain, poff = doff, plen = dlen;
			domain = t, doff = a, dlen = b;
		}
		if (put(&o, oend, p, v - p))
			return -1;
		if (path) {
			if (put(&o, oend, v, poff) || put(&o, oend, path, strlen(path)))
				return -1;
		}
		{
			size_t from = path ? poff + plen : 0;

			if (domain) {
				if (put(&o, oend, v + from, doff - from) ||
				    put(&o, oend, domain, strlen(domain)))
					return -1;
				from = doff + dlen;
			}
			if (put(&o, oend, v + from, eol - (v + from)))
				return -1;
		}
		p = eol;
	}
	return o - out;
}
