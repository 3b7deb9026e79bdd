// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Table-driven tests of bpf/packet.bpf.c through BPF_PROG_TEST_RUN, with no
 * network at all (katran-style): each packet is built here, run through the
 * real program in the kernel, and the result is checked field by field
 * against a reference rewrite, checksums recomputed from scratch.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kbal_shared.h"
#include "packet.skel.h"
#include "unit.h"

#define OPT_MAX 40

struct pkt_spec {
	uint32_t saddr, daddr;         /* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint16_t window;
	uint8_t flags;                 /* TCP flag byte: FIN 1, SYN 2, RST 4, PSH 8, ACK 16 */
	uint8_t opts[OPT_MAX];
	uint8_t optlen;                /* multiple of 4 */
	uint8_t ip_opts;               /* extra IP header words (NOPs) */
	uint16_t payload;
	uint8_t proto;                 /* 0: TCP */
};

static struct packet_bpf *skel;
static int prog_fd, map_fd, live_fd;
static int lo_fd, ingress_fd, egress_fd;   /* the three attach points */
static __u32 run_iif;                      /* __sk_buff.ingress_ifindex of a run */

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add_bytes(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	return sum;
}

/* bytes[0..n) as the payload of the IPv4 TCP packet in[0..len) (its
 * last n bytes), and its TCP checksum again over them */
static void put_payload(uint8_t *in, size_t len, const void *bytes, size_t n)
{
	uint8_t *ip = in + ETH_HLEN, *tcp = ip + 20;
	size_t tcplen = len - ETH_HLEN - 20;
	uint32_t sum;

	memcpy(in + len - n, bytes, n);
	tcp[16] = tcp[17] = 0;
	sum = csum_add_bytes(0, ip + 12, 8);
	sum += IPPROTO_TCP + tcplen;
	sum = csum_add_bytes(sum, tcp, tcplen);
	sum = csum_fold(sum);
	tcp[16] = sum >> 8;
	tcp[17] = sum & 0xff;
}

/* checksums computed from scratch: 1 when both are valid */
static int checksums_ok(const uint8_t *pkt, size_t len)
{
	/* read as bytes: the IP header at offset 14 is not 4-byte aligned */
	const uint8_t *ip = pkt + ETH_HLEN;
	size_t ihl = (ip[0] & 0xf) * 4, l4len = len - ETH_HLEN - ihl;
	uint32_t sum;

	if (csum_fold(csum_add_bytes(0, ip, ihl)) != 0)
		return 0;
	sum = csum_add_bytes(0, ip + offsetof(struct iphdr, saddr), 8);
	sum += IPPROTO_TCP + l4len;
	sum = csum_add_bytes(sum, pkt + ETH_HLEN + ihl, l4len);
	return csum_fold(sum) == 0;
}

static size_t build(const struct pkt_spec *s, uint8_t *out)
{
	/* written through the header structs: 2 bytes in front put the IP
	 * header on a 4-byte boundary (the kernel's NET_IP_ALIGN), then the
	 * frame is copied to out */
	static uint8_t frame[2 + 2048] __attribute__((aligned(4)));
	uint8_t *buf = frame + 2;
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(buf + ETH_HLEN);
	size_t ihl = sizeof(*ip) + s->ip_opts * 4;
	struct tcphdr *tcp = (void *)((uint8_t *)ip + ihl);
	size_t tcplen = sizeof(*tcp) + s->optlen + s->payload;
	uint32_t sum;

	memset(buf, 0, ETH_HLEN + ihl + tcplen);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = ihl / 4;
	ip->ttl = 64;
	ip->protocol = s->proto ? s->proto : IPPROTO_TCP;
	ip->tot_len = htons(ihl + tcplen);
	ip->saddr = htonl(s->saddr);
	ip->daddr = htonl(s->daddr);
	memset(ip + 1, 1, ihl - sizeof(*ip));   /* IP NOP options */
	ip->check = htons(csum_fold(csum_add_bytes(0, (uint8_t *)ip, ihl)));
	tcp->source = htons(s->sport);
	tcp->dest = htons(s->dport);
	tcp->seq = htonl(s->seq);
	tcp->ack_seq = htonl(s->ack);
	tcp->doff = (sizeof(*tcp) + s->optlen) / 4;
	((uint8_t *)tcp)[13] = s->flags;
	tcp->window = htons(s->window);
	memcpy(tcp + 1, s->opts, s->optlen);
	for (size_t i = 0; i < s->payload; i++)
		((uint8_t *)(tcp + 1))[s->optlen + i] = (uint8_t)(i * 13 + s->payload);
	sum = csum_add_bytes(0, (uint8_t *)&ip->saddr, 8);
	sum += IPPROTO_TCP + tcplen;
	sum = csum_add_bytes(sum, (uint8_t *)tcp, tcplen);
	tcp->check = htons(csum_fold(sum));
	memcpy(out, buf, ETH_HLEN + ihl + tcplen);
	return ETH_HLEN + ihl + tcplen;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* the rewrite as the program should do it, on a parsed spec */
static void reference(struct pkt_spec *s, const struct kbal_pkt_rw *rw, int wshift_in_spec)
{
	(void)wshift_in_spec;
	s->saddr = ntohl(rw->saddr);
	s->daddr = ntohl(rw->daddr);
	s->sport = ntohs(rw->sport);
	s->dport = ntohs(rw->dport);
	s->seq += rw->seq_delta;
	if (s->flags & 0x10)
		s->ack += rw->ack_delta;
	if (rw->win_shift > 0) {
		uint32_t w = (uint32_t)s->window << rw->win_shift;
		s->window = w > 0xffff ? 0xffff : w;
	} else if (rw->win_shift < 0) {
		s->window >>= -rw->win_shift;
	}
	for (unsigned i = 0; i < s->optlen;) {
		uint8_t k = s->opts[i];

		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		if (k == 8) {
			uint32_t v = get32(s->opts + i + 2) + rw->tsval_delta;
			uint32_t ecr = get32(s->opts + i + 6);

			/* a host id: the member's clock, offset, times 8, the id
			 * in the low bits */
			if (rw->host_id)
				v = v * 8 + rw->host_id;
			put32(s->opts + i + 2, v);
			if (ecr && (rw->flags & KBAL_PKT_ID_ECHO)) {
				/* the member's TSval whose encoding is nearest
				 * above or at ts_base: the signed distance in the
				 * client's view, divided by 8, rounded down */
				int64_t d = (int64_t)(int32_t)(ecr - rw->ts_base);

				ecr = rw->ts_mbase + (uint32_t)(d >= 0 ? d / 8 : -((-d + 7) / 8));
			} else if (ecr) {
				ecr += rw->tsecr_delta;
			}
			put32(s->opts + i + 6, ecr);
		} else if (k == 5) {
			for (unsigned e = i + 2; e < i + s->opts[i + 1]; e += 4)
				put32(s->opts + e, get32(s->opts + e) + rw->ack_delta);
		}
		i += s->opts[i + 1];
	}
}

static struct kbal_pkt_key key_of(const struct pkt_spec *s)
{
	struct kbal_pkt_key k = {
		.saddr = htonl(s->saddr), .daddr = htonl(s->daddr),
		.sport = htons(s->sport), .dport = htons(s->dport),
	};
	return k;
}

static int run(const uint8_t *in, size_t len, uint8_t *out, uint32_t *outlen, int *retval)
{
	struct __sk_buff ctx = { .ingress_ifindex = run_iif };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
		    .data_out = out, .data_size_out = *outlen, .repeat = 1,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	*outlen = opts.data_size_out;
	*retval = opts.retval;
	return err;
}

/* a kbal_stats counter summed over the CPUs' lines */
static uint64_t stat(unsigned idx)
{
	struct kbal_stat_line line;
	uint64_t sum = 0;

	for (__u32 cpu = 0; bpf_map_lookup_elem(bpf_map__fd(skel->maps.kbal_stats), &cpu,
						&line) == 0; cpu++)
		sum += ((const uint64_t *)&line)[idx];
	return sum;
}

/* kbal_pkt_live: the flows kbald counts; 0 and the program looks nothing up */
static int set_live(__u64 n)
{
	__u32 zero = 0;

	return ASSERT_EQ(bpf_map_update_elem(live_fd, &zero, &n, BPF_ANY), 0, "kbal_pkt_live");
}

static int setup(void)
{
	struct bpf_map *m;

	if (skel)
		return 1;
	skel = packet_bpf__open();
	if (!ASSERT_TRUE(skel != NULL, "open packet.bpf.o"))
		return 0;
	/* nothing pinned: the tests must leave no trace on bpffs */
	bpf_object__for_each_map(m, skel->obj)
		bpf_map__set_pin_path(m, NULL);
	/* a kbal_stats line for every CPU a run may land on, as kbald does */
	bpf_map__set_max_entries(skel->maps.kbal_stats, libbpf_num_possible_cpus());
	if (!ASSERT_EQ(packet_bpf__load(skel), 0, "load packet.bpf.o (run as root)")) {
		packet_bpf__destroy(skel);
		skel = NULL;
		return 0;
	}
	lo_fd = prog_fd = bpf_program__fd(skel->progs.kbal_pkt_splice);
	ingress_fd = bpf_program__fd(skel->progs.kbal_pkt_ingress);
	egress_fd = bpf_program__fd(skel->progs.kbal_pkt_egress);
	map_fd = bpf_map__fd(skel->maps.kbal_pkt);
	live_fd = bpf_map__fd(skel->maps.kbal_pkt_live);
	return set_live(1);
}

static const struct kbal_pkt_rw base_rw = {
	.saddr = 0x0300007f, .daddr = 0x0400007f,   /* 127.0.0.3 -> 127.0.0.4 */
	.sport = 0x3930, .dport = 0x5a1f,
	.seq_delta = 0x80000123, .ack_delta = 0xfffff000,
	.tsval_delta = 470000000, .tsecr_delta = -12345,
};

static const struct pkt_spec base_pkt = {
	.saddr = 0x7f000001, .daddr = 0x7f000001, .sport = 40000, .dport = 8080,
	.seq = 0xfffffff0, .ack = 1000, .window = 512, .flags = 0x18, .payload = 100,
};

/* run spec with rw; compare with the reference; 1 if all is as expected */
static int check_rewrite(const char *what, const struct pkt_spec *spec,
			 const struct kbal_pkt_rw *rw)
{
	uint8_t in[2048], out[2048], want[2048];
	struct kbal_pkt_key k = key_of(spec);
	struct pkt_spec ref = *spec;
	uint32_t outlen = sizeof(out);
	size_t len = build(spec, in), wlen;
	int retval, ok = 1;

	bpf_map_update_elem(map_fd, &k, rw, BPF_ANY);
	if (!ASSERT_EQ(run(in, len, out, &outlen, &retval), 0, what))
		return 0;
	bpf_map_delete_elem(map_fd, &k);
	reference(&ref, rw, 0);
	wlen = build(&ref, want);
	ok &= ASSERT_EQ(retval, rw->ifindex ? TC_ACT_REDIRECT : TC_ACT_UNSPEC, what);
	ok &= ASSERT_EQ(outlen, wlen, what);
	ok &= ASSERT_TRUE(checksums_ok(out, outlen), what);
	/* build() computed want's checksums from scratch: all bytes equal */
	if (!ASSERT_TRUE(outlen == wlen && memcmp(out, want, wlen) == 0, what)) {
		for (size_t i = 0; i < wlen && i < outlen; i++)
			if (out[i] != want[i]) {
				fprintf(stderr, "  first difference at byte %zu: %02x, expected %02x\n",
					i, out[i], want[i]);
				break;
			}
		ok = 0;
	}
	return ok;
}

static const uint8_t opt_ts[] = { 1, 1, 8, 10, 0, 0, 0, 100, 0, 0, 0, 200 };
static const uint8_t opt_ts_sack3[] = {
	1, 1, 8, 10, 0, 1, 0, 0, 0, 2, 0, 0,
	1, 1, 5, 26, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40,
	0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 16,
};
/* Linux's layouts with fewer blocks (the program reads these in place) */
static const uint8_t opt_ts_sack1[] = {
	1, 1, 8, 10, 0, 1, 0, 0, 0, 2, 0, 0,
	1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20,
};
static const uint8_t opt_ts_sack2[] = {
	1, 1, 8, 10, 0, 1, 0, 0, 0, 2, 0, 0,
	1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 16,
};
/* the same length as TS + 1 SACK block, another option: walked */
static const uint8_t opt_ts_other[] = {
	1, 1, 8, 10, 0, 1, 0, 0, 0, 2, 0, 0,
	1, 1, 30, 6, 1, 2, 3, 4, 0, 0, 0, 0,
};
static const uint8_t opt_sack4[] = {
	1, 1, 5, 34, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0,
	0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8, 0,
};
/* one NOP only: TSval/TSecr and SACK edges at odd offsets */
static const uint8_t opt_ts_odd[] = { 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 0 };
static const uint8_t opt_sack_odd[] = { 1, 5, 10, 0x80, 0, 0, 1, 0x80, 0, 0, 9, 0 };
/* TS first, no NOPs, EOL padding; an unknown option before it */
static const uint8_t opt_odd[] = { 30, 4, 0xaa, 0xbb, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0 };

#define SPEC_OPTS(s, o) do { memcpy((s).opts, o, sizeof(o)); (s).optlen = sizeof(o); } while (0)

UNIT_TEST(pkt_rewrite_no_options)
{
	struct pkt_spec s = base_pkt;

	if (!setup())
		return;
	check_rewrite("no options, seq wraps", &s, &base_rw);
	s.flags = 0x02 | 0x10;  /* SYN+ACK is not ours */
	s.flags = 0x10;
	s.payload = 0;
	check_rewrite("pure ACK", &s, &base_rw);
	s.flags = 0x08;         /* no ACK flag: ack field untouched */
	s.payload = 1;
	check_rewrite("no ACK flag", &s, &base_rw);
}

UNIT_TEST(pkt_rewrite_timestamps_and_sack)
{
	struct pkt_spec s = base_pkt;

	if (!setup())
		return;
	SPEC_OPTS(s, opt_ts);
	check_rewrite("NOP NOP TS", &s, &base_rw);
	s.opts[8] = s.opts[9] = s.opts[10] = s.opts[11] = 0;
	check_rewrite("TSecr 0 stays 0", &s, &base_rw);
	SPEC_OPTS(s, opt_ts_sack1);
	check_rewrite("TS + 1 SACK block", &s, &base_rw);
	SPEC_OPTS(s, opt_ts_sack2);
	check_rewrite("TS + 2 SACK blocks", &s, &base_rw);
	SPEC_OPTS(s, opt_ts_sack3);
	check_rewrite("TS + 3 SACK blocks", &s, &base_rw);
	SPEC_OPTS(s, opt_ts_other);
	check_rewrite("TS + another option, Linux's length", &s, &base_rw);
	SPEC_OPTS(s, opt_sack4);
	check_rewrite("4 SACK blocks", &s, &base_rw);
	SPEC_OPTS(s, opt_odd);
	check_rewrite("unknown option, bare TS, EOL", &s, &base_rw);
	SPEC_OPTS(s, opt_ts_odd);
	check_rewrite("TS at an odd offset", &s, &base_rw);
	SPEC_OPTS(s, opt_sack_odd);
	check_rewrite("SACK at an odd offset", &s, &base_rw);
	SPEC_OPTS(s, opt_odd);
	s.ip_opts = 2;
	check_rewrite("IP options", &s, &base_rw);
}

UNIT_TEST(pkt_rewrite_window_scales)
{
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_rw rw = base_rw;

	if (!setup())
		return;
	for (int shift = -7; shift <= 7; shift++) {
		char what[64];

		rw.win_shift = shift;
		s.window = shift > 0 ? 3000 : 65000;
		snprintf(what, sizeof(what), "window shift %d", shift);
		check_rewrite(what, &s, &rw);
	}
	rw.win_shift = 5;
	s.window = 40000;
	check_rewrite("window capped at 65535", &s, &rw);
}

/* the sender's window shut, then open again: KBAL_PKT_WIN_SHUT follows
 * its last ACK as the other leg reads it (kbald's clock of a client that
 * takes nothing) */
UNIT_TEST(pkt_window_shut_flagged)
{
	static const struct { uint16_t window; uint8_t flags; uint32_t want; } steps[] = {
		{ 512, 0x10, 0 },
		{ 0, 0x10, KBAL_PKT_WIN_SHUT },
		{ 0, 0x10, KBAL_PKT_WIN_SHUT },
		{ 512, 0x08, KBAL_PKT_WIN_SHUT },   /* no ACK: its window means nothing */
		{ 8, 0x10, 0 },
		{ 7, 0x10, KBAL_PKT_WIN_SHUT },     /* 7 >> 3: 0 for the other leg */
		{ 8, 0x10, 0 },
	};
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_key k = key_of(&s);
	struct kbal_pkt_rw rw = base_rw;

	if (!setup())
		return;
	rw.win_shift = -3;
	bpf_map_update_elem(map_fd, &k, &rw, BPF_ANY);
	s.payload = 0;
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		uint8_t in[2048], out[2048];
		uint32_t outlen = sizeof(out);
		int retval;

		s.window = steps[i].window;
		s.flags = steps[i].flags;
		run(in, build(&s, in), out, &outlen, &retval);
		bpf_map_lookup_elem(map_fd, &k, &rw);
		ASSERT_EQ(rw.flags & KBAL_PKT_WIN_SHUT, steps[i].want, "the window shut, step by step");
	}
	bpf_map_delete_elem(map_fd, &k);
}

UNIT_TEST(pkt_redirect_to_ifindex)
{
	struct kbal_pkt_rw rw = base_rw;

	if (!setup())
		return;
	rw.ifindex = 1;
	check_rewrite("redirected out of ifindex 1", &base_pkt, &rw);
}

/* a packet that must come out unchanged, with retval */
static void check_untouched(const char *what, const struct pkt_spec *s, int insert, int want_ret)
{
	uint8_t in[2048], out[2048];
	uint32_t outlen = sizeof(out);
	struct kbal_pkt_key k = key_of(s);
	size_t len = build(s, in);
	int retval;

	if (insert)
		bpf_map_update_elem(map_fd, &k, &base_rw, BPF_ANY);
	if (ASSERT_EQ(run(in, len, out, &outlen, &retval), 0, what)) {
		ASSERT_EQ(retval, want_ret, what);
		if (want_ret == TC_ACT_UNSPEC)
			ASSERT_TRUE(outlen == len && !memcmp(in, out, len), what);
	}
	if (insert)
		bpf_map_delete_elem(map_fd, &k);
}

UNIT_TEST(pkt_nothing_looked_up_while_no_flow_is_live)
{
	struct pkt_spec s = base_pkt;

	if (!setup())
		return;
	/* an entry that would rewrite it, but kbald counts no flow */
	if (!set_live(0))
		return;
	check_untouched("kbal_pkt_live 0: the entry is not even looked up", &s, 1, TC_ACT_UNSPEC);
	set_live(1);
	check_rewrite("kbal_pkt_live 1: rewritten", &s, &base_rw);
}

UNIT_TEST(pkt_untouched_and_dropped)
{
	struct pkt_spec s = base_pkt;
	static const uint8_t bad_len[] = { 1, 1, 8, 8, 0, 0, 0, 1 };        /* TS of length 8 */
	static const uint8_t past_end[] = { 1, 1, 30, 12, 0, 0, 0, 0 };     /* runs past doff */
	static const uint8_t zero_len[] = { 30, 0, 0, 0 };
	static const uint8_t sack_odd[] = { 1, 1, 5, 14, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0 };
	struct kbal_pkt_rw drop = { .action = KBAL_PKT_DROP };
	struct kbal_pkt_key k;
	uint64_t unparsed, dropped;

	if (!setup())
		return;
	check_untouched("no entry", &s, 0, TC_ACT_UNSPEC);
	s.proto = IPPROTO_UDP;
	check_untouched("not TCP", &s, 1, TC_ACT_UNSPEC);
	s = base_pkt;
	s.flags = 0x02;
	check_untouched("SYN on a joined 4-tuple", &s, 1, TC_ACT_UNSPEC);

	s = base_pkt;
	unparsed = stat(KBAL_STAT_PKT_UNPARSED);
	SPEC_OPTS(s, bad_len);
	check_untouched("TS of the wrong length", &s, 1, TC_ACT_SHOT);
	SPEC_OPTS(s, past_end);
	check_untouched("option past the header", &s, 1, TC_ACT_SHOT);
	SPEC_OPTS(s, zero_len);
	check_untouched("option of length 0", &s, 1, TC_ACT_SHOT);
	SPEC_OPTS(s, sack_odd);
	check_untouched("SACK of a bad length", &s, 1, TC_ACT_SHOT);
	ASSERT_EQ(stat(KBAL_STAT_PKT_UNPARSED) - unparsed, 4, "unparsed packets counted");

	s = base_pkt;
	k = key_of(&s);
	dropped = stat(KBAL_STAT_PKT_DROPPED);
	bpf_map_update_elem(map_fd, &k, &drop, BPF_ANY);
	check_untouched("frozen socket's packet", &s, 0, TC_ACT_SHOT);
	ASSERT_EQ(stat(KBAL_STAT_PKT_DROPPED) - dropped, 1, "dropped packets counted");
	bpf_map_lookup_elem(map_fd, &k, &drop);
	ASSERT_EQ(drop.packets, 1, "the DROP entry counts its packets");
	bpf_map_delete_elem(map_fd, &k);
}

UNIT_TEST(pkt_fin_rst_flags)
{
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_key k = key_of(&s);
	struct kbal_pkt_rw rw;

	if (!setup())
		return;
	s.flags = 0x11;  /* FIN ACK */
	check_rewrite("FIN", &s, &base_rw);
	bpf_map_update_elem(map_fd, &k, &base_rw, BPF_ANY);
	{
		uint8_t in[2048], out[2048];
		uint32_t outlen = sizeof(out);
		int retval;

		uint64_t ignored = stat(KBAL_STAT_PKT_RST_IGNORED);

		s.flags = 0x11;
		run(in, build(&s, in), out, &outlen, &retval);
		/* RFC 5961: a reset off the next sequence number (one past the
		 * FIN's end) is passed on, and ends nothing */
		s.flags = 0x14;  /* RST ACK */
		s.payload = 0;
		for (uint32_t off = 0; off < 3; off++) {
			s.seq = base_pkt.seq + base_pkt.payload + (off == 0 ? 0 : off == 1 ? 2 : 0x10000);
			outlen = sizeof(out);
			run(in, build(&s, in), out, &outlen, &retval);
			bpf_map_lookup_elem(map_fd, &k, &rw);
			ASSERT_EQ(rw.flags, KBAL_PKT_FIN, "a blind reset ends nothing");
		}
		ASSERT_EQ(stat(KBAL_STAT_PKT_RST_IGNORED) - ignored, 3, "blind resets counted");
		s.seq = base_pkt.seq + base_pkt.payload + 1;
		outlen = sizeof(out);
		run(in, build(&s, in), out, &outlen, &retval);
	}
	bpf_map_lookup_elem(map_fd, &k, &rw);
	ASSERT_EQ(rw.flags, KBAL_PKT_FIN | KBAL_PKT_RST, "FIN and RST flagged in the entry");
	ASSERT_EQ(rw.packets, 5, "packets counted");
	ASSERT_TRUE(rw.last_ns != 0, "last_ns set");
	bpf_map_delete_elem(map_fd, &k);
}

UNIT_TEST(pkt_random_200)
{
	srand(4242);
	if (!setup())
		return;
	for (int n = 0; n < 200; n++) {
		struct pkt_spec s = base_pkt;
		struct kbal_pkt_rw rw = {};
		unsigned nsack = rand() % 4;
		char what[64];

		s.saddr = 0x7f000000 | (rand() & 0xffffff);
		s.sport = rand();
		s.seq = ((uint32_t)rand() << 16) ^ rand();
		s.ack = ((uint32_t)rand() << 16) ^ rand();
		s.window = rand();
		s.flags = 0x10 | (rand() & 0x09);
		s.payload = rand() % 1400;
		rw.saddr = rand();
		rw.daddr = rand();
		rw.sport = rand();
		rw.dport = rand();
		rw.seq_delta = ((uint32_t)rand() << 16) ^ rand();
		rw.ack_delta = ((uint32_t)rand() << 16) ^ rand();
		rw.tsval_delta = ((uint32_t)rand() << 16) ^ rand();
		rw.tsecr_delta = ((uint32_t)rand() << 16) ^ rand();
		rw.win_shift = rand() % 15 - 7;
		/* Linux's layout: NOP NOP TS, then NOP NOP SACK */
		s.optlen = 0;
		if (rand() % 4) {
			uint8_t ts[12] = { 1, 1, 8, 10 };

			for (int i = 4; i < 12; i++)
				ts[i] = rand();
			memcpy(s.opts, ts, 12);
			s.optlen = 12;
		}
		if (nsack && s.optlen + 4 + nsack * 8 <= OPT_MAX) {
			uint8_t *p = s.opts + s.optlen;

			p[0] = p[1] = 1;
			p[2] = 5;
			p[3] = 2 + nsack * 8;
			for (unsigned i = 0; i < nsack * 8; i++)
				p[4 + i] = rand();
			s.optlen += 4 + nsack * 8;
		}
		snprintf(what, sizeof(what), "random packet %d", n);
		if (!check_rewrite(what, &s, &rw))
			return;
	}
}

/* The client's view with host ids: random flows, as kbald sets them up
 * (kbal_pkt_ts_id()), each direction compared with the reference. */
