/*
 * decode.c - JSON bytes -> validated sandbox-run tables, in one pass.
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
 */
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nuon.h"
#include "scan.h"
#include "schema.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* The key table: the schema's strings (slots 1 .. nuon_schema_nkeys), then
 * the decoder's own, after every possible schema slot.  In the registry at
 * the address of key_table_key. */
static const char key_table_key = 0;
#define KEYTAB_PATH (NUON_SCHEMA_MAX_KEYS + 1)
#define KEYTAB_VALUE (NUON_SCHEMA_MAX_KEYS + 2)
#define KEYTAB_ENUM (NUON_SCHEMA_MAX_KEYS + 3)
#define KEYTAB_ENUM_NAMES (NUON_SCHEMA_MAX_KEYS + 4) /* one per enum */

/* The schema is acyclic: no path through it is longer than 9 entries
 * ([i].runner_jobs[j].executions[k].result.error_metadata.KEY). */
#define PATH_SLOTS 16

/* Entries of the cache of keys met outside the schema: KEY_CACHE / 2
 * buckets (a power of 2) of two entries each. */
#define KEY_CACHE 512

/*
 * Keys are matched by guessing.  A key id names a key: for a schema field,
 * the key-table slot of its name (1 .. NUON_SCHEMA_MAX_KEYS); KEY_ID_CACHED
 * + i for entry i of the key cache; KEY_ID_RAW for a key with escapes or a
 * long one; KEY_ID_NONE for no key.  Every key id has a key_desc.  What
 * followed a key last time is learned per context (succ_slot): the same key
 * is followed by others in other objects (org_id in a run, in a VCS config).
 * A guess is confirmed by comparing bytes, so a stale guess only costs a
 * compare.
 */
typedef unsigned short key_id;
#define KEY_ID_NONE 0
#define KEY_ID_CACHED (NUON_SCHEMA_MAX_KEYS + 1)
#define KEY_ID_RAW (KEY_ID_CACHED + KEY_CACHE)
#define NKEY_IDS (KEY_ID_RAW + 1)

/* The context bit of objects outside the schema (types use bits 0 .. 11). */
#define CTX_GENERIC 15

/* Learning contexts (succ_slot): a schema type ti; a generic object, by its
 * place pl; a string map, by the key-table slot of its field. */
#define LCTX_PLACE(pl) (16u + (unsigned)(pl))
#define LCTX_MAP(key) (16u + PLACES + (unsigned)(key))
#define SUCC 8192 /* entries of memo.succ, a power of 2 */

/* What a field's (or a key's) string values did lately: the cache entry of
 * the last one, and how many in a row were new.  Fields whose values are
 * always new (ids, timestamps) mostly bypass the cache: trying it would only
 * cost a cache miss, a hash and a store each time. */
typedef struct str_stat {
  int last;      /* string cache entry, -1: none */
  unsigned miss; /* new values in a row */
} str_stat;

#define STR_BYPASS 8 /* after this many new values in a row, try 1 in 16 */

/*
 * A place: where a value sits outside the schema, named by a hash of the
 * path of keys that leads to it from the nearest schema object (so
 * runner_jobs[].metadata and status_v2.metadata are different places).  It
 * remembers what the last value there looked like: the entry count of an
 * object or array, to create the next one with, and its strings (and, in
 * memo.succ, its keys' order).  A collision only makes a guess wrong.
 */
typedef struct place {
  int size_hint;    /* the size to create the next table with (size_guess) */
  str_stat strings; /* its string values */
} place;

#define PLACE_ITEM 0xFFFFu /* the "key" of an array's items */

/*
 * What a guess of a key is compared with: the member's opening as compact
 * JSON writes it, quote, key, quote, colon (nuon_field.pat), padded for
 * compares 16 bytes at a time (pat_at).  A cache entry is a key outside the
 * schema seen before: keys repeat (the fields of status_v2, workflow,
 * outputs...), so they are pushed from the memo table (slot = the key id)
 * without being hashed and interned by Lua again.
 */
#define KEY_INLINE 42 /* longer keys are not cached */
#define PAT_BYTES 48  /* >= KEY_INLINE + 3, a multiple of 16 */

typedef struct key_desc {
  char pat[PAT_BYTES];
  const nuon_field *f;     /* a field's schema entry (NULL for cached keys) */
  uchar m;                 /* pattern length (the key's + 3); 0: an unused entry */
  uchar fi;                /* a field's index in its type */
  uchar evict;             /* cache buckets' first entry: the entry to replace next */
  unsigned short valid_in; /* where it may be guessed: bit t, in objects of
                              schema type t (a field of t, or a cached key
                              known to be none of t's fields); bit
                              CTX_GENERIC, outside the schema (cached keys) */
} key_desc;

/*
 * String values: about two in three repeat one seen shortly before (org ids,
 * config ids and timestamps, owner types, statuses...).  The string cache is
 * direct-mapped on a hash of the bytes: entry i holds the bytes of an
 * escape-free string and memo slot STR_SLOT(i) its Lua string, so a
 * repeat is pushed without Lua hashing and interning it again.  Each field
 * also remembers the entry of its last value and tries it first, before
 * scanning the input.  An entry keeps a copy of the bytes, not a pointer into
 * the input: that would cost a trip to memory for a string last seen
 * megabytes ago.  The hashes sit in their own small array, so a new string is
 * told apart without touching the entries.
 */
#define STR_INLINE 46 /* longer strings are not cached */

typedef struct str_entry {
  uchar used, n;
  char b[PAT_BYTES]; /* the bytes and the closing quote, padded (pat_at) */
} str_entry;

/*
 * The schema's interned field names live in the Lua stack, above the
 * caller's values (read with lua_pushvalue, cheaper than a table's rawgeti):
 * key-table slot k of a field name is at stack index kbase + k.  The cached
 * strings live in the memo table (see memo below): a cached key at the slot
 * of its key id, a cached string value at STR_SLOT(i).
 */
#define STR_SLOT(i) (KEY_ID_RAW + 1 + (int)(i))

/*
 * The keys of one object, for finding duplicates.  A 256-bit filter of their
 * key-cache buckets: a cached key whose bit is clear cannot be a duplicate,
 * so the table is only looked in otherwise (and always once a key with
 * escapes was seen, which has no entry).  Keys whose value was null are not
 * in the table: the first few are listed here (their bytes in the input),
 * others are put in the table with a null mark until the object is done.
 */
