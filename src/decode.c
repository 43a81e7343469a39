/*
 * decode.c - JSON bytes -> validated sandbox-run tables, in one pass.
 *
 * A recursive-descent parser over (buf, len) that builds the Lua tables as it
 * reads and validates them against the schema tables of schema.c on the way.
 * Where the time goes is Lua's: creating tables, setting fields, hashing and
 * interning strings.  So the parser works to call Lua less:
 *
 *   - field names and enum values are Lua strings interned once (the "key
 *     table", kept in the registry) and copied into the Lua stack for the
 *     call, where lua_pushvalue fetches them;
 *   - tables are created with the largest recent size in the same place
 *     (schema objects: of the same type), so they are almost never rehashed;
 *   - keys are matched by guessing the one that followed the previous key
 *     last time (the server's key order is learned): one compare per key;
 *   - repeated strings (two values in three) come from a cache of Lua
 *     strings instead of being hashed and interned by Lua again;
 *   - strings without escapes are read straight from the input; escapes are
 *     decoded into a scratch block owned by Lua (a userdata on the stack), so
 *     a memory error raised half-way leaks nothing;
 *   - integers are read without strtod; only fractions and exponents use it;
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
#include "schema.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* 8 bytes at a time when scanning strings (needs a little-endian ctz). */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NUON_SWAR 1
#endif
#endif

#if defined(__GNUC__)
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static
#endif

/* The key table: the schema's strings (slots 1 .. nuon_schema_nkeys), then
 * the decoder's own, after every possible schema slot. */
#define KEYS_REGISTRY_KEY "nuon.decode.keys"
#define KEY_PATH (NUON_SCHEMA_MAX_KEYS + 1)
#define KEY_VALUE (NUON_SCHEMA_MAX_KEYS + 2)
#define KEY_ENUM (NUON_SCHEMA_MAX_KEYS + 3)
#define KEY_ENUM_NAMES (NUON_SCHEMA_MAX_KEYS + 4) /* one per enum */

/* The schema is acyclic: no path through it is longer than 9 entries
 * ([i].runner_jobs[j].executions[k].result.error_metadata.KEY). */
#define PATH_SLOTS 16

/* Entries of the cache of keys met outside the schema (a power of 2). */
#define KEY_CACHE 256

typedef unsigned char uchar;

/*
 * Keys are matched by guessing.  A token names a key: a field index of the
 * object's schema type (< TOK_KEY), or TOK_KEY + i for entry i of the key
 * cache, or TOK_RAW for a key with escapes.  Each token remembers the token
 * that followed it last time; a guess is confirmed by comparing bytes, so a
 * stale guess only costs a memcmp.
 */
typedef unsigned short token;
#define TOK_KEY 64
#define TOK_RAW (TOK_KEY + KEY_CACHE)
#define TOK_NONE 0xFFFF

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
 * object or array, to create the next one with; its first key, to guess
 * first; and its strings.  A collision only makes a guess wrong.
 */
typedef struct place {
  int size;
  token first;
  str_stat value;
} place;

#define PLACE_ITEM 0xFFFFu /* the "key" of an array's items */

/* A key outside the schema, seen before.  Keys repeat (the fields of
 * status_v2, workflow, outputs...): they are pushed from here without being
 * hashed and interned by Lua again.  Its Lua string is in memo slot
 * KEY_SLOT(i). */
#define KEY_INLINE 42 /* longer keys are not cached */

typedef struct key_entry {
  uchar used, kn;
  token next;                /* the key that followed this one last time */
  unsigned short unknown_in; /* bit t: known not to be a field of schema type t */
  char k[KEY_INLINE];        /* the key's bytes (escape-free) */
} key_entry;

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
  char b[STR_INLINE];
} str_entry;

/*
 * The schema's interned keys live in the Lua stack, above the caller's
 * values (read with lua_pushvalue, cheaper than a table's rawgeti):
 * key-table slot k is at stack index kbase + k.  The cached strings live in
 * the memo table (see memo below), at these slots:
 */
#define KEY_SLOT(i) (NUON_SCHEMA_MAX_KEYS + 1 + (int)(i))
#define STR_SLOT(i) (NUON_SCHEMA_MAX_KEYS + 1 + KEY_CACHE + (int)(i))

/*
 * The keys of one object, for finding duplicates.  A 256-bit filter of their
 * key-cache entries: a cached key whose bit is clear cannot be a duplicate,
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

typedef struct memo {
  str_entry strs[STR_CACHE];
  unsigned str_hashes[STR_CACHE]; /* apart, so a new string is told apart
                                     without touching the entries */
  key_entry kc[KEY_CACHE];
  place places[PLACES];
  int hint[NUON_NTYPES]; /* table size to create objects of each type with */
  /* Per field, by key slot: */
  struct {
    int size;       /* enums: the last value's index (-1: none); maps: entries */
    str_stat value; /* strings: their values */
    token first;    /* maps: the first key of the last one */
    uchar used, n;  /* enums: the last value's bytes (escape-free), whose */
    char b[26];     /* Lua string is in memo slot `key` */
  } last[NUON_SCHEMA_MAX_KEYS + 1];
  /* per type, the token that followed each field (index nfields: the first) */
  token next[NUON_NTYPES][NUON_SCHEMA_MAX_FIELDS + 1];
} memo;

/* Memo-table slots: 1 .. NUON_SCHEMA_MAX_KEYS the last value of each enum
 * field, then the key cache, then the string cache; the memo userdata last. */
