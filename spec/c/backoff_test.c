/*
 * backoff_test.c - unit test of src/backoff.c (nuon_backoff_delay), built and
 * run by spec/backoff_spec.lua.  Checks the documented policy on many samples:
 * exponential ceilings base * 2^(n-1), full jitter over [0, ceiling], every
 * wait capped by max_backoff, Retry-After taken as given but capped too.
 * Prints one line per failed check and exits 1 if any failed.
 */
#include <limits.h>
#include <stdio.h>

#include "nuon.h"

#define SAMPLES 20000

static int failures = 0;

static void check(int ok, const char *what, int attempt, double got) {
  if (!ok) {
    printf("FAIL %s (attempt %d, got %.6f)\n", what, attempt, got);
    failures++;
  }
}

int main(void) {
  uint64_t rng = nuon_rng_seed(&rng), rng2;
  const double base = NUON_BACKOFF_BASE, max = 30;
  int attempt, i;

  /* full jitter under an exponential ceiling, capped by max_backoff */
  for (attempt = 1; attempt <= 12; attempt++) {
    double ceiling = base, lo = 1e9, hi = -1, sum = 0;
    for (i = 1; i < attempt; i++) ceiling *= 2;
    if (ceiling > max) ceiling = max;
    for (i = 0; i < SAMPLES; i++) {
      double d = nuon_backoff_delay(&rng, attempt, base, max, -1);
      if (d < lo) lo = d;
      if (d > hi) hi = d;
      sum += d;
    }
    check(lo >= 0, "never negative", attempt, lo);
    check(hi <= ceiling, "never above min(max_backoff, base * 2^(n-1))", attempt, hi);
    check(lo < 0.02 * ceiling, "jitter reaches down to 0", attempt, lo);
    check(hi > 0.98 * ceiling, "jitter reaches up to the ceiling", attempt, hi);
    check(sum / SAMPLES > 0.47 * ceiling && sum / SAMPLES < 0.53 * ceiling,
          "uniform: mean is half the ceiling", attempt, sum / SAMPLES);
  }

  /* a small max_backoff caps every wait; 0 means no wait at all */
  for (attempt = 1; attempt <= 64; attempt++) {
    double d = nuon_backoff_delay(&rng, attempt, base, 0.1, -1);
    check(d >= 0 && d <= 0.1, "capped by max_backoff = 0.1", attempt, d);
    d = nuon_backoff_delay(&rng, attempt, base, 0, -1);
    check(d == 0, "max_backoff = 0 never waits", attempt, d);
  }
  check(nuon_backoff_delay(&rng, INT_MAX, base, max, -1) <= max, "huge attempt numbers stay capped",
        INT_MAX, 0);

  /* Retry-After (seconds, already parsed) wins over jitter, capped */
  check(nuon_backoff_delay(&rng, 1, base, max, 5) == 5, "Retry-After: 5 waits 5 s", 1, 0);
  check(nuon_backoff_delay(&rng, 3, base, max, 0) == 0, "Retry-After: 0 waits 0 s", 3, 0);
  check(nuon_backoff_delay(&rng, 1, base, max, 3600) == max, "Retry-After: 3600 capped", 1, 0);
  check(nuon_backoff_delay(&rng, 1, base, 0.5, 1e300) == 0.5, "Retry-After: 1e300 capped", 1, 0);

  /* two clients do not retry in lockstep */
  rng = nuon_rng_seed(&rng);
  rng2 = nuon_rng_seed(&rng2);
  {
    int same = 0;
    for (i = 0; i < 100; i++)
      same += nuon_backoff_delay(&rng, 3, base, max, -1) == nuon_backoff_delay(&rng2, 3, base, max, -1);
    check(same < 5, "independent clients draw different delays", 3, same);
  }

  printf("%s: backoff policy, %d checks failed\n", failures ? "FAIL" : "ok", failures);
  return failures ? 1 : 0;
}
