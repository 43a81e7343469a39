# nuon - Lua client for Nuon's sandbox-runs API.
#
#   make deps        install every Debian package the project needs (apt-get)
#   make             build nuon.core for Lua 5.4 (build/lua5.4/nuon/core.so)
#   make LUA=luajit  build it for LuaJIT 2.1 (build/luajit/nuon/core.so)
#   make LUA=5.1     ... and likewise for 5.1, 5.2 and 5.3 (build/lua5.X/)
#   make nvim        the core for Neovim into lua/nuon/core.so (the plugin's build step)
#   make test        build everything, start the test API server, run all specs
#   make test-matrix the host-independent specs on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT
#   make demo        start the test server with generated data and run the examples
#   make lint        luacheck, cppcheck and warnings-as-errors C builds; src/schema_gen.h current
#   make schema      src/schema_gen.h from schema/sandbox_runs.schema.json (after editing it)
#   make docs        the HTML reference (LDoc) into build/docs/
#   make check-asan  the suite with nuon.core under ASan+UBSan, and allocation failures
#   make check-valgrind  the C-core specs under valgrind memcheck
#   make fuzz        the decoder's libFuzzer harness for FUZZ_TIME seconds (60),
#                    then the pager's random servers for FUZZ_PAGER_TIME (10)
#   make fuzz-long   the same for about ten minutes (docs/RELIABILITY.md: the last long run)
#   make install     install into LUADIR/LIBDIR (LuaRocks' variable names), nuon-runs into BINDIR
#
# Variables follow LuaRocks' names so `luarocks make` and packagers can pass
# LUA_INCDIR, CFLAGS, LIBFLAG, LIBDIR, LUADIR and DESTDIR.

LUA ?= 5.4
PKG_CONFIG ?= pkg-config

ifeq ($(LUA),luajit)
  LUA_PC := luajit
  LUA_BIN := luajit
  BUILD := build/luajit
else
  LUA_PC := lua$(LUA)
  LUA_BIN := lua$(LUA)
  BUILD := build/lua$(LUA)
endif

LUA_INCDIR ?= $(patsubst -I%,%,$(firstword $(shell $(PKG_CONFIG) --cflags-only-I $(LUA_PC) 2>/dev/null)))
CURL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS ?= $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)

CC ?= cc
OPTFLAGS ?= -O2 -g
WARNFLAGS := -std=c99 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wwrite-strings \
             -Wstrict-prototypes -Wpointer-arith -Wcast-qual -Wformat=2 -Wundef
CFLAGS ?= $(OPTFLAGS)
ALL_CFLAGS := $(CFLAGS) $(WARNFLAGS) -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L \
              -I$(LUA_INCDIR) $(CURL_CFLAGS)
LIBFLAG ?= -shared
LDFLAGS ?=

