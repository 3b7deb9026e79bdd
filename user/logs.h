/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * logs.h - kbald's logs as an Apache configuration names them: ErrorLog
 * and LogLevel for its messages, CustomLog lines for each request kbald
 * decides (accesslog.h) and for each flow the kernel carried when it ends.
 * The files are written by logfile.c's thread: nothing here blocks.
 */
#ifndef KBAL_LOGS_H
#define KBAL_LOGS_H

struct kbal_daemon;
struct kbal_conn;

/* open ErrorLog (kbald's messages go there from now on) and the
 * CustomLogs; LogLevel unless -v asked for debug. 0, or -1 (said why) */
int kbal_logs_open(struct kbal_daemon *d, int verbose);

/* a routed request's part of its line, captured at its head */
void kbal_logs_capture(struct kbal_daemon *d, struct kbal_conn *c);

/* a request refused before its head was whole (kbald answers 400, 414,
 * 431): its part of the line, as httpd logs it */
void kbal_logs_refused(struct kbal_daemon *d, struct kbal_conn *c);

/* the exchange kbald served ends: its line ('+' the connection goes on,
 * '-' it closes after a whole answer, 'X' before one); nothing for an
 * exchange whose request was never routed */
void kbal_logs_request(struct kbal_daemon *d, struct kbal_conn *c, char conn_status);

/* a flow the kernel carried (or kbald copied after its handover) ends */
void kbal_logs_flow(struct kbal_daemon *d, struct kbal_conn *c);

#endif
