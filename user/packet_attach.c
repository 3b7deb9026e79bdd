// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * packet_attach.c - where the packet path's program runs (docs/packet.md):
 * its object loaded and its maps mapped, the tcx links on lo and on the
 * interfaces that hold a flow's addresses or reach another kbal host,
 * kbald's local addresses and the interfaces they are on.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <time.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "packet.skel.h"
#include "log.h"
#include "maps.h"
#include "packet_int.h"

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
int pkt_attach_if(struct kbal_packet *p, int ifindex)
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

int kbal_packet_init(struct kbal_packet *p, const char *pin_dir,
		     const struct kbal_pkt_link *links, unsigned nlinks)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	unsigned adopted = 0;
	int err;

	memset(p, 0, sizeof(*p));
	p->pkt_fd = p->raw_fd = p->raw_mark_fd = p->events_fd = p->back_fd = p->decide_fd = -1;
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
	p->frame_len = ((size_t)KBAL_MAX_FLOWS * 2 * sizeof(struct kbal_pkt_frame) + p->live_len - 1) /
		       p->live_len * p->live_len;
	p->frame = mmap(NULL, p->frame_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(p->skel->maps.kbal_pkt_frame), 0);
	if (p->frame == MAP_FAILED) {
		p->frame = NULL;
		err = -errno;
		log_err("mmap of %s: %s", KBAL_MAP_PKT_FRAME, strerror(-err));
		goto fail;
	}
	p->back_fd = bpf_map__fd(p->skel->maps.kbal_pkt_back);
	p->decide_fd = bpf_map__fd(p->skel->maps.kbal_pkt_decide);
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
	pkt_raw_socket(&p->raw_fd);   /* a descriptor of kbald's own, counted at start */
	pkt_raw_mark_socket(p);       /* the same (the kept sockets' ACKs) */
	err = pkt_attach_if(p, p->lo);
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
		bpf_map__unpin(p->skel->maps.kbal_pkt_frame, NULL);
		bpf_map__unpin(p->skel->maps.kbal_pkt_events, NULL);
		bpf_map__unpin(p->skel->maps.kbal_hosts, NULL);
		bpf_map__unpin(p->skel->maps.kbal_services, NULL);
		packet_bpf__destroy(p->skel);
	}
	if (p->raw_fd >= 0)
		close(p->raw_fd);
	if (p->raw_mark_fd >= 0)
		close(p->raw_mark_fd);
	if (p->live)
		munmap(p->live, p->live_len);
	if (p->seen)
		munmap(p->seen, p->seen_len);
	if (p->frame)
		munmap(p->frame, p->frame_len);
	free(p->slot_used);
	memset(p, 0, sizeof(*p));
	p->pkt_fd = p->raw_fd = p->raw_mark_fd = p->events_fd = p->back_fd = p->decide_fd = -1;
}

/* The interface that holds local address a (network order), 0 if none. */
int pkt_loopback_addr(uint32_t a)
{
	return (ntohl(a) >> 24) == 127;
}

int pkt_ifindex_of(struct kbal_packet *p, uint32_t a)
{
	struct ifaddrs *ifa, *i;
	uint64_t now;

	if (pkt_loopback_addr(a))
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
int pkt_ifindex_towards(struct kbal_packet *p, uint32_t a)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = a,
				  .sin_port = htons(9) }, me;
	socklen_t len = sizeof(me);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ifindex = 0;

	if (fd < 0)
		return 0;
	if (!connect(fd, (struct sockaddr *)&to, sizeof(to)) &&
	    !getsockname(fd, (struct sockaddr *)&me, &len))
		ifindex = pkt_ifindex_of(p, me.sin_addr.s_addr);
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
		if (!addrs[id] || !pkt_ifindex_of(p, addrs[id]) || pkt_loopback_addr(addrs[id]))
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
		ifindex = pkt_ifindex_towards(p, addrs[id]);
		if (!ifindex || ifindex == p->lo) {
			log_warn("KbalHost %u %s: no route to it from here (or it is this host's "
				 "own): nothing is sent to it", id, a);
			continue;
		}
		/* its packets arrive here, and here they are sent on */
		if ((err = pkt_attach_if(p, ifindex)))
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
