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
#define NUON_MAX_CONCURRENCY 256        /* requests in flight in one batch */

#if defined(__GNUC__)
#define NUON_INTERNAL __attribute__((visibility("hidden")))
#define NUON_EXPORT __attribute__((visibility("default")))
#else
#define NUON_INTERNAL
#define NUON_EXPORT
#endif

NUON_EXPORT int luaopen_nuon_core(lua_State *L);

/* Pushes the metatable registered as `name`, first making it (meta's
 * functions, __index = methods, __name) and registering it once complete.
 * (core.c) */
NUON_INTERNAL void nuon_push_class(lua_State *L, const char *name, const luaL_Reg *meta,
                                   const luaL_Reg *methods);

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
 * userdata with __gc), so a Lua error raised later cannot leak it.  A
 * transport that does its own I/O (nuon.resty, through core.protocol) fills
 * one on the C stack with its response instead; its body is then borrowed.
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
  const char *tls_hint; /* how to fix a failed certificate check; NULL: ca_file */
} nuon_transfer;

/* Resets the capture fields (keeps the body's capacity). */
NUON_INTERNAL void nuon_transfer_reset(nuon_transfer *t);
/* Frees the body. Safe twice. */
NUON_INTERNAL void nuon_transfer_free(nuon_transfer *t);
/* Points the easy handle's write and header callbacks at t. */
NUON_INTERNAL void nuon_transfer_attach(nuon_transfer *t, CURL *curl);

/* ---- protocol.c: the rules of the API, without I/O ------------------------ */

/*
 * What every transport shares: the settings that shape requests and retries.
 * The blocking client embeds one; a request or an event-loop batch holds a
 * copy (so it may outlive its client); core.protocol wraps one for transports
 * that move bytes themselves (nuon.resty).
 */
typedef struct nuon_protocol {
  char *base_url;            /* without trailing slashes */
  struct curl_slist *headers; /* Authorization (the token), X-Nuon-Org-ID,
                                 Accept, User-Agent */
  int retries;               /* attempts after the first */
  double max_backoff;        /* seconds */
  int strict;
  size_t max_runs, max_body;
  uint64_t rng;              /* jitter */
} nuon_protocol;

/* Option readers over the options table at stack index 1; raise with
 * "<fname>: option '<name>' ..." in nuon.config's words. */
NUON_INTERNAL const char *nuon_opt_string(lua_State *L, const char *fname, const char *name,
                                          int required);
NUON_INTERNAL double nuon_opt_number(lua_State *L, const char *fname, const char *name,
                                     double def, double min, double max, int integral);
NUON_INTERNAL int nuon_opt_bool(lua_State *L, const char *fname, const char *name, int def);

/* Reads the protocol's options (base_url, token, org_id, user_agent, retries,
 * max_backoff, max_body, max_runs, strict) from the table at index 1 into a
 * zeroed p, raising on a bad one; p owns memory after this even when it
 * raises (the caller's userdata frees it with nuon_protocol_free). */
NUON_INTERNAL void nuon_protocol_init(lua_State *L, nuon_protocol *p, const char *fname);
NUON_INTERNAL void nuon_protocol_free(nuon_protocol *p);
/* Pushes core.limits: the bounds of the options, by name. */
NUON_INTERNAL void nuon_push_limits(lua_State *L);
/* A copy that owns its own memory (rng reseeded): 1, or 0 out of memory. */
NUON_INTERNAL int nuon_protocol_copy(nuon_protocol *dst, const nuon_protocol *src);

/* Pushes the path of an install's runs ("/v1/installs/{id}/sandbox-runs",
 * with run_id: ".../{run_id}"), each id percent-encoded as one segment; a
 * negative limit, offset or page is left out of the query. */
NUON_INTERNAL void nuon_push_path(lua_State *L, const char *id, size_t n, const char *run_id,
                                  size_t rn, long long limit, long long offset, long long page);
/* The same after p's base URL. */
NUON_INTERNAL void nuon_push_url(lua_State *L, const nuon_protocol *p, const char *id, size_t n,
                                 const char *run_id, size_t rn, long long limit,
                                 long long offset, long long page);
/* Optional non-negative integer argument (an integral float too), -1 when nil. */
NUON_INTERNAL long long nuon_opt_count(lua_State *L, int idx);
/* The install id argument at idx: a string of 1 to NUON_MAX_ID bytes, or raises. */
NUON_INTERNAL const char *nuon_check_id(lua_State *L, int idx, size_t *len);
/* The same for another id: `what` names it ("run": "run id must not be empty"). */
NUON_INTERNAL const char *nuon_check_named_id(lua_State *L, int idx, size_t *len,
                                              const char *what);
