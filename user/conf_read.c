// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_read.c - reads the file: lines joined and split into words as httpd
 * does it (ap_cfg_getline, ap_getword_conf), sections opened and closed,
 * each directive looked up in the areas' keyword tables and checked for
 * where it stands and how many arguments it has before its handler runs.
 * What kbal cannot honour is an error, not silently ignored: a
 * configuration that loads is routed as httpd would route it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "conf_parse.h"

/* Every area's keyword table: a new area is one file and one line here.
 * A constant list rather than registration at start-up, so that what kbal
 * understands is read off one place and nothing is written before main(). */
const struct conf_keyword *const conf_keyword_tables[] = {
	conf_kw_core,
	conf_kw_server,
	conf_kw_proxy,
	conf_kw_proxy_server,
	conf_kw_access,
	conf_kw_log,
	conf_kw_hcheck,
	conf_kw_privs,
	conf_kw_alias,
	conf_kw_env,
	NULL
};

void conf_open_section(struct conf_parser *p, unsigned ctx, const char *name, const char *arg)
{
	p->ctx = ctx;
	p->sect_name = name;
	p->sect_line = p->line;
	snprintf(p->sect_arg, sizeof(p->sect_arg), "%s", arg);
	p->order_line = p->allow_first = p->allow_all = 0;
	p->az_open = 0;
	p->loc_pass = 0;
}

static int close_section(struct conf_parser *p, const char *name)
{
	int r = conf_access_close(p, name);

	if (r)
		return r < 0 ? -1 : 0;
	if (p->ctx == C_SERVER)
		return perr(p, "</%s> without matching <%s> section", name, name);
	if (strcasecmp(name, p->sect_name))
		return perr(p, "Expected </%s> but saw </%s> (<%s %s> is at %s)", p->sect_name,
			    name, p->sect_name, p->sect_arg, conf_at(p, p->sect_line));
	if (conf_access_section_end(p))
		return -1;
	if (p->ctx != C_VHOST && p->vhost >= 0) {
		/* back in the <VirtualHost> around it */
		const struct kbal_conf_vhost *v = &p->conf->vhost[p->vhost];

		p->ctx = C_VHOST;
		p->sect_name = "VirtualHost";
		p->sect_line = v->line;
		snprintf(p->sect_arg, sizeof(p->sect_arg), "%s", p->vhost_arg);
		return 0;
	}
	p->ctx = C_SERVER;
	p->vhost = -1;
	return 0;
}

/* ap_getword_conf(): words split on white space; "..." or '...' quote,
 * and inside them \" (\') and \\ escape. */
static int split(struct conf_parser *p, const char *s, char **argv)
{
	char *w = p->words;
	int argc = 0;

	for (;;) {
		char q;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return argc;
		if (argc == CONF_MAX_ARGS)
			return perr(p, "more than %d words on one line", CONF_MAX_ARGS - 1);
		argv[argc++] = w;
		q = *s;
		if (q == '"' || q == '\'') {
			for (s++; *s != q; *w++ = *s++) {
				if (!*s)
					return perr(p, "unterminated %c quote", q);
				s += *s == '\\' && (s[1] == q || s[1] == '\\');
			}
			s++;
		} else {
			for (; *s && !isspace((unsigned char)*s); *w++ = *s++)
				s += *s == '\\' && s[1] == '\\';
		}
		*w++ = '\0';
	}
}

static const char *ctx_name(unsigned ctx)
{
	return ctx == C_SERVER ? "at server level" : ctx == C_PROXY ? "inside <Proxy *>" :
	       ctx == C_BALANCER ? "inside <Proxy balancer://...>" :
	       ctx == C_VHOST ? "inside <VirtualHost> by kbal (it takes <Location> sections, "
				"Redirect, ServerName, ServerAlias, the ProxyPass family, most Proxy* "
				"settings, LimitRequest*, KeepAlive, MaxKeepAliveRequests, "
				"Header, RequestHeader and <Proxy balancer://...> there: "
				"docs/configuration.md lists them; the "
				"server's other directives apply in every virtual host)" :
	       "inside <Location>";
}

static const struct conf_keyword *find_keyword(const char *name)
{
	for (const struct conf_keyword *const *t = conf_keyword_tables; *t; t++)
		for (const struct conf_keyword *kw = *t; kw->name; kw++)
			if (!strcasecmp(name, kw->name))
				return kw;
	return NULL;
}

static int directive(struct conf_parser *p, char *line)
{
	char *argv[CONF_MAX_ARGS];
	const struct conf_keyword *kw;
	const char *gt;
	char *s;
	int argc, r;

	line += strspn(line, " \t\f\v");
	if (!*line || *line == '#')
		return 0;
	if ((r = conf_skip_line(p, line)))
		return r < 0 ? -1 : 0;
	if (!(s = (char *)conf_resolve_vars(p, line)))
		return perr(p, "line longer than %d characters once its ${...} are replaced",
			    CONF_LINE_LEN - 1);
	if (*s == '<') {
		size_t n = strlen(s);

		while (isspace((unsigned char)s[n - 1]))
			n--;
		if (s[n - 1] != '>')
			return perr(p, "%.*s> directive missing closing '>'", (int)strcspn(s, " \t"), s);
		s[n - 1] = '\0';
	}
	if ((argc = split(p, s, argv)) <= 0)
		return argc;
	if (!strncmp(argv[0], "</", 2)) {
		if (argc > 1)
			return perr(p, "%s> takes no arguments", argv[0]);
		if ((r = conf_cond_close(p, argv[0] + 2)))
			return r < 0 ? -1 : 0;
		return close_section(p, argv[0] + 2);
	}
	if (!(kw = find_keyword(argv[0])) && (r = conf_ignored(p, argc, argv)))
		return r < 0 ? -1 : 0;
	if (!kw)
		return perr(p, "Invalid command '%s', perhaps misspelled or not supported by kbal", argv[0]);
	gt = kw->name[0] == '<' ? ">" : "";
	if (!(kw->ctx & p->ctx) && p->ctx == C_SERVER)
		return perr(p, "%s%s is not allowed %s", kw->name, gt, ctx_name(p->ctx));
	if (!(kw->ctx & p->ctx))
		return perr(p, "%s%s is not allowed %s (<%s %s> at %s)", kw->name, gt,
			    ctx_name(p->ctx), p->sect_name, p->sect_arg, conf_at(p, p->sect_line));
	if (argc - 1 < kw->min)
		return perr(p, "%s%s: missing argument", kw->name, gt);
	if (argc - 1 > kw->max)
		return perr(p, "%s%s: too many arguments", kw->name, gt);
	return kw->fn(p, argc, argv);
}

