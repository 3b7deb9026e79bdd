// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * metrics.c - the Prometheus text view (metrics.h): members and balancers
 * from the pinned maps, with what live connections have carried so far,
 * the connections by data path, and the kernel's counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "conn.h"
#include "daemon.h"
#include "lb.h"
#include "maps.h"
#include "metrics.h"
#include "splice_packet.h"
#include "splice_sockmap.h"

/* a label's value: backslash, quote and newline escaped */
static void label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {balancer, member, route[, flag]} */
static void member_labels(FILE *f, const struct kbal_maps *m, const struct kbal_member *mb,
			  const char *flag)
{
	fputc('{', f);
	label(f, "balancer", m->balancers[mb->balancer].name);
	fputc(',', f);
	label(f, "member", mb->url);
	fputc(',', f);
	label(f, "route", mb->route);
	if (flag) {
		fputc(',', f);
		label(f, "flag", flag);
	}
	fputc('}', f);
}

/* the bytes a live connection moved so far, as conn_account() will add them
 * to its member at its end; a joined flow's: what kbald moved before the
 * join (conn_account() too) and what the program carried since its
 * member's counters last took it (once a second, pkt_account()), read
 * exactly from its entries (two lookups a joined flow a scrape: before,
 * a flow that carried a whole answer since the last second showed none
 * of it) */
static void live_bytes(struct kbal_daemon *d, const struct kbal_conn *c, uint64_t *to,
		       uint64_t *from)
{
	uint64_t sent, recvd;

	*to = *from = 0;
	if (c->member < 0 || !c->connected)
		return;
	if (c->pkt) {
		struct kbal_pkt_state st;

		*to = c->wr[MEMBER];
		*from = c->rd[MEMBER];
		if (c->pkt == PKT_JOINED && c->pf && !kbal_packet_exact(&d->pk.p, c->pf, &st)) {
			*to += st.bytes_up > c->pkt_bytes[UP] ? st.bytes_up - c->pkt_bytes[UP] : 0;
			*from += st.bytes_down > c->pkt_bytes[DOWN] ?
				 st.bytes_down - c->pkt_bytes[DOWN] : 0;
		}
		return;
	}
	if (c->fd[MEMBER] < 0)
		return;
	if (c->reused) {
		*to = c->wr[MEMBER];
		*from = c->rd[MEMBER];
	} else if (kbal_sock_payload(c->fd[MEMBER], &sent, &recvd) == 0) {
		*to = sent;
		*from = recvd;
	}
}

enum { PATH_KBALD, PATH_SOCKMAP, PATH_PACKET, PATH_MAX };

static unsigned conn_path(const struct kbal_conn *c)
{
	if (c->pkt == PKT_JOINED)
		return PATH_PACKET;
	if (c->phase[UP] == P_SPLICED || c->phase[DOWN] == P_SPLICED)
		return PATH_SOCKMAP;
	return PATH_KBALD;
}

struct live {
	uint64_t *to, *from;          /* by member */
	unsigned long long paths[PATH_MAX];
};

static void walk(struct kbal_daemon *d, struct kbal_list *head, struct live *l)
{
	for (struct kbal_list *n = head->next; n != head; n = n->next) {
		const struct kbal_conn *c = conn_of(n);
		uint64_t to, from;

		l->paths[conn_path(c)]++;
		live_bytes(d, c, &to, &from);
		if (c->member >= 0 && c->member < KBAL_MAX_MEMBERS) {
			l->to[c->member] += to;
			l->from[c->member] += from;
		}
	}
}

