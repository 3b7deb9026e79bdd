// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * handover_packet_back.c - the packet path, a joined flow given back to
 * kbald (docs/packet.md, "Given back at a request", "Each request
 * decided"): the flow armed for it at the switch (watched for its
 * balancer's gen, a decided flow's decision), asked back once its
 * balancer changed, and the connection kbald's again when the program
 * gives it back at a request or at an answer kbald must write. The path's
 * ops table and the rest of a joined flow's life: handover_packet.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "conn.h"
#include "daemon.h"
#include "decide.h"
#include "exchange.h"
#include "flows.h"
#include "handover.h"
#include "log.h"
#include "logs.h"
#include "splice_packet.h"

/*
 * The connection is kbald's again: a flow given back (at a request, or at
 * an answer kbald writes: owed), or a decided one's request that reached
 * kbald before its switch. The requests a decided flow's program kept
 * count as the connection's own (MaxKeepAliveRequests: kbald counts on
 * from there); kbald decides each request from here (decide_agent_again()),
 * with a first exchange's buffers. Owed: the answer to the last request
 * kept waits in the member-side socket, which kbald writes as the sockmap
 * path's take-back of a response head does (decide_take_back(): the kept
 * requests' rule, Host and virtual host from the decision, the member's
 * connection going after it; the client's next request waits in its
 * socket meanwhile); else the member's connection goes. 0, or -1 (the
 * caller closes the connection).
 */
int pkt_kbalds_again(struct kbal_daemon *d, struct kbal_conn *c, uint8_t why, int owed)
{
	struct kbal_sk_http st;
	int decided = c->pf && !kbal_packet_decision(&d->pk.p, c->pf, &st);

	if (owed && !decided) {
		log_warn("conn %p: an answer given back, the flow's decision gone", (void *)c);
		return -1;
	}
	if (owed && st.why == KBAL_SKB_UNASKED) {
		/* an answer to no request (kbal_pkt_decide_response()), or
		 * the member's FIN between answers (packet.bpf.c): it goes
		 * with the member's connection, which httpd would not reuse
		 * either (data waiting on it, or closed); the client's goes
		 * on */
		log_info("conn %p: the member sent what no request asked for (an answer, or its "
			 "connection's end): its connection closed", (void *)c);
		owed = 0;
	}
	if (decided)
		c->nreq = c->nreq + st.msgs < UINT32_MAX ? (uint32_t)(c->nreq + st.msgs) :
			  UINT32_MAX;
	if (!owed) {
		/* counted as kbald moved it (wr, rd: conn_account(), c->pkt
		 * still set), not by its socket's counters, which the freeze
		 * put off; the next member's counts start from nothing */
		decide_member_done(d, c);
		c->rd[MEMBER] = c->wr[MEMBER] = c->member_rcvd0 = 0;
	}
	c->pkt = PKT_NONE;
	c->want_packet = 0;
	c->pkt_decide = 0;
	decide_agent_again(c, why);
	c->bounded = 0;
	if (exch_wake(d, c))
		return -1;
	c->phase[UP] = c->phase[DOWN] = P_HEAD;
	if (owed) {
		/* a kept connection joined (pkt_try()): what it carried for
		 * earlier clients, which its socket's counters hold (kept in
		 * the flow's record: a restart in place carries that, not
		 * c->reused) */
		if (c->pf && (c->pf->kept_sent || c->pf->kept_recvd)) {
			c->f->reused_sent = c->pf->kept_sent;
			c->f->reused_recvd = c->pf->kept_recvd;
			c->reused = 1;
		}
		decide_owed_answer(d, c);
		c->f->pass = st.pass;
		if (st.host_len < sizeof(c->f->host))
			memcpy(c->f->host, st.host, st.host_len);
		c->f->vhost = (int)st.rules - 1;
	}
	return 0;
}

/*
 * A decided flow (c->pkt_decide: its later requests framed, each decided by
 * the program as kbald would, docs/packet.md "Each request decided") is
 * armed before it can switch: its decision in kbal_pkt_decide, the sockets'
 * numbers in kbal_pkt_back, watched. Its client -> member entry switches
 * only once that is done (KBAL_PKT_DECIDE); if it cannot be (the client
 * socket's numbers not known yet: bytes of the first response unsent and
 * its send queue's start not learned, kbal_packet_ask_back()), the
 * client's next bytes reach kbald's socket instead, which takes the
 * connection back (pkt_take_back()): kbald decides them. A long first
 * answer, still going out at the switch, is armed at once (its start
 * learned before it was written): before, its flow came back to kbald at
 * each request and was joined again, until a join found no packet of the
 * client and left it to sockmap (1m-sticky: half the requests).
 */
