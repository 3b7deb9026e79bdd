// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "sockmap.skel.h"
#include "log.h"
#include "maps.h"

static const char *const pinned_names[] = {
	KBAL_MAP_META, KBAL_MAP_BALANCERS, KBAL_MAP_MEMBERS, KBAL_MAP_MEMBERS_CONF, KBAL_MAP_FLOWS,
	KBAL_MAP_SK_SRC, KBAL_MAP_SK_DST, KBAL_MAP_STATS, KBAL_MAP_PKT, KBAL_MAP_PKT_LIVE,
	KBAL_MAP_PKT_SEEN, KBAL_MAP_PKT_EVENTS, KBAL_MAP_SK_HTTP, KBAL_MAP_RULES,
	KBAL_MAP_PKT_FRAME, KBAL_MAP_PKT_DECIDE,
	KBAL_MAP_SK_MBOX, KBAL_MAP_MBOX_FREE, KBAL_MAP_MBOX_OWNER,
	KBAL_MAP_SK_STAMP, KBAL_MAP_STAMP_AT, KBAL_MAP_STAMP_TEXT,
};

static void maps_reset(struct kbal_maps *m)
{
	memset(m, 0, sizeof(*m));
	m->lock_fd = m->meta_fd = m->balancers_fd = m->members_fd = m->members_conf_fd = -1;
	m->flows_fd = m->src_fd = m->dst_fd = m->stats_fd = m->events_fd = -1;
	m->http_fd = m->rules_fd = -1;
	m->mbox_fd = m->mbox_free_fd = m->mbox_owner_fd = -1;
	m->stamp_fd = m->stamp_at_fd = -1;
}

/* bpffs must be mounted where the pins go; mount it at /sys/fs/bpf if not. */
static int ensure_bpffs(const char *dir)
{
	char parent[PATH_MAX];
	struct statfs st;
	char *slash;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (strcmp(parent, "/sys/fs/bpf") == 0 &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
		return 0;
	log_err("%s is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)", parent);
	return -ENOTSUP;
}

static int lock_dir(struct kbal_maps *m, int create, int inherited)
{
	if (create && mkdir(m->pin_dir, 0700) && errno != EEXIST) {
		log_err("mkdir %s: %s", m->pin_dir, strerror(errno));
		return -errno;
	}
	/* an inherited descriptor already holds the lock (same open file) */
	m->lock_fd = inherited >= 0 ? inherited :
		     open(m->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->lock_fd < 0) {
		log_err("open %s: %s", m->pin_dir, strerror(errno));
		return -errno;
	}
	if (create && flock(m->lock_fd, LOCK_EX | LOCK_NB)) {
		log_err("%s is in use by another kbald; give each instance its own --pin-dir",
			m->pin_dir);
		return -EBUSY;
	}
	return 0;
}

static void *map_mmap(int fd, size_t *len)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return NULL;
	*len = ((size_t)info.value_size * info.max_entries + page - 1) / page * page;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int map_all(struct kbal_maps *m)
{
	m->meta = map_mmap(m->meta_fd, &m->meta_len);
	m->balancers = map_mmap(m->balancers_fd, &m->balancers_len);
	m->members = map_mmap(m->members_fd, &m->members_len);
	m->members_conf = map_mmap(m->members_conf_fd, &m->members_conf_len);
	if (!m->meta || !m->balancers || !m->members || !m->members_conf) {
		log_err("mmap of the state maps in %s: %s", m->pin_dir, strerror(errno));
		return -errno ?: -EINVAL;
	}
	return 0;
}

static void unpin_all(const char *dir)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(pinned_names) / sizeof(pinned_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pinned_names[i]);
		if (unlink(path) && errno != ENOENT)
			log_warn("unlink %s: %s", path, strerror(errno));
	}
}

/* The pinned maps hold this layout: a restart may keep them. */
static int pinned_layout_ok(const char *dir)
{
	char path[PATH_MAX];
	struct kbal_meta meta;
	__u32 key = 0;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, KBAL_MAP_META);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	ok = bpf_map_lookup_elem(fd, &key, &meta) == 0 && meta.layout == KBAL_LAYOUT_VERSION;
	close(fd);
	return ok;
}

