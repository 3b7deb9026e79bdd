/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * csum.bpf.h - incremental checksum updates (RFC 1624): every changed
 * 32-bit word of a header summed once, folded, applied by one helper call.
 */
#ifndef KBAL_CSUM_BPF_H
#define KBAL_CSUM_BPF_H

#include <bpf/bpf_endian.h>

/* one's complement sum of the 32-bit words changed, for a single update */
static __always_inline void csum_acc(__u64 *acc, __u32 old, __u32 new)
{
	*acc += (__u32)~old;
	*acc += new;
}

static __always_inline __u32 csum_fold32(__u64 acc)
{
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	return (__u32)acc;
}

static __always_inline __u16 csum_fold16(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/*
 * Add delta to the big-endian 32-bit field at p, accounting the change.
 * The checksum sums 16-bit words from the start of the TCP header: a field
 * at an odd offset (options may be laid out so) straddles them, and its
 * contribution is the byte-rotated one.
 */
static __always_inline void rw32(void *p, __u32 delta, __u64 *acc, int odd)
{
	__u32 old, new;

	__builtin_memcpy(&old, p, 4);
	new = bpf_htonl(bpf_ntohl(old) + delta);
	__builtin_memcpy(p, &new, 4);
	if (odd) {
		old = (old << 8) | (old >> 24);
		new = (new << 8) | (new >> 24);
	}
	csum_acc(acc, old, new);
}

/* Write the host-order value v into the big-endian 32-bit field at p,
 * accounting the change as rw32() does. */
static __always_inline void put32(void *p, __u32 v, __u64 *acc, int odd)
{
	__u32 old, new = bpf_htonl(v);

	__builtin_memcpy(&old, p, 4);
	__builtin_memcpy(p, &new, 4);
	if (odd) {
		old = (old << 8) | (old >> 24);
		new = (new << 8) | (new >> 24);
	}
	csum_acc(acc, old, new);
}

#endif /* KBAL_CSUM_BPF_H */
