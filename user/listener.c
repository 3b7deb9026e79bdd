// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * listener.c - where connections come from: the listening sockets (bound,
 * or taken from the previous image at a restart), accept, and the
 * descriptor budget that decides when kbald accepts and when the kernel's
 * backlog holds the clients (docs/operating.md, "Descriptors").
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "conn.h"
#include "daemon.h"
#include "inaddr.h"
#include "linger.h"
#include "listener.h"
#include "log.h"
#include "own_head.h"

/* Descriptors kept out of the connections' budget beyond those open at
 * start: the packet program's links on interfaces met later (two each),
 * getifaddrs(), the raw socket that ends flows, a log file. */
#define FD_SPARE      16
#define FD_RESUME     16   /* accept again with room for this many connections */
#define ACCEPT_BATCH  64   /* accepts per listener event: the others get their turn */
#define MIN(a, b) ((a) < (b) ? (a) : (b))

void listener_pause(struct kbal_daemon *d, int why)
{
	if (!d->acc.paused)
		for (unsigned i = 0; i < d->acc.n; i++)
			kbal_loop_del(&d->loop, d->acc.l[i].fd);
	d->acc.paused = why;
	d->acc.resume = why == ACCEPT_RETRY ? d->loop.now + 100000000ull : UINT64_MAX;
}

void listener_resume(struct kbal_daemon *d)
{
	if (!d->acc.paused || d->acc.paused == ACCEPT_RESTART)
		return;
	/* past the budget: again once a connection fits, and a few more
	 * (a sixteenth of the budget at most), not at every descriptor; a
	 * lingering close ends within seconds (linger.h) */
	if (d->acc.paused == ACCEPT_FULL ?
	    !kbal_fds_room(d, 2 + MIN(2 * FD_RESUME, d->acc.fd_budget / 16)) &&
	    (d->nconns || d->lingering.n) :
	    d->loop.now < d->acc.resume)
		return;
	for (unsigned i = 0; i < d->acc.n; i++)
		kbal_loop_add(&d->loop, d->acc.l[i].fd, EPOLLIN, KBAL_TAG_LISTENER, (uintptr_t)i << KBAL_TAG_BITS);
	d->acc.paused = ACCEPT_ON;
}

/*
 * A connection may need two descriptors (client, member): one comes in
 * only with room for both. Otherwise the pipes connections keep idle go
 * first (kbal_fds_room()), then kept member connections;
 * with none left, accepting waits for flows to end and the kernel's
 * backlog holds the clients: a slower accept, never an error to a client.
 */
static int fds_room(struct kbal_daemon *d)
{
	while (!kbal_fds_room(d, 2))
		if (!kbal_pool_release(&d->pool)) {
			if (d->loop.now - d->acc.fd_full_logged >= 10000000000ull) {
				d->acc.fd_full_logged = d->loop.now;
				log_warn("%llu connections hold the descriptor budget (%llu of "
					 "RLIMIT_NOFILE %llu): accepting as they end",
					 (unsigned long long)d->nconns,
					 (unsigned long long)d->acc.fd_budget,
					 (unsigned long long)d->acc.fd_limit);
			}
			d->acc.fd_full++;
			listener_pause(d, ACCEPT_FULL);
			return 0;
		}
	return 1;
}

/* KbalMaxConnectionsPerClient: one address holds as many as it may
 * already. The client gets a 503 that says so, before it asked anything,
 * and the connection closes; the log says so once in 10 s at most. */
