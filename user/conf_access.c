// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_access.c - <Location>, its SetHandler, and access control (Order,
 * Allow, Deny, Require): what the balancer-manager's URL is and who may
 * reach it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "conf_match.h"
#include "conf_parse.h"

/* <Location PATH>, <Location ~ REGEX> and <LocationMatch REGEX>, kept in
 * one list in configuration order, as httpd's location walk merges them */
static int location_section(struct conf_parser *p, const char *name, const char *arg, int regex)
{
	struct kbal_conf *c = p->conf;
	struct kbal_conf_location *l = &c->location[c->nlocation];
	char err[256];

	if (c->nlocation == KBAL_CONF_MAX_LOCATION)
		return perr(p, "too many <Location> and <LocationMatch> sections (at most %d)",
			    KBAL_CONF_MAX_LOCATION);
	memset(l, 0, sizeof(*l));
	if (regex) {
		if (conf_copy(p, l->path, sizeof(l->path), arg, name))
			return -1;
		if (conf_regex_check(arg, err, sizeof(err)))
			return perr(p, "<%s %s>: the regular expression does not compile: %s", name,
				    arg, err);
		l->regex = 1;
	} else {
		if (arg[strcspn(arg, "*?[")])
			return perr(p, "<Location %s>: wildcards are not supported by kbal (a "
				    "<LocationMatch> regex is)", arg);
		if (conf_check_path(p, "<Location>", arg, l->path))
			return -1;
	}
	l->line = p->line;
	l->vhost = p->vhost;
	l->error_override = -1;
	p->loc = c->nlocation++;
	conf_open_section(p, C_LOCATION, name, arg);
	return 0;
}

static int kw_location_section(struct conf_parser *p, int argc, char **argv)
{
	if (!strcmp(argv[1], "~")) {
		if (argc != 3)
			return perr(p, "<Location ~ REGEX> takes one regular expression");
		return location_section(p, "Location", argv[2], 1);
	}
	if (argc > 2)
		return perr(p, "<Location> takes one path");
	return location_section(p, "Location", argv[1], 0);
}

static int kw_locationmatch_section(struct conf_parser *p, UNUSED int argc, char **argv)
{
	return location_section(p, "LocationMatch", argv[1], 1);
}

static int kw_sethandler(struct conf_parser *p, UNUSED int argc, char **argv)
{
	if (!strcasecmp(argv[1], "balancer-manager"))
		p->conf->location[p->loc].handler = KBAL_HANDLER_MANAGER;
	else if (!strcasecmp(argv[1], "kbal-metrics"))
		p->conf->location[p->loc].handler = KBAL_HANDLER_METRICS;
	else if (!strcasecmp(argv[1], "server-status"))   /* Debian's status.conf */
		conf_pwarn(p, p->line, "SetHandler server-status ignored by kbal: it has no "
			   "mod_status (its balancer-manager and kbal-metrics tell the state); "
			   "the <Location> has no handler");
	else
		return perr(p, "SetHandler %s is not supported by kbal (only balancer-manager, "
			    "and kbal-metrics: kbal's Prometheus endpoint)", argv[1]);
	return 0;
}

/* Access control inside <Proxy>: what grants everything is accepted, what
 * restricts is an error, since kbal would otherwise let through what httpd
 * refuses. In a <Location> it is kept and checked (authz.h). */
static int no_acl(struct conf_parser *p, int argc, char **argv)
{
	char what[256] = "";

	for (int i = 0, n = 0; i < argc && n < (int)sizeof(what); i++)
		n += snprintf(what + n, sizeof(what) - n, "%s%s", i ? " " : "", argv[i]);
	return perr(p, "%s: access control is not supported by kbal yet", what);
}

/* the <Location>'s rules, or NULL in a <Proxy> section, where only what
 * grants everything is accepted */
static struct kbal_authz *section_authz(struct conf_parser *p)
{
	return p->ctx == C_LOCATION ? &p->conf->location[p->loc].authz : NULL;
}

