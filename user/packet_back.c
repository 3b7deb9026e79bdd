// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * packet_back.c - a joined flow's legs coming back to kbald (docs/packet.md,
 * docs/unswitch.md): asked back at a request, which the program then gives
 * back itself (kbal_packet_ask_back(): the numbers it needs, read from
 * kbald's two sockets); the client's leg taken back onto kbald's kept
 * client-side socket at a clock's end (kbal_packet_take_client(), for
 * packet_clocks.c: SHIFT entries); and the numbers of the probes that end
 * a flow (kbal_packet_end_prepare()). The handover and a joined flow's
 * life: splice_packet.c.
 */
#include <errno.h>
#include <time.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include "log.h"
#include "splice_packet.h"
#include "packet_int.h"

/* what each peer sent last (switch_seq: the highest sequence number seen
 * + 1, in the sender's leg) is what the other expects next */
static void probe_of(const struct kbal_pkt_flow *fl, const struct kbal_pkt_rw *up,
		     const struct kbal_pkt_rw *down, struct kbal_pkt_probe *pr)
{
	pr->to[0] = fl->hold_c;
	pr->seq[0] = down->switch_seq + down->seq_delta;
	pr->ack[0] = up->switch_seq;
	pr->to[1] = fl->drop_m;
	pr->seq[1] = up->switch_seq + up->seq_delta;
	pr->ack[1] = down->switch_seq;
}

/* the client has acknowledged all the member sent (up's last ack, in the
 * client's numbers, at the member's next byte), and neither said FIN or RST */
static int client_has_all(const struct kbal_pkt_rw *up, const struct kbal_pkt_rw *down)
{
	return !((up->flags | down->flags) & (KBAL_PKT_FIN | KBAL_PKT_RST | KBAL_PKT_PEER_FIN)) &&
	       up->switch_ack == down->switch_seq + down->seq_delta;
}

int kbal_packet_end_prepare(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			    struct kbal_pkt_probe *pr)
{
	struct kbal_pkt_rw up, down;

	if (pkt_joined_entries(p, fl, &up, &down))
		return -ENOENT;
	probe_of(fl, &up, &down, pr);
	return 0;
}

/* the member has acknowledged all the client sent (down's last ack, in
 * the member's numbers, at the client's next byte): what
 * client_has_all() is for the other leg */
static int member_has_all(const struct kbal_pkt_rw *up, const struct kbal_pkt_rw *down)
{
	return down->switch_ack == up->switch_seq + up->seq_delta;
}

/*
 * A leg's two SHIFT entries, from a and b (kbal_pkt_shift_to_peer()'s and
 * _from_peer()'s: the peer's next byte and kbald's in the peer's numbers)
 * and kbald's frozen socket's state s (clock shift d): kbald -> the peer at
 * key to (slot: the entry to_of's), written over what is there, then the
 * peer -> kbald at key from (from_of's slot and last TSval), only where
 * nothing is. 0; 1 if the first write failed (nothing written); 2 if the
 * second did (the first stays: the caller's to undo or keep).
 */
static int put_shift_pair(struct kbal_packet *p, const struct kbal_pkt_flow *fl,
			  const struct kbal_pkt_key *to, const struct kbal_pkt_rw *to_of,
			  const struct kbal_pkt_key *from, const struct kbal_pkt_rw *from_of,
			  uint32_t a, uint32_t b, const struct tcp_state *s, uint32_t d)
{
	struct kbal_pkt_rw e;

	memset(&e, 0, sizeof(e));
	kbal_pkt_shift_to_peer(&e, a, b, s->rcv_nxt, s->snd_nxt, d);
	e.gen = fl->gen;
	e.slot = to_of->slot;
	pkt_send_as(&e, to);
	if (bpf_map_update_elem(p->pkt_fd, to, &e, BPF_ANY))
		return 1;
	memset(&e, 0, sizeof(e));
	kbal_pkt_shift_from_peer(&e, a, b, s->rcv_nxt, s->snd_nxt, d);
	e.gen = fl->gen;
	e.slot = from_of->slot;
	e.last_tsval = from_of->last_tsval;
	pkt_send_as(&e, from);
	if (bpf_map_update_elem(p->pkt_fd, from, &e, BPF_NOEXIST))
		return 2;
	return 0;
}

/*
 * The member's leg onto kbald's frozen member-side socket mfd, as the
 * program's give-back takes it (docs/unswitch.md's table, member leg;
 * bpf/pkt_back.bpf.h back_flip()), from the two entries' last states (up,
 * down: out of the map, nothing changes them): the kbald -> member and
 * member -> kbald entries become SHIFT entries, and mfd leaves repair
 * mode, a socket of kbald's again whose close sends the member a FIN
 * (httpd closes its backend connection so), not the reset of the probe.
 * Only where the member has all the client sent (else a FIN past bytes it
 * never got, which no one would send again) and mfd has nothing to read or
 * send. 0, or -EAGAIN: nothing written, mfd frozen as it was.
 */
