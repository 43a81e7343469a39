/*
 * decode_types.h - the decoder's types (a part of decode.c): key ids and
 * what is known of each key (key_desc), the string cache's entries, places,
 * the memo (what is learned from one call to the next, per Lua state), the
 * keys of one object, the path to the current value, and the decoder's
 * state.  Sizes and limits are the #defines beside each.  No code.
 *
 * decode.c is one compilation unit made of five parts, each a header of
 * static functions that decode.c alone includes, in this order:
 * decode_types.h, decode_error.h, decode_lex.h, decode_cache.h,
 * decode_walk.h.  One unit, so the hot paths inline across the parts as
 * they would within one file.
 */
#ifndef NUON_DECODE_TYPES_H
#define NUON_DECODE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "nuon.h"
#include "scan.h"
#include "schema.h"

/* The key table (decode_cache.h: push_keys): the schema's strings (slots
 * 1 .. nuon_schema_nkeys), then the decoder's own, after every possible
 * schema slot. */
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

#endif /* NUON_DECODE_TYPES_H */