UNIT_TEST(pkt_random_host_id_200)
{
	srand(2020);
	if (!setup())
		return;
	for (int n = 0; n < 200; n++) {
		struct pkt_spec s = base_pkt;
		struct kbal_pkt_rw rw = base_rw;
		uint8_t ts[12] = { 1, 1, 8, 10 };
		char what[64];

		s.seq = ((uint32_t)rand() << 16) ^ rand();
		s.ack = ((uint32_t)rand() << 16) ^ rand();
		for (int i = 4; i < 12; i++)
			ts[i] = rand();
		memcpy(s.opts, ts, 12);
		s.optlen = 12;
		s.payload = rand() % 1400;
		kbal_pkt_ts_id(((uint32_t)rand() << 16) ^ rand(), ((uint32_t)rand() << 16) ^ rand(),
			       &rw.tsval_delta, &rw.ts_base, &rw.ts_mbase, &rw.seq_delta,
			       &rw.tsecr_delta);
		rw.tsecr_delta = ((uint32_t)rand() << 16) ^ rand();
		if (n & 1) {
			rw.host_id = 1 + rand() % 7;         /* member -> client */
		} else {
			rw.flags = KBAL_PKT_ID_ECHO;         /* client -> member */
			if (n % 4 == 0)   /* an echo near the base, either side */
				put32(s.opts + 8, rw.ts_base + rand() % 4096 - 2048);
		}
		snprintf(what, sizeof(what), "host id: random packet %d", n);
		if (!check_rewrite(what, &s, &rw))
			return;
	}
}

/* TSval after TSval through the member -> client entry with an id, the
 * client's echo of each back through the client -> member entry: the
 * member gets its own TSval back exactly (RTT samples), the client sees
 * them grow from past kbald's socket's TSval (PAWS), the id in each */
UNIT_TEST(pkt_host_id_round_trip)
{
	static const uint32_t starts[][2] = {   /* kbald's client TSval, the member's */
		{ 1000, 5000 }, { 0xfffffff0, 7 }, { 5, 0xfffffffe }, { 0x1ffffff9, 0x80000000 },
		{ 0x7fffffff, 0x7fffffff },
	};

	if (!setup())
		return;
	for (unsigned i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		struct kbal_pkt_rw down = base_rw, up = base_rw;
		struct pkt_spec d = base_pkt, u = base_pkt;
		uint32_t c_tsval = starts[i][0], m_last = starts[i][1], prev = c_tsval;
		char what[80];

		uint32_t hold_delta, pre_delta;

		kbal_pkt_ts_id(c_tsval, m_last, &down.tsval_delta, &up.ts_base, &up.ts_mbase,
			       &hold_delta, &pre_delta);
		down.host_id = 5;
		up.flags = KBAL_PKT_ID_ECHO;
		u.sport = 40001;
		SPEC_OPTS(d, opt_ts);
		SPEC_OPTS(u, opt_ts);
		/* the member's clock from its last TSval on, 1 ms to 12 days
		 * after, in steps that grow by half up to 18 hours between
		 * echoes (the base moves along with the echoes: past 2^28 ms
		 * the fixed base alone would not do; a joined flow idle for 10
		 * minutes is reaped) */
		for (uint32_t t = 0; t < 1000000000;
		     t = t ? t + (t / 2 + 1 < (1u << 26) ? t / 2 + 1 : (1u << 26)) : 1) {
			uint8_t in[2048], out[2048];
			struct kbal_pkt_key k = key_of(&d);
			uint32_t outlen = sizeof(out), m_ts = m_last + t, c_ts;
			size_t len;
			int ret;

			put32(d.opts + 4, m_ts);
			len = build(&d, in);
			bpf_map_update_elem(map_fd, &k, &down, BPF_ANY);
			if (!ASSERT_EQ(run(in, len, out, &outlen, &ret), 0, "down"))
				return;
			c_ts = get32(out + ETH_HLEN + 20 + 20 + 4);
			snprintf(what, sizeof(what), "start %u: the member's TSval +%u", i, t);
			ASSERT_EQ(c_ts & 7, 5, what);
			ASSERT_TRUE((int32_t)(c_ts - prev) > 0, what);
			prev = c_ts;
			/* the client echoes it */
			put32(u.opts + 8, c_ts);
			k = key_of(&u);
			len = build(&u, in);
			outlen = sizeof(out);
			/* once: the program moves its base along */
			if (!t)
				bpf_map_update_elem(map_fd, &k, &up, BPF_ANY);
			if (!ASSERT_EQ(run(in, len, out, &outlen, &ret), 0, "up"))
				return;
			ASSERT_EQ(get32(out + ETH_HLEN + 20 + 20 + 8), m_ts, what);
		}
		{
			struct kbal_pkt_key kd = key_of(&d), ku = key_of(&u);

			bpf_map_delete_elem(map_fd, &kd);
			bpf_map_delete_elem(map_fd, &ku);
		}
	}
	/* an echo of kbald's own socket's TSval (before the switch) maps
	 * below the member's clock at the handover, never above */
	{
		struct kbal_pkt_rw up = base_rw;
		struct pkt_spec u = base_pkt;
		uint32_t dummy;

		kbal_pkt_ts_id(1000, 5000, &dummy, &up.ts_base, &up.ts_mbase, &dummy, &dummy);
		up.flags = KBAL_PKT_ID_ECHO;
		SPEC_OPTS(u, opt_ts);
		put32(u.opts + 8, 990);
		check_rewrite("an echo of kbald's socket's TSval", &u, &up);
	}
}

/* kbal_hosts[i] */
static void set_host(__u32 i, __be32 addr, __u32 ifindex, __u32 self, __u32 peers)
{
	struct kbal_host h = { .addr = addr, .ifindex = ifindex, .self = self, .peers = peers };

	bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_hosts), &i, &h, BPF_ANY);
}

/* run s through the program: its verdict, the packet asserted unchanged */
static int run_unchanged(const char *what, const struct pkt_spec *s)
{
	uint8_t in[2048], out[2048];
	uint32_t outlen = sizeof(out);
	size_t len = build(s, in);
	int retval;

	if (!ASSERT_EQ(run(in, len, out, &outlen, &retval), 0, what))
		return -1;
	ASSERT_TRUE(outlen == len && !memcmp(in, out, len), what);
	return retval;
}

/* the client's TSecr, as s carries it (NOP NOP TS) */
static void set_tsecr(struct pkt_spec *s, uint32_t ecr)
{
	SPEC_OPTS(*s, opt_ts);
	put32(s->opts + 8, ecr);
}

/*
 * The second chance: a packet of an established flow that no socket and
 * no entry of this host holds, to a service of this host (a listener on
 * its address and port), is sent on to the host its TSecr names; any
 * other passes. The listener is this process's, on 127.0.0.1: the program
 * looks sockets up in the namespace of the run.
 */
UNIT_TEST(pkt_second_chance_forward_decision)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t al = sizeof(a);
	struct pkt_spec s = base_pkt;
	int lfd, cfd = -1, afd = -1, closed, ret;
	uint64_t fw0;

	if (!setup())
		return;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (!ASSERT_TRUE(lfd >= 0 && !bind(lfd, (struct sockaddr *)&a, sizeof(a)) &&
			 !listen(lfd, 8) && !getsockname(lfd, (struct sockaddr *)&a, &al),
			 "a listener on 127.0.0.1"))
		goto out;
	/* the listener is kbald's */
	{
		struct kbal_service svc = { .addr = a.sin_addr.s_addr, .port = ntohs(a.sin_port) };
		__u8 one = 1;

		bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_services), &svc, &one, BPF_ANY);
	}
	/* this host 1; hosts 2 and 3 known, reached by ifindex 1 */
	set_host(0, 0, 0, 1, 2);
	set_host(2, htonl(0x0a000002), 1, 0, 0);
	set_host(3, htonl(0x0a000003), 1, 0, 0);
	s.saddr = 0x7f000009;
	s.sport = 40009;
	s.daddr = 0x7f000001;
	s.dport = ntohs(a.sin_port);
	s.flags = 0x18;
	prog_fd = ingress_fd;
	fw0 = stat(KBAL_STAT_PKT_FORWARDED);

	set_tsecr(&s, 0x12345672);
	ASSERT_EQ(run_unchanged("TSecr names host 2: sent on, as it came", &s), TC_ACT_REDIRECT,
		  "TSecr names host 2: sent on");
	ASSERT_EQ(stat(KBAL_STAT_PKT_FORWARDED) - fw0, 1, "counted in pkt_forwarded");
	s.flags = 0x10;
	s.payload = 0;
	set_tsecr(&s, 0xfffffffb);
	ASSERT_EQ(run_unchanged("a pure ACK for host 3", &s), TC_ACT_REDIRECT, "for host 3");
	s.flags = 0x14;
	ASSERT_EQ(run_unchanged("a RST for host 3", &s), TC_ACT_REDIRECT, "a RST, for host 3");
	s.flags = 0x18;
	s.payload = 100;
	ASSERT_EQ(stat(KBAL_STAT_PKT_FORWARDED) - fw0, 3, "three sent on");
	if (set_live(0)) {
		ASSERT_EQ(run_unchanged("no joined flow here", &s), TC_ACT_REDIRECT,
			  "no joined flow here (kbal_pkt_live 0): still sent on");
		set_live(1);
	}
	fw0 = stat(KBAL_STAT_PKT_FORWARDED);

	set_tsecr(&s, 0x12345671);
	ASSERT_EQ(run_unchanged("TSecr names this host", &s), TC_ACT_UNSPEC, "this host's id: passes");
	set_tsecr(&s, 0x12345670);
	ASSERT_EQ(run_unchanged("TSecr with no id", &s), TC_ACT_UNSPEC, "no id: passes");
	set_tsecr(&s, 0x12345675);
	ASSERT_EQ(run_unchanged("TSecr names no known host", &s), TC_ACT_UNSPEC,
		  "an unknown id: passes");
	set_tsecr(&s, 0);
	ASSERT_EQ(run_unchanged("TSecr 0", &s), TC_ACT_UNSPEC, "TSecr 0 (no echo): passes");
	s.optlen = 0;
	ASSERT_EQ(run_unchanged("no timestamps", &s), TC_ACT_UNSPEC, "no TS option: passes");
	set_tsecr(&s, 0x12345672);
	s.flags = 0x02;
	ASSERT_EQ(run_unchanged("a SYN", &s), TC_ACT_UNSPEC, "a SYN: passes");
	s.flags = 0x12;
	ASSERT_EQ(run_unchanged("a SYN-ACK", &s), TC_ACT_UNSPEC, "a SYN-ACK: passes");
	s.flags = 0x18;
	/* the hooks that see this host's own packets never send on */
	prog_fd = egress_fd;
	ASSERT_EQ(run_unchanged("egress", &s), TC_ACT_UNSPEC, "at egress: passes");
	prog_fd = lo_fd;
	ASSERT_EQ(run_unchanged("lo", &s), TC_ACT_UNSPEC, "on lo: passes");
	prog_fd = ingress_fd;
	/* no other host known: no second chance */
	set_host(0, 0, 0, 1, 0);
	ASSERT_EQ(run_unchanged("no peers", &s), TC_ACT_UNSPEC, "no other host known: passes");
	set_host(0, 0, 0, 1, 2);
	/* no service here: no listener on that port */
	closed = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in b = a;
		socklen_t bl = sizeof(b);

		b.sin_port = 0;
		if (ASSERT_TRUE(closed >= 0 && !bind(closed, (struct sockaddr *)&b, sizeof(b)) &&
				!getsockname(closed, (struct sockaddr *)&b, &bl), "a port bound, not listening")) {
			s.dport = ntohs(b.sin_port);
			ASSERT_EQ(run_unchanged("no listener", &s), TC_ACT_UNSPEC,
				  "no service on that port: passes");
			s.dport = ntohs(a.sin_port);
		}
		if (closed >= 0)
			close(closed);
	}
	/* a listener that is not kbald's: another service's business */
	{
		int other = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in b = a;
		socklen_t bl = sizeof(b);

		b.sin_port = 0;
		if (ASSERT_TRUE(other >= 0 && !bind(other, (struct sockaddr *)&b, sizeof(b)) &&
				!listen(other, 1) &&
				!getsockname(other, (struct sockaddr *)&b, &bl), "another listener")) {
			s.dport = ntohs(b.sin_port);
			ASSERT_EQ(run_unchanged("another service's listener", &s), TC_ACT_UNSPEC,
				  "a listener not kbald's: passes");
			s.dport = ntohs(a.sin_port);
		}
		if (other >= 0)
			close(other);
	}
	ASSERT_EQ(stat(KBAL_STAT_PKT_FORWARDED) - fw0, 0, "none of those sent on");

	/* a socket of this host holds the 4-tuple: the stack's */
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (ASSERT_TRUE(cfd >= 0 && !connect(cfd, (struct sockaddr *)&a, sizeof(a)),
			"a connection to the listener")) {
		struct sockaddr_in c;
		socklen_t cl = sizeof(c);
		struct pkt_spec e = s;

		afd = accept(lfd, NULL, NULL);
		getsockname(cfd, (struct sockaddr *)&c, &cl);
		e.saddr = ntohl(c.sin_addr.s_addr);
		e.sport = ntohs(c.sin_port);
		ASSERT_EQ(run_unchanged("an established socket", &e), TC_ACT_UNSPEC,
			  "a socket holds it: passes");
	}
	/* a joined flow of this host: its entry takes it (rewritten) */
	ret = check_rewrite("a flow entry of this host: rewritten, not sent on", &s, &base_rw);
	ASSERT_TRUE(ret, "the entry's rewrite");
	ASSERT_EQ(stat(KBAL_STAT_PKT_FORWARDED) - fw0, 0, "nothing sent on");
out:
	for (__u32 i = 0; i < KBAL_MAX_HOSTS; i++)
		set_host(i, 0, 0, 0, 0);
	{
		struct kbal_service svc = { .addr = a.sin_addr.s_addr, .port = ntohs(a.sin_port) };

		bpf_map_delete_elem(bpf_map__fd(skel->maps.kbal_services), &svc);
	}
	prog_fd = lo_fd;
	if (afd >= 0)
		close(afd);
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
}

static struct kbal_pkt_rw get_entry(const struct kbal_pkt_key *k);
static int run_one(const struct pkt_spec *s, uint8_t *out, uint32_t *outlen);

/*
 * Before the switch, with a host id: kbald's client-side socket's TSvals
 * (HOLD) reach the client times 8 with the id, from past the last one it
 * sent before the handover; the client's echoes of them reach that socket
 * (SWITCH, passed) as it sent them; an echo from before the handover is
 * left alone; after the switch an echo of one maps to the member's clock
 * no later than the member's now. Checksums stay right (in place).
 */
UNIT_TEST(pkt_host_id_before_the_switch)
{
	struct pkt_spec s = base_pkt, back = base_pkt;
	struct kbal_pkt_rw up = base_rw, hold = { .action = KBAL_PKT_HOLD };
	uint32_t c_tsval = 0xfffffff3, m_last = 777, dummy, outlen, prev = c_tsval;
	struct kbal_pkt_key k, kb;
	uint8_t out[2048];

	if (!setup())
		return;
	back.saddr = s.daddr;
	back.daddr = s.saddr;
	back.sport = s.dport;
	back.dport = s.sport;
	k = key_of(&s);
	kb = key_of(&back);
	kbal_pkt_ts_id(c_tsval, m_last, &dummy, &up.ts_base, &up.ts_mbase, &hold.tsval_delta,
		       &up.tsecr_delta);
	hold.host_id = 6;
	up.action = KBAL_PKT_SWITCH;
	up.flags = KBAL_PKT_ID_ECHO;
	up.switch_ack = 5000;
	up.switch_seq = s.seq;
	bpf_map_update_elem(map_fd, &k, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &kb, &hold, BPF_ANY);
	SPEC_OPTS(back, opt_ts);
	SPEC_OPTS(s, opt_ts);
	s.ack = 4999;   /* before the switch: passed to kbald's socket */
	for (uint32_t t = 0; t < 5000; t = t * 2 + 1) {
		uint32_t sent = c_tsval + t, seen;
		char what[64];

		snprintf(what, sizeof(what), "kbald's socket's TSval +%u", t);
		put32(back.opts + 4, sent);
		outlen = sizeof(out);
		ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_UNSPEC, what);
		ASSERT_TRUE(checksums_ok(out, outlen), what);
		seen = get32(out + ETH_HLEN + 20 + 20 + 4);
		ASSERT_EQ(seen & 7, 6, what);
		ASSERT_TRUE((int32_t)(seen - prev) > 0, what);
		prev = seen;
		put32(s.opts + 8, seen);
		outlen = sizeof(out);
		ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, what);
		ASSERT_TRUE(checksums_ok(out, outlen), what);
		ASSERT_EQ(get32(out + ETH_HLEN + 20 + 20 + 8), sent, what);
	}
	put32(s.opts + 8, c_tsval - 3);
	outlen = sizeof(out);
	run_one(&s, out, &outlen);
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 20 + 8), c_tsval - 3,
		  "an echo from before the handover reaches kbald's socket as it was");
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_SWITCH, "not switched");
	/* the switch, echoing kbald's socket's TSval + 40 */
	put32(s.opts + 8, prev);
	s.ack = 5000;
	outlen = sizeof(out);
	run_one(&s, out, &outlen);
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_REWRITE, "switched");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 20 + 8) - m_last, 4095,
		  "after the switch: the member's clock at its last TSval + as long as kbald's "
		  "socket's ran since the handover");
	bpf_map_delete_elem(map_fd, &k);
	bpf_map_delete_elem(map_fd, &kb);
}

static struct kbal_pkt_rw get_entry(const struct kbal_pkt_key *k)
{
	struct kbal_pkt_rw rw = {};

	bpf_map_lookup_elem(map_fd, k, &rw);
	return rw;
}

/* run a packet, return the program's verdict (output in out) */
static int run_one(const struct pkt_spec *s, uint8_t *out, uint32_t *outlen)
{
	uint8_t in[2048];
	int retval = -1;

	*outlen = 2048;
	run(in, build(s, in), out, outlen, &retval);
	return retval;
}

UNIT_TEST(pkt_learn_notes_the_clock)
{
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_rw learn = { .action = KBAL_PKT_LEARN };
	struct kbal_pkt_key k = key_of(&s);
	uint8_t in[2048], out[2048];
	uint32_t outlen;

	if (!setup())
		return;
	SPEC_OPTS(s, opt_ts);
	bpf_map_update_elem(map_fd, &k, &learn, BPF_ANY);
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "LEARN passes");
	ASSERT_TRUE(outlen == build(&s, in) && !memcmp(in, out, outlen), "LEARN leaves it as is");
	ASSERT_EQ(get_entry(&k).last_tsval, 100, "TSval noted");
	/* BPF_PROG_TEST_RUN runs on lo (ifindex 1) */
	ASSERT_EQ(get_entry(&k).ifindex, 1, "the interface it came in by noted");
	bpf_map_delete_elem(map_fd, &k);
}

/* A SYN after a flow's end: the client reuses its port for a new connection */
UNIT_TEST(pkt_syn_after_the_end_frees_the_tuple)
{
	struct pkt_spec s = base_pkt, back = base_pkt;
	struct kbal_pkt_rw rw = base_rw, drop = { .action = KBAL_PKT_DROP };
	struct kbal_pkt_key k = key_of(&s), kb, other;
	uint8_t out[2048];
	uint32_t outlen;
	uint64_t reused;

	if (!setup())
		return;
	back.saddr = s.daddr;
	back.daddr = s.saddr;
	back.sport = s.dport;
	back.dport = s.sport;
	kb = key_of(&back);
	other = k;
	other.sport ^= 1;
	s.flags = 0x02;
	bpf_map_update_elem(map_fd, &k, &rw, BPF_ANY);
	bpf_map_update_elem(map_fd, &kb, &drop, BPF_ANY);
	bpf_map_update_elem(map_fd, &other, &rw, BPF_ANY);
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "SYN on a live flow passes");
	ASSERT_EQ(bpf_map_lookup_elem(map_fd, &k, &rw), 0, "a live flow keeps its entry");
	rw.flags = KBAL_PKT_FIN;
	bpf_map_update_elem(map_fd, &k, &rw, BPF_ANY);
	reused = stat(KBAL_STAT_PKT_REUSED);
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "SYN after the end passes");
	ASSERT_TRUE(bpf_map_lookup_elem(map_fd, &k, &rw) != 0, "the ended flow's entry gone");
	ASSERT_TRUE(bpf_map_lookup_elem(map_fd, &kb, &rw) != 0, "and the reverse one");
	ASSERT_EQ(bpf_map_lookup_elem(map_fd, &other, &rw), 0, "other flows untouched");
	ASSERT_EQ(stat(KBAL_STAT_PKT_REUSED) - reused, 1, "counted");
	bpf_map_delete_elem(map_fd, &other);
}

/* kbal_pkt_seen: what kbald reads in memory, only in the slot of the
 * entry's generation */
UNIT_TEST(pkt_seen_mirrors_the_direction)
{
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_rw rw = base_rw;
	struct kbal_pkt_key k = key_of(&s);
	struct kbal_pkt_seen seen = { .gen = 7 }, got, other = { .gen = 7 };
	int seen_fd = bpf_map__fd(skel->maps.kbal_pkt_seen);
	__u32 slot = 10, partner = 11;
	uint8_t out[2048];
	uint32_t outlen;

	if (!setup())
		return;
	rw.gen = 7;
	rw.slot = slot;
	rw.switch_seq = s.seq;
	bpf_map_update_elem(seen_fd, &slot, &seen, BPF_ANY);
	bpf_map_update_elem(seen_fd, &partner, &other, BPF_ANY);
	bpf_map_update_elem(map_fd, &k, &rw, BPF_ANY);
	s.flags = 0x19;   /* FIN, PSH, ACK */
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "rewritten");
	ASSERT_EQ(bpf_map_lookup_elem(seen_fd, &slot, &got), 0, "seen entry");
	ASSERT_EQ(got.flags, KBAL_PKT_FIN, "FIN mirrored");
	ASSERT_EQ(got.bytes, (uint64_t)s.payload, "bytes mirrored");
	ASSERT_TRUE(got.last_ns != 0, "last packet time mirrored");
	/* the slot given to another flow: nothing written there */
	seen.gen = 8;
	bpf_map_update_elem(seen_fd, &slot, &seen, BPF_ANY);
	s.flags = 0x14;   /* RST, ACK */
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "rewritten");
	ASSERT_EQ(bpf_map_lookup_elem(seen_fd, &slot, &got), 0, "seen entry");
	ASSERT_EQ(got.flags, 0, "another generation's slot untouched");
	/* a SYN after the end: both directions' slots say gone */
	seen.gen = 7;
	bpf_map_update_elem(seen_fd, &slot, &seen, BPF_ANY);
	s.flags = 0x02;
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "SYN passes");
	ASSERT_EQ(bpf_map_lookup_elem(seen_fd, &slot, &got), 0, "seen entry");
	ASSERT_TRUE(got.flags & KBAL_PKT_GONE, "gone (this direction)");
	ASSERT_EQ(bpf_map_lookup_elem(seen_fd, &partner, &got), 0, "partner entry");
	ASSERT_TRUE(got.flags & KBAL_PKT_GONE, "gone (the other direction)");
	bpf_map_delete_elem(map_fd, &k);
}

/*
 * On a real interface: ingress acts on what the peers send, egress on what
 * kbald's sockets send, and egress leaves alone what another interface's
 * ingress rewrote and redirected (its 4-tuple is then DROP's key).
 */
UNIT_TEST(pkt_ingress_egress_halves)
{
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_rw rw = base_rw, drop = { .action = KBAL_PKT_DROP };
	struct kbal_pkt_rw hold = { .action = KBAL_PKT_HOLD };
	struct kbal_pkt_rw learn = { .action = KBAL_PKT_LEARN };
	struct kbal_pkt_key k = key_of(&s);
	uint8_t out[2048];
	uint32_t outlen;

	if (!setup())
		return;
	rw.ifindex = 1;
	prog_fd = ingress_fd;
	check_rewrite("ingress: rewritten and redirected", &s, &rw);
	bpf_map_update_elem(map_fd, &k, &drop, BPF_ANY);
	check_untouched("ingress: a DROP key is egress's business", &s, 0, TC_ACT_UNSPEC);
	bpf_map_update_elem(map_fd, &k, &hold, BPF_ANY);
	check_untouched("ingress: a HOLD key is egress's business", &s, 0, TC_ACT_UNSPEC);
	bpf_map_update_elem(map_fd, &k, &learn, BPF_ANY);
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "ingress: LEARN passes");
	ASSERT_EQ(get_entry(&k).ifindex, 1, "ingress: LEARN notes the interface");

	prog_fd = egress_fd;
	bpf_map_update_elem(map_fd, &k, &rw, BPF_ANY);
	check_untouched("egress: a REWRITE key is ingress's business", &s, 0, TC_ACT_UNSPEC);
	ASSERT_EQ(get_entry(&k).packets, 0, "egress: nothing rewritten");
	bpf_map_update_elem(map_fd, &k, &drop, BPF_ANY);
	check_untouched("egress: the frozen socket's packet dropped", &s, 0, TC_ACT_SHOT);
	run_iif = 2;
	check_untouched("egress: a packet redirected from ingress passes", &s, 0, TC_ACT_UNSPEC);
	ASSERT_EQ(get_entry(&k).packets, 1, "egress: only the local packet counted");
	run_iif = 0;
	bpf_map_delete_elem(map_fd, &k);
	prog_fd = lo_fd;
}

UNIT_TEST(pkt_switch_then_hold_drops)
{
	struct pkt_spec s = base_pkt, back = base_pkt;
	struct kbal_pkt_rw up = base_rw, hold = { .action = KBAL_PKT_HOLD };
	struct kbal_pkt_key k = key_of(&s), kb;
	uint8_t out[2048];
	uint32_t outlen;

	if (!setup())
		return;
	/* the reverse 4-tuple: kbald's socket towards the client */
	back.saddr = s.daddr;
	back.daddr = s.saddr;
	back.sport = s.dport;
	back.dport = s.sport;
	kb = key_of(&back);
	up.action = KBAL_PKT_SWITCH;
	up.switch_ack = 5000;
	up.switch_seq = s.seq;
	bpf_map_update_elem(map_fd, &k, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &kb, &hold, BPF_ANY);

	s.ack = 4999;   /* the client has not got everything yet */
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "before the switch");
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_SWITCH, "no switch on an old ack");
	ASSERT_EQ(get_entry(&k).packets, 0, "passed to kbald's socket, not rewritten");
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_UNSPEC, "kbald's socket may retransmit");
	s.ack = 5000;
	s.seq = base_pkt.seq + 1;  /* not the next byte kbald's socket expects */
	run_one(&s, out, &outlen);
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_SWITCH, "no switch on another seq");
	s.seq = base_pkt.seq;
	run_one(&s, out, &outlen);
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_REWRITE, "switched");
	ASSERT_EQ(get_entry(&k).packets, 1, "the switching packet is rewritten");
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_SHOT, "kbald's socket silenced");
	ASSERT_EQ(get_entry(&kb).action, KBAL_PKT_DROP, "HOLD became DROP");
	s.ack = 4000;   /* later packets are rewritten whatever they ack */
	run_one(&s, out, &outlen);
	ASSERT_EQ(get_entry(&k).packets, 2, "rewritten after the switch");
	bpf_map_delete_elem(map_fd, &k);
	bpf_map_delete_elem(map_fd, &kb);
}

