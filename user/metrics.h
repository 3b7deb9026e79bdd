/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * metrics.h - kbal's Prometheus endpoint (<Location /metrics> with
 * SetHandler kbal-metrics, behind the same access rules as the manager):
 * per member requests (Apache's Elected: those the kernel keeps
 * included), bytes both ways (live connections included), connect
 * failures, open connections, status; per balancer totals; connections by
 * data path; the kernel's counters. Text format 0.0.4 (promtool checks it).
 */
#ifndef KBAL_METRICS_H
#define KBAL_METRICS_H

#include <stddef.h>

struct kbal_daemon;

/* A complete HTTP/1.1 200 response (malloc'd; "Connection: close" unless
 * keep). 0, or -ENOMEM. */
int kbal_metrics_response(struct kbal_daemon *d, int keep, char **out, size_t *len);

#endif
