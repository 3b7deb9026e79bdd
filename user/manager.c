// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * manager.c - /balancer-manager. Everything shown is read from the pinned
 * maps at request time: the page, kbalctl and bpftool show the same state.
 * Its forms post Apache's fields (manager_form.c applies them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "kbal_shared.h"
#include "lb.h"
#include "maps.h"
#include "manager.h"
#include "inaddr.h"

static const char *const lbmethods[] = { "byrequests", "bytraffic", "bybusyness" };

const char *kbal_status_str(unsigned st, char *buf, size_t len)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ KBAL_ST_DISABLED, "Dis" }, { KBAL_ST_STOPPED, "Stop" },
		{ KBAL_ST_ERROR, "Err" }, { KBAL_ST_HOT_STANDBY, "Stby" },
		{ KBAL_ST_DRAIN, "Drn" }, { KBAL_ST_IGNORE_ERR, "Ign" },
		{ KBAL_ST_SPARE, "Spar" }, { KBAL_ST_HC_FAIL, "HcFl" },
	};
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (st & names[i].bit)
			o += snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? " " : "",
				      names[i].name);
	if (!o)
		snprintf(buf, len, "Init Ok");
	return buf;
}

#define ADMIN_BITS (KBAL_ST_DISABLED | KBAL_ST_STOPPED | KBAL_ST_HOT_STANDBY | KBAL_ST_DRAIN | \
		    KBAL_ST_IGNORE_ERR | KBAL_ST_SPARE)

const char *kbal_member_changes(const struct kbal_member *mb, const struct kbal_member_conf *cm,
				char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	if ((mb->status & ADMIN_BITS) != (cm->status & ADMIN_BITS))
		o += snprintf(buf + o, o < len ? len - o : 0, "status ");
	if (mb->lbfactor != cm->lbfactor)
		o += snprintf(buf + o, o < len ? len - o : 0, "loadfactor ");
	if (mb->lbset != cm->lbset)
		o += snprintf(buf + o, o < len ? len - o : 0, "lbset ");
	if (strncmp(mb->route, cm->route, sizeof(mb->route)))
		o += snprintf(buf + o, o < len ? len - o : 0, "route ");
	if (strncmp(mb->redirect, cm->redirect, sizeof(mb->redirect)))
		o += snprintf(buf + o, o < len ? len - o : 0, "redirect ");
	if (o && o <= len)
		buf[o - 1] = '\0';
	return buf;
}

void kbal_member_reset(struct kbal_member *mb, const struct kbal_member_conf *cm)
{
	__atomic_store_n(&mb->status, (mb->status & ~ADMIN_BITS) | (cm->status & ADMIN_BITS),
			 __ATOMIC_RELEASE);
	__atomic_store_n(&mb->lbfactor, cm->lbfactor, __ATOMIC_RELEASE);
	__atomic_store_n(&mb->lbset, (__u16)cm->lbset, __ATOMIC_RELEASE);
	memcpy(mb->route, cm->route, sizeof(mb->route));
	memcpy(mb->redirect, cm->redirect, sizeof(mb->redirect));
}

/* Apache's ap_proxy_parse_wstatus(): each flag's name, then "Ok " when
 * usable (every member of kbal's is initialized: "Init ") */
