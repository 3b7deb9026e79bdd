/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * conf_parse.h - what the configuration reader's files share; the rest of
 * kbal uses conf.h only.
 *
 * conf_read.c splits each line into words and looks the first one up in the
 * keyword tables of the area files (conf_server.c, conf_proxy.c,
 * conf_access.c), which it lists; a handler checks its arguments with the
 * value parsers of conf_values.c and fills struct kbal_conf. At the end of
 * the file conf_check.c fills the defaults and checks what only the whole
 * file can tell. Every error is "FILE:LINE: what is wrong", through perr().
 */
#ifndef KBAL_CONF_PARSE_H
#define KBAL_CONF_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"

#define CONF_LINE_LEN 8192                /* httpd's MAX_STRING_LEN */
#define CONF_MAX_ARGS 64                  /* words on a line, the directive's name included */
#define CONF_INCLUDE_DEPTH 128            /* httpd's AP_MAX_INCLUDE_DEPTH */
#define CONF_MAX_DEFINES 64               /* Define and -D names */
#define CONF_MAX_MODULES 64               /* modules LoadModule loaded */
#define CONF_MAX_COND 32                  /* nested true <IfModule>/<IfDefine> */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED        __attribute__((unused))

/* where a directive may appear: bits, so that a keyword can allow several */
enum conf_ctx {
	C_SERVER   = 1 << 0,
	C_PROXY    = 1 << 1,              /* <Proxy *> */
	C_BALANCER = 1 << 2,              /* <Proxy balancer://NAME> */
	C_LOCATION = 1 << 3,              /* <Location PATH> */
	C_VHOST    = 1 << 4,              /* <VirtualHost ADDR...>, outside its <Location>s */
	C_SECTION  = C_PROXY | C_BALANCER | C_LOCATION,
};

/* One file being read. The handlers keep their state here, not in static
 * variables, so that nothing carries over from one reading to the next
 * (kbald reads the file again before a restart in place). */
struct conf_parser {
	struct kbal_conf *conf;
	const char *file;
	int line;                         /* first line of the current directive */
	char *err;
	size_t errlen;
	kbal_conf_warn_fn warn;
	void *data;
	/* the open section */
	unsigned ctx;                     /* enum conf_ctx */
	const char *sect_name;            /* "Proxy", "Location" */
	char sect_arg[KBAL_CONF_PATH_LEN];
	int sect_line;
	int bal;                          /* C_BALANCER: its index */
	int loc;                          /* C_LOCATION: its index */
	int vhost;                        /* the open <VirtualHost>, or -1; a
					   * <Location> in it returns to it */
	char vhost_arg[KBAL_CONF_PATH_LEN];
	/* what a section's directives note for its later ones and for its end;
	 * conf_open_section() clears them */
	int loc_pass;                     /* line of the ProxyPass inside it */
	int order_line, allow_first, allow_all; /* Order/Allow of the section */
	int az_open;                      /* <Location>: its open <Require...> node, or 0 */
	int az_line[KBAL_AUTHZ_NODES];    /* where each of its nodes was written */
	/* for one directive, or for the whole file */
	int ctimeout_set;                 /* connectiontimeout= on this member */
	unsigned timeout_ms, proxy_timeout_ms;
	uint8_t limit_set;                /* bit per LimitRequest* given (conf_server.c) */
	uint8_t max_keepalive_set;        /* MaxKeepAliveRequests given */
	uint8_t reqtimeout_set;           /* RequestReadTimeout: 1 header=, 2 body= given */
	/* httpd's core: Include, <IfModule>, <IfDefine>, Define (conf_include.c) */
	char server_root[256];            /* ServerRoot: the main file's directory by default */
	int depth;                        /* Include nesting: the includers below */
	struct { int line; } includer[CONF_INCLUDE_DEPTH]; /* where each Include is */
	unsigned fileidx;                 /* the current file in conf->files */
	int skip;                         /* > 0: inside a skipped section, its nesting */
	const char *skip_name;            /* "IfModule", "Directory": what closes it */
	int skip_line;
	unsigned ncond;                   /* the open true conditionals */
	struct { const char *name; unsigned ctx; int line; } cond[CONF_MAX_COND];
	unsigned ndefine;                 /* Define, -D */
	struct { char name[64]; char value[256]; int has_value; } define[CONF_MAX_DEFINES];
	unsigned nmodule;
	char module[CONF_MAX_MODULES][48]; /* LoadModule's names, "proxy_module" */
	uint64_t ignored_said;            /* bit per conf_ignored entry already warned */
	uint32_t env_said;                /* bit per variable kbal does not honour, said */
	char words[CONF_LINE_LEN];        /* the current line, split */
	char resolved[CONF_LINE_LEN];     /* the current line, ${VAR} replaced */
	char at[4][300];                  /* conf_at()'s answers */
	unsigned nat;
};

