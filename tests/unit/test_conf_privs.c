// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/conf_privs.c: User, Group (httpd's mod_unixd) and KbalPinGroup. */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include "unit.h"
#include "conf.h"

#define BAL "Listen 8080\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001\n</Proxy>\n"

static struct kbal_conf *parse(const char *text, char *err, size_t len, int *rc)
{
	struct kbal_conf *c = malloc(sizeof(*c));   /* ~3 MB: never on the stack */

	*rc = kbal_conf_parse("t.conf", text, c, err, len, NULL, NULL);
	return c;
}

static void expect_err(const char *text, const char *want)
{
	char err[512];
	int rc;
	struct kbal_conf *c = parse(text, err, sizeof(err), &rc);

	ASSERT_EQ(rc, -1, want);
	ASSERT_STREQ(err, want, "error text");
	free(c);
}

UNIT_TEST(conf_user_and_group)
{
	const struct passwd *nobody = getpwnam("nobody");
	const struct group *nogroup = getgrnam("nogroup");
	struct kbal_conf *c;
	char err[512];
	int rc;

	if (!ASSERT_TRUE(nobody && nogroup, "nobody and nogroup in this system's databases"))
		return;
	c = parse(BAL "User nobody\nGroup nogroup\n", err, sizeof(err), &rc);
	ASSERT_EQ(rc, 0, err);
	ASSERT_STREQ(c->privs.user, "nobody", "User as written");
	ASSERT_EQ(c->privs.uid, nobody->pw_uid, "User's uid");
	ASSERT_EQ(c->privs.gid, nogroup->gr_gid, "Group's gid");
	ASSERT_EQ(c->privs.user_line, 5, "User's line");
	ASSERT_EQ(c->privs.group_line, 6, "Group's line");
	ASSERT_EQ(c->privs.pin_group_line, 0, "no KbalPinGroup");
	free(c);
	/* Group before User, as httpd takes them too */
	c = parse(BAL "Group nogroup\nUser nobody\n", err, sizeof(err), &rc);
	ASSERT_EQ(rc, 0, err);
	ASSERT_EQ(c->privs.gid, nogroup->gr_gid, "Group's gid, given first");
	free(c);
	/* without Group: the user's own group */
	c = parse(BAL "User nobody\n", err, sizeof(err), &rc);
	ASSERT_EQ(rc, 0, err);
	ASSERT_EQ(c->privs.gid, nobody->pw_gid, "the user's group");
	free(c);
	/* httpd's #N: numbers, no database entry needed with Group */
	c = parse(BAL "User #4242\nGroup #4243\nKbalPinGroup #4244\n", err, sizeof(err), &rc);
	ASSERT_EQ(rc, 0, err);
	ASSERT_EQ(c->privs.uid, 4242, "User #4242");
	ASSERT_EQ(c->privs.gid, 4243, "Group #4243");
	ASSERT_EQ(c->privs.pin_gid, 4244, "KbalPinGroup #4244");
	free(c);
	c = parse(BAL "KbalPinGroup nogroup\n", err, sizeof(err), &rc);
	ASSERT_EQ(rc, 0, err);
	ASSERT_EQ(c->privs.pin_gid, nogroup->gr_gid, "KbalPinGroup without User");
	ASSERT_EQ(c->privs.user_line, 0, "no User");
	free(c);
	/* none: kbald stays root, as before */
	c = parse(BAL, err, sizeof(err), &rc);
	ASSERT_EQ(rc, 0, err);
	ASSERT_EQ(c->privs.user_line + c->privs.group_line + c->privs.pin_group_line, 0,
		  "nothing given");
	free(c);
}

UNIT_TEST(conf_user_and_group_errors)
{
	expect_err(BAL "User no-such-user-kbal\n",
		   "t.conf:5: User no-such-user-kbal: bad user name (no such user)");
	expect_err(BAL "User nobody\nGroup no-such-group-kbal\n",
		   "t.conf:6: Group no-such-group-kbal: bad group name (no such group)");
	expect_err(BAL "KbalPinGroup no-such-group-kbal\n",
		   "t.conf:5: KbalPinGroup no-such-group-kbal: bad group name (no such group)");
	expect_err(BAL "User root\n", "t.conf:5: User root: that is root; kbald runs as root "
		   "without User (name an unprivileged user, such as one made for kbal)");
	expect_err(BAL "User #0\nGroup nogroup\n", "t.conf:5: User #0: that is root; kbald runs "
		   "as root without User (name an unprivileged user, such as one made for kbal)");
	expect_err(BAL "User nobody\nGroup #0\n",
		   "t.conf:6: Group #0: that is root's group; name an unprivileged one");
	expect_err(BAL "User #12x\n", "t.conf:5: User #12x: not a user id (#N)");
	expect_err(BAL "User #-1\n", "t.conf:5: User #-1: not a user id (#N)");
	expect_err(BAL "Group #\n", "t.conf:5: Group #: bad group name (no such group)");
	expect_err(BAL "User nobody\nUser nobody\n", "t.conf:6: User: already given at line 5");
	expect_err(BAL "User nobody\nGroup nogroup\nGroup nogroup\n",
		   "t.conf:7: Group: already given at line 6");
	expect_err(BAL "User nobody\nUser\n", "t.conf:6: User: missing argument");
	expect_err(BAL "User nobody nogroup\n", "t.conf:5: User: too many arguments");
	/* whole-file checks, at the line that is wrong */
	expect_err(BAL "\nGroup nogroup\n", "t.conf:6: Group nogroup without User: kbald changes "
		   "its user and group together (without User it runs as root)");
	expect_err(BAL "User #4242\n", "t.conf:5: User #4242: no such user in the password "
		   "database, so no group of its own: give Group too");
	expect_err("Listen 8080\n<Proxy balancer://c>\nUser nobody\n",
		   "t.conf:3: User is not allowed inside <Proxy balancer://...> (<Proxy "
		   "balancer://c> at line 2)");
}
