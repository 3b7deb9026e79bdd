// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* hoststate.c - the host's state across a stop (hoststate.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "hoststate.h"
#include "kbal_shared.h"

void kbal_host_state_path(const char *pin_dir, char *path, size_t len)
{
	const char *base = strrchr(pin_dir, '/');

	snprintf(path, len, "%s/%s.host", KBAL_STATE_DIR, base && base[1] ? base + 1 : pin_dir);
}

int kbal_host_state_save(const char *pin_dir, unsigned state, unsigned long long since_ns)
{
	char path[512], tmp[600], line[64];
	int fd, n, err = 0;

	kbal_host_state_path(pin_dir, path, sizeof(path));
	if (state == KBAL_HOST_ACTIVE)
		return unlink(path) && errno != ENOENT ? -errno : 0;
	if (mkdir(KBAL_STATE_DIR, 0755) && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "draining %llu\n", since_ns);
	errno = 0;
	/* on the disk before it takes the old one's place: a power cut
	 * leaves the one or the other */
	if (write(fd, line, n) != n || fsync(fd))
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	fd = open(KBAL_STATE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

int kbal_host_state_load(const char *pin_dir, unsigned *state, unsigned long long *since_ns)
{
	char path[512], name[16], line[64], end;
	FILE *f;
	int ok;

	kbal_host_state_path(pin_dir, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ok = fgets(line, sizeof(line), f) &&
	     sscanf(line, "%15s %llu%c", name, since_ns, &end) == 3 && end == '\n' &&
	     !strcmp(name, "draining");
	fclose(f);
	if (!ok)
		return -EINVAL;
	*state = KBAL_HOST_DRAINING;
	return 0;
}
