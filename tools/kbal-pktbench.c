// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kbal-pktbench - what bpf/packet.bpf.c costs per packet, measured in the
 * kernel with BPF_PROG_TEST_RUN (repeat N: the kernel times the loop), no
 * network. The packets are those of a joined keep-alive flow on loopback:
 * a request with the timestamp option, a pure ACK, an ACK with one SACK
 * block, and a packet of no flow (what every other packet on lo pays).
 *
 *   kbal-pktbench [--repeat N]      (root: loads the program)
 *
 * Prints one line per packet kind: "kind ns/packet", the median of 5 runs.
 * The rewrite is the identity (deltas 0): the kernel repeats the program on
 * one skb, which must stay in its flow; the work done is the same.
 * The figure includes the test-run harness (skb setup per repeat is not
 * counted, the program call is); `make bench` reports the same program's
 * cost under real load (kernel.bpf_stats_enabled), this one isolates it.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kbal_shared.h"
#include "packet.skel.h"

#define RUNS 5

struct kind {
	const char *name;
	uint8_t flags;              /* TCP flag byte */
	uint8_t opts[40];
	uint8_t optlen;
	uint16_t payload;
	int in_map;
};

static const struct kind kinds[] = {
	{ "data+ts", 0x18, { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12, 100, 1 },
	{ "ack+ts", 0x10, { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12, 0, 1 },
	{ "ack+ts+sack", 0x10, { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
				 1, 1, 5, 10, 0, 0, 16, 0, 0, 0, 32, 0 }, 24, 0, 1 },
	{ "no-flow", 0x18, { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12, 100, 0 },
	/* kbal_pkt_live 0: no flow on the packet path at all */
	{ "none-live", 0x18, { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12, 100, -1 },
};

static size_t build(const struct kind *k, uint8_t *out)
{
	/* written through the header structs: 2 bytes in front put the IP
	 * header on a 4-byte boundary (the kernel's NET_IP_ALIGN; UBSan
	 * refuses a misaligned one), then the frame is copied to out */
	static uint8_t frame[2 + 2048] __attribute__((aligned(4)));
	uint8_t *buf = frame + 2;
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(buf + ETH_HLEN);
	struct tcphdr *tcp = (void *)(ip + 1);
	size_t tcplen = sizeof(*tcp) + k->optlen + k->payload;

	memset(buf, 0, ETH_HLEN + sizeof(*ip) + tcplen);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + tcplen);
	ip->saddr = htonl(0x7f000001);
	ip->daddr = htonl(k->in_map ? 0x7f000002 : 0x7f000003);
	tcp->source = htons(40000);
	tcp->dest = htons(8080);
	tcp->seq = htonl(1000);
	tcp->ack_seq = htonl(2000);
	tcp->doff = (sizeof(*tcp) + k->optlen) / 4;
	((uint8_t *)tcp)[13] = k->flags;
	tcp->window = htons(512);
	memcpy(tcp + 1, k->opts, k->optlen);
	memcpy(out, buf, ETH_HLEN + sizeof(*ip) + tcplen);
	return ETH_HLEN + sizeof(*ip) + tcplen;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The HTTP framing (kbal_pkt_frame, where the program has it): segments
 * with real bytes, each run once on a fresh frame state (a repeat would
 * see its own segment again as a retransmission and frame nothing), so
 * each figure is the median of FRAME_RUNS single runs (the harness's
 * per-run overhead included, the same before and after). Without the map
 * (the program before the framing) the same packets are only rewritten.
 */
#define FRAME_RUNS 20001

struct frame_kind {
	const char *name;
	const char *bytes;             /* NULL: body bytes ('x') */
	uint16_t len;
	uint32_t slot;                 /* 0 client -> member, 1 the other */
	struct kbal_pkt_frame st;      /* the direction's state before */
};

static size_t build_bytes(uint8_t *buf, const uint8_t *payload, size_t plen)
{
	static const struct kind k = { "", 0x18, { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12, 0, 1 };
	size_t hl = build(&k, buf);
	uint16_t tot = htons(hl - ETH_HLEN + plen);

	memcpy(buf + hl, payload, plen);
	/* (buf's IP header need not be aligned: its field by bytes) */
	memcpy(buf + ETH_HLEN + offsetof(struct iphdr, tot_len), &tot, sizeof(tot));
	return hl + plen;
}

#ifdef KBAL_PKT_FRAMING
struct frame_bench {                   /* as packet.bpf.c's */
	struct kbal_pkt_frame st;
	struct kbal_pkt_frame req;
	__u32 on;
};

static int warm_run(struct packet_bpf *skel, int fd, const struct frame_kind *k, uint8_t *in,
		    size_t len, uint8_t *out, int on, uint32_t *ns)
{
	struct frame_bench b = { .st = k->st, .on = on,
				 .req = { .gen = 1, .heads = 1, .state = KBAL_FRAME_HEAD } };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
		    .data_out = out, .data_size_out = 1600, .repeat = 200000);
	__u32 zero = 0;

	b.st.gen = 1;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_frame_bench), &zero, &b, BPF_ANY) ||
	    bpf_prog_test_run_opts(fd, &opts))
		return 1;
	*ns = opts.duration;
	return 0;
}
#endif

static int bench_frame(struct packet_bpf *skel, int prog_fd, const struct kbal_pkt_key *key,
		       struct kbal_pkt_rw *rw)
{
#ifdef KBAL_PKT_FRAMING
	int warm_fd = bpf_program__fd(skel->progs.kbal_pkt_frame_bench);
#else
	int warm_fd = -1;
#endif
	static const char req[] = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n"
				  "User-Agent: wrk\r\nAccept: */*\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 20:00:00 GMT\r\n"
				   "Server: Apache\r\nContent-Length: 612\r\n"
				   "Content-Type: text/html\r\nConnection: keep-alive\r\n\r\n";
	static char chunk[600];
	struct frame_kind fk[] = {
		{ "f-body1448", NULL, 1448, 0,
		  { .state = KBAL_FRAME_BODY, .left = 1 << 20, .seq = 1000 } },
		{ "f-req-head", req, sizeof(req) - 1, 0, { .state = KBAL_FRAME_HEAD, .seq = 1000 } },
		{ "f-min-head", "GET / HTTP/1.1\r\n\r\n", 18, 0, { .state = KBAL_FRAME_HEAD, .seq = 1000 } },
		{ "f-crlf", "\r\n", 2, 1, { .state = KBAL_FRAME_CHUNK_CRLF, .seq = 1000 } },
		{ "f-resp-head", resp, sizeof(resp) - 1, 1, { .state = KBAL_FRAME_HEAD, .seq = 1000 } },
		{ "f-chunk", chunk, 0, 1, { .state = KBAL_FRAME_CHUNK_SIZE, .seq = 1000 } },
		/* a direction not framed (lost): the lookup and the test */
		{ "f-lost1448", NULL, 1448, 0,
		  { .state = KBAL_FRAME_BODY, .left = 1 << 20, .seq = 1000,
		    .flags = KBAL_FRAME_LOST } },
	};
	struct bpf_map *fm = bpf_object__find_map_by_name(skel->obj, "kbal_pkt_frame");
	int map_fd = bpf_map__fd(skel->maps.kbal_pkt);
	static uint32_t ns[FRAME_RUNS];
	uint8_t payload[1500], in[1600], out[1600];
	int n;

	n = snprintf(chunk, sizeof(chunk), "1f4\r\n");
	memset(chunk + n, 'x', 500);
	memcpy(chunk + n + 500, "\r\n", 2);
	fk[5].len = n + 502;
	printf("# framing: %s\n", fm ? "kbal_pkt_frame" : "none (the program before)");
	{
		__u64 live = 1;
		__u32 zero = 0;

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt_live), &zero, &live, BPF_ANY))
			return 1;
	}
	for (size_t i = 0; i < sizeof(fk) / sizeof(fk[0]); i++) {
		struct frame_kind *k = &fk[i];
		size_t len;

		if (k->bytes)
			memcpy(payload, k->bytes, k->len);
		else
			memset(payload, 'x', k->len);
		len = build_bytes(in, payload, k->len);
		rw->gen = 1;
		rw->slot = k->slot;
		if (bpf_map_update_elem(map_fd, key, rw, BPF_ANY))
			return 1;
		for (int r = 0; r < FRAME_RUNS; r++) {
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
				    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

			/* the entry written before every run, with the framing
			 * or without (the harness the same before and after) */
			if (bpf_map_update_elem(map_fd, key, rw, BPF_ANY))
				return 1;
			if (fm) {
				/* the request side has seen the response's request */
				struct kbal_pkt_frame st = k->st, up = { .gen = 1, .heads = 1,
									 .state = KBAL_FRAME_HEAD };
				__u32 s0 = 0;

				st.gen = 1;
#ifdef KBAL_PKT_FRAMING
				rw->fr_flags = KBAL_PKT_FR_ON |
					       (st.flags & KBAL_FRAME_LOST ? KBAL_PKT_FR_LOST : 0);
				rw->fr_seq = st.seq;
				rw->fr_state = st.state;
				rw->fr_left = st.left;
#endif
				if (bpf_map_update_elem(map_fd, key, rw, BPF_ANY) ||
				    bpf_map_update_elem(bpf_map__fd(fm), &k->slot, &st, BPF_ANY) ||
				    (k->slot && bpf_map_update_elem(bpf_map__fd(fm), &s0, &up, BPF_ANY)))
					return 1;
			}
			if (bpf_prog_test_run_opts(prog_fd, &opts))
				return 1;
			ns[r] = opts.duration;
		}
		if (fm) {
			struct kbal_pkt_frame got;

			bpf_map_lookup_elem(bpf_map__fd(fm), &k->slot, &got);
			{
				struct kbal_pkt_rw now;

				bpf_map_lookup_elem(map_fd, key, &now);
#ifdef KBAL_PKT_FRAMING
				got.seq = now.fr_seq;
#endif
			}
			if ((got.flags & KBAL_FRAME_LOST) != (k->st.flags & KBAL_FRAME_LOST) ||
			    (!(got.flags & KBAL_FRAME_LOST) && got.seq != 1000u + k->len)) {
				fprintf(stderr, "kbal-pktbench: %s not framed (flags %#x seq %u)\n",
					k->name, got.flags, got.seq);
				return 1;
			}
		}
		{
			/* single runs are timed in clock steps (some 10 ns here):
			 * the mean (of the runs under 10 us: no interrupt) says
			 * more than the median */
			uint64_t sum = 0, cnt = 0;

			for (int r = 0; r < FRAME_RUNS; r++)
				if (ns[r] < 10000) {
					sum += ns[r];
					cnt++;
				}
			qsort(ns, FRAME_RUNS, sizeof(ns[0]), cmp_u32);
			printf("%-12s %u (mean %.1f)", k->name, ns[FRAME_RUNS / 2],
			       cnt ? (double)sum / cnt : 0.0);
		}
		if (warm_fd >= 0) {
			/* warm: the kernel's repeat loop, the state put back
			 * by the bench program each run; framing on against
			 * off (the same restore): the difference is the
			 * framing's */
			uint32_t on[RUNS], off[RUNS];

			for (int r = 0; r < RUNS; r++) {
				if (warm_run(skel, warm_fd, k, in, len, out, 1, &on[r]) ||
				    warm_run(skel, warm_fd, k, in, len, out, 0, &off[r]))
					return 1;
			}
			qsort(on, RUNS, sizeof(on[0]), cmp_u32);
			qsort(off, RUNS, sizeof(off[0]), cmp_u32);
			printf("   warm: %u framed, %u not: +%d", on[RUNS / 2], off[RUNS / 2],
			       (int)on[RUNS / 2] - (int)off[RUNS / 2]);
		}
		printf("\n");
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "repeat", required_argument, NULL, 'r' }, {} };
	struct kbal_pkt_key key = {
		.saddr = htonl(0x7f000001), .daddr = htonl(0x7f000002),
		.sport = htons(40000), .dport = htons(8080),
	};
	/* The test run repeats on one skb: a rewrite into another 4-tuple
	 * would leave the flow after the first run and time the miss. The
	 * identity rewrite does all the same work and stays in the flow. */
	struct kbal_pkt_rw rw = {
		.action = KBAL_PKT_REWRITE,
		.saddr = key.saddr, .daddr = key.daddr, .sport = key.sport, .dport = key.dport,
	};
	struct packet_bpf *skel;
	struct bpf_map *m;
	unsigned repeat = 1000000;
	int c, prog_fd, err;

	while ((c = getopt_long(argc, argv, "r:", lo, NULL)) != -1) {
		if (c != 'r' || !(repeat = strtoul(optarg, NULL, 10))) {
			fprintf(stderr, "usage: kbal-pktbench [--repeat N]\n");
			return 2;
		}
	}
	skel = packet_bpf__open();
	if (!skel) {
		fprintf(stderr, "kbal-pktbench: opening packet.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	bpf_object__for_each_map(m, skel->obj)
		bpf_map__set_pin_path(m, NULL);     /* nothing left on bpffs */
#ifdef KBAL_PKT_FRAMING
	bpf_program__set_autoload(skel->progs.kbal_pkt_frame_bench, true);
#endif
	err = packet_bpf__load(skel);
	if (err) {
		fprintf(stderr, "kbal-pktbench: loading packet.bpf.o (root?): %s\n", strerror(-err));
		packet_bpf__destroy(skel);
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.kbal_pkt_splice);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt), &key, &rw, BPF_ANY)) {
		fprintf(stderr, "kbal-pktbench: kbal_pkt: %s\n", strerror(errno));
		packet_bpf__destroy(skel);
		return 1;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		uint8_t in[256], out[256];
		size_t len = build(&kinds[i], in);
		uint32_t ns[RUNS];
		__u64 live = kinds[i].in_map >= 0;
		__u32 zero = 0;

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt_live), &zero, &live, BPF_ANY)) {
			fprintf(stderr, "kbal-pktbench: kbal_pkt_live: %s\n", strerror(errno));
			packet_bpf__destroy(skel);
			return 1;
		}

		for (int r = 0; r < RUNS; r++) {
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
				    .data_out = out, .data_size_out = sizeof(out),
				    .repeat = repeat);

			err = bpf_prog_test_run_opts(prog_fd, &opts);
			if (err) {
				fprintf(stderr, "kbal-pktbench: test run: %s\n", strerror(-err));
				packet_bpf__destroy(skel);
				return 1;
			}
			ns[r] = opts.duration;
		}
		qsort(ns, RUNS, sizeof(ns[0]), cmp_u32);
		printf("%-12s %u\n", kinds[i].name, ns[RUNS / 2]);
	}
	err = bench_frame(skel, prog_fd, &key, &rw);
	packet_bpf__destroy(skel);
	return err;
}
