/*
 * exchange.c - core.protocol: protocol.c's rules for a transport that moves
 * the bytes itself (nuon.resty, on nginx's cosockets), so that it builds the
 * same requests, retries the same failures after the same delays and returns
 * the same results and errors as the libcurl transports, without restating
 * any of it.
 *
 *   local p = core.protocol(settings)   base_url, token, org_id, user_agent,
 *                                        retries, max_backoff, max_body,
 *                                        max_runs, strict (as core.new_client)
 *   p:path(install_id [, limit, offset, page])  "/v1/installs/.../sandbox-runs?..."
 *   p:run_path(install_id, run_id)              ".../sandbox-runs/{run_id}"
 *   p:url(install_id [, limit, offset, page])   the base URL and the path
 *   p:headers()     { "Authorization: Bearer ...", "X-Nuon-Org-ID: ...", ... }
 *   p:max_body()    bytes a body may have
 *   p:retry(n, response)  -> seconds to wait before attempt n + 1, or nil
 *   p:result(n, response [, strict, known_values, single]) -> value | nil, err
 *
 * A response is what attempt n got: { status = 200, headers = { "Name:
 * value", ... } (the final header block's lines), body = "..." }, or a failure
 * below HTTP: { failure = name, message = "what happened" [, hint = "how to
 * fix it"] }, name one of those of FAILURES (the libcurl error it stands for
 * decides whether it is retried, as for the libcurl transports).
 */
#include <string.h>

#include "nuon.h"

#define PROTOCOL_MT "nuon.protocol"

/* Transport failures by name, as the libcurl error each stands for. */
static const struct {
  const char *name;
  CURLcode code;
} FAILURES[] = {
  {"timeout", CURLE_OPERATION_TIMEDOUT},  /* the attempt's deadline passed */
  {"connect", CURLE_COULDNT_CONNECT},     /* refused, unreachable, a proxy's refusal */
  {"resolve", CURLE_COULDNT_RESOLVE_HOST},
  {"send", CURLE_SEND_ERROR},
  {"recv", CURLE_RECV_ERROR},
  {"empty", CURLE_GOT_NOTHING},           /* closed before any response */
  {"partial", CURLE_PARTIAL_FILE},        /* closed before the body's end */
  {"protocol", CURLE_WEIRD_SERVER_REPLY}, /* not HTTP, or bad framing */
  {"tls", CURLE_SSL_CONNECT_ERROR},       /* the handshake failed */
  {"tls_verify", CURLE_PEER_FAILED_VERIFICATION},
  {"setup", CURLE_FAILED_INIT},           /* the transport's own configuration */
  {"too_large", CURLE_WRITE_ERROR},       /* the body exceeds max_body */
  {NULL, CURLE_OK}};

static nuon_protocol *check_protocol(lua_State *L) {
  return (nuon_protocol *)luaL_checkudata(L, 1, PROTOCOL_MT);
}

static int protocol_gc(lua_State *L) {
  nuon_protocol_free(check_protocol(L));
  return 0;
}

/* The string field k of the table at idx, or NULL (it stays alive there). */
static const char *string_field(lua_State *L, int idx, const char *k) {
  const char *s;
  lua_getfield(L, idx, k);
  s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);
  return s;
}

/* Reads the response table at idx into t (its body borrowed from the table,
 * which the caller keeps on the stack) and classifies it. */
static nuon_outcome read_response(lua_State *L, int idx, nuon_transfer *t,
                                  const nuon_protocol *p) {
  const char *failure, *s;
  size_t len;
  long status;
  luaL_checktype(L, idx, LUA_TTABLE);
  memset(t, 0, sizeof *t);
  t->max_body = p->max_body;
  failure = string_field(L, idx, "failure");
  if (failure) {
    int i;
    for (i = 0; FAILURES[i].name && strcmp(FAILURES[i].name, failure) != 0; i++) {
    }
    if (!FAILURES[i].name)
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown failure '%s'", failure));
    t->too_large = FAILURES[i].code == CURLE_WRITE_ERROR;
    s = string_field(L, idx, "message");
    if (s) snprintf(t->errbuf, sizeof t->errbuf, "%s", s);
    t->tls_hint = string_field(L, idx, "hint");
    return nuon_classify(t, FAILURES[i].code, 0);
  }
  lua_getfield(L, idx, "status");
  status = (long)lua_tonumber(L, -1);
  if (lua_type(L, -1) != LUA_TNUMBER || status < 100 || status > 999)
    luaL_argerror(L, idx, "a response needs a status from 100 to 999 or a failure");
  lua_pop(L, 1);
  lua_getfield(L, idx, "headers");
  if (lua_istable(L, -1)) {
    size_t i, n = nuon_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, (int)i);
      s = lua_tolstring(L, -1, &len);
      if (s) nuon_response_header(t, s, len);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  t->head_done = 1;
  lua_getfield(L, idx, "body");
  {
    /* borrowed, read only: nothing writes to a transfer once it is over */
    union { const char *in; char *out; } body;
    body.in = lua_tolstring(L, -1, &len);
    t->body = body.out;
    t->len = body.in ? len : 0;
  }
  lua_pop(L, 1); /* the string stays alive in the response table */
  return nuon_classify(t, CURLE_OK, status);
}

