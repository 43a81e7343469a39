/*
 * compat.h - every Lua version difference nuon.core cares about, in one place.
 *
 * The code is written against the Lua 5.3/5.4 API and shimmed downwards:
 *
 *   5.4          lua_newuserdatauv
 *   5.3, 5.4     integers (lua_pushinteger keeps an int64 exact)
 *   5.2          no integers; lua_rawlen, lua_absindex, luaL_setfuncs,
 *                lua_rawgetp and lua_rawsetp exist
 *   LuaJIT 2.1   reports 5.1 but has LUA_OK, luaL_setfuncs, luaL_newlib and
 *                luaL_testudata; lacks lua_rawlen, lua_absindex, lua_rawgetp,
 *                lua_rawsetp, integers
 *   PUC 5.1      lacks all of the above (Neovim's fallback where LuaJIT is
 *                not ported)
 *
 * PUC 5.1 is told from LuaJIT by luaL_newlib, a macro LuaJIT's lauxlib.h
 * defines and PUC 5.1's does not.  Shims are functions under nuon_ names,
 * defined in core.c (the two registry ones here, static inline); a Lua API
 * name is mapped onto one only where that Lua lacks it, so they never clash
 * with a host's own definitions.
 */
#ifndef NUON_COMPAT_H
#define NUON_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

/* Integers: on 5.1, 5.2 and LuaJIT every number is a double, and an int64
 * above 2^53 becomes the nearest double (docs/API.md, "The run tables"). */
#if LUA_VERSION_NUM >= 503
#define NUON_HAS_INTEGERS 1
#define nuon_pushint64(L, v) lua_pushinteger((L), (lua_Integer)(v))
#else
#define NUON_HAS_INTEGERS 0
#define nuon_pushint64(L, v) lua_pushnumber((L), (lua_Number)(v))
#endif

#if LUA_VERSION_NUM >= 502
#define nuon_rawlen(L, i) lua_rawlen((L), (i))
#define nuon_absindex(L, i) lua_absindex((L), (i))
#else
#define nuon_rawlen(L, i) lua_objlen((L), (i))
#define nuon_absindex(L, i) \
  (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
#endif

#if LUA_VERSION_NUM >= 504
#define nuon_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 0)
#else
#define nuon_newuserdata(L, sz) lua_newuserdata((L), (sz))
#endif

/* Registry entries keyed by the address of a static variable (5.2's
 * lua_rawgetp/lua_rawsetp): no name to collide with another module's, and
 * each copy of the module loaded has its own.  On 5.1 and LuaJIT, which lack
 * them, the same with a light userdata key. */
#if LUA_VERSION_NUM < 502
#include <stdint.h>
static inline void nuon_rawgetp(lua_State *L, int idx, const void *p) {
  idx = nuon_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)(uintptr_t)p); /* not written through */
  lua_rawget(L, idx);
}
static inline void nuon_rawsetp(lua_State *L, int idx, const void *p) {
  idx = nuon_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)(uintptr_t)p);
  lua_insert(L, -2);
  lua_rawset(L, idx);
}
#define lua_rawgetp(L, i, p) nuon_rawgetp((L), (i), (p))
#define lua_rawsetp(L, i, p) nuon_rawsetp((L), (i), (p))
#endif

#if LUA_VERSION_NUM == 501 && !defined(luaL_newlib) /* PUC Lua 5.1 */
#define NUON_PUC51 1
#ifndef LUA_OK
#define LUA_OK 0
#endif
void nuon_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *nuon_testudata(lua_State *L, int idx, const char *tname);
#define luaL_setfuncs(L, l, nup) nuon_setfuncs((L), (l), (nup))
#define luaL_testudata(L, i, t) nuon_testudata((L), (i), (t))
#endif

#endif /* NUON_COMPAT_H */
