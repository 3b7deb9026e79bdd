/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * req_decide.bpf.h - a kept-alive connection's later request decided in
 * the kernel as kbald would decide it: the same ProxyPass rule (kbal_rules,
 * the first match as kbald's), the same Host, a sticky route that names the
 * connection's member or none, the member usable and its balancer's
 * generation unchanged, and nothing kbald would answer or rewrite
 * differently. Shared by the sockmap path's verdict (sockmap.bpf.c, a
 * framed message) and the packet path's give-back at a request
 * (packet.bpf.c, a request whose head and body came in one segment): both
 * keep a request only when this says KBAL_SKB_NONE, and hand anything else
 * to kbald at its first byte. The connection's decision is a struct
 * kbal_sk_http, written by kbald (decide.c, arm_client()).
 */
#ifndef KBAL_REQ_DECIDE_BPF_H
#define KBAL_REQ_DECIDE_BPF_H

#include "kbal_maps.bpf.h"
#include "http_frame.bpf.h"

/* the ProxyPass rules and httpd's head limits, per virtual host (kbald
 * writes them: decide_rules.c) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KBAL_RULE_TABLES);
	__type(key, __u32);
	__type(value, struct kbal_rules);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_rules SEC(".maps");

#define FNV_(h, c) (((h) ^ (c)) * KBAL_FNV_PRIME)

/*
 * The FNV-1a hash (kbal_shared.h, KBAL_UA_MAX) of the scratch's bytes
 * [sp.pos, sp.end) into sp.h, a word of 8 bytes a step, in a loop of the
 * program's own (kbal_can_loop: a bpf_loop() step a byte, a call and a
 * return, cost a browser's User-Agent some 400 ns a request). A global
 * function: the verifier checks it once (http_frame.bpf.h, head_steps()).
 */
__noinline int hash_steps(struct kbal_scratch *s)
{
	if (!s)
		return 0;
	while (kbal_can_loop) {
		__u32 i = s->sp.pos, end = s->sp.end;
		__u64 h = s->sp.h;

		if (i >= end || i >= KBAL_HEAD_MAX)
			break;
		if (i + 8 <= end) {
			__u64 w = *(const __u64 *)&s->b[i & KBAL_HEAD_MASK];

			h = FNV_(h, w & 0xff);
			h = FNV_(h, (w >> 8) & 0xff);
			h = FNV_(h, (w >> 16) & 0xff);
			h = FNV_(h, (w >> 24) & 0xff);
			h = FNV_(h, (w >> 32) & 0xff);
			h = FNV_(h, (w >> 40) & 0xff);
			h = FNV_(h, (w >> 48) & 0xff);
			h = FNV_(h, w >> 56);
			s->sp.pos = i + 8;
		} else {
			h = FNV_(h, s->b[i & KBAL_HEAD_MASK]);
			s->sp.pos = i + 1;
		}
		s->sp.h = h;
	}
	return 0;
}

/* The first byte sp.c of the scratch's [sp.pos, sp.end): sp.found just
 * past it, or 0; 8 bytes a step (bytes_eq()), in the program's own loop */
__noinline int find_steps(struct kbal_scratch *s)
{
	if (!s)
		return 0;
	while (kbal_can_loop) {
		__u32 i = s->sp.pos, end = s->sp.end;

		if (i >= end || i >= KBAL_HEAD_MAX)
			break;
		if (i + 8 <= end) {
			__u64 t = bytes_eq(*(const __u64 *)&s->b[i & KBAL_HEAD_MASK], s->sp.c);

			if (!t) {
				s->sp.pos = i + 8;
				continue;
			}
			i += first_flagged(t);
		} else if (s->b[i & KBAL_HEAD_MASK] != s->sp.c) {
			s->sp.pos = i + 1;
			continue;
		}
		s->sp.found = i + 1;
		break;
	}
	return 0;
}

struct rule_match {
	__u8 *b;
	const struct kbal_rules *rules;
	__u32 path_off, path_len;
	__s32 found;
};

/* kbald's alias match (conf_match.c): the rule's bytes start the path and
 * end at a segment's end; the path has no run of slashes (head_step) and
 * kbald wrote the rules with none */