/* a host or domain name, as Require host and Allow from take them */
static int host_name(const char *s)
{
	return s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
		       strlen(s);
}

/* Allow/Deny from NAME: mod_access_compat's T_HOST, the client's name by
 * a double-reverse lookup, matched whole or as a domain (in_domain()) */
static int compat_host(struct conf_parser *p, struct kbal_authz *a, const char *dir,
		       const char *name, uint8_t *first, uint8_t *count)
{
	if (a->nhost == KBAL_AUTHZ_HOSTS)
		return perr(p, "%s: more than %d host names in one <Location>", dir,
			    KBAL_AUTHZ_HOSTS);
	if (!*count)
		*first = a->nhost;
	else if (*first + *count != a->nhost)
		return perr(p, "%s: give all of them on one line", dir);
	if (conf_copy(p, a->host[a->nhost], KBAL_AUTHZ_NAME, name, dir))
		return -1;
	a->nhost++;
	(*count)++;
	return 0;
}

/* Allow/Deny from NET|NAME...: their networks into a->net, their names
 * into a->host */
static int compat_nets(struct conf_parser *p, struct kbal_authz *a, int argc, char **argv,
		       uint8_t *all, uint8_t *first, uint8_t *count, uint8_t *hfirst,
		       uint8_t *hcount)
{
	if (argc < 3 || strcasecmp(argv[1], "from"))
		return perr(p, "%s: must be followed by 'from'", argv[0]);
	for (int i = 2; i < argc; i++) {
		struct kbal_authz_net n;

		if (!strcasecmp(argv[i], "all")) {
			*all = 1;
			continue;
		}
		if (!strncasecmp(argv[i], "env=", 4))
			return perr(p, "%s from %s: env= is not supported by kbal yet", argv[0], argv[i]);
		if (kbal_authz_parse_net(argv[i], &n)) {
			/* mod_access_compat: what is no address is a name */
			if (!host_name(argv[i]))
				return perr(p, "%s from %s: not an address, network or host name",
					    argv[0], argv[i]);
			if (compat_host(p, a, argv[0], argv[i], hfirst, hcount))
				return -1;
			continue;
		}
		if (a->nnet == KBAL_AUTHZ_NETS)
			return perr(p, "%s: more than %d networks in one <Location>", argv[0],
				    KBAL_AUTHZ_NETS);
		if (!*count)
			*first = a->nnet;
		else if (*first + *count != a->nnet)
			return perr(p, "%s: give all of them on one line", argv[0]);
		a->net[a->nnet++] = n;
		(*count)++;
	}
	a->compat = 1;
	return 0;
}

static int kw_order(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_authz *a = section_authz(p);
	unsigned order;

	if (!strcasecmp(argv[1], "deny,allow"))
		order = AZ_ORDER_DENY_ALLOW;
	else if (!strcasecmp(argv[1], "allow,deny"))
		order = AZ_ORDER_ALLOW_DENY;
	else if (!strcasecmp(argv[1], "mutual-failure"))
		order = AZ_ORDER_MUTUAL_FAILURE;
	else
		return perr(p, "Order %s: unknown order (Deny,Allow, Allow,Deny or Mutual-failure)",
			    argv[1]);
	if (a) {
		a->order = order;
		a->compat = 1;
		return 0;
	}
	p->allow_first = order != AZ_ORDER_DENY_ALLOW;
	p->order_line = p->line;
	return 0;
}

static int kw_allow(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_authz *a = section_authz(p);

	if (a)
		return compat_nets(p, a, argc, argv, &a->allow_all, &a->allow0, &a->nallow,
				   &a->allow_host0, &a->nallow_host);
	if (argc != 3 || strcasecmp(argv[1], "from") || strcasecmp(argv[2], "all"))
		return no_acl(p, argc, argv);
	p->allow_all = 1;
	return 0;
}

static int kw_deny(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_authz *a = section_authz(p);

	if (a)
		return compat_nets(p, a, argc, argv, &a->deny_all, &a->deny0, &a->ndeny,
				   &a->deny_host0, &a->ndeny_host);
	return no_acl(p, argc, argv);
}

