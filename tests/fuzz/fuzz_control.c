/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the pure part of control (src/control/control_int.h): the line splitter and the
 * request parser, as a connection's bytes go through them. Byte 0 seeds the sizes of the
 * reads (1..CONTROL_READ_CHUNK bytes each, as recv would cut them); the rest is the stream.
 * A grown input (tests/fuzz/grow.h) reaches lines at and over CONTROL_LINE_MAX.
 *
 * Checked: the splitter gives exactly the lines a reference split of the whole stream
 * gives, however the reads cut it: each '\n'-ended line of at most CONTROL_LINE_MAX bytes
 * (one '\r' before the '\n' removed), one -AMP_ETOOBIG for each longer line and for an
 * unterminated tail over the bound, nothing for a shorter tail. For each line the parser's
 * answer is consistent: 0 exactly when code is NULL, then a valid command name, an id
 * that is a number or a string within CONTROL_ID_MAX, args an object without "id" or
 * "cmd"; otherwise one of the documented codes with its error. The reply line built for
 * it is one line of JSON that reads back with the same id. The args of every accepted
 * request go through each of the daemon's argument readers (src/cmdargs.h: ref, seek,
 * repeat's mode, volume), checked against the rule each states: the result, the bounds
 * (a seek target within 0..CMDARGS_SEEK_MAX_MS, a volume 0..100, ±inf from "1e999"
 * included), outputs untouched on failure.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "grow.h"
#include "cmdargs.h"
#include "cloud/json.h"
#include "control/control_int.h"
#include "core/buf.h"
#include "core/err.h"

/* Two lines over the bound fit in a grown input. */
#define GROWN_CAP (2 * (CONTROL_LINE_MAX + 2))

struct expect {
  const uint8_t *data;
  size_t size, pos; /* the reference split's position */
};

/* The reference: the next result a correct splitter must give, or 0 for none left. */
static int ref_next(struct expect *e, const uint8_t **line, size_t *len) {
  while (e->pos < e->size) {
    const uint8_t *start = e->data + e->pos;
    size_t avail = e->size - e->pos;
    const uint8_t *nl = memchr(start, '\n', avail);
    size_t n = nl ? (size_t)(nl - start) : avail;
    e->pos += nl ? n + 1 : n;
    if (n > CONTROL_LINE_MAX)
      return -AMP_ETOOBIG;
    if (!nl)
      return 0;
    if (n && start[n - 1] == '\r')
      n--;
    *line = start;
    *len = n;
    return 1;
  }
  return 0;
}

/* The daemon's argument readers (src/cmdargs.h) on a request's args, each against the
 * rule its header states. now_ms: a position to seek from. */
static void check_args(const cJSON *args, uint64_t now_ms, unsigned cur) {
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(args, "ref");
  const char *s = NULL;
  int r = cmdargs_ref(args, &s);
  if (!ref)
    CHECK(r == -ENOENT && !s);
  else if (cJSON_IsString(ref))
    CHECK(r == 0 && s == ref->valuestring);
  else
    CHECK(r == -EINVAL && !s);

  const cJSON *pos = cJSON_GetObjectItemCaseSensitive(args, "position_ms");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(args, "offset_ms");
  uint64_t t = UINT64_MAX;
  r = cmdargs_seek(args, now_ms, &t);
  bool one = (cJSON_IsNumber(pos) && !off) || (cJSON_IsNumber(off) && !pos);
  CHECK((r == 0) == one && (r == 0 || r == -EINVAL));
  if (r == 0) {
    double want = pos ? pos->valuedouble : (double)now_ms + off->valuedouble;
    CHECK(t <= (uint64_t)CMDARGS_SEEK_MAX_MS);
    if (want >= 0 && want <= CMDARGS_SEEK_MAX_MS)
      CHECK(t == (uint64_t)want);
    else
      CHECK(t == 0);
  } else {
    CHECK(t == UINT64_MAX);
  }

  static const char *const words[] = {"off", "one", "all"};
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(args, "mode");
  int w = -2;
  r = cmdargs_word(args, "mode", words, 3, &w);
  if (!mode) {
    CHECK(r == 0 && w == -1);
  } else if (r == 0) {
    CHECK(w >= 0 && w < 3 && cJSON_IsString(mode) && strcmp(mode->valuestring, words[w]) == 0);
  } else {
    CHECK(r == -EINVAL && w == -2);
    CHECK(!cJSON_IsString(mode) ||
          (strcmp(mode->valuestring, "off") != 0 && strcmp(mode->valuestring, "one") != 0 &&
           strcmp(mode->valuestring, "all") != 0));
  }

  const cJSON *vol = cJSON_GetObjectItemCaseSensitive(args, "volume");
  const cJSON *delta = cJSON_GetObjectItemCaseSensitive(args, "delta");
  unsigned v = 12345;
  r = cmdargs_volume(args, cur, &v);
  if ((vol && delta) || (vol && !cJSON_IsNumber(vol)) || (delta && !cJSON_IsNumber(delta))) {
    CHECK(r == -EINVAL && v == 12345);
  } else if (vol && !(vol->valuedouble >= 0 && vol->valuedouble <= 100)) {
    CHECK(r == -ERANGE && v == 12345);
  } else {
    CHECK(r == 0 && v <= 100);
    if (vol)
      CHECK(v == (unsigned)vol->valuedouble);
    else if (!delta)
      CHECK(v == cur);
    else if (delta->valuedouble >= 100)
      CHECK(v == 100);
    else if (delta->valuedouble <= -100)
      CHECK(v == 0);
  }
}

