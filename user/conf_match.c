// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_match.c - which ProxyPass rule and which <Location> handler a request
 * gets, as httpd decides it; kbald calls this for each first request, so it
 * needs nothing of the reader.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include "conf.h"
#include "conf_match.h"
#include "inaddr.h"
#include "env.h"

#define URI_MAX 8192
#define REGEX_NMATCH CONF_REGEX_NMATCH

/* ---- ProxyPassMatch's regexes ----
 * Compiled once per pattern text, the first time a configuration names
 * it (kbal_conf_load(), which refuses one that does not compile), and
 * looked up by text: struct kbal_conf holds no pointer, so that it stays
 * plain memory (copied, freed, read again at a restart in place). kbald
 * matches on its main thread only. */
static struct compiled {
	char *text;
	pcre2_code *re;
} *regexes;
static unsigned nregexes;

/* patterns kept at most: a configuration has KBAL_CONF_MAX_PASS; a caller
 * reading many (the configuration fuzzer) starts the cache again, which
 * is safe as no compiled code is kept past the call that looked it up */
#define REGEX_CACHE_MAX (4 * KBAL_CONF_MAX_PASS)

static void regex_cache_clear(void)
{
	for (unsigned i = 0; i < nregexes; i++) {
		free(regexes[i].text);
		pcre2_code_free(regexes[i].re);
	}
	nregexes = 0;
}

static const pcre2_code *regex_get(const char *pattern, char *err, size_t errlen)
{
	struct compiled *grown;
	pcre2_code *re;
	PCRE2_SIZE off;
	int code;

	for (unsigned i = 0; i < nregexes; i++)
		if (!strcmp(regexes[i].text, pattern))
			return regexes[i].re;
	/* ap_regcomp() with httpd's default RegexDefaultOptions */
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
			   PCRE2_DUPNAMES | PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];

		pcre2_get_error_message(code, msg, sizeof(msg));
		if (err)
			snprintf(err, errlen, "%s at offset %zu", (char *)msg, (size_t)off);
		return NULL;
	}
	/* not JIT-compiled: httpd's are not, and the JIT's stack limit would
	 * turn a deep match into a failure httpd does not have */
	if (nregexes == REGEX_CACHE_MAX)
		regex_cache_clear();
	grown = realloc(regexes, (nregexes + 1) * sizeof(*regexes));
	if (!grown || !(grown[nregexes].text = strdup(pattern))) {
		regexes = grown ?: regexes;
		pcre2_code_free(re);
		if (err)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	regexes = grown;
	regexes[nregexes].re = re;
	return regexes[nregexes++].re;
}

int conf_regex_check(const char *pattern, char *err, size_t errlen)
{
	return regex_get(pattern, err, errlen) ? 0 : -1;
}

/* ap_regexec(): match pattern against path[0..len), the offsets of $0..$9
 * in ov (-1 where a group took no part); the number of groups set, 0 (no
 * match) or -1 (no regex) */
static int regex_exec_at(const char *pattern, const char *path, size_t len, size_t start,
			 uint32_t opts, long ov[2 * REGEX_NMATCH])
{
	static pcre2_match_data *md;
	const pcre2_code *re = regex_get(pattern, NULL, 0);
	PCRE2_SIZE *v;
	int rc;

	if (!re)
		return -1;
	if (!md && !(md = pcre2_match_data_create(REGEX_NMATCH, NULL)))
		return -1;
	rc = pcre2_match(re, (PCRE2_SPTR)path, len, start, opts, md, NULL);
	if (rc < 0)
		return 0;
	if (rc == 0)                  /* more groups than REGEX_NMATCH: all set */
		rc = REGEX_NMATCH;
	v = pcre2_get_ovector_pointer(md);
	for (int i = 0; i < REGEX_NMATCH; i++) {
		int set = i < rc && v[2 * i] != PCRE2_UNSET;

		ov[2 * i] = set ? (long)v[2 * i] : -1;
		ov[2 * i + 1] = set ? (long)v[2 * i + 1] : -1;
	}
	return rc;
}

