// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * restart.c - a restart in place (SIGHUP, SIGUSR1, kbalctl restart): the
 * configuration checked, the first exchanges under way let finish, and
 * the image replaced with every listener and handed-over connection
 * carried across (takeover.c moves the descriptors and records); the new
 * image maps the old one's members onto its configuration and takes the
 * connections over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "conn.h"
#include "daemon.h"
#include "exchange.h"
#include "flows.h"
#include "handover.h"
#include "linger.h"
#include "listener.h"
#include "log.h"
#include "logfile.h"
#include "manager.h"
#include "member_add.h"
#include "notify.h"
#include "privs.h"
#include "restart.h"

#define RESTART_WAIT_NS (5ull * 1000000000ull) /* first exchanges under way, at a restart */

/*
 * What a handed-over connection carries from one image to the next, in
 * one list for both directions (a field added is carried both ways or not
 * at all). fd, member and balancer go separately: the new image maps the
 * indexes onto its configuration.
 */
#define TO_SCALARS(X) X(rdhup) X(splice_mode) X(why) X(pkt) X(member_lport) X(key) \
	X(drain_since) X(since) X(nreq) X(member_rcvd0)

/* bit fields of kbal_conn, whole bytes in the record */
#define TO_BITS(X) X(fin_goal) X(once) X(upgrade)

#define TO_ARRAYS(X) X(fd) X(phase) X(fin) X(cookie) X(rd) X(wr) X(base) X(pkt_bytes)

#define TO_SAME_SIZE(f) _Static_assert(sizeof(((struct kbal_conn *)0)->f) == \
				       sizeof(((struct kbal_to_conn *)0)->f), "record field " #f);

TO_SCALARS(TO_SAME_SIZE)
TO_ARRAYS(TO_SAME_SIZE)
#define TO_COPY(f) memcpy(&to->f, &from->f, sizeof(to->f));
#define TO_SET(f) to->f = from->f;

static void conn_export(const struct kbal_daemon *d, const struct kbal_conn *from,
			struct kbal_to_conn *to)
{
	memset(to, 0, sizeof(*to));
	TO_SCALARS(TO_COPY)
	TO_ARRAYS(TO_COPY)
	TO_BITS(TO_SET)
	if (from->vhost_req) {
		/* by its name: the next configuration's <VirtualHost>s may
		 * come in another order (conn_vhosts() finds it again) */
		const struct kbal_conf_vhost *h = &d->conf->vhost[from->vhost_req - 1];

		snprintf(to->vhost, sizeof(to->vhost), "%s",
			 h->server_host[0] ? h->server_host : d->conf->server_host);
	}
	to->member = from->member;
	to->balancer = from->balancer;
	to->flags = (from->flow_in_map ? KBAL_TO_IN_MAP : 0) | (from->agent ? KBAL_TO_AGENT : 0) |
		    from->bounded * KBAL_TO_BOUND;
	if (from->pf) {
		to->has_pf = 1;
		to->pf = *from->pf;
	}
}

static unsigned export_list(const struct kbal_daemon *d, struct kbal_list *head,
			    struct kbal_to_conn *out)
{
	unsigned n = 0;

	for (struct kbal_list *l = head->next; l != head; l = l->next)
		conn_export(d, conn_of(l), &out[n++]);
	return n;
}

/* SIGHUP / SIGUSR1: check the configuration, stop accepting (the
 * listeners keep queueing for the next image), let the first exchanges
 * under way end */
void restart_begin(struct kbal_daemon *d)
{
	struct kbal_conf *conf;
	char msg[512];

	if (!d->exe) {
		log_warn("restart: the kbald binary is unknown: not restarting");
		return;
	}
	conf = malloc(sizeof(*conf));
	if (!conf || kbal_conf_load(d->conf->file, conf, msg, sizeof(msg), NULL, NULL) ||
	    kbal_privs_restart_ok(d->conf, conf, msg, sizeof(msg))) {
		log_err("restart refused, still running the old configuration: %s",
			conf ? msg : "out of memory");
		kbal_notify_still(conf ? msg : "out of memory");
		free(conf);
		d->maps.meta->refused++;
		return;
	}
	free(conf);
	kbal_notify_reloading();
	listener_pause(d, ACCEPT_RESTART);
	d->restarting = 1;
	d->restart_deadline = d->loop.now + RESTART_WAIT_NS;
	kbal_pool_release(&d->pool);
	log_info("restarting: %llu connection(s) open", (unsigned long long)d->nconns);
}

/*
 * A connection of the first list that can be handed over as it is: a
 * client that sent nothing yet (the next image starts its first exchange),
 * or one copied by kbald with nothing in its buffers.
 */
