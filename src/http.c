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
 * __gc can clean.  The token lives only inside the CURL header list.
 */
#include <stdlib.h>
#include <string.h>

#include "nuon.h"

nuon_client *nuon_check_client(lua_State *L) {
  return (nuon_client *)luaL_checkudata(L, 1, NUON_CLIENT_MT);
}

static nuon_client *check_client(lua_State *L) {
  return (nuon_client *)luaL_checkudata(L, 1, NUON_CLIENT_MT);
}

static void client_release(nuon_client *c) {
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  if (c->curl) curl_easy_cleanup(c->curl);
  c->curl = NULL;
  /* after every handle that used it (batches are released by then) */
  if (c->share) curl_share_cleanup(c->share);
  c->share = NULL;
  curl_slist_free_all(c->headers);
  c->headers = NULL;
  free(c->base_url);
  c->base_url = NULL;
  nuon_transfer_free(&c->t);
}

/* close, __gc and __close */
static int client_close(lua_State *L) {
  client_release(check_client(L));
  return 0;
}

static int client_tostring(lua_State *L) {
  nuon_client *c = check_client(L);
  if (!c->curl) lua_pushliteral(L, "nuon.client (closed)");
  else lua_pushfstring(L, "nuon.client (%s)", c->base_url);
  return 1;
}

/* ---- options ------------------------------------------------------------ */

static const char *opt_string(lua_State *L, const char *name, int required) {
  const char *s;
  size_t len;
  lua_getfield(L, 1, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (required) luaL_error(L, "nuon.core.new_client: option '%s' is required", name);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "nuon.core.new_client: option '%s' must be a string", name);
  s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len) luaL_error(L, "nuon.core.new_client: option '%s' contains a NUL byte", name);
  lua_pop(L, 1); /* the string stays alive in the options table */
  return s;
}

/* A bound as the messages write it (2^53 by name). */
static void push_bound(lua_State *L, double v) {
  if (v == NUON_MAX_INT) lua_pushliteral(L, "2^53");
  else {
    char buf[32];
    snprintf(buf, sizeof buf, "%.14g", v);
    lua_pushstring(L, buf);
  }
}

/* A numeric option in [min, max], an integer when `integral` (integral floats
 * such as 10/2 are integers), else seconds.  The range is checked before any
 * conversion, so no cast can overflow; the words are nuon.config's. */
