// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* manager_form.c - the balancer-manager's changes (manager_form.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "kbal_shared.h"
#include "maps.h"
#include "manager_form.h"
#include "member_add.h"

#define FIELDS_MAX 32
#define FIELD_LEN  256
#define BODY_READ  1024                   /* Apache reads this much of the body */

struct field {
	char key[32];
	char val[FIELD_LEN];
};

struct fields {
	unsigned n;
	struct field f[FIELDS_MAX];
};

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* ap_unescape_url(): %XX decoded ('+' stays '+'); 0, or -1 on a bad escape */
static int unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if (hexval(s[1]) < 0 || hexval(s[2]) < 0)
			return -1;
		*o++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
		s += 2;
	}
	*o = '\0';
	return 0;
}

static const char *get(const struct fields *fs, const char *key)
{
	for (unsigned i = fs->n; i-- > 0;)    /* apr_table_set: the last one wins */
		if (!strcmp(fs->f[i].key, key))
			return fs->f[i].val;
	return NULL;
}

/* push2table(): key=value&... ; values unescaped twice, as Apache's; only
 * the keys of allowed (NULL: all) */
static void parse(struct fields *fs, const char *s, size_t len, const char *const *allowed)
{
	while (len) {
		size_t n = 0, k;
		char item[sizeof(fs->f[0].key) + FIELD_LEN + 2], *eq;
		struct field *f;

		while (n < len && s[n] != '&')
			n++;
		if (n && n < sizeof(item)) {
			memcpy(item, s, n);
			item[n] = '\0';
			eq = strchr(item, '=');
			if (eq)
				*eq++ = '\0';
			else
				eq = item + n;
			k = strlen(item);
			if (k && k < sizeof(fs->f[0].key) && strlen(eq) < FIELD_LEN &&
			    fs->n < FIELDS_MAX) {
				f = &fs->f[fs->n];
				strcpy(f->key, item);
				strcpy(f->val, eq);
				if (!unescape(f->key) && !unescape(f->val) && !unescape(f->val)) {
					int ok = !allowed;

					for (const char *const *a = allowed; a && *a; a++)
						ok |= !strcmp(*a, f->key);
					fs->n += ok;
				}
			}
		}
		if (n < len)
			n++;
		s += n;
		len -= n;
	}
}

/* safe_referer(): the Referer's host is the request's server name */
static int same_site(const struct kbal_manager_req *q)
{
	const char *r = q->referer, *h, *end;
	size_t n;

	if (!r)
		return 0;
	end = r + q->referer_len;
	h = memchr(r, ':', q->referer_len);
	if (!h || end - h < 3 || h[1] != '/' || h[2] != '/')
		return 0;
	h += 3;
	/* the value is not NUL-terminated (it is in the request's buffer) */
	for (n = 0; h + n < end && !strchr(":/?#", h[n]); n++)
		;
	if (memchr(h, '@', n))
		return 0;                   /* userinfo: not worth the risk */
	return n == q->server_len && !strncasecmp(h, q->server, n);
}

static void set_flag(struct kbal_member *mb, unsigned bit, const char *val)
{
	unsigned st = __atomic_load_n(&mb->status, __ATOMIC_ACQUIRE);

	st = atoi(val) ? st | bit : st & ~bit;
	__atomic_store_n(&mb->status, st, __ATOMIC_RELEASE);
}

/* balancer_process_balancer_worker()'s member part; what it cannot do goes
 * into skipped */
static void recalc_factors(struct kbal_balancer *bal, struct kbal_member *ms)
{
	struct kbal_member *first = &ms[bal->first_member];

	if (bal->nmembers == 1) {
		__atomic_store_n(&first->lbfactor, 100u, __ATOMIC_RELEASE);
		first->lbstatus = 100;
		return;
	}
	for (unsigned i = 0; i < bal->nmembers && bal->first_member + i < KBAL_MAX_MEMBERS; i++)
		first[i].lbstatus = first[i].lbfactor;
}