int kbal_maps_create(struct kbal_maps *m, const char *pin_dir, int lock_fd, int reuse,
		     unsigned (*stale)(const char *pin_dir))
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct sockmap_bpf *skel;
	struct timespec now;
	int err;

	maps_reset(m);
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	err = ensure_bpffs(m->pin_dir);
	if (err)
		return err;
	err = lock_dir(m, 1, lock_fd);
	if (err)
		goto fail;
	m->owner = 1;
	/* Pins left by a kbald that died: its sockets died with it. Maps of
	 * another layout are never reused, so start from nothing. A restart
	 * in place (takeover.h) keeps them: its flows live on in them. */
	if (reuse && !pinned_layout_ok(m->pin_dir)) {
		log_err("%s: the pinned maps are not of layout %u", m->pin_dir,
			KBAL_LAYOUT_VERSION);
		err = -EPROTO;
		m->owner = 0;
		goto fail;
	}
	if (!reuse) {
		/* a kbald that died left joined flows: their peers are told
		 * now rather than at their next packet */
		unsigned told = stale ? stale(m->pin_dir) : 0;

		if (told)
			log_info("%s: a previous kbald left %u open joined flow direction(s): "
				 "their peers were told (reset)", m->pin_dir, told);
		unpin_all(m->pin_dir);
	}

	opts.pin_root_path = m->pin_dir;
	skel = sockmap_bpf__open_opts(&opts);
	if (!skel) {
		err = -errno;
		log_err("opening the BPF object: %s", strerror(-err));
		goto fail;
	}
	m->skel = skel;
	err = kbal_maps_stats_fit(skel->maps.kbal_stats);
	if (!err)
		err = sockmap_bpf__load(skel);
	if (err) {
		log_err("loading the BPF programs: %s", strerror(-err));
		goto fail;
	}
	m->meta_fd = bpf_map__fd(skel->maps.kbal_meta);
	m->balancers_fd = bpf_map__fd(skel->maps.kbal_balancers);
	m->members_fd = bpf_map__fd(skel->maps.kbal_members);
	m->members_conf_fd = bpf_map__fd(skel->maps.kbal_members_conf);
	m->flows_fd = bpf_map__fd(skel->maps.kbal_flows);
	m->src_fd = bpf_map__fd(skel->maps.kbal_sk_src);
	m->dst_fd = bpf_map__fd(skel->maps.kbal_sk_dst);
	m->stats_fd = bpf_map__fd(skel->maps.kbal_stats);
	m->events_fd = bpf_map__fd(skel->maps.kbal_sk_events);
	m->http_fd = bpf_map__fd(skel->maps.kbal_sk_http);
	m->rules_fd = bpf_map__fd(skel->maps.kbal_rules);
	m->mbox_fd = bpf_map__fd(skel->maps.kbal_sk_mbox);
	m->mbox_free_fd = bpf_map__fd(skel->maps.kbal_mbox_free);
	m->mbox_owner_fd = bpf_map__fd(skel->maps.kbal_mbox_owner);
	m->stamp_fd = bpf_map__fd(skel->maps.kbal_sk_stamp);
	m->stamp_at_fd = bpf_map__fd(skel->maps.kbal_stamp_at);

	/* Parser and verdict, not BPF_SK_SKB_VERDICT alone: the verdict-only
	 * path reads with tcp_read_skb(), which redirects the already
	 * delivered head of an overlapping retransmission again (see
	 * sockmap.bpf.c). Attached by hand, before any socket is inserted. */
	err = bpf_prog_attach(bpf_program__fd(skel->progs.kbal_parser), m->src_fd,
			      BPF_SK_SKB_STREAM_PARSER, 0);
	if (err) {
		err = -errno;
		log_err("attaching the stream parser to %s: %s", KBAL_MAP_SK_SRC, strerror(-err));
		goto fail;
	}
	err = bpf_prog_attach(bpf_program__fd(skel->progs.kbal_verdict), m->src_fd,
			      BPF_SK_SKB_STREAM_VERDICT, 0);
	if (err) {
		err = -errno;
		log_err("attaching the verdict program to %s: %s", KBAL_MAP_SK_SRC, strerror(-err));
		goto fail;
	}
	/* the lines httpd adds to a member's answer, as its client's
	 * sockets are sent to (stamp.c): a program of its own, on a map of
	 * its own, so that only the sockets that need it pay its copy */
	err = bpf_prog_attach(bpf_program__fd(skel->progs.kbal_stamp), m->stamp_fd,
			      BPF_SK_MSG_VERDICT, 0);
	if (err) {
		err = -errno;
		log_err("attaching the sk_msg program to %s: %s", KBAL_MAP_SK_STAMP, strerror(-err));
		goto fail;
	}
	err = map_all(m);
	if (err)
		goto fail;
	m->stamp_text = map_mmap(bpf_map__fd(skel->maps.kbal_stamp_text), &m->stamp_text_len);
	if (!m->stamp_text) {
		err = -errno ?: -EINVAL;
		log_err("mmap of %s: %s", KBAL_MAP_STAMP_TEXT, strerror(-err));
		goto fail;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	m->meta->layout = KBAL_LAYOUT_VERSION;
	m->meta->pid = getpid();
	m->meta->started_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
	clock_gettime(CLOCK_MONOTONIC, &now);
	m->meta->beat_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
	return 0;
fail:
	kbal_maps_close(m);
	return err;
}

static int open_pinned(const struct kbal_maps *m, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		log_err("%s: %s (is kbald running with --pin-dir %s?)", path,
			strerror(errno), m->pin_dir);
	return fd;
}

