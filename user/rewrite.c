// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rewrite.c - the header values kbald adds or changes (see rewrite.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rewrite.h"

/* %{NAME}e of mod_headers, for the variables mod_proxy_balancer sets */
static const char *env_value(const char *name, size_t n, const struct kbal_member *m,
			     const struct kbal_balancer *b, const char **prefix)
{
	*prefix = "";
	if (n == 21 && !strncmp(name, "BALANCER_WORKER_ROUTE", n))
		return m->route;
	if (n == 20 && !strncmp(name, "BALANCER_WORKER_NAME", n))
		return m->url;
	if (n == 13 && !strncmp(name, "BALANCER_NAME", n)) {
		*prefix = "balancer://";
		return b->name;
	}
	return "";
}

void kbal_rewrite_headers(const struct kbal_conf *conf, const struct kbal_member *m,
			  const struct kbal_balancer *b, int route_changed, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned h = 0; h < conf->nheader; h++) {
		const struct kbal_conf_header *hd = &conf->header[h];

		if (hd->env[0] && !(route_changed && strcmp(hd->env, "BALANCER_ROUTE_CHANGED") == 0))
			continue;
		o += snprintf(out + o, o < len ? len - o : 0, "%s: ", hd->name);
		for (const char *p = hd->value; *p && o < len; p++) {
			const char *end, *prefix, *v;

			if (p[0] == '%' && p[1] == '{' && (end = strstr(p, "}e"))) {
				v = env_value(p + 2, end - (p + 2), m, b, &prefix);
				o += snprintf(out + o, len - o, "%s%s", prefix, v);
				p = end + 1;
				continue;
			}
			out[o++] = *p;
		}
		o += snprintf(out + o, o < len ? len - o : 0, "\r\n");
	}
	if (o >= len)
		out[0] = '\0';
}

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
	for (unsigned r = 0; r < conf->nreverse; r++)
		if (conf->reverse[r].balancer == (int)b)
			nrules += nmembers;
	rs->rules = calloc(nrules ?: 1, sizeof(struct kbal_rev_rule));
	if (!rs->rules)
		return -ENOMEM;
	for (unsigned r = 0; r < conf->nreverse; r++) {
		const struct kbal_conf_reverse *cr = &conf->reverse[r];

		if (cr->balancer != (int)b)
			continue;
		for (unsigned i = 0; i < nmembers; i++) {
			const char *url = members[i].url;
			size_t ul = strlen(url);
			char *from;

			while (ul && url[ul - 1] == '/')
				ul--;
			if (asprintf(&from, "%.*s%s", (int)ul, url, cr->target) < 0)
				return -ENOMEM;
			rs->rules[rs->n].from = from;
			rs->rules[rs->n].to = cr->path;
			rs->n++;
		}
	}
	return 0;
}

void kbal_rewrite_rev_free(struct kbal_rev_set *rs)
{
	for (size_t r = 0; r < rs->n; r++)
		free((char *)rs->rules[r].from);
	free(rs->rules);
	rs->rules = NULL;
	rs->n = 0;
}