static int regex_exec(const char *pattern, const char *path, size_t len,
		      long ov[2 * REGEX_NMATCH])
{
	return regex_exec_at(pattern, path, len, 0, 0, ov);
}

int conf_regex_exec(const char *pattern, const char *s, size_t len, size_t start,
		    int nonempty_here, long ov[2 * CONF_REGEX_NMATCH])
{
	return regex_exec_at(pattern, s, len, start,
			     nonempty_here ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0, ov);
}

int conf_regex_match(const char *pattern, const char *path, size_t len)
{
	long ov[2 * REGEX_NMATCH];

	return regex_exec(pattern, path, len, ov) > 0;
}

size_t conf_regex_prefix(const char *pattern, char *out, size_t cap)
{
	const char *s = pattern;
	size_t n = 0;
	int depth = 0, cls = 0;

	/* a top-level alternative is not anchored by the '^' of another */
	for (; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		else if (cls)
			cls = *s != ']';
		else if (*s == '[' && (cls = 1)) {
			s += s[1] == '^';
			s += s[1] == ']';   /* a ']' first is one of the class */
		}
		else if (*s == '(')
			depth++;
		else if (*s == ')')
			depth--;
		else if (*s == '|' && depth <= 0)
			return out[0] = '\0', 0;
	}
	s = pattern;
	if (*s++ != '^')
		return out[0] = '\0', 0;
	while (*s && n + 1 < cap) {
		char ch = *s;

		if (ch == '\\' && s[1] && !isalnum((unsigned char)s[1]))
			ch = s[1];
		else if (!isalnum((unsigned char)ch) && !strchr("/-_~!@%&=;:,'\"<>` ", ch))
			break;
		s += *s == '\\' ? 2 : 1;
		/* a quantifier makes this character optional: it is not proven */
		if (*s == '?' || *s == '*' || *s == '{')
			break;
		out[n++] = ch;
	}
	out[n] = '\0';
	return n;
}

/* httpd's alias_match() (mod_alias, mod_proxy): does rule match the start
 * of path? The length of path it matched, or 0. A run of slashes in the rule matches any run in the path, and
 * the rule must end at the end of a path segment: "/app" matches "/app" and
 * "/app/x" but not "/apple"; "/app/" does not match "/app". */
int conf_alias_match(const char *path, size_t len, const char *rule)
{
	const char *r = rule, *u = path, *end = path + len;

	while (*r && u < end) {
		if (*r == '/') {
			if (*u != '/')
				return 0;
			while (*r == '/')
				r++;
			while (u < end && *u == '/')
				u++;
		} else if (*u++ != *r++) {
			return 0;
		}
	}
	return !*r && r > rule && (r[-1] == '/' || u == end || *u == '/') ? (int)(u - path) : 0;
}

static int pass_matches(const struct kbal_conf_pass *p, const char *path, size_t len)
{
	return p->regex ? conf_regex_match(p->path, path, len) > 0 :
			  conf_alias_match(path, len, p->path);
}

int conf_match_pass_path(const struct kbal_conf *c, int vhost, const char *path, size_t len)
{
	int found = -1;

	/* a <Location>'s (or <LocationMatch>'s) own ProxyPass is tried first,
	 * the last matching one, the virtual host's sections merged after
	 * the server's; then the rules, ProxyPass and ProxyPassMatch in
	 * order, the server's before the virtual host's (httpd's
	 * merge_proxy_config() appends its aliases whatever
	 * ProxyPassInherit says: apache2 2.4.71 keeps them with Off) */
	for (int pass = 0; pass < (vhost >= 0 ? 2 : 1); pass++)
		for (unsigned i = 0; i < c->npass; i++)
			if (c->pass[i].vhost == (pass ? vhost : -1) && c->pass[i].location >= 0 &&
			    pass_matches(&c->pass[i], path, len))
				found = i;
	for (int pass = 0; found < 0 && pass < (vhost >= 0 ? 2 : 1); pass++)
		for (unsigned i = 0; found < 0 && i < c->npass; i++)
			if (c->pass[i].vhost == (pass ? vhost : -1) && c->pass[i].location < 0 &&
			    pass_matches(&c->pass[i], path, len))
				found = i;
	return found;
}