void pkt_arm_decided(struct kbal_daemon *d, struct kbal_conn *c, uint32_t to_write)
{
	struct kbal_sk_http st;
	int err = decide_pkt_record(d, c, &st);

	if (!err)
		err = kbal_packet_ask_back(&d->pk.p, c->pf, c->fd[CLIENT], c->fd[MEMBER],
					   KBAL_PKT_BACK_WATCH, c->balancer, c->pf->bgen, &st, to_write);
	if (err)
		log_debug("conn %p: decided flow not armed (%s): its next request is kbald's",
			  (void *)c, strerror(-err));
}

/*
 * A decided flow the program has no arming of (a restart in place: the
 * next image's kbal_pkt_back is its own) is armed again as at its switch,
 * with the decision the image before wrote (kbal_pkt_decide is pinned):
 * it goes on being decided in the kernel. Meanwhile the program holds its
 * requests and answers (never passed on undecided). Without a decision,
 * asked back at its next request, which kbald decides.
 */
int pkt_rearm_decided(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_pkt_flow *fl = c->pf;
	struct kbal_sk_http st;

	if (!kbal_packet_decision(&d->pk.p, fl, &st)) {
		int err = kbal_packet_ask_back(&d->pk.p, fl, c->fd[CLIENT], c->fd[MEMBER],
					       KBAL_PKT_BACK_WATCH, c->balancer, fl->bgen, &st, 0);

		if (err != -EINVAL)
			return err;
	}
	return kbal_packet_ask_back(&d->pk.p, fl, c->fd[CLIENT], c->fd[MEMBER],
				    KBAL_PKT_BACK_ASKED, c->balancer, fl->bgen, NULL, 0);
}

/*
 * A joined flow whose balancer changed since it joined (a member's status:
 * kbalctl set, the manager, a health check; the balancer's gen, as the
 * sockmap path's kernel framing compares it) may no longer be decided
 * alike: kbald asks the program to give it back at its next request
 * (kbal_packet_ask_back()), and decides that request itself. Only where
 * kbald kept the client-side socket (kbal_pkt_keeps_client()) and could
 * not arm the flow at the switch (the program then compares the gen
 * itself: pkt_arm()). A decided flow not armed (after a restart in place):
 * armed again (pkt_rearm_decided()), and again while it cannot be yet;
 * one that can never be is ended (its requests would wait for ever). 1 if
 * the connection was closed.
 */
int pkt_maybe_ask_back(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_pkt_flow *fl = c->pf;
	int err;

	if (!fl || !fl->kept_client || fl->asked || fl->watched || fl->given_back ||
	    c->balancer < 0 || (d->maps.balancers[c->balancer].gen == fl->bgen && !fl->decide))
		return 0;
	err = fl->decide ? pkt_rearm_decided(d, c) :
	      kbal_packet_ask_back(&d->pk.p, fl, c->fd[CLIENT], c->fd[MEMBER],
				   KBAL_PKT_BACK_ASKED, c->balancer, fl->bgen, NULL, 0);
	if (err && err != -EAGAIN) {
		fl->asked = 2;   /* not again */
		if (fl->decide) {
			log_warn("conn %p: a decided flow not armed again (%s): ended",
				 (void *)c, strerror(-err));
			conn_close(d, c);
			return 1;
		}
		log_info("conn %p: joined flow not asked back: %s", (void *)c, strerror(-err));
	} else if (!err) {
		log_debug("conn %p: %s", (void *)c, fl->watched ? "decided flow armed again" :
			  "joined flow asked back at its next request");
	}
	return 0;
}

/* The program's bytes up to the flip into the member's counters: its
 * entries are SHIFT entries now, kbal_pkt_seen behind by the last tick's
 * (kbal_packet_back_bytes()); kbald counts its own from here. The requests
 * it kept have their access log line, FLOW, as at a joined flow's end. */
static void pkt_account_back(struct kbal_daemon *d, struct kbal_conn *c)
{
	uint64_t bytes[2];

	if (kbal_packet_back_bytes(&d->pk.p, c->pf, c->pkt_bytes, bytes))
		log_warn("conn %p: a given-back flow's last bytes not counted", (void *)c);
	else
		pkt_account(d, c, bytes[UP], bytes[DOWN]);
	kbal_logs_flow(d, c);
}

