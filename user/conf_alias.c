// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_alias.c - mod_alias's redirections: Redirect, RedirectMatch,
 * RedirectPermanent and RedirectTemp, read as httpd's
 * add_redirect_internal() reads them (matched in conf_match.c, answered
 * by kbald for the paths no ProxyPass rule proxies). Its Alias, which maps
 * URLs to files, stays ignored (conf_ignored.c): kbal serves no files.
 * And the core's ErrorDocument, what kbald's own error answers say.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "conf_match.h"
#include "conf_parse.h"

/* the statuses kbald has an answer for: the redirections, and the error
 * pages a status-only Redirect may ask for */
static int status_known(unsigned st)
{
	static const unsigned ok[] = { 301, 302, 303, 307, 308, 403, 404, 410 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == st)
			return 1;
	return 0;
}

/* ap_is_url(): a scheme, then ':' */
static int is_url(const char *s)
{
	const char *p = s;

	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return p != s && *p == ':';
}

/*
 * Redirect inside a <Location> (mod_alias' add_redirect_internal() with a
 * section path): [status] URL, every request the section takes sent to
 * URL (relative: made absolute with the server's name; the request's
 * query appended where URL has none), after the access rules, on proxied
 * paths too (httpd's fixups). URL is an ap_expr string there: kbal takes
 * one without %{...}. The path form inside a section is not taken.
 */
static int location_redirect(struct conf_parser *p, const char *dir, unsigned status, int regex,
			     int grok, const char *arg1, const char *arg2, const char *arg3)
{
	struct kbal_conf_location *l = &p->conf->location[p->loc];
	const char *url = grok > 0 && arg2 && !arg3 ? arg2 : !grok && !arg2 ? arg1 : NULL;

	if (regex || !url)
		return perr(p, "%s inside <Location> is supported by kbal as Redirect [status] "
			    "URL (the section's own paths) only", dir);
	if (strstr(url, "%{"))
		return perr(p, "%s %s: expressions are not supported by kbal", dir, url);
	if (!is_url(url) && url[0] != '/')
		return perr(p, "%s: Redirect to non-URL", dir);
	if (!status_known(status) || status < 300 || status > 399)
		return perr(p, "%s: status %u is not supported by kbal here (301, 302, 303, 307, "
			    "308)", dir, status);
	if (conf_copy(p, l->redirect, sizeof(l->redirect), url, dir))
		return -1;
	l->redirect_status = status;
	p->conf->location_redirects = 1;
	return 0;
}

static int add_redirect(struct conf_parser *p, const char *dir, unsigned status, int regex,
			int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_redirect *r = &c->redirect[c->nredirect];
	const char *arg1 = argv[1], *arg2 = argc > 2 ? argv[2] : NULL;
	const char *arg3 = argc > 3 ? argv[3] : NULL, *fake, *url;
	int grok = 1;
	char err[200];

	if (c->nredirect == KBAL_CONF_MAX_REDIRECT)
		return perr(p, "too many Redirect and RedirectMatch rules (at most %d)",
			    KBAL_CONF_MAX_REDIRECT);
	/* the first of three words may be a status */
	if (!strcasecmp(arg1, "permanent")) {
		status = 301;
	} else if (!strcasecmp(arg1, "temp")) {
		status = 302;
	} else if (!strcasecmp(arg1, "seeother")) {
		status = 303;
	} else if (!strcasecmp(arg1, "gone")) {
		status = 410;
		grok = -1;
	} else if (isdigit((unsigned char)*arg1)) {
		status = (unsigned)atoi(arg1);
		if (status < 300 || status > 399)
			grok = -1;
	} else {
		grok = 0;
	}
	if (arg3 && !grok)
		return perr(p, "%s: invalid first argument (of three)", dir);
	if (p->ctx == C_LOCATION)
		return location_redirect(p, dir, status, regex, grok, arg1, arg2, arg3);
	fake = arg2;
	url = arg3;
	if (!arg3 && !grok) {
		fake = arg1;
		url = arg2;
	}
	if (!fake)
		return perr(p, "%s: needs a URL-path", dir);
	if (status >= 300 && status <= 399) {
		if (!url)
			return perr(p, "%s: URL to redirect to is missing", dir);
		if (!regex && !is_url(url) && url[0] != '/')
			return perr(p, "%s: Redirect to non-URL", dir);
	} else if (url) {
		return perr(p, "%s: Redirect URL not valid for this status", dir);
	}
	if (!status_known(status))
		return perr(p, "%s: status %u is not supported by kbal (301, 302, 303, 307, 308, "
			    "gone (410), 403, 404)", dir, status);
	memset(r, 0, sizeof(*r));
	if (conf_copy(p, r->path, sizeof(r->path), fake, dir) ||
	    (url && conf_copy(p, r->url, sizeof(r->url), url, dir)))
		return -1;
	if (regex && conf_regex_check(fake, err, sizeof(err)))
		return perr(p, "%s %s: Regular expression could not be compiled: %s", dir, fake,
			    err);
	r->status = status;
	r->regex = regex;
	r->vhost = p->vhost;
	r->line = p->line;
	c->nredirect++;
	return 0;
}

