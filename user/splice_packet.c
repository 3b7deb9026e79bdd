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
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "packet.skel.h"
#include "log.h"
#include "splice_packet.h"

int kbal_packet_init(struct kbal_packet *p, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc);
	int err;

	memset(p, 0, sizeof(*p));
	p->pkt_fd = -1;
	p->ifindex = if_nametoindex("lo");
	if (!p->ifindex)
		return -errno;
	/* shares kbal_stats and the state maps with the sockmap object
	 * through the pins; kbal_pkt is its own */
	p->skel = packet_bpf__open_opts(&opts);
	if (!p->skel)
		return -errno;
	err = packet_bpf__load(p->skel);
	if (err) {
		log_err("loading the packet splice program: %s", strerror(-err));
		goto fail;
	}
	p->pkt_fd = bpf_map__fd(p->skel->maps.kbal_pkt);
	hook.ifindex = p->ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		log_err("creating the clsact qdisc on lo: %s", strerror(-err));
		goto fail;
	}
	p->hook_created = !err;
	tc.prog_fd = bpf_program__fd(p->skel->progs.kbal_pkt_splice);
	err = bpf_tc_attach(&hook, &tc);
	if (err) {
		log_err("attaching the packet splice program to lo: %s", strerror(-err));
		goto fail;
	}
	p->attached = 1;
	p->tc_handle = tc.handle;
	p->tc_priority = tc.priority;
	return 0;
fail:
	kbal_packet_fini(p);
	return err;
}

void kbal_packet_fini(struct kbal_packet *p)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = p->ifindex, .attach_point = BPF_TC_EGRESS);

	if (p->attached) {
		LIBBPF_OPTS(bpf_tc_opts, tc, .handle = p->tc_handle, .priority = p->tc_priority);

		/* a clsact qdisc that was there before us stays, without us */
		if (bpf_tc_detach(&hook, &tc))
			log_warn("removing the packet splice filter from lo: %s", strerror(errno));
	}
	if (p->hook_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	if (p->skel) {
		bpf_map__unpin(p->skel->maps.kbal_pkt, NULL);
		packet_bpf__destroy(p->skel);
	}
	memset(p, 0, sizeof(*p));
	p->pkt_fd = -1;
}

static int tuple(int fd, struct sockaddr_in *local, struct sockaddr_in *peer)
{
	socklen_t l = sizeof(*local), r = sizeof(*peer);

	if (getsockname(fd, (struct sockaddr *)local, &l) ||
	    getpeername(fd, (struct sockaddr *)peer, &r))
		return -errno;
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

int kbal_packet_learn(struct kbal_packet *p, int cfd, int mfd, struct kbal_pkt_flow *fl)
{
	struct sockaddr_in cl, cp, ml, mp;
	struct kbal_pkt_rw learn = { .action = KBAL_PKT_LEARN };

	if (tuple(cfd, &cl, &cp) || tuple(mfd, &ml, &mp))
		return -errno;
	key_of(&fl->up, &cp, &cl);
	key_of(&fl->hold_c, &cl, &cp);
	key_of(&fl->down, &mp, &ml);
	key_of(&fl->drop_m, &ml, &mp);
	if (bpf_map_update_elem(p->pkt_fd, &fl->up, &learn, BPF_ANY) ||
	    bpf_map_update_elem(p->pkt_fd, &fl->down, &learn, BPF_ANY)) {
		int err = -errno;

		kbal_packet_forget(p, fl);
		return err;
	}
	return 0;
}

void kbal_packet_forget(struct kbal_packet *p, const struct kbal_pkt_flow *fl)
{
	bpf_map_delete_elem(p->pkt_fd, &fl->up);
	bpf_map_delete_elem(p->pkt_fd, &fl->down);
	bpf_map_delete_elem(p->pkt_fd, &fl->hold_c);
	bpf_map_delete_elem(p->pkt_fd, &fl->drop_m);
}

struct tcp_state {
	uint32_t snd_nxt, rcv_nxt, tsval;
	struct tcp_info ti;
};

static int repair(int fd, int on)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ? -errno : 0;
}

/* in repair mode: the queues' sequence numbers and the socket's clock */
static int read_state(int fd, struct tcp_state *st)
{
	int q;
	socklen_t len = sizeof(uint32_t);

	q = TCP_SEND_QUEUE;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &st->snd_nxt, &len))
		return -errno;
	q = TCP_RECV_QUEUE;
	len = sizeof(uint32_t);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &st->rcv_nxt, &len))
		return -errno;
	q = TCP_NO_QUEUE;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	len = sizeof(uint32_t);
	if (getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &st->tsval, &len))
		return -errno;
	len = sizeof(st->ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &st->ti, &len))
		return -errno;
	return 0;
}

static int unread(int fd)
{
	int n = 0;

	return ioctl(fd, SIOCINQ, &n) ? -1 : n;
}

/* rewritten packets leave as if kbald's socket of 4-tuple k had sent them */
static void send_as(struct kbal_pkt_rw *rw, const struct kbal_pkt_key *k)
{
	rw->saddr = k->saddr;
	rw->daddr = k->daddr;
	rw->sport = k->sport;
	rw->dport = k->dport;
}

#define OPTS_COMPARED (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE | TCPI_OPT_ECN)

