// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_env.c - mod_env's SetEnv, PassEnv and UnsetEnv, mod_setenvif's SetEnvIf,
 * SetEnvIfNoCase, BrowserMatch and BrowserMatchNoCase, read as httpd's
 * add_env_module_vars_set() and add_setenvif_core() read them: a pattern
 * without a regex character is a plain substring (non_regex_pattern()), a
 * header name with a character other than [-A-Za-z0-9_] is a regex on the
 * names, VAR sets "1", VAR=VALUE the value, !VAR unsets. At server level
 * and inside <VirtualHost> (the server's lines first, then its own: the
 * merge of both modules). env.c computes a request's variables.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "conf_match.h"
#include "conf_parse.h"

/* variables httpd's core or mod_proxy read, which kbal does not honour:
 * said once each, where first set (downgrade-1.0, force-response-1.0,
 * force-proxy-request-1.0, proxy-nokeepalive and proxy-sendcl are
 * honoured, env.h; proxy-sendchunked changes nothing httpd's
 * mod_proxy_http does without an input filter but undo proxy-sendcl: a
 * body of a known length goes with it, a chunked one that came whole with
 * its length, a longer one chunked) */
static const char *const unhonoured[] = {
	"force-no-vary", "suppress-error-charset",
	"proxy-chain-auth", "proxy-interim-response", "proxy-initial-not-pooled",
	"proxy-sendextracrlf", "proxy-nohalfclose",
};

_Static_assert(ARRAY_SIZE(unhonoured) <= 32, "env_said is a 32-bit map");

static void say_unhonoured(struct conf_parser *p, const char *dir, const char *name)
{
	for (unsigned i = 0; i < ARRAY_SIZE(unhonoured); i++) {
		if (strcasecmp(name, unhonoured[i]) || (p->env_said & (1u << i)))
			continue;
		p->env_said |= 1u << i;
		conf_pwarn(p, p->line, "%s %s: kbal does not honour this variable (httpd's "
			   "core or mod_proxy reads it); it is set for Header and the logs only",
			   dir, name);
	}
}

static struct kbal_conf_env *env_new(struct conf_parser *p, unsigned kind)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_env *e;

	if (c->nenv == KBAL_CONF_MAX_ENV) {
		perr(p, "too many SetEnv, UnsetEnv, SetEnvIf and BrowserMatch lines (at most %d)",
		     KBAL_CONF_MAX_ENV);
		return NULL;
	}
	e = &c->env[c->nenv];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->vhost = p->vhost;
	e->line = p->line;
	return e;
}

/* SetEnv NAME [VALUE]: no value sets "" */
static int kw_setenv(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf_env *e = env_new(p, KBAL_ENV_SET);

	if (!e)
		return -1;
	if (strchr(argv[1], '='))
		conf_pwarn(p, p->line, "SetEnv %s: spurious '=' in an environment variable's "
			   "name ('SetEnv NAME VALUE' expected?), as httpd warns", argv[1]);
	if (conf_copy(p, e->var[0].name, sizeof(e->var[0].name), argv[1], "SetEnv name") ||
	    conf_copy(p, e->var[0].value, sizeof(e->var[0].value), argc > 2 ? argv[2] : "",
		      "SetEnv value"))
		return -1;
	e->nvar = 1;
	say_unhonoured(p, "SetEnv", argv[1]);
	p->conf->nenv++;
	return 0;
}

/* PassEnv NAME...: mod_env's add_env_module_vars_passed(): each a SetEnv
 * of the value kbald's own environment has as the file is read; one it
 * does not have is httpd's warning, and sets nothing */
static int kw_passenv(struct conf_parser *p, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = getenv(argv[i]);
		struct kbal_conf_env *e;

		if (!v) {
			conf_pwarn(p, p->line, "PassEnv variable %s was undefined", argv[i]);
			continue;
		}
		e = env_new(p, KBAL_ENV_SET);
		if (!e || conf_copy(p, e->var[0].name, sizeof(e->var[0].name), argv[i],
				    "PassEnv name") ||
		    conf_copy(p, e->var[0].value, sizeof(e->var[0].value), v, "PassEnv value"))
			return -1;
		e->nvar = 1;
		say_unhonoured(p, "PassEnv", argv[i]);
		p->conf->nenv++;
	}
	return 0;
}

/* UnsetEnv NAME...: each undoes the SetEnv lines before it, and the
 * server's in a <VirtualHost> */
static int kw_unsetenv(struct conf_parser *p, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct kbal_conf_env *e = env_new(p, KBAL_ENV_UNSET);

		if (!e || conf_copy(p, e->var[0].name, sizeof(e->var[0].name), argv[i],
				    "UnsetEnv name"))
			return -1;
		e->nvar = 1;
		p->conf->nenv++;
	}
	return 0;
}

/* non_regex_pattern(): s unescaped into out when it has no regex
 * character outside a backslash escape; 0, or -1 when it is a regex */
static int plain_pattern(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	int esc = 0;

	for (; *s; s++) {
		if (strchr("^.$|()[]*+?{}", *s)) {
			if (!esc)
				return -1;
			esc = 0;
		} else if (*s == '\\') {
			esc = !esc;
			if (esc)
				continue;
		} else if (esc) {
			return -1;
		}
		if (n + 1 >= cap)
			return -1;
		out[n++] = *s;
	}
	out[n] = '\0';
	return 0;
}

static const struct { const char *name; uint8_t attr; } specials[] = {
	{ "remote_addr", KBAL_ENVA_REMOTE_ADDR }, { "remote_host", KBAL_ENVA_REMOTE_HOST },
	{ "request_uri", KBAL_ENVA_URI }, { "request_method", KBAL_ENVA_METHOD },
	{ "request_protocol", KBAL_ENVA_PROTOCOL }, { "server_addr", KBAL_ENVA_SERVER_ADDR },
};

