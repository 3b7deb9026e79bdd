// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_log.c - the logging directives, as mod_log_config and httpd's core
 * read them: LogFormat, CustomLog (files; a format or a nickname, resolved
 * at the end as httpd resolves it when it opens the logs), ErrorLog (a file,
 * or syslog[:facility]) and LogLevel (httpd's levels, onto kbald's four).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "accesslog.h"
#include "conf_parse.h"
#include "log.h"

#define UNUSED __attribute__((unused))

/* what Debian's apache2.conf defines (httpd itself defines none): a
 * CustomLog naming them works without the LogFormat lines */
static const struct { const char *nick, *format; } builtin[] = {
	{ "combined", "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" },
	{ "common", "%h %l %u %t \"%r\" %>s %b" },
	{ "vhost_combined", "%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" },
	{ "referer", "%{Referer}i -> %U" },
	{ "agent", "%{User-agent}i" },
};

/* a log file: relative to ServerRoot, as httpd's */
static int log_path(struct conf_parser *p, const char *what, const char *path, char *dst,
		    size_t size)
{
	if (path[0] == '|')
		return perr(p, "%s %s: piped logs are not supported by kbal yet", what, path);
	return conf_root_relative(p, what, path, dst, size);
}

static int kw_logformat(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;

	if (argc == 2) {
		conf_pwarn(p, p->line, "LogFormat without a nickname: only TransferLog uses it, "
			   "which kbal does not have: ignored");
		return 0;
	}
	for (unsigned i = 0; i < c->nlogformat; i++)
		if (!strcmp(c->logformat[i].nick, argv[2])) {
			snprintf(c->logformat[i].format, sizeof(c->logformat[i].format), "%s",
				 argv[1]);
			return 0;   /* httpd: the last one wins */
		}
	if (c->nlogformat == sizeof(c->logformat) / sizeof(c->logformat[0]))
		return perr(p, "LogFormat: at most %zu nicknames",
			    sizeof(c->logformat) / sizeof(c->logformat[0]));
	if (conf_copy(p, c->logformat[c->nlogformat].nick, sizeof(c->logformat[0].nick), argv[2],
		      "LogFormat's nickname") ||
	    conf_copy(p, c->logformat[c->nlogformat].format, sizeof(c->logformat[0].format),
		      argv[1], "LogFormat"))
		return -1;
	c->nlogformat++;
	return 0;
}

static int kw_customlog(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_customlog *l;

	if (argc > 3)
		return perr(p, "CustomLog %s: conditions (%s) are not supported by kbal yet",
			    argv[1], argv[3]);
	if (c->ncustomlog == KBAL_ALOG_MAX_LOGS)
		return perr(p, "CustomLog: at most %d", KBAL_ALOG_MAX_LOGS);
	l = &c->customlog[c->ncustomlog];
	if (log_path(p, "CustomLog", argv[1], l->path, sizeof(l->path)) ||
	    conf_copy(p, l->format, sizeof(l->format), argv[2], "CustomLog's format"))
		return -1;
	l->line = p->line;
	c->ncustomlog++;
	return 0;
}

static int kw_errorlog(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (strncmp(argv[1], "syslog", 6) || (argv[1][6] && argv[1][6] != ':'))
		return log_path(p, "ErrorLog", argv[1], p->conf->errorlog, sizeof(p->conf->errorlog));
	return conf_copy(p, p->conf->errorlog, sizeof(p->conf->errorlog), argv[1], "ErrorLog");
}

/* httpd's levels: emerg alert crit error warn notice info debug trace1-8;
 * "module:level" words set one module's, which kbal has not: warned */
static int kw_loglevel(struct conf_parser *p, int argc, char **argv)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "emerg", KBAL_ERR }, { "alert", KBAL_ERR }, { "crit", KBAL_ERR },
		{ "error", KBAL_ERR }, { "warn", KBAL_WARN }, { "notice", KBAL_INFO },
		{ "info", KBAL_INFO }, { "debug", KBAL_DEBUG },
	};

	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];
		size_t k = 0;

		if (strchr(w, ':')) {
			conf_pwarn(p, p->line, "LogLevel %s: kbal has no per-module levels: ignored",
				   w);
			continue;
		}
		while (k < sizeof(levels) / sizeof(levels[0]) && strcasecmp(levels[k].name, w))
			k++;
		if (k < sizeof(levels) / sizeof(levels[0]))
			p->conf->loglevel = levels[k].level + 1;
		else if (!strncasecmp(w, "trace", 5) && w[5] >= '1' && w[5] <= '8' && !w[6])
			p->conf->loglevel = KBAL_DEBUG + 1;
		else
			return perr(p, "LogLevel requires level keyword: one of emerg/alert/crit/"
				    "error/warn/notice/info/debug/trace1/.../trace8 (not '%s')", w);
	}
	return 0;
}

int conf_log_finish(struct conf_parser *p)
{
	struct kbal_conf *c = p->conf;
	char hdrs[KBAL_ALOG_MAX_HDR][48], err[256];
	unsigned nhdrs = 0;
	struct kbal_alog_fmt *f = malloc(sizeof(*f));
	int rc = 0;

	for (unsigned i = 0; f && i < c->ncustomlog && !rc; i++) {
		struct kbal_conf_customlog *l = &c->customlog[i];
		const char *fmt = NULL;

		for (unsigned k = 0; k < c->nlogformat && !fmt; k++)
			if (!strcmp(c->logformat[k].nick, l->format))
				fmt = c->logformat[k].format;
		for (size_t k = 0; k < sizeof(builtin) / sizeof(builtin[0]) && !fmt; k++)
			if (!strcmp(builtin[k].nick, l->format))
				fmt = builtin[k].format;
		if (fmt)
			snprintf(l->format, sizeof(l->format), "%s", fmt);
		if (kbal_alog_compile(l->format, f, hdrs, &nhdrs, err, sizeof(err)))
			rc = conf_perr_at(p, l->line, "CustomLog %s: %s", l->path, err);
	}
	free(f);
	return rc;
}

const struct conf_keyword conf_kw_log[] = {
	{ "LogFormat",  C_SERVER, 1, 2, kw_logformat },
	{ "CustomLog",  C_SERVER, 2, 3, kw_customlog },
	{ "ErrorLog",   C_SERVER, 1, 1, kw_errorlog },
	{ "LogLevel",   C_SERVER | C_VHOST, 1, CONF_MAX_ARGS, kw_loglevel },
	{ NULL }
};