int kbal_packet_handover(struct kbal_packet *p, int cfd, int mfd, struct kbal_pkt_flow *fl,
			 const char **why)
{
	struct tcp_state c = {}, m = {}, c2 = {}, m2 = {};
	struct kbal_pkt_rw learn_up = {}, learn_down = {}, up = {}, down = {};
	struct kbal_pkt_rw hold = { .action = KBAL_PKT_HOLD }, drop = { .action = KBAL_PKT_DROP };
	int err, ts;

	*why = "";
	if (bpf_map_lookup_elem(p->pkt_fd, &fl->up, &learn_up) ||
	    bpf_map_lookup_elem(p->pkt_fd, &fl->down, &learn_down)) {
		*why = "no learn entries";
		return -ENOENT;
	}
	/* 1. freeze the member side for good, peek at the client side */
	if ((err = repair(mfd, 1)))
		goto fail_why;
	if ((err = repair(cfd, 1))) {
		repair(mfd, TCP_REPAIR_OFF_NO_WP);
		goto fail_why;
	}
	err = read_state(cfd, &c);
	if (!err)
		err = read_state(mfd, &m);
	if (err) {
		*why = "reading the sequence state";
		goto thaw;
	}
	if ((c.ti.tcpi_options & OPTS_COMPARED) != (m.ti.tcpi_options & OPTS_COMPARED)) {
		*why = "TCP options differ between the legs";
		err = -EPROTO;
		goto thaw;
	}
	ts = !!(c.ti.tcpi_options & TCPI_OPT_TIMESTAMPS);
	if (ts && (!learn_up.last_tsval || !learn_down.last_tsval)) {
		*why = "a peer's clock was not seen";
		err = -EPROTO;
		goto thaw;
	}
	if (unread(cfd) || unread(mfd) || m.ti.tcpi_unacked || m.ti.tcpi_notsent_bytes) {
		*why = "bytes in flight";
		err = -EAGAIN;
		goto thaw;
	}

	/* client -> member, in the member-side socket's numbers */
	up.action = KBAL_PKT_SWITCH;
	send_as(&up, &fl->drop_m);
	up.seq_delta = m.snd_nxt - c.rcv_nxt;
	up.ack_delta = m.rcv_nxt - c.snd_nxt;
	up.win_shift = (int)c.ti.tcpi_snd_wscale - (int)m.ti.tcpi_rcv_wscale;
	up.switch_ack = c.snd_nxt;
	up.switch_seq = c.rcv_nxt;
	/* member -> client, in the client-side socket's numbers */
	down.action = KBAL_PKT_REWRITE;
	send_as(&down, &fl->hold_c);
	down.seq_delta = c.snd_nxt - m.rcv_nxt;
	down.ack_delta = c.rcv_nxt - m.snd_nxt;
	down.win_shift = (int)m.ti.tcpi_snd_wscale - (int)c.ti.tcpi_rcv_wscale;
	if (ts) {
		/* Each leg's clock mapped onto the other's, 1 ms ahead so
		 * that a translated TSval never goes back (PAWS); TSecr gets
		 * the exact inverse, so that RTT samples stay exact. */
		up.tsval_delta = m.tsval - learn_up.last_tsval + 1;
		down.tsval_delta = c.tsval - learn_down.last_tsval + 1;
		up.tsecr_delta = -down.tsval_delta;
		down.tsecr_delta = -up.tsval_delta;
	}

	/* 2. the entries: what kbald's sockets emit first */
	if (bpf_map_update_elem(p->pkt_fd, &fl->drop_m, &drop, BPF_ANY) ||
	    bpf_map_update_elem(p->pkt_fd, &fl->hold_c, &hold, BPF_ANY) ||
	    bpf_map_update_elem(p->pkt_fd, &fl->down, &down, BPF_ANY) ||
	    bpf_map_update_elem(p->pkt_fd, &fl->up, &up, BPF_ANY)) {
		err = -errno;
		*why = "writing the entries";
		goto unmap;
	}
	/* 3. nothing may have reached either socket since the read */
	if (read_state(cfd, &c2) || read_state(mfd, &m2) ||
	    c2.rcv_nxt != c.rcv_nxt || m2.rcv_nxt != m.rcv_nxt || m2.snd_nxt != m.snd_nxt) {
		*why = "a packet arrived during the handover";
		err = -EAGAIN;
		goto unmap;
	}
	/* the client side goes on (it may have to retransmit), quietly */
	repair(cfd, TCP_REPAIR_OFF_NO_WP);
	return 0;

unmap:
	kbal_packet_forget(p, fl);
thaw:
	repair(cfd, TCP_REPAIR_OFF_NO_WP);
	repair(mfd, TCP_REPAIR_OFF_NO_WP);
	return err;
fail_why:
	*why = "TCP_REPAIR refused (CAP_NET_ADMIN?)";
	return err;
}

int kbal_packet_poll(struct kbal_packet *p, const struct kbal_pkt_flow *fl, uint64_t *last_ns,
		     uint64_t *bytes_up, uint64_t *bytes_down)
{
	struct kbal_pkt_rw up, down;

	if (bpf_map_lookup_elem(p->pkt_fd, &fl->up, &up) ||
	    bpf_map_lookup_elem(p->pkt_fd, &fl->down, &down))
		return KBAL_PKT_POLL_ENDED;
	*last_ns = up.last_ns > down.last_ns ? up.last_ns : down.last_ns;
	*bytes_up = up.bytes;
	*bytes_down = down.bytes;
	if ((up.flags | down.flags) && kbal_log_level >= KBAL_DEBUG)
		log_debug("packet flow flags: up %#x down %#x", up.flags, down.flags);
	if ((up.flags | down.flags) & KBAL_PKT_RST ||
	    (up.flags & KBAL_PKT_FIN && down.flags & KBAL_PKT_FIN))
		return KBAL_PKT_POLL_ENDED;
	return up.action == KBAL_PKT_SWITCH ? KBAL_PKT_POLL_WAITING : KBAL_PKT_POLL_JOINED;
}

void kbal_packet_close_frozen(int fd)
{
	int on = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));
	close(fd);
}
