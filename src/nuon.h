/*
 * nuon.h - shared types, names and internal prototypes of nuon.core.
 *
 * Only luaopen_nuon_core is exported from the shared object; every other
 * non-static symbol carries the nuon_ prefix and is hidden by the build.
 */
#ifndef NUON_H
#define NUON_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define NUON_VERSION "0.1.0"

#define NUON_CLIENT_MT "nuon.client"
#define NUON_ERROR_MT "nuon.error"

/* Limits.  Each has an option that can lower or raise it; errors name them. */
#define NUON_DEFAULT_MAX_DEPTH 128             /* JSON nesting, option max_depth */
#define NUON_HARD_MAX_DEPTH 1000               /* no option may exceed this */
#define NUON_DEFAULT_MAX_BODY (64u * 1024 * 1024) /* bytes, option max_body */

#if defined(__GNUC__)
#define NUON_INTERNAL __attribute__((visibility("hidden")))
#else
#define NUON_INTERNAL
#endif

/* ---- error.c: error objects (tables with kind, message, ... and __tostring) */

/* Pushes a new error table { kind = kind, message = message } with the
 * nuon.error metatable.  The caller may add fields with nuon_error_set*. */
NUON_INTERNAL void nuon_error_push(lua_State *L, const char *kind, const char *message);
/* Same, message built printf-style (bounded to 512 bytes). */
NUON_INTERNAL void nuon_error_pushf(lua_State *L, const char *kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Field setters on the error table at the top of the stack. */
NUON_INTERNAL void nuon_error_setstr(lua_State *L, const char *field, const char *s, size_t len);
NUON_INTERNAL void nuon_error_setint(lua_State *L, const char *field, long long v);
NUON_INTERNAL void nuon_error_setbool(lua_State *L, const char *field, int v);
/* Registers the nuon.error metatable (idempotent) and leaves it on the stack. */
NUON_INTERNAL void nuon_error_open(lua_State *L);

/* ---- decode.c / schema.c: JSON bytes -> validated run tables -------------- */

typedef struct nuon_decode_opts {
  int strict;    /* unknown enum values are errors, not warnings */
  int max_depth; /* nesting cap; 0 means NUON_DEFAULT_MAX_DEPTH */
} nuon_decode_opts;

/*
 * Decodes a sandbox-runs response body (a JSON array of runs) of exactly len
 * bytes (buf need not be NUL-terminated).  On success pushes the runs sequence
 * (with .warnings) and returns 1.  On failure pushes an error object (kind
 * "decode" or "validation") and returns 0.  Never raises, except for memory
 * errors, and owns no C memory across a raise.
 */
NUON_INTERNAL int nuon_decode_runs(lua_State *L, const char *buf, size_t len,
                                   const nuon_decode_opts *opts);

/*
 * Decodes any JSON value (used for error bodies): pushes it and returns 1, or
 * pushes a "decode" error and returns 0.  null decodes to nil.
 */
NUON_INTERNAL int nuon_decode_json(lua_State *L, const char *buf, size_t len, int max_depth);

/* Prepares the decoder's interned key strings (idempotent). */
NUON_INTERNAL void nuon_decode_open(lua_State *L);

/* Pushes a new table: enum name -> sequence of allowed values. */
NUON_INTERNAL void nuon_schema_push_enums(lua_State *L);

/* ---- http.c: the client userdata ---------------------------------------- */

/* Registers the nuon.client metatable (idempotent). */
NUON_INTERNAL void nuon_http_open(lua_State *L);
/* core.new_client(opts) */
NUON_INTERNAL int nuon_http_new_client(lua_State *L);

#endif /* NUON_H */
