/*
 * bench/lua54_host.c - a minimal `lua5.4 script.lua args...` linked against
 * the static liblua5.4.a, whose symbols (luaH_newkey, luaS_newlstr,
 * luaC_step, ...) Debian's stripped /usr/bin/lua5.4 lacks: callgrind can then
 * name the interpreter's functions (bench/profile.sh).  Exported dynamically
 * (-Wl,-E) so C modules resolve the Lua API from it.
 */
#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int i, rc;
  if (argc < 2) {
    fprintf(stderr, "usage: lua54_host script.lua [args]\n");
    return 2;
  }
  luaL_openlibs(L);
  lua_createtable(L, argc, 0);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  rc = luaL_dofile(L, argv[1]);
  if (rc != LUA_OK) fprintf(stderr, "lua54_host: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return rc == LUA_OK ? 0 : 1;
}