static long rule_step(__u32 r, struct rule_match *m)
{
	const struct kbal_rule *rule;
	__u8 *b = m->b;
	__u32 len;

	if (r >= m->rules->n || r >= KBAL_RULES_MAX)
		return 1;
	rule = &m->rules->rule[r];
	len = rule->len;
	if (len == 0 || len > KBAL_RULE_LEN || len > m->path_len)
		return 0;
	for (__u32 k = 0; k < KBAL_RULE_LEN; k++) {
		if (k >= len)
			break;
		if (b[(m->path_off + k) & KBAL_HEAD_MASK] != (__u8)rule->path[k])
			return 0;
	}
	if (rule->path[(len - 1) & (KBAL_RULE_LEN - 1)] != '/' && len != m->path_len &&
	    b[(m->path_off + len) & KBAL_HEAD_MASK] != '/')
		return 0;
	m->found = r;
	return 1;
}

static __always_inline __u32 str_len(const char *s, __u32 max)
{
	__u32 n = 0;

	for (__u32 k = 0; k < KBAL_ROUTE_LEN; k++) {
		if (k >= max || !s[k])
			break;
		n++;
	}
	return n;
}

/* the request's sticky route (after the first stickysessionsep of the
 * cookie's value, '.' by default; all of it with Off) is the member's: 1;
 * names none: 0; another: -1 (b and p: the scratch sc's) */
static __always_inline int route_is(struct kbal_scratch *sc, const __u8 *b,
				    const struct head_parse *p, const struct kbal_member *m)
{
	__u32 dot, rlen, mlen;

	if (p->sep) {
		sc->sp.pos = p->route_off;
		sc->sp.end = p->route_end;
		sc->sp.c = (__u8)p->sep;
		sc->sp.found = 0;
		find_steps(sc);
		dot = sc->sp.found;
	} else {
		dot = p->route_off;
	}
	if (!dot)
		return 0;
	rlen = p->route_end - dot;
	if (rlen == 0 || rlen >= KBAL_ROUTE_LEN)
		return 0;
	mlen = str_len(m->route, KBAL_ROUTE_LEN);
	if (rlen != mlen)
		return -1;
	for (__u32 k = 0; k < KBAL_ROUTE_LEN; k++) {
		if (k >= rlen)
			break;
		if (b[(dot + k) & KBAL_HEAD_MASK] != (__u8)m->route[k])
			return -1;
	}
	return 1;
}

/* what a kept request moves */
struct req_kept {
	struct kbal_member *m;         /* its member */
	int route;                     /* 1: its sticky route named the member */
	__u64 cl;                      /* its body's length */
	__u32 hl;                      /* its head's */
};

/* The request head at off (len bytes: all of it; with more, the head and
 * what follows it, the head's length then in k->hl) against the
 * connection's decision st (st->msgs: the requests the kernel kept so
 * far): its KBAL_SKB_* reason to go to kbald, or KBAL_SKB_NONE with k
 * filled. */
