/*
 * http.c - the client userdata (nuon.client): one CURL easy handle, reused
 * across calls so connections are kept alive, plus the blocking request loop
 * with retries.
 *
 *   local c = core.new_client{ base_url=, token=, org_id=, timeout=,
 *     connect_timeout=, retries=, max_backoff=, strict=, verify_tls=,
 *     ca_file=, proxy=, user_agent=, max_body=, compress= }
 *   c:sandbox_runs(install_id [, limit, offset, page, strict, known_values])
 *                  -> runs | nil, err
 *   c:sandbox_run(install_id, run_id [, strict, known_values]) -> run | nil, err
 *   c:url(install_id [, limit, offset, page]) -> the request URL
 *   c:run_url(install_id, run_id) -> the request URL of one run
 *   c:close()      also __gc and __close; safe twice
 *
 * The userdata is created (zeroed, with its metatable) before anything is
 * acquired, so an error half-way through construction leaves an object that
 * __gc can clean.  The token lives only inside the header list of the
 * client's nuon_protocol (protocol.c: the settings, URLs and retry rules
 * every transport shares).
 */
#include <stdlib.h>
#include <string.h>

#include "nuon.h"

nuon_client *nuon_check_client(lua_State *L) {
  return (nuon_client *)luaL_checkudata(L, 1, NUON_CLIENT_MT);
}

nuon_client *nuon_check_open_client(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  if (!c->curl) luaL_error(L, "attempt to use a closed nuon client");
  return c;
}

static void client_release(nuon_client *c) {
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  if (c->curl) curl_easy_cleanup(c->curl);
  c->curl = NULL;
  /* after every handle that used it (batches are released by then) */
  if (c->share) curl_share_cleanup(c->share);
  c->share = NULL;
  nuon_protocol_free(&c->p);
  nuon_transfer_free(&c->t);
}

/* close, __gc and __close */
static int client_close(lua_State *L) {
  client_release(nuon_check_client(L));
  return 0;
}

static int client_tostring(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  if (!c->curl) lua_pushliteral(L, "nuon.client (closed)");
  else lua_pushfstring(L, "nuon.client (%s)", c->p.base_url);
  return 1;
}

/* core.new_client(opts): the protocol's options (protocol.c) and the
 * transport's: timeout, connect_timeout, verify_tls, compress, ca_file, proxy */
int nuon_http_new_client(lua_State *L) {
  static const char fname[] = "nuon.core.new_client";
  nuon_client *c;
  const char *ca_file, *proxy;
  double timeout, connect_timeout;
  int verify, compress;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  c = (nuon_client *)nuon_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  luaL_getmetatable(L, NUON_CLIENT_MT);
  lua_setmetatable(L, -2);

  nuon_protocol_init(L, &c->p, fname);
  ca_file = nuon_opt_string(L, fname, "ca_file", 0);
  proxy = nuon_opt_string(L, fname, "proxy", 0);
  timeout = nuon_opt_number(L, fname, "timeout", 30, NUON_MIN_SECONDS, NUON_MAX_SECONDS, 0);
  connect_timeout =
      nuon_opt_number(L, fname, "connect_timeout", 10, NUON_MIN_SECONDS, NUON_MAX_SECONDS, 0);
  verify = nuon_opt_bool(L, fname, "verify_tls", 1);
  compress = nuon_opt_bool(L, fname, "compress", 1);
  c->t.max_body = c->p.max_body;

  c->curl = curl_easy_init();
  if (!c->curl) return luaL_error(L, "%s: curl_easy_init failed", fname);
  /* one DNS cache and TLS session cache for the blocking calls and every
   * batch (whose handles share the multi handle's connection cache) */
  c->share = curl_share_init();
  if (!c->share) return luaL_error(L, "%s: curl_share_init failed", fname);
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_easy_setopt(c->curl, CURLOPT_SHARE, c->share);
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->p.headers);
  curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
  curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
  /* Redirects are not followed: the token must never reach another host. */
  curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
  /* compress: offer every encoding this libcurl decodes (gzip, ...); off,
   * the body comes as is, which is faster where bandwidth is free (loopback,
   * a sidecar) since neither side spends time on compression */
  if (compress) curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (ca_file) curl_easy_setopt(c->curl, CURLOPT_CAINFO, ca_file);
  if (proxy) curl_easy_setopt(c->curl, CURLOPT_PROXY, proxy);
  nuon_transfer_attach(&c->t, c->curl);
  return 1;
}

