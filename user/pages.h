/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pages.h - the answers kbald writes itself, as httpd's
 * ap_send_error_response() writes them: status line, Location or the
 * extra lines, Content-Length, "Connection: close", Content-Type (Date and
 * Server come with own_head_write()), the page (modules/http/
 * http_protocol.c's texts).
 */
#ifndef KBAL_PAGES_H
#define KBAL_PAGES_H

#include <stddef.h>
#include <sys/types.h>

/*
 * A complete error response with Connection: close and httpd's page
 * (400 403 404 408 410 413 414 431 500 502 503 504; any other status is
 * sent as 500). Returns its length, or -1 if too long.
 */
ssize_t kbal_page_error(unsigned status, char *out, size_t outlen);

/* the same; keep: without "Connection: close" (the connection goes on);
 * extra: header lines to add, each ending in CRLF, or NULL */
/* does kbald have httpd's page for status? */
int kbal_page_known(unsigned status);

ssize_t kbal_page_error_keep(unsigned status, int keep, const char *extra, char *out,
			     size_t outlen);

/* the same with reason (NULL: httpd's) in its status line, title and
 * heading, as httpd's page names a proxied answer's (ProxyErrorOverride) */
ssize_t kbal_page_error_reason(unsigned status, const char *reason, int keep, const char *extra,
			       char *out, size_t outlen);

/* the same with why as the page's reason, as mod_proxy's ap_proxyerror()
 * has httpd's page name it ("Reason: <strong>why</strong>", on the pages
 * of 400, 403, 411 and 502); reason "Proxy Error" for its status line.
 * A 417's why is the Expect the client sent, which its page shows; a
 * 500's, the ServerAdmin it names */
ssize_t kbal_page_error_notes(unsigned status, const char *reason, const char *why,
			      const char *sig, int keep, const char *extra, char *out,
			      size_t outlen);
/* (sig: the page's last line, kbal_page_signature()'s; NULL or "" none,
 * as the wrappers above have it) */

/*
 * httpd's ap_psignature(), the line ServerSignature ends its pages with:
 * prefix, then "<address>BANNER Server at NAME Port PORT</address>\n",
 * NAME a link to admin ("mailto:" unless admin is a URL) under
 * KBAL_SIG_EMAIL; "" under KBAL_SIG_OFF (enum kbal_server_signature).
 * banner is ap_get_server_banner()'s (ServerTokens), name
 * ap_get_server_name()'s; name and admin are escaped. Into out, out ("" where
 * it does not fit in cap).
 */
#define KBAL_PAGE_SIG_SIZE 3072       /* its longest: names and admin escaped */

const char *kbal_page_signature(unsigned sig, const char *prefix, const char *banner,
				const char *admin, const char *name, unsigned port, char *out,
				size_t cap);

/* ErrorDocument CODE "TEXT": status with text as its body (httpd's
 * ap_send_error_response()); -1 for a status kbald has no page for, or
 * when it does not fit */
ssize_t kbal_page_text(unsigned status, const char *reason, const char *text, int keep,
		       const char *extra, char *out, size_t outlen);

/* mod_alias's redirection: status (301, 302, 303, 307, 308), the
 * Location, httpd's page ending in sig (NULL: none); -1 when it does not
 * fit */
ssize_t kbal_page_redirect(unsigned status, const char *location, const char *sig, int keep,
			   char *out, size_t outlen);

#endif /* KBAL_PAGES_H */
