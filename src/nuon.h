/*
 * nuon.h - shared types, names and internal prototypes of nuon.core.
 *
 * Only luaopen_nuon_core is exported from the shared object; every other
 * non-static symbol carries the nuon_ prefix and is hidden by the build.
 */
#ifndef NUON_H
#define NUON_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "compat.h"

#define NUON_VERSION "0.1.0"

#define NUON_CLIENT_MT "nuon.client"
#define NUON_ERROR_MT "nuon.error"

/* Limits.  Each has an option that can lower or raise it; errors name them. */
#define NUON_DEFAULT_MAX_DEPTH 128             /* JSON nesting, option max_depth */
#define NUON_HARD_MAX_DEPTH 1000               /* no option may exceed this */
#define NUON_DEFAULT_MAX_BODY (64u * 1024 * 1024) /* bytes, option max_body */
#define NUON_DEFAULT_MAX_RUNS 10000            /* runs in one live response, option max_runs */
/* Bounds of the numeric options, exported as core.limits so that nuon.config
 * checks the same ones with the same words.  Seconds stay below 2^31 ms (a
 * 32-bit long of milliseconds); counts and sizes below 2^53, where a Lua
 * number is still an exact integer on every Lua version. */
#define NUON_MIN_SECONDS 0.001
#define NUON_MAX_SECONDS 2147483.0
#define NUON_MAX_RETRIES 10
#define NUON_MAX_INT 9007199254740992.0 /* 2^53 */
#define NUON_MAX_ID 1024                /* bytes of an install id */

#if defined(__GNUC__)
#define NUON_INTERNAL __attribute__((visibility("hidden")))
#define NUON_EXPORT __attribute__((visibility("default")))
#else
#define NUON_INTERNAL
#define NUON_EXPORT
#endif

NUON_EXPORT int luaopen_nuon_core(lua_State *L);

/* ---- error.c: error objects (tables with kind, message, ... and __tostring) */

/* Pushes a new error table { kind = kind, message = message } with the
 * nuon.error metatable.  The caller may add fields with nuon_error_set*. */