/* A directive. An area file defines a table of them, ended by an entry
 * whose name is NULL; conf_read.c walks the list of tables. */
struct conf_keyword {
	const char *name;                 /* "Listen", or "<Proxy" for a section */
	unsigned ctx;                     /* where it may appear, enum conf_ctx */
	int min, max;                     /* arguments after the name */
	int (*fn)(struct conf_parser *p, int argc, char **argv);
};

extern const struct conf_keyword conf_kw_server[];   /* conf_server.c */
extern const struct conf_keyword conf_kw_alias[];    /* conf_alias.c */
extern const struct conf_keyword conf_kw_proxy_server[]; /* conf_proxy_server.c */
extern const struct conf_keyword conf_kw_proxy[];    /* conf_proxy.c */
extern const struct conf_keyword conf_kw_access[];   /* conf_access.c */
extern const struct conf_keyword conf_kw_log[];      /* conf_log.c */
extern const struct conf_keyword conf_kw_hcheck[];   /* conf_hcheck.c */
extern const struct conf_keyword conf_kw_privs[];    /* conf_privs.c */
extern const struct conf_keyword conf_kw_env[];      /* conf_env.c */

/* mod_proxy_hcheck's BalancerMember parameters (conf_hcheck.c) */
struct conf_param;
int conf_hc_method(struct conf_parser *p, void *obj, const struct conf_param *pd,
		   const char *val, const char *label);
int conf_hc_uri(struct conf_parser *p, void *obj, const struct conf_param *pd,
		const char *val, const char *label);
int conf_hc_interval(struct conf_parser *p, void *obj, const struct conf_param *pd,
		     const char *val, const char *label);
int conf_hc_count(struct conf_parser *p, void *obj, const struct conf_param *pd,
		  const char *val, const char *label);
int conf_hc_template(struct conf_parser *p, void *obj, const struct conf_param *pd,
		     const char *val, const char *label);
int conf_hc_expr(struct conf_parser *p, void *obj, const struct conf_param *pd,
		 const char *val, const char *label);
/* every hcexpr= names a ProxyHCExpr (at the file's end) */
int conf_hcheck_finish(struct conf_parser *p);
/* one key=value word of a BalancerMember line, on member obj (conf_proxy.c) */
int conf_member_param(struct conf_parser *p, void *obj, const char *word);

/* CustomLog formats: nicknames resolved, each compiled (conf_log.c) */
int conf_log_finish(struct conf_parser *p);
/* conf_privs.c: Group without User, a #UID without a group */
int conf_privs_finish(struct conf_parser *p);

/* the tables above, NULL-terminated, in the order they are searched
 * (conf_read.c); a name found in two would leave one handler unused */
extern const struct conf_keyword *const conf_keyword_tables[];

/* A key=value parameter of a directive (BalancerMember, ProxySet):
 * fn checks val and stores it in obj, the member or the balancer. */
struct conf_param {
	const char *name;
	int (*fn)(struct conf_parser *p, void *obj, const struct conf_param *pd,
		  const char *val, const char *label);
	const char *arg;                  /* conf_pm_choice: "a|b"; conf_pm_unsupported: why */
};

/* ---- errors and warnings (conf_values.c) ---- */

/* "FILE:LINE: message" into p->err (line 0: "FILE: message"); returns -1 */
__attribute__((format(printf, 3, 4)))
int conf_perr_at(struct conf_parser *p, int line, const char *fmt, ...);
#define perr(p, ...) conf_perr_at(p, (p)->line, __VA_ARGS__)

/* "line N" of line (encoded, conf.h) in the current file, else "FILE:N" */
const char *conf_at(struct conf_parser *p, int line);

/* "FILE:LINE: message" to p->warn, if any */
__attribute__((format(printf, 3, 4)))
void conf_pwarn(struct conf_parser *p, int line, const char *fmt, ...);

/* ---- values (conf_values.c); what names the value in errors ---- */

int conf_copy(struct conf_parser *p, char *dst, size_t size, const char *src, const char *what);

