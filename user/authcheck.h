/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * authcheck.h - a request's access check (authz.h, authn.h), in kbald's
 * loop when it is quick, in a thread of kbald's own when it may take long:
 * the client's host name (Require host: a reverse lookup, and the forward
 * one that confirms it, as httpd's double-reverse) and a password hash
 * (bcrypt costs milliseconds at the cost htpasswd writes). The loop hands
 * such a job over and goes on serving; the answer comes back through an
 * eventfd the loop watches (KBAL_TAG_AUTH).
 */
#ifndef KBAL_AUTHCHECK_H
#define KBAL_AUTHCHECK_H

#include <netdb.h>
#include <pthread.h>
#include "authz.h"

#define KBAL_AUTHCHECK_QUEUE 64           /* jobs queued or running, at most */

struct kbal_authjob {
	struct kbal_authjob *next;
	void *owner;                      /* the connection; NULL once it went */
	int queued;                       /* handed to the thread */
	const struct kbal_authz *authz;   /* the configuration's: outlives the job */
	struct kbal_authz_client cl;      /* addr, local; user and host once known */
	char *credentials;                /* the Authorization value, or NULL */
	/* the answer */
	int result;                       /* enum kbal_authz_result */
	const char *why;                  /* a refused user's reason, for the log */
	char user[KBAL_AUTHZ_NAME];
	char host[NI_MAXHOST];
	char groups[KBAL_AUTHZ_USERS + 1][KBAL_AUTHZ_NAME];   /* AuthGroupFile's, for user */
};

struct kbal_authcheck {
	int efd;                          /* eventfd: answers are waiting */
	int started;
	int stop;
	unsigned njobs;                   /* queued, running or answered */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kbal_authjob *todo, **todo_tail;
	struct kbal_authjob *done;
};

/* the eventfd (the thread starts at the first job): 0 or -errno */
int kbal_authcheck_init(struct kbal_authcheck *ac);
void kbal_authcheck_fini(struct kbal_authcheck *ac);

/*
 * Check a client against a's rules, with the Authorization header's
 * value (credentials, len; NULL: none). Returns the job, answered
 * (result set) when that was quick, or handed to the thread (result
 * unknown yet: *queued is 1 and kbal_authcheck_take() gives it back).
 * NULL: out of memory or too many jobs waiting.
 */
struct kbal_authjob *kbal_authcheck_start(struct kbal_authcheck *ac, const struct kbal_authz *a,
					  const struct kbal_authz_client *cl,
					  const char *credentials, size_t len, void *owner,
					  int *queued);

/* the answered jobs, a list by ->next (each freed by kbal_authjob_free();
 * those whose owner went are freed here) */
struct kbal_authjob *kbal_authcheck_take(struct kbal_authcheck *ac);

/* the owner goes: its job, still out, is freed when answered (owner is
 * the loop's field only: no lock) */
static inline void kbal_authjob_cancel(struct kbal_authjob *j)
{
	j->owner = NULL;
}

void kbal_authjob_free(struct kbal_authcheck *ac, struct kbal_authjob *j);

#endif
