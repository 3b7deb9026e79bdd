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

#define FILE_MAX (1 << 20)

/* Every area's keyword table: a new area is one file and one line here.
 * A constant list rather than registration at start-up, so that what kbal
 * understands is read off one place and nothing is written before main(). */
const struct conf_keyword *const conf_keyword_tables[] = {
	conf_kw_server,
	conf_kw_proxy,
	conf_kw_access,
	conf_kw_log,
	conf_kw_hcheck,
	conf_kw_privs,
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
		return perr(p, "Expected </%s> but saw </%s> (<%s %s> is at line %d)", p->sect_name,
			    name, p->sect_name, p->sect_arg, p->sect_line);
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
	       ctx == C_VHOST ? "inside <VirtualHost> by kbal (it takes <Location> sections "
				"and ServerName there; the server's ProxyPass rules and "
				"balancers apply in every virtual host, as httpd's inheritance)" :
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

static int directive(struct conf_parser *p, char *s)
{
	char *argv[CONF_MAX_ARGS];
	const struct conf_keyword *kw;
	const char *gt;
	int argc;

	s += strspn(s, " \t\f\v");
	if (!*s || *s == '#')
		return 0;
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
		return close_section(p, argv[0] + 2);
	}
	if (!(kw = find_keyword(argv[0])))
		return perr(p, "Invalid command '%s', perhaps misspelled or not supported by kbal", argv[0]);
	gt = kw->name[0] == '<' ? ">" : "";
	if (!(kw->ctx & p->ctx) && p->ctx == C_SERVER)
		return perr(p, "%s%s is not allowed %s", kw->name, gt, ctx_name(p->ctx));
	if (!(kw->ctx & p->ctx))
		return perr(p, "%s%s is not allowed %s (<%s %s> at line %d)", kw->name, gt,
			    ctx_name(p->ctx), p->sect_name, p->sect_arg, p->sect_line);
	if (argc - 1 < kw->min)
		return perr(p, "%s%s: missing argument", kw->name, gt);
	if (argc - 1 > kw->max)
		return perr(p, "%s%s: too many arguments", kw->name, gt);
	return kw->fn(p, argc, argv);
}

/* the end of the file: sections must be closed before the whole file is
 * checked (conf_check.c) */
static int end_of_file(struct conf_parser *p)
{
	if (p->ctx != C_SERVER)
		return conf_perr_at(p, p->sect_line, "<%s %s> was not closed", p->sect_name, p->sect_arg);
	return conf_finish(p);
}

int kbal_conf_parse(const char *name, const char *text, struct kbal_conf *conf,
		    char *err, size_t errlen, kbal_conf_warn_fn warn, void *data)
{
	struct conf_parser *p = calloc(1, sizeof(*p));
	char *line = malloc(CONF_LINE_LEN);
	int lineno = 0, rc = -1;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->file, sizeof(conf->file), "%s", name);
	if (errlen)
		err[0] = '\0';
	if (!p || !line) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto cleanup;
	}
	*p = (struct conf_parser){ .conf = conf, .file = name, .err = err, .errlen = errlen,
				   .warn = warn, .data = data, .ctx = C_SERVER, .vhost = -1 };
	while (*text) {
		size_t n = 0, len;

		p->line = lineno + 1;
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
	rc = end_of_file(p);
cleanup:
	free(line);
	free(p);
	return rc;
}

int kbal_conf_load(const char *path, struct kbal_conf *conf,
		   char *err, size_t errlen, kbal_conf_warn_fn warn, void *data)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int rc = -1;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	buf = malloc(FILE_MAX + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto cleanup;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto cleanup;
	}
	if (n > FILE_MAX || memchr(buf, '\0', n)) {
		snprintf(err, errlen, "%s: not a configuration file (NUL byte, or over %d bytes)",
			 path, FILE_MAX);
		goto cleanup;
	}
	buf[n] = '\0';
	rc = kbal_conf_parse(path, buf, conf, err, errlen, warn, data);
cleanup:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}