/* ServerName's "[scheme://]name[:port]": the name and the port (0: none) */
void conf_split_server_name(const char *name, char *host, size_t cap, unsigned *port);
int conf_parse_uint(struct conf_parser *p, const char *label, const char *val,
		    unsigned min, unsigned max, unsigned *out);
/* httpd's ap_timeout_parameter_parse(): N[s|ms|mi|h], seconds by default */
int conf_parse_time(struct conf_parser *p, const char *label, const char *val, unsigned *ms);
int conf_parse_onoff(struct conf_parser *p, const char *label, const char *val, int *on);
int conf_is_token(const char *s);      /* RFC 9110 tchar+ */
/* An address for host ("" or "*": 0.0.0.0), resolved now, once; IPv4
 * mapped (inaddr.h). conf_split_host(): HOST or [IPV6] and what follows. */
int conf_resolve(struct conf_parser *p, const char *what, const char *host, unsigned port,
		 struct sockaddr_in6 *sa);
int conf_split_host(const char *a, char *host, size_t cap, const char **rest);
/* a URL-path starting with '/' into dst, KBAL_CONF_PATH_LEN long */
int conf_check_path(struct conf_parser *p, const char *what, const char *path, char *dst);

/* key=value arg against tab; what is the directive, for the errors */
int conf_apply_param(struct conf_parser *p, const struct conf_param *tab, size_t n, void *obj,
		     const char *what, const char *arg);
/* parameters kbal checks but has no use for: a number, a time, one of arg */
int conf_pm_num(struct conf_parser *p, void *obj, const struct conf_param *pd,
		const char *val, const char *label);
int conf_pm_time(struct conf_parser *p, void *obj, const struct conf_param *pd,
		 const char *val, const char *label);
int conf_pm_choice(struct conf_parser *p, void *obj, const struct conf_param *pd,
		   const char *val, const char *label);
/* a parameter kbal cannot honour: the error says arg */
int conf_pm_unsupported(struct conf_parser *p, void *obj, const struct conf_param *pd,
			const char *val, const char *label);

/* ---- sections (conf_read.c, conf_access.c) ---- */

void conf_open_section(struct conf_parser *p, unsigned ctx, const char *name, const char *arg);
/* what the access directives leave to check when their section closes */
int conf_access_section_end(struct conf_parser *p);
/* </RequireAll>, </RequireAny>, </RequireNone>: 1 if name is one (closed,
 * or -1 with the error), 0 if not */
int conf_access_close(struct conf_parser *p, const char *name);

/* ---- httpd's core (conf_include.c) ---- */

/* one file's text, as Include reads it: its lines into the parser, under
 * name (the sections it opens must close in it) */
int conf_read_text(struct conf_parser *p, const char *name, const char *text);
/* a whole file by path, read into memory, then conf_read_text() */
int conf_read_file(struct conf_parser *p, const char *path);
/* the start of a reading: ServerRoot from the main file, -D's names */
void conf_core_init(struct conf_parser *p, const char *main_file);
/* line with ${VAR} replaced into p->resolved (Define's, else the
 * environment's; an undefined one stays as written, warned); NULL: too long */
const char *conf_resolve_vars(struct conf_parser *p, const char *line);
/* a line inside a skipped section: 1 when it was one (nesting counted, or
 * -1 with the error) */
int conf_skip_line(struct conf_parser *p, const char *line);
/* </IfModule>, </IfDefine>: 1 if name is one (closed, or -1), 0 if not */
int conf_cond_close(struct conf_parser *p, const char *name);
/* a path as httpd's ap_server_root_relative(): absolute kept, else after
 * ServerRoot */
int conf_root_relative(struct conf_parser *p, const char *what, const char *path,
		       char *out, size_t size);
/* LoadModule NAME: 1 loaded (a module kbal implements), 0 said and not
 * loaded, -1 an error */
int conf_module_loaded(struct conf_parser *p, const char *name);
extern const struct conf_keyword conf_kw_core[];     /* conf_include.c */

/* a directive or section kbal ignores on purpose (conf_ignored.c): 1 (named
 * once as a warning; a section's lines are skipped), 0 not one, -1 error */
int conf_ignored(struct conf_parser *p, int argc, char **argv);

/* ---- end of file (conf_check.c) ---- */

/* defaults, references between directives, warnings; the file was read
 * to its end and every section closed */
int conf_finish(struct conf_parser *p);

#endif /* KBAL_CONF_PARSE_H */