static double opt_number(lua_State *L, const char *name, double def, double min, double max,
                         int integral) {
  double v = def;
  lua_getfield(L, 1, name);
  if (!lua_isnil(L, -1)) {
    int ok = lua_type(L, -1) == LUA_TNUMBER;
    v = lua_tonumber(L, -1);
    ok = ok && v >= min && v <= max && (!integral || (double)(long long)v == v);
    if (!ok) {
      push_bound(L, min);
      push_bound(L, max);
      luaL_error(L, "nuon.core.new_client: option '%s' must be %s from %s to %s", name,
                 integral ? "an integer" : "a number of seconds", lua_tostring(L, -2),
                 lua_tostring(L, -1));
    }
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, const char *name, int def) {
  int v = def;
  lua_getfield(L, 1, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TBOOLEAN)
      luaL_error(L, "nuon.core.new_client: option '%s' must be a boolean", name);
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* Refuses values that would split or end a header line. */
static void check_header_safe(lua_State *L, const char *name, const char *s) {
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      luaL_error(L, "nuon.core.new_client: option '%s' contains a control character", name);
}

static void add_header(lua_State *L, nuon_client *c, const char *fmt, const char *value) {
  struct curl_slist *l;
  lua_pushfstring(L, fmt, value);
  l = curl_slist_append(c->headers, lua_tostring(L, -1));
  lua_pop(L, 1);
  if (!l) luaL_error(L, "nuon.core.new_client: out of memory");
  c->headers = l;
}

/* core.new_client(opts) */
int nuon_http_new_client(lua_State *L) {
  nuon_client *c;
  const char *base_url, *token, *org_id, *ca_file, *proxy, *ua;
  double timeout, connect_timeout, max_body;
  int verify, compress;
  size_t n;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  c = (nuon_client *)nuon_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  luaL_getmetatable(L, NUON_CLIENT_MT);
  lua_setmetatable(L, -2);

  base_url = opt_string(L, "base_url", 1);
  token = opt_string(L, "token", 1);
  org_id = opt_string(L, "org_id", 1);
  ca_file = opt_string(L, "ca_file", 0);
  proxy = opt_string(L, "proxy", 0);
  ua = opt_string(L, "user_agent", 0);
  timeout = opt_number(L, "timeout", 30, NUON_MIN_SECONDS, NUON_MAX_SECONDS, 0);
  connect_timeout = opt_number(L, "connect_timeout", 10, NUON_MIN_SECONDS, NUON_MAX_SECONDS, 0);
  c->retries = (int)opt_number(L, "retries", 2, 0, NUON_MAX_RETRIES, 1);
  c->max_backoff = opt_number(L, "max_backoff", 30, 0, NUON_MAX_SECONDS, 0);
  max_body = opt_number(L, "max_body", NUON_DEFAULT_MAX_BODY, 1,
                        (double)SIZE_MAX < NUON_MAX_INT ? (double)SIZE_MAX : NUON_MAX_INT, 1);
  c->max_runs = (size_t)opt_number(L, "max_runs", NUON_DEFAULT_MAX_RUNS, 1,
                                   (double)SIZE_MAX < NUON_MAX_INT ? (double)SIZE_MAX : NUON_MAX_INT,
                                   1);
  c->strict = opt_bool(L, "strict", 0);
  verify = opt_bool(L, "verify_tls", 1);
  compress = opt_bool(L, "compress", 1);
  check_header_safe(L, "token", token);
  check_header_safe(L, "org_id", org_id);
  check_header_safe(L, "user_agent", ua);

  n = strlen(base_url);
  while (n && base_url[n - 1] == '/') n--;
  c->base_url = malloc(n + 1);
  if (!c->base_url) return luaL_error(L, "nuon.core.new_client: out of memory");
  memcpy(c->base_url, base_url, n);
  c->base_url[n] = '\0';
  c->t.max_body = (size_t)max_body;
  c->rng = nuon_rng_seed(c);

  add_header(L, c, "Authorization: Bearer %s", token);
  add_header(L, c, "X-Nuon-Org-ID: %s", org_id);
  add_header(L, c, "Accept: %s", "application/json");
  if (ua) lua_pushfstring(L, "%s lua-nuon/%s", ua, NUON_VERSION);
  else lua_pushfstring(L, "lua-nuon/%s", NUON_VERSION);
  add_header(L, c, "User-Agent: %s", lua_tostring(L, -1));
  lua_pop(L, 1);

  c->curl = curl_easy_init();
  if (!c->curl) return luaL_error(L, "nuon.core.new_client: curl_easy_init failed");
  /* one DNS cache and TLS session cache for the blocking calls and every
   * batch (whose handles share the multi handle's connection cache) */
  c->share = curl_share_init();
  if (!c->share) return luaL_error(L, "nuon.core.new_client: curl_share_init failed");
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_easy_setopt(c->curl, CURLOPT_SHARE, c->share);
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
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

void nuon_push_limits(lua_State *L) {
  lua_createtable(L, 0, 8);
  lua_pushnumber(L, NUON_MIN_SECONDS);
  lua_setfield(L, -2, "min_seconds");
  lua_pushnumber(L, NUON_MAX_SECONDS);
  lua_setfield(L, -2, "max_seconds");
  lua_pushinteger(L, NUON_MAX_RETRIES);
  lua_setfield(L, -2, "max_retries");
  lua_pushnumber(L, (double)SIZE_MAX < NUON_MAX_INT ? (double)SIZE_MAX : NUON_MAX_INT);
  lua_setfield(L, -2, "max_int");
  lua_pushinteger(L, NUON_MAX_ID);
  lua_setfield(L, -2, "max_id");
  lua_pushinteger(L, NUON_DEFAULT_MAX_RUNS);
  lua_setfield(L, -2, "default_max_runs");
  lua_pushinteger(L, NUON_DEFAULT_MAX_BODY);
  lua_setfield(L, -2, "default_max_body");
}

/* ---- requests ----------------------------------------------------------- */

/* Appends s percent-encoded as one path segment: only unreserved characters
 * other than '.' stay literal, so "..", "/", "?", "#" and "%" cannot change
 * the path. */
static void add_segment(luaL_Buffer *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '~') {
      luaL_addchar(b, (char)ch);
    } else {
      luaL_addchar(b, '%');
      luaL_addchar(b, hex[ch >> 4]);
      luaL_addchar(b, hex[ch & 15]);
    }
  }
}

static void add_query_int(luaL_Buffer *b, const char *name, long long v, int *first) {
  char num[48];
  if (v < 0) return;
  snprintf(num, sizeof num, "%s%s=%lld", *first ? "?" : "&", name, v);
  luaL_addstring(b, num);
  *first = 0;
}

void nuon_client_push_run_url(lua_State *L, const nuon_client *c, const char *id, size_t n,
                              const char *run_id, size_t rn) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, c->base_url);
  luaL_addstring(&b, "/v1/installs/");
  add_segment(&b, id, n);
  luaL_addstring(&b, "/sandbox-runs/");
  add_segment(&b, run_id, rn);
  luaL_pushresult(&b);
}

void nuon_push_url(lua_State *L, const char *base_url, const char *id, size_t n,
                   long long limit, long long offset, long long page) {
  int first = 1;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, base_url);
  luaL_addstring(&b, "/v1/installs/");
  add_segment(&b, id, n);
  luaL_addstring(&b, "/sandbox-runs");
  add_query_int(&b, "limit", limit, &first);
  add_query_int(&b, "offset", offset, &first);
  add_query_int(&b, "page", page, &first);
  luaL_pushresult(&b);
}

void nuon_client_push_url(lua_State *L, const nuon_client *c, const char *id, size_t n,
                          long long limit, long long offset, long long page) {
  nuon_push_url(L, c->base_url, id, n, limit, offset, page);
}