static int over_client_limit(struct kbal_daemon *d, int fd, const uint8_t *addr)
{
#define REFUSAL_BODY "Too many connections from your address: retry.\n"
	/* with Date and Server as kbald's other answers (own_head.c) */
	static const char refusal[] =
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 47\r\n"
		"Connection: close\r\nContent-Type: text/plain\r\n\r\n" REFUSAL_BODY;
	_Static_assert(sizeof(REFUSAL_BODY) - 1 == 47, "its Content-Length");
	unsigned max = d->conf->max_per_client;
	char ip[INET6_ADDRSTRLEN], *page;
	ssize_t n;

	if (!max || kbal_client_count_get(&d->acc.clients, kbal_client_key(addr)) < max)
		return 0;
	/* no lingering close: that would hold a descriptor for an address
	 * past its bound; what it sent is dropped all the same (its request,
	 * there at the accept: AcceptFilter), which a close() would answer
	 * with a reset that can beat the 503 */
	n = own_head_write(d->conf, refusal, sizeof(refusal) - 1, NULL, 0, &page);
	if (n > 0 && send(fd, page, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		linger_none(fd);
	else
		close(fd);
	if (n > 0)
		free(page);
	d->acc.refused++;
	if (d->loop.now - d->acc.refused_logged >= 10000000000ull) {
		d->acc.refused_logged = d->loop.now;
		log_warn("%s holds %u connections, KbalMaxConnectionsPerClient: refused with 503 "
			 "(%llu refusals so far)", kbal_in6_ntop(addr, ip, sizeof(ip)), max,
			 (unsigned long long)d->acc.refused);
	}
	return 1;
}

static void accept_clients(struct kbal_daemon *d, struct kbal_listener *l)
{
	for (int n = 0; n < ACCEPT_BATCH && fds_room(d); n++) {
		union kbal_sa sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(l->fd, &sa.sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) && kbal_pool_release(&d->pool))
				continue;   /* kept member connections go first */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The listener stays readable: without a pause the
				 * loop would spin on it. Retry in 100 ms. */
				if (!d->acc.paused)
					log_warn("accept: %s: not accepting for 100 ms (%llu connections)",
						 strerror(errno), (unsigned long long)d->nconns);
				listener_pause(d, ACCEPT_RETRY);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		struct kbal_flow_key key = { .listen_port = l->port };

		/* a [::] listener's IPv4 client comes v4-mapped: the form
		 * the key keeps IPv4 in already */
		kbal_in6_of_sa(&sa.sa, key.client_addr, &key.client_port);
		if (over_client_limit(d, fd, key.client_addr))
			continue;
		if (conn_new(d, fd, &key, NULL))
			return;
	}
}

/* t: a listener of the previous image bound to the same address is
 * taken (its queue of clients with it) instead of a new one */
int listener_open(struct kbal_daemon *d, const struct kbal_conf_listen *cl,
		    struct kbal_takeover *t)
{
	struct kbal_listener *l = &d->acc.l[d->acc.n];
	char ip[INET6_ADDRSTRLEN + 2];
	union kbal_sa want;
	socklen_t wlen = kbal_sa_make(&want, &cl->addr.sin6_addr, cl->addr.sin6_port);
	int one = 1, defer, err, v6only;

	if (want.sa.sa_family == AF_INET6) {
		ip[0] = '[';
		inet_ntop(AF_INET6, &cl->addr.sin6_addr, ip + 1, sizeof(ip) - 2);
		strcat(ip, "]");
	} else {
		inet_ntop(AF_INET, &want.in.sin_addr, ip, sizeof(ip));
	}
	l->fd = -1;
	for (unsigned i = 0; t && i < t->nlisten && l->fd < 0; i++) {
		union kbal_sa sa;
		socklen_t sl = sizeof(sa);

		if (t->listen_fd[i] >= 0 &&
		    !getsockname(t->listen_fd[i], &sa.sa, &sl) && sl == wlen &&
		    !memcmp(&sa, &want, wlen)) {
			l->fd = t->listen_fd[i];
			t->listen_fd[i] = -1;
		}
	}
	if (l->fd < 0) {
		l->fd = socket(want.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (l->fd < 0)
			return -errno;
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* [::] takes IPv4 clients too, as httpd's (APR's IPV6_V6ONLY
		 * off), unless a 0.0.0.0 listener on its port takes them */
		if (want.sa.sa_family == AF_INET6) {
			v6only = 0;
			for (unsigned i = 0; i < d->conf->nlisten; i++)
				if (d->conf->listen[i].addr.sin6_port == cl->addr.sin6_port &&
				    kbal_in6_is_v4(&d->conf->listen[i].addr.sin6_addr) &&
				    kbal_in6_is_any(&d->conf->listen[i].addr.sin6_addr))
					v6only = 1;
			setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
		}
		/* inherited by every accepted socket: no setsockopt per client */
		setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (bind(l->fd, &want.sa, wlen) ||
		    listen(l->fd, 4096)) {
			err = -errno;
			log_err("%s:%d: Listen %s:%u: %s", KBAL_CONF_FILE(d->conf, cl->line), KBAL_CONF_LINENO(cl->line), ip,
				ntohs(cl->addr.sin6_port), strerror(-err));
			close(l->fd);
			return err;
		}
	}
	/* AcceptFilter http data, httpd's default on Linux: the client is
	 * accepted when its request's first bytes are there, so the read
	 * that follows accept() finds them (one wake-up per connection, not
	 * two); 30 s as httpd, after which a silent client is accepted and
	 * meets RequestReadTimeout. Set on a taken listener too: the new
	 * configuration may say otherwise. */
	defer = d->conf->accept_filter_none ? 0 : 30;
	if (setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer)))
		log_warn("Listen %s:%u: TCP_DEFER_ACCEPT: %s", ip, ntohs(cl->addr.sin6_port),
			 strerror(errno));
	l->port = ntohs(cl->addr.sin6_port);
	if ((err = kbal_loop_add(&d->loop, l->fd, EPOLLIN, KBAL_TAG_LISTENER,
				 (uintptr_t)d->acc.n << KBAL_TAG_BITS))) {
		close(l->fd);
		return err;
	}
	d->acc.n++;
	log_info("listening on %s:%u", ip, l->port);
	return 0;
}

