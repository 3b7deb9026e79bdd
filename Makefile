# kbal - one non-recursive Makefile.
#   bpf/x.bpf.c -> build/x.bpf.o -> build/x.skel.h -> build/user/*.o -> build/kbald
# `make` builds; `make test` (SANITIZE=1: with ASan and UBSan), `make fuzz`,
# `make demo`, `make bench` as in the README; `make test-cluster`: the
# cluster tests alone (docs/scale-out.md; `make test` runs them too).
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
# SANITIZE=1: kbald, kbalctl, the tools and the tests built with ASan and
# UBSan (any report aborts) into build-san/, so that objects never mix with
# build/'s; `make test SANITIZE=1` runs the whole suite on them
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifeq ($(SANITIZE),1)
BUILD      := build-san
override CFLAGS += $(SAN_FLAGS)
endif
# apr-util: apr_password_validate(), what Apache checks htpasswd files
# with. Asked when used ("="), not when read: on a fresh machine the package
# comes with the first build's dependencies
APR_CFLAGS  = $(shell pkg-config --cflags apr-util-1 apr-1 2>/dev/null)
APR_LIBS    = $(shell pkg-config --libs apr-util-1 apr-1 2>/dev/null)
USER_CFLAGS = $(CFLAGS) -std=gnu11 -Wall -Wextra -Wshadow -Werror -Wno-missing-field-initializers \
	-D_GNU_SOURCE -Iinclude -Iuser -I$(BUILD) -I$(LLHTTP_INC) $(APR_CFLAGS) -MMD -MP
LDLIBS      = -lbpf -lelf -lz $(APR_LIBS) -lsystemd -lpcre2-8 -lcap -pthread

