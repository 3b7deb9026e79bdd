// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kbald - the kbal agent. Reads an Apache mod_proxy_balancer configuration,
 * serves the first exchange of every connection and splices the rest in
 * the kernel.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "logfile.h"
#include "logs.h"
#include "notify.h"
#include "own_head.h"
#include "privs.h"
#include "takeover.h"

/* where kbald looks without -f (the Makefile's sysconfdir) */
#ifndef KBAL_CONF_DEFAULT
#define KBAL_CONF_DEFAULT "/etc/kbal/kbal.conf"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"usage: kbald [-t] [-f FILE] [-D NAME]... [--pin-dir DIR] [-v] [-V]\n"
		"  -f, --config FILE  Apache mod_proxy_balancer configuration (default "
		KBAL_CONF_DEFAULT ")\n"
		"  -D NAME            define NAME for <IfDefine NAME>, as httpd's -D\n"
		"  -t, --test         check the configuration, print \"Syntax OK\" and exit\n"
		"      --pin-dir DIR  where the BPF maps are pinned (default %s)\n"
		"  -v, --verbose      debug messages (libbpf's too)\n"
		"  -V, --version      print kbal's version and exit\n",
		KBAL_DEFAULT_PIN_DIR);
}

static void conf_warn(void *data, const char *msg)
{
	(void)data;
	fprintf(stderr, "kbald: warning: %s\n", msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "test", no_argument, NULL, 't' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	const char *file = KBAL_CONF_DEFAULT, *pin_dir = KBAL_DEFAULT_PIN_DIR;
	int test = 0, level = KBAL_INFO, c, err;
	static struct kbal_conf conf;
	static struct kbal_daemon d;
	static char exe[4096];
	struct kbal_takeover t;
	const char *self = NULL;
	char msg[512];
	ssize_t n;

	while ((c = getopt_long(argc, argv, "f:tvVhD:", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'D':
			if (kbal_conf_define(optarg)) {
				fprintf(stderr, "kbald: -D %s: a name without ':', at most 63 "
					"characters, 64 of them\n", optarg);
				return 2;
			}
			break;
		case 't': test = 1; break;
		case 'p': pin_dir = optarg; break;
		case 'v': level = KBAL_DEBUG; break;
		case 'h': usage(stdout); return 0;
		case 'V':
			/* as httpd -v says it: the Server line under ServerTokens Full */
			printf("Server version: %s\n",
			       own_head_banner(KBAL_TOKENS_FULL, msg, sizeof(msg)));
			return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	kbal_log_init("kbald", level);
	/* a restart in place: what the previous image hands over */
	err = kbal_takeover_read(&t);
	if (err < 0)
		log_warn("restart: the previous image's state cannot be read (%s): "
			 "its connections end", strerror(-err));
	if (kbal_conf_load(file, &conf, msg, sizeof(msg), conf_warn, NULL)) {
		fprintf(stderr, "%s\n", msg);
		if (err == 0)
			kbal_takeover_abandon(&t);
		return 1;
	}
	if (test) {
		printf("Syntax OK\n");
		return 0;
	}
	/* the binary a restart execs: the path, so that an upgraded binary
	 * (the old one unlinked: " (deleted)") is the one that runs */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
			exe[n - 10] = '\0';
		self = exe;
	}
	/* two descriptors per connection: take all the system allows */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* User: the pin directory must be within its reach, checked before
	 * anything is loaded */
	if (kbal_privs_reachable(&conf, pin_dir)) {
		if (err == 0)
			kbal_takeover_abandon(&t);
		return 1;
	}
	err = kbal_daemon_init(&d, &conf, pin_dir, err == 0 ? &t : NULL);
	d.exe = self;
	d.argv = argv;
	if (err) {
		log_err("not started: %s", strerror(-err));
		return 1;
	}
	if (kbal_logs_open(&d, level == KBAL_DEBUG)) {
		kbal_daemon_fini(&d);
		return 1;
	}
	/* loaded, pinned, bound and the logs open: User from here on */
	kbal_privs_pins(&conf, d.maps.lock_fd, pin_dir);
	if (kbal_privs_drop(&conf)) {
		kbal_daemon_fini(&d);
		return 1;
	}
	for (unsigned i = 0; i < conf.nlocation; i++) {
		const struct kbal_conf_location *l = &conf.location[i];

		if (l->handler && !l->authz.nnode && !l->authz.compat)
			log_info("%s:%d: the %s at %s has no access rule: only loopback clients "
				 "reach it (Require ip ... in its <Location> opens it to others)",
				 KBAL_CONF_FILE(&conf, l->line), KBAL_CONF_LINENO(l->line), l->handler == KBAL_HANDLER_MANAGER ?
				 "balancer-manager" : "kbal-metrics endpoint", l->path);
	}
	log_info("ready: %u balancer(s), maps in %s", conf.nbalancers, pin_dir);
	kbal_notify_ready(conf.nbalancers);
	err = kbal_daemon_run(&d);
	kbal_daemon_fini(&d);
	kbal_log_to(NULL);
	kbal_logfiles_close();
	return err ? 1 : 0;
}
