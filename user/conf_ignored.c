// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_ignored.c - the directives kbal ignores on purpose: those of Debian's
 * stock apache2.conf, ports.conf, conf-enabled/ and the mods-enabled/ of a
 * default install that stand outside an <IfModule> for a module kbal does
 * not load, and that serve files or tune httpd's processes. Each is named
 * once, with its file and line, as a warning; a section's lines are skipped
 * unread. Anything else kbal does not know stays an error.
 */
#include <string.h>
#include <strings.h>
#include "conf_parse.h"

static const struct {
	const char *name;                 /* "<Directory" for a section */
	const char *why;
} ignored[] = {
	{ "<Directory",             "kbal serves no files" },
	{ "<DirectoryMatch",        "kbal serves no files" },
	{ "<Files",                 "kbal serves no files" },
	{ "<FilesMatch",            "kbal serves no files" },
	{ "DocumentRoot",           "kbal serves no files" },
	{ "AccessFileName",         "kbal serves no files (no .htaccess)" },
	{ "EnableSendfile",         "kbal serves no files" },
	{ "EnableMMAP",             "kbal serves no files" },
	{ "DefaultRuntimeDir",      "kbald keeps its state in its --pin-dir" },
	{ "PidFile",                "kbald writes no pid file (systemd follows its pid)" },
	{ "Mutex",                  "kbald is one process" },
	{ "HostnameLookups",        "kbal logs addresses, never names" },
	{ "ProxyIOBufferSize",      "kbald's buffers and the kernel's carry the bytes" },
	{ "BalancerGrowth",         "kbal adds no balancer at run time (members: growth=)" },
	{ "TraceEnable",            "not implemented: kbal passes TRACE to the members as any "
				    "method" },
	{ "StartServers",           "kbald is one event loop" },
	{ "ServerLimit",            "kbald is one event loop" },
	{ "MinSpareThreads",        "kbald is one event loop" },
	{ "MaxSpareThreads",        "kbald is one event loop" },
	{ "MinSpareServers",        "kbald is one event loop" },
	{ "MaxSpareServers",        "kbald is one event loop" },
	{ "ThreadLimit",            "kbald is one event loop" },
	{ "ThreadsPerChild",        "kbald is one event loop" },
	{ "MaxRequestWorkers",      "kbald is one event loop" },
	{ "MaxClients",             "kbald is one event loop" },
	{ "MaxConnectionsPerChild", "kbald is one event loop" },
	{ "MaxRequestsPerChild",    "kbald is one event loop" },
	{ "AsyncRequestWorkerFactor", "kbald is one event loop" },
	/* the modules of Debian's default install that serve files; their
	 * mods-enabled/ files are not inside <IfModule> */
	{ "Alias",                  "mod_alias maps URLs to files, kbal serves none" },
	{ "ScriptAlias",            "kbal runs no CGI" },
	{ "DirectoryIndex",         "kbal serves no files (mod_dir)" },
	{ "IndexOptions",           "kbal lists no directories (mod_autoindex)" },
	{ "IndexIgnore",            "kbal lists no directories (mod_autoindex)" },
	{ "AddIcon",                "kbal lists no directories (mod_autoindex)" },
	{ "AddIconByType",          "kbal lists no directories (mod_autoindex)" },
	{ "AddIconByEncoding",      "kbal lists no directories (mod_autoindex)" },
	{ "AddDescription",         "kbal lists no directories (mod_autoindex)" },
	{ "DefaultIcon",            "kbal lists no directories (mod_autoindex)" },
	{ "ReadmeName",             "kbal lists no directories (mod_autoindex)" },
	{ "HeaderName",             "kbal lists no directories (mod_autoindex)" },
	{ "TypesConfig",            "kbal serves no files (mod_mime)" },
	{ "AddType",                "kbal serves no files (mod_mime)" },
	{ "RemoveType",             "kbal serves no files (mod_mime)" },
	{ "AddLanguage",            "kbal serves no files (mod_mime)" },
	{ "AddCharset",             "kbal serves no files (mod_mime)" },
	{ "AddEncoding",            "kbal serves no files (mod_mime)" },
	{ "AddHandler",             "kbal serves no files (mod_mime)" },
	{ "AddOutputFilter",        "kbal serves no files (mod_mime)" },
	{ "AddOutputFilterByType",  "not implemented: kbal does not compress or filter answers" },
	{ "LanguagePriority",       "kbal serves no files (mod_negotiation)" },
	{ "ForceLanguagePriority",  "kbal serves no files (mod_negotiation)" },
	{ "ExtendedStatus",         "kbal has no mod_status (its balancer-manager and "
				    "kbal-metrics tell the state)" },
	{ "ProxyStatus",            "kbal has no mod_status (its balancer-manager and "
				    "kbal-metrics tell the state)" },
};

_Static_assert(ARRAY_SIZE(ignored) <= 64, "ignored_said is a 64-bit map");

int conf_ignored(struct conf_parser *p, UNUSED int argc, char **argv)
{
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++) {
		if (strcasecmp(argv[0], ignored[i].name))
			continue;
		if (!(p->ignored_said & (1ull << i)))
			conf_pwarn(p, p->line, "%s%s ignored by kbal: %s", ignored[i].name,
				   ignored[i].name[0] == '<' ? ">" : "", ignored[i].why);
		p->ignored_said |= 1ull << i;
		if (ignored[i].name[0] == '<') {
			p->skip = 1;
			p->skip_name = ignored[i].name + 1;
			p->skip_line = p->line;
		}
		return 1;
	}
	return 0;
}