#define NULL_KEYS 4

typedef struct key_set {
  uint64_t w[4];
  int exact; /* a key with escapes came: the filter no longer applies */
  int nnull;
  const uchar *null_key[NULL_KEYS];
  uchar null_len[NULL_KEYS];
} key_set;

#define KEY_SET_INIT {{0, 0, 0, 0}, 0, 0, {NULL, NULL, NULL, NULL}, {0, 0, 0, 0}}

typedef struct path_entry {
  const char *name; /* field name or map key; NULL for an array index */
  size_t len;
  int index; /* 1-based */
} path_entry;

/*
 * What the decoder learns, kept from one call to the next (one per Lua
 * state, in the registry): the caches and the guesses.  Nothing in it needs
 * clearing for a new input, since every cached string is confirmed by
 * comparing bytes and every guess is only a guess.  So a call pays nothing
 * to set up, and a run of small pages (the common case: one page a request)
 * starts with the caches warm.  The Lua strings sit in the memo table
 * (memo_set): each entry's bytes and its string are written with no
 * allocation between, so an error (out of memory) or a decode run by a
 * finalizer in the middle of another never leaves the two disagreeing.
 */
#define STR_CACHE 1024 /* string cache entries, a power of 2 */
#define PLACES 1024    /* places, a power of 2 */

/* What one schema field's values did lately. */
typedef struct field_memo {
  int size_hint;    /* arrays, maps, string lists: the size to create the
                       next table with (size_guess) */
  str_stat strings; /* strings and string lists: their values */
  /* enums: the last value, when it was escape-free: its bytes, whether it
   * needed no warning (in the enum, or ""), its Lua string in memo slot =
   * the field's key id */
  uchar enum_used, enum_len, enum_known;
  char enum_bytes[26];
} field_memo;

typedef struct memo {
  str_entry strs[STR_CACHE];
  unsigned str_hashes[STR_CACHE]; /* apart, so a new string is told apart
                                     without touching the entries */
  key_desc keys[NKEY_IDS]; /* by key id */
  /* the key that followed key id t last time (succ_slot): a field's in
   * its type's objects; the others' per context, hashed, and the first key
   * at t = KEY_ID_NONE */
  key_id succ_field[KEY_ID_CACHED];
  key_id succ[SUCC];
  place places[PLACES];
  int type_size_hint[NUON_NTYPES]; /* table size to create objects of each
                                       type with (size_guess) */
  field_memo fields[NUON_SCHEMA_MAX_KEYS + 1]; /* by the field's key id */
} memo;

typedef char check_contexts[NUON_NTYPES <= CTX_GENERIC ? 1 : -1];

/* Memo-table slots: 1 .. NUON_SCHEMA_MAX_KEYS the last value of each enum
 * field, then the key cache (by key id), then the string cache; the memo
 * userdata last. */
#define MEMO_UDATA (STR_SLOT(STR_CACHE) + 1)
static const char memo_table_key = 0; /* the memo table's registry key */

typedef struct decoder {
  lua_State *L;
  const uchar *start, *end;
  int depth, max_depth;
  int strict;
  size_t max_runs; /* elements of the top-level typed array; 0: no limit */
  int key_table; /* stack index of the key table (typed mode) */
  int scratch;   /* stack index of the scratch userdata (nil until needed) */
  int warnings;  /* stack index of runs.warnings (typed mode) */
  int nwarnings;
  int pn; /* path slot of the innermost typed container */
  int known; /* stack index of the caller's known_values, 0: none */
  int dot0;  /* paths start at a run: ".runner_jobs[1]", not "runner_jobs[1]" */
  char decimal_point; /* the C locale's, read on first use */
  char *buf;          /* scratch: small[] or the userdata's block */
  size_t cap;
  int kbase;      /* stack index of key-table slot 0 (typed mode) */
  int memo_table; /* stack index of the memo table */
  memo *m;        /* the memo (its userdata is in the memo table) */
  path_entry path[PATH_SLOTS];
  char small[256];
} decoder;

/* Memo slot `slot` := the value on top of the stack (left there).  Never
 * allocates, so it can sit between the writes of an entry's bytes. */
static void memo_set(decoder *d, int slot) {
  lua_pushvalue(d->L, -1);
  lua_rawseti(d->L, d->memo_table, slot);
}

typedef struct number {
  int is_int; /* an integer literal within int64 */
  long long i;
  double f;
} number;

/* Marks a key whose value was null until the object is complete, so that a
 * later duplicate of it is still caught (when key_set's list is full or the
 * key had escapes); swept before the object is returned. */
static char null_mark;

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)

/* ---- errors ---------------------------------------------------------------- */

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

/* ---- lexical pieces ---------------------------------------------------------- */

/* A scratch block of at least `need` bytes, owned by Lua. */
static char *scratch(decoder *d, size_t need) {
  if (need > d->cap) {
    size_t cap = d->cap * 2;
    if (cap < need) cap = need;
    d->buf = (char *)nuon_newuserdata(d->L, cap);
    lua_replace(d->L, d->scratch);
    d->cap = cap;
  }
  return d->buf;
}

/* The literal lit (n bytes) at p; returns the byte after it. */
static const uchar *read_literal(decoder *d, const uchar *p, const char *lit, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (p + i >= d->end) return fail_eof(d);
    if (p[i] != (uchar)lit[i]) return fail_unexpected(d, p + i);
  }
  return p + n;
}