/* kbald retracted the window its client-side socket had promised the
 * client to the member's: what that socket still sends before the switch
 * promises no more (the window field capped, the checksum kept right). */
UNIT_TEST(pkt_hold_caps_the_window)
{
	struct pkt_spec s = base_pkt, back = base_pkt;
	struct kbal_pkt_rw up = base_rw, hold = { .action = KBAL_PKT_HOLD };
	struct kbal_pkt_key k = key_of(&s), kb;
	uint8_t out[2048];
	uint32_t outlen;
	const uint8_t *window = out + ETH_HLEN + sizeof(struct iphdr) +
				offsetof(struct tcphdr, window);

	if (!setup())
		return;
	back.saddr = s.daddr;
	back.daddr = s.saddr;
	back.sport = s.dport;
	back.dport = s.sport;
	kb = key_of(&back);
	up.action = KBAL_PKT_SWITCH;
	up.switch_ack = 5000;
	up.switch_seq = s.seq;
	hold.flags = KBAL_PKT_WIN_CAP;
	hold.win_cap = 100;
	bpf_map_update_elem(map_fd, &k, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &kb, &hold, BPF_ANY);

	back.window = 3000;
	back.payload = 301;              /* odd: the checksum's last word half */
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_UNSPEC, "kbald's packet passes");
	ASSERT_EQ((window[0] << 8 | window[1]), 100, "its window capped");
	ASSERT_TRUE(checksums_ok(out, outlen), "and its checksum right");
	back.window = 60;
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_UNSPEC, "a smaller window passes");
	ASSERT_EQ((window[0] << 8 | window[1]), 60, "untouched");
	ASSERT_TRUE(checksums_ok(out, outlen), "untouched checksum");
	s.ack = 5000;
	run_one(&s, out, &outlen);
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_REWRITE, "switched");
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_SHOT, "then kbald's socket silenced");
	bpf_map_delete_elem(map_fd, &k);
	bpf_map_delete_elem(map_fd, &kb);
}

/* A handover before the first response is written: the SWITCH entry does
 * not know the client's clock, and takes it from the TSecr of kbald's
 * first packet to the client (the HOLD entry's), the member's entry its
 * inverse; nor its interface, taken from where that packet leaves by.
 * Until then the client's packet does not switch. */
UNIT_TEST(pkt_hold_learns_the_clients_clock_and_interface)
{
	static const uint8_t opt_ts_ecr300[] = { 1, 1, 8, 10, 0, 0, 0, 50, 0, 0, 1, 0x2c };
	struct pkt_spec s = base_pkt, back = base_pkt, mem = base_pkt;
	struct kbal_pkt_rw up = base_rw, down = base_rw, hold = { .action = KBAL_PKT_HOLD };
	struct kbal_pkt_key k, kb, km;
	uint8_t out[2048];
	uint32_t outlen;
	size_t tsval_at = ETH_HLEN + sizeof(struct iphdr) + sizeof(struct tcphdr) + 4;

	if (!setup())
		return;
	SPEC_OPTS(s, opt_ts);          /* the client's TSval 100 */
	back.saddr = s.daddr;
	back.daddr = s.saddr;
	back.sport = s.dport;
	back.dport = s.sport;
	SPEC_OPTS(back, opt_ts_ecr300);  /* kbald echoes the client's 300 */
	mem.saddr = 0x7f000009;        /* the member's packets to kbald */
	mem.sport = 18081;
	mem.dport = 45000;
	k = key_of(&s);
	kb = key_of(&back);
	km = key_of(&mem);
	up.action = KBAL_PKT_SWITCH;
	up.switch_ack = 5000;
	up.switch_seq = s.seq;
	up.flags = KBAL_PKT_TS_LEARN;
	up.last_tsval = 1000;          /* the member-side socket's TSval + 1 */
	up.tsval_delta = 0;
	up.gen = down.gen = hold.gen = 7;
	down.tsecr_delta = 0;
	hold.saddr = km.saddr;
	hold.daddr = km.daddr;
	hold.sport = km.sport;
	hold.dport = km.dport;
	bpf_map_update_elem(map_fd, &k, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &kb, &hold, BPF_ANY);
	bpf_map_update_elem(map_fd, &km, &down, BPF_ANY);

	s.ack = 5000;
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "the client's clock unknown: passes");
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_SWITCH, "no switch before the clock is known");
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_UNSPEC, "kbald's packet goes out");
	ASSERT_EQ(get_entry(&k).tsval_delta, 700, "client -> member: 1000 - 300");
	ASSERT_EQ(get_entry(&km).tsecr_delta, (uint32_t)-700, "member -> client: the inverse");
	ASSERT_EQ(get_entry(&k).flags & KBAL_PKT_TS_LEARN, 0, "learned once");
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_UNSPEC, "a retransmission goes out too");
	ASSERT_EQ(get_entry(&k).tsval_delta, 700, "and changes nothing");
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "the switching packet");
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_REWRITE, "switched");
	ASSERT_EQ(get32(out + tsval_at), 800, "its TSval in the member's clock");

	/* the client's interface: the one kbald's packet leaves by (a test
	 * run's is lo) goes into the member's entry where both legs are on
	 * lo; with the member's leg elsewhere the SWITCH keeps its mark */
	up.flags = KBAL_PKT_IF_LEARN;
	up.ifindex = 0;                /* the member's leg on lo */
	down.ifindex = 42;             /* kbald's guess */
	bpf_map_update_elem(map_fd, &k, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &kb, &hold, BPF_ANY);
	bpf_map_update_elem(map_fd, &km, &down, BPF_ANY);
	ASSERT_EQ(run_one(&back, out, &outlen), TC_ACT_UNSPEC, "kbald's packet goes out");
	ASSERT_EQ(get_entry(&km).ifindex, 0, "member -> client: on lo, passed on");
	ASSERT_EQ(get_entry(&k).flags & KBAL_PKT_IF_LEARN, 0, "interface learned");
	up.ifindex = 5;                /* the member's leg on another interface */
	bpf_map_update_elem(map_fd, &k, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &km, &down, BPF_ANY);
	run_one(&back, out, &outlen);
	ASSERT_EQ(get_entry(&km).ifindex, 42, "legs apart: nothing learned");
	ASSERT_EQ(get_entry(&k).flags & KBAL_PKT_IF_LEARN, KBAL_PKT_IF_LEARN, "the mark stays");
	ASSERT_EQ(run_one(&s, out, &outlen), TC_ACT_UNSPEC, "the client's packet passes");
	ASSERT_EQ(get_entry(&k).action, KBAL_PKT_SWITCH, "to kbald's socket: no switch");
	bpf_map_delete_elem(map_fd, &k);
	bpf_map_delete_elem(map_fd, &kb);
	bpf_map_delete_elem(map_fd, &km);
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* kbal_pkt_seen gets bytes and last packet once a clock tick (the coarse
 * clock: bpf_ktime_get_coarse_ns() is CLOCK_MONOTONIC_COARSE), and at a
 * FIN or RST, exactly; the entry itself counts every packet. */
UNIT_TEST(pkt_seen_once_a_tick)
{
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_rw rw = base_rw;
	struct kbal_pkt_key k = key_of(&s);
	struct kbal_pkt_seen seen = { .gen = 7 }, got;
	int seen_fd;
	__u32 slot = 12;
	uint8_t out[2048];
	uint32_t outlen;
	int same_tick = 0;

	if (!setup())
		return;
	seen_fd = bpf_map__fd(skel->maps.kbal_pkt_seen);
	rw.gen = 7;
	rw.slot = slot;
	/* a data packet in the tick of the entry's last one: not mirrored
	 * (tried until the tick did not turn during the run) */
	for (int i = 0; i < 50 && !same_tick; i++) {
		uint64_t t = coarse_ns();

		rw.switch_seq = s.seq;
		rw.last_ns = t;
		rw.bytes = 0;
		bpf_map_update_elem(seen_fd, &slot, &seen, BPF_ANY);
		bpf_map_update_elem(map_fd, &k, &rw, BPF_ANY);
		run_one(&s, out, &outlen);
		same_tick = coarse_ns() == t;
	}
	ASSERT_TRUE(same_tick, "a run within one clock tick");
	ASSERT_EQ(get_entry(&k).bytes, (uint64_t)s.payload, "the entry counts the packet");
	ASSERT_EQ(bpf_map_lookup_elem(seen_fd, &slot, &got), 0, "seen entry");
	ASSERT_EQ(got.bytes, 0, "not mirrored within the tick");
	/* a FIN: mirrored at once, with the bytes before it */
	s.seq += s.payload;
	s.flags = 0x19;
	run_one(&s, out, &outlen);
	ASSERT_EQ(bpf_map_lookup_elem(seen_fd, &slot, &got), 0, "seen entry");
	ASSERT_EQ(got.flags, KBAL_PKT_FIN, "FIN mirrored");
	ASSERT_EQ(got.bytes, 2ull * s.payload, "all the bytes, at the FIN");
	bpf_map_delete_elem(map_fd, &k);
}

/* kbal_pkt_events, read as kbald reads them */
struct events_seen {
	unsigned n[KBAL_PKT_EV_LOST + 1];                 /* by enum kbal_pkt_event_kind */
	struct kbal_pkt_event last;
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct events_seen *ev = ctx;
	const struct kbal_pkt_event *e = data;

	if (len >= sizeof(*e) && e->kind <= KBAL_PKT_EV_LOST) {
		ev->n[e->kind]++;
		ev->last = *e;
	}
	return 0;
}

/*
 * The end of a joined flow by TCP's rules: each FIN acknowledged by the
 * other side. A FIN notes, in the other direction's entry, the ack that
 * covers it; that direction's packets acking less change nothing; the
 * second acknowledgement reports the end (an event for kbald, which then
 * releases the flow at once). A RST ends it at once; a switch is
 * reported too.
 */
UNIT_TEST(pkt_fins_acknowledged_end_the_flow)
{
	struct pkt_spec up_s = base_pkt, down_s = base_pkt;
	struct kbal_pkt_rw up = base_rw, down = base_rw;
	struct kbal_pkt_key ku, kd;
	struct kbal_pkt_seen seen = { .gen = 9 }, got;
	struct events_seen ev = {};
	struct ring_buffer *rb;
	int seen_fd;
	__u32 su = 20, sd = 21;
	uint32_t fin_end;
	uint8_t out[2048];
	uint32_t outlen;

	if (!setup())
		return;
	seen_fd = bpf_map__fd(skel->maps.kbal_pkt_seen);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.kbal_pkt_events), on_event, &ev, NULL);
	if (!ASSERT_TRUE(rb != NULL, "kbal_pkt_events readable"))
		return;
	ring_buffer__consume(rb);      /* what earlier tests reported */
	memset(&ev, 0, sizeof(ev));
	/* client 127.0.0.1:40000 -> kbald :8080 becomes 127.0.0.3:14640 ->
	 * 127.0.0.4:8026 (base_rw); the member's packets come back on that
	 * 4-tuple reversed and become kbald -> client */
	down_s.saddr = ntohl(up.daddr);
	down_s.daddr = ntohl(up.saddr);
	down_s.sport = ntohs(up.dport);
	down_s.dport = ntohs(up.sport);
	ku = key_of(&up_s);
	kd = key_of(&down_s);
	down.saddr = htonl(up_s.daddr);
	down.daddr = htonl(up_s.saddr);
	down.sport = htons(up_s.dport);
	down.dport = htons(up_s.sport);
	down.seq_delta = 0x1000;
	down.ack_delta = -up.seq_delta;
	up.ack_delta = -down.seq_delta;
	up.gen = down.gen = 9;
	up.slot = su;
	down.slot = sd;
	bpf_map_update_elem(seen_fd, &su, &seen, BPF_ANY);
	bpf_map_update_elem(seen_fd, &sd, &seen, BPF_ANY);
	bpf_map_update_elem(map_fd, &ku, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &kd, &down, BPF_ANY);

	/* the client's FIN with its last 100 bytes */
	up_s.flags = 0x19;
	ASSERT_EQ(run_one(&up_s, out, &outlen), TC_ACT_UNSPEC, "the client's FIN rewritten");
	fin_end = up_s.seq + up.seq_delta + up_s.payload + 1;
	ASSERT_EQ(get_entry(&kd).flags & KBAL_PKT_PEER_FIN, KBAL_PKT_PEER_FIN,
		  "the member's entry knows of it");
	ASSERT_EQ(get_entry(&kd).fin_ack, fin_end, "and what acknowledges it");
	/* the member acks the data but not the FIN */
	down_s.flags = 0x10;
	down_s.payload = 0;
	down_s.ack = fin_end - 1;
	run_one(&down_s, out, &outlen);
	ASSERT_EQ(get_entry(&kd).flags & KBAL_PKT_ACKED_FIN, 0, "the FIN not acknowledged yet");
	down_s.ack = fin_end;
	run_one(&down_s, out, &outlen);
	ASSERT_EQ(get_entry(&kd).flags & KBAL_PKT_ACKED_FIN, KBAL_PKT_ACKED_FIN,
		  "the client's FIN acknowledged");
	bpf_map_lookup_elem(seen_fd, &sd, &got);
	ASSERT_EQ(got.flags & KBAL_PKT_ACKED_FIN, KBAL_PKT_ACKED_FIN, "in kbal_pkt_seen too");
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_ENDED], 0, "one direction closed: not the end");
	/* the member's FIN, then the client's last ACK */
	down_s.flags = 0x11;
	down_s.seq = 7000;
	run_one(&down_s, out, &outlen);
	ASSERT_EQ(get_entry(&ku).fin_ack, 7000 + down.seq_delta + 1, "the member's FIN noted");
	up_s.flags = 0x10;
	up_s.payload = 0;
	up_s.seq += 101;
	up_s.ack = 7000 + down.seq_delta;   /* not the FIN */
	run_one(&up_s, out, &outlen);
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_ENDED], 0, "the member's FIN not acknowledged: not the end");
	up_s.ack++;
	run_one(&up_s, out, &outlen);
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_ENDED], 1, "both FINs acknowledged: the end reported");
	ASSERT_EQ(ev.last.slot, su / 2, "for the flow's slot");
	ASSERT_EQ(ev.last.gen, 9, "and generation");
	bpf_map_lookup_elem(seen_fd, &su, &got);
	ASSERT_EQ(got.flags & KBAL_PKT_ACKED_FIN, KBAL_PKT_ACKED_FIN, "kbal_pkt_seen says so");

	/* a RST at the next sequence number: the end at once */
	memset(&ev, 0, sizeof(ev));
	up.flags = down.flags = 0;
	bpf_map_update_elem(map_fd, &ku, &up, BPF_ANY);
	up_s.flags = 0x14;
	up_s.payload = 0;
	up_s.seq = up.switch_seq;
	run_one(&up_s, out, &outlen);
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_ENDED], 1, "a RST reported");

	/* a switch is reported */
	memset(&ev, 0, sizeof(ev));
	up.action = KBAL_PKT_SWITCH;
	up.switch_ack = 100;
	up.switch_seq = 5000;
	bpf_map_update_elem(map_fd, &ku, &up, BPF_ANY);
	up_s.flags = 0x18;
	up_s.seq = 5000;
	up_s.ack = 100;
	up_s.payload = 10;
	run_one(&up_s, out, &outlen);
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_SWITCHED], 1, "the switch reported");
	ASSERT_EQ(ev.n[KBAL_PKT_EV_ENDED], 0, "and nothing else");
	ring_buffer__free(rb);
	bpf_map_delete_elem(map_fd, &ku);
	bpf_map_delete_elem(map_fd, &kd);
}

/* Headers from the wire that do not parse as a whole TCP/IPv4 header, on a
 * joined flow's 4-tuple: passed on untouched, never read past their end,
 * never rewritten; an IP length that disagrees with the frame changes no
 * counter beyond the bytes the frame holds */
UNIT_TEST(pkt_malformed_headers)
{
	struct pkt_spec s = base_pkt;
	struct kbal_pkt_key k = key_of(&s);
	uint8_t in[2048], out[2048];
	uint32_t outlen;
	size_t len;
	int retval;

	if (!setup())
		return;
	len = build(&s, in);
	bpf_map_update_elem(map_fd, &k, &base_rw, BPF_ANY);
	/* truncated: in the IP header, in the TCP header (the test run takes
	 * no frame shorter than an Ethernet and an IP header: the kernel's
	 * own check, before any program sees one) */
	for (size_t cut = ETH_HLEN + 1; cut < ETH_HLEN + 20 + 20; cut += 3) {
		char what[64];

		snprintf(what, sizeof(what), "cut after %zu bytes", cut);
		outlen = sizeof(out);
		if (cut < ETH_HLEN + 20) {
			ASSERT_EQ(run(in, cut, out, &outlen, &retval), -EINVAL, what);
			continue;
		}
		if (!ASSERT_EQ(run(in, cut, out, &outlen, &retval), 0, what))
			break;
		ASSERT_EQ(retval, TC_ACT_UNSPEC, what);
		ASSERT_TRUE(outlen == cut && !memcmp(in, out, cut), what);
	}
	/* a fragment (more fragments, or an offset): no whole TCP header */
	for (int i = 0; i < 2; i++) {
		len = build(&s, in);
		in[ETH_HLEN + 6] = i ? 0x00 : 0x20;   /* MF */
		in[ETH_HLEN + 7] = i ? 0x10 : 0x00;   /* offset 16 */
		outlen = sizeof(out);
		run(in, len, out, &outlen, &retval);
		ASSERT_EQ(retval, TC_ACT_UNSPEC, i ? "a fragment's offset" : "more fragments");
		ASSERT_TRUE(outlen == len && !memcmp(in, out, len), "a fragment untouched");
	}
	/* an IP header length under 20 bytes */
	len = build(&s, in);
	in[ETH_HLEN] = 0x44;
	outlen = sizeof(out);
	run(in, len, out, &outlen, &retval);
	ASSERT_EQ(retval, TC_ACT_UNSPEC, "ihl 4");
	ASSERT_TRUE(outlen == len && !memcmp(in, out, len), "ihl 4 untouched");
	bpf_map_delete_elem(map_fd, &k);
	/* IP options: the TCP header found after them, rewritten as without */
	s.ip_opts = 2;
	check_rewrite("IP options", &s, &base_rw);
	/* an IP total length past the frame, or short of the headers: the
	 * payload counted is what the frame holds */
	for (int i = 0; i < 2; i++) {
		struct kbal_pkt_rw rw;

		s = base_pkt;
		s.seq = 1000;
		len = build(&s, in);
		in[ETH_HLEN + 2] = i ? 0x23 : 0x00;   /* 9000, or 20 */
		in[ETH_HLEN + 3] = i ? 0x28 : 0x14;
		bpf_map_update_elem(map_fd, &k, &base_rw, BPF_ANY);
		outlen = sizeof(out);
		run(in, len, out, &outlen, &retval);
		bpf_map_lookup_elem(map_fd, &k, &rw);
		ASSERT_EQ(rw.bytes, 1000 + s.payload, i ? "tot_len 9000: the frame's payload"
							 : "tot_len 20: the frame's payload");
		bpf_map_delete_elem(map_fd, &k);
	}
}

/* ------------------------------------------------------------------ *
 * HTTP/1.1 framing (bpf/pkt_frame.bpf.h): a joined flow's two directions
 * framed across segments, counts and boundaries checked exactly. The
 * client -> member direction is at kbal_pkt_seen slot FR_UP (requests), the
 * other at FR_UP + 1 (responses); both start at a message boundary (FR_C0,
 * FR_M0: near 2^32, so that the numbers wrap in the middle).
 * ------------------------------------------------------------------ */

#define FR_UP  40
#define FR_GEN 7
#define FR_C0  ((uint32_t)0xffffff80u)            /* the client's next request's first byte */
#define FR_M0  ((uint32_t)0xfffffff0u)            /* the member's next response's */

static struct kbal_pkt_key fr_ku, fr_kd;
static struct pkt_spec fr_up_s, fr_down_s;
static int fr_fd;

/* the flow's entries and both directions' frame states at their start */
static int frame_setup(void)
{
	struct kbal_pkt_rw up = base_rw, down = base_rw;
	struct kbal_pkt_frame f = { .gen = FR_GEN, .state = KBAL_FRAME_HEAD };
	__u32 su = FR_UP, sd = FR_UP + 1;

	if (!setup())
		return 0;
	fr_fd = bpf_map__fd(skel->maps.kbal_pkt_frame);
	fr_up_s = base_pkt;
	fr_up_s.optlen = sizeof(opt_ts);
	memcpy(fr_up_s.opts, opt_ts, sizeof(opt_ts));
	fr_down_s = fr_up_s;
	fr_down_s.saddr = ntohl(up.daddr);
	fr_down_s.daddr = ntohl(up.saddr);
	fr_down_s.sport = ntohs(up.dport);
	fr_down_s.dport = ntohs(up.sport);
	fr_ku = key_of(&fr_up_s);
	fr_kd = key_of(&fr_down_s);
	down.saddr = htonl(fr_up_s.daddr);
	down.daddr = htonl(fr_up_s.saddr);
	down.sport = htons(fr_up_s.dport);
	down.dport = htons(fr_up_s.sport);
	down.seq_delta = 0x1000;
	up.gen = down.gen = FR_GEN;
	up.slot = su;
	down.slot = sd;
	up.fr_flags = down.fr_flags = KBAL_PKT_FR_ON;
	up.fr_seq = FR_C0;
	down.fr_seq = FR_M0;
	bpf_map_update_elem(map_fd, &fr_ku, &up, BPF_ANY);
	bpf_map_update_elem(map_fd, &fr_kd, &down, BPF_ANY);
	f.seq = f.boundary = FR_C0;
	bpf_map_update_elem(fr_fd, &su, &f, BPF_ANY);
	f.seq = f.boundary = FR_M0;
	bpf_map_update_elem(fr_fd, &sd, &f, BPF_ANY);
	return 1;
}

static void frame_teardown(void)
{
	bpf_map_delete_elem(map_fd, &fr_ku);
	bpf_map_delete_elem(map_fd, &fr_kd);
}

static struct kbal_pkt_frame frame_get(int down)
{
	struct kbal_pkt_frame f = {};
	__u32 slot = FR_UP + (down ? 1 : 0);

	bpf_map_lookup_elem(fr_fd, &slot, &f);
	{
		/* the hot part is the kbal_pkt_rw entry's */
		struct kbal_pkt_rw rw = get_entry(down ? &fr_kd : &fr_ku);

		if (!(f.flags & KBAL_FRAME_LOST)) {
			f.seq = rw.fr_seq;
			f.state = rw.fr_state;
			f.left = rw.fr_left;
		}
		if (!!(rw.fr_flags & KBAL_PKT_FR_LOST) != !!(f.flags & KBAL_FRAME_LOST))
			f.flags |= 0x80;   /* the two disagree: no expectation meets it */
	}
	return f;
}

/* a segment of the client (down 0) or the member (down 1) at seq with n
 * bytes: rewritten as ever (verdict, checksums, the payload as it came);
 * 1 if so */
static int frame_send(int down, uint32_t seq, const char *bytes, size_t n)
{
	struct pkt_spec s = down ? fr_down_s : fr_up_s;
	uint8_t in[2048], out[2048];
	uint32_t outlen = sizeof(out);
	size_t len;
	int retval = -1, ok = 1;

	if (n > 1800)
		return 0;
	s.seq = seq;
	s.payload = n;
	len = build(&s, in);
	put_payload(in, len, bytes, n);
	if (run(in, len, out, &outlen, &retval))
		return 0;
	ok &= retval == TC_ACT_UNSPEC;
	ok &= outlen == len && checksums_ok(out, outlen);
	ok &= memcmp(out + len - n, bytes, n) == 0;
	return ok;
}

/* the bytes of str */
#define FS(down, seq, str) frame_send(down, seq, str, sizeof(str) - 1)

static int frame_expect(const char *what, int down, uint32_t msgs, uint32_t boundary,
			uint32_t seq, uint8_t state, uint32_t lost)
{
	struct kbal_pkt_frame f = frame_get(down);
	int ok = 1;

	ok &= ASSERT_EQ(f.messages, msgs, what);
	ok &= ASSERT_EQ(f.boundary, boundary, what);
	ok &= ASSERT_EQ(f.seq, seq, what);
	ok &= ASSERT_EQ(f.state, state, what);
	ok &= ASSERT_EQ(f.flags & KBAL_FRAME_LOST, lost, what);
	if (!ok)
		fprintf(stderr, "  %s: messages %u boundary %#x seq %#x state %u flags %#x why %u "
			"hlen %u lpos %u left %llu heads %u interim %u\n", what, f.messages,
			f.boundary, f.seq, f.state, f.flags, f.why, f.hlen, f.lpos,
			(unsigned long long)f.left, f.heads, f.interim);
	return ok;
}

UNIT_TEST(frame_pipelined_requests_in_one_segment)
{
	static const char reqs[] =
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /b HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
		"POST /c HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 5\r\n\r\nhello"
		"HEAD /d HTTP/1.1\r\n\r\n";
	uint32_t end = FR_C0 + (uint32_t)sizeof(reqs) - 1;

	if (!frame_setup())
		return;
	ASSERT_TRUE(FS(0, FR_C0, reqs), "four requests in a segment: rewritten as ever");
	frame_expect("four requests framed", 0, 4, end, end, KBAL_FRAME_HEAD, 0);
	ASSERT_EQ(frame_get(0).heads, 4, "four heads");
	ASSERT_EQ(frame_get(0).head_ring, 8, "the fourth was HEAD");
	/* the next one's first bytes: a head begun at the boundary */
	ASSERT_TRUE(FS(0, end, "GET /e HT"), "a head's first bytes");
	frame_expect("a head begun", 0, 4, end, end + 9, KBAL_FRAME_HEAD, 0);
	ASSERT_EQ(frame_get(0).hlen, 9, "9 bytes of it parsed, none kept");
	ASSERT_TRUE(FS(0, end + 9, "TP/1.1\r\nContent-Length: 3\r\n\r\nab"), "its end and a body");
	frame_expect("in its body", 0, 4, end, end + 9 + 31, KBAL_FRAME_BODY, 0);
	ASSERT_EQ(frame_get(0).left, 1, "one byte of the body left");
	ASSERT_TRUE(FS(0, end + 40, "c"), "the body's last byte");
	frame_expect("the fifth request", 0, 5, end + 41, end + 41, KBAL_FRAME_HEAD, 0);
	frame_teardown();
}