int kbal_conf_match_pass(const struct kbal_conf *conf, int vhost, const char *uri, size_t len)
{
	char path[URI_MAX];
	int n = kbal_conf_uri_path_ex(uri, len, path, sizeof(path), conf->encoded_slashes);

	return n < 0 ? -1 : conf_match_pass_path(conf, vhost, path, n);
}

/* ap_proxy_canonenc()'s characters left as they are in a path */
static int path_char(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("/~$-_.+!*'(),;:@&=", ch));
}

/* ap_pregsub(): in, its $0..$9 replaced by what they matched in src (a
 * group that took no part: nothing), a backslash and c by c; its length, or -1 */
static int regsub(const char *in, const char *src, const long ov[2 * REGEX_NMATCH], char *out,
		  size_t cap)
{
	size_t o = 0;

	for (const char *s = in; *s; s++) {
		if (*s == '$' && isdigit((unsigned char)s[1])) {
			int no = *++s - '0';
			size_t l = ov[2 * no] >= 0 && ov[2 * no] < ov[2 * no + 1] ?
				   (size_t)(ov[2 * no + 1] - ov[2 * no]) : 0;

			if (o + l >= cap)
				return -1;
			memcpy(out + o, src + (l ? ov[2 * no] : 0), l);
			o += l;
			continue;
		}
		if (*s == '\\' && s[1])
			s++;
		if (o + 1 >= cap)
			return -1;
		out[o++] = *s;
	}
	out[o] = '\0';
	return o;
}

/* ap_proxy_trans_match()'s URL for a ProxyPassMatch rule, the part after
 * balancer://NAME: the substituted target, else (nothing substituted) the
 * target and then the whole path; "" is "/" (the canon handlers). */
static int regex_target(const struct kbal_conf_pass *p, const char *path, size_t len, char *out,
			size_t cap)
{
	long ov[2 * REGEX_NMATCH];
	int rc = regex_exec(p->path, path, len, ov), n;

	if (rc <= 0)
		return -EINVAL;
	n = regsub(p->target, path, ov, out, cap);
	if (n < 0)
		return -ENAMETOOLONG;
	if (!strcmp(out, p->target) &&
	    (n = snprintf(out, cap, "%s%.*s", p->target, (int)len, path)) >= (int)cap)
		return -ENAMETOOLONG;
	if (!n)
		n = snprintf(out, cap, "/");
	/* the balancer's name ran on: "balancer://NAME$1" with "x/y" */
	if (out[0] != '/')
		return -EXDEV;
	return n;
}

int kbal_conf_pass_target(const struct kbal_conf_pass *p, const char *uri, size_t len,
			  char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	char path[URI_MAX], mapped[URI_MAX + KBAL_CONF_PATH_LEN];
	const char *q, *end = memchr(uri, '#', len) ?: uri + len, *rest;
	int n = kbal_conf_uri_path_ex(uri, len, path, sizeof(path), p->encoded_slashes);
	size_t o, m;

	if (n < 0)
		return n;
	if (p->nocanon && (m = conf_alias_match(uri, end - uri, p->path))) {
		/* ap_proxy_trans_match() with nocanon: the prefix matched on
		 * the request-target as received (r->unparsed_uri), its rest
		 * and query passed on untouched */
		o = snprintf(out, outlen, "%s%.*s", p->target, (int)(end - uri - m), uri + m);
		return o < outlen ? (int)o : -ENAMETOOLONG;
	}
	if (p->regex) {
		/* the whole URL-path mapped, then %-encoded as a whole */
		int r = regex_target(p, path, n, mapped, sizeof(mapped));

		if (r < 0)
			return r;
		o = 0;
		rest = mapped;
	} else {
		m = conf_alias_match(path, n, p->path);
		if (!m)
			return -EINVAL;
		o = snprintf(out, outlen, "%s", p->target);
		rest = path + m;
	}
	for (const char *s = rest; *s && o < outlen; s++) {
		unsigned char ch = *s;

		if (path_char(ch)) {
			out[o++] = ch;
		} else if (ch == '%' && p->encoded_slashes == KBAL_SLASHES_NODECODE &&
			   s[1] == '2' && (s[2] == 'F' || s[2] == 'f') && o + 3 <= outlen) {
			/* ap_proxy_canonenc() keeps an encoded slash as it is
			 * (also one that %25 made: httpd's) */
			memcpy(out + o, s, 3);
			o += 3;
			s += 2;
		} else if (o + 3 <= outlen) {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			o = outlen;
		}
	}
	if (!o && o < outlen)
		out[o++] = '/';   /* "/api" on "balancer://api": mod_proxy_http's "/" */
	q = memchr(uri, '?', end - uri);
	if (q && o < outlen)
		o += snprintf(out + o, outlen - o, "%.*s", (int)(end - q), q);
	if (o >= outlen)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return o;
}