long long nuon_opt_count(lua_State *L, int idx) {
  lua_Number v;
  if (lua_isnoneornil(L, idx)) return -1;
  v = lua_tonumber(L, idx);
  if (lua_type(L, idx) != LUA_TNUMBER || !(v >= 0 && v <= NUON_MAX_INT) ||
      (lua_Number)(long long)v != v)
    luaL_argerror(L, idx, "integer from 0 to 2^53 expected");
  return (long long)v;
}

const char *nuon_check_named_id(lua_State *L, int idx, size_t *len, const char *what) {
  const char *id = luaL_checklstring(L, idx, len);
  if (*len == 0) luaL_argerror(L, idx, lua_pushfstring(L, "%s id must not be empty", what));
  if (*len > NUON_MAX_ID)
    luaL_error(L, "%s_id is %d bytes, at most %d", what, (int)*len, NUON_MAX_ID);
  return id;
}

const char *nuon_check_id(lua_State *L, int idx, size_t *len) {
  return nuon_check_named_id(L, idx, len, "install");
}

nuon_decode_opts nuon_client_decode_opts(lua_State *L, const nuon_client *c, int strict_idx,
                                         int known_idx) {
  nuon_decode_opts o;
  nuon_decode_opts_read(L, &o, c->strict, strict_idx, known_idx);
  o.max_runs = c->max_runs;
  return o;
}

/* Pushes the request URL for (install_id at 2, limit 3, offset 4, page 5). */
static void push_url(lua_State *L, const nuon_client *c) {
  size_t n;
  const char *id = nuon_check_id(L, 2, &n);
  nuon_client_push_url(L, c, id, n, nuon_opt_count(L, 3), nuon_opt_count(L, 4),
                       nuon_opt_count(L, 5));
}

/* Pushes the URL of one run (install_id at 2, run_id at 3). */
static void push_run_url(lua_State *L, const nuon_client *c) {
  size_t n, rn;
  const char *id = nuon_check_id(L, 2, &n);
  const char *run_id = nuon_check_named_id(L, 3, &rn, "run");
  nuon_client_push_run_url(L, c, id, n, run_id, rn);
}

static int client_url(lua_State *L) {
  nuon_client *c = check_client(L);
  if (!c->curl) return luaL_error(L, "attempt to use a closed nuon client");
  push_url(L, c);
  return 1;
}

static int client_run_url(lua_State *L) {
  nuon_client *c = check_client(L);
  if (!c->curl) return luaL_error(L, "attempt to use a closed nuon client");
  push_run_url(L, c);
  return 1;
}

static int push_closed_error(lua_State *L) {
  lua_pushnil(L);
  nuon_error_push(L, "config", "the client is closed");
  nuon_error_setbool(L, "retryable", 0);
  return 2;
}

/* The blocking request to the URL at the top of the stack (popped), with
 * retries: returns the result as a Lua function does. */
static int perform(lua_State *L, nuon_client *c, const nuon_decode_opts *opts) {
  nuon_outcome o;
  int attempt = 0;
  curl_easy_setopt(c->curl, CURLOPT_URL, lua_tostring(L, -1)); /* libcurl copies it */
  lua_pop(L, 1);

  for (;;) {
    CURLcode code;
    attempt++;
    nuon_transfer_reset(&c->t);
    code = curl_easy_perform(c->curl);
    o = nuon_transfer_outcome(&c->t, c->curl, code);
    if (!o.retryable || attempt > c->retries) break;
    nuon_sleep(nuon_backoff_delay(&c->rng, attempt, NUON_BACKOFF_BASE, c->max_backoff,
                                  nuon_transfer_retry_after(&c->t)));
  }
  if (nuon_transfer_push_result(L, &c->t, &o, attempt, opts)) {
    if (c->t.cap > 4u * 1024 * 1024) nuon_transfer_free(&c->t); /* don't pin big bodies */
    return 1;
  }
  if (c->t.cap > 4u * 1024 * 1024) nuon_transfer_free(&c->t);
  nuon_error_scrub(L, -1, c->headers);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* c:sandbox_runs(install_id [, limit, offset, page, strict, known_values]) */
static int client_sandbox_runs(lua_State *L) {
  nuon_client *c = check_client(L);
  nuon_decode_opts opts;
  if (!c->curl) return push_closed_error(L);
  opts = nuon_client_decode_opts(L, c, 6, 7);
  push_url(L, c);
  return perform(L, c, &opts);
}

/* c:sandbox_run(install_id, run_id [, strict, known_values]) */
static int client_sandbox_run(lua_State *L) {
  nuon_client *c = check_client(L);
  nuon_decode_opts opts;
  if (!c->curl) return push_closed_error(L);
  opts = nuon_client_decode_opts(L, c, 4, 5);
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

/* The metatable is registered only once it is complete: luaL_newmetatable
 * registers an empty table first, and a memory error while filling it would
 * leave every later client without methods or __gc. */
void nuon_http_open(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, NUON_CLIENT_MT);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 5);
    luaL_setfuncs(L, client_meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, client_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, NUON_CLIENT_MT);
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, NUON_CLIENT_MT);
  }
  lua_pop(L, 1);
}