const char *kbal_status_apache(unsigned st, char *buf, size_t len)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ KBAL_ST_IGNORE_ERR, "Ign " }, { KBAL_ST_DRAIN, "Drn " },
		{ KBAL_ST_DISABLED, "Dis " }, { KBAL_ST_STOPPED, "Stop " },
		{ KBAL_ST_ERROR, "Err " }, { KBAL_ST_HOT_STANDBY, "Stby " },
		{ KBAL_ST_SPARE, "Spar " }, { KBAL_ST_HC_FAIL, "HcFl " },
	};
	size_t o = snprintf(buf, len, "Init ");

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (st & names[i].bit)
			o += snprintf(buf + o, o < len ? len - o : 0, "%s", names[i].name);
	if (!(st & (KBAL_ST_DISABLED | KBAL_ST_STOPPED | KBAL_ST_ERROR | KBAL_ST_HC_FAIL)))
		snprintf(buf + o, o < len ? len - o : 0, "Ok ");
	return buf;
}

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* Live flows by path and by why they took it (kbal_flows). */
static void flows_table(const struct kbal_maps *m, FILE *f)
{
	static const char *const paths[] = { "deciding", "sockmap", "copy", "packet" };
	unsigned count[4][KBAL_WHY_MAX] = {}, total = 0;
	struct kbal_flow_key key, next, *prev = NULL;
	struct kbal_flow v;

	while (total < KBAL_MAX_FLOWS && bpf_map_get_next_key(m->flows_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->flows_fd, &key, &v))
			continue;
		count[v.path % 4][v.why < KBAL_WHY_MAX ? v.why : 0]++;
		total++;
	}
	fprintf(f, "<hr />\n<h3>Live flows: %u</h3>\n<table><tr><th>Path</th><th>Why</th>"
		"<th>Flows</th></tr>\n", total);
	for (unsigned p = 0; p < 4; p++)
		for (unsigned w = 0; w < KBAL_WHY_MAX; w++)
			if (count[p][w])
				fprintf(f, "<tr><td>%s</td><td>%s</td><td>%u</td></tr>\n", paths[p],
					kbal_why_name(w), count[p][w]);
	fputs("</table>\n", f);
}

static int respond(FILE *f, char **body, size_t *blen, const char *type, int *keep, int frame,
		   char **out, size_t *len);

