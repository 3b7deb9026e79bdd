/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* manager.h - the /balancer-manager page, rendered from the maps. */
#ifndef KBAL_MANAGER_H
#define KBAL_MANAGER_H

#include <stddef.h>
#include "manager_form.h"

struct kbal_maps;

/* Status letters as Apache shows them ("Ok", "Dis", "Err", "Stby"...). */
const char *kbal_status_str(unsigned status, char *buf, size_t len);

struct kbal_member;
struct kbal_member_conf;

/* what of a member was changed at run time (the manager, kbalctl set):
 * "status loadfactor ..." against the configured values, "" none (E, set
 * and cleared by failures, is not a change) */
const char *kbal_member_changes(const struct kbal_member *mb, const struct kbal_member_conf *cm,
				char *buf, size_t len);

/* those back to the configured values, in place */
void kbal_member_reset(struct kbal_member *mb, const struct kbal_member_conf *cm);

/* Apache's status words for a member ("Init Dis ", "Init Drn Ok ") */
const char *kbal_status_apache(unsigned status, char *buf, size_t len);

/* How a view's body is framed. httpd's balancer_display_page() ends the
 * page with ap_rflush(): its content-length filter sees the body before
 * its end and sets no length, so the page goes chunked to an HTTP/1.1
 * client, to the connection's end to an HTTP/1.0 one (which then ends),
 * with neither to a HEAD. The XML view is not flushed: it has its
 * Content-Length, but where ap_rputs() passed some of it on before its
 * end, its buffer (APR_BUCKET_BUFF_SIZE) full: beside apache2, a body of
 * 7983 bytes had its length, one of 8919 was chunked. */
enum kbal_mgr_frame {
	KBAL_MGR_LENGTH,                  /* Content-Length */
	KBAL_MGR_CHUNKED,                 /* Transfer-Encoding: chunked */
	KBAL_MGR_HEAD,                    /* no framing line: a HEAD's */
	KBAL_MGR_CLOSE,                   /* none: the connection's end frames it */
};

#define KBAL_MGR_WRITE_BUF 8000           /* httpd's APR_BUCKET_BUFF_SIZE */

/* The views below: a complete HTTP/1.1 200 response (malloc'd;
 * "Connection: close" unless *keep, which KBAL_MGR_CLOSE clears) */

/* Apache's XML view (?xml=1), its body framed by its length, or as frame
 * says (not KBAL_MGR_LENGTH: the framing without one) where httpd's would
 * have none */
int kbal_manager_xml(const struct kbal_maps *m, int *keep, int frame, char **out, size_t *len);

/* kbal's JSON view (?json=1): the page's state for scripts, with its length */
int kbal_manager_json(const struct kbal_maps *m, int *keep, char **out, size_t *len);

/* The page, framed as frame says, its forms posting to action with each
 * balancer's nonce, msg (what the request changed, or why not) on top
 * when not empty, and sig last, where balancer_display_page() puts
 * ap_psignature() (ServerSignature: heads_signature(); "" none). */
int kbal_manager_page(const struct kbal_maps *m, const char (*nonces)[KBAL_NONCE_LEN],
		      const char *action, const char *msg, const char *sig, int *keep, int frame,
		      char **out, size_t *len);

#endif
