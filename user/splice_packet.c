// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * splice_packet.c - the packet-level handover (see docs/packet.md).
 *
 * At the member connect kbald installs LEARN entries, so that the program
 * notes the client's and the member's TCP clocks (their TSvals) during the
 * first exchange. At the handover:
 *   1. the member-side socket is frozen (TCP_REPAIR) and its sequence state
 *      read; the client-side socket is read in repair mode and let go again
 *      (TCP_REPAIR_OFF_NO_WP: no window probe), because it must stay able to
 *      retransmit the end of the first response until the client acks it;
 *   2. four entries are written: member->kbald REWRITE, kbald->member DROP,
 *      client->kbald SWITCH (passes to kbald's socket until the client's
 *      first packet that acks everything, then REWRITE), kbald->client HOLD
 *      (passes until that switch, then DROP);
 *   3. the sequence state is read again: a byte that reached a socket in
 *      between means the flow was not quiet, and the entries are removed.
 * After the switch kbald closes its client-side socket in repair mode
 * (nothing is sent); the member-side socket stays frozen until the flow
 * ends, reserving the port the member sees.
 */
#include <errno.h>
#include <limits.h>
#include <ifaddrs.h>
#include <time.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "packet.skel.h"
#include "log.h"
#include "maps.h"
#include "splice_packet.h"
#include "splice_sockmap.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* tcx (Linux 6.6): Debian 12's libbpf predates its names */
#ifndef BPF_F_BEFORE
#define BPF_F_BEFORE (1U << 3)
#endif
enum { KBAL_TCX_INGRESS = 46, KBAL_TCX_EGRESS = 47 };

static struct bpf_program *prog_for(struct kbal_packet *p, int ifindex, int egress)
{
	return ifindex == p->lo ? p->skel->progs.kbal_pkt_splice :
	       egress ? p->skel->progs.kbal_pkt_egress : p->skel->progs.kbal_pkt_ingress;
}

/* Attach one of the three programs at one hook of an interface, ahead of
 * any other program there: a joined flow's packets are ours alone. */
static int attach_hook(struct kbal_packet *p, struct kbal_pkt_if *pi, int egress)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = BPF_F_BEFORE);
	struct bpf_program *prog = prog_for(p, pi->ifindex, egress);
	int fd;

	fd = bpf_link_create(bpf_program__fd(prog), pi->ifindex,
			     (enum bpf_attach_type)(egress ? KBAL_TCX_EGRESS : KBAL_TCX_INGRESS),
			     &opts);
	if (fd < 0)
		return fd;
	pi->link_fd[egress] = fd;
	return 0;
}

static void detach_if(struct kbal_pkt_if *pi)
{
	for (int eg = 0; eg < 2; eg++)
		if (pi->link_fd[eg] >= 0)
			close(pi->link_fd[eg]);
	pi->ifindex = 0;
	pi->link_fd[0] = pi->link_fd[1] = -1;
}

/* The program on ifindex: lo at egress, any other interface both ways. */
static int attach_if(struct kbal_packet *p, int ifindex)
{
	struct kbal_pkt_if *pi;
	char name[IF_NAMESIZE] = "?";
	int err;

	for (int i = 0; i < p->nifs; i++)
		if (p->ifs[i].ifindex == ifindex)
			return 0;
	if_indextoname(ifindex, name);
	if (p->nifs == KBAL_PKT_MAX_IFS) {
		log_warn("packet splice: more than %d interfaces, not attaching to %s",
			 KBAL_PKT_MAX_IFS, name);
		return -ENOSPC;
	}
	pi = &p->ifs[p->nifs];
	pi->ifindex = ifindex;
	pi->link_fd[0] = pi->link_fd[1] = -1;
	err = attach_hook(p, pi, 1);
	if (!err && ifindex != p->lo)
		err = attach_hook(p, pi, 0);
	if (err) {
		log_err("attaching the packet splice program to %s (tcx, Linux 6.6+): %s", name,
			strerror(-err));
		detach_if(pi);
		return err;
	}
	p->nifs++;
	log_info("packet splice: attached to %s", name);
	return 0;
}

/* A previous image's link: this image's program in it, atomically. */
static int adopt_link(struct kbal_packet *p, const struct kbal_pkt_link *l)
{
	struct kbal_pkt_if *pi = NULL;
	int egress = !!l->egress;

	for (int i = 0; i < p->nifs; i++)
		if (p->ifs[i].ifindex == l->ifindex)
			pi = &p->ifs[i];
	if (!pi) {
		if (p->nifs == KBAL_PKT_MAX_IFS)
			return -ENOSPC;
		pi = &p->ifs[p->nifs++];
		pi->ifindex = l->ifindex;
		pi->link_fd[0] = pi->link_fd[1] = -1;
	}
	if (pi->link_fd[egress] >= 0 ||
	    bpf_link_update(l->fd, bpf_program__fd(prog_for(p, l->ifindex, egress)), NULL))
		return pi->link_fd[egress] >= 0 ? -EEXIST : -errno;
	pi->link_fd[egress] = l->fd;
	return 0;
}

static int raw_socket(int *raw_fd);

int kbal_packet_init(struct kbal_packet *p, const char *pin_dir,
		     const struct kbal_pkt_link *links, unsigned nlinks)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	unsigned adopted = 0;
	int err;

	memset(p, 0, sizeof(*p));
	p->pkt_fd = p->raw_fd = p->events_fd = -1;
	p->lo = if_nametoindex("lo");
	/* shares kbal_stats and the state maps with the sockmap object
	 * through the pins; kbal_pkt is its own */
	p->skel = p->lo ? packet_bpf__open_opts(&opts) : NULL;
	if (!p->skel) {
		err = -errno;
		goto fail;
	}
	err = kbal_maps_stats_fit(p->skel->maps.kbal_stats);
	if (!err)
		err = packet_bpf__load(p->skel);
	if (err) {
		log_err("loading the packet splice program: %s", strerror(-err));
		goto fail;
	}
	p->pkt_fd = bpf_map__fd(p->skel->maps.kbal_pkt);
	p->events_fd = bpf_map__fd(p->skel->maps.kbal_pkt_events);
	p->live_len = sysconf(_SC_PAGESIZE);
	p->live = mmap(NULL, p->live_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       bpf_map__fd(p->skel->maps.kbal_pkt_live), 0);
	if (p->live == MAP_FAILED) {
		p->live = NULL;
		err = -errno;
		log_err("mmap of %s: %s", KBAL_MAP_PKT_LIVE, strerror(-err));
		goto fail;
	}
	p->seen_len = ((size_t)KBAL_MAX_FLOWS * 2 * sizeof(struct kbal_pkt_seen) + p->live_len - 1) /
		      p->live_len * p->live_len;
	p->seen = mmap(NULL, p->seen_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       bpf_map__fd(p->skel->maps.kbal_pkt_seen), 0);
	p->slot_used = calloc(KBAL_MAX_FLOWS, 1);
	if (p->seen == MAP_FAILED || !p->slot_used) {
		p->seen = p->seen == MAP_FAILED ? NULL : p->seen;
		err = -ENOMEM;
		log_err("mmap of %s: %s", KBAL_MAP_PKT_SEEN, strerror(errno));
		goto fail;
	}
	for (; adopted < nlinks; adopted++) {
		err = adopt_link(p, &links[adopted]);
		if (err) {
			log_err("packet splice: taking over the tcx link on ifindex %d: %s",
				links[adopted].ifindex, strerror(-err));
			goto fail;
		}
	}
	/* lo now (unless a link there was taken over); other interfaces
	 * when a flow's addresses are on them */
	raw_socket(&p->raw_fd);   /* a descriptor of kbald's own, counted at start */
	err = attach_if(p, p->lo);
	if (err)
		goto fail;
	return 0;
