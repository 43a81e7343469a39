/*
 * bench/curl_cjson.c - peer (d) of the request benchmark: the practical limit
 * of "libcurl + a cjson decode" from C.  One easy handle reused (keep-alive),
 * the same request options and headers nuon sends (Accept-Encoding offered,
 * so gzip when the server gives it, as nuon), the body into a reused buffer,
 * then lua-cjson's decode on it in an embedded Lua 5.4 state.
 *
 *   curl_cjson URL TOKEN ORG_ID REQUESTS ROUNDS [identity]
 *
 * With "identity" no Accept-Encoding is sent (the body comes uncompressed).
 *
 * Prints "RESULT rate=<requests/s of the best round> bytes=<body bytes>".
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static size_t on_data(char *data, size_t size, size_t n, void *ud) {
  buf *b = (buf *)ud;
  size_t k = size * n;
  if (b->len + k > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    char *np;
    while (cap < b->len + k) cap *= 2;
    np = (char *)realloc(b->p, cap);
    if (!np) return 0;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, k);
  b->len += k;
  return k;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void request(CURL *c, buf *b, lua_State *L) {
  long status = 0;
  CURLcode rc;
  b->len = 0;
  rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    fprintf(stderr, "curl_cjson: %s\n", curl_easy_strerror(rc));
    exit(1);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    fprintf(stderr, "curl_cjson: HTTP %ld\n", status);
    exit(1);
  }
  lua_pushvalue(L, 1); /* cjson.decode */
  lua_pushlstring(L, b->p, b->len);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "curl_cjson: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  if (!lua_istable(L, -1)) {
    fprintf(stderr, "curl_cjson: not an array\n");
    exit(1);
  }
  lua_pop(L, 1);
}

int main(int argc, char **argv) {
  CURL *c;
  struct curl_slist *h = NULL;
  char line[512];
  buf b = {NULL, 0, 0};
  lua_State *L;
  int n, rounds, r, i;
  double best = 0;

  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: curl_cjson URL TOKEN ORG_ID REQUESTS ROUNDS [identity]\n");
    return 2;
  }
  n = atoi(argv[4]);
  rounds = atoi(argv[5]);

  L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_dostring(L, "return require('cjson').decode") != LUA_OK) {
    fprintf(stderr, "curl_cjson: %s\n", lua_tostring(L, -1));
    return 1;
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);
  c = curl_easy_init();
  snprintf(line, sizeof line, "Authorization: Bearer %s", argv[2]);
  h = curl_slist_append(h, line);
  snprintf(line, sizeof line, "X-Nuon-Org-ID: %s", argv[3]);
  h = curl_slist_append(h, line);
  h = curl_slist_append(h, "Accept: application/json");
  h = curl_slist_append(h, "User-Agent: bench-curl-cjson");
  curl_easy_setopt(c, CURLOPT_URL, argv[1]);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (argc == 6) curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);

  for (i = 0; i < 5; i++) request(c, &b, L); /* connect, warm up */
  for (r = 0; r < rounds; r++) {
    double t0 = now(), dt;
    for (i = 0; i < n; i++) request(c, &b, L);
    dt = now() - t0;
    if (n / dt > best) best = n / dt;
  }
  printf("RESULT rate=%.3f bytes=%zu\n", best, b.len);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  curl_global_cleanup();
  free(b.p);
  lua_close(L);
  return 0;
}
