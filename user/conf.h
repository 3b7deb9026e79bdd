/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * conf.h - kbald's configuration: Apache httpd's mod_proxy_balancer syntax.
 *
 * kbal_conf_load() reads a whole file into a struct kbal_conf; errors come
 * back as "FILE:LINE: what is wrong" in the caller's buffer, before anything
 * is started. Warnings (shadowed ProxyPass rules, spliced routes mixed with
 * local handlers on one listener) go through the warn callback.
 */
#ifndef KBAL_CONF_H
#define KBAL_CONF_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include "authz.h"
#include "http.h"
#include "kbal_shared.h"

#define KBAL_CONF_MAX_LISTEN   16
#define KBAL_CONF_MAX_PASS     64
#define KBAL_CONF_MAX_COOKIE_MAP 16
#define KBAL_CONF_MAX_LOCATION 32
#define KBAL_CONF_MAX_REDIRECT 32
#define KBAL_CONF_MAX_ERRDOC   32
#define KBAL_CONF_MAX_VHOST    16
#define KBAL_CONF_VHOST_ADDRS  8
#define KBAL_CONF_VHOST_ALIASES 16
#define KBAL_CONF_MAX_HEADER   32
#define KBAL_CONF_MAX_ENV      64
#define KBAL_CONF_ERROR_CODES  16        /* ProxyErrorOverride's codes */
#define KBAL_CONF_ENV_VARS     8         /* variables one SetEnvIf line sets */
#define KBAL_CONF_PATH_LEN     256
#define KBAL_CONF_VALUE_LEN    256


struct kbal_conf_member {
	char url[KBAL_NAME_LEN];          /* "http://127.0.0.1:18081" as written */
	char hostport[KBAL_NAME_LEN];     /* "127.0.0.1:18081" (":80" omitted), for Host when !preserve_host */
	struct sockaddr_in6 addr;         /* resolved at load time; IPv4 mapped (inaddr.h) */
	char route[KBAL_ROUTE_LEN];
	char redirect[KBAL_ROUTE_LEN];    /* redirect=: route redirection, "" none */
	unsigned lbfactor;                /* loadfactor= in hundredths (Apache's
					   * lbfactor): 100..10000, default 100 */
	unsigned lbset;                   /* default 0 */
	unsigned retry_sec;               /* default 60 */
	unsigned status;                  /* initial KBAL_ST_* from status=+D etc. */
	unsigned connect_timeout_ms;      /* connectiontimeout=, else timeout=; 0: the
					   * ProxyTimeout / Timeout of the request's
					   * virtual host (Apache's order) */
	unsigned timeout_ms;              /* timeout= (whole seconds): how long the member
					   * may keep an answer waiting, 0: Timeout */
	unsigned ping_ms;                 /* ping=: how long it may keep its answer to a
					   * head with Expect: 100-continue waiting,
					   * and a request with a body gets one; 0 none */
	int keepalive;                    /* keepalive=On: SO_KEEPALIVE */
	/* mod_proxy_hcheck (hcheck.c): hcmethod= (enum kbal_hc_method), hcuri=,
	 * hcinterval= (default 60 s), hcpasses=, hcfails= (default 1) */
	unsigned hc_method;
	char hc_uri[128];
	char hc_expr[32];                 /* hcexpr=: a ProxyHCExpr's name, "" none */
	unsigned hc_interval_ms, hc_passes, hc_fails;
	char upgrade[64];                 /* upgrade=: the protocols a client may switch
					   * to through it ("*": any), "" none (httpd
					   * 2.4.47+ then drops the Upgrade header) */
	unsigned reuse;                   /* keep connections for later requests: disablereuse=Off
					   * (the default) or enablereuse=On */
	unsigned pool_max;                /* max=: idle connections kept, default KBAL_POOL_MAX */
	unsigned pool_ttl_ms;             /* ttl=: an idle one is closed after, default KBAL_POOL_TTL_MS */
	int line;
};

/* hcmethod=, as mod_proxy_hcheck names them (CPING is AJP's) */
enum kbal_hc_method {
	KBAL_HC_NONE = 0, KBAL_HC_TCP, KBAL_HC_OPTIONS, KBAL_HC_HEAD, KBAL_HC_GET,
	KBAL_HC_OPTIONS11, KBAL_HC_HEAD11, KBAL_HC_GET11,
};
#define KBAL_HC_INTERVAL_MS 60000     /* hcinterval's default */
#define KBAL_CONF_MAX_HCTEMPLATE 16

/* member connection pools: Apache keeps as many as its threads, without ttl */
#define KBAL_POOL_MAX     64
#define KBAL_POOL_TTL_MS  60000

/* a TCP congestion control's name, as TCP_CONGESTION takes it (the
 * kernel's TCP_CA_NAME_MAX, with its NUL) */
#define KBAL_CC_LEN 16

#define KBAL_FAILONSTATUS_MAX 16

/* how logs and warnings name a balancer: "balancer://" and its name, or a
 * plain worker's URL (KBAL_BF_WORKER) as it is */
static inline const char *kbal_bal_scheme(unsigned flags)
{
	return flags & KBAL_BF_WORKER ? "" : "balancer://";
}

