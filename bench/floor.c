/*
 * bench/floor.c - the "floor" of the decode benchmark (bench-only module,
 * built into build/bench/<lua>/floor.so; never shipped).
 *
 *   local tree, keys = floor.parse(text [, warnings])   -- not timed
 *   local runs = floor.build(tree, keys)                -- timed
 *   floor.trim()          malloc_trim(0), for the peak-memory baseline
 *
 * parse() reads the JSON once into a compact C form: a flat pre-order array
 * of nodes, strings unescaped in place in a private copy of the text, every
 * object key replaced by the index of its Lua string in `keys` (each distinct
 * key interned once), each object's count of non-null members precomputed.
 * `warnings`, if given (nuon's runs.warnings for the same text), is stored
 * too so build() makes the same warning tables nuon makes.
 *
 * build() then does only what any decoder must do to hand Lua the same tables
 * nuon.decode_sandbox_runs returns: create every table with its exact size,
 * push every number and boolean, make each distinct string text into a Lua
 * string once (a text that occurs more than once is made at its first
 * occurrence and reused from a per-build table after that), skip nulls, set
 * runner_job to runner_jobs[1] where it is absent, attach runs.warnings.  No
 * parsing, no validation, no hashing of keys: the cost of building the
 * result and nothing else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#define HAVE_MALLOC_TRIM 1
#endif

#if LUA_VERSION_NUM < 502
#define lua_rawlen lua_objlen
#define luaL_setfuncs(L, l, n) luaL_register(L, NULL, l)
#endif

enum { T_NULL, T_FALSE, T_TRUE, T_INT, T_NUM, T_STR, T_ARR, T_OBJ, T_WARN };

typedef struct node {
  uint32_t type;
  uint32_t val;  /* strings: 1.. when the same text occurs more than once */
  uint32_t key;  /* index in keys + 1 for an object member, else 0 */
  size_t n;      /* string length, array length, object member count */
  union {
    double d;
    long long i;
    const char *s;
    size_t nonnull; /* objects: members that are not null */
  } u;
} node;

typedef struct tree {
  char *text;    /* private copy, strings unescaped in place */
  node *nodes;
  size_t len, cap;
  int runner_job, runner_jobs; /* key indexes (1-based) */
  int nrep; /* distinct string values that occur more than once */
  int k_path, k_value, k_enum, k_warnings;
} tree;

#define TREE_MT "bench.floor.tree"

/* ---- key interning (open addressing, parse time only) ------------------ */

typedef struct keytab {
  const char **s;
  size_t *n;
  int *idx;
  size_t cap;
  int count;
  int *uses; /* per index (1-based), values only */
  size_t ucap;
} keytab;

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

typedef struct parser {
  lua_State *L;
  tree *t;
  char *p, *end;
  keytab kt; /* object keys */
  keytab vt; /* string values */
  int keys; /* stack index of the keys table */
} parser;

/* Index (1-based) of s in kt, added when new (*added set). */
static int tab_find(parser *ps, keytab *kt, const char *s, size_t n, int *added) {
  size_t i;
  if ((size_t)kt->count * 2 >= kt->cap) {
    keytab nk;
    size_t j;
    nk.cap = kt->cap ? kt->cap * 2 : 256;
    nk.s = (const char **)calloc(nk.cap, sizeof *nk.s);
    nk.n = (size_t *)calloc(nk.cap, sizeof *nk.n);
    nk.idx = (int *)calloc(nk.cap, sizeof *nk.idx);
    nk.count = kt->count;
    nk.uses = kt->uses;
    nk.ucap = kt->ucap;
    if (!nk.s || !nk.n || !nk.idx) luaL_error(ps->L, "floor: out of memory");
    for (j = 0; j < kt->cap; j++) {
      if (!kt->s[j]) continue;
      i = hash_bytes(kt->s[j], kt->n[j]) & (nk.cap - 1);
      while (nk.s[i]) i = (i + 1) & (nk.cap - 1);
      nk.s[i] = kt->s[j];
      nk.n[i] = kt->n[j];
      nk.idx[i] = kt->idx[j];
    }
    free((void *)kt->s);
    free(kt->n);
    free(kt->idx);
    *kt = nk;
  }
  i = hash_bytes(s, n) & (kt->cap - 1);
  *added = 0;
  while (kt->s[i]) {
    if (kt->n[i] == n && memcmp(kt->s[i], s, n) == 0) return kt->idx[i];
    i = (i + 1) & (kt->cap - 1);
  }
  kt->s[i] = s;
  kt->n[i] = n;
  kt->idx[i] = ++kt->count;
  *added = 1;
  return kt->count;
}

