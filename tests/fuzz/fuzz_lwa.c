/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the parsers of cloud/lwa (src/cloud/lwa_int.h, docs/service.md §2): the code pair
 * reply, the token reply (with and without a required refresh token), the error reply
 * and the token file. The first byte picks the parser (its low 7 bits modulo 5) and the
 * form of the rest:
 *
 *  - raw (bit 7 clear): the rest is the reply or file as it is, in a heap copy of
 *    exactly its length (a read past it is a heap overflow ASan reports);
 *  - built (bit 7 set): bytes 1..8 are numbers and flags, the rest is '\n'-separated
 *    field values; the harness writes the JSON itself, each value escaped (bit 6: every
 *    byte as \u00XX, else only what JSON requires), so it knows what the parser must
 *    find, and checks both ways: the parse succeeds exactly when the values are valid
 *    by lwa_int.h (a NUL in any value, or a byte after the object that is not white space,
 *    refuses the whole text), and then returns exactly those values.
 *
 * Checked on every parse: the return is 0 or the one error lwa_int.h names; the ret_
 * struct is untouched on failure; every string handed out is NUL-terminated within its
 * array, 1..LWA_CODE_MAX / 1..LWA_TOKEN_MAX bytes of 0x21..0x7e (a refresh or access
 * token may be "" where lwa_int.h says so); expires_in, interval_ms and expires_at are
 * within their documented ranges; an error code is "" or [a-z_]+ shorter than its
 * buffer (a heap buffer of exactly n bytes).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "cloud/lwa_int.h"
#include "core/buf.h"
#include "core/err.h"

enum { P_CODEPAIR, P_TOKENS_NEED_REFRESH, P_TOKENS, P_ERROR, P_FILE, P_COUNT };

#define BUILT_HDR 9  /* mode byte + 8 bytes of numbers and flags */
#define MAX_FIELDS 4 /* the most any parser reads */

/* A string the parser handed out: NUL-terminated within cap, printable, no space. */
static void check_tok(const char *s, size_t cap, size_t max, bool may_be_empty) {
  size_t n = strnlen(s, cap);
  CHECK(n < cap && n <= max);
  CHECK(n > 0 || may_be_empty);
  for (size_t i = 0; i < n; i++)
    CHECK((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f);
}

/* lwa_int.h's rule on the value the harness wrote (which may hold a NUL). */
static bool value_ok(const uint8_t *v, size_t n, size_t max) {
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if (v[i] <= 0x20 || v[i] >= 0x7f)
      return false;
  return true;
}

static bool value_is(const char *s, const uint8_t *v, size_t n) {
  return strlen(s) == n && memcmp(s, v, n) == 0;
}

static bool untouched(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0xa5)
      return false;
  return true;
}

/* Every parser on one text; the struct checks that do not depend on how it was made.
 * Returns the parser's result (the codepair, tokens or file in *out when 0). */
union parsed {
  struct lwa_codepair cp;
  struct lwa_token_reply tok;
  struct lwa_token_file file;
};

static int run_parser(int mode, const char *text, size_t len, union parsed *out, char *err,
                      size_t err_n) {
  memset(out, 0xa5, sizeof(*out));
  int r = 0;
  switch (mode) {
  case P_CODEPAIR:
    r = lwa_parse_codepair(text, len, &out->cp);
    CHECK(r == 0 || r == -AMP_EPROTO);
    if (r < 0) {
      CHECK(untouched(&out->cp, sizeof(out->cp)));
      break;
    }
    check_tok(out->cp.device_code, sizeof(out->cp.device_code), LWA_CODE_MAX, false);
    check_tok(out->cp.user_code, sizeof(out->cp.user_code), LWA_CODE_MAX, false);
    check_tok(out->cp.uri, sizeof(out->cp.uri), LWA_CODE_MAX, false);
    CHECK(out->cp.expires_in >= 1 && out->cp.expires_in <= LWA_CODE_LIFETIME_MAX_S);
    CHECK(out->cp.interval_ms >= LWA_INTERVAL_MIN_MS && out->cp.interval_ms <= LWA_INTERVAL_MAX_MS);
    break;
  case P_TOKENS_NEED_REFRESH:
  case P_TOKENS:
    r = lwa_parse_tokens(text, len, mode == P_TOKENS_NEED_REFRESH, &out->tok);
    CHECK(r == 0 || r == -AMP_EPROTO);
    if (r < 0) {
      CHECK(untouched(&out->tok, sizeof(out->tok)));
      break;
    }
    check_tok(out->tok.access, sizeof(out->tok.access), LWA_TOKEN_MAX, false);
    check_tok(out->tok.refresh, sizeof(out->tok.refresh), LWA_TOKEN_MAX,
              mode != P_TOKENS_NEED_REFRESH);
    CHECK(out->tok.expires_in >= 1 && out->tok.expires_in <= LWA_TOKEN_LIFETIME_MAX_S);
    break;
  case P_ERROR: {
    memset(err, 0xa5, err_n);
    lwa_parse_error(text, len, err, err_n);
    size_t n = strnlen(err, err_n);
    CHECK(n < err_n);
    CHECK(strspn(err, "abcdefghijklmnopqrstuvwxyz_") == n);
    break;
  }
  default:
    r = lwa_parse_file(text, len, &out->file);
    CHECK(r == 0 || r == -AMP_EJSON);
    if (r < 0) {
      CHECK(untouched(&out->file, sizeof(out->file)));
      break;
    }
    check_tok(out->file.refresh, sizeof(out->file.refresh), LWA_TOKEN_MAX, false);
    check_tok(out->file.access, sizeof(out->file.access), LWA_TOKEN_MAX, true);
    CHECK(out->file.expires_at >= 0 && out->file.expires_at <= LWA_EXPIRES_AT_MAX);
    if (!out->file.access[0])
      CHECK(out->file.expires_at == 0);
    break;
  }
  return r;
}

