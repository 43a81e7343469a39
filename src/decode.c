/*
 * decode.c - JSON bytes -> validated sandbox-run tables, in one pass: the
 * entry points (nuon_decode_runs, nuon_decode_run, nuon_decode_json), the
 * decoder's set-up, the known_values option and the run metadata table.
 *
 * A recursive-descent parser over (buf, len) that builds the Lua tables as it
 * reads and validates them against the schema tables of schema.c on the way.
 * Each parsing function takes the cursor and returns the cursor after what
 * it read (NULL on error), so the hot loops keep it in a register.  Where
 * the time goes is Lua's: creating tables, setting fields, hashing and
 * interning strings.  So the parser works to call Lua less, and to spend
 * few instructions between its calls:
 *
 *   - field names and enum values are Lua strings interned once (the "key
 *     table", kept in the registry) and copied into the Lua stack for the
 *     call, where lua_pushvalue fetches them;
 *   - tables are created with the largest recent size in the same place
 *     (schema objects: of the same type), so they are almost never rehashed;
 *   - keys are matched by guessing the one that followed the previous key
 *     last time (the server's key order is learned): one compare of the
 *     member's opening as compact JSON writes it, `"name":`, per key;
 *   - repeated strings (two values in three) come from a cache of Lua
 *     strings instead of being hashed and interned by Lua again;
 *   - strings are scanned 16 bytes at a time (scan.h); those without
 *     escapes are read straight from the input; escapes are
 *     decoded into a scratch block owned by Lua (a userdata on the stack), so
 *     a memory error raised half-way leaks nothing;
 *   - integers are read without strtod, eight digits at a time; only
 *     fractions and exponents use it;
 *   - the path to the current value is a small stack of (name | index) and is
 *     turned into a string only for a warning or an error.
 *
 * The caches hold guesses, each confirmed by comparing bytes: a wrong guess
 * costs time, never a wrong result.
 *
 * Every read is bounded by `end`: the input need not be NUL-terminated.
 * Failures push one error object and return 0 up the recursion; the entry
 * points then drop everything built so far.
 *
 * One compilation unit, so that the hot paths inline across its parts, each
 * a header of static functions included here only, in this order:
 *
 *   decode_types.h   key ids, the caches' entries, the memo, the decoder
 *   decode_error.h   errors and warnings, and the path they name
 *   decode_lex.h     the JSON lexer: literals, strings, numbers, punctuation
 *   decode_cache.h   the string and key caches, key guessing, size guesses
 *   decode_walk.h    the container walk, generic and typed
 */
#include <string.h>

#include "nuon.h"
#include "decode_types.h"
#include "decode_error.h"
#include "decode_lex.h"
#include "decode_cache.h"
#include "decode_walk.h"

void nuon_decode_open(lua_State *L) {
  push_keys(L);
  lua_pop(L, 1);
}

/* Sets up d and pushes the memo table, the scratch slot (and, typed, the
 * keys and warnings). */
static void decoder_init(decoder *d, lua_State *L, const char *buf, size_t len, int max_depth,
                         int strict, size_t max_runs, int typed) {
  int i;
  luaL_checkstack(L, 16, "nuon.decode");
  d->L = L;
  d->start = (const uchar *)(buf ? buf : "");
  d->end = d->start + (buf ? len : 0);
  d->depth = 0;
  d->max_depth = max_depth <= 0 ? NUON_DEFAULT_MAX_DEPTH
                 : max_depth > NUON_HARD_MAX_DEPTH ? NUON_HARD_MAX_DEPTH
                                                   : max_depth;
  d->strict = strict;
  d->max_runs = max_runs;
  d->nwarnings = 0;
  d->pn = 0;
  d->known = 0;
  d->dot0 = 0;
  d->decimal_point = 0;
  d->buf = d->small;
  d->cap = sizeof d->small;
  d->m = push_memo(L);
  d->memo_table = lua_gettop(L);
  d->key_table = d->warnings = d->kbase = 0;
  if (typed) {
    push_keys(L);
    d->key_table = lua_gettop(L);
    lua_newtable(L);
    d->warnings = lua_gettop(L);
    /* the field names only: enum values are rarely read from the key table
     * (their last value per field is in the memo), so they stay there */
    luaL_checkstack(L, nuon_schema_nfield_keys + 16, "nuon.decode");
    d->kbase = lua_gettop(L);
    for (i = 1; i <= nuon_schema_nfield_keys; i++) lua_rawgeti(L, d->key_table, i);
  }
  lua_pushnil(L);
  d->scratch = lua_gettop(L);
}

/* Leaves only the top value (result or error) where the caller's stack ended. */
static int decoder_finish(decoder *d, int base, int ok) {
  lua_replace(d->L, base + 1);
  lua_settop(d->L, base + 1);
  return ok;
}

/* Only whitespace may follow the top-level value, which ends at p. */
static int check_trailing(decoder *d, const uchar *p) {
  p = scan_ws(p, d->end);
  if (p < d->end) {
    fail_unexpected(d, p);
    return 0;
  }
  return 1;
}

/* The first byte of the top-level value. */
static const uchar *start_document(decoder *d) {
  const uchar *p;
  if (d->end - d->start >= 3 && memcmp(d->start, "\xEF\xBB\xBF", 3) == 0)
    return fail_at(d, d->start, "UTF-8 byte order mark is not allowed");
  p = scan_ws(d->start, d->end);
  if (p >= d->end) return fail_eof(d);
  return p;
}

