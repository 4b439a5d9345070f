/* SPDX-License-Identifier: Apache-2.0 */
/* mp4w: a tiny stream packaged with a clear lead, checked box by box. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/ampack/box.h"
#include "tools/ampack/cenc.h"
#include "tools/ampack/es.h"
#include "tools/ampack/mp4w.h"

#define RATE 1000    /* 1 kHz timescale: 10 s segments of 10000 ticks */
#define N_SAMPLES 45 /* 1 s each: segments 0-9, 10-19, 20-29 (clear), 30-39, 40-44 */

/* Find the first box `name` among the children in [p, end); NULL if absent. */
static const uint8_t *find(const uint8_t *p, const uint8_t *end, const char *name) {
  while (end - p >= 8) {
    uint32_t size = be_get32(p);
    if (size < 8 || size > (size_t)(end - p))
      return NULL;
    if (!memcmp(p + 4, name, 4))
      return p;
    p += size;
  }
  return NULL;
}

static const uint8_t *body(const uint8_t *box) {
  return box + 8;
}

static const uint8_t *box_end(const uint8_t *box) {
  return box + be_get32(box);
}

static void make_es(struct es *es) {
  es_init(es, ES_FLAC);
  es->rate = RATE;
  es->channels = 2;
  es->bits = 16;
  es->valid = N_SAMPLES * RATE;
  es->cfg_len = 38;
  memset(es->cfg, 0, es->cfg_len);
  es->cfg[0] = 0x80;
  es->cfg[3] = 34;
  for (int i = 0; i < N_SAMPLES; i++) {
    uint8_t s[40];
    size_t n = 17 + (size_t)i % 23; /* odd sizes: partial AES blocks */
    for (size_t j = 0; j < n; j++)
      s[j] = (uint8_t)(i * 31 + (int)j);
    assert_int_equal(es_add(es, s, n, RATE), 0);
  }
}