static size_t utf8_put(char *out, unsigned long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The four hex digits of the \u escape starting at q; returns q past them. */
static const uchar *read_hex4(decoder *d, const uchar *q, unsigned *v) {
  unsigned r = 0;
  int i;
  for (i = 2; i < 6; i++) {
    uchar c;
    if (q + i >= d->end) return fail_eof(d);
    c = q[i];
    r <<= 4;
    if (IS_DIGIT(c)) r |= (unsigned)(c - '0');
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') r |= (unsigned)((c | 0x20) - 'a' + 10);
    else return fail_at(d, q, "invalid \\u escape in string");
  }
  *v = r;
  return q + 6;
}

/* The \u escape at q (a surrogate pair is one code point); returns the byte
 * after it. */
static const uchar *read_u(decoder *d, const uchar *q, unsigned long *cp) {
  unsigned hi, lo;
  const uchar *r = read_hex4(d, q, &hi);
  if (!r) return NULL;
  if (hi >= 0xDC00 && hi <= 0xDFFF)
    return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  if (hi < 0xD800 || hi > 0xDBFF) {
    *cp = hi;
    return r;
  }
  if (r >= d->end || (r[0] == '\\' && r + 1 >= d->end)) return fail_eof(d);
  if (r[0] != '\\' || r[1] != 'u') return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  if (!read_hex4(d, r, &lo)) return NULL;
  if (lo < 0xDC00 || lo > 0xDFFF)
    return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + (lo - 0xDC00);
  return r + 6;
}

static const uchar *fail_in_string(decoder *d, const uchar *q) {
  if (*q < 0x20) return fail_at(d, q, "control character 0x%02X in string", *q);
  return fail_at(d, q, "invalid UTF-8 byte 0x%02X in string", *q);
}

/* The rest of a string with escapes: p is its first byte, q its first
 * backslash.  Decodes into the scratch block. */
static const uchar *read_escaped(decoder *d, const uchar *p, const uchar *q, const char **s,
                                 size_t *n) {
  const uchar *e = q, *end = d->end;
  char *out;
  size_t o;
  /* The decoded text is never longer than the raw text up to the closing
   * quote; the decoding loop below stops at the same quote. */
  while (e < end && *e != '"') e += (*e == '\\') ? 2 : 1;
  if (e > end) e = end;
  out = scratch(d, (size_t)(e - p));
  o = (size_t)(q - p);
  memcpy(out, p, o);
  while (q < e) {
    uchar c = *q;
    if (c == '\\') {
      if (e - q < 2) return fail_eof(d);
      switch (q[1]) {
        case '"': case '\\': case '/': out[o++] = (char)q[1]; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
          unsigned long cp = 0;
          const uchar *r = read_u(d, q, &cp);
          if (!r) return NULL;
          o += utf8_put(out + o, cp);
          q = r;
          continue;
        }
        default:
          if (q[1] > 0x20 && q[1] < 0x7f)
            return fail_at(d, q, "invalid escape '\\%c' in string", q[1]);
          return fail_at(d, q, "invalid escape in string");
      }
      q += 2;
    } else if (c >= 0x20 && c < 0x80) {
      out[o++] = (char)c;
      q++;
    } else {
      size_t k = c < 0x20 ? 0 : utf8_len(q, end);
      if (!k) return fail_in_string(d, q);
      memcpy(out + o, q, k);
      o += k;
      q += k;
    }
  }
  if (q >= end) return fail_eof(d);
  *s = out;
  *n = o;
  return q + 1;
}

/* A string past its plain start: b is its first byte, q the first byte
 * scan_plain stopped at that is not its closing quote. */
static const uchar *read_string_rest(decoder *d, const uchar *b, const uchar *q, const char **s,
                                     size_t *n) {
  const uchar *end = d->end;
  for (;;) {
    if (q >= end) return fail_eof(d);
    if (*q == '"') {
      *s = (const char *)b;
      *n = (size_t)(q - b);
      return q + 1;
    }
    if (*q == '\\') return read_escaped(d, b, q, s, n);
    {
      size_t k = *q < 0x20 ? 0 : utf8_len(q, end);
      if (!k) return fail_in_string(d, q);
      q = scan_plain(q + k, end);
    }
  }
}

/* The string whose opening quote is at p; returns the byte after its
 * closing quote.  *s, *n: its decoded bytes, a slice of the input when it
 * has no escapes, else the scratch block (valid until the scratch is used
 * again). */
static NUON_INLINE const uchar *read_string(decoder *d, const uchar *p, const char **s, size_t *n) {
  const uchar *b = p + 1, *q = scan_plain(b, d->end);
  if (q < d->end && *q == '"') {
    *s = (const char *)b;
    *n = (size_t)(q - b);
    return q + 1;
  }
  return read_string_rest(d, b, q, s, n);
}

static const uchar *to_double(decoder *d, const uchar *s, const uchar *e, double *out) {
  size_t n = (size_t)(e - s), i;
  char tmp[64], *b = n < sizeof tmp ? tmp : scratch(d, n + 1);
  memcpy(b, s, n);
  b[n] = '\0';
  if (!d->decimal_point) {
    const char *dp = localeconv()->decimal_point;
    d->decimal_point = dp && dp[0] ? dp[0] : '.';
  }
  if (d->decimal_point != '.')
    for (i = 0; i < n; i++)
      if (b[i] == '.') b[i] = d->decimal_point;
  *out = strtod(b, NULL);
  if (*out > DBL_MAX || *out < -DBL_MAX) return fail_at(d, s, "number out of range");
  return e;
}

/* The number at p: an integer literal that fits int64 is read exactly,
 * anything else (fraction, exponent, more digits) as a double.  Returns the
 * byte after it. */
static const uchar *read_number(decoder *d, const uchar *p, number *num) {
  const uchar *s = p, *digits, *end = d->end;
  unsigned long long u = 0; /* wraps past 19 digits, which go to strtod */
  int neg = 0, frac = 0;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p >= end) return fail_eof(d);
  digits = p;
  if (*p == '0') {
    p++;
    if (p < end && IS_DIGIT(*p)) return fail_at(d, p - 1, "leading zero in number");
  } else if (IS_DIGIT(*p)) {
#ifdef NUON_SWAR
    uint64_t eight;
    while (end - p >= 8 && eight_digits(p, &eight)) {
      u = u * 100000000u + eight;
      p += 8;
    }
#endif
    while (p < end && IS_DIGIT(*p)) u = u * 10 + (unsigned)(*p++ - '0');
  } else {
    return fail_unexpected(d, p);
  }
  if (p < end && *p == '.') {
    p++;
    if (p >= end) return fail_eof(d);
    if (!IS_DIGIT(*p)) return fail_unexpected(d, p);
    do p++; while (p < end && IS_DIGIT(*p));
    frac = 1;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end) return fail_eof(d);
    if (!IS_DIGIT(*p)) return fail_unexpected(d, p);
    do p++; while (p < end && IS_DIGIT(*p));
    frac = 1;
  }
  if (!frac && p - digits <= 19) {
    if (!neg && u <= (unsigned long long)LLONG_MAX) {
      num->is_int = 1;
      num->i = (long long)u;
      return p;
    }
    if (neg && u <= (unsigned long long)LLONG_MAX + 1) {
      num->is_int = 1;
      num->i = u > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)u;
      return p;
    }
  }
  num->is_int = 0;
  return to_double(d, s, p, &num->f);
}

