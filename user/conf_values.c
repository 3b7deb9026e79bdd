// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_values.c - the configuration's values, checked alike wherever they
 * appear: numbers, times, On/Off, tokens, paths, host names (resolved once,
 * at load time), key=value parameters; and the errors and warnings, each
 * "FILE:LINE: what is wrong".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "conf_parse.h"
#include "inaddr.h"

#define TIME_MAX_MS (24u * 3600 * 1000)

/* ---- errors and warnings ---- */

/* FILE:LINE of an encoded line (conf.h) */
static int where(struct conf_parser *p, int line, char *buf, size_t size)
{
	const char *file = KBAL_CONF_FILE(p->conf, line);

	return snprintf(buf, size, "%s:%d", file ? file : p->file, KBAL_CONF_LINENO(line));
}

const char *conf_at(struct conf_parser *p, int line)
{
	char *buf = p->at[p->nat++ % ARRAY_SIZE(p->at)];

	if (KBAL_CONF_FILEIDX(line) == KBAL_CONF_FILEIDX(p->line) || !p->conf)
		snprintf(buf, sizeof(p->at[0]), "line %d", KBAL_CONF_LINENO(line));
	else
		where(p, line, buf, sizeof(p->at[0]));
	return buf;
}

int conf_perr_at(struct conf_parser *p, int line, const char *fmt, ...)
{
	char msg[768], at[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!p->file)          /* not a file's (kbal_conf_member_url) */
		snprintf(p->err, p->errlen, "%s", msg);
	else if (line > 0 && p->conf)
		snprintf(p->err, p->errlen, "%s: %s", (where(p, line, at, sizeof(at)), at), msg);
	else if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->file, msg);
	for (int i = p->depth - 1; i >= 0; i--) {   /* the Include chain, its first 4 */
		size_t n = strlen(p->err);

		if (i < p->depth - 4) {
			snprintf(p->err + n, p->errlen - n, " (and %d more)", i + 1);
			break;
		}
		snprintf(p->err + n, p->errlen - n, " (included from %s)",
			 (where(p, p->includer[i].line, at, sizeof(at)), at));
	}
	return -1;
}

void conf_pwarn(struct conf_parser *p, int line, const char *fmt, ...)
{
	char msg[768], out[1100], at[300];
	va_list ap;

	if (!p->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	where(p, line, at, sizeof(at));
	snprintf(out, sizeof(out), "%s: %s", at, msg);
	p->warn(p->data, out);
}

/* ---- values ---- */

int conf_copy(struct conf_parser *p, char *dst, size_t size, const char *src, const char *what)
{
	size_t n = strlen(src);

	if (n >= size)
		return perr(p, "%s: longer than %zu characters", what, size - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

int conf_parse_uint(struct conf_parser *p, const char *label, const char *val,
		    unsigned min, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	const char *s;

	for (s = val; isdigit((unsigned char)*s) && v <= max; s++)
		v = v * 10 + (*s - '0');
	if (s == val || *s || v < min || v > max)
		return perr(p, "%s: must be an integer from %u to %u", label, min, max);
	*out = v;
	return 0;
}

int conf_parse_time(struct conf_parser *p, const char *label, const char *val, unsigned *ms)
{
	static const struct { const char *unit; unsigned ms; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "mi", 60000 }, { "h", 3600000 },
	};
	unsigned long v = 0;
	const char *s;

	for (s = val; isdigit((unsigned char)*s) && v <= TIME_MAX_MS; s++)
		v = v * 10 + (*s - '0');
	for (size_t i = 0; s != val && v && i < ARRAY_SIZE(units); i++) {
		if (!strcasecmp(s, units[i].unit) && v <= TIME_MAX_MS / units[i].ms) {
			*ms = v * units[i].ms;
			return 0;
		}
	}
	return perr(p, "%s: must be a time from 1 ms to 24 h (N seconds, Nms, Nmi or Nh)", label);
}

int conf_parse_onoff(struct conf_parser *p, const char *label, const char *val, int *on)
{
	if (!strcasecmp(val, "on"))
		*on = 1;
	else if (!strcasecmp(val, "off"))
		*on = 0;
	else
		return perr(p, "%s: must be On or Off", label);
	return 0;
}

int conf_is_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

/* host, "" or "*" (0.0.0.0), an IPv4 or IPv6 address (no brackets) or a
 * name (its IPv4 address, else its IPv6 one), with port, into sa: IPv4
 * mapped (inaddr.h) */
int conf_resolve(struct conf_parser *p, const char *what, const char *host, unsigned port,
		 struct sockaddr_in6 *sa)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	struct in_addr a4 = { 0 };
	int rc;

	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(port);
	if (!*host || !strcmp(host, "*") || inet_pton(AF_INET, host, &a4) == 1) {
		kbal_in6_set_v4(&sa->sin6_addr, a4.s_addr);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sa->sin6_addr) == 1)
		return 0;
	rc = getaddrinfo(host, NULL, &hints, &ai);
	if (rc) {
		hints.ai_family = AF_INET6;
		rc = getaddrinfo(host, NULL, &hints, &ai);
	}
	if (rc)
		return perr(p, "%s: cannot resolve host '%s': %s", what, host, gai_strerror(rc));
	kbal_in6_of_sa(ai->ai_addr, &sa->sin6_addr, NULL);
	freeaddrinfo(ai);
	return 0;
}