/* a node under the open container (the section's own list, made at the
 * first Require, is node 0) */
static int authz_node(struct conf_parser *p, struct kbal_authz *a, unsigned kind)
{
	struct kbal_authz_node *n;

	if (!a->nnode) {
		a->node[0] = (struct kbal_authz_node){ .kind = AZ_ANY, .parent = -1 };
		p->az_line[0] = p->line;
		a->nnode = 1;
		p->az_open = 0;
	}
	if (a->nnode == KBAL_AUTHZ_NODES)
		return perr(p, "more than %d Require directives and sections in one <Location>",
			    KBAL_AUTHZ_NODES - 1);
	n = &a->node[a->nnode];
	*n = (struct kbal_authz_node){ .kind = kind, .parent = p->az_open };
	p->az_line[a->nnode] = p->line;
	return a->nnode++;
}

static int kw_require(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_authz *a = section_authz(p);
	int neg = argc > 2 && !strcasecmp(argv[1], "not"), i, k;
	const char *prov = argv[1 + neg];
	unsigned kind;

	if (!a) {
		if (argc != 3 || strcasecmp(argv[1], "all") || strcasecmp(argv[2], "granted"))
			return perr(p, "Require inside <Proxy>: only \"Require all granted\" is "
				    "supported by kbal (access rules go in a <Location>)");
		return 0;
	}
	if (argc < 2 + neg + (strcasecmp(prov, "local") && strcasecmp(prov, "valid-user") ? 1 : 0))
		return perr(p, "Require %s%s: missing argument", neg ? "not " : "", prov);
	if (!strcasecmp(prov, "all")) {
		if (argc != 3 + neg)
			return perr(p, "Require all: takes one argument, granted or denied");
		if (!strcasecmp(argv[2 + neg], "granted"))
			kind = AZ_GRANTED;
		else if (!strcasecmp(argv[2 + neg], "denied"))
			kind = AZ_DENIED;
		else
			return perr(p, "Require all %s: must be granted or denied", argv[2 + neg]);
	} else if (!strcasecmp(prov, "ip")) {
		kind = AZ_IP;
	} else if (!strcasecmp(prov, "local")) {
		if (argc != 2 + neg)
			return perr(p, "Require local: takes no argument");
		kind = AZ_LOCAL;
	} else if (!strcasecmp(prov, "valid-user")) {
		if (argc != 2 + neg)
			return perr(p, "Require valid-user: takes no argument");
		kind = AZ_VALID_USER;
	} else if (!strcasecmp(prov, "user")) {
		kind = AZ_USER;
	} else if (!strcasecmp(prov, "host")) {
		kind = AZ_HOST;
	} else if (!strcasecmp(prov, "group")) {
		kind = AZ_GROUP;
	} else {
		return perr(p, "Require %s: not supported by kbal yet (all, ip, host, local, user, "
			    "group and valid-user are)", prov);
	}
	/* httpd: "negative Require directive has no effect in <RequireAny>" */
	if (neg && a->node[p->az_open].kind == AZ_ANY && a->nnode)
		return perr(p, "Require not %s: a negative Require has no effect in <RequireAny> "
			    "(put it in <RequireAll> or <RequireNone>)", prov);
	if (neg && !a->nnode)
		return perr(p, "Require not %s: a negative Require has no effect here (put it in "
			    "<RequireAll> or <RequireNone>)", prov);
	k = authz_node(p, a, kind);
	if (k < 0)
		return -1;
	a->node[k].negate = neg;
	if (kind == AZ_USER || kind == AZ_GROUP || kind == AZ_HOST) {
		int host = kind == AZ_HOST;
		uint8_t *n = host ? &a->nhost : &a->nuser;
		char (*names)[KBAL_AUTHZ_NAME] = host ? a->host : a->user;
		unsigned max = host ? KBAL_AUTHZ_HOSTS : KBAL_AUTHZ_USERS;

		a->node[k].net0 = *n;
		for (i = 2 + neg; i < argc; i++) {
			if (*n == max)
				return perr(p, "Require %s: more than %u names in one <Location>",
					    prov, max);
			if (host && !host_name(argv[i]))
				return perr(p, "Require host %s: not a host or domain name", argv[i]);
			if (conf_copy(p, names[*n], KBAL_AUTHZ_NAME, argv[i], host ? "Require host" :
				      "Require user"))
				return -1;
			(*n)++;
			a->node[k].nnet++;
		}
		return 0;
	}
	if (kind != AZ_IP)
		return 0;
	a->node[k].net0 = a->nnet;
	for (i = 2 + neg; i < argc; i++) {
		if (a->nnet == KBAL_AUTHZ_NETS)
			return perr(p, "Require ip: more than %d networks in one <Location>",
				    KBAL_AUTHZ_NETS);
		if (kbal_authz_parse_net(argv[i], &a->net[a->nnet]))
			return perr(p, "Require ip %s: not an address or network", argv[i]);
		a->nnet++;
		a->node[k].nnet++;
	}
	return 0;
}

