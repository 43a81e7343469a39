/*
 * request.c - a non-blocking request (nuon.request) that an external event
 * loop drives: libcurl's multi-socket API underneath.
 *
 *   local req = c:start(install_id [, limit, offset, page, strict, known_values])
 *   local req = c:start_run(install_id, run_id [, strict, known_values])  one run
 *   req:sockets()     -> { [fd] = "r" | "w" | "rw" }  what to wait on now
 *   req:timeout()     -> seconds until step() is due anyway, or nil
 *   req:step([fd, events]) -> done   after fd became ready ("r", "w", "rw"),
 *                                    or with no argument when the timeout fired
 *   req:done()        -> boolean
 *   req:result()      -> runs | nil, err   (once done)
 *   req:perform()     -> runs | nil, err   (drives itself, blocking)
 *   req:close()       also __gc and __close
 *
 * Retries follow the client's rules; between attempts the request waits
 * without a socket, and timeout() says how long.  The request owns its own
 * multi handle, easy handle and copy of the header list, so it stays valid
 * even when its client is closed first.  The libcurl callbacks only record
 * sockets and timers in this struct: no Lua inside them.
 */
#include <stdlib.h>
#include <string.h>

#include "nuon.h"

#define REQUEST_MT "nuon.request"
#define MAX_SOCKS 8

enum { REQ_RUNNING, REQ_WAITING, REQ_DONE };

typedef struct nuon_request {
  CURLM *multi;
  CURL *easy;
  struct curl_slist *headers;
  nuon_transfer t;
  nuon_wsock socks[MAX_SOCKS];
  nuon_watch w;          /* the sockets and timer libcurl wants watched */
  double wake_at;        /* monotonic time of the next attempt (REQ_WAITING) */
  int state, attempt, retries, in_multi;
  double max_backoff;
  uint64_t rng;
  nuon_outcome outcome;
  nuon_decode_opts opts;
  int known_ref; /* registry reference of known_values, LUA_NOREF: none */
} nuon_request;

static nuon_request *check_request(lua_State *L) {
  return (nuon_request *)luaL_checkudata(L, 1, REQUEST_MT);
}

static void request_release(nuon_request *r) {
  if (r->easy && r->in_multi) curl_multi_remove_handle(r->multi, r->easy);
  r->in_multi = 0;
  if (r->easy) curl_easy_cleanup(r->easy);
  r->easy = NULL;
  if (r->multi) curl_multi_cleanup(r->multi);
  r->multi = NULL;
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  nuon_transfer_free(&r->t);
  r->w.n = 0;
}

static int request_close(lua_State *L) {
  nuon_request *r = check_request(L);
  request_release(r);
  luaL_unref(L, LUA_REGISTRYINDEX, r->known_ref);
  r->known_ref = LUA_NOREF;
  if (r->state != REQ_DONE) {
    r->state = REQ_DONE;
    r->outcome.code = CURLE_ABORTED_BY_CALLBACK;
    r->outcome.status = 0;
    r->outcome.retryable = 0;
  }
  return 0;
}

/* ---- driving ------------------------------------------------------------ */

static void start_attempt(nuon_request *r) {
  nuon_transfer_reset(&r->t);
  r->attempt++;
  r->state = REQ_RUNNING;
  if (curl_multi_add_handle(r->multi, r->easy) == CURLM_OK) {
    r->in_multi = 1; /* libcurl now sets a timer: timeout() becomes 0 */
  } else {
    r->state = REQ_DONE;
    r->outcome.code = CURLE_FAILED_INIT;
    r->outcome.status = 0;
    r->outcome.retryable = 0;
  }
}

/* Reads finished transfers: retry later or finish. */
static void collect(nuon_request *r) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) continue;
    r->outcome = nuon_transfer_outcome(&r->t, r->easy, m->data.result);
    curl_multi_remove_handle(r->multi, r->easy);
    r->in_multi = 0;
    r->w.n = 0;
    r->w.timer_at = -1;
    if (r->outcome.retryable && r->attempt <= r->retries) {
      r->state = REQ_WAITING;
      r->wake_at = nuon_now() + nuon_backoff_delay(&r->rng, r->attempt, NUON_BACKOFF_BASE,
                                                   r->max_backoff,
                                                   nuon_transfer_retry_after(&r->t));
    } else {
      r->state = REQ_DONE;
    }
  }
}

