/*
 * protocol.c - the rules of Nuon's API, without any I/O: what every
 * transport (libcurl easy and multi in http.c, request.c and multi.c; nginx
 * cosockets in nuon.resty through exchange.c) shares.
 *
 *   settings   the protocol's options, read and checked once
 *              (nuon_protocol_init), in nuon.config's words
 *   requests   the path of a page or of one run, ids percent-encoded
 *              (nuon_push_path); the header list with the token
 *   responses  a header line read into a nuon_transfer (page headers,
 *              Retry-After, Location, API version: nuon_response_header)
 *   outcomes   which statuses and failures are worth another attempt
 *              (nuon_classify)
 *   attempts   the retry state machine: when an attempt ends, is another
 *              due, and when (nuon_attempt_ended, with backoff.c's delay)
 *
 * Turning a finished request into a Lua value is response.c's job.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "nuon.h"

/* ---- settings ------------------------------------------------------------- */

const char *nuon_opt_string(lua_State *L, const char *fname, const char *name, int required) {
  const char *s;
  size_t len;
  lua_getfield(L, 1, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (required) luaL_error(L, "%s: option '%s' is required", fname, name);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: option '%s' must be a string", fname, name);
  s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len) luaL_error(L, "%s: option '%s' contains a NUL byte", fname, name);
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
double nuon_opt_number(lua_State *L, const char *fname, const char *name, double def, double min,
                       double max, int integral) {
  double v = def;
  lua_getfield(L, 1, name);
  if (!lua_isnil(L, -1)) {
    int ok = lua_type(L, -1) == LUA_TNUMBER;
    v = lua_tonumber(L, -1);
    ok = ok && v >= min && v <= max && (!integral || (double)(long long)v == v);
    if (!ok) {
      push_bound(L, min);
      push_bound(L, max);
      luaL_error(L, "%s: option '%s' must be %s from %s to %s", fname, name,
                 integral ? "an integer" : "a number of seconds", lua_tostring(L, -2),
                 lua_tostring(L, -1));
    }
  }
  lua_pop(L, 1);
  return v;
}

int nuon_opt_bool(lua_State *L, const char *fname, const char *name, int def) {
  int v = def;
  lua_getfield(L, 1, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) luaL_error(L, "%s: option '%s' must be a boolean", fname, name);
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* Refuses values that would split or end a header line. */
static void check_header_safe(lua_State *L, const char *fname, const char *name, const char *s) {
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      luaL_error(L, "%s: option '%s' contains a control character", fname, name);
}

static void add_header(lua_State *L, nuon_protocol *p, const char *fname, const char *fmt,
                       const char *value) {
  struct curl_slist *l;
  lua_pushfstring(L, fmt, value);
  l = curl_slist_append(p->headers, lua_tostring(L, -1));
  lua_pop(L, 1);
  if (!l) luaL_error(L, "%s: out of memory", fname);
  p->headers = l;
}

void nuon_protocol_init(lua_State *L, nuon_protocol *p, const char *fname) {
  const double max_size = (double)SIZE_MAX < NUON_MAX_INT ? (double)SIZE_MAX : NUON_MAX_INT;
  const char *base_url = nuon_opt_string(L, fname, "base_url", 1);
  const char *token = nuon_opt_string(L, fname, "token", 1);
  const char *org_id = nuon_opt_string(L, fname, "org_id", 1);
  const char *ua = nuon_opt_string(L, fname, "user_agent", 0);
  size_t n;
  p->retries = (int)nuon_opt_number(L, fname, "retries", 2, 0, NUON_MAX_RETRIES, 1);
  p->max_backoff = nuon_opt_number(L, fname, "max_backoff", 30, 0, NUON_MAX_SECONDS, 0);
  p->max_body = (size_t)nuon_opt_number(L, fname, "max_body", NUON_DEFAULT_MAX_BODY, 1, max_size, 1);
  p->max_runs = (size_t)nuon_opt_number(L, fname, "max_runs", NUON_DEFAULT_MAX_RUNS, 1, max_size, 1);
  p->strict = nuon_opt_bool(L, fname, "strict", 0);
  check_header_safe(L, fname, "token", token);
  check_header_safe(L, fname, "org_id", org_id);
  check_header_safe(L, fname, "user_agent", ua);

  n = strlen(base_url);
  while (n && base_url[n - 1] == '/') n--;
  p->base_url = malloc(n + 1);
  if (!p->base_url) luaL_error(L, "%s: out of memory", fname);
  memcpy(p->base_url, base_url, n);
  p->base_url[n] = '\0';
  p->rng = nuon_rng_seed(p);

  add_header(L, p, fname, "Authorization: Bearer %s", token);
  add_header(L, p, fname, "X-Nuon-Org-ID: %s", org_id);
  add_header(L, p, fname, "Accept: %s", "application/json");
  if (ua) lua_pushfstring(L, "%s lua-nuon/%s", ua, NUON_VERSION);
  else lua_pushfstring(L, "lua-nuon/%s", NUON_VERSION);
  add_header(L, p, fname, "User-Agent: %s", lua_tostring(L, -1));
  lua_pop(L, 1);
}

void nuon_protocol_free(nuon_protocol *p) {
  curl_slist_free_all(p->headers);
  p->headers = NULL;
  free(p->base_url);
  p->base_url = NULL;
}

int nuon_protocol_copy(nuon_protocol *dst, const nuon_protocol *src) {
  const struct curl_slist *h;
  size_t len = strlen(src->base_url);
  *dst = *src;
  dst->headers = NULL;
  dst->base_url = malloc(len + 1);
  if (!dst->base_url) return 0;
  memcpy(dst->base_url, src->base_url, len + 1);
  for (h = src->headers; h; h = h->next) {
    struct curl_slist *l = curl_slist_append(dst->headers, h->data);
    if (!l) return 0;
    dst->headers = l;
  }
  dst->rng = nuon_rng_seed(dst);
  return 1;
}

void nuon_push_limits(lua_State *L) {
  const struct {
    const char *name;
    double value;
    int integer; /* a count (an integer on Lua 5.3+), or seconds and sizes */
  } limits[] = {
    {"min_seconds", NUON_MIN_SECONDS, 0},
    {"max_seconds", NUON_MAX_SECONDS, 0},
    {"max_retries", NUON_MAX_RETRIES, 1},
    {"max_int", (double)SIZE_MAX < NUON_MAX_INT ? (double)SIZE_MAX : NUON_MAX_INT, 0},
    {"max_id", NUON_MAX_ID, 1},
    {"max_concurrency", NUON_MAX_CONCURRENCY, 1},
    {"max_depth", NUON_HARD_MAX_DEPTH, 1},
    {"default_max_runs", NUON_DEFAULT_MAX_RUNS, 1},
    {"default_max_body", NUON_DEFAULT_MAX_BODY, 1},
  };
  size_t i;
  lua_createtable(L, 0, (int)(sizeof limits / sizeof limits[0]));
  for (i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    if (limits[i].integer)
      nuon_pushint64(L, (long long)limits[i].value);
    else
      lua_pushnumber(L, limits[i].value);
    lua_setfield(L, -2, limits[i].name);
  }
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

static void add_path(luaL_Buffer *b, const char *id, size_t n, const char *run_id, size_t rn,
                     long long limit, long long offset, long long page) {
  int first = 1;
  luaL_addstring(b, "/v1/installs/");
  add_segment(b, id, n);
  luaL_addstring(b, "/sandbox-runs");
  if (run_id) {
    luaL_addchar(b, '/');
    add_segment(b, run_id, rn);
  }
  add_query_int(b, "limit", limit, &first);
  add_query_int(b, "offset", offset, &first);
  add_query_int(b, "page", page, &first);
}

void nuon_push_path(lua_State *L, const char *id, size_t n, const char *run_id, size_t rn,
                    long long limit, long long offset, long long page) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_path(&b, id, n, run_id, rn, limit, offset, page);
  luaL_pushresult(&b);
}

void nuon_push_url(lua_State *L, const nuon_protocol *p, const char *id, size_t n,
                   const char *run_id, size_t rn, long long limit, long long offset,
                   long long page) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, p->base_url);
  add_path(&b, id, n, run_id, rn, limit, offset, page);
  luaL_pushresult(&b);
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
    luaL_argerror(L, idx, lua_pushfstring(L, "%s_id is %d bytes, at most %d", what, (int)*len,
                                          NUON_MAX_ID));
  return id;
}

