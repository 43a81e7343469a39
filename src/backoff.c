/*
 * backoff.c - how long to wait before retrying, and the waiting itself.
 *
 * Exponential backoff with full jitter: attempt n waits a uniformly random
 * time in [0, min(max_backoff, base * 2^(n-1))].  A server's Retry-After wins
 * over the jitter but is still capped by max_backoff, so a hostile or
 * confused server cannot park the caller for an hour.
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "nuon.h"

uint64_t nuon_rng_seed(const void *salt) {
  struct timespec ts;
  uint64_t x;
  clock_gettime(CLOCK_REALTIME, &ts);
  x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)salt ^
      ((uint64_t)getpid() << 40);
  return x ? x : 0x9E3779B97F4A7C15ULL;
}

/* xorshift64*: plenty for jitter, no global state */
static double rng_uniform(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

double nuon_backoff_delay(uint64_t *rng, int attempt, double base, double max_backoff,
                          double retry_after) {
  double ceiling = base;
  int i;
  if (retry_after >= 0) return retry_after < max_backoff ? retry_after : max_backoff;
  for (i = 1; i < attempt && ceiling < max_backoff; i++) ceiling *= 2;
  if (ceiling > max_backoff) ceiling = max_backoff;
  return ceiling * rng_uniform(rng);
}

void nuon_sleep(double seconds) {
  struct timespec ts;
  if (seconds <= 0) return;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

double nuon_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
