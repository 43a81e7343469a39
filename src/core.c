/*
 * core.c - luaopen_nuon_core: the module table of nuon.core.
 *
 *   core.VERSION                 "MAJOR.MINOR.PATCH"
 *   core.decode(text [, opts])   runs | nil, err   (opts: strict, max_depth, max_runs,
 *                                known_values)
 *   core.decode_run(text [, opts])  run | nil, err (the same, one run; opts.api_version
 *                                is kept as core.meta(run).api_version)
 *   core.check_known_values(t)   true | nil, message
 *   core.meta(run)               { api_version = ... } of a run from one request, or nil
 *   core.decode_json(text)       value | nil, err  (any JSON; null -> nil)
 *   core.enums                   enum name -> sequence of known values
 *   core.enum_provenance         enum name -> { value -> "seed" | "added 2025-06" | ... }
 *   core.schema                  object type name -> sequence of { field, kind [, ref] }
 *   core.new_client(opts)        a nuon.client userdata (see http.c)
 *   core.protocol(opts)          the protocol's rules for a transport of its own
 *                                (nuon.resty; see exchange.c)
 *   core.error_mt                the metatable of error objects
 *   core.limits                  the bounds of numeric options (nuon.h)
 *   core.now(), core.sleep(s)    monotonic seconds; a blocking sleep
 *   core.curl_version            libcurl's version string
 *   core.curl                    libcurl's version and features (push_curl_info)
 *   core.lua                     the Lua this core was built for
 *
 * luaopen may run more than once in one state (busted resets package.loaded):
 * everything it registers is created once and reused.
 */
#include <curl/curl.h>

#include "nuon.h"

#ifdef NUON_PUC51 /* the shims compat.h declares for PUC Lua 5.1 */
/* Lua 5.2's luaL_setfuncs: the functions of l into the table below the nup
 * upvalues on the top of the stack, each closing over all of them. */
void nuon_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  int i;
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name != NULL; l++) {
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

/* Lua 5.2's luaL_testudata: the userdata at idx if its metatable is tname's. */
void *nuon_testudata(lua_State *L, int idx, const char *tname) {
  void *p = lua_touserdata(L, idx);
  int same;
  if (p == NULL || !lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, tname);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}
#endif

void nuon_push_class(lua_State *L, const char *name, const luaL_Reg *meta,
                     const luaL_Reg *methods) {
  lua_getfield(L, LUA_REGISTRYINDEX, name);
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  /* registered only once complete: luaL_newmetatable registers an empty
   * table first, and a memory error while filling it would leave every later
   * object without methods or __gc */
  lua_createtable(L, 0, 6);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, name);
}

/* An integer field of the options table at idx in [min, max] (integral floats
 * accepted), or def when absent. */
static double opt_int_field(lua_State *L, int idx, const char *name, double def, double min,
                            double max) {
  double v = def;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    v = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || !(v >= min && v <= max) || (double)(long long)v != v)
      luaL_error(L, "nuon.core.decode: option '%s' must be an integer from %d to %s", name,
                 (int)min, max == NUON_MAX_INT ? "2^53" : lua_pushfstring(L, "%d", (int)max));
  }
  lua_pop(L, 1);
  return v;
}

/* The options table at 2 (or none): strict, max_depth, max_runs,
 * known_values (left at stack index 3) and api_version (at 4). */
static void read_decode_opts(lua_State *L, nuon_decode_opts *o) {
  static const char *const fields[] = {"known_values", "api_version", "strict"};
  int i;
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  for (i = 0; i < 3; i++) { /* at 3, 4, 5 */
    if (lua_isnil(L, 2)) lua_pushnil(L);
    else lua_getfield(L, 2, fields[i]);
  }
  if (!lua_isnil(L, 4) && lua_type(L, 4) != LUA_TSTRING)
    luaL_error(L, "nuon.core.decode: option 'api_version' must be a string");
  if (!lua_isnil(L, 3) && !nuon_known_values_check(L, 3))
    luaL_error(L, "nuon.core.decode: option 'known_values' %s", lua_tostring(L, -1));
  nuon_decode_opts_read(L, o, 0, 5, 3);
  if (lua_isnil(L, 2)) return;
  o->max_depth = (int)opt_int_field(L, 2, "max_depth", NUON_DEFAULT_MAX_DEPTH, 1,
                                    NUON_HARD_MAX_DEPTH);
  o->max_runs = (size_t)opt_int_field(L, 2, "max_runs", 0, 1, NUON_MAX_INT);
}