const char *nuon_check_id(lua_State *L, int idx, size_t *len) {
  return nuon_check_named_id(L, idx, len, "install");
}

nuon_decode_opts nuon_protocol_decode_opts(lua_State *L, const nuon_protocol *p, int strict_idx,
                                           int known_idx) {
  nuon_decode_opts o;
  nuon_decode_opts_read(L, &o, p->strict, strict_idx, known_idx);
  o.max_runs = p->max_runs;
  return o;
}

/* ---- responses ------------------------------------------------------------ */

/* Copies a header value (trimmed) into dst; returns its length. */
static size_t header_value(const char *v, size_t n, char *dst, size_t dstsz) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (n >= dstsz) n = dstsz - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
  return n;
}

static int parse_ll(const char *s, long long *out) {
  char *end;
  long long v;
  if (!*s) return 0;
  v = strtoll(s, &end, 10);
  if (*end) return 0;
  *out = v;
  return 1;
}

#define HEADER_IS(line, n, name) \
  ((n) > sizeof(name) - 1 && strncasecmp((line), name, sizeof(name) - 1) == 0)

int nuon_response_header(nuon_transfer *t, const char *line, size_t n) {
  char val[256];
  if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    /* a new header block (after 1xx or a proxy's CONNECT): start over */
    t->has_next = t->has_offset = t->has_limit = t->has_number = 0;
    t->retry_after[0] = t->location[0] = t->api_version[0] = '\0';
    t->head_done = 0;
    return 1;
  }
  if (n == 0 || (n <= 2 && (line[0] == '\r' || line[0] == '\n'))) {
    t->head_done = 1;
    return 1;
  }
  if (HEADER_IS(line, n, "x-nuon-page-next:")) {
    header_value(line + 17, n - 17, val, sizeof val);
    t->has_next = strcasecmp(val, "true") == 0 || strcasecmp(val, "false") == 0;
    t->next = strcasecmp(val, "true") == 0;
  } else if (HEADER_IS(line, n, "x-nuon-page-offset:")) {
    header_value(line + 19, n - 19, val, sizeof val);
    t->has_offset = parse_ll(val, &t->offset);
  } else if (HEADER_IS(line, n, "x-nuon-page-limit:")) {
    header_value(line + 18, n - 18, val, sizeof val);
    t->has_limit = parse_ll(val, &t->limit);
  } else if (HEADER_IS(line, n, "x-nuon-page-number:")) {
    header_value(line + 19, n - 19, val, sizeof val);
    t->has_number = parse_ll(val, &t->number);
  } else if (HEADER_IS(line, n, "x-nuon-api-version:")) {
    header_value(line + 19, n - 19, t->api_version, sizeof t->api_version);
  } else if (HEADER_IS(line, n, "retry-after:")) {
    header_value(line + 12, n - 12, t->retry_after, sizeof t->retry_after);
  } else if (HEADER_IS(line, n, "location:")) {
    header_value(line + 9, n - 9, t->location, sizeof t->location);
  } else if (HEADER_IS(line, n, "content-length:")) {
    long long cl;
    header_value(line + 15, n - 15, val, sizeof val);
    /* refuse early rather than receive what cannot be kept */
    if (parse_ll(val, &cl) && cl > 0 && (unsigned long long)cl > t->max_body) {
      t->too_large = 1;
      return 0;
    }
  }
  return 1;
}

