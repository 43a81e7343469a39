# bench/bench.mk - the benchmark's own C pieces, into build/bench/ (included
# by nothing; bench/run.sh runs `make -f bench/bench.mk`).
#   build/bench/lua5.4/floor.so   the decode floor module for Lua 5.4
#   build/bench/luajit/floor.so   the same for LuaJIT
#   build/bench/curl_cjson        peer (d): libcurl keep-alive + lua-cjson in C
#   build/bench/lua54-host        (target `profile`) Lua 5.4 with symbols, for
#                                 callgrind (bench/profile.sh)
PKG_CONFIG ?= pkg-config
CC ?= cc
BENCH_CFLAGS ?= -O2 -g
B := build/bench
LUA54_CFLAGS := $(shell $(PKG_CONFIG) --cflags lua5.4)
LUA54_LIBS := $(shell $(PKG_CONFIG) --libs lua5.4)
LUAJIT_CFLAGS := $(shell $(PKG_CONFIG) --cflags luajit)
CURL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS := $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
WARN := -std=c99 -Wall -Wextra

all: $(B)/lua5.4/floor.so $(B)/luajit/floor.so $(B)/curl_cjson

$(B)/lua5.4/floor.so: bench/floor.c bench/bench.mk
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(WARN) -fPIC -shared $(LUA54_CFLAGS) -o $@ $<

$(B)/luajit/floor.so: bench/floor.c bench/bench.mk
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(WARN) -fPIC -shared $(LUAJIT_CFLAGS) -o $@ $<

$(B)/curl_cjson: bench/curl_cjson.c bench/bench.mk
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(WARN) $(LUA54_CFLAGS) $(CURL_CFLAGS) -o $@ $< $(LUA54_LIBS) $(CURL_LIBS)

profile: $(B)/lua54-host

$(B)/lua54-host: bench/lua54_host.c bench/bench.mk
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(WARN) $(LUA54_CFLAGS) -o $@ $< -Wl,-E -Wl,--whole-archive \
	  -l:liblua5.4.a -Wl,--no-whole-archive -lm -ldl

.PHONY: all profile