fail:
	for (unsigned i = adopted; i < nlinks; i++)
		close(links[i].fd);
	kbal_packet_fini(p);
	return err;
}

void kbal_packet_fini(struct kbal_packet *p)
{
	for (int i = 0; i < p->nifs; i++)
		detach_if(&p->ifs[i]);
	if (p->skel) {
		bpf_map__unpin(p->skel->maps.kbal_pkt, NULL);
		bpf_map__unpin(p->skel->maps.kbal_pkt_live, NULL);
		bpf_map__unpin(p->skel->maps.kbal_pkt_seen, NULL);
		bpf_map__unpin(p->skel->maps.kbal_pkt_events, NULL);
		bpf_map__unpin(p->skel->maps.kbal_hosts, NULL);
		bpf_map__unpin(p->skel->maps.kbal_services, NULL);
		packet_bpf__destroy(p->skel);
	}
	if (p->raw_fd >= 0)
		close(p->raw_fd);
	if (p->live)
		munmap(p->live, p->live_len);
	if (p->seen)
		munmap(p->seen, p->seen_len);
	free(p->slot_used);
	memset(p, 0, sizeof(*p));
	p->pkt_fd = p->raw_fd = p->events_fd = -1;
}

/* The interface that holds local address a (network order), 0 if none. */
static int loopback_addr(uint32_t a)
{
	return (ntohl(a) >> 24) == 127;
}

static int ifindex_of(struct kbal_packet *p, uint32_t a)
{
	struct ifaddrs *ifa, *i;
	uint64_t now;

	if (loopback_addr(a))
		return p->lo;
	for (int n = 0; n < p->naddrs; n++)
		if (p->addrs[n].addr == a)
			return p->addrs[n].ifindex;
	/* an address not seen before: read them again, once a second */
	now = now_ns();
	if (p->addrs_read_ns && now - p->addrs_read_ns < 1000000000ull)
		return 0;
	p->addrs_read_ns = now;
	if (getifaddrs(&ifa))
		return 0;
	p->naddrs = 0;
	for (i = ifa; i && p->naddrs < KBAL_PKT_MAX_ADDRS; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		p->addrs[p->naddrs].addr = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		p->addrs[p->naddrs].ifindex = if_nametoindex(i->ifa_name);
		p->naddrs++;
	}
	freeifaddrs(ifa);
	for (int n = 0; n < p->naddrs; n++)
		if (p->addrs[n].addr == a)
			return p->addrs[n].ifindex;
	return 0;
}

/* The interface by which kbald reaches address a (network order): the
 * route's, found by connecting a UDP socket (nothing is sent); 0 if none. */
static int ifindex_towards(struct kbal_packet *p, uint32_t a)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = a,
				  .sin_port = htons(9) }, me;
	socklen_t len = sizeof(me);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ifindex = 0;

	if (fd < 0)
		return 0;
	if (!connect(fd, (struct sockaddr *)&to, sizeof(to)) &&
	    !getsockname(fd, (struct sockaddr *)&me, &len))
		ifindex = ifindex_of(p, me.sin_addr.s_addr);
	close(fd);
	return ifindex;
}

int kbal_packet_hosts(struct kbal_packet *p, const uint32_t addrs[KBAL_MAX_HOSTS],
		      const struct kbal_service *svc, unsigned nsvc)
{
	struct kbal_host hosts[KBAL_MAX_HOSTS] = {};
	int fd = bpf_map__fd(p->skel->maps.kbal_hosts), err = 0;
	char a[INET_ADDRSTRLEN], name[IF_NAMESIZE];
	unsigned n = 0;

	p->host_id = 0;
	for (unsigned id = 1; id < KBAL_MAX_HOSTS; id++) {
		if (!addrs[id] || !ifindex_of(p, addrs[id]) || loopback_addr(addrs[id]))
			continue;
		if (p->host_id) {
			log_err("KbalHost: hosts %u and %u are both addresses of this host",
				p->host_id, id);
			return -EINVAL;
		}
		p->host_id = id;
	}
	for (unsigned id = 1; id < KBAL_MAX_HOSTS; id++) {
		int ifindex;

		if (!addrs[id] || id == p->host_id)
			continue;
		inet_ntop(AF_INET, &addrs[id], a, sizeof(a));
		ifindex = ifindex_towards(p, addrs[id]);
		if (!ifindex || ifindex == p->lo) {
			log_warn("KbalHost %u %s: no route to it from here (or it is this host's "
				 "own): nothing is sent to it", id, a);
			continue;
		}
		/* its packets arrive here, and here they are sent on */
		if ((err = attach_if(p, ifindex)))
			return err;
		hosts[id].addr = addrs[id];
		hosts[id].ifindex = ifindex;
		n++;
		log_info("KbalHost %u: %s, by %s", id, a,
			 if_indextoname(ifindex, name) ? name : "?");
	}
	/* a restart in place finds the last image's: its Listen may differ */
	{
		struct kbal_service k;
		int sfd = bpf_map__fd(p->skel->maps.kbal_services);

		while (bpf_map_get_next_key(sfd, NULL, &k) == 0)
			if (bpf_map_delete_elem(sfd, &k))
				break;
	}
	for (unsigned i = 0; i < nsvc; i++) {
		__u8 one = 1;

		if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.kbal_services), &svc[i], &one,
					BPF_ANY)) {
			err = -errno;
			log_err("%s: %s", KBAL_MAP_SERVICES, strerror(-err));
			return err;
		}
	}
	hosts[0].self = p->host_id;
	hosts[0].peers = n;
	/* the peers first, entry 0 (which turns the second chance on) last */
	for (int id = KBAL_MAX_HOSTS - 1; id >= 0; id--) {
		__u32 k = id;

		if (bpf_map_update_elem(fd, &k, &hosts[id], BPF_ANY)) {
			err = -errno;
			log_err("%s: %s", KBAL_MAP_HOSTS, strerror(-err));
			return err;
		}
	}
	if (p->host_id)
		log_info("KbalHost: this host is %u; its joined flows carry it in their "
			 "TSvals", p->host_id);
	else if (n)
		log_warn("KbalHost: none of the addresses is this host's: its joined flows "
			 "carry no id (no other host can send their packets here)");
	return 0;
}

