/*
 * decode_cache.h - what the decoder learns and reuses (a part of decode.c,
 * see decode_types.h): the string cache (a repeated value is pushed without
 * Lua hashing and interning it again), the key cache and key guessing (a
 * member's key guessed from the one that followed the previous key last
 * time, in the same context), table sizes guessed from the same place last
 * time, and the key table and the memo in the registry.  Every guess is
 * confirmed by comparing bytes: a wrong one costs time, never a wrong result.
 */
#ifndef NUON_DECODE_CACHE_H
#define NUON_DECODE_CACHE_H

#include <string.h>

#include "decode_lex.h"

/* Registry keys: the addresses of these (lua_rawgetp). */
static const char key_table_key = 0;  /* the key table */
static const char memo_table_key = 0; /* the memo table */

/* Memo slot `slot` := the value on top of the stack (left there).  Never
 * allocates, so it can sit between the writes of an entry's bytes. */
static void memo_set(decoder *d, int slot) {
  lua_pushvalue(d->L, -1);
  lua_rawseti(d->L, d->memo_table, slot);
}

/* ---- the string cache ------------------------------------------------------- */

/* A hash of a string value's raw bytes: its entry in the string cache. */
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

/* ---- the key cache and key guessing ----------------------------------------- */

/* A hash of a key's bytes: its bucket in the key cache. */
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

/* ---- table sizes and places ------------------------------------------------- */

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

/* The place of the value under key id kid in the place parent. */
static NUON_INLINE unsigned place_of(unsigned parent, unsigned kid) {
  uint64_t x = ((uint64_t)parent << 17 ^ kid) * 0x9E3779B97F4A7C15ULL;
  return (unsigned)(x >> 40) & (PLACES - 1);
}

/* ---- the key table and the memo in the registry ---------------------------- */

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

#endif /* NUON_DECODE_CACHE_H */
