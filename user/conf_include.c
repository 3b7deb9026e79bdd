// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_include.c - the configuration file as httpd's core reads it: Include
 * and IncludeOptional (glob(3), sorted as apr_match_glob does), ServerRoot
 * and the paths relative to it (ap_server_root_relative), Define, UnDefine
 * and kbald's -D, ${VAR} (ap_resolve_env), <IfDefine> and <IfModule> against
 * the modules LoadModule loaded so far and those kbal has built in, as
 * httpd's static modules.
 *
 * A false conditional's lines are skipped unread, as ap_soak_end_container()
 * does: nothing in them is resolved, included or checked but the nesting.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include "conf_parse.h"

#define FILE_MAX (1 << 20)

/* kbald's -D NAME: for the whole process, as httpd's ap_server_config_defines
 * from its command line; every reading (a restart's too) starts with them */
static char cmdline_define[CONF_MAX_DEFINES][64];
static unsigned ncmdline_define;

int kbal_conf_define(const char *name)
{
	if (ncmdline_define == CONF_MAX_DEFINES || strlen(name) >= sizeof(cmdline_define[0]) ||
	    !*name || strchr(name, ':'))
		return -1;
	strcpy(cmdline_define[ncmdline_define++], name);
	return 0;
}

/* The modules kbal has built in, which <IfModule> finds without LoadModule:
 * httpd's static ones on Debian (apache2 -l) that kbal does the work of.
 * mod_version is not: kbal has no <IfVersion>. */
static const char *const static_modules[] = {
	"core_module", "so_module", "http_module", "unixd_module", "watchdog_module",
	"log_config_module", "logio_module",
};

/* LoadModule: what kbal implements (itself, or its part that matters to a
 * reverse proxy) is loaded; what serves files or tunes httpd's processes
 * is named and not loaded, so that <IfModule> skips its directives; any
 * other module is an error (conf_server.c says which) */
static const char *const implemented_modules[] = {
	"proxy_module", "proxy_http_module", "proxy_balancer_module", "proxy_hcheck_module",
	"slotmem_shm_module", "lbmethod_byrequests_module", "lbmethod_bytraffic_module",
	"lbmethod_bybusyness_module", "headers_module", "reqtimeout_module",
	"authz_core_module", "authz_host_module", "authz_user_module", "authz_groupfile_module",
	"access_compat_module",
	"auth_basic_module", "authn_core_module", "authn_file_module",
	"log_config_module", "logio_module", "unixd_module", "watchdog_module",
	"alias_module",          /* its Redirect*; Alias, to files, is ignored */
	"env_module", "setenvif_module",
};

static const struct { const char *name, *why; } skipped_modules[] = {
	{ "mpm_event_module", "kbald is one event loop of its own" },
	{ "mpm_worker_module", "kbald is one event loop of its own" },
	{ "mpm_prefork_module", "kbald is one event loop of its own" },
	{ "mime_module", "kbal serves no files" },
	{ "dir_module", "kbal serves no files" },
	{ "autoindex_module", "kbal serves no files" },
	{ "negotiation_module", "kbal serves no files" },
	{ "deflate_module", "kbal does not compress answers" },
	{ "filter_module", "kbal has no output filters" },
	{ "status_module", "kbal's status is its balancer-manager and metrics" },
};

int conf_module_loaded(struct conf_parser *p, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(implemented_modules); i++) {
		if (strcmp(name, implemented_modules[i]))
			continue;
		if (p->nmodule == CONF_MAX_MODULES)
			return perr(p, "LoadModule: more than %d modules", CONF_MAX_MODULES);
		snprintf(p->module[p->nmodule++], sizeof(p->module[0]), "%s", name);
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(skipped_modules); i++)
		if (!strcmp(name, skipped_modules[i].name)) {
			conf_pwarn(p, p->line, "LoadModule %s: not loaded by kbal (%s); "
				   "its <IfModule> sections are skipped", name,
				   skipped_modules[i].why);
			return 0;
		}
	return perr(p, "module %s is not supported by kbal", name);
}

