# kbal - one non-recursive Makefile.
#   bpf/x.bpf.c -> build/x.bpf.o -> build/x.skel.h -> build/user/*.o -> build/kbald
# `make` builds; `make test`, `make demo`, `make bench` as in the README.
# Missing Debian packages are installed first (tools/deps.sh, as root).

.DELETE_ON_ERROR:
.SUFFIXES:

ARCH       ?= $(shell uname -m | sed 's/aarch64/arm64/')
BUILD      := build
CLANG      ?= clang
BPFTOOL    ?= bpftool
CC         ?= gcc
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
VMLINUX    := vmlinux/$(ARCH)/vmlinux.h

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(subst x86_64,x86,$(ARCH)) \
	-Ivmlinux/$(ARCH) -Iinclude -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS     ?= -O2 -g
# apr-util: apr_password_validate(), what Apache checks htpasswd files
# with. Asked when used ("="), not when read: on a fresh machine the package
# comes with the first build's dependencies
APR_CFLAGS  = $(shell pkg-config --cflags apr-util-1 apr-1 2>/dev/null)
APR_LIBS    = $(shell pkg-config --libs apr-util-1 apr-1 2>/dev/null)
USER_CFLAGS = $(CFLAGS) -std=gnu11 -Wall -Wextra -Wshadow -Werror -Wno-missing-field-initializers \
	-D_GNU_SOURCE -Iinclude -Iuser -I$(BUILD) -I$(LLHTTP_INC) $(APR_CFLAGS) -MMD -MP
LDLIBS      = -lbpf -lelf -lz $(APR_LIBS) -pthread

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

# user/: every file but the mains is shared by kbald, kbalctl and the unit tests
MAINS      := user/kbald.c user/kbalctl.c
LIB_SRCS   := $(filter-out $(MAINS),$(wildcard user/*.c))
LIB_OBJS   := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
LLHTTP_OBJS := $(patsubst %,$(BUILD)/llhttp/%.o,llhttp api http)
UNIT_SRCS  := $(wildcard tests/unit/*.c)
UNIT_OBJS  := $(patsubst tests/unit/%.c,$(BUILD)/unit/%.o,$(UNIT_SRCS))
BPFT_SRCS  := $(wildcard tests/bpf/*.c)
BPFT_OBJS  := $(patsubst tests/bpf/%.c,$(BUILD)/bpftest/%.o,$(BPFT_SRCS)) $(BUILD)/unit/unit_main.o
TOOLS      := $(BUILD)/kbal-backend $(BUILD)/kbal-load $(BUILD)/kbal-impair $(BUILD)/kbal-pktbench

DEPS_STAMP := $(BUILD)/.deps

.PHONY: all deps test unit e2e demo bench vmlinux clean
all: $(BUILD)/kbald $(BUILD)/kbalctl $(TOOLS) $(BUILD)/unit-tests $(BUILD)/bpf-tests

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)tools/deps.sh
	$(Q)touch $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(VMLINUX) | $(DEPS_STAMP)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/user/%.o: user/%.c $(SKELS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

# llhttp from the Debian package's sources, built into kbal (not copied);
# on a fresh machine they appear once tools/deps.sh has installed them. The
# empty rule makes them intermediate files, which make would delete after the
# build: .SECONDARY keeps the package's files where they are.
LLHTTP_SRCS := $(patsubst %,$(LLHTTP_SRC)/%.c,llhttp api http)
.SECONDARY: $(LLHTTP_SRCS)
$(LLHTTP_SRCS): | $(DEPS_STAMP) ;
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -w -I$(LLHTTP_INC) -c $< -o $@

$(BUILD)/unit/%.o: tests/unit/%.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -Itests/unit -c $< -o $@

# BPF program tests (BPF_PROG_TEST_RUN): the skeletons, no kbald code
$(BUILD)/bpftest/%.o: tests/bpf/%.c $(SKELS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -Itests/unit -c $< -o $@

$(BUILD)/bpf-tests: $(BPFT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/kbald: $(BUILD)/user/kbald.o $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/kbalctl: $(BUILD)/user/kbalctl.o $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/unit-tests: $(UNIT_OBJS) $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/kbal-backend: tools/kbal-backend.c $(LLHTTP_OBJS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(LLHTTP_OBJS) -lz -o $@

$(BUILD)/kbal-load: tools/kbal-load.c | $(DEPS_STAMP) $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< -o $@

# what the packet program costs per packet (BPF_PROG_TEST_RUN, repeat N)
$(BUILD)/kbal-pktbench: tools/kbal-pktbench.c $(SKELS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(LDLIBS) -o $@

# the namespace tests' loss, duplication and reordering (this kernel has no
# sch_netem; ifb-based emulation would hide the packets from tc at the
# balancer: the ifb marks them tc_skip_classify)
$(BUILD)/impair.bpf.o: tests/net/impair.bpf.c $(VMLINUX) | $(DEPS_STAMP) $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/kbal-impair: tests/net/kbal-impair.c $(BUILD)/impair.skel.h | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(LDLIBS) -o $@

# tools/xdp-floor.py: what native XDP costs on veth before any logic
$(BUILD)/xdp-floor.bpf.o: tools/xdp-floor.bpf.c $(VMLINUX) | $(DEPS_STAMP) $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OBJS) $(SKELS): | $(BUILD)
$(BUILD):
	$(Q)mkdir -p $@

# regenerate vmlinux.h from the running kernel's BTF
vmlinux:
	$(Q)tools/gen-vmlinux.sh $(VMLINUX)

unit: $(BUILD)/unit-tests
	$(Q)$(BUILD)/unit-tests

test: all
	$(Q)tests/run

demo: all
	$(Q)tools/demo.sh

bench: all $(BUILD)/xdp-floor.bpf.o
	$(Q)python3 tools/bench.py $(BENCH_ARGS)

clean:
	$(Q)rm -rf $(BUILD)

-include $(wildcard $(BUILD)/*.d $(BUILD)/user/*.d $(BUILD)/unit/*.d $(BUILD)/bpftest/*.d)
