# Builds and installs the C ABI of sturdycache (the ffi/ crate):
#
#   make                      build libsturdycache.so and libsturdycache.a (release)
#   make install PREFIX=DIR   install the header, both libraries and sturdycache.pc
#   make uninstall PREFIX=DIR remove them again
#   make test-c               run scripts/test-c.sh (the C test suite)
#
# PROFILE=debug builds and installs the debug libraries instead (what the C
# tests use, to share the build of `cargo test`). DESTDIR is honoured.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PROFILE ?= release
CARGO ?= cargo
INSTALL ?= install

TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
OUT := target/$(TARGET)/$(PROFILE)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
# The SONAME set in ffi/build.rs: major.minor while the major version is 0.
SOVERSION := $(if $(filter 0,$(MAJOR)),$(MAJOR).$(MINOR),$(MAJOR))
# Libraries libsturdycache.a needs on Linux (keep in step with
# `cargo rustc -p sturdycache-ffi --lib --crate-type staticlib -- --print native-static-libs`).
NATIVE_LIBS ?= -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
CARGO_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)

.PHONY: all lib install uninstall test-c

all: lib

lib:
	CARGO_BUILD_TARGET=$(TARGET) $(CARGO) build -p sturdycache-ffi --lib $(CARGO_PROFILE_FLAG)

install: lib
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	$(INSTALL) -m 644 include/sturdycache.h $(DESTDIR)$(INCLUDEDIR)/sturdycache.h
	$(INSTALL) -m 644 $(OUT)/libsturdycache.a $(DESTDIR)$(LIBDIR)/libsturdycache.a
	$(INSTALL) -m 755 $(OUT)/libsturdycache.so $(DESTDIR)$(LIBDIR)/libsturdycache.so.$(VERSION)
	ln -sf libsturdycache.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsturdycache.so.$(SOVERSION)
	ln -sf libsturdycache.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libsturdycache.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@NATIVE_LIBS@|$(NATIVE_LIBS)|' \
	    ffi/sturdycache.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/sturdycache.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/sturdycache.h $(DESTDIR)$(LIBDIR)/libsturdycache.a \
	    $(DESTDIR)$(LIBDIR)/libsturdycache.so $(DESTDIR)$(LIBDIR)/libsturdycache.so.$(SOVERSION) \
	    $(DESTDIR)$(LIBDIR)/libsturdycache.so.$(VERSION) $(DESTDIR)$(LIBDIR)/pkgconfig/sturdycache.pc

test-c:
	bash scripts/test-c.sh
