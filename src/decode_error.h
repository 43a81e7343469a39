/*
 * decode_error.h - the decoder's errors and warnings (a part of decode.c,
 * see decode_types.h): syntax errors with the byte position, the limits'
 * errors (max_depth, max_runs), validation errors and enum warnings with
 * the path to the value ("[3].runner_job.status"), turned into a string from
 * decoder.path only when one is raised.  Every failure pushes one error
 * object and returns NULL, the parsing functions' error result.
 */
#ifndef NUON_DECODE_ERROR_H
#define NUON_DECODE_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "decode_types.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Failures push one error object and return NULL, the parsing functions'
 * error result. */
static const uchar *fail_at(decoder *d, const uchar *at, const char *fmt, ...) PRINTF_LIKE(3, 4);

static const uchar *fail_at(decoder *d, const uchar *at, const char *fmt, ...) {
  char detail[256];
  unsigned long pos = (unsigned long)(at - d->start) + 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  lua_checkstack(d->L, 10);
  nuon_error_pushf(d->L, "decode", "invalid JSON at byte %lu: %s", pos, detail);
  nuon_error_setint(d->L, "position", (long long)pos);
  return NULL;
}

static const uchar *fail_eof(decoder *d) {
  return fail_at(d, d->end, "unexpected end of input");
}

static const uchar *fail_unexpected(decoder *d, const uchar *at) {
  if (at >= d->end) return fail_eof(d);
  if (*at > 0x20 && *at < 0x7f) return fail_at(d, at, "unexpected character '%c'", *at);
  return fail_at(d, at, "unexpected byte 0x%02X", *at);
}

static const uchar *fail_duplicate(decoder *d, const uchar *at, const char *key, size_t n) {
  return fail_at(d, at, "duplicate key \"%.*s\"", (int)(n > 64 ? 64 : n), key);
}

static const uchar *fail_depth(decoder *d, const uchar *at) {
  unsigned long pos = (unsigned long)(at - d->start) + 1;
  lua_checkstack(d->L, 10);
  nuon_error_pushf(d->L, "decode", "JSON nested deeper than max_depth (%d)", d->max_depth);
  nuon_error_setint(d->L, "position", (long long)pos);
  return NULL;
}

/* The body holds more runs than max_runs allows: decided at run max_runs + 1,
 * before its tables are made, so a small hostile body cannot make millions. */
static const uchar *fail_runs(decoder *d, const uchar *at) {
  unsigned long pos = (unsigned long)(at - d->start) + 1;
  lua_checkstack(d->L, 10);
  nuon_error_pushf(d->L, "decode", "response holds more than max_runs (%lu) runs",
                   (unsigned long)d->max_runs);
  nuon_error_setint(d->L, "position", (long long)pos);
  return NULL;
}

/* Appends the decimal digits of v (>= 0) at out; returns their count. */
static size_t put_uint(char *out, unsigned v) {
  char tmp[12];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

/* Pushes the path of the first plen entries, e.g. "[3].runner_job.status". */
static void push_path(decoder *d, int plen) {
  char buf[256];
  size_t n = 0;
  luaL_Buffer b;
  int i;
  /* usually short: built on the C stack, else (long map keys) in Lua's buffer */
  for (i = 0; i < plen; i++) {
    const path_entry *e = &d->path[i];
    if (n + (e->name ? e->len + 1 : 13) > sizeof buf) break;
    if (e->name) {
      if (i > 0 || d->dot0) buf[n++] = '.';
      memcpy(buf + n, e->name, e->len);
      n += e->len;
    } else {
      buf[n++] = '[';
      n += put_uint(buf + n, (unsigned)e->index);
      buf[n++] = ']';
    }
  }
  if (i == plen) {
    lua_pushlstring(d->L, buf, n);
    return;
  }
  luaL_buffinit(d->L, &b);
  luaL_addlstring(&b, buf, n);
  for (; i < plen; i++) {
    const path_entry *e = &d->path[i];
    if (e->name) {
      if (i > 0 || d->dot0) luaL_addchar(&b, '.');
      luaL_addlstring(&b, e->name, e->len);
    } else {
      char num[16];
      num[0] = '[';
      n = 1 + put_uint(num + 1, (unsigned)e->index);
      num[n++] = ']';
      luaL_addlstring(&b, num, n);
    }
  }
  luaL_pushresult(&b);
}

static const char *json_type(int c) {
  switch (c) {
    case '"': return "string";
    case '{': return "object";
    case '[': return "array";
    case 't': case 'f': return "boolean";
    case 'n': return "null";
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': return "number";
    default: return NULL;
  }
}

/* A validation error for the value at the top of the stack (replaced by the
 * error): "<path>: expected <expected>, got <got>". */
static const uchar *fail_type(decoder *d, int plen, const char *expected, const char *got) {
  lua_State *L = d->L;
  const char *path;
  lua_checkstack(L, 10);
  push_path(d, plen);
  path = lua_tostring(L, -1);
  nuon_error_push(L, "validation", "");
  lua_pushfstring(L, "%s: expected %s, got %s", *path ? path : "response", expected, got);
  lua_setfield(L, -2, "message");
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "path");
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "value");
  lua_pushstring(L, expected);
  lua_setfield(L, -2, "expected");
  lua_pushstring(L, got);
  lua_setfield(L, -2, "got");
  return NULL;
}

