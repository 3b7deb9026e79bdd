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

/* Apache's XML view (?xml=1), a complete HTTP/1.1 200 response (keep:
 * without "Connection: close") */
int kbal_manager_xml(const struct kbal_maps *m, int keep, char **out, size_t *len);

/* kbal's JSON view (?json=1): the page's state for scripts, 200 response */
int kbal_manager_json(const struct kbal_maps *m, int keep, char **out, size_t *len);

/* A complete HTTP/1.1 200 response (malloc'd; "Connection: close" unless
 * keep): the page, its forms posting to action with each balancer's nonce,
 * and msg (what the request changed, or why not) on top when not empty. */
int kbal_manager_page(const struct kbal_maps *m, const char (*nonces)[KBAL_NONCE_LEN],
		      const char *action, const char *msg, int keep, char **out, size_t *len);

#endif
