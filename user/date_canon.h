/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * date_canon.h - mod_proxy_http's date_canon(): the value of a member's
 * Date, Expires or Last-Modified line as httpd sends it on
 * (process_proxy_header()): a date apr_date_parse_http() reads (RFC 1123,
 * RFC 850, asctime(), a wrong weekday...) written again by
 * apr_rfc822_date(), anything else as it is.
 */
#ifndef KBAL_DATE_CANON_H
#define KBAL_DATE_CANON_H

#include <stddef.h>

/* APR_RFC822_DATE_LEN: "Www, DD Mon YYYY HH:MM:SS GMT" and its NUL */
#define KBAL_DATE_CANON_LEN 30

/* is the header name (len bytes, any case) one date_canon() rewrites? */
int kbal_date_header(const char *name, size_t len);

/* The value v (len bytes) as date_canon() returns it: out (of
 * KBAL_DATE_CANON_LEN) with *n its length, or v itself (*n = len) where
 * apr does not read it as a date */
const char *kbal_date_canon(const char *v, size_t len, char *out, size_t *n);

#endif /* KBAL_DATE_CANON_H */