static unsigned fds_open(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (!dir)
		return 64;   /* no /proc: a guess on the safe side */
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n - 1;    /* the directory's own */
}

/*
 * The descriptors connections may use: RLIMIT_NOFILE raised to its hard
 * limit (what the administrator allows; epoll has no FD_SETSIZE), less
 * those open now that are not a connection's (listeners, maps, programs,
 * epoll), two for each interface the packet program may be attached to
 * later, and a few spare.
 */
void listener_budget_init(struct kbal_daemon *d)
{
	struct rlimit rl;
	uint64_t reserve, open = fds_open(), conns = kbal_fds_held(d);

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = 1024;
	} else if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	reserve = (open > conns ? open - conns : 0) + FD_SPARE;
	if (d->pk.on) {
		struct if_nameindex *ifs = if_nameindex();
		unsigned nifs = 0;

		for (struct if_nameindex *i = ifs; i && i->if_index; i++)
			nifs++;
		if (ifs)
			if_freenameindex(ifs);
		reserve += 2 * (nifs < KBAL_PKT_MAX_IFS ? nifs : KBAL_PKT_MAX_IFS);
	}
	d->acc.fd_limit = rl.rlim_cur;
	d->acc.fd_budget = rl.rlim_cur > reserve + 2 ? rl.rlim_cur - reserve : 2;
	log_info("descriptors: %llu for connections (RLIMIT_NOFILE %llu), about %llu connections",
		 (unsigned long long)d->acc.fd_budget, (unsigned long long)d->acc.fd_limit,
		 (unsigned long long)d->acc.fd_budget / 2);
}


static void listener_ready(void *data, uintptr_t obj, unsigned tag, uint32_t events)
{
	struct kbal_daemon *d = data;

	(void)tag, (void)events;
	accept_clients(d, &d->acc.l[obj >> KBAL_TAG_BITS]);
}

void listener_init(struct kbal_daemon *d)
{
	kbal_loop_on(&d->loop, KBAL_TAG_LISTENER, listener_ready);
}

void listener_fini(struct kbal_daemon *d)
{
	for (unsigned i = 0; i < d->acc.n; i++)
		close(d->acc.l[i].fd);
	d->acc.n = 0;
	kbal_client_count_fini(&d->acc.clients);
}