#define MEMO_UDATA (STR_SLOT(STR_CACHE) + 1)
#define MEMO_REGISTRY_KEY "nuon.decode.memo"

typedef struct decoder {
  lua_State *L;
  const uchar *start, *end;
  const uchar *p; /* the next byte to read */
  int depth, max_depth;
  int strict;
  int keys;     /* stack index of the key table (typed mode) */
  int scratch;  /* stack index of the scratch userdata (nil until needed) */
  int warnings; /* stack index of runs.warnings (typed mode) */
  int nwarnings;
  int pn; /* path slot of the innermost typed container */
  char decimal_point; /* the C locale's, read on first use */
  char *buf;          /* scratch: small[] or the userdata's block */
  size_t cap;
  int kbase; /* stack index of key-table slot 0 (typed mode) */
  int mt;    /* stack index of the memo table */
  memo *m;
  path_entry path[PATH_SLOTS];
  char small[256];
} decoder;

/* Memo slot `slot` := the value on top of the stack (left there).  Never
 * allocates, so it can sit between the writes of an entry's bytes. */
static void memo_set(decoder *d, int slot) {
  lua_pushvalue(d->L, -1);
  lua_rawseti(d->L, d->mt, slot);
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

static int fail_at(decoder *d, const uchar *at, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int fail_at(decoder *d, const uchar *at, const char *fmt, ...) {
  char detail[256];
  unsigned long pos = (unsigned long)(at - d->start) + 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  lua_checkstack(d->L, 10);
  nuon_error_pushf(d->L, "decode", "invalid JSON at byte %lu: %s", pos, detail);
  nuon_error_setint(d->L, "position", (long long)pos);
  return 0;
}

static int fail_eof(decoder *d) {
  return fail_at(d, d->end, "unexpected end of input");
}

static int fail_unexpected(decoder *d, const uchar *at) {
  if (at >= d->end) return fail_eof(d);
  if (*at > 0x20 && *at < 0x7f) return fail_at(d, at, "unexpected character '%c'", *at);
  return fail_at(d, at, "unexpected byte 0x%02X", *at);
}

static int fail_duplicate(decoder *d, const uchar *at, const char *key, size_t n) {
  return fail_at(d, at, "duplicate key \"%.*s\"", (int)(n > 64 ? 64 : n), key);
}

static int fail_depth(decoder *d) {
  unsigned long pos = (unsigned long)(d->p - d->start) + 1;
  lua_checkstack(d->L, 10);
  nuon_error_pushf(d->L, "decode", "JSON nested deeper than max_depth (%d)", d->max_depth);
  nuon_error_setint(d->L, "position", (long long)pos);
  return 0;
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
      if (i > 0) buf[n++] = '.';
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
      if (i > 0) luaL_addchar(&b, '.');
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
static int fail_type(decoder *d, int plen, const char *expected, const char *got) {
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
  return 0;
}

static int parse_value(decoder *d, unsigned pl);

/* The JSON value at d->p is of the wrong type.  Scalars are decoded (which
 * also checks their syntax) to report them as `value`; containers are named. */
static int wrong_type(decoder *d, int plen, const char *expected) {
  const char *got;
  int r;
  if (d->p >= d->end) return fail_eof(d);
  got = json_type(*d->p);
  if (!got) return fail_unexpected(d, d->p);
  lua_checkstack(d->L, 10);
  if (*d->p == '{' || *d->p == '[') {
    lua_pushstring(d->L, got);
  } else {
    r = parse_value(d, 0);
    if (!r) return 0;
    if (r == 2) lua_pushliteral(d->L, "null");
  }
  return fail_type(d, plen, expected, got);
}

/* The string at the top of the stack is not in enum e: a warning, or in
 * strict mode an error.  The value stays on the stack when it returns 1. */
static int bad_enum(decoder *d, int plen, const nuon_enum *e) {
  lua_State *L = d->L;
  lua_checkstack(L, 10);
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
  lua_rawgeti(L, d->keys, KEY_PATH);
  push_path(d, plen);
  lua_rawset(L, -3);
  lua_rawgeti(L, d->keys, KEY_VALUE);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_rawgeti(L, d->keys, KEY_ENUM);
  lua_rawgeti(L, d->keys, KEY_ENUM_NAMES + (int)(e - nuon_schema_enums));
  lua_rawset(L, -3);
  lua_rawseti(L, d->warnings, ++d->nwarnings);
  return 1;
}

/* ---- lexical pieces ---------------------------------------------------------- */

HOT const uchar *skip_ws(const uchar *p, const uchar *end) {
  /* one compare for the usual case: compact JSON, no whitespace at all */
  while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

/* memcmp(a, b, n) == 0 for the short strings compared here (keys, ids),
 * without a library call. */
HOT int same_bytes(const void *a, const void *b, size_t n) {
  const uchar *x = (const uchar *)a, *y = (const uchar *)b;
  if (n >= 8) {
    uint64_t u, v;
    size_t i;
    for (i = 0; i + 8 <= n; i += 8) {
      memcpy(&u, x + i, 8);
      memcpy(&v, y + i, 8);
      if (u != v) return 0;
    }
    memcpy(&u, x + n - 8, 8); /* the tail, overlapping */
    memcpy(&v, y + n - 8, 8);
    return u == v;
  }
  if (n >= 4) {
    uint32_t u, v, s, t;
    memcpy(&u, x, 4);
    memcpy(&v, y, 4);
    memcpy(&s, x + n - 4, 4);
    memcpy(&t, y + n - 4, 4);
    return u == v && s == t;
  }
  while (n--)
    if (*x++ != *y++) return 0;
  return 1;
}

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

static int read_literal(decoder *d, const char *lit, size_t n) {
  const uchar *p = d->p;
  size_t i;
  for (i = 0; i < n; i++) {
    if (p + i >= d->end) return fail_eof(d);
    if (p[i] != (uchar)lit[i]) return fail_unexpected(d, p + i);
  }
  d->p = p + n;
  return 1;
}

/* The first byte at or after q that is '"', '\\', a control character or
 * non-ASCII, or end. */
static const uchar *scan_plain(const uchar *q, const uchar *end) {
#ifdef NUON_SWAR
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  while (end - q >= 8) {
    uint64_t w, a, b, m;
    memcpy(&w, q, 8);
    a = w ^ (ones * '"');
    b = w ^ (ones * '\\');
    /* high bit of each byte that is zero in a or b, below 0x20, or >= 0x80;
     * the lowest flagged byte is always a true hit */
    m = (((a - ones) & ~a) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & highs;
    if (m) return q + (__builtin_ctzll(m) >> 3);
    q += 8;
  }
#endif
  while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
  return q;
}

/* Length of the well-formed UTF-8 sequence at q (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const uchar *q, const uchar *end) {
  size_t avail = (size_t)(end - q);
  uchar c = q[0], lo = 0x80, hi = 0xBF;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return (avail >= 2 && (q[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    return (avail >= 3 && q[1] >= lo && q[1] <= hi && (q[2] & 0xC0) == 0x80) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    return (avail >= 4 && q[1] >= lo && q[1] <= hi && (q[2] & 0xC0) == 0x80 &&
            (q[3] & 0xC0) == 0x80)
               ? 4
               : 0;
  }
  return 0;
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

/* The four hex digits of the \u escape starting at q. */
static int read_hex4(decoder *d, const uchar *q, unsigned *v) {
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
  return 1;
}

/* The \u escape at q (a surrogate pair is one code point). */
static int read_u(decoder *d, const uchar *q, unsigned long *cp, size_t *used) {
  unsigned hi, lo;
  const uchar *r = q + 6;
  if (!read_hex4(d, q, &hi)) return 0;
  if (hi >= 0xDC00 && hi <= 0xDFFF)
    return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  if (hi < 0xD800 || hi > 0xDBFF) {
    *cp = hi;
    *used = 6;
    return 1;
  }
  if (r >= d->end || (r[0] == '\\' && r + 1 >= d->end)) return fail_eof(d);
  if (r[0] != '\\' || r[1] != 'u') return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  if (!read_hex4(d, r, &lo)) return 0;
  if (lo < 0xDC00 || lo > 0xDFFF)
    return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + (lo - 0xDC00);
  *used = 12;
  return 1;
}

static int fail_in_string(decoder *d, const uchar *q) {
  if (*q < 0x20) return fail_at(d, q, "control character 0x%02X in string", *q);
  return fail_at(d, q, "invalid UTF-8 byte 0x%02X in string", *q);
}

/* The rest of a string with escapes: p is its first byte, q its first
 * backslash.  Decodes into the scratch block. */
static int read_escaped(decoder *d, const uchar *p, const uchar *q, const char **s, size_t *n) {
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
          size_t used = 0;
          if (!read_u(d, q, &cp, &used)) return 0;
          o += utf8_put(out + o, cp);
          q += used;
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
  d->p = q + 1;
  return 1;
}

/* The string whose opening quote is at d->p.  *s, *n: its decoded bytes, a
 * slice of the input when it has no escapes, else the scratch block (valid
 * until the scratch is used again). */
static int read_string(decoder *d, const char **s, size_t *n) {
  const uchar *p = d->p + 1, *q = p, *end = d->end;
  for (;;) {
    q = scan_plain(q, end);
    if (q >= end) return fail_eof(d);
    if (*q == '"') {
      *s = (const char *)p;
      *n = (size_t)(q - p);
      d->p = q + 1;
      return 1;
    }
    if (*q == '\\') return read_escaped(d, p, q, s, n);
    {
      size_t k = *q < 0x20 ? 0 : utf8_len(q, end);
      if (!k) return fail_in_string(d, q);
      q += k;
    }
  }
}

static int to_double(decoder *d, const uchar *s, const uchar *e, double *out) {
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
  return 1;
}

/* The number at d->p: an integer literal that fits int64 is read exactly,
 * anything else (fraction, exponent, more digits) as a double. */
static int read_number(decoder *d, number *num) {
  const uchar *s = d->p, *p = s, *end = d->end;
  unsigned long long u = 0;
  int neg = 0, digits = 0, frac = 0;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p >= end) return fail_eof(d);
  if (*p == '0') {
    p++;
    digits = 1;
    if (p < end && IS_DIGIT(*p)) return fail_at(d, p - 1, "leading zero in number");
  } else if (IS_DIGIT(*p)) {
    do {
      if (digits < 19) u = u * 10 + (unsigned)(*p - '0');
      digits++;
      p++;
    } while (p < end && IS_DIGIT(*p));
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
  d->p = p;
  if (!frac && digits <= 19) {
    if (!neg && u <= (unsigned long long)LLONG_MAX) {
      num->is_int = 1;
      num->i = (long long)u;
      return 1;
    }
    if (neg && u <= (unsigned long long)LLONG_MAX + 1) {
      num->is_int = 1;
      num->i = u > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)u;
      return 1;
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
HOT int key_at(const decoder *d, const uchar *p, const void *k, size_t n) {
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

/* Pushes the string at d->p (an opening quote) through the string cache;
 * st (or NULL): what values of this field did lately, updated. */
HOT int push_string(decoder *d, str_stat *st) {
  lua_State *L = d->L;
  const uchar *p = d->p;
  const char *s;
  size_t n, raw;
  unsigned h, hash;
  str_entry *e;
  if (st) {
    if (st->miss >= STR_BYPASS && (++st->miss & 15) != 0) {
      if (!read_string(d, &s, &n)) return 0;
      lua_pushlstring(L, s, n);
      return 1;
    }
    if (st->last >= 0) {
      e = &d->m->strs[st->last];
      if (e->used && key_at(d, p, e->b, e->n)) {
        d->p = p + e->n + 2;
        lua_rawgeti(L, d->mt, STR_SLOT(st->last));
        st->miss = 0;
        return 1;
      }
    }
  }
  if (!read_string(d, &s, &n)) return 0;
  /* Entries hold the raw bytes between the quotes, escapes and all: equal
   * raw bytes decode to equal strings.  (Raw bytes never end in an odd run
   * of backslashes, so the quote key_at finds after them is the real end.) */
  raw = (size_t)(d->p - p) - 2;
  if (raw > STR_INLINE) { /* long */
    lua_pushlstring(L, s, n);
    return 1;
  }
  hash = str_hash(p + 1, raw);
  h = hash & (STR_CACHE - 1);
  e = &d->m->strs[h];
  if (d->m->str_hashes[h] == hash && e->n == raw && e->used && same_bytes(e->b, p + 1, raw)) {
    lua_rawgeti(L, d->mt, STR_SLOT(h));
    if (st) st->miss = 0;
  } else {
    lua_pushlstring(L, s, n);
    memo_set(d, STR_SLOT(h));
    e->used = 1;
    e->n = (uchar)raw;
    memcpy(e->b, p + 1, raw);
    d->m->str_hashes[h] = hash;
    if (st && st->miss < STR_BYPASS) st->miss++;
  }
  if (st) st->last = (int)h;
  return 1;
}

static unsigned key_hash(const uchar *s, size_t n) {
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
  } else {
    memcpy(&a, s, n);
  }
  a = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ n) * 0xC2B2AE3D27D4EB4FULL;
  return (unsigned)(a >> 40) & (KEY_CACHE - 1);
}

static int find_field(const nuon_type *t, const char *s, size_t n) {
  int i;
  for (i = 0; i < t->nfields; i++) {
    const nuon_field *f = &t->fields[i];
    if (f->len == n && same_bytes(f->name, s, n)) return i;
  }
  return -1;
}

/*
 * Reads the key whose opening quote is at p, in an object of schema type ti
 * (-1: not a schema object), trying the token `guess` first.  Returns its
 * token (-1 on error); for any token but a schema field, the key string has
 * been pushed.  d->p is left after the closing quote.
 */
HOT int read_key(decoder *d, const uchar *p, int ti, token guess) {
  lua_State *L = d->L;
  const char *s;
  size_t n;
  unsigned h;
  key_entry *e;
  if (guess < TOK_KEY) {
    /* a field index learned after a cached key may come from another type */
    if (ti >= 0 && guess < nuon_schema_types[ti].nfields) {
      const nuon_field *f = &nuon_schema_types[ti].fields[guess];
      if (key_at(d, p, f->name, f->len)) {
        d->p = p + f->len + 2;
        return guess;
      }
    }
  } else if (guess < TOK_RAW) {
    e = &d->m->kc[guess - TOK_KEY];
    if (e->used && (ti < 0 || (e->unknown_in >> ti) & 1) && key_at(d, p, e->k, e->kn)) {
      d->p = p + e->kn + 2;
      lua_rawgeti(L, d->mt, KEY_SLOT(guess - TOK_KEY));
      return guess;
    }
  }
  d->p = p;
  if (!read_string(d, &s, &n)) return -1;
  if (ti >= 0) {
    int fi = find_field(&nuon_schema_types[ti], s, n);
    if (fi >= 0) return fi;
  }
  if ((const uchar *)s != p + 1 || n > KEY_INLINE) { /* escaped or long: not cached */
    lua_pushlstring(L, s, n);
    return TOK_RAW;
  }
  h = key_hash(p + 1, n);
  e = &d->m->kc[h];
  if (e->used && e->kn == n && same_bytes(e->k, s, n)) {
    lua_rawgeti(L, d->mt, KEY_SLOT(h));
  } else {
    lua_pushlstring(L, s, n);
    memo_set(d, KEY_SLOT(h));
    e->used = 1;
    e->kn = (uchar)n;
    memcpy(e->k, s, n);
    e->next = TOK_NONE;
    e->unknown_in = 0;
  }
  if (ti >= 0) e->unknown_in |= 1u << ti;
  return (int)(TOK_KEY + h);
}

/* ---- containers --------------------------------------------------------------- */

/* Table sizes are guessed from the recent past in the same place: the largest
 * recent size, forgotten slowly (1/16 per table), so that shapes alternating
 * within a stretch of runs never make a table grow while it is filled.  A
 * guess h is kept in 1/16ths. */
HOT int size_guess(int h) {
  return (h + 15) >> 4;
}

HOT void size_learn(int *h, int count) {
  int decayed = *h - (*h >> 4), c = count << 4;
  *h = c > decayed ? c : decayed;
}

static int enter(decoder *d) {
  if (++d->depth > d->max_depth) return fail_depth(d);
  if (!lua_checkstack(d->L, 8)) return fail_at(d, d->p, "JSON nested too deeply for the Lua stack");
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

/* Table at -2, new key at -1 (token tok): fails if the key is already in
 * the object. */
HOT int check_unique(decoder *d, key_set *seen, int tok, const uchar *at) {
  lua_State *L = d->L;
  size_t n;
  const char *k;
  int i;
  if (tok < TOK_RAW) {
    unsigned h = ((unsigned)tok - TOK_KEY) & 255;
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
  if (!lua_isnil(L, -1)) return fail_duplicate(d, at, k, n);
  lua_pop(L, 1);
  for (i = 0; i < seen->nnull; i++)
    if (seen->null_len[i] == n && same_bytes(seen->null_key[i], k, n))
      return fail_duplicate(d, at, k, n);
  return 1;
}

/* The key at -1 (token tok, opening quote at kp) has a null value: listed
 * (and popped) when it can be, else put in the table with a null mark.
 * Returns 1 when the table got an entry. */
HOT int null_member(decoder *d, key_set *seen, int tok, const uchar *kp) {
  if (tok < TOK_RAW && seen->nnull < NULL_KEYS) { /* cached: escape-free */
    seen->null_key[seen->nnull] = kp + 1;
    seen->null_len[seen->nnull++] = d->m->kc[tok - TOK_KEY].kn;
    lua_pop(d->L, 1);
    return 0;
  }
  lua_pushlightuserdata(d->L, (void *)&null_mark);
  lua_rawset(d->L, -3);
  return 1;
}

/* After a member: "," (then the next key's first byte) or the closing byte.
 * Returns 1 to continue, 2 when closed, 0 on error; *pp is updated. */
HOT int next_member(decoder *d, const uchar **pp, uchar close) {
  const uchar *p = skip_ws(*pp, d->end);
  if (p >= d->end) return fail_eof(d);
  if (*p == ',') {
    p++;
    *pp = (p < d->end && *p > ' ') ? p : skip_ws(p, d->end);
    return 1;
  }
  if (*p == close) {
    *pp = p + 1;
    return 2;
  }
  return fail_unexpected(d, p);
}

/* ":" after a key, then the first byte of the value (at d->p). */
HOT int read_colon(decoder *d, const uchar *p) {
  const uchar *end = d->end;
  if (!(p < end && *p == ':')) {
    p = skip_ws(p, end);
    if (p >= end) return fail_eof(d);
    if (*p != ':') return fail_unexpected(d, p);
  }
  p++;
  if (!(p < end && *p > ' ')) {
    p = skip_ws(p, end);
    if (p >= end) return fail_eof(d);
  }
  d->p = p;
  return 1;
}

/* The token that followed `prev`, NULL when there is none to learn. */
HOT token *next_slot(decoder *d, int ti, token prev, token *first) {
  if (prev == TOK_NONE) return first;
  if (prev < TOK_KEY) return ti >= 0 ? &d->m->next[ti][prev] : NULL;
  if (prev < TOK_RAW) return &d->m->kc[prev - TOK_KEY].next;
  return NULL;
}

/* The place of the value under key token tok in the place parent. */
HOT unsigned place_of(unsigned parent, unsigned tok) {
  uint64_t x = ((uint64_t)parent << 17 ^ tok) * 0x9E3779B97F4A7C15ULL;
  return (unsigned)(x >> 40) & (PLACES - 1);
}

/* A generic object in place pl. */
static int parse_object(decoder *d, unsigned pl) {
  lua_State *L = d->L;
  const uchar *p;
  place *here = &d->m->places[pl];
  key_set seen = KEY_SET_INIT;
  token prev = TOK_NONE;
  int has_null = 0, count = 0, r;
  if (!enter(d)) return 0;
  lua_createtable(L, 0, size_guess(here->size));
  p = skip_ws(d->p + 1, d->end);
  if (p < d->end && *p == '}') {
    p++;
  } else {
    for (;;) {
      token *slot = next_slot(d, -1, prev, &here->first);
      token guess = slot ? *slot : TOK_NONE;
      const uchar *kp = p;
      int tok;
      if (p >= d->end) return fail_eof(d);
      if (*p != '"') return fail_unexpected(d, p);
      tok = read_key(d, p, -1, guess);
      if (tok < 0) return 0;
      if (slot && tok != guess) *slot = (token)tok;
      prev = (token)tok;
      if (!check_unique(d, &seen, tok, kp)) return 0;
      if (!read_colon(d, d->p)) return 0;
      r = parse_value(d, place_of(pl, (unsigned)tok));
      if (!r) return 0;
      if (r == 2) {
        if (null_member(d, &seen, tok, kp)) {
          has_null = 1;
          count++;
        }
      } else {
        lua_rawset(L, -3);
        count++;
      }
      p = d->p;
      r = next_member(d, &p, '}');
      if (r == 2) break;
      if (!r) return 0;
    }
  }
  d->p = p;
  if (has_null) sweep_nulls(L);
  size_learn(&d->m->places[pl].size, count);
  d->depth--;
  return 1;
}

/* A generic array in place pl; its items are in place_of(pl, PLACE_ITEM). */
static int parse_array(decoder *d, unsigned pl) {
  lua_State *L = d->L;
  const uchar *p;
  unsigned item = place_of(pl, PLACE_ITEM);
  int i = 0, r;
  if (!enter(d)) return 0;
  lua_createtable(L, size_guess(d->m->places[pl].size), 0);
  p = skip_ws(d->p + 1, d->end);
  if (p < d->end && *p == ']') {
    p++;
  } else {
    for (;;) {
      d->p = p;
      r = parse_value(d, item);
      if (!r) return 0;
      ++i;
      if (r == 1) lua_rawseti(L, -2, i); /* null leaves a hole */
      p = d->p;
      r = next_member(d, &p, ']');
      if (r == 2) break;
      if (!r) return 0;
    }
  }
  d->p = p;
  size_learn(&d->m->places[pl].size, i);
  d->depth--;
  return 1;
}

/* Pushes the value at d->p, in place pl; returns 1, or 2 for null (nothing
 * pushed), or 0. */
static int parse_value(decoder *d, unsigned pl) {
  lua_State *L = d->L;
  if (d->p >= d->end) return fail_eof(d);
  switch (*d->p) {
    case '"': return push_string(d, &d->m->places[pl].value);
    case '{': return parse_object(d, pl);
    case '[': return parse_array(d, pl);
    case 't':
      if (!read_literal(d, "true", 4)) return 0;
      lua_pushboolean(L, 1);
      return 1;
    case 'f':
      if (!read_literal(d, "false", 5)) return 0;
      lua_pushboolean(L, 0);
      return 1;
    case 'n':
      if (!read_literal(d, "null", 4)) return 0;
      return 2;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
      number num;
      if (!read_number(d, &num)) return 0;
      push_number(L, &num);
      return 1;
    }
    default: return fail_unexpected(d, d->p);
  }
}

/* ---- schema-driven containers ------------------------------------------------- */

static int parse_typed(decoder *d, int ti);
static int parse_typed_array(decoder *d, int ti, int *size);

/* A string map (variables, attrs, error_metadata) in the field of key-table
 * slot key; path slot = d->pn. */
static int parse_map(decoder *d, int key) {
  lua_State *L = d->L;
  const uchar *p;
  key_set seen = KEY_SET_INIT;
  token *first = &d->m->last[key].first, prev = TOK_NONE;
  int slot = d->pn, has_null = 0, count = 0, r;
  if (!enter(d)) return 0;
  lua_createtable(L, 0, size_guess(d->m->last[key].size));
  p = skip_ws(d->p + 1, d->end);
  if (p < d->end && *p == '}') {
    p++;
  } else {
    for (;;) {
      token *learn = next_slot(d, -1, prev, first);
      token guess = learn ? *learn : TOK_NONE;
      const uchar *kp = p;
      int tok;
      if (p >= d->end) return fail_eof(d);
      if (*p != '"') return fail_unexpected(d, p);
      tok = read_key(d, p, -1, guess);
      if (tok < 0) return 0;
      if (learn && tok != guess) *learn = (token)tok;
      prev = (token)tok;
      if (!check_unique(d, &seen, tok, kp)) return 0;
      if (!read_colon(d, d->p)) return 0;
      if (*d->p == 'n') {
        if (!read_literal(d, "null", 4)) return 0;
        if (null_member(d, &seen, tok, kp)) {
          has_null = 1;
          count++;
        }
      } else {
        if (*d->p != '"') {
          d->path[slot].name = lua_tolstring(L, -1, &d->path[slot].len);
          return wrong_type(d, slot + 1, "string");
        }
        if (!push_string(d, &d->m->places[place_of((unsigned)key, (unsigned)tok)].value)) return 0;
        lua_rawset(L, -3);
        count++;
      }
      p = d->p;
      r = next_member(d, &p, '}');
      if (r == 2) break;
      if (!r) return 0;
    }
  }
  d->p = p;
  if (has_null) sweep_nulls(L);
  size_learn(&d->m->last[key].size, count);
  d->depth--;
  return 1;
}

/* The enum field of key-table slot key: the last value's bytes are cached
 * with its index in the enum (-1: not in it) in last[key].size. */
static int parse_enum(decoder *d, const nuon_enum *e, int key, int slot) {
  lua_State *L = d->L;
  const uchar *p = d->p;
  int i = d->m->last[key].size;
  if (d->m->last[key].used && key_at(d, p, d->m->last[key].b, d->m->last[key].n)) {
    d->p = p + d->m->last[key].n + 2;
    lua_rawgeti(L, d->mt, key);
  } else {
    const char *s;
    size_t n;
    if (!read_string(d, &s, &n)) return 0;
    for (i = e->nvalues - 1; i >= 0; i--)
      if (e->values[i].len == n && same_bytes(e->values[i].s, s, n)) break;
    if (i >= 0) lua_pushvalue(L, d->kbase + e->key + i); /* interned: no hashing */
    else lua_pushlstring(L, s, n);
    if ((const uchar *)s == p + 1 && n <= sizeof d->m->last[key].b) {
      d->m->last[key].used = 1;
      d->m->last[key].n = (uchar)n;
      memcpy(d->m->last[key].b, s, n);
      d->m->last[key].size = i;
      memo_set(d, key);
    }
  }
  return i >= 0 ? 1 : bad_enum(d, slot + 1, e);
}

/* Pushes the (non-null) value at d->p of field f (key-table slot key); its
 * path entry is slot. */
static int parse_field(decoder *d, const nuon_field *f, int key, int slot) {
  lua_State *L = d->L;
  int c = *d->p;
  switch (f->kind) {
    case NUON_K_STRING:
      if (c == '"') return push_string(d, &d->m->last[key].value);
      return wrong_type(d, slot + 1, "string");
    case NUON_K_INTEGER:
      if (c == '-' || IS_DIGIT(c)) {
        number num;
        if (!read_number(d, &num)) return 0;
        if (num.is_int) {
          nuon_pushint64(L, num.i);
          return 1;
        }
        lua_pushnumber(L, (lua_Number)num.f);
        return fail_type(d, slot + 1, "integer", "number");
      }
      return wrong_type(d, slot + 1, "integer");
    case NUON_K_BOOLEAN:
      if (c == 't') {
        if (!read_literal(d, "true", 4)) return 0;
        lua_pushboolean(L, 1);
        return 1;
      }
      if (c == 'f') {
        if (!read_literal(d, "false", 5)) return 0;
        lua_pushboolean(L, 0);
        return 1;
      }
      return wrong_type(d, slot + 1, "boolean");
    case NUON_K_OBJECT:
      if (c == '{') return parse_typed(d, f->ref);
      return wrong_type(d, slot + 1, "object");
    case NUON_K_ARRAY:
      if (c == '[') return parse_typed_array(d, f->ref, &d->m->last[key].size);
      return wrong_type(d, slot + 1, "array");
    case NUON_K_MAP:
      if (c == '{') return parse_map(d, key);
      return wrong_type(d, slot + 1, "object");
    default: /* NUON_K_ENUM */
      if (c == '"') return parse_enum(d, &nuon_schema_enums[f->ref], key, slot);
      return wrong_type(d, slot + 1, "string");
  }
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

/* An object of schema type ti at d->p; its fields' path slot is d->pn. */
static int parse_typed(decoder *d, int ti) {
  lua_State *L = d->L;
  const nuon_type *t = &nuon_schema_types[ti];
  const uchar *p, *end = d->end;
  uint64_t seen = 0, nulls = 0;
  key_set seen_keys = KEY_SET_INIT;
  token prev = TOK_NONE;
  int count = 0, has_null = 0, slot = d->pn, r;
  if (!enter(d)) return 0;
  d->pn = slot + 1;
  lua_createtable(L, 0, size_guess(d->m->hint[ti]));
  p = skip_ws(d->p + 1, end);
  if (p < end && *p == '}') {
    p++;
  } else {
    for (;;) {
      token *learn = next_slot(d, ti, prev, &d->m->next[ti][t->nfields]);
      token guess = learn ? *learn : TOK_NONE;
      const uchar *kp = p;
      int tok;
      if (p >= end) return fail_eof(d);
      if (*p != '"') return fail_unexpected(d, p);
      tok = read_key(d, p, ti, guess);
      if (tok < 0) return 0;
      if (learn && tok != guess) *learn = (token)tok;
      prev = (token)tok;
      if (tok < TOK_KEY) { /* a schema field */
        const nuon_field *f = &t->fields[tok];
        uint64_t bit = (uint64_t)1 << tok;
        if (seen & bit) return fail_duplicate(d, kp, f->name, f->len);
        seen |= bit;
        if (!read_colon(d, d->p)) return 0;
        if (*d->p == 'n') {
          if (!read_literal(d, "null", 4)) return 0;
          nulls |= bit;
        } else {
          d->path[slot].name = f->name;
          d->path[slot].len = f->len;
          lua_pushvalue(L, d->kbase + t->key + tok);
          if (!parse_field(d, f, t->key + tok, slot)) return 0;
          lua_rawset(L, -3);
          count++;
        }
      } else { /* kept as decoded */
        if (!check_unique(d, &seen_keys, tok, kp)) return 0;
        if (!read_colon(d, d->p)) return 0;
        r = parse_value(d, place_of(PLACE_ITEM + 1 + (unsigned)ti, (unsigned)tok));
        if (!r) return 0;
        if (r == 2) { /* a null mark counts too: it is there until the sweep */
          if (null_member(d, &seen_keys, tok, kp)) {
            has_null = 1;
            count++;
          }
        } else {
          lua_rawset(L, -3);
          count++;
        }
      }
      p = d->p;
      r = next_member(d, &p, '}');
      if (r == 2) break;
      if (!r) return 0;
    }
  }
  d->p = p;
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
  size_learn(&d->m->hint[ti], count);
  d->pn = slot;
  d->depth--;
  return 1;
}

/* An array of objects of schema type ti at d->p; its path slot is d->pn.
 * *size: a guess of its length (see size_guess), updated. */
static int parse_typed_array(decoder *d, int ti, int *size) {
  lua_State *L = d->L;
  const uchar *p;
  int slot = d->pn, i = 0, r;
  if (!enter(d)) return 0;
  d->pn = slot + 1;
  lua_createtable(L, size_guess(*size), 0);
  p = skip_ws(d->p + 1, d->end);
  if (p < d->end && *p == ']') {
    p++;
  } else {
    for (;;) {
      d->path[slot].name = NULL;
      d->path[slot].index = ++i;
      d->p = p;
      if (p >= d->end || *p != '{') return wrong_type(d, slot + 1, "object");
      if (!parse_typed(d, ti)) return 0;
      lua_rawseti(L, -2, i);
      p = d->p;
      r = next_member(d, &p, ']');
      if (r == 2) break;
      if (!r) return 0;
    }
  }
  d->p = p;
  size_learn(size, i);
  d->pn = slot;
  d->depth--;
  return 1;
}

/* ---- entry points ------------------------------------------------------------- */

/* Pushes the key table (creating and registering it on first use). */
static void push_keys(lua_State *L) {
  int i;
  lua_getfield(L, LUA_REGISTRYINDEX, KEYS_REGISTRY_KEY);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    nuon_schema_push_keys(L);
    lua_pushliteral(L, "path");
    lua_rawseti(L, -2, KEY_PATH);
    lua_pushliteral(L, "value");
    lua_rawseti(L, -2, KEY_VALUE);
    lua_pushliteral(L, "enum");
    lua_rawseti(L, -2, KEY_ENUM);
    for (i = 0; i < NUON_NENUMS; i++) {
      lua_pushstring(L, nuon_schema_enums[i].name);
      lua_rawseti(L, -2, KEY_ENUM_NAMES + i);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, KEYS_REGISTRY_KEY);
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
  lua_getfield(L, LUA_REGISTRYINDEX, MEMO_REGISTRY_KEY);
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
  for (i = 0; i < PLACES; i++) {
    m->places[i].first = TOK_NONE;
    m->places[i].value.last = -1;
  }
  for (i = 0; i <= NUON_SCHEMA_MAX_KEYS; i++) {
    m->last[i].value.last = -1;
    m->last[i].first = TOK_NONE;
  }
  for (t = 0; t < NUON_NTYPES; t++) {
    int nf = nuon_schema_types[t].nfields;
    m->hint[t] = nf << 4;
    for (i = 0; i < nf; i++) m->next[t][i] = (token)(i + 1 < nf ? i + 1 : TOK_NONE);
    m->next[t][nf] = 0;
  }
  lua_rawseti(L, -2, MEMO_UDATA);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, MEMO_REGISTRY_KEY);
  return m;
}

/* Sets up d and pushes the memo table, the scratch slot (and, typed, the
 * keys and warnings). */
static void decoder_init(decoder *d, lua_State *L, const char *buf, size_t len, int max_depth,
                         int strict, int typed) {
  int i;
  luaL_checkstack(L, 16, "nuon.decode");
  d->L = L;
  d->start = (const uchar *)(buf ? buf : "");
  d->end = d->start + (buf ? len : 0);
  d->p = d->start;
  d->depth = 0;
  d->max_depth = max_depth <= 0 ? NUON_DEFAULT_MAX_DEPTH
                 : max_depth > NUON_HARD_MAX_DEPTH ? NUON_HARD_MAX_DEPTH
                                                   : max_depth;
  d->strict = strict;
  d->nwarnings = 0;
  d->pn = 0;
  d->decimal_point = 0;
  d->buf = d->small;
  d->cap = sizeof d->small;
  d->m = push_memo(L);
  d->mt = lua_gettop(L);
  d->keys = d->warnings = d->kbase = 0;
  if (typed) {
    push_keys(L);
    d->keys = lua_gettop(L);
    lua_newtable(L);
    d->warnings = lua_gettop(L);
    luaL_checkstack(L, nuon_schema_nkeys + 16, "nuon.decode");
    d->kbase = lua_gettop(L);
    for (i = 1; i <= nuon_schema_nkeys; i++) lua_rawgeti(L, d->keys, i);
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

/* Skips the whitespace after the top-level value; anything else is an error. */
static int check_trailing(decoder *d) {
  const uchar *p = skip_ws(d->p, d->end);
  if (p < d->end) return fail_unexpected(d, p);
  return 1;
}

/* The first byte of the top-level value (at d->p). */
static int start_document(decoder *d) {
  const uchar *p;
  if (d->end - d->start >= 3 && memcmp(d->start, "\xEF\xBB\xBF", 3) == 0)
    return fail_at(d, d->start, "UTF-8 byte order mark is not allowed");
  p = skip_ws(d->start, d->end);
  if (p >= d->end) return fail_eof(d);
  d->p = p;
  return 1;
}

static int decode_runs(decoder *d) {
  if (!start_document(d)) return 0;
  if (*d->p != '[') return wrong_type(d, 0, "array");
  {
    /* the runs: about one per 2 KB, and the array only grows by doubling */
    int size = (int)((d->end - d->p) / 2048) << 4;
    if (!parse_typed_array(d, NUON_T_RUN, &size)) return 0;
  }
  if (!check_trailing(d)) return 0;
  lua_pushliteral(d->L, "warnings");
  lua_pushvalue(d->L, d->warnings);
  lua_rawset(d->L, -3);
  return 1;
}

int nuon_decode_runs(lua_State *L, const char *buf, size_t len, const nuon_decode_opts *opts) {
  decoder d;
  int base = lua_gettop(L);
  decoder_init(&d, L, buf, len, opts ? opts->max_depth : 0, opts ? opts->strict : 0, 1);
  return decoder_finish(&d, base, decode_runs(&d));
}

static int decode_json(decoder *d) {
  int r;
  if (!start_document(d)) return 0;
  r = parse_value(d, 0);
  if (!r) return 0;
  if (r == 2) lua_pushnil(d->L);
  return check_trailing(d);
}

int nuon_decode_json(lua_State *L, const char *buf, size_t len, int max_depth) {
  decoder d;
  int base = lua_gettop(L);
  decoder_init(&d, L, buf, len, max_depth, 0, 0);
  return decoder_finish(&d, base, decode_json(&d));
}
