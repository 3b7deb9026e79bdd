/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * logfile.h - where kbald's logs go (ErrorLog, CustomLog): a file, or
 * syslog. Writing a line never blocks the event loop: it is appended to the
 * file's buffer under a short lock, and one thread of kbald's own writes the
 * buffers out (a disk that stalls stalls that thread only). A buffer that
 * reaches its cap drops lines, and says how many in the next line it writes.
 * kbal_logfiles_reopen() (SIGUSR2, `kbalctl reopen`: after logrotate moved
 * the files) opens each file by its path again.
 */
#ifndef KBAL_LOGFILE_H
#define KBAL_LOGFILE_H

#include <stddef.h>

#define KBAL_LOGFILE_MAX   8          /* files open at once */
#define KBAL_LOGFILE_CAP   (4u << 20) /* bytes waiting for the thread, per file */

struct kbal_logfile;

/* spec: a path (opened O_APPEND, created 0640), or "syslog" /
 * "syslog:FACILITY" (local0..local7, daemon, user, ...). The same spec
 * twice gives the same file. NULL and a message in err on failure. */
struct kbal_logfile *kbal_logfile_open(const char *spec, char *err, size_t errlen);

/* a line (without its newline, which is added): never blocks on the disk */
void kbal_logfile_write(struct kbal_logfile *f, const char *line, size_t len);

/* every file opened again by its path, at the thread's next turn */
void kbal_logfiles_reopen(void);

/* write out what waits, and wait until it is written (a stop, an exec) */
void kbal_logfiles_flush(void);
/* User: the open files become uid's (their group kept) */
void kbal_logfiles_chown(unsigned uid);

/* flush, stop the thread, close the files */
void kbal_logfiles_close(void);

#endif