static void check_request(const char *line, size_t len, uint32_t seed) {
  struct control_request r;
  int err = control_request_parse(line, len, &r);
  if (err == 0) {
    CHECK(r.code == NULL);
    CHECK(control_name_ok(r.cmd));
    CHECK(cJSON_IsNumber(r.id) ||
          (cJSON_IsString(r.id) && strlen(r.id->valuestring) <= CONTROL_ID_MAX));
    CHECK(cJSON_IsObject(r.args));
    CHECK(!cJSON_GetObjectItemCaseSensitive(r.args, "id"));
    CHECK(!cJSON_GetObjectItemCaseSensitive(r.args, "cmd"));
    check_args(r.args, (uint64_t)seed * 977, seed % 101);
  } else {
    CHECK(r.code && r.message);
    CHECK(control_code_ok(r.code));
    if (err == -AMP_EJSON)
      CHECK(strcmp(r.code, "bad_json") == 0 && !r.id && !r.args);
    else if (err == -AMP_EPROTO)
      CHECK(strcmp(r.code, "bad_request") == 0 || strcmp(r.code, "unknown_command") == 0);
    else
      CHECK(err == -ENOMEM && strcmp(r.code, "internal") == 0);
    CHECK(!r.id || cJSON_IsNumber(r.id) || cJSON_IsString(r.id));
  }
  struct buf out = BUF_INIT(CONTROL_OUT_MAX);
  if (control_format_reply(&out, r.id, err ? NULL : r.args, r.code, r.message) == 0) {
    CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
    CHECK(memchr(out.data, '\n', out.len) == out.data + out.len - 1);
    cJSON *back = NULL;
    CHECK(json_parse_exact((const char *)out.data, out.len - 1, CONTROL_JSON_DEPTH + 2, &back) ==
          0);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(back, "id");
    CHECK(r.id ? cJSON_Compare(id, r.id, 1) : cJSON_IsNull(id));
    CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(back, "ok")));
    cJSON_Delete(back);
  }
  buf_done(&out);
  control_request_done(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct grown g;
  if (grow(data, size, GROWN_CAP, &g) < 0)
    return 0;
  if (g.size < 1) {
    grow_free(&g);
    return 0;
  }
  uint32_t seed = g.data[0] * 2654435761u + 1;
  const uint8_t *s = g.data + 1;
  size_t n = g.size - 1;
  struct expect e = {.data = s, .size = n};
  struct control_lines sp;
  control_lines_init(&sp);
  size_t off = 0;
  while (off < n) {
    seed = seed * 1103515245u + 12345u;
    size_t chunk = 1 + (seed >> 8) % (seed & 1 ? 16 : CONTROL_READ_CHUNK);
    if (chunk > n - off)
      chunk = n - off;
    CHECK(control_lines_push(&sp, s + off, chunk) == 0);
    off += chunk;
    for (;;) {
      const char *line;
      size_t len;
      int r = control_lines_next(&sp, &line, &len);
      if (r == 0)
        break;
      const uint8_t *want;
      size_t wlen;
      int w = ref_next(&e, &want, &wlen);
      CHECK(r == w);
      if (r == 1) {
        CHECK(len == wlen && memcmp(line, want, len) == 0 && line[len] == '\0');
        check_request(line, len, seed);
      }
    }
  }
  /* Nothing the reference still has may be missing, but an unterminated short tail. */
  const uint8_t *want;
  size_t wlen;
  CHECK(ref_next(&e, &want, &wlen) == 0);
  control_lines_done(&sp);
  grow_free(&g);
  return 0;
}