/*
 * A stream (requests or responses) cut at every point into two segments,
 * and at every pair of points into three: each cut frames as the whole.
 * reqs: the requests the responses answer, sent whole first.
 */
static void frame_every_split(const char *what, int down, const char *reqs, const char *stream,
			      uint32_t msgs, uint32_t interim, int pairs)
{
	size_t n = strlen(stream), bad = 0;
	uint32_t s0 = down ? FR_M0 : FR_C0, end = s0 + n;

	for (size_t i = 0; i <= n; i++) {
		for (size_t j = pairs ? i : n; j <= n; j++) {
			struct kbal_pkt_frame f;
			int ok = 1;

			frame_setup();
			if (reqs)
				ok &= frame_send(0, FR_C0, reqs, strlen(reqs));
			if (i)
				ok &= frame_send(down, s0, stream, i);
			if (j > i)
				ok &= frame_send(down, s0 + i, stream + i, j - i);
			if (n > j)
				ok &= frame_send(down, s0 + j, stream + j, n - j);
			f = frame_get(down);
			if (!ok || f.messages != msgs || f.interim != interim || f.boundary != end ||
			    f.seq != end || f.state != KBAL_FRAME_HEAD || f.flags || f.hlen) {
				if (bad++ < 3) {
					fprintf(stderr, "  %s: cut at %zu and %zu:\n", what, i, j);
					frame_expect(what, down, msgs, end, end, KBAL_FRAME_HEAD, 0);
				}
			}
		}
	}
	ASSERT_EQ(bad, 0, what);
	frame_teardown();
}

UNIT_TEST(frame_heads_split_anywhere)
{
	if (!frame_setup())
		return;
	/* requests: inside CRLFCRLF, inside Content-Length's digits and
	 * name, inside the method; every pair of cuts */
	frame_every_split("requests cut in two or three", 0, NULL,
			  "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\nhello world!"
			  "HEAD / HTTP/1.1\r\n\r\n", 2, 0, 1);
	/* responses: a Content-Length body, a HEAD's answer with none */
	frame_every_split("responses cut in two or three", 1,
			  "GET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\n",
			  "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 10\r\n\r\n0123456789"
			  "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 2, 0, 1);
}

UNIT_TEST(frame_content_length_body_spans_segments)
{
	char body[1500];
	uint32_t m = FR_M0;
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n";

	if (!frame_setup())
		return;
	memset(body, 'b', sizeof(body));
	ASSERT_TRUE(FS(0, FR_C0, "GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), "two requests");
	ASSERT_TRUE(FS(1, m, head), "a response head alone");
	m += sizeof(head) - 1;
	frame_expect("its body next", 1, 0, FR_M0, m, KBAL_FRAME_BODY, 0);
	ASSERT_EQ(frame_get(1).left, 4000, "4000 bytes of it");
	ASSERT_TRUE(frame_send(1, m, body, 1500), "1500");
	m += 1500;
	ASSERT_TRUE(frame_send(1, m, body, 1500), "3000");
	m += 1500;
	frame_expect("1000 left", 1, 0, FR_M0, m, KBAL_FRAME_BODY, 0);
	ASSERT_EQ(frame_get(1).left, 1000, "1000 left");
	{
		/* its last 1000 and the next response whole */
		char seg[1100];
		static const char next[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n";

		memset(seg, 'b', 1000);
		memcpy(seg + 1000, next, sizeof(next) - 1);
		ASSERT_TRUE(frame_send(1, m, seg, 1000 + sizeof(next) - 1), "the end, a 304");
		m += 1000 + sizeof(next) - 1;
	}
	frame_expect("two responses", 1, 2, m, m, KBAL_FRAME_HEAD, 0);
	frame_teardown();
}

UNIT_TEST(frame_chunked_split_anywhere)
{
	if (!frame_setup())
		return;
	/* size lines, an extension, the data's CRLF, the last chunk, trailers,
	 * each cut anywhere; a chunked request too */
	frame_every_split("chunked responses cut in two or three", 1,
			  "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
			  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
			  "5\r\nhello\r\n1A;ext=\"x\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			  "0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n"
			  "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 2, 0, 1);
	frame_every_split("a chunked request cut in two", 0, NULL,
			  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", 2, 0, 0);
}

UNIT_TEST(frame_head_and_interim_and_bodiless_responses)
{
	static const char resp[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"          /* HEAD: no body */
		"HTTP/1.1 100 Continue\r\n\r\n"                           /* interim */
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"          /* the POST's */
		"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"   /* no body */
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n" /* no body */
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz";
	uint32_t end = FR_M0 + (uint32_t)sizeof(resp) - 1;

	if (!frame_setup())
		return;
	ASSERT_TRUE(FS(0, FR_C0, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
				 "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
		    "HEAD, then a POST waiting for 100");
	frame_expect("the POST's body next", 0, 1, FR_C0 + 28, FR_C0 + 28 + 60, KBAL_FRAME_BODY, 0);
	/* the 100 before the POST's body is sent */
	ASSERT_TRUE(FS(1, FR_M0, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
				 "HTTP/1.1 100 Continue\r\n\r\n"), "the HEAD's answer and a 100");
	frame_expect("one final response, one interim", 1, 1, FR_M0 + 65, FR_M0 + 65,
		     KBAL_FRAME_HEAD, 0);
	ASSERT_EQ(frame_get(1).interim, 1, "the 100 counted as interim");
	ASSERT_TRUE(FS(0, FR_C0 + 88, "dataGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"
				      "GET / HTTP/1.1\r\n\r\n"), "the body, three GETs");
	frame_expect("five requests", 0, 5, FR_C0 + 146, FR_C0 + 146, KBAL_FRAME_HEAD, 0);
	ASSERT_EQ(frame_get(0).head_ring & 0x1f, 1, "the first was HEAD, no other");
	ASSERT_TRUE(frame_send(1, FR_M0 + 65, resp + 65, sizeof(resp) - 1 - 65), "the rest");
	frame_expect("five final responses", 1, 5, end, end, KBAL_FRAME_HEAD, 0);
	ASSERT_EQ(frame_get(1).interim, 1, "one interim");
	frame_teardown();
}

UNIT_TEST(frame_retransmitted_overlapping_and_out_of_order)
{
	static const char reqs[] = "POST / HTTP/1.1\r\nContent-Length: 3000\r\n\r\n";
	struct kbal_pkt_frame a, b;
	char body[1000];
	uint32_t c = FR_C0 + (uint32_t)sizeof(reqs) - 1;
	uint64_t lost0;

	if (!frame_setup())
		return;
	memset(body, 'q', sizeof(body));
	ASSERT_TRUE(FS(0, FR_C0, reqs), "a head");
	ASSERT_TRUE(frame_send(0, c, body, 1000), "1000 of its body");
	a = frame_get(0);
	/* a retransmission: nothing changes */
	ASSERT_TRUE(FS(0, FR_C0, reqs), "the head again");
	ASSERT_TRUE(frame_send(0, c, body, 1000), "the body's first 1000 again");
	b = frame_get(0);
	ASSERT_TRUE(memcmp(&a, &b, sizeof(a)) == 0, "retransmissions change nothing");
	/* overlapping: 500 old, 500 new */
	ASSERT_TRUE(frame_send(0, c + 500, body, 1000), "500 old, 500 new");
	frame_expect("the new 500 framed", 0, 0, FR_C0, c + 1500, KBAL_FRAME_BODY, 0);
	ASSERT_EQ(frame_get(0).left, 1500, "1500 left");
	/* beyond a gap inside the body: framed, the gap counted as body */
	ASSERT_TRUE(frame_send(0, c + 2000, body, 1000), "the body's end, 500 missing");
	frame_expect("framed past the gap", 0, 1, c + 3000, c + 3000, KBAL_FRAME_HEAD, 0);
	ASSERT_EQ(frame_get(0).gaps, 1, "one gap bridged");
	ASSERT_TRUE(frame_send(0, c + 1500, body, 500), "the missing 500");
	frame_expect("already framed", 0, 1, c + 3000, c + 3000, KBAL_FRAME_HEAD, 0);
	/* beyond a gap in a head: kept until the gap fills, then framed */
	c += 3000;
	{
		static const char st[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
		uint32_t n = sizeof(st) - 1;

		ASSERT_TRUE(frame_send(0, c, st, 18), "a head's start");
		ASSERT_TRUE(frame_send(0, c + 30, st + 30, n - 30), "beyond a gap in it");
		frame_expect("kept", 0, 1, c, c + 18, KBAL_FRAME_HEAD, 0);
		ASSERT_EQ(frame_get(0).flags & KBAL_FRAME_STASHED, KBAL_FRAME_STASHED, "stashed");
		ASSERT_TRUE(frame_send(0, c + 30, st + 30, n - 30), "that segment again");
		frame_expect("still kept", 0, 1, c, c + 18, KBAL_FRAME_HEAD, 0);
		ASSERT_TRUE(frame_send(0, c + 18, st + 18, 12), "the gap's bytes");
		frame_expect("the gap filled: both framed", 0, 3, c + n, c + n, KBAL_FRAME_HEAD, 0);
		ASSERT_EQ(frame_get(0).flags, 0, "nothing kept");
		ASSERT_EQ(frame_get(0).gaps, 2, "two gaps: one bridged, one kept");
		c += n;
		/* kept, then the gap and the kept bytes come again as one */
		ASSERT_TRUE(frame_send(0, c, st, 10), "a head's start");
		ASSERT_TRUE(frame_send(0, c + 20, st + 20, n - 20), "beyond a gap");
		ASSERT_TRUE(frame_send(0, c + 10, st + 10, n - 10), "the gap and the rest again");
		frame_expect("framed once", 0, 5, c + n, c + n, KBAL_FRAME_HEAD, 0);
		ASSERT_EQ(frame_get(0).flags, 0, "nothing kept");
		c += n;
	}
	/* a second segment beyond the gap: lost */
	lost0 = stat(KBAL_STAT_PKT_FRAME_LOST);
	ASSERT_TRUE(FS(0, c, "GET / HTTP/1.1\r\nHo"), "a head's start");
	ASSERT_TRUE(FS(0, c + 20, "h\r\n"), "beyond a gap in it: kept");
	ASSERT_TRUE(FS(0, c + 30, "\r\n\r\n"), "a second beyond it: rewritten as ever");
	frame_expect("lost", 0, 5, c, c + 18, KBAL_FRAME_HEAD, KBAL_FRAME_LOST);
	ASSERT_EQ(frame_get(0).why, KBAL_FRAME_WHY_GAP, "why: the gap");
	ASSERT_EQ(frame_get(0).lost_at, c + 18, "where");
	ASSERT_EQ(stat(KBAL_STAT_PKT_FRAME_LOST), lost0 + 1, "counted");
	ASSERT_TRUE(FS(0, c + 18, "st: h\r\n\r\nGET / HTTP/1.1\r\n\r\n"), "the gap's bytes: forwarded");
	frame_expect("still lost", 0, 5, c, c + 18, KBAL_FRAME_HEAD, KBAL_FRAME_LOST);
	frame_teardown();
}

/* heads longer than a window (512 bytes): lines across the windows' edges,
 * a Content-Length among them at every offset around an edge; many
 * pipelined requests in one segment */
UNIT_TEST(frame_heads_across_windows)
{
	char buf[1800];

	if (!frame_setup())
		return;
	for (int pad = 440; pad < 540; pad++) {
		uint32_t n;
		struct kbal_pkt_frame f;
		char what[64];

		frame_setup();
		n = snprintf(buf, sizeof(buf), "PUT /x HTTP/1.1\r\nX-Pad: %*s\r\n"
			     "Content-Length: 5\r\nX-B: %*s\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
			     pad, "p", 700 - pad, "q");
		ASSERT_TRUE(frame_send(0, FR_C0, buf, n), "rewritten as ever");
		f = frame_get(0);
		snprintf(what, sizeof(what), "pad %d", pad);
		if (!frame_expect(what, 0, 2, FR_C0 + n, FR_C0 + n, KBAL_FRAME_HEAD, 0))
			break;
		ASSERT_EQ(f.hlen, 0, what);
	}
	{
		/* 60 requests of 29 bytes: 1740 bytes, four windows */
		uint32_t n = 0;

		frame_setup();
		for (int i = 0; i < 60; i++)
			n += snprintf(buf + n, sizeof(buf) - n, "GET /%02d HTTP/1.1\r\nA: b\r\n\r\n", i);
		ASSERT_TRUE(frame_send(0, FR_C0, buf, n), "60 pipelined requests");
		frame_expect("60 requests", 0, 60, FR_C0 + n, FR_C0 + n, KBAL_FRAME_HEAD, 0);
	}
	frame_teardown();
}

/* what the framing cannot follow, each counted as lost with its reason;
 * what it follows to the end: a response without length */
UNIT_TEST(frame_lost_where_it_cannot_follow)
{
	static const struct {
		int down;
		const char *reqs, *bytes;
		uint8_t why;
	} cases[] = {
		{ 0, NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", KBAL_FRAME_WHY_TE },
		{ 1, "GET / HTTP/1.1\r\nUpgrade: x\r\n\r\n",
		  "HTTP/1.1 101 Switching Protocols\r\n\r\n", KBAL_FRAME_WHY_UPGRADE },
		{ 1, NULL, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", KBAL_FRAME_WHY_NO_REQUEST },
		{ 0, NULL, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		  KBAL_FRAME_WHY_BAD },
		{ 0, NULL, "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", KBAL_FRAME_WHY_BAD },
		{ 0, NULL, "GET / HTTP/1.1\r\n folded\r\n\r\n", KBAL_FRAME_WHY_BAD },
		{ 1, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 2OO OK\r\n\r\n", KBAL_FRAME_WHY_BAD },
		{ 1, "GET / HTTP/1.1\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", KBAL_FRAME_WHY_BAD },
		{ 1, "GET / HTTP/1.1\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
		  KBAL_FRAME_WHY_LINE_MAX },
	};

	if (!frame_setup())
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t s0 = cases[i].down ? FR_M0 : FR_C0;
		struct kbal_pkt_frame f;
		char what[64];

		frame_setup();
		snprintf(what, sizeof(what), "case %zu", i);
		if (cases[i].reqs)
			ASSERT_TRUE(frame_send(0, FR_C0, cases[i].reqs, strlen(cases[i].reqs)), what);
		ASSERT_TRUE(frame_send(cases[i].down, s0, cases[i].bytes, strlen(cases[i].bytes)),
			    what);
		f = frame_get(cases[i].down);
		ASSERT_EQ(f.flags & KBAL_FRAME_LOST, KBAL_FRAME_LOST, what);
		ASSERT_EQ(f.why, cases[i].why, what);
	}
	{
		/* a head over 8 KiB, in five segments */
		char big[1800];
		uint32_t c = FR_C0;

		frame_setup();
		memset(big, 'h', sizeof(big));
		memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
		for (int i = 0; i < 5; i++) {
			ASSERT_TRUE(frame_send(0, c, big, sizeof(big)), "a long head's piece");
			c += sizeof(big);
			memcpy(big, "hhhhhhhhhhhhhhhhhhh", 19);
		}
		ASSERT_EQ(frame_get(0).flags & KBAL_FRAME_LOST, KBAL_FRAME_LOST, "a head over 8 KiB");
		ASSERT_EQ(frame_get(0).why, KBAL_FRAME_WHY_HEAD_MAX, "why: its length");
	}
	{
		/* a response without a length runs to the close: framed as
		 * body, no message, no boundary after it */
		static const char r[] = "HTTP/1.1 200 OK\r\nServer: s\r\n\r\nabc";
		char body[1000];

		frame_setup();
		memset(body, 'x', sizeof(body));
		ASSERT_TRUE(FS(0, FR_C0, "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"), "two requests");
		ASSERT_TRUE(FS(1, FR_M0, r), "a response without length");
		ASSERT_TRUE(frame_send(1, FR_M0 + (uint32_t)sizeof(r) - 1, body, sizeof(body)),
			    "its body");
		frame_expect("to the close", 1, 0, FR_M0,
			     FR_M0 + (uint32_t)(sizeof(r) - 1 + sizeof(body)), KBAL_FRAME_CLOSE, 0);
	}
	frame_teardown();
}

/* HEAD's bit across the ring: 64 requests ahead of their responses are
 * known, the 65th ahead is not (lost, NO_REQUEST) */
UNIT_TEST(frame_head_ring_64_ahead)
{
	static const char get[] = "GET / HTTP/1.1\r\n\r\n", head[] = "HEAD / HTTP/1.1\r\n\r\n";
	static const char r_head[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
	static const char r_get[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz";
	uint32_t c = FR_C0, m = FR_M0;

	if (!frame_setup())
		return;
	/* requests 0..63: every third HEAD; each answered, then request i + 64 */
	for (int i = 0; i < 64; i++) {
		int h = i % 3 == 0;

		ASSERT_TRUE(frame_send(0, c, h ? head : get, h ? sizeof(head) - 1 : sizeof(get) - 1),
			    "a request");
		c += h ? sizeof(head) - 1 : sizeof(get) - 1;
	}
	for (int i = 0; i < 200; i++) {
		int h = i % 3 == 0, hn = (i + 64) % 3 == 0;

		if (!ASSERT_TRUE(frame_send(1, m, h ? r_head : r_get,
					    h ? sizeof(r_head) - 1 : sizeof(r_get) - 1), "a response"))
			break;
		m += h ? sizeof(r_head) - 1 : sizeof(r_get) - 1;
		if (!frame_expect("answered in order", 1, i + 1, m, m, KBAL_FRAME_HEAD, 0))
			break;
		ASSERT_TRUE(frame_send(0, c, hn ? head : get, hn ? sizeof(head) - 1 : sizeof(get) - 1),
			    "the next request");
		c += hn ? sizeof(head) - 1 : sizeof(get) - 1;
	}
	/* one more request: 65 ahead of the next response */
	ASSERT_TRUE(FS(0, c, "GET / HTTP/1.1\r\n\r\n"), "a 65th ahead");
	ASSERT_TRUE(frame_send(1, m, r_get, sizeof(r_get) - 1), "a response");
	ASSERT_EQ(frame_get(1).why, KBAL_FRAME_WHY_NO_REQUEST, "65 ahead: not known");
	frame_teardown();
}

/*
 * A stream cut at every pair of points into three segments A B C, sent
 * A C B (C passes beyond a gap: framed at once where the gap is body, kept
 * until B fills it elsewhere), and A C C B (C retransmitted before B):
 * each frames as the whole, nothing lost, nothing left kept.
 */
static void frame_every_reorder(const char *what, int down, const char *reqs, const char *stream,
				uint32_t msgs)
{
	size_t n = strlen(stream), bad = 0;
	uint32_t s0 = down ? FR_M0 : FR_C0, end = s0 + n;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			for (int twice = 0; twice < 2; twice++) {
				struct kbal_pkt_frame f;
				int ok = 1;

				frame_setup();
				if (reqs)
					ok &= frame_send(0, FR_C0, reqs, strlen(reqs));
				if (i)
					ok &= frame_send(down, s0, stream, i);
				ok &= frame_send(down, s0 + j, stream + j, n - j);
				if (twice)
					ok &= frame_send(down, s0 + j, stream + j, n - j);
				ok &= frame_send(down, s0 + i, stream + i, j - i);
				f = frame_get(down);
				if (!ok || f.messages != msgs || f.boundary != end || f.seq != end ||
				    f.state != KBAL_FRAME_HEAD || f.flags || f.hlen) {
					if (bad++ < 3) {
						fprintf(stderr, "  %s: cut at %zu and %zu, sent A C%s B:\n",
							what, i, j, twice ? " C" : "");
						frame_expect(what, down, msgs, end, end, KBAL_FRAME_HEAD, 0);
					}
				}
			}
		}
	}
	ASSERT_EQ(bad, 0, what);
	frame_teardown();
}

UNIT_TEST(frame_reordered_anywhere)
{
	if (!frame_setup())
		return;
	frame_every_reorder("requests reordered", 0, NULL,
			    "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\nhello world!"
			    "HEAD / HTTP/1.1\r\n\r\n", 2);
	frame_every_reorder("chunked responses reordered", 1,
			    "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
			    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "5\r\nhello\r\n1A;ext=\"x\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			    "0\r\nX-Trailer: 1\r\n\r\n"
			    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 2);
}

/* a full-size segment (1,448 bytes) beyond a gap in a head kept, framed
 * once the gap fills */
UNIT_TEST(frame_full_segment_kept)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 3000\r\n\r\n";
	char seg[1800];
	uint32_t h = sizeof(head) - 1, m = FR_M0;

	if (!frame_setup())
		return;
	ASSERT_TRUE(FS(0, FR_C0, "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"), "two requests");
	memset(seg, 'b', sizeof(seg));
	memcpy(seg, head + 20, h - 20);
	/* the head's first 20 bytes lost; what follows: the rest of the head
	 * and 1448 - (h - 20) bytes of body */
	ASSERT_TRUE(frame_send(1, m + 20, seg, 1448), "beyond the gap: a full segment");
	ASSERT_EQ(frame_get(1).flags & KBAL_FRAME_STASHED, KBAL_FRAME_STASHED, "kept");
	ASSERT_TRUE(frame_send(1, m, head, 20), "the gap");
	frame_expect("framed, in the body", 1, 0, m, m + 20 + 1448, KBAL_FRAME_BODY, 0);
	ASSERT_EQ(frame_get(1).left, 3000 - (1448 - (h - 20)), "the body's bytes counted");
	frame_teardown();
}

/* ------------------------------------------------------------------
 * Given back at a request (docs/packet.md): kbal_pkt_give_back()
 * ------------------------------------------------------------------ */

/* a segment of the client (down 0) or the member (down 1): seq, ack, TCP
 * flags (0: ACK and PSH), n bytes; the program's verdict, its output in out */
static int gb_send_fl(int down, uint32_t seq, uint32_t ack, uint8_t flags, const char *bytes,
		      size_t n, uint8_t *out, uint32_t *outlen)
{
	struct pkt_spec s = down ? fr_down_s : fr_up_s;
	uint8_t in[2048];
	size_t len;
	int retval = -1;

	s.seq = seq;
	s.ack = ack;
	if (flags)
		s.flags = flags;
	s.payload = n;
	len = build(&s, in);
	put_payload(in, len, bytes, n);
	*outlen = 2048;
	if (run(in, len, out, outlen, &retval))
		return -1;
	return retval;
}

static int gb_send(int down, uint32_t seq, uint32_t ack, const char *bytes, size_t n,
		   uint8_t *out, uint32_t *outlen)
{
	return gb_send_fl(down, seq, ack, 0, bytes, n, out, outlen);
}

/* a segment of spec s (a flow's sender) with seq, ack, flags and no
 * payload: the program's verdict, its output in out */
static int gb_send_spec(struct pkt_spec s, uint32_t seq, uint32_t ack, uint8_t flags,
			uint8_t *out, uint32_t *outlen)
{
	uint8_t in[256];
	size_t len;
	int retval = -1;

	s.seq = seq;
	s.ack = ack;
	s.flags = flags;
	s.payload = 0;
	len = build(&s, in);
	*outlen = 2048;
	if (run(in, len, out, outlen, &retval))
		return -1;
	return retval;
}

static uint32_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint32_t)(((uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec) / 1000000ull);
}

/* the framed joined flow of the given-back tests: its two entries with
 * their switch points, and kbald's own sockets' entries (the rewrite
 * targets: khold, kdrop) as drop */
static void given_back_flow(struct kbal_pkt_rw *up, struct kbal_pkt_rw *down,
			    struct kbal_pkt_key *khold, struct kbal_pkt_key *kdrop,
			    const struct kbal_pkt_rw *drop)
{
	*up = get_entry(&fr_ku);
	*down = get_entry(&fr_kd);
	up->switch_seq = FR_C0;
	down->switch_seq = FR_M0;
	bpf_map_update_elem(map_fd, &fr_ku, up, BPF_ANY);
	bpf_map_update_elem(map_fd, &fr_kd, down, BPF_ANY);
	*khold = (struct kbal_pkt_key){ down->saddr, down->daddr, down->sport, down->dport };
	*kdrop = (struct kbal_pkt_key){ up->saddr, up->daddr, up->sport, up->dport };
	bpf_map_update_elem(map_fd, khold, drop, BPF_ANY);
	bpf_map_update_elem(map_fd, kdrop, drop, BPF_ANY);
}

/* given_back_flow()'s end: the two kbald-side entries and the frames */
static void given_back_teardown(const struct kbal_pkt_key *khold, const struct kbal_pkt_key *kdrop)
{
	bpf_map_delete_elem(map_fd, khold);
	bpf_map_delete_elem(map_fd, kdrop);
	frame_teardown();
}

/*
 * A joined flow given back where kbald asked, only where it is exact: not
 * asked, a response not complete, the member's last ACK behind: the
 * request goes to the member as ever; then, all of it holding, the four
 * entries become SHIFT entries, the request goes to kbald's kept socket
 * shifted (seq S0, ack K0, its own 4-tuple), an event reports it.
 */
UNIT_TEST(pkt_given_back_at_a_request_where_asked)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	const uint32_t rq = sizeof(req) - 1, rs = sizeof(resp) - 1;
	const uint32_t S0 = 0x11110000, K0 = 0x22220000, MS0 = 0x33330000, MK0 = 0x44440000;
	struct kbal_pkt_rw up, down, e, drop = { .action = KBAL_PKT_DROP, .gen = FR_GEN };
	struct kbal_pkt_key khold, kdrop;
	struct kbal_pkt_back bk = { .gen = FR_GEN, .armed = 1, .ts = 1, .c_rcv_nxt = S0, .c_snd_nxt = K0,
				    .m_rcv_nxt = MS0, .m_snd_nxt = MK0 };
	struct kbal_pkt_frame f;
	struct events_seen ev = {};
	struct ring_buffer *rb;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0, t0, t1, dc_hi, dc_lo, dc;
	__u32 su = FR_UP, bslot = FR_UP / 2;
	int back_fd;

	if (!frame_setup())
		return;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.kbal_pkt_events), on_event, &ev, NULL);
	if (!ASSERT_TRUE(rb != NULL, "kbal_pkt_events readable"))
		return;
	ring_buffer__consume(rb);
	memset(&ev, 0, sizeof(ev));
	back_fd = bpf_map__fd(skel->maps.kbal_pkt_back);
	given_back_flow(&up, &down, &khold, &kdrop, &drop);
#define M_ (Mm + down.seq_delta)
#define KM_ (B + up.seq_delta)
	/* 1. an exchange; 2. not asked: the next request goes to the member */
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 1");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 1");
	Mm += rs;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 2");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "not asked: joined");
	ASSERT_TRUE(!memcmp(out + ETH_HLEN + 12, &up.saddr, 4), "not asked: to the member");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 2");
	Mm += rs;
	/* 3. a response not complete: the next request to the member (a
	 * client that pipelines) */
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 3");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs - 1, out, &outlen), TC_ACT_UNSPEC, "response 3 but a byte");
	Mm += rs - 1;
	/* kbald asks (while an answer is under way) */
	t0 = mono_ms();
	bk.c_tsoff = 1000 - t0;        /* kbald's client-side socket's clock: 1000 now */
	bk.m_tsoff = 5000 - t0;
	ASSERT_EQ(bpf_map_update_elem(back_fd, &bslot, &bk, BPF_ANY), 0, "kbal_pkt_back");
	bpf_map_lookup_elem(fr_fd, &su, &f);
	f.back = KBAL_PKT_BACK_ASKED;
	bpf_map_update_elem(fr_fd, &su, &f, BPF_ANY);
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 4");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "a response not complete: joined");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_ - 1, "k", 1, out, &outlen), TC_ACT_UNSPEC, "response 3's end");
	Mm += 1;
	/* 4. the member's last ACK behind the client's bytes */
	ASSERT_EQ(gb_send(1, Mm, KM_ - 1, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 4, "
		  "acking all but the last byte");
	Mm += rs;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 5");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "the member not quiet: joined");
	B += rq;
	/* a client packet acking less than all the member sent */
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 5");
	Mm += rs;
	ASSERT_EQ(gb_send(0, B, M_ - 1, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 6, acking "
		  "all but the member's last byte");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "the client not quiet: joined");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 6");
	Mm += rs;
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_BACK], 0, "no event yet");
	/* 5. all of it holds: given back */
	up = get_entry(&fr_ku);
	down = get_entry(&fr_kd);
	t0 = mono_ms();
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 7");
	t1 = mono_ms();
	ASSERT_TRUE(checksums_ok(out, outlen), "request 7: checksums");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), S0, "request 7: seq S0 (the kept socket's next)");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 8), K0, "request 7: ack K0");
	ASSERT_EQ(get32(out + ETH_HLEN + 12), fr_up_s.saddr, "request 7: its own source");
	ASSERT_EQ(get32(out + ETH_HLEN + 16), fr_up_s.daddr, "request 7: its own destination");
	ASSERT_TRUE(!memcmp(out + outlen - rq, req, rq), "request 7: its bytes");
	e = get_entry(&fr_ku);
	ASSERT_EQ(e.action, KBAL_PKT_SHIFT, "client -> kbald: SHIFT");
	ASSERT_EQ(e.seq_delta, S0 - B, "client -> kbald: seq");
	ASSERT_EQ(e.ack_delta, K0 - M_, "client -> kbald: ack");
	ASSERT_EQ(e.slot, FR_UP, "client -> kbald: slot");
	/* dc: kbald's client-side socket's TSvals just past the last the
	 * client saw (the member's 100, in the client's view) */
	dc = -e.tsecr_delta;
	dc_lo = 100 + down.tsval_delta - (t1 + bk.c_tsoff) + 1;
	dc_hi = 100 + down.tsval_delta - (t0 + bk.c_tsoff) + 1;
	ASSERT_TRUE((int32_t)(dc - dc_lo) >= 0 && (int32_t)(dc_hi - dc) >= 0, "dc from the clock");
	e = get_entry(&khold);
	ASSERT_EQ(e.action, KBAL_PKT_SHIFT, "kbald -> client: SHIFT");
	ASSERT_EQ(e.seq_delta, M_ - K0, "kbald -> client: seq");
	ASSERT_EQ(e.ack_delta, B - S0, "kbald -> client: ack");
	ASSERT_EQ(e.tsval_delta, dc, "kbald -> client: TSval");
	ASSERT_EQ(e.saddr, khold.saddr, "kbald -> client: its own 4-tuple");
	e = get_entry(&fr_kd);
	ASSERT_EQ(e.action, KBAL_PKT_SHIFT, "member -> kbald: SHIFT");
	ASSERT_EQ(e.seq_delta, MS0 - Mm, "member -> kbald: seq");
	ASSERT_EQ(e.ack_delta, MK0 - KM_, "member -> kbald: ack");
	e = get_entry(&kdrop);
	ASSERT_EQ(e.action, KBAL_PKT_SHIFT, "kbald -> member: SHIFT");
	ASSERT_EQ(e.seq_delta, KM_ - MK0, "kbald -> member: seq");
	ASSERT_EQ(e.ack_delta, Mm - MS0, "kbald -> member: ack");
	ASSERT_EQ(-e.tsval_delta, get_entry(&fr_kd).tsecr_delta, "the member's clock both ways");
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_BACK], 1, "an event");
	ASSERT_EQ(ev.last.slot, FR_UP / 2, "the event's slot");
