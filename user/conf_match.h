/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * conf_match.h - the matching of conf_match.c that the end-of-file checks
 * (conf_check.c) use too, so that a warning about a rule that never applies
 * is computed by the very code that routes requests.
 */
#ifndef KBAL_CONF_MATCH_H
#define KBAL_CONF_MATCH_H

#include <stddef.h>
#include "conf.h"

/* httpd's alias_match(): does rule match the start of path[0..len)? */
int conf_alias_match(const char *path, size_t len, const char *rule);

/* kbal_conf_match_pass() on a path kbal_conf_uri_path() already made */
int conf_match_pass_path(const struct kbal_conf *c, int vhost, const char *path, size_t len);

/* ProxyPassMatch's pattern compiled as httpd's ap_regcomp() compiles it
 * (PCRE2, DOTALL and DOLLAR_ENDONLY, its default RegexDefaultOptions):
 * once per pattern text for the process's life, kept here and not in
 * struct kbal_conf, which is plain memory copied and freed as such.
 * 0, or -1 with PCRE2's message and offset in err. */
int conf_regex_check(const char *pattern, char *err, size_t errlen);

#define CONF_REGEX_NMATCH 10       /* httpd's AP_MAX_REG_MATCH: $0 to $9 */

/* ap_regexec_ex(): match pattern against s[0..len) from start (with
 * nonempty_here, only a non-empty match there: pcre2_substitute()'s step
 * after an empty match); the offsets of $0..$9 in ov (-1 where a group
 * took no part). The number of groups set, 0 (no match) or -1 (does not
 * compile). */
int conf_regex_exec(const char *pattern, const char *s, size_t len, size_t start,
		    int nonempty_here, long ov[2 * CONF_REGEX_NMATCH]);

/* Does pattern match path[0..len)? 1, 0, or -1 (does not compile) */
int conf_regex_match(const char *pattern, const char *path, size_t len);

/* What every string pattern matches starts with, as far as a plain
 * reading proves it: the literal characters after a leading '^' (none
 * when the pattern has a top-level '|', or is not anchored). Its length. */
size_t conf_regex_prefix(const char *pattern, char *out, size_t cap);

#endif /* KBAL_CONF_MATCH_H */
