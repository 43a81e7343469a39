/*
 * multi.c - many requests at once on one thread, through libcurl's multi
 * interface, decided by two Lua functions:
 *
 *   next() -> key, install_id, limit, offset    the next request, or nil
 *   done(key, runs, err)                         a request's result
 *
 *   c:batch(concurrency, next, done [, strict, known_values])
 *       runs them to the end, blocking (the client's multi handle, so
 *       connections stay for the next batch)
 *   c:start_batch(concurrency, next, done [, strict, known_values, result])
 *       the same for an event loop: a nuon.batch with the methods of a
 *       nuon.request (sockets, timeout, step, done, result, perform, close);
 *       its own multi handle and copies of what it needs from the client, so
 *       it stays valid when the client is closed first.  result() returns
 *       what the `result` function returns.
 *
 * Up to `concurrency` requests are in flight; a slot that frees is handed the
 * next request at once.  next() is asked whenever a slot is idle, and again
 * after every done() (a result may make more work: the next page of an
 * install); the batch ends when no request is in flight and next() has
 * nothing.  Each request is retried on its own (the client's rules) while the
 * others go on.  One state machine (pump) serves both drivers.  Over HTTP/2
 * concurrent requests to one host multiplex on one connection: a new request
 * waits for a connection that may multiplex (CURLOPT_PIPEWAIT) rather than
 * opening another.  next() and done() are called from the drivers, never from
 * a libcurl callback.  nuon.client builds sandbox_runs_many and
 * all_sandbox_runs_many on this (nuon.fleet decides the pages).
 *
 * The slots (easy handles and their transfers) belong to the batch userdata
 * (__gc), created before any handle is made.  The blocking driver runs under
 * lua_pcall: a Lua error (in next or done, or out of memory) first takes every
 * handle out of the client's multi handle and frees it, then is raised again.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nuon.h"

#define BATCH_MT "nuon.batch"

enum { SLOT_IDLE, SLOT_RUNNING, SLOT_WAITING };

typedef struct slot {
  CURL *easy;
  nuon_transfer t;
  int state;
  nuon_attempts a; /* a.wake_at: when the next attempt is due (SLOT_WAITING) */
} slot;

typedef struct batch {
  CURLM *multi;                 /* the client's (blocking) or its own (event) */
  int event;                    /* driven by an event loop: owns what follows */
  nuon_protocol *p;             /* the client's (blocking) or &own (event) */
  nuon_protocol own;            /* event: a copy of the client's */
  nuon_decode_opts opts;        /* opts.known: 0, or set to a stack index when used */
  int has_known;
  slot *slots;
  int n;
  int more;                     /* next() may have work */
  int finished;                 /* event: nothing in flight, next() had nothing */
  nuon_watch w;                 /* event: the sockets and timer to watch */
  nuon_wsock *socks;
  int ref;                      /* event: registry reference of its Lua values */
} batch;

/* Takes the running handles out of the multi handle and frees every slot
 * (and, in event mode, the multi handle and copies).  Safe twice. */
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
  if (b->event) {
    if (b->multi) curl_multi_cleanup(b->multi);
    nuon_protocol_free(&b->own);
    free(b->socks);
    b->socks = NULL;
  }
  b->multi = NULL;
  b->p = NULL;
  b->finished = 1;
}

/* __gc, __close and close: also lets go of the Lua values */
static int batch_gc(lua_State *L) {
  batch *b = (batch *)luaL_checkudata(L, 1, BATCH_MT);
  batch_release(b);
  luaL_unref(L, LUA_REGISTRYINDEX, b->ref);
  b->ref = LUA_NOREF;
  return 0;
}

static void ensure_metatable(lua_State *L);