static int setenvif(struct conf_parser *p, const char *dir, int icase, const char *attr,
		    int argc, char **argv)
{
	struct kbal_conf_env *e = env_new(p, KBAL_ENV_IF);
	const char *regex = argv[0];
	char pat[KBAL_CONF_VALUE_LEN], err[200];
	unsigned i;

	if (!e)
		return -1;
	e->icase = icase;
	e->attr = KBAL_ENVA_HEADER;
	for (i = 0; i < ARRAY_SIZE(specials); i++)
		if (!strcasecmp(attr, specials[i].name))
			e->attr = specials[i].attr;
	if (e->attr == KBAL_ENVA_HEADER && attr[strspn(attr, "-_abcdefghijklmnopqrstuvwxyz"
						       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")]) {
		e->attr = KBAL_ENVA_HEADER_RE;
		snprintf(pat, sizeof(pat), "%s%s", icase ? "(?i)" : "", attr);
		if (conf_regex_check(pat, err, sizeof(err)))
			return perr(p, "%s: Header name regex could not be compiled: %s", dir, err);
		attr = pat;
	}
	if (conf_copy(p, e->name, sizeof(e->name), attr, "SetEnvIf header name"))
		return -1;
	if (!*regex)
		return perr(p, "Missing regular expression for %s", dir);
	if (plain_pattern(regex, e->match, sizeof(e->match))) {
		e->regex = 1;
		if (snprintf(pat, sizeof(pat), "%s%s", icase ? "(?i)" : "", regex) >=
		    (int)sizeof(pat))
			return perr(p, "%s: the regex is too long", dir);
		if (conf_regex_check(pat, err, sizeof(err)))
			return perr(p, "%s regex could not be compiled: %s", dir, err);
		memcpy(e->match, pat, sizeof(pat));
	}
	if (argc < 2)
		return perr(p, "Missing envariable expression for %s", dir);
	for (int a = 1; a < argc; a++) {
		struct kbal_conf_env_var *v = &e->var[e->nvar];
		const char *eq = strchr(argv[a], '=');

		/* add_envvars(): NAME=VALUE, !NAME, NAME ("NAME=" too) is "1";
		 * --early only orders httpd's hooks */
		if (!strcmp(argv[a], "--early") && p->vhost < 0 && !eq)
			continue;
		if (e->nvar == KBAL_CONF_ENV_VARS)
			return perr(p, "%s: more than %d variables on one line", dir,
				    KBAL_CONF_ENV_VARS);
		if (eq && eq[1]) {
			if ((size_t)(eq - argv[a]) >= sizeof(v->name))
				return perr(p, "%s: variable name too long", dir);
			memcpy(v->name, argv[a], eq - argv[a]);
			if (conf_copy(p, v->value, sizeof(v->value), eq + 1, "SetEnvIf value"))
				return -1;
		} else {
			size_t n = eq ? (size_t)(eq - argv[a]) : strlen(argv[a]);

			v->unset = argv[a][0] == '!';
			n -= v->unset;
			if (n >= sizeof(v->name))
				return perr(p, "%s: variable name too long", dir);
			memcpy(v->name, argv[a] + v->unset, n);
			strcpy(v->value, "1");
		}
		if (!v->unset)
			say_unhonoured(p, dir, v->name);
		e->nvar++;
	}
	p->conf->nenv++;
	return 0;
}

static int kw_setenvif(struct conf_parser *p, int argc, char **argv)
{
	return setenvif(p, argv[0], 0, argv[1], argc - 2, argv + 2);
}

static int kw_setenvif_nocase(struct conf_parser *p, int argc, char **argv)
{
	return setenvif(p, argv[0], 1, argv[1], argc - 2, argv + 2);
}

static int kw_browsermatch(struct conf_parser *p, int argc, char **argv)
{
	return setenvif(p, argv[0], 0, "User-Agent", argc - 1, argv + 1);
}

static int kw_browsermatch_nocase(struct conf_parser *p, int argc, char **argv)
{
	return setenvif(p, argv[0], 1, "User-Agent", argc - 1, argv + 1);
}

static int kw_refused(struct conf_parser *p, int argc UNUSED, char **argv)
{
	return perr(p, "%s is not supported by kbal (no ap_expr outside health checks; "
		    "SetEnvIf's regexes are)", argv[0]);
}

const struct conf_keyword conf_kw_env[] = {
	{ "SetEnv",             C_SERVER | C_VHOST, 1, 2,                 kw_setenv },
	{ "UnsetEnv",           C_SERVER | C_VHOST, 1, CONF_MAX_ARGS - 1, kw_unsetenv },
	{ "PassEnv",            C_SERVER | C_VHOST, 1, CONF_MAX_ARGS - 1, kw_passenv },
	{ "SetEnvIf",           C_SERVER | C_VHOST, 2, CONF_MAX_ARGS - 1, kw_setenvif },
	{ "SetEnvIfNoCase",     C_SERVER | C_VHOST, 2, CONF_MAX_ARGS - 1, kw_setenvif_nocase },
	{ "BrowserMatch",       C_SERVER | C_VHOST, 1, CONF_MAX_ARGS - 1, kw_browsermatch },
	{ "BrowserMatchNoCase", C_SERVER | C_VHOST, 1, CONF_MAX_ARGS - 1, kw_browsermatch_nocase },
	{ "SetEnvIfExpr",       C_SERVER | C_VHOST, 1, CONF_MAX_ARGS - 1, kw_refused },
	{ NULL }
};