static void apply_member(struct kbal_balancer *bal, struct kbal_member *ms, unsigned wi,
			 const struct fields *fs, char *skipped, size_t slen)
{
	struct kbal_member *mb = &ms[wi];

	static const struct { const char *key; unsigned bit; } flags[] = {
		{ "w_status_I", KBAL_ST_IGNORE_ERR }, { "w_status_N", KBAL_ST_DRAIN },
		{ "w_status_D", KBAL_ST_DISABLED }, { "w_status_H", KBAL_ST_HOT_STANDBY },
		{ "w_status_R", KBAL_ST_SPARE }, { "w_status_C", KBAL_ST_HC_FAIL },
		{ "w_status_S", KBAL_ST_STOPPED },
	};
	const char *v;

	if ((v = get(fs, "w_lf"))) {
		/* hundredths (1.00 to 100.00), as Apache's; then its
		 * recalc_factors(): every member's lbstatus starts again from
		 * its lbfactor (a balancer of one member: both 100). The range
		 * first: (int) of 1e300 is undefined (fuzz_manager found it) */
		double f = atof(v) * 100.0;

		if (f >= 100.0 && f <= 10000.0) {
			__atomic_store_n(&mb->lbfactor, (unsigned)(int)f, __ATOMIC_RELEASE);
			recalc_factors(bal, ms);
		}
	}
	if ((v = get(fs, "w_wr"))) {
		char route[KBAL_ROUTE_LEN] = "";

		if (*v && strlen(v) < sizeof(route))
			strcpy(route, v);
		memcpy(mb->route, route, sizeof(route));
	}
	if ((v = get(fs, "w_rr"))) {
		char rr[KBAL_ROUTE_LEN] = "";

		if (*v && strlen(v) < sizeof(rr))
			strcpy(rr, v);
		memcpy(mb->redirect, rr, sizeof(rr));
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if ((v = get(fs, flags[i].key)))
			set_flag(mb, flags[i].bit, v);
	if ((v = get(fs, "w_ls"))) {
		int ival = atoi(v);

		if (ival >= 0 && ival <= 99)
			__atomic_store_n(&mb->lbset, (__u16)ival, __ATOMIC_RELEASE);
	}
	for (const char *const *k = (const char *const[]){ "w_hi", "w_hp", "w_hf", "w_hm", "w_hu",
							    "w_he", NULL }; *k; k++)
		if (get(fs, *k)) {
			size_t o = strlen(skipped);

			snprintf(skipped + o, slen - o, "%s%s", o ? ", " : "", *k);
		}
}

static void apply_balancer(struct kbal_balancer *bal, const struct fields *fs)
{
	static const char *const lbm[] = { "byrequests", "bytraffic", "bybusyness" };
	const char *v;

	if ((v = get(fs, "b_lbm"))) {
		for (unsigned i = 0; i < 3; i++)
			if (!strcmp(v, lbm[i]))
				__atomic_store_n(&bal->lbmethod, i, __ATOMIC_RELEASE);
	}
	if ((v = get(fs, "b_tmo"))) {
		int ival = atoi(v);

		if (ival >= 0 && ival <= 7200)
			__atomic_store_n(&bal->timeout_ms, (unsigned)ival * 1000u, __ATOMIC_RELEASE);
	}
	if ((v = get(fs, "b_sforce"))) {
		unsigned fl = __atomic_load_n(&bal->flags, __ATOMIC_ACQUIRE);

		fl = atoi(v) ? fl | KBAL_BF_NOFAILOVER : fl & ~KBAL_BF_NOFAILOVER;
		__atomic_store_n(&bal->flags, fl, __ATOMIC_RELEASE);
	}
	if ((v = get(fs, "b_ss")) && *v) {
		/* COOKIE[|URLPARAM], or "-" for none, as stickysession= */
		char sticky[KBAL_ROUTE_LEN] = "", path[KBAL_ROUTE_LEN] = "";
		size_t n = strcspn(v, "|");
		const char *pv = v[n] ? v + n + 1 : v;
		size_t pn = v[n] ? strlen(pv) : n;

		if (!(v[0] == '-' && !v[1]) && n < sizeof(sticky) && pn < sizeof(path)) {
			memcpy(sticky, v, n);
			memcpy(path, pv, pn);
		}
		if (n < sizeof(sticky) && pn < sizeof(path)) {
			memcpy(bal->sticky, sticky, sizeof(sticky));
			memcpy(bal->sticky_path, path, sizeof(path));
		}
	}
	if ((v = get(fs, "b_max"))) {
		int ival = atoi(v);

		/* Apache's bounds; set, the XML view shows it */
		if (ival >= 0 && ival <= 99) {
			__atomic_store_n(&bal->max_attempts, (unsigned)ival, __ATOMIC_RELEASE);
			__atomic_or_fetch(&bal->flags, KBAL_BF_MAX_SET, __ATOMIC_RELEASE);
		}
	}
}

/* the add of balancer_process_balancer_worker(): b_nwrkr=URL with
 * b_wyes=1 (its form's "Are you sure?"), after the other fields; what
 * happened into out, "" when no add was asked. -1: an add that failed,
 * which Apache answers with 400 */
static int add_member(struct kbal_maps *m, unsigned b, const struct fields *fs, char *out,
		      size_t len)
{
	const char *yes = get(fs, "b_wyes"), *url = get(fs, "b_nwrkr");

	out[0] = '\0';
	if (!yes || strcmp(yes, "1")) {
		/* Apache's form posts an empty b_nwrkr with every change */
		if (url && *url)
			snprintf(out, len, "nothing added to balancer://%s: b_nwrkr=%s without "
				 "b_wyes=1 (the form's 'Are you sure?')", m->balancers[b].name, url);
		return 0;
	}
	if (url && kbal_member_add(m, b, url, 1, out, len) < 0)
		return -1;
	return 0;
}

int kbal_manager_apply(struct kbal_maps *m, const char (*nonces)[KBAL_NONCE_LEN],
		       const struct kbal_manager_req *q, char *msg, size_t msglen, int *xml,
		       int *json)
{
	static const char *const query_keys[] = { "w", "b", "nonce", "xml", "json", NULL };
	struct fields *fs = calloc(1, sizeof(*fs));
	char skipped[256] = "", added[512];
	const char *b, *w, *nonce;
	int bi = -1, wi = -1, others = 0, status = 200;

	msg[0] = '\0';
	*xml = *json = 0;
	if (!fs) {
		snprintf(msg, msglen, "out of memory: nothing changed");
		return 200;
	}
	if (q->query && !q->post)
		parse(fs, q->query, q->query_len, query_keys);
	if (q->post && q->body)
		parse(fs, q->body, q->body_len < BODY_READ ? q->body_len : BODY_READ, NULL);
	if (!fs->n)
		goto out;
	*json = !q->post && get(fs, "json") != NULL;
	if (*json && fs->n == 1)
		goto out;                   /* a view asked for, nothing else */
	if (!same_site(q)) {
		snprintf(msg, msglen, "nothing changed: the request's Referer is not this server's "
			 "(%.*s), so it is treated as cross-site, as Apache does",
			 q->referer ? (int)(q->referer_len > 100 ? 100 : q->referer_len) : 4,
			 q->referer ? q->referer : "none");
		goto out;
	}
	*xml = get(fs, "xml") != NULL;
	b = get(fs, "b");
	for (unsigned i = 0; b && i < m->meta->nbalancers && i < KBAL_MAX_BALANCERS; i++)
		if (!strcmp(m->balancers[i].name, b) && !(m->balancers[i].flags & KBAL_BF_WORKER))
			bi = i;
	if (bi < 0) {
		if (b || get(fs, "w") || (int)fs->n > *xml + *json)
			snprintf(msg, msglen, "nothing changed: no balancer named '%s'", b ? b : "");
		goto out;
	}
	w = get(fs, "w");
	if (w)
		wi = kbal_member_find(m, bi, w);
	nonce = get(fs, "nonce");
	if (!nonces[bi][0] || !nonce || strcmp(nonce, nonces[bi])) {
		/* Apache changes nothing then, and says nothing */
		if ((int)fs->n > 1 + !!w + !!get(fs, "xml") + !!nonce)
			snprintf(msg, msglen, "nothing changed: %s for balancer://%s",
				 !nonces[bi][0] ? "changes are off (ProxySet nonce=None)" :
				 !nonce ? "the request has no nonce" : "the nonce is stale",
				 m->balancers[bi].name);
		goto out;
	}
	if (w && wi < 0) {
		snprintf(msg, msglen, "nothing changed: balancer://%s has no member %s",
			 m->balancers[bi].name, w);
		goto out;
	}
	if (wi >= 0)
		apply_member(&m->balancers[bi], m->members, wi, fs, skipped, sizeof(skipped));
	apply_balancer(&m->balancers[bi], fs);
	if (add_member(m, bi, fs, added, sizeof(added)))
		status = 400;
	/* what the kernel kept under the old settings is decided again */
	__atomic_add_fetch(&m->balancers[bi].gen, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < fs->n; i++) {
		static const char *const sel[] = { "b", "w", "nonce", "xml", "b_wyes", "b_nwrkr" };
		size_t k = 0;

		while (k < sizeof(sel) / sizeof(sel[0]) && strcmp(sel[k], fs->f[i].key))
			k++;
		others += k == sizeof(sel) / sizeof(sel[0]);
	}
	if (added[0] && !others && wi < 0)
		snprintf(msg, msglen, "%s", added);   /* an add alone */
	else
		snprintf(msg, msglen, "changed: balancer://%s%s%s%s%s%s%s", m->balancers[bi].name,
			 wi >= 0 ? ", member " : "", wi >= 0 ? m->members[wi].url : "",
			 added[0] ? "; " : "", added,
			 skipped[0] ? "; not supported by kbal, ignored: " : "", skipped);
out:
	free(fs);
	return status;
}
