/*
 * compat.h - every Lua version difference nuon.core cares about, in one place.
 *
 * The code is written against the Lua 5.3/5.4 API; LuaJIT 2.1 (which reports
 * LUA_VERSION_NUM 501) gets small shims here.  LuaJIT already provides
 * luaL_setfuncs, luaL_newlib and luaL_testudata, so only the missing calls are
 * shimmed, under nuon_ names so they never clash with a host's own macros.
 */
#ifndef NUON_COMPAT_H
#define NUON_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM >= 503
#define NUON_HAS_INTEGERS 1
#define nuon_rawlen(L, i) lua_rawlen((L), (i))
#define nuon_absindex(L, i) lua_absindex((L), (i))
#define nuon_pushint64(L, v) lua_pushinteger((L), (lua_Integer)(v))
#else
#define NUON_HAS_INTEGERS 0
#define nuon_rawlen(L, i) lua_objlen((L), (i))
#define nuon_absindex(L, i) \
  (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
/* LuaJIT numbers are doubles: every int64 below 2^53 is exact. */
#define nuon_pushint64(L, v) lua_pushnumber((L), (lua_Number)(v))
#endif

#if LUA_VERSION_NUM >= 504
#define nuon_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 0)
#else
#define nuon_newuserdata(L, sz) lua_newuserdata((L), (sz))
#endif

#endif /* NUON_COMPAT_H */