SRCS := src/core.c src/error.c src/decode.c src/schema.c src/protocol.c src/response.c src/exchange.c src/http.c src/transfer.c src/backoff.c src/multi.c src/request.c src/watch.c
HDRS := $(wildcard src/*.h)
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
CORE := $(BUILD)/nuon/core.so

PREFIX ?= /usr/local
LUA_VERSION_DIR := $(if $(filter luajit,$(LUA)),5.1,$(LUA))
LUADIR ?= $(PREFIX)/share/lua/$(LUA_VERSION_DIR)
LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION_DIR)

# lua5.1 to lua5.3 are for make test-matrix; installing them may repoint the
# `lua` command (Debian's alternatives), which is why every command here names
# its Lua (lua5.4, luajit, busted --lua=...).  Debian's lua-busted and
# lua-cjson carry modules for 5.1 to 5.4.
DEBIAN_PACKAGES := build-essential pkg-config ca-certificates openssl curl \
  lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev libcurl4-openssl-dev \
  lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev \
  lua-cjson lua-busted lua-check lua-socket lua-ldoc luarocks \
  nginx libnginx-mod-http-lua lua-resty-core neovim \
  valgrind clang libclang-rt-14-dev cppcheck lua-discount

.PHONY: all build deps test test-matrix demo lint install clean luajit

all: build
build: $(CORE)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(CORE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(LDFLAGS) -o $@ $(OBJS) $(CURL_LIBS)

luajit:
	$(MAKE) LUA=luajit build

# make nvim: the core for the Lua Neovim runs (LuaJIT, else PUC 5.1) into
# lua/nuon/core.so, where Neovim finds it on the runtimepath: lazy.nvim's
# `build = "make nvim"` is the whole installation.  Copied through a
# temporary file: a running Neovim may have the old one mapped.
NVIM ?= nvim
NVIM_LUA ?= $(shell $(NVIM) --clean --headless -c 'lua io.stdout:write(jit and "luajit" or "5.1")' -c 'qa!' 2>/dev/null)
NVIM_LUA_OK := $(if $(filter 5.1,$(NVIM_LUA)),5.1,luajit)
NVIM_BUILD := $(if $(filter 5.1,$(NVIM_LUA_OK)),build/lua5.1,build/luajit)

.PHONY: nvim
nvim:
	$(MAKE) LUA=$(NVIM_LUA_OK) build
	cp $(NVIM_BUILD)/nuon/core.so lua/nuon/.core.so.tmp
	mv -f lua/nuon/.core.so.tmp lua/nuon/core.so

deps:
	DEBIAN_FRONTEND=noninteractive apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEBIAN_PACKAGES)

test:
	$(MAKE) LUA=5.4 build
	$(MAKE) LUA=luajit build
	$(MAKE) nvim
	bash spec/run.sh

# make test-matrix: every Lua the rockspec admits builds nuon.core and passes
# the specs that do not depend on the host (no nginx, no Neovim, no
# sanitizers): decoding, configuration, filters, time, summaries, paging,
# errors (which line a mistake blames differs between Luas' stacks), the
# client and nuon-runs against the test server, the schema generator and the
# tables it makes.  About two minutes on 2 cores.
MATRIX_LUAS := 5.1 5.2 5.3 5.4 luajit
MATRIX_SPECS := spec/decode_spec.lua spec/config_spec.lua spec/filter_spec.lua \
  spec/time_spec.lua spec/summary_spec.lua spec/client_spec.lua spec/wait_spec.lua \
  spec/paging_spec.lua spec/limits_spec.lua spec/format_spec.lua spec/cli_spec.lua \
  spec/core_info_spec.lua spec/errors_spec.lua spec/schema_spec.lua spec/protocol_spec.lua

test-matrix:
	@for v in $(MATRIX_LUAS); do $(MAKE) --no-print-directory LUA=$$v build || exit 1; done
	NUON_MATRIX_LUAS="$(MATRIX_LUAS)" bash spec/run.sh --matrix $(MATRIX_SPECS)

demo: build
	bash examples/demo.sh

# make lint: luacheck over the Lua code, src/schema_gen.h checked against the
# schema (schema/gen.lua --check), luarocks lint over every rockspec,
# cppcheck over src/, and the C core
# built with -Werror for every Lua of MATRIX_LUAS (compat.h takes other paths).
# cppcheck suppressions, each with its reason:
#   variableScope: a style preference, not a defect: some files declare a
#     block's variables at its top, as Lua's own sources and lua-cjson do.
# A finding that is wrong in one place is suppressed there, in the source:
# `// cppcheck-suppress id` on the line before, with the reason (--inline-suppr).
LUACHECK ?= luacheck
CPPCHECK ?= cppcheck
CPPCHECK_FLAGS ?= --std=c99 --enable=warning,style,performance,portability \
  --error-exitcode=1 --inline-suppr --quiet -Isrc \
  --suppress=variableScope

LUAROCKS ?= luarocks
ROCKSPECS := nuon-scm-1.rockspec $(wildcard rockspecs/*.rockspec)

lint:
	$(LUACHECK) lua spec examples bench plugin schema bin/nuon-runs
	$(LUA_BIN) schema/gen.lua --check $(SCHEMA_JSON) src/schema_gen.h
	@for r in $(ROCKSPECS); do echo "$(LUAROCKS) lint $$r"; $(LUAROCKS) lint $$r || exit 1; done
	@command -v $(CPPCHECK) >/dev/null 2>&1 || { echo "make lint: $(CPPCHECK) not found (apt-get install cppcheck)" >&2; exit 1; }
	$(CPPCHECK) $(CPPCHECK_FLAGS) src
	@for v in $(MATRIX_LUAS); do \
	  $(MAKE) --no-print-directory -B build LUA=$$v CFLAGS="$(OPTFLAGS) -Werror" BUILD=build/lint-$$v || exit 1; \
	done

# make schema: the C core's object types, fields and enums (src/schema_gen.h,
# committed) from the JSON Schema, their one source; needs lua-cjson.  Not a
# step of `make build`: a build never needs more than a C compiler.
SCHEMA_JSON := schema/sandbox_runs.schema.json

.PHONY: schema
schema:
	$(LUA_BIN) schema/gen.lua $(SCHEMA_JSON) src/schema_gen.h

# make docs: the HTML reference from the LDoc comments (config.ld) into
# build/docs/index.html.  Needs ldoc (Debian lua-ldoc) and, for Markdown in
# the comments, lua-discount (else lua-markdown, else plain text).
LDOC ?= ldoc

.PHONY: docs
docs:
	@command -v $(LDOC) >/dev/null 2>&1 || { echo "make docs: $(LDOC) not found (apt-get install lua-ldoc)" >&2; exit 1; }
	@mkdir -p build/docs
	$(LDOC) -c config.ld .

# make install: the modules, the core and bin/nuon-runs, its #! line naming
# the Lua it was built for (LUA_BIN).
BINDIR ?= $(PREFIX)/bin

install: build
	install -d $(DESTDIR)$(LUADIR)/nuon $(DESTDIR)$(LIBDIR)/nuon $(DESTDIR)$(BINDIR)
	install -m 644 lua/nuon/*.lua $(DESTDIR)$(LUADIR)/nuon/
	install -m 755 $(CORE) $(DESTDIR)$(LIBDIR)/nuon/core.so
	sed '1s|^#!.*|#!/usr/bin/env $(LUA_BIN)|' bin/nuon-runs > $(DESTDIR)$(BINDIR)/nuon-runs
	chmod 755 $(DESTDIR)$(BINDIR)/nuon-runs

clean:
	rm -rf build lua/nuon/core.so

# make bench: nuon against its peers on the same data, one table (issue 5;
# bench/bench.lua says what is measured).  A few minutes on 2 cores; starts
# its own test server in build/bench-server/.  make bench-smoke: the same
# harness at tiny sizes (< 30 s); both exit 0 when they ran (goals are
# reported, not enforced; BENCH_STRICT=1 makes a missed goal fail).
.PHONY: bench bench-smoke
bench:
	$(MAKE) LUA=5.4 build
	$(MAKE) LUA=luajit build
	bash bench/run.sh

bench-smoke:
	$(MAKE) LUA=5.4 build
	$(MAKE) LUA=luajit build
	bash bench/run.sh --smoke

# ---- sanitizers and fuzzing (docs/RELIABILITY.md) -------------------------
# make check-asan: nuon.core with ASan+UBSan in build/asan/, a Lua 5.4 host
# linked with the ASan runtime (spec/sanitizers/lua.c: no LD_PRELOAD to leak
# into the processes specs start), the allocation-failure driver
# (spec/alloc/); spec/sanitizers/asan.sh runs the whole busted suite and the
# driver.  -z nodelete keeps the module (and libcurl's global state) mapped
# after lua_close's dlclose, so LeakSanitizer can name leaks and sees
# libcurl's globals as reachable: no suppression file is needed.
# make check-valgrind: the module at -O1 in build/valgrind/, the C-core specs
# under memcheck (spec/sanitizers/valgrind.sh).  make fuzz: spec/fuzz's
# harness with clang's libFuzzer for FUZZ_TIME seconds (spec/sanitizers/fuzz.sh).
SAN_LUA_CFLAGS = $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
SAN_LUA_LIBS = $(shell $(PKG_CONFIG) --libs lua5.4 2>/dev/null || echo -llua5.4)
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CC ?= clang
FUZZ_TIME ?= 60

.PHONY: check-asan check-valgrind fuzz fuzz-long fuzz-pager fuzz-corpus
check-asan:
	$(MAKE) build LUA=5.4  # for the commands specs start as child processes (nuon-runs, examples)
	$(MAKE) build LUA=5.4 BUILD=build/asan CFLAGS="$(ASAN_CFLAGS)" \
	  LDFLAGS="-fsanitize=address,undefined -Wl,-z,nodelete"
	$(CC) -std=c99 -Wall -Wextra $(ASAN_CFLAGS) $(SAN_LUA_CFLAGS) spec/sanitizers/lua.c \
	  -o build/asan/lua $(SAN_LUA_LIBS)
	$(CC) -std=c99 -Wall -Wextra $(ASAN_CFLAGS) $(SAN_LUA_CFLAGS) spec/alloc/alloc_test.c \
	  -o build/asan/alloc_test $(SAN_LUA_LIBS)
	bash spec/sanitizers/asan.sh

check-valgrind:
	$(MAKE) build LUA=5.4
	$(MAKE) build LUA=5.4 BUILD=build/valgrind CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  LDFLAGS="-Wl,-z,nodelete"
	bash spec/sanitizers/valgrind.sh

fuzz:
	@mkdir -p build/fuzz
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  $(SAN_LUA_CFLAGS) $(CURL_CFLAGS) -Isrc spec/fuzz/fuzz_decode.c src/decode.c src/schema.c \
	  src/error.c -o build/fuzz/fuzz_decode $(SAN_LUA_LIBS)
	FUZZ_TIME=$(FUZZ_TIME) bash spec/sanitizers/fuzz.sh
	$(MAKE) --no-print-directory fuzz-pager FUZZ_PAGER_TIME=$(FUZZ_PAGER_TIME)

# make fuzz-long: the decoder for about ten minutes (FUZZ_LONG_TIME seconds)
# and the pager for one; docs/RELIABILITY.md records the last long run.
# make fuzz-corpus: the corpus libFuzzer grew in build/fuzz/corpus, minimised
# (-merge=1), its inputs under FUZZ_CORPUS_MAX bytes added to spec/fuzz/corpus,
# the seeds kept in the repository (small: the long inputs stay local).
# make fuzz-pager: the paging state machine alone (FUZZ_PAGER_TIME seconds).
FUZZ_LONG_TIME ?= 600
FUZZ_PAGER_TIME ?= 10
FUZZ_CORPUS_MAX ?= 2048
fuzz-long:
	$(MAKE) fuzz FUZZ_TIME=$(FUZZ_LONG_TIME) FUZZ_PAGER_TIME=60

# (nuon.pager's checks raise through nuon.errors, which needs nuon.core)
fuzz-pager:
	$(MAKE) --no-print-directory LUA=5.4 build
	lua5.4 -e 'package.path = "lua/?.lua;spec/?.lua;" .. package.path; package.cpath = "build/lua5.4/?.so;" .. package.cpath' \
	  spec/fuzz/pager_fuzz.lua $(FUZZ_PAGER_TIME)

fuzz-corpus:
	@test -x build/fuzz/fuzz_decode || { echo "make fuzz-corpus: run make fuzz first" >&2; exit 1; }
	rm -rf build/fuzz/minimised && mkdir -p build/fuzz/minimised
	build/fuzz/fuzz_decode -merge=1 -max_len=65536 build/fuzz/minimised spec/fuzz/corpus build/fuzz/corpus
	find build/fuzz/minimised -type f -size +$$(($(FUZZ_CORPUS_MAX) - 1))c -delete
	cp build/fuzz/minimised/* spec/fuzz/corpus/
	@echo "spec/fuzz/corpus: $$(ls spec/fuzz/corpus | wc -l) inputs, $$(du -sh spec/fuzz/corpus | cut -f1)"