static void key_of(struct kbal_pkt_key *k, const struct sockaddr_in *src,
		   const struct sockaddr_in *dst)
{
	memset(k, 0, sizeof(*k));
	k->saddr = src->sin_addr.s_addr;
	k->daddr = dst->sin_addr.s_addr;
	k->sport = src->sin_port;
	k->dport = dst->sin_port;
}

/* kbal_pkt_live: up before a flow's first entry is written, down once
 * its entries are gone, so that the program never skips a flow's packet */
static int count_flow(struct kbal_packet *p, struct kbal_pkt_flow *fl)
{
	uint32_t s;

	if (fl->counted)
		return 0;
	/* a slot in kbal_pkt_seen: the next free one from a rotating cursor */
	for (uint32_t i = 0; i < KBAL_MAX_FLOWS; i++) {
		s = (p->slot_next + i) % KBAL_MAX_FLOWS;
		if (!p->slot_used[s])
			goto found;
	}
	return -ENOSPC;
found:
	p->slot_used[s] = 1;
	p->slot_next = s + 1;
	fl->slot = s;
	/* zeroed and this flow's before any entry names it */
	for (int d = 0; d < 2; d++) {
		memset(&p->seen[2 * s + d], 0, sizeof(p->seen[0]));
		__atomic_store_n(&p->seen[2 * s + d].gen, fl->gen, __ATOMIC_RELEASE);
	}
	fl->counted = 1;
	__atomic_fetch_add(p->live, 1, __ATOMIC_SEQ_CST);
	return 0;
}

void kbal_packet_claim(struct kbal_packet *p, const struct kbal_pkt_flow *fl)
{
	if (p->slot_used && fl->counted && fl->slot < KBAL_MAX_FLOWS)
		p->slot_used[fl->slot] = 1;
	/* new flows' generations go on after the ones taken over: a flow on
	 * the 4-tuple of an old one must not share its generation, which is
	 * what tells whose entries are whose */
	if ((int16_t)(fl->gen - p->gen) > 0)
		p->gen = fl->gen;
}

static void uncount_flow(struct kbal_packet *p, struct kbal_pkt_flow *fl)
{
	if (!fl->counted)
		return;
	fl->counted = 0;
	p->slot_used[fl->slot] = 0;
	__atomic_fetch_sub(p->live, 1, __ATOMIC_SEQ_CST);
}

static int addr_of(int fd, int peer, const struct sockaddr_in *known, struct sockaddr_in *out)
{
	socklen_t l = sizeof(*out);

	if (known) {
		*out = *known;
		return 0;
	}
	return (peer ? getpeername(fd, (struct sockaddr *)out, &l) :
		       getsockname(fd, (struct sockaddr *)out, &l)) ? -errno : 0;
}

/*
 * A sender's segments are at most half the largest window its peer ever
 * announced (tcp_bound_to_half_wnd), and that largest window never goes
 * down, whatever is announced later. After the switch the member's peer is
 * the client, but the largest window it knows is the one kbald's
 * member-side socket announced (in its SYN, already 64 KB); against a
 * client whose whole window is smaller than such a segment, the member
 * sends only when its persist timer fires (sender-side silly window
 * avoidance: one window per 200 ms or more). So where the client's window
 * is smaller than a segment, kbald's member-side socket gets a receive
 * buffer no larger, before its SYN: every window it announces, and so the
 * member's segments, fit the client's. (Only such clients: for any other,
 * the member's segments fit the client's window anyway.)
 */
void kbal_packet_size_member(int mfd, int cfd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int v;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof(ti.tcpi_snd_wnd) ||
	    !ti.tcpi_snd_wnd || ti.tcpi_snd_wnd >= ti.tcpi_advmss)
		return;
	v = (int)ti.tcpi_snd_wnd;
	setsockopt(mfd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

/*
 * Where the client-side socket's send sequence starts (its first byte
 * after the SYN), so that the handover can tell the end of its send queue
 * without selecting that queue in repair mode (read_state()). Read here,
 * with nothing unsent in the queue (nothing of the response written yet):
 * the queue's end less what was acked and what is queued. Not known (and
 * the handover reads the queue as before) if something is unsent.
 */
static int repair(int fd, int on);
static int send_end(int fd, uint32_t send_base, struct tcp_info *ti, uint32_t *end);

static void learn_send_base(int cfd, struct kbal_pkt_flow *fl)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint32_t ws, end0;
	int q = TCP_SEND_QUEUE, ok;

	fl->send_base_known = 0;
	if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ti.tcpi_notsent_bytes ||
	    repair(cfd, 1))
		return;
	len = sizeof(ws);
	ok = !setsockopt(cfd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) &&
	     !getsockopt(cfd, IPPROTO_TCP, TCP_QUEUE_SEQ, &ws, &len) &&
	     !send_end(cfd, 0, &ti, &end0);
	kbal_packet_thaw(cfd, 1);
	if (ok) {
		fl->send_base = ws - end0;
		fl->send_base_known = 1;
	}
}

int kbal_packet_learn(struct kbal_packet *p, int cfd, int mfd, struct kbal_pkt_flow *fl,
			    const struct sockaddr_in *cpeer, const struct sockaddr_in *mlocal,
			    const struct sockaddr_in *mpeer)
{
	struct sockaddr_in cl, cp, ml, mp;
	struct kbal_pkt_rw learn = { .action = KBAL_PKT_LEARN };
	int ifindex, err;

	fl->gen = learn.gen = ++p->gen;

	/* kbald's own address towards the client: the listener may be bound
	 * to any address, so it is always asked */
	if ((err = addr_of(cfd, 0, NULL, &cl)) || (err = addr_of(cfd, 1, cpeer, &cp)) ||
	    (err = addr_of(mfd, 0, mlocal, &ml)) || (err = addr_of(mfd, 1, mpeer, &mp)))
		return err;
	/* A guess from the addresses (routing may differ): the program
	 * notes in the LEARN entries where the peers' packets really come
	 * in, and a flow whose packets it has not seen is not joined. */
	if ((ifindex = ifindex_of(p, cl.sin_addr.s_addr)))
		attach_if(p, ifindex);
	if ((ifindex = ifindex_of(p, ml.sin_addr.s_addr)))
		attach_if(p, ifindex);
	key_of(&fl->up, &cp, &cl);
	key_of(&fl->hold_c, &cl, &cp);
	key_of(&fl->down, &mp, &ml);
	key_of(&fl->drop_m, &ml, &mp);
	struct kbal_pkt_key keys[2] = { fl->up, fl->down };
	struct kbal_pkt_rw vals[2] = { learn, learn };
	__u32 n = 2;

	learn_send_base(cfd, fl);
	if ((err = count_flow(p, fl)))
		return err;
	vals[0].slot = 2 * fl->slot;
	vals[1].slot = 2 * fl->slot + 1;
	if (bpf_map_update_batch(p->pkt_fd, keys, vals, &n, NULL)) {
		err = -errno;
		kbal_packet_forget(p, fl);
		return err;
	}
	return 0;
}

