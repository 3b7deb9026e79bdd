/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * persist.h - BalancerPersist On: the members' run-time changes (status,
 * load factor, lbset, route: what the manager or kbalctl set changed
 * against the configuration) written to a file when kbald stops and
 * applied again when it starts, as Apache keeps them in its runtime
 * directory. The file (KbalPersistFile, default /run/kbal/NAME.persist,
 * NAME the pin dir's) is one line a member:
 *   BALANCER URL STATUS LOADFACTOR LBSET ROUTE|- [added]
 * "added": a member added at run time (growth=), added again at the start
 * into a free slot, as Apache keeps the workers its manager added.
 */
#ifndef KBAL_PERSIST_H
#define KBAL_PERSIST_H

struct kbal_daemon;

/* at a stop: 0, or -errno (logged) */
int persist_save(struct kbal_daemon *d);

/* at a start (not a restart in place, which carries them itself) */
void persist_load(struct kbal_daemon *d);

/* at a start afresh (not a restart in place, whose kbal_meta is kept): the
 * host's state kbalctl host kept (hoststate.h) into kbal_meta, logged */
void persist_host_load(struct kbal_daemon *d);

#endif
