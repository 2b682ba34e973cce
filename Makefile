# SPDX-License-Identifier: LGPL-2.1-or-later
# MOM, the Memory Overcommitment Manager: one GNU Makefile for everything.
#
#   make                 library (static + shared), pkg-config file, programs
#   make check           build and run every test; last line "N passed, N failed"
#   make check-vm        the real end-to-end test with libvirt and QEMU (root)
#   make demo            run momd on the simulated host for about a minute
#   make bench           build and run the benchmarks (tables, not pass/fail)
#   make fuzz            build the libFuzzer targets with clang
#   make install         PREFIX=/usr/local DESTDIR=
#
# Switches: SANITIZE=address,undefined | SANITIZE=thread, VALGRIND=1,
#           WERROR=1, COVERAGE=1, V=1

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
MODULEDIR ?= $(LIBDIR)/mom
DESTDIR ?=

comma := ,
B := build
CC ?= cc
PKG_CONFIG ?= pkg-config

# Libraries every build needs (Debian: scripts/install-deps.sh).
DEPS_PKGS := jansson libsystemd libxml-2.0 libmicrohttpd
# The libvirt backend is a module of its own (libmom-libvirt.so), loaded
# only by engines that use it.
LIBVIRT_PKGS := libvirt libvirt-qemu
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEPS_PKGS) $(LIBVIRT_PKGS) 2>/dev/null)
DEPS_LIBS := $(shell $(PKG_CONFIG) --libs $(DEPS_PKGS) 2>/dev/null)
LIBVIRT_LIBS := $(shell $(PKG_CONFIG) --libs $(LIBVIRT_PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Wno-format-nonliteral
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -pthread \
               -Iinclude -Isrc $(WARN) $(DEPS_CFLAGS) \
               -DMOM_DATADIR='"$(DATADIR)/mom"' -DMOM_SYSCONFDIR='"$(SYSCONFDIR)"' \
               -DMOM_MODULEDIR='"$(MODULEDIR)"'
LDLIBS_ALL := $(DEPS_LIBS) -lm -pthread -ldl

ifeq ($(WERROR),1)
BASE_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
BASE_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LDFLAGS := -fsanitize=$(SANITIZE)
B := build-$(subst $(comma),-,$(SANITIZE))
endif
ifeq ($(COVERAGE),1)
BASE_CFLAGS += --coverage -O0
SAN_LDFLAGS += --coverage
B := build-coverage
endif
ifneq ($(V),1)
Q := @
endif

# ---- sources -------------------------------------------------------------

LIBVIRT_SRCS := $(wildcard src/hv/libvirt*.c)
LIBVIRT_OBJS := $(LIBVIRT_SRCS:%.c=$(B)/obj/%.o)
LIB_SRCS := $(sort $(filter-out $(LIBVIRT_SRCS),$(wildcard src/core/*.c src/lang/*.c \
                    src/collectors/*.c src/controllers/*.c src/hv/*.c src/rpc/*.c)))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
MOMD_SRCS := $(wildcard cmd/momd/*.c)
MOMCTL_SRCS := $(wildcard cmd/momctl/*.c)
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_SUPPORT_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/unit/*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRCS := $(filter-out fuzz/replay.c,$(wildcard fuzz/fuzz_*.c))
FUZZ_REPLAY_BINS := $(FUZZ_SRCS:fuzz/%.c=$(B)/fuzz/%-replay)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

SONAME := libmom.so.$(VERSION_MAJOR)
LIB_STATIC := $(B)/libmom.a
LIB_SHARED := $(B)/libmom.so.$(VERSION)

.PHONY: all lib programs plugins check demo bench fuzz install uninstall clean deps \
        check-deps format tests check-vm FORCE

all: lib programs plugins $(B)/mom.pc $(B)/examples/mom-example-host

LIBVIRT_MODULE := $(B)/libmom-libvirt.so

lib: $(LIB_STATIC) $(LIB_SHARED) $(LIBVIRT_MODULE)

# The libvirt backend module: its own objects plus the parts of libmom it
# uses (linked in, hidden), exporting only mom_hv_module_create.
$(LIBVIRT_MODULE): $(LIBVIRT_OBJS) $(LIB_STATIC) src/hv/libvirt.sym
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,--version-script=src/hv/libvirt.sym $(SAN_LDFLAGS) -o $@ \
	    $(LIBVIRT_OBJS) $(LIB_STATIC) $(LIBVIRT_LIBS) $(LDLIBS_ALL)

# Tests and benchmarks of the libvirt backend link its objects directly.
$(B)/tests/test_libvirt $(B)/bench/bench_libvirt: $(LIBVIRT_OBJS)
$(B)/tests/test_libvirt $(B)/bench/bench_libvirt: EXTRA_LINK = $(LIBVIRT_OBJS) $(LIBVIRT_LIBS)

programs: $(B)/momd $(B)/momctl

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) -DMOM_BUILDING_LIBRARY $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_STATIC): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SHARED): $(LIB_OBJS) src/libmom.sym
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/libmom.sym \
	    $(SAN_LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS_ALL)
	$(Q)ln -sf libmom.so.$(VERSION) $(B)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(B)/libmom.so

# The pkg-config file names the install prefix, so it is written again
# whenever PREFIX or LIBDIR change (FORCE + compare).
$(B)/mom.pc: FORCE
	@mkdir -p $(B)
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: libmom' 'Description: Memory Overcommitment Manager engine' \
	  'Version: $(VERSION)' 'Requires.private: $(DEPS_PKGS)' \
	  'Libs: -L$${libdir} -lmom' 'Libs.private: -lm -pthread -ldl' \
	  'Cflags: -I$${includedir}' > $@.tmp
	$(Q)cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

FORCE:

# Programs link the static library so they run from the build tree.
$(B)/cmd/%.o: cmd/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/momd: $(MOMD_SRCS:%.c=$(B)/%.o) $(LIB_STATIC)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(B)/momctl: $(MOMCTL_SRCS:%.c=$(B)/%.o) $(LIB_STATIC)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# ---- plugins and the example host (issue 7) ---------------------------------

# Plugins see only the public headers and never link against libmom: they
# reach the engine through the api table they are given.
PLUGIN_CFLAGS := -std=gnu11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -Iinclude $(WARN) \
                 $(filter -fsanitize=% -fno-omit-frame-pointer -fno-sanitize-recover=all --coverage,$(BASE_CFLAGS))
PLUGIN_SOS := $(patsubst plugins/examples/%.c,$(B)/plugins/%.so,$(wildcard plugins/examples/*.c))
TEST_PLUGIN_SOS := $(patsubst tests/fixtures/plugins/%.c,$(B)/test-plugins/%.so,\
                     $(wildcard tests/fixtures/plugins/*.c))

plugins: $(PLUGIN_SOS)

$(B)/plugins/%.so: plugins/examples/%.c include/mom/plugin.h include/mom/mom.h include/mom/hypervisor.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  PLUGIN  $@")
	$(Q)$(CC) $(PLUGIN_CFLAGS) $(CFLAGS) -shared $(SAN_LDFLAGS) -o $@ $<

$(B)/test-plugins/%.so: tests/fixtures/plugins/%.c include/mom/plugin.h include/mom/mom.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(PLUGIN_CFLAGS) $(CFLAGS) -shared $(SAN_LDFLAGS) -o $@ $<

# The example host program uses the public headers only.
$(B)/examples/mom-example-host: examples/host/host.c $(LIB_STATIC) include/mom/mom.h include/mom/hypervisor.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -pthread -Iinclude $(WARN) \
	    $(filter -fsanitize=% -fno-omit-frame-pointer -fno-sanitize-recover=all --coverage,$(BASE_CFLAGS)) \
	    $(CFLAGS) $(SAN_LDFLAGS) -o $@ $< $(LIB_STATIC) $(LDLIBS_ALL)

# ---- tests ---------------------------------------------------------------

$(B)/tests/support/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -DMOM_BUILDING_LIBRARY $(CFLAGS) -Itests/unit -MMD -MP -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(TEST_SUPPORT_SRCS:tests/unit/%.c=$(B)/tests/support/%.o) $(LIB_STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(BASE_CFLAGS) -DMOM_BUILDING_LIBRARY $(CFLAGS) -Itests/unit $(SAN_LDFLAGS) -o $@ \
	    $< $(TEST_SUPPORT_SRCS:tests/unit/%.c=$(B)/tests/support/%.o) $(EXTRA_LINK) $(LIB_STATIC) \
	    -lcmocka $(LDLIBS_ALL)

$(B)/fuzz/%-replay: fuzz/%.c fuzz/replay.c $(LIB_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -DMOM_BUILDING_LIBRARY $(CFLAGS) $(SAN_LDFLAGS) -o $@ \
	    $< fuzz/replay.c $(LIB_STATIC) $(LDLIBS_ALL)

tests: all $(TEST_BINS) $(FUZZ_REPLAY_BINS) $(TEST_PLUGIN_SOS)

check: check-deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)BUILD=$(B) VALGRIND=$(VALGRIND) SANITIZE=$(SANITIZE) sh tests/run.sh

check-deps deps:
	$(Q)sh scripts/install-deps.sh --check-or-install

# The real end-to-end tests (docs/testing-vm.md), over libvirt and over QMP:
# three TCG guests under a memory cgroup, momd with the default policies.
# Root only (skipped otherwise); about five minutes for both; artifacts in
# $(B)/vm-test/ and $(B)/vm-qmp-test/.
check-vm: check-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(B) sh tests/vm/run.sh

# ---- fuzzing with libFuzzer (clang) ----------------------------------------

FUZZ_CC ?= clang
fuzz: $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%)
build-fuzz/%: fuzz/%.c $(LIB_SRCS)
	@mkdir -p build-fuzz
	$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE -DMOM_BUILDING_LIBRARY -Iinclude -Isrc $(DEPS_CFLAGS) \
	    -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRCS) $(LDLIBS_ALL)

# ---- benchmarks ----------------------------------------------------------

$(B)/bench/%: bench/%.c $(LIB_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) -DMOM_BUILDING_LIBRARY $(CFLAGS) -o $@ $< $(EXTRA_LINK) $(LIB_STATIC) $(LDLIBS_ALL)

bench: check-deps all $(BENCH_BINS)
	$(Q)BUILD=$(B) sh bench/run.sh

# ---- demo ----------------------------------------------------------------

DEMO_SECONDS ?= 60
demo: check-deps all
	$(Q)sh scripts/demo.sh $(B) $(DEMO_SECONDS)

# ---- install -------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/mom $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/mom/policies $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(DATADIR)/mom/conf
	install -m 644 $(LIB_STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SHARED) $(DESTDIR)$(LIBDIR)/
	install -d $(DESTDIR)$(MODULEDIR)
	install -m 755 $(LIBVIRT_MODULE) $(DESTDIR)$(MODULEDIR)/
	ln -sf libmom.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmom.so
	install -m 644 include/mom/*.h $(DESTDIR)$(INCLUDEDIR)/mom/
	install -m 644 $(B)/mom.pc $(DESTDIR)$(LIBDIR)/pkgconfig/mom.pc
	install -m 755 $(B)/momd $(DESTDIR)$(SBINDIR)/momd
	install -m 755 $(B)/momctl $(DESTDIR)$(BINDIR)/momctl
	for f in docs/man/*.[158]; do \
	    [ -f "$$f" ] || continue; s=$${f##*.}; \
	    install -m 644 "$$f" $(DESTDIR)$(MANDIR)/man$$s/; done
	for f in policies/*.mom policies/*.policy; do \
	    [ -f "$$f" ] && install -m 644 "$$f" $(DESTDIR)$(DATADIR)/mom/policies/ || true; done
	sed -e 's|@DATADIR@|$(DATADIR)|g' conf/momd.conf > $(DESTDIR)$(DATADIR)/mom/conf/momd.conf
	install -m 644 conf/demo.conf $(DESTDIR)$(DATADIR)/mom/conf/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    conf/momd.service.in > $(DESTDIR)$(UNITDIR)/momd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/momd.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/momd.conf ] || { install -d $(DESTDIR)$(SYSCONFDIR) && \
	    sed -e 's|@DATADIR@|$(DATADIR)|g' conf/momd.conf > $(DESTDIR)$(SYSCONFDIR)/momd.conf; }

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmom.* $(DESTDIR)$(LIBDIR)/pkgconfig/mom.pc \
	    $(DESTDIR)$(SBINDIR)/momd $(DESTDIR)$(BINDIR)/momctl $(DESTDIR)$(UNITDIR)/momd.service
	rm -rf $(DESTDIR)$(INCLUDEDIR)/mom $(DESTDIR)$(DATADIR)/mom

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-* 

-include $(shell find $(B) -name '*.d' 2>/dev/null)