static int intern(parser *ps, const char *s, size_t n) {
  int added, k = tab_find(ps, &ps->kt, s, n, &added);
  if (added) {
    lua_pushlstring(ps->L, s, n);
    lua_rawseti(ps->L, ps->keys, k);
  }
  return k;
}

/* Counts a string value; returns its provisional index. */
static uint32_t count_value(parser *ps, const char *s, size_t n) {
  keytab *vt = &ps->vt;
  int added, v = tab_find(ps, vt, s, n, &added);
  if ((size_t)v >= vt->ucap) {
    size_t cap = vt->ucap ? vt->ucap * 2 : 4096;
    int *nu = (int *)realloc(vt->uses, cap * sizeof *nu);
    if (!nu) luaL_error(ps->L, "floor: out of memory");
    memset(nu + vt->ucap, 0, (cap - vt->ucap) * sizeof *nu);
    vt->uses = nu;
    vt->ucap = cap;
  }
  vt->uses[v]++;
  return (uint32_t)v;
}

/* ---- parsing (correct, not fast: it is never timed) -------------------- */

static void fail(parser *ps, const char *what) {
  luaL_error(ps->L, "floor.parse: %s at byte %d", what, (int)(ps->p - ps->t->text));
}

static size_t push_node(parser *ps, uint32_t type) {
  tree *t = ps->t;
  if (t->len == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4096;
    node *nn = (node *)realloc(t->nodes, cap * sizeof *nn);
    if (!nn) luaL_error(ps->L, "floor: out of memory");
    t->nodes = nn;
    t->cap = cap;
  }
  memset(&t->nodes[t->len], 0, sizeof(node));
  t->nodes[t->len].type = type;
  return t->len++;
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static void put_utf8(char **o, unsigned long c) {
  char *w = *o;
  if (c < 0x80) *w++ = (char)c;
  else if (c < 0x800) {
    *w++ = (char)(0xC0 | (c >> 6));
    *w++ = (char)(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    *w++ = (char)(0xE0 | (c >> 12));
    *w++ = (char)(0x80 | ((c >> 6) & 0x3F));
    *w++ = (char)(0x80 | (c & 0x3F));
  } else {
    *w++ = (char)(0xF0 | (c >> 18));
    *w++ = (char)(0x80 | ((c >> 12) & 0x3F));
    *w++ = (char)(0x80 | ((c >> 6) & 0x3F));
    *w++ = (char)(0x80 | (c & 0x3F));
  }
  *o = w;
}

static unsigned long hex4(parser *ps) {
  unsigned long v = 0;
  int i;
  if (ps->end - ps->p < 4) fail(ps, "short \\u escape");
  for (i = 0; i < 4; i++) {
    char ch = *ps->p++;
    v <<= 4;
    if (ch >= '0' && ch <= '9') v |= (unsigned long)(ch - '0');
    else if (ch >= 'a' && ch <= 'f') v |= (unsigned long)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F') v |= (unsigned long)(ch - 'A' + 10);
    else fail(ps, "bad \\u escape");
  }
  return v;
}

/* Reads a string at p (after the quote), unescaping in place. */
static const char *read_string(parser *ps, size_t *len) {
  char *start = ps->p, *o = ps->p;
  for (;;) {
    char ch;
    if (ps->p >= ps->end) fail(ps, "unterminated string");
    ch = *ps->p++;
    if (ch == '"') break;
    if (ch != '\\') {
      *o++ = ch;
      continue;
    }
    if (ps->p >= ps->end) fail(ps, "unterminated string");
    ch = *ps->p++;
    switch (ch) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned long c = hex4(ps);
        if (c >= 0xD800 && c < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
            ps->p[1] == 'u') {
          unsigned long lo;
          ps->p += 2;
          lo = hex4(ps);
          if (lo >= 0xDC00 && lo < 0xE000) c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
          else {
            put_utf8(&o, c);
            c = lo;
          }
        }
        put_utf8(&o, c);
        break;
      }
      default: fail(ps, "bad escape");
    }
  }
  *len = (size_t)(o - start);
  return start;
}