static int take_member(struct kbal_packet *p, const struct kbal_pkt_flow *fl, int mfd,
		       const struct kbal_pkt_rw *up, const struct kbal_pkt_rw *down)
{
	struct tcp_state m = {};
	uint32_t Mm = down->switch_seq, Km = up->switch_seq + up->seq_delta, dm;
	int n = 0;

	if (mfd < 0 || !member_has_all(up, down) || ioctl(mfd, FIONREAD, &n) || n ||
	    pkt_read_state(mfd, &m, NULL) || m.snd_una != m.snd_nxt || m.ti.tcpi_notsent_bytes)
		return -EAGAIN;
	/* its FIN goes at once: the member's window as large as it was
	 * (the frozen socket's may be older than the member's last) */
	m.win.snd_wnd = m.win.max_window;
	if (setsockopt(mfd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &m.win, sizeof(m.win)))
		return -EAGAIN;
	dm = fl->ts ? kbal_pkt_shift_clock(up, m.tsval) : 0;
	switch (put_shift_pair(p, fl, &fl->drop_m, up, &fl->down, down, Mm, Km, &m, dm)) {
	case 2:
		pkt_forget_key(p, &fl->drop_m, fl->gen);
		/* fallthrough */
	case 1:
		return -EAGAIN;
	}
	kbal_packet_thaw(mfd, 0);
	log_debug("packet: flow of slot %u: member leg taken back (Mm %u Km %u MS0 %u MK0 %u "
		  "dm %d)", fl->slot, Mm, Km, m.rcv_nxt, m.snd_nxt, (int)dm);
	return 0;
}

int kbal_packet_take_client(struct kbal_packet *p, struct kbal_pkt_flow *fl, int cfd, int mfd,
			    struct kbal_pkt_probe *pr)
{
	struct kbal_pkt_rw up, down;
	struct tcp_state c = {};
	uint32_t B, M, dc;
	int err, n = 0;

	if (!fl->kept_client || fl->given_back || p->host_id || pkt_joined_entries(p, fl, &up, &down) ||
	    !client_has_all(&up, &down))
		return -EAGAIN;
	probe_of(fl, &up, &down, pr);   /* (-EBUSY before the entries are read again) */
	/* the kept socket: nothing to read, nothing unacknowledged (kbald's
	 * ACK at the switch acknowledged it to its end); read in repair mode
	 * (its send queue not selected where its start is known, as at the
	 * arming), and given the client's largest window again: kbald's ACK
	 * announced none, and the client may send nothing that would open it
	 * (it waits for its answer) */
	if (ioctl(cfd, FIONREAD, &n) || n)
		return -EAGAIN;
	if (pkt_repair(cfd, 1))
		return -EAGAIN;
	err = pkt_read_state(cfd, &c, fl->send_base_known ? &fl->send_base : NULL);
	if (!err && (c.snd_una != c.snd_nxt || c.ti.tcpi_notsent_bytes))
		err = -EAGAIN;
	if (!err) {
		c.win.snd_wnd = c.win.max_window;
		if (setsockopt(cfd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &c.win, sizeof(c.win)))
			err = -errno;
	}
	kbal_packet_thaw(cfd, 1);
	if (err)
		return -EAGAIN;
	/* The member's entries first: from here its packets meet kbald's
	 * frozen socket, not the client. Each is taken out with its last
	 * state, which no packet changes after: the member's next byte M
	 * (what the client has), then the client's next byte B, the client's
	 * entry out and back as a SHIFT entry (a client's packet between the
	 * two meets kbald's kept socket unshifted, out of its window: dropped,
	 * and sent again by the client into the SHIFT entry). */
	if (bpf_map_lookup_and_delete_elem(p->pkt_fd, &fl->down, &down) || down.gen != fl->gen) {
		fl->lost = 1;
		return -EBUSY;
	}
	fl->lost = 1;   /* some of its four entries are gone: forget them one by one */
	pkt_forget_key(p, &fl->drop_m, fl->gen);
	probe_of(fl, &up, &down, pr);
	if (bpf_map_lookup_and_delete_elem(p->pkt_fd, &fl->up, &up) || up.gen != fl->gen)
		return -EBUSY;
	probe_of(fl, &up, &down, pr);
	if (!client_has_all(&up, &down))
		return -EBUSY;
	B = up.switch_seq;
	M = down.switch_seq + down.seq_delta;
	dc = fl->ts ? kbal_pkt_shift_clock(&down, c.tsval) : 0;
	/* kbald -> client first: the kept socket sends nothing meanwhile but
	 * a duplicate ACK to such an unshifted packet, which it shifts */
	if (put_shift_pair(p, fl, &fl->hold_c, &down, &fl->up, &up, B, M, &c, dc))
		return -EBUSY;
	memset(&pr->to[0], 0, sizeof(pr->to[0]));   /* the client is kbald's again */
	log_debug("packet: flow of slot %u: client leg taken back (B %u M %u S0 %u K0 %u dc %d)",
		  fl->slot, B, M, c.rcv_nxt, c.snd_nxt, (int)dc);
	if (!take_member(p, fl, mfd, &up, &down))
		memset(&pr->to[1], 0, sizeof(pr->to[1]));   /* and the member */
	return 0;
}