struct kbal_conf_balancer {
	char name[KBAL_NAME_LEN];         /* "mycluster", without "balancer://" */
	int vhost;                        /* the <VirtualHost> it was named in first,
					   * -1: the server's (every one sees it) */
	int ref_line;                     /* where it was named first */
	unsigned lbmethod;                /* enum kbal_lbmethod, default byrequests */
	char sticky[KBAL_ROUTE_LEN];      /* stickysession= (first name if "A|B"), "" none */
	char sticky_path[KBAL_ROUTE_LEN]; /* its second name (the URL's), else the first */
	char sticky_sep;                  /* stickysessionsep=, '.' by default; 0: Off */
	int scolon;                       /* scolonpathdelim=On */
	int sticky_sep_set;
	char nonce[40];                   /* ProxySet nonce= (the manager's), "" unset */
	int nonce_none;                   /* nonce=None: the manager changes nothing */
	unsigned flags;                   /* enum kbal_balancer_flags: KBAL_BF_NOFAILOVER,
					   * _NO_RECOVERY, _FAIL_TIMEOUT */
	unsigned timeout_ms;              /* timeout= (whole seconds): how long a request
					   * waits for a usable member, 0 (the default):
					   * not at all, 503 at once */
	unsigned short failonstatus[KBAL_FAILONSTATUS_MAX]; /* failonstatus=: an answer
					   * of one of these puts its member in error */
	unsigned nfailonstatus;
	unsigned splice;                  /* enum kbal_splice_mode, inherits server's KbalSplice;
					   * default packet */
	int splice_set;                   /* KbalSplice given (here or at server level); 0: the
					   * default, which falls back to sockmap where the packet
					   * program cannot be loaded */
	unsigned proxy_protocol;          /* enum kbal_proxy_protocol: KbalProxyProtocol,
					   * inherits the server's; default off */
	char member_cc[KBAL_CC_LEN];      /* KbalMemberCongestion (inherits the server's);
					   * "": the system's default */
	int max_attempts;                 /* maxattempts= (0 to 99), -1 unset: its members
					   * less one, as Apache */
	unsigned growth;                  /* ProxySet growth=: free member slots for
					   * members added at run time (the manager's
					   * b_nwrkr, kbalctl add), 0 to 100 */
	unsigned nmembers;
	struct kbal_conf_member members[KBAL_MAX_MEMBERS];
	int line;                         /* line of <Proxy balancer://...> */
};

/* ProxyPass PATH balancer://NAME/TARGET | ProxyPass PATH !, and
 * ProxyPassMatch REGEX balancer://NAME[/TARGET-with-$N] | ProxyPassMatch
 * REGEX ! (or ProxyPass ~ REGEX ...), tried with them in order */
struct kbal_conf_pass {
	char path[KBAL_CONF_PATH_LEN];    /* URL-path prefix to match, "/"; with
					   * regex, the pattern (PCRE2, compiled
					   * outside this struct: conf_match.c) */
	int exclude;                      /* ProxyPass PATH ! */
	int balancer;                     /* index into balancers, -1 when exclude */
	char target[KBAL_CONF_PATH_LEN];  /* path after balancer://NAME, "/"; with
					   * regex, as written, its $0..$9 and \
					   * substituted as ap_pregsub() does */
	int regex;                        /* ProxyPassMatch: path is a regex matched
					   * against the request's decoded path */
	int location;                     /* index of its <Location> (ProxyPass URL inside
					   * one), else -1; such rules are tried first */
	int vhost;                        /* its <VirtualHost>, -1: the server's (tried
					   * first in every virtual host, as httpd's
					   * merge with ProxyPassInherit On) */
	uint8_t encoded_slashes;          /* the server's AllowEncodedSlashes, for
					   * kbal_conf_pass_target() */
	uint8_t nocanon;                  /* ProxyPass ... nocanon: the rest of the
					   * request-target as received */
	int line;
};

/* AllowEncodedSlashes: a %2F in a path is a 404 (Off), a '/' (On), or kept
 * as it came (NoDecode), as httpd's core */
enum kbal_encoded_slashes {
	KBAL_SLASHES_OFF = 0,
	KBAL_SLASHES_ON,
	KBAL_SLASHES_NODECODE,
};
/* or'ed into kbal_conf_uri_path_ex()'s slashes: a ".." above the root goes
 * (the path httpd's r->uri keeps after refusing it, for %U), no -ERANGE */
#define KBAL_URI_CLAMP 0x100u

/* ProxyPassReverse PATH balancer://NAME/TARGET */
struct kbal_conf_reverse {
	char path[KBAL_CONF_PATH_LEN];
	int balancer;
	int vhost;                        /* its <VirtualHost>, -1: the server's */
	char target[KBAL_CONF_PATH_LEN];
	int line;
};

/* ProxyPassReverseCookiePath / -Domain INTERNAL PUBLIC: a Set-Cookie's
 * path= (domain=) that starts with INTERNAL (case-insensitive for a
 * domain) is replaced, whole, by PUBLIC, as httpd's
 * ap_proxy_cookie_reverse_map() */
struct kbal_conf_cookie_map {
	char fake[KBAL_CONF_PATH_LEN];    /* the member's: INTERNAL */
	char real[KBAL_CONF_PATH_LEN];    /* the client's: PUBLIC */
	int vhost;                        /* its <VirtualHost>, -1: the server's (tried
					   * first, merge_proxy_dir_config()) */
	int line;
};

/* mod_alias's Redirect [STATUS] URL-PATH [URL], RedirectMatch [STATUS]
 * REGEX [URL], RedirectPermanent, RedirectTemp: answered by kbald for a
 * path no ProxyPass rule proxies (httpd runs mod_proxy's translation
 * first) */
struct kbal_conf_redirect {
	char path[KBAL_CONF_PATH_LEN];    /* URL-path prefix, or the regex */
	char url[KBAL_CONF_VALUE_LEN];    /* the target ($N with a regex), "" none */
	unsigned status;                  /* 3xx with url; 410 and the others without */
	int regex;                        /* RedirectMatch */
	int vhost;                        /* its <VirtualHost>, -1: the server's */
	int line;
};

/* ErrorDocument CODE TEXT|URL: kbald's own answer of that status carries
 * TEXT as its body, or is a 302 to URL (httpd's ap_die()) */
struct kbal_conf_errdoc {
	unsigned status;
	int url;                          /* a URL (REMOTE_PATH): redirect there */
	char text[KBAL_CONF_VALUE_LEN];
	int line;
};

