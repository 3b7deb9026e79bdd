// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xdp-floor.bpf.c - the cheapest XDP program there is, for tools/xdp-floor.py:
 * what native XDP costs on an interface before any program logic.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int kbal_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