/* A new batch of n slots for client c (event: with its own multi handle). */
static batch *new_batch(lua_State *L, nuon_client *c, int n, int event) {
  batch *b = (batch *)nuon_newuserdata(L, sizeof *b);
  int i, https = strncasecmp(c->p.base_url, "https://", 8) == 0;
  memset(b, 0, sizeof *b);
  b->ref = LUA_NOREF;
  b->event = event;
  ensure_metatable(L);
  lua_setmetatable(L, -2);
  b->more = 1;
  if (event) {
    b->p = &b->own;
    if (!nuon_protocol_copy(&b->own, &c->p)) luaL_error(L, "nuon: out of memory");
    b->socks = calloc((size_t)(2 * n + 8), sizeof *b->socks);
    b->multi = curl_multi_init();
    if (!b->socks || !b->multi) luaL_error(L, "nuon: out of memory");
    curl_multi_setopt(b->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)NUON_MAX_CONCURRENCY);
    curl_multi_setopt(b->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    nuon_watch_attach(&b->w, b->multi, b->socks, 2 * n + 8);
  } else {
    b->multi = c->multi;
    b->p = &c->p;
  }
  b->slots = calloc((size_t)n, sizeof *b->slots);
  if (!b->slots) luaL_error(L, "nuon: out of memory");
  b->n = n;
  for (i = 0; i < n; i++) {
    slot *s = &b->slots[i];
    s->easy = curl_easy_duphandle(c->curl); /* same options, headers, TLS */
    if (!s->easy) luaL_error(L, "nuon: curl_easy_duphandle failed");
    if (event) { /* the batch may outlive the client: nothing of it borrowed */
      curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, b->p->headers);
      curl_easy_setopt(s->easy, CURLOPT_SHARE, NULL);
    }
    s->t.max_body = b->p->max_body;
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
  nuon_attempt_started(&s->a);
  s->state = SLOT_RUNNING;
  if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK) {
    s->state = SLOT_IDLE;
    return luaL_error(L, "nuon: curl_multi_add_handle failed");
  }
  return 0;
}

/* Where the Lua values of a turn are on the stack. */
typedef struct fns {
  int next, done, keys; /* known_values: b->opts.known (0: none) */
} fns;

/* Asks next() for a request and starts it in slot s: 1, or 0 when next()
 * has none. */
static int slot_assign(lua_State *L, batch *b, const fns *f, slot *s, int index) {
  size_t n;
  const char *id;
  long long limit, offset;
  lua_pushvalue(L, f->next);
  lua_call(L, 0, 4);
  if (lua_isnil(L, -4)) {
    lua_pop(L, 4);
    return 0;
  }
  id = nuon_check_id(L, -3, &n);
  limit = nuon_opt_count(L, -2);
  offset = nuon_opt_count(L, -1);
  nuon_push_url(L, b->p, id, n, NULL, 0, limit, offset, -1);
  curl_easy_setopt(s->easy, CURLOPT_URL, lua_tostring(L, -1)); /* libcurl copies it */
  lua_pop(L, 1);
  lua_pop(L, 3);
  lua_rawseti(L, f->keys, index + 1); /* the key */
  memset(&s->a, 0, sizeof s->a);
  slot_start(L, b, s);
  return 1;
}

/* Gives a finished slot's result to done(key, runs, err), the token
 * scrubbed from an error. */
static void slot_finish(lua_State *L, batch *b, const fns *f, slot *s, int index) {
  lua_pushvalue(L, f->done);
  lua_rawgeti(L, f->keys, index + 1);
  lua_pushnil(L);
  lua_rawseti(L, f->keys, index + 1);
  if (nuon_return_result(L, &s->t, &s->a, &b->opts, b->p) == 1) lua_pushnil(L);
  if (s->t.cap > 4u * 1024 * 1024) nuon_transfer_free(&s->t);
  s->state = SLOT_IDLE;
  lua_call(L, 3, 0);
}

/* One turn of the state machine both drivers share: finished transfers go to
 * a retry (after a backoff) or to done(); idle slots get requests from next();
 * slots whose backoff is over start again.  Returns the slots busy (running or
 * waiting); *waiting counts the waiting ones, *wake is the earliest end of a
 * backoff (or now + 1 s), *progressed whether anything started or finished. */
static int pump(lua_State *L, batch *b, const fns *f, int *waiting, double *wake,
                int *progressed) {
  CURLMsg *m;
  int msgs, i, active = 0;
  double now;
  *progressed = 0;
  while ((m = curl_multi_info_read(b->multi, &msgs)) != NULL) {
    slot *s = NULL;
    nuon_outcome o;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    o = nuon_transfer_outcome(&s->t, s->easy, m->data.result);
    curl_multi_remove_handle(b->multi, s->easy);
    s->state = SLOT_IDLE;
    *progressed = 1;
    if (nuon_attempt_ended(&s->a, b->p, o, &s->t)) {
      s->state = SLOT_WAITING;
    } else {
      slot_finish(L, b, f, s, (int)(s - b->slots));
      b->more = 1; /* a result may make more work */
    }
  }
  now = nuon_now();
  *wake = now + 1.0;
  *waiting = 0;
  for (i = 0; i < b->n; i++) {
    slot *s = &b->slots[i];
    if (s->state == SLOT_IDLE && b->more) {
      b->more = slot_assign(L, b, f, s, i);
      if (s->state == SLOT_RUNNING) *progressed = 1;
    }
    if (s->state == SLOT_WAITING) {
      if (s->a.wake_at <= now) {
        slot_start(L, b, s);
        *progressed = 1;
      } else {
        if (s->a.wake_at < *wake) *wake = s->a.wake_at;
        (*waiting)++;
      }
    }
    if (s->state != SLOT_IDLE) active++;
  }
  return active;
}

