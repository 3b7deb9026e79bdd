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
int conf_match_pass_path(const struct kbal_conf *c, const char *path, size_t len);

/* ProxyPassMatch's pattern compiled as httpd's ap_regcomp() compiles it
 * (PCRE2, DOTALL and DOLLAR_ENDONLY, its default RegexDefaultOptions):
 * once per pattern text for the process's life, kept here and not in
 * struct kbal_conf, which is plain memory copied and freed as such.
 * 0, or -1 with PCRE2's message and offset in err. */
int conf_regex_check(const char *pattern, char *err, size_t errlen);

/* Does pattern match path[0..len)? 1, 0, or -1 (does not compile) */
int conf_regex_match(const char *pattern, const char *path, size_t len);

/* What every string pattern matches starts with, as far as a plain
 * reading proves it: the literal characters after a leading '^' (none
 * when the pattern has a top-level '|', or is not anchored). Its length. */
size_t conf_regex_prefix(const char *pattern, char *out, size_t cap);

#endif /* KBAL_CONF_MATCH_H */