#undef M_
#undef KM_
	ring_buffer__free(rb);
	given_back_teardown(&khold, &kdrop);
}

/*
 * A joined flow's client leg taken back by kbald at a clock's end
 * (kbal_packet_take_client(), user/splice_packet.c: its 408 or 502): the
 * member's two entries gone, the client's two written as SHIFT entries with
 * kbal_shared.h's arithmetic, as kbald writes them. A member that never
 * answers its request: kbald's answer from the kept socket (seq K0, ack S0)
 * reaches the client at the member's next byte M, acknowledging B, with a
 * TSval just past the member's last; the client's ACK of it lands in the
 * kept socket at K0 + n, its echo mapped back; a retransmission of the
 * request the member had lands below S0 (a duplicate there); the member's
 * packets meet no entry and pass untouched.
 */
UNIT_TEST(pkt_client_leg_taken_back_at_a_clock)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char page[] = "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n";
	const uint32_t rq = sizeof(req) - 1, rs = sizeof(resp) - 1, n = sizeof(page) - 1;
	const uint32_t S0 = 0x11110000, K0 = 0x22220000, NOW = 1000;
	struct kbal_pkt_rw up, down, e, drop = { .action = KBAL_PKT_DROP, .gen = FR_GEN };
	struct kbal_pkt_key khold, kdrop;
	struct pkt_spec kept, cl;
	uint8_t in[2048], out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0, M, dc;
	size_t len;
	int retval = -1;

	if (!frame_setup())
		return;
	given_back_flow(&up, &down, &khold, &kdrop, &drop);
#define M_ (Mm + down.seq_delta)
#define KM_ (B + up.seq_delta)
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 1");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 1");
	Mm += rs;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 2");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, "", 0, out, &outlen), TC_ACT_UNSPEC, "the member's ACK of it");
	/* kbald's take, as kbal_packet_take_client() writes it */
	up = get_entry(&fr_ku);
	down = get_entry(&fr_kd);
	M = down.switch_seq + down.seq_delta;
	ASSERT_EQ(up.switch_seq, B, "B: the client's next byte");
	ASSERT_EQ(up.switch_ack, M, "the client has all the member sent");
	dc = kbal_pkt_shift_clock(&down, NOW);
	ASSERT_EQ(NOW + dc, 100 + down.tsval_delta + 1, "dc: just past the member's last TSval");
	bpf_map_delete_elem(map_fd, &fr_kd);
	bpf_map_delete_elem(map_fd, &kdrop);
	memset(&e, 0, sizeof(e));
	kbal_pkt_shift_to_peer(&e, B, M, S0, K0, dc);
	e.gen = FR_GEN;
	e.slot = down.slot;
	e.saddr = khold.saddr, e.daddr = khold.daddr, e.sport = khold.sport, e.dport = khold.dport;
	ASSERT_EQ(bpf_map_update_elem(map_fd, &khold, &e, BPF_ANY), 0, "kbald -> client: SHIFT");
	memset(&e, 0, sizeof(e));
	kbal_pkt_shift_from_peer(&e, B, M, S0, K0, dc);
	e.gen = FR_GEN;
	e.slot = up.slot;
	e.last_tsval = up.last_tsval;
	e.saddr = fr_ku.saddr, e.daddr = fr_ku.daddr, e.sport = fr_ku.sport, e.dport = fr_ku.dport;
	ASSERT_EQ(bpf_map_update_elem(map_fd, &fr_ku, &e, BPF_ANY), 0, "client -> kbald: SHIFT");
	/* kbald's answer from the kept socket */
	kept = fr_up_s;
	kept.saddr = fr_up_s.daddr, kept.daddr = fr_up_s.saddr;
	kept.sport = fr_up_s.dport, kept.dport = fr_up_s.sport;
	put32(kept.opts + 4, NOW);
	put32(kept.opts + 8, 300);
	kept.seq = K0;
	kept.ack = S0;
	kept.payload = n;
	len = build(&kept, in);
	put_payload(in, len, page, n);
	outlen = sizeof(out);
	ASSERT_EQ(run(in, len, out, &outlen, &retval), 0, "the answer: run");
	ASSERT_EQ(retval, TC_ACT_UNSPEC, "the answer goes on");
	ASSERT_TRUE(checksums_ok(out, outlen), "the answer: checksums");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), M, "the answer: seq M (the client's next)");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 8), B, "the answer: ack B (all the client sent)");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 20 + 4), NOW + dc, "the answer: TSval");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 20 + 8), 300, "the answer: TSecr as it was");
	ASSERT_EQ(get32(out + ETH_HLEN + 12), kept.saddr, "the answer: its own source");
	ASSERT_TRUE(!memcmp(out + outlen - n, page, n), "the answer: its bytes");
	/* the client's ACK of it, echoing its TSval */
	cl = fr_up_s;
	set_tsecr(&cl, NOW + dc);
	ASSERT_EQ(gb_send_spec(cl, B, M + n, 0x10, out, &outlen), TC_ACT_UNSPEC, "the client's ACK");
	ASSERT_TRUE(checksums_ok(out, outlen), "the client's ACK: checksums");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), S0, "the client's ACK: seq S0");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 8), K0 + n, "the client's ACK: ack K0 + n");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 20 + 8), NOW, "the client's ACK: its echo mapped back");
	ASSERT_EQ(get32(out + ETH_HLEN + 16), fr_up_s.daddr, "the client's ACK: to the kept socket");
	/* the request the member had, sent again: below S0 */
	ASSERT_EQ(gb_send(0, B - rq, M, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 2 again");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), S0 - rq, "request 2 again: below S0");
	/* the member's packets: no entry, untouched */
	len = build(&fr_down_s, in);
	outlen = sizeof(out);
	ASSERT_EQ(run(in, len, out, &outlen, &retval), 0, "the member's packet: run");
	ASSERT_EQ(retval, TC_ACT_UNSPEC, "the member's packet passes");
	ASSERT_TRUE(outlen == len && !memcmp(in, out, len), "the member's packet untouched");
#undef M_
#undef KM_
	given_back_teardown(&khold, &kdrop);
}

/* watched (KBAL_PKT_BACK_WATCH): the program gives back by itself at the
 * first request after the balancer's gen moved, not before */
UNIT_TEST(pkt_given_back_when_the_balancers_gen_moves)
{
	static const char req[] = "GET /w HTTP/1.1\r\n\r\n";
	static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
	const uint32_t rq = sizeof(req) - 1, rs = sizeof(resp) - 1;
	struct kbal_pkt_rw up, down, drop = { .action = KBAL_PKT_DROP, .gen = FR_GEN };
	struct kbal_pkt_key khold, kdrop;
	struct kbal_pkt_back bk = { .gen = FR_GEN, .armed = 1, .ts = 1, .c_rcv_nxt = 1, .c_snd_nxt = 2,
				    .m_rcv_nxt = 3, .m_snd_nxt = 4, .balancer = 3, .bgen = 5 };
	struct kbal_balancer bal = { .gen = 5 };
	struct kbal_pkt_frame f;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	__u32 su = FR_UP, bslot = FR_UP / 2, bi = 3;
	int bal_fd;

	if (!frame_setup())
		return;
	bal_fd = bpf_map__fd(skel->maps.kbal_balancers);
	given_back_flow(&up, &down, &khold, &kdrop, &drop);
	ASSERT_EQ(bpf_map_update_elem(bal_fd, &bi, &bal, BPF_ANY), 0, "kbal_balancers[3]");
	ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt_back), &bslot, &bk,
				      BPF_ANY), 0, "kbal_pkt_back");
	bpf_map_lookup_elem(fr_fd, &su, &f);
	f.back = KBAL_PKT_BACK_WATCH;
	bpf_map_update_elem(fr_fd, &su, &f, BPF_ANY);
#define M_ (Mm + down.seq_delta)
#define KM_ (B + up.seq_delta)
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a request");
		ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "the gen unchanged: joined");
		B += rq;
		ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "a 204");
		Mm += rs;
	}
	bal.gen = 6;                    /* a member's status changed */
	bpf_map_update_elem(bal_fd, &bi, &bal, BPF_ANY);
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "the next request");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "the gen moved: given back");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_EQ(get_entry(&khold).action, KBAL_PKT_SHIFT, "kbald -> client: SHIFT");
#undef M_
#undef KM_
	bal.gen = 0;
	bpf_map_update_elem(bal_fd, &bi, &bal, BPF_ANY);
	given_back_teardown(&khold, &kdrop);
}

/* the decided tests' member 9 of balancer 3 (route "1", sticky ROUTEID) and
 * rule table 1 ("/"); cleared with 0 */
static void decided_state(int on)
{
	struct kbal_balancer bal = { .gen = 5, .sticky = "ROUTEID", .sticky_sep = '.' };
	struct kbal_member mb = { .balancer = 3, .route = "1" };
	struct kbal_rules rules = { .n = 1, .exact = 1,
				    .rule = { { .path = "/", .len = 1, .pass = 0 } } };
	__u32 bi = 3, mi = 9, ri = 1, bslot = FR_UP / 2;

	if (!on) {
		memset(&bal, 0, sizeof(bal));
		memset(&mb, 0, sizeof(mb));
		memset(&rules, 0, sizeof(rules));
		bpf_map_delete_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot);
		{
			struct kbal_pkt_back bk = {};

			bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt_back), &bslot, &bk,
					    BPF_ANY);
		}
	}
	ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_balancers), &bi, &bal, BPF_ANY),
		  0, "kbal_balancers[3]");
	ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_members), &mi, &mb, BPF_ANY),
		  0, "kbal_members[9]");
	ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_rules), &ri, &rules, BPF_ANY),
		  0, "kbal_rules[1]");
}

/* the decided flow of the decided tests (docs/packet.md, "Each request
 * decided"): given_back_flow()'s entries and kbald's sockets' keys, its
 * arming (bk: kbal_pkt_back, decide) and its decision (st: kbal_pkt_decide,
 * the flow's member 9 by the sticky route, rule table 1, Host "x"), as
 * kbald writes them (decide_pkt_record()) */
struct decided {
	struct kbal_pkt_rw up, down;
	struct kbal_pkt_key khold, kdrop;
	struct kbal_pkt_back bk;
	struct kbal_sk_http st;
	int answers;
};

/* what differs: answers (KBAL_PKT_DECIDE on the member's entry too), ms0
 * (kbald's member-side socket's next byte, MS0), the decision's flags
 * (KBAL_SKF_*); the client's entry decided, watched */
static void decided_flow(struct decided *df, int answers, __u32 ms0, __u32 flags)
{
	static const struct kbal_pkt_rw drop = { .action = KBAL_PKT_DROP, .gen = FR_GEN };
	__u32 su = FR_UP, bslot = FR_UP / 2;
	struct kbal_pkt_frame f;

	df->bk = (struct kbal_pkt_back){ .gen = FR_GEN, .armed = 1, .ts = 1, .c_rcv_nxt = 1,
					 .c_snd_nxt = 2, .m_rcv_nxt = ms0, .m_snd_nxt = 4,
					 .balancer = 3, .bgen = 5, .decide = 1 };
	df->st = (struct kbal_sk_http){ .client = 1, .member = 9, .pass = 0, .bgen = 5,
					.rules = 1, .host_len = 1, .host = "x", .flags = flags };
	df->answers = answers;
	given_back_flow(&df->up, &df->down, &df->khold, &df->kdrop, &drop);
	df->up.flags |= KBAL_PKT_DECIDE;
	if (answers)
		df->down.flags |= KBAL_PKT_DECIDE;
	bpf_map_update_elem(map_fd, &fr_ku, &df->up, BPF_ANY);
	bpf_map_update_elem(map_fd, &fr_kd, &df->down, BPF_ANY);
	ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot, &df->st,
				      BPF_ANY), 0, "kbal_pkt_decide");
	ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt_back), &bslot, &df->bk,
				      BPF_ANY), 0, "kbal_pkt_back");
	bpf_map_lookup_elem(fr_fd, &su, &f);
	f.back = KBAL_PKT_BACK_WATCH;
	bpf_map_update_elem(fr_fd, &su, &f, BPF_ANY);
}

/* the same decided flow again from its start (frame_setup()'s; the
 * balancer, member and rules as they are); 0 where it cannot be */
static int decided_fresh(struct decided *df)
{
	given_back_teardown(&df->khold, &df->kdrop);
	if (!frame_setup())
		return 0;
	decided_flow(df, df->answers, df->bk.m_rcv_nxt, df->st.flags);
	return 1;
}

/* the usual decided flow: framed from its start, the decisions on, a
 * member's answers decided too, the route cookie's decision; 0 where it
 * cannot be set up */
static int decided_setup(struct decided *df)
{
	if (!frame_setup())
		return 0;
	decided_state(1);
	decided_flow(df, 1, 3, KBAL_SKF_ROUTE_COOKIE);
	return 1;
}

/* a decided test's end: its flow and decided_state() cleared */
static void decided_end(struct decided *df)
{
	decided_state(0);
	given_back_teardown(&df->khold, &df->kdrop);
}

/*
 * A decided flow (KBAL_PKT_DECIDE, kbal_pkt_decide: docs/packet.md, "Each
 * request decided"): the program keeps a request whose decision is the
 * flow's (the rule, the Host, the sticky route naming the flow's member)
 * and counts it (pkt_kept, the member's elected and sticky_kept); one whose
 * cookie names another route, sent while the answer before it is still
 * under way, is dropped (held), and so is what the client sends behind it;
 * once the answer is through, the same request is given back. A request
 * that is not whole in its segment goes to kbald too.
 */
UNIT_TEST(pkt_each_request_decided)
{
	static const char kept[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char other[] = "GET /b HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.2\r\n\r\n";
	static const char half[] = "GET /c HTTP/1.1\r\nHost: x\r\n";
	static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
	const uint32_t rk = sizeof(kept) - 1, ro = sizeof(other) - 1, rs = sizeof(resp) - 1;
	struct decided df;
	struct kbal_member mb_after;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0 = stat(KBAL_STAT_PKT_KEPT), held0 = stat(KBAL_STAT_PKT_HELD);
	__u32 mi = 9;

	if (!frame_setup())
		return;
	decided_state(1);
	decided_flow(&df, 0, 3, KBAL_SKF_ROUTE_COOKIE);
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(gb_send(0, B, M_, kept, rk, out, &outlen), TC_ACT_UNSPEC, "a sticky request");
		ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "the flow's route: kept");
		ASSERT_TRUE(!memcmp(out + ETH_HLEN + 12, &df.up.saddr, 4), "kept: to the member");
		B += rk;
		ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "a 204");
		Mm += rs;
	}
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 3, "pkt_kept");
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.kbal_members), &mi, &mb_after);
	ASSERT_EQ(mb_after.elected, 3, "the member's elected");
	ASSERT_EQ(mb_after.sticky_kept, 3, "the member's sticky_kept");
	/* a kept request, its answer not sent yet; then one for route 2 */
	ASSERT_EQ(gb_send(0, B, M_, kept, rk, out, &outlen), TC_ACT_UNSPEC, "kept, pipelined");
	B += rk;
	ASSERT_EQ(gb_send(0, B, M_, other, ro, out, &outlen), TC_ACT_SHOT,
		  "another route, an answer under way: held");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "held: still joined");
	ASSERT_EQ(get_entry(&fr_ku).hold, 1, "held");
	ASSERT_EQ(gb_send(0, B + ro, M_, kept, rk, out, &outlen), TC_ACT_SHOT,
		  "what the client sent behind it: dropped");
	ASSERT_EQ(stat(KBAL_STAT_PKT_HELD) - held0, 2, "pkt_held");
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "the answer");
	Mm += rs;
	ASSERT_EQ(gb_send(0, B, M_, other, ro, out, &outlen), TC_ACT_UNSPEC, "sent again");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "then given back");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 4, "pkt_kept after");
	/* a request not whole in its segment, on a fresh flow: to kbald */
	if (!decided_fresh(&df))
		return;
	B = FR_C0;
	Mm = FR_M0;
	ASSERT_EQ(gb_send(0, B, M_, kept, rk, out, &outlen), TC_ACT_UNSPEC, "a sticky request");
	B += rk;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "a 204");
	Mm += rs;
	ASSERT_EQ(gb_send(0, B, M_, half, sizeof(half) - 1, out, &outlen), TC_ACT_UNSPEC,
		  "half a head");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "not whole in its segment: given back");
#undef M_
#undef KM_
	decided_end(&df);
}

/* the Date and Server lines of a member's answer that the program may
 * pass as it is (without one, httpd adds its own: kbald writes the head) */
#define STAMPS "Date: Sun, 06 Dec 2026 21:00:00 GMT\r\nServer: m\r\n"

/* kbald's hash of a User-Agent (decide.c, arm_user_agent(): white space
 * about it aside) */
static uint64_t ua_fnv(const char *v, size_t n)
{
	uint64_t h = KBAL_FNV_BASIS;

	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;

	for (size_t k = 0; k < n; k++)
		h = (h ^ (uint8_t)v[k]) * KBAL_FNV_PRIME;
	return h;
}

/* The request req (its cookie's sticky route, its User-Agent) on a fresh
 * decided flow whose decision compares the User-Agent (KBAL_SKF_UA) with
 * ua (NULL: none), after a first pair with that User-Agent (a flow is
 * given back only where it is quiet: decided_pair()): 1 kept, 0 given
 * back, -1 where the flow could not be driven */
static int decided_second(struct decided *df, const char *ua, const char *req)
{
	static const char resp0[] = "HTTP/1.1 204 No Content\r\n" STAMPS "\r\n";
	char req0[512];
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0;
	__u32 bslot = FR_UP / 2;
	int act, n0;

	if (!decided_fresh(df))
		return -1;
	df->st.ua_none = !ua;
	df->st.ua_hash = ua ? ua_fnv(ua, strlen(ua)) : KBAL_FNV_BASIS;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot, &df->st, BPF_ANY))
		return -1;
	n0 = snprintf(req0, sizeof(req0), "GET / HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1"
		      "\r\n%s%s%s\r\n", ua ? "User-Agent: " : "", ua ? ua : "", ua ? "\r\n" : "");
	if (gb_send(0, B, Mm + df->down.seq_delta, req0, n0, out, &outlen) != TC_ACT_UNSPEC ||
	    get_entry(&fr_ku).action != KBAL_PKT_REWRITE)
		return -1;
	B += n0;
	if (gb_send(1, Mm, B + df->up.seq_delta, resp0, sizeof(resp0) - 1, out, &outlen) !=
	    TC_ACT_UNSPEC || get_entry(&fr_kd).action != KBAL_PKT_REWRITE)
		return -1;
	Mm += sizeof(resp0) - 1;
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	if (gb_send(0, B, Mm + df->down.seq_delta, req, strlen(req), out, &outlen) !=
	    TC_ACT_UNSPEC)
		return -1;
	act = get_entry(&fr_ku).action;
	if (act == KBAL_PKT_REWRITE && stat(KBAL_STAT_PKT_KEPT) - kept0 == 1)
		return 1;
	return act == KBAL_PKT_SHIFT && stat(KBAL_STAT_PKT_KEPT) == kept0 ? 0 : -1;
}

/*
 * The decision's walks over a head's bytes, 8 a word (req_decide.bpf.h:
 * hash_steps(), find_steps()): a request is kept with the flow's
 * User-Agent, of every length from 1 to a browser's, white space about it
 * aside, and given back with a byte changed at any offset, one more or
 * one less, none or two of them; the sticky route is the cookie's value
 * after its first '.', wherever that falls: the flow's member's kept,
 * another route's or none given back.
 */
