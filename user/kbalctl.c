// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kbalctl - read and change kbal's state: the pinned maps themselves.
 *
 *   kbalctl [--pin-dir DIR] members
 *   kbalctl [--pin-dir DIR] flows
 *   kbalctl [--pin-dir DIR] stats
 *   kbalctl [--pin-dir DIR] status
 *   kbalctl [--pin-dir DIR] set BALANCER MEMBER status=+D|-D|+S|-S|+H|-H|+R|-R|+N|-N|+E|-E|+I|-I
 *                                 loadfactor=N lbset=N route=R   (MEMBER: route or URL)
 *   kbalctl [--pin-dir DIR] reset [BALANCER [MEMBER]]
 *   kbalctl [--pin-dir DIR] add BALANCER URL
 *   kbalctl [--pin-dir DIR] restart
 *   kbalctl [--pin-dir DIR] host drain|activate|status|check
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "kbal_shared.h"
#include "hoststate.h"
#include "lb.h"
#include "log.h"
#include "manager.h"
#include "maps.h"
#include "inaddr.h"
#include "member_add.h"

static int cmd_members(struct kbal_maps *m, char **argv __attribute__((unused)))
{
	char st[64], ip[INET6_ADDRSTRLEN], lf[16];

	printf("%-16s %-6s %-21s %-6s %-4s %-12s %10s %6s %8s %12s %12s %5s %10s\n", "BALANCER",
	       "ROUTE", "ADDRESS", "FACTOR", "SET", "STATUS", "ELECTED", "BUSY", "ERRORS", "TO",
	       "FROM", "IDLE", "REUSED");
	kbal_for_each_member(m, i) {
		const struct kbal_member *mb = &m->members[i];
		char addr[INET6_ADDRSTRLEN + 8];

		kbal_in6_ntop(mb->addr, ip, sizeof(ip));
		snprintf(addr, sizeof(addr), kbal_in6_is_v4(mb->addr) ? "%s:%u" : "[%s]:%u", ip,
			 mb->port);
		printf("%-16s %-6s %-21s %-6s %-4u %-12s %10llu %6llu %8llu %12llu %12llu %5u %10llu\n",
		       m->balancers[mb->balancer % KBAL_MAX_BALANCERS].name, mb->route, addr,
		       kbal_lbfactor_str(mb->lbfactor, lf, sizeof(lf)), mb->lbset, kbal_status_str(mb->status, st, sizeof(st)),
		       (unsigned long long)mb->elected, (unsigned long long)mb->busy,
		       (unsigned long long)mb->errors, (unsigned long long)mb->bytes_to,
		       (unsigned long long)mb->bytes_from, mb->idle, (unsigned long long)mb->reused);
	}
	return 0;
}

static int cmd_flows(struct kbal_maps *m, char **argv __attribute__((unused)))
{
	static const char *const states[] = { "first", "spliced", "closing" };
	static const char *const paths[] = { "none", "sockmap", "copy", "packet" };
	struct kbal_flow_key key, next, *prev = NULL;
	struct kbal_flow v;
	char ip[INET6_ADDRSTRLEN + 2];
	unsigned n = 0;

	printf("%-21s %-6s %-8s %-8s %-6s %s\n", "CLIENT", "ROUTE", "STATE", "PATH", "LPORT",
	       "WHY");
	while (bpf_map_get_next_key(m->flows_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->flows_fd, &key, &v))
			continue;
		if (kbal_in6_is_v4(key.client_addr)) {
			kbal_in6_ntop(key.client_addr, ip, sizeof(ip));
		} else {
			ip[0] = '[';
			kbal_in6_ntop(key.client_addr, ip + 1, sizeof(ip) - 2);
			strcat(ip, "]");
		}
		printf("%s:%-15u %-6s %-8s %-8s %-6u %s\n", ip, ntohs(key.client_port),
		       v.member < KBAL_MAX_MEMBERS ? m->members[v.member].route : "?",
		       states[v.state % 3], paths[v.path % 4], v.member_lport,
		       kbal_why_name(v.why));
		n++;
	}
	printf("%u flow(s)\n", n);
	return 0;
}

