/*
 * multi.c - c:sandbox_runs_many(ids, concurrency [, limit, offset, strict]):
 * one request per install, up to `concurrency` at once on one thread, through
 * libcurl's multi interface.  Each request is retried on its own (the same
 * rules as a single call) while the others go on; connections are reused
 * through the client's multi handle, which lives as long as the client.
 *
 * The slots (easy handles and their transfers) belong to a "batch" userdata
 * with __gc, created before any handle is made, so a Lua error while results
 * are built (out of memory) leaks nothing and leaves the multi handle clean.
 *
 * Returns results[id] = { runs = ... } or { err = ... } for every id.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nuon.h"

#define BATCH_MT "nuon.batch"
#define MAX_CONCURRENCY 256

enum { SLOT_IDLE, SLOT_RUNNING, SLOT_WAITING };

typedef struct slot {
  CURL *easy;
  nuon_transfer t;
  int state;
  int id_index; /* position of the install id in the ids sequence */
  int attempt;
  double wake_at; /* monotonic seconds, for SLOT_WAITING */
} slot;

typedef struct batch {
  CURLM *multi; /* borrowed from the client */
  slot *slots;
  int n;
} batch;

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int batch_gc(lua_State *L) {
  batch *b = (batch *)luaL_checkudata(L, 1, BATCH_MT);
  int i;
  for (i = 0; b->slots && i < b->n; i++) {
    slot *s = &b->slots[i];
    if (s->easy) {
      if (s->state == SLOT_RUNNING && b->multi) curl_multi_remove_handle(b->multi, s->easy);
      curl_easy_cleanup(s->easy);
      s->easy = NULL;
    }
    nuon_transfer_free(&s->t);
  }
  free(b->slots);
  b->slots = NULL;
  b->n = 0;
  return 0;
}

static batch *new_batch(lua_State *L, nuon_client *c, int n) {
  batch *b = (batch *)nuon_newuserdata(L, sizeof *b);
  int i;
  memset(b, 0, sizeof *b);
  if (luaL_newmetatable(L, BATCH_MT)) {
    lua_pushcfunction(L, batch_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  b->multi = c->multi;
  b->slots = calloc((size_t)n, sizeof *b->slots);
  if (!b->slots) luaL_error(L, "nuon: out of memory");
  b->n = n;
  for (i = 0; i < n; i++) {
    slot *s = &b->slots[i];
    s->easy = curl_easy_duphandle(c->curl); /* same options, headers, TLS */
    if (!s->easy) luaL_error(L, "nuon: curl_easy_duphandle failed");
    s->t.max_body = c->t.max_body;
    nuon_transfer_attach(&s->t, s->easy);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (void *)s);
  }
  return b;
}

/* Starts (or restarts) the slot's request; the URL was set when assigned. */
static int slot_start(lua_State *L, batch *b, slot *s) {
  nuon_transfer_reset(&s->t);
  s->attempt++;
  s->state = SLOT_RUNNING;
  if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK) {
    s->state = SLOT_IDLE;
    return luaL_error(L, "nuon: curl_multi_add_handle failed");
  }
  return 0;
}

/* Stores results[id] = { runs = ... } or { err = ... } for a finished slot. */
static void store_result(lua_State *L, int ids, int results, slot *s, const nuon_outcome *o,
                         const nuon_decode_opts *opts) {
  lua_rawgeti(L, ids, s->id_index);  /* the id */
  lua_createtable(L, 0, 2);
  if (nuon_transfer_push_result(L, &s->t, o, s->attempt, opts)) {
    lua_setfield(L, -2, "runs");
  } else {
    lua_setfield(L, -2, "err");
  }
  lua_rawset(L, results);
  if (s->t.cap > 4u * 1024 * 1024) nuon_transfer_free(&s->t);
  s->state = SLOT_IDLE;
}

