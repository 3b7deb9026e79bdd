/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hoststate.h - the host's state in a cluster (kbalctl host drain|activate,
 * docs/scale-out.md) kept across a stop of kbald. The live state is
 * kbal_meta.host_state, which the health check reads; kbalctl host writes
 * it there and here, in KBAL_STATE_DIR/NAME.host (NAME the pin dir's, so
 * that instances beside each other keep theirs apart):
 *   draining SINCE_NS          (CLOCK_REALTIME of the drain)
 * An active host has no file. kbald reads it when it starts afresh (a
 * restart in place keeps kbal_meta itself), as soon as its maps are made
 * (with its pid, which the health check needs) and before it listens: a
 * drained host stays out of the router's route across a stop, a crash or
 * a reboot, until kbalctl host activate.
 */
#ifndef KBAL_HOSTSTATE_H
#define KBAL_HOSTSTATE_H

#include <stddef.h>

#ifndef KBAL_STATE_DIR
#define KBAL_STATE_DIR "/var/lib/kbal"
#endif

/* KBAL_STATE_DIR/NAME.host for the pins in pin_dir */
void kbal_host_state_path(const char *pin_dir, char *path, size_t len);

/* kbalctl host: draining written with since_ns (the directory made if
 * need be; the file replaced whole and synced), active: the file removed.
 * 0, or -errno */
int kbal_host_state_save(const char *pin_dir, unsigned state, unsigned long long since_ns);

/* the state kept: 0 (*state, *since_ns set), -ENOENT (no file: active),
 * -EINVAL (not a state's line) or another -errno (unreadable) */
int kbal_host_state_load(const char *pin_dir, unsigned *state, unsigned long long *since_ns);

#endif
