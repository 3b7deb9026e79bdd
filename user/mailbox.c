// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * mailbox.c - the sockmap path's mailboxes (kbal_shared.h, docs/design.md
 * "Every request decided"): a pool of kbald's own sockets, each end of a
 * unix socket pair a slot in kbal_sk_mbox, with no stream parser. A
 * socket handed back while its parser cannot stop yet (the psock's worker
 * still sends it an answer) takes a free slot off kbal_mbox_free at its
 * first such message, and the verdict redirects that message and the next
 * ones into the slot's socket (BPF_F_INGRESS), in order; kbald reads them
 * there at the take-back (takeback.c), then what is left in the socket's
 * TCP receive queue, and gives the slot back.
 *
 * Nothing else writes to a mailbox: a slot whose socket ended before kbald
 * read it may still get bytes the psock's worker had queued, so it is
 * emptied for a while (MBOX_DRAIN_NS) before it is free again.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include "kbal_shared.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "mailbox.h"
#include "takeover.h"

#define MBOX_DRAIN_NS (1000000000ull)
#define MBOX_OWNER_LEN ((KBAL_MBOX_MAX * sizeof(uint64_t) + 4095) & ~4095ul)

static char mbox_scratch[64 << 10];
/* the pool, for the exchange's reads (exch_read() has no daemon at hand) */
static struct kbal_mailboxes *readers;

_Static_assert(KBAL_MBOX_POOL % 2 == 0 && KBAL_MBOX_POOL <= KBAL_MBOX_MAX,
	       "mailboxes come in pairs, within kbal_sk_mbox");
_Static_assert(KBAL_SK_PASS_MAX + KBAL_HTTP_HEAD_BUF <= sizeof(mbox_scratch),
	       "a mailbox's bytes peeked at in one read");

static int mbox_watch(struct kbal_daemon *d, unsigned slot)
{
	return kbal_loop_add(&d->loop, d->sm.mbox.fd[slot], EPOLLIN | EPOLLET, KBAL_TAG_MBOX,
			     (uintptr_t)slot << KBAL_TAG_BITS);
}

static int mbox_free_push(struct kbal_daemon *d, unsigned slot)
{
	__u32 s = slot;

	d->sm.mbox.owner[slot] = 0;
	return bpf_map_update_elem(d->maps.mbox_free_fd, NULL, &s, BPF_ANY) ? -errno : 0;
}

/* a new pair: slots slot and slot + 1, free */
static int mbox_make(struct kbal_daemon *d, unsigned slot)
{
	struct kbal_mailboxes *mb = &d->sm.mbox;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return -errno;
	mb->fd[slot] = sv[0];
	mb->fd[slot + 1] = sv[1];
	mb->n = slot + 2;
	for (unsigned s = slot; s < slot + 2; s++) {
		__u32 key = s;
		__u64 fd = (__u64)mb->fd[s];

		if (bpf_map_update_elem(d->maps.mbox_fd, &key, &fd, BPF_ANY) ||
		    mbox_watch(d, s) || mbox_free_push(d, s))
			return -errno;
	}
	return 0;
}

/* a 32nd of the descriptors kbald may have (its hard limit: it raises
 * the soft one to it), KBAL_MBOX_POOL at most, 2 at least */
static unsigned mbox_pool_size(void)
{
	struct rlimit rl;
	rlim_t n = 64 * 32;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_max != RLIM_INFINITY)
		n = rl.rlim_max;
	n /= 32;
	if (n > KBAL_MBOX_POOL)
		n = KBAL_MBOX_POOL;
	return n < 2 ? 2 : (unsigned)n & ~1u;
}