/* <IfModule> takes "x_module" (the symbol) or "mod_x.c" (the source file) */
static int module_present(const struct conf_parser *p, const char *arg)
{
	char sym[64];
	size_t n = strlen(arg);

	if (n > 2 && !strcmp(arg + n - 2, ".c")) {
		if (!strcmp(arg, "core.c"))
			snprintf(sym, sizeof(sym), "core_module");
		else if (!strcmp(arg, "http_core.c"))
			snprintf(sym, sizeof(sym), "http_module");
		else if (!strcmp(arg, "event.c") || !strcmp(arg, "worker.c") ||
			 !strcmp(arg, "prefork.c"))
			snprintf(sym, sizeof(sym), "mpm_%.*s_module", (int)n - 2, arg);
		else if (!strncmp(arg, "mod_", 4))
			snprintf(sym, sizeof(sym), "%.*s_module", (int)n - 6, arg + 4);
		else
			return 0;
		arg = sym;
	}
	for (size_t i = 0; i < ARRAY_SIZE(static_modules); i++)
		if (!strcmp(arg, static_modules[i]))
			return 1;
	for (unsigned i = 0; i < p->nmodule; i++)
		if (!strcmp(arg, p->module[i]))
			return 1;
	return 0;
}

static int find_define(const struct conf_parser *p, const char *name)
{
	for (unsigned i = 0; i < p->ndefine; i++)
		if (!strcmp(p->define[i].name, name))
			return i;
	return -1;
}

/* ServerRoot's default: the main file's directory, made absolute (kbald
 * opens its logs after it left it), where httpd has its build's */