/* ap_strcasecmp_match(): '*' any run, '?' any one byte, case-insensitive */
static int vhost_wild(const char *s, size_t n, const char *pat)
{
	for (; *pat; pat++) {
		if (*pat == '*') {
			for (size_t k = 0; k <= n; k++)
				if (vhost_wild(s + k, n - k, pat + 1))
					return 1;
			return 0;
		}
		if (!n || (*pat != '?' && tolower((unsigned char)*pat) != tolower((unsigned char)*s)))
			return 0;
		s++;
		n--;
	}
	return !n;
}

/* ServerName's host: no scheme, no port (httpd keeps them apart) */
static int vhost_name_is(const char *name, const char *host, size_t n)
{
	const char *s = strstr(name, "://"), *e;

	name = s ? s + 3 : name;
	e = strchr(name, ':');
	return name[0] && (size_t)(e ? e - name : (ptrdiff_t)strlen(name)) == n &&
	       !strncasecmp(name, host, n);
}

static int vhost_on(const struct kbal_conf_vhost *h, const struct sockaddr_in6 *local, int wild)
{
	for (unsigned i = 0; i < h->naddr; i++) {
		const struct sockaddr_in6 *a = &h->addr[i];

		/* "*" holds either family's clients, as httpd's */
		if ((!a->sin6_port || a->sin6_port == local->sin6_port) &&
		    (wild ? kbal_in6_is_any(&a->sin6_addr) :
		     !memcmp(&a->sin6_addr, &local->sin6_addr, 16)))
			return 1;
	}
	return 0;
}

int kbal_conf_vhost(const struct kbal_conf *conf, const struct sockaddr_in6 *local,
		    const char *host, size_t hostlen)
{
	size_t n = hostlen;

	/* fix_hostname(): the port and a trailing dot are not the name */
	if (host && n && host[0] != '[') {
		const char *colon = memchr(host, ':', n);

		if (colon)
			n = colon - host;
	}
	if (host && n && host[n - 1] == '.')
		n--;
	/* ap_update_vhost_given_ip(): the address itself, else "*" */
	for (int wild = 0; wild < 2; wild++) {
		int first = -1;

		for (unsigned v = 0; v < conf->nvhost; v++) {
			const struct kbal_conf_vhost *h = &conf->vhost[v];

			if (!vhost_on(h, local, wild))
				continue;
			if (first < 0)
				first = v;
			/* check_hostalias(): ServerName, ServerAlias */
			if (!host || !n)
				break;
			/* one on "*" without a ServerName has the server's */
			if (vhost_name_is(h->server_name[0] || !wild ? h->server_name :
					  conf->server_name, host, n))
				return v;
			for (unsigned a = 0; a < h->nalias; a++)
				if (vhost_wild(host, n, h->alias[a]))
					return v;
		}
		if (first >= 0)
			return first;
	}
	return -1;
}

int kbal_conf_vhost_overlap(const struct kbal_conf *conf, int a, int b)
{
	if (a == b)
		return 1;
	if (a < 0 || b < 0)
		return 0;
	for (unsigned i = 0; i < conf->vhost[a].naddr; i++)
		for (unsigned k = 0; k < conf->vhost[b].naddr; k++) {
			const struct sockaddr_in6 *x = &conf->vhost[a].addr[i], *y = &conf->vhost[b].addr[k];

			if ((!x->sin6_port || !y->sin6_port || x->sin6_port == y->sin6_port) &&
			    (kbal_in6_is_any(&x->sin6_addr) || kbal_in6_is_any(&y->sin6_addr) ||
			     !memcmp(&x->sin6_addr, &y->sin6_addr, 16)))
				return 1;
		}
	return 0;
}