UNIT_TEST(pkt_decided_user_agent_and_route_by_words)
{
	static const char browser[] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
				      "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
	static const char fmt[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=%s\r\n"
				  "User-Agent: %s\r\n\r\n";
	char req[512], ua[256], bad[256], val[64], what[160];
	const size_t nb = sizeof(browser) - 1;
	struct decided df;

	if (!frame_setup())
		return;
	decided_state(1);
	decided_flow(&df, 0, 3, KBAL_SKF_ROUTE_COOKIE | KBAL_SKF_UA);
	for (size_t n = 1; n <= nb; n += n < 20 ? 1 : 13) {
		snprintf(ua, sizeof(ua), "%.*s", (int)n, browser);
		snprintf(req, sizeof(req), fmt, "route.1", ua);
		snprintf(what, sizeof(what), "the flow's User-Agent, %zu bytes: kept", n);
		if (!ASSERT_EQ(decided_second(&df, ua, req), 1, what))
			goto out;
		snprintf(bad, sizeof(bad), "%s", ua);
		bad[n - 1] = bad[n - 1] == 'x' ? 'y' : 'x';
		snprintf(req, sizeof(req), fmt, "route.1", bad);
		snprintf(what, sizeof(what), "%zu bytes, the last one another: given back", n);
		if (!ASSERT_EQ(decided_second(&df, ua, req), 0, what))
			goto out;
	}
	for (size_t j = 0; j < nb; j++) {
		snprintf(bad, sizeof(bad), "%s", browser);
		bad[j] = bad[j] == 'x' ? 'y' : 'x';
		snprintf(req, sizeof(req), fmt, "route.1", bad);
		snprintf(what, sizeof(what), "a browser's User-Agent, byte %zu another: given back", j);
		if (!ASSERT_EQ(decided_second(&df, browser, req), 0, what))
			goto out;
	}
	snprintf(ua, sizeof(ua), " \t%s \t", browser);
	snprintf(req, sizeof(req), fmt, "route.1", ua);
	ASSERT_EQ(decided_second(&df, browser, req), 1, "white space about it: kept");
	snprintf(ua, sizeof(ua), "%.*s", (int)nb - 1, browser);
	snprintf(req, sizeof(req), fmt, "route.1", ua);
	ASSERT_EQ(decided_second(&df, browser, req), 0, "a byte less: given back");
	snprintf(ua, sizeof(ua), "%s.", browser);
	snprintf(req, sizeof(req), fmt, "route.1", ua);
	ASSERT_EQ(decided_second(&df, browser, req), 0, "a byte more: given back");
	ASSERT_EQ(decided_second(&df, browser, "GET /a HTTP/1.1\r\nHost: x\r\n"
				"Cookie: ROUTEID=route.1\r\n\r\n"), 0, "none: given back");
	ASSERT_EQ(decided_second(&df, NULL, "GET /a HTTP/1.1\r\nHost: x\r\n"
				"Cookie: ROUTEID=route.1\r\n\r\n"), 1,
		  "none, as the flow's: kept");
	ASSERT_EQ(decided_second(&df, "t", "GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n"
				"Cookie: ROUTEID=route.1\r\nUser-Agent: t\r\n\r\n"), 0,
		  "two of them: given back");
	for (unsigned k = 0; k < 40; k++) {
		snprintf(val, sizeof(val), "%.*s.1", (int)k, "abcdefghijklmnopqrstuvwxyz0123456789ABCD");
		snprintf(req, sizeof(req), fmt, val, "t");
		snprintf(what, sizeof(what), "ROUTEID=%s: kept", val);
		if (!ASSERT_EQ(decided_second(&df, "t", req), 1, what))
			goto out;
		val[k + 1] = '2';
		snprintf(req, sizeof(req), fmt, val, "t");
		snprintf(what, sizeof(what), "ROUTEID=%s, another route: given back", val);
		if (!ASSERT_EQ(decided_second(&df, "t", req), 0, what))
			goto out;
		val[k] = 'z';
		snprintf(req, sizeof(req), fmt, val, "t");
		snprintf(what, sizeof(what), "ROUTEID=%s, no route: given back", val);
		if (!ASSERT_EQ(decided_second(&df, "t", req), 0, what))
			goto out;
	}
	snprintf(req, sizeof(req), fmt, "abcdefghijk.0.1", "t");
	ASSERT_EQ(decided_second(&df, "t", req), 0, "the route after the first '.' (0.1): given back");
out:
	decided_end(&df);
}

/* the member FIN and reset tests' request and answer */
static const char fr_kept[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
static const char fr_resp[] = "HTTP/1.1 204 No Content\r\n" STAMPS "\r\n";

/* Their start: a fresh decided flow where fresh, a sticky request the
 * program keeps and, where answered, its answer passed; *B and *Mm the
 * client's and the member's next bytes. 0 where a step failed. */
static int member_end_exchange(struct decided *df, int fresh, int answered, uint32_t *B,
			       uint32_t *Mm)
{
	uint8_t out[2048];
	uint32_t outlen;

	if (fresh && !decided_fresh(df))
		return 0;
	*B = FR_C0;
	*Mm = FR_M0;
	if (!ASSERT_EQ(gb_send(0, *B, *Mm + df->down.seq_delta, fr_kept, sizeof(fr_kept) - 1, out,
			       &outlen), TC_ACT_UNSPEC, "a sticky request"))
		return 0;
	*B += sizeof(fr_kept) - 1;
	if (!answered)
		return 1;
	if (!ASSERT_EQ(gb_send(1, *Mm, *B + df->up.seq_delta, fr_resp, sizeof(fr_resp) - 1, out,
			       &outlen), TC_ACT_UNSPEC, "its answer"))
		return 0;
	*Mm += sizeof(fr_resp) - 1;
	return 1;
}

/*
 * A decided flow's member that closes its connection between answers (its
 * keep-alive timeout): its FIN does not reach the client (httpd keeps the
 * client's connection and sends its next request on another). Sent while
 * the client has not acknowledged the answer, it is held (dropped: the
 * member sends it again) and the decision marked (KBAL_SKB_UNASKED: the
 * member's connection goes); sent again once the client acknowledged all,
 * the flow is given back at it: the four entries SHIFT, the FIN into
 * kbald's member-side socket (seq MS0). A request the client sends while
 * the FIN is held is given back itself, not kept: it never reaches the
 * closing connection. With a request under way the FIN passes.
 */
UNIT_TEST(pkt_decided_member_fin_given_back)
{
	const uint32_t rk = sizeof(fr_kept) - 1;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0;
	struct decided df;
	struct kbal_sk_http st;
	__u32 bslot = FR_UP / 2;

	if (!decided_setup(&df))
		return;
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	if (!member_end_exchange(&df, 0, 1, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_SHOT,
		  "the member's FIN, the answer not acknowledged yet: held");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "held: still joined");
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot, &st);
	ASSERT_EQ(st.why, KBAL_SKB_UNASKED, "the decision: the member's connection goes");
	ASSERT_EQ(gb_send_spec(fr_up_s, B, M_, 0x10, out, &outlen), TC_ACT_UNSPEC,
		  "the client's ACK of the answer");
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the FIN again");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_SHIFT, "given back at the FIN");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "the client's entry too");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 3, "into kbald's member-side socket: seq MS0");
	ASSERT_TRUE(out[ETH_HLEN + 20 + 13] & 0x01, "a FIN still");
	/* the client's next request comes while the FIN is held */
	if (!member_end_exchange(&df, 1, 1, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_SHOT,
		  "the member's FIN: held");
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	ASSERT_EQ(gb_send(0, B, M_, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC,
		  "the next request, acknowledging the answer");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at the request");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT), kept0, "not kept");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the FIN again, after the give-back");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 3, "into kbald's member-side socket: seq MS0");
	/* the member closing with a request under way: its FIN passes (the
	 * client's connection ends with it, as httpd's), nothing marked */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the member's FIN, the request unanswered: passes");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "still joined");
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot, &st);
	ASSERT_TRUE(st.why != KBAL_SKB_UNASKED, "the decision not marked");
#undef M_
#undef KM_
out:
	decided_end(&df);
}

/*
 * A decided flow's member that resets its connection between answers: the
 * reset does not reach the client (httpd sends the client's next request
 * on another connection): dropped, the decision marked (KBAL_SKB_UNASKED),
 * the entry KBAL_PKT_MEMBER_GONE, and every later reset of the member's
 * dropped too (its stack answers the client's ACK so, at another number);
 * the client's next request is given back, not kept, and so is its FIN
 * where it sends no request but ends (one with the member there passes
 * as ever). A reset at another
 * number than the boundary (blind, RFC 5961) or with a request under way
 * passes, nothing marked.
 */
UNIT_TEST(pkt_decided_member_reset_between_answers)
{
	const uint32_t rk = sizeof(fr_kept) - 1;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0;
	struct decided df;
	struct kbal_sk_http st;
	__u32 bslot = FR_UP / 2;

	if (!decided_setup(&df))
		return;
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	if (!member_end_exchange(&df, 0, 1, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm + 7, KM_, 0x14, out, &outlen), TC_ACT_UNSPEC,
		  "a reset of the member's at another number (blind): passes");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE), "nothing marked");
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x14, out, &outlen), TC_ACT_SHOT,
		  "the member's reset between answers: dropped");
	ASSERT_TRUE(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE, "the member gone");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "still joined");
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot, &st);
	ASSERT_EQ(st.why, KBAL_SKB_UNASKED, "the decision: the member's connection goes");
	ASSERT_EQ(gb_send_spec(fr_up_s, B, M_, 0x10, out, &outlen), TC_ACT_UNSPEC,
		  "the client's ACK of the answer (to the member's stack)");
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm - 5, KM_, 0x14, out, &outlen), TC_ACT_SHOT,
		  "the member's stack's reset to it: dropped");
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	ASSERT_EQ(gb_send(0, B, M_, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC, "the next request");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at the request");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT), kept0, "not kept");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	/* no request after the reset but the client's end: given back at its
	 * FIN, which reaches kbald's kept socket */
	if (!member_end_exchange(&df, 1, 1, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_up_s, B, M_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the client's FIN, the member there: passes");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "still joined");
	if (!member_end_exchange(&df, 1, 1, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x14, out, &outlen), TC_ACT_SHOT,
		  "the member's reset between answers: dropped");
	ASSERT_EQ(gb_send_spec(fr_up_s, B, M_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the client's FIN after it");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at the FIN");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_TRUE(out[ETH_HLEN + 20 + 13] & 0x01, "a FIN still");
	/* a reset with a request under way passes (the client's connection
	 * ends with it, as httpd's), nothing marked */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x14, out, &outlen), TC_ACT_UNSPEC,
		  "the member's reset, the request unanswered: passes");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE), "nothing marked");
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot, &st);
	ASSERT_TRUE(st.why != KBAL_SKB_UNASKED, "the decision not marked");
#undef M_
#undef KM_
out:
	decided_end(&df);
}

/* the TCP flags of a program's output packet (out: from a gb_send*()) */
#define OUT_FLAGS(out) ((out)[ETH_HLEN + 20 + 13])

/*
 * A decided flow's member that writes its answer and closes at once: its
 * FIN rides in the segment of the answer's last bytes. The answer reaches
 * the client, the FIN taken off (checksums still right), the decision
 * marked (KBAL_SKB_UNASKED) and the entry KBAL_PKT_MEMBER_GONE, no FIN
 * counted; the segment sent again loses its FIN again; the client's next
 * request is given back at once, not kept, and the member's FIN, sent
 * again alone, goes into kbald's member-side socket. The same for the FIN
 * with an answer's body's last bytes, and the client's FIN instead of a
 * request is given back, and so is a request with the client's FIN in its
 * segment; the member's FIN alone, the client sending
 * nothing, is given back at it. A FIN with a request still owed (a
 * pipelined one, also behind an answer kbald would write: not held, it
 * would be for good), or with an answer not ended, passes as ever. An
 * answer kbald must write with the FIN, nothing else owed, is given back
 * at its head, FIN and all.
 */
UNIT_TEST(pkt_decided_member_fin_with_its_answer)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 4\r\n\r\nok";
	static const char close[] = "HTTP/1.1 200 OK\r\n" STAMPS "Connection: close\r\n"
				    "Content-Length: 0\r\n\r\n";
	const uint32_t rk = sizeof(fr_kept) - 1, rs = sizeof(fr_resp) - 1, ro = sizeof(ok) - 1;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0;
	struct decided df;
	struct kbal_sk_http st;
	__u32 bslot = FR_UP / 2;

	if (!decided_setup(&df))
		return;
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	/* the whole answer and the FIN in one segment */
	if (!member_end_exchange(&df, 0, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC,
		  "the answer with the member's FIN: passes");
	ASSERT_TRUE(!(OUT_FLAGS(out) & 0x01), "without its FIN");
	ASSERT_EQ(OUT_FLAGS(out), 0x18, "ACK and PSH still");
	ASSERT_TRUE(checksums_ok(out, outlen), "checksums after the FIN taken off");
	ASSERT_TRUE(!memcmp(out + outlen - rs, fr_resp, rs), "the answer's bytes");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "still joined");
	ASSERT_TRUE(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE, "the member gone");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_FIN), "no FIN passed");
	ASSERT_TRUE(!(get_entry(&fr_ku).flags & KBAL_PKT_PEER_FIN), "none for the client to ack");
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.kbal_pkt_decide), &bslot, &st);
	ASSERT_EQ(st.why, KBAL_SKB_UNASKED, "the decision: the member's connection goes");
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC,
		  "the segment sent again");
	ASSERT_TRUE(!(OUT_FLAGS(out) & 0x01), "without its FIN again");
	Mm += rs;
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	ASSERT_EQ(gb_send(0, B, M_, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC,
		  "the client's next request, at once");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at the request");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT), kept0, "not kept");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the member's FIN sent again, alone");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 3, "into kbald's member-side socket: seq MS0");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "a FIN there");
	/* the FIN with the last bytes of a body; the client ends instead */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send(1, Mm, KM_, ok, ro, out, &outlen), TC_ACT_UNSPEC, "a head, 2 of 4 bytes");
	Mm += ro;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, "!\n", 2, out, &outlen), TC_ACT_UNSPEC,
		  "the body's last 2 bytes with the FIN");
	ASSERT_TRUE(!(OUT_FLAGS(out) & 0x01), "without its FIN");
	ASSERT_TRUE(checksums_ok(out, outlen), "checksums");
	Mm += 2;
	ASSERT_EQ(gb_send_spec(fr_up_s, B, M_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the client's FIN after it");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at the FIN");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	/* the client's last request with its FIN */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC,
		  "the answer with the member's FIN");
	Mm += rs;
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	ASSERT_EQ(gb_send_fl(0, B, M_, 0x19, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC,
		  "a request with the client's FIN");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at it");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT), kept0, "not kept");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "with its FIN");
	/* the client sends nothing: the member's FIN alone, once the client
	 * acknowledged the answer, is given back at */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC,
		  "the answer with the member's FIN");
	Mm += rs;
	ASSERT_EQ(gb_send_spec(fr_up_s, B, M_, 0x10, out, &outlen), TC_ACT_UNSPEC,
		  "the client's ACK of the answer");
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the member's FIN sent again, alone");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_SHIFT, "given back at the FIN");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 3, "into kbald's member-side socket: seq MS0");
	/* a request still owed (pipelined behind the one answered): the FIN
	 * passes, nothing marked */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send(0, B, M_, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC, "kept, pipelined");
	B += rk;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC,
		  "the first answer with the member's FIN, a request owed");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "its FIN passes");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE), "nothing marked");
	ASSERT_TRUE(get_entry(&fr_kd).flags & KBAL_PKT_FIN, "a FIN passed");
	/* likewise one kbald would write: not held for good (the request
	 * behind it will have no answer), it passes as it is */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send(0, B, M_, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC, "kept, pipelined");
	B += rk;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, close, sizeof(close) - 1, out, &outlen),
		  TC_ACT_UNSPEC, "Connection: close with the member's FIN, a request owed");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "still joined");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "its FIN passes");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE), "nothing marked");
	ASSERT_TRUE(get_entry(&fr_kd).flags & KBAL_PKT_FIN, "a FIN passed");
	/* an answer not ended in the FIN's segment (the member closing in
	 * its middle): the FIN passes */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, ok, ro, out, &outlen), TC_ACT_UNSPEC,
		  "2 of 4 bytes with the member's FIN");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "its FIN passes");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE), "nothing marked");
	/* an answer kbald must write (Connection: close) with the FIN: given
	 * back at its head, the FIN with it into kbald's member-side socket */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_, 0x19, close, sizeof(close) - 1, out, &outlen),
		  TC_ACT_UNSPEC, "Connection: close with the member's FIN");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_SHIFT, "given back at the head");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 3, "into kbald's member-side socket: seq MS0");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "with its FIN");
#undef M_
#undef KM_
out:
	decided_end(&df);
}

/*
 * A decided flow's request with the client's FIN in its segment (a client
 * that writes its last request and shuts down its write side at once):
 * decided as any request. One for another route is given back at its first
 * byte, FIN and all, into kbald's kept socket, not kept; one the flow's
 * member would get is kept (counted), its FIN passing with it, and the
 * member's answer with its own FIN after it passes FIN and all (the client
 * ended first: nothing taken off, nothing marked; a reset of its after
 * the answer passes too); one for another route
 * while an answer is under way is held, its FIN with it, and given back
 * once sent again on a quiet flow; one sent while the member's lone FIN
 * between answers is held is given back, never kept for the closing
 * connection. Before, each went on to the member undecided.
 */
UNIT_TEST(pkt_decided_request_with_the_clients_fin)
{
	static const char other[] = "GET /b HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.2\r\n\r\n";
	const uint32_t rk = sizeof(fr_kept) - 1, rs = sizeof(fr_resp) - 1, ro = sizeof(other) - 1;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0;
	struct decided df;

	if (!decided_setup(&df))
		return;
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	/* another route, with the FIN, on a quiet flow: given back */
	if (!member_end_exchange(&df, 0, 1, &B, &Mm))
		goto out;
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	ASSERT_EQ(gb_send_fl(0, B, M_, 0x19, other, ro, out, &outlen), TC_ACT_UNSPEC,
		  "another route with the client's FIN");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at it");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT), kept0, "not kept");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_EQ(get32(out + ETH_HLEN + 12), fr_up_s.saddr, "its own source");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "with its FIN");
	ASSERT_TRUE(!memcmp(out + outlen - ro, other, ro), "its bytes");
	ASSERT_TRUE(checksums_ok(out, outlen), "checksums");
	/* the flow's route, with the FIN: kept, the FIN passing; the member's
	 * answer with its FIN then passes as it is */
	if (!member_end_exchange(&df, 1, 1, &B, &Mm))
		goto out;
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	ASSERT_EQ(gb_send_fl(0, B, M_, 0x19, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC,
		  "the flow's route with the client's FIN");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "kept: still joined");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 1, "counted kept");
	ASSERT_TRUE(!memcmp(out + ETH_HLEN + 12, &df.up.saddr, 4), "kept: to the member");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "its FIN with it");
	ASSERT_TRUE(get_entry(&fr_ku).flags & KBAL_PKT_FIN, "the client's FIN passed");
	B += rk;
	ASSERT_EQ(gb_send_fl(1, Mm, KM_ + 1, 0x19, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC,
		  "the member's answer with its FIN");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "its FIN passes: the client ended first");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE), "nothing marked");
	ASSERT_TRUE(get_entry(&fr_kd).flags & KBAL_PKT_FIN, "a FIN passed");
	/* likewise a member that answers it and resets: the reset passes */
	if (!member_end_exchange(&df, 1, 1, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_fl(0, B, M_, 0x19, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC,
		  "the flow's route with the client's FIN, again");
	B += rk;
	ASSERT_EQ(gb_send(1, Mm, KM_ + 1, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC, "its answer");
	Mm += rs;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_ + 1, 0x14, out, &outlen), TC_ACT_UNSPEC,
		  "the member's reset after it: passes (the client ended first)");
	ASSERT_TRUE(!(get_entry(&fr_kd).flags & KBAL_PKT_MEMBER_GONE), "nothing marked");
	/* another route, with the FIN, an answer under way: held, then given
	 * back when sent again */
	if (!member_end_exchange(&df, 1, 0, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_fl(0, B, M_, 0x19, other, ro, out, &outlen), TC_ACT_SHOT,
		  "another route with the client's FIN, an answer under way: held");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "held: still joined");
	ASSERT_TRUE(!(get_entry(&fr_ku).flags & KBAL_PKT_FIN), "held: no FIN passed");
	ASSERT_EQ(gb_send(1, Mm, KM_, fr_resp, rs, out, &outlen), TC_ACT_UNSPEC, "the answer");
	Mm += rs;
	ASSERT_EQ(gb_send_fl(0, B, M_, 0x19, other, ro, out, &outlen), TC_ACT_UNSPEC,
		  "sent again");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "then given back");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "with its FIN");
	/* while the member's lone FIN between answers is held */
	if (!member_end_exchange(&df, 1, 1, &B, &Mm))
		goto out;
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_SHOT,
		  "the member's FIN, the answer not acknowledged yet: held");
	kept0 = stat(KBAL_STAT_PKT_KEPT);
	ASSERT_EQ(gb_send_fl(0, B, M_, 0x19, fr_kept, rk, out, &outlen), TC_ACT_UNSPEC,
		  "the next request with the client's FIN, the member's FIN held");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "given back at it");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT), kept0, "not kept");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 1, "to the kept socket: seq S0");
	ASSERT_TRUE(OUT_FLAGS(out) & 0x01, "with its FIN");
	ASSERT_EQ(gb_send_spec(fr_down_s, Mm, KM_, 0x11, out, &outlen), TC_ACT_UNSPEC,
		  "the member's FIN again, after the give-back");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 3, "into kbald's member-side socket: seq MS0");
#undef M_
#undef KM_
out:
	decided_end(&df);
}

/*
 * A decided flow's answers (KBAL_PKT_DECIDE on the member's entry too,
 * KBAL_SKF_REVERSE: ProxyPassReverse applies): an answer whose head kbald
 * need not write passes; one with a Location (which ProxyPassReverse may
 * map) is given back at its first byte: the four entries SHIFT, the
 * answer to kbald's member-side socket (seq MS0), an event of its kind.
 * Before that, the same answer while the client's next request is under
 * way (one request answered at a time) is held.
 */
UNIT_TEST(pkt_decided_answer_given_back)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
	static const char moved[] = "HTTP/1.1 302 Found\r\nLocation: http://m/x\r\n"
				    "Content-Length: 0\r\n\r\n";
	const uint32_t rq = sizeof(req) - 1, rk = sizeof(ok) - 1, rm = sizeof(moved) - 1;
	const uint32_t MS0 = 0x33330000;
	struct decided df;
	struct events_seen ev = {};
	struct ring_buffer *rb;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;

	if (!frame_setup())
		return;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.kbal_pkt_events), on_event, &ev, NULL);
	if (!ASSERT_TRUE(rb != NULL, "kbal_pkt_events readable"))
		return;
	ring_buffer__consume(rb);
	memset(&ev, 0, sizeof(ev));
	decided_state(1);
	decided_flow(&df, 1, MS0, KBAL_SKF_ROUTE_COOKIE | KBAL_SKF_REVERSE);
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, ok, rk, out, &outlen), TC_ACT_UNSPEC, "a 200: passes");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "a 200: joined");
	Mm += rk;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "pipelined behind it");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, moved, rm, out, &outlen), TC_ACT_SHOT,
		  "a 302 while another request waits: held");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "held: joined");
	/* (the test's own flow: the pipelined one's answer comes first here;
	 * a fresh start for the exact case) */
	if (!decided_fresh(&df))
		return;
	B = FR_C0;
	Mm = FR_M0;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, ok, rk, out, &outlen), TC_ACT_UNSPEC, "a 200");
	Mm += rk;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, moved, rm, out, &outlen), TC_ACT_UNSPEC, "a 302");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_SHIFT, "a 302: given back");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "the client's entry: SHIFT");
	ASSERT_EQ(get_entry(&df.khold).action, KBAL_PKT_SHIFT, "kbald -> client: SHIFT");
	ASSERT_EQ(get_entry(&df.kdrop).action, KBAL_PKT_SHIFT, "kbald -> member: SHIFT");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), MS0, "to kbald's member-side socket: seq MS0");
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_BACK_RESPONSE], 1, "an answer given back: its event");
	ASSERT_EQ(ev.n[KBAL_PKT_EV_BACK], 0, "no request given back");
	ASSERT_EQ(ev.last.kind, KBAL_PKT_EV_BACK_RESPONSE, "the last event");
#undef M_
#undef KM_
	ring_buffer__free(rb);
	decided_end(&df);
}

/* On the decided flow df, a kept request at the client's *B, then the
 * member's answer head (len bytes) at *Mm, both moved on: the member's
 * entry's action after the answer, -1 where a segment did not pass */
static int decided_answer(const struct decided *df, uint32_t *B, uint32_t *Mm, const char *head,
			  uint32_t len)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	uint8_t out[2048];
	uint32_t outlen;

	if (gb_send(0, *B, *Mm + df->down.seq_delta, req, sizeof(req) - 1, out, &outlen) !=
	    TC_ACT_UNSPEC)
		return -1;
	*B += sizeof(req) - 1;
	if (gb_send(1, *Mm, *B + df->up.seq_delta, head, len, out, &outlen) != TC_ACT_UNSPEC)
		return -1;
	*Mm += len;
	return get_entry(&fr_kd).action;
}

/* an answer head and whether the program passes it (1) or gives the flow
 * back at it (0) */
struct answer_case {
	const char *head;
	int kept;
};

/* each case's head as a fresh decided flow's answer (decided_answer()) */
static void decided_answers(const struct answer_case *t, unsigned n)
{
	struct decided df;
	uint32_t B, Mm;

	if (!decided_setup(&df))
		return;
	for (unsigned i = 0; i < n; i++) {
		if (i && !decided_fresh(&df))
			break;
		B = FR_C0;
		Mm = FR_M0;
		ASSERT_EQ(decided_answer(&df, &B, &Mm, t[i].head, strlen(t[i].head)),
			  t[i].kept ? KBAL_PKT_REWRITE : KBAL_PKT_SHIFT, t[i].head);
	}
	decided_end(&df);
}

/*
 * A decided flow's answer whose dates or whose Date and Server lines
 * httpd would write otherwise than the member did (mod_proxy_http's
 * date_canon() on Date, Expires, Last-Modified; basic_http_header()'s
 * Date then Server first, trimmed): given back at its first byte, kbald
 * writes it; one the program can prove unchanged ("Www, DD Mon YYYY
 * HH:MM:SS GMT", its fields in range, its weekday the date's) passes.
 */
