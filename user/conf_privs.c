// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_privs.c - whom kbald runs as: User and Group as httpd's mod_unixd
 * reads them (a name, or #N for a number; names are looked up when the
 * file is read, as httpd does, so that a typo fails `kbald -t`), and
 * KbalPinGroup, the group that may read the pinned maps. privs.c applies
 * them once kbald has started.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "conf_parse.h"

/* "#N" (httpd's ap_uname2id / ap_gname2id), N a decimal number; 1 if so */
static int numeric_id(const char *s, uint32_t *id)
{
	char *end;
	unsigned long v;

	if (s[0] != '#' || !s[1])
		return 0;
	v = strtoul(s + 1, &end, 10);
	if (*end || s[1] == '-' || s[1] == '+' || v >= (uint32_t)-1)
		return -1;
	*id = (uint32_t)v;
	return 1;
}

/* User NAME|#UID; without Group, the user's own group (its passwd entry) */
static int kw_user(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_conf_privs *v = &p->conf->privs;
	struct passwd *pw;
	int num;

	if (v->user_line)
		return perr(p, "User: already given at line %d", v->user_line);
	if (conf_copy(p, v->user, sizeof(v->user), argv[1], "User"))
		return -1;
	num = numeric_id(argv[1], &v->uid);
	if (num < 0)
		return perr(p, "User %s: not a user id (#N)", argv[1]);
	pw = num ? getpwuid(v->uid) : getpwnam(argv[1]);
	if (!num && !pw)
		return perr(p, "User %s: bad user name (no such user)", argv[1]);
	if (pw) {
		v->uid = pw->pw_uid;
		if (!v->group_line)
			v->gid = pw->pw_gid;
	} else if (!v->group_line) {
		v->gid = (uint32_t)-1;     /* Group must say it (conf_privs_finish) */
	}
	if (v->uid == 0)
		return perr(p, "User %s: that is root; kbald runs as root without User (name an "
			    "unprivileged user, such as one made for kbal)", argv[1]);
	v->user_line = p->line;
	return 0;
}

static int group_id(struct conf_parser *p, const char *what, const char *name, uint32_t *gid)
{
	struct group *gr;
	int num = numeric_id(name, gid);

	if (num < 0)
		return perr(p, "%s %s: not a group id (#N)", what, name);
	if (num)
		return 0;
	gr = getgrnam(name);
	if (!gr)
		return perr(p, "%s %s: bad group name (no such group)", what, name);
	*gid = gr->gr_gid;
	return 0;
}

/* Group NAME|#GID */
static int kw_group(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_conf_privs *v = &p->conf->privs;

	if (v->group_line)
		return perr(p, "Group: already given at line %d", v->group_line);
	if (conf_copy(p, v->group, sizeof(v->group), argv[1], "Group") ||
	    group_id(p, "Group", argv[1], &v->gid))
		return -1;
	if (v->gid == 0)
		return perr(p, "Group %s: that is root's group; name an unprivileged one", argv[1]);
	v->group_line = p->line;
	return 0;
}

/* KbalPinGroup NAME|#GID: the pin directory 0750 (setgid) and the pins
 * 0640, of that group; without it 0700 and 0600 */
static int kw_pin_group(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct kbal_conf_privs *v = &p->conf->privs;

	if (v->pin_group_line)
		return perr(p, "KbalPinGroup: already given at line %d", v->pin_group_line);
	if (conf_copy(p, v->pin_group, sizeof(v->pin_group), argv[1], "KbalPinGroup") ||
	    group_id(p, "KbalPinGroup", argv[1], &v->pin_gid))
		return -1;
	v->pin_group_line = p->line;
	return 0;
}

int conf_privs_finish(struct conf_parser *p)
{
	const struct kbal_conf_privs *v = &p->conf->privs;

	if (v->group_line && !v->user_line)
		return conf_perr_at(p, v->group_line, "Group %s without User: kbald changes its "
				    "user and group together (without User it runs as root)",
				    v->group);
	if (v->user_line && v->gid == (uint32_t)-1)
		return conf_perr_at(p, v->user_line, "User %s: no such user in the password "
				    "database, so no group of its own: give Group too", v->user);
	return 0;
}

const struct conf_keyword conf_kw_privs[] = {
	{ "User",              C_SERVER,              1, 1,             kw_user },
	{ "Group",             C_SERVER,              1, 1,             kw_group },
	{ "KbalPinGroup",      C_SERVER,              1, 1,             kw_pin_group },
	{ NULL }
};
