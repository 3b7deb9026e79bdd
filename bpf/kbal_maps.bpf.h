/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kbal_maps.bpf.h - the manager's state maps, shared by every kbal BPF
 * object. They are defined here, not created by kbald, so that they carry
 * the BTF of include/kbal_shared.h and `bpftool map dump` prints field names.
 * Pinned by name under kbald's --pin-dir. The arrays are mmapable: kbald
 * and kbalctl read and write them in place, with no copy and no syscall.
 */
#ifndef KBAL_MAPS_BPF_H
#define KBAL_MAPS_BPF_H

#include "kbal_shared.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kbal_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KBAL_MAX_BALANCERS);
	__type(key, __u32);
	__type(value, struct kbal_balancer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_balancers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KBAL_MAX_MEMBERS);
	__type(key, __u32);
	__type(value, struct kbal_member);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_members SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KBAL_MAX_MEMBERS);
	__type(key, __u32);
	__type(value, struct kbal_member_conf);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_members_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KBAL_MAX_FLOWS);
	__type(key, struct kbal_flow_key);
	__type(value, struct kbal_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KBAL_STAT_CPUS);
	__type(key, __u32);
	__type(value, struct kbal_stat_line);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} kbal_stats SEC(".maps");

/* idx: an enum kbal_stat constant; this CPU's line, no other writer */
static __always_inline void kbal_stat_add(const __u32 idx, __u64 v)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 *line = bpf_map_lookup_elem(&kbal_stats, &cpu);

	if (line && idx < KBAL_STAT_MAX)
		line[idx] += v;
}

/*
 * kbal_can_loop: 1 while the loop it heads may go on, 0 once the program's
 * budget of loop steps is spent (the may_goto instruction, Linux 6.9+,
 * tools/testing/selftests/bpf's can_loop). A loop step is then a jump,
 * not the call and return of a bpf_loop() callback, which the kernel's
 * mitigations of speculative returns make dear. The verifier checks such a
 * loop's body until its states repeat: what changes from step to step must
 * live in a map value (its fields are unknown to the verifier), never in
 * a register or on the stack. clang 14 has no may_goto mnemonic: the
 * instruction is written as its two words (opcode 0xe5, the jump's offset
 * in instructions to the label past the loop).
 */
#define kbal_can_loop ({ __label__ l_break_, l_continue_; int ret_ = 1;		\
	asm volatile goto("1: .long 0xe5 + ((((%l[l_break_] - 1b) / 8) - 1) << 16); .long 0;" \
			  :::: l_break_);						\
	goto l_continue_;							\
l_break_: ret_ = 0;								\
l_continue_:;									\
	ret_; })

#endif /* KBAL_MAPS_BPF_H */
