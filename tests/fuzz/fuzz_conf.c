// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_conf.c - the configuration reader (kbal_conf_parse, from a string
 * as kbal_conf_load reads a file: NUL ends it) and, for a configuration
 * that loads, what kbald derives from it per request: the ProxyPass and
 * <Location> matches and the Header lines it adds.
 *
 * Host names are looked up as numbers only (getaddrinfo below): no DNS
 * while fuzzing, and the same answer every run.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include "conf.h"
#include "fuzz.h"
#include "headers.h"

static const char REQ[] = "GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nCookie: r=1\r\n\r\n";

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	struct addrinfo h = { 0 };

	if (!real)
		real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

static void warned(void *data, const char *msg)
{
	(void)data;
	FUZZ_CHECK(msg && *msg);
}

static void derived(const struct kbal_conf *c)
{
	static const char *const uris[] = { "/", "/app/x?q", "/balancer-manager", "/a/../b" };
	char out[4096];

	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		for (int v = -1; v < (int)c->nvhost; v++) {
			int p = kbal_conf_match_pass(c, v, uris[i], strlen(uris[i]));

			FUZZ_CHECK(p < (int)c->npass && (p < 0 || c->pass[p].vhost == -1 ||
							 c->pass[p].vhost == v));
			kbal_conf_match_location(c, v, uris[i], strlen(uris[i]));
		}
	}
	for (unsigned b = 0; b < c->nbalancers; b++) {
		const struct kbal_conf_balancer *cb = &c->balancers[b];
		struct kbal_balancer bal = { 0 };
		struct kbal_member m = { 0 };

		if (!cb->nmembers)
			continue;
		memcpy(bal.name, cb->name, sizeof(bal.name));
		memcpy(m.url, cb->members[0].url, sizeof(m.url));
		memcpy(m.route, cb->members[0].route, sizeof(m.route));
		/* every rule applied to a response and to a request: the head
		 * stays a head (a start line, lines, the empty line) */
		struct kbal_hdr_env e = {
			.v = { .balancer = cb->name, .worker_name = m.url,
			       .worker_route = m.route, .route_changed = 1 },
			.request = REQ, .request_len = sizeof(REQ) - 1,
		};
		static const char resp[] = "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: b, c\r\n"
					   "Set-Cookie: s=1\r\nConnection: close\r\n\r\n";
		ssize_t n = kbal_headers_apply(c, KBAL_HDR_MASK(KBAL_HDR_OUT) |
					       KBAL_HDR_MASK(KBAL_HDR_ALWAYS), &e, resp,
					       sizeof(resp) - 1, out, sizeof(out));

		FUZZ_CHECK(n < 0 || (n >= 4 && !memcmp(out + n - 4, "\r\n\r\n", 4) &&
				     !memcmp(out, "HTTP/1.1 200 OK\r\n", 17)));
		n = kbal_headers_apply(c, KBAL_HDR_MASK(KBAL_HDR_IN), &e, REQ, sizeof(REQ) - 1,
				       out, sizeof(out));
		FUZZ_CHECK(n < 0 || (n >= 4 && !memcmp(out + n - 4, "\r\n\r\n", 4)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kbal_conf conf;
	char *text, err[512];

	if (size > 1 << 16)
		return -1;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (kbal_conf_parse("fuzz.conf", text, &conf, err, sizeof(err), warned, NULL) == 0)
		derived(&conf);
	else
		FUZZ_CHECK(err[0] && strlen(err) < sizeof(err));
	free(text);
	return 0;
}