/* The decoding options of one call: p's, with strict overridden by the
 * argument at strict_idx unless it is nil, and the known_values at known_idx
 * (nil: none; checked, raising). */
NUON_INTERNAL nuon_decode_opts nuon_protocol_decode_opts(lua_State *L, const nuon_protocol *p,
                                                         int strict_idx, int known_idx);

/* Reads one response header line ("Name: value", CRLF or not) into t: the
 * page headers, Retry-After, Location, X-Nuon-API-Version; a status line
 * starts a new block, a blank line ends it.  0 when a Content-Length above
 * t->max_body says to stop receiving now. */
NUON_INTERNAL int nuon_response_header(nuon_transfer *t, const char *line, size_t n);
/* Seconds to wait according to Retry-After (delta-seconds or an HTTP date),
 * or -1 when there is none or it cannot be read. */
NUON_INTERNAL double nuon_retry_after(const nuon_transfer *t);

/* The outcome of one attempt, as the retry loop sees it. */
typedef struct nuon_outcome {
  CURLcode code;   /* CURLE_OK when an HTTP response arrived */
  long status;     /* HTTP status, 0 when none */
  int retryable;   /* worth another attempt */
} nuon_outcome;

/* Classifies a finished attempt: which statuses and failures to retry. */
NUON_INTERNAL nuon_outcome nuon_classify(const nuon_transfer *t, CURLcode code, long status);
/* The same for an attempt libcurl finished with code (transfer.c). */
NUON_INTERNAL nuon_outcome nuon_transfer_outcome(const nuon_transfer *t, CURL *curl, CURLcode code);

/*
 * The attempt state machine every transport shares: count an attempt when it
 * starts; when it ends, nuon_attempt_ended decides whether another is due
 * (retryable, attempts left) and when (backoff or Retry-After), or whether
 * the outcome is final.
 */
typedef struct nuon_attempts {
  int n;             /* attempts started */
  nuon_outcome last; /* of the last that ended */
  double wake_at;    /* monotonic seconds when the next is due (after a 1) */
} nuon_attempts;

NUON_INTERNAL void nuon_attempt_started(nuon_attempts *a);
/* 1: retry at a->wake_at; 0: a->last is the final outcome. */
NUON_INTERNAL int nuon_attempt_ended(nuon_attempts *a, nuon_protocol *p, nuon_outcome o,
                                     const nuon_transfer *t);

/* ---- response.c: a finished request as a Lua value ------------------------ */

/*
 * Pushes the Lua result of a finished request: the decoded runs (with .page)
 * or, opts->single, the run (with core.meta), and returns 1; or an error
 * object (the token of p's headers scrubbed from it) and returns 0.
 */
NUON_INTERNAL int nuon_push_result(lua_State *L, const nuon_transfer *t, const nuon_attempts *a,
                                   const nuon_decode_opts *opts, const nuon_protocol *p);
/* The same as a Lua function returns it (runs, or nil, err): 1 or 2 values. */
NUON_INTERNAL int nuon_return_result(lua_State *L, const nuon_transfer *t,
                                     const nuon_attempts *a, const nuon_decode_opts *opts,
                                     const nuon_protocol *p);
/* Pushes nil and an error { kind, message, retryable = false }: 2. */
NUON_INTERNAL int nuon_return_error(lua_State *L, const char *kind, const char *message);

/* ---- exchange.c: core.protocol, the rules for transports doing their I/O -- */

/* core.protocol(settings) -> nuon.protocol */
NUON_INTERNAL int nuon_exchange_new(lua_State *L);

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
  nuon_protocol p;          /* base URL, headers with the token, retries */
  CURL *curl;               /* the easy handle of blocking calls (keep-alive) */
  CURLM *multi;             /* created on first batch */
  CURLSH *share;            /* DNS and TLS session caches of curl and the
                               batches' handles */
  nuon_transfer t;
} nuon_client;

/* The client at stack index 1 (raises if it is not one). */
NUON_INTERNAL nuon_client *nuon_check_client(lua_State *L);
/* The open client at stack index 1: raises if it is not one or is closed. */
NUON_INTERNAL nuon_client *nuon_check_open_client(lua_State *L);

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
