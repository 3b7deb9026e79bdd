/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * unit.h - a tiny test harness in the spirit of selftests/bpf: ASSERT_*
 * return bool, so a test reads `if (!ASSERT_EQ(a, b, "what")) return;`.
 * Each test file defines its tests with UNIT_TEST(name); the runner
 * (unit_main.c) runs them all and prints "N passed, N failed".
 */
#ifndef KBAL_UNIT_H
#define KBAL_UNIT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

extern int unit_failures; /* failed assertions in the current test */

#define UNIT_TEST(n)                                                        \
	static void n(void);                                                \
	static const struct unit_test unit_##n                              \
		__attribute__((used, section("unit_tests"), aligned(8))) = { #n, n }; \
	static void n(void)

#define ASSERT_TRUE(c, what) ({                                             \
	bool ok_ = (c);                                                     \
	if (!ok_) {                                                         \
		fprintf(stderr, "  %s:%d: %s: expected true: %s\n",         \
			__FILE__, __LINE__, what, #c);                      \
		unit_failures++;                                            \
	}                                                                   \
	ok_; })

#define ASSERT_EQ(a, b, what) ({                                            \
	long long a_ = (long long)(a), b_ = (long long)(b);                 \
	bool ok_ = a_ == b_;                                                \
	if (!ok_) {                                                         \
		fprintf(stderr, "  %s:%d: %s: %s=%lld, expected %lld\n",    \
			__FILE__, __LINE__, what, #a, a_, b_);              \
		unit_failures++;                                            \
	}                                                                   \
	ok_; })

#define ASSERT_STREQ(a, b, what) ({                                         \
	const char *a_ = (a), *b_ = (b);                                    \
	bool ok_ = a_ && b_ && strcmp(a_, b_) == 0;                         \
	if (!ok_) {                                                         \
		fprintf(stderr, "  %s:%d: %s: \"%s\", expected \"%s\"\n",   \
			__FILE__, __LINE__, what, a_ ? a_ : "(null)",       \
			b_ ? b_ : "(null)");                                \
		unit_failures++;                                            \
	}                                                                   \
	ok_; })

/* a contains b */
#define ASSERT_HAS(a, b, what) ({                                           \
	const char *a_ = (a), *b_ = (b);                                    \
	bool ok_ = a_ && b_ && strstr(a_, b_);                              \
	if (!ok_) {                                                         \
		fprintf(stderr, "  %s:%d: %s: \"%s\" does not contain \"%s\"\n", \
			__FILE__, __LINE__, what, a_ ? a_ : "(null)",       \
			b_ ? b_ : "(null)");                                \
		unit_failures++;                                            \
	}                                                                   \
	ok_; })

#endif /* KBAL_UNIT_H */
