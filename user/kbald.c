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
#include <sys/resource.h>
#include "conf.h"
#include "flow.h"
#include "log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: kbald [-t] -f FILE [--pin-dir DIR] [-v]\n"
		"  -f, --config FILE  Apache mod_proxy_balancer configuration\n"
		"  -t, --test         check the configuration, print \"Syntax OK\" and exit\n"
		"      --pin-dir DIR  where the BPF maps are pinned (default %s)\n"
		"  -v, --verbose      debug messages (libbpf's too)\n",
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
		{}
	};
	const char *file = NULL, *pin_dir = KBAL_DEFAULT_PIN_DIR;
	int test = 0, level = KBAL_INFO, c, err;
	static struct kbal_conf conf;
	static struct kbal_daemon d;
	char msg[512];

	while ((c = getopt_long(argc, argv, "f:tvh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 't': test = 1; break;
		case 'p': pin_dir = optarg; break;
		case 'v': level = KBAL_DEBUG; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!file || optind != argc) {
		usage(stderr);
		return 2;
	}
	kbal_log_init("kbald", level);
	if (kbal_conf_load(file, &conf, msg, sizeof(msg), conf_warn, NULL)) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	if (test) {
		printf("Syntax OK\n");
		return 0;
	}
	/* two descriptors per connection: take all the system allows */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	err = kbal_daemon_init(&d, &conf, pin_dir);
	if (err) {
		log_err("not started: %s", strerror(-err));
		return 1;
	}
	log_info("ready: %u balancer(s), maps in %s", conf.nbalancers, pin_dir);
	err = kbal_daemon_run(&d);
	kbal_daemon_fini(&d);
	return err ? 1 : 0;
}