int mbox_init(struct kbal_daemon *d, struct kbal_takeover *t)
{
	struct kbal_mailboxes *mb = &d->sm.mbox;
	unsigned want;
	__u32 stale;
	int err = 0;

	for (unsigned s = 0; s < KBAL_MBOX_POOL; s++)
		mb->fd[s] = -1;
	readers = mb;
	mb->owner = mmap(NULL, MBOX_OWNER_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 d->maps.mbox_owner_fd, 0);
	if (mb->owner == MAP_FAILED) {
		mb->owner = NULL;
		return -errno;
	}
	if (t && t->nmbox) {
		/* a restart's: the slots, their queue and owners as the last
		 * image left them (pinned), the sockets inherited */
		for (unsigned s = 0; s < t->nmbox; s++) {
			mb->fd[s] = t->mbox_fd[s];
			t->mbox_fd[s] = -1;
			if (mb->fd[s] >= 0 && (err = mbox_watch(d, s)))
				return err;
		}
		mb->n = t->nmbox;
		return 0;
	}
	/* afresh (the maps too, or those of an image without mailboxes) */
	while (!bpf_map_lookup_and_delete_elem(d->maps.mbox_free_fd, NULL, &stale))
		;
	want = mbox_pool_size();
	for (unsigned s = 0; s < want && !err; s += 2)
		err = mbox_make(d, s);
	if (err) {
		/* fewer then: a socket that finds none queues on itself */
		log_warn("the sockmap path's mailboxes: %u of %u made: %s", mb->n, want,
			 strerror(-err));
	}
	return 0;
}

uint64_t mbox_owner(const struct kbal_daemon *d, unsigned slot)
{
	return slot < d->sm.mbox.n ? __atomic_load_n(&d->sm.mbox.owner[slot], __ATOMIC_ACQUIRE) : 0;
}

int mbox_fd(const struct kbal_daemon *d, unsigned slot)
{
	return slot < d->sm.mbox.n ? d->sm.mbox.fd[slot] : -1;
}

ssize_t mbox_read(struct kbal_daemon *d, unsigned slot, void *buf, size_t n)
{
	int fd = mbox_fd(d, slot);

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	return recv(fd, buf, n, MSG_DONTWAIT);
}

int mbox_holds(struct kbal_daemon *d, unsigned slot, size_t n)
{
	int fd = mbox_fd(d, slot);

	if (!n)
		return 1;
	if (fd < 0)
		return 0;
	if (n > sizeof(mbox_scratch))   /* more than a head and KBAL_SK_PASS_MAX */
		n = sizeof(mbox_scratch);
	return recv(fd, mbox_scratch, n, MSG_DONTWAIT | MSG_PEEK) >= (ssize_t)n;
}

void mbox_release(struct kbal_daemon *d, unsigned slot)
{
	if (slot >= d->sm.mbox.n)
		return;
	d->sm.mbox.drain_until[slot] = 0;
	d->sm.mbox.conn[slot] = NULL;
	d->sm.mbox.left[slot] = 0;
	if (mbox_free_push(d, slot))
		log_warn("mailbox %u: cannot be freed: %s", slot, strerror(errno));
}

void mbox_hand(struct kbal_daemon *d, unsigned slot, struct kbal_conn *c, int side,
	       uint32_t left)
{
	struct kbal_mailboxes *mb = &d->sm.mbox;

	if (slot >= mb->n)
		return;
	mb->conn[slot] = c;
	mb->side[slot] = (uint8_t)side;
	mb->left[slot] = left;
	c->mboxed = 1;
}

struct kbal_conn *mbox_reader(const struct kbal_daemon *d, unsigned slot, int *side)
{
	if (slot >= d->sm.mbox.n)
		return NULL;
	*side = d->sm.mbox.side[slot];
	return d->sm.mbox.conn[slot];
}

static int reader_slot(const struct kbal_conn *c, int side)
{
	for (unsigned s = 0; c->mboxed && readers && s < readers->n; s++)
		if (readers->conn[s] == c && readers->side[s] == side && readers->left[s])
			return (int)s;
	return -1;
}

ssize_t mbox_conn_read(struct kbal_conn *c, int side, void *buf, size_t n)
{
	int s = reader_slot(c, side);
	ssize_t r;

	if (s < 0) {
		errno = 0;
		return -2;
	}
	r = recv(readers->fd[s], buf, n < readers->left[s] ? n : readers->left[s], MSG_DONTWAIT);
	if (r > 0)
		readers->left[s] -= (uint32_t)r;
	return r;
}

