/*
 * decode_lex.h - the JSON lexer (a part of decode.c, see decode_types.h),
 * over scan.h's byte primitives: literals; strings, escape-free ones as
 * slices of the input, others decoded (escapes, surrogate pairs) into a
 * scratch block owned by Lua, UTF-8 checked either way; numbers, int64
 * exact and eight digits at a time, the rest by strtod in the C locale's
 * spelling; and the punctuation around members.  Each function takes the
 * cursor and returns the one after what it read, NULL on error.
 */
#ifndef NUON_DECODE_LEX_H
#define NUON_DECODE_LEX_H

#include <float.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "decode_error.h"

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)

/* A number as read_number found it. */
typedef struct number {
  int is_int; /* an integer literal within int64 */
  long long i;
  double f;
} number;

/* A scratch block of at least `need` bytes, owned by Lua. */
static char *scratch(decoder *d, size_t need) {
  if (need > d->cap) {
    size_t cap = d->cap * 2;
    if (cap < need) cap = need;
    d->buf = (char *)nuon_newuserdata(d->L, cap);
    lua_replace(d->L, d->scratch);
    d->cap = cap;
  }
  return d->buf;
}

/* The literal lit (n bytes) at p; returns the byte after it. */
static const uchar *read_literal(decoder *d, const uchar *p, const char *lit, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (p + i >= d->end) return fail_eof(d);
    if (p[i] != (uchar)lit[i]) return fail_unexpected(d, p + i);
  }
  return p + n;
}

static size_t utf8_put(char *out, unsigned long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The four hex digits of the \u escape starting at q; returns q past them. */
static const uchar *read_hex4(decoder *d, const uchar *q, unsigned *v) {
  unsigned r = 0;
  int i;
  for (i = 2; i < 6; i++) {
    uchar c;
    if (q + i >= d->end) return fail_eof(d);
    c = q[i];
    r <<= 4;
    if (IS_DIGIT(c)) r |= (unsigned)(c - '0');
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') r |= (unsigned)((c | 0x20) - 'a' + 10);
    else return fail_at(d, q, "invalid \\u escape in string");
  }
  *v = r;
  return q + 6;
}

/* The \u escape at q (a surrogate pair is one code point); returns the byte
 * after it. */
static const uchar *read_u(decoder *d, const uchar *q, unsigned long *cp) {
  unsigned hi, lo;
  const uchar *r = read_hex4(d, q, &hi);
  if (!r) return NULL;
  if (hi >= 0xDC00 && hi <= 0xDFFF)
    return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  if (hi < 0xD800 || hi > 0xDBFF) {
    *cp = hi;
    return r;
  }
  if (r >= d->end || (r[0] == '\\' && r + 1 >= d->end)) return fail_eof(d);
  if (r[0] != '\\' || r[1] != 'u') return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  if (!read_hex4(d, r, &lo)) return NULL;
  if (lo < 0xDC00 || lo > 0xDFFF)
    return fail_at(d, q, "unpaired surrogate \\u%04X in string", hi);
  *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + (lo - 0xDC00);
  return r + 6;
}

static const uchar *fail_in_string(decoder *d, const uchar *q) {
  if (*q < 0x20) return fail_at(d, q, "control character 0x%02X in string", *q);
  return fail_at(d, q, "invalid UTF-8 byte 0x%02X in string", *q);
}

/* The rest of a string with escapes: p is its first byte, q its first
 * backslash.  Decodes into the scratch block. */
static const uchar *read_escaped(decoder *d, const uchar *p, const uchar *q, const char **s,
                                 size_t *n) {
  const uchar *e = q, *end = d->end;
  char *out;
  size_t o;
  /* The decoded text is never longer than the raw text up to the closing
   * quote; the decoding loop below stops at the same quote. */
  while (e < end && *e != '"') e += (*e == '\\') ? 2 : 1;
  if (e > end) e = end;
  out = scratch(d, (size_t)(e - p));
  o = (size_t)(q - p);
  memcpy(out, p, o);
  while (q < e) {
    uchar c = *q;
    if (c == '\\') {
      if (e - q < 2) return fail_eof(d);
      switch (q[1]) {
        case '"': case '\\': case '/': out[o++] = (char)q[1]; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
          unsigned long cp = 0;
          const uchar *r = read_u(d, q, &cp);
          if (!r) return NULL;
          o += utf8_put(out + o, cp);
          q = r;
          continue;
        }
        default:
          if (q[1] > 0x20 && q[1] < 0x7f)
            return fail_at(d, q, "invalid escape '\\%c' in string", q[1]);
          return fail_at(d, q, "invalid escape in string");
      }
      q += 2;
    } else if (c >= 0x20 && c < 0x80) {
      out[o++] = (char)c;
      q++;
    } else {
      size_t k = c < 0x20 ? 0 : utf8_len(q, end);
      if (!k) return fail_in_string(d, q);
      memcpy(out + o, q, k);
      o += k;
      q += k;
    }
  }
  if (q >= end) return fail_eof(d);
  *s = out;
  *n = o;
  return q + 1;
}

/* A string past its plain start: b is its first byte, q the first byte
 * scan_plain stopped at that is not its closing quote. */
static const uchar *read_string_rest(decoder *d, const uchar *b, const uchar *q, const char **s,
                                     size_t *n) {
  const uchar *end = d->end;
  for (;;) {
    if (q >= end) return fail_eof(d);
    if (*q == '"') {
      *s = (const char *)b;
      *n = (size_t)(q - b);
      return q + 1;
    }
    if (*q == '\\') return read_escaped(d, b, q, s, n);
    {
      size_t k = *q < 0x20 ? 0 : utf8_len(q, end);
      if (!k) return fail_in_string(d, q);
      q = scan_plain(q + k, end);
    }
  }
}

