// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* hcexpr.c - ProxyHCExpr's conditions (hcexpr.h), with PCRE2's regexes. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hcexpr.h"

#define MAX_NODES 64
#define MAX_LIST  16

enum { W_STATUS = 1, W_BODY, W_STR };
enum { N_TRUE = 1, N_FALSE, N_NOT, N_AND, N_OR, N_CMP, N_RE, N_IN };
enum { OP_SEQ = 1, OP_SNE, OP_SLT, OP_SLE, OP_SGT, OP_SGE,
       OP_IEQ, OP_INE, OP_ILT, OP_ILE, OP_IGT, OP_IGE };

struct word {
	int kind;
	char *s;
};

struct node {
	int kind, op, a, b, neg;
	struct word w1, w2;
	pcre2_code *re;
	char *list[MAX_LIST];
	int nlist;
};

struct kbal_hcexpr {
	struct node n[MAX_NODES];
	int nn, root, body;
};

struct parse {
	struct kbal_hcexpr *e;
	const char *s;
	char *err;
	size_t errlen;
	int failed;
};

static int fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->failed) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	p->failed = 1;
	return -1;
}

static void skip(struct parse *p)
{
	while (isspace((unsigned char)*p->s))
		p->s++;
}

static int eat(struct parse *p, const char *tok)
{
	size_t n = strlen(tok);

	skip(p);
	if (strncmp(p->s, tok, n))
		return 0;
	/* a keyword is a whole word */
	if (isalpha((unsigned char)tok[n - 1]) && isalnum((unsigned char)p->s[n]))
		return 0;
	p->s += n;
	return 1;
}

static int new_node(struct parse *p, int kind)
{
	if (p->e->nn == MAX_NODES)
		return fail(p, "too long a condition");
	memset(&p->e->n[p->e->nn], 0, sizeof(p->e->n[0]));
	p->e->n[p->e->nn].kind = kind;
	return p->e->nn++;
}

/* 'text' or "text" */
static char *quoted(struct parse *p)
{
	char q = *p->s, *out;
	const char *end = strchr(p->s + 1, q);

	if (!end) {
		fail(p, "an unterminated string");
		return NULL;
	}
	out = strndup(p->s + 1, end - p->s - 1);
	p->s = end + 1;
	return out;
}

static int word(struct parse *p, struct word *w)
{
	skip(p);
	if (eat(p, "%{REQUEST_STATUS}")) {
		w->kind = W_STATUS;
	} else if (eat(p, "hc('body')") || eat(p, "hc(\"body\")")) {
		w->kind = W_BODY;
		p->e->body = 1;
	} else if (*p->s == '\'' || *p->s == '"') {
		w->kind = W_STR;
		if (!(w->s = quoted(p)))
			return -1;
	} else if (isdigit((unsigned char)*p->s) || (*p->s == '-' && isdigit((unsigned char)p->s[1]))) {
		const char *b = p->s++;

		while (isdigit((unsigned char)*p->s))
			p->s++;
		w->kind = W_STR;
		w->s = strndup(b, p->s - b);
	} else if (!strncmp(p->s, "%{", 2)) {
		return fail(p, "%.*s: a health check knows %%{REQUEST_STATUS} and hc('body') only",
			    (int)(strcspn(p->s, "}") + 1), p->s);
	} else {
		return fail(p, "a word expected at '%.20s'", p->s);
	}
	return 0;
}