uint32_t mbox_conn_left(const struct kbal_conn *c, int side)
{
	int s = reader_slot(c, side);

	return s < 0 ? 0 : readers->left[s];
}

void mbox_conn_step(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_mailboxes *mb = &d->sm.mbox;
	int still = 0;

	for (unsigned s = 0; s < mb->n; s++)
		if (mb->conn[s] == c) {
			if (mb->left[s])
				still = 1;
			else
				mbox_release(d, s);
		}
	c->mboxed = still;
}

static void mbox_empty(struct kbal_daemon *d, unsigned slot)
{
	while (mbox_read(d, slot, mbox_scratch, sizeof(mbox_scratch)) > 0)
		;
}

/* slot's socket ended with bytes perhaps still coming (the psock's worker
 * may move a last message in): emptied a while, then free (mbox_tick()) */
static void mbox_drain_start(struct kbal_daemon *d, unsigned slot)
{
	struct kbal_mailboxes *mb = &d->sm.mbox;

	if (mb->drain_until[slot])
		return;
	mb->conn[slot] = NULL;
	mb->drain_until[slot] = d->loop.now + MBOX_DRAIN_NS;
	mbox_empty(d, slot);
}

void mbox_abandon(struct kbal_daemon *d, unsigned slot)
{
	if (slot < d->sm.mbox.n)
		mbox_drain_start(d, slot);
}

/* one pass: the slots c's exchange reads, and those its sockets took
 * that kbald never took back */
void mbox_conn_close(struct kbal_daemon *d, struct kbal_conn *c)
{
	struct kbal_mailboxes *mb = &d->sm.mbox;

	for (unsigned s = 0; s < mb->n; s++) {
		uint64_t owner = mbox_owner(d, s);

		if (mb->conn[s] == c && !mb->left[s])
			mbox_release(d, s);
		else if (mb->conn[s] == c ||
			 (owner && (owner == c->cookie[CLIENT] || owner == c->cookie[MEMBER])))
			mbox_drain_start(d, s);
	}
	c->mboxed = 0;
}

int mbox_drain(struct kbal_daemon *d, unsigned slot)
{
	if (slot >= d->sm.mbox.n || !d->sm.mbox.drain_until[slot])
		return 0;
	mbox_empty(d, slot);
	return 1;
}

void mbox_tick(struct kbal_daemon *d, int (*gone)(struct kbal_daemon *d, uint64_t cookie))
{
	struct kbal_mailboxes *mb = &d->sm.mbox;

	for (unsigned s = 0; s < mb->n; s++) {
		uint64_t owner = mbox_owner(d, s);

		if (mb->drain_until[s] && d->loop.now >= mb->drain_until[s]) {
			mbox_empty(d, s);
			mbox_release(d, s);
		} else if (owner && !mb->conn[s] && gone(d, owner)) {
			/* its socket ended with no take-back (a verdict that
			 * took the slot as the connection closed) */
			mbox_drain_start(d, s);
		}
	}
}

int mbox_taken(const struct kbal_daemon *d)
{
	for (unsigned s = 0; s < d->sm.mbox.n; s++)
		if (d->sm.mbox.drain_until[s] || mbox_owner(d, s))
			return 1;
	return 0;
}

void mbox_export(const struct kbal_daemon *d, struct kbal_takeover *t)
{
	t->nmbox = d->sm.mbox.n;
	for (unsigned s = 0; s < d->sm.mbox.n; s++)
		t->mbox_fd[s] = d->sm.mbox.fd[s];
}

void mbox_fini(struct kbal_daemon *d)
{
	struct kbal_mailboxes *mb = &d->sm.mbox;

	for (unsigned s = 0; s < mb->n; s++)
		if (mb->fd[s] >= 0) {
			close(mb->fd[s]);
			mb->fd[s] = -1;
		}
	mb->n = 0;
	if (mb->owner)
		munmap(mb->owner, MBOX_OWNER_LEN);
	mb->owner = NULL;
	readers = NULL;
}
