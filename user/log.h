/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* log.h - a small logger; libbpf's messages go through it too. */
#ifndef KBAL_LOG_H
#define KBAL_LOG_H

enum kbal_log_level { KBAL_ERR = 0, KBAL_WARN, KBAL_INFO, KBAL_DEBUG };

extern int kbal_log_level;

void kbal_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kbal_log_init(const char *prog, int level);

struct kbal_logfile;
/* From now on, messages go to f (ErrorLog, logfile.h) as httpd writes its
 * error log: "[time] [kbal:level] [pid N] message"; NULL: stderr again */
void kbal_log_to(struct kbal_logfile *f);

#define log_err(...)   kbal_log(KBAL_ERR, __VA_ARGS__)
#define log_warn(...)  kbal_log(KBAL_WARN, __VA_ARGS__)
#define log_info(...)  kbal_log(KBAL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (kbal_log_level >= KBAL_DEBUG) kbal_log(KBAL_DEBUG, __VA_ARGS__); } while (0)

#endif