unsigned kbal_conf_match_location_authz(const struct kbal_conf *conf, int vhost, const char *uri,
					size_t len, const struct kbal_authz **authz)
{
	static const struct kbal_authz none;
	char path[URI_MAX];
	int n = kbal_conf_uri_path_ex(uri, len, path, sizeof(path), conf->encoded_slashes);
	unsigned handler = KBAL_HANDLER_NONE;

	if (authz)
		*authz = &none;
	/* the server's sections, then the virtual host's */
	for (int pass = 0; pass < (vhost >= 0 ? 2 : 1); pass++)
		for (unsigned i = 0; n >= 0 && i < conf->nlocation; i++) {
			const struct kbal_conf_location *l = &conf->location[i];

			if (l->vhost != (pass ? vhost : -1))
				continue;
			if (l->regex ? conf_regex_match(l->path, path, n) <= 0 :
				       !conf_alias_match(path, n, l->path))
				continue;
			if (l->handler)
				handler = l->handler;
			/* httpd merges the sections in order: a later one with
			 * rules replaces the rules of those before (AuthMerging Off) */
			if (authz && (l->authz.nnode || l->authz.compat))
				*authz = &l->authz;
		}
	return handler;
}

int kbal_conf_location_proxied(const struct kbal_conf *c, unsigned i)
{
	const char *path = c->location[i].path;
	size_t n = strlen(path);
	int r;

	/* a regex section: any rule may proxy a path it matches */
	for (unsigned k = 0; c->location[i].regex && k < c->npass; k++)
		if (!c->pass[k].exclude)
			return 1;
	if (c->location[i].regex)
		return 0;
	r = kbal_conf_match_pass(c, c->location[i].vhost, path, n);

	if (r >= 0 && !c->pass[r].exclude)
		return 1;
	for (unsigned k = 0; k < c->npass; k++) {
		char prefix[KBAL_CONF_PATH_LEN];
		size_t pl;

		if (c->pass[k].exclude || !c->pass[k].regex)
			continue;
		/* a regex rule may proxy a path under it unless its anchored
		 * prefix leads elsewhere ("^/app/" and "/private") */
		pl = conf_regex_prefix(c->pass[k].path, prefix, sizeof(prefix));
		if (!strncmp(prefix, path, pl < n ? pl : n))
			return 1;
	}
	for (unsigned k = 0; k < c->npass; k++)
		if (!c->pass[k].exclude && !c->pass[k].regex && (c->pass[k].location == (int)i ||
					    (!strncmp(c->pass[k].path, path, n) &&
					     (path[n - 1] == '/' || !c->pass[k].path[n] ||
					      c->pass[k].path[n] == '/'))))
			return 1;
	return 0;
}

unsigned kbal_conf_location_redirect(const struct kbal_conf *conf, int vhost, const char *uri,
				     size_t len, const char **url)
{
	uint32_t locs = kbal_conf_match_locations(conf, vhost, uri, len);
	unsigned status = 0;

	/* the server's sections, then the virtual host's: the last one wins */
	for (int pass = 0; locs && pass < (vhost >= 0 ? 2 : 1); pass++)
		for (unsigned i = 0; i < conf->nlocation; i++)
			if ((locs & (1u << i)) && conf->location[i].vhost == (pass ? vhost : -1) &&
			    conf->location[i].redirect_status) {
				status = conf->location[i].redirect_status;
				*url = conf->location[i].redirect;
			}
	return status;
}