static void test_form_a(void **state) {
  (void)state;
  struct es es;
  make_es(&es);
  struct mp4w_opts o = {.encrypt = 1, .clear_lead_s = 30, .content_id = "t"};
  for (int i = 0; i < 16; i++) {
    o.kid[i] = (uint8_t)(0x10 + i);
    o.key[i] = (uint8_t)(0x80 + i);
  }
  memcpy(o.iv, (uint8_t[8]){1, 2, 3, 4, 5, 6, 7, 0xfe}, 8);
  struct mp4w_out *out = calloc(1, sizeof(*out));
  assert_non_null(out);
  assert_int_equal(mp4w_write(&es, &o, out), 0);
  const uint8_t *f = out->file.data, *end = f + out->file.len;
  assert_int_equal(out->n_seg, 5);

  /* init: ftyp, moov with two sample entries [enca, fLaC] and two pssh */
  const uint8_t *moov = find(f, end, "moov");
  assert_non_null(moov);
  assert_int_equal(box_end(moov) - f, (long)out->init_size);
  const uint8_t *p = find(body(moov), box_end(moov), "trak");
  p = find(body(p), box_end(p), "mdia");
  p = find(body(p), box_end(p), "minf");
  p = find(body(p), box_end(p), "stbl");
  const uint8_t *stsd = find(body(p), box_end(p), "stsd");
  assert_non_null(stsd);
  assert_int_equal(be_get32(body(stsd) + 4), 2);
  const uint8_t *enca = body(stsd) + 8;
  assert_memory_equal(enca + 4, "enca", 4);
  assert_memory_equal(box_end(enca) + 4, "fLaC", 4);
  const uint8_t *sinf = find(enca + 36, box_end(enca), "sinf");
  assert_non_null(sinf);
  const uint8_t *schi = find(body(sinf), box_end(sinf), "schi");
  const uint8_t *tenc = find(body(schi), box_end(schi), "tenc");
  assert_non_null(tenc);
  assert_int_equal(body(tenc)[6], 1); /* isProtected */
  assert_int_equal(body(tenc)[7], 8); /* IV size */
  assert_memory_equal(body(tenc) + 8, o.kid, 16);
  const uint8_t *pssh = find(body(moov), box_end(moov), "pssh");
  assert_non_null(pssh);
  assert_int_equal(body(pssh)[4], 0xed); /* SystemID after version/flags */
  assert_non_null(find(box_end(pssh), box_end(moov), "pssh"));

  /* sidx right after the init segment, then the segments as listed */
  assert_memory_equal(f + out->init_size + 4, "sidx", 4);
  assert_int_equal(out->seg[0].off, out->sidx_off + out->sidx_size);
  uint64_t t = 0;
  for (size_t k = 0; k < out->n_seg; k++) {
    const struct mp4w_seg *s = &out->seg[k];
    assert_int_equal(s->start, t);
    t += s->dur;
    if (k + 1 < out->n_seg)
      assert_int_equal(s->off + s->size, out->seg[k + 1].off);
    assert_int_equal(s->encrypted, k >= 3);
    const uint8_t *moof = f + s->off;
    assert_memory_equal(moof + 4, "moof", 4);
    const uint8_t *traf = find(body(moof), box_end(moof), "traf");
    const uint8_t *tfhd = find(body(traf), box_end(traf), "tfhd");
    assert_int_equal(be_get32(body(tfhd)) & 0xffffff, 0x020002);
    assert_int_equal(be_get32(body(tfhd) + 8), k >= 3 ? 1 : 2);
    const uint8_t *trun = find(body(traf), box_end(traf), "trun");
    uint32_t count = be_get32(body(trun) + 4);
    const uint8_t *mdat = box_end(moof);
    assert_memory_equal(mdat + 4, "mdat", 4);
    assert_ptr_equal(moof + be_get32(body(trun) + 8), mdat + 8);
    const uint8_t *senc = find(body(traf), box_end(traf), "senc");
    if (k < 3) {
      assert_null(senc);
      assert_memory_equal(mdat + 8, es.data.data + es.s[k * 10].off, es.s[k * 10].size);
      continue;
    }
    assert_non_null(senc);
    const uint8_t *saio = find(body(traf), box_end(traf), "saio");
    assert_ptr_equal(moof + be_get32(body(saio) + 8), senc + 16);
    assert_int_equal(be_get32(body(senc) + 4), count);
    /* decrypt with the IVs from senc: the original samples come back */
    struct cenc_key key;
    assert_int_equal(cenc_key_init(&key, o.key), 0);
    const uint8_t *data = mdat + 8;
    for (uint32_t i = 0; i < count; i++) {
      size_t idx = k * 10 + i, n = es.s[idx].size;
      uint8_t iv[8], want_iv[8], buf[64];
      memcpy(iv, senc + 16 + 8 * i, 8);
      memcpy(want_iv, o.iv, 8);
      cenc_iv_add(want_iv, idx);
      assert_memory_equal(iv, want_iv, 8);
      memcpy(buf, data, n);
      assert_memory_not_equal(buf, es.data.data + es.s[idx].off, n);
      assert_int_equal(cenc_crypt_sample(&key, iv, 8, NULL, 0, buf, n), 0);
      assert_memory_equal(buf, es.data.data + es.s[idx].off, n);
      data += n;
    }
    cenc_key_done(&key);
  }
  assert_int_equal(t, N_SAMPLES * RATE);
  mp4w_out_done(out);
  free(out);
  es_done(&es);
}

static void test_clear_twin_and_bounds(void **state) {
  (void)state;
  struct es es;
  make_es(&es);
  struct mp4w_opts o = {.encrypt = 0, .clear_lead_s = 30};
  struct mp4w_out *out = calloc(1, sizeof(*out));
  assert_non_null(out);
  assert_int_equal(mp4w_write(&es, &o, out), 0);
  const uint8_t *f = out->file.data, *end = f + out->file.len;
  const uint8_t *moov = find(f, end, "moov");
  assert_null(find(body(moov), box_end(moov), "pssh"));
  for (size_t k = 0; k < out->n_seg; k++)
    assert_int_equal(out->seg[k].encrypted, 0);
  /* a content id longer than the bound is refused */
  char long_id[100];
  memset(long_id, 'x', sizeof(long_id) - 1);
  long_id[sizeof(long_id) - 1] = 0;
  o.content_id = long_id;
  assert_int_equal(mp4w_write(&es, &o, out), -EINVAL);
  mp4w_out_done(out);
  free(out);
  es_done(&es);
  /* an empty stream is refused */
  struct es empty;
  es_init(&empty, ES_OPUS);
  struct mp4w_out *o2 = calloc(1, sizeof(*o2));
  assert_non_null(o2);
  assert_int_equal(mp4w_write(&empty, &o, o2), -EINVAL);
  free(o2);
  es_done(&empty);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_form_a),
      cmocka_unit_test(test_clear_twin_and_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