/* live flows by member (kbal_flows), into n[KBAL_MAX_MEMBERS] */
static void flows_by_member(const struct kbal_maps *m, unsigned *n)
{
	struct kbal_flow_key key, next, *prev = NULL;
	struct kbal_flow v;
	unsigned total = 0;

	memset(n, 0, KBAL_MAX_MEMBERS * sizeof(*n));
	while (total++ < KBAL_MAX_FLOWS && bpf_map_get_next_key(m->flows_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(m->flows_fd, &key, &v) && v.member < KBAL_MAX_MEMBERS)
			n[v.member]++;
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int kbal_manager_json(const struct kbal_maps *m, int *keep, char **out, size_t *len)
{
	static const char *const lbm[] = { "byrequests", "bytraffic", "bybusyness" };
	unsigned *flows = calloc(KBAL_MAX_MEMBERS, sizeof(*flows));
	char *body = NULL, st[64], chg[64], lf[16];
	size_t blen = 0;
	FILE *f = flows ? open_memstream(&body, &blen) : NULL;

	if (!f) {
		free(flows);
		return -ENOMEM;
	}
	flows_by_member(m, flows);
	fputs("{\"balancers\":[", f);
	for (unsigned b = 0, shown = 0; b < m->meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		const struct kbal_balancer *bal = &m->balancers[b];

		if (bal->flags & KBAL_BF_WORKER)
			continue;      /* a plain worker: not a balancer, as httpd's page */
		fprintf(f, "%s{\"name\":", shown++ ? "," : "");
		json_str(f, bal->name);
		fprintf(f, ",\"lbmethod\":\"%s\",\"stickysession\":", lbm[bal->lbmethod % 3]);
		json_str(f, bal->sticky);
		fprintf(f, ",\"nofailover\":%s,\"timeout_ms\":%u,\"max_attempts\":%u,\"slots\":%u,"
			"\"members\":[", bal->flags & KBAL_BF_NOFAILOVER ? "true" : "false",
			bal->timeout_ms, bal->max_attempts,
			bal->slots);
		for (unsigned i = 0; i < bal->nmembers && bal->first_member + i < KBAL_MAX_MEMBERS; i++) {
			unsigned k = bal->first_member + i;
			const struct kbal_member *mb = &m->members[k];

			fprintf(f, "%s{\"url\":", i ? "," : "");
			json_str(f, mb->url);
			fputs(",\"route\":", f);
			json_str(f, mb->route);
			fputs(",\"redirect\":", f);
			json_str(f, mb->redirect);
			fprintf(f, ",\"status\":%u,\"status_words\":", mb->status);
			json_str(f, kbal_status_apache(mb->status, st, sizeof(st)));
			fprintf(f, ",\"loadfactor\":%s,\"lbfactor\":%u,\"lbstatus\":%lld,\"lbset\":%u,\"elected\":%llu,\"busy\":%llu,"
				"\"errors\":%llu,\"bytes_to\":%llu,\"bytes_from\":%llu,\"idle\":%u,"
				"\"reused\":%llu,\"live_flows\":%u,\"changed_at_run_time\":",
				kbal_lbfactor_str(mb->lbfactor, lf, sizeof(lf)), mb->lbfactor,
				(long long)mb->lbstatus, mb->lbset, (unsigned long long)mb->elected,
				(unsigned long long)mb->busy, (unsigned long long)mb->errors,
				(unsigned long long)mb->bytes_to, (unsigned long long)mb->bytes_from,
				mb->idle, (unsigned long long)mb->reused, flows[k]);
			json_str(f, kbal_member_changes(mb, &m->members_conf[k], chg, sizeof(chg)));
			fprintf(f, ",\"added_at_run_time\":%s}",
				m->members_conf[k].flags & KBAL_MC_ADDED ? "true" : "false");
		}
		fputs("]}", f);
	}
	fputs("]}\n", f);
	free(flows);
	return respond(f, &body, &blen, "application/json", keep, KBAL_MGR_LENGTH, out, len);
}

/* a share as a bar: the picture the page's readers look at first */
static void bar(FILE *f, unsigned long long part, unsigned long long whole, const char *what)
{
	unsigned pct = whole ? (unsigned)(part * 100 / whole) : 0;

	fprintf(f, "<span class=\"bar\" title=\"%u%% of %s\"><span style=\"width:%u%%\"></span>"
		"</span> %u%% of %s", pct, what, pct, pct, what);
}

/* a hidden field, and the balancer's selection as Apache's forms carry it */
static void hidden(FILE *f, const char *name, const char *val)
{
	fprintf(f, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	html_escape(f, val);
	fputs("\">", f);
}

/* Apache's worker form: its fields, posted to the page itself */
static void member_form(FILE *f, const char *action, const struct kbal_balancer *bal,
			const struct kbal_member *mb, const char *nonce)
{
	static const struct { const char *field, *name; unsigned bit; } flags[] = {
		{ "w_status_I", "Ignore Errors", KBAL_ST_IGNORE_ERR },
		{ "w_status_N", "Draining Mode", KBAL_ST_DRAIN },
		{ "w_status_D", "Disabled", KBAL_ST_DISABLED },
		{ "w_status_H", "Hot Standby", KBAL_ST_HOT_STANDBY },
		{ "w_status_R", "Hot Spare", KBAL_ST_SPARE },
		{ "w_status_S", "Stopped", KBAL_ST_STOPPED },
	};

	fputs("<form method=\"POST\" enctype=\"application/x-www-form-urlencoded\" action=\"", f);
	html_escape(f, action);
	fputs("\" class=\"member\"><b>", f);
	html_escape(f, mb->url);
	fprintf(f, "</b> Load factor: <input name=\"w_lf\" size=\"3\" value=\"%u.%02u\"> "
		"LB Set: <input name=\"w_ls\" size=\"2\" value=\"%u\"> Route: "
		"<input name=\"w_wr\" size=\"8\" value=\"", mb->lbfactor / 100, mb->lbfactor % 100,
		mb->lbset);
	html_escape(f, mb->route);
	fputs("\"> Route Redirect: <input name=\"w_rr\" size=\"8\" value=\"", f);
	html_escape(f, mb->redirect);
	fputs("\">", f);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		int on = !!(mb->status & flags[i].bit);

		fprintf(f, " %s: <label><input type=\"radio\" name=\"%s\" value=\"1\"%s>On</label>"
			"<label><input type=\"radio\" name=\"%s\" value=\"0\"%s>Off</label>",
			flags[i].name, flags[i].field, on ? " checked" : "", flags[i].field,
			on ? "" : " checked");
	}
	hidden(f, "w", mb->url);
	hidden(f, "b", bal->name);
	hidden(f, "nonce", nonce);
	fputs(" <input type=\"submit\" value=\"Submit\"></form>\n", f);
}

/* Apache's balancer form: b_lbm, b_tmo, b_max, b_sforce, b_ss; and while
 * a slot is free, "Add New Worker": b_nwrkr, and b_wyes for "Are you sure?" */
static void balancer_form(FILE *f, const char *action, const struct kbal_balancer *bal,
			  const char *nonce)
{
	int nofail = !!(bal->flags & KBAL_BF_NOFAILOVER);

	fputs("<form method=\"POST\" enctype=\"application/x-www-form-urlencoded\" action=\"", f);
	html_escape(f, action);
	fputs("\" class=\"balancer\">LB Method: <select name=\"b_lbm\" id=\"b_lbm\">", f);
	for (unsigned i = 0; i < 3; i++)
		fprintf(f, "<option value=\"%s\"%s>%s</option>", lbmethods[i],
			bal->lbmethod == i ? " selected" : "", lbmethods[i]);
	fprintf(f, "</select> Timeout: <input name=\"b_tmo\" id=\"b_tmo\" size=\"4\" "
		"type=\"text\" value=\"%u\"> Failover Attempts: <input name=\"b_max\" id=\"b_max\" "
		"size=\"3\" type=\"text\" value=\"%u\"> Disable Failover: "
		"<label><input type=\"radio\" name=\"b_sforce\" value=\"1\"%s>On</label>"
		"<label><input type=\"radio\" name=\"b_sforce\" value=\"0\"%s>Off</label> "
		"Sticky Session: <input name=\"b_ss\" id=\"b_ss\" size=\"16\" type=\"text\" value=\"",
		bal->timeout_ms / 1000, bal->max_attempts, nofail ? " checked" : "",
		nofail ? "" : " checked");
	html_escape(f, bal->sticky);
	fputs("\"> (Use '-' to delete)", f);
	if (bal->nmembers < bal->slots)
		fprintf(f, "<br />Add New Worker: <input name=\"b_nwrkr\" id=\"b_nwrkr\" "
			"size=\"32\" type=\"text\" placeholder=\"http://IPv4:PORT\"> Are you sure? "
			"<input name=\"b_wyes\" id=\"b_wyes\" type=\"checkbox\" value=\"1\"> "
			"(%u free slot%s; it starts disabled)", bal->slots - bal->nmembers,
			bal->slots - bal->nmembers == 1 ? "" : "s");
	hidden(f, "b", bal->name);
	hidden(f, "nonce", nonce);
	fputs(" <input type=\"submit\" value=\"Submit\"></form>\n", f);
}

/* Apache's XML view (balancer_display_page(), usexml), element for
 * element where kbal has the value */
static void xml_view(const struct kbal_maps *m, FILE *f)
{
	char st[64];

	fputs("<?xml version='1.0' encoding='UTF-8' ?>\n"
	      "<httpd:manager xmlns:httpd='http://httpd.apache.org'>\n  <httpd:balancers>\n", f);
	for (unsigned b = 0; b < m->meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		const struct kbal_balancer *bal = &m->balancers[b];

		if (bal->flags & KBAL_BF_WORKER)
			continue;
		fputs("    <httpd:balancer>\n      <httpd:name>balancer://", f);
		html_escape(f, bal->name);
		fputs("</httpd:name>\n", f);
		if (bal->sticky[0]) {
			fputs("      <httpd:stickysession>", f);
			html_escape(f, bal->sticky);
			fprintf(f, "</httpd:stickysession>\n      <httpd:nofailover>%s</httpd:nofailover>\n",
				bal->flags & KBAL_BF_NOFAILOVER ? "On" : "Off");
		}
		/* (no newline after it in Apache's either) */
		fprintf(f, "      <httpd:timeout>%u</httpd:timeout>", bal->timeout_ms / 1000);
		if (bal->flags & KBAL_BF_MAX_SET)
			fprintf(f, "      <httpd:maxattempts>%u</httpd:maxattempts>\n",
				bal->max_attempts);
		fprintf(f, "      <httpd:lbmethod>%s</httpd:lbmethod>\n", lbmethods[bal->lbmethod % 3]);
		if (bal->sticky[0])
			fputs("      <httpd:scolonpathdelim>Off</httpd:scolonpathdelim>\n", f);
		fputs("      <httpd:workers>\n", f);
		for (unsigned i = 0; i < bal->nmembers; i++) {
			const struct kbal_member *mb = &m->members[bal->first_member + i];
			char ip[INET6_ADDRSTRLEN];

			if (bal->first_member + i >= KBAL_MAX_MEMBERS)
				break;
			fputs("        <httpd:worker>\n          <httpd:name>", f);
			html_escape(f, mb->url);
			fprintf(f, "</httpd:name>\n          <httpd:scheme>http</httpd:scheme>\n"
				"          <httpd:hostname>%s</httpd:hostname>\n"
				"          <httpd:loadfactor>%u.%02u</httpd:loadfactor>\n"
				"          <httpd:port>%u</httpd:port>\n",
				kbal_in6_ntop(mb->addr, ip, sizeof(ip)) ? ip : "",
				mb->lbfactor / 100, mb->lbfactor % 100, mb->port);
			fprintf(f, "          <httpd:status>%s</httpd:status>\n"
				"          <httpd:retries>0</httpd:retries>\n"
				"          <httpd:lbstatus>%lld</httpd:lbstatus>\n"
				"          <httpd:loadfactor>%u.%02u</httpd:loadfactor>\n"
				"          <httpd:transferred>%llu</httpd:transferred>\n"
				"          <httpd:read>%llu</httpd:read>\n"
				"          <httpd:elected>%llu</httpd:elected>\n"
				"          <httpd:route>",
				kbal_status_apache(mb->status, st, sizeof(st)), (long long)mb->lbstatus,
				mb->lbfactor / 100, mb->lbfactor % 100, (unsigned long long)mb->bytes_to,
				(unsigned long long)mb->bytes_from, (unsigned long long)mb->elected);
			html_escape(f, mb->route);
			fputs("</httpd:route>\n          <httpd:redirect>", f);
			html_escape(f, mb->redirect);
			fprintf(f, "</httpd:redirect>\n"
				"          <httpd:busy>%llu</httpd:busy>\n"
				"          <httpd:lbset>%u</httpd:lbset>\n        </httpd:worker>\n",
				(unsigned long long)mb->busy, mb->lbset);
		}
		fputs("      </httpd:workers>\n    </httpd:balancer>\n", f);
	}
	fputs("  </httpd:balancers>\n</httpd:manager>", f);
}

/* the view written to f (an open_memstream() of body) as a 200 response,
 * its body framed as frame says (enum kbal_mgr_frame; *keep cleared where
 * the connection's end frames it); httpd's handler sets no other line */
static int respond(FILE *f, char **body, size_t *blen, const char *type, int *keep, int frame,
		   char **out, size_t *len)
{
	const char *close;
	char framing[64] = "";
	int n;

	if (fclose(f)) {
		free(*body);
		return -errno;
	}
	if (frame == KBAL_MGR_CLOSE)
		*keep = 0;
	close = *keep ? "" : "Connection: close\r\n";
	if (frame == KBAL_MGR_LENGTH)
		snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", *blen);
	if (frame == KBAL_MGR_CHUNKED)
		/* the body as one chunk, then the last one; own_head_write()
		 * moves Transfer-Encoding after ap_set_keepalive()'s lines,
		 * where httpd's sets it */
		n = asprintf(out, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: "
			     "chunked\r\n%s\r\n%zx\r\n%s\r\n0\r\n\r\n", type, close, *blen, *body);
	else
		n = asprintf(out, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n%s%s\r\n%s", type,
			     framing, close, *body);
	free(*body);
	if (n < 0)
		return -ENOMEM;
	*len = n;
	return 0;
}

int kbal_manager_xml(const struct kbal_maps *m, int *keep, int frame, char **out, size_t *len)
{
	char *body = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&body, &blen);

	if (!f)
		return -errno;
	xml_view(m, f);
	if (fflush(f)) {
		fclose(f);
		free(body);
		return -ENOMEM;
	}
	/* ap_set_content_type_ex(r, "text/xml", 1): no charset */
	return respond(f, &body, &blen, "text/xml", keep,
		       blen > KBAL_MGR_WRITE_BUF ? frame : KBAL_MGR_LENGTH, out, len);
}

int kbal_manager_page(const struct kbal_maps *m, const char (*nonces)[KBAL_NONCE_LEN],
		      const char *action, const char *msg, const char *sig, int *keep, int frame,
		      char **out, size_t *len)
{
	char *body = NULL, st[64], chg[64];
	size_t blen = 0;
	unsigned nb = m->meta->nbalancers, *flows = calloc(KBAL_MAX_MEMBERS, sizeof(*flows));
	FILE *f = flows ? open_memstream(&body, &blen) : NULL;

	if (!f) {
		free(flows);
		return -ENOMEM;
	}
	flows_by_member(m, flows);
	fputs("<!DOCTYPE html>\n<html><head><title>Balancer Manager</title>\n"
	      "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
	      "th,td{border:1px solid #999;padding:2px 8px;text-align:left}"
	      ".bar{display:inline-block;width:80px;height:9px;background:#ddd;vertical-align:middle}"
	      ".bar span{display:block;height:100%;background:#37c}</style>"
	      "</head><body>\n<h1>Load Balancer Manager for kbal</h1>\n", f);
	fprintf(f, "<dl><dt>Server Version: kbal (layout %u)</dt><dt>kbald pid %u, state in %s</dt></dl>\n",
		m->meta->layout, m->meta->pid, m->pin_dir);
	if (msg && msg[0]) {
		fputs("<p id=\"result\"><b>", f);
		html_escape(f, msg);
		fputs("</b></p>\n", f);
	}
	for (unsigned b = 0; b < nb && b < KBAL_MAX_BALANCERS; b++) {
		const struct kbal_balancer *bal = &m->balancers[b];

		if (bal->flags & KBAL_BF_WORKER)
			continue;
		/* Apache's link (scripts read the nonce from it) */
		fputs("<hr />\n<h3>LoadBalancer Status for <a href=\"", f);
		html_escape(f, action);
		fputs("?b=", f);
		html_escape(f, bal->name);
		if (nonces[b][0]) {
			fputs("&amp;nonce=", f);
			html_escape(f, nonces[b]);
		}
		fputs("\">balancer://", f);
		html_escape(f, bal->name);
		fprintf(f, "</a> [%s]</h3>\n<table><tr><th>MaxMembers</th><th>StickySession</th>"
			"<th>DisableFailover</th><th>Timeout</th><th>FailoverAttempts</th>"
			"<th>Method</th><th>Splice</th></tr>\n<tr><td>%u [%u Used]</td><td>",
			bal->sticky[0] ? "sticky" : "no sticky", bal->slots, bal->nmembers);
		html_escape(f, bal->sticky[0] ? bal->sticky : "(None)");
		fprintf(f, "</td><td>%s</td><td>%u ms</td><td>%u</td><td>%s</td><td>%s</td></tr>"
			"</table>\n<br />\n", bal->flags & KBAL_BF_NOFAILOVER ? "On" : "Off",
			bal->timeout_ms, bal->max_attempts, lbmethods[bal->lbmethod % 3],
			bal->splice == KBAL_SPLICE_OFF ? "off" :
			bal->splice != KBAL_SPLICE_PACKET ?
			(bal->flags & KBAL_BF_SPLICE_SET ? "sockmap" :
			 "sockmap (default: the packet program unavailable)") :
			bal->flags & KBAL_BF_PACKET_FRAMED ? "packet (keep-alive: sockmap, "
							     "each request decided)" :
			bal->flags & KBAL_BF_SPLICE_SET ? "packet" : "packet (default)");
		unsigned long long elected = 0, live = 0;

		for (unsigned i = 0; i < bal->nmembers && bal->first_member + i < KBAL_MAX_MEMBERS; i++) {
			elected += m->members[bal->first_member + i].elected;
			live += flows[bal->first_member + i];
		}
		fputs("<table><tr><th>Worker URL</th><th>Route</th><th>RouteRedir</th>"
		      "<th>Factor</th><th>Set</th>"
		      "<th>Status</th><th>Share</th><th>Elected</th><th>Busy</th><th>Load</th>"
		      "<th>Errors</th>"
		      "<th>To</th><th>From</th><th>Idle</th><th>Reused</th>"
		      "<th>Changed at run time</th></tr>\n", f);
		for (unsigned i = 0; i < bal->nmembers; i++) {
			const struct kbal_member *mb = &m->members[bal->first_member + i];

			if (bal->first_member + i >= KBAL_MAX_MEMBERS)
				break;
			fputs("<tr><td>", f);
			html_escape(f, mb->url);
			fputs("</td><td>", f);
			html_escape(f, mb->route);
			fputs("</td><td>", f);
			html_escape(f, mb->redirect);
			fprintf(f, "</td><td>%u.%02u</td><td>%u</td><td>%s</td><td>",
				mb->lbfactor / 100, mb->lbfactor % 100, mb->lbset, kbal_status_apache(mb->status, st, sizeof(st)));
			bar(f, mb->elected, elected, "requests");
			fputs("<br />", f);
			bar(f, flows[bal->first_member + i], live, "live flows");
			fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%lld</td>"
				"<td>%llu</td><td>%llu</td><td>%llu</td><td>%u</td><td>%llu</td>"
				"<td class=\"changed\">%s%s</td></tr>\n",
				(unsigned long long)mb->elected, (unsigned long long)mb->busy,
				(long long)mb->lbstatus,
				(unsigned long long)mb->errors, (unsigned long long)mb->bytes_to,
				(unsigned long long)mb->bytes_from, mb->idle,
				(unsigned long long)mb->reused,
				m->members_conf[bal->first_member + i].flags & KBAL_MC_ADDED ?
				"added " : "",
				kbal_member_changes(mb, &m->members_conf[bal->first_member + i],
						    chg, sizeof(chg)));
		}
		fputs("</table>\n", f);
		if (nonces[b][0]) {
			fputs("<h4>Edit</h4>\n", f);
			for (unsigned i = 0; i < bal->nmembers; i++)
				if (bal->first_member + i < KBAL_MAX_MEMBERS)
					member_form(f, action, bal,
						    &m->members[bal->first_member + i], nonces[b]);
			balancer_form(f, action, bal, nonces[b]);
		} else {
			fputs("<p>Changes through this page are off (ProxySet nonce=None).</p>\n", f);
		}
	}
	flows_table(m, f);
	fputs("<hr /><p>Every request is decided as Apache decides it, on connections the "
	      "kernel carries too: a change here applies from the next request "
	      "(docs/operating.md).</p>\n", f);
	fprintf(f, "%s</body></html>\n", sig);
	free(flows);
	return respond(f, &body, &blen, "text/html; charset=ISO-8859-1", keep, frame, out, len);
}