/* Remove the entry at k if it is this flow's. The program deletes (a SYN
 * after the end) but never creates, and kbald is the only writer: the
 * lookup and the delete cannot be split by a new owner. */
static void forget_key(struct kbal_packet *p, const struct kbal_pkt_key *k, uint16_t gen)
{
	struct kbal_pkt_rw rw;

	if (bpf_map_lookup_elem(p->pkt_fd, k, &rw) == 0 && rw.gen == gen)
		bpf_map_delete_elem(p->pkt_fd, k);
}

void kbal_packet_forget(struct kbal_packet *p, struct kbal_pkt_flow *fl)
{
	if (!fl->lost) {
		/* all four are this flow's: one syscall. The batch stops at
		 * the first key missing (not written yet, or deleted by the
		 * program at a SYN since the last poll): then one by one. */
		struct kbal_pkt_key keys[4] = { fl->down, fl->drop_m, fl->up, fl->hold_c };
		__u32 n = 4;

		if (bpf_map_delete_batch(p->pkt_fd, keys, &n, NULL) == 0 && n == 4) {
			uncount_flow(p, fl);
			return;
		}
	}
	forget_key(p, &fl->up, fl->gen);
	forget_key(p, &fl->down, fl->gen);
	forget_key(p, &fl->hold_c, fl->gen);
	forget_key(p, &fl->drop_m, fl->gen);
	uncount_flow(p, fl);
}

struct tcp_state {
	uint32_t snd_nxt, rcv_nxt, tsval;  /* snd_nxt: the send queue's end (write_seq) */
	uint32_t snd_una, snd_sent;    /* the first byte not acknowledged, not sent */
	uint32_t mss_clamp;            /* the peer's MSS (TCP_MAXSEG in repair mode) */
	uint32_t window_clamp;         /* the largest window this socket announces */
	struct tcp_info ti;
	struct tcp_repair_window win;  /* the peer's window (snd_wnd, from snd_una) and
	                                  the one this socket promised (rcv_wup + rcv_wnd) */
};

static int repair(int fd, int on)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ? -errno : 0;
}

/*
 * Out of repair mode, quietly (no window probe). The kernel's repair mode
 * overrides SO_REUSEADDR and leaving it clears the flag: a client-side
 * socket (accepted, so it had the listener's) gets it back, or once it is
 * closed and lingering a restarted kbald could not bind its listener.
 */
void kbal_packet_thaw(int fd, int reuseaddr)
{
	int one = 1;

	repair(fd, TCP_REPAIR_OFF_NO_WP);
	if (reuseaddr)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
}

/* send_base (the first byte's sequence number) and the bytes acked and
 * queued since: the send queue's end, without selecting it in repair mode.
 * An ACK between the two reads moves bytes from one to the other: read
 * again until the queue stayed the same. */
static int send_end(int fd, uint32_t send_base, struct tcp_info *ti, uint32_t *end)
{
	for (int tries = 0; tries < 8; tries++) {
		socklen_t len = sizeof(*ti);
		int q1, q2;

		if (ioctl(fd, SIOCOUTQ, &q1) ||
		    getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) ||
		    ioctl(fd, SIOCOUTQ, &q2))
			return -errno;
		if (q1 == q2) {
			*end = send_base + (uint32_t)ti->tcpi_bytes_acked + (uint32_t)q1;
			return 0;
		}
	}
	return -EAGAIN;
}

/*
 * in repair mode: the queues' sequence numbers and the socket's clock.
 * send_base: where the send queue's sequence numbers start, if known
 * (kbal_packet_learn()): then the send queue is not selected. A socket in
 * repair mode with its send queue selected "sends" whatever the kernel
 * transmits from it meanwhile without it leaving (tcp_write_xmit(): an ACK
 * processed from the backlog at release_sock(), the TSQ tasklet deferred
 * to it): on kbald's live client-side socket, with the end of a first
 * response not sent yet (the client's window full), those bytes were
 * lost until a retransmission timeout (seen: snd_nxt jumping to write_seq
 * past the client's window, a loss probe, an RTO 200 ms later).
 */
static int read_state(int fd, struct tcp_state *st, const uint32_t *send_base)
{
	int q;
	socklen_t len = sizeof(uint32_t);

	q = TCP_SEND_QUEUE;
	if (!send_base &&
	    (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	     getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &st->snd_nxt, &len)))
		return -errno;
	q = TCP_RECV_QUEUE;
	len = sizeof(uint32_t);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &st->rcv_nxt, &len))
		return -errno;
	/* the receive queue stays selected: rcv_nxt() reads it again */
	len = sizeof(uint32_t);
	if (getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &st->tsval, &len))
		return -errno;
	len = sizeof(st->ti);
	if (send_base) {
		int err = send_end(fd, *send_base, &st->ti, &st->snd_nxt);

		if (err)
			return err;
	} else if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &st->ti, &len)) {
		return -errno;
	}
	len = sizeof(uint32_t);
	if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &st->mss_clamp, &len))
		return -errno;
	len = sizeof(st->win);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &st->win, &len))
		return -errno;
	len = sizeof(uint32_t);
	if (getsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &st->window_clamp, &len))
		return -errno;
	if (ioctl(fd, SIOCOUTQ, &q))
		return -errno;
	st->snd_una = st->snd_nxt - (uint32_t)q;
	st->snd_sent = st->snd_nxt - st->ti.tcpi_notsent_bytes;
	return 0;
}

/* in repair mode, after read_state(): the receive queue's sequence now */
static uint32_t rcv_nxt(int fd)
{
	uint32_t seq = 0;
	socklen_t len = sizeof(seq);

	getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &len);
	return seq;
}