/* /re/flags or m#re#flags (any delimiter after m) */
static pcre2_code *regex(struct parse *p)
{
	char delim, *pat;
	const char *end;
	uint32_t flags = 0;
	int code;
	PCRE2_SIZE off;
	pcre2_code *re;

	skip(p);
	if (*p->s == 'm' && p->s[1] && !isalnum((unsigned char)p->s[1]))
		p->s++;
	delim = *p->s;
	if (delim != '/' && !(delim && ispunct((unsigned char)delim))) {
		fail(p, "a regular expression (/.../) expected at '%.20s'", p->s);
		return NULL;
	}
	end = strchr(p->s + 1, delim);
	if (!end) {
		fail(p, "an unterminated regular expression");
		return NULL;
	}
	pat = strndup(p->s + 1, end - p->s - 1);
	p->s = end + 1;
	if (*p->s == 'i') {
		flags |= PCRE2_CASELESS;
		p->s++;
	}
	re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, flags, &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[120];

		pcre2_get_error_message(code, msg, sizeof(msg));
		fail(p, "/%s/: %s at %zu", pat, (char *)msg, (size_t)off);
	}
	free(pat);
	return re;
}

static int expr(struct parse *p);

static int primary(struct parse *p)
{
	static const struct { const char *tok; int op; } ops[] = {
		{ "==", OP_SEQ }, { "!=", OP_SNE }, { "<=", OP_SLE }, { ">=", OP_SGE },
		{ "-eq", OP_IEQ }, { "-ne", OP_INE }, { "-lt", OP_ILT }, { "-le", OP_ILE },
		{ "-gt", OP_IGT }, { "-ge", OP_IGE }, { "<", OP_SLT }, { ">", OP_SGT },
	};
	struct word w = { 0 };
	int n, neg = 0;

	if (eat(p, "(")) {
		n = expr(p);
		if (n >= 0 && !eat(p, ")"))
			return fail(p, "')' expected at '%.20s'", p->s);
		return n;
	}
	if (eat(p, "true"))
		return new_node(p, N_TRUE);
	if (eat(p, "false"))
		return new_node(p, N_FALSE);
	if (word(p, &w))
		return -1;
	if (eat(p, "=~") || (neg = eat(p, "!~"))) {
		if ((n = new_node(p, N_RE)) < 0)
			return -1;
		p->e->n[n].w1 = w;
		p->e->n[n].neg = neg;
		p->e->n[n].re = regex(p);
		return p->e->n[n].re ? n : -1;
	}
	if (eat(p, "in")) {
		if ((n = new_node(p, N_IN)) < 0)
			return -1;
		p->e->n[n].w1 = w;
		if (!eat(p, "{"))
			return fail(p, "'{' expected after in");
		do {
			struct word item = { 0 };

			if (p->e->n[n].nlist == MAX_LIST)
				return fail(p, "at most %d words in a list", MAX_LIST);
			if (word(p, &item) || item.kind != W_STR)
				return fail(p, "a string expected in the list");
			p->e->n[n].list[p->e->n[n].nlist++] = item.s;
		} while (eat(p, ","));
		if (!eat(p, "}"))
			return fail(p, "'}' expected at the list's end");
		return n;
	}
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (eat(p, ops[k].tok)) {
			if ((n = new_node(p, N_CMP)) < 0)
				return -1;
			p->e->n[n].op = ops[k].op;
			p->e->n[n].w1 = w;
			return word(p, &p->e->n[n].w2) ? -1 : n;
		}
	free(w.s);
	return fail(p, "a test (==, =~, -eq, in, ...) expected at '%.20s'", p->s);
}

static int unary(struct parse *p)
{
	int n, a;

	skip(p);
	if (p->s[0] == '!' && p->s[1] != '=' && p->s[1] != '~') {
		p->s++;
		if ((a = unary(p)) < 0 || (n = new_node(p, N_NOT)) < 0)
			return -1;
		p->e->n[n].a = a;
		return n;
	}
	return primary(p);
}

static int binary(struct parse *p, const char *tok, int kind, int (*sub)(struct parse *))
{
	int a = sub(p), b, n;

	while (a >= 0 && eat(p, tok)) {
		if ((b = sub(p)) < 0 || (n = new_node(p, kind)) < 0)
			return -1;
		p->e->n[n].a = a;
		p->e->n[n].b = b;
		a = n;
	}
	return a;
}

static int and_expr(struct parse *p)
{
	return binary(p, "&&", N_AND, unary);
}