static void members(FILE *f, const struct kbal_daemon *d, const struct live *l)
{
	static const struct { const char *name, *type, *help; } per[] = {
		{ "kbal_member_requests_total", "counter",
		  "Requests routed to the member (Apache's Elected), those the kernel kept included." },
		{ "kbal_member_sent_bytes_total", "counter",
		  "Bytes sent to the member, by kbald and by the kernel, live connections included." },
		{ "kbal_member_received_bytes_total", "counter",
		  "Bytes received from the member, by kbald and by the kernel, live connections included." },
		{ "kbal_member_connect_failures_total", "counter",
		  "Connections to the member that failed (each may put it in error)." },
		{ "kbal_member_connections", "gauge", "Connections open to the member." },
		{ "kbal_member_up", "gauge",
		  "1 when the member takes new requests now (not disabled, stopped, or in error)." },
	};
	static const struct { unsigned bit; const char *name; } flags[] = {
		{ KBAL_ST_DISABLED, "disabled" }, { KBAL_ST_STOPPED, "stopped" },
		{ KBAL_ST_ERROR, "error" }, { KBAL_ST_HOT_STANDBY, "hot_standby" },
		{ KBAL_ST_DRAIN, "drain" }, { KBAL_ST_IGNORE_ERR, "ignore_errors" },
		{ KBAL_ST_SPARE, "hot_spare" }, { KBAL_ST_HC_FAIL, "health_check_failed" },
	};
	const struct kbal_maps *m = &d->maps;

	for (size_t k = 0; k < sizeof(per) / sizeof(per[0]); k++) {
		head(f, per[k].name, per[k].type, per[k].help);
		for (unsigned i = 0; i < KBAL_MAX_MEMBERS; i++) {
			const struct kbal_member *mb = &m->members[i];
			unsigned long long v;

			if (!kbal_member_used(m, i))
				continue;
			switch (k) {
			case 0: v = mb->elected; break;
			case 1: v = mb->bytes_to + l->to[i]; break;
			case 2: v = mb->bytes_from + l->from[i]; break;
			case 3: v = mb->errors; break;
			case 4: v = mb->busy; break;
			default: v = kbal_lb_usable(mb, d->loop.now); break;
			}
			fputs(per[k].name, f);
			member_labels(f, m, mb, NULL);
			fprintf(f, " %llu\n", v);
		}
	}
	head(f, "kbal_member_load_factor", "gauge", "The member's loadfactor (Apache keeps hundredths).");
	for (unsigned i = 0; i < KBAL_MAX_MEMBERS; i++) {
		const struct kbal_member *mb = &m->members[i];

		if (!kbal_member_used(m, i))
			continue;
		fputs("kbal_member_load_factor", f);
		member_labels(f, m, mb, NULL);
		fprintf(f, " %u.%02u\n", mb->lbfactor / 100, mb->lbfactor % 100);
	}
	head(f, "kbal_member_status", "gauge",
	     "The member's status flags, as the balancer-manager shows them (1: set).");
	for (unsigned i = 0; i < KBAL_MAX_MEMBERS; i++) {
		const struct kbal_member *mb = &m->members[i];

		if (!kbal_member_used(m, i))
			continue;
		for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
			fputs("kbal_member_status", f);
			member_labels(f, m, mb, flags[k].name);
			fprintf(f, " %u\n", !!(mb->status & flags[k].bit));
		}
	}
}

static void balancers(FILE *f, const struct kbal_maps *m)
{
	head(f, "kbal_balancer_requests_total", "counter",
	     "Requests routed to the balancer's members, those the kernel kept included.");
	for (unsigned b = 0; b < m->meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		const struct kbal_balancer *bal = &m->balancers[b];
		unsigned long long sum = 0;

		for (unsigned i = 0; i < bal->nmembers; i++)
			sum += m->members[bal->first_member + i].elected;
		fputs("kbal_balancer_requests_total{", f);
		label(f, "balancer", bal->name);
		fprintf(f, "} %llu\n", sum);
	}
	head(f, "kbal_balancer_members", "gauge", "Members of the balancer, and how many are up.");
	for (unsigned b = 0; b < m->meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		const struct kbal_balancer *bal = &m->balancers[b];

		fputs("kbal_balancer_members{", f);
		label(f, "balancer", bal->name);
		fprintf(f, "} %u\n", bal->nmembers);
	}
}