/* rewritten packets leave as if kbald's socket of 4-tuple k had sent them */
static void send_as(struct kbal_pkt_rw *rw, const struct kbal_pkt_key *k)
{
	rw->saddr = k->saddr;
	rw->daddr = k->daddr;
	rw->sport = k->sport;
	rw->dport = k->dport;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * The raw socket kbald sends its own segments from (made at start, or on
 * first use where that failed). IPPROTO_RAW: it sends headers kbald
 * writes and receives nothing; a raw IPPROTO_TCP socket would get a copy
 * of every TCP packet the host receives, never read.
 */
static int raw_socket(int *raw_fd)
{
	int one = 1;

	if (*raw_fd >= 0)
		return 0;
	*raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (*raw_fd < 0 || setsockopt(*raw_fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) {
		log_warn("packet splice: a raw socket for kbald's own segments: %s",
			 strerror(errno));
		if (*raw_fd >= 0)
			close(*raw_fd);
		*raw_fd = -1;
		return -1;
	}
	return 0;
}

/* An ACK from k's source to k's destination, no data: seq, ack, the window
 * field as is (scaled), and a timestamp option if ts. */
static int send_ack(int *raw_fd, const struct kbal_pkt_key *k, uint32_t seq, uint32_t ack,
		    uint16_t win, int ts, uint32_t tsval, uint32_t tsecr)
{
	struct {
		struct iphdr ip;
		struct tcphdr tcp;
		uint8_t opt[12];
	} pkt = {};
	_Static_assert(sizeof(pkt) == 52, "IPv4 and TCP headers, NOP NOP TS");
	size_t tcplen = sizeof(pkt.tcp) + (ts ? sizeof(pkt.opt) : 0);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr.s_addr = k->daddr };
	uint32_t sum = 0;
	const uint16_t *w;

	if (raw_socket(raw_fd))
		return -1;
	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.ttl = 64;
	pkt.ip.protocol = IPPROTO_TCP;
	pkt.ip.tot_len = htons(sizeof(pkt.ip) + tcplen);
	pkt.ip.saddr = k->saddr;
	pkt.ip.daddr = k->daddr;               /* id and checksum: the kernel's */
	pkt.tcp.source = k->sport;
	pkt.tcp.dest = k->dport;
	pkt.tcp.seq = htonl(seq);
	pkt.tcp.ack_seq = htonl(ack);
	pkt.tcp.doff = tcplen / 4;
	pkt.tcp.ack = 1;
	pkt.tcp.window = htons(win);
	if (ts) {
		uint32_t v = htonl(tsval), e = htonl(tsecr);

		pkt.opt[0] = pkt.opt[1] = 1;   /* NOP NOP */
		pkt.opt[2] = 8;                /* TS */
		pkt.opt[3] = 10;
		memcpy(&pkt.opt[4], &v, 4);
		memcpy(&pkt.opt[8], &e, 4);
	}
	/* pseudo header, then the TCP header and its options */
	sum += (k->saddr & 0xffff) + (k->saddr >> 16) + (k->daddr & 0xffff) +
	       (k->daddr >> 16) + htons(IPPROTO_TCP) + htons(tcplen);
	w = (const uint16_t *)&pkt.tcp;
	for (size_t n = 0; n < tcplen / 2; n++)
		sum += w[n];
	pkt.tcp.check = csum_fold(sum);
	if (sendto(*raw_fd, &pkt, sizeof(pkt.ip) + tcplen, 0, (struct sockaddr *)&dst,
		   sizeof(dst)) < 0) {
		log_debug("packet splice: an ACK of kbald's own: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* one probe: an ACK to k's destination from k's source, seq 1.5 GiB before
 * what the peer expects (outside any window) */
static void send_probe(int *raw_fd, const struct kbal_pkt_key *k, uint32_t expected, uint32_t ack)
{
	send_ack(raw_fd, k, expected - 0x60000000u, ack, 0, 0, 0, 0);
}

/*
 * The largest segment the peer of socket st may send: its MSS is at most
 * what kbald advertised, and its segments at most half the largest window
 * kbald's socket announced (tcp_bound_to_half_wnd), which is at most the
 * socket's window clamp. After the switch the peer sends to the other
 * peer: a segment larger than any window that one ever announced would
 * only go out by the persist timer (kbal_packet_size_member()).
 */
static uint32_t seg_bound(const struct tcp_state *st)
{
	uint32_t half = st->window_clamp / 2;

	return st->ti.tcpi_advmss < half ? st->ti.tcpi_advmss : half;
}

#define OPTS_COMPARED (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE | TCPI_OPT_ECN)

/* the window field that announces at most bytes at scale (rounded down) */
static uint16_t win_field(int32_t bytes, int scale)
{
	if (bytes <= 0)
		return 0;
	bytes >>= scale;
	return bytes > 65535 ? 65535 : (uint16_t)bytes;
}

/*
 * Each peer believes the window that kbald's socket of its leg last
 * announced; after the switch its sender must keep to the other peer's.
 * Linux takes a smaller window only from a segment that acknowledges new
 * data or comes after the one that announced the last (tcp_may_update_window:
 * a later SEG.SEQ than snd_wl1, or the same and a larger window, or a
 * zero one). The first packet the other peer's side sends after the switch
 * is neither: the client's next request starts at the very sequence number
 * of kbald's last ACK to the member and acknowledges nothing new, so a
 * member to which kbald's socket (its receive buffer autotuned by the
 * first response) had announced 1.5 MB kept sending into it where the
 * client had announced 120 KB: segments beyond the client's window,
 * dropped (Linux 6.17+), never SACKed, and a retransmission timeout.
 *
 * So where a peer was promised more than the other peer offers, kbald
 * retracts the promise before any packet is joined: from its own 4-tuple,
 * an ACK with a zero window (which Linux takes from a segment at snd_wl1),
 * then one with the other peer's window (a larger one at the same
 * sequence number: taken too). Neither carries data nor acknowledges
 * anything new; what the peer may send is then at most what the other
 * peer will accept, and the other peer's own packets only ever widen it.
 * The member leg's two go out before the entries (the DROP entry would
 * swallow them); the client side's socket stays live until the switch,
 * so its HOLD entry also caps the window of what it still sends.
 * A handover refused after this leaves a peer with a smaller window than
 * kbald's socket promised, which that socket's next segment widens again.
 */
static void retract_windows(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			    const struct tcp_state *c, const struct tcp_state *m,
			    uint32_t c_sent, int ts, uint32_t client_tsval, uint32_t member_tsval,
			    struct kbal_pkt_rw *hold)
{
	int ms = m->ti.tcpi_rcv_wscale, cs = c->ti.tcpi_rcv_wscale;
	/* member -> client: the client's right edge as kbald's client-side
	 * socket last heard it, past the end of the first response
	 * (c->snd_nxt: pending included), is what the member may fill */
	uint16_t f = win_field((int32_t)(c->snd_una + c->win.snd_wnd - c->snd_nxt), ms);
	uint32_t promised = m->win.rcv_wup + m->win.rcv_wnd - m->rcv_nxt;

	if ((uint32_t)f << ms < promised) {
		send_ack(&p->raw_fd, &fl->drop_m, m->snd_nxt, m->rcv_nxt, 0, ts, m->tsval,
			 member_tsval);
		if (f)
			send_ack(&p->raw_fd, &fl->drop_m, m->snd_nxt, m->rcv_nxt, f, ts, m->tsval,
				 member_tsval);
		log_debug("packet path: the member's window retracted from %u to %u "
			  "(the client's)", promised, (uint32_t)f << ms);
	}
	/* client -> member: the member's right edge, from what it acked (all
	 * kbald sent: m->snd_una == m->snd_nxt), is what the client may fill */
	f = win_field((int32_t)(m->snd_una + m->win.snd_wnd - m->snd_nxt), cs);
	promised = c->win.rcv_wup + c->win.rcv_wnd - c->rcv_nxt;
	if ((uint32_t)f << cs < promised) {
		send_ack(&p->raw_fd, &fl->hold_c, c_sent, c->rcv_nxt, 0, ts, c->tsval,
			 client_tsval);
		if (f)
			send_ack(&p->raw_fd, &fl->hold_c, c_sent, c->rcv_nxt, f, ts, c->tsval,
				 client_tsval);
		hold->flags |= KBAL_PKT_WIN_CAP;
		hold->win_cap = f;
		log_debug("packet path: the client's window retracted from %u to %u "
			  "(the member's)", promised, (uint32_t)f << cs);
	}
}

/* what the program saw of the two peers before the handover */
struct seen_peers {
	struct kbal_pkt_rw up, down;   /* ifindex, last_tsval of each LEARN entry */
	uint32_t unsent;               /* bytes kbald's client-side socket sends after
				        * the entries: the program learns from them */
	int if_learn;                  /* the client's interface guessed: learned */
};

/*
 * Step 0, in memory (kbal_pkt_seen): where each peer's packets come in and
 * its clock. A handover before the first response is written (pending)
 * may come before any packet of the client's since its request: a client
 * on 127/8 comes in by lo; another's interface is guessed from kbald's
 * address towards it, and the program learns the real one from kbald's
 * first packet to it (KBAL_PKT_IF_LEARN), as it learns the client's clock
 * (KBAL_PKT_TS_LEARN). The same holds after the write while kbald's socket
 * still holds bytes it has not sent (a client slow to read): they go out
 * after the entries exist, and the client cannot switch before it acks
 * them (asked of the socket only when needed: a syscall).
 */
static int handover_seen(struct kbal_packet *p, const struct kbal_pkt_flow *fl, int cfd,
			 uint32_t pending, struct seen_peers *sp, enum kbal_flow_why *why)
{
	const struct kbal_pkt_seen *su = &p->seen[2 * fl->slot], *sd = su + 1;

	sp->up.ifindex = __atomic_load_n(&su->ifindex, __ATOMIC_ACQUIRE);
	sp->up.last_tsval = __atomic_load_n(&su->last_tsval, __ATOMIC_ACQUIRE);
	sp->down.ifindex = __atomic_load_n(&sd->ifindex, __ATOMIC_ACQUIRE);
	sp->down.last_tsval = __atomic_load_n(&sd->last_tsval, __ATOMIC_ACQUIRE);
	sp->unsent = pending;
	if (!sp->up.ifindex && !sp->unsent) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		if (!getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &tl))
			sp->unsent = ti.tcpi_notsent_bytes;
	}
	if (!sp->up.ifindex && sp->unsent) {
		if (loopback_addr(fl->up.saddr))
			sp->up.ifindex = p->lo;
		else if ((sp->up.ifindex = ifindex_of(p, fl->up.daddr)))
			sp->if_learn = 1;
		/* a service address on lo (several hosts behind a router,
		 * docs/scale-out.md) says nothing of where the client is: the
		 * route towards it does */
		if (sp->if_learn && sp->up.ifindex == (uint32_t)p->lo)
			sp->up.ifindex = ifindex_towards(p, fl->up.saddr);
	}
	/* where the peers' packets came in: each leg's rewritten packets
	 * leave by the other's interface (on lo they just go on) */
	if (!sp->up.ifindex || !sp->down.ifindex) {
		log_debug("packet path: no packet seen of the %s", sp->up.ifindex ? "member" :
			  "client");
		*why = KBAL_WHY_UNSEEN;
		return -EPROTO;
	}
	if ((sp->up.ifindex == (uint32_t)p->lo) != (sp->down.ifindex == (uint32_t)p->lo)) {
		*why = KBAL_WHY_LEGS;
		return -EPROTO;
	}
	return 0;
}

/*
 * Step 1, on the sockets' state: what makes two legs joinable. The same
 * TCP options; both clocks known (or to be learned); each leg's segments
 * fitting the other leg (the member sends at most the MSS kbald advertised
 * to it, and the client must accept that much, and no segment may exceed
 * the other peer's largest window; tcpi_snd_mss is no measure: the kernel
 * also bounds it by half the largest window seen); and quiet: what each
 * socket received is what kbald read, the member has all kbald sent.
 */
static int handover_check(const struct tcp_state *c, const struct tcp_state *m, int mfd,
			  uint64_t rd_c, uint64_t rd_m, const struct seen_peers *sp,
			  enum kbal_flow_why *why)
{
	if ((c->ti.tcpi_options & OPTS_COMPARED) != (m->ti.tcpi_options & OPTS_COMPARED)) {
		*why = KBAL_WHY_OPTIONS;
		return -EPROTO;
	}
	if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS &&
	    (!sp->down.last_tsval ||
	     (!sp->up.last_tsval && !sp->unsent && !c->ti.tcpi_notsent_bytes))) {
		log_debug("packet path: no clock seen of the %s", sp->down.last_tsval ? "client" :
			  "member");
		*why = KBAL_WHY_UNSEEN;
		return -EPROTO;
	}
	if (m->ti.tcpi_advmss > c->mss_clamp || c->ti.tcpi_advmss > m->mss_clamp ||
	    seg_bound(m) > c->win.max_window || seg_bound(c) > m->win.max_window) {
		log_debug("packet path: MSS: kbald advertised %u to the member, %u to the client; "
			  "the client's MSS %u, the member's %u; segments up to %u and %u, "
			  "largest windows %u and %u", m->ti.tcpi_advmss,
			  c->ti.tcpi_advmss, c->mss_clamp, m->mss_clamp, seg_bound(m), seg_bound(c),
			  c->win.max_window, m->win.max_window);
		*why = KBAL_WHY_MSS;
		return -EPROTO;
	}
	if (c->ti.tcpi_bytes_received != rd_c ||
	    (rd_m == KBAL_PKT_RD_QUEUE ? kbal_sock_unread(mfd) != 0 :
	     m->ti.tcpi_bytes_received != rd_m) ||
	    m->ti.tcpi_unacked || m->ti.tcpi_notsent_bytes) {
		*why = KBAL_WHY_BUSY;
		return -EAGAIN;
	}
	return 0;
}

/*
 * Step 2: the four entries. up turns the client's packets into the
 * member-side socket's numbers (SWITCH until the switch), down the
 * member's into the client-side socket's; hold and drop are kbald's own
 * sockets'. Each leg's clock is mapped onto the other's, 1 ms ahead so that
 * a translated TSval never goes back (PAWS); TSecr gets the exact inverse,
 * so that RTT samples stay exact.
 */
static void handover_entries(const struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			     const struct tcp_state *c, const struct tcp_state *m,
			     const struct seen_peers *sp, struct kbal_pkt_rw *up,
			     struct kbal_pkt_rw *down, struct kbal_pkt_rw *hold)
{
	up->gen = down->gen = fl->gen;
	up->slot = 2 * fl->slot;
	down->slot = 2 * fl->slot + 1;
	up->action = KBAL_PKT_SWITCH;
	send_as(up, &fl->drop_m);
	up->seq_delta = m->snd_nxt - c->rcv_nxt;
	up->ack_delta = m->rcv_nxt - c->snd_nxt;
	up->win_shift = (int)c->ti.tcpi_snd_wscale - (int)m->ti.tcpi_rcv_wscale;
	up->ifindex = sp->down.ifindex == (uint32_t)p->lo ? 0 : sp->down.ifindex;
	up->switch_ack = c->snd_nxt;
	up->switch_seq = c->rcv_nxt;
	down->action = KBAL_PKT_REWRITE;
	send_as(down, &fl->hold_c);
	down->seq_delta = c->snd_nxt - m->rcv_nxt;
	down->ack_delta = c->rcv_nxt - m->snd_nxt;
	down->win_shift = (int)m->ti.tcpi_snd_wscale - (int)c->ti.tcpi_rcv_wscale;
	down->switch_seq = m->rcv_nxt;   /* the member's bytes are counted from it */
	down->ifindex = sp->up.ifindex == (uint32_t)p->lo ? 0 : sp->up.ifindex;
	if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS && p->host_id) {
		/* this host's id in every TSval the client gets
		 * (docs/scale-out.md, "Second chance") */
		kbal_pkt_ts_id(c->tsval, sp->down.last_tsval, &down->tsval_delta, &up->ts_base,
			       &up->ts_mbase, &hold->tsval_delta, &up->tsecr_delta);
		down->host_id = hold->host_id = p->host_id;
		up->flags |= KBAL_PKT_ID_ECHO;
	} else if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS) {
		down->tsval_delta = c->tsval - sp->down.last_tsval + 1;
		up->tsecr_delta = -down->tsval_delta;
	}
	if (c->ti.tcpi_options & TCPI_OPT_TIMESTAMPS) {
		if (sp->up.last_tsval) {
			up->tsval_delta = m->tsval - sp->up.last_tsval + 1;
			down->tsecr_delta = -up->tsval_delta;
		} else {
			/* the program works out both from the client's
			 * clock, before the client can switch */
			up->flags |= KBAL_PKT_TS_LEARN;
			up->last_tsval = m->tsval + 1;
			send_as(hold, &fl->down);
		}
	}
	if (sp->if_learn) {
		up->flags |= KBAL_PKT_IF_LEARN;
		send_as(hold, &fl->down);
	}
}