static int cmd_stats(struct kbal_maps *m, char **argv __attribute__((unused)))
{
	static const char *const names[KBAL_STAT_MAX] = {
		[KBAL_STAT_REDIRECTED] = "redirected_skbs",
		[KBAL_STAT_BYTES] = "redirected_bytes",
		[KBAL_STAT_NO_PEER] = "dropped_no_peer",
		[KBAL_STAT_PKT_REWRITTEN] = "pkt_rewritten",
		[KBAL_STAT_PKT_DROPPED] = "pkt_dropped",
		[KBAL_STAT_PKT_UNPARSED] = "pkt_unparsed",
		[KBAL_STAT_PKT_REUSED] = "pkt_reused",
		[KBAL_STAT_SK_BACKLOG] = "sk_backlog",
		[KBAL_STAT_PKT_EV_LOST] = "pkt_ev_lost",
		[KBAL_STAT_SK_KEPT] = "sk_kept",
		[KBAL_STAT_SK_BACK] = "sk_back",
		[KBAL_STAT_PKT_RST_IGNORED] = "pkt_rst_ignored",
		[KBAL_STAT_SK_LAST] = "sk_last",
		[KBAL_STAT_SK_HELD] = "sk_held",
		[KBAL_STAT_PKT_FORWARDED] = "pkt_forwarded",
		[KBAL_STAT_PKT_FRAME_LOST] = "pkt_frame_lost",
		[KBAL_STAT_PKT_KEPT] = "pkt_kept",
		[KBAL_STAT_PKT_BACK] = "pkt_back",
		[KBAL_STAT_PKT_HELD] = "pkt_held",
		[KBAL_STAT_SK_MBOX] = "sk_mbox",
		[KBAL_STAT_SK_MBOX_NONE] = "sk_mbox_none",
		[KBAL_STAT_SK_STAMPED] = "sk_stamped",
		[KBAL_STAT_SK_STAMP_LOST] = "sk_stamp_lost",
	};

	unsigned long long v[KBAL_STAT_MAX];

	kbal_maps_stats(m, v);
	for (unsigned i = 0; i < KBAL_STAT_MAX; i++)
		printf("%-18s %llu\n", names[i], v[i]);
	return 0;
}

static int parse_status(const char *s, unsigned *st)
{
	static const char letters[] = "DSEHNIRC";  /* bit 0 up: enum kbal_member_status */

	if (!*s)
		return -EINVAL;
	while (*s) {
		const char *l;

		if ((s[0] != '+' && s[0] != '-') || !s[1] || !(l = strchr(letters, s[1])))
			return -EINVAL;
		if (s[0] == '+')
			*st |= 1u << (l - letters);
		else
			*st &= ~(1u << (l - letters));
		s += 2;
	}
	return 0;
}

/* MEMBER: its route, or its URL as the manager names it (case and a
 * trailing '/' aside) */
static int member_is(const struct kbal_member *mb, const char *name)
{
	size_t n = strlen(name);

	if (!strcmp(mb->route, name) && mb->route[0])
		return 1;
	if (n && name[n - 1] == '/')
		n--;
	return strlen(mb->url) == n && !strncasecmp(mb->url, name, n);
}