enum kbal_handler {
	KBAL_HANDLER_NONE = 0,
	KBAL_HANDLER_MANAGER = 1,         /* SetHandler balancer-manager */
	KBAL_HANDLER_METRICS = 2,         /* SetHandler kbal-metrics (kbal's own) */
};

/* <Location PATH> SetHandler balancer-manager </Location> */
struct kbal_conf_location {
	char path[KBAL_CONF_PATH_LEN];    /* with regex, the pattern */
	int regex;                        /* <LocationMatch REGEX>, <Location ~ REGEX>:
					   * matched against the decoded path, as
					   * httpd's r->uri (PCRE2, conf_match.c) */
	int vhost;                        /* its <VirtualHost>, -1: the server's */
	unsigned handler;                 /* enum kbal_handler */
	int line;
	struct kbal_authz authz;          /* Require, Order/Allow/Deny inside it */
	/* Redirect [status] URL inside it (mod_alias' per-directory form):
	 * every request it takes is sent to URL, after the access rules */
	char redirect[KBAL_CONF_VALUE_LEN];
	unsigned redirect_status;         /* 0: none */
	int error_override;               /* its ProxyErrorOverride, -1: none */
	unsigned nerror_codes;
	uint16_t error_codes[KBAL_CONF_ERROR_CODES];
};

enum kbal_header_action {           /* mod_headers' actions (headers.h) */
	KBAL_HEADER_ADD = 0,              /* one more NAME line */
	KBAL_HEADER_SET,                  /* the first NAME line's value, the others gone */
	KBAL_HEADER_SETIFEMPTY,           /* set, where there is no NAME line */
	KBAL_HEADER_APPEND,               /* ", VALUE" after the first one's value */
	KBAL_HEADER_MERGE,                /* append, unless a token of it is VALUE */
	KBAL_HEADER_UNSET,                /* every NAME line gone */
	KBAL_HEADER_ECHO,                 /* the request's lines whose name matches */
	KBAL_HEADER_EDIT,                 /* the first match in each value replaced */
	KBAL_HEADER_EDIT_ALL,             /* edit*: every match */
};

enum kbal_via {                     /* ProxyVia */
	KBAL_VIA_OFF = 0,                 /* the default: Via passed on as it is */
	KBAL_VIA_ON,                      /* "1.1 NAME[:PORT]" merged into requests' and
					   * added to answers' */
	KBAL_VIA_FULL,                    /* the same, with " (kbal)" */
	KBAL_VIA_BLOCK,                   /* requests' Via lines dropped */
};

enum kbal_server_tokens {           /* ServerTokens: what the Server line says */
	KBAL_TOKENS_FULL = 0,             /* httpd's default: "kbal/0.5 (Linux)" (no
					   * module adds a component: as OS) */
	KBAL_TOKENS_OS,                   /* "kbal/0.5 (Linux)" */
	KBAL_TOKENS_MIN,                  /* "kbal/0.5" */
	KBAL_TOKENS_MINOR,                /* "kbal/0.5" (major.minor) */
	KBAL_TOKENS_MAJOR,                /* "kbal/0" */
	KBAL_TOKENS_PROD,                 /* "kbal" */
};

enum kbal_server_signature {       /* ServerSignature: the line closing kbald's pages */
	KBAL_SIG_OFF = 0,                 /* httpd's default: none */
	KBAL_SIG_ON,                      /* "<address>BANNER Server at NAME Port N</address>" */
	KBAL_SIG_EMAIL,                   /* NAME a mailto: link to ServerAdmin */
};

enum kbal_header_table {
	KBAL_HDR_OUT = 0,                 /* Header [onsuccess]: the answer's headers */
	KBAL_HDR_ALWAYS,                  /* Header always: httpd's err_headers_out */
	KBAL_HDR_IN,                      /* RequestHeader: the request's */
};

/* Header [always|onsuccess] ACTION NAME [VALUE|REGEX REPLACEMENT]
 * [env=[!]VAR], RequestHeader the same without the condition word.
 * VALUE (REPLACEMENT for edit) may hold %%, %t, %D, %{VAR}e and the
 * escapes \t and \\, expanded per head. */
struct kbal_conf_header {
	char name[64];                    /* the header's; echo: "" */
	char value[KBAL_CONF_VALUE_LEN];  /* VALUE or REPLACEMENT */
	char match[KBAL_CONF_VALUE_LEN];  /* edit: the regex on values; echo: on names */
	char env[64];                     /* "" when unconditional */
	uint8_t env_not;                  /* env=!VAR */
	uint8_t table;                    /* enum kbal_header_table */
	uint8_t action;                   /* enum kbal_header_action */
	int vhost;                        /* its <VirtualHost>, -1: the server's */
	int location;                     /* its <Location> or <LocationMatch>, -1: none */
	int line;
};

/* mod_env's SetEnv and UnsetEnv, mod_setenvif's SetEnvIf, SetEnvIfNoCase,
 * BrowserMatch and BrowserMatchNoCase, in configuration order (env.c
 * computes a request's variables from them) */
enum kbal_env_kind {
	KBAL_ENV_SET,                     /* SetEnv NAME [VALUE] */
	KBAL_ENV_UNSET,                   /* UnsetEnv NAME */
	KBAL_ENV_IF,                      /* SetEnvIf ATTR REGEX VAR... */
};

/* what a SetEnvIf line matches (mod_setenvif's special names) */
enum kbal_env_attr {
	KBAL_ENVA_HEADER,                 /* a request header (else a variable) */
	KBAL_ENVA_HEADER_RE,              /* the headers whose name matches name */
	KBAL_ENVA_REMOTE_ADDR,
	KBAL_ENVA_REMOTE_HOST,            /* the address: no HostnameLookups */
	KBAL_ENVA_SERVER_ADDR,
	KBAL_ENVA_METHOD,
	KBAL_ENVA_PROTOCOL,
	KBAL_ENVA_URI,                    /* the path as sent, without its query */
};