/* The arguments every p:retry and p:result call starts with: the protocol
 * at 1, the attempt number n (from 1) at 2 into a, and the response at 3 into
 * t, classified into a->last. */
static nuon_protocol *read_attempt(lua_State *L, nuon_attempts *a, nuon_transfer *t) {
  nuon_protocol *p = check_protocol(L);
  long long n = nuon_opt_count(L, 2);
  luaL_argcheck(L, n >= 1 && n <= 1000, 2, "attempt number from 1 expected");
  a->n = (int)n;
  a->wake_at = -1;
  a->last = read_response(L, 3, t, p);
  return p;
}

/* p:retry(n, response) */
static int protocol_retry(lua_State *L) {
  nuon_attempts a;
  nuon_transfer t;
  nuon_protocol *p = read_attempt(L, &a, &t);
  double delay;
  if (!nuon_attempt_ended(&a, p, a.last, &t)) return 0;
  delay = a.wake_at - nuon_now();
  lua_pushnumber(L, delay > 0 ? delay : 0);
  return 1;
}

/* p:result(n, response [, strict, known_values, single]) */
static int protocol_result(lua_State *L) {
  nuon_attempts a;
  nuon_transfer t;
  nuon_protocol *p = read_attempt(L, &a, &t);
  nuon_decode_opts opts = nuon_protocol_decode_opts(L, p, 4, 5);
  opts.single = lua_toboolean(L, 6);
  return nuon_return_result(L, &t, &a, &opts, p);
}

/* p:path(install_id [, limit, offset, page]), and with the base URL first */
static int push_path(lua_State *L, int with_base) {
  nuon_protocol *p = check_protocol(L);
  size_t n;
  const char *id = nuon_check_id(L, 2, &n);
  long long limit = nuon_opt_count(L, 3), offset = nuon_opt_count(L, 4),
            page = nuon_opt_count(L, 5);
  if (with_base) nuon_push_url(L, p, id, n, NULL, 0, limit, offset, page);
  else nuon_push_path(L, id, n, NULL, 0, limit, offset, page);
  return 1;
}

static int protocol_path(lua_State *L) {
  return push_path(L, 0);
}

static int protocol_url(lua_State *L) {
  return push_path(L, 1);
}

static int protocol_run_path(lua_State *L) {
  size_t n, rn;
  const char *id, *run_id;
  check_protocol(L);
  id = nuon_check_id(L, 2, &n);
  run_id = nuon_check_named_id(L, 3, &rn, "run");
  nuon_push_path(L, id, n, run_id, rn, -1, -1, -1);
  return 1;
}

static int protocol_headers(lua_State *L) {
  nuon_protocol *p = check_protocol(L);
  const struct curl_slist *h;
  int i = 0;
  lua_newtable(L);
  for (h = p->headers; h; h = h->next) {
    lua_pushstring(L, h->data);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static int protocol_max_body(lua_State *L) {
  lua_pushnumber(L, (lua_Number)check_protocol(L)->max_body);
  return 1;
}

static int protocol_tostring(lua_State *L) {
  lua_pushfstring(L, "nuon.protocol (%s)", check_protocol(L)->base_url);
  return 1;
}

static void ensure_metatable(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", protocol_gc}, {"__tostring", protocol_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
    {"path", protocol_path},       {"run_path", protocol_run_path},
    {"url", protocol_url},         {"headers", protocol_headers},
    {"max_body", protocol_max_body}, {"retry", protocol_retry},
    {"result", protocol_result},   {NULL, NULL}};
  nuon_push_class(L, PROTOCOL_MT, meta, methods);
}

/* core.protocol(settings) */
int nuon_exchange_new(lua_State *L) {
  nuon_protocol *p;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  p = (nuon_protocol *)nuon_newuserdata(L, sizeof *p);
  memset(p, 0, sizeof *p);
  ensure_metatable(L);
  lua_setmetatable(L, -2);
  nuon_protocol_init(L, p, "nuon.core.protocol");
  return 1;
}