static void push_number(lua_State *L, const number *num) {
#if NUON_HAS_INTEGERS
  if (num->is_int) lua_pushinteger(L, (lua_Integer)num->i);
  else lua_pushnumber(L, (lua_Number)num->f);
#else
  lua_pushnumber(L, num->is_int ? (lua_Number)num->i : (lua_Number)num->f);
#endif
}

/* Does the input at p (an opening quote) hold exactly the string k (escape-free)? */
static NUON_INLINE int key_at(const decoder *d, const uchar *p, const void *k, size_t n) {
  return (size_t)(d->end - p) > n + 1 && p[n + 1] == '"' && same_bytes(p + 1, k, n);
}

static unsigned str_hash(const uchar *s, size_t n) {
  uint64_t a = 0, b = 0, c = 0;
  if (n >= 8) {
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    memcpy(&c, s + n / 2 - 4, 8);
  } else {
    memcpy(&a, s, n);
  }
  a = (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL) ^ (c * 0x165667B19E3779F9ULL) ^ n;
  return (unsigned)((a ^ (a >> 29)) * 0xBF58476D1CE4E5B9ULL >> 32);
}

/* Pushes the string at p (an opening quote) through the string cache; st:
 * what values of this place or field did lately, updated.  Returns the byte
 * after the string. */
static NUON_INLINE const uchar *push_string(decoder *d, const uchar *p, str_stat *st) {
  lua_State *L = d->L;
  const uchar *q;
  const char *s;
  size_t n, raw;
  unsigned h, hash;
  str_entry *e;
  if (st->miss >= STR_BYPASS && (++st->miss & 15) != 0) {
    q = read_string(d, p, &s, &n);
    if (!q) return NULL;
    lua_pushlstring(L, s, n);
    return q;
  }
  if (st->last >= 0) { /* only ever set to an entry in use */
    e = &d->m->strs[st->last];
    if (pat_at(p + 1, d->end, e->b, (size_t)e->n + 1)) {
      lua_rawgeti(L, d->memo_table, STR_SLOT(st->last));
      st->miss = 0;
      return p + e->n + 2;
    }
  }
  q = read_string(d, p, &s, &n);
  if (!q) return NULL;
  /* Entries hold the raw bytes between the quotes, escapes and all, and the
   * closing quote: equal raw bytes decode to equal strings.  (Raw bytes
   * never end in an odd run of backslashes, so the quote compared after
   * them is the real end.) */
  raw = (size_t)(q - p) - 2;
  if (raw > STR_INLINE) { /* long */
    lua_pushlstring(L, s, n);
    return q;
  }
  hash = str_hash(p + 1, raw);
  h = hash & (STR_CACHE - 1);
  e = &d->m->strs[h];
  if (d->m->str_hashes[h] == hash && e->n == raw && e->used && same_bytes(e->b, p + 1, raw)) {
    lua_rawgeti(L, d->memo_table, STR_SLOT(h));
    st->miss = 0;
  } else {
    lua_pushlstring(L, s, n);
    memo_set(d, STR_SLOT(h));
    e->used = 1;
    e->n = (uchar)raw;
    memcpy(e->b, p + 1, raw + 1); /* and the closing quote */
    d->m->str_hashes[h] = hash;
    if (st->miss < STR_BYPASS) st->miss++;
  }
  st->last = (int)h;
  return q;
}

/* ---- keys ---------------------------------------------------------------------- */

static unsigned key_hash(const uchar *s, size_t n) {
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
  } else {
    memcpy(&a, s, n);
  }
  a = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ n) * 0xC2B2AE3D27D4EB4FULL;
  return (unsigned)(a >> 40) & (KEY_CACHE / 2 - 1);
}

static int find_field(const nuon_type *t, const char *s, size_t n) {
  int i;
  for (i = 0; i < t->nfields; i++) {
    const nuon_field *f = &t->fields[i];
    if (f->len == n && same_bytes(f->name, s, n)) return i;
  }
  return -1;
}

/* ":" after a key at p, then the first byte of the value. */
static const uchar *read_colon(decoder *d, const uchar *p) {
  const uchar *end = d->end;
  p = scan_ws(p, end);
  if (p >= end) return fail_eof(d);
  if (*p != ':') return fail_unexpected(d, p);
  p = scan_ws(p + 1, end);
  if (p >= end) return fail_eof(d);
  return p;
}

/*
 * The guess for the member at p (its opening quote) in an object of context
 * ctx (a schema type, or CTX_GENERIC): when the member opens as the guessed
 * key does in compact JSON, returns the first byte of its value (for a
 * cached key, the key string pushed), else NULL and nothing pushed.
 */
static NUON_INLINE const uchar *match_guess(decoder *d, const uchar *p, int ctx, key_id guess) {
  const key_desc *k = &d->m->keys[guess];
  if (!((k->valid_in >> ctx) & 1) || !pat_at(p, d->end, k->pat, k->m)) return NULL;
  if (guess >= KEY_ID_CACHED) lua_rawgeti(d->L, d->memo_table, guess);
  return p + k->m;
}

/*
 * The member at p whose key was not the guess (or not written compactly):
 * reads the key and the colon.  *kid: the key's id; for any key but a
 * schema field (of type ti; -1: none), the key string is pushed.  Returns
 * the first byte of the value.
 */
