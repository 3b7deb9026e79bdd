// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_access.c - <Location>, its SetHandler, and access control (Order,
 * Allow, Deny, Require): what the balancer-manager's URL is and who may
 * reach it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "conf_parse.h"

static int kw_location_section(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_location *l = &c->location[c->nlocation];

	if (argc > 2 || !strcmp(argv[1], "~"))
		return perr(p, "<Location ~ ...> (regular expressions) is not supported by kbal");
	if (argv[1][strcspn(argv[1], "*?[")])
		return perr(p, "<Location %s>: wildcards are not supported by kbal", argv[1]);
	if (c->nlocation == KBAL_CONF_MAX_LOCATION)
		return perr(p, "too many <Location> sections (at most %d)", KBAL_CONF_MAX_LOCATION);
	if (conf_check_path(p, "<Location>", argv[1], l->path))
		return -1;
	l->line = p->line;
	p->loc = c->nlocation++;
	conf_open_section(p, C_LOCATION, "Location", argv[1]);
	return 0;
}

static int kw_sethandler(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (strcasecmp(argv[1], "balancer-manager"))
		return perr(p, "SetHandler %s is not supported by kbal (only balancer-manager)", argv[1]);
	p->conf->location[p->loc].handler = KBAL_HANDLER_MANAGER;
	return 0;
}

/* Access control: what grants everything is accepted, what restricts is an
 * error, since kbal would otherwise let through what httpd refuses. */
static int no_acl(struct conf_parser *p, int argc, char **argv)
{
	char what[256] = "";

	for (int i = 0, n = 0; i < argc && n < (int)sizeof(what); i++)
		n += snprintf(what + n, sizeof(what) - n, "%s%s", i ? " " : "", argv[i]);
	return perr(p, "%s: access control is not supported by kbal yet", what);
}

static int kw_order(struct conf_parser *p, int argc, char **argv)
{
	if (!strcasecmp(argv[1], "deny,allow"))
		p->allow_first = 0;
	else if (!strcasecmp(argv[1], "allow,deny") || !strcasecmp(argv[1], "mutual-failure"))
		p->allow_first = 1;
	else
		return no_acl(p, argc, argv);
	p->order_line = p->line;
	return 0;
}

static int kw_allow(struct conf_parser *p, int argc, char **argv)
{
	if (argc != 3 || strcasecmp(argv[1], "from") || strcasecmp(argv[2], "all"))
		return no_acl(p, argc, argv);
	p->allow_all = 1;
	return 0;
}

static int kw_require(struct conf_parser *p, int argc, char **argv)
{
	if (argc != 3 || strcasecmp(argv[1], "all") || strcasecmp(argv[2], "granted"))
		return no_acl(p, argc, argv);
	return 0;
}

/* checked at </...>, since "Allow from all" may come after Order */
int conf_access_section_end(struct conf_parser *p)
{
	if (p->order_line && p->allow_first && !p->allow_all)
		return conf_perr_at(p, p->order_line, "Order allow,deny without \"Allow from all\" "
				    "denies requests: access control is not supported by kbal yet");
	return 0;
}

const struct conf_keyword conf_kw_access[] = {
	{ "<Location",         C_SERVER,              1, 2,             kw_location_section },
	{ "SetHandler",        C_LOCATION,            1, 1,             kw_sethandler },
	{ "Order",             C_SECTION,             1, 1,             kw_order },
	{ "Allow",             C_SECTION,             1, CONF_MAX_ARGS, kw_allow },
	{ "Deny",              C_SECTION,             1, CONF_MAX_ARGS, no_acl },
	{ "Require",           C_SECTION,             1, CONF_MAX_ARGS, kw_require },
	{ NULL }
};