/* AuthType Basic, AuthName, AuthUserFile, AuthBasicProvider file: the
 * manager's Basic authentication (authn.h) */
static int kw_auth(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_authz *a = section_authz(p);

	if (!a)
		return perr(p, "%s inside <Proxy> is not supported by kbal (access rules go in a "
			    "<Location>)", argv[0]);
	if (!strcasecmp(argv[0], "AuthType")) {
		if (!strcasecmp(argv[1], "None")) {
			a->basic = 0;
			return 0;
		}
		if (strcasecmp(argv[1], "Basic"))
			return perr(p, "AuthType %s: not supported by kbal (Basic is)", argv[1]);
		a->basic = 1;
		return 0;
	}
	if (!strcasecmp(argv[0], "AuthName"))
		return conf_copy(p, a->realm, sizeof(a->realm), argv[1], "AuthName");
	if (!strcasecmp(argv[0], "AuthBasicProvider")) {
		if (strcasecmp(argv[1], "file"))
			return perr(p, "AuthBasicProvider %s: not supported by kbal (file is)", argv[1]);
		return 0;
	}
	/* AuthUserFile, AuthGroupFile: read at each check, as httpd does;
	 * here only whether they can be */
	if (!strcasecmp(argv[0], "AuthGroupFile")) {
		if (conf_root_relative(p, "AuthGroupFile", argv[1], a->groupfile,
				       sizeof(a->groupfile)))
			return -1;
		if (access(a->groupfile, R_OK))
			return perr(p, "AuthGroupFile %s: %s", argv[1], strerror(errno));
		return 0;
	}
	if (conf_root_relative(p, "AuthUserFile", argv[1], a->userfile, sizeof(a->userfile)))
		return -1;
	if (access(a->userfile, R_OK))
		return perr(p, "AuthUserFile %s: %s", argv[1], strerror(errno));
	return 0;
}

static const char *const az_names[] = { [AZ_ANY] = "RequireAny", [AZ_ALL] = "RequireAll",
					[AZ_NONE] = "RequireNone" };

static int kw_require_section(struct conf_parser *p, int argc, char **argv)
{
	struct kbal_authz *a = section_authz(p);
	unsigned kind = !strcasecmp(argv[0], "<RequireAll") ? AZ_ALL :
			!strcasecmp(argv[0], "<RequireNone") ? AZ_NONE : AZ_ANY;
	int k;

	if (argc > 1)
		return perr(p, "%s> takes no arguments", argv[0]);
	if (!a)
		return perr(p, "%s> inside <Proxy> is not supported by kbal (access rules go in a "
			    "<Location>)", argv[0]);
	k = authz_node(p, a, kind);
	if (k < 0)
		return -1;
	p->az_open = k;
	return 0;
}

