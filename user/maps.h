/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * maps.h - the pinned maps under the pin dir, seen from userspace.
 *
 * kbald creates them (kbal_maps_create: lock the dir, drop stale pins,
 * load the BPF object, pin, attach the verdict); kbalctl opens them
 * (kbal_maps_open: check the layout). The arrays are mmapped: the
 * members/balancers/meta pointers below *are* the maps.
 */
#ifndef KBAL_MAPS_H
#define KBAL_MAPS_H

#include <stddef.h>
#include "kbal_shared.h"

struct sockmap_bpf;

struct kbal_maps {
	char pin_dir[256];
	struct sockmap_bpf *skel;        /* kbald only */
	int lock_fd;                     /* flock on the pin dir: one owner */
	int owner;                       /* removes the pins on close */
	struct kbal_meta *meta;
	struct kbal_balancer *balancers; /* KBAL_MAX_BALANCERS entries */
	struct kbal_member *members;     /* KBAL_MAX_MEMBERS entries */
	struct kbal_member_conf *members_conf; /* KBAL_MAX_MEMBERS entries */
	size_t meta_len, balancers_len, members_len, members_conf_len;  /* mmap lengths */
	int meta_fd, balancers_fd, members_fd, members_conf_fd;
	int flows_fd, src_fd, dst_fd, stats_fd;
	int events_fd;                   /* kbal_sk_events (kbald only; the skeleton's) */
	int http_fd, rules_fd;           /* kbal_sk_http, kbal_rules (kbald only) */
	int mbox_fd, mbox_free_fd, mbox_owner_fd; /* the mailboxes' maps (kbald only,
					  * mailbox.c) */
	int stamp_fd, stamp_at_fd;       /* kbal_sk_stamp, kbal_stamp_at (kbald only,
					  * stamp.c) */
	struct kbal_stamp_text *stamp_text; /* mmapped (kbald only) */
	size_t stamp_text_len;
};

/*
 * lock_fd: an inherited descriptor of the pin dir that holds its flock
 * (a restart in place), taken over (closed on failure); -1 to open one.
 * reuse: keep the pinned maps and what they hold (same layout only),
 * else start from nothing: stale(pin_dir), if given, is called first,
 * with the dir locked, to deal with what a dead kbald left (the packet
 * path tells its joined flows' peers); it returns how many it told.
 */
int kbal_maps_create(struct kbal_maps *m, const char *pin_dir, int lock_fd, int reuse,
		     unsigned (*stale)(const char *pin_dir));

/* kbal_members[i] is a member: given to a balancer and within its
 * nmembers, not one of the free slots growth= leaves (kbal_shared.h) */
static inline int kbal_member_used(const struct kbal_maps *m, unsigned i)
{
	const struct kbal_balancer *b;

	if (i >= m->meta->nmembers || i >= KBAL_MAX_MEMBERS)
		return 0;
	b = &m->balancers[m->members[i].balancer % KBAL_MAX_BALANCERS];
	return i - b->first_member < __atomic_load_n(&b->nmembers, __ATOMIC_ACQUIRE);
}

/* each member's index i in kbal_members, free slots left out */
#define kbal_for_each_member(m, i) \
	for (unsigned i = 0; i < (m)->meta->nmembers && i < KBAL_MAX_MEMBERS; i++) \
		if (kbal_member_used(m, i))

/* enum kbal_flow_why in a word, for logs, kbalctl and the manager page */
const char *kbal_why_name(unsigned why);
/* enum kbal_sk_back: why the kernel handed a socket's messages back */
const char *kbal_sk_back_name(unsigned why);
int kbal_maps_open(struct kbal_maps *m, const char *pin_dir);
void kbal_maps_close(struct kbal_maps *m);

/* The kbal_stats counters summed over the CPUs' lines, by enum kbal_stat. */
void kbal_maps_stats(const struct kbal_maps *m, unsigned long long out[KBAL_STAT_MAX]);

struct bpf_map;

/* Before loading an object with kbal_stats: a line for every possible CPU. */
int kbal_maps_stats_fit(struct bpf_map *map);

#endif
