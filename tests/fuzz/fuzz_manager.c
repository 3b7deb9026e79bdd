// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_manager.c - the balancer-manager's forms (kbal_manager_apply): a
 * GET's query or a POST's body in Apache's field names, with a Referer,
 * against two balancers (one with a free slot for b_nwrkr adds) held in
 * plain memory where kbald has the pinned maps.
 *
 * Input: 1 option byte (bit 0 POST, bits 1-2 the Referer: none, this
 * server's, another's, with userinfo), then the query or body. Checks
 * beyond ASan and UBSan: the answer's status and message are whole; what
 * a request without this server's Referer, or without the balancer's
 * nonce, asks changes nothing; any change keeps the maps' invariants
 * (load factors 1.00-100.00, lbsets 0-99, routes NUL-terminated, members only
 * into a free slot, nothing outside the balancers' members touched).
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "maps.h"
#include "manager_form.h"

#define NBAL 2
#define NMEM 5                      /* 2 + 2 members, and a free slot */

static const char nonces[NBAL][KBAL_NONCE_LEN] = { "0123456789abcdef0123456789abcdef", "" };
static const char *const referers[] = { NULL, "http://front.test/balancer-manager",
					"http://evil.test/", "http://front.test@evil.test/" };

static void setup(struct kbal_meta *meta, struct kbal_balancer *bal, struct kbal_member *mem,
		  struct kbal_member_conf *mc)
{
	static const char *const urls[NMEM] = { "http://127.0.0.1:8081", "http://127.0.0.1:8082",
						"http://127.0.0.1:9081", "http://127.0.0.1:9082",
						"" };

	memset(meta, 0, sizeof(*meta));
	memset(bal, 0, sizeof(*bal) * KBAL_MAX_BALANCERS);
	memset(mem, 0, sizeof(*mem) * KBAL_MAX_MEMBERS);
	memset(mc, 0, sizeof(*mc) * KBAL_MAX_MEMBERS);
	meta->nbalancers = NBAL;
	meta->nmembers = NMEM;
	strcpy(bal[0].name, "mycluster");
	strcpy(bal[0].sticky, "ROUTEID");
	bal[0].first_member = 0;
	bal[0].nmembers = 2;
	bal[0].slots = 2;
	strcpy(bal[1].name, "other");
	bal[1].first_member = 2;
	bal[1].nmembers = 2;
	bal[1].slots = 3;               /* and the free slot */
	for (unsigned i = 0; i < NMEM; i++) {
		strcpy(mem[i].url, urls[i]);
		if (urls[i][0])
			mem[i].route[0] = (char)('1' + i);
		mem[i].balancer = i < 2 ? 0 : 1;
		mem[i].lbfactor = 100;
		mem[i].retry_sec = 60;
	}
}

static int str_whole(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_maps(const struct kbal_maps *m, const struct kbal_balancer *bal0,
		       const struct kbal_member *mem0)
{
	for (unsigned b = 0; b < NBAL; b++) {
		const struct kbal_balancer *bl = &m->balancers[b];

		FUZZ_CHECK(str_whole(bl->name, sizeof(bl->name)) && !strcmp(bl->name, bal0[b].name));
		FUZZ_CHECK(bl->first_member == bal0[b].first_member && bl->slots == bal0[b].slots);
		FUZZ_CHECK(bl->nmembers >= bal0[b].nmembers && bl->nmembers <= bl->slots);
		FUZZ_CHECK(bl->lbmethod <= 2);
	}
	for (unsigned i = 0; i < NMEM; i++) {
		const struct kbal_member *mb = &m->members[i];

		FUZZ_CHECK(str_whole(mb->url, sizeof(mb->url)));
		FUZZ_CHECK(str_whole(mb->route, sizeof(mb->route)));
		FUZZ_CHECK(str_whole(mb->redirect, sizeof(mb->redirect)));
		FUZZ_CHECK(mb->lbfactor >= 100 && mb->lbfactor <= 10000);
		FUZZ_CHECK(mb->lbset <= 99);
		FUZZ_CHECK(mb->balancer == mem0[i].balancer || (i == NMEM - 1 && mb->balancer == 1));
	}
	/* nothing past the balancers' members */
	for (unsigned i = NMEM; i < NMEM + 4; i++)
		FUZZ_CHECK(!memcmp(&m->members[i], &mem0[i], sizeof(mem0[i])));
	for (unsigned b = NBAL; b < NBAL + 2; b++)
		FUZZ_CHECK(!memcmp(&m->balancers[b], &bal0[b], sizeof(bal0[b])));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kbal_meta meta;
	static struct kbal_balancer bal[KBAL_MAX_BALANCERS], bal0[KBAL_MAX_BALANCERS];
	static struct kbal_member mem[KBAL_MAX_MEMBERS], mem0[KBAL_MAX_MEMBERS];
	static struct kbal_member_conf mc[KBAL_MAX_MEMBERS];
	struct fuzz_in in = { data, size };
	struct kbal_maps m = { .meta = &meta, .balancers = bal, .members = mem,
			       .members_conf = mc, .meta_fd = -1, .balancers_fd = -1,
			       .members_fd = -1, .members_conf_fd = -1 };
	struct kbal_manager_req q = { .server = "front.test", .server_len = 10 };
	uint8_t opt = fuzz_byte(&in);
	char msg[1024], *text;
	int xml, json, status, same_site;

	if (in.len > 1 << 14)
		return -1;
	setup(&meta, bal, mem, mc);
	memcpy(bal0, bal, sizeof(bal));
	memcpy(mem0, mem, sizeof(mem));
	text = fuzz_dup(in.p, in.len);   /* not NUL-terminated, as in kbald's buffer */
	q.post = opt & 1;
	if (q.post) {
		q.body = text;
		q.body_len = in.len;
	} else {
		q.query = text;
		q.query_len = in.len;
	}
	q.referer = referers[(opt >> 1) & 3];
	q.referer_len = q.referer ? strlen(q.referer) : 0;
	same_site = ((opt >> 1) & 3) == 1;
	status = kbal_manager_apply(&m, nonces, &q, msg, sizeof(msg), &xml, &json);
	FUZZ_CHECK(status == 200 || status == 400);
	FUZZ_CHECK(str_whole(msg, sizeof(msg)));
	FUZZ_CHECK(xml == 0 || xml == 1);
	FUZZ_CHECK(json == 0 || json == 1);
	/* the nonce's bytes, plain or %-encoded, are needed for any change */
	if (!same_site || (!memmem(text, in.len, nonces[0], 32) && !memchr(text, '%', in.len))) {
		FUZZ_CHECK(status == 200);
		FUZZ_CHECK(!memcmp(bal, bal0, sizeof(bal)) && !memcmp(mem, mem0, sizeof(mem)));
	}
	check_maps(&m, bal0, mem0);
	free(text);
	return 0;
}