struct kbal_conf_env_var {
	char name[64];
	char value[128];                  /* $0..$9 taken from a regex's match */
	uint8_t unset;                    /* !NAME */
};

struct kbal_conf_env {
	uint8_t kind;                     /* enum kbal_env_kind */
	uint8_t attr;                     /* enum kbal_env_attr */
	uint8_t icase;                    /* ...NoCase */
	uint8_t regex;                    /* 0: match is a plain substring */
	char name[64];                    /* SetEnvIf: the header or its regex */
	char match[KBAL_CONF_VALUE_LEN];  /* SetEnvIf: what it matches (unescaped
					   * when a substring) */
	unsigned nvar;                    /* SetEnv, UnsetEnv: var[0] */
	struct kbal_conf_env_var var[KBAL_CONF_ENV_VARS];
	int vhost;                        /* its <VirtualHost>, -1: the server's */
	int line;
};

/* RequestReadTimeout (mod_reqtimeout): how long a request's head, then its
 * body, may take to come, from its first byte: ms, extended by 1 s per
 * rate bytes received (0: not), up to max_ms (0: no cap); ms 0: no bound.
 * Default header=20-40,MinRate=500 body=20,MinRate=500, httpd's. */
struct kbal_read_bound {
	uint32_t ms, max_ms, rate;
};

struct kbal_reqtimeout {
	struct kbal_read_bound header, body;
};

/* by when (CLOCK_MONOTONIC ns) a stage begun at start must be whole, got
 * bytes of it come: ~0 for none */
static inline uint64_t kbal_read_bound_at(const struct kbal_read_bound *b, uint64_t start,
					  uint64_t got)
{
	uint64_t t;

	if (!b->ms)
		return ~0ull;
	t = start + b->ms * 1000000ull;
	if (b->rate)
		t += got * 1000000000ull / b->rate;   /* 1 s per MinRate bytes */
	if (b->max_ms && t > start + b->max_ms * 1000000ull)
		t = start + b->max_ms * 1000000ull;
	return t;
}

struct kbal_conf_listen {
	struct sockaddr_in6 addr;         /* "Listen 8080" binds 0.0.0.0:8080 (mapped,
					   * inaddr.h), "Listen [::]:8080" both families */
	int line;
};

/* <VirtualHost ADDR[:PORT] ...>: httpd's vhost.c picks it by the address
 * the client reached, then among those on that address by each request's
 * Host (ServerName, ServerAlias; none matching: the first). It holds
 * <Location> sections, Redirects, ServerName and ServerAlias; the
 * server's ProxyPass rules and <Location>s apply in it too, as httpd's
 * merge does. */
struct kbal_conf_vhost {
	struct sockaddr_in6 addr[KBAL_CONF_VHOST_ADDRS]; /* 0.0.0.0: "*", _default_;
							 * port 0: any */
	unsigned naddr;
	char server_name[128];            /* its ServerName, "" none */
	char server_host[128];            /* that name without its :port (%v) */
	unsigned server_port;             /* its :port, 0 none */
	char server_admin[128];           /* its ServerAdmin, "" the server's */
	int server_signature;             /* its ServerSignature, -1: the server's */
	unsigned nalias;
	char alias[KBAL_CONF_VHOST_ALIASES][128]; /* ServerAlias, '*' and '?' wild */
	int preserve_host;                /* its ProxyPreserveHost, -1: the server's */
	int error_override;               /* its ProxyErrorOverride, -1: the server's */
	unsigned nerror_codes;            /* its codes, after the server's */
	uint16_t error_codes[KBAL_CONF_ERROR_CODES];
	/* mod_proxy's, -1 where it sets none: the server's then */
	int via;                          /* ProxyVia, enum kbal_via */
	int add_headers;                  /* ProxyAddHeaders On|Off */
	int pp_inherit;                   /* ProxyPassInherit On|Off */
	int bal_inherit;                  /* BalancerInherit On|Off */
	/* LimitRequestLine, -FieldSize, -Fields: its own, else the server's
	 * as they were where the section opened (httpd's ap_new_vhost()
	 * copies them then), else httpd's defaults. httpd reads a request's
	 * head before its Host: a connection takes those of the virtual host
	 * its address picks without a Host (conn->base_server) */
	struct kbal_http_limits limits;
	uint8_t limit_set;                /* bit per one given (or the server's copied) */
	/* httpd's core, per name-based virtual host (the request's, by its
	 * Host: ap_set_keepalive() reads r->server's), -1: the server's */
	int keepalive;                    /* KeepAlive On|Off */
	int max_keepalive;                /* MaxKeepAliveRequests */
	int limit_body_set;               /* LimitRequestBody given: limit_body */
	uint64_t limit_body;
	/* Timeout, ProxyTimeout, KeepAliveTimeout given here (0: none);
	 * conf_check.c resolves them as httpd's ap_fixup_virtual_hosts() and
	 * merge_proxy_config() do, with the server's final values */
	unsigned own_timeout_ms, own_proxy_timeout_ms, own_keepalive_timeout_ms;
	unsigned timeout_ms;              /* its ProxyTimeout, else the server's, else its
					   * Timeout, else the server's (kbald's one
					   * Timeout, as the server's timeout_ms) */
	unsigned keepalive_timeout_ms;    /* its KeepAliveTimeout, else the server's */
	int line;
};

/* A line as the configuration keeps it (the structs' line fields): the
 * file's index in kbal_conf.files (0: the main file, others Included) in
 * the high bits, its line number in the low ones */