UNIT_TEST(pkt_decided_answer_dates_as_httpd)
{
#define D_(line) "HTTP/1.1 200 OK\r\n" line "Content-Length: 2\r\n\r\nok"
	static const struct answer_case t[] = {
		{ D_(STAMPS "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
		     "Last-Modified: Thu, 29 Feb 2024 23:59:59 GMT\r\n"), 1 },
		{ D_("Date: Tue, 29 Feb 2000 12:00:00 GMT\r\nServer: m\r\n"
		     "expires: Fri, 31 Dec 9999 23:59:59 GMT\r\nX-Date: 0\r\n"), 1 },
		{ D_("Date: Sun, 01 Mar 2026 00:00:00 GMT\r\nServer: m (x)\r\n"
		     "LAST-MODIFIED: Sun, 28 Feb 2100 00:00:00 GMT\r\n"), 1 },
		/* RFC 850, asctime(), a wrong weekday, a zone but GMT */
		{ D_("Date: Sunday, 06-Dec-26 21:00:00 GMT\r\nServer: m\r\n"), 0 },
		{ D_("Date: Sun Dec  6 21:00:00 2026\r\nServer: m\r\n"), 0 },
		{ D_("Date: Mon, 06 Dec 2026 21:00:00 GMT\r\nServer: m\r\n"), 0 },
		{ D_("Date: Sun, 06 Dec 2026 21:00:00 UTC\r\nServer: m\r\n"), 0 },
		/* fields out of range (apr refuses them, or writes them
		 * otherwise), a year before 1970 (apr does not read it) */
		{ D_(STAMPS "Expires: Sun, 29 Feb 2025 00:00:00 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: Mon, 29 Feb 2100 00:00:00 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: Tue, 31 Nov 2026 00:00:00 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: Sun, 06 Dec 2026 21:00:60 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: Sun, 06 Dec 2026 24:00:00 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: Wed, 31 Dec 1969 23:59:59 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: Sun, 06 dec 2026 21:00:00 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: Sun, 6 Dec 2026 21:00:00 GMT\r\n"), 0 },
		{ D_(STAMPS "Expires: 0\r\n"), 0 },
		{ D_(STAMPS "Last-Modified: Sun Dec  6 21:00:00 2026\r\n"), 0 },
		{ D_(STAMPS "Last-Modified: Sun, 06 Dec 2026 21:00:00 GMT\r\n"
		     "Last-Modified: Sun, 06 Dec 2026 21:00:00 GMT\r\n"), 0 },
		/* white space httpd trims, a name it writes "Date" */
		{ D_("Date:  Sun, 06 Dec 2026 21:00:00 GMT\r\nServer: m\r\n"), 0 },
		{ D_("Date: Sun, 06 Dec 2026 21:00:00 GMT \r\nServer: m\r\n"), 0 },
		{ D_("date: Sun, 06 Dec 2026 21:00:00 GMT\r\nServer: m\r\n"), 0 },
		{ D_("Date: Sun, 06 Dec 2026 21:00:00 GMT\r\nServer:  m\r\n"), 0 },
		{ D_("Date: Sun, 06 Dec 2026 21:00:00 GMT\r\nServer: m \r\n"), 0 },
		/* Date and Server elsewhere than first, twice */
		{ D_("Server: m\r\nDate: Sun, 06 Dec 2026 21:00:00 GMT\r\n"), 0 },
		{ D_("X-A: 1\r\n" STAMPS), 0 },
		{ D_(STAMPS "Server: n\r\n"), 0 },
		{ D_(STAMPS "Date: Sun, 06 Dec 2026 21:00:00 GMT\r\n"), 0 },
	};
#undef D_
	decided_answers(t, sizeof(t) / sizeof(t[0]));
}

/*
 * A decided flow's answer with a line httpd writes otherwise: its status
 * line (httpd's "HTTP/1.1 ", the member's code and reason, "200 " where
 * it has none) or a header line (mod_proxy_http's ap_proxy_read_headers()
 * keeps the value without the white space around it, httpd writes "Name:
 * value"): given back at its first byte, kbald writes it; one whose every
 * line is already httpd's passes, white space within a value and an empty
 * value "Name: " too.
 */
UNIT_TEST(pkt_decided_answer_lines_as_httpd)
{
#define L_(sl, lines) sl STAMPS lines "Content-Length: 2\r\n\r\nok"
#define OK_ "HTTP/1.1 200 OK\r\n"
	static const struct answer_case t[] = {
		{ L_(OK_, "X-A: 1\r\n"), 1 },
		{ L_("HTTP/1.1 200 Okay then\r\n", "X-A: a \t b\r\nX-B: \r\n"), 1 },
		{ L_("HTTP/1.1 200 \r\n", "X-A: \r\nX-B: x y\r\n"), 1 },
		{ L_("HTTP/1.1 299 Fine \r\n", "X-Long: " "0123456789abcdef0123456789abcdef"
		     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n"), 1 },
		/* the status line: no reason, HTTP/1.0 */
		{ L_("HTTP/1.1 200\r\n", "X-A: 1\r\n"), 0 },
		{ L_("HTTP/1.0 200 OK\r\n", "X-A: 1\r\n"), 0 },
		/* no space after ':', more than one, a tab */
		{ L_(OK_, "X-A:1\r\n"), 0 },
		{ L_(OK_, "X-A:  1\r\n"), 0 },
		{ L_(OK_, "X-A:\t1\r\n"), 0 },
		{ L_(OK_, "X-A: \t1\r\n"), 0 },
		/* white space after the value */
		{ L_(OK_, "X-A: 1 \r\n"), 0 },
		{ L_(OK_, "X-A: 1\t\r\n"), 0 },
		{ L_(OK_, "X-A:   1  \r\n"), 0 },
		{ L_(OK_, "X-A: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		     "0123456789abcdef0123456789abcdef \r\n"), 0 },
		/* empty values but "Name: " */
		{ L_(OK_, "X-A:\r\n"), 0 },
		{ L_(OK_, "X-A:  \r\n"), 0 },
		{ L_(OK_, "X-A: \t\r\n"), 0 },
		/* obs-fold: httpd joins the line to the one before it */
		{ L_(OK_, "X-A: a\r\n b\r\n"), 0 },
		{ L_(OK_, "X-A: a\r\n\tb\r\n"), 0 },
		/* the lines the program reads too: Content-Length's, Connection's,
		 * the last before the empty line */
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length:2\r\n\r\nok", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2 \r\n\r\nok", 0 },
		{ L_(OK_, "Connection:keep-alive\r\n"), 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\nX-Z:z\r\n\r\nok", 0 },
	};
#undef L_
#undef OK_
	decided_answers(t, sizeof(t) / sizeof(t[0]));
}

/*
 * A decided flow's answer whose body ends at the member's close (no
 * Content-Length, not chunked: a legacy member's): the program cannot
 * follow it to its end, and httpd writes it otherwise (chunked to an
 * HTTP/1.1 client, its connection kept): given back at its first byte,
 * kbald writes it (exchange_body.c, exch_eof_plan();
 * tests/e2e/test_close_delimited.py). Its framed twins pass.
 */
UNIT_TEST(pkt_decided_answer_to_the_close_given_back)
{
	static const struct answer_case t[] = {
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Content-Type: text/plain\r\n\r\nbody\n", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Content-Type: text/plain\r\n\r\n", 0 },
		{ "HTTP/1.1 404 Not Found\r\n" STAMPS "\r\nnot here\n", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Content-Type: text/plain\r\n"
		  "Content-Length: 5\r\n\r\nbody\n", 1 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Transfer-Encoding: chunked\r\n\r\n"
		  "5\r\nbody\n\r\n0\r\n\r\n", 1 },
		/* bodiless by its status: framed */
		{ "HTTP/1.1 204 No Content\r\n" STAMPS "\r\n", 1 },
		{ "HTTP/1.1 304 Not Modified\r\n" STAMPS "\r\n", 1 },
	};

	decided_answers(t, sizeof(t) / sizeof(t[0]));
}

/*
 * The program's weekday against libc's: a decided flow's answers, each
 * with a Date gmtime() writes (RFC 1123, a day every 41 days and 7 hours
 * from 1970 to 9999), all kept; the same date a weekday off, given back.
 */
UNIT_TEST(pkt_decided_answer_dates_every_weekday)
{
	static const char wday[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
					 "Aug", "Sep", "Oct", "Nov", "Dec" };
	char head[256];
	struct decided df;
	uint32_t B = FR_C0, Mm = FR_M0;
	unsigned kept = 0, n = 0;
	struct tm tm;
	int len;

	if (!decided_setup(&df))
		return;
	/* off 0: each on one flow, kept; off 1: one date in 64, each on a
	 * fresh flow, given back */
	for (int off = 0; off < 2; off++) {
		for (time_t t = 0; gmtime_r(&t, &tm) && tm.tm_year + 1900 <= 9999;
		     t += 41 * 86400 + 7 * 3600 + 59) {
			if (off && (n++ % 64 || !decided_fresh(&df)))
				continue;
			if (off) {
				B = FR_C0;
				Mm = FR_M0;
			}
			len = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nDate: %s, %02d %s "
				       "%04d %02d:%02d:%02d GMT\r\nServer: m\r\n"
				       "Content-Length: 0\r\n\r\n", wday[(tm.tm_wday + off) % 7],
				       tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
				       tm.tm_min, tm.tm_sec);
			if (!ASSERT_EQ(decided_answer(&df, &B, &Mm, head, len),
				       off ? KBAL_PKT_SHIFT : KBAL_PKT_REWRITE, head))
				break;
			kept += !off;
		}
	}
	ASSERT_TRUE(kept > 8000 && n == kept, "every date as libc writes it kept");
	decided_end(&df);
}

/*
 * A decided flow's answer without Date, or without Server, whatever the
 * configuration (no KBAL_SKF_REVERSE): given back at its first byte, kbald
 * adds httpd's own line (basic_http_header()); with both, it passes.
 */
UNIT_TEST(pkt_decided_answer_without_date_or_server_given_back)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
	static const char *const bare[] = {
		"HTTP/1.1 200 OK\r\nServer: m\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 21:00:00 GMT\r\n"
		"Content-Length: 2\r\n\r\nok",
		"HTTP/1.1 304 Not Modified\r\n\r\n",
	};
	const uint32_t rq = sizeof(req) - 1, rk = sizeof(ok) - 1;
	struct decided df;
	uint8_t out[2048];
	uint32_t outlen, B, Mm;

	if (!decided_setup(&df))
		return;
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	for (unsigned i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
		if (i && !decided_fresh(&df))
			return;
		B = FR_C0;
		Mm = FR_M0;
		ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a request");
		B += rq;
		ASSERT_EQ(gb_send(1, Mm, KM_, ok, rk, out, &outlen), TC_ACT_UNSPEC,
			  "with Date and Server: passes");
		ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "with both: joined");
		Mm += rk;
		ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "another");
		B += rq;
		ASSERT_EQ(gb_send(1, Mm, KM_, bare[i], strlen(bare[i]), out, &outlen),
			  TC_ACT_UNSPEC, bare[i]);
		ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_SHIFT, "without one: given back");
		ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "the client's entry: SHIFT");
	}
#undef M_
#undef KM_
	decided_end(&df);
}

/*
 * Both directions' framing after a decided pair the program kept (the
 * heads framed from the decision's parse: pkt_frame.bpf.h, frame_known())
 * as the byte path leaves it for the same segments on a flow nobody
 * decides (frame_setup()'s); that flow is left behind (decided_fresh()
 * starts over). 1 if the entries are equal.
 */
static int decided_framed_as_bytes(const char *req0, size_t rq0, const char *resp0, size_t rs0,
				   const char *req, size_t rq, const char *resp, size_t rs)
{
	struct kbal_pkt_frame dq = frame_get(0), ds = frame_get(1), cq, cs;
	int ok = 1;

	frame_teardown();
	if (!ASSERT_TRUE(frame_setup(), "the undecided flow set up"))
		return 0;
	ok &= frame_send(0, FR_C0, req0, rq0) && frame_send(1, FR_M0, resp0, rs0) &&
	      frame_send(0, FR_C0 + rq0, req, rq) && frame_send(1, FR_M0 + rs0, resp, rs);
	if (!ASSERT_TRUE(ok, "the undecided flow passes the same segments"))
		return 0;
	cq = frame_get(0);
	cs = frame_get(1);
	dq.back = cq.back;   /* the decided flow's requests are watched */
	ok &= ASSERT_EQ(dq.messages, cq.messages, "requests framed: as the byte path's");
	ok &= ASSERT_EQ(ds.messages, cs.messages, "answers framed: as the byte path's");
	ok &= ASSERT_EQ(ds.state, cs.state, "the answers' state: as the byte path's");
	ok &= ASSERT_EQ(ds.left, cs.left, "the answer's bytes left: as the byte path's");
	ok &= ASSERT_TRUE(!memcmp(&dq, &cq, sizeof(dq)), "the requests' entry: the byte path's");
	ok &= ASSERT_TRUE(!memcmp(&ds, &cs, sizeof(ds)), "the answers' entry: the byte path's");
	return ok;
}

/* A request and its answer on a fresh decided flow (decided_fresh(),
 * answers decided too), after a first pair that passes (the flow is
 * given back only where it is quiet): 1 if both pass (the request kept,
 * the answer as it is), 0 if one is given back (which one: *back_at, 0
 * the request, 1 the answer), -1 where the flow could not be driven. */
static int decided_pair(struct decided *df, const char *req, size_t rq, const char *resp,
			size_t rs, int *back_at)
{
	static const char req0[] = "GET / HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char resp0[] = "HTTP/1.1 204 No Content\r\n" STAMPS "\r\n";
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;

	if (!decided_fresh(df))
		return -1;
	if (gb_send(0, B, Mm + df->down.seq_delta, req0, sizeof(req0) - 1, out, &outlen) !=
	    TC_ACT_UNSPEC || get_entry(&fr_ku).action != KBAL_PKT_REWRITE)
		return -1;
	B += sizeof(req0) - 1;
	if (gb_send(1, Mm, B + df->up.seq_delta, resp0, sizeof(resp0) - 1, out, &outlen) !=
	    TC_ACT_UNSPEC || get_entry(&fr_kd).action != KBAL_PKT_REWRITE)
		return -1;
	Mm += sizeof(resp0) - 1;
	*back_at = 0;
	if (gb_send(0, B, Mm + df->down.seq_delta, req, rq, out, &outlen) != TC_ACT_UNSPEC)
		return -1;
	if (get_entry(&fr_ku).action != KBAL_PKT_REWRITE)
		return 0;
	B += rq;
	*back_at = 1;
	if (gb_send(1, Mm, B + df->up.seq_delta, resp, rs, out, &outlen) != TC_ACT_UNSPEC)
		return -1;
	if (get_entry(&fr_kd).action != KBAL_PKT_REWRITE)
		return 0;
	return decided_framed_as_bytes(req0, sizeof(req0) - 1, resp0, sizeof(resp0) - 1, req, rq,
				       resp, rs) ? 1 : -1;
}

/* decided_pair() of req and an answer that is before, then len bytes of
 * fill with byte c at offset j (a NUL too), then after: true if the
 * answer passed (want 1) or was given back (want 0, the request kept) as
 * wanted; a failure told. */
static bool decided_answer_byte(struct decided *df, const char *req, const char *before,
				char fill, size_t len, size_t j, uint8_t c, const char *after,
				int want, const char *what)
{
	char resp[512];
	size_t nb = strlen(before), na = strlen(after);
	int back_at, r;

	if (!ASSERT_TRUE(nb + len + na <= sizeof(resp) && j < len, "the answer fits"))
		return false;
	memcpy(resp, before, nb);
	memset(resp + nb, fill, len);
	resp[nb + j] = (char)c;
	memcpy(resp + nb + len, after, na);
	r = decided_pair(df, req, strlen(req), resp, nb + len + na, &back_at);
	if (!ASSERT_TRUE(r >= 0, "the flow set up") || !ASSERT_EQ(r, want, what))
		return false;
	return r || ASSERT_EQ(back_at, 1, "the answer given back, not the request");
}

/*
 * The head parser (bpf/http_frame.bpf.h) takes a status line, a header
 * name and the values it only checks or only bounds in runs of up to 64
 * bytes, 8 a word; a run must end exactly at the byte the byte path
 * judges. Every offset of a long value, each alignment against the words
 * and the 64-byte run: a control byte or DEL there gives the answer back
 * (kbald's parser refuses it), a tab or a byte of 0x80 or more passes
 * (white space but at the value's first or last byte, which httpd
 * trims); a byte that is no token's in a name gives it back. In a request, Host's
 * and Connection's values are bounded by their first and last non-white
 * byte (white space about them passes, a longer or shorter value does
 * not).
 */
UNIT_TEST(pkt_decided_heads_read_by_runs)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const struct { uint8_t c; int passes; } bytes[] = {
		{ 0x01, 0 }, { 0x1f, 0 }, { 0x7f, 0 }, { 0x00, 0 }, { '\t', 1 }, { 0x80, 1 },
		{ 0xff, 1 }, { ' ', 1 },
	};
	static const struct { const char *host; int kept; } hosts[] = {
		{ "x", 1 }, { "  x", 1 }, { "x \t ", 1 }, { "\tx\t", 1 }, { "xx", 0 }, { "", 0 },
		{ "x x", 0 },
	};
	char name[64], rq[256];
	struct decided df;
	int back_at, r;

	if (!decided_setup(&df))
		return;
	for (unsigned k = 0; k < sizeof(bytes) / sizeof(bytes[0]); k++) {
		for (unsigned j = 0; j < 80; j++) {
			/* the value starts at every alignment too: its name's
			 * length moves it */
			char before[128];

			snprintf(before, sizeof(before), "HTTP/1.1 200 OK\r\n" STAMPS "X-%.*s: ",
				 (int)(j % 9 + 1), "abcdefghi");
			int blank = bytes[k].c == ' ' || bytes[k].c == '\t';

			snprintf(name, sizeof(name), "byte 0x%02x at %u of a value", bytes[k].c, j);
			if (!decided_answer_byte(&df, req, before, 'v', 80, j, bytes[k].c,
						 "\r\nContent-Length: 2\r\n\r\nok",
						 bytes[k].passes && !(blank && (j == 0 || j == 79)),
						 name))
				goto out;
		}
	}
	/* the status line's reason, at every offset */
	for (unsigned j = 0; j < 40; j++) {
		static const char line[] = "HTTP/1.1 200 ",
				  end[] = "\r\n" STAMPS "Content-Length: 2\r\n\r\nok";

		if (!decided_answer_byte(&df, req, line, 'R', 40, j, 0x7f, end, 0,
					 "DEL in a status line") ||
		    !decided_answer_byte(&df, req, line, 'R', 40, j, 'R', end, 1, "a long status line"))
			goto out;
	}
	/* a name's bytes: a separator at every offset of a 40-byte name */
	for (unsigned j = 0; j < 40; j++) {
		static const char head[] = "HTTP/1.1 200 OK\r\n" STAMPS,
				  rest[] = ": v\r\nContent-Length: 2\r\n\r\nok";

		if (!decided_answer_byte(&df, req, head, 'n', 40, j, '@', rest, 0, "'@' in a name") ||
		    !decided_answer_byte(&df, req, head, 'n', 40, j, j % 2 ? '-' : 'N', rest, 1,
					 "a long name"))
			goto out;
	}
	/* a line's end: CR LF only (a bare LF, a CR alone: given back) */
	{
		static const char *const ends[] = {
			"HTTP/1.1 200 OK\n" STAMPS "Content-Length: 2\r\n\r\nok",
			"HTTP/1.1 200 OK\r\n" STAMPS "X-Long-Name: vvvvvvvvvvvvvvvv\n"
			"Content-Length: 2\r\n\r\nok",
			"HTTP/1.1 200 OK\r\n" STAMPS "X-Long-Name: vvvvvvvvvvvvvvvv\r\r\n"
			"Content-Length: 2\r\n\r\nok",
			"HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\n\r\nok",
		};

		for (unsigned c = 0; c < sizeof(ends) / sizeof(ends[0]); c++) {
			r = decided_pair(&df, req, sizeof(req) - 1, ends[c], strlen(ends[c]), &back_at);
			snprintf(name, sizeof(name), "line ends, case %u", c);
			if (!ASSERT_TRUE(r >= 0, "the flow set up") || !ASSERT_EQ(r, 0, name))
				goto out;
		}
	}
	/* a response's hop-by-hop lines (Connection and the lines it names,
	 * Upgrade, TE, Trailer, Proxy-Authenticate), and a Set-Cookie before
	 * another line: httpd writes the head otherwise, given back; a lone
	 * "Connection: keep-alive" and Keep-Alive lines pass as they came
	 * (hop_lines_back()), and Set-Cookie lines last */
	{
		static const struct { const char *lines; int kept; } hop[] = {
			{ "Connection: keep-alive\r\n", 1 },
			{ "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n", 1 },
			{ "Connection: \t keep-alive  \r\n", 0 },
			{ "Connection: keep-alivex\r\n", 0 },
			{ "Connection: keep-alive, X-Hop\r\n", 0 },
			{ "Connection: keep-alive\r\nConnection: keep-alive\r\n", 0 },
			{ "Keep-Alive: timeout=5\r\n", 1 },
			{ "Keep-Alive: timeout=5\r\nUpgrade: h2c\r\n", 0 },
			{ "Upgrade: h2c\r\n", 0 },
			{ "TE: trailers\r\n", 0 },
			{ "Trailer: X-T\r\n", 0 },
			{ "Proxy-Authenticate: Basic\r\n", 0 },
			{ "Set-Cookie: a=1\r\nX-A: 1\r\n", 0 },
			{ "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-A: 1\r\n", 0 },
			{ "X-A: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n", 1 },
			{ "X-Te: 1\r\nX-Upgrade: h2c\r\nSet-Cookiex: 1\r\nX-A: 1\r\n", 1 },
		};
		char ans[256];

		for (unsigned c = 0; c < sizeof(hop) / sizeof(hop[0]); c++) {
			int n = snprintf(ans, sizeof(ans), "HTTP/1.1 200 OK\r\n" STAMPS
					 "Content-Length: 2\r\n%s\r\nok", hop[c].lines);

			r = decided_pair(&df, req, sizeof(req) - 1, ans, (size_t)n, &back_at);
			snprintf(name, sizeof(name), "hop-by-hop lines, case %u", c);
			if (!ASSERT_TRUE(r >= 0, "the flow set up") || !ASSERT_EQ(r, hop[c].kept, name))
				goto out;
		}
	}
	/* a Cookie's bytes: the sticky name found only where a name starts
	 * (the value's start, after ';', ',' or white space), its value to
	 * ';' or ','; other cookies before and after at every length */
	for (unsigned pad = 0; pad < 20; pad++) {
		static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
		static const struct { const char *before, *after; int kept; } ck[] = {
			{ "p=%s; ", "; z=%s", 1 },        /* ours amid others */
			{ "p=%s,", "", 1 },
			{ "p=%s xROUTEID=route.2; ", "", 1 },  /* not a name's start */
			{ "p=%sROUTEID=route.2;", "", 1 },
			{ "p=%s,ROUTEID=route.2; ", "", 0 },   /* the first is route 2 */
			{ "", "%s", -1 },                 /* its value runs on: kept only at 0 */
			{ "", ";q=%s\x01", 0 },           /* a control byte after it */
			{ "", "; q=%s\x7f", 0 },          /* DEL after it */
			{ "", " ;q=%s", 0 },              /* white space in it */
		};
		char v[32], before[96], after[96];

		memset(v, 'v', sizeof(v));
		v[pad] = 0;
		for (unsigned c = 0; c < sizeof(ck) / sizeof(ck[0]); c++) {
			int n, want = ck[c].kept < 0 ? pad == 0 : ck[c].kept;

			snprintf(before, sizeof(before), ck[c].before, v);
			snprintf(after, sizeof(after), ck[c].after, v);
			n = snprintf(rq, sizeof(rq), "GET /a HTTP/1.1\r\nHost: x\r\n"
				     "Cookie: %sROUTEID=route.1%s\r\n\r\n", before, after);
			r = decided_pair(&df, rq, n, ok, sizeof(ok) - 1, &back_at);
			snprintf(name, sizeof(name), "cookie case %u, %u bytes", c, pad);
			if (!ASSERT_TRUE(r >= 0, "the flow set up") || !ASSERT_EQ(r, want, name))
				goto out;
			if (!r && !ASSERT_EQ(back_at, 0, "the request given back"))
				goto out;
		}
	}
	/* a request's target: each byte the byte path judges, after a run
	 * of every length (kbald's where it would normalise the path, or
	 * mod_proxy encode it; the query's bytes as they are) */
	for (unsigned pad = 0; pad < 20; pad++) {
		static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
		static const struct { const char *at; int kept; } tg[] = {
			{ "%41", 0 }, { "\"", 0 }, { "^", 0 }, { "{", 0 }, { "|", 0 }, { "\\", 0 },
			{ "#", 0 }, { "\x7f", 0 }, { "\x80", 0 }, { "//b", 0 }, { "/./b", 0 },
			{ "/.b", 0 }, { "/b.c", 1 }, { "/b/c", 1 }, { "~!$&'()*+,;=:@", 1 },
			{ "?q=%41/../x", 1 }, { "?q=\"", 1 }, { "?q=#", 0 }, { "?q=\x01", 0 },
		};
		char path[64];

		memset(path, 'a', sizeof(path));
		path[pad] = 0;
		for (unsigned c = 0; c < sizeof(tg) / sizeof(tg[0]); c++) {
			int n = snprintf(rq, sizeof(rq), "GET /p%s%sz HTTP/1.1\r\nHost: x\r\n"
					 "Cookie: ROUTEID=route.1\r\n\r\n", path, tg[c].at);

			r = decided_pair(&df, rq, n, ok, sizeof(ok) - 1, &back_at);
			snprintf(name, sizeof(name), "target /p + %u bytes + %s", pad, tg[c].at);
			if (!ASSERT_TRUE(r >= 0, "the flow set up") || !ASSERT_EQ(r, tg[c].kept, name))
				goto out;
			if (!r && !ASSERT_EQ(back_at, 0, "the request given back"))
				goto out;
		}
	}
	/* the request line's version: a byte of 0x80 or more, white space */
	{
		static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
		static const char *const bad[] = {
			"GET /a HTTP/1.\x81\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n",
			"GET /a HTTP/1.1 \r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n",
			"GET /a HTTP/1.10\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n",
		};

		for (unsigned c = 0; c < sizeof(bad) / sizeof(bad[0]); c++) {
			r = decided_pair(&df, bad[c], strlen(bad[c]), ok, sizeof(ok) - 1, &back_at);
			if (!ASSERT_TRUE(r >= 0, "the flow set up") ||
			    !ASSERT_EQ(r, 0, "a request line's version"))
				goto out;
		}
	}
	/* a request's Host value, bounded by its non-white bytes */
	for (unsigned k = 0; k < sizeof(hosts) / sizeof(hosts[0]); k++) {
		static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
		int n = snprintf(rq, sizeof(rq), "GET /a HTTP/1.1\r\nHost:%s\r\n"
				 "Cookie: ROUTEID=route.1\r\n\r\n", hosts[k].host);

		r = decided_pair(&df, rq, n, ok, sizeof(ok) - 1, &back_at);
		if (!ASSERT_TRUE(r >= 0, "the flow set up"))
			goto out;
		snprintf(name, sizeof(name), "Host:%s", hosts[k].host);
		if (!ASSERT_EQ(r, hosts[k].kept, name))
			goto out;
		if (!r && !ASSERT_EQ(back_at, 0, "the request given back"))
			goto out;
	}
