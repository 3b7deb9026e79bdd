/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * accesslog.h - CustomLog lines in mod_log_config's LogFormat language, for
 * every request kbald decides, and one line for each flow the kernel
 * carried when it ends (method FLOW: its path, its bytes, its member).
 *
 * A request's part of a line (its method, target, protocol and the header
 * values the formats name) is captured when its head is routed; the rest
 * (status, bytes, time) when its exchange ends: the head's buffer may hold
 * its body by then.
 */
#ifndef KBAL_ACCESSLOG_H
#define KBAL_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#define KBAL_ALOG_MAX_ITEMS 64
#define KBAL_ALOG_MAX_HDR   8         /* distinct %{NAME}i over all formats */
#define KBAL_ALOG_MAX_LOGS  4         /* CustomLog lines */

struct kbal_env;
struct kbal_http_msg;
struct kbal_logfile;

struct kbal_alog_item {
	uint8_t kind;
	uint8_t flag;                 /* %>s / %<s; a unit of %T; %p's kind */
	uint16_t arg;                 /* header index, or literal offset */
	uint16_t len;                 /* literal length */
	char name[48];                /* %{NAME}e, %{FMT}t */
};

struct kbal_alog_fmt {
	unsigned n;
	struct kbal_alog_item item[KBAL_ALOG_MAX_ITEMS];
	char lit[512];                /* the literal text between items */
	unsigned nlit;
};

/* Compile fmt (mod_log_config's format: %h %a %l %u %t %{FMT}t %r %>s %s %b
 * %B %D %T %{UNIT}T %{NAME}i %{NAME}e %m %U %q %H %p %{local|remote}p %v %V
 * %X %k %P %I %O %%), its %{NAME}i names added to hdrs (the names every
 * format captures). 0, or -1 and what is wrong in err. */
int kbal_alog_compile(const char *fmt, struct kbal_alog_fmt *out,
		      char hdrs[KBAL_ALOG_MAX_HDR][48], unsigned *nhdrs, char *err, size_t errlen);

/* what a request gave, captured at its head */
struct kbal_alog_req {
	char *mem;                    /* one allocation for the strings below */
	const char *line;             /* %r: the request line as it came (httpd's
				       * the_request), NULL: method url proto */
	char *line_mem;               /* line's, when mem holds the others */
	const char *method, *url, *proto;
	const char *path;             /* %U: the path decoded and normalised, as
				       * httpd's r->uri; NULL: url's, as it came
				       * (a path that does not decode) */
	const char *hdr[KBAL_ALOG_MAX_HDR];   /* NULL: absent */
};

/* what the line's other fields say */
struct kbal_alog_rec {
	const struct kbal_alog_req *rq;       /* NULL: a flow's line */
	uint8_t client_addr[16];              /* IPv4 mapped (inaddr.h) */
	uint16_t client_port, local_port;     /* host order */
	uint64_t start_ns;                    /* CLOCK_REALTIME when it began */
	uint64_t duration_ns;
	unsigned status;                      /* 0: none */
	uint64_t body;                        /* response body bytes sent */
	uint64_t bytes_in, bytes_out;         /* read from / sent to the client, heads too */
	const char *balancer, *member, *route, *session_route, *sticky;
	const char *server;                   /* %v: the virtual host's ServerName,
					       * without its port */
	unsigned server_port;                 /* %p: its port (httpd's canonical
					       * one: ServerName's, else 80) */
	const char *request_server;           /* %V: ap_get_server_name(), NULL: server */
	int route_changed;
	const struct kbal_env *env;           /* the request's SetEnv/SetEnvIf ones, NULL none */
	char conn_status;                     /* '+' kept alive, '-' closed, 'X' aborted */
	unsigned keepalive;                   /* requests before this one on the connection */
	const char *flow_path;                /* a flow's line: "sockmap", "packet", "copy" */
};

/* The CustomLogs, opened (logfile.h) with their compiled formats; the
 * header names to capture. Set once at start-up. */
struct kbal_alog {
	unsigned n;
	struct kbal_logfile *file[KBAL_ALOG_MAX_LOGS];
	struct kbal_alog_fmt fmt[KBAL_ALOG_MAX_LOGS];
	char hdrs[KBAL_ALOG_MAX_HDR][48];
	unsigned nhdrs;
	unsigned slashes;             /* AllowEncodedSlashes, for %U */
	unsigned path;                /* a format logs %U: its path is decoded */
};

/* whether f logs %U (httpd's r->uri, which capture decodes only if so) */
int kbal_alog_logs_path(const struct kbal_alog_fmt *f);

/* A request refused before its head was whole (a malformed line, a head
 * over httpd's limits): its part as httpd logs it, from the len bytes
 * read into buf: %r the request line as it came, up to max_line + 1
 * bytes (LimitRequestLine, 0: all); %m, %U and %H from rq's spans where its
 * line parsed, else from its words, "-" for a line that never ended.
 * 0 or -ENOMEM */
int kbal_alog_capture_refused(const struct kbal_alog *a, const struct kbal_http_msg *rq,
			      const char *buf, size_t len, size_t max_line,
			      struct kbal_alog_req *out);

/* Capture a routed request's part (rq's spans in buf); 0 or -ENOMEM */
int kbal_alog_capture(const struct kbal_alog *a, const struct kbal_http_msg *rq, const char *buf,
		      struct kbal_alog_req *out);
void kbal_alog_release(struct kbal_alog_req *r);

/* the line, rendered (without newline) into out; its length */
size_t kbal_alog_render(const struct kbal_alog_fmt *f, const struct kbal_alog_rec *r, char *out,
			size_t cap);

/* each CustomLog's line for r */
void kbal_alog_write(const struct kbal_alog *a, const struct kbal_alog_rec *r);

#endif
