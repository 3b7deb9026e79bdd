/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hcexpr.h - ProxyHCExpr's conditions: the part of httpd's ap_expr that
 * health checks use, on a check's answer. Words: %{REQUEST_STATUS},
 * hc('body') (its first KBAL_HCEXPR_BODY bytes), 'string', "string",
 * numbers. Tests: == != < <= > >= (strings), -eq -ne -lt -le -gt -ge
 * (integers), =~ !~ against /regex/ or m#regex# (PCRE2, i for caseless),
 * in {'a', 'b'}; combined with ! && || ( ), true, false.
 */
#ifndef KBAL_HCEXPR_H
#define KBAL_HCEXPR_H

#include <stddef.h>

#define KBAL_HCEXPR_BODY (64u << 10)

struct kbal_hcexpr;

/* Compile text (ProxyHCExpr's {...}, braces included or not): the
 * condition, or NULL and why in err */
struct kbal_hcexpr *kbal_hcexpr_compile(const char *text, char *err, size_t errlen);
void kbal_hcexpr_free(struct kbal_hcexpr *e);

/* does the condition reads the answer's body? */
int kbal_hcexpr_wants_body(const struct kbal_hcexpr *e);

/* 1 passed, 0 failed */
int kbal_hcexpr_eval(const struct kbal_hcexpr *e, unsigned status, const char *body,
		     size_t body_len);

#endif
