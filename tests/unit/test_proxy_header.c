// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* test_proxy_header.c - the PROXY protocol header kbald writes to members,
 * checked against the byte layouts of HAProxy's proxy-protocol.txt. */
#include <arpa/inet.h>
#include "inaddr.h"
#include "proxy_header.h"
#include "unit.h"

/* IPv4 as kbald has it: mapped (inaddr.h) */
static void addrs(struct sockaddr_in6 *src, struct sockaddr_in6 *dst)
{
	*src = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(51234) };
	*dst = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(80) };
	kbal_in6_set_v4(&src->sin6_addr, inet_addr("10.1.2.3"));
	kbal_in6_set_v4(&dst->sin6_addr, inet_addr("127.0.0.1"));
}

static void addrs6(struct sockaddr_in6 *src, struct sockaddr_in6 *dst)
{
	*src = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(51234) };
	*dst = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(80) };
	inet_pton(AF_INET6, "2001:db8::1", &src->sin6_addr);
	inet_pton(AF_INET6, "::1", &dst->sin6_addr);
}

UNIT_TEST(proxy_header_v1)
{
	struct sockaddr_in6 src, dst;
	char out[KBAL_PP_MAX];
	const char *want = "PROXY TCP4 10.1.2.3 127.0.0.1 51234 80\r\n";
	ssize_t n;

	addrs(&src, &dst);
	n = kbal_proxy_header(KBAL_PP_V1, &src, &dst, out, sizeof(out));
	if (ASSERT_EQ(n, strlen(want), "length"))
		ASSERT_TRUE(memcmp(out, want, n) == 0, "the line");
	ASSERT_EQ(kbal_proxy_header(KBAL_PP_V1, &src, &dst, out, 20), -1, "too small");
	ASSERT_EQ(kbal_proxy_header(KBAL_PP_OFF, &src, &dst, out, sizeof(out)), -1, "off");
}

UNIT_TEST(proxy_header_v2)
{
	static const unsigned char want[28] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21,                   /* version 2, PROXY */
		0x11,                   /* AF_INET, STREAM */
		0x00, 0x0c,             /* 12 bytes follow */
		10, 1, 2, 3, 127, 0, 0, 1,
		0xc8, 0x22,             /* 51234 */
		0x00, 0x50,             /* 80 */
	};
	struct sockaddr_in6 src, dst;
	char out[64];
	ssize_t n;

	addrs(&src, &dst);
	n = kbal_proxy_header(KBAL_PP_V2, &src, &dst, out, sizeof(out));
	if (ASSERT_EQ(n, sizeof(want), "length"))
		ASSERT_TRUE(memcmp(out, want, n) == 0, "the bytes");
	ASSERT_EQ(kbal_proxy_header(KBAL_PP_V2, &src, &dst, out, 27), -1, "too small");
}

/* TCP over IPv6: "TCP6", and version 2's family 0x21 with 36 bytes */
UNIT_TEST(proxy_header_ipv6)
{
	static const unsigned char want[52] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21,                   /* version 2, PROXY */
		0x21,                   /* AF_INET6, STREAM */
		0x00, 0x24,             /* 36 bytes follow */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0xc8, 0x22,             /* 51234 */
		0x00, 0x50,             /* 80 */
	};
	const char *line = "PROXY TCP6 2001:db8::1 ::1 51234 80\r\n";
	struct sockaddr_in6 src, dst;
	char out[KBAL_PP_MAX];
	ssize_t n;

	addrs6(&src, &dst);
	n = kbal_proxy_header(KBAL_PP_V1, &src, &dst, out, sizeof(out));
	if (ASSERT_EQ(n, strlen(line), "v1 length"))
		ASSERT_TRUE(memcmp(out, line, n) == 0, "the line");
	n = kbal_proxy_header(KBAL_PP_V2, &src, &dst, out, sizeof(out));
	if (ASSERT_EQ(n, sizeof(want), "v2 length"))
		ASSERT_TRUE(memcmp(out, want, n) == 0, "the bytes");
	ASSERT_EQ(kbal_proxy_header(KBAL_PP_V2, &src, &dst, out, 51), -1, "too small");
}