/* The typed document: the runs array, or (one) a single run object.  The
 * runs: about one per 2 KB, and the array only grows by doubling. */
static int decode_typed(decoder *d, int one) {
  const uchar *p = start_document(d);
  int size = (int)((d->end - d->start) / 2048) << 4;
  if (!p) return 0;
  if (*p != (one ? '{' : '[')) return wrong_type(d, p, 0, one ? "object" : "array") != NULL;
  p = one ? parse_typed(d, p, NUON_T_RUN) : parse_typed_array(d, p, NUON_T_RUN, &size);
  if (!p || !check_trailing(d, p)) return 0;
  lua_pushliteral(d->L, "warnings");
  lua_pushvalue(d->L, d->warnings);
  lua_rawset(d->L, -3);
  return 1;
}

/* nuon_decode_runs (one = 0) and nuon_decode_run (one = 1): a run's paths
 * start at the run (".runner_jobs[1]"), and max_runs applies to arrays. */
static int decode_typed_body(lua_State *L, const char *buf, size_t len,
                             const nuon_decode_opts *opts, int one) {
  decoder d;
  int base = lua_gettop(L);
  decoder_init(&d, L, buf, len, opts ? opts->max_depth : 0, opts ? opts->strict : 0,
               opts && !one ? opts->max_runs : 0, 1);
  d.known = opts ? opts->known : 0;
  d.dot0 = one;
  return decoder_finish(&d, base, decode_typed(&d, one));
}

int nuon_decode_runs(lua_State *L, const char *buf, size_t len, const nuon_decode_opts *opts) {
  return decode_typed_body(L, buf, len, opts, 0);
}

int nuon_decode_run(lua_State *L, const char *buf, size_t len, const nuon_decode_opts *opts) {
  return decode_typed_body(L, buf, len, opts, 1);
}

/* ---- options and metadata ------------------------------------------------------ */

/* The enum named by the string at idx, or -1. */
static int enum_named(lua_State *L, int idx) {
  int e;
  if (lua_type(L, idx) != LUA_TSTRING) return -1;
  for (e = 0; e < NUON_NENUMS; e++)
    if (strcmp(lua_tostring(L, idx), nuon_schema_enums[e].name) == 0) return e;
  return -1;
}

/* Whether the value at the top is a sequence of strings (and nothing else). */
static int is_string_list(lua_State *L) {
  int i, n, count = 0;
  if (!lua_istable(L, -1)) return 0;
  n = (int)nuon_rawlen(L, -1);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    count++;
    lua_pop(L, 1);
  }
  for (i = 1; i <= n && count == n; i++) {
    lua_rawgeti(L, -1, i);
    if (lua_type(L, -1) != LUA_TSTRING) count = -1;
    lua_pop(L, 1);
  }
  return count == n;
}

int nuon_known_values_check(lua_State *L, int idx) {
  idx = nuon_absindex(L, idx);
  luaL_checkstack(L, 8, "nuon.decode");
  if (!lua_istable(L, idx)) {
    lua_pushfstring(L, "must be a table (got %s)", luaL_typename(L, idx));
    return 0;
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) { /* key at -2, values at -1 */
    int e = enum_named(L, -2);
    if (e >= 0 && is_string_list(L)) {
      lua_pop(L, 1);
      continue;
    }
    if (e >= 0)
      lua_pushfstring(L, "must map %s to a sequence of strings", nuon_schema_enums[e].name);
    else if (lua_type(L, -2) == LUA_TSTRING)
      lua_pushfstring(L, "names an unknown enum '%s'", lua_tostring(L, -2));
    else
      lua_pushfstring(L, "must be keyed by enum names (got a %s key)", luaL_typename(L, -2));
    lua_replace(L, -3); /* the message where the key was */
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

void nuon_decode_opts_read(lua_State *L, nuon_decode_opts *o, int def_strict, int strict_idx,
                           int known_idx) {
  o->strict = lua_isnoneornil(L, strict_idx) ? def_strict : lua_toboolean(L, strict_idx);
  o->max_depth = NUON_DEFAULT_MAX_DEPTH;
  o->max_runs = 0;
  o->single = 0;
  o->known = 0;
  if (!lua_isnoneornil(L, known_idx)) {
    if (!nuon_known_values_check(L, known_idx))
      luaL_argerror(L, known_idx, lua_pushfstring(L, "known_values %s", lua_tostring(L, -1)));
    o->known = nuon_absindex(L, known_idx);
  }
}

/* Response metadata of single runs: a table with weak keys, run -> info,
 * so the run's own fields stay the server's.  In the registry at the
 * address of meta_table_key. */
static const char meta_table_key = 0;

void nuon_meta_push(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &meta_table_key);
  if (lua_istable(L, -1)) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &meta_table_key);
}

void nuon_meta_set(lua_State *L, const char *api_version) {
  luaL_checkstack(L, 4, "nuon.meta");
  nuon_meta_push(L);
  lua_pushvalue(L, -2);
  lua_createtable(L, 0, 1);
  if (api_version) {
    lua_pushstring(L, api_version);
    lua_setfield(L, -2, "api_version");
  }
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static int decode_json(decoder *d) {
  const uchar *p = start_document(d);
  if (p) p = parse_value(d, p, 0);
  return p && check_trailing(d, p);
}

int nuon_decode_json(lua_State *L, const char *buf, size_t len, int max_depth) {
  decoder d;
  int base = lua_gettop(L);
  decoder_init(&d, L, buf, len, max_depth, 0, 0, 0);
  return decoder_finish(&d, base, decode_json(&d));
}