/* ---- requests ----------------------------------------------------------- */

/* Pushes the URL of (install_id at 2, limit 3, offset 4, page 5). */
static void push_url(lua_State *L, const nuon_client *c) {
  size_t n;
  const char *id = nuon_check_id(L, 2, &n);
  nuon_push_url(L, &c->p, id, n, NULL, 0, nuon_opt_count(L, 3), nuon_opt_count(L, 4),
                nuon_opt_count(L, 5));
}

/* Pushes the URL of one run (install_id at 2, run_id at 3). */
static void push_run_url(lua_State *L, const nuon_client *c) {
  size_t n, rn;
  const char *id = nuon_check_id(L, 2, &n);
  const char *run_id = nuon_check_named_id(L, 3, &rn, "run");
  nuon_push_url(L, &c->p, id, n, run_id, rn, -1, -1, -1);
}

static int client_url(lua_State *L) {
  push_url(L, nuon_check_open_client(L));
  return 1;
}

static int client_run_url(lua_State *L) {
  push_run_url(L, nuon_check_open_client(L));
  return 1;
}

/* The blocking request to the URL at the top of the stack (popped): the
 * attempt machine (protocol.c) with curl_easy_perform and sleeps between;
 * returns the result as a Lua function does. */
static int perform(lua_State *L, nuon_client *c, const nuon_decode_opts *opts) {
  nuon_attempts a = {0, {CURLE_OK, 0, 0}, -1};
  int nret;
  curl_easy_setopt(c->curl, CURLOPT_URL, lua_tostring(L, -1)); /* libcurl copies it */
  lua_pop(L, 1);
  for (;;) {
    CURLcode code;
    nuon_attempt_started(&a);
    nuon_transfer_reset(&c->t);
    code = curl_easy_perform(c->curl);
    if (!nuon_attempt_ended(&a, &c->p, nuon_transfer_outcome(&c->t, c->curl, code), &c->t)) break;
    nuon_sleep(a.wake_at - nuon_now());
  }
  nret = nuon_return_result(L, &c->t, &a, opts, &c->p);
  if (c->t.cap > 4u * 1024 * 1024) nuon_transfer_free(&c->t); /* don't pin big bodies */
  return nret;
}

/* c:sandbox_runs(install_id [, limit, offset, page, strict, known_values]) */
static int client_sandbox_runs(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  nuon_decode_opts opts;
  if (!c->curl) return nuon_return_error(L, "config", "the client is closed");
  opts = nuon_protocol_decode_opts(L, &c->p, 6, 7);
  push_url(L, c);
  return perform(L, c, &opts);
}

/* c:sandbox_run(install_id, run_id [, strict, known_values]) */
static int client_sandbox_run(lua_State *L) {
  nuon_client *c = nuon_check_client(L);
  nuon_decode_opts opts;
  if (!c->curl) return nuon_return_error(L, "config", "the client is closed");
  opts = nuon_protocol_decode_opts(L, &c->p, 4, 5);
  opts.single = 1;
  push_run_url(L, c);
  return perform(L, c, &opts);
}

static const luaL_Reg client_methods[] = {
  {"sandbox_runs", client_sandbox_runs},
  {"sandbox_run", client_sandbox_run},
  {"start_run", nuon_request_start_run},
  {"run_url", client_run_url},
  {"batch", nuon_multi_batch},
  {"start_batch", nuon_multi_start_batch},
  {"start", nuon_request_start},
  {"url", client_url},
  {"close", client_close},
  {NULL, NULL}
};

static const luaL_Reg client_meta[] = {
  {"__gc", client_close},
  {"__close", client_close},
  {"__tostring", client_tostring},
  {NULL, NULL}
};

void nuon_http_open(lua_State *L) {
  nuon_push_class(L, NUON_CLIENT_MT, client_meta, client_methods);
  lua_pop(L, 1);
}