int conf_access_close(struct conf_parser *p, const char *name)
{
	struct kbal_authz *a;
	int open, positive = 0;

	if (strcasecmp(name, "RequireAll") && strcasecmp(name, "RequireAny") &&
	    strcasecmp(name, "RequireNone"))
		return 0;
	a = section_authz(p);
	open = p->az_open;
	if (!a || !open)
		return perr(p, "</%s> without matching <%s> section", name, name);
	if (strcasecmp(name, az_names[a->node[open].kind]))
		return perr(p, "Expected </%s> but saw </%s> (<%s> is at %s)",
			    az_names[a->node[open].kind], name, az_names[a->node[open].kind],
			    conf_at(p, p->az_line[open]));
	for (int j = open + 1; j < a->nnode; j++)
		if (a->node[j].parent == open && !a->node[j].negate)
			positive = 1;
	if (a->node[open].kind == AZ_ALL && !positive)
		return perr(p, "<RequireAll> at %s holds only negative Require directives, "
			    "which can never grant", conf_at(p, p->az_line[open]));
	if (a->node[open].kind == AZ_NONE && open + 1 == a->nnode)
		return perr(p, "<RequireNone> at %s is empty", conf_at(p, p->az_line[open]));
	p->az_open = a->node[open].parent;
	return 1;
}

/* checked at </...>, since "Allow from all" may come after Order */
int conf_access_section_end(struct conf_parser *p)
{
	struct kbal_authz *a = section_authz(p);

	if (a && p->az_open)
		return perr(p, "<%s> at %s was not closed", az_names[a->node[p->az_open].kind],
			    conf_at(p, p->az_line[p->az_open]));
	for (unsigned i = 0; a && i < a->nnode; i++) {
		unsigned kind = a->node[i].kind;

		if ((kind == AZ_USER || kind == AZ_VALID_USER || kind == AZ_GROUP) &&
		    (!a->basic || !a->userfile[0] || !a->realm[0]))
			return conf_perr_at(p, p->az_line[i], "Require %s needs AuthType Basic, "
					    "AuthName and AuthUserFile in the same <Location>",
					    kind == AZ_USER ? "user" : kind == AZ_GROUP ? "group" :
					    "valid-user");
		if (kind == AZ_GROUP && !a->groupfile[0])
			return conf_perr_at(p, p->az_line[i], "Require group needs AuthGroupFile in "
					    "the same <Location>");
	}
	if (p->order_line && p->allow_first && !p->allow_all)
		return conf_perr_at(p, p->order_line, "Order allow,deny without \"Allow from all\" "
				    "inside <Proxy> denies requests: access rules go in a <Location>");
	return 0;
}

const struct conf_keyword conf_kw_access[] = {
	{ "<Location",         C_SERVER | C_VHOST,    1, 2,             kw_location_section },
	{ "<LocationMatch",    C_SERVER | C_VHOST,    1, 1,             kw_locationmatch_section },
	{ "SetHandler",        C_LOCATION,            1, 1,             kw_sethandler },
	{ "Order",             C_SECTION,             1, 1,             kw_order },
	{ "Allow",             C_SECTION,             1, CONF_MAX_ARGS, kw_allow },
	{ "Deny",              C_SECTION,             1, CONF_MAX_ARGS, kw_deny },
	{ "Require",           C_SECTION,             1, CONF_MAX_ARGS, kw_require },
	{ "<RequireAll",       C_LOCATION,            0, 0,             kw_require_section },
	{ "AuthType",          C_SECTION,             1, 1,             kw_auth },
	{ "AuthName",          C_SECTION,             1, 1,             kw_auth },
	{ "AuthUserFile",      C_SECTION,             1, 1,             kw_auth },
	{ "AuthGroupFile",     C_SECTION,             1, 1,             kw_auth },
	{ "AuthBasicProvider", C_SECTION,             1, 1,             kw_auth },
	{ "<RequireAny",       C_LOCATION,            0, 0,             kw_require_section },
	{ "<RequireNone",      C_LOCATION,            0, 0,             kw_require_section },
	{ NULL }
};
