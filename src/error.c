/*
 * error.c - nuon error objects.
 *
 * An error is a plain table { kind = ..., message = ..., ... } whose
 * metatable (registered as "nuon.error") gives it a __tostring.  Tables keep
 * errors easy to inspect, compare and extend from Lua; the Lua layer creates
 * its own errors with the same metatable (core.error_mt).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nuon.h"

/* tostring(err) -> "nuon <kind> error: <message>" */
static int error_tostring(lua_State *L) {
  const char *kind, *message;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  kind = lua_tostring(L, -2);
  message = lua_tostring(L, -1);
  lua_pushfstring(L, "nuon %s error: %s", kind ? kind : "unknown",
                  message ? message : "(no message)");
  return 1;
}

void nuon_error_open(lua_State *L) {
  if (luaL_newmetatable(L, NUON_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "nuon.error");
    lua_setfield(L, -2, "__name");
  }
}

void nuon_error_push(lua_State *L, const char *kind, const char *message) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  luaL_getmetatable(L, NUON_ERROR_MT);
  lua_setmetatable(L, -2);
}

void nuon_error_pushf(lua_State *L, const char *kind, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  nuon_error_push(L, kind, msg);
}

void nuon_error_setstr(lua_State *L, const char *field, const char *s, size_t len) {
  lua_pushlstring(L, s, len);
  lua_setfield(L, -2, field);
}

void nuon_error_setint(lua_State *L, const char *field, long long v) {
  nuon_pushint64(L, v);
  lua_setfield(L, -2, field);
}

void nuon_error_setbool(lua_State *L, const char *field, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, field);
}