static const uchar *read_key(decoder *d, const uchar *p, int ti, int *kid) {
  lua_State *L = d->L;
  const uchar *q;
  const char *s;
  size_t n;
  unsigned w;
  key_desc *k, *b;
  q = read_string(d, p, &s, &n);
  if (!q) return NULL;
  if (ti >= 0) {
    const nuon_type *t = &nuon_schema_types[ti];
    int fi = find_field(t, s, n);
    if (fi >= 0) {
      *kid = t->key + fi;
      return read_colon(d, q);
    }
  }
  if ((const uchar *)s != p + 1 || n > KEY_INLINE) { /* escaped or long: not cached */
    lua_pushlstring(L, s, n);
    *kid = KEY_ID_RAW;
    return read_colon(d, q);
  }
  /* the bucket's two entries; the one not used last is replaced */
  b = &d->m->keys[KEY_ID_CACHED + 2 * key_hash(p + 1, n)];
  for (w = 0; w < 2; w++)
    if (b[w].m == n + 3 && same_bytes(b[w].pat + 1, s, n)) break;
  if (w < 2) {
    k = &b[w];
    lua_rawgeti(L, d->memo_table, (int)(k - d->m->keys));
  } else {
    w = b->evict;
    k = &b[w];
    lua_pushlstring(L, s, n);
    memo_set(d, (int)(k - d->m->keys));
    k->m = (uchar)(n + 3);
    k->pat[0] = '"';
    memcpy(k->pat + 1, s, n);
    k->pat[n + 1] = '"';
    k->pat[n + 2] = ':';
    k->valid_in = 1u << CTX_GENERIC;
  }
  b->evict = (uchar)!w;
  if (ti >= 0) k->valid_in |= 1u << ti; /* none of ti's fields: find_field said so */
  *kid = (int)(k - d->m->keys);
  return read_colon(d, q);
}

/* Where what follows key prev in learning context lctx is learned: for
 * a field, whose key id names its type, in succ_field; else at a hash of
 * both (Fibonacci hashing: the top bits of the product). */
static NUON_INLINE key_id *succ_slot(memo *m, unsigned lctx, key_id prev) {
  if (prev != KEY_ID_NONE && prev < KEY_ID_CACHED) return &m->succ_field[prev];
  return &m->succ[((uint64_t)lctx << 16 | prev) * 0x9E3779B97F4A7C15ULL >> 51 & (SUCC - 1)];
}

/*
 * The member at p, after the member of key prev (KEY_ID_NONE: the first), in
 * an object of schema type ti (-1: none) and learning context lctx: its key
 * (its id in *kid, pushed unless a schema field), guessed from what followed
 * prev there last time, which learns the key when the guess was wrong.
 * Returns the first byte of the value.
 */
static NUON_INLINE const uchar *member_key(decoder *d, const uchar *p, int ti, unsigned lctx,
                                           key_id prev, int *kid) {
  int ctx = ti >= 0 ? ti : CTX_GENERIC;
  key_id *learn = succ_slot(d->m, lctx, prev), guess = *learn;
  const uchar *v;
  if (p >= d->end) return fail_eof(d);
  if (*p != '"') return fail_unexpected(d, p);
  v = match_guess(d, p, ctx, guess);
  if (!v) {
    /* the guess may be absent this time (zero values are left out): try
     * the key that followed it, without learning */
    guess = *succ_slot(d->m, lctx, guess);
    v = match_guess(d, p, ctx, guess);
  }
  if (v) {
    *kid = guess;
    return *v > ' ' ? v : read_colon(d, v - 1);
  }
  v = read_key(d, p, ti, kid);
  if (v) *learn = (key_id)*kid;
  return v;
}

/* ---- containers --------------------------------------------------------------- */

/* Table sizes are guessed from the recent past in the same place: the largest
 * recent size, forgotten slowly (1/16 per table), so that shapes alternating
 * within a stretch of runs never make a table grow while it is filled.  A
 * guess h is kept in 1/16ths. */
static NUON_INLINE int size_guess(int h) {
  return (h + 15) >> 4;
}

static NUON_INLINE void size_learn(int *h, int count) {
  int decayed = *h - (*h >> 4), c = count << 4;
  *h = c > decayed ? c : decayed;
}

/* One level deeper, at the container opening at p. */
static NUON_INLINE int enter(decoder *d, const uchar *p) {
  if (++d->depth > d->max_depth) {
    fail_depth(d, p);
    return 0;
  }
  if (!lua_checkstack(d->L, 8)) {
    fail_at(d, p, "JSON nested too deeply for the Lua stack");
    return 0;
  }
  return 1;
}

/* Removes the null marks from the table at the top. */
static void sweep_nulls(lua_State *L) {
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_touserdata(L, -1) == (void *)&null_mark) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -4);
    } else {
      lua_pop(L, 1);
    }
  }
}

/* Table at -2, new key at -1 (key id kid, opening quote at at): fails if the
 * key is already in the object. */
static NUON_INLINE int check_unique(decoder *d, key_set *seen, int kid, const uchar *at) {
  lua_State *L = d->L;
  size_t n;
  const char *k;
  int i;
  if (kid < KEY_ID_RAW) {
    /* by bucket, not entry: a key evicted (by a nested object's) and read
     * again may come back in the bucket's other entry */
    unsigned h = (((unsigned)kid - KEY_ID_CACHED) >> 1) & 255;
    uint64_t bit = (uint64_t)1 << (h & 63);
    if (!(seen->w[h >> 6] & bit)) {
      seen->w[h >> 6] |= bit;
      if (!seen->exact) return 1;
    }
  } else {
    seen->exact = 1;
  }
  k = lua_tolstring(L, -1, &n);
  lua_pushvalue(L, -1);
  lua_rawget(L, -3);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    for (i = 0; i < seen->nnull; i++)
      if (seen->null_len[i] == n && same_bytes(seen->null_key[i], k, n)) break;
    if (i == seen->nnull) return 1;
  }
  fail_duplicate(d, at, k, n);
  return 0;
}

/* The key at -1 (key id kid, opening quote at kp) has a null value: listed
 * (and popped) when it can be, else put in the table with a null mark.
 * Returns 1 when the table got an entry. */
static NUON_INLINE int null_member(decoder *d, key_set *seen, int kid, const uchar *kp) {
  if (kid < KEY_ID_RAW && seen->nnull < NULL_KEYS) { /* cached: escape-free */
    seen->null_key[seen->nnull] = kp + 1;
    seen->null_len[seen->nnull++] = (uchar)(d->m->keys[kid].m - 3);
    lua_pop(d->L, 1);
    return 0;
  }
  lua_pushlightuserdata(d->L, (void *)&null_mark);
  lua_rawset(d->L, -3);
  return 1;
}

/* After a member or item at p: returns the first byte of the next one, or
 * (*closed set) the byte after the closing byte. */
static NUON_INLINE const uchar *next_member(decoder *d, const uchar *p, uchar close, int *closed) {
  const uchar *end = d->end;
  if (p < end) {
    if (*p == ',') {
      p++;
      return (p < end && *p > ' ') ? p : scan_ws(p, end);
    }
    if (*p == close) {
      *closed = 1;
      return p + 1;
    }
  }
  p = scan_ws(p, end);
  if (p >= end) return fail_eof(d);
  if (*p == ',') return scan_ws(p + 1, end);
  if (*p != close) return fail_unexpected(d, p);
  *closed = 1;
  return p + 1;
}