NUON_INTERNAL void nuon_error_push(lua_State *L, const char *kind, const char *message);
/* Same, message built printf-style (bounded to 512 bytes). */
NUON_INTERNAL void nuon_error_pushf(lua_State *L, const char *kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Field setters on the error table at the top of the stack. */
NUON_INTERNAL void nuon_error_setstr(lua_State *L, const char *field, const char *s, size_t len);
NUON_INTERNAL void nuon_error_setint(lua_State *L, const char *field, long long v);
NUON_INTERNAL void nuon_error_setbool(lua_State *L, const char *field, int v);
/* Registers the nuon.error metatable (idempotent) and leaves it on the stack. */
NUON_INTERNAL void nuon_error_open(lua_State *L);

/* ---- decode.c / schema.c: JSON bytes -> validated run tables -------------- */

typedef struct nuon_decode_opts {
  int strict;    /* unknown enum values are errors, not warnings */
  int max_depth; /* nesting cap; 0 means NUON_DEFAULT_MAX_DEPTH */
  size_t max_runs; /* runs in the top-level array; 0 means no limit */
  int known;     /* stack index of a checked known_values table, 0: none */
  int single;    /* the body is one run (GET .../sandbox-runs/{run_id}) */
} nuon_decode_opts;

/* Reads the decoding options of a call: strict at stack index strict_idx
 * (nil: def_strict) and known_values at known_idx (nil: none; anything else
 * is checked, raising with the argument named). */
NUON_INTERNAL void nuon_decode_opts_read(lua_State *L, nuon_decode_opts *o, int def_strict,
                                         int strict_idx, int known_idx);

/* Whether the value at idx is a valid known_values table ({ enum name =
 * { "value", ... } }, every name an enum of the schema): 1, or 0 with a
 * message pushed. */
NUON_INTERNAL int nuon_known_values_check(lua_State *L, int idx);

/* Sets the response metadata of the run at the top of the stack (see
 * core.meta): { api_version = api_version } when api_version is not NULL. */
NUON_INTERNAL void nuon_meta_set(lua_State *L, const char *api_version);
/* Pushes the table run -> metadata (weak keys), creating it on first use. */
NUON_INTERNAL void nuon_meta_push(lua_State *L);

/*
 * Decodes a sandbox-runs response body (a JSON array of runs) of exactly len
 * bytes (buf need not be NUL-terminated).  On success pushes the runs sequence
 * (with .warnings) and returns 1.  On failure pushes an error object (kind
 * "decode" or "validation") and returns 0.  Never raises, except for memory
 * errors, and owns no C memory across a raise.
 */
NUON_INTERNAL int nuon_decode_runs(lua_State *L, const char *buf, size_t len,
                                   const nuon_decode_opts *opts);

/* Same for one run (a JSON object): pushes the run (with .warnings, paths
 * starting at the run: ".runner_jobs[1].status") or an error. */
NUON_INTERNAL int nuon_decode_run(lua_State *L, const char *buf, size_t len,
                                  const nuon_decode_opts *opts);

/*
 * Decodes any JSON value (used for error bodies): pushes it and returns 1, or
 * pushes a "decode" error and returns 0.  null decodes to nil.
 */
NUON_INTERNAL int nuon_decode_json(lua_State *L, const char *buf, size_t len, int max_depth);

/* Prepares the decoder's interned key strings (idempotent). */
NUON_INTERNAL void nuon_decode_open(lua_State *L);

/* Pushes a new table: enum name -> sequence of known values, or with
 * provenance set, enum name -> { value -> "seed" | "added YYYY-MM" ... }. */
NUON_INTERNAL void nuon_schema_push_enums(lua_State *L, int provenance);

/* Pushes a new table: object type name -> sequence of { field, kind [, type
 * or enum name] } (core.schema). */
NUON_INTERNAL void nuon_schema_push_types(lua_State *L);

/* ---- transfer.c: one HTTP transfer's state, outside Lua ------------------- */


/*
 * Everything libcurl's callbacks write goes here; the callbacks never touch
 * Lua.  The body is malloc'ed memory owned by whoever owns the transfer (a
 * userdata with __gc), so a Lua error raised later cannot leak it.
 */
typedef struct nuon_transfer {
  char *body;           /* response body, not NUL-terminated */
  size_t len, cap;
  size_t max_body;      /* limit enforced while receiving */
  int too_large;        /* the body (or its Content-Length) exceeded max_body */
  int oom;              /* allocation failed inside a callback */
  int head_done;        /* the header block's closing blank line arrived */
  /* X-Nuon-Page-* and Retry-After, captured from the last header block */
  int has_next, next;
  int has_offset, has_limit, has_number;
  long long offset, limit, number;
  char retry_after[64];
  char location[256];
  char api_version[64]; /* X-Nuon-API-Version, "" when absent */
  char errbuf[CURL_ERROR_SIZE];
} nuon_transfer;

/* Resets the capture fields (keeps the body's capacity). */
NUON_INTERNAL void nuon_transfer_reset(nuon_transfer *t);
/* Frees the body. Safe twice. */
NUON_INTERNAL void nuon_transfer_free(nuon_transfer *t);
/* Points the easy handle's write and header callbacks at t. */
NUON_INTERNAL void nuon_transfer_attach(nuon_transfer *t, CURL *curl);
/* Seconds to wait according to Retry-After (delta-seconds or an HTTP date),
 * or -1 when there is none or it cannot be read. */
NUON_INTERNAL double nuon_transfer_retry_after(const nuon_transfer *t);

/* Replaces the token (taken from the Authorization header in headers) with
 * "<redacted>" in every string field of the error table at idx: a hostile or
 * careless server may echo it back in its error body, a Location or a value. */
NUON_INTERNAL void nuon_error_scrub(lua_State *L, int idx, const struct curl_slist *headers);

/* The outcome of one attempt, as the retry loop sees it. */
typedef struct nuon_outcome {
  CURLcode code;   /* CURLE_OK when an HTTP response arrived */
  long status;     /* HTTP status, 0 when none */
  int retryable;   /* worth another attempt */
} nuon_outcome;

/* Classifies a finished attempt. */
NUON_INTERNAL nuon_outcome nuon_transfer_outcome(const nuon_transfer *t, CURL *curl, CURLcode code);
/*
 * Pushes the Lua result of a finished request: the decoded runs (with .page)
 * or, opts->single, the run (with core.meta), and returns 1; or an error
 * object and returns 0.  attempts is reported in errors.
 */
NUON_INTERNAL int nuon_transfer_push_result(lua_State *L, const nuon_transfer *t,
                                            const nuon_outcome *o, int attempts,
                                            const nuon_decode_opts *opts);

/* ---- backoff.c: retry delays ---------------------------------------------- */

/* Delay before attempt number `attempt + 1` (attempt >= 1): full jitter over
 * an exponential ceiling, or Retry-After when given; never above max_backoff. */
NUON_INTERNAL double nuon_backoff_delay(uint64_t *rng, int attempt, double base,
                                        double max_backoff, double retry_after);
NUON_INTERNAL uint64_t nuon_rng_seed(const void *salt);
NUON_INTERNAL void nuon_sleep(double seconds);
/* Monotonic seconds (CLOCK_MONOTONIC): for deadlines and intervals only. */
NUON_INTERNAL double nuon_now(void);

/* ---- http.c: the client userdata ---------------------------------------- */

#define NUON_BACKOFF_BASE 0.25 /* seconds: ceiling of the first retry's jitter */

typedef struct nuon_client {
  CURL *curl;               /* the easy handle of blocking calls (keep-alive) */
  CURLM *multi;             /* created on first batch */
  CURLSH *share;            /* DNS and TLS session caches of curl and the
                               batches' handles */
  struct curl_slist *headers;
  char *base_url;
  nuon_transfer t;
  int retries;
  double max_backoff;
  int strict;
  size_t max_runs;
  uint64_t rng;
} nuon_client;

/* The client at stack index 1 (raises if it is not one). */
NUON_INTERNAL nuon_client *nuon_check_client(lua_State *L);
/* Pushes the URL of an install's sandbox runs; a negative limit, offset or
 * page is left out of the query. */
NUON_INTERNAL void nuon_push_url(lua_State *L, const char *base_url, const char *id, size_t n,
                                 long long limit, long long offset, long long page);
NUON_INTERNAL void nuon_client_push_url(lua_State *L, const nuon_client *c, const char *id,
                                        size_t n, long long limit, long long offset,
                                        long long page);
/* Pushes the URL of one run: {base}/v1/installs/{id}/sandbox-runs/{run_id}. */
NUON_INTERNAL void nuon_client_push_run_url(lua_State *L, const nuon_client *c, const char *id,
                                            size_t n, const char *run_id, size_t rn);
/* Optional non-negative integer argument (an integral float too), -1 when nil. */
NUON_INTERNAL long long nuon_opt_count(lua_State *L, int idx);
/* The install id argument at idx: a string of 1 to NUON_MAX_ID bytes, or raises. */
NUON_INTERNAL const char *nuon_check_id(lua_State *L, int idx, size_t *len);
/* The same for another id: `what` names it ("run": "run id must not be empty"). */
NUON_INTERNAL const char *nuon_check_named_id(lua_State *L, int idx, size_t *len,
                                              const char *what);
/* The decoding options of one call: the client's, with strict overridden by
 * the argument at strict_idx unless it is nil, and the known_values at
 * known_idx (nil: none; checked, raising). */
NUON_INTERNAL nuon_decode_opts nuon_client_decode_opts(lua_State *L, const nuon_client *c,
                                                       int strict_idx, int known_idx);
/* Pushes core.limits: the bounds above, by option name. */
NUON_INTERNAL void nuon_push_limits(lua_State *L);

/* ---- watch.c: what an event loop watches for a multi-socket handle ------- */

typedef struct nuon_wsock {
  curl_socket_t fd;
  int what; /* CURL_POLL_IN, _OUT or _INOUT */
} nuon_wsock;

typedef struct nuon_watch {
  nuon_wsock *socks; /* the owner's array of cap entries */
  int n, cap;
  int overflow;      /* libcurl wanted more sockets than cap: an internal error */
  double timer_at;   /* monotonic deadline of libcurl's timer, <0 none */
} nuon_watch;

/* Points multi's socket and timer callbacks at w, which records into socks. */
NUON_INTERNAL void nuon_watch_attach(nuon_watch *w, CURLM *multi, nuon_wsock *socks, int cap);
/* Pushes { [fd] = "r" | "w" | "rw" }. */
NUON_INTERNAL void nuon_watch_push_sockets(lua_State *L, const nuon_watch *w);
/* The CURL_CSELECT_* mask of the events string at idx ("r", "w", "rw", "e"; default "rw"). */
NUON_INTERNAL int nuon_watch_events(lua_State *L, int idx);

/* ---- request.c: a non-blocking request driven by an external loop ------- */

/* c:start(install_id [, limit, offset, page, strict, known_values]) -> nuon.request */
NUON_INTERNAL int nuon_request_start(lua_State *L);
/* c:start_run(install_id, run_id [, strict, known_values]) -> nuon.request */
NUON_INTERNAL int nuon_request_start_run(lua_State *L);

/* ---- multi.c: many installs at once on libcurl's multi interface ------- */

/* c:batch(concurrency, next, done [, strict, known_values]) */
NUON_INTERNAL int nuon_multi_batch(lua_State *L);
/* c:start_batch(concurrency, next, done [, strict, known_values, result]) */
NUON_INTERNAL int nuon_multi_start_batch(lua_State *L);

/* Registers the nuon.client metatable (idempotent). */
NUON_INTERNAL void nuon_http_open(lua_State *L);
/* core.new_client(opts) */
NUON_INTERNAL int nuon_http_new_client(lua_State *L);

#endif /* NUON_H */
