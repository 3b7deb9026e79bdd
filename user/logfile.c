// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* logfile.c - log files written by a thread of their own (logfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include "logfile.h"
#include "privs.h"

struct kbal_logfile {
	char spec[256];
	int fd;                       /* -1 for syslog */
	int facility;
	char *buf;                    /* lines waiting, '\n'-separated */
	size_t len;
	unsigned long dropped;        /* lines the cap refused since the last write */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	pthread_t thread;
	int running, stop, reopen;
	unsigned pending;             /* flush requests not served yet */
	unsigned nfiles;
	struct kbal_logfile files[KBAL_LOGFILE_MAX];
} lw = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
	 .done = PTHREAD_COND_INITIALIZER };

static const struct { const char *name; int value; } facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER }, { "local0", LOG_LOCAL0 },
	{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
	{ "local7", LOG_LOCAL7 }, { "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "cron", LOG_CRON }, { "mail", LOG_MAIL }, { "news", LOG_NEWS }, { "syslog", LOG_SYSLOG },
};

static int open_path(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* the thread's part: one file's lines out, in one write where it can */
static void write_out(struct kbal_logfile *f, const char *buf, size_t len)
{
	if (f->fd < 0) {
		for (const char *p = buf, *end = buf + len; p < end;) {
			const char *nl = memchr(p, '\n', end - p);
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			syslog(f->facility | LOG_INFO, "%.*s", (int)n, p);
			p += n + 1;
		}
		return;
	}
	while (len) {
		ssize_t n = write(f->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;   /* a full disk: the lines are lost, kbald goes on */
		buf += n;
		len -= n;
	}
}

static void *writer(void *arg)
{
	(void)arg;
	kbal_privs_thread();   /* it needs no capability */
	pthread_mutex_lock(&lw.lock);
	for (;;) {
		int busy = 0;

		if (lw.reopen) {
			unsigned n = lw.nfiles;

			lw.reopen = 0;
			/* files are only added, and only this thread writes fd:
			 * opened without the lock (a slow disk must not hold
			 * kbal_logfile_write() up) */
			pthread_mutex_unlock(&lw.lock);
			for (unsigned i = 0; i < n; i++) {
				struct kbal_logfile *f = &lw.files[i];
				int fd;

				if (f->fd < 0)
					continue;
				fd = open_path(f->spec);
				if (fd >= 0) {
					dup2(fd, f->fd);   /* the same number */
					close(fd);
				}
			}
			pthread_mutex_lock(&lw.lock);
		}
		for (unsigned i = 0; i < lw.nfiles; i++) {
			struct kbal_logfile *f = &lw.files[i];
			char *buf = f->buf, note[96];
			size_t len = f->len;
			unsigned long dropped = f->dropped;
			int n = 0;

			if (!len && !dropped)
				continue;
			busy = 1;
			f->buf = NULL;
			f->len = 0;
			f->dropped = 0;
			pthread_mutex_unlock(&lw.lock);
			if (dropped)
				n = snprintf(note, sizeof(note), "kbal: %lu log lines dropped: the "
					     "file did not keep up\n", dropped);
			if (n > 0)
				write_out(f, note, n);
			write_out(f, buf, len);
			free(buf);
			pthread_mutex_lock(&lw.lock);
		}
		if (busy)
			continue;
		if (lw.pending) {
			lw.pending = 0;
			pthread_cond_broadcast(&lw.done);
		}
		if (lw.stop)
			break;
		pthread_cond_wait(&lw.wake, &lw.lock);
	}
	pthread_mutex_unlock(&lw.lock);
	return NULL;
}

/* User (privs.c): the files become the user's, their group kept, so that
 * a restart's image and a reopen after logrotate open them as User */
void kbal_logfiles_chown(unsigned uid)
{
	pthread_mutex_lock(&lw.lock);
	for (unsigned i = 0; i < lw.nfiles; i++)
		if (lw.files[i].fd >= 0 && fchown(lw.files[i].fd, uid, (gid_t)-1))
			fprintf(stderr, "kbald: warning: %s: chown to uid %u: %s\n", lw.files[i].spec,
				uid, strerror(errno));
	pthread_mutex_unlock(&lw.lock);
}

struct kbal_logfile *kbal_logfile_open(const char *spec, char *err, size_t errlen)
{
	struct kbal_logfile *f = NULL;

	pthread_mutex_lock(&lw.lock);
	for (unsigned i = 0; i < lw.nfiles; i++)
		if (!strcmp(lw.files[i].spec, spec))
			f = &lw.files[i];
	if (f)
		goto out;
	if (lw.nfiles == KBAL_LOGFILE_MAX || strlen(spec) >= sizeof(f->spec)) {
		snprintf(err, errlen, "%s: too many log files, or too long a path", spec);
		goto out;
	}
	f = &lw.files[lw.nfiles];
	memset(f, 0, sizeof(*f));
	strcpy(f->spec, spec);
	f->fd = -1;
	if (!strncmp(spec, "syslog", 6) && (!spec[6] || spec[6] == ':')) {
		const char *fac = spec[6] ? spec + 7 : "local7";   /* httpd's default */
		size_t k = 0;

		while (k < sizeof(facilities) / sizeof(facilities[0]) &&
		       strcasecmp(facilities[k].name, fac))
			k++;
		if (k == sizeof(facilities) / sizeof(facilities[0])) {
			snprintf(err, errlen, "%s: unknown syslog facility '%s'", spec, fac);
			f = NULL;
			goto out;
		}
		f->facility = facilities[k].value;
		openlog("kbald", LOG_PID | LOG_NDELAY, f->facility);
	} else {
		f->fd = open_path(spec);
		if (f->fd < 0) {
			snprintf(err, errlen, "%s: %s", spec, strerror(errno));
			f = NULL;
			goto out;
		}
	}
	if (!lw.running) {
		if (pthread_create(&lw.thread, NULL, writer, NULL)) {
			snprintf(err, errlen, "%s: no thread to write it", spec);
			if (f->fd >= 0)
				close(f->fd);
			f = NULL;
			goto out;
		}
		lw.running = 1;
	}
	lw.nfiles++;
out:
	pthread_mutex_unlock(&lw.lock);
	return f;
}

void kbal_logfile_write(struct kbal_logfile *f, const char *line, size_t len)
{
	pthread_mutex_lock(&lw.lock);
	if (f->len + len + 1 > KBAL_LOGFILE_CAP) {
		f->dropped++;
	} else {
		if (!f->buf)
			f->buf = malloc(KBAL_LOGFILE_CAP);
		if (!f->buf) {
			f->dropped++;
		} else {
			memcpy(f->buf + f->len, line, len);
			f->buf[f->len + len] = '\n';
			f->len += len + 1;
		}
	}
	pthread_cond_signal(&lw.wake);
	pthread_mutex_unlock(&lw.lock);
}

void kbal_logfiles_reopen(void)
{
	pthread_mutex_lock(&lw.lock);
	lw.reopen = 1;
	pthread_cond_signal(&lw.wake);
	pthread_mutex_unlock(&lw.lock);
}

void kbal_logfiles_flush(void)
{
	pthread_mutex_lock(&lw.lock);
	if (lw.running) {
		lw.pending = 1;
		pthread_cond_signal(&lw.wake);
		while (lw.pending)
			pthread_cond_wait(&lw.done, &lw.lock);
	}
	pthread_mutex_unlock(&lw.lock);
}

void kbal_logfiles_close(void)
{
	pthread_mutex_lock(&lw.lock);
	if (!lw.running) {
		pthread_mutex_unlock(&lw.lock);
		return;
	}
	lw.stop = 1;
	pthread_cond_signal(&lw.wake);
	pthread_mutex_unlock(&lw.lock);
	pthread_join(lw.thread, NULL);
	for (unsigned i = 0; i < lw.nfiles; i++) {
		if (lw.files[i].fd >= 0)
			close(lw.files[i].fd);
		free(lw.files[i].buf);
	}
	lw.nfiles = 0;
	lw.running = lw.stop = 0;
}
