/*
 * decode_walk.h - the container walk (a part of decode.c, see
 * decode_types.h): objects and arrays outside the schema, kept as decoded;
 * duplicate keys; and the schema's objects, arrays of objects, string lists,
 * string maps and enums, validated as their tables are built (nulls, wrong
 * types, enum warnings, the runner_job bridge).  Recursive: `enter` counts
 * the depth against max_depth and makes room on the Lua stack.
 */
#ifndef NUON_DECODE_WALK_H
#define NUON_DECODE_WALK_H

#include "decode_cache.h"

/* One level deeper, at the container opening at p: fails past max_depth. */
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

/* ---- duplicate keys --------------------------------------------------------- */

/* Marks a key whose value was null until the object is complete, so that a
 * later duplicate of it is still caught (when key_set's list is full or the
 * key had escapes); swept before the object is returned. */
static char null_mark;

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

/* ---- outside the schema: values kept as decoded ------------------------------ */

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

/* ---- the schema's containers ------------------------------------------------ */

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

#endif /* NUON_DECODE_WALK_H */