static void kernel(FILE *f, const struct kbal_daemon *d, const struct live *l)
{
	static const char *const path[PATH_MAX] = { "kbald", "sockmap", "packet" };
	unsigned long long st[KBAL_STAT_MAX];

	head(f, "kbal_connections", "gauge",
	     "Client connections open, by what carries them now: kbald (its first exchange, "
	     "requests it decides, copies), the sockmap path, or the packet path.");
	for (unsigned p = 0; p < PATH_MAX; p++)
		fprintf(f, "kbal_connections{path=\"%s\"} %llu\n", path[p], l->paths[p]);
	kbal_maps_stats(&d->maps, st);
	head(f, "kbal_kernel_requests_total", "counter",
	     "Requests the sockmap path's parser kept in the kernel (decided as kbald would), "
	     "or handed back to kbald (requests and response heads).");
	fprintf(f, "kbal_kernel_requests_total{decision=\"kept\"} %llu\n", st[KBAL_STAT_SK_KEPT]);
	fprintf(f, "kbal_kernel_requests_total{decision=\"handed_back\"} %llu\n",
		st[KBAL_STAT_SK_BACK]);
	head(f, "kbal_packet_requests_total", "counter",
	     "Requests on joined flows the packet path's program kept (decided as kbald would), "
	     "or at which it gave the flow back to kbald.");
	fprintf(f, "kbal_packet_requests_total{decision=\"kept\"} %llu\n", st[KBAL_STAT_PKT_KEPT]);
	fprintf(f, "kbal_packet_requests_total{decision=\"given_back\"} %llu\n",
		st[KBAL_STAT_PKT_BACK]);
	head(f, "kbal_kernel_redirected_bytes_total", "counter",
	     "Bytes the sockmap path redirected from one socket to the other.");
	fprintf(f, "kbal_kernel_redirected_bytes_total %llu\n", st[KBAL_STAT_BYTES]);
	head(f, "kbal_kernel_joined_packets_total", "counter",
	     "Packets the packet path rewrote onto the other leg of a joined flow.");
	fprintf(f, "kbal_kernel_joined_packets_total %llu\n", st[KBAL_STAT_PKT_REWRITTEN]);
	head(f, "kbal_kernel_mailboxes", "gauge",
	     "Mailboxes kbald keeps for what the sockmap path hands back while a stream parser "
	     "cannot stop yet.");
	fprintf(f, "kbal_kernel_mailboxes %u\n", d->sm.mbox.n);
	head(f, "kbal_kernel_handed_back_queues_total", "counter",
	     "Handed-back sockets whose bytes the kernel queued for kbald: in a mailbox, or, none "
	     "free, on the socket's own ingress.");
	fprintf(f, "kbal_kernel_handed_back_queues_total{where=\"mailbox\"} %llu\n",
		st[KBAL_STAT_SK_MBOX]);
	fprintf(f, "kbal_kernel_handed_back_queues_total{where=\"own_ingress\"} %llu\n",
		st[KBAL_STAT_SK_MBOX_NONE]);
	head(f, "kbal_kernel_answer_stamps_total", "counter",
	     "Answer heads of members that leave out Date or Server to which the sockmap path's "
	     "sk_msg program added httpd's lines, or which it had to send without them.");
	fprintf(f, "kbal_kernel_answer_stamps_total{result=\"stamped\"} %llu\n",
		st[KBAL_STAT_SK_STAMPED]);
	fprintf(f, "kbal_kernel_answer_stamps_total{result=\"lost\"} %llu\n",
		st[KBAL_STAT_SK_STAMP_LOST]);
	head(f, "kbal_lingering_connections", "gauge",
	     "Client sockets kbald ended after its own answer, in their lingering close (what the "
	     "client still sends read and dropped).");
	fprintf(f, "kbal_lingering_connections %u\n", d->lingering.n);
	head(f, "kbal_start_time_seconds", "gauge", "When kbald started (Unix time).");
	fprintf(f, "kbal_start_time_seconds %.3f\n", (double)d->maps.meta->started_ns / 1e9);
	head(f, "kbal_restarts_total", "counter", "Restarts in place that took over.");
	fprintf(f, "kbal_restarts_total %u\n", d->maps.meta->restarts);
}

int kbal_metrics_response(struct kbal_daemon *d, int keep, char **out, size_t *len)
{
	struct live l = { .to = calloc(KBAL_MAX_MEMBERS, sizeof(uint64_t)),
			  .from = calloc(KBAL_MAX_MEMBERS, sizeof(uint64_t)) };
	char *body = NULL;
	size_t blen = 0;
	FILE *f = l.to && l.from ? open_memstream(&body, &blen) : NULL;
	int n;

	if (!f) {
		free(l.to);
		free(l.from);
		return -ENOMEM;
	}
	walk(d, &d->first, &l);
	walk(d, &d->idle, &l);
	walk(d, &d->spliced, &l);
	walk(d, &d->sm.draining, &l);
	walk(d, &d->pk.switching, &l);
	walk(d, &d->pk.joined, &l);
	members(f, d, &l);
	balancers(f, &d->maps);
	kernel(f, d, &l);
	free(l.to);
	free(l.from);
	if (fclose(f)) {
		free(body);
		return -ENOMEM;
	}
	n = asprintf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
		     "charset=utf-8\r\nCache-Control: no-cache\r\nContent-Length: %zu\r\n%s\r\n%s",
		     blen, keep ? "" : "Connection: close\r\n", body);
	free(body);
	if (n < 0)
		return -ENOMEM;
	*len = n;
	return 0;
}
