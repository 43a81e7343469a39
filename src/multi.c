/*
 * multi.c - c:batch(concurrency, next, done [, strict]): many requests at
 * once on one thread, through libcurl's multi interface, driven by two Lua
 * functions that decide what to fetch:
 *
 *   next() -> key, install_id, limit, offset    the next request, or nil
 *   done(key, runs, err)                         a request's result
 *
 * Up to `concurrency` requests are in flight; a slot that frees is handed the
 * next request at once.  next() is asked whenever a slot is idle, and again
 * after every done() (a result may make more work: the next page of an
 * install); the batch ends when no request is in flight and next() has
 * nothing.  Each request is retried on its own (the same rules as a single
 * call) while the others go on.  Connections, DNS and TLS sessions are
 * shared with the client's other calls (http.c), and over HTTP/2 concurrent
 * requests to one host multiplex on one connection: a new request waits for
 * a connection that may multiplex (CURLOPT_PIPEWAIT) rather than opening
 * another.  The Lua functions are called from the driving loop, never from a
 * libcurl callback.  nuon.client builds sandbox_runs_many and
 * all_sandbox_runs_many on this (nuon.fleet decides the pages).
 *
 * The slots (easy handles and their transfers) belong to a "batch" userdata
 * with __gc, created before any handle is made.  The transfers are driven
 * under lua_pcall: a Lua error (in next or done, or out of memory) first
 * takes every handle out of the client's multi handle and frees it, then is
 * raised again.  (Left to __gc, the handles would stay in the multi handle,
 * where the client's next batch would meet them, and a client closed before
 * the batch was collected would be used after its free.)
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nuon.h"

#define BATCH_MT "nuon.batch"
#define MAX_CONCURRENCY 256

enum { SLOT_IDLE, SLOT_RUNNING, SLOT_WAITING };

typedef struct slot {
  CURL *easy;
  nuon_transfer t;
  int state;
  int key;     /* the request's key, at keys[index of the slot + 1] */
  int attempt;
  double wake_at; /* monotonic seconds, for SLOT_WAITING */
} slot;

typedef struct batch {
  CURLM *multi; /* borrowed from the client */
  slot *slots;
  int n;
} batch;

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
  int i, https = strncasecmp(c->base_url, "https://", 8) == 0;
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
    /* over TLS, where ALPN tells at the handshake whether the server speaks
     * HTTP/2, wait for a connection that may multiplex instead of opening
     * one per request; in cleartext libcurl would only know from the first
     * response, holding every other request of the first wave until then */
    if (https) curl_easy_setopt(s->easy, CURLOPT_PIPEWAIT, 1L);
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
  nuon_decode_opts opts;
} job;

/* Stack slots of drive()'s arguments. */
enum { ARG_JOB = 1, ARG_NEXT, ARG_DONE, ARG_KEYS };

/* Asks next() for a request and starts it in slot s: 1, or 0 when next()
 * has none. */
static int slot_assign(lua_State *L, const job *j, slot *s, int index) {
  size_t n;
  const char *id;
  long long limit, offset;
  lua_pushvalue(L, ARG_NEXT);
  lua_call(L, 0, 4);
  if (lua_isnil(L, -4)) {
    lua_pop(L, 4);
    return 0;
  }
  id = nuon_check_id(L, -3, &n);
  limit = nuon_opt_count(L, -2);
  offset = nuon_opt_count(L, -1);
  nuon_client_push_url(L, j->c, id, n, limit, offset, -1);
  curl_easy_setopt(s->easy, CURLOPT_URL, lua_tostring(L, -1)); /* libcurl copies it */
  lua_pop(L, 1);
  lua_pop(L, 3);
  lua_rawseti(L, ARG_KEYS, index + 1); /* the key */
  s->attempt = 0;
  slot_start(L, j->b, s);
  return 1;
}

/* Gives a finished slot's result to done(key, runs, err), the token
 * scrubbed from an error. */
static void slot_finish(lua_State *L, const job *j, slot *s, int index, const nuon_outcome *o) {
  lua_pushvalue(L, ARG_DONE);
  lua_rawgeti(L, ARG_KEYS, index + 1);
  lua_pushnil(L);
  lua_rawseti(L, ARG_KEYS, index + 1);
  if (nuon_transfer_push_result(L, &s->t, o, s->attempt, &j->opts)) {
    lua_pushnil(L);
  } else {
    nuon_error_scrub(L, -1, j->c->headers);
    lua_pushnil(L);
    lua_insert(L, -2);
  }
  if (s->t.cap > 4u * 1024 * 1024) nuon_transfer_free(&s->t);
  s->state = SLOT_IDLE;
  lua_call(L, 3, 0);
}

/* drive(job, next, done, keys): runs requests until next() has none and
 * none is in flight.  Called under lua_pcall. */
static int drive(lua_State *L) {
  const job *j = (const job *)lua_touserdata(L, ARG_JOB);
  nuon_client *c = j->c;
  batch *b = j->b;
  int more = 1, active, i;

  for (;;) {
    int running = 0, waiting = 0, msgs;
    double now = nuon_now(), wake = now + 1.0;
    CURLMsg *m;

    /* hand out requests to idle slots; restart slots whose backoff is over */
    for (i = 0; i < b->n; i++) {
      slot *s = &b->slots[i];
      if (s->state == SLOT_IDLE && more) more = slot_assign(L, j, s, i);
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
        s->wake_at = nuon_now() + nuon_backoff_delay(&c->rng, s->attempt, NUON_BACKOFF_BASE,
                                                     c->max_backoff,
                                                     nuon_transfer_retry_after(&s->t));
        waiting++;
        if (s->wake_at < wake) wake = s->wake_at;
      } else {
        slot_finish(L, j, s, (int)(s - b->slots), &o);
        more = 1; /* a result may make more work */
      }
    }

    active = 0;
    for (i = 0; i < b->n; i++)
      if (b->slots[i].state != SLOT_IDLE) active++;
    if (active == 0 && !more) break;
    /* idle slots get work at the top, before waiting on the others: a slot
     * freed while others are still running must not wait for their replies */
    if (active == 0 || (active < b->n && more)) continue;
    if (running == 0 && waiting) {
      nuon_sleep(wake - nuon_now());
    } else {
      double wait_ms = (wake - nuon_now()) * 1000;
      curl_multi_poll(b->multi, NULL, 0, wait_ms < 0 ? 0 : wait_ms > 1000 ? 1000 : (int)wait_ms,
                      NULL);
    }
  }
  return 0;
}

int nuon_multi_batch(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  int concurrency;
  job j;

  concurrency = (int)nuon_opt_count(L, 2);
  luaL_argcheck(L, concurrency >= 1 && concurrency <= MAX_CONCURRENCY, 2,
                "concurrency must be 1..256");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  j.c = c;
  j.opts = nuon_client_decode_opts(L, c, 5);
  lua_settop(L, 5);
  if (!c->curl) return luaL_error(L, "attempt to use a closed nuon client");
  if (!c->multi) {
    c->multi = curl_multi_init();
    if (!c->multi) return luaL_error(L, "nuon: curl_multi_init failed");
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_CONCURRENCY);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  }
  j.b = new_batch(L, c, concurrency); /* at 6 */

  lua_pushcfunction(L, drive);
  lua_pushlightuserdata(L, &j);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_createtable(L, concurrency, 0); /* keys of the requests in flight */
  if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
    batch_release(j.b); /* before anything else can use the multi handle */
    return lua_error(L);
  }
  batch_release(j.b); /* the connections stay in the multi handle's cache */
  return 0;
}