static void parse_value(parser *ps, int depth);

static void parse_number(parser *ps) {
  char *s = ps->p, *e;
  int is_int = 1;
  size_t at;
  if (ps->p < ps->end && *ps->p == '-') ps->p++;
  while (ps->p < ps->end) {
    char ch = *ps->p;
    if (ch >= '0' && ch <= '9') ps->p++;
    else if (ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-') {
      is_int = 0;
      ps->p++;
    } else break;
  }
  if (ps->p == s) fail(ps, "bad value");
  if (is_int && ps->p - s < 19) {
    at = push_node(ps, T_INT);
    ps->t->nodes[at].u.i = strtoll(s, &e, 10);
  } else {
    char saved = *ps->p; /* the text copy has a NUL after its end */
    *ps->p = '\0';
    at = push_node(ps, T_NUM);
    ps->t->nodes[at].u.d = strtod(s, &e);
    *ps->p = saved;
  }
  if (e != ps->p) fail(ps, "bad number");
}

static void parse_value(parser *ps, int depth) {
  size_t at;
  if (depth > 200) fail(ps, "too deep");
  skip_ws(ps);
  if (ps->p >= ps->end) fail(ps, "unexpected end");
  switch (*ps->p) {
    case '{': {
      size_t n = 0, nonnull = 0;
      ps->p++;
      at = push_node(ps, T_OBJ);
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        break;
      }
      for (;;) {
        const char *k;
        size_t kn, child;
        int key;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') fail(ps, "key expected");
        ps->p++;
        k = read_string(ps, &kn);
        key = intern(ps, k, kn);
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') fail(ps, "':' expected");
        ps->p++;
        child = ps->t->len;
        parse_value(ps, depth + 1);
        ps->t->nodes[child].key = (uint32_t)key;
        if (ps->t->nodes[child].type != T_NULL) nonnull++;
        n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
          ps->p++;
          continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
          ps->p++;
          break;
        }
        fail(ps, "',' or '}' expected");
      }
      ps->t->nodes[at].n = n;
      ps->t->nodes[at].u.nonnull = nonnull;
      break;
    }
    case '[': {
      size_t n = 0;
      ps->p++;
      at = push_node(ps, T_ARR);
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        break;
      }
      for (;;) {
        parse_value(ps, depth + 1);
        n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
          ps->p++;
          continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
          ps->p++;
          break;
        }
        fail(ps, "',' or ']' expected");
      }
      ps->t->nodes[at].n = n;
      break;
    }
    case '"': {
      size_t n;
      const char *s;
      ps->p++;
      s = read_string(ps, &n);
      at = push_node(ps, T_STR);
      ps->t->nodes[at].u.s = s;
      ps->t->nodes[at].n = n;
      ps->t->nodes[at].val = count_value(ps, s, n);
      break;
    }
    case 't':
      if (ps->end - ps->p < 4 || memcmp(ps->p, "true", 4)) fail(ps, "bad value");
      ps->p += 4;
      push_node(ps, T_TRUE);
      break;
    case 'f':
      if (ps->end - ps->p < 5 || memcmp(ps->p, "false", 5)) fail(ps, "bad value");
      ps->p += 5;
      push_node(ps, T_FALSE);
      break;
    case 'n':
      if (ps->end - ps->p < 4 || memcmp(ps->p, "null", 4)) fail(ps, "bad value");
      ps->p += 4;
      push_node(ps, T_NULL);
      break;
    default:
      parse_number(ps);
  }
}

static int tree_gc(lua_State *L) {
  tree *t = (tree *)luaL_checkudata(L, 1, TREE_MT);
  free(t->text);
  free(t->nodes);
  t->text = NULL;
  t->nodes = NULL;
  return 0;
}

