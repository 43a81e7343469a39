/*
 * lua.c - a minimal Lua 5.4 interpreter for the sanitizer runs (make
 * check-asan): `lua SCRIPT [ARGS...]`, with `arg` set up as the standard
 * interpreter does (arg[-1] is this program, so specs that start a child
 * interpreter start this one again).
 *
 * Why not `LD_PRELOAD=libasan.so lua5.4`: the preload is inherited by every
 * process a spec starts (sh, cc, luajit), and LuaJIT hangs under it.  Linking
 * the ASan runtime into the interpreter itself instruments exactly the
 * processes that load build/asan/nuon/core.so.  liblua5.4 is the system's and
 * not instrumented, but every allocation it makes goes through malloc, so
 * LeakSanitizer sees the Lua heap and everything our module hangs off it.
 * The state is closed at exit (lua_close), so every __gc runs before the leak
 * check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L;
  int status, i, narg;
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", argv[0]);
    return 2;
  }
  L = luaL_newstate();
  if (L == NULL) return 1;
  luaL_openlibs(L);

  lua_createtable(L, argc, 1); /* arg: arg[-1] = argv[0], arg[0] = SCRIPT, ... */
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");

  lua_pushcfunction(L, traceback);
  status = luaL_loadfile(L, argv[1]);
  narg = 0;
  if (status == LUA_OK) {
    for (i = 2; i < argc; i++, narg++) lua_pushstring(L, argv[i]);
    status = lua_pcall(L, narg, 0, 1);
  }
  if (status != LUA_OK) {
    fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
    fflush(stderr);
  }
  lua_close(L);
  return status == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