/* "[v6]" or "[v6]:rest", or "host" / "host:rest": the host into host (no
 * brackets), *rest at what follows it (":..." or "") or NULL. -1: a bracket
 * not closed, or a name too long. */
int conf_split_host(const char *a, char *host, size_t cap, const char **rest)
{
	const char *e;
	size_t n;

	if (a[0] == '[') {
		e = strchr(a, ']');
		if (!e || (e[1] && e[1] != ':' && e[1] != '/'))
			return -1;
		n = e - a - 1;
		a++;
		e++;
	} else {
		e = a + strcspn(a, ":/");
		n = e - a;
		if (*e == ':' && strchr(e + 1, ':'))
			return -1;                /* an IPv6 address wants brackets */
	}
	if (n >= cap)
		return -1;
	memcpy(host, a, n);
	host[n] = '\0';
	*rest = e;
	return 0;
}

int conf_check_path(struct conf_parser *p, const char *what, const char *path, char *dst)
{
	if (path[0] != '/')
		return perr(p, "%s %s: the path must start with '/'", what, path);
	return conf_copy(p, dst, KBAL_CONF_PATH_LEN, path, what);
}

/* ---- key=value parameters ---- */

int conf_apply_param(struct conf_parser *p, const struct conf_param *tab, size_t n, void *obj,
		     const char *what, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char label[320];
	size_t klen = eq ? (size_t)(eq - arg) : 0;

	snprintf(label, sizeof(label), "%s %s", what, arg);
	if (!klen || !eq[1])
		return perr(p, "%s: parameters have the form key=value", label);
	for (size_t i = 0; i < n; i++)
		if (strlen(tab[i].name) == klen && !strncasecmp(tab[i].name, arg, klen))
			return tab[i].fn(p, obj, &tab[i], eq + 1, label);
	return perr(p, "%s: unknown %s parameter '%.*s'", label, what, (int)klen, arg);
}

int conf_pm_num(struct conf_parser *p, UNUSED void *obj, UNUSED const struct conf_param *pd,
		const char *val, const char *label)
{
	unsigned v;

	return conf_parse_uint(p, label, val, 0, 0x7fffffff, &v);
}

int conf_pm_time(struct conf_parser *p, UNUSED void *obj, UNUSED const struct conf_param *pd,
		 const char *val, const char *label)
{
	unsigned v;

	return conf_parse_time(p, label, val, &v);
}

int conf_pm_choice(struct conf_parser *p, UNUSED void *obj, const struct conf_param *pd,
		   const char *val, const char *label)
{
	size_t n = strlen(val);

	for (const char *a = pd->arg; *a; a += strcspn(a, "|"), a += !!*a)
		if (strcspn(a, "|") == n && !strncasecmp(a, val, n))
			return 0;
	return perr(p, "%s: must be one of %s", label, pd->arg);
}

int conf_pm_unsupported(struct conf_parser *p, UNUSED void *obj, const struct conf_param *pd,
			UNUSED const char *val, const char *label)
{
	return perr(p, "%s: %s", label, pd->arg);
}
