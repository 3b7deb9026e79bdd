// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rewrite.c - the header values kbald adds or changes (see rewrite.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
