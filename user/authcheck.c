// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * authcheck.c - access checks, quick ones in the loop and slow ones in a
 * thread (authcheck.h). The thread only runs jobs: it touches nothing of
 * the loop's but the queues below, under their lock, and of a job never
 * its owner, which is the loop's alone.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include "authcheck.h"
#include "privs.h"
#include "authn.h"
#include "inaddr.h"

/* httpd's double-reverse lookup (REMOTE_DOUBLE_REV): the address's name,
 * kept only when that name's addresses include it again; 0, or -1 */
static int double_reverse(const uint8_t *addr, char *host, size_t len)
{
	union kbal_sa sa;
	socklen_t salen = kbal_sa_make(&sa, addr, 0);
	struct addrinfo hints = { .ai_family = sa.sa.sa_family, .ai_socktype = SOCK_STREAM },
			*res, *r;
	uint8_t got[16];
	int found = -1;

	if (getnameinfo(&sa.sa, salen, host, len, NULL, 0, NI_NAMEREQD))
		return -1;
	if (getaddrinfo(host, NULL, &hints, &res))
		return -1;
	for (r = res; r; r = r->ai_next)
		if (!kbal_in6_of_sa(r->ai_addr, got, NULL) && !memcmp(got, addr, 16))
			found = 0;
	freeaddrinfo(res);
	return found;
}

/* the whole check, as mod_authz_core runs it: the rules; when only a user
 * could be granted, the credentials, then the rules again with the user */
static void run(struct kbal_authjob *j)
{
	const struct kbal_authz *a = j->authz;

	if (kbal_authz_needs_host(a) && !j->cl.host &&
	    double_reverse(j->cl.addr, j->host, sizeof(j->host)) == 0)
		j->cl.host = j->host;
	j->result = kbal_authz_check(a, &j->cl);
	if (j->result != KBAL_AUTHZ_NEED_USER)
		return;
	if (!kbal_authn_basic(a, j->credentials, j->credentials ? strlen(j->credentials) : 0,
			      j->user, sizeof(j->user), &j->why))
		return;
	j->cl.user = j->user;
	/* read at each check, as mod_authz_groupfile reads it: a file that
	 * cannot be read puts the user in no group */
	if (a->groupfile[0]) {
		if (kbal_authn_groups(a->groupfile, j->user, j->groups, KBAL_AUTHZ_USERS) < 0)
			j->groups[0][0] = '\0';
		j->cl.groups = (const char (*)[KBAL_AUTHZ_NAME])j->groups;
	}
	j->result = kbal_authz_check(a, &j->cl);
	if (j->result != KBAL_AUTHZ_GRANTED) {
		/* httpd: a user denied is asked again (401) */
		j->result = KBAL_AUTHZ_NEED_USER;
		j->why = "a user the rules do not grant";
	}
}

static void *worker(void *arg)
{
	struct kbal_authcheck *ac = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);   /* kbald's signalfd takes them */
	kbal_privs_thread();                      /* it needs no capability */
	pthread_mutex_lock(&ac->lock);
	for (;;) {
		struct kbal_authjob *j;
		uint64_t one = 1;

		while (!ac->todo && !ac->stop)
			pthread_cond_wait(&ac->cond, &ac->lock);
		if (ac->stop)
			break;
		j = ac->todo;
		ac->todo = j->next;
		if (!ac->todo)
			ac->todo_tail = &ac->todo;
		pthread_mutex_unlock(&ac->lock);
		run(j);   /* owner is the loop's: a job whose client went runs all the same */
		pthread_mutex_lock(&ac->lock);
		j->next = ac->done;
		ac->done = j;
		if (write(ac->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&ac->lock);
	return NULL;
}

int kbal_authcheck_init(struct kbal_authcheck *ac)
{
	memset(ac, 0, sizeof(*ac));
	ac->todo_tail = &ac->todo;
	ac->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ac->efd < 0)
		return -errno;
	pthread_mutex_init(&ac->lock, NULL);
	pthread_cond_init(&ac->cond, NULL);
	return 0;
}

static void free_list(struct kbal_authjob *j)
{
	while (j) {
		struct kbal_authjob *next = j->next;

		free(j->credentials);
		free(j);
		j = next;
	}
}

void kbal_authcheck_fini(struct kbal_authcheck *ac)
{
	if (ac->efd < 0)
		return;
	if (ac->started) {
		struct timespec until;

		pthread_mutex_lock(&ac->lock);
		ac->stop = 1;
		pthread_cond_signal(&ac->cond);
		pthread_mutex_unlock(&ac->lock);
		/* a lookup under way may wait for the resolver's timeouts: kbald
		 * does not wait that long to stop, and leaves the thread to the
		 * process's exit (with the jobs it may still touch) */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		if (pthread_timedjoin_np(ac->thread, NULL, &until))
			return;
	}
	free_list(ac->todo);
	free_list(ac->done);
	pthread_cond_destroy(&ac->cond);
	pthread_mutex_destroy(&ac->lock);
	close(ac->efd);
	ac->efd = -1;
}

struct kbal_authjob *kbal_authcheck_start(struct kbal_authcheck *ac, const struct kbal_authz *a,
					  const struct kbal_authz_client *cl,
					  const char *credentials, size_t len, void *owner,
					  int *queued)
{
	struct kbal_authjob *j = calloc(1, sizeof(*j));

	*queued = 0;
	if (!j)
		return NULL;
	j->owner = owner;
	j->authz = a;
	j->cl = *cl;
	j->cl.user = j->cl.host = NULL;
	j->result = kbal_authz_check(a, &j->cl);
	/* quick: no name to look up, and no password to check */
	if (!kbal_authz_needs_host(a) && (j->result != KBAL_AUTHZ_NEED_USER || !credentials)) {
		if (j->result == KBAL_AUTHZ_NEED_USER)
			j->why = "no credentials";
		return j;
	}
	if (credentials && !(j->credentials = strndup(credentials, len)))
		goto fail;
	if (ac->njobs >= KBAL_AUTHCHECK_QUEUE)
		goto fail;
	if (!ac->started) {
		if (pthread_create(&ac->thread, NULL, worker, ac))
			goto fail;
		ac->started = 1;
	}
	pthread_mutex_lock(&ac->lock);
	*ac->todo_tail = j;
	ac->todo_tail = &j->next;
	pthread_cond_signal(&ac->cond);
	pthread_mutex_unlock(&ac->lock);
	ac->njobs++;
	j->queued = *queued = 1;
	return j;
fail:
	free(j->credentials);
	free(j);
	return NULL;
}

struct kbal_authjob *kbal_authcheck_take(struct kbal_authcheck *ac)
{
	struct kbal_authjob *list, *mine = NULL, *j;
	uint64_t n;

	if (read(ac->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return NULL;
	pthread_mutex_lock(&ac->lock);
	list = ac->done;
	ac->done = NULL;
	pthread_mutex_unlock(&ac->lock);
	while ((j = list)) {
		list = j->next;
		if (!j->owner) {
			kbal_authjob_free(ac, j);
			continue;
		}
		j->next = mine;
		mine = j;
	}
	return mine;
}

void kbal_authjob_free(struct kbal_authcheck *ac, struct kbal_authjob *j)
{
	if (!j)
		return;
	if (j->queued)
		ac->njobs--;
	free(j->credentials);
	free(j);
}
