/*
 * watch.c - what an event loop must watch for a multi handle driven through
 * libcurl's multi-socket API: the sockets libcurl wants (and for reading,
 * writing or both) and its timer.  The libcurl callbacks only record into the
 * nuon_watch (no Lua inside them); the owner turns that into Lua values.
 * Used by nuon.request (request.c) and the event-loop batch (multi.c).
 */
#include <string.h>

#include "nuon.h"

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
  nuon_watch *w = userp;
  int i;
  (void)easy;
  (void)socketp;
  for (i = 0; i < w->n; i++)
    if (w->socks[i].fd == s) break;
  if (what == CURL_POLL_REMOVE) {
    if (i < w->n) w->socks[i] = w->socks[--w->n];
    return 0;
  }
  if (i == w->n) {
    if (w->n == w->cap) {
      w->overflow = 1;
      return -1;
    }
    w->n++;
  }
  w->socks[i].fd = s;
  w->socks[i].what = what;
  return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
  nuon_watch *w = userp;
  (void)multi;
  w->timer_at = timeout_ms < 0 ? -1 : nuon_now() + (double)timeout_ms / 1000.0;
  return 0;
}

void nuon_watch_attach(nuon_watch *w, CURLM *multi, nuon_wsock *socks, int cap) {
  w->socks = socks;
  w->cap = cap;
  w->n = 0;
  w->overflow = 0;
  w->timer_at = -1;
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, w);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, w);
}

void nuon_watch_push_sockets(lua_State *L, const nuon_watch *w) {
  int i;
  lua_createtable(L, 0, w->n);
  for (i = 0; i < w->n; i++) {
    int what = w->socks[i].what;
    lua_pushstring(L, what == CURL_POLL_IN ? "r" : what == CURL_POLL_OUT ? "w" : "rw");
    lua_rawseti(L, -2, (int)w->socks[i].fd);
  }
}

int nuon_watch_events(lua_State *L, int idx) {
  const char *ev = luaL_optstring(L, idx, "rw");
  int mask = 0;
  if (strchr(ev, 'r')) mask |= CURL_CSELECT_IN;
  if (strchr(ev, 'w')) mask |= CURL_CSELECT_OUT;
  if (strchr(ev, 'e')) mask |= CURL_CSELECT_ERR;
  return mask;
}