/* ---- blocking: c:batch --------------------------------------------------- */

/* Stack slots of drive()'s arguments. */
enum { ARG_BATCH = 1, ARG_NEXT, ARG_DONE, ARG_KEYS, ARG_KNOWN };

/* drive(batch, next, done, keys, known_values): runs requests until next()
 * has none and none is in flight.  Called under lua_pcall. */
static int drive(lua_State *L) {
  batch *b = (batch *)lua_touserdata(L, ARG_BATCH);
  fns f = {ARG_NEXT, ARG_DONE, ARG_KEYS};
  for (;;) {
    int running = 0, waiting, progressed, active;
    double wake;
    curl_multi_perform(b->multi, &running);
    active = pump(L, b, &f, &waiting, &wake, &progressed);
    if (active == 0) break;
    /* started or finished something: let libcurl act on it before waiting */
    if (progressed) continue;
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

/* Reads (concurrency, next, done, strict, known_values) at 2..6. */
static int read_args(lua_State *L, nuon_client *c, nuon_decode_opts *opts) {
  int concurrency = (int)nuon_opt_count(L, 2);
  luaL_argcheck(L, concurrency >= 1 && concurrency <= NUON_MAX_CONCURRENCY, 2,
                "concurrency must be 1..256");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  *opts = nuon_protocol_decode_opts(L, &c->p, 5, 6);
  return concurrency;
}

int nuon_multi_batch(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  nuon_decode_opts opts;
  int concurrency = read_args(L, c, &opts);
  batch *b;
  lua_settop(L, 6);
  nuon_check_open_client(L);
  if (!c->multi) {
    c->multi = curl_multi_init();
    if (!c->multi) return luaL_error(L, "nuon: curl_multi_init failed");
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)NUON_MAX_CONCURRENCY);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  }
  b = new_batch(L, c, concurrency, 0); /* at 7 */
  b->opts = opts;
  if (b->opts.known) b->opts.known = ARG_KNOWN; /* where drive() has it */

  lua_pushcfunction(L, drive);
  lua_pushvalue(L, 7);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_createtable(L, concurrency, 0); /* keys of the requests in flight */
  lua_pushvalue(L, 6);                 /* known_values (nil: none) */
  if (lua_pcall(L, 5, 0, 0) != LUA_OK) {
    batch_release(b); /* before anything else can use the multi handle */
    return lua_error(L);
  }
  batch_release(b); /* the connections stay in the multi handle's cache */
  return 0;
}

/* ---- event loops: c:start_batch ------------------------------------------ */

/* The batch's Lua values: a table in the registry (b->ref). */
enum { UV_NEXT = 1, UV_DONE, UV_KEYS, UV_KNOWN, UV_RESULT };

static batch *check_batch(lua_State *L) {
  return (batch *)luaL_checkudata(L, 1, BATCH_MT);
}

/* One event-loop turn: libcurl acts on fd (or its timer), then pump. */
static void event_step(lua_State *L, batch *b, curl_socket_t fd, int mask) {
  fns f;
  int running = 0, waiting, progressed, active, base = lua_gettop(L);
  double wake;
  if (b->finished) return;
  curl_multi_socket_action(b->multi, fd, mask, &running);
  lua_rawgeti(L, LUA_REGISTRYINDEX, b->ref);
  lua_rawgeti(L, -1, UV_NEXT);
  f.next = lua_gettop(L);
  lua_rawgeti(L, base + 1, UV_DONE);
  f.done = lua_gettop(L);
  lua_rawgeti(L, base + 1, UV_KEYS);
  f.keys = lua_gettop(L);
  lua_rawgeti(L, base + 1, UV_KNOWN);
  b->opts.known = b->has_known ? lua_gettop(L) : 0;
  do {
    active = pump(L, b, &f, &waiting, &wake, &progressed);
    /* new transfers: libcurl's timer says when to act (at once) */
  } while (active == 0 && b->more);
  b->opts.known = 0;
  lua_settop(L, base);
  if (active == 0 || b->w.overflow) {
    b->finished = 1;
    batch_release(b);
  }
}

static int batch_step(lua_State *L) {
  batch *b = check_batch(L);
  if (lua_isnoneornil(L, 2)) event_step(L, b, CURL_SOCKET_TIMEOUT, 0);
  else event_step(L, b, (curl_socket_t)luaL_checkinteger(L, 2), nuon_watch_events(L, 3));
  lua_pushboolean(L, b->finished);
  return 1;
}

