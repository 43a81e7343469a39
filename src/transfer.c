/*
 * transfer.c - one libcurl transfer: the callbacks that receive the body
 * (bounded by max_body) and the header lines (read by protocol.c's
 * nuon_response_header), into a nuon_transfer.
 *
 * The callbacks only write into the nuon_transfer (a C struct owned by a
 * userdata); they never call Lua, so no Lua error can cross libcurl.  Lua
 * values are built by response.c after the transfer is over.
 */
#include <stdlib.h>
#include <string.h>

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
  t->api_version[0] = '\0';
  t->errbuf[0] = '\0';
  t->tls_hint = NULL;
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

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud) {
  size_t n = size * nmemb;
  /* 0 (a Content-Length above max_body) makes libcurl stop */
  return nuon_response_header(ud, line, n) ? n : 0;
}

void nuon_transfer_attach(nuon_transfer *t, CURL *curl) {
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, t->errbuf);
}


nuon_outcome nuon_transfer_outcome(const nuon_transfer *t, CURL *curl, CURLcode code) {
  long status = 0;
  if (code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return nuon_classify(t, code, status);
}
