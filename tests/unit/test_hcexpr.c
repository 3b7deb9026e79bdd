// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/hcexpr.c: ProxyHCExpr's conditions, as mod_proxy_hcheck's examples
 * write them, on answers of a status and a body. */
#include <stdlib.h>
#include <string.h>
#include "hcexpr.h"
#include "unit.h"

static int run(const char *text, unsigned status, const char *body)
{
	char err[256];
	struct kbal_hcexpr *e = kbal_hcexpr_compile(text, err, sizeof(err));
	int r;

	if (!e)
		return -1;
	r = kbal_hcexpr_eval(e, status, body, body ? strlen(body) : 0);
	kbal_hcexpr_free(e);
	return r;
}

static const char *error_of(const char *text)
{
	static char err[256];
	struct kbal_hcexpr *e = kbal_hcexpr_compile(text, err, sizeof(err));

	if (e) {
		kbal_hcexpr_free(e);
		return "";
	}
	return err;
}

UNIT_TEST(hcexpr_httpd_examples)
{
	/* mod_proxy_hcheck's documentation */
	ASSERT_EQ(run("{%{REQUEST_STATUS} =~ /^[234]/}", 204, NULL), 1, "ok234 on 204");
	ASSERT_EQ(run("{%{REQUEST_STATUS} =~ /^[234]/}", 503, NULL), 0, "ok234 on 503");
	ASSERT_EQ(run("{%{REQUEST_STATUS} =~ /^[5]/}", 503, NULL), 1, "gdown on 503");
	ASSERT_EQ(run("{hc('body') !~ /Under maintenance/}", 200, "all good"), 1, "not in maint");
	ASSERT_EQ(run("{hc('body') !~ /Under maintenance/}", 200, "<h1>Under maintenance</h1>"), 0,
		  "in maint");
}

UNIT_TEST(hcexpr_tests_and_logic)
{
	ASSERT_EQ(run("%{REQUEST_STATUS} -eq 200 && hc(\"body\") =~ /OK/i", 200, "status: ok"), 1,
		  "and, caseless");
	ASSERT_EQ(run("%{REQUEST_STATUS} -ge 500 || %{REQUEST_STATUS} == '404'", 404, NULL), 1, "or");
	ASSERT_EQ(run("!(%{REQUEST_STATUS} -lt 300)", 200, NULL), 0, "not");
	ASSERT_EQ(run("%{REQUEST_STATUS} in {'200', '204'}", 204, NULL), 1, "in");
	ASSERT_EQ(run("%{REQUEST_STATUS} in {'200', '204'}", 201, NULL), 0, "not in");
	ASSERT_EQ(run("hc('body') =~ m#a/b#", 200, "x a/b y"), 1, "m#...#");
	ASSERT_EQ(run("true && !false", 500, NULL), 1, "true, false");
	ASSERT_EQ(run("'abc' < 'abd'", 200, NULL), 1, "string <");
	ASSERT_EQ(run("%{REQUEST_STATUS} -ne 204", 204, NULL), 0, "-ne");
}

UNIT_TEST(hcexpr_errors)
{
	ASSERT_HAS(error_of("{%{REMOTE_ADDR} == '1'}"), "%{REMOTE_ADDR}: a health check knows",
		   "an unknown variable");
	ASSERT_HAS(error_of("{hc('body') =~ /(/}"), "/(/: missing closing parenthesis",
		   "a bad regex");
	ASSERT_HAS(error_of("{%{REQUEST_STATUS} =~ /2/"), "'}' expected", "no closing brace");
	ASSERT_HAS(error_of("{%{REQUEST_STATUS}}"), "a test (==, =~, -eq, in, ...) expected",
		   "no test");
	ASSERT_HAS(error_of("{'a' == 'b' 'c'}"), "'}' expected", "trailing words");
}