int nuon_multi_sandbox_runs_many(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  int concurrency, nids, next = 1, ids = 2, results, active, i;
  long long limit, offset;
  nuon_decode_opts opts;
  batch *b;

  luaL_checktype(L, 2, LUA_TTABLE);
  concurrency = (int)luaL_optinteger(L, 3, 8);
  luaL_argcheck(L, concurrency >= 1 && concurrency <= MAX_CONCURRENCY, 3,
                "concurrency must be 1..256");
  limit = nuon_opt_count(L, 4);
  offset = nuon_opt_count(L, 5);
  opts.strict = lua_isnoneornil(L, 6) ? c->strict : lua_toboolean(L, 6);
  opts.max_depth = NUON_DEFAULT_MAX_DEPTH;
  lua_settop(L, 6);
  if (!c->curl) {
    lua_pushnil(L);
    nuon_error_push(L, "config", "the client is closed");
    return 2;
  }
  nids = (int)nuon_rawlen(L, ids);
  for (i = 1; i <= nids; i++) {
    size_t n;
    lua_rawgeti(L, ids, i);
    if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &n), n == 0))
      return luaL_argerror(L, 2, "install ids must be non-empty strings");
    lua_pop(L, 1);
  }
  if (!c->multi) {
    c->multi = curl_multi_init();
    if (!c->multi) return luaL_error(L, "nuon: curl_multi_init failed");
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_CONCURRENCY);
  }
  if (concurrency > nids) concurrency = nids > 0 ? nids : 1;
  lua_createtable(L, 0, nids);
  results = lua_gettop(L);
  b = new_batch(L, c, concurrency);

  for (;;) {
    int running = 0, waiting = 0, msgs;
    double now = now_mono(), wake = now + 1.0;
    CURLMsg *m;

    /* hand out ids to idle slots; restart slots whose backoff is over */
    for (i = 0; i < b->n; i++) {
      slot *s = &b->slots[i];
      while (s->state == SLOT_IDLE && next <= nids) {
        size_t n;
        const char *id;
        lua_rawgeti(L, ids, next);
        lua_pushvalue(L, -1);
        lua_rawget(L, results);
        if (!lua_isnil(L, -1)) { /* a repeated id: already fetched or on its way */
          lua_pop(L, 2);
          next++;
          continue;
        }
        lua_pop(L, 1);
        lua_pushboolean(L, 0); /* placeholder so repeats are skipped */
        lua_rawset(L, results);
        lua_rawgeti(L, ids, next);
        id = lua_tolstring(L, -1, &n);
        nuon_client_push_url(L, c, id, n, limit, offset, -1);
        curl_easy_setopt(s->easy, CURLOPT_URL, lua_tostring(L, -1));
        lua_pop(L, 2);
        s->id_index = next++;
        s->attempt = 0;
        slot_start(L, b, s);
      }
      if (s->state == SLOT_WAITING) {
        if (s->wake_at <= now) slot_start(L, b, s);
        else if (s->wake_at < wake) wake = s->wake_at;
      }
      if (s->state == SLOT_WAITING) waiting++;
    }

    curl_multi_perform(b->multi, &running);
    while ((m = curl_multi_info_read(b->multi, &msgs)) != NULL) {
      slot *s = NULL;
      nuon_outcome o;
      if (m->msg != CURLMSG_DONE) continue;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      o = nuon_transfer_outcome(&s->t, s->easy, m->data.result);
      curl_multi_remove_handle(b->multi, s->easy);
      s->state = SLOT_IDLE;
      if (o.retryable && s->attempt <= c->retries) {
        s->state = SLOT_WAITING;
        s->wake_at = now_mono() + nuon_backoff_delay(&c->rng, s->attempt, NUON_BACKOFF_BASE,
                                                     c->max_backoff,
                                                     nuon_transfer_retry_after(&s->t));
        waiting++;
        if (s->wake_at < wake) wake = s->wake_at;
      } else {
        store_result(L, ids, results, s, &o, &opts);
      }
    }

    active = 0;
    for (i = 0; i < b->n; i++)
      if (b->slots[i].state != SLOT_IDLE) active++;
    if (active == 0 && next > nids) break;
    if (active == 0) continue; /* idle slots get work at the top */
    if (running == 0 && waiting) {
      nuon_sleep(wake - now_mono());
    } else {
      double wait_ms = (wake - now_mono()) * 1000;
      curl_multi_poll(b->multi, NULL, 0, wait_ms < 0 ? 0 : wait_ms > 1000 ? 1000 : (int)wait_ms,
                      NULL);
    }
  }
  lua_pushvalue(L, results);
  return 1;
}
