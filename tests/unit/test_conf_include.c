// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/conf_include.c, conf_ignored.c: the file as httpd's core reads it
 * (Include, ServerRoot, <IfModule>, <IfDefine>, Define, ${VAR}) and the
 * directives kbal ignores on purpose. Files go to a directory of their own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "conf.h"

#define MEMBERS "BalancerMember http://127.0.0.1:9001\n</Proxy>\n"

struct tree {
	char dir[64];
	struct kbal_conf *c;
	int rc;
	char err[1024];
	int nwarn;
	char warn[8192];
};

static void collect(void *data, const char *msg)
{
	struct tree *t = data;
	size_t n = strlen(t->warn);

	t->nwarn++;
	snprintf(t->warn + n, sizeof(t->warn) - n, "%s\n", msg);
}

static struct tree *tree(void)
{
	struct tree *t = calloc(1, sizeof(*t));

	strcpy(t->dir, "/tmp/kbal-unit-incl-XXXXXX");
	if (!mkdtemp(t->dir))
		abort();
	t->c = malloc(sizeof(*t->c));
	return t;
}

/* name under the tree (its directories made), with text */
static void put(struct tree *t, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(path, sizeof(path), "%s/%.*s", t->dir, (int)(s - name), name);
		mkdir(path, 0755);
	}
	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int load(struct tree *t, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	t->nwarn = 0;
	t->warn[0] = '\0';
	return t->rc = kbal_conf_load(path, t->c, t->err, sizeof(t->err), collect, t);
}

/* s with @ replaced by the tree's directory */
static const char *at(struct tree *t, const char *s)
{
	static char buf[2048];
	size_t o = 0;

	for (; *s && o < sizeof(buf) - 64; s++)
		o += *s == '@' ? (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", t->dir) :
				 (buf[o] = *s, 1);
	buf[o] = '\0';
	return buf;
}

static void done(struct tree *t)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (system(cmd))
		fprintf(stderr, "  %s left\n", t->dir);
	free(t->c);
	free(t);
}

UNIT_TEST(conf_include_glob_sorted)
{
	struct tree *t = tree();

	/* apr sorts with strcmp: "10-a" before "2-b"; a directory is read whole */
	put(t, "main.conf", "Listen 8080\nIncludeOptional conf.d/*.conf\nInclude dir\n"
			    "ProxyPass /a balancer://a/\nProxyPass /b balancer://b/\n");
	put(t, "conf.d/2-b.conf", "<Proxy balancer://b>\n" MEMBERS);
	put(t, "conf.d/10-a.conf", "<Proxy balancer://a>\n" MEMBERS);
	put(t, "conf.d/skip.txt", "Bogus\n");
	put(t, "dir/x/y.conf", "ServerName deep\n");
	ASSERT_EQ(load(t, "main.conf"), 0, t->err);
	ASSERT_STREQ(t->c->balancers[0].name, "a", "sorted as strcmp");
	ASSERT_STREQ(t->c->balancers[1].name, "b", "sorted as strcmp");
	ASSERT_STREQ(t->c->server_name, "deep", "a directory's files, recursively");
	/* lines keep their file */
	ASSERT_STREQ(KBAL_CONF_FILE(t->c, t->c->balancers[1].line), at(t, "@/conf.d/2-b.conf"),
		     "file of a line");
	ASSERT_EQ(KBAL_CONF_LINENO(t->c->balancers[1].line), 1, "its line");
	ASSERT_STREQ(KBAL_CONF_FILE(t->c, t->c->listen[0].line), t->c->file, "main file");
	done(t);
}