/* one KEY=VALUE on a member; 0, or 2 (bad input, said) */
static int set_one(struct kbal_member *mb, const char *kv)
{
	const char *v = strchr(kv, '=');
	char *end;
	long n;

	if (!v) {
		fprintf(stderr, "kbalctl: '%s': KEY=VALUE expected\n", kv);
		return 2;
	}
	v++;
	if (!strncmp(kv, "status=", 7)) {
		unsigned st = mb->status;

		if (parse_status(v, &st)) {
			fprintf(stderr, "kbalctl: bad status '%s' (e.g. +D, -D, +H)\n", v);
			return 2;
		}
		/* one word written in place: kbald's counters are untouched */
		__atomic_store_n(&mb->status, st, __ATOMIC_RELEASE);
	} else if (!strncmp(kv, "loadfactor=", 11)) {
		int lf = kbal_lbfactor_parse(v);

		if (lf < 0) {
			fprintf(stderr, "kbalctl: loadfactor must be 1..100 (1.5: hundredths count)\n");
			return 2;
		}
		__atomic_store_n(&mb->lbfactor, (unsigned)lf, __ATOMIC_RELEASE);
	} else if (!strncmp(kv, "lbset=", 6)) {
		n = strtol(v, &end, 10);
		if (*end || !*v || n < 0 || n > 99) {
			fprintf(stderr, "kbalctl: lbset must be 0..99\n");
			return 2;
		}
		__atomic_store_n(&mb->lbset, (__u16)n, __ATOMIC_RELEASE);
	} else if (!strncmp(kv, "route=", 6) || !strncmp(kv, "redirect=", 9)) {
		char route[KBAL_ROUTE_LEN] = "";

		if (strlen(v) >= sizeof(route)) {
			fprintf(stderr, "kbalctl: a route has at most %zu characters\n",
				sizeof(route) - 1);
			return 2;
		}
		strcpy(route, v);
		memcpy(kv[2] == 'u' ? mb->route : mb->redirect, route, sizeof(route));
	} else {
		fprintf(stderr, "kbalctl: unknown setting '%s' (status=, loadfactor=, lbset=, "
			"route=, redirect=)\n", kv);
		return 2;
	}
	return 0;
}

static int cmd_set(struct kbal_maps *m, char **argv)
{
	const char *bal = argv[0], *name = argv[1];

	kbal_for_each_member(m, i) {
		struct kbal_member *mb = &m->members[i];
		int rc = 0;

		if (strcmp(m->balancers[mb->balancer % KBAL_MAX_BALANCERS].name, bal) ||
		    !member_is(mb, name))
			continue;
		for (char **kv = argv + 2; *kv && !rc; kv++)
			rc = set_one(mb, *kv);
		/* the balancer's generation tells the kernel that requests it
		 * kept may now be decided otherwise */
		__atomic_add_fetch(&m->balancers[mb->balancer % KBAL_MAX_BALANCERS].gen, 1,
				   __ATOMIC_RELEASE);
		return rc;
	}
	fprintf(stderr, "kbalctl: no member '%s' (route or URL) in balancer '%s'\n", name, bal);
	return 1;
}

/* reset [BALANCER [MEMBER]]: the members' run-time changes (status but E,
 * load factor, lbset, route) back to the configured values kbald loaded
 * (kbal_members_conf), each said */
static int cmd_reset(struct kbal_maps *m, char **argv)
{
	const char *bal = argv[0], *name = bal ? argv[1] : NULL;
	unsigned n = 0;
	char chg[64];

	kbal_for_each_member(m, i) {
		struct kbal_member *mb = &m->members[i];
		struct kbal_balancer *mbal = &m->balancers[mb->balancer % KBAL_MAX_BALANCERS];

		if ((bal && strcmp(mbal->name, bal)) || (name && !member_is(mb, name)) ||
		    !kbal_member_changes(mb, &m->members_conf[i], chg, sizeof(chg))[0])
			continue;
		printf("%s %s: %s back to the configuration's\n", mbal->name, mb->url, chg);
		kbal_member_reset(mb, &m->members_conf[i]);
		__atomic_add_fetch(&mbal->gen, 1, __ATOMIC_RELEASE);
		n++;
	}
	printf("%u member(s) reset\n", n);
	return 0;
}

/* add BALANCER URL: as the manager's b_nwrkr with b_wyes=1, a member into
 * a free slot of the balancer's growth=, disabled; kbald sets up its side
 * at its next loop turn */
static int cmd_add(struct kbal_maps *m, char **argv)
{
	char msg[512];

	for (unsigned b = 0; b < m->meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		if (strcmp(m->balancers[b].name, argv[0]))
			continue;
		if (kbal_member_add(m, b, argv[1], 0, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "kbalctl: %s\n", msg);
			return 1;
		}
		printf("%s\n", msg);
		return 0;
	}
	fprintf(stderr, "kbalctl: no balancer '%s'\n", argv[0]);
	return 1;
}

