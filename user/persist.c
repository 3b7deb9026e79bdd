// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* persist.c - run-time changes across a stop (persist.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "daemon.h"
#include "hoststate.h"
#include "lb.h"
#include "log.h"
#include "manager.h"
#include "member_add.h"
#include "persist.h"

static void persist_path(const struct kbal_daemon *d, char *path, size_t len)
{
	const char *base = strrchr(d->maps.pin_dir, '/');

	if (d->conf->persist_file[0])
		snprintf(path, len, "%s", d->conf->persist_file);
	else
		snprintf(path, len, "/run/kbal/%s.persist", base ? base + 1 : d->maps.pin_dir);
}

int persist_save(struct kbal_daemon *d)
{
	char path[512], tmp[600], chg[64], lf[16];
	unsigned n = 0;
	FILE *f;

	if (!d->conf->balancer_persist || !d->maps.members)
		return 0;
	persist_path(d, path, sizeof(path));
	if (!d->conf->persist_file[0])
		mkdir("/run/kbal", 0750);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		log_warn("BalancerPersist: %s: %s", tmp, strerror(errno));
		return -errno;
	}
	kbal_for_each_member(&d->maps, i) {
		const struct kbal_member *mb = &d->maps.members[i];

		int added = d->maps.members_conf[i].flags & KBAL_MC_ADDED;

		/* a member added at run time is a change in itself */
		if (!added && !kbal_member_changes(mb, &d->maps.members_conf[i], chg, sizeof(chg))[0])
			continue;
		fprintf(f, "%s %s %u %s %u %s%s%s%s\n", d->maps.balancers[mb->balancer %
			KBAL_MAX_BALANCERS].name, mb->url, mb->status & ~KBAL_ST_ERROR,
			kbal_lbfactor_str(mb->lbfactor, lf, sizeof(lf)), mb->lbset, mb->route[0] ? mb->route : "-",
			mb->redirect[0] ? " redirect=" : "", mb->redirect, added ? " added" : "");
		n++;
	}
	if (fclose(f) || rename(tmp, path)) {
		log_warn("BalancerPersist: %s: %s", path, strerror(errno));
		unlink(tmp);
		return -errno;
	}
	log_info("BalancerPersist: %u member(s) with run-time changes written to %s", n, path);
	return 0;
}

/* an added member's line: the member again, disabled, before its values
 * are applied (unless the configuration has it now); 0, or -1 (logged) */
static int persist_add(struct kbal_daemon *d, const char *bal, const char *url,
		       const char *path, unsigned lineno)
{
	char msg[512];

	for (unsigned b = 0; b < d->maps.meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		if (strcmp(d->maps.balancers[b].name, bal))
			continue;
		if (kbal_member_find(&d->maps, b, url) >= 0)
			return 0;
		if (kbal_member_add(&d->maps, b, url, 0, msg, sizeof(msg)) >= 0) {
			log_info("BalancerPersist: %s", msg);
			return 0;
		}
		log_warn("BalancerPersist: %s:%u: %s", path, lineno, msg);
		return -1;
	}
	log_warn("BalancerPersist: %s:%u: no balancer://%s now: member %s left out", path, lineno,
		 bal, url);
	return -1;
}

void persist_load(struct kbal_daemon *d)
{
	char path[512], line[512];
	unsigned n = 0, lineno = 0;
	FILE *f;

	if (!d->conf->balancer_persist)
		return;
	persist_path(d, path, sizeof(path));
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT)
			log_warn("BalancerPersist: %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char bal[KBAL_NAME_LEN], url[KBAL_NAME_LEN], route[KBAL_ROUTE_LEN], added[8] = "";
		char lf[24];
		struct kbal_member_conf v = { 0 };
		int found = 0, fields, end = 0, bad = 0;
		char *tok, *save;

		lineno++;
		/* the load factor as written (1, 1.5; older files: whole ones) */
		fields = sscanf(line, "%63s %63s %u %23s %u %31s%n", bal, url, &v.status,
				lf, &v.lbset, route, &end);
		v.lbfactor = fields >= 4 && kbal_lbfactor_parse(lf) > 0 ? kbal_lbfactor_parse(lf) : 0;
		/* then: redirect=ROUTE, added */
		for (tok = fields == 6 ? strtok_r(line + end, " \t\n", &save) : NULL; tok;
		     tok = strtok_r(NULL, " \t\n", &save)) {
			if (!strcmp(tok, "added"))
				strcpy(added, tok);
			else if (!strncmp(tok, "redirect=", 9) && strlen(tok + 9) < KBAL_ROUTE_LEN)
				strcpy(v.redirect, tok + 9);
			else
				bad = 1;
		}
		if (fields < 6 || bad || !v.lbfactor || v.lbset > 99) {
			log_warn("BalancerPersist: %s:%u: not a member's line, left out", path, lineno);
			continue;
		}
		if (strcmp(route, "-"))
			snprintf(v.route, sizeof(v.route), "%s", route);
		/* added at run time (not in the file now): into a free slot again */
		if (added[0] && persist_add(d, bal, url, path, lineno))
			continue;
		kbal_for_each_member(&d->maps, i) {
			struct kbal_member *mb = &d->maps.members[i];
			struct kbal_balancer *b = &d->maps.balancers[mb->balancer % KBAL_MAX_BALANCERS];

			if (strcmp(b->name, bal) || strcasecmp(mb->url, url))
				continue;
			kbal_member_reset(mb, &v);
			b->gen++;
			found = 1;
			n++;
			break;
		}
		if (!found)
			log_warn("BalancerPersist: %s:%u: no member %s in balancer://%s now, left out",
				 path, lineno, url, bal);
	}
	fclose(f);
	log_info("BalancerPersist: run-time changes of %u member(s) from %s applied", n, path);
}

void persist_host_load(struct kbal_daemon *d)
{
	unsigned long long since = 0;
	unsigned st = KBAL_HOST_ACTIVE;
	char path[512], when[64] = "?";
	int err = kbal_host_state_load(d->maps.pin_dir, &st, &since);
	struct tm tm;
	time_t t;

	if (err == -ENOENT)
		return;
	kbal_host_state_path(d->maps.pin_dir, path, sizeof(path));
	if (err) {
		/* a drain kbalctl may have asked for: out of the route
		 * rather than in by mistake */
		log_warn("host state: %s: %s: starting draining (kbalctl host activate)", path,
			 err == -EINVAL ? "not a host state" : strerror(-err));
		since = 0;
		st = KBAL_HOST_DRAINING;
	} else {
		t = (time_t)(since / 1000000000ull);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		log_warn("host draining since %s (kept in %s): the health check fails until "
			 "kbalctl host activate", when, path);
	}
	d->maps.meta->host_since_ns = since;
	__atomic_store_n(&d->maps.meta->host_state, st, __ATOMIC_RELEASE);
}