int kbal_packet_handover(struct kbal_packet *p, int cfd, int mfd, uint64_t rd_c, uint64_t rd_m,
			 uint32_t pending, struct kbal_pkt_flow *fl, enum kbal_flow_why *why)
{
	struct tcp_state c = {}, m = {};
	struct seen_peers sp = {};
	struct kbal_pkt_rw up = {}, down = {};
	struct kbal_pkt_rw hold = { .action = KBAL_PKT_HOLD, .gen = fl->gen };
	struct kbal_pkt_rw drop = { .action = KBAL_PKT_DROP, .gen = fl->gen };
	int err;

	*why = KBAL_WHY_NONE;
	if (!fl->counted || fl->lost) {
		fl->lost = 1;
		*why = KBAL_WHY_MAP;
		return -ENOENT;
	}
	if ((err = handover_seen(p, fl, cfd, pending, &sp, why)))
		return err;
	/* 1. freeze the member side for good, peek at the client side */
	if ((err = repair(mfd, 1)))
		goto fail_why;
	if ((err = repair(cfd, 1))) {
		kbal_packet_thaw(mfd, 0);
		goto fail_why;
	}
	err = read_state(cfd, &c, fl->send_base_known ? &fl->send_base : NULL);
	if (!err)
		err = read_state(mfd, &m, NULL);
	if (err) {
		*why = KBAL_WHY_REPAIR;
		goto thaw;
	}
	/* the client-side socket as it will be once kbald has written the
	 * rest of the first response (its rcv_nxt, what rcv_nxt() compares
	 * in step 3, is not moved) */
	c.snd_nxt += pending;
	if ((err = handover_check(&c, &m, mfd, rd_c, rd_m, &sp, why)))
		goto thaw;

	/* 2. the entries; no peer may go on believing a window larger than
	 * the other's (before the entries: the DROP entry would swallow the
	 * member's retraction) */
	handover_entries(p, fl, &c, &m, &sp, &up, &down, &hold);
	retract_windows(p, fl, &c, &m, c.snd_sent, !!(c.ti.tcpi_options & TCPI_OPT_TIMESTAMPS),
			sp.up.last_tsval, sp.down.last_tsval, &hold);
	{
		/* one syscall; the kernel writes them in this order: what
		 * kbald's sockets emit first */
		struct kbal_pkt_key keys[4] = { fl->drop_m, fl->hold_c, fl->down, fl->up };
		struct kbal_pkt_rw vals[4] = { drop, hold, down, up };
		__u32 n = 4;

		if (bpf_map_update_batch(p->pkt_fd, keys, vals, &n, NULL)) {
			err = -errno;
			*why = KBAL_WHY_MAP;
			goto unmap;
		}
	}
	/* 3. nothing may have reached either socket since the read */
	if (rcv_nxt(cfd) != c.rcv_nxt || rcv_nxt(mfd) != m.rcv_nxt) {
		*why = KBAL_WHY_RACE;
		err = -EAGAIN;
		goto unmap;
	}
	/* the client side goes on (it may have to retransmit), quietly */
	kbal_packet_thaw(cfd, 1);
	return 0;

unmap:
	kbal_packet_forget(p, fl);
thaw:
	kbal_packet_thaw(cfd, 1);
	kbal_packet_thaw(mfd, 0);
	return err;
fail_why:
	*why = KBAL_WHY_REPAIR;
	return err;
}

