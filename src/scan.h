/*
 * scan.h - the decoder's byte-level primitives (decode_lex.h reads with
 * them, decode_cache.h compares keys and cached strings): whitespace,
 * short compares, the plain run of a string, eight digits at once, UTF-8
 * sequences.  Pure functions over [p, end): no Lua, no state, every read
 * bounded by `end`.  Static inline, so the decoder's hot loops keep them in
 * registers.
 *
 * Wide paths: SSE2 where the compiler targets it (every x86-64), else 8
 * bytes at a time in a 64-bit word on little-endian GNU-compatible
 * compilers, else a byte at a time (-DNUON_NO_SSE2, -DNUON_NO_SWAR turn
 * them off).  All three give the same answers: spec/c/scan_test.c checks
 * each against plain byte loops.
 */
#ifndef NUON_SCAN_H
#define NUON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Written `static NUON_INLINE`: the hot paths are inlined into the decoder's
 * loops whatever the compiler's size heuristics say. */
#if defined(__GNUC__)
#define NUON_INLINE inline __attribute__((always_inline))
#else
#define NUON_INLINE inline
#endif

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    !defined(NUON_NO_SWAR)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NUON_SWAR 1
#endif
#endif

#if defined(__GNUC__) && defined(__SSE2__) && !defined(NUON_NO_SSE2)
#include <emmintrin.h>
#define NUON_SSE2 1
#endif

typedef unsigned char uchar;

/* The first byte at or after p that is not JSON whitespace, or end. */
static NUON_INLINE const uchar *scan_ws(const uchar *p, const uchar *end) {
  /* one compare for the usual case: compact JSON, no whitespace at all */
  while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

/* memcmp(a, b, n) == 0 for the short strings compared here (keys, ids),
 * without a library call: overlapping 8- or 4-byte words. */
static NUON_INLINE int same_bytes(const void *a, const void *b, size_t n) {
  const uchar *x = (const uchar *)a, *y = (const uchar *)b;
  if (n >= 8) {
    uint64_t u, v;
    size_t i;
    for (i = 0; i + 8 < n; i += 8) {
      memcpy(&u, x + i, 8);
      memcpy(&v, y + i, 8);
      if (u != v) return 0;
    }
    memcpy(&u, x + n - 8, 8); /* the last 8, overlapping */
    memcpy(&v, y + n - 8, 8);
    return u == v;
  }
  if (n >= 4) {
    uint32_t u, v, s, t;
    memcpy(&u, x, 4);
    memcpy(&v, y, 4);
    memcpy(&s, x + n - 4, 4);
    memcpy(&t, y + n - 4, 4);
    return u == v && s == t;
  }
  while (n--)
    if (*x++ != *y++) return 0;
  return 1;
}

/* Do the bytes at p hold the n bytes k, with at least one byte after them? */
static NUON_INLINE int bytes_at(const uchar *p, const uchar *end, const void *k, size_t n) {
  return (size_t)(end - p) > n && same_bytes(p, k, n);
}

/* Do the bytes at p hold the m bytes of pat (m <= 48, pat readable for 48
 * bytes), with at least one byte after them?  16 bytes at a time, where the
 * input has 48 bytes left to read. */
static NUON_INLINE int pat_at(const uchar *p, const uchar *end, const char *pat, size_t m) {
#ifdef NUON_SSE2
  if (end - p > 48) {
    size_t i = 0;
    unsigned eq;
    for (; i + 16 < m; i += 16) {
      eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                                                      _mm_loadu_si128((const __m128i *)(const void *)(pat + i))));
      if (eq != 0xFFFFu) return 0;
    }
    eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                                                    _mm_loadu_si128((const __m128i *)(const void *)(pat + i))));
    return (~eq & ((1u << (m - i)) - 1)) == 0;
  }
#endif
  return bytes_at(p, end, pat, m);
}

/* The first byte at or after q that is '"', '\\', a control character or
 * non-ASCII, or end. */
static NUON_INLINE const uchar *scan_plain(const uchar *q, const uchar *end) {
#ifdef NUON_SSE2
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(' ');
  while (end - q >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
    /* signed: bytes >= 0x80 are negative, so below ' ' too */
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    if (bits) return q + __builtin_ctz(bits);
    q += 16;
  }
#endif
#ifdef NUON_SWAR
  {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - q >= 8) {
      uint64_t w, a, b, m;
      memcpy(&w, q, 8);
      a = w ^ (ones * '"');
      b = w ^ (ones * '\\');
      /* high bit of each byte that is zero in a or b, below 0x20, or >= 0x80;
       * the lowest flagged byte is always a true hit */
      m = (((a - ones) & ~a) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & highs;
      if (m) return q + (__builtin_ctzll(m) >> 3);
      q += 8;
    }
  }
#endif
  while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
  return q;
}

#ifdef NUON_SWAR
/* If the 8 bytes at p are all decimal digits, their value in *v. */
static NUON_INLINE int eight_digits(const uchar *p, uint64_t *v) {
  uint64_t w;
  memcpy(&w, p, 8);
  /* each byte c: (c & 0xF0) == 0x30 and ((c + 6) & 0xF0) == 0x30; a carry
   * out of a byte (c >= 0xFA) only comes from a byte that fails already */
  if ((w & (w + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) != 0x3030303030303030ULL) return 0;
  w -= 0x3030303030303030ULL;           /* eight digits, the first lowest */
  w = w * 10 + (w >> 8);                /* pairs: d0d1, d2d3, ... in bytes 0, 2, 4, 6 */
  w = (((w & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
       (((w >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
  *v = w;
  return 1;
}
#endif

/* Length of the well-formed UTF-8 sequence at q (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static inline size_t utf8_len(const uchar *q, const uchar *end) {
  size_t avail = (size_t)(end - q);
  uchar c = q[0], lo = 0x80, hi = 0xBF;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return (avail >= 2 && (q[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    return (avail >= 3 && q[1] >= lo && q[1] <= hi && (q[2] & 0xC0) == 0x80) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    return (avail >= 4 && q[1] >= lo && q[1] <= hi && (q[2] & 0xC0) == 0x80 &&
            (q[3] & 0xC0) == 0x80)
               ? 4
               : 0;
  }
  return 0;
}

#endif /* NUON_SCAN_H */
