// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * takeover.c - the state a restarting kbald hands to its next image.
 *
 * The memfd holds a part that every version reads (a magic and the list of
 * inherited descriptors, so that even an image that cannot take over
 * closes them all), then the versioned records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include "log.h"
#include "takeover.h"

#define TO_MAGIC 0x4b42414c544b4f56ull   /* "KBALTKOV" */
#define TO_MAX_FDS (1u << 22)

struct to_head {
	uint64_t magic;
	uint32_t nfds;                 /* then int32_t fds[nfds] */
	uint32_t pad;
};

struct to_body {
	uint32_t version;
	uint32_t layout;               /* KBAL_LAYOUT_VERSION of the maps */
	uint32_t conn_size;
	int32_t lock_fd;
	uint32_t nlisten, nlinks, nconns;
	uint32_t nmbox;
	uint64_t exec_ns;
};

static int set_cloexec(int fd, int on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -errno;
	fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, fl) ? -errno : 0;
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		c += n;
		len -= n;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t len)
{
	char *c = p;

	while (len) {
		ssize_t n = read(fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPROTO;
		c += n;
		len -= n;
	}
	return 0;
}

/* every descriptor t hands over, once */
static unsigned collect_fds(const struct kbal_takeover *t, int32_t *fds)
{
	unsigned n = 0;

	fds[n++] = t->lock_fd;
	for (unsigned i = 0; i < t->nlisten; i++)
		fds[n++] = t->listen_fd[i];
	for (unsigned i = 0; i < t->nlinks; i++)
		fds[n++] = t->links[i].fd;
	for (unsigned i = 0; i < t->nconns; i++)
		for (int s = 0; s < 2; s++)
			if (t->conns[i].fd[s] >= 0)
				fds[n++] = t->conns[i].fd[s];
	for (unsigned i = 0; i < t->nmbox; i++)
		if (t->mbox_fd[i] >= 0)
			fds[n++] = t->mbox_fd[i];
	return n;
}

int kbal_takeover_exec(const struct kbal_takeover *t, const char *exe, char *const argv[])
{
	unsigned max = 1 + t->nlisten + t->nlinks + 2 * t->nconns + t->nmbox, nfds;
	int32_t *fds = malloc(max * sizeof(*fds));
	struct to_head h = { .magic = TO_MAGIC };
	struct to_body b = {
		.version = KBAL_TAKEOVER_VERSION, .layout = KBAL_LAYOUT_VERSION,
		.conn_size = sizeof(struct kbal_to_conn), .lock_fd = t->lock_fd,
		.nlisten = t->nlisten, .nlinks = t->nlinks, .nconns = t->nconns,
		.nmbox = t->nmbox,
	};
	struct timespec ts;
	char env[16];
	int mfd, err;

	if (!fds)
		return -ENOMEM;
	nfds = collect_fds(t, fds);
	h.nfds = nfds;
	mfd = memfd_create("kbal-takeover", 0);   /* inherited: no cloexec */
	if (mfd < 0) {
		err = -errno;
		goto out;
	}
	err = write_all(mfd, &h, sizeof(h));
	if (!err)
		err = write_all(mfd, fds, nfds * sizeof(*fds));
	if (!err)
		err = write_all(mfd, &b, sizeof(b));
	if (!err)
		err = write_all(mfd, t->listen_fd, t->nlisten * sizeof(t->listen_fd[0]));
	if (!err)
		err = write_all(mfd, t->links, t->nlinks * sizeof(t->links[0]));
	if (!err)
		err = write_all(mfd, t->conns, t->nconns * sizeof(t->conns[0]));
	if (!err)
		err = write_all(mfd, t->mbox_fd, t->nmbox * sizeof(t->mbox_fd[0]));
	if (!err && lseek(mfd, 0, SEEK_SET))
		err = -errno;
	if (err)
		goto out;
	for (unsigned i = 0; i < nfds && !err; i++)
		err = set_cloexec(fds[i], 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	b.exec_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	if (!err && pwrite(mfd, &b.exec_ns, sizeof(b.exec_ns), sizeof(h) + nfds * sizeof(*fds) +
			   offsetof(struct to_body, exec_ns)) != sizeof(b.exec_ns))
		err = -EIO;
	if (!err) {
		snprintf(env, sizeof(env), "%d", mfd);
		setenv(KBAL_TAKEOVER_ENV, env, 1);
		execv(exe, argv);
		err = -errno;
		unsetenv(KBAL_TAKEOVER_ENV);
	}
	for (unsigned i = 0; i < nfds; i++)
		set_cloexec(fds[i], 1);
out:
	if (mfd >= 0)
		close(mfd);
	free(fds);
	return err;
}

int kbal_takeover_read(struct kbal_takeover *t)
{
	const char *env = getenv(KBAL_TAKEOVER_ENV);
	struct to_head h;
	struct to_body b;
	int32_t *fds = NULL;
	char *end;
	long mfd;
	int err;

	memset(t, 0, sizeof(*t));
	t->lock_fd = -1;
	if (!env)
		return 1;
	mfd = strtol(env, &end, 10);
	unsetenv(KBAL_TAKEOVER_ENV);   /* not for the images after this one */
	if (*end || mfd < 3 || mfd > INT32_MAX)
		return -EINVAL;
	err = read_all(mfd, &h, sizeof(h));
	if (!err && (h.magic != TO_MAGIC || h.nfds > TO_MAX_FDS))
		err = -EPROTO;
	if (!err) {
		fds = malloc((h.nfds ?: 1) * sizeof(*fds));
		err = fds ? read_all(mfd, fds, h.nfds * sizeof(*fds)) : -ENOMEM;
	}
	if (err)
		goto out;
	/* nothing inherited may leak into a later exec */
	for (unsigned i = 0; i < h.nfds; i++)
		set_cloexec(fds[i], 1);
	err = read_all(mfd, &b, sizeof(b));
	if (!err && (b.version != KBAL_TAKEOVER_VERSION || b.layout != KBAL_LAYOUT_VERSION ||
		     b.conn_size != sizeof(struct kbal_to_conn) ||
		     b.nlisten > KBAL_CONF_MAX_LISTEN ||
		     b.nlinks > sizeof(t->links) / sizeof(t->links[0]) || b.nconns > h.nfds ||
		     b.nmbox > KBAL_MBOX_POOL)) {
		log_warn("restart: the previous image handed state version %u (layout %u), "
			 "this one reads %u (layout %u)", b.version, b.layout,
			 KBAL_TAKEOVER_VERSION, KBAL_LAYOUT_VERSION);
		err = -EPROTO;
	}
	if (!err) {
		t->conns = calloc(b.nconns ?: 1, sizeof(*t->conns));
		err = t->conns ? 0 : -ENOMEM;
	}
	if (!err)
		err = read_all(mfd, t->listen_fd, b.nlisten * sizeof(t->listen_fd[0]));
	if (!err)
		err = read_all(mfd, t->links, b.nlinks * sizeof(t->links[0]));
	if (!err)
		err = read_all(mfd, t->conns, b.nconns * sizeof(t->conns[0]));
	if (!err)
		err = read_all(mfd, t->mbox_fd, b.nmbox * sizeof(t->mbox_fd[0]));
	if (!err) {
		t->lock_fd = b.lock_fd;
		t->exec_ns = b.exec_ns;
		t->nlisten = b.nlisten;
		t->nlinks = b.nlinks;
		t->nconns = b.nconns;
		t->nmbox = b.nmbox;
	} else {
		/* what cannot be taken over is closed: its flows end */
		free(t->conns);
		t->conns = NULL;
		for (unsigned i = 0; i < h.nfds; i++)
			close(fds[i]);
	}
out:
	free(fds);
	close(mfd);
	return err;
}

void kbal_takeover_abandon(struct kbal_takeover *t)
{
	for (unsigned i = 0; i < t->nconns; i++)
		for (int s = 0; s < 2; s++)
			if (t->conns[i].fd[s] >= 0)
				close(t->conns[i].fd[s]);
	for (unsigned i = 0; i < t->nlinks; i++)
		close(t->links[i].fd);
	for (unsigned i = 0; i < t->nmbox; i++)
		if (t->mbox_fd[i] >= 0)
			close(t->mbox_fd[i]);
	for (unsigned i = 0; i < t->nlisten; i++)
		if (t->listen_fd[i] >= 0)
			close(t->listen_fd[i]);
	if (t->lock_fd >= 0)
		close(t->lock_fd);
	kbal_takeover_free(t);
}

void kbal_takeover_free(struct kbal_takeover *t)
{
	free(t->conns);
	memset(t, 0, sizeof(*t));
	t->lock_fd = -1;
}