int kbal_packet_early(struct kbal_packet *p, const struct kbal_pkt_flow *fl)
{
	return fl->counted && !fl->lost &&
	       (loopback_addr(fl->up.saddr) ||
		__atomic_load_n(&p->seen[2 * fl->slot].ifindex, __ATOMIC_ACQUIRE) ||
		ifindex_of(p, fl->up.daddr));
}

int kbal_packet_poll(struct kbal_packet *p, struct kbal_pkt_flow *fl,
		     struct kbal_pkt_state *st)
{
	const struct kbal_pkt_seen *up, *down;
	uint32_t fu, fd;

	if (!fl->counted || fl->lost) {
		fl->lost = 1;
		return -ENOENT;
	}
	/* in memory (kbal_pkt_seen), not a syscall per direction */
	up = &p->seen[2 * fl->slot];
	down = up + 1;
	fu = __atomic_load_n(&up->flags, __ATOMIC_ACQUIRE);
	fd = __atomic_load_n(&down->flags, __ATOMIC_ACQUIRE);
	if ((fu | fd) & KBAL_PKT_GONE) {
		/* deleted by the program (a SYN after the end): the keys may
		 * be another flow's by now */
		fl->lost = 1;
		return -ENOENT;
	}
	st->last_ns = __atomic_load_n(&up->last_ns, __ATOMIC_RELAXED);
	if (__atomic_load_n(&down->last_ns, __ATOMIC_RELAXED) > st->last_ns)
		st->last_ns = __atomic_load_n(&down->last_ns, __ATOMIC_RELAXED);
	st->bytes_up = __atomic_load_n(&up->bytes, __ATOMIC_RELAXED);
	st->bytes_down = __atomic_load_n(&down->bytes, __ATOMIC_RELAXED);
	/* the client's packets are rewritten: kbald's client socket is out */
	st->switched = !!(fu & KBAL_PKT_SWITCHED);
	st->fins = fu & KBAL_PKT_FIN && fd & KBAL_PKT_FIN;
	st->ended = (fu | fd) & KBAL_PKT_RST || (fu & fd & KBAL_PKT_ACKED_FIN);
	return 0;
}

