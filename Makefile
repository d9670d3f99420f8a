# migshaper build. `make` builds the agent and the CLI; see README.md for the rest.
#
# Layout conventions (new files are picked up without editing this file):
#   bpf/NAME.bpf.c      -> build/NAME.bpf.o and build/NAME.skel.h
#   agent/**/*.c, tc/*.c, bpf/*.c (user space)
#                       -> build/libmigshaper.a (except agent/main.c, agent/ctl/ctl.c)
#   tests/sim/*.c       -> build/libsim.a            (the migration simulator; linked
#                                                     into the tests and benchmarks)
#   tests/unit/test_*.c -> build/tests/unit/test_*   (cmocka, no privileges)
#   tests/bpf/test_*.c  -> build/tests/bpf/test_*    (cmocka, root: BPF_PROG_TEST_RUN)
#   tests/kernel/test_*.c -> build/tests/kernel/test_* (cmocka, root: netns + netlink)
#   tests/tools/*.c     -> build/tools/*             (lab helpers)
#   tests/bench/*.c     -> build/bench/*             (benchmark drivers)
#   tests/lab/test_*.sh                              (lab tests, root)
#   tests/bench/NAME.sh -> tests/bench/out/NAME.json (make bench [BENCH=NAME])

CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
BUILD     ?= build
PREFIX    ?= /usr/local
DESTDIR   ?=

