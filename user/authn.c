// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* authn.c - Basic credentials against an htpasswd file (authn.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_general.h>
#include <apr_base64.h>
#include <apr_md5.h>
#include "authn.h"
#include "authz.h"

#define CRED_MAX 512                      /* user:password, decoded */

/* the user's hash in the file; 0, or -1 (no such user, or no file) */
static int user_hash(const char *file, const char *user, char *hash, size_t hlen,
		     const char **why)
{
	char line[1024];
	size_t ulen = strlen(user);
	FILE *f = fopen(file, "re");
	int found = -1;

	if (!f) {
		*why = "AuthUserFile cannot be read";
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *end = line + strcspn(line, "\r\n");

		*end = '\0';
		if (line[0] == '#' || strncmp(line, user, ulen) || line[ulen] != ':')
			continue;
		if (strlen(line + ulen + 1) < hlen) {
			strcpy(hash, line + ulen + 1);
			found = 0;
		}
		break;
	}
	fclose(f);
	if (found)
		*why = "no such user";
	return found;
}

int kbal_authn_basic(const struct kbal_authz *a, const char *hdr, size_t len, char *user,
		     size_t ulen, const char **why)
{
	static int apr_ready;
	char enc[CRED_MAX * 4 / 3 + 8], cred[CRED_MAX + 8], hash[256], *colon;
	size_t i = 0;
	int n;

	*why = "no credentials";
	if (!hdr)
		return 0;
	/* "Basic" SP token68 (the scheme's name in any case, as httpd) */
	while (i < len && hdr[i] == ' ')
		i++;
	if (len - i < 6 || strncasecmp(hdr + i, "Basic", 5) || hdr[i + 5] != ' ') {
		*why = "not Basic credentials";
		return 0;
	}
	for (i += 6; i < len && hdr[i] == ' '; i++)
		;
	if (len - i >= sizeof(enc) || len == i) {
		*why = "credentials too long or empty";
		return 0;
	}
	memcpy(enc, hdr + i, len - i);
	enc[len - i] = '\0';
	if (!apr_ready) {
		if (apr_initialize() != APR_SUCCESS) {
			*why = "apr_initialize() failed";
			return 0;
		}
		apr_ready = 1;
	}
	if (apr_base64_decode_len(enc) > (int)sizeof(cred)) {
		*why = "credentials too long";
		return 0;
	}
	n = apr_base64_decode(cred, enc);
	if (n <= 0 || (size_t)n >= sizeof(cred) || memchr(cred, '\0', n)) {
		*why = "a bad encoding";
		return 0;
	}
	cred[n] = '\0';
	colon = strchr(cred, ':');
	if (!colon || colon == cred || (size_t)(colon - cred) >= ulen) {
		*why = "no user name";
		return 0;
	}
	*colon = '\0';
	if (user_hash(a->userfile, cred, hash, sizeof(hash), why))
		return 0;
	if (apr_password_validate(colon + 1, hash) != APR_SUCCESS) {
		*why = "a wrong password";
		memset(cred, 0, sizeof(cred));
		return 0;
	}
	strcpy(user, cred);
	memset(cred, 0, sizeof(cred));
	*why = NULL;
	return 1;
}

int kbal_authn_groups(const char *file, const char *user, char (*out)[KBAL_AUTHZ_NAME],
		      unsigned max)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned n = 0;

	if (!f)
		return -1;
	/* as groups_for_user(): a '#' line or one without ':' is skipped; the
	 * group's name is what comes before the ':', its users the words
	 * after it */
	while (n < max && getline(&line, &cap, f) >= 0) {
		char *colon = strchr(line, ':'), *save = NULL, *w;
		char *name = line;

		if (line[0] == '#' || !colon)
			continue;
		*colon = '\0';
		while (*name == ' ' || *name == '\t')
			name++;
		for (w = strtok_r(colon + 1, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save))
			if (!strcmp(w, user)) {
				snprintf(out[n++], KBAL_AUTHZ_NAME, "%s", name);
				break;
			}
	}
	free(line);
	fclose(f);
	if (n < max)
		out[n][0] = '\0';
	return (int)n;
}