/* The string whose opening quote is at p; returns the byte after its
 * closing quote.  *s, *n: its decoded bytes, a slice of the input when it
 * has no escapes, else the scratch block (valid until the scratch is used
 * again). */
static NUON_INLINE const uchar *read_string(decoder *d, const uchar *p, const char **s, size_t *n) {
  const uchar *b = p + 1, *q = scan_plain(b, d->end);
  if (q < d->end && *q == '"') {
    *s = (const char *)b;
    *n = (size_t)(q - b);
    return q + 1;
  }
  return read_string_rest(d, b, q, s, n);
}

static const uchar *to_double(decoder *d, const uchar *s, const uchar *e, double *out) {
  size_t n = (size_t)(e - s), i;
  char tmp[64], *b = n < sizeof tmp ? tmp : scratch(d, n + 1);
  memcpy(b, s, n);
  b[n] = '\0';
  if (!d->decimal_point) {
    const char *dp = localeconv()->decimal_point;
    d->decimal_point = dp && dp[0] ? dp[0] : '.';
  }
  if (d->decimal_point != '.')
    for (i = 0; i < n; i++)
      if (b[i] == '.') b[i] = d->decimal_point;
  *out = strtod(b, NULL);
  if (*out > DBL_MAX || *out < -DBL_MAX) return fail_at(d, s, "number out of range");
  return e;
}

/* The number at p: an integer literal that fits int64 is read exactly,
 * anything else (fraction, exponent, more digits) as a double.  Returns the
 * byte after it. */
static const uchar *read_number(decoder *d, const uchar *p, number *num) {
  const uchar *s = p, *digits, *end = d->end;
  unsigned long long u = 0; /* wraps past 19 digits, which go to strtod */
  int neg = 0, frac = 0;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p >= end) return fail_eof(d);
  digits = p;
  if (*p == '0') {
    p++;
    if (p < end && IS_DIGIT(*p)) return fail_at(d, p - 1, "leading zero in number");
  } else if (IS_DIGIT(*p)) {
#ifdef NUON_SWAR
    uint64_t eight;
    while (end - p >= 8 && eight_digits(p, &eight)) {
      u = u * 100000000u + eight;
      p += 8;
    }
#endif
    while (p < end && IS_DIGIT(*p)) u = u * 10 + (unsigned)(*p++ - '0');
  } else {
    return fail_unexpected(d, p);
  }
  if (p < end && *p == '.') {
    p++;
    if (p >= end) return fail_eof(d);
    if (!IS_DIGIT(*p)) return fail_unexpected(d, p);
    do p++; while (p < end && IS_DIGIT(*p));
    frac = 1;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end) return fail_eof(d);
    if (!IS_DIGIT(*p)) return fail_unexpected(d, p);
    do p++; while (p < end && IS_DIGIT(*p));
    frac = 1;
  }
  if (!frac && p - digits <= 19) {
    if (!neg && u <= (unsigned long long)LLONG_MAX) {
      num->is_int = 1;
      num->i = (long long)u;
      return p;
    }
    if (neg && u <= (unsigned long long)LLONG_MAX + 1) {
      num->is_int = 1;
      num->i = u > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)u;
      return p;
    }
  }
  num->is_int = 0;
  return to_double(d, s, p, &num->f);
}

static void push_number(lua_State *L, const number *num) {
#if NUON_HAS_INTEGERS
  if (num->is_int) lua_pushinteger(L, (lua_Integer)num->i);
  else lua_pushnumber(L, (lua_Number)num->f);
#else
  lua_pushnumber(L, num->is_int ? (lua_Number)num->i : (lua_Number)num->f);
#endif
}

/* Does the input at p (an opening quote) hold exactly the string k (escape-free)? */
static NUON_INLINE int key_at(const decoder *d, const uchar *p, const void *k, size_t n) {
  return (size_t)(d->end - p) > n + 1 && p[n + 1] == '"' && same_bytes(p + 1, k, n);
}

/* ":" after a key at p, then the first byte of the value. */
static const uchar *read_colon(decoder *d, const uchar *p) {
  const uchar *end = d->end;
  p = scan_ws(p, end);
  if (p >= end) return fail_eof(d);
  if (*p != ':') return fail_unexpected(d, p);
  p = scan_ws(p + 1, end);
  if (p >= end) return fail_eof(d);
  return p;
}

/* After a member or item at p: returns the first byte of the next one, or
 * (*closed set) the byte after the closing byte. */
static NUON_INLINE const uchar *next_member(decoder *d, const uchar *p, uchar close, int *closed) {
  const uchar *end = d->end;
  if (p < end) {
    if (*p == ',') {
      p++;
      return (p < end && *p > ' ') ? p : scan_ws(p, end);
    }
    if (*p == close) {
      *closed = 1;
      return p + 1;
    }
  }
  p = scan_ws(p, end);
  if (p >= end) return fail_eof(d);
  if (*p == ',') return scan_ws(p + 1, end);
  if (*p != close) return fail_unexpected(d, p);
  *closed = 1;
  return p + 1;
}

/* The first byte inside the container that opens at p; *closed set when
 * it is empty (the byte after it returned). */
static NUON_INLINE const uchar *first_member(decoder *d, const uchar *p, uchar close, int *closed) {
  p = scan_ws(p + 1, d->end);
  if (p < d->end && *p == close) {
    *closed = 1;
    return p + 1;
  }
  return p;
}

#endif /* NUON_DECODE_LEX_H */
