// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_hcheck.c - mod_proxy_hcheck's configuration: the BalancerMember
 * parameters hcmethod=, hcuri=, hcinterval=, hcpasses=, hcfails=,
 * hctemplate=, hcexpr=, and ProxyHCTemplate, ProxyHCExpr (hcexpr.h's part
 * of ap_expr); ProxyHCTPsize is Apache's thread pool (kbal checks from its
 * event loop: said, no effect). The checks themselves: hcheck.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "conf_parse.h"
#include "hcexpr.h"

#define UNUSED __attribute__((unused))

int conf_hc_method(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		   const char *val, const char *label)
{
	static const char *const names[] = {
		[KBAL_HC_NONE] = "NONE", [KBAL_HC_TCP] = "TCP", [KBAL_HC_OPTIONS] = "OPTIONS",
		[KBAL_HC_HEAD] = "HEAD", [KBAL_HC_GET] = "GET", [KBAL_HC_OPTIONS11] = "OPTIONS11",
		[KBAL_HC_HEAD11] = "HEAD11", [KBAL_HC_GET11] = "GET11",
	};
	struct kbal_conf_member *m = obj;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(val, names[i])) {
			m->hc_method = i;
			return 0;
		}
	if (!strcasecmp(val, "CPING"))
		return perr(p, "%s: CPING is AJP's, which kbal does not speak", label);
	return perr(p, "%s: one of NONE, TCP, OPTIONS, HEAD, GET, OPTIONS11, HEAD11, GET11", label);
}

int conf_hc_uri(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;

	for (const char *s = val; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return perr(p, "%s: no spaces or control characters in a URI", label);
	return conf_copy(p, m->hc_uri, sizeof(m->hc_uri), val, label);
}

int conf_hc_interval(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		     const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;

	if (conf_parse_time(p, label, val, &m->hc_interval_ms))
		return -1;
	if (m->hc_interval_ms < 100)
		return perr(p, "%s: at least 100ms", label);
	return 0;
}

int conf_hc_count(struct conf_parser *p, void *obj, const struct conf_param *pd,
		  const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;

	return conf_parse_uint(p, label, val, 1, 65535,
			       pd->name[2] == 'p' ? &m->hc_passes : &m->hc_fails);
}

/* hctemplate=NAME: its parameters, as if written here (httpd: the
 * template is applied where hctemplate= stands) */
int conf_hc_template(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		     const char *val, const char *label)
{
	const struct kbal_conf *c = p->conf;
	char words[512], *save = NULL;

	for (unsigned i = 0; i < c->nhctemplate; i++) {
		if (strcmp(c->hctemplate[i].name, val))
			continue;
		snprintf(words, sizeof(words), "%s", c->hctemplate[i].params);
		for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
			if (conf_member_param(p, obj, w))
				return -1;
		return 0;
	}
	return perr(p, "%s: no ProxyHCTemplate %s (it must come before its use)", label, val);
}

/* ProxyHCTemplate NAME key=value...: hc* parameters only */
static int kw_hctemplate(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	size_t o = 0;

	if (c->nhctemplate == KBAL_CONF_MAX_HCTEMPLATE)
		return perr(p, "ProxyHCTemplate: at most %d", KBAL_CONF_MAX_HCTEMPLATE);
	if (conf_copy(p, c->hctemplate[c->nhctemplate].name, sizeof(c->hctemplate[0].name),
		      argv[1], "ProxyHCTemplate's name"))
		return -1;
	for (int i = 2; i < argc; i++) {
		char *params = c->hctemplate[c->nhctemplate].params;

		if (strncasecmp(argv[i], "hc", 2))
			return perr(p, "ProxyHCTemplate %s: %s: only hc* parameters", argv[1], argv[i]);
		if (o + strlen(argv[i]) + 2 > sizeof(c->hctemplate[0].params))
			return perr(p, "ProxyHCTemplate %s: too long", argv[1]);
		o += snprintf(params + o, sizeof(c->hctemplate[0].params) - o, "%s%s", o ? " " : "",
			      argv[i]);
	}
	c->nhctemplate++;
	return 0;
}

/* ProxyHCExpr NAME {condition}: hcexpr.h's part of ap_expr, checked now */
static int kw_hcexpr(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_hcexpr *e;
	char text[512], err[256];
	size_t o = 0;

	if (argc < 3)
		return perr(p, "ProxyHCExpr: a name and a condition in { }");
	if (c->nhcexpr == KBAL_CONF_MAX_HCTEMPLATE)
		return perr(p, "ProxyHCExpr: at most %d", KBAL_CONF_MAX_HCTEMPLATE);
	for (int i = 2; i < argc; i++) {
		if (o + strlen(argv[i]) + 2 > sizeof(text))
			return perr(p, "ProxyHCExpr %s: too long", argv[1]);
		o += snprintf(text + o, sizeof(text) - o, "%s%s", o ? " " : "", argv[i]);
	}
	e = kbal_hcexpr_compile(text, err, sizeof(err));
	if (!e)
		return perr(p, "ProxyHCExpr %s: %s", argv[1], err);
	kbal_hcexpr_free(e);
	if (conf_copy(p, c->hcexpr[c->nhcexpr].name, sizeof(c->hcexpr[0].name), argv[1],
		      "ProxyHCExpr's name"))
		return -1;
	snprintf(c->hcexpr[c->nhcexpr].text, sizeof(c->hcexpr[0].text), "%s", text);
	c->hcexpr[c->nhcexpr].line = p->line;
	c->nhcexpr++;
	return 0;
}

int conf_hc_expr(struct conf_parser *p, void *obj, UNUSED const struct conf_param *pd,
		 const char *val, const char *label)
{
	struct kbal_conf_member *m = obj;

	return conf_copy(p, m->hc_expr, sizeof(m->hc_expr), val, label);
}

/* hcexpr= names a ProxyHCExpr, wherever it stands (httpd looks it up when
 * it checks) */
int conf_hcheck_finish(struct conf_parser *p)
{
	const struct kbal_conf *c = p->conf;

	for (unsigned b = 0; b < c->nbalancers; b++)
		for (unsigned k = 0; k < c->balancers[b].nmembers; k++) {
			const struct kbal_conf_member *m = &c->balancers[b].members[k];
			unsigned i = 0;

			while (m->hc_expr[0] && i < c->nhcexpr && strcmp(c->hcexpr[i].name, m->hc_expr))
				i++;
			if (m->hc_expr[0] && i == c->nhcexpr)
				return conf_perr_at(p, m->line, "BalancerMember %s hcexpr=%s: no "
						    "ProxyHCExpr %s", m->url, m->hc_expr, m->hc_expr);
		}
	return 0;
}

static int kw_hctpsize(struct conf_parser *p, UNUSED int argc, UNUSED char **argv)
{
	conf_pwarn(p, p->line, "ProxyHCTPsize: kbal runs its health checks from its event loop, "
		   "without threads: ignored");
	return 0;
}

const struct conf_keyword conf_kw_hcheck[] = {
	{ "ProxyHCTemplate", C_SERVER, 1, CONF_MAX_ARGS, kw_hctemplate },
	{ "ProxyHCExpr",     C_SERVER, 1, CONF_MAX_ARGS, kw_hcexpr },
	{ "ProxyHCTPsize",   C_SERVER, 1, 1,             kw_hctpsize },
	{ NULL }
};