/* the two entries of a joined flow, if both are still this flow's */
static int joined_entries(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			  struct kbal_pkt_rw *up, struct kbal_pkt_rw *down)
{
	if (fl->lost || bpf_map_lookup_elem(p->pkt_fd, &fl->up, up) ||
	    bpf_map_lookup_elem(p->pkt_fd, &fl->down, down) || up->gen != fl->gen ||
	    down->gen != fl->gen || up->action != KBAL_PKT_REWRITE ||
	    down->action != KBAL_PKT_REWRITE)
		return -ENOENT;
	return 0;
}

int kbal_packet_exact(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
		      struct kbal_pkt_state *st)
{
	struct kbal_pkt_rw up, down;

	if (joined_entries(p, fl, &up, &down))
		return -ENOENT;
	st->bytes_up = up.bytes;
	st->bytes_down = down.bytes;
	st->last_ns = up.last_ns > down.last_ns ? up.last_ns : down.last_ns;
	return 0;
}

int kbal_packet_take_back(struct kbal_packet *p, struct kbal_pkt_flow *fl, int mfd)
{
	struct kbal_pkt_rw up, down;
	struct kbal_pkt_key keys[4] = { fl->up, fl->hold_c, fl->down, fl->drop_m };
	__u32 n = 4;

	if (bpf_map_lookup_elem(p->pkt_fd, &fl->up, &up) ||
	    bpf_map_lookup_elem(p->pkt_fd, &fl->down, &down) ||
	    up.gen != fl->gen || down.gen != fl->gen)
		return -ENOENT;
	/* switched, or the member's packets went to the client already:
	 * the member-side socket's state is no longer the connection's */
	if (up.action != KBAL_PKT_SWITCH || down.packets)
		return -EBUSY;
	/* the member-side socket first (a packet of the member meanwhile
	 * reaches it, repair mode or not), then the entries */
	kbal_packet_thaw(mfd, 0);
	if (bpf_map_delete_batch(p->pkt_fd, keys, &n, NULL) || n != 4) {
		fl->lost = 1;
		kbal_packet_forget(p, fl);
	}
	uncount_flow(p, fl);
	return 0;
}

int kbal_packet_end_prepare(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			    struct kbal_pkt_probe *pr)
{
	struct kbal_pkt_rw up, down;

	if (joined_entries(p, fl, &up, &down))
		return -ENOENT;
	/* what each peer sent last (switch_seq: the highest sequence number
	 * seen + 1, in the sender's leg) is what the other expects next */
	pr->to[0] = fl->hold_c;
	pr->seq[0] = down.switch_seq + down.seq_delta;
	pr->ack[0] = up.switch_seq;
	pr->to[1] = fl->drop_m;
	pr->seq[1] = up.switch_seq + up.seq_delta;
	pr->ack[1] = down.switch_seq;
	return 0;
}

void kbal_packet_end_probe(struct kbal_packet *p, const struct kbal_pkt_probe *pr)
{
	for (int i = 0; i < 2; i++)
		send_probe(&p->raw_fd, &pr->to[i], pr->seq[i], pr->ack[i]);
}

unsigned kbal_packet_end_stale(const char *pin_dir)
{
	struct kbal_pkt_key key, next, *prev = NULL;
	char path[PATH_MAX];
	unsigned told = 0;
	int fd, raw = -1;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, KBAL_MAP_PKT);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kbal_pkt_rw rw, rev;
		struct kbal_pkt_key rk, to;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &rw) || rw.action != KBAL_PKT_REWRITE ||
		    rw.flags & (KBAL_PKT_FIN | KBAL_PKT_RST))
			continue;
		/* the other direction's entry: keyed by what this one's packets
		 * become, reversed; the same flow if the same generation */
		rk = (struct kbal_pkt_key){ .saddr = rw.daddr, .daddr = rw.saddr,
					    .sport = rw.dport, .dport = rw.sport };
		if (bpf_map_lookup_elem(fd, &rk, &rev) || rev.action != KBAL_PKT_REWRITE ||
		    rev.gen != rw.gen || rev.flags & KBAL_PKT_RST)
			continue;
		/* this entry's sender, from kbald's side of its leg; what it
		 * expects next is what the other direction carried */
		to = (struct kbal_pkt_key){ .saddr = key.daddr, .daddr = key.saddr,
					    .sport = key.dport, .dport = key.sport };
		send_probe(&raw, &to, rev.switch_seq + rev.seq_delta, rw.switch_seq);
		told++;
	}
	if (raw >= 0)
		close(raw);
	close(fd);
	return told;
}

void kbal_packet_close_frozen(int fd)
{
	int on = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));
	close(fd);
}
