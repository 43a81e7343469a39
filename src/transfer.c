/*
 * transfer.c - one HTTP transfer: libcurl callbacks, the outcome of an
 * attempt, and the Lua result built from it.
 *
 * The callbacks only write into the nuon_transfer (a C struct owned by a
 * userdata); they never call Lua, so no Lua error can cross libcurl.  Lua
 * values are built by nuon_transfer_push_result after the transfer is over.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "nuon.h"

void nuon_transfer_reset(nuon_transfer *t) {
  t->len = 0;
  t->too_large = 0;
  t->oom = 0;
  t->head_done = 0;
  t->has_next = t->next = 0;
  t->has_offset = t->has_limit = t->has_number = 0;
  t->offset = t->limit = t->number = 0;
  t->retry_after[0] = '\0';
  t->location[0] = '\0';
  t->errbuf[0] = '\0';
}

void nuon_transfer_free(nuon_transfer *t) {
  free(t->body);
  t->body = NULL;
  t->len = t->cap = 0;
}

/* Grows the body to hold n more bytes; 0 on failure (callback then aborts). */
static int body_reserve(nuon_transfer *t, size_t n) {
  size_t need, cap;
  char *p;
  if (n > t->max_body || t->len > t->max_body - n) {
    t->too_large = 1;
    return 0;
  }
  need = t->len + n;
  if (need <= t->cap) return 1;
  cap = t->cap ? t->cap : 16384;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > t->max_body) cap = t->max_body;
  p = realloc(t->body, cap);
  if (!p) {
    t->oom = 1;
    return 0;
  }
  t->body = p;
  t->cap = cap;
  return 1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  nuon_transfer *t = ud;
  size_t n = size * nmemb;
  if (!body_reserve(t, n)) return 0; /* libcurl stops with CURLE_WRITE_ERROR */
  memcpy(t->body + t->len, data, n);
  t->len += n;
  return n;
}

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

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud) {
  nuon_transfer *t = ud;
  size_t n = size * nmemb;
  char val[256];
  if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    /* a new header block (after 1xx or a proxy's CONNECT): start over */
    t->has_next = t->has_offset = t->has_limit = t->has_number = 0;
    t->retry_after[0] = t->location[0] = '\0';
    t->head_done = 0;
    return n;
  }
  if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
    t->head_done = 1;
    return n;
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
  return n;
}

void nuon_transfer_attach(nuon_transfer *t, CURL *curl) {
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, t->errbuf);
}