/*
 * What the program needs to give a joined flow back (docs/unswitch.md,
 * bpf/packet.bpf.c kbal_pkt_give_back(), which computes the offsets):
 * Client leg: kbald's kept client-side socket stopped at rcv_nxt S0 and
 * snd_nxt K0 (the switch; kbal_packet_ack_kept() acknowledged K0); the
 * client has since sent up to B (its next byte) and received up to M (the
 * member's next byte, in the client's numbers). Member leg: kbald's frozen
 * socket stopped at rcv_nxt MS0, snd_nxt MK0; the member is at Mm (its next
 * byte) and Km (the client's next byte, in its numbers: B + up.seq_delta).
 * Each entry keeps its own 4-tuple and shifts:
 *   client -> kbald  seq + (S0 - B)    ack + (K0 - M)   TSecr - dc
 *   kbald -> client  seq + (M - K0)    ack + (B - S0)   TSval + dc
 *   member -> kbald  seq + (MS0 - Mm)  ack + (MK0 - Km) TSecr - dm
 *   kbald -> member  seq + (Km - MK0)  ack + (Mm - MS0) TSval + dm
 * dc, dm: kbald's socket's clock put just past the last TSval the peer saw
 * (PAWS); the peers' own TSvals pass as they are (each kbald socket has seen
 * that peer's clock before, and it only went on). SACK edges go with ack.
 */
int kbal_packet_ask_back(struct kbal_packet *p, struct kbal_pkt_flow *fl, int cfd, int mfd,
			 unsigned how, uint32_t balancer, uint32_t bgen,
			 const struct kbal_sk_http *dec, uint32_t to_write)
{
	struct tcp_state c = {}, m = {};
	struct kbal_pkt_back b = {};
	struct timespec now;
	uint32_t key = fl->slot, ms;
	int err;

	/* the program gives back without host ids only (it does not write
	 * their TSval form: docs/unswitch.md did it from kbald) */
	if (fl->lost || !(fl->kept_client || (dec && fl->decide)) || fl->given_back || fl->asked ||
	    fl->watched || p->host_id || p->back_fd < 0 || !p->frame)
		return -EINVAL;   /* (a decided flow is armed before its switch) */
	/* the kept client socket: repair mode only to read it, its send
	 * queue not selected where its start is known (pkt_read_state():
	 * then bytes still unsent are no matter, snd_nxt is where the socket
	 * will stop once they are sent), else with nothing unsent in it; the
	 * member-side one is frozen */
	if (!fl->send_base_known) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &tl))
			return -errno;
		if (ti.tcpi_notsent_bytes)
			return -EAGAIN;
	}
	if ((err = pkt_repair(cfd, 1)))
		return err;
	err = pkt_read_state(cfd, &c, fl->send_base_known ? &fl->send_base : NULL);
	kbal_packet_thaw(cfd, 1);
	if (err)
		return err;
	if ((err = pkt_read_state(mfd, &m, NULL)))
		return err;
	/* the TCP clock is CLOCK_MONOTONIC in ms (tcp_clock_ms()), as the
	 * program's bpf_ktime_get_ns(): read after the sockets', so that the
	 * offsets err low (the program's dc, dm high: PAWS safe) */
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (uint32_t)(((uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec) / 1000000ull);
	b.gen = fl->gen;
	b.armed = 1;
	b.ts = fl->ts;
	b.c_rcv_nxt = c.rcv_nxt;
	b.c_snd_nxt = c.snd_nxt + to_write;
	b.m_rcv_nxt = m.rcv_nxt;
	b.m_snd_nxt = m.snd_nxt;
	b.c_tsoff = c.tsval - ms;
	b.m_tsoff = m.tsval - ms;
	b.balancer = balancer;
	b.bgen = bgen;
	/* asked: the kept socket acknowledged to its end (at the switch, for
	 * a watch, kbald's ACK may not have reached it yet: the request that
	 * is given back acknowledges K0 anyway) */
	if (how == KBAL_PKT_BACK_ASKED && (c.snd_una != c.snd_nxt || c.ti.tcpi_notsent_bytes))
		return -EAGAIN;
	if (dec) {
		/* before the entry that makes the program read it */
		if (p->decide_fd < 0 || bpf_map_update_elem(p->decide_fd, &key, dec, BPF_ANY))
			return p->decide_fd < 0 ? -EINVAL : -errno;
		b.decide = 1;
	}
	if (bpf_map_update_elem(p->back_fd, &key, &b, BPF_ANY))
		return -errno;
	__atomic_store_n(&p->frame[2 * fl->slot].back, how, __ATOMIC_RELEASE);
	if (how == KBAL_PKT_BACK_ASKED)
		fl->asked = 1;
	else
		fl->watched = 1;
	log_debug("packet: flow of slot %u %s (client leg S0 %u K0 %u, member leg MS0 %u MK0 %u)",
		  fl->slot, how == KBAL_PKT_BACK_ASKED ? "asked back" :
		  dec ? "watched (each request decided)" : "watched (balancer gen)",
		  b.c_rcv_nxt, b.c_snd_nxt, b.m_rcv_nxt, b.m_snd_nxt);
	return 0;
}
