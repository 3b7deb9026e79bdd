/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kbal-backend - the HTTP/1.1 member that kbal's demo, tests and benchmarks
 * balance to. One thread, one edge-triggered epoll set, no allocation per
 * request: a connection's buffers come from a free list and /bytes/N is sent
 * straight out of a 2 MiB table holding one period of its pattern.
 *
 *   kbal-backend --listen 127.0.0.1:18081 --name WAS1 [--log FILE]
 *                [--shared IP:PORT]
 *
 * Port 0 picks a free port; the ready line on stdout names the real one:
 *   "kbal-backend WAS1 listening on 127.0.0.1:18081"
 * --shared listens on a second address with SO_REUSEPORT, which any number
 * of backends can share: the kernel spreads the connections to it over
 * them (the benchmark's no-proxy baseline over both members).
 *
 * Requests are answered one at a time in arrival order (http.c); what each
 * path answers is in endpoints.c, the /fault-* paths in faults.c.
 * --proxy-protocol: every connection must start with a PROXY protocol header
 * (version 1 or 2, TCP4; else 400 and closed); the log lines end in
 * " proxy=IP:PORT".
 * Malformed requests get 400 and the connection is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "backend.h"

/* The epoll_event.data.ptr of the non-connection fds. */
static char kb_tag_listen[2], kb_tag_signal;

/* IP:PORT, or [IPV6]:PORT */
static int parse_listen(const char *arg, struct sockaddr_in6 *sa)
{
	char ip[INET6_ADDRSTRLEN];
	const char *colon = strrchr(arg, ':'), *a = arg;
	size_t n = colon ? (size_t)(colon - arg) : 0;
	char *end;
	unsigned long port;

	if (a[0] == '[' && n >= 2 && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (!colon || n >= sizeof(ip))
		return -1;
	memcpy(ip, a, n);
	ip[n] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	if (a != arg) {
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons(port);
		return inet_pton(AF_INET6, ip, &sa->sin6_addr) == 1 ? 0 : -1;
	}
	((struct sockaddr_in *)sa)->sin_family = AF_INET;
	((struct sockaddr_in *)sa)->sin_port = htons(port);
	return inet_pton(AF_INET, ip, &((struct sockaddr_in *)sa)->sin_addr) == 1 ? 0 : -1;
}

/* a listening socket on sa with option opt (SO_REUSEADDR or SO_REUSEPORT)
 * set; -1 with the reason printed */
static int listen_on(const struct sockaddr_in6 *sa, int opt, const char *what)
{
	int one = 1, fd = socket(sa->sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t len = sa->sin6_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
		       sizeof(struct sockaddr_in);

	if (fd >= 0 && sa->sin6_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, opt, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)sa, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		fprintf(stderr, "kbal-backend: %s: %s\n", what, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kbal-backend --listen IP:PORT --name NAME [--log FILE] [--shared IP:PORT]\n"
		   "                    [--proxy-protocol]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'L' },
		{ "shared", required_argument, NULL, 's' },
		{ "proxy-protocol", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct epoll_event evs[KB_MAX_EVENTS];
	struct kb_server s = { .epfd = -1, .lfd = { -1, -1 }, .sfd = -1, .logfd = -1 };
	const char *listen_arg = NULL, *log_path = NULL, *shared_arg = NULL;
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_in6 sa, shared_sa;
	socklen_t salen = sizeof(sa);
	char ip[INET6_ADDRSTRLEN];
	sigset_t mask;
	int opt, ret = 1, running = 1;

	while ((opt = getopt_long(argc, argv, "l:n:L:s:Ph", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen_arg = optarg; break;
		case 'n': s.name = optarg; break;
		case 'L': log_path = optarg; break;
		case 's': shared_arg = optarg; break;
		case 'P': s.proxy_protocol = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!listen_arg || !s.name || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strlen(s.name) > KB_NAME_MAX) {
		fprintf(stderr, "kbal-backend: name longer than %d\n", KB_NAME_MAX);
		return 2;
	}
	if (parse_listen(listen_arg, &sa) < 0) {
		fprintf(stderr, "kbal-backend: bad --listen '%s' (want IP:PORT)\n", listen_arg);
		return 2;
	}
	if (shared_arg && (parse_listen(shared_arg, &shared_sa) < 0 || !shared_sa.sin6_port)) {
		fprintf(stderr, "kbal-backend: bad --shared '%s' (want IP:PORT, port not 0)\n",
			shared_arg);
		return 2;
	}

	pattern_init();
	http_settings_init(&s.settings);
	s.slowq.delay_ns = KB_SLOW_NS;
	s.lingerq.delay_ns = KB_LINGER_NS;

	if (log_path) {
		s.logfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (s.logfd < 0) {
			fprintf(stderr, "kbal-backend: %s: %s\n", log_path, strerror(errno));
			goto cleanup;
		}
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	if (s.sfd < 0) {
		fprintf(stderr, "kbal-backend: signalfd: %s\n", strerror(errno));
		goto cleanup;
	}
	s.lfd[0] = listen_on(&sa, SO_REUSEADDR, listen_arg);
	if (s.lfd[0] < 0 || getsockname(s.lfd[0], (struct sockaddr *)&sa, &salen) < 0)
		goto cleanup;
	if (shared_arg && (s.lfd[1] = listen_on(&shared_sa, SO_REUSEPORT, shared_arg)) < 0)
		goto cleanup;
	if (sa.sin6_family == AF_INET6) {
		inet_ntop(AF_INET6, &sa.sin6_addr, ip, sizeof(ip));
		snprintf(s.addr, sizeof(s.addr), "[%s]:%u", ip, ntohs(sa.sin6_port));
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, ip, sizeof(ip));
		snprintf(s.addr, sizeof(s.addr), "%s:%u", ip, ntohs(sa.sin6_port));
	}

	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.epfd < 0) {
		fprintf(stderr, "kbal-backend: epoll: %s\n", strerror(errno));
		goto cleanup;
	}
	for (int i = 0; i < 2; i++) {
		ev.data.ptr = &kb_tag_listen[i];
		if (s.lfd[i] >= 0)
			epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.lfd[i], &ev);
	}
	ev.data.ptr = &kb_tag_signal;
	epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.sfd, &ev);

	printf("kbal-backend %s listening on %s\n", s.name, s.addr);
	fflush(stdout);

	while (running) {
		int n = epoll_wait(s.epfd, evs, KB_MAX_EVENTS, next_timeout_ms(&s));

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "kbal-backend: epoll_wait: %s\n", strerror(errno));
			goto cleanup;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			struct kb_conn *c = tag;

			if (tag == &kb_tag_listen[0] || tag == &kb_tag_listen[1]) {
				do_accept(&s, s.lfd[tag == &kb_tag_listen[1]]);
			} else if (tag == &kb_tag_signal) {
				running = 0;
			} else if (c->fd >= 0) {
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					c->readable = 1;
				if (evs[i].events & (EPOLLRDHUP | EPOLLHUP))
					c->hup = 1;
				conn_run(&s, c);
			}
		}
		run_timers(&s);
		while (s.dead) {
			struct kb_conn *c = s.dead;

			s.dead = c->next_free;
			c->next_free = s.free_list;
			s.free_list = c;
		}
	}
	ret = 0;
cleanup:
	/* open connections close with the process; their memory is freed,
	 * so that a leak checker (make SANITIZE=1) reports only real leaks */
	while (s.all) {
		struct kb_conn *c = s.all;

		s.all = c->next_all;
		free(c);
	}
	if (s.epfd >= 0)
		close(s.epfd);
	for (int i = 0; i < 2; i++)
		if (s.lfd[i] >= 0)
			close(s.lfd[i]);
	if (s.sfd >= 0)
		close(s.sfd);
	if (s.logfd >= 0)
		close(s.logfd);
	return ret;
}