void conf_core_init(struct conf_parser *p, const char *main_file)
{
	const char *slash = strrchr(main_file, '/');
	char dir[sizeof(p->server_root)], *abs;

	if (!slash)
		strcpy(dir, ".");
	else if (slash == main_file)
		strcpy(dir, "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - main_file), main_file);
	abs = realpath(dir, NULL);
	snprintf(p->server_root, sizeof(p->server_root), "%s", abs && strlen(abs) <
		 sizeof(p->server_root) ? abs : dir);
	free(abs);
	for (unsigned i = 0; i < ncmdline_define; i++)
		snprintf(p->define[p->ndefine++].name, sizeof(p->define[0].name), "%s",
			 cmdline_define[i]);
}

/* ap_resolve_env(): ${NAME} from Define's values, else the environment;
 * an undefined one is kept as written (httpd: AH00111, a warning) */
const char *conf_resolve_vars(struct conf_parser *p, const char *s)
{
	char *d = p->resolved, *end = p->resolved + sizeof(p->resolved) - 1;
	const char *e;

	if (!strstr(s, "${"))
		return s;
	while (*s) {
		const char *val = NULL;
		size_t n;

		if (s[0] != '$' || s[1] != '{' || !(e = strchr(s + 2, '}'))) {
			if (d == end)
				return NULL;
			*d++ = *s++;
			continue;
		}
		n = e - s - 2;
		for (unsigned i = 0; i < p->ndefine; i++)
			if (p->define[i].has_value && strlen(p->define[i].name) == n &&
			    !strncmp(p->define[i].name, s + 2, n))
				val = p->define[i].value;
		if (!val) {
			char name[256];

			snprintf(name, sizeof(name), "%.*s", (int)n, s + 2);
			val = getenv(name);
		}
		if (!val) {
			conf_pwarn(p, p->line, "Config variable ${%.*s} is not defined", (int)n, s + 2);
			val = s;
			n = e + 1 - s;
		} else {
			n = strlen(val);
		}
		if ((size_t)(end - d) < n)
			return NULL;
		memcpy(d, val, n);
		d += n;
		s = e + 1;
	}
	*d = '\0';
	return p->resolved;
}

int conf_root_relative(struct conf_parser *p, const char *what, const char *path,
		       char *out, size_t size)
{
	int n = path[0] == '/' ? snprintf(out, size, "%s", path) :
		snprintf(out, size, "%s/%s", p->server_root, path);

	if (n < 0 || (size_t)n >= size)
		return perr(p, "%s %s: longer than %zu characters after ServerRoot", what, path,
			    size - 1);
	return 0;
}

/* ---- skipped sections ---- */

static void skip_section(struct conf_parser *p, const char *name)
{
	p->skip = 1;
	p->skip_name = name;
	p->skip_line = p->line;
}

int conf_skip_line(struct conf_parser *p, const char *s)
{
	size_t n;

	if (!p->skip)
		return 0;
	s += strspn(s, " \t\f\v");
	if (s[0] != '<')
		return 1;
	if (s[1] != '/') {
		p->skip++;
		return 1;
	}
	if (--p->skip)
		return 1;
	s += 2;
	n = strcspn(s, " \t>");
	if (strlen(p->skip_name) != n || strncasecmp(s, p->skip_name, n))
		return perr(p, "Expected </%s> but saw </%.*s> (<%s> is at %s)", p->skip_name,
			    (int)n, s, p->skip_name, conf_at(p, p->skip_line));
	return 1;
}

/* ---- the directives ---- */

/* <IfModule [!]MODULE>, <IfDefine [!]NAME> */
static int kw_if(struct conf_parser *p, int argc, char **argv)
{
	int module = !strcasecmp(argv[0], "<IfModule");
	const char *name = module ? "IfModule" : "IfDefine", *arg = argv[1];
	int not = arg[0] == '!', found;

	if (argc > 2)
		return perr(p, "<%s> takes one argument", name);
	arg += not;
	if (!*arg)
		return perr(p, "<%s> directive requires additional arguments", name);
	found = module ? module_present(p, arg) : find_define(p, arg) >= 0;
	if (found == not) {
		skip_section(p, name);
		return 0;
	}
	if (p->ncond == CONF_MAX_COND)
		return perr(p, "<%s>: more than %d nested", name, CONF_MAX_COND);
	p->cond[p->ncond].name = name;
	p->cond[p->ncond].ctx = p->ctx;
	p->cond[p->ncond++].line = p->line;
	return 0;
}

int conf_cond_close(struct conf_parser *p, const char *name)
{
	unsigned i;

	if (strcasecmp(name, "IfModule") && strcasecmp(name, "IfDefine"))
		return 0;
	if (!p->ncond)
		return perr(p, "</%s> without matching <%s> section", name, name);
	i = p->ncond - 1;
	if (strcasecmp(name, p->cond[i].name))
		return perr(p, "Expected </%s> but saw </%s> (<%s> is at %s)", p->cond[i].name,
			    name, p->cond[i].name, conf_at(p, p->cond[i].line));
	if (p->ctx != p->cond[i].ctx)
		return perr(p, "Expected </%s> but saw </%s> (<%s %s> is at %s)", p->sect_name,
			    name, p->sect_name, p->sect_arg, conf_at(p, p->sect_line));
	p->ncond--;
	return 1;
}

/* Define NAME [VALUE], UnDefine NAME (httpd's set_define, unset_define) */
static int kw_define(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int i = find_define(p, argv[1]);

	if (strchr(argv[1], ':'))
		return perr(p, "Variable name must not contain ':'");
	if (!strcasecmp(argv[0], "UnDefine")) {
		if (i >= 0)
			p->define[i] = p->define[--p->ndefine];
		return 0;
	}
	if (i < 0) {
		if (p->ndefine == CONF_MAX_DEFINES)
			return perr(p, "Define: more than %d names", CONF_MAX_DEFINES);
		i = p->ndefine++;
		if (conf_copy(p, p->define[i].name, sizeof(p->define[i].name), argv[1], "Define's name"))
			return -1;
		p->define[i].has_value = 0;
	}
	if (argc > 2) {
		p->define[i].has_value = 1;
		return conf_copy(p, p->define[i].value, sizeof(p->define[i].value), argv[2],
				 "Define's value");
	}
	return 0;
}

static int kw_serverroot(struct conf_parser *p, UNUSED int argc, char **argv)
{
	struct stat st;

	char *abs;
	int rc;

	if (stat(argv[1], &st) || !S_ISDIR(st.st_mode) || !(abs = realpath(argv[1], NULL)))
		return perr(p, "ServerRoot must be a valid directory");
	rc = conf_copy(p, p->server_root, sizeof(p->server_root), abs, "ServerRoot");
	free(abs);
	return rc;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);   /* apr's fname_alphasort */
}