static int expr(struct parse *p)
{
	return binary(p, "||", N_OR, and_expr);
}

struct kbal_hcexpr *kbal_hcexpr_compile(const char *text, char *err, size_t errlen)
{
	struct kbal_hcexpr *e = calloc(1, sizeof(*e));
	struct parse p = { .e = e, .s = text, .err = err, .errlen = errlen };
	int braces;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	braces = eat(&p, "{");
	e->root = expr(&p);
	if (e->root >= 0 && braces && !eat(&p, "}"))
		fail(&p, "'}' expected at '%.20s'", p.s);
	skip(&p);
	if (e->root >= 0 && !p.failed && *p.s)
		fail(&p, "'%.20s' after the condition", p.s);
	if (p.failed || e->root < 0) {
		kbal_hcexpr_free(e);
		return NULL;
	}
	return e;
}

void kbal_hcexpr_free(struct kbal_hcexpr *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->nn; i++) {
		free(e->n[i].w1.s);
		free(e->n[i].w2.s);
		pcre2_code_free(e->n[i].re);
		for (int k = 0; k < e->n[i].nlist; k++)
			free(e->n[i].list[k]);
	}
	free(e);
}

int kbal_hcexpr_wants_body(const struct kbal_hcexpr *e)
{
	return e && e->body;
}

struct answer {
	char status[8];
	const char *body;
	size_t body_len;
};

static const char *value(const struct word *w, const struct answer *a, size_t *len)
{
	const char *s = w->kind == W_STATUS ? a->status : w->kind == W_BODY ? a->body : w->s;

	*len = w->kind == W_BODY ? a->body_len : strlen(s);
	return s;
}

static int eval(const struct kbal_hcexpr *e, int i, const struct answer *a)
{
	const struct node *n = &e->n[i];
	const char *x, *y;
	size_t xl, yl;
	long long xi, yi;
	int c;

	switch (n->kind) {
	case N_TRUE:
		return 1;
	case N_FALSE:
		return 0;
	case N_NOT:
		return !eval(e, n->a, a);
	case N_AND:
		return eval(e, n->a, a) && eval(e, n->b, a);
	case N_OR:
		return eval(e, n->a, a) || eval(e, n->b, a);
	case N_RE: {
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
		int rc;

		x = value(&n->w1, a, &xl);
		rc = md ? pcre2_match(n->re, (PCRE2_SPTR)x, xl, 0, 0, md, NULL) : -1;
		pcre2_match_data_free(md);
		return (rc >= 0) != n->neg;
	}
	case N_IN:
		x = value(&n->w1, a, &xl);
		for (int k = 0; k < n->nlist; k++)
			if (strlen(n->list[k]) == xl && !memcmp(n->list[k], x, xl))
				return 1;
		return 0;
	case N_CMP:
		x = value(&n->w1, a, &xl);
		y = value(&n->w2, a, &yl);
		if (n->op >= OP_IEQ) {
			xi = strtoll(x, NULL, 10);
			yi = strtoll(y, NULL, 10);
			c = xi < yi ? -1 : xi > yi;
		} else {
			c = memcmp(x, y, xl < yl ? xl : yl);
			if (!c)
				c = xl < yl ? -1 : xl > yl;
		}
		switch (n->op) {
		case OP_SEQ: case OP_IEQ: return c == 0;
		case OP_SNE: case OP_INE: return c != 0;
		case OP_SLT: case OP_ILT: return c < 0;
		case OP_SLE: case OP_ILE: return c <= 0;
		case OP_SGT: case OP_IGT: return c > 0;
		default: return c >= 0;
		}
	}
	return 0;
}

int kbal_hcexpr_eval(const struct kbal_hcexpr *e, unsigned status, const char *body,
		     size_t body_len)
{
	struct answer a = { .body = body ? body : "", .body_len = body ? body_len : 0 };

	snprintf(a.status, sizeof(a.status), "%u", status);
	return eval(e, e->root, &a);
}