static const uchar *parse_value(decoder *d, const uchar *p, unsigned pl);

/* The JSON value at p is of the wrong type.  Scalars are decoded (which
 * also checks their syntax) to report them as `value`; containers are named. */
static const uchar *wrong_type(decoder *d, const uchar *p, int plen, const char *expected) {
  const char *got;
  if (p >= d->end) return fail_eof(d);
  got = json_type(*p);
  if (!got) return fail_unexpected(d, p);
  lua_checkstack(d->L, 10);
  if (*p == '{' || *p == '[') {
    lua_pushstring(d->L, got);
  } else {
    if (!parse_value(d, p, 0)) return NULL;
    if (*p == 'n') {
      lua_pop(d->L, 1);
      lua_pushliteral(d->L, "null");
    }
  }
  return fail_type(d, plen, expected, got);
}

/* Whether the string at the top of the stack is among the values the
 * caller declared for enum e (known_values). */
static int user_known(decoder *d, const nuon_enum *e) {
  lua_State *L = d->L;
  int i, n, found = 0;
  if (!d->known) return 0;
  lua_getfield(L, d->known, e->name);
  if (lua_istable(L, -1)) {
    n = (int)nuon_rawlen(L, -1);
    for (i = 1; i <= n && !found; i++) {
      lua_rawgeti(L, -1, i);
      found = lua_rawequal(L, -1, -3);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return found;
}

/* The string at the top of the stack is not in enum e: a warning, or in
 * strict mode an error, unless the caller declared it.  The value stays on
 * the stack when it returns 1. */
static int bad_enum(decoder *d, int plen, const nuon_enum *e) {
  lua_State *L = d->L;
  lua_checkstack(L, 10);
  if (user_known(d, e)) return 1;
  if (d->strict) {
    const char *path;
    push_path(d, plen);
    path = lua_tostring(L, -1);
    nuon_error_push(L, "validation", "");
    lua_pushfstring(L, "%s: \"%s\" is not a valid %s", path, lua_tostring(L, -3), e->name);
    lua_setfield(L, -2, "message");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "path");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "value");
    lua_pushstring(L, e->name);
    lua_setfield(L, -2, "enum");
    return 0;
  }
  /* { path = ..., value = ..., enum = ... }, keys from the key table */
  lua_createtable(L, 0, 3);
  lua_rawgeti(L, d->key_table, KEYTAB_PATH);
  push_path(d, plen);
  lua_rawset(L, -3);
  lua_rawgeti(L, d->key_table, KEYTAB_VALUE);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_rawgeti(L, d->key_table, KEYTAB_ENUM);
  lua_rawgeti(L, d->key_table, KEYTAB_ENUM_NAMES + (int)(e - nuon_schema_enums));
  lua_rawset(L, -3);
  lua_rawseti(L, d->warnings, ++d->nwarnings);
  return 1;
}

#endif /* NUON_DECODE_ERROR_H */