static void push_str_node(parser *ps, const char *s, size_t n) {
  size_t at = push_node(ps, T_STR);
  ps->t->nodes[at].u.s = s;
  ps->t->nodes[at].n = n;
  ps->t->nodes[at].val = count_value(ps, s, n);
}

/* floor.parse(text [, warnings]) -> tree, keys */
static int l_parse(lua_State *L) {
  size_t len, i, nw = 0;
  const char *s = luaL_checklstring(L, 1, &len);
  parser ps;
  tree *t;
  memset(&ps, 0, sizeof ps);
  lua_settop(L, 2);
  t = (tree *)lua_newuserdata(L, sizeof *t); /* 3 */
  memset(t, 0, sizeof *t);
  luaL_getmetatable(L, TREE_MT);
  lua_setmetatable(L, -2);
  lua_newtable(L); /* 4: keys */
  t->text = (char *)malloc(len + 1);
  if (!t->text) return luaL_error(L, "floor: out of memory");
  memcpy(t->text, s, len);
  t->text[len] = '\0';
  ps.L = L;
  ps.t = t;
  ps.p = t->text;
  ps.end = t->text + len;
  ps.keys = 4;
  parse_value(&ps, 0);
  skip_ws(&ps);
  if (ps.p != ps.end) fail(&ps, "trailing bytes");
  if (t->nodes[0].type != T_ARR) return luaL_error(L, "floor.parse: an array expected");
  t->runner_job = intern(&ps, "runner_job", 10);
  t->runner_jobs = intern(&ps, "runner_jobs", 11);
  t->k_path = intern(&ps, "path", 4);
  t->k_value = intern(&ps, "value", 5);
  t->k_enum = intern(&ps, "enum", 4);
  t->k_warnings = intern(&ps, "warnings", 8);
  /* warnings: T_WARN(n) then n x (path, value, enum) string nodes, strings
   * kept alive by the warnings table the caller holds (stored as uservalue
   * via the keys table, slot 0) */
  if (lua_istable(L, 2)) nw = lua_rawlen(L, 2);
  {
    size_t at = push_node(&ps, T_WARN);
    t->nodes[at].n = nw;
  }
  for (i = 1; i <= nw; i++) {
    static const char *const f[3] = {"path", "value", "enum"};
    int j;
    lua_rawgeti(L, 2, (int)i);
    for (j = 0; j < 3; j++) {
      size_t n = 0;
      const char *v;
      lua_getfield(L, -1, f[j]);
      v = lua_tolstring(L, -1, &n);
      if (v) push_str_node(&ps, v, n);
      else push_node(&ps, T_NULL);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, 4, 0); /* keeps the warnings' strings alive */
  /* a string that occurs more than once gets a slot in the per-build value
   * table (1..nrep), so each distinct text is made into a Lua string once */
  {
    int *rep = (int *)calloc((size_t)ps.vt.count + 1, sizeof *rep);
    if (!rep) return luaL_error(L, "floor: out of memory");
    for (i = 1; i <= (size_t)ps.vt.count; i++)
      if (ps.vt.uses[i] > 1) rep[i] = ++t->nrep;
    for (i = 0; i < t->len; i++)
      if (t->nodes[i].type == T_STR) t->nodes[i].val = (uint32_t)rep[t->nodes[i].val];
    free(rep);
  }
  free((void *)ps.kt.s);
  free(ps.kt.n);
  free(ps.kt.idx);
  free((void *)ps.vt.s);
  free(ps.vt.n);
  free(ps.vt.idx);
  free(ps.vt.uses);
  return 2;
}

/* ---- build (timed) ------------------------------------------------------ */

#define VALS 3 /* stack index of this build's table of repeated strings */

static const node *build(lua_State *L, const tree *t, const node *p, int keys) {
  switch (p->type) {
    case T_NULL: lua_pushnil(L); return p + 1;
    case T_FALSE: lua_pushboolean(L, 0); return p + 1;
    case T_TRUE: lua_pushboolean(L, 1); return p + 1;
    case T_INT: lua_pushinteger(L, (lua_Integer)p->u.i); return p + 1;
    case T_NUM: lua_pushnumber(L, p->u.d); return p + 1;
    case T_STR:
      if (p->val) { /* made once per build, then reused */
        lua_rawgeti(L, VALS, (int)p->val);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          lua_pushlstring(L, p->u.s, p->n);
          lua_pushvalue(L, -1);
          lua_rawseti(L, VALS, (int)p->val);
        }
      } else {
        lua_pushlstring(L, p->u.s, p->n);
      }
      return p + 1;
    case T_ARR: {
      int n = (int)p->n, i;
      luaL_checkstack(L, 4, "floor");
      lua_createtable(L, n, 0);
      p++;
      for (i = 1; i <= n; i++) {
        p = build(L, t, p, keys);
        lua_rawseti(L, -2, i);
      }
      return p;
    }
    case T_OBJ: {
      size_t n = p->n, i;
      int has_rj = 0, has_rjs = 0;
      luaL_checkstack(L, 4, "floor");
      lua_createtable(L, 0, (int)p->u.nonnull);
      p++;
      for (i = 0; i < n; i++) {
        if (p->type == T_NULL) {
          p++;
          continue;
        }
        if ((int)p->key == t->runner_job) has_rj = 1;
        else if ((int)p->key == t->runner_jobs && p->type == T_ARR && p->n) has_rjs = 1;
        lua_rawgeti(L, keys, (int)p->key);
        p = build(L, t, p, keys);
        lua_rawset(L, -3);
      }
      if (has_rjs && !has_rj) {
        lua_rawgeti(L, keys, t->runner_job);
        lua_rawgeti(L, keys, t->runner_jobs);
        lua_rawget(L, -3);
        lua_rawgeti(L, -1, 1);
        lua_replace(L, -2);
        lua_rawset(L, -3);
      }
      return p;
    }
    default: luaL_error(L, "floor: bad node"); return p;
  }
}