#define KBAL_CONF_LINE_BITS   20
#define KBAL_CONF_LINENO(l)   ((l) & ((1 << KBAL_CONF_LINE_BITS) - 1))
#define KBAL_CONF_FILEIDX(l)  ((unsigned)(l) >> KBAL_CONF_LINE_BITS)
#define KBAL_CONF_MAX_FILES   128
/* the file of line l: the main one's is file */
#define KBAL_CONF_FILE(c, l)  (KBAL_CONF_FILEIDX(l) && KBAL_CONF_FILEIDX(l) < (c)->nfiles ? \
			       (c)->files[KBAL_CONF_FILEIDX(l)] : (c)->file)

struct kbal_conf {
	char file[256];
	/* the files Include read, [0] unused (the main one is file) */
	unsigned nfiles;
	char files[KBAL_CONF_MAX_FILES][256];
	unsigned nlisten;
	struct kbal_conf_listen listen[KBAL_CONF_MAX_LISTEN];
	unsigned nbalancers;
	struct kbal_conf_balancer balancers[KBAL_MAX_BALANCERS];
	unsigned npass;
	struct kbal_conf_pass pass[KBAL_CONF_MAX_PASS];          /* config order */
	unsigned nreverse;
	struct kbal_conf_reverse reverse[KBAL_CONF_MAX_PASS];
	unsigned nlocation;
	struct kbal_conf_location location[KBAL_CONF_MAX_LOCATION];
	unsigned nerrdoc;
	struct kbal_conf_errdoc errdoc[KBAL_CONF_MAX_ERRDOC];
	unsigned nredirect;
	struct kbal_conf_redirect redirect[KBAL_CONF_MAX_REDIRECT];
	unsigned nvhost;
	struct kbal_conf_vhost vhost[KBAL_CONF_MAX_VHOST];
	unsigned nheader;
	int header_locations;             /* a Header or RequestHeader in a <Location> */
	int error_locations;              /* a ProxyErrorOverride in a <Location> */
	int location_redirects;           /* a Redirect in a <Location> */
	struct kbal_conf_header header[KBAL_CONF_MAX_HEADER];
	unsigned nenv;
	struct kbal_conf_env env[KBAL_CONF_MAX_ENV];
	unsigned ncookie_path, ncookie_domain;
	struct kbal_conf_cookie_map cookie_path[KBAL_CONF_MAX_COOKIE_MAP];
	struct kbal_conf_cookie_map cookie_domain[KBAL_CONF_MAX_COOKIE_MAP];
	int preserve_host;                /* ProxyPreserveHost On */
	int error_override;               /* ProxyErrorOverride On: a member's 4xx
					   * and 5xx (those codes, where listed)
					   * become kbald's own error answers */
	unsigned nerror_codes;
	uint16_t error_codes[KBAL_CONF_ERROR_CODES];
	int no_xfwd;                      /* ProxyAddHeaders Off: no X-Forwarded-* */
	int no_pp_inherit;                /* ProxyPassInherit Off at server level:
					   * every <VirtualHost>'s default */
	int no_bal_inherit;               /* BalancerInherit Off, the same */
	struct in6_addr proxy_source;     /* ProxySourceAddress: the members'
					   * connections come from it, 0: the system's
					   * choice */
	unsigned proxy_rcvbuf;            /* ProxyReceiveBufferSize: SO_RCVBUF of the
					   * members' connections, 0: the system's */
	unsigned via;                     /* ProxyVia: enum kbal_via */
	char server_name[128];            /* ServerName, else gethostname() */
	char server_host[128];            /* that name without its :port (%v) */
	unsigned server_port;             /* its :port, 0 none */
	char server_admin[128];           /* ServerAdmin, "" none (httpd's 500 page
					   * then says "[no address given]") */
	uint8_t server_tokens;            /* ServerTokens, enum kbal_server_tokens */
	uint8_t server_signature;         /* ServerSignature, enum kbal_server_signature */
	uint8_t encoded_slashes;          /* AllowEncodedSlashes, enum kbal_encoded_slashes */
	int canonical_name;               /* UseCanonicalName On: self-referential
					   * URLs name ServerName, not the Host */
	unsigned timeout_ms;              /* Timeout / ProxyTimeout, default 60000 */
	int balancer_persist;             /* BalancerPersist On: run-time changes kept
					   * across a stop (persist.c) */
	char persist_file[256];           /* KbalPersistFile: where, "" the default */
	struct kbal_http_limits limits;   /* LimitRequestLine, -FieldSize, -Fields */
	int vhost_limits;                 /* a <VirtualHost>'s limits differ from them */
	int vhost_keepalive;              /* a <VirtualHost> sets KeepAlive or
					   * MaxKeepAliveRequests */
	int vhost_timeouts;               /* a <VirtualHost> sets Timeout, ProxyTimeout
					   * or KeepAliveTimeout */
	struct kbal_reqtimeout reqtimeout; /* RequestReadTimeout */
	unsigned max_per_client;          /* KbalMaxConnectionsPerClient, 0: none */
	int accept_filter_none;           /* AcceptFilter http none: no TCP_DEFER_ACCEPT
					   * (httpd's default on Linux is "data": the
					   * listener wakes when a request's first bytes
					   * are there, not at the handshake) */
	uint64_t limit_body;              /* LimitRequestBody: what kbald answers itself
					   * (the manager), as httpd, which does not
					   * apply it to proxied requests */
	unsigned keepalive_timeout_ms;    /* KeepAliveTimeout: how long kbald waits for a
					   * keep-alive client's next request, default 5000 */
	int keepalive_off;                /* KeepAlive Off: one request a connection */
	unsigned max_keepalive_requests;  /* MaxKeepAliveRequests: a connection's
					   * requests answered with keep-alive, default
					   * 100, 0: no bound. As httpd, the one after them
					   * is answered with Connection: close */
	/* logs (conf_log.c): CustomLog with its format (a nickname resolved),
	 * LogFormat's nicknames, ErrorLog, LogLevel */
	unsigned ncustomlog;
	struct kbal_conf_customlog {
		char path[256];
		char format[1024];
		int line;
	} customlog[4];
	unsigned nlogformat;
	struct {
		char nick[32];
		char format[1024];
	} logformat[16];
	char errorlog[256];               /* "" stderr; a path, or syslog[:facility] */
	unsigned nhcexpr;                 /* ProxyHCExpr NAME {condition} */
	struct {
		char name[32];
		char text[512];
		int line;
	} hcexpr[KBAL_CONF_MAX_HCTEMPLATE];
	unsigned nhctemplate;             /* ProxyHCTemplate NAME key=value... */
	struct {
		char name[32];
		char params[512];         /* its key=value words, one space apart */
	} hctemplate[KBAL_CONF_MAX_HCTEMPLATE];
	int loglevel;                     /* LogLevel: enum kbal_log_level + 1, 0: not set */
	unsigned splice;                  /* KbalSplice at server level */
	int splice_set;
	/* KbalHost ID ADDRESS: the kbal hosts that share the service address
	 * (docs/scale-out.md, "Second chance"), by id (1..7; KBAL_MAX_HOSTS):
	 * each one's own IPv4 address, network order, 0: no such host. The
	 * same lines on every host; a host's own id is the one whose address
	 * is one of its own (splice_packet.c) */
	struct {
		uint32_t addr;
		int line;
	} host[KBAL_MAX_HOSTS];
	unsigned nhost;
	unsigned proxy_protocol;          /* KbalProxyProtocol at server level */
	char member_cc[KBAL_CC_LEN];      /* KbalMemberCongestion at server level */
	/* User, Group, KbalPinGroup (conf_privs.c): whom kbald runs as once
	 * started, and who may read its pins (privs.c); a line of 0: not given */
	struct kbal_conf_privs {
		char user[64], group[64], pin_group[64];   /* as written */
		int user_line, group_line, pin_group_line;
		uint32_t uid, gid, pin_gid;
	} privs;
};

