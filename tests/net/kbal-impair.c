// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kbal-impair - attach tests/net/impair.bpf.c to a device's tc egress in
 * the current network namespace, or show its counts.
 *
 *   kbal-impair DEV [--loss P] [--dup P] [--reorder P]    (P in percent)
 *   kbal-impair DEV --counts                              seen lost dup delayed
 *
 * The filter stays after exit (tc holds the program); it goes with the
 * clsact qdisc or the device. --reorder needs an HTB root qdisc on DEV
 * with a slow class 1:2 (the test creates it).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "impair.skel.h"

static __u32 per100k(const char *s)
{
	double p = strtod(s, NULL);

	if (p < 0 || p > 100) {
		fprintf(stderr, "kbal-impair: %s: not a percentage\n", s);
		exit(2);
	}
	return (__u32)(p * 1000 + 0.5);
}

static int counts(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = 1, .priority = 1);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[1], map_id;
	__u64 v[4] = {};
	int fd, mfd;

	if (bpf_tc_query(&hook, &tc)) {
		fprintf(stderr, "kbal-impair: no impair filter: %s\n", strerror(errno));
		return 1;
	}
	fd = bpf_prog_get_fd_by_id(tc.prog_id);
	info.nr_map_ids = 1;
	info.map_ids = (__u64)(unsigned long)ids;
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || info.nr_map_ids < 1)
		return 1;
	map_id = ids[0];
	mfd = bpf_map_get_fd_by_id(map_id);
	if (mfd < 0)
		return 1;
	for (__u32 k = 0; k < 4; k++)
		bpf_map_lookup_elem(mfd, &k, &v[k]);
	printf("%llu %llu %llu %llu\n", (unsigned long long)v[0], (unsigned long long)v[1],
	       (unsigned long long)v[2], (unsigned long long)v[3]);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc, .handle = 1, .priority = 1);
	struct impair_bpf *skel;
	__u32 loss = 0, dup = 0, reorder = 0;
	int ifindex, err;

	if (argc < 2) {
		fprintf(stderr, "usage: kbal-impair DEV [--loss P] [--dup P] [--reorder P] | --counts\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "kbal-impair: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--counts"))
			return counts(ifindex);
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--loss"))
			loss = per100k(argv[++i]);
		else if (!strcmp(argv[i], "--dup"))
			dup = per100k(argv[++i]);
		else if (!strcmp(argv[i], "--reorder"))
			reorder = per100k(argv[++i]);
		else
			goto usage;
	}
	skel = impair_bpf__open();
	if (!skel)
		return 1;
	skel->rodata->loss = loss;
	skel->rodata->dup = dup;
	skel->rodata->reorder = reorder;
	if ((err = impair_bpf__load(skel))) {
		fprintf(stderr, "kbal-impair: load: %s\n", strerror(-err));
		return 1;
	}
	hook.ifindex = ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		fprintf(stderr, "kbal-impair: clsact on %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	tc.prog_fd = bpf_program__fd(skel->progs.impair);
	tc.flags = BPF_TC_F_REPLACE;
	if ((err = bpf_tc_attach(&hook, &tc))) {
		fprintf(stderr, "kbal-impair: attach to %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	impair_bpf__destroy(skel);
	return 0;
usage:
	fprintf(stderr, "kbal-impair: bad arguments\n");
	return 2;
}