out:
	decided_end(&df);
}

/*
 * A head the decision keeps is framed from its parse, not read again
 * (pkt_frame.bpf.h, frame_known()), with the body bytes behind it in the
 * segment: the entries end as the byte path leaves them for the same
 * bytes (decided_pair() compares them), for bodies that end in the
 * segment and that go on past it, chunked answers, answers without a body
 * and requests with one. An interim answer with its final one behind it
 * in the segment is kbald's: the final head would pass unjudged.
 */
UNIT_TEST(pkt_decided_heads_framed_as_bytes)
{
	static const char get[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n",
			  post[] = "POST /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n"
				   "Content-Length: 5\r\n\r\nhello",
			  ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
	static const char *const answers[] = {
		"HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 100\r\n\r\nok",
		"HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 100\r\n\r\n",
		"HTTP/1.1 200 OK\r\n" STAMPS "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"HTTP/1.1 200 OK\r\n" STAMPS "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n" STAMPS "transfer-encoding: chunked\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n" STAMPS "\r\n",
		"HTTP/1.1 304 Not Modified\r\n" STAMPS "Content-Length: 10\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\n" STAMPS "content-length: 0\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
	};
	struct decided df;
	char name[96];
	int back_at, r;

	if (!decided_setup(&df))
		return;
	for (unsigned k = 0; k < sizeof(answers) / sizeof(answers[0]); k++) {
		for (int q = 0; q < 2; q++) {
			const char *req = q ? post : get;

			r = decided_pair(&df, req, strlen(req), answers[k], strlen(answers[k]),
					 &back_at);
			snprintf(name, sizeof(name), "answer %u to a %s: kept, framed as bytes", k,
				 q ? "POST" : "GET");
			if (!ASSERT_EQ(r, 1, name))
				goto out;
		}
	}
	{
		static const char both[] = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
					   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

		r = decided_pair(&df, get, sizeof(get) - 1, both, sizeof(both) - 1, &back_at);
		ASSERT_EQ(r, 0, "an interim answer with its final one behind it: given back");
		ASSERT_EQ(back_at, 1, "the answer given back, not the request");
		r = decided_pair(&df, get, sizeof(get) - 1, ok, sizeof(ok) - 1, &back_at);
		ASSERT_EQ(r, 1, "then an answer with its own segment: kept");
	}
out:
	decided_end(&df);
}

/*
 * An interim (1xx) head passes only where httpd's
 * ap_send_interim_response() writes it as it is (interim_as_httpd()):
 * one with a line it writes otherwise, an HTTP/1.0 status line or one
 * without a reason, a line mod_proxy_http drops (Connection, Keep-Alive,
 * Upgrade, TE, Trailer, Proxy-Authenticate), a Date or a Server is given
 * back at its first byte (before 2026-12-07 each passed as the member
 * wrote it). A final head with a line httpd refuses (its 500) or one
 * without ':' (its 502) is given back too.
 */
UNIT_TEST(pkt_decided_interim_heads_as_httpd)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const struct { const char *head; int kept; } t[] = {
		{ "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 1 },
		{ "HTTP/1.1 100 Continue\r\n\r\n", 1 },
		{ "HTTP/1.1 103 Early Hints\r\nLink:</a>\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nLink: </a> \r\n\r\n", 0 },
		{ "HTTP/1.0 103 Early Hints\r\nLink: </a>\r\n\r\n", 0 },
		{ "HTTP/1.1 103\r\nLink: </a>\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nConnection: keep-alive\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nkeep-alive: timeout=5\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nUpgrade: h2c\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nTE: x\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nTrailer: x\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nProxy-Authenticate: x\r\n\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\n" STAMPS "\r\n", 0 },
		{ "HTTP/1.1 103 Early Hints\r\nFoo : v\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "Foo : v\r\nContent-Length: 2\r\n\r\nok", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS ": v\r\nContent-Length: 2\r\n\r\nok", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "X\001A: v\r\nContent-Length: 2\r\n\r\nok", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "NoColon\r\nContent-Length: 2\r\n\r\nok", 0 },
		{ "HTTP/1.1 200 OK\r\n" STAMPS "X-A: a\001b\r\nContent-Length: 2\r\n\r\nok", 0 },
	};
	struct decided df;
	char name[128];
	int back_at, r;

	if (!decided_setup(&df))
		return;
	for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		r = decided_pair(&df, req, sizeof(req) - 1, t[k].head, strlen(t[k].head), &back_at);
		snprintf(name, sizeof(name), "head %u %s", k, t[k].kept ? "kept" : "given back");
		if (!ASSERT_EQ(r, t[k].kept, name))
			goto out;
		if (!r && !ASSERT_EQ(back_at, 1, "the answer given back, not the request"))
			goto out;
	}
out:
	decided_end(&df);
}

/*
 * A decided flow's member sends an answer nobody asked for (every request
 * framed has had its answer): at its first byte, the flow quiet, it is
 * given back with nothing owed (the decision marked KBAL_SKB_UNASKED, read
 * by kbald, which closes the member's connection with it); held while the
 * flow is not quiet, and marked for good: a request that comes meanwhile
 * is not kept (given back: kbald's, with a new member connection).
 */
UNIT_TEST(pkt_decided_unasked_answer_given_back)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
	static const char stray[] = "HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 2\r\n\r\nno";
	const uint32_t rq = sizeof(req) - 1, rk = sizeof(ok) - 1, rs = sizeof(stray) - 1;
	struct decided df;
	struct kbal_sk_http got;
	struct events_seen ev = {};
	struct ring_buffer *rb;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0 = stat(KBAL_STAT_PKT_KEPT);
	__u32 bslot = FR_UP / 2;
	int decide_fd;

	if (!frame_setup())
		return;
	decide_fd = bpf_map__fd(skel->maps.kbal_pkt_decide);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.kbal_pkt_events), on_event, &ev, NULL);
	if (!ASSERT_TRUE(rb != NULL, "kbal_pkt_events readable"))
		return;
	ring_buffer__consume(rb);
	memset(&ev, 0, sizeof(ev));
	decided_state(1);
	decided_flow(&df, 1, 0x33330000, KBAL_SKF_ROUTE_COOKIE);
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, ok, rk, out, &outlen), TC_ACT_UNSPEC, "its answer: passes");
	Mm += rk;
	/* not quiet (the client has not acknowledged the answer yet): held,
	 * and marked for good; the client's next request is not kept */
	ASSERT_EQ(gb_send(1, Mm, KM_, stray, rs, out, &outlen), TC_ACT_SHOT,
		  "an answer to nothing, the flow not quiet: held");
	ASSERT_EQ(bpf_map_lookup_elem(decide_fd, &bslot, &got), 0, "the decision");
	ASSERT_EQ(got.why, KBAL_SKB_UNASKED, "marked: unasked");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "held: joined");
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "the next request");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "not kept: given back");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 1, "pkt_kept");
	/* a fresh flow: the stray answer with the flow quiet */
	if (!decided_fresh(&df))
		return;
	B = FR_C0;
	Mm = FR_M0;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, ok, rk, out, &outlen), TC_ACT_UNSPEC, "its answer: passes");
	Mm += rk;
	ASSERT_EQ(gb_send(0, B, M_, "", 0, out, &outlen), TC_ACT_UNSPEC, "the client's ACK");
	ASSERT_EQ(gb_send(1, Mm, KM_, stray, rs, out, &outlen), TC_ACT_UNSPEC,
		  "an answer to nothing, the flow quiet");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_SHIFT, "given back");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_SHIFT, "the client's entry: SHIFT");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), 0x33330000, "to kbald's member-side socket");
	ASSERT_EQ(bpf_map_lookup_elem(decide_fd, &bslot, &got), 0, "the decision");
	ASSERT_EQ(got.why, KBAL_SKB_UNASKED, "marked: unasked (kbald owes nothing)");
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_BACK_RESPONSE], 1, "its event");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 2, "pkt_kept after");
#undef M_
#undef KM_
	ring_buffer__free(rb);
	decided_end(&df);
}

/*
 * A decided flow's segment beyond a gap its framing can neither bridge
 * (the gap runs past a body's end) nor keep (the stash holds one segment)
 * is dropped, not let through with the framing lost (which would leave
 * the flow's later requests and answers undecided): the sender sends it
 * again once the gap is filled, and the framing goes on.
 */
UNIT_TEST(pkt_decided_gap_beyond_the_stash_dropped)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char ans[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 100\r\n\r\n"
				  "0123456789012345678901234567890123456789012345678901234567890123456789"
				  "012345678901234567890123456789"
				  "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
	const uint32_t rq = sizeof(req) - 1, head = 38 + sizeof(STAMPS) - 1, first = 180 - 140,
		       na = sizeof(ans) - 1;
	struct decided df;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0, end1 = head + 100;
	uint64_t lost0 = stat(KBAL_STAT_PKT_FRAME_LOST);

	if (!decided_setup(&df))
		return;
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	/* two requests kept (pipelined): two answers owed */
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 1");
	B += rq;
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 2");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, ans, head + first, out, &outlen), TC_ACT_UNSPEC,
		  "answer 1's head and part of its body");
	/* beyond a gap that runs past answer 1's end: kept in the stash */
	ASSERT_EQ(gb_send(1, Mm + end1 + 5, KM_, ans + end1 + 5, 10, out, &outlen), TC_ACT_UNSPEC,
		  "beyond the gap: stashed");
	ASSERT_TRUE(frame_get(1).flags & KBAL_FRAME_STASHED, "stashed");
	/* a second one: no room, dropped */
	ASSERT_EQ(gb_send(1, Mm + end1 + 20, KM_, ans + end1 + 20, 10, out, &outlen), TC_ACT_SHOT,
		  "beyond the gap, the stash full: dropped");
	ASSERT_EQ(frame_get(1).flags & KBAL_FRAME_LOST, 0, "the framing not lost");
	ASSERT_EQ(stat(KBAL_STAT_PKT_FRAME_LOST) - lost0, 0, "pkt_frame_lost");
	/* the gap filled, then the rest again: all framed */
	ASSERT_EQ(gb_send(1, Mm + head + first, KM_, ans + head + first, end1 + 5 - head - first,
			  out, &outlen), TC_ACT_UNSPEC, "the gap's bytes");
	ASSERT_EQ(gb_send(1, Mm + end1 + 5, KM_, ans + end1 + 5, na - end1 - 5, out, &outlen),
		  TC_ACT_UNSPEC, "the rest, sent again");
	ASSERT_EQ(frame_get(1).flags & KBAL_FRAME_LOST, 0, "the framing not lost");
	ASSERT_EQ(frame_get(1).heads, 2, "both answers framed");
	ASSERT_EQ(frame_get(1).boundary, Mm + na, "at the next boundary");
#undef M_
#undef KM_
	decided_end(&df);
}

/*
 * A decided flow's answer the framing cannot follow (a head no request
 * asked for in the segment's middle: a member's one write of its answer
 * and a stray one): that segment does not pass, both directions are marked
 * lost (nothing more of the flow passes: a request after it is dropped),
 * the member's highest byte stays where it was (the RST kbald sends the
 * client carries it), and kbald is told (KBAL_PKT_EV_LOST).
 */
UNIT_TEST(pkt_decided_framing_lost_passes_nothing)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char two[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok"
				  "HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 2\r\n\r\nno";
	const uint32_t rq = sizeof(req) - 1, rt = sizeof(two) - 1;
	struct decided df;
	struct events_seen ev = {};
	struct ring_buffer *rb;
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0, sw;

	if (!frame_setup())
		return;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.kbal_pkt_events), on_event, &ev, NULL);
	if (!ASSERT_TRUE(rb != NULL, "kbal_pkt_events readable"))
		return;
	ring_buffer__consume(rb);
	memset(&ev, 0, sizeof(ev));
	decided_state(1);
	decided_flow(&df, 1, 3, KBAL_SKF_ROUTE_COOKIE);
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	sw = get_entry(&fr_kd).switch_seq;
	ASSERT_EQ(gb_send(1, Mm, KM_, two, rt, out, &outlen), TC_ACT_SHOT,
		  "its answer and a stray one in one segment: dropped");
	ASSERT_TRUE(get_entry(&fr_kd).fr_flags & KBAL_PKT_FR_LOST, "the answers' side lost");
	ASSERT_TRUE(get_entry(&fr_ku).fr_flags & KBAL_PKT_FR_LOST, "the requests' side lost");
	ASSERT_EQ(get_entry(&fr_kd).switch_seq, sw, "the member's highest byte as before");
	ring_buffer__consume(rb);
	ASSERT_EQ(ev.n[KBAL_PKT_EV_LOST], 1, "kbald told");
	ASSERT_EQ(gb_send(1, Mm, KM_, two, rt, out, &outlen), TC_ACT_SHOT, "sent again: dropped");
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_SHOT, "a request after it: dropped");
#undef M_
#undef KM_
	ring_buffer__free(rb);
	decided_end(&df);
}

/*
 * A decided flow this program has no arming of (a restart in place: the
 * next image's kbal_pkt_back is its own, empty until kbald arms the flow
 * again): a request at its first byte, and an answer at its head's, are
 * held (dropped, never passed on undecided); once kbald armed it with its
 * decision, the same request is kept and the same answer passes.
 */
UNIT_TEST(pkt_decided_held_until_armed)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\n" STAMPS "Content-Length: 2\r\n\r\nok";
	const uint32_t rq = sizeof(req) - 1, rk = sizeof(ok) - 1;
	struct decided df;
	struct kbal_pkt_back none = {};
	uint8_t out[2048];
	uint32_t outlen, B = FR_C0, Mm = FR_M0;
	uint64_t kept0 = stat(KBAL_STAT_PKT_KEPT);
	__u32 bslot = FR_UP / 2;
	int back_fd;

	if (!frame_setup())
		return;
	back_fd = bpf_map__fd(skel->maps.kbal_pkt_back);
	decided_state(1);
	decided_flow(&df, 1, 3, KBAL_SKF_ROUTE_COOKIE);
#define M_ (Mm + df.down.seq_delta)
#define KM_ (B + df.up.seq_delta)
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "a kept request");
	B += rq;
	/* the next image's program: nothing armed */
	ASSERT_EQ(bpf_map_update_elem(back_fd, &bslot, &none, BPF_ANY), 0, "kbal_pkt_back emptied");
	ASSERT_EQ(gb_send(1, Mm, KM_, ok, rk, out, &outlen), TC_ACT_SHOT, "its answer: held");
	ASSERT_EQ(get_entry(&fr_kd).action, KBAL_PKT_REWRITE, "the answer held: joined");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 1, "pkt_kept before the arming");
	ASSERT_EQ(bpf_map_update_elem(back_fd, &bslot, &df.bk, BPF_ANY), 0, "armed again");
	ASSERT_EQ(gb_send(1, Mm, KM_, ok, rk, out, &outlen), TC_ACT_UNSPEC, "the answer again: passes");
	Mm += rk;
	ASSERT_EQ(bpf_map_update_elem(back_fd, &bslot, &none, BPF_ANY), 0, "kbal_pkt_back emptied");
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_SHOT, "a request: held");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "held: joined");
	ASSERT_EQ(get_entry(&fr_ku).hold, 1, "held");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 1, "a held request is not kept");
	ASSERT_EQ(bpf_map_update_elem(back_fd, &bslot, &df.bk, BPF_ANY), 0, "armed again");
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "the request again");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "kept: joined");
	ASSERT_TRUE(!memcmp(out + ETH_HLEN + 12, &df.up.saddr, 4), "kept: to the member");
	ASSERT_EQ(stat(KBAL_STAT_PKT_KEPT) - kept0, 2, "pkt_kept after the arming");
#undef M_
#undef KM_
	decided_end(&df);
}

/*
 * The order of the give-back's four writes (kbal_pkt_give_back(): kbald ->
 * client, kbald -> member, client -> kbald, member -> kbald). A flow is
 * given back once for real, its four SHIFT entries kept; then, from the
 * joined state each time, every prefix of that order is written as the
 * program would have left it had it stopped there (or been overtaken by a
 * packet on another CPU), and each sender's packets are run through it:
 * - the member (a keep-alive probe, a FIN): until the last write, exactly
 *   the joined flow's rewrite, whose numbers are those the kbald -> client
 *   entry gives kbald's kept socket (K0 is M): the client cannot tell;
 * - kbald's kept client socket (an ACK): dropped before the first write,
 *   after it what the flipped flow sends;
 * - the request P: after the client -> kbald write, what the flipped flow
 *   delivers to the kept socket; with the client -> kbald write not done
 *   (a stop after the first two) and nothing asked, to the member exactly
 *   as the joined flow (the two entries of kbald's sockets change nothing
 *   of it).
 * And an entry of kbal_pkt_back not armed by kbald (zeroed, as a restarted
 * image's program has it) gives nothing back.
 */
UNIT_TEST(pkt_given_back_order_of_the_writes)
{
	static const char req[] = "GET /o HTTP/1.1\r\n\r\n";
	static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
	const uint32_t rq = sizeof(req) - 1, rs = sizeof(resp) - 1;
	const uint32_t S0 = 0x51510000, K0 = 0x62620000, MS0 = 0x73730000, MK0 = 0x84840000;
	struct kbal_pkt_rw up, down, up_j, down_j, fin[4];
	struct kbal_pkt_rw drop = { .action = KBAL_PKT_DROP, .gen = FR_GEN };
	struct kbal_pkt_key khold, kdrop, order[4];
	struct kbal_pkt_back bk = { .gen = FR_GEN, .ts = 1, .c_rcv_nxt = S0, .c_snd_nxt = K0,
				    .m_rcv_nxt = MS0, .m_snd_nxt = MK0 };
	struct kbal_pkt_frame fq_j, fs_j, f;
	struct pkt_spec kept, member = fr_down_s;
	uint8_t out[2048], probe_j[2048], fin_j[2048], ack_f[2048], p_f[2048], p_j[2048];
	uint32_t outlen, n_probe_j, n_fin_j, n_ack_f, n_p_f, n_p_j, B = FR_C0, Mm = FR_M0;
	__u32 su = FR_UP, ss = FR_UP + 1, bslot = FR_UP / 2;
	int back_fd, k;

	if (!frame_setup())
		return;
	member = fr_down_s;
	back_fd = bpf_map__fd(skel->maps.kbal_pkt_back);
	given_back_flow(&up, &down, &khold, &kdrop, &drop);
	/* kbald's kept client-side socket: kbald -> client */
	kept = fr_up_s;
	kept.saddr = ntohl(down.saddr);
	kept.daddr = ntohl(down.daddr);
	kept.sport = ntohs(down.sport);
	kept.dport = ntohs(down.dport);
#define M_ (Mm + down.seq_delta)
#define KM_ (B + up.seq_delta)
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 1");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 1");
	Mm += rs;
	/* asked, but kbal_pkt_back not armed by kbald: nothing given back */
	bk.c_tsoff = 1000 - mono_ms();
	bk.m_tsoff = 5000 - mono_ms();
	ASSERT_EQ(bpf_map_update_elem(back_fd, &bslot, &bk, BPF_ANY), 0, "kbal_pkt_back");
	bpf_map_lookup_elem(fr_fd, &su, &f);
	f.back = KBAL_PKT_BACK_ASKED;
	bpf_map_update_elem(fr_fd, &su, &f, BPF_ANY);
	ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, "request 2");
	ASSERT_EQ(get_entry(&fr_ku).action, KBAL_PKT_REWRITE, "not armed: joined");
	B += rq;
	ASSERT_EQ(gb_send(1, Mm, KM_, resp, rs, out, &outlen), TC_ACT_UNSPEC, "response 2");
	Mm += rs;
	bk.armed = 1;
	ASSERT_EQ(bpf_map_update_elem(back_fd, &bslot, &bk, BPF_ANY), 0, "kbal_pkt_back armed");

	/* the joined state before P, and what it does with each sender's
	 * packets (P with nothing asked) */
	up_j = get_entry(&fr_ku);
	down_j = get_entry(&fr_kd);
	bpf_map_lookup_elem(fr_fd, &su, &fq_j);
	bpf_map_lookup_elem(fr_fd, &ss, &fs_j);
	ASSERT_EQ(gb_send_spec(member, Mm - 1, KM_, 0x10, probe_j, &n_probe_j), TC_ACT_UNSPEC,
		  "joined: the member's keep-alive probe");
	ASSERT_EQ(get32(probe_j + ETH_HLEN + 20 + 4), M_ - 1, "joined: the probe at M - 1");
	ASSERT_EQ(gb_send_spec(member, Mm, KM_, 0x11, fin_j, &n_fin_j), TC_ACT_UNSPEC,
		  "joined: the member's FIN");
	ASSERT_EQ(gb_send_spec(kept, K0, S0, 0x10, out, &outlen), TC_ACT_SHOT,
		  "joined: the kept socket's ACK dropped");
#define RESTORE(back_)	do {								\
		bpf_map_update_elem(map_fd, &fr_ku, &up_j, BPF_ANY);			\
		bpf_map_update_elem(map_fd, &fr_kd, &down_j, BPF_ANY);			\
		bpf_map_update_elem(map_fd, &khold, &drop, BPF_ANY);			\
		bpf_map_update_elem(map_fd, &kdrop, &drop, BPF_ANY);			\
		f = fq_j;								\
		f.back = (back_);							\
		bpf_map_update_elem(fr_fd, &su, &f, BPF_ANY);				\
		bpf_map_update_elem(fr_fd, &ss, &fs_j, BPF_ANY);			\
	} while (0)
	RESTORE(0);
	ASSERT_EQ(gb_send(0, B, M_, req, rq, p_j, &n_p_j), TC_ACT_UNSPEC, "joined: P");
	ASSERT_TRUE(!memcmp(p_j + ETH_HLEN + 12, &up.saddr, 4), "joined: P to the member");

	/* given back for real: the four SHIFT entries, and what the flipped
	 * flow does with P and with the kept socket's ACK */
	RESTORE(KBAL_PKT_BACK_ASKED);
	ASSERT_EQ(gb_send(0, B, M_, req, rq, p_f, &n_p_f), TC_ACT_UNSPEC, "P given back");
	ASSERT_EQ(get32(p_f + ETH_HLEN + 20 + 4), S0, "P given back: seq S0");
	order[0] = khold;
	order[1] = kdrop;
	order[2] = fr_ku;
	order[3] = fr_kd;
	for (k = 0; k < 4; k++) {
		fin[k] = get_entry(&order[k]);
		ASSERT_EQ(fin[k].action, KBAL_PKT_SHIFT, "given back: SHIFT");
	}
	ASSERT_EQ(gb_send_spec(kept, K0, S0, 0x10, ack_f, &n_ack_f), TC_ACT_UNSPEC,
		  "given back: the kept socket's ACK");
	ASSERT_EQ(get32(ack_f + ETH_HLEN + 20 + 4), M_, "given back: the kept socket's K0 is M");
	ASSERT_EQ(get32(ack_f + ETH_HLEN + 20 + 8), B, "given back: its S0 is B");
	ASSERT_EQ(gb_send_spec(member, Mm - 1, KM_, 0x10, out, &outlen), TC_ACT_UNSPEC,
		  "given back: the member's probe");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 4), MS0 - 1, "given back: the probe to kbald's "
		  "member-side socket (MS0 - 1)");
	ASSERT_EQ(get32(out + ETH_HLEN + 20 + 8), MK0, "given back: acking MK0");

	/* every prefix of the order */
	for (int n = 1; n < 4; n++) {
		char what[96];

		RESTORE(0);
		for (k = 0; k < n; k++)
			bpf_map_update_elem(map_fd, &order[k], &fin[k], BPF_ANY);
		snprintf(what, sizeof(what), "%d writes: the member's probe as joined", n);
		ASSERT_EQ(gb_send_spec(member, Mm - 1, KM_, 0x10, out, &outlen), TC_ACT_UNSPEC,
			  what);
		ASSERT_TRUE(outlen == n_probe_j && !memcmp(out, probe_j, outlen), what);
		snprintf(what, sizeof(what), "%d writes: the member's FIN as joined", n);
		ASSERT_EQ(gb_send_spec(member, Mm, KM_, 0x11, out, &outlen), TC_ACT_UNSPEC, what);
		ASSERT_TRUE(outlen == n_fin_j && !memcmp(out, fin_j, outlen), what);
		snprintf(what, sizeof(what), "%d writes: the kept socket's ACK as given back", n);
		ASSERT_EQ(gb_send_spec(kept, K0, S0, 0x10, out, &outlen), TC_ACT_UNSPEC, what);
		ASSERT_TRUE(outlen == n_ack_f && !memcmp(out, ack_f, outlen), what);
		/* P: a stop after kbald's sockets' entries leaves it joined;
		 * after P's own, it is kbald's */
		RESTORE(0);
		for (k = 0; k < n; k++)
			bpf_map_update_elem(map_fd, &order[k], &fin[k], BPF_ANY);
		snprintf(what, sizeof(what), "%d writes: P", n);
		ASSERT_EQ(gb_send(0, B, M_, req, rq, out, &outlen), TC_ACT_UNSPEC, what);
		if (n < 3)
			ASSERT_TRUE(outlen == n_p_j && !memcmp(out, p_j, outlen), what);
		else
			ASSERT_TRUE(outlen == n_p_f && !memcmp(out, p_f, outlen), what);
	}
#undef RESTORE
#undef M_
#undef KM_
	given_back_teardown(&khold, &kdrop);
}