typedef void (*kbal_conf_warn_fn)(void *data, const char *msg);

/*
 * Parse PATH into *conf (zeroed by the callee). Returns 0, or -1 with
 * "PATH:LINE: message" in err. warn (may be NULL) receives each warning,
 * already formatted as "PATH:LINE: ...".
 */
int kbal_conf_load(const char *path, struct kbal_conf *conf,
		   char *err, size_t errlen, kbal_conf_warn_fn warn, void *data);

/* kbald's -D NAME, as httpd's: defined for <IfDefine> in every reading
 * from now on (a restart's too). 0, or -1: too many, or a bad name. */
int kbal_conf_define(const char *name);

/* Same, from a string (unit tests); name stands for the file name. */
int kbal_conf_parse(const char *name, const char *text, struct kbal_conf *conf,
		    char *err, size_t errlen, kbal_conf_warn_fn warn, void *data);

/* First ProxyPass rule whose path is a prefix of uri's path (Apache's
 * rules: "/" matches all, "/app" matches "/app", "/app/x", "/app?q" but
 * not "/apple"; a <Location>'s own ProxyPass is tried before the server's),
 * or ProxyPassMatch rule whose regex matches uri's path (decoded, dot
 * segments removed, slashes merged: httpd's r->uri), tried together in
 * configuration order as mod_proxy's proxy_trans() does.
 * Returns its index or -1 (also for a path kbal_conf_uri_path rejects). */
int kbal_conf_match_pass(const struct kbal_conf *conf, int vhost, const char *uri, size_t len);

/* The request-target sent to the member for ProxyPass rule p, as
 * mod_proxy makes it: p's target, then the rest of uri's URL-path after
 * what p matched, taken from kbal_conf_uri_path() (decoded, dot segments
 * removed: "/app/../app/x" or "/ap%70/x" never reach outside the target)
 * and %-encoded again as ap_proxy_canonenc() does, then uri's query as
 * sent. Its length (out NUL-terminated), -EINVAL when p does not match,
 * -ENAMETOOLONG when out is too small.
 * For a ProxyPassMatch rule, as ap_proxy_trans_match() and the canon
 * handlers make it: p's target with $N replaced by what group N of the
 * regex matched in the decoded path (ap_pregsub()), or, when nothing was
 * substituted, the target followed by the whole decoded path; %-encoded
 * as above, then uri's query. -EXDEV when the substitution runs into the
 * balancer's name (balancer://NAME$1 with a $1 not starting with '/'):
 * httpd finds no such balancer, kbald answers 500 as it does. */
int kbal_conf_pass_target(const struct kbal_conf_pass *p, const char *uri, size_t len,
			  char *out, size_t outlen);

/* The <VirtualHost> serving a request to local with Host host (hostlen
 * bytes, NULL: none), as httpd's vhost.c picks it: the candidates are
 * those naming the address (and the port, or any port), else those of
 * "*" or _default_ on the port; among them the first whose ServerName or
 * ServerAlias is the Host (its port ignored, case-insensitive), else the
 * first; -1: no candidate, the server's own. */
int kbal_conf_vhost(const struct kbal_conf *conf, const struct sockaddr_in6 *local,
		    const char *host, size_t hostlen);
/* May a connection reached on vhost a serve a request of vhost b (their
 * addresses overlap, so a Host picks between them)? */
/* ProxyErrorOverride for a member's answer of status in vhost (-1: the
 * server's): does kbald send its own error answer instead? Any in conf? */
int kbal_conf_error_override(const struct kbal_conf *conf, int vhost, uint32_t locs,
			     unsigned status);
int kbal_conf_error_override_any(const struct kbal_conf *conf);
/* a member with ping=: each request with a body goes with Expect:
 * 100-continue, its body held by kbald (exchange_response.c), so kbald
 * decides every request */
int kbal_conf_ping_any(const struct kbal_conf *conf);
#define PING_WHY "a member's ping= sends every request that has a body with Expect: " \
		 "100-continue and holds the body for its answer"