/* floor.build(tree, keys) -> runs */
static int l_build(lua_State *L) {
  tree *t = (tree *)luaL_checkudata(L, 1, TREE_MT);
  const node *p;
  size_t nw, i;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_createtable(L, t->nrep, 0); /* VALS */
  p = build(L, t, t->nodes, 2);
  /* runs.warnings */
  nw = p->n;
  p++;
  lua_rawgeti(L, 2, t->k_warnings);
  lua_createtable(L, (int)nw, 0);
  for (i = 1; i <= nw; i++) {
    lua_createtable(L, 0, 3);
    lua_rawgeti(L, 2, t->k_path);
    p = build(L, t, p, 2);
    lua_rawset(L, -3);
    lua_rawgeti(L, 2, t->k_value);
    p = build(L, t, p, 2);
    lua_rawset(L, -3);
    lua_rawgeti(L, 2, t->k_enum);
    p = build(L, t, p, 2);
    lua_rawset(L, -3);
    lua_rawseti(L, -2, (int)i);
  }
  lua_rawset(L, 4);
  return 1;
}

/* floor.nodes(tree) -> node count (for the report) */
static int l_nodes(lua_State *L) {
  tree *t = (tree *)luaL_checkudata(L, 1, TREE_MT);
  lua_pushinteger(L, (lua_Integer)t->len);
  return 1;
}

/* floor.trim() -> true | false: gives the C heap's free pages back to the
 * system (malloc_trim), so that a resident-set baseline counts live memory
 * only and what is measured next cannot hide in pages freed earlier. */
static int l_trim(lua_State *L) {
#ifdef HAVE_MALLOC_TRIM
  malloc_trim(0);
  lua_pushboolean(L, 1);
#else
  lua_pushboolean(L, 0);
#endif
  return 1;
}

static const luaL_Reg funcs[] = {
  {"parse", l_parse}, {"build", l_build}, {"nodes", l_nodes}, {"trim", l_trim}, {NULL, NULL}};

int luaopen_floor(lua_State *L);
int luaopen_floor(lua_State *L) {
  if (luaL_newmetatable(L, TREE_MT)) {
    lua_pushcfunction(L, tree_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_setfuncs(L, funcs, 0);
  return 1;
}
