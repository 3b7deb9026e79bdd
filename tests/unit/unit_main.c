// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Runs every UNIT_TEST linked in (or those named on the command line). */
#include <stdlib.h>
#include "unit.h"

int unit_failures;

extern const struct unit_test __start_unit_tests[], __stop_unit_tests[];

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (const struct unit_test *t = __start_unit_tests; t < __stop_unit_tests; t++) {
		if (argc > 1) {
			int want = 0;
			for (int i = 1; i < argc; i++)
				want |= strcmp(argv[i], t->name) == 0;
			if (!want)
				continue;
		}
		unit_failures = 0;
		t->fn();
		printf("%s: %s\n", unit_failures ? "FAIL" : "ok", t->name);
		if (unit_failures)
			failed++;
		else
			passed++;
	}
	const char *name = strrchr(argv[0], '/');

	printf("%s: %d passed, %d failed\n", name ? name + 1 : argv[0], passed, failed);
	return failed ? 1 : 0;
}