/* The first byte inside the container that opens at p; *closed set when
 * it is empty (the byte after it returned). */
static NUON_INLINE const uchar *first_member(decoder *d, const uchar *p, uchar close, int *closed) {
  p = scan_ws(p + 1, d->end);
  if (p < d->end && *p == close) {
    *closed = 1;
    return p + 1;
  }
  return p;
}

/* The place of the value under key id kid in the place parent. */
static NUON_INLINE unsigned place_of(unsigned parent, unsigned kid) {
  uint64_t x = ((uint64_t)parent << 17 ^ kid) * 0x9E3779B97F4A7C15ULL;
  return (unsigned)(x >> 40) & (PLACES - 1);
}

/*
 * A member kept as decoded, its key (id kid, opening quote at kp) at the top
 * of the stack above its object, its value at p: the key must be new to the
 * object (seen).  A null leaves the key out (null_member); any other value
 * is decoded in place place_of(parent, kid) and set.  In a string map
 * (is_map), the value must be a string.  *count: the object's entries,
 * *has_null: whether it got a null mark.  Returns the byte after the value.
 */
static NUON_INLINE const uchar *kept_member(decoder *d, const uchar *p, const uchar *kp, int kid,
                                            key_set *seen, unsigned parent, int is_map,
                                            int *count, int *has_null) {
  if (!check_unique(d, seen, kid, kp)) return NULL;
  if (*p == 'n') {
    p = read_literal(d, p, "null", 4);
    if (p && null_member(d, seen, kid, kp)) {
      *has_null = 1;
      ++*count; /* a null mark counts: it is there until the sweep */
    }
    return p;
  }
  if (!is_map) {
    p = parse_value(d, p, place_of(parent, (unsigned)kid));
  } else if (*p == '"') {
    p = push_string(d, p, &d->m->places[place_of(parent, (unsigned)kid)].strings);
  } else {
    d->path[d->pn].name = lua_tolstring(d->L, -1, &d->path[d->pn].len);
    return wrong_type(d, p, d->pn + 1, "string");
  }
  if (!p) return NULL;
  lua_rawset(d->L, -3);
  ++*count;
  return p;
}

/*
 * An object outside the schema at p, in place pl: its members kept as
 * decoded.  Or, map_key >= 0, the string map (variables, attrs,
 * error_metadata) in the field of key-table slot map_key, whose values must
 * be strings (path slot = d->pn).
 */
static const uchar *parse_object(decoder *d, const uchar *p, unsigned pl, int map_key) {
  lua_State *L = d->L;
  key_set seen = KEY_SET_INIT;
  unsigned lctx = map_key < 0 ? LCTX_PLACE(pl) : LCTX_MAP(map_key);
  int *size = map_key < 0 ? &d->m->places[pl].size_hint : &d->m->fields[map_key].size_hint;
  key_id prev = KEY_ID_NONE;
  int has_null = 0, count = 0, closed = 0;
  if (!enter(d, p)) return NULL;
  lua_createtable(L, 0, size_guess(*size));
  p = first_member(d, p, '}', &closed);
  while (!closed) {
    const uchar *kp = p;
    int kid;
    p = member_key(d, p, -1, lctx, prev, &kid);
    if (!p) return NULL;
    prev = (key_id)kid;
    p = kept_member(d, p, kp, kid, &seen, map_key < 0 ? pl : (unsigned)map_key, map_key >= 0,
                    &count, &has_null);
    if (!p) return NULL;
    p = next_member(d, p, '}', &closed);
    if (!p) return NULL;
  }
  if (has_null) sweep_nulls(L);
  size_learn(size, count);
  d->depth--;
  return p;
}

/* A generic array at p in place pl; its items are in place_of(pl, PLACE_ITEM). */
static const uchar *parse_array(decoder *d, const uchar *p, unsigned pl) {
  lua_State *L = d->L;
  unsigned item = place_of(pl, PLACE_ITEM);
  int i = 0, closed = 0;
  if (!enter(d, p)) return NULL;
  lua_createtable(L, size_guess(d->m->places[pl].size_hint), 0);
  p = first_member(d, p, ']', &closed);
  while (!closed) {
    ++i;
    if (p < d->end && *p == 'n') { /* null leaves a hole */
      p = read_literal(d, p, "null", 4);
      if (!p) return NULL;
    } else {
      p = parse_value(d, p, item);
      if (!p) return NULL;
      lua_rawseti(L, -2, i);
    }
    p = next_member(d, p, ']', &closed);
    if (!p) return NULL;
  }
  size_learn(&d->m->places[pl].size_hint, i);
  d->depth--;
  return p;
}

/* Pushes the value at p (nil for null), in place pl; returns the byte
 * after it. */
static const uchar *parse_value(decoder *d, const uchar *p, unsigned pl) {
  lua_State *L = d->L;
  if (p >= d->end) return fail_eof(d);
  switch (*p) {
    case '"': return push_string(d, p, &d->m->places[pl].strings);
    case '{': return parse_object(d, p, pl, -1);
    case '[': return parse_array(d, p, pl);
    case 't':
      p = read_literal(d, p, "true", 4);
      if (p) lua_pushboolean(L, 1);
      return p;
    case 'f':
      p = read_literal(d, p, "false", 5);
      if (p) lua_pushboolean(L, 0);
      return p;
    case 'n':
      p = read_literal(d, p, "null", 4);
      if (p) lua_pushnil(L);
      return p;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
      number num;
      p = read_number(d, p, &num);
      if (p) push_number(L, &num);
      return p;
    }
    default: return fail_unexpected(d, p);
  }
}

/* ---- schema-driven containers ------------------------------------------------- */

static const uchar *parse_typed(decoder *d, const uchar *p, int ti);
static const uchar *parse_typed_array(decoder *d, const uchar *p, int ti, int *size);

/* The null item at p of a typed array (path: the first plen entries) is left
 * out: a warning { path, expected, got = "null" }, or in strict mode a
 * validation error.  Returns the byte after it, or NULL. */