uint32_t kbal_conf_match_locations(const struct kbal_conf *conf, int vhost, const char *uri,
				   size_t len)
{
	char path[URI_MAX];
	int n = kbal_conf_uri_path(uri, len, path, sizeof(path));
	uint32_t mask = 0;

	_Static_assert(KBAL_CONF_MAX_LOCATION <= 32, "a bit per <Location>");
	for (unsigned i = 0; n >= 0 && i < conf->nlocation; i++) {
		const struct kbal_conf_location *l = &conf->location[i];

		if (l->vhost != -1 && l->vhost != vhost)
			continue;
		if (l->regex ? conf_regex_match(l->path, path, n) > 0 :
			       conf_alias_match(path, n, l->path))
			mask |= 1u << i;
	}
	return mask;
}

unsigned kbal_conf_match_location(const struct kbal_conf *conf, int vhost, const char *uri,
				  size_t len)
{
	return kbal_conf_match_location_authz(conf, vhost, uri, len, NULL);
}

/* what packet_alike() says where the connection's later requests may be
 * decided otherwise than its first (the member, the rule), which the
 * packet path's program decides one by one where kbald keeps its client
 * sockets (kbal_conf_packet_why_decided()) */
static const char WHY_MEMBERS[] = "its balancer picks among members for each request";
static const char WHY_RULE[] = "a request's path may take another rule";
static const char WHY_OUTSIDE[] = "a path outside its rules is answered by kbald (404)";
static const char WHY_VHOST_RULES[] = "a <VirtualHost> has ProxyPass rules of its own (a later "
				      "request's Host may pick it)";
static const char WHY_LOCATION[] = "a <Location> applies there (a handler or access rules)";
static const char WHY_REVERSE[] = "ProxyPassReverse rewrites answers";

int kbal_conf_packet_why_decided(const char *why)
{
	return why == WHY_MEMBERS || why == WHY_RULE || why == WHY_OUTSIDE ||
	       why == WHY_VHOST_RULES || why == WHY_LOCATION || why == WHY_REVERSE;
}

/*
 * Can the later requests of a keep-alive connection of balancer b, reached
 * on virtual host vhost (-1: the server's), never be decided other than
 * its first one? The packet path frames no request: it may join such a
 * connection only then. From the configuration: one member and no room
 * for another, every path on one rule of b that forwards it as is
 * (ProxyPreserveHost On, a rule whose target is its path), no <Location>
 * in effect there (a handler, access rules), nothing rewritten in the
 * answers (ProxyPassReverse for b, Header), no answer judged
 * (failonstatus=, failontimeout=). Otherwise why says what differs.
 */
static int packet_alike(const struct kbal_conf *c, unsigned b, int vhost, const char **why,
			int several)
{
	const struct kbal_conf_balancer *bal = &c->balancers[b];
	int all = 0;

	*why = NULL;
	if (!several && (bal->nmembers != 1 || bal->growth))
		*why = WHY_MEMBERS;
	else if (bal->nfailonstatus || (bal->flags & KBAL_BF_FAIL_TIMEOUT))
		*why = "failonstatus= or failontimeout= judges each answer";
	else if (!kbal_conf_preserve_host(c, vhost))
		*why = "each request's Host is rewritten (no ProxyPreserveHost On)";
	else if (c->nheader)
		*why = "Header changes answers";
	else if (kbal_conf_via_any(c))
		*why = "ProxyVia changes every request";
	else if (c->ncookie_path || c->ncookie_domain)
		*why = "ProxyPassReverseCookiePath or -Domain rewrites answers";
	else if (kbal_conf_error_override_any(c))
		*why = "ProxyErrorOverride judges each answer";
	else if (kbal_conf_ping_any(c))
		*why = PING_WHY;
	else if (kbal_env_may_change(c) || kbal_env_may_set(c, "no-proxy", 1))
		*why = "SetEnv or SetEnvIf may set nokeepalive, no-proxy or another variable "
		       "kbald honours for a request";
	for (unsigned i = 0; !*why && i < c->nreverse; i++)
		if (c->reverse[i].balancer == (int)b)
			*why = WHY_REVERSE;
	/* a later request's Host may pick another virtual host here */
	for (unsigned v = 0; !*why && v < c->nvhost; v++)
		if (c->vhost[v].preserve_host >= 0 &&
		    c->vhost[v].preserve_host != kbal_conf_preserve_host(c, vhost) &&
		    kbal_conf_vhost_overlap(c, v, vhost))
			*why = "a <VirtualHost> on this address sets another ProxyPreserveHost";
	/* the rules a request on this address may meet: the server's, and
	 * those of each virtual host a later request's Host may pick here (a
	 * <VirtualHost> on another address is not this connection's) */
	for (unsigned i = 0; !*why && i < c->npass; i++)
		if (c->pass[i].vhost >= 0 && kbal_conf_vhost_overlap(c, c->pass[i].vhost, vhost))
			*why = WHY_VHOST_RULES;
	for (unsigned i = 0; !*why && i < c->npass; i++) {
		const struct kbal_conf_pass *p = &c->pass[i];

		if (p->vhost >= 0 && !kbal_conf_vhost_overlap(c, p->vhost, vhost))
			continue;
		if (p->regex)
			*why = "a ProxyPassMatch rule decides by a regex, on each request's path";
		else if (p->balancer == (int)b && !p->exclude && strcmp(p->path, p->target))
			*why = "a request's path is mapped (its rule's target is another path)";
		else if (p->exclude || p->balancer != (int)b)
			*why = WHY_RULE;
		else if (!strcmp(p->path, "/"))
			all = 1;
	}
	if (!*why && !all)
		*why = WHY_OUTSIDE;
	for (unsigned i = 0; !*why && i < c->nlocation; i++)
		/* a later request's Host may pick another virtual host on
		 * this address (the packet path reads no Host) */
		if (c->location[i].vhost == -1 ||
		    kbal_conf_vhost_overlap(c, c->location[i].vhost, vhost))
			*why = WHY_LOCATION;
	return !*why;
}

