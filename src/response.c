/*
 * response.c - a finished request as a Lua value: the decoded runs (with
 * .page) or run, or an error object in the kinds and words every transport
 * shares: "http" with the server's error body, "network", "timeout",
 * "decode", "validation", "config"; "(after N attempts)" when retried; the
 * token scrubbed from every string a server could have echoed it into.
 */
#include <string.h>

#include "nuon.h"

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
                                 int attempts) {
  char note[48];
  const char *what = t->errbuf[0] ? t->errbuf : curl_easy_strerror(o->code);
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
    nuon_error_pushf(L, "network", "TLS certificate verification failed: %s (%s)", what,
                     t->tls_hint ? t->tls_hint
                                 : "if the server's certificate comes from a private CA, set "
                                   "ca_file to that CA");
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

/* Replaces the token (taken from the Authorization header in headers) with
 * "<redacted>" in every string field of the error table at idx: a hostile or
 * careless server may echo it back in its error body, a Location or a value. */
static void scrub(lua_State *L, int idx, const struct curl_slist *headers) {
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

static int push_value(lua_State *L, const nuon_transfer *t, const nuon_outcome *o, int attempts,
                      const nuon_decode_opts *opts) {
  if (o->code != CURLE_OK || t->too_large || t->oom) {
    push_transport_error(L, t, o, attempts);
    return 0;
  }
  if (o->status != 200) {
    push_http_error(L, t, o, attempts);
    return 0;
  }
  if (!(opts->single ? nuon_decode_run : nuon_decode_runs)(L, t->body ? t->body : "", t->len, opts)) {
    nuon_error_setint(L, "status", o->status);
    nuon_error_setbool(L, "retryable", 0);
    nuon_error_setint(L, "attempts", attempts); /* a 200 may follow retries */
    return 0;
  }
  if (opts->single) {
    nuon_meta_set(L, t->api_version[0] ? t->api_version : NULL);
    return 1;
  }
  lua_createtable(L, 0, 5);
  if (t->api_version[0]) {
    lua_pushstring(L, t->api_version);
    lua_setfield(L, -2, "api_version");
  }
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

int nuon_push_result(lua_State *L, const nuon_transfer *t, const nuon_attempts *a,
                     const nuon_decode_opts *opts, const nuon_protocol *p) {
  if (push_value(L, t, &a->last, a->n, opts)) return 1;
  scrub(L, -1, p->headers);
  return 0;
}

int nuon_return_result(lua_State *L, const nuon_transfer *t, const nuon_attempts *a,
                       const nuon_decode_opts *opts, const nuon_protocol *p) {
  if (nuon_push_result(L, t, a, opts, p)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

int nuon_return_error(lua_State *L, const char *kind, const char *message) {
  lua_pushnil(L);
  nuon_error_push(L, kind, message);
  nuon_error_setbool(L, "retryable", 0);
  return 2;
}
