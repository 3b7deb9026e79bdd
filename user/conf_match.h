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

#endif /* KBAL_CONF_MATCH_H */