static int kw_redirect(struct conf_parser *p, int argc, char **argv)
{
	return add_redirect(p, "Redirect", 302, 0, argc, argv);
}

static int kw_redirect_match(struct conf_parser *p, int argc, char **argv)
{
	return add_redirect(p, "RedirectMatch", 302, 1, argc, argv);
}

/* RedirectPermanent and RedirectTemp take URL-path URL alone */
static int kw_redirect_permanent(struct conf_parser *p, int argc, char **argv)
{
	char *words[] = { argv[0], "permanent", argv[1], argv[2] };

	return argc != 3 ? perr(p, "RedirectPermanent needs a URL-path and a URL") :
	       add_redirect(p, "RedirectPermanent", 301, 0, 4, words);
}

static int kw_redirect_temp(struct conf_parser *p, int argc, char **argv)
{
	char *words[] = { argv[0], "temp", argv[1], argv[2] };

	return argc != 3 ? perr(p, "RedirectTemp needs a URL-path and a URL") :
	       add_redirect(p, "RedirectTemp", 302, 0, 4, words);
}

/* ErrorDocument CODE TEXT|URL|default, as httpd's core reads it
 * (set_error_document()): a word with a space is a text, one starting
 * with '/' a local document, one with a scheme a URL, any other a text */
static int kw_error_document(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	const char *msg = argv[2];
	struct kbal_conf_errdoc *e = NULL;
	unsigned st;

	if (conf_parse_uint(p, "ErrorDocument", argv[1], 400, 599, &st))
		return -1;
	for (unsigned i = 0; i < c->nerrdoc; i++)
		if (c->errdoc[i].status == st)
			e = &c->errdoc[i];      /* a later one replaces it */
	if (!strcasecmp(msg, "default")) {
		if (e)
			*e = c->errdoc[--c->nerrdoc];
		return 0;
	}
	if (!strchr(msg, ' ') && msg[0] == '/')
		return perr(p, "ErrorDocument %u %s: a local document is not supported by kbal "
			    "(it serves no files and makes no internal redirect): give a text or "
			    "a URL", st, msg);
	if (strstr(msg, "%{"))
		return perr(p, "ErrorDocument %u: expressions are not supported by kbal", st);
	if (!strchr(msg, ' ') && is_url(msg) && st == 401) {
		conf_pwarn(p, p->line, "ErrorDocument 401 %s: cannot use a full URL in a 401 "
			   "ErrorDocument directive --- ignoring!", msg);
		return 0;
	}
	if (!e) {
		if (c->nerrdoc == KBAL_CONF_MAX_ERRDOC)
			return perr(p, "too many ErrorDocument directives (at most %d)",
				    KBAL_CONF_MAX_ERRDOC);
		e = &c->errdoc[c->nerrdoc++];
	}
	memset(e, 0, sizeof(*e));
	e->status = st;
	e->url = !strchr(msg, ' ') && is_url(msg);
	e->line = p->line;
	return conf_copy(p, e->text, sizeof(e->text), msg, "ErrorDocument");
}

const struct conf_keyword conf_kw_alias[] = {
	{ "Redirect",          C_SERVER | C_VHOST | C_LOCATION, 1, 3,   kw_redirect },
	{ "RedirectMatch",     C_SERVER | C_VHOST,    1, 3,             kw_redirect_match },
	{ "RedirectPermanent", C_SERVER | C_VHOST,    2, 2,             kw_redirect_permanent },
	{ "RedirectTemp",      C_SERVER | C_VHOST,    2, 2,             kw_redirect_temp },
	{ "ErrorDocument",     C_SERVER,              2, 2,             kw_error_document },
	{ NULL }
};