/* One step: on a socket's readiness, or on the timer (no fd). */
static void step(nuon_request *r, curl_socket_t fd, int mask) {
  int running = 0;
  if (r->state == REQ_DONE) return;
  if (r->state == REQ_WAITING) {
    if (nuon_now() >= r->wake_at) start_attempt(r);
    if (r->state != REQ_RUNNING) return;
    fd = CURL_SOCKET_TIMEOUT;
    mask = 0;
  }
  curl_multi_socket_action(r->multi, fd, mask, &running);
  collect(r);
  if (r->w.overflow && r->state != REQ_DONE) {
    r->state = REQ_DONE;
    r->outcome.code = CURLE_FAILED_INIT;
    r->outcome.status = 0;
    r->outcome.retryable = 0;
  }
}

static int request_step(lua_State *L) {
  nuon_request *r = check_request(L);
  if (lua_isnoneornil(L, 2)) {
    step(r, CURL_SOCKET_TIMEOUT, 0);
  } else {
    curl_socket_t fd = (curl_socket_t)luaL_checkinteger(L, 2);
    step(r, fd, nuon_watch_events(L, 3));
  }
  lua_pushboolean(L, r->state == REQ_DONE);
  return 1;
}

static int request_sockets(lua_State *L) {
  nuon_request *r = check_request(L);
  if (r->state != REQ_RUNNING) lua_newtable(L);
  else nuon_watch_push_sockets(L, &r->w);
  return 1;
}

static double due_in(const nuon_request *r) {
  double at, now = nuon_now();
  if (r->state == REQ_DONE) return -1;
  at = r->state == REQ_WAITING ? r->wake_at : r->w.timer_at;
  if (at < 0) return -1;
  return at > now ? at - now : 0;
}

static int request_timeout(lua_State *L) {
  double d = due_in(check_request(L));
  if (d < 0) lua_pushnil(L);
  else lua_pushnumber(L, d);
  return 1;
}

static int request_done(lua_State *L) {
  lua_pushboolean(L, check_request(L)->state == REQ_DONE);
  return 1;
}

static int push_result(lua_State *L, nuon_request *r) {
  if (r->outcome.code == CURLE_ABORTED_BY_CALLBACK && !r->easy) {
    lua_pushnil(L);
    nuon_error_push(L, "config", "the request was closed before it finished");
    nuon_error_setbool(L, "retryable", 0);
    return 2;
  }
  if (r->w.overflow) {
    lua_pushnil(L);
    nuon_error_push(L, "network", "too many sockets for one request");
    nuon_error_setbool(L, "retryable", 1);
    return 2;
  }
  {
    nuon_decode_opts opts = r->opts;
    int ok;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->known_ref); /* nil for LUA_NOREF */
    opts.known = lua_isnil(L, -1) ? 0 : lua_gettop(L);
    ok = nuon_transfer_push_result(L, &r->t, &r->outcome, r->attempt, &opts);
    lua_remove(L, -2);
    if (ok) return 1;
  }
  nuon_error_scrub(L, -1, r->headers);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

static int request_result(lua_State *L) {
  nuon_request *r = check_request(L);
  if (r->state != REQ_DONE) return luaL_error(L, "nuon.request: result() before the request is done");
  return push_result(L, r);
}

/* Drives the request to the end on this thread (blocking). */
static int request_perform(lua_State *L) {
  nuon_request *r = check_request(L);
  while (r->state != REQ_DONE) {
    if (r->state == REQ_WAITING) {
      nuon_sleep(due_in(r));
      step(r, CURL_SOCKET_TIMEOUT, 0);
    } else {
      int n = 0, running = 0;
      curl_multi_perform(r->multi, &running);
      collect(r);
      if (r->state == REQ_RUNNING) curl_multi_poll(r->multi, NULL, 0, 1000, &n);
    }
  }
  return push_result(L, r);
}