int kbal_conf_packet_alike(const struct kbal_conf *c, unsigned b, int vhost, const char **why)
{
	return packet_alike(c, b, vhost, why, 0);
}

int kbal_conf_packet_alike_several(const struct kbal_conf *c, unsigned b, int vhost,
				   const char **why)
{
	return packet_alike(c, b, vhost, why, 1);
}

/* ---- mod_alias's Redirect and RedirectMatch ---- */

/* alias_matches(): fake against the path, any run of '/' in one matching
 * any run in the other, ending at a segment's end; the bytes of the path
 * it took, 0 for no match */
static size_t redirect_prefix(const char *path, const char *fake)
{
	const char *a = fake, *u = path;

	while (*a) {
		if (*a == '/') {
			if (*u != '/')
				return 0;
			while (*a == '/')
				a++;
			while (*u == '/')
				u++;
		} else if (*u++ != *a++) {
			return 0;
		}
	}
	if (a[-1] != '/' && *u && *u != '/')
		return 0;
	return u - path;
}

/* ap_os_escape_path(s, partial): what is not a path character, as %XX */
static int escape_path(const char *s, size_t len, char *out, size_t cap, size_t *o)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (isalnum(ch) || strchr("$-_.+!*'(),:;@&=/~", ch)) {
			if (*o + 1 >= cap)
				return -1;
			out[(*o)++] = (char)ch;
		} else {
			if (*o + 3 >= cap)
				return -1;
			out[(*o)++] = '%';
			out[(*o)++] = hex[ch >> 4];
			out[(*o)++] = hex[ch & 15];
		}
	}
	out[*o] = '\0';
	return 0;
}

static int redirect_target(const struct kbal_conf_redirect *r, const char *path, size_t plen,
			   size_t took, const long *ov, char *out, size_t cap)
{
	size_t o = 0;

	if (!r->regex) {
		size_t ul = strlen(r->url);

		if (ul >= cap)
			return -1;
		memcpy(out, r->url, ul + 1);
		o = ul;
		return escape_path(path + took, plen - took, out, cap, &o);
	} else {
		/* the substitution, its query and fragment left as they are,
		 * the rest escaped (apr_uri_unparse() then ap_escape_uri()) */
		char sub[URI_MAX];
		int n = regsub(r->url, path, ov, sub, sizeof(sub));
		size_t keep;

		if (n < 0)
			return -1;
		keep = strcspn(sub, "?#");
		if (escape_path(sub, keep, out, cap, &o) || o + (n - keep) >= cap)
			return -1;
		memcpy(out + o, sub + keep, n - keep + 1);
		return 0;
	}
}