/* the balancers, then their members: the manager page's tables */
static int cmd_status(struct kbal_maps *m, char **argv)
{
	static const char *const lbm[] = { "byrequests", "bytraffic", "bybusyness" };

	printf("%-16s %-12s %-10s %-12s %-10s %-8s %s\n", "BALANCER", "METHOD", "STICKY",
	       "NOFAILOVER", "TIMEOUT", "MEMBERS", "FREE");
	for (unsigned b = 0; b < m->meta->nbalancers && b < KBAL_MAX_BALANCERS; b++) {
		const struct kbal_balancer *bal = &m->balancers[b];

		printf("%-16s %-12s %-10s %-12s %-10u %-8u %u\n", bal->name, lbm[bal->lbmethod % 3],
		       bal->sticky[0] ? bal->sticky : "-",
		       bal->flags & KBAL_BF_NOFAILOVER ? "On" : "Off", bal->timeout_ms / 1000,   /* waiting for a member */
		       bal->nmembers, bal->slots - bal->nmembers);
	}
	printf("\n");
	cmd_members(m, argv);
	kbal_for_each_member(m, i) {
		char chg[64];

		if (m->members_conf[i].flags & KBAL_MC_ADDED)
			printf("%s %s: added at run time (no BalancerMember; a restart in place keeps "
			       "it, and a stop with BalancerPersist On)\n",
			       m->balancers[m->members[i].balancer % KBAL_MAX_BALANCERS].name,
			       m->members[i].url);
		if (kbal_member_changes(&m->members[i], &m->members_conf[i], chg, sizeof(chg))[0])
			printf("%s %s: changed at run time: %s (kbalctl reset puts it back)\n",
			       m->balancers[m->members[i].balancer % KBAL_MAX_BALANCERS].name,
			       m->members[i].url, chg);
	}
	return 0;
}

/*
 * SIGHUP to the kbald of the pins, then wait for its answer in kbal_meta:
 * restarts goes up (the new image took over), or refused does (the
 * configuration did not load; kbald's log says where).
 */
static int cmd_restart(struct kbal_maps *m, char **argv __attribute__((unused)))
{
	volatile struct kbal_meta *meta = m->meta;
	unsigned pid = meta->pid, restarts = meta->restarts, refused = meta->refused;
	struct timespec tick = { 0, 20000000 };

	if (!pid || kill((pid_t)pid, SIGHUP)) {
		fprintf(stderr, "kbalctl: kbald (pid %u of %s): %s\n", pid, m->pin_dir,
			pid ? strerror(errno) : "none");
		return 1;
	}
	/* the first exchanges under way get 5 s, the new image's load follows */
	for (int i = 0; i < 1000; i++) {
		nanosleep(&tick, NULL);
		if (meta->restarts != restarts) {
			printf("kbald (pid %u) restarted in place\n", pid);
			return 0;
		}
		if (meta->refused != refused) {
			fprintf(stderr, "kbalctl: kbald (pid %u) refused the restart and runs on: "
				"its log says why (kbald -t -f FILE checks a configuration)\n", pid);
			return 1;
		}
		if (kill((pid_t)pid, 0) && errno == ESRCH) {
			fprintf(stderr, "kbalctl: kbald (pid %u) is gone\n", pid);
			return 1;
		}
	}
	fprintf(stderr, "kbalctl: no answer from kbald (pid %u) in 20 s\n", pid);
	return 1;
}

/* SIGUSR2: kbald opens its log files again (after logrotate moved them) */
static int cmd_reopen(struct kbal_maps *m, char **argv __attribute__((unused)))
{
	unsigned pid = m->meta->pid;

	if (!pid || kill((pid_t)pid, SIGUSR2)) {
		fprintf(stderr, "kbalctl: kbald (pid %u of %s): %s\n", pid, m->pin_dir,
			pid ? strerror(errno) : "none");
		return 1;
	}
	return 0;
}

/* kbald's last loop turn older than this: wedged or stopped (SIGSTOP);
 * its loop turns once a second when idle */
#define HOST_BEAT_STALE_NS (3 * 1000000000ull)