int kbal_maps_open(struct kbal_maps *m, const char *pin_dir)
{
	int err = -ENOENT;

	maps_reset(m);
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	if ((m->meta_fd = open_pinned(m, KBAL_MAP_META)) < 0 ||
	    (m->balancers_fd = open_pinned(m, KBAL_MAP_BALANCERS)) < 0 ||
	    (m->members_fd = open_pinned(m, KBAL_MAP_MEMBERS)) < 0 ||
	    (m->members_conf_fd = open_pinned(m, KBAL_MAP_MEMBERS_CONF)) < 0 ||
	    (m->flows_fd = open_pinned(m, KBAL_MAP_FLOWS)) < 0 ||
	    (m->stats_fd = open_pinned(m, KBAL_MAP_STATS)) < 0)
		goto fail;
	err = map_all(m);
	if (err)
		goto fail;
	if (m->meta->layout != KBAL_LAYOUT_VERSION) {
		log_err("%s holds maps of layout %u, this kbalctl reads layout %u",
			m->pin_dir, m->meta->layout, KBAL_LAYOUT_VERSION);
		err = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	kbal_maps_close(m);
	return err;
}

void kbal_maps_close(struct kbal_maps *m)
{
	if (m->meta)
		munmap(m->meta, m->meta_len);
	if (m->balancers)
		munmap(m->balancers, m->balancers_len);
	if (m->members)
		munmap(m->members, m->members_len);
	if (m->members_conf)
		munmap(m->members_conf, m->members_conf_len);
	if (m->stamp_text)
		munmap(m->stamp_text, m->stamp_text_len);
	if (m->skel) {
		sockmap_bpf__destroy(m->skel);  /* closes the map fds */
	} else {
		int fds[] = { m->meta_fd, m->balancers_fd, m->members_fd, m->members_conf_fd,
			      m->flows_fd,
			      m->src_fd, m->dst_fd, m->stats_fd };
		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
	if (m->owner) {
		unpin_all(m->pin_dir);
		if (!rmdir(m->pin_dir) || errno == ENOENT)
			;
		else if (errno == EACCES && geteuid() != 0)
			log_info("%s: left empty (User may not remove it from its parent); the "
				 "next start takes it again", m->pin_dir);
		else
			log_warn("rmdir %s: %s", m->pin_dir, strerror(errno));
	}
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	maps_reset(m);
}

void kbal_maps_stats(const struct kbal_maps *m, unsigned long long out[KBAL_STAT_MAX])
{
	struct kbal_stat_line line;

	memset(out, 0, KBAL_STAT_MAX * sizeof(out[0]));
	/* up to the array's end, where the lookup fails */
	for (__u32 cpu = 0; bpf_map_lookup_elem(m->stats_fd, &cpu, &line) == 0; cpu++) {
		const __u64 *v = (const __u64 *)&line;

		for (unsigned i = 0; i < KBAL_STAT_MAX; i++)
			out[i] += v[i];
	}
}

int kbal_maps_stats_fit(struct bpf_map *map)
{
	int n = libbpf_num_possible_cpus();

	return n > 0 ? bpf_map__set_max_entries(map, n) : n;
}

const char *kbal_sk_back_name(unsigned why)
{
	static const char *const names[KBAL_SKB_MAX] = {
		[KBAL_SKB_NONE]     = "-",
		[KBAL_SKB_SYNTAX]   = "syntax",
		[KBAL_SKB_RULE]     = "rule",
		[KBAL_SKB_HOST]     = "host",
		[KBAL_SKB_ROUTE]    = "route",
		[KBAL_SKB_MEMBER]   = "member",
		[KBAL_SKB_RESPONSE] = "response",
		[KBAL_SKB_PEER]     = "peer",
		[KBAL_SKB_BUSY]     = "busy",
		[KBAL_SKB_GONE]     = "member-gone",
		[KBAL_SKB_UNASKED]  = "unasked",
		[KBAL_SKB_BALANCE]  = "balance",
		[KBAL_SKB_LAST]     = "max-keepalive-requests",
	};

	return why < KBAL_SKB_MAX && names[why] ? names[why] : "?";
}

const char *kbal_why_name(unsigned why)
{
	static const char *const names[KBAL_WHY_MAX] = {
		[KBAL_WHY_NONE]     = "-",
		[KBAL_WHY_ONCE]     = "one-request",
		[KBAL_WHY_BUSY]     = "bytes-queued",
		[KBAL_WHY_UPGRADE]  = "upgrade",
		[KBAL_WHY_RESPONSE] = "response-unbounded",
		[KBAL_WHY_OPTIONS]  = "tcp-options-differ",
		[KBAL_WHY_MSS]      = "mss",
		[KBAL_WHY_UNSEEN]   = "peer-unseen",
		[KBAL_WHY_LEGS]     = "loopback-and-not",
		[KBAL_WHY_RACE]     = "handover-race",
		[KBAL_WHY_REPAIR]   = "tcp-repair",
		[KBAL_WHY_MAP]      = "map-full",
		[KBAL_WHY_COPYING]  = "copied-first",
		[KBAL_WHY_BACK]     = "handed-back",
		[KBAL_WHY_REWRITE]  = "kbald-rewrites",
		[KBAL_WHY_IPV6]     = "ipv6",
		[KBAL_WHY_HTTP10]   = "http-1.0",
		[KBAL_WHY_GIVEN_BACK] = "given-back",
		[KBAL_WHY_COOKIE]   = "route-cookie",
	};

	return why < KBAL_WHY_MAX && names[why] ? names[why] : "?";
}
