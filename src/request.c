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
  nuon_protocol p;       /* a copy of the client's: headers, retries */
  nuon_transfer t;
  nuon_wsock socks[MAX_SOCKS];
  nuon_watch w;          /* the sockets and timer libcurl wants watched */
  nuon_attempts a;       /* a.wake_at: when the next attempt is due (REQ_WAITING) */
  int state, in_multi;
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
  nuon_protocol_free(&r->p);
  nuon_transfer_free(&r->t);
  r->w.n = 0;
}

/* Ends the request with a failure of its own (not the server's). */
static void fail(nuon_request *r, CURLcode code) {
  r->state = REQ_DONE;
  r->a.last.code = code;
  r->a.last.status = 0;
  r->a.last.retryable = 0;
}

static int request_close(lua_State *L) {
  nuon_request *r = check_request(L);
  request_release(r);
  luaL_unref(L, LUA_REGISTRYINDEX, r->known_ref);
  r->known_ref = LUA_NOREF;
  if (r->state != REQ_DONE) fail(r, CURLE_ABORTED_BY_CALLBACK);
  return 0;
}

/* ---- driving ------------------------------------------------------------ */

static void start_attempt(nuon_request *r) {
  nuon_transfer_reset(&r->t);
  nuon_attempt_started(&r->a);
  r->state = REQ_RUNNING;
  if (curl_multi_add_handle(r->multi, r->easy) == CURLM_OK) {
    r->in_multi = 1; /* libcurl now sets a timer: timeout() becomes 0 */
  } else {
    fail(r, CURLE_FAILED_INIT);
  }
}

/* Reads finished transfers: retry later or finish. */
static void collect(nuon_request *r) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) continue;
    nuon_outcome o = nuon_transfer_outcome(&r->t, r->easy, m->data.result);
    curl_multi_remove_handle(r->multi, r->easy);
    r->in_multi = 0;
    r->w.n = 0;
    r->w.timer_at = -1;
    r->state = nuon_attempt_ended(&r->a, &r->p, o, &r->t) ? REQ_WAITING : REQ_DONE;
  }
}

/* One step: on a socket's readiness, or on the timer (no fd). */
static void step(nuon_request *r, curl_socket_t fd, int mask) {
  int running = 0;
  if (r->state == REQ_DONE) return;
  if (r->state == REQ_WAITING) {
    if (nuon_now() >= r->a.wake_at) start_attempt(r);
    if (r->state != REQ_RUNNING) return;
    fd = CURL_SOCKET_TIMEOUT;
    mask = 0;
  }
  curl_multi_socket_action(r->multi, fd, mask, &running);
  collect(r);
  if (r->w.overflow && r->state != REQ_DONE) fail(r, CURLE_FAILED_INIT);
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
  at = r->state == REQ_WAITING ? r->a.wake_at : r->w.timer_at;
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
  nuon_decode_opts opts = r->opts;
  int nret;
  if (r->a.last.code == CURLE_ABORTED_BY_CALLBACK && !r->easy)
    return nuon_return_error(L, "config", "the request was closed before it finished");
  if (r->w.overflow) {
    lua_pushnil(L);
    nuon_error_push(L, "network", "too many sockets for one request");
    nuon_error_setbool(L, "retryable", 1);
    return 2;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->known_ref); /* nil for LUA_NOREF */
  opts.known = lua_isnil(L, -1) ? 0 : lua_gettop(L);
  nret = nuon_return_result(L, &r->t, &r->a, &opts, &r->p);
  lua_remove(L, -1 - nret); /* known_values */
  return nret;
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
  lua_pushfstring(L, "nuon.request (%s, attempt %d)", names[r->state], r->a.n);
  return 1;
}

/* ---- construction --------------------------------------------------------- */

static void ensure_metatable(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", request_close}, {"__close", request_close}, {"__tostring", request_tostring},
    {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"sockets", request_sockets}, {"timeout", request_timeout}, {"step", request_step},
    {"done", request_done},       {"result", request_result},   {"perform", request_perform},
    {"close", request_close},     {NULL, NULL}};
  nuon_push_class(L, REQUEST_MT, meta, methods);
}

/* A new request of client c for the URL at url_idx, decoded with opts
 * (opts->known: a stack index, kept by reference); pushes it. */
static int request_new(lua_State *L, nuon_client *c, int url_idx, const nuon_decode_opts *opts) {
  nuon_request *r = (nuon_request *)nuon_newuserdata(L, sizeof *r);
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
  if (!nuon_protocol_copy(&r->p, &c->p)) return luaL_error(L, "nuon: out of memory");
  r->multi = curl_multi_init();
  r->easy = curl_easy_duphandle(c->curl);
  if (!r->multi || !r->easy) return luaL_error(L, "nuon: cannot create a libcurl handle");
  nuon_watch_attach(&r->w, r->multi, r->socks, MAX_SOCKS);
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->p.headers);
  /* a request may outlive its client: it keeps no tie to the client's share */
  curl_easy_setopt(r->easy, CURLOPT_SHARE, NULL);
  r->t.max_body = r->p.max_body;
  nuon_transfer_attach(&r->t, r->easy);
  curl_easy_setopt(r->easy, CURLOPT_URL, lua_tostring(L, url_idx));
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
  opts = nuon_protocol_decode_opts(L, &c->p, 6, 7);
  lua_settop(L, 7);
  nuon_check_open_client(L);
  nuon_push_url(L, &c->p, id, n, NULL, 0, limit, offset, page);
  return request_new(L, c, 8, &opts);
}

/* c:start_run(install_id, run_id [, strict, known_values]) */
int nuon_request_start_run(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  nuon_decode_opts opts;
  size_t n, rn;
  const char *id = nuon_check_id(L, 2, &n);
  const char *run_id = nuon_check_named_id(L, 3, &rn, "run");
  opts = nuon_protocol_decode_opts(L, &c->p, 4, 5);
  opts.single = 1;
  lua_settop(L, 5);
  nuon_check_open_client(L);
  nuon_push_url(L, &c->p, id, n, run_id, rn, -1, -1, -1);
  return request_new(L, c, 6, &opts);
}