/* the end of the main file: sections must be closed before the whole
 * file is checked (conf_check.c) */
static int end_of_file(struct conf_parser *p)
{
	if (p->ctx != C_SERVER)
		return conf_perr_at(p, p->sect_line, "<%s %s> was not closed", p->sect_name, p->sect_arg);
	return conf_finish(p);
}

/* an included file leaves no section open that it opened, as httpd's
 * ap_build_config() for each file */
static int end_of_text(struct conf_parser *p, unsigned ctx, unsigned ncond)
{
	if (p->skip)
		return conf_perr_at(p, p->skip_line, "<%s> was not closed", p->skip_name);
	if (p->ncond > ncond)
		return conf_perr_at(p, p->cond[p->ncond - 1].line, "<%s> was not closed",
				    p->cond[p->ncond - 1].name);
	if (p->ctx != ctx && p->depth)
		return conf_perr_at(p, p->sect_line, "<%s %s> was not closed", p->sect_name, p->sect_arg);
	return 0;
}

int conf_read_text(struct conf_parser *p, const char *name, const char *text)
{
	struct kbal_conf *c = p->conf;
	char *line = malloc(CONF_LINE_LEN);
	const char *outer = p->file;
	int lineno = 0, rc = -1, outer_line = p->line;
	unsigned ctx = p->ctx, ncond = p->ncond, outer_idx = p->fileidx, base;

	if (!line)
		return perr(p, "%s: out of memory", name);
	if (outer) {      /* an Include: its name kept (once), the includer's place too */
		unsigned i = 1;

		while (i < c->nfiles && strcmp(c->files[i], name))
			i++;
		if (i == KBAL_CONF_MAX_FILES) {
			free(line);
			return perr(p, "Include: more than %d files", KBAL_CONF_MAX_FILES - 1);
		}
		if (i == c->nfiles &&
		    conf_copy(p, c->files[c->nfiles++], sizeof(c->files[0]), name, "Include's path")) {
			free(line);
			return -1;
		}
		p->fileidx = i;
		p->includer[p->depth++].line = outer_line;
	}
	base = p->fileidx << KBAL_CONF_LINE_BITS;
	p->file = name;
	while (*text) {
		size_t n = 0, len;

		p->line = base | (lineno + 1);
		for (;;) {   /* ap_cfg_getline(): a trailing \ (not \\) continues the line */
			len = strcspn(text, "\n");
			lineno++;
			if (n + len >= CONF_LINE_LEN) {
				perr(p, "line longer than %d characters", CONF_LINE_LEN - 1);
				goto cleanup;
			}
			memcpy(line + n, text, len);
			n += len;
			text += len + (text[len] == '\n');
			n -= n && line[n - 1] == '\r';
			if (n < 2 || line[n - 1] != '\\' || line[n - 2] == '\\' || !*text)
				break;
			n--;
		}
		line[n] = '\0';
		if (directive(p, line))
			goto cleanup;
	}
	p->line = base | lineno;
	rc = end_of_text(p, ctx, ncond);
cleanup:
	free(line);
	if (!rc && outer) {
		p->file = outer;
		p->line = outer_line;
		p->fileidx = outer_idx;
		p->depth--;
	}
	return rc;
}

int kbal_conf_parse(const char *name, const char *text, struct kbal_conf *conf,
		    char *err, size_t errlen, kbal_conf_warn_fn warn, void *data)
{
	struct conf_parser *p = calloc(1, sizeof(*p));
	int rc = -1;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->file, sizeof(conf->file), "%s", name);
	if (errlen)
		err[0] = '\0';
	if (!p) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	*p = (struct conf_parser){ .conf = conf, .err = err, .errlen = errlen,
				   .warn = warn, .data = data, .ctx = C_SERVER, .vhost = -1 };
	conf->nfiles = 1;
	conf_core_init(p, name);
	if (!conf_read_text(p, name, text))
		rc = end_of_file(p);
	free(p);
	return rc;
}

int kbal_conf_load(const char *path, struct kbal_conf *conf,
		   char *err, size_t errlen, kbal_conf_warn_fn warn, void *data)
{
	struct conf_parser *p = calloc(1, sizeof(*p));
	int rc = -1;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->file, sizeof(conf->file), "%s", path);
	if (errlen)
		err[0] = '\0';
	if (!p) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	*p = (struct conf_parser){ .conf = conf, .err = err, .errlen = errlen,
				   .warn = warn, .data = data, .ctx = C_SERVER, .vhost = -1 };
	conf->nfiles = 1;
	conf_core_init(p, path);
	if (!conf_read_file(p, path))
		rc = end_of_file(p);
	free(p);
	return rc;
}
