/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * notify.h - kbald's state for its service manager (systemd's Type=notify,
 * through libsystemd's sd_notify(); nothing when NOTIFY_SOCKET is unset):
 * READY once listening (and again after a restart in place, or one
 * refused), RELOADING while a restart in place runs, STOPPING at the end.
 * The image a restart execs keeps NOTIFY_SOCKET and the same PID, so the
 * unit needs no MAINPID.
 */
#ifndef KBAL_NOTIFY_H
#define KBAL_NOTIFY_H

/* listening: STATUS says how many balancers */
void kbal_notify_ready(unsigned nbalancers);

/* a restart in place begins (the configuration loaded) */
void kbal_notify_reloading(void);

/* a restart refused or failed: still running, as before; why in STATUS */
void kbal_notify_still(const char *why);

void kbal_notify_stopping(void);

#endif
