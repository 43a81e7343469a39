/*
 * fuzz_decode.c - libFuzzer harness for the decoder (src/decode.c).
 *
 * Every input is decoded straight from libFuzzer's buffer (exactly `size`
 * bytes, not NUL-terminated, so ASan sees any read past the end) by
 * nuon_decode_runs (lenient, strict, small max_depth and max_runs) and
 * nuon_decode_json, each inside lua_pcall: a raised error, an unbalanced
 * stack or a malformed result or error object aborts.  Modes: 0 lenient,
 * 1 strict, 2 max_depth 4 and max_runs 3, 3 decode_json at the hard depth
 * limit, 4 decode_json with max_depth 16, 5 one run (the single-run route).
 *
 * Build and run (from the repository root):
 *   mkdir -p build/fuzz
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -I/usr/include/lua5.4 $(pkg-config --cflags libcurl) -Isrc \
 *     spec/fuzz/fuzz_decode.c src/decode.c src/schema.c src/error.c -llua5.4 \
 *     -o build/fuzz/fuzz_decode
 *   cp -r spec/fuzz/corpus build/fuzz/corpus   # libFuzzer adds to its corpus dir
 *   build/fuzz/fuzz_decode -dict=spec/fuzz/decode.dict -max_total_time=180 build/fuzz/corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nuon.h"

typedef struct job {
  const uint8_t *data;
  size_t size;
  int mode;
} job;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "fuzz_decode: check failed: %s (mode %d, line %d)\n", \
              #cond, j->mode, __LINE__);                                   \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* The error object at the top of the stack. */
static void check_error(lua_State *L, const job *j) {
  const char *kind;
  CHECK(lua_istable(L, -1));
  CHECK(lua_getmetatable(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, -1, "kind");
  kind = lua_tostring(L, -1);
  CHECK(kind != NULL);
  lua_getfield(L, -2, "message");
  CHECK(lua_type(L, -1) == LUA_TSTRING);
  lua_getfield(L, -3, "position");
  if (kind[0] == 'd') { /* decode */
    lua_Integer pos;
    CHECK(lua_isinteger(L, -1));
    pos = lua_tointeger(L, -1);
    CHECK(pos >= 1 && (size_t)pos <= j->size + 1);
  } else {
    CHECK(kind[0] == 'v'); /* validation */
    lua_getfield(L, -4, "path");
    CHECK(lua_type(L, -1) == LUA_TSTRING);
    lua_pop(L, 1);
  }
  lua_pop(L, 3);
}

static int run(lua_State *L) {
  const job *j = (const job *)lua_touserdata(L, 1);
  const char *buf = (const char *)j->data;
  int top = lua_gettop(L), ok;
  nuon_decode_opts o;
  memset(&o, 0, sizeof o); /* known = 0: no known_values; single = 0: a list */
  o.strict = j->mode == 1;
  o.max_depth = j->mode == 2 ? 4 : 0;
  o.max_runs = j->mode == 2 ? 3 : 0; /* mode 2 also meets the max_runs limit */
  o.single = j->mode == 5;              /* one run, as GET .../sandbox-runs/{run_id} */
  if (j->mode <= 2 || j->mode == 5) {
    ok = nuon_decode_runs(L, buf, j->size, &o);
    CHECK(lua_gettop(L) == top + 1);
    if (ok) {
      CHECK(lua_istable(L, -1));
      lua_getfield(L, -1, "warnings");
      CHECK(lua_istable(L, -1));
      if (o.strict) CHECK(lua_rawlen(L, -1) == 0);
      lua_pop(L, 1);
    } else {
      check_error(L, j);
    }
  } else {
    ok = nuon_decode_json(L, buf, j->size, j->mode == 3 ? NUON_HARD_MAX_DEPTH : 16);
    CHECK(lua_gettop(L) == top + 1);
    if (!ok) check_error(L, j);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh state per input, closed at the end: allocations balance, so
 * LeakSanitizer stays quiet unless something really leaks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  job j;
  int mode;
  if (!L) return 0;
  nuon_error_open(L);
  lua_pop(L, 1);
  nuon_decode_open(L);
  j.data = data;
  j.size = size;
  for (mode = 0; mode < 6; mode++) {
    int top = lua_gettop(L), status;
    j.mode = mode;
    lua_pushcfunction(L, run);
    lua_pushlightuserdata(L, &j);
    status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK) {
      fprintf(stderr, "fuzz_decode: raised in mode %d: %s\n", mode, lua_tostring(L, -1));
      abort();
    }
    if (lua_gettop(L) != top) abort();
  }
  lua_close(L);
  return 0;
}