static __always_inline __u8 request_decide(struct __sk_buff *skb, const struct kbal_sk_http *st,
					   __u32 off, __u32 len, struct req_kept *k, int more)
{
	struct kbal_scratch *sc = frame_scratch();
	struct rule_match rm = { .found = -1 };
	__u32 mi = st->member, bi, ri, s;
	const struct kbal_member *m = bpf_map_lookup_elem(&kbal_members, &mi);
	const struct kbal_balancer *bal;
	struct head_parse *p;
	__u8 *b;
	int route;

	if (!m || !sc)
		return KBAL_SKB_MEMBER;
	p = &sc->hp;
	__builtin_memset(p, 0, sizeof(*p));
	p->request = 1;
	bi = m->balancer;
	bal = bpf_map_lookup_elem(&kbal_balancers, &bi);
	/* the connection's virtual host's table: a request with another Host
	 * goes back to kbald below, so its requests stay in that host */
	ri = st->rules;
	rm.rules = bpf_map_lookup_elem(&kbal_rules, &ri);
	if (!bal || !rm.rules || !rm.rules->exact)
		return KBAL_SKB_RULE;
	/* MaxKeepAliveRequests: the connection's requests so far (kbald's
	 * before it armed this socket, then the kernel's) had their keep-alive
	 * answers; this one is answered with Connection: close, by kbald, and
	 * the connection ends after it, as httpd's ap_set_keepalive() ends it */
	if (rm.rules->max_requests && (__u64)st->reqs + st->msgs >= rm.rules->max_requests)
		return KBAL_SKB_LAST;
	p->max_line = rm.rules->max_line;
	p->max_field = rm.rules->max_field;
	p->max_fields = rm.rules->max_fields;
	if (bal->sticky[0]) {
		__builtin_memcpy(p->sticky, bal->sticky, KBAL_ROUTE_LEN);
		p->sticky_len = str_len(bal->sticky, KBAL_ROUTE_LEN);
		__builtin_memcpy(p->spath, bal->sticky_path, KBAL_ROUTE_LEN);
		p->spath_len = str_len(bal->sticky_path, KBAL_ROUTE_LEN);
		p->sep = bal->sticky_sep;
	}
	p->ua = !!(st->flags & KBAL_SKF_UA);
	b = frame_parse_head_more(skb, off, len, p, more);
	if (!b || p->bad)
		return KBAL_SKB_SYNTAX;
	/* a Connection but "keep-alive" (browsers'): "close" asks for the
	 * connection's end, which httpd answers with Connection: close and
	 * makes, and kbald too (the kernel passed it on, and kbald, handed
	 * the member's Connection: close, dropped it and kept the client's
	 * connection open, as for a member that closes on its own) */
	if (p->nconn && (p->nconn > 1 || p->conn_end - p->conn_off != 10 ||
			 !name_is(b, p->conn_off, 10, "keep-alive", 10)))
		return KBAL_SKB_SYNTAX;
	/* an empty Host (after an HTTP/1.0 request's) is httpd's 400 in
	 * HTTP/1.1, kbald's to answer */
	if (p->nhost != 1 || !st->host_len || p->host_end - p->host_off != st->host_len)
		return KBAL_SKB_HOST;
	for (__u32 k = 0; k < KBAL_HOST_LEN; k++) {
		if (k >= st->host_len)
			break;
		if (b[(p->host_off + k) & KBAL_HEAD_MASK] != (__u8)st->host[k])
			return KBAL_SKB_HOST;
	}
	/* SetEnvIf's lines read the User-Agent: a request with the
	 * connection's gets the variables kbald found for it, another one is
	 * kbald's */
	if (st->flags & KBAL_SKF_UA) {
		if (p->nua > 1 || (!p->nua) != !!st->ua_none || p->ua_end - p->ua_off > KBAL_UA_MAX)
			return KBAL_SKB_AGENT_UA;
		if (p->nua) {
			sc->sp.pos = p->ua_off;
			sc->sp.end = p->ua_end;
			sc->sp.h = KBAL_FNV_BASIS;
			hash_steps(sc);
			if (sc->sp.h != st->ua_hash)
				return KBAL_SKB_AGENT_UA;
		}
	}
	rm.b = b;
	rm.path_off = p->sp1 + 1;
	rm.path_len = p->path_end - p->sp1 - 1;
	bpf_loop(KBAL_RULES_MAX, rule_step, &rm, 0);
	if (rm.found < 0 || rm.found >= KBAL_RULES_MAX ||
	    rm.rules->rule[rm.found].exclude || rm.rules->rule[rm.found].pass != st->pass)
		return KBAL_SKB_RULE;
	/* usable as kbald's pick would find it: no status but "errors do
	 * not count", or draining for its sticky requests; and nothing in its
	 * balancer changed since (another member back, a new set) */
	s = m->status & ~KBAL_ST_IGNORE_ERR;
	if ((s && s != KBAL_ST_DRAIN) || bal->gen != st->bgen)
		return KBAL_SKB_MEMBER;
	route = p->nroute ? route_is(sc, b, p, m) : 0;
	if (route < 0 ||
	    (route == 0 && (s == KBAL_ST_DRAIN || (st->flags & KBAL_SKF_ROUTE_COOKIE))))
		return KBAL_SKB_ROUTE;
	/* no route: the balancer's lbmethod picks (byrequests weighs every
	 * member's lbstatus, which every request moves): the same member only
	 * where it is the one candidate */
	if (route == 0 && !(st->flags & KBAL_SKF_SOLE))
		return KBAL_SKB_BALANCE;
	k->m = (struct kbal_member *)m;
	k->route = route;
	k->cl = p->cl;
	k->hl = p->end;
	return KBAL_SKB_NONE;
}

/* A request kept: Apache's "Elected" for its member (kbald adds its own
 * atomically too: the array is shared), and, for a sticky one, byrequests'
 * lbstatus, which Apache moves for sticky requests too (every usable member
 * gains its factor, this one pays the total): kbald weighs these in before
 * its next pick. */
static __always_inline void request_kept(const struct req_kept *k)
{
	__sync_fetch_and_add(&k->m->elected, 1);
	if (k->route > 0)
		__sync_fetch_and_add(&k->m->sticky_kept, 1);
}

#endif /* KBAL_REQ_DECIDE_BPF_H */
