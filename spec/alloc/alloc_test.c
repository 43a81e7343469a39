/*
 * alloc_test.c - Lua allocation failures in the middle of every call: no
 * leak, no crash, and a client that still works afterwards.
 *
 *   alloc_test SCRIPT [POINTS]
 *
 * SCRIPT (spec/alloc/calls.lua) returns { setup = f, run = f, check = f }.
 * setup() runs once.  Then a dry run counts the K allocations run() makes.
 * Then, for n = 1..min(K, 400) and POINTS (default 600) more n spread evenly
 * up to K, a fresh lua_State whose allocator fails every allocation from the
 * n-th one on (counted from the start of run()) calls run() under pcall.  It
 * must either finish or fail with Lua's memory error: any other error means a
 * half-built object was used.  Allocations then work again, and check() must
 * pass: the objects run() made are still usable, and check() closes them and
 * collects garbage.  lua_close() runs every remaining __gc.
 *
 * Built with AddressSanitizer and LeakSanitizer (make check-asan): a curl
 * handle, header list or body buffer lost on an error path is reported as a
 * leak when the program exits, a use after free aborts at once.
 *
 * libcurl's own malloc failures are not injected here: the allocator is the
 * Lua state's, which is what a Lua error raised mid-call comes from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define DENSE 400 /* every n up to this */

typedef struct alloc_state {
  size_t count;   /* growing allocations since armed */
  size_t fail_at; /* fail from this one on; 0 = never */
  int armed;
} alloc_state;

static void *test_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  alloc_state *a = (alloc_state *)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  /* Lua requires shrinking to succeed; only new blocks and growth may fail */
  if (a->armed && (ptr == NULL || nsize > osize)) {
    a->count++;
    if (a->fail_at && a->count >= a->fail_at) return NULL;
  }
  return realloc(ptr, nsize);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

/* Calls script.fn under pcall with a traceback; returns the status and
 * leaves the message (or nothing) on the stack. */
static int call(lua_State *L, const char *fn) {
  int status;
  lua_pushcfunction(L, traceback);
  lua_getfield(L, 1, fn);
  status = lua_pcall(L, 0, 0, -2);
  lua_remove(L, status == LUA_OK ? -1 : -2);
  return status;
}

/* A new state with the standard libraries and the script's table at 1. */
static lua_State *open_state(alloc_state *a, const char *script) {
  lua_State *L = lua_newstate(test_alloc, a);
  if (!L) return NULL;
  luaL_openlibs(L);
  if (luaL_dofile(L, script) != LUA_OK || !lua_istable(L, -1)) {
    fprintf(stderr, "alloc_test: %s: %s\n", script, lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  return L;
}

int main(int argc, char **argv) {
  const char *script;
  size_t k, n, points = 600, tried = 0, oom = 0, finished = 0, problems = 0, next_sparse;
  alloc_state a;
  lua_State *L;

  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT [POINTS]\n", argv[0]);
    return 2;
  }
  script = argv[1];
  if (argc > 2) points = (size_t)strtoul(argv[2], NULL, 10);

  /* setup, and the dry run that counts run()'s allocations */
  memset(&a, 0, sizeof a);
  L = open_state(&a, script);
  if (!L) return 1;
  if (call(L, "setup") != LUA_OK) {
    fprintf(stderr, "alloc_test: setup failed: %s\n", lua_tostring(L, -1));
    return 1;
  }
  a.armed = 1;
  if (call(L, "run") != LUA_OK) {
    fprintf(stderr, "alloc_test: run failed without any injected failure: %s\n", lua_tostring(L, -1));
    return 1;
  }
  a.armed = 0;
  k = a.count;
  if (call(L, "check") != LUA_OK) {
    fprintf(stderr, "alloc_test: check failed without any injected failure: %s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_close(L);

  next_sparse = DENSE;
  for (n = 1; n <= k; n++) {
    int status;
    if (n > DENSE) {
      if (n < next_sparse) continue;
      next_sparse = n + (k - DENSE) / (points ? points : 1) + 1;
    }
    tried++;
    memset(&a, 0, sizeof a);
    L = open_state(&a, script);
    if (!L) return 1;
    a.fail_at = n;
    a.armed = 1;
    status = call(L, "run");
    a.armed = 0;
    if (status == LUA_OK) {
      finished++;
    } else if (status == LUA_ERRMEM) {
      oom++;
      lua_pop(L, 1);
    } else {
      problems++;
      fprintf(stderr, "alloc_test: allocation %zu failed: run() raised a non-memory error: %s\n", n,
              lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    if (call(L, "check") != LUA_OK) {
      problems++;
      fprintf(stderr, "alloc_test: allocation %zu failed: check() afterwards failed: %s\n", n,
              lua_tostring(L, -1));
    }
    lua_close(L);
  }

  printf("alloc_test: run() makes %zu allocations; failed from allocation n on for %zu values of n: "
         "%zu memory errors, %zu runs finished anyway, %zu problems\n",
         k, tried, oom, finished, problems);
  return problems ? 1 : 0;
}