double nuon_transfer_retry_after(const nuon_transfer *t) {
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

nuon_outcome nuon_transfer_outcome(const nuon_transfer *t, CURL *curl, CURLcode code) {
  nuon_outcome o;
  o.code = code;
  o.status = 0;
  o.retryable = 0;
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &o.status);
    o.retryable = o.status == 429 || o.status == 502 || o.status == 503 || o.status == 504;
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

static const char *status_text(long status) {
  switch (status) {
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 500 ? "Server Error" : "Error";
  }
}

/* " (after N attempts)" or "" */
static void attempts_note(char *buf, size_t sz, int attempts) {
  if (attempts > 1) snprintf(buf, sz, " (after %d attempts)", attempts);
  else buf[0] = '\0';
}

/* Reads a string field of the decoded error body at index body into the error
 * at the top; returns it (or NULL). */
static const char *copy_body_field(lua_State *L, int body, const char *field) {
  const char *s = NULL;
  lua_getfield(L, body, field);
  if (lua_type(L, -1) == LUA_TSTRING) {
    s = lua_tostring(L, -1); /* stays alive in the body table */
    lua_setfield(L, -2, field);
  } else if (lua_type(L, -1) == LUA_TBOOLEAN) {
    lua_setfield(L, -2, field);
  } else {
    lua_pop(L, 1);
  }
  return s;
}

static void push_http_error(lua_State *L, const nuon_transfer *t, const nuon_outcome *o,
                            int attempts) {
  char note[48], detail[320];
  int body = 0;
  const char *error = NULL, *description = NULL;
  attempts_note(note, sizeof note, attempts);
  detail[0] = '\0';

  /* the server's ErrResponse, when the body is one (an empty body pushes
   * nothing, so there is nothing to pop) */
  if (t->len) {
    if (nuon_decode_json(L, t->body, t->len, 16) && lua_istable(L, -1)) body = lua_gettop(L);
    else lua_pop(L, 1);
  }
  if (o->status >= 300 && o->status < 400) {
    snprintf(detail, sizeof detail, ": redirects are not followed (Location: %.200s)",
             t->location[0] ? t->location : "none");
  }
  nuon_error_push(L, "http", "");
  if (body) {
    error = copy_body_field(L, body, "error");
    description = copy_body_field(L, body, "description");
    lua_getfield(L, body, "user_error");
    /* today's server omits zero values: absent means false */
    lua_pushboolean(L, lua_toboolean(L, -1));
    lua_setfield(L, -3, "user_error");
    lua_pop(L, 1);
    if (error || description) {
      snprintf(detail, sizeof detail, ": %.150s%s%.150s", error ? error : "",
               error && description ? ": " : "", description ? description : "");
    }
  }
  lua_pushfstring(L, "HTTP %d %s%s%s", (int)o->status, status_text(o->status), detail, note);
  lua_setfield(L, -2, "message");
  nuon_error_setint(L, "status", o->status);
  nuon_error_setbool(L, "retryable", o->retryable || o->status == 500);
  nuon_error_setint(L, "attempts", attempts);
  if (body) lua_remove(L, body);
}

static void push_transport_error(lua_State *L, const nuon_transfer *t, const nuon_outcome *o,
                                 int attempts, const nuon_decode_opts *opts) {
  char note[48];
  const char *what = t->errbuf[0] ? t->errbuf : curl_easy_strerror(o->code);
  (void)opts;
  attempts_note(note, sizeof note, attempts);
  if (t->too_large) {
    nuon_error_pushf(L, "decode", "response body exceeds max_body (%lu bytes)",
                     (unsigned long)t->max_body);
    nuon_error_setbool(L, "retryable", 0);
  } else if (t->oom) {
    nuon_error_push(L, "network", "out of memory while receiving the response");
    nuon_error_setbool(L, "retryable", 1);
  } else if (o->code == CURLE_OUT_OF_MEMORY && !t->head_done) {
    /* libcurl refuses a header line longer than CURL_MAX_HTTP_HEADER with
     * this code ("Avoided giant realloc for header"); our callbacks never
     * saw the line, and a real allocation failure there is far less likely */
    nuon_error_pushf(L, "network", "response header line exceeds %d bytes",
                     (int)CURL_MAX_HTTP_HEADER);
    nuon_error_setbool(L, "retryable", 0);
  } else if (o->code == CURLE_OPERATION_TIMEDOUT) {
    nuon_error_pushf(L, "timeout", "request timed out: %s%s", what, note);
    nuon_error_setbool(L, "retryable", 1);
  } else if (o->code == CURLE_SSL_CACERT_BADFILE) {
    /* a setting to fix, not a server to distrust */
    nuon_error_pushf(L, "config", "cannot use ca_file: %s", what);
    nuon_error_setbool(L, "retryable", 0);
  } else if (o->code == CURLE_PEER_FAILED_VERIFICATION || o->code == CURLE_SSL_CERTPROBLEM) {
    nuon_error_pushf(L, "network",
                     "TLS certificate verification failed: %s (if the server's certificate comes "
                     "from a private CA, set ca_file to that CA)",
                     what);
    nuon_error_setbool(L, "retryable", 0);
  } else {
    nuon_error_pushf(L, "network", "%s%s", what, note);
    nuon_error_setbool(L, "retryable", o->retryable);
  }
  nuon_error_setint(L, "attempts", attempts);
  nuon_error_setint(L, "curl_code", (long long)o->code);
}

/* Tokens shorter than this are not real API tokens (test values like "t"):
 * scrubbing them would only mangle messages. */
#define SCRUB_MIN_TOKEN 8

void nuon_error_scrub(lua_State *L, int idx, const struct curl_slist *headers) {
  static const char prefix[] = "Authorization: Bearer ";
  const char *tok = NULL;
  size_t tn = 0;
  idx = nuon_absindex(L, idx);
  for (; headers; headers = headers->next) {
    if (strncmp(headers->data, prefix, sizeof prefix - 1) == 0) {
      tok = headers->data + sizeof prefix - 1;
      tn = strlen(tok);
      break;
    }
  }
  if (!tok || tn < SCRUB_MIN_TOKEN || !lua_istable(L, idx)) return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t n, i;
    const char *s;
    int found = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      s = lua_tolstring(L, -1, &n);
      for (i = 0; !found && n >= tn && i <= n - tn; i++) found = memcmp(s + i, tok, tn) == 0;
      if (found) {
        luaL_Buffer b;
        lua_pushvalue(L, -2); /* the key */
        luaL_buffinit(L, &b);
        for (i = 0; i < n;) {
          if (n - i >= tn && memcmp(s + i, tok, tn) == 0) {
            luaL_addstring(&b, "<redacted>");
            i += tn;
          } else {
            luaL_addchar(&b, s[i++]);
          }
        }
        luaL_pushresult(&b);
        lua_rawset(L, idx); /* replacing an existing field is allowed during lua_next */
      }
    }
    lua_pop(L, 1);
  }
}

static void set_int_field(lua_State *L, const char *k, long long v) {
  nuon_pushint64(L, v);
  lua_setfield(L, -2, k);
}

int nuon_transfer_push_result(lua_State *L, const nuon_transfer *t, const nuon_outcome *o,
                              int attempts, const nuon_decode_opts *opts) {
  if (o->code != CURLE_OK || t->too_large || t->oom) {
    push_transport_error(L, t, o, attempts, opts);
    return 0;
  }
  if (o->status != 200) {
    push_http_error(L, t, o, attempts);
    return 0;
  }
  if (!nuon_decode_runs(L, t->body ? t->body : "", t->len, opts)) {
    nuon_error_setint(L, "status", o->status);
    nuon_error_setbool(L, "retryable", 0);
    nuon_error_setint(L, "attempts", attempts); /* a 200 may follow retries */
    return 0;
  }
  lua_createtable(L, 0, 4);
  if (t->has_next) {
    lua_pushboolean(L, t->next);
    lua_setfield(L, -2, "next");
  }
  if (t->has_offset) set_int_field(L, "offset", t->offset);
  if (t->has_limit) set_int_field(L, "limit", t->limit);
  if (t->has_number) set_int_field(L, "number", t->number);
  lua_setfield(L, -2, "page");
  return 1;
}