static int request_tostring(lua_State *L) {
  nuon_request *r = check_request(L);
  static const char *const names[] = {"running", "waiting to retry", "done"};
  lua_pushfstring(L, "nuon.request (%s, attempt %d)", names[r->state], r->attempt);
  return 1;
}

/* ---- construction --------------------------------------------------------- */

static void ensure_metatable(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"sockets", request_sockets}, {"timeout", request_timeout}, {"step", request_step},
    {"done", request_done},       {"result", request_result},   {"perform", request_perform},
    {"close", request_close},     {NULL, NULL}};
  lua_getfield(L, LUA_REGISTRYINDEX, REQUEST_MT);
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  /* registered only once complete: a memory error half-way must not leave
   * a metatable without __gc or __index behind for later requests */
  lua_createtable(L, 0, 5);
  lua_pushcfunction(L, request_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, request_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, request_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, REQUEST_MT);
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, REQUEST_MT);
}

/* A new request of client c for the URL at url_idx, decoded with opts
 * (opts->known: a stack index, kept by reference); pushes it. */
static int request_new(lua_State *L, nuon_client *c, int url_idx, const nuon_decode_opts *opts) {
  nuon_request *r;
  struct curl_slist *h;
  if (!c->curl) return luaL_error(L, "attempt to use a closed nuon client");

  r = (nuon_request *)nuon_newuserdata(L, sizeof *r);
  memset(r, 0, sizeof *r);
  r->w.timer_at = -1;
  r->known_ref = LUA_NOREF;
  r->state = REQ_DONE; /* until everything is acquired */
  ensure_metatable(L);
  lua_setmetatable(L, -2);
  if (opts->known) {
    lua_pushvalue(L, opts->known);
    r->known_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }

  for (h = c->headers; h; h = h->next) {
    struct curl_slist *l = curl_slist_append(r->headers, h->data);
    if (!l) return luaL_error(L, "nuon: out of memory");
    r->headers = l;
  }
  r->multi = curl_multi_init();
  r->easy = curl_easy_duphandle(c->curl);
  if (!r->multi || !r->easy) return luaL_error(L, "nuon: cannot create a libcurl handle");
  nuon_watch_attach(&r->w, r->multi, r->socks, MAX_SOCKS);
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
  /* a request may outlive its client: it keeps no tie to the client's share */
  curl_easy_setopt(r->easy, CURLOPT_SHARE, NULL);
  r->t.max_body = c->t.max_body;
  nuon_transfer_attach(&r->t, r->easy);
  curl_easy_setopt(r->easy, CURLOPT_URL, lua_tostring(L, url_idx));
  r->retries = c->retries;
  r->max_backoff = c->max_backoff;
  r->rng = nuon_rng_seed(r);
  r->opts = *opts;
  r->opts.known = 0; /* in known_ref */
  start_attempt(r);
  return 1;
}

/* c:start(install_id [, limit, offset, page, strict, known_values]) */
int nuon_request_start(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  nuon_decode_opts opts;
  size_t n;
  const char *id = nuon_check_id(L, 2, &n);
  long long limit = nuon_opt_count(L, 3), offset = nuon_opt_count(L, 4),
            page = nuon_opt_count(L, 5);
  opts = nuon_client_decode_opts(L, c, 6, 7);
  lua_settop(L, 7);
  if (!c->curl) return luaL_error(L, "attempt to use a closed nuon client");
  nuon_client_push_url(L, c, id, n, limit, offset, page);
  return request_new(L, c, 8, &opts);
}

/* c:start_run(install_id, run_id [, strict, known_values]) */
int nuon_request_start_run(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  nuon_decode_opts opts;
  size_t n, rn;
  const char *id = nuon_check_id(L, 2, &n);
  const char *run_id = nuon_check_named_id(L, 3, &rn, "run");
  opts = nuon_client_decode_opts(L, c, 4, 5);
  opts.single = 1;
  lua_settop(L, 5);
  if (!c->curl) return luaL_error(L, "attempt to use a closed nuon client");
  nuon_client_push_run_url(L, c, id, n, run_id, rn);
  return request_new(L, c, 6, &opts);
}