static int batch_sockets(lua_State *L) {
  batch *b = check_batch(L);
  if (b->finished) lua_newtable(L);
  else nuon_watch_push_sockets(L, &b->w);
  return 1;
}

/* Seconds until step() is due anyway: libcurl's timer or the end of a
 * backoff, whichever comes first; nil when finished. */
static int batch_timeout(lua_State *L) {
  batch *b = check_batch(L);
  double at = -1, now = nuon_now();
  int i;
  if (b->finished) {
    lua_pushnil(L);
    return 1;
  }
  at = b->w.timer_at;
  for (i = 0; i < b->n; i++)
    if (b->slots[i].state == SLOT_WAITING && (at < 0 || b->slots[i].a.wake_at < at))
      at = b->slots[i].a.wake_at;
  if (at < 0) lua_pushnil(L);
  else lua_pushnumber(L, at > now ? at - now : 0);
  return 1;
}

static int batch_done(lua_State *L) {
  lua_pushboolean(L, check_batch(L)->finished);
  return 1;
}

/* What the result function returns (nothing without one). */
static int batch_result(lua_State *L) {
  batch *b = check_batch(L);
  int base;
  if (!b->finished) return luaL_error(L, "nuon.batch: result() before the batch is done");
  base = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, b->ref);
  lua_rawgeti(L, -1, UV_RESULT);
  if (lua_isnil(L, -1)) return 0;
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - base - 1;
}

/* Drives the batch to the end on this thread (blocking): waits on its
 * sockets (curl_multi_poll) at most until its timeout, then lets libcurl act
 * on every socket it watches (an empty event mask: libcurl looks itself) and
 * on its timer. */
static int batch_perform(lua_State *L) {
  batch *b = check_batch(L);
  while (!b->finished) {
    nuon_wsock ready[2 * NUON_MAX_CONCURRENCY + 8]; /* the watch holds at most this many */
    int i, n, numfds = 0;
    lua_pushcfunction(L, batch_timeout);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1) || lua_tonumber(L, -1) > 0) {
      double t = lua_isnil(L, -1) ? 1 : lua_tonumber(L, -1);
      curl_multi_poll(b->multi, NULL, 0, t > 1 ? 1000 : (int)(t * 1000), &numfds);
    }
    lua_pop(L, 1);
    /* a copy: acting on one socket may change the set */
    n = b->w.n;
    memcpy(ready, b->w.socks, (size_t)n * sizeof *ready);
    for (i = 0; i < n && !b->finished; i++) event_step(L, b, ready[i].fd, 0);
    if (!b->finished) event_step(L, b, CURL_SOCKET_TIMEOUT, 0);
  }
  return batch_result(L);
}

static int batch_tostring(lua_State *L) {
  batch *b = check_batch(L);
  int i, active = 0;
  for (i = 0; i < b->n; i++)
    if (b->slots[i].state != SLOT_IDLE) active++;
  lua_pushfstring(L, "nuon.batch (%s, %d in flight)", b->finished ? "done" : "running", active);
  return 1;
}

static void ensure_metatable(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", batch_gc}, {"__close", batch_gc}, {"__tostring", batch_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"sockets", batch_sockets}, {"timeout", batch_timeout}, {"step", batch_step},
    {"done", batch_done},       {"result", batch_result},   {"perform", batch_perform},
    {"close", batch_gc},        {NULL, NULL}};
  nuon_push_class(L, BATCH_MT, meta, methods);
}

/* c:start_batch(concurrency, next, done [, strict, known_values, result]) */
int nuon_multi_start_batch(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  nuon_decode_opts opts;
  int concurrency = read_args(L, c, &opts);
  batch *b;
  if (!lua_isnoneornil(L, 7)) luaL_checktype(L, 7, LUA_TFUNCTION);
  lua_settop(L, 7);
  nuon_check_open_client(L);
  b = new_batch(L, c, concurrency, 1); /* at 8 */
  b->opts = opts;
  b->has_known = opts.known != 0;
  b->opts.known = 0;
  lua_createtable(L, 5, 0);
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, UV_NEXT);
  lua_pushvalue(L, 4);
  lua_rawseti(L, -2, UV_DONE);
  lua_createtable(L, concurrency, 0);
  lua_rawseti(L, -2, UV_KEYS);
  lua_pushvalue(L, 6);
  lua_rawseti(L, -2, UV_KNOWN);
  lua_pushvalue(L, 7);
  lua_rawseti(L, -2, UV_RESULT);
  b->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 8);
  lua_replace(L, 1); /* event_step works on the batch at 1 */
  lua_settop(L, 1);
  event_step(L, b, CURL_SOCKET_TIMEOUT, 0); /* hand out the first requests */
  return 1;
}