static const uchar *null_item(decoder *d, const uchar *p, int plen, const char *expected) {
  lua_State *L = d->L;
  const uchar *q = read_literal(d, p, "null", 4);
  if (!q) return NULL;
  lua_checkstack(L, 10);
  if (d->strict) {
    lua_pushliteral(L, "null");
    return fail_type(d, plen, expected, "null");
  }
  lua_createtable(L, 0, 3);
  lua_rawgeti(L, d->key_table, KEYTAB_PATH);
  push_path(d, plen);
  lua_rawset(L, -3);
  lua_pushstring(L, expected);
  lua_setfield(L, -2, "expected");
  lua_pushliteral(L, "null");
  lua_setfield(L, -2, "got");
  lua_rawseti(L, d->warnings, ++d->nwarnings);
  return q;
}

/* An array of strings at p (field of key-table slot key; its path slot is
 * d->pn): a typed array, so a null item is left out (null_item). */
static const uchar *parse_strings(decoder *d, const uchar *p, int key) {
  lua_State *L = d->L;
  int slot = d->pn, i = 0, n = 0, closed = 0;
  if (!enter(d, p)) return NULL;
  lua_createtable(L, size_guess(d->m->fields[key].size_hint), 0);
  p = first_member(d, p, ']', &closed);
  while (!closed) {
    d->path[slot].name = NULL;
    d->path[slot].index = ++i;
    if (p < d->end && *p == 'n') {
      p = null_item(d, p, slot + 1, "string");
    } else if (p < d->end && *p == '"') {
      p = push_string(d, p, &d->m->fields[key].strings);
      if (p) lua_rawseti(L, -2, ++n);
    } else {
      return wrong_type(d, p, slot + 1, "string");
    }
    if (!p) return NULL;
    p = next_member(d, p, ']', &closed);
    if (!p) return NULL;
  }
  size_learn(&d->m->fields[key].size_hint, n);
  d->depth--;
  return p;
}

/* Path slot `slot` := field f. */
static NUON_INLINE void set_path(decoder *d, int slot, const nuon_field *f) {
  d->path[slot].name = f->name;
  d->path[slot].len = f->len;
}

/* The enum field f at p (key-table slot key, path slot slot).  The last
 * value is remembered in the field's memo (its bytes, whether it is known,
 * its Lua string), so a repeat costs one compare. */
static const uchar *parse_enum(decoder *d, const uchar *p, const nuon_field *f, int key, int slot) {
  lua_State *L = d->L;
  const nuon_enum *e = &nuon_schema_enums[f->ref];
  field_memo *fm = &d->m->fields[key];
  int known = fm->enum_known;
  const uchar *q;
  if (fm->enum_used && key_at(d, p, fm->enum_bytes, fm->enum_len)) {
    q = p + fm->enum_len + 2;
    lua_rawgeti(L, d->memo_table, key);
  } else {
    const char *s;
    size_t n;
    int i;
    q = read_string(d, p, &s, &n);
    if (!q) return NULL;
    for (i = e->nvalues - 1; i >= 0; i--)
      if (e->values[i].len == n && same_bytes(e->values[i].s, s, n)) break;
    if (i >= 0) {
      lua_rawgeti(L, d->key_table, e->key + i); /* interned: no hashing */
    } else {
      lua_pushlstring(L, s, n);
    }
    known = i >= 0 || n == 0; /* "": Go's zero value, unset in every enum */
    if ((const uchar *)s == p + 1 && n <= sizeof fm->enum_bytes) {
      fm->enum_used = 1;
      fm->enum_len = (uchar)n;
      fm->enum_known = (uchar)known;
      memcpy(fm->enum_bytes, s, n);
      memo_set(d, key);
    }
  }
  if (known) return q;
  set_path(d, slot, f);
  return bad_enum(d, slot + 1, e) ? q : NULL;
}

static const char *const kind_names[] = {"string", "integer", "boolean", "object",
                                         "array",  "object",  "string",  "array"};

/* Pushes the (non-null) value at p of field f (key-table slot key); its
 * path entry is slot, set here for what may fail or warn below it. */
static NUON_INLINE const uchar *parse_field(decoder *d, const uchar *p, const nuon_field *f,
                                            int key, int slot) {
  lua_State *L = d->L;
  switch (f->kind) {
    case NUON_K_STRING:
      if (*p == '"') return push_string(d, p, &d->m->fields[key].strings);
      break;
    case NUON_K_INTEGER:
      if (*p == '-' || IS_DIGIT(*p)) {
        number num;
        p = read_number(d, p, &num);
        if (!p) return NULL;
        if (num.is_int) {
          nuon_pushint64(L, num.i);
          return p;
        }
        lua_pushnumber(L, (lua_Number)num.f);
        set_path(d, slot, f);
        return fail_type(d, slot + 1, "integer", "number");
      }
      break;
    case NUON_K_BOOLEAN:
      if (*p == 't') {
        p = read_literal(d, p, "true", 4);
        if (p) lua_pushboolean(L, 1);
        return p;
      }
      if (*p == 'f') {
        p = read_literal(d, p, "false", 5);
        if (p) lua_pushboolean(L, 0);
        return p;
      }
      break;
    case NUON_K_OBJECT:
      if (*p != '{') break;
      set_path(d, slot, f);
      return parse_typed(d, p, f->ref);
    case NUON_K_ARRAY:
      if (*p != '[') break;
      set_path(d, slot, f);
      return parse_typed_array(d, p, f->ref, &d->m->fields[key].size_hint);
    case NUON_K_MAP:
      if (*p != '{') break;
      set_path(d, slot, f);
      return parse_object(d, p, 0, key);
    case NUON_K_STRINGS:
      if (*p != '[') break;
      set_path(d, slot, f);
      return parse_strings(d, p, key);
    default: /* NUON_K_ENUM */
      if (*p == '"') return parse_enum(d, p, f, key, slot);
      break;
  }
  set_path(d, slot, f);
  return wrong_type(d, p, slot + 1, kind_names[f->kind]);
}