/* one path of Include: a directory is read whole, its entries sorted, as
 * httpd's process_resource_config_nofnmatch() */
static int include_path(struct conf_parser *p, const char *path)
{
	struct stat st;
	char pat[4096];
	glob_t g;
	int rc = 0;

	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return conf_read_file(p, path);
	if (snprintf(pat, sizeof(pat), "%s/*", path) >= (int)sizeof(pat))
		return perr(p, "Include %s: path too long", path);
	if (glob(pat, GLOB_NOSORT, NULL, &g) == 0) {
		qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_name);
		for (size_t i = 0; i < g.gl_pathc && !rc; i++)
			rc = include_path(p, g.gl_pathv[i]);
	}
	globfree(&g);
	return rc;
}

/* Include PATH, IncludeOptional PATH: a glob (any component), relative to
 * ServerRoot; IncludeOptional lets a pattern match nothing and a file be
 * missing */
static int kw_include(struct conf_parser *p, UNUSED int argc, char **argv)
{
	int optional = !strcasecmp(argv[0], "IncludeOptional"), rc = 0, g_rc;
	char path[4096];
	glob_t g;

	if (p->depth == CONF_INCLUDE_DEPTH)
		return perr(p, "Exceeded the maximum include directory nesting level of %d. "
			    "You have probably a recursion somewhere.", CONF_INCLUDE_DEPTH);
	if (conf_root_relative(p, argv[0], argv[1], path, sizeof(path)))
		return -1;
	if (!strpbrk(path, "*?[")) {
		if (optional && access(path, F_OK))
			return 0;
		return include_path(p, path);
	}
	g_rc = glob(path, GLOB_NOSORT, NULL, &g);
	if (g_rc == GLOB_NOMATCH) {
		globfree(&g);
		if (optional)
			return 0;
		return perr(p, "No matches for the wildcard '%s', failing", path);
	}
	if (g_rc) {
		globfree(&g);
		return perr(p, "%s %s: out of memory", argv[0], path);
	}
	qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_name);
	for (size_t i = 0; i < g.gl_pathc && !rc; i++)
		rc = include_path(p, g.gl_pathv[i]);
	globfree(&g);
	return rc;
}

/* the file's text, then its lines, under its name; the includer's place
 * is kept for the errors */
int conf_read_file(struct conf_parser *p, const char *path)
{
	FILE *f;
	char *buf = NULL;
	size_t n;
	int rc = -1;

	if (p->depth == CONF_INCLUDE_DEPTH)
		return perr(p, "Exceeded the maximum include directory nesting level of %d. "
			    "You have probably a recursion somewhere.", CONF_INCLUDE_DEPTH);
	if (!(f = fopen(path, "re")))
		return perr(p, "Could not open configuration file %s: %s", path, strerror(errno));
	if (!(buf = malloc(FILE_MAX + 1))) {
		perr(p, "%s: out of memory", path);
		goto cleanup;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	if (ferror(f)) {
		perr(p, "%s: read error", path);
		goto cleanup;
	}
	if (n > FILE_MAX || memchr(buf, '\0', n)) {
		perr(p, "%s: not a configuration file (NUL byte, or over %d bytes)", path, FILE_MAX);
		goto cleanup;
	}
	buf[n] = '\0';
	rc = conf_read_text(p, path, buf);
cleanup:
	free(buf);
	fclose(f);
	return rc;
}

/* wherever a directive may stand: they are the file's, not a section's */
#define C_ANY (C_SERVER | C_SECTION | C_VHOST)

const struct conf_keyword conf_kw_core[] = {
	{ "Include",           C_ANY,    1, 1, kw_include },
	{ "IncludeOptional",   C_ANY,    1, 1, kw_include },
	{ "<IfModule",         C_ANY,    1, 2, kw_if },
	{ "<IfDefine",         C_ANY,    1, 2, kw_if },
	{ "Define",            C_ANY,    1, 2, kw_define },
	{ "UnDefine",          C_ANY,    1, 1, kw_define },
	{ "ServerRoot",        C_SERVER, 1, 1, kw_serverroot },
	{ NULL }
};
