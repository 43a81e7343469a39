/*
 * multi.c - c:sandbox_runs_many(ids, concurrency [, limit, offset, strict]):
 * one request per install, up to `concurrency` at once on one thread, through
 * libcurl's multi interface.  Each request is retried on its own (the same
 * rules as a single call) while the others go on; connections are reused
 * through the client's multi handle, which lives as long as the client.
 *
 * The slots (easy handles and their transfers) belong to a "batch" userdata
 * with __gc, created before any handle is made.  The transfers are driven
 * under lua_pcall: a Lua error while results are built (out of memory) first
 * takes every handle out of the client's multi handle and frees it, then is
 * raised again.  (Left to __gc, the handles would stay in the multi handle,
 * where the client's next sandbox_runs_many would meet them, and a client
 * closed before the batch was collected would be used after its free.)
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

/* Takes the running handles out of the multi handle and frees every slot.
 * Safe twice. */
static void batch_release(batch *b) {
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
}

static int batch_gc(lua_State *L) {
  batch_release((batch *)luaL_checkudata(L, 1, BATCH_MT));
  return 0;
}

static batch *new_batch(lua_State *L, nuon_client *c, int n) {
  batch *b = (batch *)nuon_newuserdata(L, sizeof *b);
  int i;
  memset(b, 0, sizeof *b);
  lua_getfield(L, LUA_REGISTRYINDEX, BATCH_MT);
  if (lua_isnil(L, -1)) {
    /* registered only once complete: a memory error half-way must not leave
     * a metatable without __gc for every later batch */
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, batch_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, BATCH_MT);
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

/* What the driving loop needs besides the Lua values it is called with. */
typedef struct job {
  nuon_client *c;
  batch *b;
  int nids;
  long long limit, offset;
  nuon_decode_opts opts;
} job;

/* Stores results[id] = { runs = ... } or { err = ... } for a finished slot,
 * the token scrubbed from an error. */
static void store_result(lua_State *L, const nuon_client *c, int ids, int results, slot *s,
                         const nuon_outcome *o, const nuon_decode_opts *opts) {
  lua_rawgeti(L, ids, s->id_index);  /* the id */
  lua_createtable(L, 0, 2);
  if (nuon_transfer_push_result(L, &s->t, o, s->attempt, opts)) {
    lua_setfield(L, -2, "runs");
  } else {
    nuon_error_scrub(L, -1, c->headers);
    lua_setfield(L, -2, "err");
  }
  lua_rawset(L, results);
  if (s->t.cap > 4u * 1024 * 1024) nuon_transfer_free(&s->t);
  s->state = SLOT_IDLE;
}

/* drive(job, ids, results): runs the batch until every id has its result.
 * Called under lua_pcall. */
static int drive(lua_State *L) {
  const job *j = (const job *)lua_touserdata(L, 1);
  nuon_client *c = j->c;
  batch *b = j->b;
  int nids = j->nids, next = 1, ids = 2, results = 3, active, i;
  long long limit = j->limit, offset = j->offset;
  nuon_decode_opts opts = j->opts;

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
        store_result(L, c, ids, results, s, &o, &opts);
      }
    }

    active = 0;
    for (i = 0; i < b->n; i++)
      if (b->slots[i].state != SLOT_IDLE) active++;
    if (active == 0 && next > nids) break;
    /* idle slots get work at the top, before waiting on the others: a slot
     * freed while others are still running must not wait for their replies */
    if (active == 0 || (active < b->n && next <= nids)) continue;
    if (running == 0 && waiting) {
      nuon_sleep(wake - now_mono());
    } else {
      double wait_ms = (wake - now_mono()) * 1000;
      curl_multi_poll(b->multi, NULL, 0, wait_ms < 0 ? 0 : wait_ms > 1000 ? 1000 : (int)wait_ms,
                      NULL);
    }
  }
  return 0;
}

int nuon_multi_sandbox_runs_many(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  int concurrency, ids = 2, results, i;
  job j;

  luaL_checktype(L, 2, LUA_TTABLE);
  concurrency = (int)luaL_optinteger(L, 3, 8);
  luaL_argcheck(L, concurrency >= 1 && concurrency <= MAX_CONCURRENCY, 3,
                "concurrency must be 1..256");
  j.c = c;
  j.limit = nuon_opt_count(L, 4);
  j.offset = nuon_opt_count(L, 5);
  j.opts = nuon_client_decode_opts(L, c, 6);
  lua_settop(L, 6);
  if (!c->curl) {
    lua_pushnil(L);
    nuon_error_push(L, "config", "the client is closed");
    return 2;
  }
  j.nids = (int)nuon_rawlen(L, ids);
  for (i = 1; i <= j.nids; i++) {
    size_t n;
    lua_rawgeti(L, ids, i);
    if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &n), n == 0))
      return luaL_argerror(L, 2, "install ids must be non-empty strings");
    nuon_check_id(L, -1, &n);
    lua_pop(L, 1);
  }
  if (!c->multi) {
    c->multi = curl_multi_init();
    if (!c->multi) return luaL_error(L, "nuon: curl_multi_init failed");
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_CONCURRENCY);
  }
  if (concurrency > j.nids) concurrency = j.nids > 0 ? j.nids : 1;
  lua_createtable(L, 0, j.nids);
  results = lua_gettop(L);
  j.b = new_batch(L, c, concurrency);

  lua_pushcfunction(L, drive);
  lua_pushlightuserdata(L, &j);
  lua_pushvalue(L, ids);
  lua_pushvalue(L, results);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    batch_release(j.b); /* before anything else can use the multi handle */
    return lua_error(L);
  }
  batch_release(j.b); /* the connections stay in the multi handle's cache */
  lua_pushvalue(L, results);
  return 1;
}