static unsigned long long clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* kbald of the pins is there and its loop turns: NULL, or what is wrong.
 * Pins a SIGKILLed kbald left stay readable, hence the pid and the beat. */
static const char *host_alive(const struct kbal_maps *m)
{
	unsigned pid = __atomic_load_n(&m->meta->pid, __ATOMIC_RELAXED);
	unsigned long long beat = __atomic_load_n(&m->meta->beat_ns, __ATOMIC_RELAXED);

	/* EPERM: alive, another user's (a health check need not be root) */
	if (!pid || (kill((pid_t)pid, 0) && errno == ESRCH))
		return "kbald is gone (its pins are left over)";
	if (clock_ns(CLOCK_MONOTONIC) - beat > HOST_BEAT_STALE_NS)
		return "kbald's loop has not turned for 3 s (stopped or wedged)";
	return NULL;
}

/* KbalHost as kbald's program has it (kbal_hosts, pinned while the packet
 * path runs): this host's id, and the others the second chance reaches */
static void host_ids(const struct kbal_maps *m)
{
	struct kbal_host h[KBAL_MAX_HOSTS];
	char path[512], a[INET_ADDRSTRLEN];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, KBAL_MAP_HOSTS);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		printf("host id none (no KbalHost, or no packet path)\n");
		return;
	}
	for (__u32 i = 0; i < KBAL_MAX_HOSTS; i++)
		if (bpf_map_lookup_elem(fd, &i, &h[i]))
			memset(&h[i], 0, sizeof(h[i]));
	close(fd);
	if (h[0].self)
		printf("host id %u\n", h[0].self);
	else
		printf("host id none\n");
	for (unsigned i = 1; i < KBAL_MAX_HOSTS; i++)
		if (h[i].addr)
			printf("peer %u %s ifindex %u\n", i,
			       inet_ntop(AF_INET, &h[i].addr, a, sizeof(a)), h[i].ifindex);
}

/* what a start afresh of kbald would take (hoststate.h), and whether it
 * is the live state */
static void host_kept(const char *pin_dir, unsigned st)
{
	static const char *const names[] = { "active", "draining" };
	unsigned long long since;
	unsigned kept = KBAL_HOST_ACTIVE;
	char path[512];
	int err = kbal_host_state_load(pin_dir, &kept, &since);

	kbal_host_state_path(pin_dir, path, sizeof(path));
	if (err && err != -ENOENT) {
		printf("kept in %s: unreadable (%s): a start afresh begins draining\n", path,
		       err == -EINVAL ? "not a host state" : strerror(-err));
		return;
	}
	printf("kept in %s: %s%s\n", path, err ? "nothing (active)" : names[kept],
	       kept == st ? "" : ", not the live state (kbalctl host drain or activate again)");
}

/*
 * host drain|activate|status|check: the host's state in a cluster of
 * kbal hosts behind one address (docs/scale-out.md). kbald serves alike
 * in both states; the state is what the health check reads, and the
 * health check (ExaBGP's healthcheck running `kbalctl host check`) is
 * what announces the service address to the router or withdraws it.
 */
