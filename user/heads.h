/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * heads.h - the heads kbald writes, as httpd's mod_proxy_http and
 * mod_headers would send them: the request's for its member, the
 * answer's for the client, and its own answers' (an error, a page).
 * The rewriting rules themselves are in rewrite.h and headers.h.
 */
#ifndef KBAL_HEADS_H
#define KBAL_HEADS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kbal_daemon;
struct kbal_conn;

/* the request's head for its member (the member picked) into
 * f->outbuf[UP]: 0, or -1 when it does not fit kbald's buffer */
int heads_request(struct kbal_daemon *d, struct kbal_conn *c);

/* the answer's head, complete in f->buf[DOWN], for the client into
 * f->outbuf[DOWN]: 0, or -1 when it does not fit */
int heads_response(struct kbal_daemon *d, struct kbal_conn *c);
/* an interim (1xx) answer's head, complete in f->buf[DOWN], as httpd's
 * ap_send_interim_response() writes it, into out: its lines as httpd
 * reads them (ProxyPassReverse, date_canon(), ProxyVia, the cookie maps),
 * without the hop-by-hop ones, no Date, Server or mod_headers' lines. Its
 * length, or -1 when it does not fit */
ssize_t heads_interim(struct kbal_daemon *d, struct kbal_conn *c, char *out, size_t cap);

/* kbald's own answer resp[0..len) with mod_headers' rules (an error
 * document takes the "always" ones only, a page both): replaced by a
 * malloc'd copy (*owned set) where a rule applies; 0, or -1 (left as it
 * was) when it does not fit */
int heads_own_answer(struct kbal_daemon *d, struct kbal_conn *c, char **resp, size_t *len,
		     int *owned);

/* kbald's own error answer of status (heads_error_page()) to a request
 * of c the kernel framed, which kbald holds nothing of (its path's
 * <Location>s unknown), ending the connection: with the "always" rules of
 * virtual host vhost (-1: the server's) as its other own error answers
 * take them, mod_proxy_balancer's variables where routed (its route
 * unknown; %t, %D: the request come at came, the loop's clock), its
 * signature naming host (the request's Host, NULL: none read), its head
 * as own_head_write() writes it. Into *out (malloc'd): its length, or -1 */
ssize_t heads_framed_error(const struct kbal_daemon *d, const struct kbal_conn *c, unsigned status,
			   int vhost, const char *host, int routed, uint64_t came, char **out);

/* httpd's Keep-Alive and "Connection: Keep-Alive" lines for the answer
 * to c's request, the connection going on after it: into out, their
 * length, 0 when the request did not ask (no keep-alive token) */
size_t heads_keepalive_lines(const struct kbal_daemon *d, const struct kbal_conn *c, char *out,
			     size_t cap);

/* kbald's own answer resp[0..len) to c's request, its head as httpd
 * writes its own (own_head_write(): Date, Server, Content-Type last),
 * with those lines before Content-Type where keep (the connection goes on
 * after it): a malloc'd copy, *owned set; 0, or -1 (left as it was) */
int heads_own_finish(const struct kbal_daemon *d, const struct kbal_conn *c, int keep,
		     char **resp, size_t *len, int *owned);

/* kbald's own error answer of status: httpd's page, or what ErrorDocument
 * says for it (a text, or a 302 to a URL); keep: the connection goes on
 * (no "Connection: close"); extra: header lines; vhost: the request's
 * virtual host (-1: the server's), whose ServerAdmin a 500's page names;
 * host: the request's Host as sent (NULL or "": none), which its
 * ServerSignature names (heads_signature()). Its length, or -1 */
ssize_t heads_error_page(const struct kbal_daemon *d, int vhost, const char *host,
			 unsigned status, int keep, const char *extra, char *out, size_t outlen);
/* the same with reason (NULL: httpd's) for its status line and page */
ssize_t heads_error_page_reason(const struct kbal_daemon *d, int vhost, const char *host,
				unsigned status, const char *reason, int keep, const char *extra,
				char *out, size_t outlen);

/* the same with why, mod_proxy's ap_proxyerror() reason, on the page
 * (kbal_page_error_notes()) */
ssize_t heads_error_page_notes(const struct kbal_daemon *d, int vhost, const char *host,
			       unsigned status, const char *reason, const char *why, int keep,
			       const char *extra, char *out, size_t outlen);

/* httpd's ap_psignature(prefix, r) for a request of virtual host vhost
 * (-1: the server's) whose Host was host (NULL or "": none): its
 * ServerSignature's line (kbal_page_signature()), the name and port
 * ap_get_server_name() and ap_get_server_port() give under
 * UseCanonicalName, the banner ServerTokens says, its ServerAdmin. Into
 * out (KBAL_PAGE_SIG_SIZE is enough), out; "" under Off */
const char *heads_signature(const struct kbal_daemon *d, int vhost, const char *host,
			    const char *prefix, char *out, size_t cap);

/* "http://NAME[:PORT]": this server as its own URLs name it (a Redirect's
 * relative target, ProxyPassReverse's rewritten Location) */
void heads_self_url(const struct kbal_daemon *d, const struct kbal_conn *c, char *out, size_t cap);

#endif /* KBAL_HEADS_H */
