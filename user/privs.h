/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * privs.h - User and Group (httpd's mod_unixd): kbald starts as root,
 * loads its programs, pins its maps and binds its ports, then runs as
 * User with only the capabilities it needs (docs/security.md names each
 * and why); KbalPinGroup: who may read the pin directory.
 */
#ifndef KBAL_PRIVS_H
#define KBAL_PRIVS_H

#include <stddef.h>
#include "conf.h"

/* Before anything is loaded: as root, User can reach pin_dir (its parent
 * searchable by that user); as another user, it is User already (a
 * restart's image). Else an error that says what to change. 0 without
 * User. */
int kbal_privs_reachable(const struct kbal_conf *c, const char *pin_dir);

/* The pin directory (dir_fd) and the pins in it: owned by User (root
 * without), of KbalPinGroup with modes 2750 and 0640, else 0700 and 0600.
 * Nothing changes without User and KbalPinGroup. */
void kbal_privs_pins(const struct kbal_conf *c, int dir_fd, const char *pin_dir);

/* Once started: become User and Group (as root; the log files kbald has
 * open become User's, for a restart's image and logrotate's reopen),
 * keeping only the capabilities named in privs.c; in a restart's image,
 * already User, drop what the exec handed over but those. 0 without User. */
int kbal_privs_drop(const struct kbal_conf *c);

/* A restart in place from now's configuration to next's: 0 if kbald runs
 * as root, or as next's User and Group, or (started as another user, now
 * without User) next has no User either; else -1 and why. */
int kbal_privs_restart_ok(const struct kbal_conf *now, const struct kbal_conf *next, char *why,
			  size_t len);

/* Around a restart's exec, as c's User: on, the capabilities a new image needs
 * to load and bind raised into the ambient set (an exec keeps them); off,
 * after an exec that failed, the ambient set empty again. */
void kbal_privs_exec(const struct kbal_conf *c, int on);

/* At the start of each of kbald's other threads, which need none: no
 * capability left in one that starts where kbald runs as User already
 * (after the switch, or in a restart's image); one started as root before
 * the switch loses them all in it. */
void kbal_privs_thread(void);

#endif