UNIT_TEST(conf_include_errors)
{
	struct tree *t = tree();

	put(t, "main.conf", "Listen 8080\nInclude sites/*.conf\n");
	put(t, "sites/a.conf", "# a\nInclude inner.conf\n");   /* ServerRoot's, not its */
	put(t, "inner.conf", "\nBogus here\n");
	ASSERT_EQ(load(t, "main.conf"), -1, "error in an included file");
	ASSERT_STREQ(t->err, at(t, "@/inner.conf:2: Invalid command 'Bogus', perhaps "
			       "misspelled or not supported by kbal (included from "
			       "@/sites/a.conf:2) (included from @/main.conf:2)"), "chain");

	put(t, "main.conf", "Listen 8080\nInclude nowhere.conf\n");
	ASSERT_EQ(load(t, "main.conf"), -1, "missing file");
	ASSERT_STREQ(t->err, at(t, "@/main.conf:2: Could not open configuration file "
			       "@/nowhere.conf: No such file or directory"), "missing file");
	put(t, "main.conf", "Listen 8080\nInclude none/*.conf\n");
	ASSERT_EQ(load(t, "main.conf"), -1, "no match");
	ASSERT_STREQ(t->err, at(t, "@/main.conf:2: No matches for the wildcard "
			       "'@/none/*.conf', failing"), "no match");
	put(t, "main.conf", "Listen 8080\nIncludeOptional none/*.conf\nIncludeOptional no.conf\n"
			    "<Proxy balancer://c>\n" MEMBERS "ProxyPass / balancer://c/\n");
	ASSERT_EQ(load(t, "main.conf"), 0, t->err);

	/* a loop ends at httpd's depth */
	put(t, "main.conf", "Listen 8080\nInclude loop.conf\n");
	put(t, "loop.conf", "Include loop.conf\n");
	ASSERT_EQ(load(t, "main.conf"), -1, "loop");
	ASSERT_HAS(t->err, "Exceeded the maximum include directory nesting level of 128. You "
		   "have probably a recursion somewhere.", "loop");

	/* a section closes in its file */
	put(t, "main.conf", "Listen 8080\nInclude open.conf\n</Proxy>\n");
	put(t, "open.conf", "<Proxy balancer://c>\n");
	ASSERT_EQ(load(t, "main.conf"), -1, "section left open");
	ASSERT_STREQ(t->err, at(t, "@/open.conf:1: <Proxy balancer://c> was not closed (included "
			       "from @/main.conf:2)"), "section left open");

	/* what only the whole configuration tells names the right file */
	put(t, "main.conf", "Include ports.conf\nListen 8080\n");
	put(t, "ports.conf", "Listen 8080\n");
	ASSERT_EQ(load(t, "main.conf"), -1, "a Listen twice");
	ASSERT_STREQ(t->err, at(t, "@/main.conf:2: Listen 8080: the Listen at @/ports.conf:1 "
			       "already takes this port"), "other file's line");
	put(t, "main.conf", "Listen 8080\nInclude site.conf\n");
	put(t, "site.conf", "ProxyPass / balancer://c/\n\n<Proxy balancer://c>\n</Proxy>\n");
	ASSERT_EQ(load(t, "main.conf"), -1, "checked at the end");
	ASSERT_HAS(t->err, at(t, "@/site.conf:1: ProxyPass /: balancer://c is not defined"), "its file");
	done(t);
}

UNIT_TEST(conf_include_serverroot)
{
	struct tree *t = tree();
	char buf[600];

	put(t, "etc/main.conf", at(t, "ServerRoot @/root\nListen 8080\nInclude site.conf\n"
				   "KbalPersistFile state/p\nErrorLog logs/error.log\n"
				   "CustomLog /var/log/x.log common\n"));
	put(t, "root/site.conf", "<Proxy balancer://c>\n" MEMBERS "ProxyPass / balancer://c/\n"
				 "<Location /m>\nSetHandler balancer-manager\nAuthType Basic\n"
				 "AuthName x\nAuthUserFile users\nRequire valid-user\n</Location>\n");
	put(t, "root/users", "u:$apr1$x$y\n");
	ASSERT_EQ(load(t, "etc/main.conf"), 0, t->err);
	snprintf(buf, sizeof(buf), "%s/root/state/p", t->dir);
	ASSERT_STREQ(t->c->persist_file, buf, "KbalPersistFile after ServerRoot");
	snprintf(buf, sizeof(buf), "%s/root/logs/error.log", t->dir);
	ASSERT_STREQ(t->c->errorlog, buf, "ErrorLog after ServerRoot");
	ASSERT_STREQ(t->c->customlog[0].path, "/var/log/x.log", "an absolute path stays");
	snprintf(buf, sizeof(buf), "%s/root/users", t->dir);
	ASSERT_STREQ(t->c->location[0].authz.userfile, buf, "AuthUserFile after ServerRoot");

	/* without ServerRoot: the main file's directory */
	put(t, "etc/main.conf", "Listen 8080\nInclude site.conf\n");
	put(t, "etc/site.conf", "<Proxy balancer://c>\n" MEMBERS "ProxyPass / balancer://c/\n");
	ASSERT_EQ(load(t, "etc/main.conf"), 0, t->err);
	put(t, "etc/main.conf", "ServerRoot /nonexistent/dir\n");
	ASSERT_EQ(load(t, "etc/main.conf"), -1, "bad ServerRoot");
	ASSERT_STREQ(t->err, at(t, "@/etc/main.conf:1: ServerRoot must be a valid directory"),
		     "bad ServerRoot");
	done(t);
}

