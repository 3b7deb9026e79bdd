/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * authn.h - HTTP Basic credentials checked as mod_auth_basic and
 * mod_authn_file check them: the user's line in AuthUserFile (read at each
 * check, as httpd does) and apr-util's apr_password_validate(), which
 * reads every hash htpasswd writes (bcrypt, apr1 MD5, SHA1, crypt); and
 * the groups AuthGroupFile puts a user in (mod_authz_groupfile).
 */
#ifndef KBAL_AUTHN_H
#define KBAL_AUTHN_H

#include <stddef.h>
#include "authz.h"



/* An Authorization header's value (hdr, len): 1 and the user in user
 * (ulen bytes at most) when it proves a user of a's AuthUserFile; 0 when
 * not (no "Basic", a bad encoding, an unknown user, a wrong password, an
 * unreadable file: why in why, for the log). */
int kbal_authn_basic(const struct kbal_authz *a, const char *hdr, size_t len, char *user,
		     size_t ulen, const char **why);

/* the groups user is in, from AuthGroupFile's "GROUP: USER USER ..." lines
 * (mod_authz_groupfile; read at each check, as httpd reads it), into out[]
 * (at most max, an empty name after the last); their count, -1 when the
 * file cannot be read */
int kbal_authn_groups(const char *file, const char *user, char (*out)[KBAL_AUTHZ_NAME],
		      unsigned max);

#endif