static unsigned first_handable(const struct kbal_conn *c)
{
	if (c->reused || c->pool)
		return 0;
	if (c->phase[UP] == P_HEAD && c->rd[CLIENT] == c->f->exch_rd && c->fd[MEMBER] < 0 &&
	    !c->fin[CLIENT] &&
	    !c->local && c->f->out_len[DOWN] == 0)
		return KBAL_TO_FRESH;
	for (int dir = 0; dir < 2; dir++)
		if (c->phase[dir] < P_SPLICED || c->fin[dir_src(dir)] ||
		    (c->phase[dir] == P_RELAY && !exch_all_written(c, dir)))
			return 0;
	return KBAL_TO_RELAY;
}

/* No first exchange left (or the wait is over): exec the next image. */
void restart_exec(struct kbal_daemon *d)
{
	struct kbal_takeover t = { .lock_fd = d->maps.lock_fd };
	struct kbal_list *n, *next;
	unsigned closed = 0;
	int err;

	if (handover_settle(d) && d->loop.now < d->restart_deadline)
		return;
	for (n = d->first.next; n != &d->first && d->loop.now < d->restart_deadline; n = n->next)
		if (!first_handable(conn_of(n)))
			return;
	kbal_flows_flush(d);
	t.conns = calloc(d->nconns + d->lingering.n ?: 1, sizeof(*t.conns));
	if (!t.conns) {
		err = -ENOMEM;
		goto failed;
	}
	for (n = d->first.next; n != &d->first; n = next) {
		struct kbal_conn *c = conn_of(n);
		unsigned how = first_handable(c);

		next = n->next;
		if (how) {
			conn_export(d, c, &t.conns[t.nconns]);
			t.conns[t.nconns++].flags |= how;
			continue;
		}
		/* its state is in kbald's buffers: it cannot go; its
		 * client's socket may linger, handed over below */
		conn_restart_cut(d, c);
		closed++;
	}
	for (n = d->idle.next; n != &d->idle; n = n->next) {
		/* keep-alive clients between two requests: the next image
		 * reads their next one; their flow entry says the last one's
		 * member, and the next image writes its own */
		kbal_flows_delete(d, conn_of(n));
		conn_export(d, conn_of(n), &t.conns[t.nconns]);
		t.conns[t.nconns++].flags |= KBAL_TO_FRESH | KBAL_TO_IDLE;
	}
	if (closed) {
		log_warn("restart: %u connection(s) still in their first exchange after %llu s: "
			 "closed (lingering where the client may still send)", closed,
			 RESTART_WAIT_NS / 1000000000ull);
		/* one the packet path gave back lingers through SHIFT entries,
		 * which go now as the others' went (pkt_settle()) */
		handover_settle(d);
	}
	kbal_pool_release(&d->pool);
	kbal_flows_flush(d);
	conn_free_dead(d);
	t.nconns += export_list(d, &d->spliced, t.conns + t.nconns);
	t.nconns += export_list(d, &d->sm.draining, t.conns + t.nconns);
	t.nconns += export_list(d, &d->pk.switching, t.conns + t.nconns);
	t.nconns += export_list(d, &d->pk.joined, t.conns + t.nconns);
	/* lingering closes go on in the next image, no wait here: httpd's
	 * old children finish theirs as the new ones start */
	t.nconns += linger_export(d, t.conns + t.nconns);
	mbox_export(d, &t);
	t.nlisten = d->acc.n;
	for (unsigned i = 0; i < d->acc.n; i++)
		t.listen_fd[i] = d->acc.l[i].fd;
	for (int i = 0; d->pk.on && i < d->pk.p.nifs; i++)
		for (int eg = 0; eg < 2; eg++)
			if (d->pk.p.ifs[i].link_fd[eg] >= 0)
				t.links[t.nlinks++] = (struct kbal_pkt_link){
					.fd = d->pk.p.ifs[i].link_fd[eg],
					.ifindex = d->pk.p.ifs[i].ifindex, .egress = eg };
	log_info("restarting: handing %u connection(s) to %s", t.nconns, d->exe);
	kbal_logfiles_flush();   /* the next image opens the files again */
	kbal_privs_exec(d->conf, 1);      /* as User: what the new image loads and binds with */
	err = kbal_takeover_exec(&t, d->exe, d->argv);
	kbal_privs_exec(d->conf, 0);
failed:
	free(t.conns);
	log_err("restart: exec %s: %s; still running", d->exe, strerror(-err));
	kbal_notify_still("the new image did not start");
	d->maps.meta->refused++;
	d->restarting = 0;
	d->acc.paused = ACCEPT_RETRY;
	d->acc.resume = 0;     /* the listeners back in at once */
}