/* core.decode(text [, opts]) */
static int l_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  nuon_decode_opts o;
  read_decode_opts(L, &o);
  if (nuon_decode_runs(L, s, len, &o)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* core.decode_run(text [, opts]) */
static int l_decode_run(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  nuon_decode_opts o;
  read_decode_opts(L, &o);
  if (nuon_decode_run(L, s, len, &o)) {
    nuon_meta_set(L, lua_tostring(L, 4));
    return 1;
  }
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* core.check_known_values(t) */
static int l_check_known_values(lua_State *L) {
  if (nuon_known_values_check(L, 1)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* core.meta(run) */
static int l_meta(lua_State *L) {
  nuon_meta_push(L);
  lua_pushvalue(L, 1);
  lua_rawget(L, -2);
  return 1;
}

/* core.decode_json(text [, max_depth]) */
static int l_decode_json(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int depth = (int)luaL_optinteger(L, 2, NUON_DEFAULT_MAX_DEPTH);
  if (depth < 1 || depth > NUON_HARD_MAX_DEPTH)
    return luaL_argerror(L, 2, "max_depth from 1 to 1000 expected");
  lua_settop(L, 2);
  if (nuon_decode_json(L, s, len, depth)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* core.now(): monotonic seconds, for deadlines (not a date) */
static int l_now(lua_State *L) {
  lua_pushnumber(L, nuon_now());
  return 1;
}

/* core.sleep(seconds): blocks the thread (not for event loops) */
static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s <= NUON_MAX_SECONDS, 1, "seconds from 0 to 2147483 expected");
  nuon_sleep(s);
  return 0;
}

static const luaL_Reg core_funcs[] = {
  {"now", l_now},
  {"sleep", l_sleep},
  {"decode", l_decode},
  {"decode_run", l_decode_run},
  {"check_known_values", l_check_known_values},
  {"meta", l_meta},
  {"decode_json", l_decode_json},
  {"new_client", nuon_http_new_client},
  {"protocol", nuon_exchange_new},
  {NULL, NULL}
};

/* core.curl: what the libcurl in use can do, for :checkhealth and bug
 * reports.  { version, ssl (its TLS library, absent without TLS), tls,
 * http2, libz, brotli, zstd, ipv6, asynchdns } */
static void push_curl_info(lua_State *L) {
  static const struct { const char *name; int bit; } features[] = {
    {"tls", CURL_VERSION_SSL}, {"http2", CURL_VERSION_HTTP2}, {"libz", CURL_VERSION_LIBZ},
#ifdef CURL_VERSION_BROTLI
    {"brotli", CURL_VERSION_BROTLI},
#endif
#ifdef CURL_VERSION_ZSTD
    {"zstd", CURL_VERSION_ZSTD},
#endif
    {"ipv6", CURL_VERSION_IPV6}, {"asynchdns", CURL_VERSION_ASYNCHDNS},
  };
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  size_t i;
  lua_createtable(L, 0, 10);
  lua_pushstring(L, v->version);
  lua_setfield(L, -2, "version");
  if (v->ssl_version) {
    lua_pushstring(L, v->ssl_version);
    lua_setfield(L, -2, "ssl");
  }
  for (i = 0; i < sizeof features / sizeof features[0]; i++) {
    lua_pushboolean(L, (v->features & features[i].bit) != 0);
    lua_setfield(L, -2, features[i].name);
  }
}

/* core.lua: the Lua this core was built for ("LuaJIT" or _VERSION's text);
 * a core loads only into the Lua it was built for. */
#if LUA_VERSION_NUM == 501 && !defined(NUON_PUC51)
#define NUON_BUILT_FOR "LuaJIT"
#else
#define NUON_BUILT_FOR LUA_VERSION
#endif

/* libcurl's global state is initialised once per process, never cleaned up:
 * other libraries in the same host may be using it too. */
static int curl_ready = 0;

int luaopen_nuon_core(lua_State *L) {
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "nuon.core: curl_global_init failed");
    curl_ready = 1;
  }
  nuon_decode_open(L);
  nuon_http_open(L);

  lua_newtable(L);
  luaL_setfuncs(L, core_funcs, 0);
  lua_pushliteral(L, NUON_VERSION);
  lua_setfield(L, -2, "VERSION");
  nuon_schema_push_enums(L, 0);
  lua_setfield(L, -2, "enums");
  nuon_schema_push_enums(L, 1);
  lua_setfield(L, -2, "enum_provenance");
  nuon_schema_push_types(L);
  lua_setfield(L, -2, "schema");
  nuon_error_open(L);
  lua_setfield(L, -2, "error_mt");
  lua_pushstring(L, curl_version());
  lua_setfield(L, -2, "curl_version");
  push_curl_info(L);
  lua_setfield(L, -2, "curl");
  lua_pushliteral(L, NUON_BUILT_FOR);
  lua_setfield(L, -2, "lua");
  nuon_push_limits(L);
  lua_setfield(L, -2, "limits");
  return 1;
}