PKGS      := libbpf libnl-3.0 libnl-route-3.0 libmnl libvirt fuse3 libmicrohttpd yaml-0.1 libcrypt
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN      := -Wall -Wextra -Werror
# CFLAGS is the user's (optimisation, debug, -D tunables); the rest is required.
CFLAGS    ?= -O2 -g
# Every source folder is on the include path: a header is named by its file
# name alone, and the folder it sits in says which plane it belongs to.
SRC_DIRS  := include bpf tc agent $(patsubst %/,%,$(sort $(dir $(wildcard agent/*/*.c agent/*/*.h))))
ALL_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE $(addprefix -I,$(SRC_DIRS)) -I$(BUILD) $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS) -lelf -lz -lm
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
HDRS      := $(wildcard include/*.h bpf/*.h tc/*.h agent/*.h agent/*/*.h tests/sim/*.h)
# The simulator: a library of its own, linked into the programs that use it.
SIM_SRCS  := $(wildcard tests/sim/*.c)
SIM_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(SIM_SRCS))
SAN_SIM_OBJS := $(patsubst %.c,$(BUILD)/san/%.o,$(SIM_SRCS))

MAIN_SRCS := agent/main.c agent/ctl/ctl.c
LIB_SRCS  := $(filter-out $(MAIN_SRCS) $(BPF_SRCS),$(wildcard agent/*.c agent/*/*.c tc/*.c bpf/*.c))
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
SAN_OBJS  := $(patsubst %.c,$(BUILD)/san/%.o,$(LIB_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
KERNT_SRCS := $(wildcard tests/kernel/test_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)
BENCH_SRCS := $(wildcard tests/bench/*.c)

UNIT_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BPFT_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(BPFT_SRCS))
KERNT_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(KERNT_SRCS))
SAN_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/san/tests/%,$(UNIT_SRCS) $(BPFT_SRCS) $(KERNT_SRCS))
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

BINS := $(BUILD)/migshaperd $(BUILD)/migshaperctl
SAN_BINS := $(BUILD)/san/migshaperd $(BUILD)/san/migshaperctl

.PHONY: all deps check check-build bench demo lab-up lab-down install clean format san fuzz soak deb
FUZZ_SECONDS ?= 600
.DELETE_ON_ERROR:
# Kept after the build: the fuzzers and tools use them too.
.SECONDARY: $(SKELS) $(BPF_OBJS) $(BUILD)/vmlinux.h

all: $(BINS)

deps:
	@bash scripts/deps.sh

# --- BPF -------------------------------------------------------------------
$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h $(HDRS)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 $(WARN) -Wno-unused-function \
		-Iinclude -I$(BUILD) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# --- user space ------------------------------------------------------------
$(BUILD)/obj/%.o: %.c $(HDRS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(HDRS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/libmigshaper.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/san/libmigshaper.a: $(SAN_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libsim.a: $(SIM_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/san/libsim.a: $(SAN_SIM_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/migshaperd: $(BUILD)/obj/agent/main.o $(BUILD)/libmigshaper.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/migshaperctl: $(BUILD)/obj/agent/ctl/ctl.o $(BUILD)/libmigshaper.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/migshaperd: $(BUILD)/san/agent/main.o $(BUILD)/san/libmigshaper.a
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/migshaperctl: $(BUILD)/san/agent/ctl/ctl.o $(BUILD)/san/libmigshaper.a
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# --- tests and tools -------------------------------------------------------
$(BUILD)/tests/%: tests/%.c $(BUILD)/libsim.a $(BUILD)/libmigshaper.a $(HDRS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libsim.a $(BUILD)/libmigshaper.a $(LDLIBS) \
		$(CMOCKA_LIBS)

$(BUILD)/san/tests/%: tests/%.c $(BUILD)/san/libsim.a $(BUILD)/san/libmigshaper.a $(HDRS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests -o $@ $< $(BUILD)/san/libsim.a \
		$(BUILD)/san/libmigshaper.a $(LDLIBS) $(CMOCKA_LIBS)

$(BUILD)/tools/%: tests/tools/%.c $(HDRS) $(wildcard tests/tools/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libsim.a $(BUILD)/libmigshaper.a $(HDRS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libsim.a $(BUILD)/libmigshaper.a $(LDLIBS)

# The test guest: a boot sector assembled with nasm (tests/guest/README.md).
$(BUILD)/guest/dirty.bin: tests/guest/dirty.asm
	@mkdir -p $(@D)
	nasm -f bin -o $@ $<

check-build: all $(BUILD)/guest/dirty.bin $(UNIT_BINS) $(BPFT_BINS) $(KERNT_BINS) $(TOOL_BINS) $(BENCH_BINS) \
	$(SAN_TEST_BINS) $(SAN_BINS)

# ASan+UBSan builds: the tests above, and the agent and CLI for the lab-san stage.
san: $(SAN_TEST_BINS) $(SAN_BINS)

# The build uses every CPU: make check must stay under 40 minutes on 2 cores.
check: deps
	$(MAKE) -j$(shell nproc) check-build
	BUILD=$(BUILD) bash scripts/run-tests.sh

bench: deps
	$(MAKE) all $(TOOL_BINS) $(BENCH_BINS)
	BUILD=$(BUILD) bash scripts/run-bench.sh $(BENCH)

demo: deps
	$(MAKE) all $(TOOL_BINS)
	BUILD=$(BUILD) bash scripts/demo.sh

# libFuzzer targets for a long time (make check runs them briefly).
fuzz: deps
	BUILD=$(BUILD) bash tests/fuzz/run.sh $(FUZZ_SECONDS)

# The 10-minute soak, tests/long/soak.sh (make check runs 60 s of it as
# tests/lab/test_soak.sh).
soak: deps
	$(MAKE) all $(TOOL_BINS) $(BUILD)/guest/dirty.bin
	BUILD=$(BUILD) bash tests/long/soak.sh 600

lab-up: all $(TOOL_BINS)
	bash scripts/lab.sh up

lab-down:
	bash scripts/lab.sh down

install: all
	install -D -m 0755 $(BUILD)/migshaperd $(DESTDIR)$(PREFIX)/sbin/migshaperd
	install -D -m 0755 $(BUILD)/migshaperctl $(DESTDIR)$(PREFIX)/sbin/migshaperctl
	install -D -m 0644 docs/migshaperd.8 $(DESTDIR)$(PREFIX)/share/man/man8/migshaperd.8
	install -D -m 0644 docs/migshaperctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/migshaperctl.8
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/sbin/|$(PREFIX)/sbin/|' scripts/migshaperd@.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/migshaperd@.service
	install -D -m 0644 scripts/migshaper.conf $(DESTDIR)/etc/migshaper/migshaper.conf.example

# The Debian package, built from a copy of the working tree's files that git
# does not ignore (so build/ is left out) under $(BUILD)/deb-src, so that
# dpkg-buildpackage writes nothing into the worktree. The version is
# MS_VERSION in include/version.h; debian/changelog must have an entry for it.
MS_VERSION = $(shell sed -n 's/^\#define MS_VERSION "\(.*\)"$$/\1/p' include/version.h)
DEB_ARCH = $(shell dpkg-architecture -qDEB_HOST_ARCH)
deb:
	@[ -n "$(MS_VERSION)" ] || { echo 'deb: no #define MS_VERSION "X.Y.Z" in include/version.h' >&2; exit 1; }
	@v=$$(dpkg-parsechangelog -l debian/changelog -SVersion) && [ "$$v" = "$(MS_VERSION)" ] || \
		{ echo "deb: debian/changelog is at $$v, MS_VERSION is $(MS_VERSION): add an entry (dch -v $(MS_VERSION))" >&2; exit 1; }
	rm -rf $(BUILD)/deb-src && mkdir -p $(BUILD)/deb-src/migshaper-$(MS_VERSION)
	git ls-files -z --cached --others --exclude-standard | \
		tar -c --null -T - --ignore-failed-read | tar -x -C $(BUILD)/deb-src/migshaper-$(MS_VERSION)
	cd $(BUILD)/deb-src/migshaper-$(MS_VERSION) && env -u MAKEFLAGS -u MFLAGS -u BUILD \
		DEB_BUILD_OPTIONS="parallel=2 $(DEB_BUILD_OPTIONS)" dpkg-buildpackage -b -us -uc
	cp $(BUILD)/deb-src/migshaper_$(MS_VERSION)_$(DEB_ARCH).deb $(BUILD)/
	@echo "deb: $(BUILD)/migshaper_$(MS_VERSION)_$(DEB_ARCH).deb"

format:
	clang-format -i $(wildcard agent/*.[ch] agent/*/*.[ch] tc/*.[ch] include/*.h bpf/*.[ch] tests/*/*.c tests/*/*.h)

clean:
	rm -rf $(BUILD)