int kbal_conf_vhost_overlap(const struct kbal_conf *conf, int a, int b);
/* ProxyPreserveHost in virtual host vhost (-1: the server's), merged as
 * httpd's merge_proxy_config(): the virtual host's where it sets one */
static inline int kbal_conf_preserve_host(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 && c->vhost[vhost].preserve_host >= 0 ? c->vhost[vhost].preserve_host :
								 c->preserve_host;
}

/* KeepAlive Off and MaxKeepAliveRequests in virtual host vhost (-1: the
 * server's): its own, else the server's (ap_fixup_virtual_hosts()) */
static inline int kbal_conf_keepalive_off(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 && c->vhost[vhost].keepalive >= 0 ? !c->vhost[vhost].keepalive :
								c->keepalive_off;
}

static inline unsigned kbal_conf_max_keepalive(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 && c->vhost[vhost].max_keepalive >= 0 ?
	       (unsigned)c->vhost[vhost].max_keepalive : c->max_keepalive_requests;
}

/* Timeout (kbald's one: ProxyTimeout, else Timeout) and KeepAliveTimeout
 * of virtual host vhost (-1: the server's), resolved (conf_check.c) */
static inline unsigned kbal_conf_timeout(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 ? c->vhost[vhost].timeout_ms : c->timeout_ms;
}

static inline unsigned kbal_conf_keepalive_timeout(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 ? c->vhost[vhost].keepalive_timeout_ms : c->keepalive_timeout_ms;
}

/* How long a connection waits for its next request: httpd's event MPM
 * (event_post_read_request()) takes the KeepAliveTimeout of the last
 * request's virtual host where it sets one, else that of the connection's
 * address's (c->base_server, base: the first <VirtualHost> on it, -1: the
 * server), itself the server's where it sets none */
static inline unsigned kbal_conf_keepalive_wait(const struct kbal_conf *c, int vhost, int base)
{
	return kbal_conf_keepalive_timeout(c, vhost >= 0 && c->vhost[vhost].own_keepalive_timeout_ms ?
					      vhost : base);
}

/* LimitRequestBody in virtual host vhost (-1: the server's): its own,
 * else the server's (core's per-directory merge) */
static inline uint64_t kbal_conf_limit_body(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 && c->vhost[vhost].limit_body_set ? c->vhost[vhost].limit_body :
							      c->limit_body;
}

/* ProxyVia in virtual host vhost (-1: the server's), enum kbal_via, as
 * merge_proxy_config() merges viaopt */
static inline unsigned kbal_conf_via(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 && c->vhost[vhost].via >= 0 ? (unsigned)c->vhost[vhost].via : c->via;
}

/* ProxyVia other than Off anywhere: the server's or a virtual host's */
int kbal_conf_via_any(const struct kbal_conf *c);

/* ProxyAddHeaders Off in virtual host vhost (-1: the server's), as
 * merge_proxy_dir_config() merges add_forwarded_headers */
static inline int kbal_conf_no_xfwd(const struct kbal_conf *c, int vhost)
{
	return vhost >= 0 && c->vhost[vhost].add_headers >= 0 ? !c->vhost[vhost].add_headers :
								c->no_xfwd;
}

/* ProxyPassInherit in virtual host vhost (-1: the server's), merged as
 * httpd's ppinherit. httpd 2.4 appends the server's ProxyPass rules to a
 * virtual host's whatever it says (merge_proxy_config(): only ProxyRemote's
 * list and the balancers follow it; apache2 2.4.71 does so): it matters
 * here only through kbal_conf_bal_inherit() */
static inline int kbal_conf_pp_inherit(const struct kbal_conf *c, int vhost)
{
	if (vhost < 0)
		return 1;
	return c->vhost[vhost].pp_inherit >= 0 ? c->vhost[vhost].pp_inherit : !c->no_pp_inherit;
}

/* Does virtual host vhost see the server's balancers? merge_proxy_config()
 * merges them when either BalancerInherit or ProxyPassInherit is On */
static inline int kbal_conf_bal_inherit(const struct kbal_conf *c, int vhost)
{
	if (vhost < 0 || kbal_conf_pp_inherit(c, vhost))
		return 1;
	return c->vhost[vhost].bal_inherit >= 0 ? c->vhost[vhost].bal_inherit : !c->no_bal_inherit;
}

/* May a request of virtual host vhost go to balancer b? Not to a server's
 * balancer where vhost inherits none: httpd's virtual host has no balancer
 * of that name then, and answers 503. A plain worker's URL is proxied all
 * the same (httpd's default reverse worker takes it) */
static inline int kbal_conf_balancer_in(const struct kbal_conf *c, int vhost, unsigned b)
{
	return c->balancers[b].vhost >= 0 || (c->balancers[b].flags & KBAL_BF_WORKER) ||
	       kbal_conf_bal_inherit(c, vhost);
}

/* mod_alias's answer to uri (a path no ProxyPass rule proxies) in virtual
 * host vhost: the status of the first Redirect or RedirectMatch that
 * matches its decoded path (the virtual host's first, then the
 * server's), 0 for none. For a 3xx, out gets the target as httpd builds
 * it: the rule's URL and the rest of the path (escaped), or the regex's
 * substitution, the request's query after it unless the target has one;
 * a target starting with '/' is the caller's to make absolute. -1 when it
 * does not fit out (httpd: 500). */
int kbal_conf_match_redirect(const struct kbal_conf *conf, int vhost, const char *uri,
			     size_t len, char *out, size_t outlen);

/* Location handler for uri's path in virtual host vhost (-1: the
 * server's): the last matching <Location> with a SetHandler, the
 * server's sections first and the virtual host's after them, as httpd
 * merges them; or NONE. A ProxyPass rule that proxies the path wins over
 * the handler, as in httpd. */
