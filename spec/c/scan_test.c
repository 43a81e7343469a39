/*
 * scan_test.c - unit test of src/scan.h, the decoder's byte-level
 * primitives, built three times by spec/scan_spec.lua: as the compiler
 * targets (SSE2 on x86-64), with -DNUON_NO_SSE2 (64-bit words) and with
 * -DNUON_NO_SSE2 -DNUON_NO_SWAR (a byte at a time).  Each function is
 * compared with a plain byte loop on generated inputs: every length and
 * offset near a 16-byte block, every byte value at every position of a
 * window, and the end of the input just before and after each read.
 * Inputs sit at the end of a malloc'ed block, so ASan (make check-asan
 * builds it too, when asked) would see a read past `end`.
 * Prints one line per failed check and exits 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

static int failures = 0;
static unsigned long checks = 0;

#define CHECK(cond, ...)             \
  do {                               \
    checks++;                        \
    if (!(cond)) {                   \
      if (failures++ < 20) {         \
        printf("FAIL %s: ", #cond);  \
        printf(__VA_ARGS__);         \
        printf("\n");                \
      }                              \
    }                                \
  } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static unsigned next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng >> 32);
}

/* A fresh block of exactly n bytes (at least 1), so that ASan sees a read
 * past them. */
static uchar *block(size_t n) {
  uchar *b = (uchar *)malloc(n ? n : 1);
  if (!b) {
    printf("FAIL out of memory\n");
    exit(1);
  }
  return b;
}

static const uchar *ref_plain(const uchar *q, const uchar *end) {
  while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
  return q;
}

static void test_scan_plain(void) {
  size_t len, pos;
  int v;
  /* one special byte at every position of buffers around block sizes */
  for (len = 0; len <= 70; len++) {
    for (pos = 0; pos <= len; pos++) {
      for (v = 0; v < 256; v += (v < 0x22 || v > 0x7d ? 1 : 29)) {
        uchar *b = block(len);
        size_t i;
        for (i = 0; i < len; i++) b[i] = (uchar)('a' + i % 26);
        if (pos < len) b[pos] = (uchar)v;
        CHECK(scan_plain(b, b + len) == ref_plain(b, b + len), "len %zu pos %zu byte 0x%02X", len,
              pos, v);
        free(b);
      }
    }
  }
  /* random text with sparse specials */
  for (v = 0; v < 20000; v++) {
    uchar buf[96];
    size_t n = next_rand() % sizeof buf, i, start = next_rand() % (n + 1);
    for (i = 0; i < n; i++) {
      unsigned r = next_rand() % 100;
      buf[i] = (uchar)(r < 3 ? next_rand() % 256 : 'A' + r % 26);
    }
    CHECK(scan_plain(buf + start, buf + n) == ref_plain(buf + start, buf + n), "random %d", v);
  }
}

static int ref_same(const uchar *a, const uchar *b, size_t n) {
  return memcmp(a, b, n) == 0;
}

static void test_same_and_pat(void) {
  char pat[48];
  uchar text[200];
  size_t m, i, room;
  int k;
  for (m = 0; m <= 48; m++) {
    for (k = 0; k < 200; k++) {
      size_t diff = m ? next_rand() % m : 0;
      for (i = 0; i < sizeof pat; i++) pat[i] = (char)(next_rand() % 4 + 'a');
      memcpy(text, pat, sizeof pat);
      memset(text + sizeof pat, 'z', sizeof text - sizeof pat);
      if (k & 1 && m) text[diff] ^= (uchar)(1u << (next_rand() % 8)); /* one bit off */
      if (m <= 45) {
        CHECK(same_bytes(text, pat, m) == ref_same(text, (const uchar *)pat, m), "same_bytes m %zu", m);
      }
      /* the input ending anywhere from before the pattern's end to far after */
      for (room = m > 2 ? m - 2 : 0; room <= m + 52; room++) {
        uchar *t = block(room);
        int want = room > m && ref_same(text, (const uchar *)pat, m);
        memcpy(t, text, room);
        CHECK(pat_at(t, t + room, pat, m) == want, "pat_at m %zu room %zu", m, room);
        if (m <= 45) CHECK(bytes_at(t, t + room, pat, m) == want, "bytes_at m %zu room %zu", m, room);
        free(t);
      }
    }
  }
}

#ifdef NUON_SWAR
static void test_eight_digits(void) {
  uchar b[8];
  int pos, v, k;
  /* every byte value at every position among digits */
  for (pos = 0; pos < 8; pos++) {
    for (v = 0; v < 256; v++) {
      uint64_t got = 0, want = 0;
      int all = 1, i;
      for (i = 0; i < 8; i++) b[i] = (uchar)('0' + (i * 7 + pos) % 10);
      b[pos] = (uchar)v;
      for (i = 0; i < 8; i++) {
        if (b[i] < '0' || b[i] > '9') all = 0;
        want = want * 10 + (uint64_t)(b[i] - '0');
      }
      CHECK(eight_digits(b, &got) == all, "eight_digits pos %d byte 0x%02X", pos, v);
      if (all) CHECK(got == want, "eight_digits value pos %d", pos);
    }
  }
  /* random digit strings, and bytes that carry (0xFA..0xFF) next to digits */
  for (k = 0; k < 100000; k++) {
    uint64_t got = 0, want = 0;
    int i, all = 1;
    for (i = 0; i < 8; i++) {
      unsigned r = next_rand();
      b[i] = (uchar)(r % 16 == 0 ? 0xFA + r % 6 : '0' + r % 10);
      if (b[i] > '9') all = 0;
      want = want * 10 + (uint64_t)(b[i] - '0');
    }
    CHECK(eight_digits(b, &got) == all, "eight_digits random %d", k);
    if (all) CHECK(got == want, "eight_digits random value %d", k);
  }
}
#endif

int main(void) {
  const char *path =
#if defined(NUON_SSE2)
      "sse2";
#elif defined(NUON_SWAR)
      "swar";
#else
      "bytes";
#endif
  test_scan_plain();
  test_same_and_pat();
#ifdef NUON_SWAR
  test_eight_digits();
#endif
  printf("ok: scan.h (%s), %lu checks, %d failed\n", path, checks, failures);
  return failures ? 1 : 0;
}
