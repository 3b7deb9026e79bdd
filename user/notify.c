// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* notify.c - kbald's state for systemd (notify.h). */
#include <stdio.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include "notify.h"

void kbal_notify_ready(unsigned nbalancers)
{
	sd_notifyf(0, "READY=1\nSTATUS=serving %u balancer(s)", nbalancers);
}

void kbal_notify_reloading(void)
{
	struct timespec ts;

	/* MONOTONIC_USEC: systemd 253's Type=notify-reload wants it with
	 * RELOADING=1; older ones ignore it */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=restarting in place",
		   (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
}

void kbal_notify_still(const char *why)
{
	sd_notifyf(0, "READY=1\nSTATUS=restart refused, still serving: %.200s", why);
}

void kbal_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
