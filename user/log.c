// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "logfile.h"

int kbal_log_level = KBAL_INFO;
static const char *log_prog = "kbal";
static struct kbal_logfile *log_file;

void kbal_log_to(struct kbal_logfile *f)
{
	log_file = f;
}

/* httpd's error log line: [Sat Dec 05 01:30:00.123456 2026] [kbal:info] [pid N] */
static void to_file(int level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[2048], when[64];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%a %b %d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "[%s.%06ld %d] [kbal:%s] [pid %d] ", when,
		     ts.tv_nsec / 1000, tm.tm_year + 1900, names[level], (int)getpid());
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (n > 0)
		kbal_logfile_write(log_file, line, n);
}

void kbal_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level > kbal_log_level)
		return;
	va_start(ap, fmt);
	if (log_file) {
		to_file(level, fmt, ap);
	} else {
		fprintf(stderr, "%s: %s: ", log_prog, names[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int ours = level == LIBBPF_WARN ? KBAL_WARN :
		   level == LIBBPF_INFO ? KBAL_DEBUG : KBAL_DEBUG + 1;

	if (ours > kbal_log_level)
		return 0;
	fprintf(stderr, "%s: libbpf: ", log_prog);
	return vfprintf(stderr, fmt, ap);
}

void kbal_log_init(const char *prog, int level)
{
	log_prog = prog;
	kbal_log_level = level;
	libbpf_set_print(libbpf_print);
}