/* ------------------------------------------------------------- the built form */

struct field {
  const uint8_t *v;
  size_t n;
};

/* Appends "key":"value" (after a comma unless first); 0 or -ENOMEM. */
static int add_str(struct buf *b, const char *key, const struct field *f, bool escape_all,
                   bool *nul) {
  if (memchr(f->v, 0, f->n))
    *nul = true; /* lwa_int.h: the whole text is refused */
  static const char hex[] = "0123456789abcdef";
  int e = buf_printf(b, "%s\"%s\":\"", b->len > 1 ? "," : "", key);
  for (size_t i = 0; i < f->n; i++) {
    uint8_t c = f->v[i];
    if (c == '"' || c == '\\') {
      char q[2] = {'\\', (char)c};
      e |= buf_append(b, q, 2);
    } else if (escape_all || c < 0x20 || c >= 0x7f) {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      e |= buf_append(b, u, 6);
    } else {
      e |= buf_append_u8(b, c);
    }
  }
  return e | buf_append_u8(b, '"');
}

static int16_t be16(const uint8_t *p) {
  return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
}

static void fuzz_built(int mode, const uint8_t *data, size_t size) {
  if (size < BUILT_HDR)
    return;
  bool escape_all = data[0] & 0x40;
  int16_t n1 = be16(data + 1), n2 = be16(data + 3);
  int32_t n32 = (int32_t)((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
                          (uint32_t)data[3] << 8 | data[4]);
  uint8_t flags = data[5];
  /* expires_in: bit 4 of the flags scales it past the lifetime caps */
  long exp = (long)n1 * (flags & 16 ? 1000 : 1);
  size_t err_n = 1 + data[6] % 80;

  struct field f[MAX_FIELDS] = {{0}};
  const uint8_t *p = data + BUILT_HDR, *end = data + size;
  for (size_t i = 0; i < MAX_FIELDS; i++) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    f[i] = (struct field){p, (size_t)((nl ? nl : end) - p)};
    if (!nl) {
      p = end;
      continue;
    }
    p = nl + 1;
  }

  /* Every byte escaped takes 6: the bound only fails on -ENOMEM, which skips the input. */
  struct buf b = BUF_INIT(6 * size + 256);
  int e = buf_append_u8(&b, '{');
  bool rt_present = flags & 1, type_present = flags & 2, at_present = flags & 4;
  bool expect_ok = false, nul = false;
  switch (mode) {
  case P_CODEPAIR:
    e |= add_str(&b, "device_code", &f[0], escape_all, &nul);
    e |= add_str(&b, "user_code", &f[1], escape_all, &nul);
    e |= add_str(&b, "verification_uri", &f[2], escape_all, &nul);
    e |= buf_printf(&b, ",\"expires_in\":%ld", exp);
    if (flags & 8)
      e |= buf_printf(&b, ",\"interval\":%s%d.%d", n2 < 0 ? "-" : "", abs(n2) / 10, abs(n2) % 10);
    expect_ok = value_ok(f[0].v, f[0].n, LWA_CODE_MAX) && value_ok(f[1].v, f[1].n, LWA_CODE_MAX) &&
                value_ok(f[2].v, f[2].n, LWA_CODE_MAX) && exp >= 1;
    break;
  case P_TOKENS_NEED_REFRESH:
  case P_TOKENS:
    e |= add_str(&b, "access_token", &f[0], escape_all, &nul);
    if (rt_present)
      e |= add_str(&b, "refresh_token", &f[1], escape_all, &nul);
    if (type_present)
      e |= add_str(&b, "token_type", &f[2], escape_all, &nul);
    e |= buf_printf(&b, ",\"expires_in\":%ld", exp);
    expect_ok =
        value_ok(f[0].v, f[0].n, LWA_TOKEN_MAX) &&
        (!rt_present || value_ok(f[1].v, f[1].n, LWA_TOKEN_MAX)) &&
        (rt_present || mode == P_TOKENS) &&
        (!type_present || (f[2].n == 6 && strncasecmp((const char *)f[2].v, "bearer", 6) == 0 &&
                           !memchr(f[2].v, 0, 6))) &&
        exp >= 1;
    break;
  case P_ERROR:
    e |= add_str(&b, "error", &f[0], escape_all, &nul);
    e |= add_str(&b, "error_description", &f[1], escape_all, &nul);
    break;
  default:
    e |= buf_printf(&b, "\"version\":1");
    e |= add_str(&b, "refresh_token", &f[0], escape_all, &nul);
    if (at_present)
      e |= add_str(&b, "access_token", &f[1], escape_all, &nul);
    e |= buf_printf(&b, ",\"expires_at\":%lld", (long long)n32 * 65536);
    expect_ok = value_ok(f[0].v, f[0].n, LWA_TOKEN_MAX) &&
                (!at_present || f[1].n == 0 || value_ok(f[1].v, f[1].n, LWA_TOKEN_MAX)) &&
                n32 >= 0 && (long long)n32 * 65536 <= LWA_EXPIRES_AT_MAX;
    break;
  }
  /* After the object: white space (bit 6, fine) or a byte that is not (bit 5, not JSON). */
  e |= buf_append_u8(&b, '}');
  if (flags & 0x40)
    e |= buf_append_str(&b, " \r\n\t");
  bool junk = flags & 0x20;
  if (junk)
    e |= buf_append_str(&b, " x");
  expect_ok = expect_ok && !nul && !junk;
  if (e != 0) {
    buf_done(&b);
    return;
  }

  char *text = malloc(b.len), *err = malloc(err_n);
  union parsed *out = malloc(sizeof(*out));
  if (!text || !err || !out)
    goto out;
  memcpy(text, b.data, b.len);
  int r = run_parser(mode, text, b.len, out, err, err_n);
  switch (mode) {
  case P_CODEPAIR:
    CHECK((r == 0) == expect_ok);
    if (r < 0)
      break;
    CHECK(value_is(out->cp.device_code, f[0].v, f[0].n));
    CHECK(value_is(out->cp.user_code, f[1].v, f[1].n));
    CHECK(value_is(out->cp.uri, f[2].v, f[2].n));
    CHECK(out->cp.expires_in == (exp > LWA_CODE_LIFETIME_MAX_S ? LWA_CODE_LIFETIME_MAX_S : exp));
    if (!(flags & 8) || n2 <= 0)
      CHECK(out->cp.interval_ms == LWA_INTERVAL_DEFAULT_MS);
    break;
  case P_TOKENS_NEED_REFRESH:
  case P_TOKENS:
    CHECK((r == 0) == expect_ok);
    if (r < 0)
      break;
    CHECK(value_is(out->tok.access, f[0].v, f[0].n));
    if (rt_present)
      CHECK(value_is(out->tok.refresh, f[1].v, f[1].n));
    else
      CHECK(out->tok.refresh[0] == '\0');
    CHECK(out->tok.expires_in == (exp > LWA_TOKEN_LIFETIME_MAX_S ? LWA_TOKEN_LIFETIME_MAX_S : exp));
    break;
  case P_ERROR: {
    bool code = !nul && !junk && f[0].n > 0 && f[0].n < err_n;
    for (size_t i = 0; code && i < f[0].n; i++)
      code = (f[0].v[i] >= 'a' && f[0].v[i] <= 'z') || f[0].v[i] == '_';
    if (code)
      CHECK(value_is(err, f[0].v, f[0].n));
    else
      CHECK(err[0] == '\0');
    break;
  }
  default:
    CHECK((r == 0) == expect_ok);
    if (r < 0)
      break;
    CHECK(value_is(out->file.refresh, f[0].v, f[0].n));
    if (at_present)
      CHECK(value_is(out->file.access, f[1].v, f[1].n));
    else
      CHECK(out->file.access[0] == '\0');
    CHECK(out->file.expires_at == (out->file.access[0] ? (long long)n32 * 65536 : 0));
    break;
  }
out:
  free(out);
  free(err);
  free(text);
  buf_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int mode = (data[0] & 0x7f) % P_COUNT;
  if (data[0] & 0x80) {
    fuzz_built(mode, data, size);
    return 0;
  }
  size_t len = size - 1;
  char *text = malloc(len ? len : 1);
  /* The error code buffer: lwa.c's 64 bytes, or smaller to reach the length check. */
  size_t err_n = len && data[1] == ' ' ? 1 + len % 16 : 64;
  char *err = malloc(err_n);
  union parsed *out = malloc(sizeof(*out));
  if (text && err && out) {
    if (len)
      memcpy(text, data + 1, len);
    run_parser(mode, text, len, out, err, err_n);
  }
  free(out);
  free(err);
  free(text);
  return 0;
}