/* The new image: the connections of the old one, in this one's lists. */
static int conn_import(struct kbal_daemon *d, const struct kbal_to_conn *r, int16_t member,
		       int16_t balancer)
{
	struct kbal_conn *c;
	struct kbal_list *list;

	if (r->flags & KBAL_TO_FRESH) {
		struct kbal_conn_was was = {
			.rd = r->rd[CLIENT], .wr = r->wr[CLIENT],
			.agent = !!(r->flags & KBAL_TO_AGENT),
			.bounded = (r->flags / KBAL_TO_BOUND) & 7, .nreq = r->nreq,
			.idle_since = r->flags & KBAL_TO_IDLE ? r->since : 0,
			.vhost = r->vhost,
		};

		/* fd taken, even on failure */
		conn_new(d, r->fd[CLIENT], &r->key, &was);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (r->has_pf) {
		c->pf = malloc(sizeof(*c->pf));
		if (!c->pf) {
			free(c);
			return -ENOMEM;
		}
		*c->pf = r->pf;
	}
	{
		const struct kbal_to_conn *from = r;
		struct kbal_conn *to = c;

		TO_SCALARS(TO_COPY)
		TO_ARRAYS(TO_COPY)
		TO_BITS(TO_SET)
	}
	c->member = member;
	c->balancer = balancer;
	conn_vhosts(d, c, r->vhost);   /* its Timeout and KeepAliveTimeout */
	c->flow_in_map = !!(r->flags & KBAL_TO_IN_MAP);
	c->agent = !!(r->flags & KBAL_TO_AGENT);
	c->bounded = (r->flags / KBAL_TO_BOUND) & 7;
	/* something the kernel handed back while no image watched */
	c->back = c->bounded && !c->agent;
	c->connected = 1;
	c->handed = 1;
	if (r->flags & KBAL_TO_RELAY) {
		/* copied by kbald: buffers again, as idle-proof as spliced */
		c->f = first_alloc();
		if (!c->f) {
			free(c->pf);
			free(c);
			return -ENOMEM;
		}
		c->f->deadline = ~0ull;
	}
	if (member >= 0)
		d->maps.members[member].busy++;
	d->nconns++;
	kbal_client_count_inc(&d->acc.clients, kbal_client_key(c->key.client_addr));
	handover_adopt(d, c);
	/* kbald's live sockets back under watch (an edge that came while no
	 * image watched is reported at once: epoll looks at the state when a
	 * socket is added); a frozen one never was */
	for (int side = 0; side < 2; side++) {
		int err;

		if (c->fd[side] < 0 || (c->pkt && (side == MEMBER || c->pkt == PKT_JOINED)))
			continue;
		if ((err = conn_watch(d, c, side, 0)))
			log_warn("restart: watching a connection's socket: %s", strerror(-err));
	}
	list = c->f ? &d->first : c->pkt == PKT_SWITCHING ? &d->pk.switching :
	       c->pkt ? &d->pk.joined : &d->spliced;
	list_add_tail(list, &c->node);
	if (!c->pkt)
		conn_progress(d, c);   /* a FIN seen meanwhile, a drain under way */
	return 0;
}

void restart_snapshot(struct kbal_daemon *d, struct takeover_snap *s)
{
	s->nbal = d->maps.meta->nbalancers < KBAL_MAX_BALANCERS ?
		  d->maps.meta->nbalancers : KBAL_MAX_BALANCERS;
	s->nmem = d->maps.meta->nmembers < KBAL_MAX_MEMBERS ?
		  d->maps.meta->nmembers : KBAL_MAX_MEMBERS;
	for (unsigned b = 0; b < s->nbal; b++) {
		snprintf(s->bal[b], sizeof(s->bal[b]), "%s", d->maps.balancers[b].name);
		s->bal_first[b] = d->maps.balancers[b].first_member;
		s->bal_used[b] = d->maps.balancers[b].nmembers;
	}
	memcpy(s->mem, d->maps.members, s->nmem * sizeof(s->mem[0]));
	memcpy(s->mem_conf, d->maps.members_conf, s->nmem * sizeof(s->mem_conf[0]));
}

/* old member i, added at run time and not in this configuration: added
 * again (its values and counters) into a free slot; its index, or -1 */
static int carry_added(struct kbal_daemon *d, const struct takeover_snap *s, unsigned i)
{
	const struct kbal_member *o = &s->mem[i];
	unsigned b = s->bal_now[o->balancer];
	int k = kbal_member_place(&d->maps, b, o, &s->mem_conf[i]);

	if (k < 0)
		log_warn("restart: balancer://%s has no free slot now (growth=) for %s, added "
			 "at run time: it is no member any more", s->bal[o->balancer], o->url);
	else
		log_info("restart: balancer://%s keeps %s, added at run time", s->bal[o->balancer],
			 o->url);
	return k;
}

/*
 * Match the old members to this configuration's by balancer and URL: their
 * counters go on, and so do the changes made at run time (the manager,
 * kbalctl set: what differed from what the old image loaded), over the
 * new file's values; what the run left as loaded takes the file's. busy
 * and idle are this image's own (its connections, its pool, empty).
 */
void restart_carry_members(struct kbal_daemon *d, struct takeover_snap *s)
{
	const struct kbal_meta *meta = d->maps.meta;

	for (unsigned b = 0; b < s->nbal; b++) {
		s->bal_now[b] = -1;
		for (unsigned n = 0; n < meta->nbalancers; n++)
			if (!strcmp(s->bal[b], d->maps.balancers[n].name))
				s->bal_now[b] = n;
	}
	for (unsigned i = 0; i < s->nmem; i++) {
		const struct kbal_member *o = &s->mem[i];

		s->mem_now[i] = -1;
		if (o->balancer >= s->nbal || i - s->bal_first[o->balancer] >= s->bal_used[o->balancer])
			continue;      /* a free slot */
		if (s->bal_now[o->balancer] < 0) {
			if (s->mem_conf[i].flags & KBAL_MC_ADDED)
				log_warn("restart: balancer://%s is gone: its member %s, added at run "
					 "time, with it", s->bal[o->balancer], o->url);
			continue;
		}
		if (kbal_member_find(&d->maps, s->bal_now[o->balancer], o->url) < 0 &&
		    s->mem_conf[i].flags & KBAL_MC_ADDED) {
			s->mem_now[i] = carry_added(d, s, i);
			continue;
		}
		kbal_for_each_member(&d->maps, j) {
			struct kbal_member *m = &d->maps.members[j];

			char chg[64];

			if (m->balancer != (unsigned)s->bal_now[o->balancer] || strcmp(m->url, o->url))
				continue;
			s->mem_now[i] = j;
			if (kbal_member_changes(o, &s->mem_conf[i], chg, sizeof(chg))[0]) {
				struct kbal_member_conf kept = {
					.status = o->status, .lbfactor = o->lbfactor,
					.lbset = o->lbset,
				};

				memcpy(kept.route, o->route, sizeof(kept.route));
				memcpy(kept.redirect, o->redirect, sizeof(kept.redirect));
				kbal_member_reset(m, &kept);
				log_info("%s: its run-time changes (%s) kept over the file's", m->url,
					 chg);
			}
			m->elected = o->elected;
			m->lbstatus = o->lbstatus;
			m->sticky_kept = o->sticky_kept;
			m->bytes_to = o->bytes_to;
			m->bytes_from = o->bytes_from;
			m->errors = o->errors;
			m->reused = o->reused;
			break;
		}
	}
}

/* Take over t's connections; those that cannot be are closed. */
void restart_take_conns(struct kbal_daemon *d, struct kbal_takeover *t,
			const struct takeover_snap *s)
{
	unsigned taken = 0, joined = 0, lingering = 0;

	for (unsigned i = 0; i < t->nconns; i++) {
		struct kbal_to_conn *r = &t->conns[i];
		int16_t member = r->member >= 0 && (unsigned)r->member < s->nmem ?
				 s->mem_now[r->member] : -1;
		int16_t bal = r->balancer >= 0 && (unsigned)r->balancer < s->nbal ?
			      s->bal_now[r->balancer] : -1;

		if (r->flags & KBAL_TO_LINGER) {
			linger_adopt(d, r);
			lingering++;
			continue;
		}
		if ((r->pkt && !d->pk.on) || conn_import(d, r, member, bal)) {
			for (int k = 0; k < 2; k++)
				if (r->fd[k] >= 0)
					close(r->fd[k]);
			continue;
		}
		taken++;
		joined += r->pkt != 0;
		if (member != r->member && r->flags & KBAL_TO_IN_MAP) {
			struct kbal_flow v;

			/* the flow's member has another index now */
			if (!bpf_map_lookup_elem(d->maps.flows_fd, &r->key, &v)) {
				v.member = member >= 0 ? (uint32_t)member : UINT32_MAX;
				bpf_map_update_elem(d->maps.flows_fd, &r->key, &v, BPF_EXIST);
			}
		}
	}
	d->maps.meta->restarts++;
	log_info("restarted: took over %u connection(s) (%u on the packet path) and %u listener(s), "
		 "%.1f ms after the exec", taken, joined, t->nlisten,
		 (double)(kbal_now_ns() - t->exec_ns) / 1e6);
	if (lingering)
		log_info("restarted: %u lingering close(s) go on (2 s at most)", lingering);
	if (taken + lingering < t->nconns)
		log_warn("restart: %u connection(s) could not be taken over: closed",
			 t->nconns - taken - lingering);
	t->nconns = 0;
}