/* run.runner_job = run.runner_jobs[1] (the run is at the top). */
static void bridge_runner_job(decoder *d) {
  lua_State *L = d->L;
  int key = nuon_schema_types[NUON_T_RUN].key;
  lua_pushvalue(L, d->kbase + key + nuon_schema_run_runner_jobs);
  lua_rawget(L, -2);
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    if (lua_istable(L, -1)) {
      lua_pushvalue(L, d->kbase + key + nuon_schema_run_runner_job);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* An object of schema type ti at p; its fields' path slot is d->pn. */
static const uchar *parse_typed(decoder *d, const uchar *p, int ti) {
  lua_State *L = d->L;
  uint64_t seen = 0, nulls = 0;
  key_set seen_keys = KEY_SET_INIT;
  key_id prev = KEY_ID_NONE;
  int count = 0, has_null = 0, slot = d->pn, closed = 0;
  if (!enter(d, p)) return NULL;
  d->pn = slot + 1;
  lua_createtable(L, 0, size_guess(d->m->type_size_hint[ti]));
  p = first_member(d, p, '}', &closed);
  while (!closed) {
    const uchar *kp = p;
    int kid;
    p = member_key(d, p, ti, (unsigned)ti, prev, &kid);
    if (!p) return NULL;
    prev = (key_id)kid;
    if (kid < KEY_ID_CACHED) { /* a schema field */
      const key_desc *k = &d->m->keys[kid];
      const nuon_field *f = k->f;
      uint64_t bit = (uint64_t)1 << k->fi;
      if (seen & bit) return fail_duplicate(d, kp, f->name, f->len);
      seen |= bit;
      if (*p == 'n') {
        p = read_literal(d, p, "null", 4);
        if (!p) return NULL;
        nulls |= bit;
      } else {
        lua_pushvalue(L, d->kbase + kid);
        p = parse_field(d, p, f, kid, slot);
        if (!p) return NULL;
        lua_rawset(L, -3);
        count++;
      }
    } else {
      p = kept_member(d, p, kp, kid, &seen_keys, PLACE_ITEM + 1 + (unsigned)ti, 0, &count,
                      &has_null);
      if (!p) return NULL;
    }
    p = next_member(d, p, '}', &closed);
    if (!p) return NULL;
  }
  if (has_null) sweep_nulls(L);
  if (ti == NUON_T_RUN) {
    uint64_t stored = seen & ~nulls;
    if (!(stored & ((uint64_t)1 << nuon_schema_run_runner_job)) &&
        (stored & ((uint64_t)1 << nuon_schema_run_runner_jobs))) {
      bridge_runner_job(d);
      count++;
    }
  }
  /* the next object of this type is likely the same size (runs come in
   * stretches of one server version) */
  size_learn(&d->m->type_size_hint[ti], count);
  d->pn = slot;
  d->depth--;
  return p;
}

/* An array of objects of schema type ti at p; its path slot is d->pn.
 * *size: a guess of its length (see size_guess), updated. */
static const uchar *parse_typed_array(decoder *d, const uchar *p, int ti, int *size) {
  lua_State *L = d->L;
  int slot = d->pn, i = 0, n = 0, closed = 0;
  if (!enter(d, p)) return NULL;
  d->pn = slot + 1;
  lua_createtable(L, size_guess(*size), 0);
  p = first_member(d, p, ']', &closed);
  while (!closed) {
    d->path[slot].name = NULL;
    d->path[slot].index = ++i;
    if (slot == 0 && d->max_runs && (size_t)i > d->max_runs) return fail_runs(d, p);
    if (p < d->end && *p == '{') {
      p = parse_typed(d, p, ti);
      if (p) lua_rawseti(L, -2, ++n);
    } else if (p < d->end && *p == 'n') { /* never a hole: left out */
      p = null_item(d, p, slot + 1, "object");
    } else {
      return wrong_type(d, p, slot + 1, "object");
    }
    if (!p) return NULL;
    p = next_member(d, p, ']', &closed);
    if (!p) return NULL;
  }
  size_learn(size, n);
  d->pn = slot;
  d->depth--;
  return p;
}

/* ---- entry points ------------------------------------------------------------- */

/* Pushes the key table (creating and registering it on first use). */
static void push_keys(lua_State *L) {
  int i;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &key_table_key);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    nuon_schema_push_keys(L);
    lua_pushliteral(L, "path");
    lua_rawseti(L, -2, KEYTAB_PATH);
    lua_pushliteral(L, "value");
    lua_rawseti(L, -2, KEYTAB_VALUE);
    lua_pushliteral(L, "enum");
    lua_rawseti(L, -2, KEYTAB_ENUM);
    for (i = 0; i < NUON_NENUMS; i++) {
      lua_pushstring(L, nuon_schema_enums[i].name);
      lua_rawseti(L, -2, KEYTAB_ENUM_NAMES + i);
    }
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_table_key);
  }
}

void nuon_decode_open(lua_State *L) {
  push_keys(L);
  lua_pop(L, 1);
}

/* Pushes this state's memo table (creating and registering it, with its
 * memo, on first use) and returns the memo. */
static memo *push_memo(lua_State *L) {
  memo *m;
  int t, i;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &memo_table_key);
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, MEMO_UDATA);
    m = (memo *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return m;
  }
  lua_pop(L, 1);
  lua_createtable(L, MEMO_UDATA, 0); /* every slot in the array part: writing
                                        one never allocates */
  m = (memo *)nuon_newuserdata(L, sizeof(memo));
  memset(m, 0, sizeof *m);
  for (i = 0; i < PLACES; i++) m->places[i].strings.last = -1;
  for (i = 0; i <= NUON_SCHEMA_MAX_KEYS; i++) m->fields[i].strings.last = -1;
  /* each type's fields, guessed in schema order until the server's is learned */
  for (t = 0; t < NUON_NTYPES; t++) {
    const nuon_type *ty = &nuon_schema_types[t];
    m->type_size_hint[t] = ty->nfields << 4;
    *succ_slot(m, (unsigned)t, KEY_ID_NONE) = (key_id)ty->key;
    for (i = 0; i < ty->nfields; i++) {
      const nuon_field *f = &ty->fields[i];
      key_desc *k = &m->keys[ty->key + i];
      k->f = f;
      k->fi = (uchar)i;
      if ((size_t)f->len + 3 <= sizeof k->pat) { /* else found by find_field */
        memcpy(k->pat, f->pat, (size_t)f->len + 3);
        k->m = (uchar)(f->len + 3);
        k->valid_in = (unsigned short)(1u << t);
      }
      if (i + 1 < ty->nfields) m->succ_field[ty->key + i] = (key_id)(ty->key + i + 1);
    }
  }
  lua_rawseti(L, -2, MEMO_UDATA);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &memo_table_key);
  return m;
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