double nuon_retry_after(const nuon_transfer *t) {
  const char *s = t->retry_after;
  long long secs;
  time_t when;
  if (!*s) return -1;
  if (parse_ll(s, &secs)) return secs < 0 ? -1 : (double)secs;
  when = curl_getdate(s, NULL);
  if (when == (time_t)-1) return -1;
  secs = (long long)(when - time(NULL));
  return secs < 0 ? 0 : (double)secs;
}

/* ---- outcomes and attempts ----------------------------------------------- */

nuon_outcome nuon_classify(const nuon_transfer *t, CURLcode code, long status) {
  nuon_outcome o;
  o.code = code;
  o.status = code == CURLE_OK ? status : 0;
  o.retryable = 0;
  if (code == CURLE_OK) {
    o.retryable = status == 429 || status == 502 || status == 503 || status == 504;
    return o;
  }
  if (t->too_large || t->oom) return o;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      o.retryable = 1;
      break;
    default:
      break;
  }
  return o;
}

void nuon_attempt_started(nuon_attempts *a) {
  a->n++;
  a->wake_at = -1;
}

int nuon_attempt_ended(nuon_attempts *a, nuon_protocol *p, nuon_outcome o,
                       const nuon_transfer *t) {
  a->last = o;
  if (!o.retryable || a->n > p->retries) return 0;
  a->wake_at = nuon_now() + nuon_backoff_delay(&p->rng, a->n, NUON_BACKOFF_BASE, p->max_backoff,
                                               nuon_retry_after(t));
  return 1;
}