unsigned kbal_conf_match_location(const struct kbal_conf *conf, int vhost, const char *uri,
				  size_t len);
/* the same, and the access rules that apply there (none given: an empty
 * struct kbal_authz, which lets loopback clients only) */
unsigned kbal_conf_match_location_authz(const struct kbal_conf *conf, int vhost, const char *uri,
					size_t len, const struct kbal_authz **authz);
/* The Redirect of the last <Location> taking uri's path in vhost that has
 * one (httpd's merge): its status, its URL in *url; 0 for none */
unsigned kbal_conf_location_redirect(const struct kbal_conf *conf, int vhost, const char *uri,
				     size_t len, const char **url);
/* The <Location>s and <LocationMatch>es whose paths take uri's in virtual
 * host vhost (-1: the server's), one bit each by index */
uint32_t kbal_conf_match_locations(const struct kbal_conf *conf, int vhost, const char *uri,
				   size_t len);
/* Whether a ProxyPass rule proxies some of <Location> i's paths: its own,
 * the one its path matches, or one under it (its access rules then apply
 * to proxied requests, as httpd's) */
int kbal_conf_location_proxied(const struct kbal_conf *c, unsigned i);
/* a keep-alive connection of balancer b on vhost can be joined by the
 * packet path, which frames no request (conf_match.c); else why */
int kbal_conf_packet_alike(const struct kbal_conf *c, unsigned b, int vhost, const char **why);
/* why (from kbal_conf_packet_alike()) is about which member or rule a
 * later request takes, or ProxyPassReverse: what the packet path's program
 * decides request by request, answer by answer, where kbald keeps its
 * client-side sockets (no KbalHost ids; docs/packet.md, "Each request
 * decided") */
int kbal_conf_packet_why_decided(const char *why);
/* the same but for the number of members: alike as long as one member is
 * the only pick (decide.c's packet_by_name() looks at that) */
int kbal_conf_packet_alike_several(const struct kbal_conf *c, unsigned b, int vhost,
				   const char **why);

/* A BalancerMember's values when it has no parameters */
void kbal_conf_member_defaults(struct kbal_conf_member *m);

/* A member's URL as BalancerMember reads it (http://HOST[:PORT][/], IPv4),
 * into m with a BalancerMember's defaults (no parameters, its connect
 * timeout left 0: the balancer's); numeric: HOST must be an IPv4 address
 * (no name lookup, which would hold kbald's loop). 0, or -1 with why in err
 * (a sentence without file or line). */
int kbal_conf_member_url(const char *url, int numeric, struct kbal_conf_member *m, char *err,
			 size_t errlen);

/* The URL-path of a request-target as httpd matches it (its r->uri): the
 * absolute-form's scheme://host skipped, query dropped, %XX decoded, dot
 * segments removed, slashes merged. Returns its length (out is
 * NUL-terminated), or what httpd answers instead: -EBADMSG a bad %-escape
 * (400), -ERANGE a path above the root (400), -ENOENT %00 or a refused %2F
 * (404), -EINVAL no path; -ENAMETOOLONG when out is too small. The match
 * functions use it (no match where it fails). */
int kbal_conf_uri_path(const char *uri, size_t len, char *out, size_t outlen);

/* The path of an origin-form target as httpd's r->uri keeps it where it
 * refused to unescape it (for %U): into out (len + 1 bytes), its length,
 * -1 for another form */
int kbal_conf_uri_unescaped(const char *u, size_t len, char *out);

/* The status httpd answers a request-target with, where its path is not
 * one (a bad escape, above the root: 400), else 0 */
unsigned kbal_conf_uri_refused(const char *uri, size_t len, unsigned slashes);

/* The same under AllowEncodedSlashes slashes (enum kbal_encoded_slashes):
 * On decodes %2F, NoDecode keeps it as the three characters it came as */
int kbal_conf_uri_path_ex(const char *uri, size_t len, char *out, size_t outlen,
			  unsigned slashes);

/* httpd's checks of a request-target (protocol.c, HttpProtocolOptions
 * Strict, its default): one with a fragment, or whose path does not start
 * with '/' (a "scheme://authority" form's path is what follows the
 * authority; "*" is OPTIONS's alone) is a 400; "OPTIONS *" is core's own
 * answer; CONNECT's authority is left to what follows */
enum kbal_target { KBAL_TARGET_OK, KBAL_TARGET_BAD, KBAL_TARGET_OPTIONS_STAR };
enum kbal_target kbal_conf_uri_target(const char *method, size_t mlen, const char *url,
				      size_t len);

/* An absolute-form request-target whose scheme is http names the request's
 * host (httpd's ap_parse_uri(): r->hostname), which replaces the Host
 * header's value (ap_update_vhost_from_headers_ex(): the name as
 * fix_hostname() leaves it, lower-cased, one trailing dot gone; the URL's
 * port as it came) and so picks the virtual host. Into out, NUL-terminated.
 * 1 (out may be empty: "http:///x" names an empty host), 0 for another
 * target, -1 for one httpd refuses (userinfo, a host it does not take: 400). */
int kbal_conf_uri_absolute_host(const char *url, size_t len, char *out, size_t cap);

/* A CONNECT's target as httpd takes it without mod_proxy_connect
 * (ap_parse_uri(): apr_uri_parse_hostinfo(), then r->uri "/"):
 * "host:port" or "[v6]:port", the port a number (sign allowed, as
 * apr_strtoi64() reads it), the host one fix_hostname() takes (or none:
 * ":443"). Into out,
 * NUL-terminated, the Host the request then has: the host lower-cased,
 * one trailing dot gone, ':' and the port as it came. 1, or -1 where
 * httpd answers 400 (no port, a path, userinfo, a host it refuses). */
int kbal_conf_uri_connect_host(const char *url, size_t len, char *out, size_t cap);

#endif /* KBAL_CONF_H */
