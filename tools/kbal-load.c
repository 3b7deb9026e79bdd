// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kbal-load - a connection-churn load for the benchmark: N connections at
 * once, each sends K requests (the last with "Connection: close"), reads
 * the responses, closes and is replaced by a new one, until the duration
 * is over. wrk cannot do this: it has no per-connection request count. It
 * measures what kbald spends per connection it hands over (K = 2: the
 * first exchange, the handover, one request on the spliced/joined flow).
 *
 *   kbal-load ADDR:PORT --conns N --requests K --duration S [--path P] [--read B]
 *
 * --read B: at most B bytes per recv (default 65535), as a client that
 * reads in small pieces does (wrk reads 8 KiB).
 *
 * Prints the figures as the "KBAL_BENCH {...}" line tools/bench.py reads
 * from wrk (requests, bytes, p50/p99 of a request's latency in us, errors)
 * plus "connections". Responses must carry a Content-Length (the
 * benchmark's backends and the proxies in front of them do). An answer
 * with "Connection: close" (the server's MaxKeepAliveRequests) ends its
 * connection early, as it would a browser's: replaced, no error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE   65536
#define LAT_BUCKETS 200000         /* 1 us buckets up to 200 ms, then the last */

struct conn {
	int fd;
	int done;                      /* responses read on this connection */
	int connected;
	uint64_t sent_ns;              /* when the current request went out */
	uint64_t opened_ns;            /* when the connection was opened */
	size_t have;                   /* bytes in buf */
	long body_left;                /* -1: reading the head */
	int last;                      /* the response under way ends the connection */
	char buf[BUF_SIZE];
};

static struct sockaddr_in target;
static int nreq = 2, epfd;
static size_t read_size = BUF_SIZE - 1;
static const char *path = "/";
static char req_ka[512], req_close[512];
static size_t req_ka_len, req_close_len;
static uint64_t requests, connections, bytes_read, lat[LAT_BUCKETS];
static uint64_t count_until = ~0ull;      /* the end of the measured time */
static uint64_t err_connect, err_read, err_write, err_status;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int send_request(struct conn *c)
{
	int last = c->done + 1 == nreq;
	const char *r = last ? req_close : req_ka;
	size_t len = last ? req_close_len : req_ka_len;

	c->sent_ns = now_ns();
	c->body_left = -1;
	/* a request is small: one send() takes it or the connection failed */
	if (send(c->fd, r, len, MSG_NOSIGNAL) != (ssize_t)len) {
		err_write++;
		return -1;
	}
	return 0;
}

static int open_conn(struct conn *c)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->done = 0;
	c->last = 0;
	c->connected = 0;
	c->opened_ns = now_ns();
	c->have = 0;
	if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) && errno != EINPROGRESS) {
		err_connect++;
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void close_conn(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* the Content-Length of a response head in buf[0..len), -1 if none */
static long content_length(const char *buf, size_t len)
{
	for (const char *p = buf; p && p < buf + len; p = memchr(p, '\n', buf + len - p)) {
		if (*p == '\n')
			p++;
		if ((size_t)(buf + len - p) > 15 && !strncasecmp(p, "Content-Length:", 15))
			return strtol(p + 15, NULL, 10);
	}
	return -1;
}

/* the response head in buf[0..len) says "Connection: close" */
static int says_close(const char *buf, size_t len)
{
	for (const char *p = buf; p && p < buf + len; p = memchr(p, '\n', buf + len - p)) {
		if (*p == '\n')
			p++;
		if ((size_t)(buf + len - p) > 17 && !strncasecmp(p, "Connection: close", 17))
			return 1;
	}
	return 0;
}

/* returns 1 when the connection is finished (closed), 0 to go on */
static int on_readable(struct conn *c)
{
	for (;;) {
		size_t room = sizeof(c->buf) - c->have - 1;
		ssize_t n = recv(c->fd, c->buf + c->have, room < read_size ? room : read_size, 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			err_read++;
			close_conn(c);
			return 1;
		}
		bytes_read += n;
		c->have += n;
		for (;;) {
			if (c->body_left < 0) {
				char *end;

				c->buf[c->have] = '\0';
				end = strstr(c->buf, "\r\n\r\n");
				if (!end) {
					if (c->have + 1 >= sizeof(c->buf)) {
						err_read++;
						close_conn(c);
						return 1;
					}
					break;
				}
				size_t head = end + 4 - c->buf;
				long cl = content_length(c->buf, head);

				if (cl < 0 || strncmp(c->buf + 9, "200", 3)) {
					err_status++;
					close_conn(c);
					return 1;
				}
				c->last = says_close(c->buf, head);
				memmove(c->buf, c->buf + head, c->have - head);
				c->have -= head;
				c->body_left = cl;
			}
			size_t take = (size_t)c->body_left < c->have ? (size_t)c->body_left : c->have;

			c->body_left -= take;
			memmove(c->buf, c->buf + take, c->have - take);
			c->have -= take;
			if (c->body_left > 0)
				break;
			/* a whole response */
			uint64_t us = (now_ns() - c->sent_ns) / 1000;

			if (now_ns() < count_until) {
				lat[us < LAT_BUCKETS ? us : LAT_BUCKETS - 1]++;
				requests++;
			}
			if (++c->done == nreq || c->last) {
				connections += now_ns() < count_until;
				close_conn(c);
				return 1;
			}
			if (send_request(c)) {
				close_conn(c);
				return 1;
			}
		}
	}
}

static uint64_t percentile(double p)
{
	uint64_t want = (uint64_t)(requests * p), seen = 0;

	for (uint64_t i = 0; i < LAT_BUCKETS; i++) {
		seen += lat[i];
		if (seen > want)
			return i;
	}
	return LAT_BUCKETS;
}

int main(int argc, char **argv)
{
	int nconns = 50;
	double duration = 5;
	struct conn *conns;
	char host[64], *colon;
	uint64_t start, end;

	if (argc < 2 || !(colon = strchr(argv[1], ':'))) {
		fprintf(stderr, "usage: kbal-load ADDR:PORT [--conns N] [--requests K] "
			"[--duration S] [--path P]\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%s", argv[1]);
	host[colon - argv[1]] = '\0';
	target.sin_family = AF_INET;
	target.sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, host, &target.sin_addr) != 1) {
		fprintf(stderr, "kbal-load: %s: not an IPv4 address\n", host);
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--conns"))
			nconns = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--requests"))
			nreq = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--duration"))
			duration = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else if (!strcmp(argv[i], "--read"))
			read_size = strtoul(argv[i + 1], NULL, 10);
		else {
			fprintf(stderr, "kbal-load: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (nconns < 1 || nconns > 10000 || nreq < 1 || duration <= 0 || duration > 600 ||
	    read_size < 1 || read_size > BUF_SIZE - 1) {
		fprintf(stderr, "kbal-load: --conns 1..10000, --requests >= 1, --duration 0..600, "
			"--read 1..%d\n", BUF_SIZE - 1);
		return 2;
	}
	req_ka_len = snprintf(req_ka, sizeof(req_ka), "GET %s HTTP/1.1\r\nHost: %s\r\n"
			      "User-Agent: kbal-load\r\n\r\n", path, argv[1]);
	req_close_len = snprintf(req_close, sizeof(req_close), "GET %s HTTP/1.1\r\nHost: %s\r\n"
				 "User-Agent: kbal-load\r\nConnection: close\r\n\r\n", path, argv[1]);
	conns = calloc(nconns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0)
		return 1;
	for (int i = 0; i < nconns; i++)
		conns[i].fd = -1;
	start = now_ns();
	end = count_until = start + (uint64_t)(duration * 1e9);
	for (int i = 0; i < nconns; i++)
		open_conn(&conns[i]);
	/* until the end, then up to 2 s more for the connections under way
	 * to finish (not counted): the peers see whole exchanges only */
	for (;;) {
		uint64_t now = now_ns();
		int open = 0;

		for (int i = 0; i < nconns; i++)
			open += conns[i].fd >= 0;
		if (now >= end && (!open || now >= end + 2000000000ull))
			break;
		struct epoll_event evs[256];
		int n = epoll_wait(epfd, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int finished = 0;

			if (c->fd < 0)
				continue;
			if (!c->connected && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				int err = 0;
				socklen_t l = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				if (err) {
					err_connect++;
					close_conn(c);
					finished = 1;
				} else {
					struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

					c->connected = 1;
					epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
					if (send_request(c)) {
						close_conn(c);
						finished = 1;
					}
				}
			} else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				finished = on_readable(c);
			}
			/* a closed connection is replaced at once, while there is time */
			if (finished && now_ns() < end)
				open_conn(c);
		}
	}
	double secs = (end - start) / 1e9;
	/* connections still open 2 s after the end: stalled, not slow */
	uint64_t stalled = 0;

	for (int i = 0; i < nconns; i++)
		if (conns[i].fd >= 0)
			stalled++;

	printf("kbal-load: %llu requests, %llu connections in %.2f s, %llu stalled\n",
	       (unsigned long long)requests, (unsigned long long)connections, secs,
	       (unsigned long long)stalled);
	printf("KBAL_BENCH {\"requests\":%llu,\"connections\":%llu,\"stalled\":%llu,"
	       "\"duration_us\":%llu,"
	       "\"bytes_read\":%llu,\"request_bytes\":%zu,\"p50_us\":%llu,\"p90_us\":%llu,"
	       "\"p99_us\":%llu,\"err_connect\":%llu,\"err_read\":%llu,\"err_write\":%llu,"
	       "\"err_status\":%llu,\"err_timeout\":0}\n",
	       (unsigned long long)requests, (unsigned long long)connections,
	       (unsigned long long)stalled, (unsigned long long)(secs * 1e6), (unsigned long long)bytes_read,
	       (req_ka_len * (nreq - 1) + req_close_len) / nreq,
	       (unsigned long long)percentile(0.5), (unsigned long long)percentile(0.9),
	       (unsigned long long)percentile(0.99), (unsigned long long)err_connect,
	       (unsigned long long)err_read, (unsigned long long)err_write,
	       (unsigned long long)err_status);
	free(conns);
	close(epfd);
	return requests ? 0 : 1;
}