/*
 * The program gave the flow back at the first byte of a request
 * (KBAL_PKT_EV_BACK): its entries are SHIFT entries, the request waits in
 * kbald's kept client-side socket, and every answer before it was through
 * (the member's side quiet). kbald decides that request as it decides one
 * the sockmap path hands back with no answer owed (decide_take_back()):
 * the member's connection goes (its FIN through the SHIFT entries), and
 * the client's requests are kbald's from here.
 */
void pkt_given_back(struct kbal_daemon *d, struct kbal_conn *c)
{
	pkt_account_back(d, c);
	c->pf->given_back = 1;   /* its entries stay as long as the connection */
	pkt_kept_linger(c->fd[CLIENT], 0);   /* kbald's connection again: a FIN at its end */
	kbal_packet_thaw(c->fd[MEMBER], 0);
	if (pkt_kbalds_again(d, c, KBAL_WHY_GIVEN_BACK, 0) || conn_watch(d, c, CLIENT, 0)) {
		conn_close(d, c);
		return;
	}
	kbal_flows_update(d, c, KBAL_FLOW_FIRST);
	log_debug("conn %p: joined flow given back at a request: kbald decides it", (void *)c);
	conn_progress(d, c);
}

/*
 * The program gave a decided flow back at the first byte of a response
 * head kbald must write (KBAL_PKT_EV_BACK_RESPONSE: ProxyPassReverse maps
 * a header, the member closes after it, ...): the answer to the last
 * request the program kept is owed, and waits in kbald's member-side
 * socket, thawed now; kbald writes it as the sockmap path's take-back of
 * a response head does (decide_take_back(): the rule, Host and virtual
 * host of the kept requests, the member's connection going after it), and
 * decides the client's requests from here.
 */
void pkt_given_back_response(struct kbal_daemon *d, struct kbal_conn *c)
{
	pkt_account_back(d, c);
	c->pf->given_back = 1;
	pkt_kept_linger(c->fd[CLIENT], 0);
	kbal_packet_thaw(c->fd[MEMBER], 0);
	if (pkt_kbalds_again(d, c, KBAL_WHY_GIVEN_BACK, 1) || conn_watch(d, c, CLIENT, 0) ||
	    (c->fd[MEMBER] >= 0 && conn_watch(d, c, MEMBER, 0))) {
		conn_close(d, c);
		return;
	}
	kbal_flows_update(d, c, KBAL_FLOW_FIRST);
	log_debug("conn %p: joined flow given back at an answer: kbald writes it", (void *)c);
	conn_progress(d, c);
}

/*
 * A kept client socket closes with a RST (SO_LINGER 0) while its flow is
 * joined. kbald closes it in repair mode (nothing sent) when the flow
 * ends; but a kbald killed outright leaves it to the kernel, which would
 * send a FIN from the switch's state and keep an orphan in FIN_WAIT1 on
 * the client's 4-tuple, answering the client's later bytes with stale ACKs
 * until it gives up: the client would hang where, without the kept
 * socket, its next packet meets no socket and is reset at once. A RST
 * (its own, or the stack's to the client's next packet) is that.
 */
void pkt_kept_linger(int fd, int on)
{
	struct linger l = { .l_onoff = on, .l_linger = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)))
		log_warn("packet: SO_LINGER on a kept client socket: %s", strerror(errno));
}

/*
 * The program compares the balancer's gen itself at each request's first
 * byte (given back at a request: kbal_pkt_back with the flow's balancer and
 * its gen when the flow was decided); where it cannot be armed (the kept
 * socket with bytes unsent), kbald asks once the gen moves
 * (pkt_maybe_ask_back()). Also at a restart in place: the next image's
 * program has a kbal_pkt_back of its own (not pinned), which pkt_adopt()
 * arms again from the two sockets, the gen the flow was decided at kept
 * (a status change during the restart gives the flow back at once).
 */
void pkt_arm(struct kbal_daemon *d, struct kbal_conn *c)
{
	int err;

	if (c->balancer < 0 || c->pf->watched)
		return;   /* (a decided flow is armed before its switch: pkt_try()) */
	err = kbal_packet_ask_back(&d->pk.p, c->pf, c->fd[CLIENT], c->fd[MEMBER],
				   KBAL_PKT_BACK_WATCH, c->balancer, c->pf->bgen, NULL, 0);
	if (err) {
		d->pk.unwatched++;   /* kbald looks every ASK_POLL_US (pkt_tick()) */
		log_debug("conn %p: joined flow not watched: %s", (void *)c, strerror(-err));
	}
}