static int cmd_host(struct kbal_maps *m, char **argv)
{
	static const char *const names[] = { "active", "draining" };
	volatile struct kbal_meta *meta = m->meta;
	const char *what = argv[0], *dead;
	unsigned st = meta->host_state;
	char since[64] = "";

	if (!strcmp(what, "drain") || !strcmp(what, "activate")) {
		unsigned want = what[0] == 'd' ? KBAL_HOST_DRAINING : KBAL_HOST_ACTIVE;
		unsigned long long at = st == want ? meta->host_since_ns :
					clock_ns(CLOCK_REALTIME);
		char path[512];
		int err;

		/* kept for a start afresh first (again when already so: the
		 * file may be missing), then live: a kbald killed the next
		 * instant still starts in this state */
		err = kbal_host_state_save(m->pin_dir, want, at);
		if (st != want) {
			meta->host_since_ns = at;
			__atomic_store_n(&meta->host_state, want, __ATOMIC_RELEASE);
		}
		printf("host %s%s\n", names[want], st == want ? " (already)" : "");
		if (err) {
			kbal_host_state_path(m->pin_dir, path, sizeof(path));
			fprintf(stderr, "kbalctl: %s: %s: the state is not kept across a stop of "
				"kbald\n", path, strerror(-err));
			return 1;
		}
		return 0;
	}
	dead = host_alive(m);
	if (!strcmp(what, "check")) {
		/* the exit status is the answer; the line is for a person */
		if (dead) {
			printf("down: %s\n", dead);
			return 1;
		}
		if (st != KBAL_HOST_ACTIVE) {
			printf("down: host %s\n", st < 2 ? names[st] : "in an unknown state");
			return 1;
		}
		printf("up: kbald (pid %u) active\n", meta->pid);
		return 0;
	}
	if (strcmp(what, "status")) {
		fprintf(stderr, "kbalctl: host drain|activate|status|check, not '%s'\n", what);
		return 2;
	}
	if (meta->host_since_ns) {
		time_t t = (time_t)(meta->host_since_ns / 1000000000ull);
		struct tm tm;

		strftime(since, sizeof(since), " since %Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	}
	printf("host %s%s\nkbald pid %u: %s\n", st < 2 ? names[st] : "unknown", since,
	       meta->pid, dead ? dead : "running");
	host_kept(m->pin_dir, st);
	host_ids(m);
	return 0;
}

/* a command: its name, its arguments, what it does; usage() is made
 * from this table, and a new command is one entry */
static const struct command {
	const char *name;
	int min, max;                     /* arguments */
	const char *args, *help;
	int (*fn)(struct kbal_maps *m, char **argv);
} commands[] = {
	{ "members", 0, 0, "", "members: status, counters, kept connections", cmd_members },
	{ "flows",   0, 0, "", "live connections: client, member, path", cmd_flows },
	{ "stats",   0, 0, "", "the data paths' counters", cmd_stats },
	{ "status",  0, 0, "", "the balancers, then their members (the manager's tables)",
	  cmd_status },
	{ "set",     3, 64, "BALANCER MEMBER KEY=VALUE...",
	  "change a member (by route or URL) in place: status=[+-][DSHRNEIC]...,\n"
	  "           loadfactor=N, lbset=N, route=R, redirect=R; the next request sees it",
	  cmd_set },
	{ "reset",   0, 2, "[BALANCER [MEMBER]]",
	  "members changed at run time back to the configured values", cmd_reset },
	{ "add",     2, 2, "BALANCER URL",
	  "add a member (http://IPv4-or-host[:PORT]) into a free slot of the\n"
	  "           balancer's growth=, disabled (as the manager's Add New Worker)", cmd_add },
	{ "restart", 0, 0, "", "restart kbald in place, keeping the connections", cmd_restart },
	{ "reopen",  0, 0, "", "kbald opens its log files again (after logrotate)", cmd_reopen },
	{ "host",    1, 1, "drain|activate|status|check",
	  "this host's part in a cluster behind one address (docs/scale-out.md):\n"
	  "           drain: its health check fails, the router's route goes; activate:\n"
	  "           back (both kept across a stop, in " KBAL_STATE_DIR "); check: exit 0\n"
	  "           if kbald runs and the host is active", cmd_host },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: kbalctl [--pin-dir DIR] COMMAND\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s%s%s\n", commands[i].name, commands[i].args,
			commands[i].args[0] ? "\n           " : "", commands[i].help);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *pin_dir = KBAL_DEFAULT_PIN_DIR;
	struct kbal_maps m;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pin_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const struct command *cmd = NULL;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name) && argc - optind - 1 >= commands[i].min &&
		    argc - optind - 1 <= commands[i].max)
			cmd = &commands[i];
	if (!cmd) {
		usage(stderr);
		return 2;
	}
	kbal_log_init("kbalctl", KBAL_WARN);
	if (kbal_maps_open(&m, pin_dir))
		return 1;
	rc = cmd->fn(&m, argv + optind + 1);
	kbal_maps_close(&m);
	return rc;
}