# where `make install` puts things (GNU's names)
prefix      ?= /usr/local
exec_prefix ?= $(prefix)
sbindir     ?= $(exec_prefix)/sbin
sysconfdir  ?= /etc
datarootdir ?= $(prefix)/share
mandir      ?= $(datarootdir)/man
man5dir     ?= $(mandir)/man5
man8dir     ?= $(mandir)/man8
docdir      ?= $(datarootdir)/doc/kbal
unitdir     ?= $(prefix)/lib/systemd/system
localstatedir ?= /var
logdir      ?= $(localstatedir)/log/kbal
# kbalctl host's state, kept across a stop (user/hoststate.h)
statedir    ?= $(localstatedir)/lib/kbal
MAN_PAGES  := $(patsubst docs/man/%.scd,$(BUILD)/man/%,$(wildcard docs/man/*.scd))
USER_CFLAGS += -DKBAL_CONF_DEFAULT='"$(sysconfdir)/kbal/kbal.conf"'
# kbal's version: the upstream part of tools/debian/changelog's first entry
# (what `make deb` packages), named by the Server line of kbald's own
# answers (user/own_head.c) and `kbald -V`
KBAL_VERSION := $(shell sed -n '1s/^kbal (\([^)-]*\).*/\1/p' tools/debian/changelog)
USER_CFLAGS += -DKBAL_VERSION='"$(KBAL_VERSION)"'
USER_CFLAGS += -DKBAL_STATE_DIR='"$(statedir)"'
# what was built with which paths: rewritten when one changes, so that
# `make install sysconfdir=...` rebuilds what names them
INSTALL_PATHS := sbindir=$(sbindir) sysconfdir=$(sysconfdir) docdir=$(docdir) logdir=$(logdir) \
	statedir=$(statedir)
$(shell mkdir -p $(BUILD); [ "$$(cat $(BUILD)/install-paths 2>/dev/null)" = "$(INSTALL_PATHS)" ] || \
	echo "$(INSTALL_PATHS)" > $(BUILD)/install-paths)

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

# libFuzzer targets (tests/fuzz/fuzz_*.c, each with its seeds in
# tests/fuzz/corpus/NAME/): kbal's code and llhttp built again by clang
# with the fuzzer's coverage, ASan and UBSan (any report aborts) into
# build-fuzz/. `make fuzz` runs each FUZZ_TIME seconds; `make test` a
# bounded smoke run of each (tests/fuzz/run)
FUZZ_BUILD := build-fuzz
FUZZ_TIME  ?= 60
FUZZ_CFLAGS = $(USER_CFLAGS) -O1 $(SAN_FLAGS) -fsanitize=fuzzer-no-link
FUZZ_SRCS  := $(filter-out tests/fuzz/fuzz_common.c,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
FUZZ_OBJS  := $(patsubst user/%.c,$(FUZZ_BUILD)/user/%.o,$(LIB_SRCS)) \
	$(patsubst %,$(FUZZ_BUILD)/llhttp/%.o,llhttp api http) $(FUZZ_BUILD)/fuzz/fuzz_common.o

.PHONY: all deps test test-cluster unit e2e demo bench vmlinux clean fuzz fuzz-build install uninstall man deb
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
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/kbald: $(BUILD)/user/kbald.o $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/kbalctl: $(BUILD)/user/kbalctl.o $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/unit-tests: $(UNIT_OBJS) $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# the test member (tools/backend/: one file per concern, backend.h lists them)
BACKEND_OBJS := $(patsubst tools/backend/%.c,$(BUILD)/backend/%.o,$(wildcard tools/backend/*.c))
$(BUILD)/backend/%.o: tools/backend/%.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

$(BUILD)/kbal-backend: $(BACKEND_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -lz -o $@

$(BUILD)/kbal-load: tools/kbal-load.c | $(DEPS_STAMP) $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< -o $@

# what the packet program costs per packet (BPF_PROG_TEST_RUN, repeat N)
$(BUILD)/kbal-pktbench: tools/kbal-pktbench.c $(SKELS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(LDLIBS) -o $@

$(FUZZ_BUILD)/user/%.o: user/%.c $(SKELS) | $(DEPS_STAMP)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz/%.o: tests/fuzz/%.c | $(DEPS_STAMP)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -Itests/fuzz -c $< -o $@

$(FUZZ_BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c | $(DEPS_STAMP)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(CFLAGS) -O1 $(SAN_FLAGS) -fsanitize=fuzzer-no-link -w -I$(LLHTTP_INC) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/fuzz/fuzz_%.o $(FUZZ_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(SAN_FLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

# not intermediate: kept for the next build
.SECONDARY: $(FUZZ_OBJS) $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/fuzz/%.o,$(FUZZ_SRCS))
fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run --time $(FUZZ_BINS)

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

test: all $(FUZZ_BINS) $(MAN_PAGES) $(BUILD)/kbal.service $(BUILD)/kbal.logrotate
	$(Q)KBAL_BUILD=$(BUILD) tests/run

# three kbal hosts behind a BIRD router, ExaBGP announcing (test_host and
# test_cluster, 14 tests: 61 and 64 s in two runs on a 2-core VM, up to
# 102 s when other jobs loaded it);
# the e2e runner's own count line
test-cluster: all
	$(Q)KBAL_E2E_BUILD=$(CURDIR)/$(BUILD) /usr/bin/python3 tests/e2e/run.py --timeout 120 \
		test_host test_cluster

demo: all
	$(Q)tools/demo.sh

bench: all $(BUILD)/xdp-floor.bpf.o
	$(Q)python3 tools/bench.py $(BENCH_ARGS)

clean:
	$(Q)rm -rf build build-san $(FUZZ_BUILD)

# `make install` (GNU names; DESTDIR for a staged install): kbald and
# kbalctl, the systemd unit, a configuration in sysconfdir/kbal (never
# over one that is there), the man pages (scdoc) and the docs.
# sysconfdir is /etc, not prefix/etc: the unit, the man pages and the
# docs name /etc/kbal/kbal.conf, where kbald looks without -f.
install: $(BUILD)/kbald $(BUILD)/kbalctl $(MAN_PAGES) $(BUILD)/kbal.service $(BUILD)/kbal.logrotate
	$(Q)install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(unitdir) $(DESTDIR)$(sysconfdir)/kbal \
		$(DESTDIR)$(man5dir) $(DESTDIR)$(man8dir) $(DESTDIR)$(docdir) \
		$(DESTDIR)$(sysconfdir)/logrotate.d
	$(Q)install -d -m 750 $(DESTDIR)$(logdir)
	$(Q)install -m 644 $(BUILD)/kbal.logrotate $(DESTDIR)$(sysconfdir)/logrotate.d/kbal
	$(Q)install -m 755 $(BUILD)/kbald $(BUILD)/kbalctl $(DESTDIR)$(sbindir)/
	$(Q)install -m 644 $(BUILD)/kbal.service $(DESTDIR)$(unitdir)/kbal.service
	$(Q)[ -e $(DESTDIR)$(sysconfdir)/kbal/kbal.conf ] || \
		sed 's|@LOGDIR@|$(logdir)|g' tools/install/kbal.conf > $(DESTDIR)$(sysconfdir)/kbal/kbal.conf
	$(Q)install -m 644 $(BUILD)/man/kbal.conf.5 $(DESTDIR)$(man5dir)/
	$(Q)install -m 644 $(BUILD)/man/kbald.8 $(BUILD)/man/kbalctl.8 $(DESTDIR)$(man8dir)/
	$(Q)install -m 644 README.md $(filter-out docs/balancer-manager.png,$(wildcard docs/*.md)) \
		$(DESTDIR)$(docdir)/
	$(call msg,INSTALL,$(DESTDIR)$(prefix))

# what install wrote, but a configuration that differs from the one it
# installed (an edited one stays, as dpkg keeps a conffile)
uninstall:
	$(Q)rm -f $(DESTDIR)$(sbindir)/kbald $(DESTDIR)$(sbindir)/kbalctl \
		$(DESTDIR)$(unitdir)/kbal.service $(DESTDIR)$(man5dir)/kbal.conf.5 \
		$(DESTDIR)$(man8dir)/kbald.8 $(DESTDIR)$(man8dir)/kbalctl.8 \
		$(DESTDIR)$(sysconfdir)/logrotate.d/kbal
	$(Q)rm -rf $(DESTDIR)$(docdir)
	$(Q)rmdir $(DESTDIR)$(logdir) 2>/dev/null || true
	$(Q)if sed 's|@LOGDIR@|$(logdir)|g' tools/install/kbal.conf | \
		cmp -s - $(DESTDIR)$(sysconfdir)/kbal/kbal.conf; then \
		rm -f $(DESTDIR)$(sysconfdir)/kbal/kbal.conf; \
		rmdir $(DESTDIR)$(sysconfdir)/kbal 2>/dev/null || true; \
	else [ ! -e $(DESTDIR)$(sysconfdir)/kbal/kbal.conf ] || \
		echo "kbal: $(DESTDIR)$(sysconfdir)/kbal/kbal.conf was edited: kept"; fi

man: $(MAN_PAGES)

# `make deb`: the Debian package (tools/debian/), built by dpkg-buildpackage
# from a copy of the tree (the files git knows, tracked or not ignored;
# outside a git checkout, all but the build directories)
# under $(BUILD)/deb/, then checked by lintian; the .deb is left there
DEB_VERSION = $(shell dpkg-parsechangelog -l tools/debian/changelog -S Version 2>/dev/null)
DEB_TREE    = $(BUILD)/deb/kbal-$(firstword $(subst -, ,$(DEB_VERSION)))
deb: | $(DEPS_STAMP)
	$(Q)rm -rf $(BUILD)/deb && mkdir -p $(DEB_TREE)
	$(Q)if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		{ git ls-files -z; git ls-files -z --others --exclude-standard; } | \
			xargs -0 cp --parents -t $(DEB_TREE); \
	else \
		tar --exclude=./build --exclude=./build-san --exclude=./build-fuzz \
			-cf - . | tar -C $(DEB_TREE) -xf -; \
	fi
	$(Q)cp -r tools/debian $(DEB_TREE)/debian
	$(call msg,DPKG,$(BUILD)/deb/kbal_$(DEB_VERSION)_*.deb)
	$(Q)cd $(DEB_TREE) && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -n 30 ../build.log; exit 1; }
	$(Q)lintian --fail-on error $(BUILD)/deb/kbal_$(DEB_VERSION)_*.deb

$(BUILD)/user/kbald.o $(BUILD)/user/hoststate.o: $(BUILD)/install-paths
$(BUILD)/user/own_head.o $(FUZZ_BUILD)/user/own_head.o: tools/debian/changelog

$(BUILD)/man/%: docs/man/%.scd $(BUILD)/install-paths | $(DEPS_STAMP)
	$(Q)mkdir -p $(dir $@)
	$(call msg,SCDOC,$@)
	$(Q)sed 's|@SYSCONFDIR@|$(sysconfdir)|g;s|@DOCDIR@|$(docdir)|g;s|@STATEDIR@|$(statedir)|g' $< | \
		scdoc > $@

$(BUILD)/kbal.service: tools/install/kbal.service.in $(BUILD)/install-paths | $(BUILD)
	$(Q)sed 's|@SBINDIR@|$(sbindir)|g;s|@SYSCONFDIR@|$(sysconfdir)|g;s|@LOGDIR@|$(logdir)|g' $< > $@

$(BUILD)/kbal.logrotate: tools/install/kbal.logrotate.in $(BUILD)/install-paths | $(BUILD)
	$(Q)sed 's|@SBINDIR@|$(sbindir)|g;s|@LOGDIR@|$(logdir)|g' $< > $@

# (an older build's kbal-backend.d names tools/kbal-backend.c, now tools/backend/)
-include $(filter-out $(BUILD)/kbal-backend.d,$(wildcard $(BUILD)/*.d)) \
	$(wildcard $(BUILD)/user/*.d $(BUILD)/unit/*.d $(BUILD)/bpftest/*.d $(BUILD)/backend/*.d \
	$(FUZZ_BUILD)/user/*.d $(FUZZ_BUILD)/fuzz/*.d)
