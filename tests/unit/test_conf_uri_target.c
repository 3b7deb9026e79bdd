// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/conf_uri.c: the request-target as httpd's protocol.c checks it, and an
 * absolute-form target's host as vhost.c makes it the request's (the cases
 * tests/e2e/test_request_target.py compares with apache2). */
#include <string.h>
#include "unit.h"
#include "conf.h"

static void target(const char *method, const char *url, enum kbal_target want)
{
	ASSERT_EQ(kbal_conf_uri_target(method, strlen(method), url, strlen(url)), want, url);
}

UNIT_TEST(conf_uri_target_as_httpd)
{
	target("OPTIONS", "*", KBAL_TARGET_OPTIONS_STAR);
	target("GET", "*", KBAL_TARGET_BAD);
	target("GET", "/a#frag", KBAL_TARGET_BAD);
	target("GET", "/a?q=1#f", KBAL_TARGET_BAD);
	target("GET", "a/b", KBAL_TARGET_BAD);
	target("GET", "example.test:443", KBAL_TARGET_BAD);
	target("GET", "mailto:x", KBAL_TARGET_BAD);
	target("GET", "http:x", KBAL_TARGET_BAD);
	target("GET", "", KBAL_TARGET_BAD);
	target("GET", "/ok", KBAL_TARGET_OK);
	target("GET", "http://h/x", KBAL_TARGET_OK);
	target("GET", "https://h", KBAL_TARGET_OK);
	target("CONNECT", "example.test:443", KBAL_TARGET_OK);
}

static void host(const char *url, int want, const char *out)
{
	char got[64] = "(none)";

	ASSERT_EQ(kbal_conf_uri_absolute_host(url, strlen(url), got, sizeof(got)), want, url);
	if (want == 1)
		ASSERT_STREQ(got, out, url);
}

UNIT_TEST(conf_uri_absolute_host_as_httpd)
{
	host("http://Other.Example:81/x", 1, "other.example:81");
	host("HTTP://other.example./x?q=1", 1, "other.example");
	host("http://[::1]:81/x", 1, "[::1]:81");
	host("http:///x", 1, "");
	host("http://other.example", 1, "other.example");
	host("https://other.example/x", 0, NULL);
	host("/x", 0, NULL);
	host("http://u:p@other.example/x", -1, NULL);
	host("http://1.2.3/x", -1, NULL);
	host("http://a b/x", -1, NULL);
	host("http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/", -1, NULL);
}

static void connect_host(const char *url, int want, const char *out)
{
	char got[64] = "(none)";

	ASSERT_EQ(kbal_conf_uri_connect_host(url, strlen(url), got, sizeof(got)), want, url);
	if (want == 1)
		ASSERT_STREQ(got, out, url);
}

/* what httpd answered beside kbal (tests/e2e/test_connect.py) */
UNIT_TEST(conf_uri_connect_host_as_httpd)
{
	connect_host("example.com:443", 1, "example.com:443");
	connect_host("Example.COM.:443", 1, "example.com:443");
	connect_host("[::1]:443", 1, "[::1]:443");
	connect_host("a:0", 1, "a:0");
	connect_host("a:+1", 1, "a:+1");
	connect_host("example.com", -1, NULL);
	connect_host("a:", -1, NULL);
	connect_host("a:b:c", -1, NULL);
	connect_host("a:443/x", -1, NULL);
	connect_host("u@a:443", -1, NULL);
	connect_host("/x", -1, NULL);
	connect_host("http://a/b", -1, NULL);
	connect_host("*", -1, NULL);
	connect_host("[::1]443", -1, NULL);
	connect_host(":443", 1, ":443");
	connect_host("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1", -1, NULL);
}