#define HEAD "Listen 8080\n<Proxy balancer://c>\n" MEMBERS "ProxyPass / balancer://c/\n"

UNIT_TEST(conf_ifmodule)
{
	struct tree *t = tree();

	put(t, "m.conf", "LoadModule proxy_module m.so\n"
			 "<IfModule proxy_module>\nServerName a\n</IfModule>\n"
			 "<IfModule mod_proxy.c>\nServerAdmin x\n</IfModule>\n"
			 "<IfModule !mod_proxy_balancer.c>\nServerTokens OS\n</IfModule>\n"
			 "<IfModule mod_ssl.c>\nSSLEngine on\n<Nested x>\nBogus\n</Nested>\n</IfModule>\n"
			 "<IfModule !ssl_module>\n<IfModule log_config_module>\n<IfModule core.c>\n"
			 "<IfModule mod_log_config.c>\nServerName b\n</IfModule>\n</IfModule>\n"
			 "</IfModule>\n</IfModule>\n"
			 "LoadModule mime_module m.so\n<IfModule mime_module>\nAddTypo x\n</IfModule>\n"
			 HEAD);
	ASSERT_EQ(load(t, "m.conf"), 0, t->err);
	ASSERT_STREQ(t->c->server_name, "b", "true ones read, false ones skipped");
	ASSERT_HAS(t->warn, at(t, "@/m.conf:26: LoadModule mime_module: not loaded by kbal (kbal "
			       "serves no files); its <IfModule> sections are skipped"), "said");
	ASSERT_EQ(t->nwarn, 1, t->warn);

	put(t, "m.conf", "<IfModule>\n</IfModule>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "no argument");
	ASSERT_HAS(t->err, "m.conf:1: <IfModule>: missing argument", "no argument");
	put(t, "m.conf", "<IfModule !>\n</IfModule>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "only !");
	ASSERT_HAS(t->err, "m.conf:1: <IfModule> directive requires additional arguments", "only !");
	put(t, "m.conf", "<IfModule core_module>\n</IfDefine>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "crossed");
	ASSERT_HAS(t->err, "m.conf:2: Expected </IfModule> but saw </IfDefine> (<IfModule> is at "
		   "line 1)", "crossed");
	put(t, "m.conf", "<IfModule nothing_module>\n<Proxy *>\n</IfModule>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "crossed while skipping");
	ASSERT_HAS(t->err, "m.conf:1: <IfModule> was not closed", "skipping");
	put(t, "m.conf", "<IfModule core_module>\n<Proxy *>\n</IfModule>\n</Proxy>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "section crossing a conditional");
	ASSERT_HAS(t->err, "m.conf:3: Expected </Proxy> but saw </IfModule>", "crossing");
	put(t, "m.conf", "<IfModule nothing_module>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "unclosed skipped");
	ASSERT_HAS(t->err, "m.conf:1: <IfModule> was not closed", "unclosed skipped");
	put(t, "m.conf", "<IfModule core_module>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "unclosed");
	ASSERT_HAS(t->err, "m.conf:1: <IfModule> was not closed", "unclosed");
	put(t, "m.conf", "</IfModule>\n");
	ASSERT_EQ(load(t, "m.conf"), -1, "close without open");
	ASSERT_HAS(t->err, "m.conf:1: </IfModule> without matching <IfModule> section", "close");
	done(t);
}

UNIT_TEST(conf_ifdefine_vars)
{
	struct tree *t = tree();

	setenv("KBAL_UNIT_ENV", "from-env", 1);
	ASSERT_EQ(kbal_conf_define("KBAL_UNIT_D"), 0, "-D");
	ASSERT_EQ(kbal_conf_define("a:b"), -1, "-D with ':'");
	put(t, "d.conf", "Define ON\nDefine NAME host-${KBAL_UNIT_ENV}\n"
			 "<IfDefine ON>\nServerAdmin a\n</IfDefine>\n"
			 "<IfDefine !ON>\nBogus ${NOT_RESOLVED_WHEN_SKIPPED}\n</IfDefine>\n"
			 "<IfDefine KBAL_UNIT_D>\nDefine FROM_D 1\n</IfDefine>\n"
			 "UnDefine ON\n<IfDefine ON>\nBogus\n</IfDefine>\n"
			 "<IfDefine !ON>\n<IfDefine FROM_D>\nServerName ${NAME}\n</IfDefine>\n</IfDefine>\n"
			 "ServerAdmin ${KBAL_UNIT_UNDEFINED}x\n" HEAD);
	ASSERT_EQ(load(t, "d.conf"), 0, t->err);
	ASSERT_STREQ(t->c->server_name, "host-from-env", "Define's value, the environment's");
	ASSERT_STREQ(t->warn, at(t, "@/d.conf:21: Config variable ${KBAL_UNIT_UNDEFINED} is not "
				 "defined\n"), "an undefined one is said, kept");
	put(t, "d.conf", "Define a:b\n");
	ASSERT_EQ(load(t, "d.conf"), -1, "':'");
	ASSERT_HAS(t->err, "d.conf:1: Variable name must not contain ':'", "':'");
	put(t, "d.conf", "Define X 1 2\n");
	ASSERT_EQ(load(t, "d.conf"), -1, "too many");
	ASSERT_HAS(t->err, "d.conf:1: Define: too many arguments", "too many");
	/* a value holding ${...} is not read again: no loop */
	put(t, "d.conf", "Define L ${L}\nDefine M a${L}b\nServerName ${M}\n" HEAD);
	ASSERT_EQ(load(t, "d.conf"), 0, t->err);
	ASSERT_STREQ(t->c->server_name, "a${L}b", "one pass");
	done(t);
}

UNIT_TEST(conf_ignored_said_once)
{
	struct tree *t = tree();

	put(t, "i.conf", "PidFile /run/x.pid\nStartServers 2\nPidFile /run/y.pid\n"
			 "<Directory /var/www>\nOptions Indexes\nBogus\n<Files x>\n</Files>\n"
			 "</Directory>\n<directory />\n</Directory>\n"
			 "KeepAlive On\n" HEAD);
	ASSERT_EQ(load(t, "i.conf"), 0, t->err);
	ASSERT_STREQ(t->warn, at(t, "@/i.conf:1: PidFile ignored by kbal: kbald writes no pid file "
				 "(systemd follows its pid)\n"
				 "@/i.conf:2: StartServers ignored by kbal: kbald is one event loop\n"
				 "@/i.conf:4: <Directory> ignored by kbal: kbal serves no files\n"),
		     "each named once");
	put(t, "i.conf", "<Directory /x>\n</Files>\n");
	ASSERT_EQ(load(t, "i.conf"), -1, "crossed");
	ASSERT_HAS(t->err, "i.conf:2: Expected </Directory> but saw </Files>", "crossed");
	put(t, "i.conf", "KeepAlive Sometimes\n");
	ASSERT_EQ(load(t, "i.conf"), -1, "KeepAlive Sometimes");
	ASSERT_HAS(t->err, "i.conf:1: KeepAlive: must be On or Off", "KeepAlive Sometimes");
	put(t, "i.conf", "SSLEngine on\n");
	ASSERT_EQ(load(t, "i.conf"), -1, "unknown");
	ASSERT_HAS(t->err, "i.conf:1: Invalid command 'SSLEngine'", "unknown stays an error");
	put(t, "i.conf", "LoadModule rewrite_module m.so\n");
	ASSERT_EQ(load(t, "i.conf"), -1, "unknown module");
	ASSERT_HAS(t->err, "i.conf:1: module rewrite_module is not supported by kbal", "module");
	done(t);
}
