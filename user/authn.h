/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * authn.h - HTTP Basic credentials checked as mod_auth_basic and
 * mod_authn_file check them: the user's line in AuthUserFile (read at each
 * check, as httpd does) and apr-util's apr_password_validate(), which
 * reads every hash htpasswd writes (bcrypt, apr1 MD5, SHA1, crypt).
 */
#ifndef KBAL_AUTHN_H
#define KBAL_AUTHN_H

#include <stddef.h>

struct kbal_authz;

/* An Authorization header's value (hdr, len): 1 and the user in user
 * (ulen bytes at most) when it proves a user of a's AuthUserFile; 0 when
 * not (no "Basic", a bad encoding, an unknown user, a wrong password, an
 * unreadable file: why in why, for the log). */
int kbal_authn_basic(const struct kbal_authz *a, const char *hdr, size_t len, char *user,
		     size_t ulen, const char **why);

#endif
