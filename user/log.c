// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>
#include "log.h"

int kbal_log_level = KBAL_INFO;
static const char *log_prog = "kbal";

void kbal_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level > kbal_log_level)
		return;
	fprintf(stderr, "%s: %s: ", log_prog, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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