int kbal_conf_match_redirect(const struct kbal_conf *conf, int vhost, const char *uri,
			     size_t len, char *out, size_t outlen)
{
	char path[URI_MAX];
	int n = kbal_conf_uri_path_ex(uri, len, path, sizeof(path), conf->encoded_slashes);
	const char *q = memchr(uri, '?', len);

	if (n < 0)
		return 0;
	/* the virtual host's rules come first, as mod_alias merges them */
	for (int pass = vhost >= 0 ? 0 : 1; pass < 2; pass++)
		for (unsigned i = 0; i < conf->nredirect; i++) {
			const struct kbal_conf_redirect *r = &conf->redirect[i];
			long ov[2 * REGEX_NMATCH];
			size_t took = 0;

			if (r->vhost != (pass ? -1 : vhost))
				continue;
			if (r->regex ? regex_exec(r->path, path, n, ov) <= 0 :
				       !(took = redirect_prefix(path, r->path)))
				continue;
			if (!r->url[0])
				return (int)r->status;
			if (redirect_target(r, path, n, took, ov, out, outlen))
				return -1;
			/* the request's query, unless the target has its own */
			if (q && !strchr(out, '?')) {
				size_t o = strlen(out), ql = uri + len - q;

				if (o + ql >= outlen)
					return -1;
				memcpy(out + o, q, ql);
				out[o + ql] = '\0';
			}
			return (int)r->status;
		}
	return 0;
}

static int code_listed(const uint16_t *codes, unsigned n, unsigned status)
{
	for (unsigned i = 0; i < n; i++)
		if (codes[i] == status)
			return 1;
	return 0;
}

int kbal_conf_error_override(const struct kbal_conf *c, int vhost, uint32_t locs,
			     unsigned status)
{
	const struct kbal_conf_vhost *v = vhost >= 0 ? &c->vhost[vhost] : NULL;
	int on = v && v->error_override >= 0 ? v->error_override : c->error_override;
	int codes = c->nerror_codes || (v && v->nerror_codes), listed;

	listed = code_listed(c->error_codes, c->nerror_codes, status) ||
		 (v && code_listed(v->error_codes, v->nerror_codes, status));
	/* merge_proxy_dir_config(): the sections the request is in, the
	 * server's then the virtual host's, each in order: the last one set
	 * says On or Off, the codes of all join */
	for (int pass = 0; locs && pass < (vhost >= 0 ? 2 : 1); pass++)
		for (unsigned i = 0; i < c->nlocation; i++) {
			const struct kbal_conf_location *l = &c->location[i];

			if (!(locs & (1u << i)) || l->vhost != (pass ? vhost : -1) ||
			    l->error_override < 0)
				continue;
			on = l->error_override;
			codes |= l->nerror_codes != 0;
			listed |= code_listed(l->error_codes, l->nerror_codes, status);
		}
	/* ap_proxy_should_override(): none listed: any error */
	if (on <= 0 || status < 400 || status > 599)
		return 0;
	return !codes || listed;
}

int kbal_conf_via_any(const struct kbal_conf *c)
{
	for (unsigned v = 0; v < c->nvhost; v++)
		if (kbal_conf_via(c, v) != KBAL_VIA_OFF)
			return 1;
	return c->via != KBAL_VIA_OFF;
}

int kbal_conf_ping_any(const struct kbal_conf *c)
{
	for (unsigned b = 0; b < c->nbalancers; b++)
		for (unsigned m = 0; m < c->balancers[b].nmembers; m++)
			if (c->balancers[b].members[m].ping_ms)
				return 1;
	return 0;
}

int kbal_conf_error_override_any(const struct kbal_conf *c)
{
	if (c->error_override > 0)
		return 1;
	for (unsigned v = 0; v < c->nvhost; v++)
		if (c->vhost[v].error_override > 0)
			return 1;
	for (unsigned i = 0; i < c->nlocation; i++)
		if (c->location[i].error_override > 0)
			return 1;
	return 0;
}
