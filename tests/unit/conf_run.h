/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* conf_run.h - a configuration text read as kbald reads it, its result,
 * error and warnings kept, for the configuration unit tests */
#ifndef KBAL_TEST_CONF_RUN_H
#define KBAL_TEST_CONF_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "conf.h"

struct run {
	struct kbal_conf *c;              /* ~3 MB: never on the stack */
	int rc;
	char err[512];
	int nwarn;
	char warn[4096];                  /* warnings, one a line */
};

static void collect(void *data, const char *msg)
{
	struct run *r = data;
	size_t n = strlen(r->warn);

	r->nwarn++;
	snprintf(r->warn + n, sizeof(r->warn) - n, "%s\n", msg);
}

static struct run *run(const char *text)
{
	struct run *r = calloc(1, sizeof(*r));

	r->c = malloc(sizeof(*r->c));
	r->rc = kbal_conf_parse("t.conf", text, r->c, r->err, sizeof(r->err), collect, r);
	return r;
}

static void done(struct run *r)
{
	free(r->c);
	free(r);
}

/* text must fail to load with exactly err */
static void expect_err(const char *text, const char *err)
{
	struct run *r = run(text);

	ASSERT_EQ(r->rc, -1, err);
	ASSERT_STREQ(r->err, err, "error text");
	done(r);
}

#endif /* KBAL_TEST_CONF_RUN_H */
